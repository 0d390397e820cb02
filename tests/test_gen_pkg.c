/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The generator's kinds of package (generator/pkg_*.c through repo.c):
 * the registry, pacman databases and packages and rpm-md metadata written
 * here with libarchive and by hand, matched by epoch/version/release, and
 * bad input: unsafe locations, checksum mismatches, members that escape,
 * damaged files. Real rpmbuild/makepkg packages are the system tests'
 * (tests/system/gen-rpm.sh, gen-pacman.sh).
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
#include <archive.h>
#include <archive_entry.h>

#include "buf.h"
#include "cunit_main.h"
#include "digest.h"
#include "escape.h"
#include "generator/gen.h"
#include "generator/pkg_kind.h"

static char top[256];

/* A fresh directory under top, named name; its path in out. */
static void mkdir_fresh(const char *name, char *out, size_t size)
{
	struct rf_buf cmd = RF_BUF_INIT;

	snprintf(out, size, "%s/%s", top, name);
	rf_buf_printf(&cmd, "rm -rf '%s'", out);
	CU_ASSERT(system(cmd.data) == 0);
	rf_buf_free(&cmd);
	CU_ASSERT_FATAL(mkdir(out, 0700) == 0);
}

static void write_file(const char *dir, const char *name, const void *data,
		       size_t len)
{
	char p[1024];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

/* SHA-256 of dir/name as hex, into out (65 bytes). */
static void sha256_of(const char *dir, const char *name, char *out)
{
	char p[1024], buf[1 << 16];
	unsigned char sum[RF_SHA256_LEN];
	struct rf_buf hex = RF_BUF_INIT;
	struct rf_digest *d = rf_digest_new(RF_DIGEST_SHA256, RF_DIGEST_NONE);
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_RDONLY);
	CU_ASSERT_FATAL(fd >= 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		rf_digest_update(d, buf, (size_t)n);
	close(fd);
	rf_digest_final(d, sum, NULL);
	rf_digest_free(d);
	rf_hex_encode(&hex, sum, sizeof(sum));
	snprintf(out, 65, "%s", hex.data);
	rf_buf_free(&hex);
}

/* One member of a tar written by write_tar(): a file with data, or a
 * symlink to link. */
struct member {
	const char *name, *data, *link;
};

static void write_tar(const char *dir, const char *name, const struct member *m)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	char p[1024];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_gzip(a);
	CU_ASSERT_FATAL(archive_write_open_filename(a, p) == ARCHIVE_OK);
	for (; m->name != NULL; m++) {
		size_t len = m->data ? strlen(m->data) : 0;

		archive_entry_clear(e);
		archive_entry_set_pathname(e, m->name);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_mtime(e, 1700000000, 0);
		if (m->link != NULL) {
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_symlink(e, m->link);
		} else {
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, (la_int64_t)len);
		}
		CU_ASSERT(archive_write_header(a, e) == ARCHIVE_OK);
		if (len > 0)
			CU_ASSERT(archive_write_data(a, m->data, len) ==
				  (ssize_t)len);
	}
	CU_ASSERT(archive_write_close(a) == ARCHIVE_OK);
	archive_entry_free(e);
	archive_write_free(a);
}

static const struct member pkg_members[] = {
	{".PKGINFO",
	 "pkgname = a\npkgver = 2:1.0-1\narch = any\n"
	 "depend = glibc\nprovides = a-virtual\n",
	 NULL},
	{".MTREE", "#mtree\n", NULL},
	{".INSTALL", "post_install() { :; }\n", NULL},
	{"usr/share/a/data", "a data\n", NULL},
	{"usr/share/a/.hidden", "kept: not at the top\n", NULL},
	{NULL, NULL, NULL},
};

/* A pacman database t.db in dir with one desc, whose fields are given. */
static void write_db(const char *dir, const char *file, const char *version,
		     const char *sha)
{
	char desc[1024];
	struct member m[] = {{"a-1.0-1/files", "%FILES%\nusr/\n", NULL},
			     {"a-1.0-1/desc", desc, NULL},
			     {NULL, NULL, NULL}};

	snprintf(desc, sizeof(desc),
		 "%%FILENAME%%\n%s\n\n%%NAME%%\na\n\n%%VERSION%%\n%s\n\n"
		 "%%ARCH%%\nany\n\n%%SHA256SUM%%\n%s\n\n%%DEPENDS%%\nglibc\n"
		 "bash\n\n",
		 file, version, sha);
	write_tar(dir, "t.db", m);
}

static struct gen_package pkg(const char *db, const char *name,
			      const char *epoch, const char *version,
			      const char *release, const char *arch)
{
	return (struct gen_package){.db = (char *)db,
				    .name = (char *)name,
				    .epoch = (char *)epoch,
				    .version = (char *)version,
				    .release = (char *)release,
				    .arch = (char *)arch};
}

/* Unpack p from a repository at url into a fresh root; returns the rc. */
static int unpack_url(const char *url, const struct gen_package *p, char *root,
		      size_t rsize, struct rf_error *err)
{
	struct gen_repo *repo = gen_repo_new();
	struct gen_limits lim;
	int fd, rc;

	gen_limits_default(&lim);
	mkdir_fresh("root", root, rsize);
	rc = gen_repo_add(repo, url, err);
	if (rc == 0) {
		fd = open(root, O_PATH | O_DIRECTORY);
		CU_ASSERT_FATAL(fd >= 0);
		rc = gen_repo_unpack(repo, p, &(struct gen_dest){fd, NULL}, &lim, err);
		close(fd);
	}
	gen_repo_free(repo);
	return rc;
}

static bool exists(const char *dir, const char *name)
{
	char p[1024];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return lstat(p, &st) == 0;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n++;
	closedir(d);
	return n;
}

static void test_registry(void)
{
	CU_ASSERT_PTR_EQUAL(gen_pkg_kind_by_db("dpkg"), &gen_pkg_deb);
	CU_ASSERT_PTR_EQUAL(gen_pkg_kind_by_db("rpm"), &gen_pkg_rpm);
	CU_ASSERT_PTR_EQUAL(gen_pkg_kind_by_db("alpm"), &gen_pkg_pacman);
	CU_ASSERT_PTR_NULL(gen_pkg_kind_by_db("nix"));
	CU_ASSERT_PTR_NULL(gen_pkg_kind_by_db(NULL));
	CU_ASSERT_STRING_EQUAL(gen_pkg_deb.name, "deb");
	CU_ASSERT_STRING_EQUAL(gen_pkg_rpm.name, "rpm");
	CU_ASSERT_STRING_EQUAL(gen_pkg_pacman.name, "pacman");
}

static void test_pacman_db(void)
{
	char dir[300], root[320], url[320], sha[65];
	struct gen_package p = pkg("alpm", "a", "2", "1.0-1", NULL, "any");
	struct rf_error err = {0};
	struct gen_repo *repo;
	struct gen_repo_entry e;

	mkdir_fresh("pac", dir, sizeof(dir));
	write_tar(dir, "a-2:1.0-1-any.pkg.tar.gz", pkg_members);
	sha256_of(dir, "a-2:1.0-1-any.pkg.tar.gz", sha);
	write_db(dir, "a-2:1.0-1-any.pkg.tar.gz", "2:1.0-1", sha);
	snprintf(url, sizeof(url), "file://%s", dir);
	CU_ASSERT_EQUAL(unpack_url(url, &p, root, sizeof(root), &err), 0);
	CU_ASSERT(exists(root, "usr/share/a/data"));
	CU_ASSERT(exists(root, "usr/share/a/.hidden"));
	CU_ASSERT(!exists(root, ".PKGINFO"));
	CU_ASSERT(!exists(root, ".MTREE"));
	CU_ASSERT(!exists(root, ".INSTALL"));
	/* the epoch must match too */
	p.epoch = NULL;
	CU_ASSERT_EQUAL(unpack_url(url, &p, root, sizeof(root), &err), -ENOENT);
	CU_ASSERT(strstr(err.msg, "no repository has a") != NULL);
	/* what the database says of its dependencies */
	repo = gen_repo_new();
	CU_ASSERT_EQUAL(gen_repo_add(repo, url, &err), 0);
	CU_ASSERT_EQUAL(gen_repo_lookup(repo, "a", "x86_64", &e), 0);
	CU_ASSERT(e.depends != NULL && gen_deps_mention(e.depends, "bash"));
	gen_repo_free(repo);

	/* without the database: the package file's .PKGINFO names it */
	snprintf(root, sizeof(root), "%s/t.db", dir);
	CU_ASSERT(unlink(root) == 0);
	p.epoch = "2";
	CU_ASSERT_EQUAL(unpack_url(url, &p, root, sizeof(root), &err), 0);
	CU_ASSERT(exists(root, "usr/share/a/data"));
	CU_ASSERT(!exists(root, ".PKGINFO"));
	repo = gen_repo_new();
	CU_ASSERT_EQUAL(gen_repo_add(repo, url, &err), 0);
	CU_ASSERT_EQUAL(gen_repo_lookup(repo, "a-virtual", NULL, &e), 0);
	CU_ASSERT_STRING_EQUAL(e.name, "a");
	gen_repo_free(repo);
}

static void test_pacman_bad_db(void)
{
	static const char *const files[] = {"../a.pkg.tar.gz", "sub/a.pkg",
					    "/etc/passwd", ""};
	char dir[300], url[320], sha[65];
	struct rf_error err = {0};
	struct gen_repo *repo;

	mkdir_fresh("pacbad", dir, sizeof(dir));
	snprintf(url, sizeof(url), "file://%s", dir);
	memset(sha, 'a', 64);
	sha[64] = '\0';
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		write_db(dir, files[i], "1.0-1", sha);
		repo = gen_repo_new();
		CU_ASSERT_EQUAL(gen_repo_add(repo, url, &err), -EBADMSG);
		gen_repo_free(repo);
	}
	CU_ASSERT(strstr(err.msg, "t.db") != NULL);
	/* no usable checksum */
	write_db(dir, "a.pkg.tar.gz", "1.0-1", "xyz");
	repo = gen_repo_new();
	CU_ASSERT_EQUAL(gen_repo_add(repo, url, &err), -EBADMSG);
	CU_ASSERT(strstr(err.msg, "SHA256SUM") != NULL);
	gen_repo_free(repo);
	/* not a tar at all */
	write_file(dir, "t.db", "garbage, not a database\n", 24);
	repo = gen_repo_new();
	CU_ASSERT_EQUAL(gen_repo_add(repo, url, &err), -EBADMSG);
	gen_repo_free(repo);
	/* a package file without .PKGINFO */
	{
		char db[320];

		snprintf(db, sizeof(db), "%s/t.db", dir);
		CU_ASSERT(unlink(db) == 0);
	}
	{
		static const struct member m[] = {{"usr/x", "x\n", NULL},
						  {NULL, NULL, NULL}};

		write_tar(dir, "b-1-1-any.pkg.tar.gz", m);
	}
	repo = gen_repo_new();
	CU_ASSERT_EQUAL(gen_repo_add(repo, url, &err), -EBADMSG);
	CU_ASSERT(strstr(err.msg, "no .PKGINFO") != NULL);
	gen_repo_free(repo);
}

static void test_pacman_checksum(void)
{
	char dir[300], root[320], url[320], sha[65];
	struct gen_package p = pkg("alpm", "a", NULL, "1.0-1", NULL, "any");
	struct rf_error err = {0};

	mkdir_fresh("pacsum", dir, sizeof(dir));
	write_tar(dir, "a.pkg.tar.gz", pkg_members);
	sha256_of(dir, "a.pkg.tar.gz", sha);
	sha[10] = sha[10] == '0' ? '1' : '0';
	write_db(dir, "a.pkg.tar.gz", "1.0-1", sha);
	snprintf(url, sizeof(url), "file://%s", dir);
	CU_ASSERT_EQUAL(unpack_url(url, &p, root, sizeof(root), &err),
			-EBADMSG);
	CU_ASSERT(strstr(err.msg, "SHA-256 differs from the one the "
				  "repository's index gives") != NULL);
}

static void test_pacman_escape(void)
{
	char dir[300], root[300], url[320], outside[300], linkto[320];
	struct gen_package p = pkg("alpm", "e", NULL, "1-1", NULL, "any");
	struct rf_error err = {0};
	int before;
	struct member up[] = {{".PKGINFO",
			       "pkgname = e\npkgver = 1-1\n"
			       "arch = any\n",
			       NULL},
			      {"usr/ok", "ok\n", NULL},
			      {"../../escaped", "pwned\n", NULL},
			      {NULL, NULL, NULL}};
	struct member sym[] = {{".PKGINFO",
				"pkgname = e\npkgver = 1-1\n"
				"arch = any\n",
				NULL},
			       {"lnk", NULL, linkto},
			       {"lnk/pwned", "pwned\n", NULL},
			       {NULL, NULL, NULL}};

	mkdir_fresh("outside", outside, sizeof(outside));
	snprintf(linkto, sizeof(linkto), "%s", outside);
	mkdir_fresh("pacesc", dir, sizeof(dir));
	snprintf(url, sizeof(url), "file://%s", dir);
	before = count_entries(top);
	write_tar(dir, "e-1-1-any.pkg.tar.gz", up);
	CU_ASSERT_EQUAL(unpack_url(url, &p, root, sizeof(root), &err), -EINVAL);
	CU_ASSERT(strstr(err.msg, "refused entry name '../../escaped'") !=
		  NULL);
	CU_ASSERT_EQUAL(count_entries(top), before);
	CU_ASSERT(!exists(top, "escaped"));
	/* through an absolute symlink: it resolves inside the root, where
	 * the directory it names does not exist; the host's stays empty */
	write_tar(dir, "e-1-1-any.pkg.tar.gz", sym);
	(void)unpack_url(url, &p, root, sizeof(root), &err);
	CU_ASSERT_EQUAL(count_entries(outside), 2);
	CU_ASSERT_EQUAL(count_entries(top), before);
}

/* An rpm-md repository in dir: repodata/primary.xml listing one package
 * (fields given), repomd.xml with primary's checksum (or bad_sum). */
static void write_rpmmd(const char *dir, const char *epoch, const char *loc,
			const char *pkg_sha, const char *bad_sum,
			const char *primary_tail)
{
	char rd[320], xml[4096], sha[65];

	snprintf(rd, sizeof(rd), "%s/repodata", dir);
	mkdir(rd, 0755);
	snprintf(xml, sizeof(xml),
		 "<?xml version=\"1.0\"?>\n"
		 "<metadata xmlns=\"http://linux.duke.edu/metadata/common\" "
		 "xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" "
		 "packages=\"1\">\n<package type=\"rpm\">\n"
		 "  <name>x</name>\n  <arch>noarch</arch>\n"
		 "  <version epoch=\"%s\" ver=\"1.0\" rel=\"1\"/>\n"
		 "  <checksum type=\"sha256\" pkgid=\"YES\">%s</checksum>\n"
		 "  <location href=\"%s\"/>\n</package>\n%s",
		 epoch, pkg_sha, loc, primary_tail);
	write_file(rd, "primary.xml", xml, strlen(xml));
	sha256_of(rd, "primary.xml", sha);
	snprintf(xml, sizeof(xml),
		 "<?xml version=\"1.0\"?>\n"
		 "<repomd xmlns=\"http://linux.duke.edu/metadata/repo\">\n"
		 "<data type=\"other\"><checksum type=\"sha256\">00</checksum>"
		 "<location href=\"repodata/other.xml\"/></data>\n"
		 "<data type=\"primary\">\n"
		 "  <checksum type=\"sha256\">%s</checksum>\n"
		 "  <location href=\"repodata/primary.xml\"/>\n"
		 "</data>\n</repomd>\n",
		 bad_sum ? bad_sum : sha);
	write_file(rd, "repomd.xml", xml, strlen(xml));
}

static void test_rpmmd(void)
{
	char dir[300], root[320], url[320], sha[65];
	struct gen_package p = pkg("rpm", "x", NULL, "1.0", "1", "noarch");
	struct rf_error err = {0};
	const char *junk = "not an rpm at all, but what primary says\n";

	mkdir_fresh("rpmmd", dir, sizeof(dir));
	snprintf(url, sizeof(url), "file://%s", dir);
	write_file(dir, "x.rpm", junk, strlen(junk));
	sha256_of(dir, "x.rpm", sha);
	/* epoch 0 is no epoch; found, then refused as no rpm */
	write_rpmmd(dir, "0", "x.rpm", sha, NULL, "</metadata>\n");
	CU_ASSERT_EQUAL(unpack_url(url, &p, root, sizeof(root), &err), -EINVAL);
	CU_ASSERT(strstr(err.msg, "x.rpm: not an rpm payload") != NULL);
	/* another release, another epoch: not this package */
	p.release = "2";
	CU_ASSERT_EQUAL(unpack_url(url, &p, root, sizeof(root), &err), -ENOENT);
	p.release = "1";
	p.epoch = "1";
	CU_ASSERT_EQUAL(unpack_url(url, &p, root, sizeof(root), &err), -ENOENT);
	p.epoch = NULL;
	/* a damaged file is named as such, before what broke */
	sha[5] = sha[5] == 'a' ? 'b' : 'a';
	write_rpmmd(dir, "0", "x.rpm", sha, NULL, "</metadata>\n");
	CU_ASSERT_EQUAL(unpack_url(url, &p, root, sizeof(root), &err),
			-EBADMSG);
	CU_ASSERT(strstr(err.msg, "SHA-256 differs") != NULL);
}

static void test_rpmmd_bad(void)
{
	char dir[300], root[320], url[320], sha[65];
	struct gen_package p = pkg("rpm", "x", NULL, "1.0", "1", "noarch");
	struct rf_error err = {0};
	struct gen_repo *repo;
	struct gen_repo_entry e;

	mkdir_fresh("rpmmdbad", dir, sizeof(dir));
	snprintf(url, sizeof(url), "file://%s", dir);
	memset(sha, 'a', 64);
	sha[64] = '\0';
	/* primary differs from repomd.xml's checksum */
	write_rpmmd(dir, "0", "x.rpm", sha, sha, "</metadata>\n");
	CU_ASSERT_EQUAL(unpack_url(url, &p, root, sizeof(root), &err),
			-EBADMSG);
	CU_ASSERT(strstr(err.msg, "differs from the one repomd.xml gives") !=
		  NULL);
	/* a location outside the repository */
	write_rpmmd(dir, "0", "../x.rpm", sha, NULL, "</metadata>\n");
	CU_ASSERT_EQUAL(unpack_url(url, &p, root, sizeof(root), &err),
			-EBADMSG);
	CU_ASSERT(strstr(err.msg, "unsafe location") != NULL);
	/* truncated primary */
	write_rpmmd(dir, "0", "x.rpm", sha, NULL, "<package><name>y");
	CU_ASSERT_EQUAL(unpack_url(url, &p, root, sizeof(root), &err),
			-EBADMSG);
	/* a checksum that is not one */
	write_rpmmd(dir, "0", "x.rpm", "12zz", NULL, "</metadata>\n");
	CU_ASSERT_EQUAL(unpack_url(url, &p, root, sizeof(root), &err),
			-EBADMSG);
	/* repomd.xml that is not XML */
	write_file(dir, "repodata/repomd.xml", "<repomd><data", 13);
	repo = gen_repo_new();
	CU_ASSERT_EQUAL(gen_repo_add(repo, url, &err), -EBADMSG);
	/* nothing of a refused repository is kept */
	CU_ASSERT_EQUAL(gen_repo_lookup(repo, "x", NULL, &e), -ENOENT);
	gen_repo_free(repo);
}

static void test_rpm_files(void)
{
	char dir[300], url[320];
	struct rf_error err = {0};
	struct gen_repo *repo = gen_repo_new();

	/* without repodata, every .rpm is read with librpm: a damaged one
	 * refuses the repository */
	mkdir_fresh("rpmdir", dir, sizeof(dir));
	snprintf(url, sizeof(url), "file://%s", dir);
	write_file(dir, "bad.rpm", "\xed\xab\xee\xdb garbage", 12);
	CU_ASSERT_EQUAL(gen_repo_add(repo, url, &err), -EBADMSG);
	CU_ASSERT(strstr(err.msg, "bad.rpm: not a readable rpm package") !=
		  NULL);
	gen_repo_free(repo);
}

static void test_unknown_db(void)
{
	struct gen_repo *repo = gen_repo_new();
	struct gen_package p = pkg("nix", "x", NULL, "1", NULL, NULL);
	struct gen_limits lim;
	struct rf_error err = {0};

	gen_limits_default(&lim);
	CU_ASSERT_EQUAL(gen_repo_unpack(repo, &p, &(struct gen_dest){-1, NULL}, &lim, &err), -ENOENT);
	CU_ASSERT(strstr(err.msg, "'nix'") != NULL);
	/* rpm's imported keys are no package file: nothing to unpack */
	p = pkg("rpm", "gpg-pubkey", NULL, "0123abcd", "5f0a1b2c", NULL);
	CU_ASSERT_EQUAL(gen_repo_unpack(repo, &p, &(struct gen_dest){-1, NULL}, &lim, &err), 0);
	p.db = "dpkg";
	CU_ASSERT_EQUAL(gen_repo_unpack(repo, &p, &(struct gen_dest){-1, NULL}, &lim, &err), -ENOENT);
	gen_repo_free(repo);
}

static int setup(void)
{
	snprintf(top, sizeof(top), "%s/rf-gen-pkg.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(top) == NULL;
}

static void test_cleanup(void)
{
	struct rf_buf cmd = RF_BUF_INIT;

	rf_buf_printf(&cmd, "rm -rf '%s'", top);
	CU_ASSERT(system(cmd.data) == 0);
	rf_buf_free(&cmd);
}

static void test_setup(void)
{
	CU_ASSERT_FATAL(setup() == 0);
}

static CU_TestInfo tests[] = {
	{"setup", test_setup},
	{"registry", test_registry},
	{"pacman database and package files", test_pacman_db},
	{"bad pacman databases", test_pacman_bad_db},
	{"pacman checksum mismatch", test_pacman_checksum},
	{"pacman members that escape", test_pacman_escape},
	{"rpm-md matching by epoch and release", test_rpmmd},
	{"bad rpm-md metadata", test_rpmmd_bad},
	{"damaged rpm files", test_rpm_files},
	{"unknown database, pseudo-packages", test_unknown_db},
	{"cleanup", test_cleanup},
	CU_TEST_INFO_NULL,
};

RF_CUNIT_MAIN("generator package kinds")
