/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef RF_ROOTFS_H
#define RF_ROOTFS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"

/*
 * Opening files inside a root tree (a scanned image, a staging root) so that
 * no path and no symlink, absolute or relative, can lead outside it: an
 * absolute symlink such as etc/localtime -> /usr/share/zoneinfo/UTC resolves
 * against the root, as it would on the booted system, never against the
 * host's own /.
 *
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) does this in the kernel;
 * on a kernel without openat2 an equivalent walk opens one component at a
 * time with O_NOFOLLOW and expands symlinks by hand, clamping ".." at the
 * root.
 */

/*
 * Open the tree at path for scanning without any chance of changing it: a
 * private, detached copy of its mounts (open_tree(2)), made read-only and
 * noatime (mount_setattr(2)), so that neither a write nor an access-time
 * update, not even readlink()'s on a symlink, can reach the real tree.
 * This needs CAP_SYS_ADMIN and Linux 5.12; where either is missing it falls
 * back to a plain directory descriptor and *isolated says so. Returns a
 * descriptor usable as a directory fd for openat(), or a negative errno.
 */
int rf_root_open_readonly(const char *path, bool *isolated);

/*
 * Open path (absolute or relative, both taken relative to rootfd) inside the
 * root. flags are open(2) flags; O_CLOEXEC is always added. Returns a new file
 * descriptor the caller closes, or a negative errno.
 */
int rf_root_open(int rootfd, const char *path, int flags);

/*
 * The portable resolution that rf_root_open() falls back to without openat2;
 * exposed so the tests can hold it to the same behaviour.
 */
int rf_root_open_walk(int rootfd, const char *path, int flags);

/*
 * Read a whole regular file inside the root into out, at most max bytes.
 * Returns 0, -ENOENT when there is no such file (err untouched), -EFBIG when
 * it is larger than max, or another negative errno with err set.
 */
int rf_root_read_file(int rootfd, const char *path, size_t max,
		      struct rf_buf *out, struct rf_error *err);

/*
 * Resolve the target of the symlink at path (inside the root) one level,
 * into out. Returns 0 or a negative errno.
 */
int rf_root_readlink(int rootfd, const char *path, struct rf_buf *out);

#endif
