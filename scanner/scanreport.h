/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef SCAN_SCANREPORT_H
#define SCAN_SCANREPORT_H

#include <stdbool.h>
#include <sys/types.h>

#include <libxml/xmlwriter.h>

#include "atomic.h"
#include "error.h"
#include "pkgdb.h"
#include "scan.h"

/*
 * The report file. It is written as an unnamed file (O_TMPFILE) in the
 * destination's directory, or under a temporary name beside it, and renamed
 * into place only when complete, so a failed or killed scan never leaves a
 * truncated report under the name asked for.
 */
struct scan_report_out {
	xmlTextWriterPtr writer;
	int fd;		       /* where the writer writes; -1 for nowhere */
	struct rf_atomic file; /* the report file, when it is one */
	bool direct;	       /* writing into an existing non-regular file */
	bool fd_dev_valid;
	dev_t dev; /* of the temporary file, to skip it in the walk */
	ino_t ino;
};

/* path "-" is stdout; NULL writes to nowhere (the summary only). */
int scan_report_open(struct scan_report_out *out, const char *path,
		     struct rf_error *err);
/* commit: rename into place (true) or remove (false). */
int scan_report_close(struct scan_report_out *out, bool commit,
		      struct rf_error *err);

/*
 * isolated: the tree was read through a private read-only, noatime view
 * (see rf_root_open_readonly()).
 */
int scan_report_begin(xmlTextWriterPtr w, const char *root, bool live,
		      bool isolated, struct rf_error *err);
int scan_report_packages(xmlTextWriterPtr w, struct scan_pkgset *set,
			 struct rf_error *err);
/* Writes <summary> and closes the document. */
int scan_report_summary(xmlTextWriterPtr w, const struct scan_summary *sum,
			struct rf_error *err);

#endif
