/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * reforge-server's HTTP handlers on arbitrary bytes: the real daemon
 * (libmicrohttpd, thread per connection, the server's routes) runs in this
 * process on loopback with a scratch data directory, and each input is
 * written as raw request bytes to a new connection, whose answer is read to
 * its end. One token exists, with the fixed secret FUZZ_TOKEN, so that
 * seeds (tests/fuzz/corpus/http/) reach every route with and without it.
 * An input that does not carry the secret must leave the store as it was:
 * no commit to the database, no file added to or removed from the data
 * directory. Inputs share the store, in order: a scan one seed makes, the
 * next can show, upload to or delete.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "digest.h"
#include "escape.h"
#include "srv.h"
#include "srv_http.h"
#include "srv_job.h"

#define FUZZ_TOKEN                                                             \
	"f00df00df00df00df00df00df00df00df00df00df00df00df00df00df00df00d"
#define MAX_INPUT (256u << 10)

static struct srv_store *st;
static struct srv_http *http;
static struct srv_jobs *jobs;
static struct srv_jobs_config jobs_cfg;
static struct srv_config cfg;
static sqlite3 *watch; /* sees every commit of the others */
static char dir[] = "/tmp/fuzz-http.XXXXXX";
static unsigned port;

static void cleanup(void)
{
	char cmd[256];

	srv_http_stop(http);
	srv_jobs_stop(jobs);
	sqlite3_close(watch);
	srv_store_free(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fputs("cannot remove the scratch store\n", stderr);
}

static void setup(void)
{
	unsigned char md[RF_SHA256_LEN];
	struct rf_buf hex = RF_BUF_INIT, sql = RF_BUF_INIT;
	struct rf_error err;

	rf_error_clear(&err);
	if (mkdtemp(dir) == NULL || srv_store_open(dir, &st, &err) < 0 ||
	    srv_db_open(st, &watch, &err) < 0) {
		fprintf(stderr, "fuzz_http: %s\n", err.msg);
		abort();
	}
	st->nosync = true;
	/* the token, as srv_token_create stores one: only the hash */
	rf_sha256(FUZZ_TOKEN, strlen(FUZZ_TOKEN), md);
	rf_hex_encode(&hex, md, sizeof(md));
	rf_buf_printf(&sql,
		      "INSERT INTO tokens(name, hash, created) "
		      "VALUES('fuzz', '%s', 0)",
		      hex.data);
	if (srv_db_exec(watch, sql.data, &err) < 0)
		abort();
	rf_buf_free(&hex);
	rf_buf_free(&sql);
	cfg.data = dir;
	cfg.listen = "127.0.0.1:0";
	cfg.max_body = 1 << 20;
	cfg.max_overlay = 16 << 20;
	cfg.connections = 16;
	cfg.per_ip = 16;
	cfg.idle_timeout = 10;
	cfg.deadline = 60;
	cfg.min_rate = 1024;
	cfg.min_rate_grace = 30;
	/* image jobs run a generator that fails at once: the routes, not
	 * the images, are under test */
	jobs_cfg.data = dir;
	jobs_cfg.generator = "/bin/false";
	jobs_cfg.repo_cache = dir;
	jobs_cfg.workers = 1;
	if (srv_jobs_start(&jobs_cfg, st, &jobs, &err) < 0) {
		fprintf(stderr, "fuzz_http: %s\n", err.msg);
		abort();
	}
	cfg.jobs = jobs;
	if (srv_http_start(&cfg, st, &http, &err) < 0) {
		fprintf(stderr, "fuzz_http: %s\n", err.msg);
		abort();
	}
	port = srv_http_port(http);
	atexit(cleanup);
}

/* ---- what "the store as it was" means ---- */

struct print {
	int64_t data_version;
	uint64_t files, bytes;
};

static struct print *walking;

static int count_file(const char *path, const struct stat *sb, int type,
		      struct FTW *ftw)
{
	const char *base = path + ftw->base;

	(void)sb;
	/* the database's own files change with every reader */
	if (type == FTW_F && strncmp(base, "reforge.db", 10) != 0) {
		walking->files++;
		walking->bytes += (uint64_t)sb->st_size;
	}
	return 0;
}

static void fingerprint(struct print *p)
{
	sqlite3_stmt *q = NULL;

	memset(p, 0, sizeof(*p));
	if (sqlite3_prepare_v2(watch, "PRAGMA data_version", -1, &q, NULL) ==
		    SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		p->data_version = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	walking = p;
	nftw(dir, count_file, 16, FTW_PHYS);
}

static int64_t jobs_pending(void)
{
	sqlite3_stmt *q = NULL;
	int64_t n = 0;

	if (sqlite3_prepare_v2(watch,
			       "SELECT COUNT(*) FROM jobs WHERE state "
			       "IN ('queued', 'running')",
			       -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

/*
 * Until every connection's request has ended and no image job is left to
 * run (a worker's writes come after the answer); false after 30 s.
 */
static bool settle(void)
{
	struct timespec ts = {0, 2 * 1000 * 1000};

	for (int i = 0; i < 15000; i++) {
		if (srv_http_connections(http) == 0 && jobs_pending() == 0)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

/* ---- one input: a connection, its bytes, its answer ---- */

static void exchange(const uint8_t *data, size_t size)
{
	struct sockaddr_in sa;
	struct pollfd pfd;
	char buf[65536];
	size_t off = 0;
	bool first = true;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		abort();
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();
	pfd.fd = fd;
	if (size == 0)
		shutdown(fd, SHUT_WR);
	/*
	 * Write and read together: the server may answer (and stop reading)
	 * before the body is all there, and a full socket must not stall us.
	 */
	for (;;) {
		ssize_t n;
		int r;

		pfd.events = POLLIN | (off < size ? POLLOUT : 0);
		/* libFuzzer's timer (SIGALRM) interrupts poll: not a stall */
		do
			r = poll(&pfd, 1, 30000);
		while (r < 0 && errno == EINTR);
		if (r <= 0) {
			fputs("fuzz_http: the server neither reads nor "
			      "answers for 30 s\n",
			      stderr);
			abort();
		}
		if (off < size && (pfd.revents & (POLLOUT | POLLERR))) {
			n = send(fd, data + off, size - off, MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			else if (n < 0 && errno != EINTR && errno != EAGAIN)
				off = size; /* refused: read what is left */
			if (off == size)
				shutdown(fd, SHUT_WR);
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(fd, buf, sizeof(buf) - 1, 0);
			if (n == 0 || (n < 0 && errno != EINTR))
				break;
			/* FUZZ_HTTP_VERBOSE=1: each answer's status line */
			if (n > 0 && first && getenv("FUZZ_HTTP_VERBOSE")) {
				buf[n] = '\0';
				fprintf(stderr, "answer: %.*s\n",
					(int)strcspn(buf, "\r\n"), buf);
			}
			first = false;
		}
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct print before, after;
	bool authenticated;

	if (http == NULL)
		setup();
	if (size > MAX_INPUT)
		return 0;
	authenticated =
		memmem(data, size, FUZZ_TOKEN, strlen(FUZZ_TOKEN)) != NULL;
	if (!settle())
		abort();
	fingerprint(&before);
	exchange(data, size);
	if (!settle()) {
		fputs("fuzz_http: a connection outlived its answer by 30 s\n",
		      stderr);
		abort();
	}
	fingerprint(&after);
	if (!authenticated &&
	    (before.data_version != after.data_version ||
	     before.files != after.files || before.bytes != after.bytes)) {
		fprintf(stderr,
			"fuzz_http: a request without the token "
			"changed the store (files %llu -> %llu)\n",
			(unsigned long long)before.files,
			(unsigned long long)after.files);
		abort();
	}
	return 0;
}
