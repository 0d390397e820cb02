/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef SRV_SRV_H
#define SRV_SRV_H
/*
 * reforge-server's internals: the store (a content-addressed object
 * directory and a SQLite database under one data directory), report ingest,
 * overlay verification and the HTTP layer. Private to server/ and its tests.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "error.h"

#define SRV_SHA256_HEX 65 /* 64 hex digits and a NUL */

/* ---- store: srv_store.c ---- */

struct srv_store {
	char *dir;      /* the data directory */
	int dirfd;      /* its descriptor */
	int objfd;      /* DIR/objects */
	int tmpfd;      /* DIR/tmp: partial files, same filesystem */
	int upfd;       /* DIR/uploads: overlay spools */
	bool nosync;    /* tests only: skip fsync (never set by the program) */
	bool schema_done; /* the first connection made the schema */
};

/*
 * Open (creating when absent) the data directory dir: objects/, tmp/,
 * uploads/ and the database. Leftover temporary files of a crashed run are
 * removed. Returns 0 or a negative errno; *out is freed by srv_store_free().
 */
int srv_store_open(const char *dir, struct srv_store **out,
		   struct rf_error *err);
void srv_store_free(struct srv_store *st);

/*
 * A new connection to the store's database (WAL, foreign keys, busy
 * timeout), the schema created when absent. Each thread uses its own.
 */
int srv_db_open(struct srv_store *st, sqlite3 **out, struct rf_error *err);

/* Write all of len bytes to fd; returns 0 or a negative errno. */
int srv_write_all(int fd, const void *data, size_t len);
/* fsync(fd) unless the store is in test mode; 0 or a negative errno. */
int srv_fsync(const struct srv_store *st, int fd);

/*
 * An object being written: a temporary file under tmp/ that is hashed as it
 * is written, and becomes objects/xx/yyyy... only when srv_object_commit()
 * finds the expected digest and length: write, length check, fsync, rename,
 * fsync of the directory.
 */
struct srv_object_writer;
int srv_object_begin(struct srv_store *st, struct srv_object_writer **out,
		     struct rf_error *err);
int srv_object_write(struct srv_object_writer *w, const void *data,
		     size_t len, struct rf_error *err);
/*
 * Check that what was written has SHA-256 sha_hex (64 lower-case digits) and
 * size bytes, then move it into place. Returns 0, -EBADMSG on a mismatch, or
 * another negative errno. Frees w in every case.
 */
int srv_object_commit(struct srv_object_writer *w, const char *sha_hex,
		      uint64_t size, struct rf_error *err);
/*
 * As srv_object_commit() for contents whose digest is not known in advance
 * (a report as received): the object is named by what was written, and
 * sha_out (65 bytes) and *size say what that was. Frees w.
 */
int srv_object_finish(struct srv_object_writer *w, char *sha_out,
		      uint64_t *size, struct rf_error *err);
/* Remove the temporary file and free w; NULL is accepted. */
void srv_object_abort(struct srv_object_writer *w);
/* Path of an object relative to objects/: "ab/cdef..." into buf[68]. */
void srv_object_relpath(const char *sha_hex, char buf[68]);
/* true when objects/ holds a file for sha_hex. */
bool srv_object_exists(struct srv_store *st, const char *sha_hex);
/* Open an object read-only; a descriptor or a negative errno. */
int srv_object_open(struct srv_store *st, const char *sha_hex);
/* Unlink an object (deleting scans); 0, or a negative errno. */
int srv_object_unlink(struct srv_store *st, const char *sha_hex);

/*
 * Objects may be removed only while no upload is adding one (a scan's
 * deletion would otherwise race an upload of the same content): writers take
 * the lock shared, the collector exclusive.
 */
void srv_gc_lock_shared(void);
void srv_gc_lock_exclusive(void);
void srv_gc_unlock(void);

/* true when s is 64 lower-case hex digits. */
bool srv_is_sha256_hex(const char *s);

/* ---- tokens: srv_db.c ---- */

/*
 * Create token NAME: a random secret returned in secret_out (65 bytes), of
 * which only the SHA-256 is stored. -EEXIST when the name is taken.
 */
int srv_token_create(sqlite3 *db, const char *name, char *secret_out,
		     struct rf_error *err);
/* Remove token NAME; -ENOENT when there is none. */
int srv_token_revoke(sqlite3 *db, const char *name, struct rf_error *err);
/* The id of the token whose secret is secret, or 0 when none matches. */
int64_t srv_token_check(sqlite3 *db, const char *secret);

/* Run sql (no rows); 0 or -EIO with err set. */
int srv_db_exec(sqlite3 *db, const char *sql, struct rf_error *err);

/*
 * Writers take turns here, not in SQLite. Every writer of the server is in
 * this one process, and SQLite's busy handler is neither fair nor bounded
 * in a useful way: writers that sleep and poll for the lock can lose to
 * newcomers until their timeout ends in "database is locked". So each
 * write (a transaction, or one statement in autocommit mode) holds this
 * lock, a ticket lock served in the order of arrival, and keeps it short:
 * the slow parts (reading a report, looking packages up) are done before.
 * The lock is innermost: its holder waits for nothing else.
 */
void srv_db_write_lock(void);
void srv_db_write_unlock(void);
/* srv_db_write_lock(), then BEGIN IMMEDIATE; unlocked again on failure. */
int srv_db_begin_write(sqlite3 *db, struct rf_error *err);
/* COMMIT (ROLLBACK when it fails), then unlock; 0 or -EIO. */
int srv_db_commit(sqlite3 *db, struct rf_error *err);
/* ROLLBACK, then unlock. */
void srv_db_rollback(sqlite3 *db);

/* ---- report ingest: srv_report.c ---- */

struct srv_ingest_result {
	int64_t scan_id;
	int64_t machine_id;
	int64_t seq;            /* the scan's number in its machine's series */
	uint64_t files;         /* file elements */
	uint64_t packages;
	uint64_t needed;        /* distinct contents the store lacks */
	uint64_t needed_bytes;
	uint64_t missing_packages; /* packages no repository has */
	uint64_t repo_files;    /* repository configuration files */
};

/*
 * Read a report (plain, gzip or zstd, recognised by its first bytes) from fd
 * as a stream and store it as a new, pending scan of machine name, owned by
 * token: its packages, its full file manifest, and the list of the contents
 * (SHA-256 of modified and unowned regular files) that no stored object has.
 * report_sha is the stored object holding the report as received. All in
 * one transaction: on failure nothing is stored. -EBADMSG for a report that
 * is not one (err says where).
 */
int srv_ingest_report(sqlite3 *db, int fd, const char *name, int64_t token,
		      const char *report_sha, struct srv_ingest_result *res,
		      struct rf_error *err);

struct srv_repo;
/*
 * As srv_ingest_report(), and with the repositories of repo (NULL: none
 * known, nothing is missing): every package of the scan that no repository
 * has at exactly its version and architecture is recorded in scan_missing,
 * and all its regular files' contents (unmodified ones too) are needed. The
 * index is read inside the ingest's transaction: one snapshot of it.
 * The report's <repositories> files go into scan_repo_files.
 */
int srv_ingest_report_repo(sqlite3 *db, struct srv_repo *repo, int fd,
			   const char *name, int64_t token,
			   const char *report_sha,
			   struct srv_ingest_result *res, struct rf_error *err);

/* ---- overlay: srv_overlay.c ---- */

/*
 * The overlay of one pending scan as it is received: bytes are appended to a
 * spool under uploads/ and checked against the scan's manifest by a reader
 * thread as they arrive (announced path, type, size, SHA-256); verified
 * contents become objects at once. The upload's offset (durable bytes) and
 * the verified position survive a crash of the server; a new upload picks up
 * from there.
 */
struct srv_upload;

/*
 * Begin an upload to scan_id at offset (what the client believes the server
 * has). -EBUSY when another upload to that scan is running, -ESPIPE when
 * offset is not the durable offset (*durable says what it is), -ENOENT
 * when there is no pending scan scan_id, -EALREADY when it is complete.
 */
int srv_upload_begin(struct srv_store *st, int64_t scan_id, int64_t token,
		     uint64_t offset, uint64_t max_bytes,
		     struct srv_upload **out, uint64_t *durable,
		     struct rf_error *err);
/*
 * Append data. Returns 0, -EFBIG past the scan's bound, -EBADMSG when the
 * overlay was refused (err says which entry and why), or another negative
 * errno (an I/O error: the upload fails and is not retried).
 */
int srv_upload_append(struct srv_upload *u, const void *data, size_t len,
		      struct rf_error *err);
/*
 * End the upload: complete says the client finished its body (otherwise the
 * connection broke). Makes what was received durable, waits for the
 * verifier, and when the overlay's end was reached and every needed content
 * is stored marks the scan complete. *done tells whether it is; *offset is
 * the durable offset. Frees u. Returns 0 or a negative errno as above.
 */
int srv_upload_end(struct srv_upload *u, bool complete, bool *done,
		   uint64_t *offset, struct rf_error *err);

/* The durable offset of scan_id's upload and whether the scan is complete. */
int srv_upload_status(struct srv_store *st, sqlite3 *db, int64_t scan_id,
		      uint64_t *offset, bool *complete, struct rf_error *err);

/*
 * The path of an overlay entry ("etc/x", no leading slash) as the report's
 * absolute path into out; -EINVAL when it is absolute, empty, or has a "."
 * or ".." component or an empty one.
 */
int srv_overlay_path(const char *entry, char **out);

/* ---- queries: srv_query.c ---- */

/*
 * Delete scan id and every object no remaining scan references. -ENOENT
 * when there is no such scan.
 */
int srv_scan_delete(struct srv_store *st, sqlite3 *db, int64_t id,
		    struct rf_error *err);

struct srv_check_result {
	uint64_t objects;       /* objects read */
	uint64_t bytes;
	uint64_t corrupt;       /* content does not match its name or size */
	uint64_t missing;       /* referenced or recorded, not on disk */
	uint64_t orphaned;      /* on disk, recorded nowhere */
	uint64_t unrecorded;    /* on disk, referenced, no database row */
};
/*
 * Read every object and compare with the database. problems (may be NULL)
 * receives one JSON object per problem found (a jansson array, json_t *).
 */
int srv_store_check(struct srv_store *st, sqlite3 *db,
		    struct srv_check_result *res, void *problems,
		    struct rf_error *err);

#endif
