/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Packages unpacked on several threads (generator/unpack.c): the root must
 * be what one thread unpacking in report order makes, for any --jobs. The
 * packages are made with dpkg-deb at test time; they overlap on purpose: a
 * later package's file replaces an earlier one's, a directory entry over a
 * kept directory gives it the later owner and mode, a file goes through
 * the root's usr-merge symlink, an empty directory entry over a dangling
 * symlink keeps the symlink, and a file over a non-empty directory fails.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "buf.h"
#include "cunit_main.h"
#include "generator/gen.h"
#include "generator/unpack.h"

static char top[256];

/* Build top/repo/NAME.deb from the shell commands body, run in its tree. */
static void make_pkg(const char *name, const char *body)
{
	struct rf_buf cmd = RF_BUF_INIT;

	rf_buf_printf(&cmd,
		      "set -e; d='%s/src/%s'; mkdir -p \"$d/DEBIAN\" '%s/repo'; "
		      "printf 'Package: %s\\nVersion: 1\\nArchitecture: all\\n"
		      "Maintainer: t <t@t.invalid>\\nDescription: t\\n' "
		      ">\"$d/DEBIAN/control\"; cd \"$d\"; %s; cd /; "
		      "dpkg-deb -Zgzip --root-owner-group --build \"$d\" "
		      "'%s/repo/%s.deb' >/dev/null",
		      top, name, top, name, body, top, name);
	CU_ASSERT_FATAL(system(cmd.data) == 0);
	rf_buf_free(&cmd);
}

static void remove_top(void)
{
	struct rf_buf cmd = RF_BUF_INIT;

	rf_buf_printf(&cmd, "rm -rf '%s'", top);
	if (system(cmd.data) != 0)
		fprintf(stderr, "cannot remove %s\n", top);
	rf_buf_free(&cmd);
}

/* The test's scratch directory, made on first use, removed at exit. */
static void ensure_top(void)
{
	if (top[0] != '\0')
		return;
	snprintf(top, sizeof(top), "%s/rf-unpack.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	CU_ASSERT_FATAL(mkdtemp(top) != NULL);
	atexit(remove_top);
}

static bool have_dpkg_deb(void)
{
	return system("command -v dpkg-deb >/dev/null 2>&1") == 0;
}

static void read_text(int rootfd, const char *path, char *out, size_t size)
{
	int fd = openat(rootfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, out, size - 1) : -1;

	out[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/* A fresh stage dir with a root inside, prepared as gen_tree_prepare()
 * would for a usr-merged source with /var/lock -> /run/lock. */
static int fresh_root(const char *name, char *stage, size_t size)
{
	struct rf_buf cmd = RF_BUF_INIT;
	char root[600];

	snprintf(stage, size, "%s/%s", top, name);
	rf_buf_printf(&cmd,
		      "set -e; rm -rf '%s'; mkdir -p '%s/root/usr/lib' "
		      "'%s/root/var'; ln -s usr/lib '%s/root/lib'; "
		      "ln -s /run/lock '%s/root/var/lock'",
		      stage, stage, stage, stage, stage);
	CU_ASSERT_FATAL(system(cmd.data) == 0);
	rf_buf_free(&cmd);
	snprintf(root, sizeof(root), "%s/root", stage);
	return open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static struct gen_package pkg(const char *name)
{
	struct gen_package p = {0};

	p.db = (char *)"dpkg";
	p.name = (char *)name;
	p.version = (char *)"1";
	p.arch = (char *)"all";
	return p;
}

static void make_fixture(void)
{
	static bool made;

	if (made)
		return;
	ensure_top();
	make_pkg("rf-a", "mkdir -p usr/bin etc usr/share/d lib var/empty; "
			 "echo a >usr/bin/tool; echo a >etc/x; "
			 "echo a >usr/share/d/file; echo a >lib/liba; "
			 "chmod 755 usr/share/d");
	make_pkg("rf-b", "mkdir -p etc usr/share/d var/lock; echo b >etc/x; "
			 "chmod 750 usr/share/d");
	make_pkg("rf-c", "mkdir -p usr/bin srv; echo c >usr/bin/tool; "
			 "echo c >srv/only-c");
	made = true;
}

static void run_order(unsigned jobs)
{
	struct gen_package pkgs[] = {pkg("rf-a"), pkg("rf-b"), pkg("rf-c"),
				     pkg("rf-none")};
	struct gen_report r = {0};
	struct gen_repo *repo = gen_repo_new();
	struct gen_limits lim;
	struct gen_unpack_opts o = {0};
	struct rf_error err = {0};
	struct rf_buf url = RF_BUF_INIT;
	uint64_t unpacked = 0, missing = 0;
	char stage[512], name[32], text[64];
	struct stat st;
	DIR *d;
	struct dirent *de;
	int rootfd;

	make_fixture();
	gen_limits_default(&lim);
	r.pkgs = pkgs;
	r.npkgs = sizeof(pkgs) / sizeof(pkgs[0]);
	rf_buf_printf(&url, "file://%s/repo", top);
	CU_ASSERT_FATAL(gen_repo_add(repo, url.data, &err) == 0);
	snprintf(name, sizeof(name), "jobs%u", jobs);
	rootfd = fresh_root(name, stage, sizeof(stage));
	CU_ASSERT_FATAL(rootfd >= 0);
	o.jobs = jobs;
	o.lim = &lim;
	o.stage = stage;
	CU_ASSERT(gen_unpack_all(&r, repo, rootfd, &o, &unpacked, &missing,
				 &err) == 0);
	CU_ASSERT(unpacked == 3);
	CU_ASSERT(missing == 1);
	/* the later package wins */
	read_text(rootfd, "etc/x", text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, "b\n");
	read_text(rootfd, "usr/bin/tool", text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, "c\n");
	read_text(rootfd, "srv/only-c", text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, "c\n");
	/* the kept directory has the later mode and the earlier file */
	CU_ASSERT(fstatat(rootfd, "usr/share/d", &st, AT_SYMLINK_NOFOLLOW) ==
		  0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0750);
	read_text(rootfd, "usr/share/d/file", text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, "a\n");
	/* through the root's symlink; symlinks kept */
	read_text(rootfd, "usr/lib/liba", text, sizeof(text));
	CU_ASSERT_STRING_EQUAL(text, "a\n");
	CU_ASSERT(fstatat(rootfd, "lib", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		  S_ISLNK(st.st_mode));
	CU_ASSERT(fstatat(rootfd, "var/lock", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		  S_ISLNK(st.st_mode));
	CU_ASSERT(fstatat(rootfd, "var/empty", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		  S_ISDIR(st.st_mode));
	/* no private tree left */
	d = opendir(stage);
	CU_ASSERT_FATAL(d != NULL);
	while ((de = readdir(d)) != NULL)
		CU_ASSERT(strncmp(de->d_name, "pkg-", 4) != 0);
	closedir(d);
	close(rootfd);
	rf_buf_free(&url);
	gen_repo_free(repo);
}

static void test_serial(void)
{
	if (!have_dpkg_deb())
		return;
	run_order(1);
}

static void test_two_jobs(void)
{
	if (!have_dpkg_deb())
		return;
	run_order(2);
}

static void test_many_jobs(void)
{
	if (!have_dpkg_deb())
		return;
	run_order(8);
}

/* A file over a non-empty directory of an earlier package fails, naming
 * the package, on one thread and on several, and leaves no private tree. */
static void test_conflict(void)
{
	struct gen_package pkgs[] = {pkg("rf-a"), pkg("rf-dir-to-file")};
	struct gen_report r = {0};
	struct gen_limits lim;
	struct rf_buf url = RF_BUF_INIT;

	if (!have_dpkg_deb())
		return;
	make_fixture();
	make_pkg("rf-dir-to-file", "mkdir -p usr/share; echo f >usr/share/d");
	gen_limits_default(&lim);
	r.pkgs = pkgs;
	r.npkgs = 2;
	rf_buf_printf(&url, "file://%s/repo", top);
	for (unsigned jobs = 1; jobs <= 2; jobs++) {
		struct gen_repo *repo = gen_repo_new();
		struct gen_unpack_opts o = {0};
		struct rf_error err = {0};
		uint64_t unpacked, missing;
		char stage[512], name[32];
		struct stat st;
		int rootfd;

		CU_ASSERT_FATAL(gen_repo_add(repo, url.data, &err) == 0);
		snprintf(name, sizeof(name), "conflict%u", jobs);
		rootfd = fresh_root(name, stage, sizeof(stage));
		CU_ASSERT_FATAL(rootfd >= 0);
		o.jobs = jobs;
		o.lim = &lim;
		o.stage = stage;
		CU_ASSERT(gen_unpack_all(&r, repo, rootfd, &o, &unpacked,
					 &missing, &err) < 0);
		CU_ASSERT(strstr(err.msg, "usr/share/d") != NULL);
		if (jobs > 1)
			CU_ASSERT(strstr(err.msg, "rf-dir-to-file") != NULL);
		CU_ASSERT(fstatat(rootfd, "usr/share/d/file", &st,
				  AT_SYMLINK_NOFOLLOW) == 0);
		{
			char p[600];

			snprintf(p, sizeof(p), "%s/pkg-1", stage);
			CU_ASSERT(lstat(p, &st) < 0 && errno == ENOENT);
		}
		close(rootfd);
		gen_repo_free(repo);
	}
	rf_buf_free(&url);
}

static CU_TestInfo tests[] = {
	{"one thread, report order", test_serial},
	{"two threads, the same root", test_two_jobs},
	{"more threads than packages", test_many_jobs},
	{"file over a non-empty directory", test_conflict},
	CU_TEST_INFO_NULL,
};

RF_CUNIT_MAIN("gen_unpack")
