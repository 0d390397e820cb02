/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Deleting scans (and the objects only they referenced) and checking the
 * store against the database.
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

#include <jansson.h>

#include "buf.h"
#include "digest.h"
#include "escape.h"
#include "srv.h"

static int db_fail(sqlite3 *db, struct rf_error *err)
{
	return rf_error_set(err, -EIO, "database: %s", sqlite3_errmsg(db));
}

int srv_scan_delete(struct srv_store *st, sqlite3 *db, int64_t id,
		    struct rf_error *err)
{
	sqlite3_stmt *q = NULL;
	char **gone = NULL;
	size_t ngone = 0, cap = 0;
	bool began = false;
	char spool[64];
	int rc;

	srv_gc_lock_exclusive();
	rc = srv_db_begin_write(db, err);
	if (rc < 0)
		goto out;
	began = true;
	if (sqlite3_prepare_v2(db, "DELETE FROM scans WHERE id = ?", -1, &q,
			       NULL) != SQLITE_OK) {
		rc = db_fail(db, err);
		goto out;
	}
	sqlite3_bind_int64(q, 1, id);
	if (sqlite3_step(q) != SQLITE_DONE) {
		rc = db_fail(db, err);
		goto out;
	}
	if (sqlite3_changes(db) == 0) {
		rc = rf_error_set(err, -ENOENT, "no scan %lld", (long long)id);
		goto out;
	}
	sqlite3_finalize(q);
	/* what no remaining scan references goes */
	if (sqlite3_prepare_v2(db, "DELETE FROM objects AS o WHERE NOT EXISTS "
				   "(SELECT 1 FROM entries e WHERE e.sha256 = "
				   "o.sha256) AND NOT EXISTS (SELECT 1 FROM "
				   "scans s WHERE s.report_sha = o.sha256) "
				   "RETURNING sha256",
			       -1, &q, NULL) != SQLITE_OK) {
		rc = db_fail(db, err);
		goto out;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (ngone == cap) {
			cap = cap ? cap * 2 : 64;
			gone = rf_xrealloc(gone, cap * sizeof(*gone));
		}
		gone[ngone++] = rf_xstrdup((const char *)sqlite3_column_text(q, 0));
	}
	if (rc != SQLITE_DONE) {
		rc = db_fail(db, err);
		goto out;
	}
	sqlite3_finalize(q);
	q = NULL;
	began = false;
	rc = srv_db_commit(db, err);
	if (rc < 0)
		goto out;
	/* after the commit: a crash now leaves orphans, never dangling rows */
	for (size_t i = 0; i < ngone; i++)
		if (srv_is_sha256_hex(gone[i]))
			srv_object_unlink(st, gone[i]);
	snprintf(spool, sizeof(spool), "%lld.tar", (long long)id);
	unlinkat(st->upfd, spool, 0);
	rc = 0;
out:
	sqlite3_finalize(q);
	if (began)
		srv_db_rollback(db);
	srv_gc_unlock();
	for (size_t i = 0; i < ngone; i++)
		free(gone[i]);
	free(gone);
	return rc;
}

static void problem(json_t *problems, const char *kind, const char *sha,
		    const char *detail)
{
	if (problems != NULL)
		json_array_append_new(problems,
				      json_pack("{s:s,s:s,s:s}", "problem",
						kind, "object", sha, "detail",
						detail));
}

/* Hash one object file; -EBADMSG when it is not what its name says. */
static int check_file(int fd, const char *sha, int64_t want_size,
		      uint64_t *size, struct rf_buf *why)
{
	struct rf_digest *d = rf_digest_new(RF_DIGEST_SHA256, RF_DIGEST_NONE);
	unsigned char md[RF_SHA256_LEN], buf[65536];
	struct rf_buf hex = RF_BUF_INIT;
	ssize_t n;
	int rc;

	*size = 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		rf_digest_update(d, buf, (size_t)n);
		*size += (uint64_t)n;
	}
	if (n < 0) {
		rc = -errno;
		rf_buf_printf(why, "unreadable: %s", strerror(errno));
		goto out;
	}
	rf_digest_final(d, md, NULL);
	rf_hex_encode(&hex, md, sizeof(md));
	if (strcmp(hex.data, sha) != 0) {
		rf_buf_printf(why, "content has SHA-256 %s", hex.data);
		rc = -EBADMSG;
	} else if (want_size >= 0 && (uint64_t)want_size != *size) {
		rf_buf_printf(why, "%llu bytes, recorded %lld",
			      (unsigned long long)*size, (long long)want_size);
		rc = -EBADMSG;
	} else
		rc = 0;
out:
	rf_digest_free(d);
	rf_buf_free(&hex);
	return rc;
}

static bool referenced(sqlite3_stmt *ref, const char *sha)
{
	bool r;

	sqlite3_reset(ref);
	sqlite3_bind_text(ref, 1, sha, -1, SQLITE_STATIC);
	sqlite3_bind_text(ref, 2, sha, -1, SQLITE_STATIC);
	r = sqlite3_step(ref) == SQLITE_ROW;
	sqlite3_reset(ref);
	return r;
}

int srv_store_check(struct srv_store *st, sqlite3 *db,
		    struct srv_check_result *res, void *problems_arg,
		    struct rf_error *err)
{
	json_t *problems = problems_arg;
	sqlite3_stmt *row = NULL, *ref = NULL, *all = NULL;
	struct rf_buf why = RF_BUF_INIT;
	DIR *top = NULL;
	struct dirent *de;
	int fd, rc;

	memset(res, 0, sizeof(*res));
	if (sqlite3_prepare_v2(db, "SELECT size FROM objects WHERE sha256 = ?",
			       -1, &row, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT 1 WHERE EXISTS (SELECT 1 FROM "
				   "entries WHERE sha256 = ?1) OR EXISTS "
				   "(SELECT 1 FROM scans WHERE report_sha = ?2)",
			       -1, &ref, NULL) != SQLITE_OK) {
		rc = db_fail(db, err);
		goto out;
	}
	fd = dup(st->objfd);
	top = fd >= 0 ? fdopendir(fd) : NULL;
	if (top == NULL) {
		rc = rf_error_errno(err, -errno, "cannot read %s/objects",
				    st->dir);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	rewinddir(top);
	while ((de = readdir(top)) != NULL) {
		int subfd;
		DIR *sub;
		struct dirent *fe;

		if (de->d_name[0] == '.')
			continue;
		subfd = openat(st->objfd, de->d_name,
			       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		sub = subfd >= 0 ? fdopendir(subfd) : NULL;
		if (sub == NULL) {
			if (subfd >= 0)
				close(subfd);
			res->orphaned++;
			problem(problems, "orphaned", de->d_name,
				"not an object directory");
			continue;
		}
		while ((fe = readdir(sub)) != NULL) {
			char sha[SRV_SHA256_HEX];
			int64_t want = -1;
			uint64_t size;
			int ofd;

			if (fe->d_name[0] == '.')
				continue;
			if (strlen(de->d_name) == 2 && strlen(fe->d_name) == 62) {
				memcpy(sha, de->d_name, 2);
				memcpy(sha + 2, fe->d_name, 63);
			} else
				sha[0] = '\0';
			if (!srv_is_sha256_hex(sha)) {
				res->orphaned++;
				problem(problems, "orphaned", fe->d_name,
					"not named by a SHA-256");
				continue;
			}
			sqlite3_reset(row);
			sqlite3_bind_text(row, 1, sha, -1, SQLITE_STATIC);
			if (sqlite3_step(row) == SQLITE_ROW)
				want = sqlite3_column_int64(row, 0);
			sqlite3_reset(row);
			ofd = openat(subfd, fe->d_name,
				     O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			rf_buf_reset(&why);
			if (ofd < 0) {
				res->corrupt++;
				problem(problems, "corrupt", sha,
					"cannot be opened");
				continue;
			}
			rc = check_file(ofd, sha, want, &size, &why);
			close(ofd);
			res->objects++;
			res->bytes += size;
			if (rc < 0) {
				res->corrupt++;
				problem(problems, "corrupt", sha, why.data);
			} else if (want < 0) {
				bool r = referenced(ref, sha);

				if (r)
					res->unrecorded++;
				else
					res->orphaned++;
				problem(problems, r ? "unrecorded" : "orphaned",
					sha, r ? "referenced, but no database "
						 "row"
					       : "no scan references it");
			}
		}
		closedir(sub);
	}
	/* rows and references whose file is gone */
	if (sqlite3_prepare_v2(db, "SELECT sha256 FROM objects UNION "
				   "SELECT e.sha256 FROM entries e JOIN scans s "
				   "ON s.id = e.scan_id WHERE s.state = "
				   "'complete' AND e.type = 'file' AND e.class "
				   "IN ('modified', 'unowned') AND e.sha256 IS "
				   "NOT NULL",
			       -1, &all, NULL) != SQLITE_OK) {
		rc = db_fail(db, err);
		goto out;
	}
	while ((rc = sqlite3_step(all)) == SQLITE_ROW) {
		const char *sha = (const char *)sqlite3_column_text(all, 0);

		if (srv_is_sha256_hex(sha) && !srv_object_exists(st, sha)) {
			res->missing++;
			problem(problems, "missing", sha,
				"recorded or referenced, not in the store");
		}
	}
	rc = rc == SQLITE_DONE ? 0 : db_fail(db, err);
out:
	if (top != NULL)
		closedir(top);
	sqlite3_finalize(row);
	sqlite3_finalize(ref);
	sqlite3_finalize(all);
	rf_buf_free(&why);
	return rc;
}
