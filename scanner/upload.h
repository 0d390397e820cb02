/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef SCAN_UPLOAD_H
#define SCAN_UPLOAD_H
/*
 * Sending a scan to reforge-server: the report (zstd-compressed), then the
 * overlay of what the server lacks, produced on the fly from the tree and
 * streamed into the request (nothing written to the source host). An
 * interrupted upload is resumed from the offset the server reports.
 */
#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>

#include "error.h"

struct scan_upload_opts {
	const char *url;          /* https://host:port */
	const char *token_file;   /* the token, on its first line */
	const char *name;         /* machine name */
	const char *cacert;       /* CA file for a private server; NULL: system */
	const char *root;         /* the scanned tree */
	int report_fd;            /* the plain XML report */
	uint64_t limit_rate;      /* bytes/s, 0: no limit */
	unsigned retry_seconds;   /* keep retrying a broken upload this long */
	bool progress;            /* may draw on a terminal */
};

struct scan_upload_result {
	int64_t scan_id;
	int64_t seq;
	uint64_t needed;          /* contents the server lacked */
	uint64_t missing_packages; /* packages no repository of it has */
	uint64_t report_bytes;    /* compressed report sent */
	uint64_t overlay_bytes;   /* overlay bytes sent, over all attempts */
	unsigned attempts;
};

/* Returns 0 once the server says the scan is complete, or a negative errno. */
int scan_upload(const struct scan_upload_opts *opt,
		struct scan_upload_result *res, struct rf_error *err);

/* Read a token file: its first line, trimmed. 0 or a negative errno. */
int scan_read_token(const char *path, char *out, size_t size,
		    struct rf_error *err);

/*
 * A report kept in memory only (a memfd filled through a pipe, so that the
 * report writer streams into it): *path is what the scan writes to. end
 * returns a descriptor on the whole report (the caller closes it).
 */
struct scan_report_capture {
	int pipe[2];
	int memfd;
	pthread_t thread;
	int rc;
	char path[64];
};
int scan_report_capture_begin(struct scan_report_capture *c,
			      struct rf_error *err);
int scan_report_capture_end(struct scan_report_capture *c, int *fd,
			    struct rf_error *err);

#endif
