/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The store's database: SQLite in WAL mode under the data directory.
 * Machines have a series of scans; a scan is a full manifest (every file
 * element of its report) whose contents are named by SHA-256, so no scan
 * depends on another. A scan is "pending" from the moment its report is
 * stored until every content it needs is stored and verified, then
 * "complete". Tokens are kept as the SHA-256 of their secret only.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "buf.h"
#include "digest.h"
#include "escape.h"
#include "srv.h"

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS tokens("
	" id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
	" hash TEXT UNIQUE NOT NULL, created INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS machines("
	" id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
	" created INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS scans("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" machine_id INTEGER NOT NULL REFERENCES machines(id),"
	" seq INTEGER NOT NULL, token_id INTEGER NOT NULL,"
	" state TEXT NOT NULL CHECK(state IN ('pending','complete')),"
	" created INTEGER NOT NULL, completed INTEGER,"
	" report_sha TEXT NOT NULL, report_created TEXT, root BLOB,"
	" files INTEGER NOT NULL, packages INTEGER NOT NULL,"
	" needed INTEGER NOT NULL, needed_bytes INTEGER NOT NULL,"
	" announced INTEGER NOT NULL, announced_bytes INTEGER NOT NULL,"
	" UNIQUE(machine_id, seq));"
	"CREATE TABLE IF NOT EXISTS packages("
	" scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,"
	" db TEXT, name TEXT NOT NULL, epoch TEXT, version TEXT,"
	" release TEXT, arch TEXT);"
	"CREATE INDEX IF NOT EXISTS packages_scan ON packages(scan_id);"
	"CREATE TABLE IF NOT EXISTS entries("
	" scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,"
	" path BLOB NOT NULL, type TEXT, class TEXT NOT NULL, mode INTEGER,"
	" uid INTEGER, gid INTEGER, size INTEGER, mtime TEXT, sha256 TEXT,"
	" target BLOB, package TEXT, link_group INTEGER,"
	" PRIMARY KEY(scan_id, path)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS entries_sha ON entries(sha256)"
	" WHERE sha256 IS NOT NULL;"
	"CREATE TABLE IF NOT EXISTS objects("
	" sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL,"
	" stored INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS needs("
	" scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,"
	" sha256 TEXT NOT NULL, size INTEGER NOT NULL,"
	" PRIMARY KEY(scan_id, sha256)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS uploads("
	" scan_id INTEGER PRIMARY KEY REFERENCES scans(id) ON DELETE CASCADE,"
	" offset INTEGER NOT NULL, verified INTEGER NOT NULL,"
	" updated INTEGER NOT NULL);"
	/* packages no configured repository had when the scan arrived:
	 * all their files travel in the overlay (srv_report.c) */
	"CREATE TABLE IF NOT EXISTS scan_missing("
	" scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,"
	" name TEXT NOT NULL, evr TEXT NOT NULL, arch TEXT NOT NULL,"
	" PRIMARY KEY(scan_id, name, arch)) WITHOUT ROWID;"
	/* the source host's repository configuration files */
	"CREATE TABLE IF NOT EXISTS scan_repo_files("
	" scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,"
	" path BLOB NOT NULL, content BLOB NOT NULL,"
	" PRIMARY KEY(scan_id, path)) WITHOUT ROWID;";

int srv_db_exec(sqlite3 *db, const char *sql, struct rf_error *err)
{
	char *msg = NULL;
	int rc;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	rc = rf_error_set(err, -EIO, "database: %s",
			  msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	return rc;
}

/* The writers' ticket lock: served in the order tickets were drawn. */
static pthread_mutex_t write_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t write_cond = PTHREAD_COND_INITIALIZER;
static uint64_t write_next, write_serving;

void srv_db_write_lock(void)
{
	uint64_t ticket;

	pthread_mutex_lock(&write_mutex);
	ticket = write_next++;
	while (write_serving != ticket)
		pthread_cond_wait(&write_cond, &write_mutex);
	pthread_mutex_unlock(&write_mutex);
}

void srv_db_write_unlock(void)
{
	pthread_mutex_lock(&write_mutex);
	write_serving++;
	pthread_cond_broadcast(&write_cond);
	pthread_mutex_unlock(&write_mutex);
}

int srv_db_begin_write(sqlite3 *db, struct rf_error *err)
{
	int rc;

	srv_db_write_lock();
	rc = srv_db_exec(db, "BEGIN IMMEDIATE", err);
	if (rc < 0)
		srv_db_write_unlock();
	return rc;
}

int srv_db_commit(sqlite3 *db, struct rf_error *err)
{
	int rc = srv_db_exec(db, "COMMIT", err);

	if (rc < 0)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	srv_db_write_unlock();
	return rc;
}

void srv_db_rollback(sqlite3 *db)
{
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	srv_db_write_unlock();
}

int srv_db_open(struct srv_store *st, sqlite3 **out, struct rf_error *err)
{
	struct rf_buf path = RF_BUF_INIT;
	sqlite3 *db = NULL;
	int rc;

	rf_buf_printf(&path, "%s/reforge.db", st->dir);
	if (sqlite3_open_v2(path.data, &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		rc = rf_error_set(err, -EIO, "cannot open '%s': %s", path.data,
				  db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	/*
	 * The server's own writers take turns in srv_db_write_lock(); the
	 * timeout is for the rest (a 'token create' run beside the server,
	 * a checkpoint), never how requests queue.
	 */
	sqlite3_busy_timeout(db, 60000);
	/*
	 * synchronous=FULL: a committed transaction (a complete scan, a
	 * recorded upload offset) survives a power cut, not only a crash.
	 */
	rc = srv_db_exec(db, "PRAGMA journal_mode=WAL;"
			     "PRAGMA synchronous=FULL;"
			     "PRAGMA foreign_keys=ON;",
			 err);
	if (rc < 0)
		goto out;
	if (!__atomic_load_n(&st->schema_done, __ATOMIC_ACQUIRE)) {
		rc = srv_db_exec(db, schema, err);
		if (rc == 0)
			__atomic_store_n(&st->schema_done, true, __ATOMIC_RELEASE);
	}
out:
	if (rc < 0) {
		sqlite3_close(db);
		db = NULL;
	}
	rf_buf_free(&path);
	*out = db;
	return rc;
}

static void hash_secret(const char *secret, struct rf_buf *hex)
{
	unsigned char md[RF_SHA256_LEN];

	rf_sha256(secret, strlen(secret), md);
	rf_hex_encode(hex, md, sizeof(md));
}

int srv_token_create(sqlite3 *db, const char *name, char *secret_out,
		     struct rf_error *err)
{
	unsigned char raw[32];
	struct rf_buf secret = RF_BUF_INIT, hash = RF_BUF_INIT;
	sqlite3_stmt *st = NULL;
	int rc, step;

	if (name[0] == '\0' || strlen(name) > 128) {
		rc = rf_error_set(err, -EINVAL, "a token name has 1 to 128 "
				  "characters");
		goto out;
	}
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		rc = rf_error_errno(err, -errno, "no random bytes");
		goto out;
	}
	rf_hex_encode(&secret, raw, sizeof(raw));
	hash_secret(secret.data, &hash);
	if (sqlite3_prepare_v2(db, "INSERT INTO tokens(name, hash, created) "
				   "VALUES(?, ?, ?)", -1, &st, NULL) != SQLITE_OK) {
		rc = rf_error_set(err, -EIO, "database: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hash.data, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
	srv_db_write_lock();
	step = sqlite3_step(st);
	srv_db_write_unlock();
	switch (step) {
	case SQLITE_DONE:
		rc = 0;
		memcpy(secret_out, secret.data, 65);
		break;
	case SQLITE_CONSTRAINT:
		rc = rf_error_set(err, -EEXIST, "a token named '%s' exists",
				  name);
		break;
	default:
		rc = rf_error_set(err, -EIO, "database: %s", sqlite3_errmsg(db));
	}
out:
	sqlite3_finalize(st);
	rf_buf_free(&secret);
	rf_buf_free(&hash);
	return rc;
}

int srv_token_revoke(sqlite3 *db, const char *name, struct rf_error *err)
{
	sqlite3_stmt *st = NULL;
	bool changed;
	int rc;

	if (sqlite3_prepare_v2(db, "DELETE FROM tokens WHERE name = ?", -1,
			       &st, NULL) != SQLITE_OK) {
		rc = rf_error_set(err, -EIO, "database: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	srv_db_write_lock();
	rc = sqlite3_step(st);
	changed = sqlite3_changes(db) > 0;
	srv_db_write_unlock();
	if (rc != SQLITE_DONE) {
		rc = rf_error_set(err, -EIO, "database: %s", sqlite3_errmsg(db));
		goto out;
	}
	rc = changed ? 0
				 : rf_error_set(err, -ENOENT,
						"no token named '%s'", name);
out:
	sqlite3_finalize(st);
	return rc;
}

int64_t srv_token_check(sqlite3 *db, const char *secret)
{
	struct rf_buf hash = RF_BUF_INIT;
	sqlite3_stmt *st = NULL;
	int64_t id = 0;

	if (secret == NULL || strlen(secret) != 64)
		return 0;
	hash_secret(secret, &hash);
	if (sqlite3_prepare_v2(db, "SELECT id FROM tokens WHERE hash = ?", -1,
			       &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, hash.data, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	rf_buf_free(&hash);
	return id;
}
