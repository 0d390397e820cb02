/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * raw: the disk's bytes, one for one. The writer leaves holes where
 * nothing (or only zeros) was written and sets the exact virtual size; the
 * reader finds the holes with SEEK_DATA/SEEK_HOLE.
 */
#include "config.h"

#include <errno.h>
#include <unistd.h>

#include "private.h"

/* Holes are made at this granularity: the common filesystem block. */
#define RAW_BLOCK 4096u

static int raw_open(struct fmt_writer *w, struct rf_error *err)
{
	w->block_size = RAW_BLOCK;
	return 0;
}

static int raw_write_blocks(struct fmt_writer *w, uint64_t first,
			    uint64_t count, const uint8_t *buf,
			    struct rf_error *err)
{
	uint64_t off = first * RAW_BLOCK;
	uint64_t len = count * RAW_BLOCK;

	/* The padded tail of the last block is cut off by finish. */
	return fmt_pwrite(w, buf, (size_t)len, off, err);
}

static int raw_finish(struct fmt_writer *w, struct rf_error *err)
{
	return fmt_truncate(w, w->virtual_size, err);
}

const struct fmt_writer_ops fmt_raw_writer = {
	.name = "raw",
	.description = "raw disk image, sparse",
	.open = raw_open,
	.write_blocks = raw_write_blocks,
	.finish = raw_finish,
	.free = NULL,
};

static bool raw_probe(const uint8_t *head, size_t len)
{
	return true;
}

static int raw_ropen(struct fmt_reader *r, struct rf_error *err)
{
	r->virtual_size = r->file_size;
	return 0;
}

static int raw_map(struct fmt_reader *r, uint64_t off, uint64_t max,
		   uint64_t *len, bool *data, struct rf_error *err)
{
	off_t next;

	*len = max;
	*data = true;
	next = lseek(r->fd, (off_t)off, SEEK_DATA);
	if (next < 0) {
		/* ENXIO: only a hole from here to the end. */
		if (errno == ENXIO)
			*data = false;
		/* Anything else (no SEEK_DATA support): all data. */
		return 0;
	}
	if ((uint64_t)next > off) {
		*data = false;
		if ((uint64_t)next - off < max)
			*len = (uint64_t)next - off;
		return 0;
	}
	next = lseek(r->fd, (off_t)off, SEEK_HOLE);
	if (next >= 0 && (uint64_t)next > off && (uint64_t)next - off < max)
		*len = (uint64_t)next - off;
	return 0;
}

static int raw_read(struct fmt_reader *r, uint64_t off, void *buf, size_t len,
		    struct rf_error *err)
{
	return fmt_pread(r, buf, len, off, err);
}

const struct fmt_reader_ops fmt_raw_reader = {
	.name = "raw",
	.probe = raw_probe,
	.open = raw_ropen,
	.map = raw_map,
	.read = raw_read,
	.close = NULL,
};
