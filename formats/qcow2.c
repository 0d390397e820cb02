/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 (see qcow2.txt beside this file for the layout in short).
 *
 * The writer produces version 3 images and writes the file front to back:
 * cluster 0 holds the header, the L1 table follows, then data clusters in
 * the order they arrive, each L2 table right after the data it maps (it is
 * complete once the caller has moved past its range), and at the end the
 * refcount table and blocks. Only the header and the L1 table are written
 * last, in place at the start. Nothing is ever freed, so every cluster is
 * referenced exactly once (compressed clusters aside, which share host
 * clusters and are counted per host cluster): `qemu-img check` finds no
 * leak and no error by construction.
 *
 * The reader handles versions 2 and 3 without backing files, encryption,
 * external data files or extended L2 entries, with zlib and zstd
 * compressed clusters.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "buf.h"
#include "private.h"

#define QCOW2_MAGIC 0x514649fbu /* "QFI\xfb" */
#define QCOW2_HEADER_V2 72u
#define QCOW2_HEADER_V3 112u /* with the compression type byte */
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
/* qemu refuses larger L1 and refcount tables; so do we. */
#define QCOW2_MAX_L1_BYTES (32u << 20)
#define QCOW2_MAX_REFTABLE_BYTES (8u << 20)

#define QCOW2_OFLAG_COPIED (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO 1ull
#define QCOW2_OFFSET_MASK 0x00fffffffffffe00ull
/* Bits that must be zero in L1 and standard L2 entries. */
#define QCOW2_L1_RESERVED 0x7f000000000001ffull
#define QCOW2_L2_RESERVED 0x3f000000000001feull

#define QCOW2_INCOMPAT_DIRTY (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)

enum { QCOW2_ZLIB = 0, QCOW2_ZSTD = 1 };
static const char *const compression_names[] = {"zlib", "zstd", NULL};

/* zlib as qemu uses it: raw deflate with a 4 KiB window. */
#define QCOW2_ZLIB_WBITS (-12)

/* ---- writer ---- */

struct qcow2_writer {
	unsigned cluster_bits;
	uint64_t cs;	     /* cluster size */
	uint64_t l2_entries; /* entries per L2 table */
	uint32_t l1_size;
	uint64_t l1_offset;
	uint64_t *l1;	   /* host order */
	uint64_t *l2;	   /* host order; current table */
	uint64_t l2_index; /* its L1 index, UINT64_MAX for none */
	uint8_t *io;	   /* one cluster, for metadata */
	uint64_t host_end; /* next free byte of the file */
	bool compress;
	int ctype;
	unsigned threads;
	struct fmt_pool *pool;
	/*
	 * Refcounts per host cluster, only with compression (host clusters
	 * are then shared); without it every cluster counts one.
	 */
	uint16_t *refcnt;
	uint64_t refcnt_len;
	struct fmt_writer *w; /* for the pool's callback */
};

static void ref_add(struct qcow2_writer *q, uint64_t first, uint64_t last)
{
	if (q->refcnt == NULL && !q->compress)
		return;
	if (last >= q->refcnt_len) {
		uint64_t n = q->refcnt_len ? q->refcnt_len : 1024;

		while (n <= last)
			n *= 2;
		q->refcnt = rf_xrealloc(q->refcnt, n * sizeof(*q->refcnt));
		memset(q->refcnt + q->refcnt_len, 0,
		       (n - q->refcnt_len) * sizeof(*q->refcnt));
		q->refcnt_len = n;
	}
	for (uint64_t c = first; c <= last; c++)
		q->refcnt[c]++;
}

static uint16_t ref_get(const struct qcow2_writer *q, uint64_t c)
{
	if (!q->compress)
		return 1;
	return c < q->refcnt_len ? q->refcnt[c] : 0;
}

/* Claim count whole clusters at the end of the file. */
static uint64_t alloc_clusters(struct qcow2_writer *q, uint64_t count)
{
	uint64_t off = fmt_round_up(q->host_end, q->cs);

	q->host_end = off + count * q->cs;
	ref_add(q, off / q->cs, off / q->cs + count - 1);
	return off;
}

static int write_table(struct fmt_writer *w, const uint64_t *t, size_t n,
		       uint64_t off, struct rf_error *err)
{
	struct qcow2_writer *q = w->priv;
	size_t per = (size_t)(q->cs / 8);
	int rc = 0;

	/* In cluster-sized pieces through the one conversion buffer. */
	for (size_t i = 0; i < n && rc == 0; i += per) {
		size_t k = n - i < per ? n - i : per;

		memset(q->io, 0, q->cs);
		for (size_t j = 0; j < k; j++)
			fmt_put_be64(q->io + 8 * j, t[i + j]);
		rc = fmt_pwrite(w, q->io, fmt_round_up(k * 8, 512), off, err);
		off += q->cs;
	}
	return rc;
}

static int flush_l2(struct fmt_writer *w, struct rf_error *err)
{
	struct qcow2_writer *q = w->priv;
	uint64_t off;
	int rc;

	if (q->l2_index == UINT64_MAX)
		return 0;
	off = alloc_clusters(q, 1);
	rc = write_table(w, q->l2, (size_t)q->l2_entries, off, err);
	if (rc < 0)
		return rc;
	q->l1[q->l2_index] = off | QCOW2_OFLAG_COPIED;
	q->l2_index = UINT64_MAX;
	return 0;
}

/* Make the L2 table that maps guest cluster c the current one. */
static int select_l2(struct fmt_writer *w, uint64_t c, struct rf_error *err)
{
	struct qcow2_writer *q = w->priv;
	uint64_t idx = c / q->l2_entries;
	int rc;

	if (idx == q->l2_index)
		return 0;
	rc = flush_l2(w, err);
	if (rc < 0)
		return rc;
	memset(q->l2, 0, q->l2_entries * 8);
	q->l2_index = idx;
	return 0;
}

static int qcow2_write_plain(struct fmt_writer *w, uint64_t first,
			     uint64_t count, const uint8_t *buf,
			     struct rf_error *err)
{
	struct qcow2_writer *q = w->priv;
	int rc = 0;

	while (count > 0 && rc == 0) {
		/* The clusters up to the end of the current L2 range. */
		uint64_t room = q->l2_entries - first % q->l2_entries;
		uint64_t n = count < room ? count : room;
		uint64_t off;

		rc = select_l2(w, first, err);
		if (rc < 0)
			break;
		off = alloc_clusters(q, n);
		for (uint64_t i = 0; i < n; i++)
			q->l2[(first + i) % q->l2_entries] =
				(off + i * q->cs) | QCOW2_OFLAG_COPIED;
		rc = fmt_pwrite(w, buf, (size_t)(n * q->cs), off, err);
		first += n;
		count -= n;
		buf += n * q->cs;
	}
	return rc;
}

/* The pool's emit callback: place one cluster, compressed or not. */
static int qcow2_emit(void *ctx, uint64_t block, const uint8_t *raw,
		      size_t raw_len, const uint8_t *comp, size_t comp_len,
		      struct rf_error *err)
{
	struct fmt_writer *w = ctx;
	struct qcow2_writer *q = w->priv;
	unsigned shift = 62 - (q->cluster_bits - 8);
	uint64_t off, sectors;
	int rc;

	if (comp == NULL)
		return qcow2_write_plain(w, block, 1, raw, err);
	rc = select_l2(w, block, err);
	if (rc < 0)
		return rc;
	off = q->host_end;
	rc = fmt_pwrite(w, comp, comp_len, off, err);
	if (rc < 0)
		return rc;
	q->host_end = off + comp_len;
	ref_add(q, off / q->cs, (q->host_end - 1) / q->cs);
	/* Sectors beyond the one holding the start. */
	sectors = ((q->host_end - 1) >> 9) - (off >> 9);
	q->l2[block % q->l2_entries] =
		QCOW2_OFLAG_COMPRESSED | sectors << shift | off;
	return 0;
}

struct qcow2_codec {
	int type;
	z_stream zs;
	bool zs_ready;
	ZSTD_CCtx *zc;
};

static void *qcow2_codec_new(void *ctx)
{
	struct fmt_writer *w = ctx;
	struct qcow2_writer *q = w->priv;
	struct qcow2_codec *c = rf_xcalloc(1, sizeof(*c));

	c->type = q->ctype;
	if (c->type == QCOW2_ZLIB)
		c->zs_ready = deflateInit2(&c->zs, Z_DEFAULT_COMPRESSION,
					   Z_DEFLATED, QCOW2_ZLIB_WBITS, 9,
					   Z_DEFAULT_STRATEGY) == Z_OK;
	else
		c->zc = ZSTD_createCCtx();
	return c;
}

static void qcow2_codec_free(void *codec)
{
	struct qcow2_codec *c = codec;

	if (c->zs_ready)
		deflateEnd(&c->zs);
	ZSTD_freeCCtx(c->zc);
	free(c);
}

/* Compressed length, or 0 to store the cluster as it is. */
static size_t qcow2_compress(void *codec, const uint8_t *in, size_t in_len,
			     uint8_t *out, size_t out_cap)
{
	struct qcow2_codec *c = codec;
	size_t n;

	if (c->type == QCOW2_ZLIB) {
		if (!c->zs_ready || deflateReset(&c->zs) != Z_OK)
			return 0;
		c->zs.next_in = (Bytef *)in;
		c->zs.avail_in = (uInt)in_len;
		c->zs.next_out = out;
		c->zs.avail_out = (uInt)(in_len - 1);
		if (deflate(&c->zs, Z_FINISH) != Z_STREAM_END)
			return 0;
		n = in_len - 1 - c->zs.avail_out;
	} else {
		if (c->zc == NULL)
			return 0;
		n = ZSTD_compressCCtx(c->zc, out, in_len - 1, in, in_len,
				      ZSTD_CLEVEL_DEFAULT);
		if (ZSTD_isError(n))
			return 0;
	}
	return n < in_len ? n : 0;
}

static int qcow2_write_blocks(struct fmt_writer *w, uint64_t first,
			      uint64_t count, const uint8_t *buf,
			      struct rf_error *err)
{
	struct qcow2_writer *q = w->priv;
	int rc = 0;

	if (!q->compress)
		return qcow2_write_plain(w, first, count, buf, err);
	for (uint64_t i = 0; i < count && rc == 0; i++)
		rc = fmt_pool_submit(q->pool, first + i, buf + i * q->cs, err);
	return rc;
}

static int qcow2_open(struct fmt_writer *w, struct rf_error *err)
{
	struct qcow2_writer *q = rf_xcalloc(1, sizeof(*q));
	uint64_t cs, threads, l1_bytes;
	int rc;

	w->priv = q;
	q->w = w;
	q->l2_index = UINT64_MAX;
	rc = fmt_opt_size(w, "cluster_size", 65536, &cs, err);
	if (rc < 0)
		return rc;
	if (cs < (1u << QCOW2_MIN_CLUSTER_BITS) ||
	    cs > (1u << QCOW2_MAX_CLUSTER_BITS) || (cs & (cs - 1)) != 0)
		return rf_error_set(err, -EINVAL,
				    "Cluster size must be a power "
				    "of two between 512 and 2048k");
	rc = fmt_opt_bool(w, "compress", false, &q->compress, err);
	if (rc < 0)
		return rc;
	rc = fmt_opt_choice(w, "compression_type", compression_names,
			    QCOW2_ZLIB, &q->ctype, err);
	if (rc < 0)
		return rc;
	rc = fmt_opt_size(w, "threads", fmt_default_threads(), &threads, err);
	if (rc < 0)
		return rc;
	if (threads < 1 || threads > 64)
		return rf_error_set(err, -EINVAL, "threads must be 1 to 64");
	q->threads = (unsigned)threads;
	q->cluster_bits = (unsigned)__builtin_ctzll(cs);
	q->cs = cs;
	q->l2_entries = cs / 8;
	/* qemu counts a qcow2 image in whole sectors. */
	w->virtual_size = fmt_round_up(w->size, 512);
	l1_bytes = fmt_div_round_up(w->virtual_size, cs * q->l2_entries) * 8;
	if (l1_bytes > QCOW2_MAX_L1_BYTES)
		return rf_error_set(err, -EFBIG,
				    "Image size %llu is too large "
				    "for a cluster size of %llu",
				    (unsigned long long)w->virtual_size,
				    (unsigned long long)cs);
	q->l1_size = (uint32_t)(l1_bytes / 8);
	q->l1 = rf_xcalloc(q->l1_size ? q->l1_size : 1, 8);
	q->l2 = rf_xmalloc(cs);
	q->io = rf_xmalloc(cs);
	w->block_size = (uint32_t)cs;
	/* Cluster 0: the header; then the L1 table. */
	alloc_clusters(q, 1);
	q->l1_offset = q->host_end;
	if (q->l1_size > 0)
		alloc_clusters(q, fmt_div_round_up(l1_bytes, cs));
	if (q->compress) {
		struct fmt_pool_def def = {
			.threads = q->threads,
			.block_size = cs,
			.out_cap = cs,
			.codec_new = qcow2_codec_new,
			.codec_free = qcow2_codec_free,
			.compress = qcow2_compress,
			.emit = qcow2_emit,
			.ctx = w,
		};

		rc = fmt_pool_new(&def, &q->pool, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void put_header(struct qcow2_writer *q, uint8_t *h, uint64_t size,
		       uint64_t reftable, uint32_t reftable_clusters)
{
	memset(h, 0, q->cs);
	fmt_put_be32(h + 0, QCOW2_MAGIC);
	fmt_put_be32(h + 4, 3);
	fmt_put_be32(h + 20, q->cluster_bits);
	fmt_put_be64(h + 24, size);
	fmt_put_be32(h + 36, q->l1_size);
	fmt_put_be64(h + 40, q->l1_offset);
	fmt_put_be64(h + 48, reftable);
	fmt_put_be32(h + 56, reftable_clusters);
	if (q->ctype != QCOW2_ZLIB)
		fmt_put_be64(h + 72, QCOW2_INCOMPAT_COMPRESSION);
	fmt_put_be32(h + 96, 4); /* refcount_order: 16 bits */
	fmt_put_be32(h + 100, QCOW2_HEADER_V3);
	h[104] = (uint8_t)q->ctype;
	/* Header extensions: only the end marker, which is all zeros. */
}

static int qcow2_finish(struct fmt_writer *w, struct rf_error *err)
{
	struct qcow2_writer *q = w->priv;
	uint64_t per_block = q->cs * 8 / 16; /* 16-bit refcounts */
	uint64_t n, nblocks = 0, ntable = 0, total, table_off;
	uint64_t *table = NULL;
	int rc;

	if (q->pool != NULL) {
		rc = fmt_pool_drain(q->pool, err);
		if (rc < 0)
			goto out;
	}
	rc = flush_l2(w, err);
	if (rc < 0)
		goto out;
	n = fmt_div_round_up(q->host_end, q->cs);
	/* The refcount structures count themselves: find the fixed point. */
	for (;;) {
		uint64_t b, t;

		total = n + nblocks + ntable;
		b = fmt_div_round_up(total, per_block);
		t = fmt_div_round_up(b * 8, q->cs);
		if (b == nblocks && t == ntable)
			break;
		nblocks = b;
		ntable = t;
	}
	if (ntable * q->cs > QCOW2_MAX_REFTABLE_BYTES) {
		rc = rf_error_set(err, -EFBIG, "'%s': refcount table too large",
				  w->path);
		goto out;
	}
	table_off = n * q->cs;
	table = rf_xcalloc(ntable * q->cs / 8, 8);
	for (uint64_t b = 0; b < nblocks; b++)
		table[b] = (n + ntable + b) * q->cs;
	rc = write_table(w, table, (size_t)(ntable * q->cs / 8), table_off,
			 err);
	if (rc < 0)
		goto out;
	for (uint64_t b = 0; b < nblocks; b++) {
		memset(q->io, 0, q->cs);
		for (uint64_t i = 0; i < per_block; i++) {
			uint64_t c = b * per_block + i;

			if (c >= total)
				break;
			fmt_put_be16(q->io + 2 * i, c < n ? ref_get(q, c) : 1);
		}
		rc = fmt_pwrite(w, q->io, q->cs, table[b], err);
		if (rc < 0)
			goto out;
	}
	rc = fmt_truncate(w, total * q->cs, err);
	if (rc < 0)
		goto out;
	if (q->l1_size > 0) {
		rc = write_table(w, q->l1, q->l1_size, q->l1_offset, err);
		if (rc < 0)
			goto out;
	}
	put_header(q, q->io, w->virtual_size, table_off, (uint32_t)ntable);
	rc = fmt_pwrite(w, q->io, 512, 0, err);
out:
	free(table);
	return rc;
}

static void qcow2_free(struct fmt_writer *w)
{
	struct qcow2_writer *q = w->priv;

	if (q == NULL)
		return;
	fmt_pool_free(q->pool);
	free(q->l1);
	free(q->l2);
	free(q->io);
	free(q->refcnt);
	free(q);
	w->priv = NULL;
}

const struct fmt_writer_ops fmt_qcow2_writer = {
	.name = "qcow2",
	.description = "QEMU copy-on-write v3 (compat 1.1)",
	.open = qcow2_open,
	.write_blocks = qcow2_write_blocks,
	.finish = qcow2_finish,
	.free = qcow2_free,
};

/* ---- reader ---- */

struct qcow2_reader {
	unsigned cluster_bits;
	uint64_t cs;
	uint64_t l2_entries;
	uint32_t l1_size;
	uint64_t *l1;	    /* host order */
	uint8_t *l2;	    /* cached table, big-endian as read */
	uint64_t l2_offset; /* its offset; 0 for none */
	int ctype;
	uint8_t *cbuf; /* compressed input */
	size_t cbuf_cap;
	uint8_t *dbuf;	     /* last decompressed cluster */
	uint64_t dbuf_entry; /* its L2 entry; 0 for none */
	z_stream zs;
	bool zs_ready;
	ZSTD_DCtx *zd;
};

static bool qcow2_probe(const uint8_t *head, size_t len)
{
	return len >= 4 && fmt_get_be32(head) == QCOW2_MAGIC;
}

static int qcow2_check_header(struct fmt_reader *r, struct qcow2_reader *q,
			      const uint8_t *h, struct rf_error *err)
{
	uint32_t version = fmt_get_be32(h + 4);
	uint64_t size = fmt_get_be64(h + 24);
	uint64_t l1_off = fmt_get_be64(h + 40);
	uint64_t incompat = 0, needed;
	const char *name = r->name;

	if (fmt_get_be32(h) != QCOW2_MAGIC)
		return rf_error_set(err, -EINVAL, "'%s': not a qcow2 image",
				    name);
	if (version != 2 && version != 3)
		return rf_error_set(err, -ENOTSUP,
				    "'%s': qcow2 version %u is "
				    "not supported",
				    name, version);
	q->cluster_bits = fmt_get_be32(h + 20);
	if (q->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
	    q->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return rf_error_set(err, -EINVAL,
				    "'%s': unsupported cluster "
				    "size: 2^%u",
				    name, q->cluster_bits);
	q->cs = 1ull << q->cluster_bits;
	q->l2_entries = q->cs / 8;
	if (fmt_get_be64(h + 8) != 0)
		return rf_error_set(err, -ENOTSUP,
				    "'%s': images with a "
				    "backing file are not supported",
				    name);
	if (fmt_get_be32(h + 32) != 0)
		return rf_error_set(err, -ENOTSUP,
				    "'%s': encrypted images are "
				    "not supported",
				    name);
	if (version == 3) {
		uint32_t hlen = fmt_get_be32(h + 100);
		uint32_t order = fmt_get_be32(h + 96);

		incompat = fmt_get_be64(h + 72);
		if (hlen < 104 || hlen > q->cs || hlen % 8 != 0)
			return rf_error_set(err, -EINVAL,
					    "'%s': bad header "
					    "length %u",
					    name, hlen);
		if (order > 6)
			return rf_error_set(err, -EINVAL,
					    "'%s': bad refcount "
					    "order %u",
					    name, order);
		if (incompat & QCOW2_INCOMPAT_DATA_FILE)
			return rf_error_set(err, -ENOTSUP,
					    "'%s': images with "
					    "an external data file are not "
					    "supported",
					    name);
		if (incompat & QCOW2_INCOMPAT_EXTL2)
			return rf_error_set(err, -ENOTSUP,
					    "'%s': extended L2 "
					    "entries are not supported",
					    name);
		if (incompat & ~(QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT |
				 QCOW2_INCOMPAT_COMPRESSION))
			return rf_error_set(err, -ENOTSUP,
					    "'%s': unsupported "
					    "qcow2 feature bits 0x%llx",
					    name, (unsigned long long)incompat);
		if (incompat & QCOW2_INCOMPAT_COMPRESSION) {
			if (hlen < 105)
				return rf_error_set(err, -EINVAL,
						    "'%s': header "
						    "too short for the "
						    "compression type",
						    name);
			q->ctype = h[104];
			if (q->ctype != QCOW2_ZLIB && q->ctype != QCOW2_ZSTD)
				return rf_error_set(err, -ENOTSUP,
						    "'%s': "
						    "unknown compression type "
						    "%d",
						    name, q->ctype);
		} else if (hlen >= 105 && h[104] != QCOW2_ZLIB) {
			return rf_error_set(err, -EINVAL,
					    "'%s': compression "
					    "type set without its feature bit",
					    name);
		}
	}
	/* Byte sizes up to 2^61 keep every product below 2^64. */
	if (size > (1ull << 61))
		return rf_error_set(err, -EFBIG,
				    "'%s': virtual size %llu too "
				    "large",
				    name, (unsigned long long)size);
	r->virtual_size = size;
	q->l1_size = fmt_get_be32(h + 36);
	if ((uint64_t)q->l1_size * 8 > QCOW2_MAX_L1_BYTES)
		return rf_error_set(err, -EFBIG, "'%s': L1 size too big", name);
	needed = fmt_div_round_up(size, q->cs * q->l2_entries);
	if (q->l1_size < needed)
		return rf_error_set(err, -EINVAL,
				    "'%s': L1 table too small "
				    "for the image size",
				    name);
	if (l1_off % q->cs != 0)
		return rf_error_set(err, -EINVAL,
				    "'%s': L1 table offset not "
				    "aligned to a cluster",
				    name);
	if (q->l1_size > 0 &&
	    (l1_off > r->file_size ||
	     (uint64_t)q->l1_size * 8 > r->file_size - l1_off))
		return rf_error_set(err, -EINVAL,
				    "'%s': L1 table is outside "
				    "the file (truncated image?)",
				    name);
	fmt_reader_add_info(r, "cluster_size", "%llu",
			    (unsigned long long)q->cs);
	fmt_reader_add_info(r, "compat", "%s", version == 2 ? "0.10" : "1.1");
	fmt_reader_add_info(r, "compression type", "%s",
			    compression_names[q->ctype]);
	if (version == 3)
		fmt_reader_add_info(r, "refcount bits", "%u",
				    1u << fmt_get_be32(h + 96));
	fmt_reader_add_info(r, "corrupt", "%s",
			    incompat & QCOW2_INCOMPAT_CORRUPT ? "true"
							      : "false");
	return 0;
}

static int qcow2_ropen(struct fmt_reader *r, struct rf_error *err)
{
	struct qcow2_reader *q = rf_xcalloc(1, sizeof(*q));
	uint8_t h[QCOW2_HEADER_V3];
	uint8_t *l1 = NULL;
	int rc;

	r->priv = q;
	memset(h, 0, sizeof(h));
	rc = fmt_pread(r, h,
		       r->file_size < sizeof(h) ? QCOW2_HEADER_V2 : sizeof(h),
		       0, err);
	if (rc < 0)
		goto out;
	rc = qcow2_check_header(r, q, h, err);
	if (rc < 0)
		goto out;
	q->l1 = rf_xcalloc(q->l1_size ? q->l1_size : 1, 8);
	if (q->l1_size > 0) {
		l1 = rf_xmalloc((size_t)q->l1_size * 8);
		rc = fmt_pread(r, l1, (size_t)q->l1_size * 8,
			       fmt_get_be64(h + 40), err);
		if (rc < 0)
			goto out;
		for (uint32_t i = 0; i < q->l1_size; i++)
			q->l1[i] = fmt_get_be64(l1 + 8 * i);
	}
	q->l2 = rf_xmalloc(q->cs);
	q->dbuf = rf_xmalloc(q->cs);
out:
	free(l1);
	return rc;
}

/* L2 entry for guest cluster c, 0 when unallocated. */
static int l2_entry(struct fmt_reader *r, uint64_t c, uint64_t *entry,
		    struct rf_error *err)
{
	struct qcow2_reader *q = r->priv;
	uint64_t idx = c / q->l2_entries;
	uint64_t l1e, off;
	int rc;

	*entry = 0;
	if (idx >= q->l1_size)
		return rf_error_set(err, -EINVAL,
				    "'%s': cluster outside the "
				    "L1 table",
				    r->name);
	l1e = q->l1[idx];
	if (l1e & QCOW2_L1_RESERVED)
		return rf_error_set(err, -EINVAL, "'%s': corrupt L1 entry %llu",
				    r->name, (unsigned long long)idx);
	off = l1e & QCOW2_OFFSET_MASK;
	if (off == 0)
		return 0;
	if (off % q->cs != 0)
		return rf_error_set(err, -EINVAL,
				    "'%s': L2 table offset not "
				    "aligned to a cluster",
				    r->name);
	if (off != q->l2_offset) {
		q->l2_offset = 0;
		rc = fmt_pread(r, q->l2, q->cs, off, err);
		if (rc < 0)
			return rc;
		q->l2_offset = off;
	}
	*entry = fmt_get_be64(q->l2 + 8 * (c % q->l2_entries));
	return 0;
}

/* Whether a cluster with this entry reads as stored data. */
static int entry_has_data(struct fmt_reader *r, uint64_t e, bool *data,
			  struct rf_error *err)
{
	struct qcow2_reader *q = r->priv;

	if (e & QCOW2_OFLAG_COMPRESSED) {
		*data = true;
		return 0;
	}
	if (e & QCOW2_L2_RESERVED)
		return rf_error_set(err, -EINVAL, "'%s': corrupt L2 entry",
				    r->name);
	if ((e & QCOW2_OFFSET_MASK) % q->cs != 0)
		return rf_error_set(err, -EINVAL,
				    "'%s': data cluster offset "
				    "not aligned",
				    r->name);
	*data = (e & QCOW2_OFFSET_MASK) != 0 && !(e & QCOW2_OFLAG_ZERO);
	return 0;
}

static int qcow2_map(struct fmt_reader *r, uint64_t off, uint64_t max,
		     uint64_t *len, bool *data, struct rf_error *err)
{
	struct qcow2_reader *q = r->priv;
	uint64_t pos = off, end = off + max;
	bool first = true;
	int rc = 0;

	while (pos < end) {
		uint64_t c = pos >> q->cluster_bits;
		uint64_t next, e;
		bool d;

		rc = l2_entry(r, c, &e, err);
		if (rc < 0)
			return rc;
		if (q->l1[c / q->l2_entries] == 0) {
			/* No L2 table: its whole range reads as zeros. */
			d = false;
			next = (c / q->l2_entries + 1) * q->l2_entries * q->cs;
		} else {
			rc = entry_has_data(r, e, &d, err);
			if (rc < 0)
				return rc;
			next = (c + 1) * q->cs;
		}
		if (first)
			*data = d;
		else if (d != *data)
			break;
		first = false;
		pos = next;
	}
	*len = (pos < end ? pos : end) - off;
	return 0;
}

static int inflate_cluster(struct fmt_reader *r, const uint8_t *in,
			   size_t in_len, struct rf_error *err)
{
	struct qcow2_reader *q = r->priv;

	if (q->ctype == QCOW2_ZLIB) {
		int zrc;

		if (!q->zs_ready) {
			if (inflateInit2(&q->zs, QCOW2_ZLIB_WBITS) != Z_OK)
				return rf_error_set(err, -ENOMEM,
						    "zlib init "
						    "failed");
			q->zs_ready = true;
		} else if (inflateReset(&q->zs) != Z_OK) {
			return rf_error_set(err, -EIO, "zlib reset failed");
		}
		q->zs.next_in = (Bytef *)in;
		q->zs.avail_in = (uInt)in_len;
		q->zs.next_out = q->dbuf;
		q->zs.avail_out = (uInt)q->cs;
		zrc = inflate(&q->zs, Z_FINISH);
		/* The stored length is rounded to sectors: stop when full. */
		if ((zrc != Z_STREAM_END && zrc != Z_BUF_ERROR &&
		     zrc != Z_OK) ||
		    q->zs.avail_out != 0)
			return rf_error_set(err, -EIO,
					    "'%s': corrupt "
					    "compressed cluster",
					    r->name);
		return 0;
	} else {
		ZSTD_inBuffer zin = {in, in_len, 0};
		ZSTD_outBuffer zout = {q->dbuf, q->cs, 0};

		if (q->zd == NULL) {
			q->zd = ZSTD_createDCtx();
			if (q->zd == NULL)
				return rf_error_set(err, -ENOMEM,
						    "zstd init "
						    "failed");
		}
		ZSTD_DCtx_reset(q->zd, ZSTD_reset_session_only);
		/* Frames until the cluster is full, as qemu reads them. */
		while (zout.pos < zout.size) {
			size_t in_before = zin.pos, out_before = zout.pos;
			size_t zrc = ZSTD_decompressStream(q->zd, &zout, &zin);

			if (ZSTD_isError(zrc) ||
			    (zin.pos == in_before && zout.pos == out_before))
				return rf_error_set(err, -EIO,
						    "'%s': corrupt "
						    "compressed cluster",
						    r->name);
		}
		return 0;
	}
}

static int read_compressed(struct fmt_reader *r, uint64_t e,
			   struct rf_error *err)
{
	struct qcow2_reader *q = r->priv;
	unsigned shift = 62 - (q->cluster_bits - 8);
	uint64_t coff = e & ((1ull << shift) - 1);
	uint64_t nsect =
		((e >> shift) & ((1ull << (q->cluster_bits - 8)) - 1)) + 1;
	uint64_t clen = nsect * 512 - (coff & 511);
	int rc;

	if (e == q->dbuf_entry)
		return 0;
	q->dbuf_entry = 0;
	/* The sector count may reach past the end of a file; cut it. */
	if (coff >= r->file_size)
		return rf_error_set(err, -EIO,
				    "'%s': compressed cluster "
				    "outside the file",
				    r->name);
	if (clen > r->file_size - coff)
		clen = r->file_size - coff;
	if (clen > q->cbuf_cap) {
		q->cbuf = rf_xrealloc(q->cbuf, (size_t)clen);
		q->cbuf_cap = (size_t)clen;
	}
	rc = fmt_pread(r, q->cbuf, (size_t)clen, coff, err);
	if (rc < 0)
		return rc;
	rc = inflate_cluster(r, q->cbuf, (size_t)clen, err);
	if (rc < 0)
		return rc;
	q->dbuf_entry = e;
	return 0;
}

static int qcow2_read(struct fmt_reader *r, uint64_t off, void *buf, size_t len,
		      struct rf_error *err)
{
	struct qcow2_reader *q = r->priv;
	uint8_t *p = buf;
	int rc = 0;

	while (len > 0) {
		uint64_t c = off >> q->cluster_bits;
		size_t in = (size_t)(off & (q->cs - 1));
		size_t n = q->cs - in < len ? q->cs - in : len;
		uint64_t e;
		bool data;

		rc = l2_entry(r, c, &e, err);
		if (rc < 0)
			break;
		rc = entry_has_data(r, e, &data, err);
		if (rc < 0)
			break;
		if (!data) {
			memset(p, 0, n);
		} else if (e & QCOW2_OFLAG_COMPRESSED) {
			rc = read_compressed(r, e, err);
			if (rc < 0)
				break;
			memcpy(p, q->dbuf + in, n);
		} else {
			uint64_t host = (e & QCOW2_OFFSET_MASK) + in;

			/* Clusters stored one after the other: one read. */
			while (n < len) {
				uint64_t ne;
				bool nd;

				rc = l2_entry(r, (off + n) >> q->cluster_bits,
					      &ne, err);
				if (rc < 0)
					break;
				rc = entry_has_data(r, ne, &nd, err);
				if (rc < 0)
					break;
				if (!nd || (ne & QCOW2_OFLAG_COMPRESSED) ||
				    (ne & QCOW2_OFFSET_MASK) != host + n)
					break;
				n += q->cs < len - n ? q->cs : len - n;
			}
			if (rc < 0)
				break;
			rc = fmt_pread(r, p, n, host, err);
			if (rc < 0)
				break;
		}
		p += n;
		off += n;
		len -= n;
	}
	return rc;
}

static void qcow2_close(struct fmt_reader *r)
{
	struct qcow2_reader *q = r->priv;

	if (q == NULL)
		return;
	if (q->zs_ready)
		inflateEnd(&q->zs);
	ZSTD_freeDCtx(q->zd);
	free(q->l1);
	free(q->l2);
	free(q->cbuf);
	free(q->dbuf);
	free(q);
	r->priv = NULL;
}

const struct fmt_reader_ops fmt_qcow2_reader = {
	.name = "qcow2",
	.probe = qcow2_probe,
	.open = qcow2_ropen,
	.map = qcow2_map,
	.read = qcow2_read,
	.close = qcow2_close,
};
