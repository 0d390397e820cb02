/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * reforge-server's store: atomic object writes, tokens, report ingest and
 * the overlay's path rules.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cunit_main.h"
#include "srv.h"

static char dir[64];

static struct srv_store *scratch_store(void)
{
	struct srv_store *st = NULL;
	struct rf_error err;

	snprintf(dir, sizeof(dir), "/tmp/test-srv.XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	CU_ASSERT_FATAL(srv_store_open(dir, &st, &err) == 0);
	st->nosync = true;
	return st;
}

static void drop_store(struct srv_store *st)
{
	char cmd[128];

	srv_store_free(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CU_ASSERT(system(cmd) == 0);
}

static void test_overlay_path(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"etc/a", "/etc/a"},
		{"etc/dir/", "/etc/dir"},
		{"a", "/a"},
		{"/etc/a", NULL},
		{"", NULL},
		{"../a", NULL},
		{"etc/../../a", NULL},
		{"etc/./a", NULL},
		{"etc//a", NULL},
		{"..", NULL},
		{".", NULL},
		{"etc/..", NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;
		int rc = srv_overlay_path(cases[i].in, &out);

		if (cases[i].out == NULL) {
			CU_ASSERT_EQUAL(rc, -EINVAL);
			CU_ASSERT_PTR_NULL(out);
		} else {
			CU_ASSERT_EQUAL_FATAL(rc, 0);
			CU_ASSERT_STRING_EQUAL(out, cases[i].out);
		}
		free(out);
	}
}

#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static void test_object_atomic(void)
{
	struct srv_store *st = scratch_store();
	struct srv_object_writer *w;
	struct rf_error err;
	char buf[8];
	int fd;

	/* wrong digest: refused, nothing under objects/ nor tmp/ */
	CU_ASSERT_FATAL(srv_object_begin(st, &w, &err) == 0);
	CU_ASSERT(srv_object_write(w, "abd", 3, &err) == 0);
	CU_ASSERT_EQUAL(srv_object_commit(w, SHA_ABC, 3, &err), -EBADMSG);
	CU_ASSERT(!srv_object_exists(st, SHA_ABC));
	CU_ASSERT(faccessat(st->tmpfd, ".", F_OK, 0) == 0);
	/* wrong size */
	CU_ASSERT_FATAL(srv_object_begin(st, &w, &err) == 0);
	CU_ASSERT(srv_object_write(w, "abc", 3, &err) == 0);
	CU_ASSERT_EQUAL(srv_object_commit(w, SHA_ABC, 4, &err), -EBADMSG);
	CU_ASSERT(!srv_object_exists(st, SHA_ABC));
	/* right: stored under its name, with its bytes */
	CU_ASSERT_FATAL(srv_object_begin(st, &w, &err) == 0);
	CU_ASSERT(srv_object_write(w, "ab", 2, &err) == 0);
	CU_ASSERT(srv_object_write(w, "c", 1, &err) == 0);
	CU_ASSERT_EQUAL(srv_object_commit(w, SHA_ABC, 3, &err), 0);
	CU_ASSERT(srv_object_exists(st, SHA_ABC));
	fd = srv_object_open(st, SHA_ABC);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(read(fd, buf, sizeof(buf)), 3);
	CU_ASSERT(memcmp(buf, "abc", 3) == 0);
	close(fd);
	/* an abandoned write leaves nothing */
	CU_ASSERT_FATAL(srv_object_begin(st, &w, &err) == 0);
	srv_object_abort(w);
	{
		int n = 0, d = dup(st->tmpfd);
		DIR *dd = fdopendir(d);
		struct dirent *de;

		while ((de = readdir(dd)) != NULL)
			n += de->d_name[0] != '.';
		closedir(dd);
		CU_ASSERT_EQUAL(n, 0);
	}
	drop_store(st);
}

static void test_tokens(void)
{
	struct srv_store *st = scratch_store();
	struct rf_error err;
	char secret[65];
	sqlite3 *db;
	int64_t id;

	CU_ASSERT_FATAL(srv_db_open(st, &db, &err) == 0);
	CU_ASSERT_EQUAL(srv_token_create(db, "alice", secret, &err), 0);
	CU_ASSERT_EQUAL(strlen(secret), 64);
	CU_ASSERT_EQUAL(srv_token_create(db, "alice", secret, &err), -EEXIST);
	id = srv_token_check(db, secret);
	CU_ASSERT(id > 0);
	CU_ASSERT_EQUAL(srv_token_check(db, NULL), 0);
	CU_ASSERT_EQUAL(srv_token_check(db, ""), 0);
	secret[0] = secret[0] == 'a' ? 'b' : 'a';
	CU_ASSERT_EQUAL(srv_token_check(db, secret), 0);
	CU_ASSERT_EQUAL(srv_token_revoke(db, "alice", &err), 0);
	CU_ASSERT_EQUAL(srv_token_revoke(db, "alice", &err), -ENOENT);
	sqlite3_close(db);
	drop_store(st);
}

static int report_fd(const char *files)
{
	int fd = memfd_create("r", 0);
	char *text = NULL;
	int n = asprintf(&text,
			 "<report xmlns=\"urn:reforge:report:1\" "
			 "format-version=\"1\" root=\"/\"><packages/>"
			 "<files>%s</files></report>",
			 files);

	CU_ASSERT_FATAL(n > 0 && write(fd, text, (size_t)n) == n);
	free(text);
	return fd;
}

static int64_t count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *q;
	int64_t n = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

static void test_ingest(void)
{
	struct srv_store *st = scratch_store();
	struct srv_ingest_result res;
	struct rf_error err;
	sqlite3 *db;
	int fd;

	CU_ASSERT_FATAL(srv_db_open(st, &db, &err) == 0);
	fd = report_fd(
		"<file path=\"/a\" type=\"file\" mode=\"0644\" uid=\"0\" gid=\"0\" "
		"size=\"3\" mtime=\"1\" sha256=\"" SHA_ABC "\" class=\"unowned\"/>"
		"<file path=\"/b\" type=\"file\" mode=\"0644\" uid=\"0\" gid=\"0\" "
		"size=\"3\" mtime=\"1\" sha256=\"" SHA_ABC "\" class=\"modified\" "
		"detail=\"x\"/>"
		"<file path=\"/c\" type=\"file\" mode=\"0644\" uid=\"0\" gid=\"0\" "
		"size=\"9\" mtime=\"1\" sha256=\"" SHA_ABC "0\" class=\"unowned\"/>");
	/* a bad sha256: refused whole, nothing stored */
	CU_ASSERT_EQUAL(srv_ingest_report(db, fd, "m", 1, SHA_ABC, &res, &err),
			-EBADMSG);
	CU_ASSERT_EQUAL(count(db, "SELECT COUNT(*) FROM scans"), 0);
	CU_ASSERT_EQUAL(count(db, "SELECT COUNT(*) FROM entries"), 0);
	close(fd);
	fd = report_fd(
		"<file path=\"/a\" type=\"file\" mode=\"0644\" uid=\"0\" gid=\"0\" "
		"size=\"3\" mtime=\"1\" sha256=\"" SHA_ABC "\" class=\"unowned\"/>"
		"<file path=\"/b\" type=\"file\" mode=\"0644\" uid=\"0\" gid=\"0\" "
		"size=\"3\" mtime=\"1\" sha256=\"" SHA_ABC "\" class=\"modified\" "
		"detail=\"x\"/>"
		"<file path=\"/u\" type=\"file\" mode=\"0644\" uid=\"0\" gid=\"0\" "
		"size=\"3\" mtime=\"1\" sha256=\"" SHA_ABC "\" "
		"class=\"unmodified\"/>");
	CU_ASSERT_EQUAL(srv_ingest_report(db, fd, "m", 1, SHA_ABC, &res, &err),
			0);
	CU_ASSERT_EQUAL(res.files, 3);
	CU_ASSERT_EQUAL(res.needed, 1); /* one content, asked once */
	CU_ASSERT_EQUAL(res.needed_bytes, 3);
	CU_ASSERT_EQUAL(res.seq, 1);
	/* the same machine again: next in its series */
	CU_ASSERT_EQUAL(srv_ingest_report(db, fd, "m", 1, SHA_ABC, &res, &err),
			0);
	CU_ASSERT_EQUAL(res.seq, 2);
	close(fd);
	/* a path twice */
	fd = report_fd("<file path=\"/a\" type=\"directory\" mode=\"0755\" "
		       "uid=\"0\" gid=\"0\" mtime=\"1\" class=\"unowned\"/>"
		       "<file path=\"/a\" type=\"directory\" mode=\"0755\" "
		       "uid=\"0\" gid=\"0\" mtime=\"1\" class=\"unowned\"/>");
	CU_ASSERT_EQUAL(srv_ingest_report(db, fd, "n", 1, SHA_ABC, &res, &err),
			-EBADMSG);
	CU_ASSERT(strstr(err.msg, "twice") != NULL);
	CU_ASSERT_EQUAL(count(db, "SELECT COUNT(*) FROM scans"), 2);
	close(fd);
	sqlite3_close(db);
	drop_store(st);
}

static CU_TestInfo tests[] = {
	{"overlay paths", test_overlay_path},
	{"atomic objects", test_object_atomic},
	{"tokens", test_tokens},
	{"report ingest", test_ingest},
	CU_TEST_INFO_NULL,
};

RF_CUNIT_MAIN("server")
