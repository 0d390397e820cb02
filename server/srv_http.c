/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The HTTP layer: libmicrohttpd, one thread per connection (a request may
 * block on the database or the disk without holding up others), with
 * connection and per-address limits, an idle timeout, an absolute request
 * deadline and a minimum transfer rate. Bodies are never held in memory:
 * a report goes to the store as it arrives, an overlay to its spool.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "buf.h"
#include "escape.h"
#include "progress.h"
#include "srv_http.h"

/* A connection as the deadline's reaper sees it: see on_connection(). */
struct tracked {
	struct tracked *prev, *next;
	int fd;
	uint64_t start_ns;	/* its accept, or the end of its last request */
	bool cut;
};

struct srv_http {
	struct MHD_Daemon *daemon;
	struct srv_store *st;
	const struct srv_config *cfg;
	char *cert, *key;
	/* the absolute deadline */
	pthread_mutex_t track_lock;
	pthread_cond_t track_cond;
	struct tracked *conns;
	pthread_t reaper;
	bool reaper_started, stopping;
};

enum req_kind { REQ_NONE, REQ_REPORT, REQ_OVERLAY, REQ_DONE };

struct request {
	enum req_kind kind;
	int64_t token;
	uint64_t start_ns;
	uint64_t received;
	sqlite3 *db;
	/* REQ_REPORT */
	struct srv_object_writer *w;
	char *name;
	/* REQ_OVERLAY */
	struct srv_upload *up;
	int64_t scan_id;
	/* an answer decided while the body was still coming */
	int status;
	json_t *answer;
};

/* ---- responses ---- */

static enum MHD_Result send_json(struct MHD_Connection *c, int status,
				 json_t *body, uint64_t offset, bool with_offset)
{
	char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	struct MHD_Response *r;
	enum MHD_Result ret;
	char off[32];

	json_decref(body);
	if (text == NULL)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(text), text,
					    MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "application/json");
	if (with_offset) {
		snprintf(off, sizeof(off), "%llu", (unsigned long long)offset);
		MHD_add_response_header(r, "Upload-Offset", off);
	}
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, "WWW-Authenticate",
					"Bearer realm=\"reforge\"");
	ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static json_t *error_body(const char *msg)
{
	return json_pack("{s:s}", "error", msg);
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status,
				  const char *msg)
{
	return send_json(c, status, error_body(msg), 0, false);
}

/* The HTTP status for a negative errno of the store. */
static int status_of(int rc)
{
	switch (rc) {
	case -ENOENT: return MHD_HTTP_NOT_FOUND;
	case -EBUSY:
	case -ESPIPE:
	case -EALREADY: return MHD_HTTP_CONFLICT;
	case -EPERM: return MHD_HTTP_FORBIDDEN;
	case -EFBIG: return 413;
	case -EBADMSG:
	case -EINVAL: return 422;
	case -ENOSPC: return 507;
	default: return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

/* ---- JSON of stored things ---- */

static void set_bytes(json_t *o, const char *key, const void *data, int len)
{
	if (data == NULL) {
		json_object_set_new(o, key, json_null());
	} else if (rf_xml_safe(data, (size_t)len)) {
		json_object_set_new(o, key, json_stringn(data, (size_t)len));
	} else {
		struct rf_buf b = RF_BUF_INIT;
		char k[64];

		rf_base64_encode(&b, data, (size_t)len);
		snprintf(k, sizeof(k), "%s-base64", key);
		json_object_set_new(o, k, json_string(b.data ? b.data : ""));
		rf_buf_free(&b);
	}
}

static json_t *column(sqlite3_stmt *q, int i)
{
	switch (sqlite3_column_type(q, i)) {
	case SQLITE_INTEGER:
		return json_integer(sqlite3_column_int64(q, i));
	case SQLITE_TEXT:
		return json_string((const char *)sqlite3_column_text(q, i));
	default:
		return json_null();
	}
}

/* Rows of q as objects keyed by its column names (text and integers). */
static json_t *rows(sqlite3_stmt *q)
{
	json_t *arr = json_array();

	while (sqlite3_step(q) == SQLITE_ROW) {
		json_t *o = json_object();

		for (int i = 0; i < sqlite3_column_count(q); i++) {
			const char *name = sqlite3_column_name(q, i);

			if (sqlite3_column_type(q, i) == SQLITE_BLOB)
				set_bytes(o, name, sqlite3_column_blob(q, i),
					  sqlite3_column_bytes(q, i));
			else
				json_object_set_new(o, name, column(q, i));
		}
		json_array_append_new(arr, o);
	}
	return arr;
}

static json_t *query_rows(sqlite3 *db, const char *sql, int64_t a, int64_t b)
{
	sqlite3_stmt *q = NULL;
	json_t *r;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return NULL;
	if (sqlite3_bind_parameter_count(q) >= 1)
		sqlite3_bind_int64(q, 1, a);
	if (sqlite3_bind_parameter_count(q) >= 2)
		sqlite3_bind_int64(q, 2, b);
	r = rows(q);
	sqlite3_finalize(q);
	return r;
}

#define SCAN_COLUMNS                                                          \
	"SELECT s.id AS id, m.name AS machine, s.seq AS seq, "               \
	"s.state AS state, s.created AS created, s.completed AS completed, " \
	"s.files AS files, s.packages AS packages, s.needed AS needed, "     \
	"s.needed_bytes AS needed_bytes, s.report_sha AS report_sha, "       \
	"s.report_created AS report_created, s.root AS root "                \
	"FROM scans s JOIN machines m ON m.id = s.machine_id "

static enum MHD_Result list_scans(struct MHD_Connection *c, sqlite3 *db)
{
	json_t *r = query_rows(db, SCAN_COLUMNS "ORDER BY s.id", 0, 0);

	if (r == NULL)
		return send_error(c, 500, sqlite3_errmsg(db));
	return send_json(c, 200, json_pack("{s:o}", "scans", r), 0, false);
}

static enum MHD_Result show_scan(struct MHD_Connection *c, sqlite3 *db,
				 int64_t id)
{
	json_t *r = query_rows(db, SCAN_COLUMNS "WHERE s.id = ?", id, 0);
	json_t *scan, *classes;

	if (r == NULL)
		return send_error(c, 500, sqlite3_errmsg(db));
	if (json_array_size(r) == 0) {
		json_decref(r);
		return send_error(c, 404, "no such scan");
	}
	scan = json_incref(json_array_get(r, 0));
	json_decref(r);
	classes = query_rows(db, "SELECT class, COUNT(*) AS files, "
				 "COALESCE(SUM(size), 0) AS bytes FROM entries "
				 "WHERE scan_id = ? GROUP BY class ORDER BY class",
			     id, 0);
	json_object_set_new(scan, "classes", classes ? classes : json_null());
	return send_json(c, 200, scan, 0, false);
}

static enum MHD_Result diff_scans(struct MHD_Connection *c, sqlite3 *db,
				  int64_t a, int64_t b)
{
	static const char pkgs[] =
		"WITH pa AS (SELECT name, COALESCE(arch, '') AS arch, "
		" COALESCE(epoch || ':', '') || COALESCE(version, '') || "
		" COALESCE('-' || release, '') AS v FROM packages "
		" WHERE scan_id = ?1),"
		" pb AS (SELECT name, COALESCE(arch, '') AS arch, "
		" COALESCE(epoch || ':', '') || COALESCE(version, '') || "
		" COALESCE('-' || release, '') AS v FROM packages "
		" WHERE scan_id = ?2) "
		"SELECT COALESCE(pa.name, pb.name) AS name, "
		" COALESCE(pa.arch, pb.arch) AS arch, pa.v AS old, pb.v AS new,"
		" CASE WHEN pa.name IS NULL THEN 'added' "
		" WHEN pb.name IS NULL THEN 'removed' ELSE 'upgraded' END "
		" AS change "
		"FROM pa FULL OUTER JOIN pb ON pa.name = pb.name AND "
		" pa.arch = pb.arch "
		"WHERE pa.name IS NULL OR pb.name IS NULL OR pa.v <> pb.v "
		"ORDER BY 1, 2";
	static const char files[] =
		"WITH fa AS (SELECT * FROM entries WHERE scan_id = ?1),"
		" fb AS (SELECT * FROM entries WHERE scan_id = ?2) "
		"SELECT COALESCE(fa.path, fb.path) AS path,"
		" CASE WHEN fa.path IS NULL THEN 'added' "
		" WHEN fb.path IS NULL THEN 'removed' ELSE 'changed' END "
		" AS change, fa.sha256 AS old_sha256, fb.sha256 AS new_sha256 "
		"FROM fa FULL OUTER JOIN fb ON fa.path = fb.path "
		"WHERE fa.path IS NULL OR fb.path IS NULL OR "
		" fa.type IS NOT fb.type OR fa.sha256 IS NOT fb.sha256 OR "
		" fa.mode IS NOT fb.mode OR fa.uid IS NOT fb.uid OR "
		" fa.gid IS NOT fb.gid OR fa.target IS NOT fb.target OR "
		" (fa.type = 'file' AND fa.size IS NOT fb.size) "
		"ORDER BY 1";
	json_t *exist = query_rows(db, "SELECT id FROM scans WHERE id IN "
				       "(?1, ?2)", a, b);
	json_t *p, *f;

	if (exist == NULL)
		return send_error(c, 500, sqlite3_errmsg(db));
	if (json_array_size(exist) != (a == b ? 1u : 2u)) {
		json_decref(exist);
		return send_error(c, 404, "no such scan");
	}
	json_decref(exist);
	p = query_rows(db, pkgs, a, b);
	f = query_rows(db, files, a, b);
	if (p == NULL || f == NULL) {
		json_decref(p);
		json_decref(f);
		return send_error(c, 500, sqlite3_errmsg(db));
	}
	return send_json(c, 200,
			 json_pack("{s:I,s:I,s:o,s:o}", "from", (json_int_t)a,
				   "to", (json_int_t)b, "packages", p, "files",
				   f),
			 0, false);
}

static enum MHD_Result check_store(struct MHD_Connection *c,
				   struct srv_http *h, sqlite3 *db)
{
	struct srv_check_result res;
	struct rf_error err;
	json_t *problems = json_array();
	int rc;

	rf_error_clear(&err);
	rc = srv_store_check(h->st, db, &res, problems, &err);
	if (rc < 0) {
		json_decref(problems);
		return send_error(c, status_of(rc), err.msg);
	}
	return send_json(c, 200,
			 json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:o}",
				   "objects", (json_int_t)res.objects, "bytes",
				   (json_int_t)res.bytes, "corrupt",
				   (json_int_t)res.corrupt, "missing",
				   (json_int_t)res.missing, "orphaned",
				   (json_int_t)res.orphaned, "unrecorded",
				   (json_int_t)res.unrecorded, "ok",
				   res.corrupt + res.missing + res.orphaned +
						   res.unrecorded ==
					   0,
				   "problems", problems),
			 0, false);
}

/* ---- report upload ---- */

static json_t *needs_of(sqlite3 *db, int64_t scan)
{
	sqlite3_stmt *q = NULL;
	json_t *arr = json_array();

	if (sqlite3_prepare_v2(db, "SELECT sha256 FROM needs WHERE scan_id = ? "
				   "ORDER BY sha256",
			       -1, &q, NULL) != SQLITE_OK) {
		json_decref(arr);
		return NULL;
	}
	sqlite3_bind_int64(q, 1, scan);
	while (sqlite3_step(q) == SQLITE_ROW)
		json_array_append_new(arr, json_string((const char *)
						       sqlite3_column_text(q, 0)));
	sqlite3_finalize(q);
	return arr;
}

static enum MHD_Result finish_report(struct MHD_Connection *c,
				     struct srv_http *h, struct request *rq)
{
	struct srv_ingest_result res;
	struct rf_error err;
	char sha[SRV_SHA256_HEX];
	uint64_t size;
	json_t *missing;
	int rc, fd = -1;

	rf_error_clear(&err);
	rc = srv_object_finish(rq->w, sha, &size, &err);
	rq->w = NULL;
	if (rc < 0)
		goto out;
	fd = srv_object_open(h->st, sha);
	if (fd < 0) {
		rc = rf_error_errno(&err, fd, "cannot reopen the report");
		goto out;
	}
	rc = srv_ingest_report(rq->db, fd, rq->name, rq->token, sha, &res,
			       &err);
	if (rc < 0) {
		/* keep it only if another scan has the very same report */
		sqlite3_stmt *q = NULL;
		bool used = false;

		if (sqlite3_prepare_v2(rq->db, "SELECT 1 FROM scans WHERE "
					       "report_sha = ?",
				       -1, &q, NULL) == SQLITE_OK) {
			sqlite3_bind_text(q, 1, sha, -1, SQLITE_STATIC);
			used = sqlite3_step(q) == SQLITE_ROW;
		}
		sqlite3_finalize(q);
		if (!used)
			srv_object_unlink(h->st, sha);
		goto out;
	}
	missing = needs_of(rq->db, res.scan_id);
	close(fd);
	srv_gc_unlock();
	rq->kind = REQ_DONE;
	{
		char upload[64];

		snprintf(upload, sizeof(upload), "/api/v1/scans/%lld/overlay",
			 (long long)res.scan_id);
		/*
		 * missing_packages: packages no repository has; filled by the
		 * repository part once it is there.
		 */
		return send_json(
			c, 201,
			json_pack("{s:I,s:s,s:I,s:I,s:I,s:I,s:I,s:o,s:[],s:s}",
				  "scan", (json_int_t)res.scan_id, "machine",
				  rq->name, "seq", (json_int_t)res.seq, "files",
				  (json_int_t)res.files, "packages",
				  (json_int_t)res.packages, "needed",
				  (json_int_t)res.needed, "needed_bytes",
				  (json_int_t)res.needed_bytes, "missing",
				  missing ? missing : json_array(),
				  "missing_packages", "upload", upload),
			0, false);
	}
out:
	if (fd >= 0)
		close(fd);
	srv_gc_unlock();
	rq->kind = REQ_DONE;
	return send_error(c, status_of(rc), err.msg);
}

/* ---- dispatch ---- */

static bool parse_id(const char *s, int64_t *id, const char **rest)
{
	char *end;
	long long v;

	if (*s < '1' || *s > '9')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || v <= 0)
		return false;
	*id = v;
	*rest = end;
	return true;
}

static int64_t authenticate(struct MHD_Connection *c, sqlite3 *db)
{
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						       "Authorization");

	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0)
		return 0;
	return srv_token_check(db, auth + 7);
}

static enum MHD_Result begin_overlay(struct MHD_Connection *c,
				     struct srv_http *h, struct request *rq)
{
	const char *hoff = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						       "Upload-Offset");
	struct rf_error err;
	uint64_t durable = 0;
	char *end;
	unsigned long long off;
	int rc;

	if (hoff == NULL || *hoff < '0' || *hoff > '9') {
		rq->kind = REQ_DONE;
		return send_error(c, 400, "an Upload-Offset header is needed");
	}
	off = strtoull(hoff, &end, 10);
	if (*end != '\0') {
		rq->kind = REQ_DONE;
		return send_error(c, 400, "bad Upload-Offset");
	}
	rf_error_clear(&err);
	rc = srv_upload_begin(h->st, rq->scan_id, rq->token, off,
			      h->cfg->max_overlay, &rq->up, &durable, &err);
	if (rc < 0) {
		json_t *b = error_body(err.msg);

		json_object_set_new(b, "offset", json_integer((json_int_t)durable));
		if (rc == -EALREADY)
			json_object_set_new(b, "complete", json_true());
		rq->kind = REQ_DONE;
		return send_json(c, status_of(rc), b, durable, true);
	}
	rq->kind = REQ_OVERLAY;
	return MHD_YES;
}

static enum MHD_Result route(struct MHD_Connection *c, struct srv_http *h,
			     struct request *rq, const char *url,
			     const char *method)
{
	const char *rest;
	int64_t id, id2;
	struct rf_error err;
	int rc;

	rf_error_clear(&err);
	if (strcmp(url, "/api/v1/scans") == 0) {
		if (strcmp(method, "GET") == 0)
			return list_scans(c, rq->db);
		if (strcmp(method, "POST") == 0) {
			const char *name = MHD_lookup_connection_value(
				c, MHD_GET_ARGUMENT_KIND, "name");

			if (name == NULL || name[0] == '\0' ||
			    strlen(name) > 255) {
				rq->kind = REQ_DONE;
				return send_error(c, 400, "name=NAME (1 to 255 "
						  "characters) is needed");
			}
			rq->name = rf_xstrdup(name);
			/* held until the scan is recorded: see srv.h */
			srv_gc_lock_shared();
			rc = srv_object_begin(h->st, &rq->w, &err);
			if (rc < 0) {
				srv_gc_unlock();
				rq->kind = REQ_DONE;
				return send_error(c, status_of(rc), err.msg);
			}
			rq->kind = REQ_REPORT;
			return MHD_YES;
		}
		return send_error(c, 405, "GET or POST");
	}
	if (strcmp(url, "/api/v1/store/check") == 0) {
		if (strcmp(method, "POST") != 0)
			return send_error(c, 405, "POST");
		return check_store(c, h, rq->db);
	}
	if (strncmp(url, "/api/v1/scans/", 14) != 0 ||
	    !parse_id(url + 14, &id, &rest))
		return send_error(c, 404, "no such route");
	rq->scan_id = id;
	if (*rest == '\0') {
		if (strcmp(method, "GET") == 0)
			return show_scan(c, rq->db, id);
		if (strcmp(method, "DELETE") == 0) {
			rc = srv_scan_delete(h->st, rq->db, id, &err);
			if (rc < 0)
				return send_error(c, status_of(rc), err.msg);
			return send_json(c, 200, json_pack("{s:I}", "deleted",
							   (json_int_t)id),
					 0, false);
		}
		return send_error(c, 405, "GET or DELETE");
	}
	if (strcmp(rest, "/overlay") == 0) {
		if (strcmp(method, "PATCH") == 0)
			return begin_overlay(c, h, rq);
		if (strcmp(method, "GET") == 0) {
			uint64_t off;
			bool complete;

			rc = srv_upload_status(h->st, rq->db, id, &off,
					       &complete, &err);
			if (rc < 0)
				return send_error(c, status_of(rc), err.msg);
			return send_json(c, 200,
					 json_pack("{s:I,s:b}", "offset",
						   (json_int_t)off, "complete",
						   complete),
					 off, true);
		}
		return send_error(c, 405, "GET or PATCH");
	}
	if (strncmp(rest, "/diff/", 6) == 0 && parse_id(rest + 6, &id2, &rest) &&
	    *rest == '\0') {
		if (strcmp(method, "GET") != 0)
			return send_error(c, 405, "GET");
		return diff_scans(c, rq->db, id, id2);
	}
	return send_error(c, 404, "no such route");
}

static bool too_slow(struct srv_http *h, struct request *rq)
{
	uint64_t now = rf_now_ns(), secs = (now - rq->start_ns) / 1000000000u;

	if (h->cfg->deadline > 0 && secs > h->cfg->deadline)
		return true;
	return h->cfg->min_rate > 0 && secs >= 30 &&
	       rq->received / secs < h->cfg->min_rate;
}

static enum MHD_Result on_body(struct MHD_Connection *c, struct srv_http *h,
			       struct request *rq, const char *data,
			       size_t *size)
{
	struct rf_error err;
	int rc;

	rf_error_clear(&err);
	rq->received += *size;
	if (too_slow(h, rq))
		return MHD_NO; /* drop the connection: it holds a slot */
	if (rq->kind == REQ_REPORT) {
		if (rq->received > h->cfg->max_body) {
			srv_object_abort(rq->w);
			rq->w = NULL;
			srv_gc_unlock();
			rq->kind = REQ_DONE;
			*size = 0;
			return send_error(c, 413, "the report is larger than "
					  "the server accepts");
		}
		rc = srv_object_write(rq->w, data, *size, &err);
		if (rc < 0) {
			srv_object_abort(rq->w);
			rq->w = NULL;
			srv_gc_unlock();
			rq->kind = REQ_DONE;
			*size = 0;
			return send_error(c, status_of(rc), err.msg);
		}
	} else if (rq->kind == REQ_OVERLAY) {
		rc = srv_upload_append(rq->up, data, *size, &err);
		if (rc < 0) {
			bool done;
			uint64_t off;
			struct rf_error ignored;

			srv_upload_end(rq->up, false, &done, &off, &ignored);
			rq->up = NULL;
			rq->kind = REQ_DONE;
			*size = 0;
			return send_json(c, status_of(rc), error_body(err.msg),
					 off, true);
		}
	}
	*size = 0;
	return MHD_YES;
}

static enum MHD_Result on_end(struct MHD_Connection *c, struct srv_http *h,
			      struct request *rq)
{
	struct rf_error err;
	uint64_t off;
	bool done;
	int rc;

	rf_error_clear(&err);
	if (rq->kind == REQ_REPORT)
		return finish_report(c, h, rq);
	rc = srv_upload_end(rq->up, true, &done, &off, &err);
	rq->up = NULL;
	rq->kind = REQ_DONE;
	if (rc < 0) {
		json_t *b = error_body(err.msg);

		json_object_set_new(b, "offset", json_integer((json_int_t)off));
		return send_json(c, status_of(rc), b, off, true);
	}
	return send_json(c, 200,
			 json_pack("{s:I,s:b}", "offset", (json_int_t)off,
				   "complete", done),
			 off, true);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *data,
			       size_t *size, void **con_cls)
{
	struct srv_http *h = cls;
	struct request *rq = *con_cls;
	struct rf_error err;
	const char *clen;

	(void)version;
	if (rq == NULL) {
		rq = rf_xcalloc(1, sizeof(*rq));
		rq->start_ns = rf_now_ns();
		*con_cls = rq;
		rf_error_clear(&err);
		if (srv_db_open(h->st, &rq->db, &err) < 0) {
			rq->kind = REQ_DONE;
			return send_error(c, 503, err.msg);
		}
		rq->token = authenticate(c, rq->db);
		if (rq->token == 0) {
			rq->kind = REQ_DONE;
			return send_error(c, 401, "a valid token is needed "
					  "(Authorization: Bearer TOKEN)");
		}
		/* refuse an announced body that is too large before reading it */
		clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						   "Content-Length");
		if (clen != NULL && strcmp(method, "POST") == 0 &&
		    strtoull(clen, NULL, 10) > h->cfg->max_body) {
			rq->kind = REQ_DONE;
			return send_error(c, 413, "the body is larger than the "
					  "server accepts");
		}
		return route(c, h, rq, url, method);
	}
	if (rq->kind == REQ_DONE) {
		*size = 0; /* an answer was queued: the rest is dropped */
		return MHD_YES;
	}
	if (*size > 0)
		return on_body(c, h, rq, data, size);
	return on_end(c, h, rq);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct srv_http *h = cls;
	struct request *rq = *con_cls;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	(void)toe;
	/* the next request on this connection gets a deadline of its own */
	if (ci != NULL && ci->socket_context != NULL) {
		pthread_mutex_lock(&h->track_lock);
		((struct tracked *)ci->socket_context)->start_ns = rf_now_ns();
		pthread_mutex_unlock(&h->track_lock);
	}
	if (rq == NULL)
		return;
	if (rq->up != NULL) {
		/* the connection broke: keep what was received */
		struct rf_error err;
		uint64_t off;
		bool done;

		srv_upload_end(rq->up, false, &done, &off, &err);
	}
	if (rq->w != NULL) {
		srv_object_abort(rq->w);
		srv_gc_unlock();
	}
	sqlite3_close(rq->db);
	free(rq->name);
	free(rq);
	*con_cls = NULL;
}

/*
 * The absolute deadline. libmicrohttpd calls the handler only once the
 * headers are in and only when bytes arrive, and its timeout is an idle
 * one: a client that trickles a byte now and then (in its headers or its
 * body) would hold a connection, and its thread, for ever. So every
 * connection is tracked from its accept, and a reaper thread shuts down
 * the socket of one whose request outlived the deadline; the connection's
 * own thread then sees the end of the stream and closes it as usual.
 * shutdown() only under track_lock, and a connection leaves the list (in
 * the CLOSED notification) before libmicrohttpd closes its descriptor: the
 * number is never one that was reused.
 */
static void on_connection(void *cls, struct MHD_Connection *c,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct srv_http *h = cls;
	struct tracked *t = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(c,
					     MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL)
			return;
		t = rf_xcalloc(1, sizeof(*t));
		t->fd = ci->connect_fd;
		t->start_ns = rf_now_ns();
		pthread_mutex_lock(&h->track_lock);
		t->next = h->conns;
		if (h->conns != NULL)
			h->conns->prev = t;
		h->conns = t;
		pthread_mutex_unlock(&h->track_lock);
		*socket_context = t;
	} else if (t != NULL) {
		pthread_mutex_lock(&h->track_lock);
		if (t->prev != NULL)
			t->prev->next = t->next;
		else
			h->conns = t->next;
		if (t->next != NULL)
			t->next->prev = t->prev;
		pthread_mutex_unlock(&h->track_lock);
		free(t);
		*socket_context = NULL;
	}
}

static void *reaper(void *arg)
{
	struct srv_http *h = arg;
	uint64_t limit = (uint64_t)h->cfg->deadline * 1000000000u;
	struct timespec ts;

	pthread_mutex_lock(&h->track_lock);
	while (!h->stopping) {
		uint64_t now = rf_now_ns();

		for (struct tracked *t = h->conns; t != NULL; t = t->next)
			if (!t->cut && now - t->start_ns > limit) {
				shutdown(t->fd, SHUT_RDWR);
				t->cut = true;
			}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&h->track_cond, &h->track_lock, &ts);
	}
	pthread_mutex_unlock(&h->track_lock);
	return NULL;
}

static int parse_listen(const char *listen, struct sockaddr_storage *ss,
			socklen_t *len)
{
	const char *colon = strrchr(listen, ':');
	char host[128];
	char *end;
	long port;

	if (colon == NULL || (size_t)(colon - listen) >= sizeof(host))
		return -EINVAL;
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 0 || port > 65535 || colon[1] == '\0')
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		host[strlen(host) - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			return -EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (host[0] == '\0')
			strcpy(host, "0.0.0.0");
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -EINVAL;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
	}
	return 0;
}

static int slurp(const char *path, char **out, struct rf_error *err)
{
	struct rf_buf b = RF_BUF_INIT;
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return rf_error_errno(err, -errno, "cannot open '%s'", path);
	while ((n = read(fd, buf, sizeof(buf))) > 0 && b.len < (1u << 20))
		rf_buf_add(&b, buf, (size_t)n);
	if (n < 0)
		rc = rf_error_errno(err, -errno, "cannot read '%s'", path);
	close(fd);
	if (rc == 0 && b.len == 0)
		rc = rf_error_set(err, -EINVAL, "'%s' is empty", path);
	if (rc < 0)
		rf_buf_free(&b);
	else
		*out = rf_buf_detach(&b);
	return rc;
}

int srv_http_start(const struct srv_config *cfg, struct srv_store *st,
		   struct srv_http **out, struct rf_error *err)
{
	struct srv_http *h = rf_xcalloc(1, sizeof(*h));
	struct sockaddr_storage ss;
	socklen_t sslen;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	int rc;

	h->st = st;
	h->cfg = cfg;
	pthread_mutex_init(&h->track_lock, NULL);
	pthread_cond_init(&h->track_cond, NULL);
	if (parse_listen(cfg->listen, &ss, &sslen) < 0) {
		rc = rf_error_set(err, -EINVAL, "--listen wants ADDR:PORT "
				  "('127.0.0.1:8443', '[::1]:8443'), not '%s'",
				  cfg->listen);
		goto out;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
		rc = rf_error_set(err, -EINVAL, "--tls-cert and --tls-key go "
				  "together");
		goto out;
	}
	if (cfg->tls_cert != NULL) {
		rc = slurp(cfg->tls_cert, &h->cert, err);
		if (rc == 0)
			rc = slurp(cfg->tls_key, &h->key, err);
		if (rc < 0)
			goto out;
		flags |= MHD_USE_TLS;
	}
	h->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, handler, h,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_NOTIFY_COMPLETED, completed, h,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
		MHD_OPTION_CONNECTION_LIMIT, cfg->connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
		cfg->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END,
		h->cert, MHD_OPTION_HTTPS_MEM_KEY, h->key, MHD_OPTION_END);
	if (h->daemon == NULL) {
		rc = rf_error_set(err, -EADDRINUSE, "cannot serve on %s (in "
				  "use, not an address of this host, or a bad "
				  "certificate)", cfg->listen);
		goto out;
	}
	if (cfg->deadline > 0) {
		if (pthread_create(&h->reaper, NULL, reaper, h) != 0) {
			rc = rf_error_set(err, -EAGAIN, "cannot start a thread");
			goto out;
		}
		h->reaper_started = true;
	}
	if (cfg->port_file != NULL) {
		const union MHD_DaemonInfo *i =
			MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
		struct rf_buf tmp = RF_BUF_INIT;
		FILE *f;

		/* whole or absent: a test polls for it */
		rf_buf_printf(&tmp, "%s.tmp", cfg->port_file);
		f = fopen(tmp.data, "w");
		if (f == NULL || i == NULL) {
			if (f)
				fclose(f);
			rc = rf_error_errno(err, -errno, "cannot write '%s'",
					    cfg->port_file);
			rf_buf_free(&tmp);
			goto out;
		}
		fprintf(f, "%u\n", (unsigned)i->port);
		fclose(f);
		rename(tmp.data, cfg->port_file);
		rf_buf_free(&tmp);
	}
	rc = 0;
out:
	if (rc < 0) {
		srv_http_stop(h);
		h = NULL;
	}
	*out = h;
	return rc;
}

void srv_http_stop(struct srv_http *h)
{
	if (h == NULL)
		return;
	if (h->daemon != NULL)
		MHD_stop_daemon(h->daemon);
	if (h->reaper_started) {
		pthread_mutex_lock(&h->track_lock);
		h->stopping = true;
		pthread_cond_signal(&h->track_cond);
		pthread_mutex_unlock(&h->track_lock);
		pthread_join(h->reaper, NULL);
	}
	pthread_mutex_destroy(&h->track_lock);
	pthread_cond_destroy(&h->track_cond);
	free(h->cert);
	free(h->key);
	free(h);
}
