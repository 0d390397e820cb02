/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FMT_IMAGE_H
#define FMT_IMAGE_H

/*
 * Disk-image writers and readers: raw, qcow2, VMDK (monolithicSparse and
 * streamOptimized) and OVA (writer only).
 *
 * Writing. The caller describes the disk as a stream of allocated extents:
 *
 *	struct fmt_writer *w;
 *	rc = fmt_writer_new("qcow2", "/srv/out/web1.qcow2", size,
 *			    "cluster_size=64k", &w, &err);
 *	for each extent, in ascending order:
 *		rc = fmt_writer_write(w, offset, data, len, &err);
 *	rc = fmt_writer_finish(w, &err);
 *	fmt_writer_free(w);
 *
 * Rules the caller must keep (fmt_writer_write() enforces them and fails
 * with -EINVAL otherwise):
 *   - extents come in ascending order and do not overlap: every offset is at
 *     or past the end of the previous extent;
 *   - offset + len never passes the virtual size;
 *   - offset and len need no alignment; an extent may end in the middle of a
 *     cluster and the next one may continue the same cluster.
 * Ranges never written read back as zeros and cost nothing in the output.
 * Data that happens to be zero is detected and not stored either.
 *
 * The data buffer is only borrowed for the duration of the call. After any
 * call fails the writer is unusable: only fmt_writer_free() is valid.
 *
 * Output is atomic: everything goes to an unnamed (or hidden temporary)
 * file in the destination directory; fmt_writer_finish() flushes it to
 * disk, gives it the final name (replacing an existing file) and flushes
 * the directory. A writer freed without a successful finish, or a process
 * killed at any point before, leaves no file under the final name. The
 * path must name a file: an existing device node or directory there is
 * refused, and a symlink there is replaced, not followed. The new file's
 * mode is 0666 less the umask.
 *
 * Threads: a writer is used from one thread at a time. Some formats start
 * compression threads of their own (option threads=N); they are joined by
 * fmt_writer_finish() and fmt_writer_free().
 *
 * Options are a qemu-img style string "key=value,key=value" (NULL or ""
 * for none). Unknown keys are an error. Per format:
 *   raw:   none.
 *   qcow2: cluster_size=512..2M (power of two, default 64k),
 *          compress=on|off (default off),
 *          compression_type=zlib|zstd (default zlib; implies nothing about
 *          compress), threads=N (compression threads, default: CPUs).
 *   vmdk:  subformat=monolithicSparse|streamOptimized (default
 *          monolithicSparse), adapter_type=ide|lsilogic|buslogic|
 *          legacyESX|pvscsi (default ide, as qemu-img), hwversion=N
 *          (default 4), threads=N (streamOptimized compression threads).
 *   ova:   name=VM name, cpus=N (1), memory=MiB (1024), nic=e1000|e1000e|
 *          vmxnet3|none (e1000), network=NAME ("VM Network"),
 *          adapter_type (as vmdk, default lsilogic), ostype=VMware guest id
 *          (otherLinux64Guest), threads=N.
 * Sizes accept k, M, G, T suffixes (powers of 1024).
 *
 * Reading. fmt_reader_open() probes the format (or takes it by name), and
 * the caller walks the disk with fmt_reader_map() and fmt_reader_read().
 * Input is untrusted: every header field is checked, and a corrupt or
 * truncated image fails with an error, never a crash.
 *
 * Errors: every function returns 0 or a negative errno and fills err.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct fmt_writer;
struct fmt_reader;

/*
 * A writer backend. The generic layer (fmt_writer_*) owns the output file,
 * checks the caller's ordering rules, assembles the caller's extents into
 * whole blocks of the backend's block size and drops blocks that are all
 * zeros, so a backend only ever sees whole, non-zero blocks in ascending
 * order.
 */
struct fmt_writer_ops {
	const char *name;
	const char *description;
	/*
	 * Parse options (fmt_opt_*), allocate private state, set the block
	 * size and write whatever must come first. The output file is open.
	 */
	int (*open)(struct fmt_writer *w, struct rf_error *err);
	/*
	 * count whole blocks starting at block index first; none is all zero.
	 * Each call starts past the previous one. The last block of the disk
	 * is padded with zeros to a whole block.
	 */
	int (*write_blocks)(struct fmt_writer *w, uint64_t first,
			    uint64_t count, const uint8_t *buf,
			    struct rf_error *err);
	/* Write metadata; the generic layer then syncs and renames. */
	int (*finish)(struct fmt_writer *w, struct rf_error *err);
	/* Release private state; called once, whether or not finish ran. */
	void (*free)(struct fmt_writer *w);
};

/*
 * A reader backend. The generic layer owns the file descriptor and checks
 * that requests stay inside the virtual size.
 */
struct fmt_reader_ops {
	const char *name;
	/* Non-zero when head (the first len bytes of the file) is ours. */
	bool (*probe)(const uint8_t *head, size_t len);
	/* Parse and check the headers; set the virtual size and info. */
	int (*open)(struct fmt_reader *r, struct rf_error *err);
	/*
	 * From offset off, the length of the longest run (at most max bytes,
	 * at least 1) whose bytes are all stored (*data true) or all read as
	 * zero (*data false).
	 */
	int (*map)(struct fmt_reader *r, uint64_t off, uint64_t max,
		   uint64_t *len, bool *data, struct rf_error *err);
	/* Read len bytes at off (inside the virtual size). */
	int (*read)(struct fmt_reader *r, uint64_t off, void *buf, size_t len,
		    struct rf_error *err);
	void (*close)(struct fmt_reader *r);
};

/* Registry. NULL when no backend has that name. */
const struct fmt_writer_ops *fmt_writer_by_name(const char *name);
const struct fmt_reader_ops *fmt_reader_by_name(const char *name);
/* NULL-terminated lists, in a stable order, for --help. */
const struct fmt_writer_ops *const *fmt_writer_list(void);
const struct fmt_reader_ops *const *fmt_reader_list(void);

/*
 * Create a writer for format at path (created atomically, see above) with
 * the given virtual size in bytes. On success *out is a new writer the
 * caller frees with fmt_writer_free().
 */
int fmt_writer_new(const char *format, const char *path, uint64_t size,
		   const char *options, struct fmt_writer **out,
		   struct rf_error *err);
/* Add one extent; see the rules above. */
int fmt_writer_write(struct fmt_writer *w, uint64_t offset, const void *buf,
		     size_t len, struct rf_error *err);
/* Complete the image and give it its final name. */
int fmt_writer_finish(struct fmt_writer *w, struct rf_error *err);
/* Accepts NULL. Removes the unfinished output, if any. */
void fmt_writer_free(struct fmt_writer *w);
/*
 * Whether finish flushes the image (and its directory) to stable storage
 * before and after naming it; on by default. Off is qemu-img's "-t unsafe":
 * still atomic against a killed process, not against a power cut.
 */
void fmt_writer_set_sync(struct fmt_writer *w, bool sync);
/* The virtual size the image will report (formats round up to sectors). */
uint64_t fmt_writer_virtual_size(const struct fmt_writer *w);

/*
 * Open path as format (NULL: probe). On success *out is a new reader the
 * caller frees with fmt_reader_free().
 */
int fmt_reader_open(const char *path, const char *format,
		    struct fmt_reader **out, struct rf_error *err);
/*
 * As fmt_reader_open() on an open descriptor, which the reader duplicates
 * (the caller keeps fd). name is used in messages only.
 */
int fmt_reader_open_fd(int fd, const char *name, const char *format,
		       struct fmt_reader **out, struct rf_error *err);
const char *fmt_reader_format(const struct fmt_reader *r);
uint64_t fmt_reader_virtual_size(const struct fmt_reader *r);
/* See fmt_reader_ops.map; off must be inside the virtual size. */
int fmt_reader_map(struct fmt_reader *r, uint64_t off, uint64_t max,
		   uint64_t *len, bool *data, struct rf_error *err);
/* Read len bytes at off; the range must be inside the virtual size. */
int fmt_reader_read(struct fmt_reader *r, uint64_t off, void *buf, size_t len,
		    struct rf_error *err);
/*
 * Format-specific facts for `info`, as key/value strings owned by the
 * reader. Returns the number of pairs; *keys and *values are valid until
 * fmt_reader_free().
 */
size_t fmt_reader_info(const struct fmt_reader *r, const char *const **keys,
		       const char *const **values);
/* Accepts NULL. */
void fmt_reader_free(struct fmt_reader *r);

/*
 * Copy every allocated extent of r into w (which must have r's virtual
 * size or more). progress, if not NULL, is called now and then with the
 * bytes done so far and the total. Does not finish w.
 */
typedef void (*fmt_progress_fn)(void *ctx, uint64_t done, uint64_t total);
int fmt_convert(struct fmt_reader *r, struct fmt_writer *w,
		fmt_progress_fn progress, void *ctx, struct rf_error *err);

#endif
