/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pacman backend against databases made by the real tools: packages
 * made with bsdtar as makepkg makes them (tests/pkgdb-mkpacman.sh),
 * installed with pacman --root -U, sync databases made with repo-add; then
 * damaged desc, files and mtree files, and a database newer than libalpm.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cunit_main.h"
#include "digest.h"
#include "pkgdb.h"
#include "pkgdb_alpm.h"
#include "pkgdb_testutil.h"

#ifndef PKGDB_MKPACMAN
#error "PKGDB_MKPACMAN: path of tests/pkgdb-mkpacman.sh"
#endif

static char *work, *base;

static void cleanup(void)
{
	tu_rmtree(work);
	free(work);
}

static char *path_in(const char *dir, const char *rel)
{
	size_t len = strlen(dir) + strlen(rel) + 2;
	char *p = malloc(len);

	snprintf(p, len, "%s/%s", dir, rel);
	return p;
}

/* pacman as root, or under fakeroot, which is root enough for it. */
static const char *as_root(void)
{
	return geteuid() == 0 ? "" : "fakeroot ";
}

static int pacman(const char *root, const char *args)
{
	return tu_sh("cd '%s' && %spacman --root '%s' --dbpath "
		     "'%s/var/lib/pacman' --config pacman.conf --logfile "
		     "pacman.log --cachedir cache --noconfirm --noprogressbar "
		     "%s >/dev/null 2>&1",
		     work, as_root(), root, root, args);
}

/* An empty root with passwd and group naming rfuser and rfgroup. */
static char *new_root(const char *name)
{
	char *root = path_in(work, name), *f;

	tu_sh("mkdir -p '%s/etc' '%s/var/lib/pacman'", root, root);
	f = path_in(root, "etc/passwd");
	tu_write(f, "root:x:0:0:root:/root:/bin/sh\n"
		    "rfuser:x:1234:1234::/:/bin/false\n");
	free(f);
	f = path_in(root, "etc/group");
	tu_write(f, "root:x:0:\nrfgroup:x:1234:\n");
	free(f);
	return root;
}

/*
 * Packages: rft 1:2.0-3 (a config file, a script, a symlink, a name with a
 * space, a file of uid 1234), rfdep 0.5-1 (shares a directory with rft),
 * rflocal 1.0-1. Sync databases: core has rft 1:2.0-3, extra has rfdep at
 * another version, none has rflocal.
 */
static bool fixture(void)
{
	const char *mk = PKGDB_MKPACMAN;
	int rc = 0;

	if (base != NULL)
		return true;
	work = tu_tmpdir("alpm");
	atexit(cleanup);
	rc |= tu_sh(
		"cd '%s' && mkdir -p pkgs cache repo-core repo-extra && "
		"printf '[options]\\nArchitecture = auto\\nSigLevel = Never\\n"
		"LocalFileSigLevel = Never\\n' > pacman.conf",
		work);
	rc |= tu_sh(
		"cd '%s' && mkdir -p rft/etc/rft rft/usr/bin rft/usr/share/rft "
		"rft/var/lib/rft && echo conf > rft/etc/rft/rft.conf && "
		"printf '#!/bin/sh\\necho hi\\n' > rft/usr/bin/rft && "
		"chmod 755 rft/usr/bin/rft && echo data > "
		"rft/usr/share/rft/data "
		"&& echo spaced > 'rft/usr/share/rft/with space' && "
		"ln -s ../share/rft/data rft/usr/bin/rft-link && "
		"echo state > rft/var/lib/rft/state && "
		"chown 1234:1234 rft/var/lib/rft/state && "
		"chmod 640 rft/var/lib/rft/state && "
		"%s pkgs rft rft 1:2.0-3 'backup = etc/rft/rft.conf' "
		"'packager = Reforge Tests <tests@example.org>'",
		work, mk);
	rc |= tu_sh("cd '%s' && mkdir -p rfdep/usr/share/rft && "
		    "echo dep > rfdep/usr/share/rft/dep && "
		    "%s pkgs rfdep rfdep 0.5-1 && "
		    "mkdir -p rfdep6/usr/share/rft && "
		    "echo dep6 > rfdep6/usr/share/rft/dep && "
		    "%s pkgs rfdep6 rfdep 0.6-1 && "
		    "mkdir -p rflocal/opt/rflocal && "
		    "echo local > rflocal/opt/rflocal/file && "
		    "%s pkgs rflocal rflocal 1.0-1",
		    work, mk, mk, mk);
	rc |= tu_sh("cd '%s' && repo-add -q repo-core/core.db.tar.gz "
		    "pkgs/rft-1:2.0-3-any.pkg.tar.gz >/dev/null 2>&1 && "
		    "repo-add -q repo-extra/extra.db.tar.gz "
		    "pkgs/rfdep-0.6-1-any.pkg.tar.gz >/dev/null 2>&1",
		    work);
	if (rc != 0) {
		fprintf(stderr, "\ncannot build the test packages in %s\n",
			work);
		return false;
	}
	base = new_root("base");
	rc |= pacman(base, "-U pkgs/rft-1:2.0-3-any.pkg.tar.gz "
			   "pkgs/rflocal-1.0-1-any.pkg.tar.gz");
	rc |= pacman(base, "-U --asdeps pkgs/rfdep-0.5-1-any.pkg.tar.gz");
	rc |= tu_sh("cd '%s' && mkdir -p base/var/lib/pacman/sync && "
		    "cp -L repo-core/core.db repo-extra/extra.db "
		    "base/var/lib/pacman/sync/",
		    work);
	if (rc != 0)
		fprintf(stderr, "\ncannot install the test packages in %s\n",
			base);
	return rc == 0;
}

static char *copy_base(const char *name)
{
	char *root = path_in(work, name);

	tu_sh("rm -rf '%s' && cp -a '%s' '%s'", root, base, root);
	return root;
}

static bool probe(const char *root)
{
	int fd = open(root, O_PATH | O_DIRECTORY);
	bool found = scan_pkgdb_alpm.probe(fd);

	close(fd);
	return found;
}

static void test_packages(void)
{
	struct rf_error err;
	struct scan_pkgset *set;
	const struct scan_pkg *p;
	int rc;

	CU_ASSERT_FATAL(fixture());
	CU_ASSERT_TRUE(probe(base));
	CU_ASSERT_PTR_EQUAL(scan_pkgdb_by_name("alpm"), &scan_pkgdb_alpm);
	set = tu_load(&scan_pkgdb_alpm, base, &rc, &err);
	if (rc != 0)
		fprintf(stderr, "\n%s\n", err.msg);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL(scan_pkgset_npackages(set), 3);

	p = tu_package(set, "rft", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_STRING_EQUAL(p->db, "alpm");
	CU_ASSERT_STRING_EQUAL(p->epoch, "1");
	CU_ASSERT_STRING_EQUAL(p->version, "2.0-3");
	CU_ASSERT_PTR_NULL(p->release);
	CU_ASSERT_STRING_EQUAL(p->arch, "any");
	CU_ASSERT_STRING_EQUAL(p->status, "installed");
	CU_ASSERT_STRING_EQUAL(p->reason, "explicit");
	CU_ASSERT_STRING_EQUAL(p->vendor, "Reforge Tests <tests@example.org>");
	CU_ASSERT_STRING_EQUAL(p->origin, "core");
	CU_ASSERT_TRUE(p->install_time > 1000000000);

	p = tu_package(set, "rfdep", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_PTR_NULL(p->epoch);
	CU_ASSERT_STRING_EQUAL(p->version, "0.5-1");
	CU_ASSERT_STRING_EQUAL(p->reason, "dependency");
	/* extra has rfdep, at another version: still where it came from */
	CU_ASSERT_STRING_EQUAL(p->origin, "extra");

	p = tu_package(set, "rflocal", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_PTR_NULL(p->origin);
	scan_pkgset_free(set);
}

static struct scan_pkgfile *find(struct scan_pkgset *set, const char *path)
{
	struct scan_pkgfile *pf = scan_pkgset_find(set, path);

	if (pf == NULL)
		fprintf(stderr, "\nnot in the set: %s\n", path);
	return pf;
}

/* The entry agrees with the installed file: scan_pkgfile_verify() == 0. */
static unsigned verify_on_disk(const struct scan_pkgfile *pf, const char *root,
			       const char *user, const char *group)
{
	char *f = path_in(root, pf->path + 1);
	unsigned char sha[32];
	struct rf_buf target = RF_BUF_INIT;
	struct stat st;
	unsigned diff;

	CU_ASSERT_EQUAL_FATAL(lstat(f, &st), 0);
	if (S_ISREG(st.st_mode))
		CU_ASSERT_TRUE(tu_sha256_file(f, sha));
	if (S_ISLNK(st.st_mode)) {
		char buf[4096];
		ssize_t n = readlink(f, buf, sizeof(buf));

		CU_ASSERT_TRUE(n > 0);
		rf_buf_add(&target, buf, n > 0 ? (size_t)n : 0);
	}
	diff = scan_pkgfile_verify(pf, &st,
				   pf->algo == RF_DIGEST_SHA256 ? sha : NULL,
				   target.data, user, group);
	rf_buf_free(&target);
	free(f);
	return diff;
}

static void test_files(void)
{
	struct rf_error err;
	struct scan_pkgset *set;
	struct scan_pkgfile *pf;
	uint32_t rft, rfdep;
	int rc;

	CU_ASSERT_FATAL(fixture());
	set = tu_load(&scan_pkgdb_alpm, base, &rc, &err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(tu_package(set, "rft", &rft));
	CU_ASSERT_PTR_NOT_NULL_FATAL(tu_package(set, "rfdep", &rfdep));

	pf = find(set, "/usr/share/rft/data");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(pf->pkg, rft);
	CU_ASSERT_EQUAL(pf->mode, S_IFREG | 0644);
	CU_ASSERT_EQUAL(pf->flags & (SCAN_PF_HAS_TYPE | SCAN_PF_HAS_PERM |
				     SCAN_PF_HAS_OWNER | SCAN_PF_HAS_SIZE |
				     SCAN_PF_HAS_MTIME | SCAN_PF_CONFIG),
			SCAN_PF_HAS_TYPE | SCAN_PF_HAS_PERM |
				SCAN_PF_HAS_OWNER | SCAN_PF_HAS_SIZE |
				SCAN_PF_HAS_MTIME);
	CU_ASSERT_EQUAL(pf->size, 5);
	CU_ASSERT_EQUAL(pf->algo, RF_DIGEST_SHA256);
	CU_ASSERT_STRING_EQUAL(pf->user, "root");
	CU_ASSERT_STRING_EQUAL(pf->group, "root");
	CU_ASSERT_EQUAL(verify_on_disk(pf, base, "root", "root"), 0);

	pf = find(set, "/usr/bin/rft");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(pf->mode, S_IFREG | 0755);
	CU_ASSERT_EQUAL(verify_on_disk(pf, base, "root", "root"), 0);

	pf = find(set, "/usr/share/rft/with space");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(verify_on_disk(pf, base, "root", "root"), 0);

	pf = find(set, "/usr/bin/rft-link");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_TRUE(S_ISLNK(pf->mode));
	CU_ASSERT_STRING_EQUAL(pf->link_target, "../share/rft/data");
	CU_ASSERT_EQUAL(verify_on_disk(pf, base, "root", "root"), 0);

	pf = find(set, "/etc/rft/rft.conf");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_TRUE(pf->flags & SCAN_PF_CONFIG);

	/* the mtree's numbers, named by the root's passwd and group */
	pf = find(set, "/var/lib/rft/state");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_STRING_EQUAL(pf->user, "rfuser");
	CU_ASSERT_STRING_EQUAL(pf->group, "rfgroup");
	CU_ASSERT_EQUAL(pf->mode, S_IFREG | 0640);

	pf = find(set, "/etc/rft");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(pf->mode, S_IFDIR | 0755);
	CU_ASSERT_EQUAL(pf->nowners, 1);

	/* a directory of two packages */
	pf = find(set, "/usr/share/rft");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(pf->nowners, 2);
	pf = find(set, "/usr/share");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(pf->nowners, 2);
	pf = find(set, "/usr/share/rft/dep");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(pf->pkg, rfdep);

	/* the metadata of the package is no file of the root */
	CU_ASSERT_PTR_NULL(scan_pkgset_find(set, "/.PKGINFO"));
	CU_ASSERT_PTR_NULL(scan_pkgset_find(set, "/"));
	/*
	 * rft: etc etc/rft rft.conf usr usr/bin rft rft-link usr/share
	 * usr/share/rft data "with space" var var/lib var/lib/rft state;
	 * rfdep: dep; rflocal: opt opt/rflocal file
	 */
	CU_ASSERT_EQUAL(scan_pkgset_nfiles(set), 19);
	scan_pkgset_free(set);
}

/* Loading writes nothing in the root and works on a read-only mount. */
static void same_snapshot(const char *before, const char *after)
{
	CU_ASSERT_STRING_EQUAL(before, after);
	if (strcmp(before, after) != 0)
		fprintf(stderr, "\nbefore:\n%s\nafter:\n%s\n", before, after);
}

static void test_read_only(void)
{
	struct rf_error err;
	struct scan_pkgset *set;
	char *root, *before, *after, *mnt;
	int rc;

	CU_ASSERT_FATAL(fixture());
	root = copy_base("ro");
	free(tu_snapshot(root)); /* settles directory atimes after cp */
	before = tu_snapshot(root);
	set = tu_load(&scan_pkgdb_alpm, root, &rc, &err);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(scan_pkgset_npackages(set), 3);
	scan_pkgset_free(set);
	after = tu_snapshot(root);
	same_snapshot(before, after);
	free(before);
	free(after);

	/* an empty local database: libalpm stamps it, not in the root */
	tu_sh("rm -rf '%s'/var/lib/pacman/local/* '%s'/var/lib/pacman/sync",
	      root, root);
	free(tu_snapshot(root));
	before = tu_snapshot(root);
	set = tu_load(&scan_pkgdb_alpm, root, &rc, &err);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(scan_pkgset_npackages(set), 0);
	scan_pkgset_free(set);
	after = tu_snapshot(root);
	same_snapshot(before, after);
	free(before);
	free(after);
	free(root);

	mnt = path_in(work, "ro-mnt");
	tu_sh("mkdir -p '%s'", mnt);
	if (mount(base, mnt, NULL, MS_BIND, NULL) == 0) {
		if (mount(NULL, mnt, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY,
			  NULL) == 0) {
			set = tu_load(&scan_pkgdb_alpm, mnt, &rc, &err);
			CU_ASSERT_EQUAL(rc, 0);
			CU_ASSERT_EQUAL(scan_pkgset_npackages(set), 3);
			scan_pkgset_free(set);
		}
		umount(mnt);
	} else {
		fprintf(stderr, "\n(no read-only bind mount: %s) ",
			strerror(errno));
	}
	free(mnt);
}

static void expect_error(const char *root, int code, const char *words)
{
	struct rf_error err;
	struct scan_pkgset *set;
	int rc;

	set = tu_load(&scan_pkgdb_alpm, root, &rc, &err);
	CU_ASSERT_TRUE(rc < 0);
	if (code != 0)
		CU_ASSERT_EQUAL(rc, code);
	CU_ASSERT_TRUE(err.msg[0] != '\0');
	if (strstr(err.msg, words) == NULL) {
		fprintf(stderr, "\nmessage '%s' lacks '%s'\n", err.msg, words);
		CU_FAIL("unexpected message");
	}
	scan_pkgset_free(set);
}

#define RFT_ENTRY "var/lib/pacman/local/rft-1:2.0-3"

static void test_corrupt(void)
{
	char *root;

	CU_ASSERT_FATAL(fixture());

	/* desc: garbage, and cut short before the version */
	root = copy_base("desc-garbage");
	tu_sh("head -c 3000 /dev/urandom > '%s/" RFT_ENTRY "/desc'", root);
	expect_error(root, -EINVAL, "desc of rft-1:2.0-3");
	free(root);
	root = copy_base("desc-truncated");
	tu_sh("printf '%%%%NAME%%%%\\nrft\\n\\n%%%%VERS' > '%s/" RFT_ENTRY
	      "/desc'",
	      root);
	expect_error(root, -EINVAL, "desc of rft-1:2.0-3");
	free(root);
	root = copy_base("desc-missing");
	tu_sh("rm '%s/" RFT_ENTRY "/desc'", root);
	expect_error(root, -ENOENT, "desc of rft-1:2.0-3 is missing");
	free(root);

	/* a section twice (libalpm would keep the last), NUL bytes */
	root = copy_base("desc-twice");
	tu_sh("printf '%%%%ARCH%%%%\\nx86_64\\n\\n' >> '%s/" RFT_ENTRY "/desc'",
	      root);
	expect_error(root, -EINVAL, "desc of rft-1:2.0-3 is corrupt");
	free(root);
	root = copy_base("files-nul");
	tu_sh("printf 'usr/\\000x\\n' >> '%s/" RFT_ENTRY "/files'", root);
	expect_error(root, -EINVAL, "files of rft-1:2.0-3 is corrupt");
	free(root);

	/* an entry whose directory name is no NAME-VERSION */
	root = copy_base("bad-entry");
	tu_sh("mkdir '%s/var/lib/pacman/local/junk'", root);
	expect_error(root, -EINVAL, "unreadable");
	free(root);

	/* mtree: truncated gzip, garbage, and a path out of the root */
	root = copy_base("mtree-truncated");
	tu_sh("f='%s/" RFT_ENTRY "/mtree'; head -c 100 \"$f\" > \"$f.x\" && "
	      "mv \"$f.x\" \"$f\"",
	      root);
	expect_error(root, -EINVAL, "mtree of rft");
	free(root);
	root = copy_base("mtree-garbage");
	tu_sh("head -c 3000 /dev/urandom | gzip > '%s/" RFT_ENTRY "/mtree'",
	      root);
	expect_error(root, -EINVAL, "mtree of rft");
	free(root);
	root = copy_base("mtree-escape");
	tu_sh("printf '#mtree\\n./etc/../../shadow type=file mode=644\\n' | "
	      "gzip > '%s/" RFT_ENTRY "/mtree'",
	      root);
	expect_error(root, -EINVAL, "invalid path");
	free(root);

	/* no mtree (packages from before 2012): the file list still counts */
	root = copy_base("mtree-missing");
	tu_sh("rm '%s/" RFT_ENTRY "/mtree'", root);
	{
		struct rf_error err;
		int rc;
		struct scan_pkgset *set =
			tu_load(&scan_pkgdb_alpm, root, &rc, &err);
		struct scan_pkgfile *pf;

		CU_ASSERT_EQUAL(rc, 0);
		pf = scan_pkgset_find(set, "/etc/rft");
		CU_ASSERT_PTR_NOT_NULL(pf);
		if (pf)
			CU_ASSERT_EQUAL(pf->mode, S_IFDIR);
		pf = scan_pkgset_find(set, "/etc/rft/rft.conf");
		CU_ASSERT_PTR_NOT_NULL(pf);
		if (pf)
			CU_ASSERT_EQUAL(pf->flags, SCAN_PF_CONFIG);
		scan_pkgset_free(set);
	}
	free(root);

	/* a sync database that is garbage costs the origin, nothing else */
	root = copy_base("sync-garbage");
	tu_sh("head -c 3000 /dev/urandom > '%s/var/lib/pacman/sync/core.db'",
	      root);
	{
		struct rf_error err;
		int rc;
		struct scan_pkgset *set =
			tu_load(&scan_pkgdb_alpm, root, &rc, &err);
		const struct scan_pkg *p;

		CU_ASSERT_EQUAL(rc, 0);
		p = tu_package(set, "rft", NULL);
		CU_ASSERT_PTR_NOT_NULL(p);
		if (p)
			CU_ASSERT_PTR_NULL(p->origin);
		scan_pkgset_free(set);
	}
	free(root);
}

/* A database newer than the linked libalpm reads, and one far older. */
static void test_version(void)
{
	char *root;

	CU_ASSERT_FATAL(fixture());
	root = copy_base("newer");
	tu_sh("echo 99 > '%s/var/lib/pacman/local/ALPM_DB_VERSION'", root);
	expect_error(root, -ENOTSUP, "version 99");
	free(root);
	root = copy_base("unstamped");
	tu_sh("rm '%s/var/lib/pacman/local/ALPM_DB_VERSION'", root);
	expect_error(root, -ENOTSUP, "version none");
	free(root);
}

/* NoExtract patterns of the root's pacman.conf: need not exist. */
static void test_noextract(void)
{
	struct rf_error err;
	struct scan_pkgset *set;
	struct scan_pkgfile *pf;
	char *root, *conf;
	int rc;

	CU_ASSERT_FATAL(fixture());
	root = copy_base("noextract");
	conf = path_in(root, "etc/pacman.conf");
	CU_ASSERT_TRUE(tu_write(conf, "# pacman.conf\n"
				      "[options]\n"
				      "HoldPkg = pacman\n"
				      "  NoExtract = usr/share/rft/data "
				      "opt/* # locales\n"
				      "[core]\n"
				      "NoExtract = etc/*\n"));
	set = tu_load(&scan_pkgdb_alpm, root, &rc, &err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	pf = scan_pkgset_find(set, "/usr/share/rft/data");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_TRUE(pf->flags & SCAN_PF_MISSINGOK);
	pf = scan_pkgset_find(set, "/opt/rflocal/file");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_TRUE(pf->flags & SCAN_PF_MISSINGOK);
	/* a pattern outside [options] is not pacman's */
	pf = scan_pkgset_find(set, "/etc/rft/rft.conf");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_FALSE(pf->flags & SCAN_PF_MISSINGOK);
	pf = scan_pkgset_find(set, "/usr/bin/rft");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_FALSE(pf->flags & SCAN_PF_MISSINGOK);
	scan_pkgset_free(set);
	free(conf);
	free(root);
}

/* The mtree parsing itself, from memory. */
static int read_mtree(const char *text, struct scan_pkgset **out,
		      struct rf_error *err)
{
	struct scan_pkgset *set = scan_pkgset_new();
	struct scan_pkg pkg = {.db = "alpm", .name = "t"};
	uint32_t idx = scan_pkgset_add_package(set, &pkg);
	int rc;

	rf_error_clear(err);
	rc = scan_alpm_read_mtree(set, idx, "t", text, strlen(text), NULL, NULL,
				  NULL, err);
	*out = set;
	return rc;
}

static void test_mtree(void)
{
	struct rf_error err;
	struct scan_pkgset *set;
	struct scan_pkgfile *pf;

	/* plain text is read as well as gzip */
	CU_ASSERT_EQUAL(
		read_mtree("#mtree\n"
			   "/set type=file uid=0 gid=0 mode=644\n"
			   "./.PKGINFO size=10\n"
			   "./a type=dir mode=755\n"
			   "./a/b size=3 time=1700000000.5 "
			   "sha256digest=2c26b46b68ffc68ff99b453c1d304134"
			   "13422d706483bfa0f98a5e886266e7ae\n"
			   "./a/c md5digest=d3b07384d113edec49eaa6238ad5ff00\n"
			   "./a/l type=link link=b\n"
			   "./a/dev type=char mode=600\n",
			   &set, &err),
		0);
	CU_ASSERT_EQUAL(scan_pkgset_nfiles(set), 5);
	pf = scan_pkgset_find(set, "/a/b");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(pf->mode, S_IFREG | 0644);
	CU_ASSERT_EQUAL(pf->size, 3);
	CU_ASSERT_EQUAL(pf->mtime, 1700000000);
	CU_ASSERT_EQUAL(pf->algo, RF_DIGEST_SHA256);
	CU_ASSERT_EQUAL(pf->digest[0], 0x2c);
	CU_ASSERT_STRING_EQUAL(pf->user, "root"); /* id 0, no passwd */
	pf = scan_pkgset_find(set, "/a/c");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(pf->algo, RF_DIGEST_MD5);
	pf = scan_pkgset_find(set, "/a/l");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_STRING_EQUAL(pf->link_target, "b");
	/* a type pacman -Qkk does not check: nothing known of it */
	pf = scan_pkgset_find(set, "/a/dev");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(pf->flags, 0);
	scan_pkgset_free(set);

	/* libarchive would open contents= files on the host: refused */
	CU_ASSERT_EQUAL(read_mtree("#mtree\n./x type=file "
				   "contents=/etc/shadow\n",
				   &set, &err),
			-EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "contents"));
	scan_pkgset_free(set);
	CU_ASSERT_EQUAL(read_mtree("#mtree\n/set type=file content=/dev/tty\n"
				   "./x\n",
				   &set, &err),
			-EINVAL);
	scan_pkgset_free(set);

	/* dot components and empty input */
	CU_ASSERT_EQUAL(read_mtree("#mtree\n./a/./b type=file\n", &set, &err),
			-EINVAL);
	scan_pkgset_free(set);
	CU_ASSERT_EQUAL(read_mtree("#mtree\n./a//b type=file\n", &set, &err),
			-EINVAL);
	scan_pkgset_free(set);
	CU_ASSERT_EQUAL(read_mtree("#mtree\n../x type=file\n", &set, &err),
			-EINVAL);
	scan_pkgset_free(set);
	CU_ASSERT_TRUE(read_mtree("", &set, &err) < 0);
	CU_ASSERT_TRUE(err.msg[0] != '\0');
	scan_pkgset_free(set);
}

static CU_TestInfo tests[] = {
	{"packages", test_packages},	    {"files", test_files},
	{"read-only root", test_read_only}, {"corrupt databases", test_corrupt},
	{"database version", test_version}, {"NoExtract", test_noextract},
	{"mtree parsing", test_mtree},	    CU_TEST_INFO_NULL,
};

RF_CUNIT_MAIN("pkgdb_alpm")
