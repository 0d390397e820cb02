/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef TESTS_PKGDB_TESTUTIL_H
#define TESTS_PKGDB_TESTUTIL_H

#include <stdbool.h>

#include "error.h"
#include "pkgdb.h"

/*
 * Helpers of the rpm and alpm backend tests: fixture roots made by the real
 * tools (rpmbuild, rpm, bsdtar, pacman), loaded through a backend's ops.
 */

/* A new empty directory under $TMPDIR or /tmp; free() it after tu_rmtree. */
char *tu_tmpdir(const char *tag);
/* Remove a tree made by the test. */
void tu_rmtree(const char *path);
/* Run a shell command (printf-style); returns its exit status, -1 if none. */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Write text to path (parents must exist); false on failure. */
bool tu_write(const char *path, const char *text);
/*
 * Every path under dir with its type, size, mode, owner, times (atime
 * included) and content digest, one a line, sorted: equal before and after
 * means nothing under dir was touched. The caller frees it.
 */
char *tu_snapshot(const char *dir);

/* Load the root at path with ops into a new set; *rc gets load()'s result. */
struct scan_pkgset *tu_load(const struct scan_pkgdb_ops *ops, const char *root,
			    int *rc, struct rf_error *err);
/* The package named name, NULL when the set has none. */
const struct scan_pkg *tu_package(const struct scan_pkgset *set,
				  const char *name, uint32_t *idx);
/* The SHA-256 of a file, as a digest; false when unreadable. */
bool tu_sha256_file(const char *path, unsigned char out[32]);

#endif
