/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Repositories: definitions and index in SQLite, the registry of kinds,
 * fetching over file:// and http(s):// with conditional requests, gpgv,
 * reconciliation of a scan's packages and the package cache. See repo.h.
 */
#include "config.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "repo_private.h"

extern char **environ;

static const struct srv_repo_kind *const kinds[] = {
	&srv_repo_kind_deb,
	&srv_repo_kind_rpmmd,
	&srv_repo_kind_pacman,
};

const struct srv_repo_kind *srv_repo_kind_by_name(const char *name)
{
	for (size_t i = 0; name && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kinds[i]->name, name) == 0)
			return kinds[i];
	return NULL;
}

struct srv_repo {
	sqlite3 *db;
	char *cache_dir;
	char *gpgv;
	long connect_timeout, transfer_timeout;
	uint64_t max_metadata;
	sqlite3_stmt *lookup; /* reconciliation's one query */
	unsigned tmp_counter;
	void (*write_lock)(void), (*write_unlock)(void);
};

static void write_lock(struct srv_repo *r);
static void write_unlock(struct srv_repo *r);
static int step_write(struct srv_repo *r, sqlite3_stmt *st);

/* An index being built: rows of offsets into one string buffer. */
enum {
	COL_NAME,
	COL_EVR,
	COL_EPOCH,
	COL_VERSION,
	COL_RELEASE,
	COL_ARCH,
	COL_ALGO,
	COL_SUM,
	COL_LOC,
	NCOLS
};

struct row {
	size_t off[NCOLS];
	int64_t size;
};

struct srv_repo_rctx {
	struct srv_repo *r;
	struct srv_repo_def def;
	int64_t id;
	char *old_meta, *new_meta;
	struct srv_repo_refresh_stats *stats;
	struct rf_buf strings;
	struct row *rows;
	size_t n, cap;
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS repo_source ("
	" id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	" kind TEXT NOT NULL, url TEXT NOT NULL, suite TEXT,"
	" components TEXT, arch TEXT, keyring TEXT, meta_id TEXT,"
	" refreshed INTEGER NOT NULL DEFAULT 0, last_error TEXT);"
	"CREATE TABLE IF NOT EXISTS repo_pkg ("
	" repo_id INTEGER NOT NULL, name TEXT NOT NULL, evr TEXT NOT NULL,"
	" arch TEXT NOT NULL, epoch TEXT, version TEXT NOT NULL,"
	" release TEXT, size INTEGER, algo TEXT NOT NULL,"
	" checksum TEXT NOT NULL, location TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS repo_pkg_key"
	" ON repo_pkg (name, arch, evr);"
	"CREATE INDEX IF NOT EXISTS repo_pkg_repo ON repo_pkg (repo_id);"
	"CREATE TABLE IF NOT EXISTS repo_http ("
	" url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT,"
	" file TEXT NOT NULL);";

static int db_error(struct srv_repo *r, struct rf_error *err, const char *what)
{
	return rf_error_set(err, -EIO, "database: %s: %s", what,
			    sqlite3_errmsg(r->db));
}

static int mkdir_p(const char *path, struct rf_error *err)
{
	char *copy = rf_xstrdup(path);
	int rc = 0;

	for (char *p = copy + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(copy, 0755) < 0 && errno != EEXIST) {
				rc = rf_error_errno(err, -errno,
						    "cannot create %s", copy);
				break;
			}
			*p = c;
			if (c == '\0')
				break;
		}
	}
	free(copy);
	return rc;
}

int srv_repo_open(sqlite3 *db, const struct srv_repo_config *cfg,
		  struct srv_repo **out, struct rf_error *err)
{
	struct srv_repo *r = rf_xcalloc(1, sizeof(*r));
	struct rf_buf b = RF_BUF_INIT;
	char *msg = NULL;
	int rc;

	*out = NULL;
	r->db = db;
	if (cfg->cache_dir == NULL) {
		rc = rf_error_set(err, -EINVAL, "no cache directory");
		goto out;
	}
	r->cache_dir = rf_xstrdup(cfg->cache_dir);
	r->gpgv = rf_xstrdup(cfg->gpgv ? cfg->gpgv : "gpgv");
	r->connect_timeout = cfg->connect_timeout ? cfg->connect_timeout : 15;
	r->transfer_timeout =
		cfg->transfer_timeout ? cfg->transfer_timeout : 600;
	r->max_metadata = cfg->max_metadata ? cfg->max_metadata : 2ULL << 30;
	r->write_lock = cfg->write_lock;
	r->write_unlock = cfg->write_unlock;
	for (const char *sub = "meta\0packages\0gnupg\0"; *sub;
	     sub += strlen(sub) + 1) {
		rf_buf_reset(&b);
		rf_buf_printf(&b, "%s/%s", r->cache_dir, sub);
		rc = mkdir_p(b.data, err);
		if (rc)
			goto out;
	}
	chmod(b.data, 0700); /* gnupg: gpgv wants a private home */
	write_lock(r);
	rc = sqlite3_exec(db, schema, NULL, NULL, &msg);
	write_unlock(r);
	if (rc != SQLITE_OK) {
		rc = rf_error_set(err, -EIO,
				  "database: cannot create the "
				  "repository tables: %s",
				  msg);
		goto out;
	}
	if (sqlite3_prepare_v2(db,
			       "SELECT 1 FROM repo_pkg WHERE name = ?1"
			       " AND arch = ?2 AND evr = ?3 LIMIT 1",
			       -1, &r->lookup, NULL) != SQLITE_OK) {
		rc = db_error(r, err, "prepare");
		goto out;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	*out = r;
	r = NULL;
	rc = 0;
out:
	sqlite3_free(msg);
	rf_buf_free(&b);
	srv_repo_free(r);
	return rc;
}

void srv_repo_free(struct srv_repo *r)
{
	if (r == NULL)
		return;
	sqlite3_finalize(r->lookup);
	free(r->cache_dir);
	free(r->gpgv);
	free(r);
}

void srv_repo_def_clear(struct srv_repo_def *def)
{
	free(def->name);
	free(def->kind);
	free(def->url);
	free(def->suite);
	free(def->components);
	free(def->arch);
	free(def->keyring);
	free(def->origin);
	memset(def, 0, sizeof(*def));
}

static char *dup0(const char *s)
{
	return s ? rf_xstrdup(s) : NULL;
}

static void def_copy(struct srv_repo_def *dst, const struct srv_repo_def *src)
{
	dst->name = dup0(src->name);
	dst->kind = dup0(src->kind);
	dst->url = dup0(src->url);
	dst->suite = dup0(src->suite);
	dst->components = dup0(src->components);
	dst->arch = dup0(src->arch);
	dst->keyring = dup0(src->keyring);
	dst->enabled = src->enabled;
	dst->origin = dup0(src->origin);
}

void srv_repo_deflist_add(struct srv_repo_deflist *list,
			  const struct srv_repo_def *def)
{
	if (list->n == list->cap) {
		list->cap = list->cap ? 2 * list->cap : 8;
		list->defs = rf_xrealloc(list->defs,
					 list->cap * sizeof(*list->defs));
	}
	memset(&list->defs[list->n], 0, sizeof(list->defs[0]));
	def_copy(&list->defs[list->n++], def);
}

void srv_repo_deflist_free(struct srv_repo_deflist *list)
{
	for (size_t i = 0; i < list->n; i++)
		srv_repo_def_clear(&list->defs[i]);
	free(list->defs);
	memset(list, 0, sizeof(*list));
}

int srv_repo_evr(const char *epoch, const char *version, const char *release,
		 char *out, size_t size)
{
	const char *e = epoch, *v = version ? version : "";
	size_t elen;
	int n;

	if (e == NULL || *e == '\0') {
		const char *c = v;

		while (isdigit((unsigned char)*c))
			c++;
		if (*c == ':' && c != v) {
			e = v;
			elen = c - v;
			v = c + 1;
		} else {
			e = "0";
			elen = 1;
		}
	} else {
		elen = strlen(e);
	}
	/* "00" and "0" are the same epoch */
	while (elen > 1 && *e == '0' && isdigit((unsigned char)e[1]))
		e++, elen--;
	if (release && *release)
		n = snprintf(out, size, "%.*s:%s-%s", (int)elen, e, v, release);
	else
		n = snprintf(out, size, "%.*s:%s", (int)elen, e, v);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static bool name_ok(const char *name)
{
	if (name == NULL || *name == '\0' || *name == '.' || strlen(name) > 128)
		return false;
	for (const char *c = name; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '.' && *c != '_' &&
		    *c != '-')
			return false;
	return true;
}

static bool url_ok(const char *url)
{
	if (url == NULL)
		return false;
	for (const char *c = url; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return false;
	return strncmp(url, "file:///", 8) == 0 ||
	       strncmp(url, "http://", 7) == 0 ||
	       strncmp(url, "https://", 8) == 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? rf_xstrdup((const char *)s) : NULL;
}

int srv_repo_add(struct srv_repo *r, const struct srv_repo_def *in,
		 struct rf_error *err)
{
	const struct srv_repo_kind *kind = srv_repo_kind_by_name(in->kind);
	struct srv_repo_def def = {0};
	sqlite3_stmt *st = NULL;
	int rc;

	def_copy(&def, in);
	if (!name_ok(def.name)) {
		rc = rf_error_set(err, -EINVAL,
				  "bad repository name '%s': letters, digits, "
				  "'.', '_' and '-' only",
				  def.name ? def.name : "");
		goto out;
	}
	if (kind == NULL) {
		rc = rf_error_set(err, -EINVAL,
				  "unknown repository kind '%s' (deb, rpm-md "
				  "or pacman)",
				  def.kind ? def.kind : "");
		goto out;
	}
	if (!url_ok(def.url)) {
		rc = rf_error_set(err, -EINVAL,
				  "bad URL '%s': file:///PATH, http:// or "
				  "https://",
				  def.url ? def.url : "");
		goto out;
	}
	if (def.keyring && def.keyring[0] != '/') {
		rc = rf_error_set(err, -EINVAL,
				  "keyring '%s': give an absolute path",
				  def.keyring);
		goto out;
	}
	if (def.keyring && access(def.keyring, R_OK) < 0) {
		rc = rf_error_errno(err, -errno, "keyring %s", def.keyring);
		goto out;
	}
	rc = kind->prepare(&def, err);
	if (rc)
		goto out;
	if (sqlite3_prepare_v2(r->db,
			       "INSERT INTO repo_source (name, kind, url,"
			       " suite, components, arch, keyring)"
			       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = db_error(r, err, "prepare");
		goto out;
	}
	bind_text(st, 1, def.name);
	bind_text(st, 2, kind->name);
	bind_text(st, 3, def.url);
	bind_text(st, 4, def.suite);
	bind_text(st, 5, def.components);
	bind_text(st, 6, def.arch);
	bind_text(st, 7, def.keyring);
	rc = step_write(r, st);
	if (rc == SQLITE_CONSTRAINT) {
		rc = rf_error_set(err, -EEXIST,
				  "a repository named '%s' exists", def.name);
		goto out;
	}
	if (rc != SQLITE_DONE) {
		rc = db_error(r, err, "add");
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	srv_repo_def_clear(&def);
	return rc;
}

static int exec(struct srv_repo *r, const char *sql, struct rf_error *err)
{
	if (sqlite3_exec(r->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_error(r, err, sql);
	return 0;
}

static void write_lock(struct srv_repo *r)
{
	if (r->write_lock != NULL)
		r->write_lock();
}

static void write_unlock(struct srv_repo *r)
{
	if (r->write_unlock != NULL)
		r->write_unlock();
}

/* One statement that writes, in its turn. */
static int step_write(struct srv_repo *r, sqlite3_stmt *st)
{
	int rc;

	write_lock(r);
	rc = sqlite3_step(st);
	write_unlock(r);
	return rc;
}

/* A write transaction: the lock first, released when it ends. */
static int begin_write(struct srv_repo *r, struct rf_error *err)
{
	int rc;

	write_lock(r);
	rc = exec(r, "BEGIN IMMEDIATE", err);
	if (rc)
		write_unlock(r);
	return rc;
}

static int end_write(struct srv_repo *r, int rc, struct rf_error *err)
{
	if (rc == 0)
		rc = exec(r, "COMMIT", err);
	if (rc)
		sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
	write_unlock(r);
	return rc;
}

int srv_repo_remove(struct srv_repo *r, const char *name, struct rf_error *err)
{
	sqlite3_stmt *st = NULL;
	int64_t id = -1;
	int rc;

	rc = begin_write(r, err);
	if (rc)
		return rc;
	if (sqlite3_prepare_v2(r->db,
			       "SELECT id FROM repo_source WHERE name = ?1", -1,
			       &st, NULL) != SQLITE_OK) {
		rc = db_error(r, err, "prepare");
		goto out;
	}
	bind_text(st, 1, name);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (id < 0) {
		rc = rf_error_set(err, -ENOENT, "no repository named '%s'",
				  name);
		goto out;
	}
	for (const char *sql = "DELETE FROM repo_pkg WHERE repo_id = ?1\0"
			       "DELETE FROM repo_source WHERE id = ?1\0";
	     *sql; sql += strlen(sql) + 1) {
		if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) !=
		    SQLITE_OK) {
			rc = db_error(r, err, "prepare");
			goto out;
		}
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = db_error(r, err, "remove");
			goto out;
		}
		sqlite3_finalize(st);
		st = NULL;
	}
out:
	sqlite3_finalize(st);
	return end_write(r, rc, err);
}

int srv_repo_list(struct srv_repo *r, struct srv_repo_info **out, size_t *n,
		  struct rf_error *err)
{
	sqlite3_stmt *st = NULL;
	struct srv_repo_info *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc, s;

	*out = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(r->db,
			       "SELECT name, kind, url, suite, components,"
			       " arch, keyring, refreshed, last_error,"
			       " (SELECT count(*) FROM repo_pkg p"
			       "  WHERE p.repo_id = s.id)"
			       " FROM repo_source s ORDER BY name",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = db_error(r, err, "prepare");
		goto out;
	}
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		struct srv_repo_info *i;

		if (cnt == cap) {
			cap = cap ? 2 * cap : 8;
			v = rf_xrealloc(v, cap * sizeof(*v));
		}
		i = &v[cnt++];
		memset(i, 0, sizeof(*i));
		i->def.name = col_dup(st, 0);
		i->def.kind = col_dup(st, 1);
		i->def.url = col_dup(st, 2);
		i->def.suite = col_dup(st, 3);
		i->def.components = col_dup(st, 4);
		i->def.arch = col_dup(st, 5);
		i->def.keyring = col_dup(st, 6);
		i->def.enabled = true;
		i->refreshed = sqlite3_column_int64(st, 7);
		i->last_error = col_dup(st, 8);
		i->packages = sqlite3_column_int64(st, 9);
	}
	if (s != SQLITE_DONE) {
		rc = db_error(r, err, "list");
		goto out;
	}
	*out = v;
	*n = cnt;
	v = NULL;
	cnt = 0;
	rc = 0;
out:
	sqlite3_finalize(st);
	srv_repo_info_free(v, cnt);
	return rc;
}

void srv_repo_info_free(struct srv_repo_info *info, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		srv_repo_def_clear(&info[i].def);
		free(info[i].last_error);
	}
	free(info);
}

/* The refresh context, as the kinds see it. */

const struct srv_repo_def *srv_repo_ctx_def(struct srv_repo_rctx *ctx)
{
	return &ctx->def;
}

uint64_t srv_repo_ctx_max(struct srv_repo_rctx *ctx)
{
	return ctx->r->max_metadata;
}

bool srv_repo_meta_seen(struct srv_repo_rctx *ctx, const char *sha256_hex)
{
	free(ctx->new_meta);
	ctx->new_meta = rf_xstrdup(sha256_hex);
	return ctx->old_meta && strcmp(ctx->old_meta, sha256_hex) == 0;
}

static size_t put(struct srv_repo_rctx *ctx, const char *s)
{
	size_t off = ctx->strings.len;

	rf_buf_add(&ctx->strings, s ? s : "", s ? strlen(s) + 1 : 1);
	return off;
}

int srv_repo_emit(void *arg, const struct srv_repo_pkg *p, struct rf_error *err)
{
	struct srv_repo_rctx *ctx = arg;
	char evr[1024];
	struct row *row;

	if (srv_repo_evr(p->epoch, p->version, p->release, evr, sizeof(evr)))
		return rf_error_set(err, -EBADMSG, "%s: version too long",
				    p->name);
	if (ctx->n == ctx->cap) {
		ctx->cap = ctx->cap ? 2 * ctx->cap : 1024;
		ctx->rows =
			rf_xrealloc(ctx->rows, ctx->cap * sizeof(*ctx->rows));
	}
	row = &ctx->rows[ctx->n++];
	row->off[COL_NAME] = put(ctx, p->name);
	row->off[COL_EVR] = put(ctx, evr);
	row->off[COL_EPOCH] = put(ctx, p->epoch);
	row->off[COL_VERSION] = put(ctx, p->version);
	row->off[COL_RELEASE] = put(ctx, p->release);
	row->off[COL_ARCH] = put(ctx, p->arch);
	row->off[COL_ALGO] = put(ctx, p->algo);
	row->off[COL_SUM] = put(ctx, p->checksum);
	row->off[COL_LOC] = put(ctx, p->location);
	row->size = p->size;
	return 0;
}

char *srv_repo_tmp_path(struct srv_repo_rctx *ctx, const char *tag)
{
	struct rf_buf b = RF_BUF_INIT;

	rf_buf_printf(&b, "%s/meta/.tmp-%s-%ld-%u", ctx->r->cache_dir, tag,
		      (long)getpid(), ctx->r->tmp_counter++);
	return rf_buf_detach(&b);
}

/* Fetching. */

struct transfer {
	FILE *f;
	uint64_t got, max;
	char *etag, *last_modified;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;

	t->got += n;
	if (t->got > t->max)
		return 0; /* aborts: CURLE_WRITE_ERROR */
	return fwrite(p, size, n, t->f);
}

static char *header_value(const char *p, size_t n, const char *name)
{
	size_t l = strlen(name);
	const char *v, *end = p + n;

	if (n <= l + 1 || strncasecmp(p, name, l) != 0 || p[l] != ':')
		return NULL;
	v = p + l + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	return rf_xstrndup(v, end - v);
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	char *v;

	/* a redirect's headers come first: keep the last response's */
	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		free(t->etag);
		free(t->last_modified);
		t->etag = t->last_modified = NULL;
	}
	if ((v = header_value(p, n, "ETag"))) {
		free(t->etag);
		t->etag = v;
	} else if ((v = header_value(p, n, "Last-Modified"))) {
		free(t->last_modified);
		t->last_modified = v;
	}
	return n;
}

static char *url_join(const char *base, const char *rel)
{
	static const char keep[] = "/-._~+:@!$&'()*,;=";
	struct rf_buf b = RF_BUF_INIT;
	bool file = strncmp(base, "file://", 7) == 0;

	rf_buf_addstr(&b, base);
	if (b.len && b.data[b.len - 1] != '/')
		rf_buf_addch(&b, '/');
	for (const char *c = rel; *c; c++) {
		if (file || isalnum((unsigned char)*c) || strchr(keep, *c))
			rf_buf_addch(&b, *c);
		else
			rf_buf_printf(&b, "%%%02X", (unsigned char)*c);
	}
	return rf_buf_detach(&b);
}

/*
 * Downloads url to path (through a temporary file renamed at the end).
 * With etag/last_modified, asks for it only if changed: *modified is then
 * false when the server answered 304 and path was left alone.
 */
static int download(struct srv_repo *r, const char *url, const char *path,
		    uint64_t max, const char *etag, const char *last_modified,
		    struct transfer *t, bool *modified,
		    struct srv_repo_refresh_stats *stats, struct rf_error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	struct rf_buf tmp = RF_BUF_INIT, h = RF_BUF_INIT;
	CURL *c = curl_easy_init();
	long code = 0;
	CURLcode cc;
	int rc;

	*modified = true;
	rf_buf_printf(&tmp, "%s.part-%ld", path, (long)getpid());
	t->f = fopen(tmp.data, "wbe");
	t->max = max;
	if (t->f == NULL) {
		rc = rf_error_errno(err, -errno, "cannot create %s", tmp.data);
		goto out;
	}
	if (c == NULL) {
		rc = rf_error_set(err, -ENOMEM, "curl_easy_init failed");
		goto out;
	}
	if (etag) {
		rf_buf_printf(&h, "If-None-Match: %s", etag);
		hdrs = curl_slist_append(hdrs, h.data);
		rf_buf_reset(&h);
	}
	if (last_modified) {
		rf_buf_printf(&h, "If-Modified-Since: %s", last_modified);
		hdrs = curl_slist_append(hdrs, h.data);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS,
			 CURLPROTO_HTTP | CURLPROTO_HTTPS | CURLPROTO_FILE);
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS,
			 CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, r->connect_timeout);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, r->transfer_timeout);
	/* no progress for a minute is a dead transfer */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "reforge/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (cc == CURLE_WRITE_ERROR && t->got > t->max) {
		rc = rf_error_set(err, -EFBIG, "%s: larger than %llu bytes",
				  url, (unsigned long long)max);
		goto out;
	}
	if (cc == CURLE_FILE_COULDNT_READ_FILE ||
	    (cc == CURLE_OK && (code == 404 || code == 410))) {
		rc = rf_error_set(err, -ENOENT, "%s: not found", url);
		goto out;
	}
	if (cc != CURLE_OK) {
		rc = rf_error_set(
			err,
			cc == CURLE_COULDNT_CONNECT ||
					cc == CURLE_COULDNT_RESOLVE_HOST
				? -EHOSTUNREACH
			: cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
							 : -EIO,
			"cannot fetch %s: %s", url,
			errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	if (code == 304 && (etag || last_modified)) {
		*modified = false;
		if (stats)
			stats->not_modified++;
		rc = 0;
		goto out;
	}
	if (strncmp(url, "file:", 5) != 0 && code != 200) {
		rc = rf_error_set(err, -EIO, "cannot fetch %s: HTTP status %ld",
				  url, code);
		goto out;
	}
	if (fflush(t->f) != 0 || fsync(fileno(t->f)) < 0) {
		rc = rf_error_errno(err, -errno, "cannot write %s", tmp.data);
		goto out;
	}
	if (rename(tmp.data, path) < 0) {
		rc = rf_error_errno(err, -errno, "cannot rename %s", tmp.data);
		goto out;
	}
	if (stats && strncmp(url, "file:", 5) != 0) {
		stats->fetched++;
		stats->downloaded += t->got;
	}
	rc = 0;
out:
	if (t->f)
		fclose(t->f);
	t->f = NULL;
	unlink(tmp.data);
	rf_buf_free(&tmp);
	rf_buf_free(&h);
	curl_slist_free_all(hdrs);
	if (c)
		curl_easy_cleanup(c);
	return rc;
}

int srv_repo_get(struct srv_repo_rctx *ctx, const char *relpath, char **path,
		 struct rf_error *err)
{
	struct srv_repo *r = ctx->r;
	struct transfer t = {0};
	struct rf_buf b = RF_BUF_INIT;
	sqlite3_stmt *st = NULL;
	char *url = url_join(ctx->def.url, relpath);
	char *etag = NULL, *lm = NULL, *file = NULL, hex[65];
	unsigned char s256[32];
	bool modified;
	struct stat sb;
	int rc;

	*path = NULL;
	if (strncmp(url, "file://", 7) == 0) {
		/* a local mirror: read in place */
		if (stat(url + 7, &sb) < 0) {
			rc = errno == ENOENT || errno == ENOTDIR
				     ? rf_error_set(err, -ENOENT,
						    "%s: not found", url)
				     : rf_error_errno(err, -errno, "%s",
						      url + 7);
			goto out;
		}
		if (!S_ISREG(sb.st_mode)) {
			rc = rf_error_set(err, -EINVAL,
					  "%s is not a regular file", url);
			goto out;
		}
		*path = rf_xstrdup(url + 7);
		rc = 0;
		goto out;
	}
	rf_sha256(url, strlen(url), s256);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", s256[i]);
	rf_buf_printf(&b, "%s/meta/%s", r->cache_dir, hex);
	file = rf_buf_detach(&b);
	if (access(file, R_OK) == 0 &&
	    sqlite3_prepare_v2(r->db,
			       "SELECT etag, last_modified FROM repo_http"
			       " WHERE url = ?1",
			       -1, &st, NULL) == SQLITE_OK) {
		bind_text(st, 1, url);
		if (sqlite3_step(st) == SQLITE_ROW) {
			etag = col_dup(st, 0);
			lm = col_dup(st, 1);
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	rc = download(r, url, file, r->max_metadata, etag, lm, &t, &modified,
		      ctx->stats, err);
	if (rc)
		goto out;
	if (modified) {
		/* remember the validators of what is now in the cache */
		if (sqlite3_prepare_v2(r->db,
				       "INSERT OR REPLACE INTO repo_http"
				       " (url, etag, last_modified, file)"
				       " VALUES (?1, ?2, ?3, ?4)",
				       -1, &st, NULL) != SQLITE_OK) {
			rc = db_error(r, err, "prepare");
			goto out;
		}
		bind_text(st, 1, url);
		bind_text(st, 2, t.etag);
		bind_text(st, 3, t.last_modified);
		bind_text(st, 4, file);
		if (step_write(r, st) != SQLITE_DONE) {
			rc = db_error(r, err, "remember a transfer");
			goto out;
		}
	}
	*path = file;
	file = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	free(t.etag);
	free(t.last_modified);
	free(etag);
	free(lm);
	free(file);
	free(url);
	return rc;
}

int srv_repo_gpgv(struct srv_repo_rctx *ctx, const char *sig, const char *data,
		  const char *out, struct rf_error *err)
{
	struct srv_repo *r = ctx->r;
	struct rf_buf home = RF_BUF_INIT;
	char *errfile = srv_repo_tmp_path(ctx, "gpgv");
	const char *argv[12];
	posix_spawn_file_actions_t fa;
	char msg[512] = "";
	int n = 0, status = 0, rc, fd;
	pid_t pid;

	rf_buf_printf(&home, "%s/gnupg", r->cache_dir);
	argv[n++] = r->gpgv;
	argv[n++] = "--homedir";
	argv[n++] = home.data;
	argv[n++] = "--keyring";
	argv[n++] = ctx->def.keyring;
	if (out) {
		argv[n++] = "--output";
		argv[n++] = out;
	}
	argv[n++] = "--";
	if (sig)
		argv[n++] = sig;
	argv[n++] = data;
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, errfile,
					 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	rc = posix_spawnp(&pid, r->gpgv, &fa, NULL, (char *const *)argv,
			  environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		rc = rf_error_errno(err, -rc, "cannot run %s", r->gpgv);
		goto out;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	fd = open(errfile, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t got = read(fd, msg, sizeof(msg) - 1);
		char *nl;

		msg[got > 0 ? got : 0] = '\0';
		/* the verdict is on gpgv's last line */
		while ((nl = strrchr(msg, '\n')) && nl[1] == '\0')
			*nl = '\0';
		close(fd);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		const char *last = strrchr(msg, '\n');

		rc = rf_error_set(err, -EBADMSG,
				  "%s: bad or unknown signature on %s "
				  "(keyring %s): %s",
				  ctx->def.name, data, ctx->def.keyring,
				  last ? last + 1 : msg);
		goto out;
	}
	rc = 0;
out:
	unlink(errfile);
	free(errfile);
	rf_buf_free(&home);
	return rc;
}

/* Refresh. */

static int load_def(struct srv_repo *r, const char *name,
		    struct srv_repo_rctx *ctx, struct rf_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(r->db,
			       "SELECT id, kind, url, suite, components, arch,"
			       " keyring, meta_id FROM repo_source"
			       " WHERE name = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return db_error(r, err, "prepare");
	bind_text(st, 1, name);
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = rf_error_set(err, -ENOENT, "no repository named '%s'",
				  name);
		goto out;
	}
	ctx->id = sqlite3_column_int64(st, 0);
	ctx->def.name = rf_xstrdup(name);
	ctx->def.kind = col_dup(st, 1);
	ctx->def.url = col_dup(st, 2);
	ctx->def.suite = col_dup(st, 3);
	ctx->def.components = col_dup(st, 4);
	ctx->def.arch = col_dup(st, 5);
	ctx->def.keyring = col_dup(st, 6);
	ctx->old_meta = col_dup(st, 7);
	ctx->def.enabled = true;
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

static int replace_index(struct srv_repo_rctx *ctx, bool rows,
			 struct rf_error *err)
{
	struct srv_repo *r = ctx->r;
	sqlite3_stmt *del = NULL, *ins = NULL, *upd = NULL;
	int rc;

	rc = begin_write(r, err);
	if (rc)
		return rc;
	if (sqlite3_prepare_v2(r->db, "DELETE FROM repo_pkg WHERE repo_id = ?1",
			       -1, &del, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(r->db,
			       "INSERT INTO repo_pkg (repo_id, name, evr,"
			       " epoch, version, release, arch, algo,"
			       " checksum, location, size) VALUES (?1, ?2,"
			       " ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
			       -1, &ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(r->db,
			       "UPDATE repo_source SET meta_id = ?2,"
			       " refreshed = ?3, last_error = NULL"
			       " WHERE id = ?1",
			       -1, &upd, NULL) != SQLITE_OK) {
		rc = db_error(r, err, "prepare");
		goto out;
	}
	if (rows) {
		sqlite3_bind_int64(del, 1, ctx->id);
		if (sqlite3_step(del) != SQLITE_DONE) {
			rc = db_error(r, err, "clear the old index");
			goto out;
		}
		for (size_t i = 0; i < ctx->n; i++) {
			const struct row *row = &ctx->rows[i];

			sqlite3_reset(ins);
			sqlite3_bind_int64(ins, 1, ctx->id);
			for (int c = 0; c < NCOLS; c++) {
				const char *s = ctx->strings.data + row->off[c];

				if (*s == '\0' &&
				    (c == COL_EPOCH || c == COL_RELEASE))
					sqlite3_bind_null(ins, 2 + c);
				else
					sqlite3_bind_text(ins, 2 + c, s, -1,
							  SQLITE_STATIC);
			}
			if (row->size >= 0)
				sqlite3_bind_int64(ins, 11, row->size);
			else
				sqlite3_bind_null(ins, 11);
			if (sqlite3_step(ins) != SQLITE_DONE) {
				rc = db_error(r, err, "index a package");
				goto out;
			}
		}
	}
	sqlite3_bind_int64(upd, 1, ctx->id);
	bind_text(upd, 2, ctx->new_meta ? ctx->new_meta : ctx->old_meta);
	sqlite3_bind_int64(upd, 3, (int64_t)time(NULL));
	if (sqlite3_step(upd) != SQLITE_DONE) {
		rc = db_error(r, err, "update the repository");
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	sqlite3_finalize(upd);
	return end_write(r, rc, err);
}

static void record_error(struct srv_repo_rctx *ctx, const char *msg)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(ctx->r->db,
			       "UPDATE repo_source SET last_error = ?2"
			       " WHERE id = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(st, 1, ctx->id);
	bind_text(st, 2, msg);
	step_write(ctx->r, st); /* best effort: the caller has the error */
	sqlite3_finalize(st);
}

int srv_repo_refresh(struct srv_repo *r, const char *name, unsigned flags,
		     struct srv_repo_refresh_stats *stats, struct rf_error *err)
{
	struct srv_repo_refresh_stats dummy;
	struct srv_repo_rctx ctx = {.r = r};
	const struct srv_repo_kind *kind;
	int rc;

	if (stats == NULL)
		stats = &dummy;
	memset(stats, 0, sizeof(*stats));
	ctx.stats = stats;
	rc = load_def(r, name, &ctx, err);
	if (rc)
		goto out;
	if (flags & SRV_REPO_REFRESH_FORCE) {
		free(ctx.old_meta);
		ctx.old_meta = NULL;
	}
	kind = srv_repo_kind_by_name(ctx.def.kind);
	if (kind == NULL) {
		rc = rf_error_set(err, -EINVAL, "%s: unknown kind '%s'", name,
				  ctx.def.kind);
		goto fail;
	}
	rc = kind->refresh(&ctx, err);
	if (rc < 0)
		goto fail;
	stats->unchanged = rc == 1;
	rc = replace_index(&ctx, !stats->unchanged, err);
	if (rc)
		goto fail;
	if (stats->unchanged) {
		sqlite3_stmt *st = NULL;

		if (sqlite3_prepare_v2(r->db,
				       "SELECT count(*) FROM repo_pkg"
				       " WHERE repo_id = ?1",
				       -1, &st, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, ctx.id);
			if (sqlite3_step(st) == SQLITE_ROW)
				stats->packages = sqlite3_column_int64(st, 0);
		}
		sqlite3_finalize(st);
	} else {
		stats->packages = ctx.n;
	}
	goto out;
fail:
	rf_error_prefix(err, "refresh of '%s' failed, previous index kept",
			name);
	record_error(&ctx, err ? err->msg : "refresh failed");
out:
	srv_repo_def_clear(&ctx.def);
	free(ctx.old_meta);
	free(ctx.new_meta);
	free(ctx.rows);
	rf_buf_free(&ctx.strings);
	return rc;
}

/* Reconciliation. */

int srv_repo_reconcile(struct srv_repo *r, const struct srv_repo_query *q,
		       size_t n, bool *missing, struct rf_error *err)
{
	bool own = sqlite3_get_autocommit(r->db) != 0;
	char evr[1024];
	int rc, count = 0;

	/* one read transaction: one snapshot of every index */
	if (own) {
		rc = exec(r, "BEGIN", err);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < n; i++) {
		int s;

		missing[i] = true;
		if (q[i].name == NULL || q[i].arch == NULL ||
		    srv_repo_evr(q[i].epoch, q[i].version, q[i].release, evr,
				 sizeof(evr))) {
			count++;
			continue;
		}
		sqlite3_reset(r->lookup);
		sqlite3_bind_text(r->lookup, 1, q[i].name, -1, SQLITE_STATIC);
		sqlite3_bind_text(r->lookup, 2, q[i].arch, -1, SQLITE_STATIC);
		sqlite3_bind_text(r->lookup, 3, evr, -1, SQLITE_STATIC);
		s = sqlite3_step(r->lookup);
		if (s == SQLITE_ROW) {
			missing[i] = false;
		} else if (s == SQLITE_DONE) {
			count++;
		} else {
			rc = db_error(r, err, "look up a package");
			goto out;
		}
	}
	rc = count;
out:
	sqlite3_reset(r->lookup);
	sqlite3_clear_bindings(r->lookup);
	if (own)
		sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
	return rc;
}

/* The package cache. */

int srv_repo_fetch_package(struct srv_repo *r, const char *repo,
			   const struct srv_repo_query *pkg, char **path,
			   struct rf_error *err)
{
	sqlite3_stmt *st = NULL;
	struct rf_buf b = RF_BUF_INIT;
	struct transfer t = {0};
	char evr[1024], *rname = NULL, *url = NULL, *loc = NULL;
	char *algo = NULL, *sum = NULL, *dir = NULL, *file = NULL;
	char *first_key = NULL, *found_evr = NULL;
	const char *base;
	int64_t size = -1;
	bool modified;
	int rc, s, rows = 0;

	*path = NULL;
	if (pkg->version && srv_repo_evr(pkg->epoch, pkg->version, pkg->release,
					 evr, sizeof(evr))) {
		rc = rf_error_set(err, -EINVAL, "version too long");
		goto out;
	}
	if (sqlite3_prepare_v2(r->db,
			       "SELECT s.name, s.url, p.location, p.algo,"
			       " p.checksum, p.size, p.evr || ' ' || p.arch"
			       " FROM repo_pkg p JOIN repo_source s"
			       " ON s.id = p.repo_id WHERE p.name = ?1"
			       " AND (?2 IS NULL OR s.name = ?2)"
			       " AND (?3 IS NULL OR p.arch = ?3)"
			       " AND (?4 IS NULL OR p.evr = ?4)"
			       " ORDER BY s.id",
			       -1, &st, NULL) != SQLITE_OK) {
		rc = db_error(r, err, "prepare");
		goto out;
	}
	bind_text(st, 1, pkg->name);
	bind_text(st, 2, repo);
	bind_text(st, 3, pkg->arch);
	bind_text(st, 4, pkg->version ? evr : NULL);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 6);

		if (rows++ == 0) {
			rname = col_dup(st, 0);
			url = col_dup(st, 1);
			loc = col_dup(st, 2);
			algo = col_dup(st, 3);
			sum = col_dup(st, 4);
			size = sqlite3_column_type(st, 5) == SQLITE_NULL
				       ? -1
				       : sqlite3_column_int64(st, 5);
			first_key = rf_xstrdup(key ? key : "");
		} else if (key && strcmp(key, first_key) != 0) {
			found_evr = rf_xstrdup(key);
			break;
		}
	}
	if (s != SQLITE_DONE && s != SQLITE_ROW) {
		rc = db_error(r, err, "look up a package");
		goto out;
	}
	if (rows == 0) {
		rc = rf_error_set(err, -ENOENT, "no repository has %s%s%s%s%s",
				  pkg->name, pkg->version ? " " : "",
				  pkg->version ? evr : "", pkg->arch ? " " : "",
				  pkg->arch ? pkg->arch : "");
		goto out;
	}
	if (found_evr) {
		rc = rf_error_set(err, -EEXIST,
				  "%s: several versions (%s, %s): name the "
				  "version and architecture",
				  pkg->name, first_key, found_evr);
		goto out;
	}
	if (!srv_repo_location_ok(loc)) {
		rc = rf_error_set(err, -EBADMSG, "unsafe location '%s'", loc);
		goto out;
	}
	base = strrchr(loc, '/');
	base = base ? base + 1 : loc;
	rf_buf_printf(&b, "%s/packages/%s", r->cache_dir, rname);
	dir = rf_buf_detach(&b);
	rc = mkdir_p(dir, err);
	if (rc)
		goto out;
	rf_buf_printf(&b, "%s/%s", dir, base);
	file = rf_buf_detach(&b);
	if (access(file, F_OK) == 0) {
		rc = srv_repo_verify_file(file, size, algo, sum, NULL, err);
		if (rc == 0)
			goto done;
		/* a damaged copy: fetch it again */
		rf_error_clear(err);
		unlink(file);
	}
	free(dir);
	dir = url_join(url, loc);
	rc = download(r, dir, file, UINT64_MAX, NULL, NULL, &t, &modified, NULL,
		      err);
	free(t.etag);
	free(t.last_modified);
	if (rc == -ENOENT)
		rc = rf_error_set(err, -ENOENT,
				  "%s: the index names %s, which the "
				  "repository lacks (refresh it?)",
				  rname, dir);
	if (rc)
		goto out;
	rc = srv_repo_verify_file(file, size, algo, sum, NULL, err);
	if (rc) {
		unlink(file);
		goto out;
	}
done:
	*path = file;
	file = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	rf_buf_free(&b);
	free(rname);
	free(url);
	free(loc);
	free(algo);
	free(sum);
	free(dir);
	free(file);
	free(first_key);
	free(found_evr);
	return rc;
}
