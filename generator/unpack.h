/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef GEN_UNPACK_H
#define GEN_UNPACK_H

/*
 * Unpacking every package of a report on all cores, with the result a
 * sequential unpack in report order would give.
 *
 * Each package is unpacked by a worker thread with gen_repo_unpack() into
 * a directory of its own (stage/pkg-N, on the staging root's filesystem),
 * so packages never race on a name. The calling thread merges the private
 * trees into the root strictly in report order, as they become ready, by
 * renaming: a later package's file replaces an earlier one's as it would
 * have on a sequential unpack, and a directory the root lacks moves over
 * whole. Names are resolved in the root as gen_extract() resolves them
 * (rf_root_open(): a usr-merged /bin -> usr/bin of the root is followed
 * inside it), the last component is never followed, and the policy of
 * extract.h applies: an existing directory is kept for a directory (it
 * takes the newer owner and mode, a kept symlink takes nothing), a
 * non-directory replaces a non-directory, and an empty directory only
 * gives way to a non-directory.
 */

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "gen.h"

/* What happened to package i of the report; called on the merging thread,
 * in report order. rc: 0 unpacked, -ENOENT in no repository (err set),
 * 1 skipped (not installed). */
typedef void (*gen_unpack_event_fn)(void *ctx, size_t i, size_t n, int rc,
				    const struct rf_error *err);

struct gen_unpack_opts {
	unsigned jobs;                /* worker threads; 0: one per core */
	const struct gen_limits *lim;
	const char *stage;            /* where stage/pkg-N go */
	volatile sig_atomic_t *stop;  /* set: stop soon, -EINTR */
	struct gen_fsw *fsw;          /* straight into ext4 (fsw.h), or NULL */
	gen_unpack_event_fn event;    /* may be NULL */
	void *ctx;
};

/*
 * Unpack every installed package of r from repo into rootfd. Returns 0
 * (packages in no repository are only counted in *missing), -EINTR when
 * *stop was set, or the first failure in report order (err set); on
 * failure the root holds part of the packages, and no stage/pkg-N is left
 * on any return.
 */
int gen_unpack_all(const struct gen_report *r, struct gen_repo *repo,
		   int rootfd, const struct gen_unpack_opts *o,
		   uint64_t *unpacked, uint64_t *missing,
		   struct rf_error *err);

/* Worker threads for jobs == 0: the online cores, at most 8. */
unsigned gen_unpack_default_jobs(void);

#endif
