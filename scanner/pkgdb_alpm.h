/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef SCAN_PKGDB_ALPM_H
#define SCAN_PKGDB_ALPM_H

#include <stddef.h>
#include <stdint.h>

#include <alpm.h>

#include "error.h"
#include "pkgdb.h"

/*
 * The parsing the pacman backend does itself, exposed for its tests and its
 * fuzz target (tests/fuzz/fuzz_alpm_mtree.c); the scanner only uses
 * scan_pkgdb_alpm.
 */

/* An mtree larger than this, compressed or not, is refused. */
#define SCAN_ALPM_MTREE_MAX ((size_t)128 << 20)

struct scan_accounts;

/*
 * Add to package pkg of set (named pkgname, for messages) the files its
 * mtree describes: data, len bytes, gzip-compressed as pacman keeps it or
 * plain text; NULL for a package without one. files is the package's file
 * list (libalpm's, sorted; may be NULL): what it names and the mtree does
 * not is added with what the list tells. backup lists the package's backup
 * entries (config files). accounts names uids and gids; NULL names none.
 * Returns 0, or a negative errno with err set when the mtree is corrupt or
 * truncated, names a path with "." or ".." components, or asks libarchive
 * to read files of the host.
 */
int scan_alpm_read_mtree(struct scan_pkgset *set, uint32_t pkg,
			 const char *pkgname, const void *data, size_t len,
			 alpm_filelist_t *files, alpm_list_t *backup,
			 const struct scan_accounts *accounts,
			 struct rf_error *err);

#endif
