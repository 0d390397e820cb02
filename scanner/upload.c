/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The scanner's side of the protocol (see upload.h and
 * server/srv_http.h). The overlay is produced by a thread that runs the
 * tar writer into a pipe, and libcurl's read callback takes from the
 * pipe: the writer is push, libcurl is pull, and the pipe between them
 * keeps memory bounded and makes the slower one set the pace.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <zstd.h>

#include "buf.h"
#include "overlay.h"
#include "progress.h"
#include "upload.h"

int scan_read_token(const char *path, char *out, size_t size,
		    struct rf_error *err)
{
	FILE *f = fopen(path, "r");
	size_t len;

	if (f == NULL)
		return rf_error_errno(err, -errno, "cannot read the token file "
				      "'%s'", path);
	if (fgets(out, (int)size, f) == NULL)
		out[0] = '\0';
	fclose(f);
	len = strcspn(out, " \t\r\n");
	out[len] = '\0';
	if (len == 0)
		return rf_error_set(err, -EINVAL, "the token file '%s' is "
				    "empty", path);
	return 0;
}

struct http {
	CURL *curl;
	struct curl_slist *headers;
	struct rf_buf body;       /* the response */
	long status;
};

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct rf_buf *b = ctx;

	if (b->len + size * n > (64u << 20))
		return 0; /* no answer of ours is that big */
	rf_buf_add(b, data, size * n);
	return size * n;
}

static void http_init(struct http *h, const struct scan_upload_opts *opt,
		      const char *token, const char *method,
		      const char *path)
{
	struct rf_buf s = RF_BUF_INIT;

	memset(h, 0, sizeof(*h));
	h->curl = curl_easy_init();
	rf_buf_printf(&s, "%s%s", opt->url, path);
	curl_easy_setopt(h->curl, CURLOPT_URL, s.data);
	rf_buf_reset(&s);
	rf_buf_printf(&s, "Authorization: Bearer %s", token);
	h->headers = curl_slist_append(NULL, s.data);
	rf_buf_free(&s);
	curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &h->body);
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT, 20L);
	if (opt->cacert != NULL)
		curl_easy_setopt(h->curl, CURLOPT_CAINFO, opt->cacert);
}

/* Perform; 0 when an answer came (any status), -EAGAIN when none did. */
static int http_run(struct http *h, struct rf_error *err)
{
	CURLcode c;

	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
	c = curl_easy_perform(h->curl);
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->status);
	if (c != CURLE_OK && h->status < 200)
		return rf_error_set(err, -EAGAIN, "%s", curl_easy_strerror(c));
	return 0;
}

static void http_fini(struct http *h)
{
	curl_slist_free_all(h->headers);
	curl_easy_cleanup(h->curl);
	rf_buf_free(&h->body);
}

/* The server's message in an error answer. */
static int server_error(struct http *h, struct rf_error *err, int code)
{
	json_t *j = json_loadb(h->body.data ? h->body.data : "", h->body.len,
			       0, NULL);
	const char *msg = json_string_value(json_object_get(j, "error"));
	int rc = rf_error_set(err, code, "the server answered %ld: %s",
			      h->status, msg ? msg : "(no message)");

	json_decref(j);
	return rc;
}

/* ---- the report ---- */

struct zsource {
	int fd;
	ZSTD_CCtx *cctx;
	char in[65536];
	ZSTD_inBuffer zin;
	bool eof, flushed;
	uint64_t sent;
};

static size_t report_read(char *out, size_t size, size_t n, void *ctx)
{
	struct zsource *z = ctx;
	ZSTD_outBuffer zout = {out, size * n, 0};

	while (zout.pos == 0 && !z->flushed) {
		size_t rem;

		if (z->zin.pos == z->zin.size && !z->eof) {
			ssize_t r = read(z->fd, z->in, sizeof(z->in));

			if (r < 0)
				return CURL_READFUNC_ABORT;
			z->zin.src = z->in;
			z->zin.size = (size_t)r;
			z->zin.pos = 0;
			z->eof = r == 0;
		}
		rem = ZSTD_compressStream2(z->cctx, &zout, &z->zin,
					   z->eof ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(rem))
			return CURL_READFUNC_ABORT;
		if (z->eof && rem == 0)
			z->flushed = true;
	}
	z->sent += zout.pos;
	return zout.pos;
}

static int send_report(const struct scan_upload_opts *opt, const char *token,
		       struct scan_upload_result *res, json_t **answer,
		       struct rf_error *err)
{
	struct zsource z;
	struct http h;
	char *name = NULL;
	struct rf_buf path = RF_BUF_INIT;
	int rc;

	memset(&z, 0, sizeof(z));
	z.fd = opt->report_fd;
	if (lseek(z.fd, 0, SEEK_SET) < 0)
		return rf_error_errno(err, -errno, "cannot read the report");
	z.cctx = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(z.cctx, ZSTD_c_compressionLevel, 6);
	name = curl_easy_escape(NULL, opt->name, 0);
	rf_buf_printf(&path, "/api/v1/scans?name=%s", name);
	http_init(&h, opt, token, "POST", path.data);
	curl_easy_setopt(h.curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h.curl, CURLOPT_READFUNCTION, report_read);
	curl_easy_setopt(h.curl, CURLOPT_READDATA, &z);
	h.headers = curl_slist_append(h.headers,
				      "Content-Type: application/xml");
	h.headers = curl_slist_append(h.headers, "Content-Encoding: zstd");
	rc = http_run(&h, err);
	if (rc < 0)
		goto out;
	if (h.status != 201) {
		rc = server_error(&h, err, h.status == 401 ? -EACCES : -EIO);
		goto out;
	}
	*answer = json_loadb(h.body.data, h.body.len, 0, NULL);
	if (*answer == NULL) {
		rc = rf_error_set(err, -EPROTO, "the server's answer is not "
				  "JSON");
		goto out;
	}
	res->scan_id = json_integer_value(json_object_get(*answer, "scan"));
	res->seq = json_integer_value(json_object_get(*answer, "seq"));
	res->needed = (uint64_t)json_integer_value(
		json_object_get(*answer, "needed"));
	res->report_bytes = z.sent;
	rc = res->scan_id > 0 ? 0
			      : rf_error_set(err, -EPROTO, "the server's "
					     "answer has no scan");
out:
	http_fini(&h);
	curl_free(name);
	rf_buf_free(&path);
	ZSTD_freeCCtx(z.cctx);
	return rc;
}

/* ---- the overlay ---- */

struct missing_set {
	json_t *obj;  /* sha -> true */
	json_t *pkgs; /* package name -> true: no repository has it */
};

static bool want_missing(void *ctx, const char *sha)
{
	struct missing_set *m = ctx;

	return json_object_get(m->obj, sha) != NULL;
}

static bool want_package(void *ctx, const char *name)
{
	struct missing_set *m = ctx;

	return json_object_get(m->pkgs, name) != NULL;
}

struct producer {
	const struct scan_upload_opts *opt;
	struct missing_set *missing;
	int wfd;
	uint64_t skip;            /* bytes the server has */
	int rc;
	struct rf_error err;
};

static int to_pipe(void *ctx, const void *data, size_t len)
{
	struct producer *p = ctx;
	const char *d = data;

	if (p->skip >= len) {
		p->skip -= len;
		return 0;
	}
	d += p->skip;
	len -= (size_t)p->skip;
	p->skip = 0;
	while (len > 0) {
		ssize_t n = write(p->wfd, d, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		d += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *produce(void *arg)
{
	struct producer *p = arg;
	struct scan_overlay_opts oo = {
		.root = p->opt->root,
		.report_fd = p->opt->report_fd,
		.want = want_missing,
		.want_package = want_package,
		.want_ctx = p->missing,
		.contents_only = true,
	};
	struct scan_overlay_stats stats;

	rf_error_clear(&p->err);
	p->rc = scan_overlay_write(&oo, to_pipe, p, &stats, &p->err);
	close(p->wfd);
	return NULL;
}

struct consumer {
	int rfd;
	uint64_t sent, base, total;
	struct rf_progress *progress;
	uint64_t start_ns;
};

static size_t overlay_read(char *out, size_t size, size_t n, void *ctx)
{
	struct consumer *c = ctx;
	ssize_t r;

	do
		r = read(c->rfd, out, size * n);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return CURL_READFUNC_ABORT;
	c->sent += (uint64_t)r;
	if (c->progress != NULL) {
		double secs = (double)(rf_now_ns() - c->start_ns) / 1e9;
		double rate = secs > 0 ? (double)c->sent / secs : 0;
		uint64_t at = c->base + c->sent;
		char a[32], b[32], rs[32];
		double eta = rate > 0 && c->total > at
				     ? (double)(c->total - at) / rate
				     : 0;

		rf_progress_update(c->progress, false,
				   "uploading %s of ~%s, %s/s, %.0f s left",
				   rf_human_size(a, sizeof(a), at),
				   rf_human_size(b, sizeof(b), c->total),
				   rf_human_size(rs, sizeof(rs), (uint64_t)rate),
				   eta);
	}
	return (size_t)r;
}

/* The server's offset for the upload and whether the scan is complete. */
static int overlay_status(const struct scan_upload_opts *opt,
			  const char *token, int64_t scan, uint64_t *offset,
			  bool *complete, struct rf_error *err)
{
	struct rf_buf path = RF_BUF_INIT;
	struct http h;
	json_t *j = NULL;
	int rc;

	rf_buf_printf(&path, "/api/v1/scans/%lld/overlay", (long long)scan);
	http_init(&h, opt, token, "GET", path.data);
	rc = http_run(&h, err);
	if (rc < 0)
		goto out;
	if (h.status != 200) {
		rc = server_error(&h, err, h.status >= 500 ? -EAGAIN : -EIO);
		goto out;
	}
	j = json_loadb(h.body.data, h.body.len, 0, NULL);
	*offset = (uint64_t)json_integer_value(json_object_get(j, "offset"));
	*complete = json_is_true(json_object_get(j, "complete"));
	rc = 0;
out:
	json_decref(j);
	http_fini(&h);
	rf_buf_free(&path);
	return rc;
}

/* One PATCH from offset. 1: complete; 0: try again; <0: give up. */
static int overlay_attempt(const struct scan_upload_opts *opt,
			   const char *token, struct scan_upload_result *res,
			   struct missing_set *missing, uint64_t offset,
			   uint64_t total, struct rf_progress *progress,
			   struct rf_error *err)
{
	struct rf_buf path = RF_BUF_INIT, hdr = RF_BUF_INIT;
	struct producer p;
	struct consumer c;
	pthread_t thread;
	struct http h;
	json_t *j = NULL;
	int fds[2], rc;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return rf_error_errno(err, -errno, "pipe");
	memset(&p, 0, sizeof(p));
	p.opt = opt;
	p.missing = missing;
	p.wfd = fds[1];
	p.skip = offset;
	memset(&c, 0, sizeof(c));
	c.rfd = fds[0];
	c.base = offset;
	c.total = total;
	c.progress = progress;
	c.start_ns = rf_now_ns();
	if (pthread_create(&thread, NULL, produce, &p) != 0) {
		close(fds[0]);
		close(fds[1]);
		return rf_error_set(err, -EAGAIN, "cannot start a thread");
	}
	rf_buf_printf(&path, "/api/v1/scans/%lld/overlay",
		      (long long)res->scan_id);
	http_init(&h, opt, token, "PATCH", path.data);
	rf_buf_printf(&hdr, "Upload-Offset: %llu", (unsigned long long)offset);
	h.headers = curl_slist_append(h.headers, hdr.data);
	h.headers = curl_slist_append(h.headers,
				      "Content-Type: application/x-tar");
	curl_easy_setopt(h.curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h.curl, CURLOPT_READFUNCTION, overlay_read);
	curl_easy_setopt(h.curl, CURLOPT_READDATA, &c);
	if (opt->limit_rate > 0)
		curl_easy_setopt(h.curl, CURLOPT_MAX_SEND_SPEED_LARGE,
				 (curl_off_t)opt->limit_rate);
	rc = http_run(&h, err);
	/* whatever happened, the producer must stop: it gets EPIPE */
	close(fds[0]);
	pthread_join(thread, NULL);
	res->overlay_bytes += c.sent;
	res->attempts++;
	if (p.rc < 0 && p.rc != -EPIPE) {
		/* the tree changed or could not be read: retrying won't help */
		rc = rf_error_set(err, p.rc, "%s", p.err.msg);
		goto out;
	}
	if (rc < 0) {
		rc = 0; /* no answer: ask where the server got to */
		goto out;
	}
	j = json_loadb(h.body.data ? h.body.data : "", h.body.len, 0, NULL);
	if (h.status == 200 && json_is_true(json_object_get(j, "complete"))) {
		rc = 1;
	} else if (h.status == 200 || h.status == 409 || h.status >= 500) {
		if (json_is_true(json_object_get(j, "complete")))
			rc = 1;
		else if (h.status >= 500)
			rc = server_error(&h, err, -EAGAIN) < 0 ? 0 : 0;
		else
			rc = 0;
	} else {
		rc = server_error(&h, err, h.status == 401 ? -EACCES : -EIO);
	}
out:
	json_decref(j);
	http_fini(&h);
	rf_buf_free(&path);
	rf_buf_free(&hdr);
	return rc;
}

int scan_upload(const struct scan_upload_opts *opt,
		struct scan_upload_result *res, struct rf_error *err)
{
	struct missing_set missing = {NULL, NULL};
	struct rf_progress progress;
	struct rf_error last; /* why the last attempt did not finish */
	json_t *answer = NULL, *list;
	char token[256];
	uint64_t offset = 0, total;
	uint64_t deadline;
	unsigned wait = 1;
	bool complete = false;
	size_t i;
	int rc;

	memset(res, 0, sizeof(*res));
	signal(SIGPIPE, SIG_IGN);
	rf_progress_init(&progress, stderr);
	rc = scan_read_token(opt->token_file, token, sizeof(token), err);
	if (rc < 0)
		goto out;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	deadline = rf_now_ns() + (uint64_t)opt->retry_seconds * 1000000000u;
	/* the report: a new scan each time it is sent, so only retried
	 * when no answer came at all */
	for (;;) {
		rc = send_report(opt, token, res, &answer, err);
		if (rc != -EAGAIN || rf_now_ns() > deadline)
			break;
		sleep(wait);
		wait = wait < 4 ? wait * 2 : 5;
	}
	if (rc < 0)
		goto out;
	missing.obj = json_object();
	list = json_object_get(answer, "missing");
	for (i = 0; i < json_array_size(list); i++) {
		const char *s = json_string_value(json_array_get(list, i));

		if (s != NULL)
			json_object_set_new(missing.obj, s, json_true());
	}
	/* packages no repository of the server has: all their files go */
	missing.pkgs = json_object();
	list = json_object_get(answer, "missing_packages");
	for (i = 0; i < json_array_size(list); i++) {
		const char *s = json_string_value(
			json_object_get(json_array_get(list, i), "name"));

		if (s != NULL)
			json_object_set_new(missing.pkgs, s, json_true());
	}
	res->missing_packages = json_object_size(missing.pkgs);
	total = (uint64_t)json_integer_value(json_object_get(answer,
							     "needed_bytes"));
	wait = 1;
	rf_error_clear(&last);
	for (;;) {
		rf_error_clear(err);
		rc = overlay_attempt(opt, token, res, &missing, offset, total,
				     opt->progress && progress.enabled
					     ? &progress
					     : NULL,
				     err);
		if (rc != 0)
			break;
		if (err->msg[0] != '\0')
			last = *err;
		/* interrupted: ask how far the server got, continue there */
		for (;;) {
			if (rf_now_ns() > deadline) {
				/* the server's last word says what to fix */
				rc = rf_error_set(err, -ETIMEDOUT, "the upload "
						  "of scan %lld did not finish "
						  "within %u s of retries%s%s",
						  (long long)res->scan_id,
						  opt->retry_seconds,
						  last.msg[0] ? "; last: " : "",
						  last.msg);
				goto out;
			}
			sleep(wait);
			wait = wait < 4 ? wait * 2 : 5;
			rc = overlay_status(opt, token, res->scan_id, &offset,
					    &complete, err);
			if (rc == 0)
				break;
			if (rc != -EAGAIN)
				goto out;
			last = *err;
		}
		if (complete) {
			rc = 1;
			break;
		}
	}
	rc = rc > 0 ? 0 : rc;
out:
	rf_progress_done(&progress);
	json_decref(answer);
	json_decref(missing.obj);
	json_decref(missing.pkgs);
	return rc;
}

static void *capture(void *arg)
{
	struct scan_report_capture *c = arg;
	char buf[65536];
	ssize_t n;

	c->rc = 0;
	while ((n = read(c->pipe[0], buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			c->rc = -errno;
			break;
		}
		if (write(c->memfd, buf, (size_t)n) != n) {
			c->rc = -ENOMEM;
			break;
		}
	}
	return NULL;
}

int scan_report_capture_begin(struct scan_report_capture *c,
			      struct rf_error *err)
{
	memset(c, 0, sizeof(*c));
	c->pipe[0] = c->pipe[1] = -1;
	c->memfd = memfd_create("reforge-report", MFD_CLOEXEC);
	if (c->memfd < 0)
		return rf_error_errno(err, -errno, "memfd_create");
	if (pipe2(c->pipe, O_CLOEXEC) < 0) {
		close(c->memfd);
		return rf_error_errno(err, -errno, "pipe");
	}
	/* a pipe is written as it is; see scanner/scanreport.c */
	snprintf(c->path, sizeof(c->path), "/proc/self/fd/%d", c->pipe[1]);
	if (pthread_create(&c->thread, NULL, capture, c) != 0) {
		close(c->memfd);
		close(c->pipe[0]);
		close(c->pipe[1]);
		return rf_error_set(err, -EAGAIN, "cannot start a thread");
	}
	return 0;
}

int scan_report_capture_end(struct scan_report_capture *c, int *fd,
			    struct rf_error *err)
{
	close(c->pipe[1]);
	pthread_join(c->thread, NULL);
	close(c->pipe[0]);
	if (c->rc < 0) {
		close(c->memfd);
		return rf_error_errno(err, c->rc, "cannot keep the report");
	}
	*fd = c->memfd;
	return 0;
}
