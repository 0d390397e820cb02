/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef SCAN_PKGDB_BACKEND_H
#define SCAN_PKGDB_BACKEND_H

#include <dirent.h>
#include <stdint.h>

#include "error.h"
#include "pkgdb.h"

/*
 * What the rpm and alpm backends share; private to scanner/pkgdb_*.c.
 */

/*
 * A second package lists a path the set already has (scan_pkgset_add_file()
 * said *shared): the first owner's entry pf keeps its flags and what it
 * knows, and gets from more (what the second package says, strings owned by
 * the set) only what it left unknown: file type, permissions, owner, size,
 * link target, digest.
 */
void scan_pkgfile_fill_unknown(struct scan_pkgfile *pf,
			       const struct scan_pkgfile *more);

/*
 * Open directory path of the root at rootfd for reading, through
 * rf_root_open() and without updating its access time where allowed.
 * Returns the stream, or NULL with errno set.
 */
DIR *scan_root_opendir(int rootfd, const char *path);

/*
 * A private scratch directory for package database backends whose library
 * (librpm, libalpm) wants a path to open. Such libraries resolve paths with
 * plain open(), so a symlink in the scanned root could lead them outside it;
 * some also write as they read (SQLite's -shm index, libalpm's version
 * stamp), which must never happen to the scanned root, a read-only mount
 * or not. So the backend copies the database files it needs, through
 * rf_root_open(), into a directory of its own under $TMPDIR and points the
 * library there. The directory and everything in it go away with
 * scan_scratch_free().
 */
struct scan_scratch;

/*
 * Create a new empty directory named after prefix ("rpmdb") under $TMPDIR
 * (when absolute) or /tmp. Returns 0 and *out, or a negative errno with err
 * set.
 */
int scan_scratch_new(const char *prefix, struct scan_scratch **out,
		     struct rf_error *err);

/* Absolute path of the directory; valid until scan_scratch_free(). */
const char *scan_scratch_path(const struct scan_scratch *s);
/* A descriptor of the directory, for rf_root_read_file() and the like. */
int scan_scratch_fd(const struct scan_scratch *s);

/*
 * Messages of the libraries name the files they read, which are copies: in
 * msg (NUL-terminated, size bytes), replace "<scratch dir>/<sub>" ("" for
 * the directory itself) by as, the path the root has them at.
 */
void scan_scratch_unname(const struct scan_scratch *s, const char *sub,
			 const char *as, char *msg, size_t size);

/*
 * Create directory rel (relative, parents included) inside the scratch
 * directory. Returns 0 or a negative errno with err set.
 */
int scan_scratch_mkdir(struct scan_scratch *s, const char *rel,
		       struct rf_error *err);

/*
 * Copy the regular file src of the root at rootfd (opened with
 * rf_root_open(), O_NOATIME when allowed) to dst, relative to the scratch
 * directory, whose parent must exist. A file that changes while it is read
 * (a package manager running during the scan) is copied again, a few times
 * at most. Returns 0; -ENOENT when src does not exist (err untouched);
 * -EFBIG when it is larger than max; -EAGAIN when it kept changing; another
 * negative errno with err set.
 */
int scan_scratch_copy(struct scan_scratch *s, int rootfd, const char *src,
		      const char *dst, uint64_t max, struct rf_error *err);

/*
 * Write len bytes of data to a new file dst inside the scratch directory.
 * Returns 0 or a negative errno with err set.
 */
int scan_scratch_write(struct scan_scratch *s, const char *dst,
		       const void *data, size_t len, struct rf_error *err);

/* Remove the directory and all it holds; accepts NULL. */
void scan_scratch_free(struct scan_scratch *s);

#endif
