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
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "buf.h"
#include "digest.h"
#include "escape.h"
#include "progress.h"
#include "repo.h"
#include "srv_http.h"
#include "srv_job.h"

/* The largest JSON body a route takes (a repository with its keyring). */
#define SRV_MAX_JSON_BODY (4u << 20)

/* A connection as the deadline's reaper sees it: see on_connection(). */
struct tracked {
	struct tracked *prev, *next;
	int fd;
	uint64_t start_ns;	/* its accept, or the end of its last request */
	uint64_t extra_ns;	/* more time for this request (a refresh) */
	bool cut;
};

/* What a repository refresh or fetch may take beyond the deadline. */
#define SRV_REPO_EXTRA_NS (6ull * 3600 * 1000000000u)

struct srv_http {
	struct MHD_Daemon *daemon;
	struct srv_store *st;
	const struct srv_config *cfg;
	char *cert, *key;
	char *repo_cache;  /* DATA/repo-cache: metadata and packages */
	char *keyring_dir; /* DATA/repo-keyrings: keyrings sent by clients */
	/* the absolute deadline */
	pthread_mutex_t track_lock;
	pthread_cond_t track_cond;
	struct tracked *conns;
	pthread_t reaper;
	bool reaper_started, stopping;
};

enum req_kind { REQ_NONE, REQ_REPORT, REQ_OVERLAY, REQ_JSON, REQ_DONE };

struct request {
	enum req_kind kind;
	int64_t token;
	uint64_t start_ns;
	uint64_t received;
	sqlite3 *db;
	struct srv_repo *repo; /* opened on db when a route needs it */
	/* REQ_JSON: the body, bounded */
	struct rf_buf body;
	/* REQ_REPORT */
	struct srv_object_writer *w;
	char *name;
	/* REQ_OVERLAY */
	struct srv_upload *up;
	int64_t scan_id;
	/* REQ_JSON: what takes the body (NULL: a repository to add) */
	enum MHD_Result (*json_end)(struct MHD_Connection *c,
				    struct srv_http *h, struct request *rq);
	/* an answer decided while the body was still coming */
	int status;
	json_t *answer;
	uint64_t answer_offset;
	bool answer_with_offset;
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

/* The packages of a scan that no repository had when it arrived. */
static json_t *missing_of(sqlite3 *db, int64_t scan)
{
	return query_rows(db, "SELECT name, evr AS version, arch FROM "
			      "scan_missing WHERE scan_id = ? ORDER BY name, "
			      "arch",
			  scan, 0);
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
	classes = missing_of(db, id);
	json_object_set_new(scan, "missing_packages",
			    classes ? classes : json_null());
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

/* ---- repositories ---- */

/* The repository state on the request's connection, opened once. */
static int open_repo(struct srv_http *h, struct request *rq,
		     struct rf_error *err)
{
	struct srv_repo_config rc = {.cache_dir = h->repo_cache,
				     .write_lock = srv_db_write_lock,
				     .write_unlock = srv_db_write_unlock};

	if (rq->repo != NULL)
		return 0;
	return srv_repo_open(rq->db, &rc, &rq->repo, err);
}

static void set_str(json_t *o, const char *key, const char *v)
{
	json_object_set_new(o, key, v ? json_string(v) : json_null());
}

static json_t *def_json(const struct srv_repo_def *d)
{
	json_t *o = json_object();

	set_str(o, "name", d->name);
	set_str(o, "kind", d->kind);
	set_str(o, "url", d->url);
	set_str(o, "suite", d->suite);
	set_str(o, "components", d->components);
	set_str(o, "arch", d->arch);
	set_str(o, "keyring", d->keyring);
	return o;
}

static enum MHD_Result list_repos(struct MHD_Connection *c,
				  struct srv_http *h, struct request *rq)
{
	struct srv_repo_info *info = NULL;
	struct rf_error err;
	json_t *arr;
	size_t n = 0;
	int rc;

	rf_error_clear(&err);
	rc = open_repo(h, rq, &err);
	if (rc == 0)
		rc = srv_repo_list(rq->repo, &info, &n, &err);
	if (rc < 0)
		return send_error(c, status_of(rc), err.msg);
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = def_json(&info[i].def);

		json_object_set_new(o, "packages",
				    json_integer(info[i].packages));
		json_object_set_new(o, "refreshed",
				    json_integer(info[i].refreshed));
		set_str(o, "last_error", info[i].last_error);
		json_array_append_new(arr, o);
	}
	srv_repo_info_free(info, n);
	return send_json(c, 200, json_pack("{s:o}", "repositories", arr), 0,
			 false);
}

/*
 * A refresh or a fetch downloads what it must, however long that takes:
 * the reaper gives this connection's request SRV_REPO_EXTRA_NS more.
 */
static void raise_deadline(struct srv_http *h, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	if (ci == NULL || ci->socket_context == NULL)
		return;
	pthread_mutex_lock(&h->track_lock);
	((struct tracked *)ci->socket_context)->extra_ns = SRV_REPO_EXTRA_NS;
	pthread_mutex_unlock(&h->track_lock);
}

/* A repository's name is a file name under the keyring directory. */
static bool repo_name_ok(const char *s)
{
	if (s == NULL || *s == '\0' || *s == '.' || strlen(s) > 128)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789._-") == strlen(s);
}

static const char *json_str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/*
 * POST /api/v1/repos: a definition as JSON. The keyring is the file's
 * bytes (keyring-base64), kept under DATA/repo-keyrings: a path on the
 * client would mean nothing on the server.
 */
static enum MHD_Result add_repo(struct MHD_Connection *c, struct srv_http *h,
				struct request *rq)
{
	struct srv_repo_def def;
	struct rf_buf kpath = RF_BUF_INIT, key = RF_BUF_INIT;
	struct rf_error err;
	json_t *in = json_loadb(rq->body.data ? rq->body.data : "",
				rq->body.len, 0, NULL);
	const char *kb64;
	bool wrote_key = false;
	int rc, status = 422;

	rf_error_clear(&err);
	memset(&def, 0, sizeof(def));
	if (!json_is_object(in)) {
		rc = rf_error_set(&err, -EINVAL, "the body is not a JSON "
				  "object");
		goto out;
	}
	def.name = (char *)json_str(in, "name");
	def.kind = (char *)json_str(in, "kind");
	def.url = (char *)json_str(in, "url");
	def.suite = (char *)json_str(in, "suite");
	def.components = (char *)json_str(in, "components");
	def.arch = (char *)json_str(in, "arch");
	def.enabled = true;
	if (!repo_name_ok(def.name)) {
		rc = rf_error_set(&err, -EINVAL, "a repository's name is 1 to "
				  "128 of [A-Za-z0-9._-], not starting with "
				  "'.'");
		goto out;
	}
	rc = open_repo(h, rq, &err);
	if (rc < 0) {
		status = 500;
		goto out;
	}
	kb64 = json_str(in, "keyring-base64");
	if (kb64 != NULL) {
		int fd;

		if (rf_base64_decode(&key, kb64) < 0 || key.len == 0) {
			rc = rf_error_set(&err, -EINVAL, "the keyring is not "
					  "valid base64");
			goto out;
		}
		mkdir(h->keyring_dir, 0700);
		rf_buf_printf(&kpath, "%s/%s.gpg", h->keyring_dir, def.name);
		fd = open(kpath.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			  0600);
		if (fd < 0 && errno == EEXIST) {
			/* a leftover of a removed repository of that name */
			unlink(kpath.data);
			fd = open(kpath.data,
				  O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
				  0600);
		}
		if (fd < 0 || srv_write_all(fd, key.data, key.len) < 0 ||
		    fsync(fd) < 0) {
			rc = rf_error_errno(&err, -errno, "cannot store the "
					    "keyring");
			if (fd >= 0)
				close(fd);
			status = 500;
			goto out;
		}
		close(fd);
		wrote_key = true;
		def.keyring = kpath.data;
	}
	rc = srv_repo_add(rq->repo, &def, &err);
	if (rc == -EEXIST)
		status = 409;
	if (rc < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0 && wrote_key && rc != -EEXIST)
		unlink(kpath.data);
	rq->kind = REQ_DONE;
	{
		enum MHD_Result r =
			rc < 0 ? send_error(c, status, err.msg)
			       : send_json(c, 201, json_pack("{s:s}", "added",
							     def.name),
					   0, false);

		json_decref(in);
		rf_buf_free(&kpath);
		rf_buf_free(&key);
		return r;
	}
}

static enum MHD_Result remove_repo(struct MHD_Connection *c,
				   struct srv_http *h, struct request *rq,
				   const char *name)
{
	struct rf_buf kpath = RF_BUF_INIT;
	struct rf_error err;
	int rc;

	rf_error_clear(&err);
	rc = open_repo(h, rq, &err);
	if (rc == 0)
		rc = srv_repo_remove(rq->repo, name, &err);
	if (rc < 0)
		return send_error(c, status_of(rc), err.msg);
	rf_buf_printf(&kpath, "%s/%s.gpg", h->keyring_dir, name);
	unlink(kpath.data);
	rf_buf_free(&kpath);
	return send_json(c, 200, json_pack("{s:s}", "removed", name), 0,
			 false);
}

static json_t *refresh_one(struct srv_repo *r, const char *name, bool force,
			   int *rcp)
{
	struct srv_repo_refresh_stats st;
	struct rf_error err;
	int rc;

	rf_error_clear(&err);
	memset(&st, 0, sizeof(st));
	rc = srv_repo_refresh(r, name, force ? SRV_REPO_REFRESH_FORCE : 0, &st,
			      &err);
	*rcp = rc;
	if (rc < 0)
		return json_pack("{s:s,s:b,s:s}", "name", name, "ok", 0,
				 "error", err.msg);
	return json_pack("{s:s,s:b,s:I,s:I,s:I,s:I,s:b}", "name", name, "ok",
			 1, "packages", (json_int_t)st.packages, "downloaded",
			 (json_int_t)st.downloaded, "fetched",
			 (json_int_t)st.fetched, "not_modified",
			 (json_int_t)st.not_modified, "unchanged",
			 st.unchanged);
}

/*
 * POST /api/v1/repos/refresh (all) or /api/v1/repos/NAME/refresh, run in
 * the request: the connection's own thread, which the request deadline
 * does not cut (it is checked only while a body arrives). Scans keep
 * arriving meanwhile; each sees the old index or the new (repo.h).
 */
static enum MHD_Result refresh_repos(struct MHD_Connection *c,
				     struct srv_http *h, struct request *rq,
				     const char *name)
{
	const char *f = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
						    "force");
	bool force = f != NULL && strcmp(f, "0") != 0;
	struct srv_repo_info *info = NULL;
	struct rf_error err;
	json_t *arr = json_array();
	bool all_ok = true;
	size_t n = 0;
	int rc;

	rf_error_clear(&err);
	raise_deadline(h, c);
	rc = open_repo(h, rq, &err);
	if (rc == 0 && name == NULL)
		rc = srv_repo_list(rq->repo, &info, &n, &err);
	if (rc < 0) {
		json_decref(arr);
		return send_error(c, status_of(rc), err.msg);
	}
	if (name != NULL) {
		json_t *one = refresh_one(rq->repo, name, force, &rc);

		if (rc == -ENOENT &&
		    strstr(json_str(one, "error"), "no repository named")) {
			json_decref(one);
			json_decref(arr);
			return send_error(c, 404, "no such repository");
		}
		json_array_append_new(arr, one);
	} else {
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, refresh_one(rq->repo,
							       info[i].def.name,
							       force, &rc));
	}
	srv_repo_info_free(info, n);
	for (size_t i = 0; i < json_array_size(arr); i++)
		all_ok &= json_is_true(json_object_get(json_array_get(arr, i),
						       "ok"));
	return send_json(c, all_ok ? 200 : 502,
			 json_pack("{s:o,s:b}", "refreshed", arr, "ok",
				   all_ok),
			 0, false);
}

/*
 * "name", "name=version", "name:arch" or "name:arch=version" (apt's
 * spelling) into q; the strings point into spec, which is cut in place.
 */
static void parse_pkg_spec(char *spec, struct srv_repo_query *q)
{
	char *eq = strchr(spec, '='), *colon;

	memset(q, 0, sizeof(*q));
	if (eq != NULL) {
		*eq = '\0';
		q->version = eq + 1;
	}
	colon = strchr(spec, ':');
	if (colon != NULL) {
		*colon = '\0';
		q->arch = colon + 1;
	}
	q->name = spec;
}

/* SHA-256 and size of a file, for the answer to a fetch. */
static int file_sha256(const char *path, char hex[SRV_SHA256_HEX],
		       uint64_t *size)
{
	struct rf_digest *d;
	unsigned char md[RF_SHA256_LEN], buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	d = rf_digest_new(RF_DIGEST_SHA256, RF_DIGEST_NONE);
	*size = 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		rf_digest_update(d, buf, (size_t)n);
		*size += (uint64_t)n;
	}
	close(fd);
	rf_digest_final(d, md, NULL);
	rf_digest_free(d);
	if (n < 0)
		return -EIO;
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/*
 * POST /api/v1/repos/NAME/fetch?package=SPEC: the package into the cache,
 * answered with its SHA-256 and size. GET serves the file itself. NAME "-"
 * is any repository.
 */
static enum MHD_Result fetch_package(struct MHD_Connection *c,
				     struct srv_http *h, struct request *rq,
				     const char *name, bool download)
{
	const char *spec = MHD_lookup_connection_value(
		c, MHD_GET_ARGUMENT_KIND, "package");
	struct srv_repo_query q;
	struct rf_error err;
	char hex[SRV_SHA256_HEX];
	char *copy = NULL, *path = NULL;
	uint64_t size;
	enum MHD_Result ret;
	int rc;

	rf_error_clear(&err);
	if (spec == NULL || *spec == '\0' || strlen(spec) > 1024)
		return send_error(c, 400, "package=NAME[:ARCH][=VERSION] is "
				  "needed");
	copy = rf_xstrdup(spec);
	parse_pkg_spec(copy, &q);
	raise_deadline(h, c);
	rc = open_repo(h, rq, &err);
	if (rc == 0)
		rc = srv_repo_fetch_package(rq->repo,
					    strcmp(name, "-") == 0 ? NULL
								   : name,
					    &q, &path, &err);
	if (rc == -EEXIST) {
		ret = send_error(c, 409, err.msg);
		goto out;
	}
	if (rc < 0) {
		ret = send_error(c, rc == -ENOENT ? 404 : 502, err.msg);
		goto out;
	}
	if (download) {
		struct MHD_Response *r;
		struct stat sb;
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd < 0 || fstat(fd, &sb) < 0) {
			if (fd >= 0)
				close(fd);
			ret = send_error(c, 500, "cannot open the cached "
					 "package");
			goto out;
		}
		r = MHD_create_response_from_fd((uint64_t)sb.st_size, fd);
		MHD_add_response_header(r, "Content-Type",
					"application/octet-stream");
		ret = MHD_queue_response(c, 200, r);
		MHD_destroy_response(r);
		goto out;
	}
	rc = file_sha256(path, hex, &size);
	if (rc < 0) {
		ret = send_error(c, 500, "cannot read the cached package");
		goto out;
	}
	ret = send_json(c, 200,
			json_pack("{s:s,s:s,s:I,s:s}", "package", q.name,
				  "sha256", hex, "size", (json_int_t)size,
				  "file", strrchr(path, '/') ? strrchr(path, '/') + 1
							     : path),
			0, false);
out:
	free(copy);
	free(path);
	return ret;
}

struct scan_files {
	sqlite3 *db;
	int64_t scan;
};

/* pacman.conf's Include: another file recorded with the same scan. */
static int include_from_scan(void *ctx, const char *path, char **text,
			     size_t *len)
{
	struct scan_files *sf = ctx;
	sqlite3_stmt *q = NULL;
	int rc = -ENOENT;

	if (sqlite3_prepare_v2(sf->db, "SELECT content FROM scan_repo_files "
				       "WHERE scan_id = ? AND path = ?",
			       -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(q, 1, sf->scan);
	sqlite3_bind_blob(q, 2, path, (int)strlen(path), SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW) {
		int n = sqlite3_column_bytes(q, 0);
		const void *b = sqlite3_column_blob(q, 0);

		*text = rf_xmalloc((size_t)n + 1);
		if (n > 0)
			memcpy(*text, b, (size_t)n);
		(*text)[n] = '\0';
		*len = (size_t)n;
		rc = 0;
	}
	sqlite3_finalize(q);
	return rc;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t l = strlen(suffix);

	return len >= l && memcmp(s + len - l, suffix, l) == 0;
}

/*
 * GET /api/v1/scans/ID/repositories: the source host's repository files as
 * recorded, and the definitions read from them (what `repo add --from-scan`
 * offers). ?releasever= and ?basearch= fill yum's variables.
 */
static enum MHD_Result scan_repositories(struct MHD_Connection *c,
					 sqlite3 *db, int64_t id)
{
	struct srv_repo_vars vars = {
		.releasever = MHD_lookup_connection_value(
			c, MHD_GET_ARGUMENT_KIND, "releasever"),
		.basearch = MHD_lookup_connection_value(
			c, MHD_GET_ARGUMENT_KIND, "basearch"),
	};
	struct scan_files sf = {db, id};
	struct srv_repo_deflist list = {0};
	json_t *files = json_array(), *defs = json_array(),
	       *warnings = json_array();
	json_t *exist = query_rows(db, "SELECT id FROM scans WHERE id = ?", id,
				   0);
	sqlite3_stmt *q = NULL;

	vars.arch = vars.basearch;
	if (exist == NULL || json_array_size(exist) == 0 ||
	    sqlite3_prepare_v2(db, "SELECT path, content FROM "
				   "scan_repo_files WHERE scan_id = ? "
				   "ORDER BY path",
			       -1, &q, NULL) != SQLITE_OK) {
		bool none = exist != NULL;

		json_decref(exist);
		json_decref(files);
		json_decref(defs);
		json_decref(warnings);
		return none ? send_error(c, 404, "no such scan")
			    : send_error(c, 500, sqlite3_errmsg(db));
	}
	json_decref(exist);
	sqlite3_bind_int64(q, 1, id);
	while (sqlite3_step(q) == SQLITE_ROW) {
		const char *path = sqlite3_column_blob(q, 0);
		size_t plen = (size_t)sqlite3_column_bytes(q, 0);
		const char *text = sqlite3_column_blob(q, 1);
		size_t len = (size_t)sqlite3_column_bytes(q, 1);
		char *p = rf_xstrndup(path ? path : "", plen);
		json_t *f = json_object();
		struct rf_error err;
		int rc = 0;

		rf_error_clear(&err);
		set_bytes(f, "path", p, (int)plen);
		set_bytes(f, "content", text ? text : "", (int)len);
		json_array_append_new(files, f);
		if (text == NULL)
			text = "";
		if (strcmp(p, "/etc/apt/sources.list") == 0 ||
		    ends_with(p, plen, ".list"))
			rc = srv_repo_sources_parse_apt_list(text, len, p,
							     &list, &err);
		else if (ends_with(p, plen, ".sources"))
			rc = srv_repo_sources_parse_deb822(text, len, p, &list,
							   &err);
		else if (ends_with(p, plen, ".repo"))
			rc = srv_repo_sources_parse_yum(text, len, p, &vars,
							&list, &err);
		else if (strcmp(p, "/etc/pacman.conf") == 0)
			rc = srv_repo_sources_parse_pacman(
				text, len, p, &vars, include_from_scan, &sf,
				&list, &err);
		if (rc < 0)
			json_array_append_new(warnings,
					      json_pack("{s:s,s:s}", "file", p,
							"error", err.msg));
		free(p);
	}
	sqlite3_finalize(q);
	for (size_t i = 0; i < list.n; i++) {
		json_t *o = def_json(&list.defs[i]);
		const char *nm = list.defs[i].name;

		/* a file:// URL has no host to name it by: "-test" would read
		 * as an option on a command line */
		if (nm != NULL && !(isalnum((unsigned char)nm[0]))) {
			struct rf_buf b = RF_BUF_INIT;

			rf_buf_printf(&b, "local%s", nm);
			set_str(o, "name", b.data);
			rf_buf_free(&b);
		}

		json_object_set_new(o, "enabled",
				    json_boolean(list.defs[i].enabled));
		set_str(o, "origin", list.defs[i].origin);
		json_array_append_new(defs, o);
	}
	srv_repo_deflist_free(&list);
	return send_json(c, 200,
			 json_pack("{s:I,s:o,s:o,s:o}", "scan", (json_int_t)id,
				   "files", files, "repositories", defs,
				   "warnings", warnings),
			 0, false);
}

static enum MHD_Result repo_route(struct MHD_Connection *c,
				  struct srv_http *h, struct request *rq,
				  const char *rest, const char *method)
{
	char name[160];
	const char *slash;
	size_t len;

	if (*rest == '\0') {
		if (strcmp(method, "GET") == 0)
			return list_repos(c, h, rq);
		if (strcmp(method, "POST") == 0) {
			rq->kind = REQ_JSON;
			return MHD_YES;
		}
		return send_error(c, 405, "GET or POST");
	}
	if (*rest != '/')
		return send_error(c, 404, "no such route");
	rest++;
	if (strcmp(rest, "refresh") == 0) {
		if (strcmp(method, "POST") != 0)
			return send_error(c, 405, "POST");
		return refresh_repos(c, h, rq, NULL);
	}
	slash = strchr(rest, '/');
	len = slash ? (size_t)(slash - rest) : strlen(rest);
	if (len >= sizeof(name))
		return send_error(c, 404, "no such repository");
	memcpy(name, rest, len);
	name[len] = '\0';
	if (strcmp(name, "-") != 0 && !repo_name_ok(name))
		return send_error(c, 404, "no such repository");
	if (slash == NULL) {
		if (strcmp(method, "DELETE") == 0)
			return remove_repo(c, h, rq, name);
		return send_error(c, 405, "DELETE");
	}
	if (strcmp(slash, "/refresh") == 0) {
		if (strcmp(method, "POST") != 0)
			return send_error(c, 405, "POST");
		return refresh_repos(c, h, rq, name);
	}
	if (strcmp(slash, "/fetch") == 0) {
		if (strcmp(method, "POST") == 0)
			return fetch_package(c, h, rq, name, false);
		if (strcmp(method, "GET") == 0)
			return fetch_package(c, h, rq, name, true);
		return send_error(c, 405, "GET or POST");
	}
	return send_error(c, 404, "no such route");
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
	json_t *missing, *packages;
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
	rc = open_repo(h, rq, &err);
	if (rc == 0)
		rc = srv_ingest_report_repo(rq->db, rq->repo, fd, rq->name,
					    rq->token, sha, &res, &err);
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
	packages = missing_of(rq->db, res.scan_id);
	close(fd);
	srv_gc_unlock();
	rq->kind = REQ_DONE;
	{
		char upload[64];

		snprintf(upload, sizeof(upload), "/api/v1/scans/%lld/overlay",
			 (long long)res.scan_id);
		/*
		 * missing_packages: packages no repository has, whose files
		 * (unmodified ones too) the overlay carries.
		 */
		return send_json(
			c, 201,
			json_pack("{s:I,s:s,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:s}",
				  "scan", (json_int_t)res.scan_id, "machine",
				  rq->name, "seq", (json_int_t)res.seq, "files",
				  (json_int_t)res.files, "packages",
				  (json_int_t)res.packages, "needed",
				  (json_int_t)res.needed, "needed_bytes",
				  (json_int_t)res.needed_bytes, "missing",
				  missing ? missing : json_array(),
				  "missing_packages",
				  packages ? packages : json_array(), "upload",
				  upload),
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

/* ---- image jobs (srv_job.h) ---- */

#define JOB_COLUMNS                                                           \
	"SELECT id, scan_id AS scan, format, disk_size, target, state, "     \
	"stage, progress, error, created, started, finished, image_size "    \
	"FROM jobs "

static enum MHD_Result list_images(struct MHD_Connection *c, sqlite3 *db)
{
	json_t *r = query_rows(db, JOB_COLUMNS "ORDER BY id", 0, 0);

	if (r == NULL)
		return send_error(c, 500, sqlite3_errmsg(db));
	return send_json(c, 200, json_pack("{s:o}", "images", r), 0, false);
}

/* The last 64 KiB of a job's log (whole lines), or "" when it has none. */
static json_t *log_tail(const char *path)
{
	char buf[65536];
	off_t end;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	const char *start = buf;
	json_t *s;

	if (fd < 0)
		return json_string("");
	end = lseek(fd, 0, SEEK_END);
	n = pread(fd, buf, sizeof(buf),
		  end > (off_t)sizeof(buf) ? end - (off_t)sizeof(buf) : 0);
	close(fd);
	if (n <= 0)
		return json_string("");
	if (end > (off_t)sizeof(buf)) {
		const char *nl = memchr(buf, '\n', (size_t)n);

		if (nl != NULL)
			start = nl + 1;
	}
	s = json_stringn(start, (size_t)(buf + n - start));
	if (s == NULL) {
		/* not UTF-8: escape it as the scans' paths are */
		struct rf_buf b = RF_BUF_INIT;

		rf_base64_encode(&b, start, (size_t)(buf + n - start));
		s = json_pack("{s:s}", "base64", b.data ? b.data : "");
		rf_buf_free(&b);
	}
	return s;
}

static enum MHD_Result show_image(struct MHD_Connection *c,
				  struct srv_http *h, sqlite3 *db, int64_t id)
{
	json_t *r = query_rows(db, JOB_COLUMNS "WHERE id = ?", id, 0);
	json_t *job, *tuning;
	char *log;

	if (r == NULL)
		return send_error(c, 500, sqlite3_errmsg(db));
	if (json_array_size(r) == 0) {
		json_decref(r);
		return send_error(c, 404, "no such image job");
	}
	job = json_incref(json_array_get(r, 0));
	json_decref(r);
	log = srv_job_log_path(h->cfg->jobs, id);
	json_object_set_new(job, "log", log_tail(log));
	free(log);
	/* what tuning changed, as the job kept it beside the image */
	log = srv_job_tuning_path(h->cfg->jobs, id);
	tuning = json_load_file(log, 0, NULL);
	free(log);
	if (json_is_array(tuning))
		json_object_set(job, "tuning", tuning);
	json_decref(tuning);
	return send_json(c, 200, job, 0, false);
}

/* POST /api/v1/images: {scan, format, disk_size?, target?} */
static enum MHD_Result create_image(struct MHD_Connection *c,
				    struct srv_http *h, struct request *rq)
{
	json_t *in = json_loadb(rq->body.data ? rq->body.data : "",
				rq->body.len, 0, NULL);
	struct srv_job_request req;
	struct rf_error err;
	json_t *scan;
	int64_t id = 0;
	int rc;

	rf_error_clear(&err);
	rq->kind = REQ_DONE;
	memset(&req, 0, sizeof(req));
	scan = json_object_get(in, "scan");
	if (!json_is_object(in) || !json_is_integer(scan) ||
	    json_integer_value(scan) <= 0) {
		json_decref(in);
		return send_error(c, 422, "the body is a JSON object with "
				  "\"scan\" (a scan id) and \"format\"");
	}
	req.scan_id = json_integer_value(scan);
	req.format = json_str(in, "format");
	req.disk_size = json_str(in, "disk_size");
	req.target = json_str(in, "target");
	req.token = rq->token;
	rc = srv_job_create(h->cfg->jobs, rq->db, &req, &id, &err);
	json_decref(in);
	if (rc < 0)
		return send_error(c, status_of(rc), err.msg);
	return send_json(c, 201,
			 json_pack("{s:I,s:s}", "id", (json_int_t)id, "state",
				   "queued"),
			 0, false);
}

/*
 * GET /api/v1/images/ID/file: the image, streamed from its file; a
 * "Range: bytes=N-" or "bytes=N-M" request gets that part (206), so that
 * an interrupted download resumes.
 */
static enum MHD_Result download_image(struct MHD_Connection *c,
				      struct srv_http *h, sqlite3 *db,
				      int64_t id)
{
	const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							"Range");
	struct MHD_Response *r;
	struct rf_error err;
	struct stat sb;
	char *path = NULL, hdr[96];
	uint64_t start = 0, end;
	enum MHD_Result ret;
	int rc, fd, status = 200;

	rf_error_clear(&err);
	rc = srv_job_image_path(h->cfg->jobs, db, id, &path, &err);
	if (rc < 0)
		return send_error(c, rc == -EAGAIN ? 409 : status_of(rc),
				  err.msg);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		if (fd >= 0)
			close(fd);
		return send_error(c, 500, "cannot open the image");
	}
	end = sb.st_size > 0 ? (uint64_t)sb.st_size - 1 : 0;
	if (range != NULL) {
		unsigned long long a, b;
		int used = 0;

		if (sscanf(range, "bytes=%llu-%n", &a, &used) != 1 ||
		    used == 0) {
			close(fd);
			return send_error(c, 400, "Range: bytes=START- or "
					  "bytes=START-END");
		}
		if (range[used] != '\0') {
			char *e;

			b = strtoull(range + used, &e, 10);
			if (*e != '\0' || b < a) {
				close(fd);
				return send_error(c, 400, "Range: bytes=START- "
						  "or bytes=START-END");
			}
			if (b < end)
				end = b;
		}
		if (a >= (uint64_t)sb.st_size) {
			r = MHD_create_response_from_buffer(0, "",
							    MHD_RESPMEM_PERSISTENT);
			snprintf(hdr, sizeof(hdr), "bytes */%llu",
				 (unsigned long long)sb.st_size);
			MHD_add_response_header(r, "Content-Range", hdr);
			ret = MHD_queue_response(c, 416, r);
			MHD_destroy_response(r);
			close(fd);
			return ret;
		}
		start = a;
		status = 206;
	}
	raise_deadline(h, c);
	r = MHD_create_response_from_fd_at_offset64(
		sb.st_size > 0 ? end - start + 1 : 0, fd, start);
	if (r == NULL) {
		close(fd);
		return send_error(c, 500, "cannot send the image");
	}
	MHD_add_response_header(r, "Content-Type", "application/octet-stream");
	MHD_add_response_header(r, "Accept-Ranges", "bytes");
	if (status == 206) {
		snprintf(hdr, sizeof(hdr), "bytes %llu-%llu/%llu",
			 (unsigned long long)start, (unsigned long long)end,
			 (unsigned long long)sb.st_size);
		MHD_add_response_header(r, "Content-Range", hdr);
	}
	ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result image_route(struct MHD_Connection *c,
				   struct srv_http *h, struct request *rq,
				   const char *rest, const char *method)
{
	struct rf_error err;
	int64_t id;
	int rc;

	rf_error_clear(&err);
	if (h->cfg->jobs == NULL)
		return send_error(c, 503, "image jobs are not enabled");
	if (*rest == '\0') {
		if (strcmp(method, "GET") == 0)
			return list_images(c, rq->db);
		if (strcmp(method, "POST") == 0) {
			rq->kind = REQ_JSON;
			rq->json_end = create_image;
			return MHD_YES;
		}
		return send_error(c, 405, "GET or POST");
	}
	if (*rest != '/' || !parse_id(rest + 1, &id, &rest))
		return send_error(c, 404, "no such route");
	if (*rest == '\0') {
		if (strcmp(method, "GET") == 0)
			return show_image(c, h, rq->db, id);
		if (strcmp(method, "DELETE") != 0)
			return send_error(c, 405, "GET or DELETE");
		rc = srv_job_delete(h->cfg->jobs, rq->db, id, &err);
		if (rc < 0)
			return send_error(c, status_of(rc), err.msg);
		return send_json(c, 200,
				 json_pack("{s:I}", "deleted", (json_int_t)id),
				 0, false);
	}
	if (strcmp(rest, "/cancel") == 0) {
		if (strcmp(method, "POST") != 0)
			return send_error(c, 405, "POST");
		rc = srv_job_cancel(h->cfg->jobs, rq->db, id, &err);
		if (rc < 0)
			return send_error(c, status_of(rc), err.msg);
		return send_json(c, 200,
				 json_pack("{s:I,s:s}", "id", (json_int_t)id,
					   "state", "cancelled"),
				 0, false);
	}
	if (strcmp(rest, "/file") == 0) {
		if (strcmp(method, "GET") != 0)
			return send_error(c, 405, "GET");
		return download_image(c, h, rq->db, id);
	}
	return send_error(c, 404, "no such route");
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
	if (strncmp(url, "/api/v1/repos", 13) == 0)
		return repo_route(c, h, rq, url + 13, method);
	if (strncmp(url, "/api/v1/images", 14) == 0)
		return image_route(c, h, rq, url + 14, method);
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
	if (strcmp(rest, "/repositories") == 0) {
		if (strcmp(method, "GET") != 0)
			return send_error(c, 405, "GET");
		return scan_repositories(c, rq->db, id);
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
	/* the grace: a connection's first seconds are its slowest (TLS) */
	return h->cfg->min_rate > 0 && secs >= h->cfg->min_rate_grace &&
	       secs > 0 &&
	       rq->received / secs < h->cfg->min_rate;
}

/*
 * An answer decided while the body is still coming. libmicrohttpd 0.9
 * refuses to queue a response in the middle of a body (MHD_queue_response
 * fails there, and the connection was dropped with no answer at all: a
 * full disk looked like a broken network to the client, which retried
 * until it gave up). So the answer waits: the rest of the body is read
 * and dropped, and the answer goes when it has ended.
 */
static enum MHD_Result defer(struct request *rq, int status, json_t *body,
			     uint64_t offset, bool with_offset)
{
	rq->kind = REQ_DONE;
	rq->status = status;
	json_decref(rq->answer);
	rq->answer = body;
	rq->answer_offset = offset;
	rq->answer_with_offset = with_offset;
	return MHD_YES;
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
			*size = 0;
			return defer(rq, 413, error_body("the report is larger "
				     "than the server accepts"), 0, false);
		}
		rc = srv_object_write(rq->w, data, *size, &err);
		if (rc < 0) {
			srv_object_abort(rq->w);
			rq->w = NULL;
			srv_gc_unlock();
			*size = 0;
			return defer(rq, status_of(rc), error_body(err.msg), 0,
				     false);
		}
	} else if (rq->kind == REQ_JSON) {
		if (rq->body.len + *size > SRV_MAX_JSON_BODY) {
			*size = 0;
			return defer(rq, 413, error_body("the body is larger "
				     "than the server accepts"), 0, false);
		}
		rf_buf_add(&rq->body, data, *size);
	} else if (rq->kind == REQ_OVERLAY) {
		rc = srv_upload_append(rq->up, data, *size, &err);
		if (rc < 0) {
			bool done;
			uint64_t off;
			struct rf_error ignored;

			srv_upload_end(rq->up, false, &done, &off, &ignored);
			rq->up = NULL;
			*size = 0;
			return defer(rq, status_of(rc), error_body(err.msg),
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
	if (rq->kind == REQ_JSON)
		return rq->json_end != NULL ? rq->json_end(c, h, rq)
					    : add_repo(c, h, rq);
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
		if (*size == 0 && rq->answer != NULL) {
			json_t *a = rq->answer;

			rq->answer = NULL;
			return send_json(c, rq->status, a, rq->answer_offset,
					 rq->answer_with_offset);
		}
		*size = 0; /* an answer is decided: the rest is dropped */
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
		((struct tracked *)ci->socket_context)->extra_ns = 0;
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
	srv_repo_free(rq->repo);
	json_decref(rq->answer);
	sqlite3_close(rq->db);
	free(rq->name);
	rf_buf_free(&rq->body);
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
			if (!t->cut && now - t->start_ns > limit + t->extra_ns) {
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
	{
		struct rf_buf b = RF_BUF_INIT;

		rf_buf_printf(&b, "%s/repo-cache", cfg->data);
		h->repo_cache = rf_buf_detach(&b);
		rf_buf_printf(&b, "%s/repo-keyrings", cfg->data);
		h->keyring_dir = rf_buf_detach(&b);
	}
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
	free(h->repo_cache);
	free(h->keyring_dir);
	free(h);
}

unsigned srv_http_port(struct srv_http *h)
{
	const union MHD_DaemonInfo *i =
		MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);

	return i != NULL ? (unsigned)i->port : 0;
}

unsigned srv_http_connections(struct srv_http *h)
{
	unsigned n = 0;

	pthread_mutex_lock(&h->track_lock);
	for (struct tracked *t = h->conns; t != NULL; t = t->next)
		n++;
	pthread_mutex_unlock(&h->track_lock);
	return n;
}
