/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Report ingest: a report (plain XML, gzip or zstd) is read as a stream by
 * libxml2's xmlTextReader through a decompressing read callback, so that
 * neither the report nor its decompressed text is ever whole in memory.
 *
 * Two steps, so that the store's write lock is held briefly: the report's
 * packages, file elements and repository files are first staged, as they
 * are met, in TEMP tables of the request's own connection (SQLite keeps
 * them apart from the main database: no lock on it), and the repositories
 * are asked about its packages; then one short write transaction makes the
 * scan from the staged rows with a few INSERT ... SELECT statements. Many
 * reports can be read at once while their scans are made one at a time.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libxml/xmlreader.h>
#include <zlib.h>
#include <zstd.h>

#include "buf.h"
#include "escape.h"
#include "repo.h"
#include "report.h"
#include "srv.h"

/* A repository configuration file larger than this is not one. */
#define SRV_MAX_REPO_FILE (256u << 10)
#define SRV_MAX_REPO_FILES 4096

enum codec { CODEC_PLAIN, CODEC_GZIP, CODEC_ZSTD };

struct source {
	int fd;
	enum codec codec;
	unsigned char in[65536];
	size_t in_len, in_pos;
	bool in_eof;
	z_stream z;
	bool z_init;
	ZSTD_DCtx *zd;
	size_t zlast;  /* what the last working call returned */
	bool error;
	bool done; /* the compressed stream ended */
};

static int fill(struct source *s)
{
	ssize_t n;

	if (s->in_pos < s->in_len || s->in_eof)
		return 0;
	do
		n = read(s->fd, s->in, sizeof(s->in));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	s->in_len = (size_t)n;
	s->in_pos = 0;
	if (n == 0)
		s->in_eof = true;
	return 0;
}

/* xmlInputReadCallback: decompressed bytes, 0 at the end, -1 on error. */
static int source_read(void *ctx, char *buf, int len)
{
	struct source *s = ctx;

	if (s->error || len <= 0)
		return -1;
	for (;;) {
		if (fill(s) < 0)
			goto fail;
		if (s->codec == CODEC_PLAIN) {
			size_t n = s->in_len - s->in_pos;

			if (n > (size_t)len)
				n = (size_t)len;
			memcpy(buf, s->in + s->in_pos, n);
			s->in_pos += n;
			return (int)n;
		}
		if (s->done)
			return 0;
		if (s->codec == CODEC_GZIP) {
			int zr;

			s->z.next_in = s->in + s->in_pos;
			s->z.avail_in = (uInt)(s->in_len - s->in_pos);
			s->z.next_out = (Bytef *)buf;
			s->z.avail_out = (uInt)len;
			zr = inflate(&s->z, Z_NO_FLUSH);
			s->in_pos = s->in_len - s->z.avail_in;
			if (zr == Z_STREAM_END)
				s->done = true;
			else if (zr != Z_OK && zr != Z_BUF_ERROR)
				goto fail;
			if (s->z.avail_out < (uInt)len)
				return len - (int)s->z.avail_out;
			if (s->in_eof && !s->done)
				goto fail; /* truncated */
		} else {
			ZSTD_inBuffer in = {s->in, s->in_len, s->in_pos};
			ZSTD_outBuffer out = {buf, (size_t)len, 0};
			size_t before = in.pos;
			size_t zr = ZSTD_decompressStream(s->zd, &out, &in);

			s->in_pos = in.pos;
			if (ZSTD_isError(zr))
				goto fail;
			/* 0: a frame ended; an idle call says nothing new */
			if (out.pos > 0 || in.pos > before)
				s->zlast = zr;
			if (out.pos > 0)
				return (int)out.pos;
			if (s->in_eof && in.pos == in.size) {
				if (s->zlast != 0)
					goto fail; /* truncated */
				s->done = true;
				return 0;
			}
		}
	}
fail:
	s->error = true;
	return -1;
}

static int source_close(void *ctx)
{
	(void)ctx;
	return 0;
}

static int source_init(struct source *s, int fd)
{
	unsigned char magic[4];
	ssize_t n;

	memset(s, 0, sizeof(*s));
	s->fd = fd;
	n = pread(fd, magic, sizeof(magic), 0);
	if (n < 0)
		return -errno;
	if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
		s->codec = CODEC_GZIP;
		if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK)
			return -ENOMEM;
		s->z_init = true;
	} else if (n == 4 && magic[0] == 0x28 && magic[1] == 0xb5 &&
		   magic[2] == 0x2f && magic[3] == 0xfd) {
		s->codec = CODEC_ZSTD;
		s->zd = ZSTD_createDCtx();
		s->zlast = 1;
		if (s->zd == NULL)
			return -ENOMEM;
	}
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	return 0;
}

static void source_fini(struct source *s)
{
	if (s->z_init)
		inflateEnd(&s->z);
	ZSTD_freeDCtx(s->zd);
}

/* ---- the walk over the report ---- */

struct missing_pkg {
	char *name, *evr, *arch;
};

struct ingest {
	sqlite3 *db;
	xmlTextReaderPtr r;
	sqlite3_stmt *ins_pkg, *ins_entry, *ins_repo;
	int64_t scan_id;
	struct srv_ingest_result *res;
	uint64_t announced, announced_bytes;
	struct rf_buf path, target, content;
	char *created;          /* the root's attributes */
	struct rf_buf root;
	struct missing_pkg *missing; /* packages no repository has */
	size_t nmissing;
	struct rf_error *err;
};

/*
 * The staging tables. Dropped first: a connection (the tests') may ingest
 * more than once. temp.* lives in the connection's temporary database.
 */
static const char stage_schema[] =
	"DROP TABLE IF EXISTS temp.stage_packages;"
	"DROP TABLE IF EXISTS temp.stage_entries;"
	"DROP TABLE IF EXISTS temp.stage_repo;"
	"CREATE TEMP TABLE stage_packages(db TEXT, name TEXT NOT NULL,"
	" epoch TEXT, version TEXT, release TEXT, arch TEXT);"
	"CREATE TEMP TABLE stage_entries(path BLOB NOT NULL UNIQUE, type TEXT,"
	" class TEXT NOT NULL, mode INTEGER, uid INTEGER, gid INTEGER,"
	" size INTEGER, mtime TEXT, sha256 TEXT, target BLOB, package TEXT,"
	" link_group INTEGER, need INTEGER NOT NULL);"
	"CREATE TEMP TABLE stage_repo(path BLOB NOT NULL UNIQUE,"
	" content BLOB NOT NULL);";

static const char stage_drop[] =
	"DROP TABLE IF EXISTS temp.stage_packages;"
	"DROP TABLE IF EXISTS temp.stage_entries;"
	"DROP TABLE IF EXISTS temp.stage_repo;";

static int db_fail(struct ingest *in)
{
	return rf_error_set(in->err, -EIO, "database: %s",
			    sqlite3_errmsg(in->db));
}

static int bad(struct ingest *in, const char *what)
{
	return rf_error_set(in->err, -EBADMSG, "report line %d: %s",
			    xmlTextReaderGetParserLineNumber(in->r), what);
}

static char *attr(struct ingest *in, const char *name)
{
	return (char *)xmlTextReaderGetAttribute(in->r, BAD_CAST name);
}

/*
 * A byte-string attribute (name or name-base64) into out. Returns 1 when
 * present, 0 when absent, -EBADMSG on bad base64.
 */
static int attr_bytes(struct ingest *in, const char *name, struct rf_buf *out)
{
	char b64[64];
	char *v;
	int rc;

	rf_buf_reset(out);
	v = attr(in, name);
	if (v != NULL) {
		rf_buf_addstr(out, v);
		xmlFree(v);
		return 1;
	}
	snprintf(b64, sizeof(b64), "%s-base64", name);
	v = attr(in, b64);
	if (v == NULL)
		return 0;
	rf_buf_add(out, "", 0);
	rc = rf_base64_decode(out, v) < 0 ? -EBADMSG : 1;
	xmlFree(v);
	return rc;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

static void bind_attr(struct ingest *in, sqlite3_stmt *st, int col,
		      const char *name)
{
	char *v = attr(in, name);

	if (v != NULL)
		sqlite3_bind_text(st, col, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, col);
	xmlFree(v);
}

static int on_package(struct ingest *in)
{
	char *name = attr(in, "name");
	int rc;

	if (name == NULL || name[0] == '\0') {
		rc = bad(in, "a package without a name");
		goto out;
	}
	sqlite3_reset(in->ins_pkg);
	bind_attr(in, in->ins_pkg, 1, "db");
	sqlite3_bind_text(in->ins_pkg, 2, name, -1, SQLITE_TRANSIENT);
	bind_attr(in, in->ins_pkg, 3, "epoch");
	bind_attr(in, in->ins_pkg, 4, "version");
	bind_attr(in, in->ins_pkg, 5, "release");
	bind_attr(in, in->ins_pkg, 6, "arch");
	if (sqlite3_step(in->ins_pkg) != SQLITE_DONE) {
		rc = db_fail(in);
		goto out;
	}
	in->res->packages++;
	rc = 0;
out:
	xmlFree(name);
	return rc;
}

static const char *const file_types[] = {
	"file", "directory", "symlink", "fifo", "socket", "chardev",
	"blockdev", "unknown", NULL};
static const char *const file_classes[] = {
	"unmodified", "modified", "missing", "unowned", NULL};

static bool one_of(const char *v, const char *const *set)
{
	for (; v != NULL && *set != NULL; set++)
		if (strcmp(v, *set) == 0)
			return true;
	return false;
}

static int on_file(struct ingest *in)
{
	char *type = attr(in, "type"), *cls = attr(in, "class");
	char *mode = attr(in, "mode"), *uid = attr(in, "uid");
	char *gid = attr(in, "gid"), *size = attr(in, "size");
	char *sha = attr(in, "sha256"), *lg = attr(in, "link-group");
	sqlite3_stmt *st = in->ins_entry;
	uint64_t n, sz = 0;
	bool needed;
	int rc;

	rc = attr_bytes(in, "path", &in->path);
	if (rc <= 0 || in->path.len == 0 || in->path.data[0] != '/' ||
	    memchr(in->path.data, '\0', in->path.len) != NULL) {
		rc = bad(in, "a file without a valid absolute path");
		goto out;
	}
	if (!one_of(cls, file_classes) ||
	    (type != NULL && !one_of(type, file_types)) ||
	    (type == NULL && strcmp(cls, "missing") != 0)) {
		rc = bad(in, "a file with a bad type or class");
		goto out;
	}
	if ((sha != NULL && !srv_is_sha256_hex(sha)) ||
	    (size != NULL && parse_u64(size, &sz) < 0)) {
		rc = bad(in, "a file with a bad size or sha256");
		goto out;
	}
	rc = attr_bytes(in, "target", &in->target);
	if (rc < 0) {
		rc = bad(in, "a file with a bad target");
		goto out;
	}
	/* the contents an overlay brings: modified and unowned regular files */
	needed = sha != NULL && type != NULL && strcmp(type, "file") == 0 &&
		 (strcmp(cls, "modified") == 0 || strcmp(cls, "unowned") == 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sqlite3_bind_blob(st, 1, in->path.data, (int)in->path.len,
			  SQLITE_STATIC);
	if (type != NULL)
		sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, cls, -1, SQLITE_STATIC);
	if (mode != NULL)
		sqlite3_bind_int64(st, 4, strtol(mode, NULL, 8));
	if (parse_u64(uid, &n) == 0)
		sqlite3_bind_int64(st, 5, (sqlite3_int64)n);
	if (parse_u64(gid, &n) == 0)
		sqlite3_bind_int64(st, 6, (sqlite3_int64)n);
	if (size != NULL)
		sqlite3_bind_int64(st, 7, (sqlite3_int64)sz);
	bind_attr(in, st, 8, "mtime");
	if (sha != NULL)
		sqlite3_bind_text(st, 9, sha, -1, SQLITE_STATIC);
	if (rc > 0)
		sqlite3_bind_blob(st, 10, in->target.data, (int)in->target.len,
				  SQLITE_STATIC);
	bind_attr(in, st, 11, "package");
	if (parse_u64(lg, &n) == 0)
		sqlite3_bind_int64(st, 12, (sqlite3_int64)n);
	sqlite3_bind_int(st, 13, needed);
	switch (sqlite3_step(st)) {
	case SQLITE_DONE:
		break;
	case SQLITE_CONSTRAINT:
		rc = bad(in, "a path listed twice");
		goto out;
	default:
		rc = db_fail(in);
		goto out;
	}
	in->res->files++;
	if (needed) {
		in->announced++;
		in->announced_bytes += sz;
	}
	rc = 0;
out:
	xmlFree(type);
	xmlFree(cls);
	xmlFree(mode);
	xmlFree(uid);
	xmlFree(gid);
	xmlFree(size);
	xmlFree(sha);
	xmlFree(lg);
	return rc;
}

static int prepare(struct ingest *in, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(in->db, sql, -1, st, NULL) != SQLITE_OK)
		return db_fail(in);
	return 0;
}

/* <repositories><file path=... content-base64=.../>: kept as they are. */
static int on_repo_file(struct ingest *in)
{
	int rc;

	if (in->res->repo_files >= SRV_MAX_REPO_FILES)
		return bad(in, "too many repository files");
	rc = attr_bytes(in, "path", &in->path);
	if (rc <= 0 || in->path.len == 0 || in->path.data[0] != '/')
		return bad(in, "a repository file without a valid path");
	rc = attr_bytes(in, "content", &in->content);
	if (rc < 0 || in->content.len > SRV_MAX_REPO_FILE)
		return bad(in, "a repository file with bad or oversized "
			       "content");
	if (in->ins_repo == NULL) {
		rc = prepare(in, "INSERT INTO temp.stage_repo(path, content) "
				 "VALUES(?, ?)", &in->ins_repo);
		if (rc < 0)
			return rc;
	}
	sqlite3_reset(in->ins_repo);
	sqlite3_bind_blob(in->ins_repo, 1, in->path.data, (int)in->path.len,
			  SQLITE_STATIC);
	sqlite3_bind_blob(in->ins_repo, 2, in->content.data ? in->content.data
							  : "",
			  (int)in->content.len, SQLITE_STATIC);
	switch (sqlite3_step(in->ins_repo)) {
	case SQLITE_DONE:
		break;
	case SQLITE_CONSTRAINT:
		return bad(in, "a repository file listed twice");
	default:
		return db_fail(in);
	}
	in->res->repo_files++;
	return 0;
}

/*
 * The staged packages that no repository has, into in->missing. Before the
 * write transaction: the repositories' index is a database of its own, read
 * in one transaction there (one snapshot of it).
 */
static int reconcile(struct ingest *in, struct srv_repo *repo)
{
	struct srv_repo_query *q = NULL;
	bool *missing = NULL;
	sqlite3_stmt *sel = NULL;
	size_t n = 0, cap = 0, i;
	char evr[1024];
	int rc;

	rc = prepare(in, "SELECT name, epoch, version, release, "
			 "COALESCE(arch, '') FROM temp.stage_packages",
		     &sel);
	if (rc < 0)
		goto out;
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			q = rf_xrealloc(q, cap * sizeof(*q));
		}
		/* copies: the statement's text is valid only until it steps */
		for (int c = 0; c < 5; c++) {
			const char *v = (const char *)sqlite3_column_text(sel,
									   c);
			const char **dst[] = {&q[n].name, &q[n].epoch,
					      &q[n].version, &q[n].release,
					      &q[n].arch};

			*dst[c] = v ? rf_xstrdup(v) : NULL;
		}
		n++;
	}
	if (rc != SQLITE_DONE) {
		rc = db_fail(in);
		goto out;
	}
	missing = rf_xcalloc(n ? n : 1, sizeof(*missing));
	rc = srv_repo_reconcile(repo, q, n, missing, in->err);
	if (rc < 0)
		goto out;
	in->missing = rf_xcalloc(n ? n : 1, sizeof(*in->missing));
	for (i = 0; i < n; i++) {
		struct missing_pkg *m = &in->missing[in->nmissing];

		if (!missing[i])
			continue;
		if (srv_repo_evr(q[i].epoch, q[i].version, q[i].release, evr,
				 sizeof(evr)) < 0)
			snprintf(evr, sizeof(evr), "%s",
				 q[i].version ? q[i].version : "");
		m->name = rf_xstrdup(q[i].name);
		m->evr = rf_xstrdup(evr);
		m->arch = rf_xstrdup(q[i].arch ? q[i].arch : "");
		in->nmissing++;
	}
	rc = 0;
out:
	for (i = 0; i < n; i++) {
		free((char *)q[i].name);
		free((char *)q[i].epoch);
		free((char *)q[i].version);
		free((char *)q[i].release);
		free((char *)q[i].arch);
	}
	free(q);
	free(missing);
	sqlite3_finalize(sel);
	return rc;
}

/*
 * In the write transaction: the missing packages recorded, and every
 * content of their regular files needed (the store may have some already).
 */
static int record_missing(struct ingest *in)
{
	sqlite3_stmt *ins = NULL;
	size_t i;
	int rc;

	rc = prepare(in, "INSERT OR IGNORE INTO scan_missing(scan_id, name, "
			 "evr, arch) VALUES(?, ?, ?, ?)", &ins);
	if (rc < 0)
		goto out;
	for (i = 0; i < in->nmissing; i++) {
		sqlite3_reset(ins);
		sqlite3_bind_int64(ins, 1, in->scan_id);
		sqlite3_bind_text(ins, 2, in->missing[i].name, -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(ins, 3, in->missing[i].evr, -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(ins, 4, in->missing[i].arch, -1,
				  SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			rc = db_fail(in);
			goto out;
		}
		in->res->missing_packages++;
	}
	sqlite3_finalize(ins);
	ins = NULL;
	/* their files are announced too: they must be in the overlay */
	rc = prepare(in, "INSERT OR IGNORE INTO needs(scan_id, sha256, size) "
			 "SELECT ?1, e.sha256, MAX(e.size) FROM entries e "
			 "WHERE e.scan_id = ?1 AND e.class = 'unmodified' "
			 "AND e.type = 'file' AND e.sha256 IS NOT NULL "
			 "AND e.size IS NOT NULL AND e.package IN "
			 "(SELECT name FROM scan_missing WHERE scan_id = ?1) "
			 "AND NOT EXISTS (SELECT 1 FROM objects o "
			 "WHERE o.sha256 = e.sha256) GROUP BY e.sha256",
		     &ins);
	if (rc < 0)
		goto out;
	sqlite3_bind_int64(ins, 1, in->scan_id);
	rc = sqlite3_step(ins) == SQLITE_DONE ? 0 : db_fail(in);
out:
	sqlite3_finalize(ins);
	return rc;
}

/* Run sql with ?1 bound to the scan's id (no rows); 0 or -EIO. */
static int scan_exec(struct ingest *in, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = prepare(in, sql, &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, in->scan_id);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(in);
	sqlite3_finalize(st);
	return rc;
}

/*
 * The staged report becomes scan in->scan_id: its rows copied, the
 * contents that no stored object has recorded as needed (the first size
 * announced for a digest wins, as the report lists them), and the
 * missing packages' files added to those.
 */
static int make_scan(struct ingest *in)
{
	sqlite3_stmt *st = NULL;
	uint64_t before;
	int rc;

	rc = scan_exec(in, "INSERT INTO packages(scan_id, db, name, epoch, "
			   "version, release, arch) SELECT ?1, db, name, "
			   "epoch, version, release, arch FROM "
			   "temp.stage_packages ORDER BY rowid");
	if (rc == 0)
		rc = scan_exec(in, "INSERT INTO entries(scan_id, path, type, "
				   "class, mode, uid, gid, size, mtime, sha256, "
				   "target, package, link_group) SELECT ?1, "
				   "path, type, class, mode, uid, gid, size, "
				   "mtime, sha256, target, package, link_group "
				   "FROM temp.stage_entries ORDER BY path");
	if (rc == 0)
		rc = scan_exec(in, "INSERT OR IGNORE INTO needs(scan_id, "
				   "sha256, size) SELECT ?1, s.sha256, s.size "
				   "FROM temp.stage_entries s WHERE s.need "
				   "AND NOT EXISTS (SELECT 1 FROM objects o "
				   "WHERE o.sha256 = s.sha256) ORDER BY "
				   "s.rowid");
	if (rc == 0)
		rc = scan_exec(in, "INSERT INTO scan_repo_files(scan_id, "
				   "path, content) SELECT ?1, path, content "
				   "FROM temp.stage_repo ORDER BY rowid");
	if (rc < 0)
		return rc;
	rc = prepare(in, "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM needs "
			 "WHERE scan_id = ?", &st);
	if (rc < 0)
		goto out;
	sqlite3_bind_int64(st, 1, in->scan_id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = db_fail(in);
		goto out;
	}
	in->res->needed = (uint64_t)sqlite3_column_int64(st, 0);
	in->res->needed_bytes = (uint64_t)sqlite3_column_int64(st, 1);
	if (in->nmissing == 0)
		goto out;
	rc = record_missing(in);
	if (rc < 0)
		goto out;
	sqlite3_reset(st);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = db_fail(in);
		goto out;
	}
	/* what the missing packages added is announced too */
	before = in->res->needed;
	in->res->needed = (uint64_t)sqlite3_column_int64(st, 0);
	in->announced += in->res->needed - before;
	before = in->res->needed_bytes;
	in->res->needed_bytes = (uint64_t)sqlite3_column_int64(st, 1);
	in->announced_bytes += in->res->needed_bytes - before;
out:
	sqlite3_finalize(st);
	return rc;
}

/* The machine's id (created when new) and the next number of its series. */
static int new_scan(struct ingest *in, const char *name, int64_t token,
		    const char *report_sha)
{
	sqlite3_stmt *st = NULL;
	int64_t seq = 1;
	int rc;

	rc = prepare(in, "INSERT OR IGNORE INTO machines(name, created) "
			 "VALUES(?, ?)", &st);
	if (rc < 0)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(in);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	rc = prepare(in, "SELECT m.id, (SELECT COALESCE(MAX(seq), 0) + 1 "
			 "FROM scans s WHERE s.machine_id = m.id) "
			 "FROM machines m WHERE name = ?", &st);
	if (rc < 0)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = db_fail(in);
		goto out;
	}
	in->res->machine_id = sqlite3_column_int64(st, 0);
	seq = sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	st = NULL;
	rc = prepare(in, "INSERT INTO scans(machine_id, seq, token_id, state, "
			 "created, report_sha, report_created, root, files, "
			 "packages, needed, needed_bytes, announced, "
			 "announced_bytes) VALUES(?, ?, ?, 'pending', ?, ?, "
			 "?, ?, 0, 0, 0, 0, 0, 0)",
		     &st);
	if (rc < 0)
		goto out;
	sqlite3_bind_int64(st, 1, in->res->machine_id);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_int64(st, 3, token);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 5, report_sha, -1, SQLITE_STATIC);
	if (in->created != NULL)
		sqlite3_bind_text(st, 6, in->created, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, in->root.data ? in->root.data : "",
			  (int)in->root.len, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(in);
		goto out;
	}
	in->scan_id = in->res->scan_id = sqlite3_last_insert_rowid(in->db);
	in->res->seq = seq;
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

static int on_root(struct ingest *in)
{
	char *ver = attr(in, "format-version"), *created = attr(in, "created");
	const xmlChar *ns = xmlTextReaderConstNamespaceUri(in->r);
	int rc;

	if (ns == NULL || strcmp((const char *)ns, RF_REPORT_NS) != 0 ||
	    ver == NULL || strcmp(ver, RF_REPORT_FORMAT_VERSION) != 0) {
		rc = bad(in, "not a reforge report of format version "
			     RF_REPORT_FORMAT_VERSION);
		goto out;
	}
	rc = attr_bytes(in, "root", &in->root);
	if (rc < 0) {
		rc = bad(in, "bad root");
		goto out;
	}
	free(in->created);
	in->created = created ? rf_xstrdup(created) : NULL;
	rc = 0;
out:
	xmlFree(ver);
	xmlFree(created);
	return rc;
}

static int walk(struct ingest *in)
{
	bool seen_root = false, in_files = false, in_packages = false;
	bool in_repos = false;
	int r, rc = 0;

	while ((r = xmlTextReaderRead(in->r)) == 1) {
		int type = xmlTextReaderNodeType(in->r);
		int depth = xmlTextReaderDepth(in->r);
		const char *name = (const char *)xmlTextReaderConstLocalName(in->r);

		if (type == XML_READER_TYPE_END_ELEMENT && depth == 1) {
			in_files = in_packages = in_repos = false;
			continue;
		}
		if (type != XML_READER_TYPE_ELEMENT || name == NULL)
			continue;
		if (depth == 0) {
			rc = on_root(in);
			seen_root = true;
		} else if (depth == 1) {
			in_files = strcmp(name, "files") == 0;
			in_packages = strcmp(name, "packages") == 0;
			in_repos = strcmp(name, "repositories") == 0;
			if (xmlTextReaderIsEmptyElement(in->r))
				in_files = in_packages = in_repos = false;
		} else if (depth == 2 && in_files && strcmp(name, "file") == 0) {
			rc = on_file(in);
		} else if (depth == 2 && in_packages &&
			   strcmp(name, "package") == 0) {
			rc = on_package(in);
		} else if (depth == 2 && in_repos && strcmp(name, "file") == 0) {
			rc = on_repo_file(in);
		}
		if (rc < 0)
			return rc;
	}
	if (r < 0 || !seen_root)
		return bad(in, "not well-formed XML, or not a report");
	return 0;
}

static void ignore_errors(void *arg, const char *msg,
			  xmlParserSeverities severity,
			  xmlTextReaderLocatorPtr locator)
{
	(void)arg;
	(void)msg;
	(void)severity;
	(void)locator;
}

int srv_ingest_report(sqlite3 *db, int fd, const char *name, int64_t token,
		      const char *report_sha, struct srv_ingest_result *res,
		      struct rf_error *err)
{
	return srv_ingest_report_repo(db, NULL, fd, name, token, report_sha,
				      res, err);
}

int srv_ingest_report_repo(sqlite3 *db, struct srv_repo *repo, int fd,
			   const char *name, int64_t token,
			   const char *report_sha,
			   struct srv_ingest_result *res, struct rf_error *err)
{
	struct ingest in;
	struct source src;
	sqlite3_stmt *st = NULL;
	bool staging = false, writing = false;
	int rc;

	memset(&in, 0, sizeof(in));
	memset(res, 0, sizeof(*res));
	in.db = db;
	in.res = res;
	in.err = err;
	rc = source_init(&src, fd);
	if (rc < 0) {
		rf_error_errno(err, rc, "cannot read the report");
		goto out;
	}
	/* step 1: the report into the staging tables, no lock on the store */
	rc = srv_db_exec(db, stage_schema, err);
	if (rc == 0)
		rc = srv_db_exec(db, "BEGIN", err);
	if (rc < 0)
		goto out;
	staging = true;
	rc = prepare(&in, "INSERT INTO temp.stage_packages(db, name, epoch, "
			  "version, release, arch) VALUES(?,?,?,?,?,?)",
		     &in.ins_pkg);
	if (rc == 0)
		rc = prepare(&in, "INSERT INTO temp.stage_entries(path, type, "
				  "class, mode, uid, gid, size, mtime, sha256, "
				  "target, package, link_group, need) "
				  "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
			     &in.ins_entry);
	if (rc < 0)
		goto out;
	/* no network, no entity expansion, no DTD: outside input */
	in.r = xmlReaderForIO(source_read, source_close, &src, NULL, NULL,
			      XML_PARSE_NONET | XML_PARSE_NOBLANKS);
	if (in.r == NULL) {
		rc = rf_error_set(err, -ENOMEM, "cannot start an XML reader");
		goto out;
	}
	xmlTextReaderSetErrorHandler(in.r, ignore_errors, NULL);
	rc = walk(&in);
	if (rc == 0 && src.error)
		rc = rf_error_set(err, -EBADMSG, "the report's compressed "
				  "stream is corrupt or truncated");
	if (rc == 0)
		rc = srv_db_exec(db, "COMMIT", err);
	if (rc < 0)
		goto out;
	staging = false;
	if (repo != NULL) {
		rc = reconcile(&in, repo);
		if (rc < 0)
			goto out;
	}
	/* step 2: the scan made from the staged rows, in turn with writers */
	rc = srv_db_begin_write(db, err);
	if (rc < 0)
		goto out;
	writing = true;
	rc = new_scan(&in, name, token, report_sha);
	if (rc == 0)
		rc = make_scan(&in);
	if (rc < 0)
		goto out;
	rc = prepare(&in, "UPDATE scans SET files = ?, packages = ?, "
			  "needed = ?, needed_bytes = ?, announced = ?, "
			  "announced_bytes = ? WHERE id = ?", &st);
	if (rc < 0)
		goto out;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)res->files);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)res->packages);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)res->needed);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)res->needed_bytes);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)in.announced);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)in.announced_bytes);
	sqlite3_bind_int64(st, 7, res->scan_id);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(&in);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	rc = prepare(&in, "INSERT INTO uploads(scan_id, offset, verified, "
			  "updated) VALUES(?, 0, 0, ?)", &st);
	if (rc < 0)
		goto out;
	sqlite3_bind_int64(st, 1, res->scan_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(&in);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* the report itself is an object the scan references */
	rc = prepare(&in, "INSERT OR IGNORE INTO objects(sha256, size, stored) "
			  "VALUES(?, ?, ?)", &st);
	if (rc < 0)
		goto out;
	sqlite3_bind_text(st, 1, report_sha, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)lseek(fd, 0, SEEK_END));
	sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = db_fail(&in);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	writing = false;
	rc = srv_db_commit(db, err);
out:
	sqlite3_finalize(st);
	if (writing)
		srv_db_rollback(db);
	if (staging)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_finalize(in.ins_pkg);
	sqlite3_finalize(in.ins_entry);
	sqlite3_finalize(in.ins_repo);
	/* the staged rows go: a connection of the tests may be reused */
	sqlite3_exec(db, stage_drop, NULL, NULL, NULL);
	if (in.r != NULL)
		xmlFreeTextReader(in.r);
	source_fini(&src);
	rf_buf_free(&in.path);
	rf_buf_free(&in.target);
	rf_buf_free(&in.content);
	rf_buf_free(&in.root);
	free(in.created);
	for (size_t i = 0; i < in.nmissing; i++) {
		free(in.missing[i].name);
		free(in.missing[i].evr);
		free(in.missing[i].arch);
	}
	free(in.missing);
	return rc;
}
