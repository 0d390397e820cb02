/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef GEN_DISK_H
#define GEN_DISK_H

/*
 * From a staged tree to a disk image, without mounting anything and
 * without loop devices: each filesystem is made by its own tools into an
 * unnamed temporary file (ext4: mke2fs, filled from the tree by fsw.h's
 * writer; mke2fs -d for ext2/3; mkfs.xfs -p with a
 * protofile made from the tree for xfs, mkfs.btrfs --rootdir for btrfs,
 * mkfs.vfat + mcopy for an EFI system partition, mkswap for swap), the partition table is written
 * by hand (partition.txt), and the allocated extents of each filesystem
 * file (SEEK_DATA/SEEK_HOLE) stream through formats/ into the requested
 * format. Nothing is left on disk but the image, which appears under its
 * name only when complete.
 */

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "gen.h"

enum gen_part_kind {
	GEN_PART_FS,
	GEN_PART_ESP,
	GEN_PART_BIOS,
	GEN_PART_SWAP,
};

struct gen_part {
	enum gen_part_kind kind;
	char *mountpoint; /* NULL for swap and BIOS boot */
	char *fstype;     /* "ext4", "vfat", "swap", NULL for BIOS boot */
	char *source_type; /* what the source had, when it differs */
	char *label;
	char uuid[40];     /* the new filesystem UUID (vfat: XXXX-XXXX) */
	char partuuid[40]; /* GPT only */
	uint64_t start, size; /* bytes */
	uint64_t data;        /* bytes the staged files take */
	uint64_t inodes;
	char *dir;            /* its staged tree */
	int fd;               /* the filesystem, once made */
	/* what its filesystem could not carry of the staged tree (xfs made
	 * from a protofile), for the user; NULL when nothing was lost */
	char *note;
};

struct gen_layout {
	bool gpt;
	char disk_guid[40];
	uint64_t size;
	struct gen_part *parts;
	size_t nparts;
	/* A BIOS boot loader, set by the tuning step (boot.c) or NULL: the
	 * first 440 bytes of sector 0, and the core image written at
	 * core_offset (sector 1 on MBR, the BIOS boot partition on GPT). */
	unsigned char *boot_code;
	unsigned char *core;
	size_t core_len;
	uint64_t core_offset;
	/* wall time gen_disk_write() spent making the filesystems and
	 * writing the image */
	uint64_t mkfs_ns, write_ns;
};

struct gen_disk_opts {
	const char *format;  /* fmt_writer_by_name() */
	const char *options; /* the writer's options, or NULL */
	const char *out;
	uint64_t disk_size;  /* 0: fit the data */
	unsigned headroom;   /* percent of free space over the data */
	bool sync;
	/* called once every filesystem is made, before the image is
	 * written: the staged trees are no longer read (may be NULL) */
	void (*made)(void *ctx);
	void *made_ctx;
};

/*
 * Plan the partitions for report r over the staged tree stage/root,
 * moving each non-root filesystem's subtree to stage/fs-N (an empty
 * directory with the same metadata stays at its mount point). *out is a
 * new layout the caller frees with gen_layout_free().
 */
int gen_disk_plan(const struct gen_report *r, const char *stage,
		  const struct gen_disk_opts *o, struct gen_layout **out,
		  struct rf_error *err);

/*
 * With stage NULL, gen_disk_plan() sizes the filesystems from the report
 * and moves nothing: the plan of the direct path (fsw.h), which this says
 * l can take: every filesystem ext4, no EFI system partition.
 */
bool gen_disk_direct(const struct gen_layout *l);

/* Make part p's filesystem, empty when p->dir is NULL (p->fd is then the
 * file to fill); nothing when it is made already. */
int gen_disk_make(struct gen_part *p, const char *tmpdir,
		  struct rf_error *err);

/* Make every filesystem of the layout not made yet and write the image. */
int gen_disk_write(struct gen_layout *l, const struct gen_disk_opts *o,
		   const char *tmpdir, struct rf_error *err);

void gen_layout_free(struct gen_layout *l);

/* Run a host tool (argv[0] found in PATH) with the descriptors that are
 * not close-on-exec; its output goes into the error message when it
 * fails. */
int gen_run(char *const argv[], const char *tmpdir, struct rf_error *err);

#endif
