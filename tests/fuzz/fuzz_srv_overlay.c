/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * reforge-server's overlay verifier on arbitrary bytes: each input is the
 * overlay (a tar stream) of a new pending scan of one small fixed report
 * (a directory, two unowned files, a hardlink pair, a symlink), streamed
 * through srv_upload_begin/append/end in two pieces as a client's body
 * would arrive, the scan deleted afterwards (so each input meets an empty
 * store). Every refusal must say why; a scan reported complete must
 * have every content it needs stored, with the announced bytes.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "buf.h"
#include "digest.h"
#include "escape.h"
#include "srv.h"

static struct srv_store *st;
static sqlite3 *db;
static char *report;

static const char hello[] = "hello\n", linked[] = "two names\n";

static void cleanup(void)
{
	char cmd[256];

	sqlite3_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", st->dir);
	srv_store_free(st);
	free(report);
	if (system(cmd) != 0)
		fputs("cannot remove the scratch store\n", stderr);
}

static void sha_hex(const char *s, char out[SRV_SHA256_HEX])
{
	unsigned char md[RF_SHA256_LEN];
	struct rf_buf b = RF_BUF_INIT;

	rf_sha256(s, strlen(s), md);
	rf_hex_encode(&b, md, sizeof(md));
	memcpy(out, b.data, SRV_SHA256_HEX);
	rf_buf_free(&b);
}

static void setup(void)
{
	char dir[] = "/tmp/fuzz-srv-overlay.XXXXXX";
	char a[SRV_SHA256_HEX], l[SRV_SHA256_HEX];
	struct rf_buf r = RF_BUF_INIT;
	struct rf_error err;

	if (mkdtemp(dir) == NULL || srv_store_open(dir, &st, &err) < 0)
		abort();
	st->nosync = true;
	if (srv_db_open(st, &db, &err) < 0)
		abort();
	sha_hex(hello, a);
	sha_hex(linked, l);
	rf_buf_printf(&r,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<report xmlns=\"urn:reforge:report:1\" format-version=\"1\" "
		"scanner=\"t\" created=\"2026-01-01T00:00:00Z\" root=\"/\" "
		"live=\"false\" read-only-view=\"true\"><packages/><files>\n"
		"<file path=\"/\" type=\"directory\" mode=\"0755\" uid=\"0\" "
		"gid=\"0\" mtime=\"1\" class=\"unowned\"/>\n"
		"<file path=\"/srv\" type=\"directory\" mode=\"0755\" uid=\"0\" "
		"gid=\"0\" mtime=\"1\" class=\"unowned\"/>\n"
		"<file path=\"/srv/a\" type=\"file\" mode=\"0644\" uid=\"0\" "
		"gid=\"0\" size=\"%zu\" mtime=\"1\" sha256=\"%s\" "
		"class=\"unowned\"/>\n"
		"<file path=\"/srv/h1\" type=\"file\" mode=\"0644\" uid=\"0\" "
		"gid=\"0\" size=\"%zu\" mtime=\"1\" sha256=\"%s\" "
		"link-group=\"1\" class=\"unowned\"/>\n"
		"<file path=\"/srv/h2\" type=\"file\" mode=\"0644\" uid=\"0\" "
		"gid=\"0\" size=\"%zu\" mtime=\"1\" sha256=\"%s\" "
		"link-group=\"1\" class=\"unowned\"/>\n"
		"<file path=\"/srv/l\" type=\"symlink\" mode=\"0777\" uid=\"0\" "
		"gid=\"0\" mtime=\"1\" target=\"/etc\" class=\"unowned\"/>\n"
		"</files></report>\n",
		strlen(hello), a, strlen(linked), l, strlen(linked), l);
	report = rf_buf_detach(&r);
	atexit(cleanup);
}

/* A new pending scan of the fixed report; its id. */
static int64_t new_scan(void)
{
	struct srv_ingest_result res;
	struct rf_error err;
	int fd = memfd_create("report", 0);

	if (fd < 0 || write(fd, report, strlen(report)) !=
			      (ssize_t)strlen(report))
		abort();
	rf_error_clear(&err);
	if (srv_ingest_report(db, fd, "m", 1, "00", &res, &err) < 0) {
		fprintf(stderr, "the fixed report: %s\n", err.msg);
		abort();
	}
	close(fd);
	return res.scan_id;
}

/* Every content of a complete scan is stored, with its bytes. */
static void check_complete(void)
{
	const char *contents[] = {hello, linked};

	for (size_t i = 0; i < 2; i++) {
		char sha[SRV_SHA256_HEX], buf[64];
		int fd;
		ssize_t n;

		sha_hex(contents[i], sha);
		fd = srv_object_open(st, sha);
		if (fd < 0)
			abort(); /* complete without its content */
		n = read(fd, buf, sizeof(buf));
		close(fd);
		if (n != (ssize_t)strlen(contents[i]) ||
		    memcmp(buf, contents[i], (size_t)n) != 0)
			abort(); /* stored bytes differ */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct srv_upload *u = NULL;
	struct rf_error err;
	uint64_t durable, off;
	size_t half = size / 2;
	bool done = false;
	int64_t scan;
	int rc;

	if (st == NULL)
		setup();
	rf_error_clear(&err);
	scan = new_scan();
	rc = srv_upload_begin(st, scan, 1, 0, 1u << 24, &u, &durable, &err);
	if (rc < 0) {
		fprintf(stderr, "upload_begin: %s\n", err.msg);
		abort();
	}
	rc = srv_upload_append(u, data, half, &err);
	if (rc == 0)
		rc = srv_upload_append(u, data + half, size - half, &err);
	if (rc < 0) {
		if (err.msg[0] == '\0')
			abort(); /* every refusal says why */
		rf_error_clear(&err);
		srv_upload_end(u, false, &done, &off, &err);
		if (done)
			abort(); /* complete after a refusal */
		goto out;
	}
	rf_error_clear(&err);
	rc = srv_upload_end(u, true, &done, &off, &err);
	if (rc < 0 && err.msg[0] == '\0')
		abort();
	if (done) {
		if (rc < 0)
			abort();
		check_complete();
	}
out:
	/* the next input starts from an empty store */
	rf_error_clear(&err);
	if (srv_scan_delete(st, db, scan, &err) < 0) {
		fprintf(stderr, "scan_delete: %s\n", err.msg);
		abort();
	}
	return 0;
}
