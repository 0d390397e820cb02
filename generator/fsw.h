/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef GEN_FSW_H
#define GEN_FSW_H

/*
 * Filling ext4 filesystems straight from the package and overlay streams,
 * with no staged tree: the generator's fast path when nothing needs the
 * tree on disk (no tuning, every filesystem ext4); and, from a staged
 * tree, what mke2fs -d would do (gen_fsw_add_tree()).
 *
 * mke2fs makes the empty filesystems (features, UUID and label as for the
 * staged path); gen_fsw_open() opens the root's with libext2fs and
 * gen_fsw_mount() each other at its mount point. Archives are read into
 * batches (gen_fsw_read(), on any thread): each regular file's data goes
 * at once into blocks allocated for it on the filesystem it will be on,
 * the rest of each entry is kept as a record. Batches are then applied in
 * order to an in-memory model of the namespace (gen_fsw_apply(), one
 * thread), with the staged path's rules: paths resolved inside the root
 * (an absolute symlink in a package leads back into the image, never out
 * of it), what an entry replaces removed and its blocks freed, directories
 * kept. The report's metadata and removals (gen_fsw_report()) work on the
 * model too, and gen_fsw_close() writes directories (an htree index past
 * one block), inodes, extents and xattrs, then the bitmaps and group
 * descriptors.
 */

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "extract.h"
#include "gen.h"

struct gen_fsw;
struct gen_fsw_batch;
struct rf_buf;

/* Open the empty filesystem at dev (a path; "/proc/self/fd/N" does). */
int gen_fsw_open(const char *dev, struct gen_fsw **out, struct rf_error *err);

/* Add the empty filesystem at dev, mounted at mountpoint ("/boot"):
 * before gen_fsw_prepare(), shallower mount points first. What the
 * namespace puts under it goes onto it; its mount point on the parent
 * filesystem is an empty directory with the same owner, mode and times. */
int gen_fsw_mount(struct gen_fsw *w, const char *mountpoint, const char *dev,
		  struct rf_error *err);

/* Bytes of file data written so far, and the filesystem's free bytes. */
void gen_fsw_space(const struct gen_fsw *w, uint64_t *data, uint64_t *free);

/* A batch of records for w. live: each applied to the namespace as it is
 * read (one reader, in order: memory stays bounded), else kept until
 * gen_fsw_apply() (readers on other threads, applied in order later). */
struct gen_fsw_batch *gen_fsw_batch_new(struct gen_fsw *w, bool live);

/* Read entry e of a, named name (checked), into b: gen_extract() calls
 * it for a destination with a batch. *total: data bytes so far. */
struct archive_entry;
int gen_fsw_read(struct archive *a, struct archive_entry *e,
		 struct gen_fsw_batch *b, const char *name,
		 const struct gen_limits *lim, uint64_t *total,
		 struct rf_error *err);

/* Apply b's records to the namespace, in the order they were read. */
int gen_fsw_apply(struct gen_fsw *w, struct gen_fsw_batch *b,
		  struct rf_error *err);

/* Free b; the blocks of what was never applied are given back. */
void gen_fsw_batch_free(struct gen_fsw_batch *b);

/* gen_tree_prepare() on the model: the report's directories and package
 * symlinks, before any package. */
int gen_fsw_prepare(struct gen_fsw *w, const struct gen_report *r,
		    struct rf_error *err);

/* gen_tree_apply() on the model. */
int gen_fsw_report(struct gen_fsw *w, const struct gen_report *r,
		   uint64_t *warnings, struct rf_buf *absent,
		   struct rf_error *err);

/* Fill w's root filesystem with the staged tree at path, as mke2fs -d
 * would: owners, modes, times, xattrs and ACLs, hardlinks, holes. */
int gen_fsw_add_tree(struct gen_fsw *w, const char *path,
		     struct rf_error *err);

/* Write everything and close the filesystem; w is freed either way. */
int gen_fsw_close(struct gen_fsw *w, struct rf_error *err);

/* Free w without writing (a failed run). */
void gen_fsw_free(struct gen_fsw *w);

#endif
