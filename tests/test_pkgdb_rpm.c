/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The rpm backend against databases made by the real tools: packages built
 * with rpmbuild, installed with rpm --root into temporary roots, read back
 * through scan_pkgdb_rpm; then damaged, truncated and unreadable databases.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cunit_main.h"
#include "digest.h"
#include "pkgdb.h"
#include "pkgdb_testutil.h"

static const char spec_main[] =
	"Name: rftest\n"
	"Epoch: 2\n"
	"Version: 1.0\n"
	"Release: 3\n"
	"Summary: reforge test package\n"
	"License: GPL\n"
	"Vendor: Reforge Test\n"
	"BuildArch: noarch\n"
	"%description\n"
	"test\n"
	"%install\n"
	"mkdir -p %{buildroot}/etc/rftest %{buildroot}/usr/share/rftest "
	"%{buildroot}/usr/bin %{buildroot}/var/lib/rftest\n"
	"echo conf > %{buildroot}/etc/rftest/a.conf\n"
	"echo conf2 > %{buildroot}/etc/rftest/b.conf\n"
	"echo opt > %{buildroot}/etc/rftest/opt.conf\n"
	"echo data > %{buildroot}/usr/share/rftest/data\n"
	"echo doc > %{buildroot}/usr/share/rftest/README\n"
	"echo shared > %{buildroot}/usr/share/rftest/shared\n"
	"echo state > %{buildroot}/var/lib/rftest/state\n"
	"printf '#!/bin/sh\\necho hi\\n' > %{buildroot}/usr/bin/rftest\n"
	"ln -s ../share/rftest/data %{buildroot}/usr/bin/rftest-link\n"
	"touch %{buildroot}/etc/rftest/ghost.log\n"
	"%files\n"
	"%dir /etc/rftest\n"
	"%config /etc/rftest/a.conf\n"
	"%config(noreplace) /etc/rftest/b.conf\n"
	"%config(missingok) /etc/rftest/opt.conf\n"
	"%ghost /etc/rftest/ghost.log\n"
	"%dir /usr/share/rftest\n"
	"/usr/share/rftest/data\n"
	"/usr/share/rftest/shared\n"
	"%doc /usr/share/rftest/README\n"
	"%attr(0755,root,root) /usr/bin/rftest\n"
	"/usr/bin/rftest-link\n"
	"%dir /var/lib/rftest\n"
	"%attr(0640,rfuser,rfgroup) %verify(not md5 size mtime) "
	"/var/lib/rftest/state\n";

static const char spec_share[] =
	"Name: rfshare\n"
	"Version: 0.5\n"
	"Release: 1\n"
	"Summary: shares a directory and a file with rftest\n"
	"License: GPL\n"
	"BuildArch: noarch\n"
	"%description\n"
	"test\n"
	"%install\n"
	"mkdir -p %{buildroot}/usr/share/rftest\n"
	"echo shared > %{buildroot}/usr/share/rftest/shared\n"
	"echo mine > %{buildroot}/usr/share/rftest/mine\n"
	"%files\n"
	"%dir /usr/share/rftest\n"
	"/usr/share/rftest/shared\n"
	"/usr/share/rftest/mine\n";

/*
 * Under the sanitizers: librpm 4.18 does not close its SQLite connection
 * when a damaged database fails to open (test_corrupt); that leak is
 * librpm's. The default fast unwinder stops in libsqlite3, which has no
 * frame pointers: the full unwinder reaches rpmtsOpenDB.
 */
const char *__asan_default_options(void);
const char *__lsan_default_suppressions(void);

const char *__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

const char *__lsan_default_suppressions(void)
{
	return "leak:rpmtsOpenDB\n";
}

/* Built once: the packages, and a root with both installed. */
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

/* An empty root with a passwd naming rfuser and rfgroup. */
static char *new_root(const char *name)
{
	char *root = path_in(work, name), *etc = path_in(root, "etc"), *f;

	tu_sh("mkdir -p '%s'", etc);
	f = path_in(etc, "passwd");
	tu_write(f, "root:x:0:0:root:/root:/bin/sh\n"
		    "rfuser:x:1234:1234::/:/bin/false\n");
	free(f);
	f = path_in(etc, "group");
	tu_write(f, "root:x:0:\nrfgroup:x:1234:\n");
	free(f);
	free(etc);
	return root;
}

/* Install the test packages into root, the database at dbpath. */
static int install(const char *root, const char *dbpath, const char *which)
{
	return tu_sh("rpm --root '%s' --dbpath %s -i --nodeps --noscripts "
		     "%s/top/RPMS/noarch/%s 2>/dev/null",
		     root, dbpath, work, which);
}

static bool fixture(void)
{
	char *f;

	if (base != NULL)
		return true;
	work = tu_tmpdir("rpm");
	atexit(cleanup);
	f = path_in(work, "main.spec");
	tu_write(f, spec_main);
	free(f);
	f = path_in(work, "share.spec");
	tu_write(f, spec_share);
	free(f);
	if (tu_sh("cd '%s' && rpmbuild -bb --quiet --define '_topdir %s/top' "
		  "main.spec >/dev/null 2>&1 && rpmbuild -bb --quiet --define "
		  "'_topdir %s/top' share.spec >/dev/null 2>&1",
		  work, work, work) != 0)
		return false;
	base = new_root("base");
	return install(base, "/var/lib/rpm", "*.rpm") == 0;
}

/*
 * Run sql on the rpmdb of root in a child process. With crash, the child
 * dies without closing the database, as a killed rpm would: what it wrote
 * stays in the write-ahead log, not yet in the database file.
 */
static int rpmdb_sql(const char *root, const char *sql, bool crash)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		char *db = path_in(root, "var/lib/rpm/rpmdb.sqlite");
		sqlite3 *h = NULL;
		int rc = sqlite3_open(db, &h);

		if (rc == SQLITE_OK)
			rc = sqlite3_exec(h,
					  "PRAGMA journal_mode=WAL; "
					  "PRAGMA wal_autocheckpoint=0",
					  NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
		if (!crash)
			sqlite3_close(h);
		_exit(rc == SQLITE_OK ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A copy of the base root, to damage. */
static char *copy_base(const char *name)
{
	char *root = path_in(work, name);

	tu_sh("rm -rf '%s' && cp -a '%s' '%s'", root, base, root);
	return root;
}

static bool probe(const char *root)
{
	int fd = open(root, O_PATH | O_DIRECTORY);
	bool found = scan_pkgdb_rpm.probe(fd);

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
	CU_ASSERT_PTR_EQUAL(scan_pkgdb_by_name("rpm"), &scan_pkgdb_rpm);
	set = tu_load(&scan_pkgdb_rpm, base, &rc, &err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL(scan_pkgset_npackages(set), 2);

	p = tu_package(set, "rftest", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_STRING_EQUAL(p->db, "rpm");
	CU_ASSERT_STRING_EQUAL(p->epoch, "2");
	CU_ASSERT_STRING_EQUAL(p->version, "1.0");
	CU_ASSERT_STRING_EQUAL(p->release, "3");
	CU_ASSERT_STRING_EQUAL(p->arch, "noarch");
	CU_ASSERT_STRING_EQUAL(p->vendor, "Reforge Test");
	CU_ASSERT_STRING_EQUAL(p->status, "installed");
	CU_ASSERT_TRUE(p->install_time > 1000000000);

	p = tu_package(set, "rfshare", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_PTR_NULL(p->epoch);
	CU_ASSERT_PTR_NULL(p->vendor);
	CU_ASSERT_STRING_EQUAL(p->version, "0.5");
	scan_pkgset_free(set);
}

static struct scan_pkgfile *find(struct scan_pkgset *set, const char *path)
{
	struct scan_pkgfile *pf = scan_pkgset_find(set, path);

	if (pf == NULL)
		fprintf(stderr, "\nnot in the set: %s\n", path);
	return pf;
}

static void test_files(void)
{
	struct rf_error err;
	struct scan_pkgset *set;
	struct scan_pkgfile *pf;
	unsigned char sha[32];
	uint32_t main_idx;
	char *f;
	int rc;

	CU_ASSERT_FATAL(fixture());
	set = tu_load(&scan_pkgdb_rpm, base, &rc, &err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(tu_package(set, "rftest", &main_idx));

	/* a plain file: everything known, digest of what is on disk */
	pf = find(set, "/usr/share/rftest/data");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(pf->pkg, main_idx);
	CU_ASSERT_EQUAL(pf->nowners, 1);
	CU_ASSERT_EQUAL(pf->mode, S_IFREG | 0644);
	CU_ASSERT_EQUAL(pf->flags & (SCAN_PF_HAS_TYPE | SCAN_PF_HAS_PERM |
				     SCAN_PF_HAS_OWNER | SCAN_PF_HAS_SIZE |
				     SCAN_PF_HAS_MTIME),
			SCAN_PF_HAS_TYPE | SCAN_PF_HAS_PERM |
				SCAN_PF_HAS_OWNER | SCAN_PF_HAS_SIZE |
				SCAN_PF_HAS_MTIME);
	CU_ASSERT_EQUAL(pf->flags & (SCAN_PF_CONFIG | SCAN_PF_GHOST |
				     SCAN_PF_DOC | SCAN_PF_NOVERIFY_CONTENT),
			0);
	CU_ASSERT_STRING_EQUAL(pf->user, "root");
	CU_ASSERT_STRING_EQUAL(pf->group, "root");
	CU_ASSERT_EQUAL(pf->size, 5);
	CU_ASSERT_EQUAL(pf->algo, RF_DIGEST_SHA256);
	f = path_in(base, "usr/share/rftest/data");
	CU_ASSERT_TRUE(tu_sha256_file(f, sha));
	CU_ASSERT_EQUAL(memcmp(pf->digest, sha, 32), 0);
	{
		struct stat st;

		CU_ASSERT_EQUAL(stat(f, &st), 0);
		CU_ASSERT_EQUAL(pf->mtime, (int64_t)st.st_mtime);
		CU_ASSERT_EQUAL(
			scan_pkgfile_verify(pf, &st, sha, NULL, "root", "root"),
			0);
	}
	free(f);

	pf = find(set, "/usr/bin/rftest");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(pf->mode, S_IFREG | 0755);

	/* directories: type and mode, no digest */
	pf = find(set, "/etc/rftest");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(pf->mode, S_IFDIR | 0755);
	CU_ASSERT_EQUAL(pf->algo, RF_DIGEST_NONE);
	CU_ASSERT_FALSE(pf->flags & SCAN_PF_HAS_SIZE);

	/* a symlink: its target */
	pf = find(set, "/usr/bin/rftest-link");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_TRUE(S_ISLNK(pf->mode));
	CU_ASSERT_TRUE(pf->flags & SCAN_PF_HAS_TARGET);
	CU_ASSERT_STRING_EQUAL(pf->link_target, "../share/rftest/data");

	/* %config, %config(noreplace), %config(missingok), %doc */
	pf = find(set, "/etc/rftest/a.conf");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(pf->flags & (SCAN_PF_CONFIG | SCAN_PF_NOREPLACE |
				     SCAN_PF_MISSINGOK),
			SCAN_PF_CONFIG);
	pf = find(set, "/etc/rftest/b.conf");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(pf->flags & (SCAN_PF_CONFIG | SCAN_PF_NOREPLACE),
			SCAN_PF_CONFIG | SCAN_PF_NOREPLACE);
	pf = find(set, "/etc/rftest/opt.conf");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(pf->flags & (SCAN_PF_CONFIG | SCAN_PF_MISSINGOK),
			SCAN_PF_CONFIG | SCAN_PF_MISSINGOK);
	pf = find(set, "/usr/share/rftest/README");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_TRUE(pf->flags & SCAN_PF_DOC);

	/* %ghost: permissions and owner only, as rpm -V */
	pf = find(set, "/etc/rftest/ghost.log");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_TRUE(pf->flags & SCAN_PF_GHOST);
	CU_ASSERT_TRUE(pf->flags & SCAN_PF_HAS_PERM);
	CU_ASSERT_FALSE(pf->flags & (SCAN_PF_HAS_TYPE | SCAN_PF_HAS_SIZE |
				     SCAN_PF_HAS_MTIME));
	CU_ASSERT_EQUAL(pf->algo, RF_DIGEST_NONE);

	/* %attr names and %verify(not md5 size mtime) */
	pf = find(set, "/var/lib/rftest/state");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_STRING_EQUAL(pf->user, "rfuser");
	CU_ASSERT_STRING_EQUAL(pf->group, "rfgroup");
	CU_ASSERT_EQUAL(pf->mode & 07777, 0640);
	CU_ASSERT_TRUE(pf->flags & SCAN_PF_NOVERIFY_CONTENT);
	CU_ASSERT_FALSE(pf->flags & (SCAN_PF_HAS_SIZE | SCAN_PF_HAS_MTIME));
	CU_ASSERT_EQUAL(pf->algo, RF_DIGEST_SHA256); /* kept for the server */
	{
		struct stat st;

		/* a different content with the same owner: as packaged */
		f = path_in(base, "var/lib/rftest/state");
		CU_ASSERT_EQUAL(lstat(f, &st), 0);
		CU_ASSERT_EQUAL(st.st_uid, 1234);
		memset(sha, 0, sizeof(sha));
		CU_ASSERT_EQUAL(scan_pkgfile_verify(pf, &st, sha, NULL,
						    "rfuser", "rfgroup"),
				0);
		CU_ASSERT_EQUAL(scan_pkgfile_verify(pf, &st, sha, NULL, "root",
						    "rfgroup"),
				SCAN_DIFF_OWNER);
		free(f);
	}
	scan_pkgset_free(set);
}

static void test_shared(void)
{
	struct rf_error err;
	struct scan_pkgset *set;
	struct scan_pkgfile *pf;
	uint32_t share_idx;
	int rc;

	CU_ASSERT_FATAL(fixture());
	set = tu_load(&scan_pkgdb_rpm, base, &rc, &err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(tu_package(set, "rfshare", &share_idx));
	pf = find(set, "/usr/share/rftest");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(pf->nowners, 2);
	CU_ASSERT_EQUAL(pf->mode, S_IFDIR | 0755);
	/* a file of two packages: rpm -V ignores its mtime */
	pf = find(set, "/usr/share/rftest/shared");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(pf->nowners, 2);
	CU_ASSERT_TRUE(pf->flags & SCAN_PF_NOVERIFY_MTIME);
	pf = find(set, "/usr/share/rftest/mine");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(pf->pkg, share_idx);
	CU_ASSERT_FALSE(pf->flags & SCAN_PF_NOVERIFY_MTIME);
	/* every path once, no doubles */
	CU_ASSERT_EQUAL(scan_pkgset_nfiles(set), 14);
	scan_pkgset_free(set);
}

/* The database may live in usr/lib/sysimage/rpm; the newest one wins. */
static void test_dbpath(void)
{
	struct rf_error err;
	struct scan_pkgset *set;
	char *root, *empty;
	int rc;

	CU_ASSERT_FATAL(fixture());
	empty = new_root("empty");
	CU_ASSERT_FALSE(probe(empty));
	set = tu_load(&scan_pkgdb_rpm, empty, &rc, &err);
	CU_ASSERT_EQUAL(rc, -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no rpm database"));
	scan_pkgset_free(set);

	root = new_root("sysimage");
	CU_ASSERT_EQUAL_FATAL(
		install(root, "/usr/lib/sysimage/rpm", "rfshare-*.rpm"), 0);
	CU_ASSERT_TRUE(probe(root));
	set = tu_load(&scan_pkgdb_rpm, root, &rc, &err);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(scan_pkgset_npackages(set), 1);
	scan_pkgset_free(set);

	/* a stale var/lib/rpm next to it (a conversion's leftover) loses */
	CU_ASSERT_EQUAL_FATAL(install(root, "/var/lib/rpm", "*.rpm"), 0);
	tu_sh("touch -d 2001-01-01 '%s'/var/lib/rpm/rpmdb.sqlite", root);
	set = tu_load(&scan_pkgdb_rpm, root, &rc, &err);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(scan_pkgset_npackages(set), 1);
	scan_pkgset_free(set);
	/* and wins once it is the one written last */
	tu_sh("touch -d 2001-01-01 '%s'/usr/lib/sysimage/rpm/rpmdb.sqlite; "
	      "touch '%s'/var/lib/rpm/rpmdb.sqlite",
	      root, root);
	set = tu_load(&scan_pkgdb_rpm, root, &rc, &err);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(scan_pkgset_npackages(set), 2);
	scan_pkgset_free(set);
	free(root);
	free(empty);
}

/*
 * Loading writes nothing in the root and changes no time of its files;
 * it works on a read-only mount.
 */
static void test_read_only(void)
{
	struct rf_error err;
	struct scan_pkgset *set;
	char *root, *before, *after, *mnt;
	int rc;

	CU_ASSERT_FATAL(fixture());
	root = copy_base("ro");
	/*
	 * A live system's database: the last transaction (rfshare removed)
	 * only in the write-ahead log, which the copy must carry along.
	 */
	CU_ASSERT_EQUAL_FATAL(rpmdb_sql(root,
					"DELETE FROM Packages WHERE hnum = "
					"(SELECT max(hnum) FROM Packages)",
					true),
			      0);
	CU_ASSERT_EQUAL(
		tu_sh("test -s '%s/var/lib/rpm/rpmdb.sqlite-wal'", root), 0);
	/* the first look updates directory atimes (relatime after cp) */
	free(tu_snapshot(root));
	before = tu_snapshot(root);
	set = tu_load(&scan_pkgdb_rpm, root, &rc, &err);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(scan_pkgset_npackages(set), 1);
	scan_pkgset_free(set);
	after = tu_snapshot(root);
	CU_ASSERT_STRING_EQUAL(before, after);
	free(before);
	free(after);

	/* a read-only bind mount, where the test may mount */
	mnt = path_in(work, "ro-mnt");
	tu_sh("mkdir -p '%s'", mnt);
	if (mount(root, mnt, NULL, MS_BIND, NULL) == 0) {
		if (mount(NULL, mnt, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY,
			  NULL) == 0) {
			set = tu_load(&scan_pkgdb_rpm, mnt, &rc, &err);
			CU_ASSERT_EQUAL(rc, 0);
			CU_ASSERT_EQUAL(scan_pkgset_npackages(set), 1);
			scan_pkgset_free(set);
		}
		umount(mnt);
	} else {
		fprintf(stderr, "\n(no read-only bind mount: %s) ",
			strerror(errno));
	}
	free(mnt);
	free(root);
}

/* Load a damaged root: an error with a message, no crash, no package. */
static void expect_error(const char *root, int code, const char *words)
{
	struct rf_error err;
	struct scan_pkgset *set;
	int rc;

	set = tu_load(&scan_pkgdb_rpm, root, &rc, &err);
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

static void test_corrupt(void)
{
	char *root;

	CU_ASSERT_FATAL(fixture());
	root = copy_base("garbage");
	tu_sh("head -c 65536 /dev/urandom > '%s/var/lib/rpm/rpmdb.sqlite'",
	      root);
	expect_error(root, -EIO, "var/lib/rpm");
	free(root);

	root = copy_base("truncated");
	tu_sh("f='%s/var/lib/rpm/rpmdb.sqlite'; head -c 20000 \"$f\" > "
	      "\"$f.new\" && mv \"$f.new\" \"$f\"",
	      root);
	expect_error(root, -EIO, "sqlite");
	free(root);

	root = copy_base("empty-file");
	tu_sh(": > '%s/var/lib/rpm/rpmdb.sqlite'", root);
	{
		/* an empty file is an empty database to SQLite and rpm */
		struct rf_error err;
		int rc;
		struct scan_pkgset *set =
			tu_load(&scan_pkgdb_rpm, root, &rc, &err);

		CU_ASSERT_TRUE(rc == 0 || err.msg[0] != '\0');
		scan_pkgset_free(set);
	}
	free(root);

	/* a header whose index entries are garbage */
	root = copy_base("badheader");
	CU_ASSERT_EQUAL(rpmdb_sql(root,
				  "UPDATE Packages SET blob = substr(blob, 1, "
				  "200) || randomblob(64) || substr(blob, 265) "
				  "WHERE hnum = (SELECT min(hnum) FROM "
				  "Packages)",
				  false),
			0);
	expect_error(root, -EIO, "damaged");
	free(root);
}

/* Hex-escape len bytes as db_load -T reads them. */
static void put_escaped(FILE *f, const void *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		fprintf(f, "\\%02x", ((const unsigned char *)p)[i]);
	fputc('\n', f);
}

/*
 * Turn the sqlite rpmdb of root into a Berkeley DB one, as rpm before 4.16
 * kept it: the same header blobs in a hash database "Packages", keyed by
 * header number in host order (record 0: the next number), written by
 * Berkeley DB's own db_load.
 */
static int make_bdb(const char *root)
{
	char *db = path_in(root, "var/lib/rpm/rpmdb.sqlite");
	char *dump = path_in(root, "packages.dump");
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	uint32_t key, next = 0;
	FILE *f = fopen(dump, "w");
	int rc = -1;

	if (f == NULL || sqlite3_open(db, &h) != SQLITE_OK ||
	    sqlite3_prepare_v2(h, "SELECT hnum, blob FROM Packages", -1, &st,
			       NULL) != SQLITE_OK)
		goto out;
	while (sqlite3_step(st) == SQLITE_ROW) {
		key = (uint32_t)sqlite3_column_int(st, 0);
		put_escaped(f, &key, sizeof(key));
		put_escaped(f, sqlite3_column_blob(st, 1),
			    (size_t)sqlite3_column_bytes(st, 1));
		if (key >= next)
			next = key + 1;
	}
	key = 0;
	put_escaped(f, &key, sizeof(key));
	put_escaped(f, &next, sizeof(next));
	if (fclose(f) != 0)
		goto out;
	f = NULL;
	rc = tu_sh("cd '%s/var/lib/rpm' && rm -f rpmdb.sqlite* && "
		   "db5.3_load -T -t hash -f '%s' Packages && rm '%s'",
		   root, dump, dump);
out:
	if (f != NULL)
		fclose(f);
	sqlite3_finalize(st);
	sqlite3_close(h);
	free(db);
	free(dump);
	return rc;
}

/* rpm before 4.16 (RHEL 8, SLES 15): Berkeley DB, through bdb_ro. */
static void test_bdb(void)
{
	struct rf_error err;
	struct scan_pkgset *set;
	struct scan_pkgfile *pf;
	char *root;
	int rc;

	CU_ASSERT_FATAL(fixture());
	root = copy_base("bdb");
	CU_ASSERT_EQUAL_FATAL(make_bdb(root), 0);
	CU_ASSERT_TRUE(probe(root));
	set = tu_load(&scan_pkgdb_rpm, root, &rc, &err);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(scan_pkgset_npackages(set), 2);
	pf = scan_pkgset_find(set, "/etc/rftest/b.conf");
	CU_ASSERT_PTR_NOT_NULL(pf);
	if (pf != NULL)
		CU_ASSERT_TRUE(pf->flags & SCAN_PF_NOREPLACE);
	scan_pkgset_free(set);

	/*
	 * A hash format newer than bdb_ro reads: the version in the metadata
	 * page (bytes 16-19, host order) from Berkeley DB 5.3's 9 to 11.
	 */
	CU_ASSERT_EQUAL(
		tu_sh("printf '\\013' | dd of='%s/var/lib/rpm/Packages' "
		      "bs=1 seek=16 conv=notrunc 2>/dev/null",
		      root),
		0);
	expect_error(root, -EIO, "unsupported hash version 11");
	expect_error(root, -EIO, ": var/lib/rpm/Packages: "); /* not the copy */
	free(root);
}

/*
 * A database the linked librpm cannot read: ndb, which Debian's librpm is
 * built without, and whatever a newer rpm would write there.
 */
static void test_unsupported(void)
{
	char *root;

	CU_ASSERT_FATAL(fixture());
	root = new_root("ndb");
	tu_sh("mkdir -p '%s/var/lib/rpm' && head -c 8192 /dev/urandom > "
	      "'%s/var/lib/rpm/Packages.db'",
	      root, root);
	CU_ASSERT_TRUE(probe(root));
	expect_error(root, -ENOTSUP, "ndb");
	free(root);
}

/*
 * Origins from dnf's history: the packages installed with dnf from a
 * repository made with createrepo_c, one of them marked a dependency
 * afterwards; then the history damaged, which only costs the origins.
 */
static void test_origin(void)
{
	struct rf_error err;
	struct scan_pkgset *set;
	const struct scan_pkg *p;
	char *root, *f;
	int rc;

	CU_ASSERT_FATAL(fixture());
	root = new_root("dnf");
	/* dnf's librpm reads the host's %_dbpath; ~/.rpmmacros overrides */
	f = path_in(work, ".rpmmacros");
	tu_write(f, "%_dbpath /var/lib/rpm\n");
	free(f);
	f = path_in(work, "dnf.conf");
	tu_write(f, "[main]\ngpgcheck=0\nreposdir=/dev/null\n"
		    "install_weak_deps=0\n");
	free(f);
	rc = tu_sh(
		"cd '%s' && createrepo_c -q top/RPMS/noarch && "
		"dnf() { HOME='%s' command dnf -y -q --installroot='%s' "
		"--config=dnf.conf --releasever=1 --setopt=cachedir='%s/dnf' "
		"--repofrompath=rfrepo,file://'%s'/top/RPMS/noarch \"$@\" "
		">/dev/null 2>&1; } && dnf install rftest rfshare && "
		"dnf mark remove rfshare",
		work, work, root, work, work);
	CU_ASSERT_EQUAL_FATAL(rc, 0);

	set = tu_load(&scan_pkgdb_rpm, root, &rc, &err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	p = tu_package(set, "rftest", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_STRING_EQUAL(p->origin, "rfrepo");
	CU_ASSERT_STRING_EQUAL(p->reason, "explicit");
	p = tu_package(set, "rfshare", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_STRING_EQUAL(p->origin, "rfrepo");
	CU_ASSERT_STRING_EQUAL(p->reason, "dependency");
	scan_pkgset_free(set);

	/* rpm --root installs are not in the history */
	set = tu_load(&scan_pkgdb_rpm, base, &rc, &err);
	CU_ASSERT_EQUAL(rc, 0);
	p = tu_package(set, "rftest", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_PTR_NULL(p->origin);
	CU_ASSERT_PTR_NULL(p->reason);
	scan_pkgset_free(set);

	tu_sh("cd '%s/var/lib/dnf' && rm -f history.sqlite-* && "
	      "head -c 8192 /dev/urandom > history.sqlite",
	      root);
	set = tu_load(&scan_pkgdb_rpm, root, &rc, &err);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(scan_pkgset_npackages(set), 2);
	p = tu_package(set, "rftest", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_PTR_NULL(p->origin);
	scan_pkgset_free(set);
	free(root);
}

static CU_TestInfo tests[] = {
	{"packages", test_packages},
	{"files", test_files},
	{"shared files", test_shared},
	{"database path", test_dbpath},
	{"read-only root", test_read_only},
	{"corrupt databases", test_corrupt},
	{"Berkeley DB", test_bdb},
	{"unsupported formats", test_unsupported},
	{"origins from dnf", test_origin},
	CU_TEST_INFO_NULL,
};

RF_CUNIT_MAIN("pkgdb_rpm")
