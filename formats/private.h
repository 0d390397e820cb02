/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FMT_PRIVATE_H
#define FMT_PRIVATE_H

/*
 * What the format backends share and callers of image.h never see: the
 * writer and reader objects, option parsing, I/O helpers, endian helpers
 * and the ordered compression pool.
 */

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "atomic.h"
#include "image.h"

/* Options parsed from "k=v,k=v"; each key must be consumed by open(). */
struct fmt_opt {
	char *key;
	char *value;
	bool used;
};

struct fmt_options {
	struct fmt_opt *v;
	size_t n;
};

struct fmt_writer {
	const struct fmt_writer_ops *ops;
	void *priv; /* backend's own state */
	struct fmt_options opts;
	int fd;		   /* output, open read-write */
	struct rf_atomic out; /* the output file when the writer made it */
	char *path;	   /* final path, for messages */
	bool finished;
	bool failed;
	bool sync;	       /* flush to disk before renaming */
	uint64_t size;	       /* virtual size asked for */
	uint64_t virtual_size; /* what the image reports */
	uint32_t block_size;   /* set by ops->open */
	uint64_t next_off;     /* caller's extents must start here */
	uint8_t *stage;	       /* one partial block being assembled */
	uint64_t stage_block;  /* its index; UINT64_MAX when none */
	uint64_t flushed_to;   /* sync_file_range() progress */
	uint64_t dirty;	       /* bytes written since the last one */
	uint64_t data_blocks;  /* non-zero blocks handed to ops */
};

struct fmt_reader {
	const struct fmt_reader_ops *ops;
	void *priv;
	int fd;
	char *name; /* for messages */
	uint64_t file_size;
	uint64_t virtual_size; /* set by ops->open */
	size_t ninfo;
	char *info_keys[16];
	char *info_values[16];
};

/* Options. Lookups mark a key as used. */
int fmt_options_parse(struct fmt_options *o, const char *s,
		      struct rf_error *err);
void fmt_options_free(struct fmt_options *o);
/* NULL when absent. */
const char *fmt_opt_str(struct fmt_writer *w, const char *key);
/* Size with an optional k/M/G/T suffix; def when absent. */
int fmt_opt_size(struct fmt_writer *w, const char *key, uint64_t def,
		 uint64_t *out, struct rf_error *err);
int fmt_opt_bool(struct fmt_writer *w, const char *key, bool def, bool *out,
		 struct rf_error *err);
/* Index of the value in the NULL-terminated choices; def when absent. */
int fmt_opt_choice(struct fmt_writer *w, const char *key,
		   const char *const *choices, int def, int *out,
		   struct rf_error *err);
/* Default compression threads: the CPUs we may run on, at most 16. */
unsigned fmt_default_threads(void);

/* Output helpers: write all of buf at off, or fail with a message. */
int fmt_pwrite(struct fmt_writer *w, const void *buf, size_t len, uint64_t off,
	       struct rf_error *err);
/* Make the output exactly len bytes long (holes are zeros). */
int fmt_truncate(struct fmt_writer *w, uint64_t len, struct rf_error *err);
/* Plain descriptor variants, for the OVA backend's scratch files. */
int fmt_pwrite_fd(int fd, const void *buf, size_t len, uint64_t off,
		  const char *name, struct rf_error *err);

/*
 * Create a writer of ops on an already open descriptor (fd stays the
 * caller's; finish does not rename anything). For formats that embed
 * another (OVA embeds a streamOptimized VMDK).
 */
int fmt_writer_new_fd(const struct fmt_writer_ops *ops, int fd,
		      const char *name, uint64_t size, struct fmt_options *opts,
		      struct fmt_writer **out, struct rf_error *err);

/* Reader helpers. */
/* Read exactly len bytes at off; a short read is a truncated image. */
int fmt_pread(struct fmt_reader *r, void *buf, size_t len, uint64_t off,
	      struct rf_error *err);
/* Record an info pair (copied). At most 16; more are dropped. */
void fmt_reader_add_info(struct fmt_reader *r, const char *key, const char *fmt,
			 ...) __attribute__((format(printf, 3, 4)));

/* A page-aligned buffer for I/O; aborts when out of memory. free() it. */
void *fmt_alloc_aligned(size_t len);

/* True when len bytes at p are all zero. */
bool fmt_is_zero(const void *p, size_t len);

static inline uint64_t fmt_round_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) / align * align;
}

static inline uint64_t fmt_div_round_up(uint64_t v, uint64_t d)
{
	return v / d + (v % d != 0);
}

/* Unaligned fixed-width loads and stores with explicit byte order. */
static inline uint16_t fmt_get_le16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static inline uint32_t fmt_get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static inline uint64_t fmt_get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static inline uint32_t fmt_get_be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

static inline uint64_t fmt_get_be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

static inline void fmt_put_le16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void fmt_put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void fmt_put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static inline void fmt_put_be16(uint8_t *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void fmt_put_be32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void fmt_put_be64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, sizeof(v));
}

/*
 * Ordered parallel compression: blocks go in in order, threads compress
 * them, and emit() sees the results in the same order, always on the
 * submitting thread, so the backend writes its file sequentially without
 * locks. compress() returns the compressed length, or 0 to store the block
 * as it is (it did not shrink).
 */
typedef void *(*fmt_codec_new_fn)(void *ctx);
typedef void (*fmt_codec_free_fn)(void *codec);
typedef size_t (*fmt_compress_fn)(void *codec, const uint8_t *in, size_t in_len,
				  uint8_t *out, size_t out_cap);
typedef int (*fmt_emit_fn)(void *ctx, uint64_t block, const uint8_t *raw,
			   size_t raw_len, const uint8_t *comp, size_t comp_len,
			   struct rf_error *err);

struct fmt_pool_def {
	unsigned threads;
	size_t block_size;
	size_t out_cap;
	fmt_codec_new_fn codec_new;
	fmt_codec_free_fn codec_free;
	fmt_compress_fn compress;
	fmt_emit_fn emit;
	void *ctx; /* passed to codec_new and emit */
};

struct fmt_pool;

int fmt_pool_new(const struct fmt_pool_def *def, struct fmt_pool **out,
		 struct rf_error *err);
/* Copies block_size bytes of data; may emit earlier blocks. */
int fmt_pool_submit(struct fmt_pool *p, uint64_t block, const uint8_t *data,
		    struct rf_error *err);
/* Wait for every submitted block and emit it. */
int fmt_pool_drain(struct fmt_pool *p, struct rf_error *err);
/* Accepts NULL; stops the threads, drops what was not emitted. */
void fmt_pool_free(struct fmt_pool *p);

/* Backends. */
extern const struct fmt_writer_ops fmt_raw_writer;
extern const struct fmt_writer_ops fmt_qcow2_writer;
extern const struct fmt_writer_ops fmt_vmdk_writer;
extern const struct fmt_writer_ops fmt_ova_writer;
extern const struct fmt_reader_ops fmt_raw_reader;
extern const struct fmt_reader_ops fmt_qcow2_reader;
extern const struct fmt_reader_ops fmt_vmdk_reader;

/* For the OVA backend: the VMDK writer's descriptor facts. */
const char *fmt_vmdk_adapter_name(int index);

#endif
