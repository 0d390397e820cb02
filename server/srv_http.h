/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef SRV_HTTP_H
#define SRV_HTTP_H
/*
 * The HTTP API of reforge-server (libmicrohttpd, JSON through jansson).
 * Every route wants "Authorization: Bearer TOKEN"; without a valid one it
 * answers 401 and does nothing.
 *
 *   POST   /api/v1/scans?name=NAME      report body (gzip, zstd or plain)
 *   GET    /api/v1/scans                list
 *   GET    /api/v1/scans/ID             one scan
 *   DELETE /api/v1/scans/ID             delete it (and unshared objects)
 *   GET    /api/v1/scans/ID/diff/ID2    packages and files that differ
 *   GET    /api/v1/scans/ID/overlay     upload status: offset, complete
 *   PATCH  /api/v1/scans/ID/overlay     overlay bytes from Upload-Offset
 *   POST   /api/v1/store/check          read every object, report problems
 *   GET    /api/v1/scans/ID/repositories the source host's repository files
 *                                       and the definitions read from them
 *                                       (?releasever=, ?basearch=)
 *   GET    /api/v1/repos                repositories, package counts, errors
 *   POST   /api/v1/repos                add: JSON {name, kind, url, suite,
 *                                       components, arch, keyring-base64}
 *   DELETE /api/v1/repos/NAME           remove (and its index)
 *   POST   /api/v1/repos/refresh        refresh all   (?force=1)
 *   POST   /api/v1/repos/NAME/refresh   refresh one   (?force=1)
 *   POST   /api/v1/repos/NAME/fetch?package=P   into the cache: sha256, size
 *   GET    /api/v1/repos/NAME/fetch?package=P   the package file itself
 *                                       (NAME "-": any repository; P is
 *                                       name[:arch][=version])
 *   GET    /api/v1/images               image jobs: state, stage, progress
 *   POST   /api/v1/images               queue one: JSON {scan, format,
 *                                       disk_size, target} (srv_job.h)
 *   GET    /api/v1/images/ID            one job, with its log
 *   DELETE /api/v1/images/ID            delete a job that is not running,
 *                                       its image and its log
 *   POST   /api/v1/images/ID/cancel     cancel a queued or running job
 *   GET    /api/v1/images/ID/file       the image (Range: bytes=N- resumes)
 *
 * A refresh runs in its request, on the connection's own thread, with the
 * request deadline raised by 6 hours for it (and for a fetch); scans that
 * arrive meanwhile see the old index or the new one (server/repo.h). The
 * answer to POST /api/v1/scans has "missing" (contents the store lacks)
 * and "missing_packages" ({name, version, arch} of each package no
 * repository has: the overlay brings all its files, unmodified too).
 */
#include <stdint.h>

#include "error.h"
#include "srv.h"

struct srv_jobs;

struct srv_config {
	const char *data;          /* data directory */
	const char *listen;        /* ADDR:PORT */
	const char *tls_cert;      /* PEM files; both or neither */
	const char *tls_key;
	const char *port_file;     /* write the bound port here (tests) */
	uint64_t max_body;         /* largest report body */
	uint64_t max_overlay;      /* largest overlay, all uploads together */
	unsigned connections;      /* connection limit */
	unsigned per_ip;           /* connections from one address */
	unsigned idle_timeout;     /* seconds without a byte */
	unsigned deadline;         /* seconds a request may last, at most */
	uint64_t min_rate;         /* bytes/s a body must keep, on average, */
	unsigned min_rate_grace;   /* once it has lasted this many seconds */
	struct srv_jobs *jobs;     /* the image jobs' pool (srv_job.h) */
};

struct srv_http;

/* Start serving; returns 0 or a negative errno. */
int srv_http_start(const struct srv_config *cfg, struct srv_store *st,
		   struct srv_http **out, struct rf_error *err);
void srv_http_stop(struct srv_http *h);
/* The TCP port served (the one bound when --listen said port 0). */
unsigned srv_http_port(struct srv_http *h);
/*
 * Connections open now, from their accept until their end is handled
 * (a request's last writes are done by then): tests wait for 0.
 */
unsigned srv_http_connections(struct srv_http *h);

#endif
