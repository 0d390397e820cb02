/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Receiving an overlay: the body of each upload request is appended to a
 * spool (uploads/<scan>.tar) and a verifier thread reads the spool with
 * libarchive as it grows, checking every entry against the scan's manifest:
 * the path was announced (and reaches it through no symlink), the type
 * agrees, a regular file's size and SHA-256 are the announced ones. Verified
 * contents are stored as objects at once; a refused entry stores nothing.
 *
 * Resuming: the durable offset (bytes of the spool that were fsynced) and
 * the verified position (the header of the first entry not yet stored) are
 * kept in the database. After a crash the spool is cut back to the durable
 * offset, the client continues from there, and the verifier starts again at
 * the verified position, so the result is the same as one upload.
 *
 * Overlay conventions (the scanner's side is scanner/overlay.c): pax
 * format with binary path headers; entry paths are the report's paths
 * without the leading '/'; a regular file whose entry has size 0 while the
 * report gives it content is metadata only, its content being the object of
 * the report's SHA-256; a hardlink entry names another announced member of
 * the same link group.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "buf.h"
#include "digest.h"
#include "escape.h"
#include "srv.h"

/* Make the spool durable at least every this many bytes. */
#define SYNC_EVERY (8u << 20)

/* ---- which scans have an upload running ---- */

static pthread_mutex_t active_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t *active;
static size_t nactive, active_cap;

static bool active_claim(int64_t scan)
{
	bool ok = true;

	pthread_mutex_lock(&active_lock);
	for (size_t i = 0; i < nactive; i++)
		if (active[i] == scan)
			ok = false;
	if (ok) {
		if (nactive == active_cap) {
			active_cap = active_cap ? active_cap * 2 : 16;
			active = rf_xrealloc(active,
					     active_cap * sizeof(*active));
		}
		active[nactive++] = scan;
	}
	pthread_mutex_unlock(&active_lock);
	return ok;
}

static void active_release(int64_t scan)
{
	pthread_mutex_lock(&active_lock);
	for (size_t i = 0; i < nactive; i++)
		if (active[i] == scan) {
			active[i] = active[--nactive];
			break;
		}
	pthread_mutex_unlock(&active_lock);
}

int srv_overlay_path(const char *entry, char **out)
{
	struct rf_buf p = RF_BUF_INIT;
	const char *s = entry, *slash;
	int rc = -EINVAL;

	*out = NULL;
	if (entry == NULL || entry[0] == '\0' || entry[0] == '/')
		goto out;
	while (*s != '\0') {
		size_t len;

		slash = strchr(s, '/');
		len = slash ? (size_t)(slash - s) : strlen(s);
		/* a trailing slash (directories) is the only empty part */
		if (len == 0 && slash != NULL)
			goto out;
		if ((len == 1 && s[0] == '.') ||
		    (len == 2 && s[0] == '.' && s[1] == '.'))
			goto out;
		if (len > 0) {
			rf_buf_addch(&p, '/');
			rf_buf_add(&p, s, len);
		}
		if (slash == NULL)
			break;
		s = slash + 1;
	}
	if (p.len == 0)
		goto out;
	*out = rf_buf_detach(&p);
	rc = 0;
out:
	rf_buf_free(&p);
	return rc;
}

struct srv_upload {
	struct srv_store *st;
	sqlite3 *db;          /* the request side's connection */
	sqlite3 *vdb;         /* the verifier's */
	int64_t scan_id;
	int fd;               /* the spool */
	uint64_t max_bytes;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t written;     /* bytes in the spool */
	uint64_t synced;      /* durable bytes */
	bool ended;           /* no more bytes will come */
	bool stop;            /* the verifier must give up */

	/* the verifier's state, under lock */
	pthread_t thread;
	bool thread_started;
	uint64_t base;        /* where it started */
	uint64_t rpos;        /* its read position in the spool */
	uint64_t verified;    /* entries before this offset are stored */
	bool data_end;        /* it read everything there was */
	bool eof;             /* it met the overlay's end */
	int vrc;              /* its error, 0 while none */
	struct rf_error verr;
};

static int db_fail(sqlite3 *db, struct rf_error *err)
{
	return rf_error_set(err, -EIO, "database: %s", sqlite3_errmsg(db));
}

/* Record the durable offset and the verified position. */
static int persist(struct srv_upload *u, struct rf_error *err)
{
	sqlite3_stmt *st = NULL;
	uint64_t off, ver;
	int rc;

	pthread_mutex_lock(&u->lock);
	off = u->synced;
	ver = u->verified < off ? u->verified : off;
	pthread_mutex_unlock(&u->lock);
	if (sqlite3_prepare_v2(u->db, "UPDATE uploads SET offset = ?, "
				      "verified = ?, updated = ? "
				      "WHERE scan_id = ?",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(u->db, err);
		goto out;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)off);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)ver);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
	sqlite3_bind_int64(st, 4, u->scan_id);
	srv_db_write_lock();
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(u->db, err);
	srv_db_write_unlock();
out:
	sqlite3_finalize(st);
	return rc;
}

/* ---- the verifier ---- */

static ssize_t spool_read(struct archive *a, void *ctx, const void **buf)
{
	static __thread char block[65536];
	struct srv_upload *u = ctx;
	uint64_t pos;
	size_t n;
	ssize_t r;

	pthread_mutex_lock(&u->lock);
	while (u->rpos >= u->written && !u->ended && !u->stop)
		pthread_cond_wait(&u->cond, &u->lock);
	if (u->stop) {
		pthread_mutex_unlock(&u->lock);
		archive_set_error(a, ECANCELED, "upload stopped");
		return -1;
	}
	if (u->rpos >= u->written) {
		u->data_end = true;
		pthread_mutex_unlock(&u->lock);
		return 0;
	}
	pos = u->rpos;
	n = u->written - pos < sizeof(block) ? (size_t)(u->written - pos)
					     : sizeof(block);
	pthread_mutex_unlock(&u->lock);
	r = pread(u->fd, block, n, (off_t)pos);
	if (r <= 0) {
		archive_set_error(a, r < 0 ? errno : EIO, "cannot read spool");
		return -1;
	}
	pthread_mutex_lock(&u->lock);
	u->rpos += (uint64_t)r;
	pthread_mutex_unlock(&u->lock);
	*buf = block;
	return r;
}

struct announced {
	bool found;
	char type[16];
	char cls[16];
	bool has_size;
	uint64_t size;
	char sha[SRV_SHA256_HEX];
	int64_t link_group;
	bool of_missing; /* a file of a package no repository has */
};

static int lookup(struct srv_upload *u, sqlite3_stmt *st, const char *path,
		  struct announced *an)
{
	int r;

	memset(an, 0, sizeof(*an));
	an->link_group = -1;
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, u->scan_id);
	sqlite3_bind_blob(st, 2, path, (int)strlen(path), SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_DONE) {
		sqlite3_reset(st);
		return 0;
	}
	if (r != SQLITE_ROW) {
		sqlite3_reset(st);
		return -EIO;
	}
	an->found = true;
	if (sqlite3_column_text(st, 0))
		snprintf(an->type, sizeof(an->type), "%s",
			 (const char *)sqlite3_column_text(st, 0));
	snprintf(an->cls, sizeof(an->cls), "%s",
		 (const char *)sqlite3_column_text(st, 1));
	an->has_size = sqlite3_column_type(st, 2) != SQLITE_NULL;
	an->size = (uint64_t)sqlite3_column_int64(st, 2);
	if (sqlite3_column_text(st, 3))
		snprintf(an->sha, sizeof(an->sha), "%s",
			 (const char *)sqlite3_column_text(st, 3));
	if (sqlite3_column_type(st, 4) != SQLITE_NULL)
		an->link_group = sqlite3_column_int64(st, 4);
	an->of_missing = sqlite3_column_int(st, 5) != 0;
	/* end the read: a statement left open pins a stale snapshot */
	sqlite3_reset(st);
	return 0;
}

static const char *type_name(mode_t ft)
{
	switch (ft) {
	case AE_IFREG: return "file";
	case AE_IFDIR: return "directory";
	case AE_IFLNK: return "symlink";
	case AE_IFIFO: return "fifo";
	case AE_IFSOCK: return "socket";
	case AE_IFCHR: return "chardev";
	case AE_IFBLK: return "blockdev";
	default: return "unknown";
	}
}

static int refuse(struct srv_upload *u, const char *path, const char *why)
{
	return rf_error_set(&u->verr, -EBADMSG, "overlay entry '%s' refused: "
			    "%s", path, why);
}

/* Stream a regular file's data into the store, checking it on the way. */
static int store_content(struct srv_upload *u, struct archive *a,
			 const char *path, const struct announced *an,
			 sqlite3_stmt *ins_obj)
{
	static const char zeros[4096];
	struct srv_object_writer *w = NULL;
	struct rf_digest *d = NULL;
	bool exists;
	uint64_t pos = 0;
	const void *buf;
	size_t len;
	la_int64_t off;
	int r, rc;

	srv_gc_lock_shared();
	exists = srv_object_exists(u->st, an->sha);
	if (exists)
		d = rf_digest_new(RF_DIGEST_SHA256, RF_DIGEST_NONE);
	else {
		rc = srv_object_begin(u->st, &w, &u->verr);
		if (rc < 0)
			goto out;
	}
	while ((r = archive_read_data_block(a, &buf, &len, &off)) ==
	       ARCHIVE_OK) {
		if (off < 0 || (uint64_t)off < pos ||
		    (uint64_t)off + len > an->size) {
			rc = refuse(u, path, "data beyond its announced size");
			goto out;
		}
		/* holes of a sparse entry read as zeros */
		while (pos < (uint64_t)off) {
			size_t z = (uint64_t)off - pos < sizeof(zeros)
					   ? (size_t)((uint64_t)off - pos)
					   : sizeof(zeros);

			if (w != NULL)
				rc = srv_object_write(w, zeros, z, &u->verr);
			else {
				rf_digest_update(d, zeros, z);
				rc = 0;
			}
			if (rc < 0)
				goto out;
			pos += z;
		}
		if (w != NULL) {
			rc = srv_object_write(w, buf, len, &u->verr);
			if (rc < 0)
				goto out;
		} else
			rf_digest_update(d, buf, len);
		pos += len;
	}
	if (r != ARCHIVE_EOF) {
		rc = rf_error_set(&u->verr, -EPIPE, "%s",
				  archive_error_string(a)
					  ? archive_error_string(a)
					  : "overlay read error");
		goto out;
	}
	while (pos < an->size) {
		size_t z = an->size - pos < sizeof(zeros)
				   ? (size_t)(an->size - pos)
				   : sizeof(zeros);

		if (w != NULL)
			rc = srv_object_write(w, zeros, z, &u->verr);
		else {
			rf_digest_update(d, zeros, z);
			rc = 0;
		}
		if (rc < 0)
			goto out;
		pos += z;
	}
	if (w != NULL) {
		rc = srv_object_commit(w, an->sha, an->size, &u->verr);
		w = NULL;
		if (rc == -EBADMSG) {
			rf_error_prefix(&u->verr, "overlay entry '%s' refused",
					path);
			goto out;
		}
		if (rc < 0)
			goto out;
	} else {
		unsigned char md[RF_SHA256_LEN];
		struct rf_buf hex = RF_BUF_INIT;

		rf_digest_final(d, md, NULL);
		rf_hex_encode(&hex, md, sizeof(md));
		rc = strcmp(hex.data, an->sha) == 0
			     ? 0
			     : refuse(u, path, "its SHA-256 differs from the "
					       "report's");
		rf_buf_free(&hex);
		if (rc < 0)
			goto out;
	}
	sqlite3_reset(ins_obj);
	sqlite3_bind_text(ins_obj, 1, an->sha, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins_obj, 2, (sqlite3_int64)an->size);
	sqlite3_bind_int64(ins_obj, 3, (sqlite3_int64)time(NULL));
	srv_db_write_lock();
	rc = sqlite3_step(ins_obj) == SQLITE_DONE ? 0
						  : db_fail(u->vdb, &u->verr);
	sqlite3_reset(ins_obj);
	srv_db_write_unlock();
out:
	srv_gc_unlock();
	srv_object_abort(w);
	rf_digest_free(d);
	return rc;
}

/* Check one entry and store what it brings. */
static int verify_entry(struct srv_upload *u, struct archive *a,
			struct archive_entry *e, sqlite3_stmt *find,
			sqlite3_stmt *ins_obj)
{
	const char *name = archive_entry_pathname(e);
	const char *link = archive_entry_hardlink(e);
	struct rf_buf link_why = RF_BUF_INIT;
	char *path = NULL, *lpath = NULL;
	struct announced an, up;
	const char *want;
	char *slash;
	int rc;

	/* a name the locale cannot show is still a name: its UTF-8 form */
	if (name == NULL)
		name = archive_entry_pathname_utf8(e);
	if (link == NULL)
		link = archive_entry_hardlink_utf8(e);
	if (name == NULL || srv_overlay_path(name, &path) < 0) {
		rc = refuse(u, name ? name : "", "its path is absolute, empty "
			    "or has '.' or '..' in it");
		goto out;
	}
	/* no announced parent may be a symlink: a write would go through */
	for (slash = strchr(path + 1, '/'); slash != NULL;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		rc = lookup(u, find, path, &up);
		*slash = '/';
		if (rc < 0) {
			rc = db_fail(u->vdb, &u->verr);
			goto out;
		}
		if (up.found && strcmp(up.type, "directory") != 0) {
			char why[64];

			snprintf(why, sizeof(why), "a parent is a %s, not a "
				 "directory", up.type);
			rc = refuse(u, path, why);
			goto out;
		}
	}
	if (lookup(u, find, path, &an) < 0) {
		rc = db_fail(u->vdb, &u->verr);
		goto out;
	}
	if (!an.found) {
		rc = refuse(u, path, "the report does not announce it");
		goto out;
	}
	/* unmodified files come only for packages no repository has */
	if (strcmp(an.cls, "modified") != 0 && strcmp(an.cls, "unowned") != 0 &&
	    !(strcmp(an.cls, "unmodified") == 0 && an.of_missing)) {
		rc = refuse(u, path, "the report has it as a package file "
			    "that is not modified, of a package a repository "
			    "has");
		goto out;
	}
	if (link != NULL) {
		if (srv_overlay_path(link, &lpath) < 0 ||
		    lookup(u, find, lpath, &up) < 0 || !up.found ||
		    strcmp(up.type, "file") != 0 || an.link_group < 0 ||
		    up.link_group != an.link_group) {
			/* name both ends: the target is the one at fault */
			rf_buf_printf(&link_why, "a hardlink to '%s', which the "
				      "report does not announce as a file of "
				      "the same link group",
				      lpath != NULL ? lpath : link);
			rc = refuse(u, path, link_why.data);
			goto out;
		}
		if (archive_entry_size_is_set(e) && archive_entry_size(e) != 0) {
			rc = refuse(u, path, "a hardlink that carries data");
			goto out;
		}
		rc = 0;
		goto out;
	}
	want = type_name(archive_entry_filetype(e));
	if (strcmp(want, an.type) != 0) {
		char why[96];

		snprintf(why, sizeof(why), "it is a %s, the report says %s",
			 want, an.type);
		rc = refuse(u, path, why);
		goto out;
	}
	if (strcmp(want, "file") != 0) {
		rc = archive_entry_size(e) == 0
			     ? 0
			     : refuse(u, path, "only regular files carry data");
		goto out;
	}
	if (archive_entry_size(e) == 0 && an.size > 0) {
		rc = 0; /* metadata only: its content is the store's */
		goto out;
	}
	if (!an.has_size || an.sha[0] == '\0' ||
	    (uint64_t)archive_entry_size(e) != an.size) {
		char why[96];

		snprintf(why, sizeof(why), "%lld bytes, the report says %llu",
			 (long long)archive_entry_size(e),
			 (unsigned long long)an.size);
		rc = refuse(u, path, an.sha[0] == '\0'
				     ? "the report gives it no SHA-256"
				     : why);
		goto out;
	}
	rc = store_content(u, a, path, &an, ins_obj);
out:
	free(path);
	free(lpath);
	rf_buf_free(&link_why);
	return rc;
}

static void *verifier(void *arg)
{
	struct srv_upload *u = arg;
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	sqlite3_stmt *find = NULL, *ins_obj = NULL;
	int r, rc = 0;

	rf_error_clear(&u->verr);
	archive_read_support_format_tar(a);
	if (sqlite3_prepare_v2(u->vdb, "SELECT type, class, size, sha256, "
				       "link_group, package IN (SELECT name "
				       "FROM scan_missing WHERE scan_id = ?1) "
				       "FROM entries "
				       "WHERE scan_id = ?1 AND path = ?2",
			       -1, &find, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(u->vdb, "INSERT OR IGNORE INTO objects(sha256, "
				       "size, stored) VALUES(?, ?, ?)",
			       -1, &ins_obj, NULL) != SQLITE_OK) {
		rc = db_fail(u->vdb, &u->verr);
		goto out;
	}
	if (archive_read_open(a, u, NULL, spool_read, NULL) != ARCHIVE_OK)
		goto incomplete;
	for (;;) {
		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF) {
			pthread_mutex_lock(&u->lock);
			u->eof = true;
			/*
			 * Not past the end marker: should finishing the scan
			 * fail (a database error), a resumed upload must
			 * meet the end again, or it never completes.
			 */
			u->verified = u->base +
				      (uint64_t)archive_read_header_position(a);
			pthread_mutex_unlock(&u->lock);
			break;
		}
		if (r < ARCHIVE_WARN)
			goto incomplete;
		pthread_mutex_lock(&u->lock);
		/* every entry before this header is stored */
		u->verified = u->base +
			      (uint64_t)archive_read_header_position(a);
		pthread_mutex_unlock(&u->lock);
		rc = verify_entry(u, a, e, find, ins_obj);
		if (rc == -EPIPE)
			goto incomplete;
		if (rc < 0)
			goto out;
	}
	goto out;
incomplete:
	pthread_mutex_lock(&u->lock);
	/* the data ran out (or the upload stopped): not the client's fault */
	if (!u->data_end && !u->stop)
		rc = rf_error_set(&u->verr, -EBADMSG, "the overlay is not a "
				  "valid tar stream: %s",
				  archive_error_string(a)
					  ? archive_error_string(a)
					  : "unreadable");
	else
		rc = 0;
	pthread_mutex_unlock(&u->lock);
out:
	pthread_mutex_lock(&u->lock);
	u->vrc = rc;
	pthread_mutex_unlock(&u->lock);
	sqlite3_finalize(find);
	sqlite3_finalize(ins_obj);
	archive_read_free(a);
	return NULL;
}

/* ---- the request side ---- */

static void spool_name(int64_t scan, char buf[64])
{
	snprintf(buf, 64, "%lld.tar", (long long)scan);
}

int srv_upload_status(struct srv_store *st, sqlite3 *db, int64_t scan_id,
		      uint64_t *offset, bool *complete, struct rf_error *err)
{
	sqlite3_stmt *q = NULL;
	int rc;

	(void)st;
	*offset = 0;
	*complete = false;
	if (sqlite3_prepare_v2(db, "SELECT s.state, u.offset FROM scans s "
				   "LEFT JOIN uploads u ON u.scan_id = s.id "
				   "WHERE s.id = ?",
			       -1, &q, NULL) != SQLITE_OK) {
		rc = db_fail(db, err);
		goto out;
	}
	sqlite3_bind_int64(q, 1, scan_id);
	switch (sqlite3_step(q)) {
	case SQLITE_ROW:
		*complete = strcmp((const char *)sqlite3_column_text(q, 0),
				   "complete") == 0;
		*offset = (uint64_t)sqlite3_column_int64(q, 1);
		rc = 0;
		break;
	case SQLITE_DONE:
		rc = rf_error_set(err, -ENOENT, "no scan %lld",
				  (long long)scan_id);
		break;
	default:
		rc = db_fail(db, err);
	}
out:
	sqlite3_finalize(q);
	return rc;
}

int srv_upload_begin(struct srv_store *st, int64_t scan_id, int64_t token,
		     uint64_t offset, uint64_t max_bytes,
		     struct srv_upload **out, uint64_t *durable,
		     struct rf_error *err)
{
	struct srv_upload *u = rf_xcalloc(1, sizeof(*u));
	sqlite3_stmt *q = NULL;
	bool claimed = false;
	char name[64];
	uint64_t bound;
	int rc;

	*out = NULL;
	*durable = 0;
	u->st = st;
	u->fd = -1;
	u->scan_id = scan_id;
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->cond, NULL);
	if (!active_claim(scan_id)) {
		rc = rf_error_set(err, -EBUSY, "another upload to scan %lld "
				  "is running", (long long)scan_id);
		goto out;
	}
	claimed = true;
	rc = srv_db_open(st, &u->db, err);
	if (rc == 0)
		rc = srv_db_open(st, &u->vdb, err);
	if (rc < 0)
		goto out;
	/* the verifier's object rows may be lost by a power cut: harmless */
	sqlite3_exec(u->vdb, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	if (sqlite3_prepare_v2(u->db, "SELECT s.state, s.token_id, u.offset, "
				      "u.verified, s.announced_bytes, s.files "
				      "FROM scans s LEFT JOIN uploads u "
				      "ON u.scan_id = s.id WHERE s.id = ?",
			       -1, &q, NULL) != SQLITE_OK) {
		rc = db_fail(u->db, err);
		goto out;
	}
	sqlite3_bind_int64(q, 1, scan_id);
	if (sqlite3_step(q) != SQLITE_ROW) {
		rc = rf_error_set(err, -ENOENT, "no scan %lld",
				  (long long)scan_id);
		goto out;
	}
	if (strcmp((const char *)sqlite3_column_text(q, 0), "complete") == 0) {
		rc = rf_error_set(err, -EALREADY, "scan %lld is complete",
				  (long long)scan_id);
		goto out;
	}
	if (sqlite3_column_int64(q, 1) != token) {
		rc = rf_error_set(err, -EPERM, "scan %lld was sent with "
				  "another token", (long long)scan_id);
		goto out;
	}
	u->synced = u->written = (uint64_t)sqlite3_column_int64(q, 2);
	u->verified = u->base = u->rpos = (uint64_t)sqlite3_column_int64(q, 3);
	/* what an honest overlay of this report can weigh, at most */
	bound = (uint64_t)sqlite3_column_int64(q, 4) +
		(uint64_t)sqlite3_column_int64(q, 5) * 65536 + (1u << 20);
	u->max_bytes = bound < max_bytes ? bound : max_bytes;
	*durable = u->synced;
	if (offset != u->synced) {
		rc = rf_error_set(err, -ESPIPE, "the upload of scan %lld is at "
				  "offset %llu, not %llu", (long long)scan_id,
				  (unsigned long long)u->synced,
				  (unsigned long long)offset);
		goto out;
	}
	spool_name(scan_id, name);
	u->fd = openat(st->upfd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (u->fd < 0) {
		rc = rf_error_errno(err, -errno, "cannot open uploads/%s", name);
		goto out;
	}
	/* bytes past the durable offset are what a crash may have torn */
	if (ftruncate(u->fd, (off_t)u->synced) < 0) {
		rc = rf_error_errno(err, -errno, "cannot truncate uploads/%s",
				    name);
		goto out;
	}
	if (pthread_create(&u->thread, NULL, verifier, u) != 0) {
		rc = rf_error_set(err, -EAGAIN, "cannot start a thread");
		goto out;
	}
	u->thread_started = true;
	rc = 0;
out:
	sqlite3_finalize(q);
	if (rc < 0) {
		if (u->fd >= 0)
			close(u->fd);
		sqlite3_close(u->db);
		sqlite3_close(u->vdb);
		if (claimed)
			active_release(scan_id);
		pthread_mutex_destroy(&u->lock);
		pthread_cond_destroy(&u->cond);
		free(u);
		u = NULL;
	}
	*out = u;
	return rc;
}

static int sync_spool(struct srv_upload *u, struct rf_error *err)
{
	uint64_t w;
	int rc;

	pthread_mutex_lock(&u->lock);
	w = u->written;
	pthread_mutex_unlock(&u->lock);
	if (w == u->synced)
		return 0;
	rc = srv_fsync(u->st, u->fd);
	if (rc < 0)
		return rf_error_errno(err, rc, "cannot fsync the upload");
	pthread_mutex_lock(&u->lock);
	u->synced = w;
	pthread_mutex_unlock(&u->lock);
	return persist(u, err);
}

int srv_upload_append(struct srv_upload *u, const void *data, size_t len,
		      struct rf_error *err)
{
	uint64_t at;
	int rc;

	pthread_mutex_lock(&u->lock);
	rc = u->vrc;
	if (rc < 0)
		rf_error_set(err, rc, "%s", u->verr.msg);
	at = u->written;
	pthread_mutex_unlock(&u->lock);
	if (rc < 0)
		return rc;
	if (at + len > u->max_bytes)
		return rf_error_set(err, -EFBIG, "the overlay is larger than "
				    "its report allows (%llu bytes)",
				    (unsigned long long)u->max_bytes);
	while (len > 0) {
		ssize_t n = pwrite(u->fd, data, len, (off_t)at);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return rf_error_errno(err, n < 0 ? -errno : -EIO,
					      "cannot write the upload");
		at += (uint64_t)n;
		data = (const char *)data + n;
		len -= (size_t)n;
	}
	pthread_mutex_lock(&u->lock);
	u->written = at;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
	if (at - u->synced >= SYNC_EVERY)
		return sync_spool(u, err);
	return 0;
}

/* Every content the scan needs is stored: it is complete. */
static int finish_scan(struct srv_upload *u, bool *done, struct rf_error *err)
{
	sqlite3_stmt *q = NULL;
	int64_t lacking;
	int rc;

	*done = false;
	rc = srv_db_begin_write(u->db, err);
	if (rc < 0)
		return rc;
	if (sqlite3_prepare_v2(u->db, "SELECT COUNT(*) FROM needs n WHERE "
				      "n.scan_id = ? AND NOT EXISTS (SELECT 1 "
				      "FROM objects o WHERE o.sha256 = "
				      "n.sha256)",
			       -1, &q, NULL) != SQLITE_OK) {
		rc = db_fail(u->db, err);
		goto out;
	}
	sqlite3_bind_int64(q, 1, u->scan_id);
	if (sqlite3_step(q) != SQLITE_ROW) {
		rc = db_fail(u->db, err);
		goto out;
	}
	lacking = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	q = NULL;
	if (lacking > 0) {
		/* start over: the stream the client sent cannot finish it */
		if (sqlite3_prepare_v2(u->db, "UPDATE uploads SET offset = 0, "
					      "verified = 0 WHERE scan_id = ?",
				       -1, &q, NULL) != SQLITE_OK ||
		    (sqlite3_bind_int64(q, 1, u->scan_id),
		     sqlite3_step(q)) != SQLITE_DONE) {
			rc = db_fail(u->db, err);
			goto out;
		}
		rc = rf_error_set(err, -EBADMSG, "the overlay ended without "
				  "%lld of the contents the scan needs; send it "
				  "again from the start",
				  (long long)lacking);
		goto commit;
	}
	if (sqlite3_prepare_v2(u->db, "UPDATE scans SET state = 'complete', "
				      "completed = ? WHERE id = ?",
			       -1, &q, NULL) != SQLITE_OK) {
		rc = db_fail(u->db, err);
		goto out;
	}
	sqlite3_bind_int64(q, 1, (sqlite3_int64)time(NULL));
	sqlite3_bind_int64(q, 2, u->scan_id);
	if (sqlite3_step(q) != SQLITE_DONE) {
		rc = db_fail(u->db, err);
		goto out;
	}
	sqlite3_finalize(q);
	q = NULL;
	if (sqlite3_prepare_v2(u->db, "DELETE FROM uploads WHERE scan_id = ?1;",
			       -1, &q, NULL) != SQLITE_OK ||
	    (sqlite3_bind_int64(q, 1, u->scan_id), sqlite3_step(q)) !=
		    SQLITE_DONE) {
		rc = db_fail(u->db, err);
		goto out;
	}
	sqlite3_finalize(q);
	q = NULL;
	if (sqlite3_prepare_v2(u->db, "DELETE FROM needs WHERE scan_id = ?1;",
			       -1, &q, NULL) != SQLITE_OK ||
	    (sqlite3_bind_int64(q, 1, u->scan_id), sqlite3_step(q)) !=
		    SQLITE_DONE) {
		rc = db_fail(u->db, err);
		goto out;
	}
	*done = true;
	rc = 0;
commit:
	sqlite3_finalize(q);
	q = NULL;
	{
		int crc = srv_db_commit(u->db, err);

		if (crc < 0) {
			*done = false;
			rc = crc;
		}
	}
	return rc;
out:
	sqlite3_finalize(q);
	srv_db_rollback(u->db);
	return rc;
}

int srv_upload_end(struct srv_upload *u, bool complete, bool *done,
		   uint64_t *offset, struct rf_error *err)
{
	char name[64];
	bool eof;
	int rc, vrc;

	*done = false;
	rc = sync_spool(u, err);
	pthread_mutex_lock(&u->lock);
	if (rc < 0 || !complete)
		u->stop = true;
	u->ended = true;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
	if (u->thread_started)
		pthread_join(u->thread, NULL);
	vrc = u->vrc;
	eof = u->eof;
	if (rc < 0)
		goto out;
	if (vrc < 0) {
		/* cut the refused entry and all after it: nothing of it kept */
		rc = rf_error_set(err, vrc, "%s", u->verr.msg);
		if (ftruncate(u->fd, (off_t)u->verified) == 0 &&
		    srv_fsync(u->st, u->fd) == 0) {
			u->synced = u->verified;
			persist(u, NULL);
		}
		goto out;
	}
	rc = persist(u, err);
	if (rc < 0 || !eof)
		goto out;
	rc = finish_scan(u, done, err);
	spool_name(u->scan_id, name);
	if (*done)
		unlinkat(u->st->upfd, name, 0);
	else if (rc == -EBADMSG && ftruncate(u->fd, 0) == 0)
		u->synced = 0;
out:
	*offset = u->synced;
	close(u->fd);
	sqlite3_close(u->db);
	sqlite3_close(u->vdb);
	active_release(u->scan_id);
	pthread_mutex_destroy(&u->lock);
	pthread_cond_destroy(&u->cond);
	free(u);
	return rc;
}
