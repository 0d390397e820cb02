/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef SCAN_SCAN_H
#define SCAN_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* The classes of the report, in the order of its summary. */
enum scan_class {
	SCAN_UNMODIFIED = 0, /* a package file as the package installed it */
	SCAN_MODIFIED,	     /* a package file that differs */
	SCAN_MISSING,	     /* a package file that is not on the disk */
	SCAN_UNOWNED,	     /* a file no package lists */
	SCAN_NCLASSES
};

const char *scan_class_name(enum scan_class c);

struct scan_options {
	const char *root;	  /* tree to scan; "/" by default */
	const char *report_path;  /* XML report; "-" is stdout; NULL none */
	const char *changes_path; /* --changes output; "-" stdout; NULL none */
	bool cross_mounts;	  /* descend into other filesystems */
	int jobs;		  /* hashing threads; 0: one per CPU */
	const char **excludes;	  /* --exclude globs */
	size_t nexcludes;
	bool progress; /* allowed to draw on a terminal */
};

struct scan_summary {
	uint32_t packages;
	char databases[64]; /* "dpkg", "dpkg,rpm" */
	uint64_t files[SCAN_NCLASSES];
	uint64_t bytes[SCAN_NCLASSES];
	uint64_t excluded; /* excluded subtrees */
	uint64_t changed;  /* files that changed while read */
	uint64_t warnings;
	double seconds;
};

/*
 * Scan opt->root: load its package databases, walk its tree, write the
 * report and the changes list. Returns 0 (the scan finished; warnings are
 * counted in sum) or a negative errno with err set.
 */
int scan_run(const struct scan_options *opt, struct scan_summary *sum,
	     struct rf_error *err);

#endif
