/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef GEN_EXTRACT_H
#define GEN_EXTRACT_H

/*
 * Unpacking an untrusted archive (a package payload, the scan's overlay)
 * into a staging root, as root, without ever touching a file outside it;
 * or into a batch of the ext4 writer (fsw.h), whose model of the image's
 * namespace follows the same policy.
 *
 * Every name is resolved inside the root: the entry's parent directory is
 * opened with rf_root_open() (openat2 RESOLVE_IN_ROOT, or the O_NOFOLLOW
 * walk), so a symlink met on the way, absolute or relative, resolves as it
 * would on the booted image, never on the generator host; the last
 * component is then created with the *at() calls on that directory and is
 * never followed. Symlinks in parents are followed inside the root on
 * purpose: that is what dpkg does on a usr-merged root (a package's ./bin/x
 * lands in usr/bin/x).
 *
 * Policy, applied to every archive alike:
 *   - names: a leading "./" is dropped; an absolute name, a ".." component,
 *     an empty name or one longer than GEN_NAME_MAX is refused, and the
 *     whole extraction fails;
 *   - an existing non-directory at a name is replaced (as dpkg does); an
 *     existing directory is kept when the entry is a directory (only its
 *     metadata is updated) and is removed only when empty otherwise; an
 *     existing symlink where the entry is a directory is kept as it is
 *     (dpkg keeps a usr-merge /bin -> usr/bin);
 *   - hardlinks: the target is resolved inside the root like any name and
 *     linked with linkat() without following it; data the entry carries
 *     (cpio's newc, rpm's payload format, puts a file's data on its last
 *     link) is written into the file just linked, opened with O_NOFOLLOW
 *     and only when it is a regular file, so never through a symlink to
 *     the host (libarchive CVE-2016-5418);
 *   - device nodes, FIFOs and sockets are created as the archive says:
 *     they are files of the image. The staging root is mode 0700, so only
 *     root on the generator can reach them;
 *   - setuid and setgid bits are kept (sudo and passwd need them); the mode
 *     is set after the owner, since chown clears those bits;
 *   - xattrs are set with lsetxattr() on the entry itself, never through a
 *     symlink; on a symlink only those the kernel takes there (not user.*)
 *     can exist, and a refused one is not an error for a symlink;
 *   - caps (struct gen_limits): entries, total bytes written, one entry's
 *     size and the ratio of bytes written to archive bytes read; passing
 *     one fails with -EFBIG and a message naming the cap.
 */

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

struct archive;

#define GEN_NAME_MAX 16384

struct gen_limits {
	uint64_t max_entries;   /* entries per archive */
	uint64_t max_bytes;     /* data bytes written per archive */
	uint64_t max_file_size; /* one entry's (possibly sparse) size */
	uint64_t max_ratio;     /* written : read, checked past 64 MiB */
};

/* Defaults: 10M entries, 1 TiB, 1 TiB, 1000:1. */
void gen_limits_default(struct gen_limits *l);

struct gen_extract_stats {
	uint64_t entries;
	uint64_t bytes;
};

/* Which entries to skip: return true to leave the entry out (its data is
 * skipped). name is the entry's name with "./" already removed. */
typedef bool (*gen_extract_skip_fn)(void *ctx, const char *name);

struct gen_fsw_batch;

/* Where an archive's entries go: a staged tree, or a batch of the ext4
 * writer (fsw.h), which then holds their records and data. */
struct gen_dest {
	int rootfd;                  /* with batch NULL */
	struct gen_fsw_batch *batch;
};

/*
 * Read every entry of a (opened by the caller, positioned at the first
 * header) into dest. Returns 0 or a negative errno with
 * err set; on failure the root may hold part of the archive, and nothing
 * outside it has changed. stats may be NULL.
 */
int gen_extract(struct archive *a, const struct gen_dest *dest,
		const struct gen_limits *lim,
		gen_extract_skip_fn skip, void *skip_ctx,
		struct gen_extract_stats *stats, struct rf_error *err);

/* The size of entry e (named name), refused past lim's max_file_size:
 * 0, or -EFBIG with err set. */
struct archive_entry;
int gen_extract_size(struct archive_entry *e, const char *name,
		     const struct gen_limits *lim, uint64_t *size,
		     struct rf_error *err);

/*
 * Account for len bytes of entry name's data at off (the entry's size
 * given): refused past the size, past lim's bytes, or past its ratio to
 * what a read so far. Returns 0 or a negative errno with err set.
 */
int gen_extract_chunk(struct archive *a, const char *name, uint64_t size,
		      int64_t off, size_t len, const struct gen_limits *lim,
		      uint64_t *total, struct rf_error *err);

/*
 * Open the parent directory of name inside rootfd, creating missing
 * directories (mode 0755, owned by root) on the way, and point *base at
 * the last component of name. name must be relative, without "..".
 * Returns a directory descriptor or a negative errno.
 */
int gen_open_parent(int rootfd, const char *name, const char **base,
		    bool create);

/* Check an archive or report name: relative, no "..", not empty. The
 * leading "./" or "/" (only when allow_abs) is skipped in *out. */
int gen_name_check(const char *name, bool allow_abs, const char **out);

/*
 * Remove the tree at name in dirfd without following any symlink; a
 * missing name is not an error.
 */
int gen_remove_tree(int dirfd, const char *name);

#endif
