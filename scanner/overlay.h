/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef SCAN_OVERLAY_H
#define SCAN_OVERLAY_H
/*
 * The overlay: a pax tar of every modified and unowned entry of a report
 * (and, for a server, every file of the packages it asks for whole),
 * its metadata taken from the report (mode, owner, times, link target,
 * device, xattrs, ACLs, hardlinks) and the contents of regular files read
 * again from the scanned tree, each checked against the report's SHA-256 as
 * it is sent. A sparse file (one with <extent> children in the report) is
 * a pax sparse entry (GNU sparse format 1.0): its holes are not sent.
 * The conventions the server checks are in server/srv_overlay.c.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Receives the tar stream; returns 0 or a negative errno to stop. */
typedef int (*scan_overlay_sink)(void *ctx, const void *data, size_t len);

/*
 * Whether the content named by sha (64 hex digits) goes into the overlay;
 * NULL sends every content (an overlay for a host with no route to a
 * server). Each content is sent once whatever this says.
 */
typedef bool (*scan_overlay_want)(void *ctx, const char *sha);

struct scan_overlay_opts {
	const char *root;          /* the scanned tree */
	int report_fd;             /* the plain XML report, read from 0 */
	scan_overlay_want want;
	/*
	 * Whether every regular file of the package named name goes, its
	 * unmodified ones too (the server knows no repository that has the
	 * package); NULL: none. Their contents still pass through want.
	 */
	bool (*want_package)(void *ctx, const char *name);
	void *want_ctx;
	/*
	 * Only entries that carry a content: for a server, which has every
	 * entry's metadata in the report already (a second scan of an
	 * unchanged host then sends an empty overlay).
	 */
	bool contents_only;
};

struct scan_overlay_stats {
	uint64_t entries;
	uint64_t contents;         /* regular files whose bytes were sent */
	uint64_t content_bytes;
};

/*
 * Write the overlay of the report to sink. Returns 0, -ESTALE when a file
 * changed since the scan (err names it), or another negative errno.
 */
int scan_overlay_write(const struct scan_overlay_opts *opt,
		       scan_overlay_sink sink, void *sink_ctx,
		       struct scan_overlay_stats *stats, struct rf_error *err);

/*
 * Write the overlay of the report with every content to a new file at path
 * (for a host with no route to the server): written under a temporary name,
 * fsynced and renamed. Returns 0 or a negative errno.
 */
int scan_overlay_to_file(const char *root, int report_fd, const char *path,
			 struct scan_overlay_stats *stats,
			 struct rf_error *err);

#endif
