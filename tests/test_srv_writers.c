/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * reforge-server's writers take turns in the process (srv_db_write_lock),
 * not in SQLite's busy handler: many reports ingested at once, on
 * connections whose busy timeout is 1 ms, with tokens created and upload
 * offsets read meanwhile, and repositories added and removed (server/repo.c
 * takes the same turns through its write hooks), all succeed ("database
 * is locked" never comes back), and every scan is whole.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cunit_main.h"
#include "repo.h"
#include "srv.h"

#define INGESTS 12
#define FILES 1500
#define TOKENS 40
#define REPOS 40
#define WRITERS (INGESTS + 3)

static char dir[64];
static struct srv_store *store;

struct job {
	int n;
	int rc;
	struct rf_error err;
	struct srv_ingest_result res;
};

static sqlite3 *impatient_db(struct rf_error *err)
{
	sqlite3 *db = NULL;

	if (srv_db_open(store, &db, err) < 0)
		return NULL;
	/* a writer that relied on SQLite's busy wait would fail at once */
	sqlite3_busy_timeout(db, 1);
	sqlite3_exec(db, "PRAGMA synchronous=OFF", NULL, NULL, NULL);
	return db;
}

/* A report of FILES unowned files, contents of their own, into a file. */
static int write_report(int n)
{
	char path[128];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/report-%d.xml", dir, n);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fprintf(f,
		"<?xml version=\"1.0\"?>\n<report xmlns=\"urn:reforge:"
		"report:1\" format-version=\"1\" root=\"/\">\n<packages>"
		"<package db=\"dpkg\" name=\"p%d\" version=\"1\" "
		"arch=\"all\"/></packages>\n<files>\n",
		n);
	for (int i = 0; i < FILES; i++)
		fprintf(f,
			"<file path=\"/srv/m%d/f%05d\" type=\"file\" "
			"mode=\"0644\" uid=\"0\" gid=\"0\" size=\"%d\" "
			"mtime=\"1\" sha256=\"%016x%016x%016x%016x\" "
			"class=\"unowned\"/>\n",
			n, i, i + 1, n, i, 0xabcd, 0x1234);
	fputs("</files>\n</report>\n", f);
	if (fclose(f) != 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd;
}

static void *ingest(void *arg)
{
	struct job *j = arg;
	struct rf_error err;
	char name[32], sha[SRV_SHA256_HEX];
	sqlite3 *db;
	int fd;

	rf_error_clear(&err);
	j->rc = -EIO;
	fd = write_report(j->n);
	db = impatient_db(&err);
	if (fd >= 0 && db != NULL) {
		snprintf(name, sizeof(name), "machine-%d", j->n % 4);
		snprintf(sha, sizeof(sha), "%064x", j->n);
		j->rc = srv_ingest_report(db, fd, name, 1, sha, &j->res, &err);
	}
	j->err = err;
	if (fd >= 0)
		close(fd);
	sqlite3_close(db);
	return NULL;
}

/* Small writes that must not starve behind the ingests. */
static void *tokens(void *arg)
{
	struct job *j = arg;
	struct rf_error err;
	char name[32], secret[65];
	sqlite3 *db;

	rf_error_clear(&err);
	j->rc = 0;
	db = impatient_db(&err);
	if (db == NULL)
		j->rc = -EIO;
	for (int i = 0; db != NULL && i < TOKENS && j->rc == 0; i++) {
		snprintf(name, sizeof(name), "t%d-%d", j->n, i);
		j->rc = srv_token_create(db, name, secret, &err);
		if (j->rc == 0 && srv_token_check(db, secret) == 0)
			j->rc = rf_error_set(&err, -EACCES, "token %s unknown",
					     name);
	}
	j->err = err;
	sqlite3_close(db);
	return NULL;
}

/* Repository rows added and removed, as `reforge repo add/remove` do. */
static void *repos(void *arg)
{
	struct job *j = arg;
	struct rf_error err;
	char cache[96], name[32];
	struct srv_repo_config cfg = {.cache_dir = cache,
				      .write_lock = srv_db_write_lock,
				      .write_unlock = srv_db_write_unlock};
	struct srv_repo *r = NULL;
	sqlite3 *db;

	rf_error_clear(&err);
	snprintf(cache, sizeof(cache), "%s/repo-cache", dir);
	db = impatient_db(&err);
	j->rc = db != NULL ? srv_repo_open(db, &cfg, &r, &err) : -EIO;
	for (int i = 0; j->rc == 0 && i < REPOS; i++) {
		struct srv_repo_def def = {.name = name,
					   .kind = "deb",
					   .url = "file:///nonexistent",
					   .suite = "./"};

		snprintf(name, sizeof(name), "r%d", i);
		j->rc = srv_repo_add(r, &def, &err);
		if (j->rc == 0 && i % 2 == 0)
			j->rc = srv_repo_remove(r, name, &err);
	}
	j->err = err;
	srv_repo_free(r);
	sqlite3_close(db);
	return NULL;
}

static int64_t count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *q = NULL;
	int64_t n = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

static void test_concurrent_writers(void)
{
	struct job jobs[WRITERS];
	pthread_t th[WRITERS];
	struct rf_error err;
	sqlite3 *db;
	char cmd[128];

	snprintf(dir, sizeof(dir), "/tmp/test-srv-writers.XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	rf_error_clear(&err);
	CU_ASSERT_FATAL(srv_store_open(dir, &store, &err) == 0);
	store->nosync = true;
	/* the schema first, as the server's first connection makes it */
	db = impatient_db(&err);
	CU_ASSERT_FATAL(db != NULL);
	memset(jobs, 0, sizeof(jobs));
	for (int i = 0; i < WRITERS; i++) {
		jobs[i].n = i;
		CU_ASSERT_FATAL(pthread_create(&th[i], NULL,
					       i < INGESTS	    ? ingest
					       : i < WRITERS - 1 ? tokens
								 : repos,
					       &jobs[i]) == 0);
	}
	for (int i = 0; i < WRITERS; i++) {
		pthread_join(th[i], NULL);
		if (jobs[i].rc != 0)
			fprintf(stderr, "writer %d: %d %s\n", i, jobs[i].rc,
				jobs[i].err.msg);
		CU_ASSERT_EQUAL(jobs[i].rc, 0);
		CU_ASSERT_PTR_NULL(strstr(jobs[i].err.msg, "locked"));
		if (i < INGESTS) {
			CU_ASSERT_EQUAL(jobs[i].res.files, FILES);
			CU_ASSERT_EQUAL(jobs[i].res.needed, FILES);
			CU_ASSERT_EQUAL(jobs[i].res.packages, 1);
		}
	}
	CU_ASSERT_EQUAL(count(db, "SELECT COUNT(*) FROM scans"), INGESTS);
	CU_ASSERT_EQUAL(count(db, "SELECT COUNT(*) FROM entries"),
			INGESTS * FILES);
	CU_ASSERT_EQUAL(count(db, "SELECT COUNT(*) FROM needs"),
			INGESTS * FILES);
	CU_ASSERT_EQUAL(count(db, "SELECT COUNT(*) FROM tokens"), 2 * TOKENS);
	CU_ASSERT_EQUAL(count(db, "SELECT COUNT(*) FROM repo_source"),
			REPOS / 2);
	/* each machine's series numbered 1, 2, 3 without a gap */
	CU_ASSERT_EQUAL(count(db, "SELECT COUNT(*) FROM (SELECT machine_id "
				  "FROM scans GROUP BY machine_id HAVING "
				  "MAX(seq) != COUNT(*))"),
			0);
	/* no staging table of a request is left in the store */
	CU_ASSERT_EQUAL(count(db, "SELECT COUNT(*) FROM sqlite_master WHERE "
				  "name LIKE 'stage%'"),
			0);
	sqlite3_close(db);
	srv_store_free(store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CU_ASSERT(system(cmd) == 0);
}

static CU_TestInfo tests[] = {
	{"concurrent ingests, tokens and repositories, busy timeout 1 ms",
	 test_concurrent_writers},
	CU_TEST_INFO_NULL,
};

RF_CUNIT_MAIN("srv_writers")
