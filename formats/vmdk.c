/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VMDK hosted sparse extents (see vmdk.txt beside this file), one file
 * with the descriptor embedded:
 *
 * monolithicSparse: header, descriptor, redundant grain directory and
 * tables, grain directory and tables, then grains. All grain tables are
 * placed up front as VMware and qemu do; each is written once, when the
 * caller has moved past its range, and those never written stay holes.
 *
 * streamOptimized: header, descriptor, then deflated grains each behind a
 * marker, every grain table behind its marker as soon as it is complete,
 * the grain directory, a footer (the header again, now with the
 * directory's offset) and an end-of-stream marker. The file is written
 * strictly front to back; grains are deflated on several threads and
 * written in order.
 *
 * The reader takes both, and any other single-extent hosted sparse file
 * (compressed or not, with or without markers).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include <libdeflate.h>
#include <zlib.h>

#include "buf.h"
#include "private.h"

#define VMDK_MAGIC 0x564d444bu /* "KDMV" read little-endian */
#define VMDK_SECTOR 512u
#define VMDK_GD_AT_END 0xffffffffffffffffull

#define VMDK_FLAG_NL_TEST (1u << 0)
#define VMDK_FLAG_RGD (1u << 1)
#define VMDK_FLAG_ZERO_GRAIN (1u << 2)
#define VMDK_FLAG_COMPRESSED (1u << 16)
#define VMDK_FLAG_MARKERS (1u << 17)

#define VMDK_COMPRESS_NONE 0
#define VMDK_COMPRESS_DEFLATE 1

#define VMDK_MARKER_EOS 0
#define VMDK_MARKER_GT 1
#define VMDK_MARKER_GD 2
#define VMDK_MARKER_FOOTER 3

/* What we write: 64 KiB grains, 512 entries per grain table. */
#define VMDK_GRAIN_SECTORS 128u
#define VMDK_GTES 512u
#define VMDK_DESC_SECTORS 20u
/* Grain table entries are 32-bit sector numbers: files up to 2 TiB. */
#define VMDK_MAX_FILE_SECTORS 0xffffffffull
/* Largest disk we write (grain tables stay addressable). */
#define VMDK_MAX_CAPACITY (64ull << 40)

/* What we read: bounds on header values, generous but finite. */
#define VMDK_MAX_GRAIN_SECTORS 65536u
#define VMDK_MAX_GTES 65536u
#define VMDK_MAX_GD_ENTRIES (1u << 24)
#define VMDK_MAX_DESC_BYTES (1u << 20)

static const char *const subformats[] = {
	"monolithicSparse",
	"streamOptimized",
	NULL,
};

static const char *const adapters[] = {
	"ide", "lsilogic", "buslogic", "legacyESX", "pvscsi", NULL,
};

const char *fmt_vmdk_adapter_name(int index)
{
	return adapters[index];
}

/* ---- writer ---- */

struct vmdk_writer {
	bool stream;
	int adapter;
	uint64_t hwversion;
	unsigned threads;
	uint64_t capacity; /* sectors */
	uint64_t gs;	   /* grain size in bytes */
	uint64_t num_gts;  /* grain directory entries */
	uint64_t gd_sectors;
	uint32_t *gd;	   /* host order */
	uint32_t *gt;	   /* host order; the current table */
	uint64_t gt_index; /* its GD index, UINT64_MAX for none */
	bool gt_used;
	uint64_t rgd_sector, gd_sector; /* monolithicSparse layout */
	uint64_t rgt_sector, gt_sector;
	uint64_t overhead; /* sectors before the first grain */
	uint64_t pos;	   /* next free byte */
	uint8_t *io;	   /* scratch, one grain plus a marker */
	uint8_t header[VMDK_SECTOR];
	struct fmt_pool *pool;
};

static void put_header(struct vmdk_writer *v, uint8_t *h, uint64_t gd)
{
	memset(h, 0, VMDK_SECTOR);
	fmt_put_le32(h + 0, VMDK_MAGIC);
	fmt_put_le32(h + 4, v->stream ? 3 : 1);
	fmt_put_le32(h + 8, v->stream
				    ? VMDK_FLAG_NL_TEST | VMDK_FLAG_COMPRESSED |
					      VMDK_FLAG_MARKERS
				    : VMDK_FLAG_NL_TEST | VMDK_FLAG_RGD);
	fmt_put_le64(h + 12, v->capacity);
	fmt_put_le64(h + 20, VMDK_GRAIN_SECTORS);
	fmt_put_le64(h + 28, 1); /* descriptor */
	fmt_put_le64(h + 36, VMDK_DESC_SECTORS);
	fmt_put_le32(h + 44, VMDK_GTES);
	fmt_put_le64(h + 48, v->stream ? 0 : v->rgd_sector);
	fmt_put_le64(h + 56, gd);
	fmt_put_le64(h + 64, v->overhead);
	h[72] = 0; /* clean */
	/* The line-ending characters that detect text-mode transfers. */
	h[73] = '\n';
	h[74] = ' ';
	h[75] = '\r';
	h[76] = '\n';
	fmt_put_le16(h + 77,
		     v->stream ? VMDK_COMPRESS_DEFLATE : VMDK_COMPRESS_NONE);
}

static uint32_t random_cid(void)
{
	uint32_t cid = 0;

	if (getrandom(&cid, sizeof(cid), 0) != sizeof(cid))
		cid = (uint32_t)time(NULL) ^ (uint32_t)getpid();
	/* ffffffff and fffffffe mean "no parent" and "unset". */
	if (cid >= 0xfffffffeu)
		cid = 0x12345678u;
	return cid;
}

static int put_descriptor(struct fmt_writer *w, uint8_t *out,
			  struct rf_error *err)
{
	struct vmdk_writer *v = w->priv;
	struct rf_buf d = RF_BUF_INIT;
	bool ide = v->adapter == 0;
	uint64_t heads = ide ? 16 : 255;
	uint64_t cyl = v->capacity / (heads * 63);
	uint64_t cyl_max = ide ? 16383 : 65535;
	int rc = 0;

	if (cyl > cyl_max)
		cyl = cyl_max;
	if (cyl == 0)
		cyl = 1;
	rf_buf_printf(&d,
		      "# Disk DescriptorFile\n"
		      "version=1\n"
		      "encoding=\"UTF-8\"\n"
		      "CID=%08x\n"
		      "parentCID=ffffffff\n"
		      "createType=\"%s\"\n"
		      "\n"
		      "# Extent description\n"
		      "RW %llu SPARSE \"%s\"\n"
		      "\n"
		      "# The Disk Data Base\n"
		      "#DDB\n"
		      "\n"
		      "ddb.virtualHWVersion = \"%llu\"\n"
		      "ddb.geometry.cylinders = \"%llu\"\n"
		      "ddb.geometry.heads = \"%llu\"\n"
		      "ddb.geometry.sectors = \"63\"\n"
		      "ddb.adapterType = \"%s\"\n"
		      "ddb.toolsVersion = \"2147483647\"\n",
		      random_cid(), subformats[v->stream],
		      (unsigned long long)v->capacity,
		      w->out.base ? w->out.base : w->path,
		      (unsigned long long)v->hwversion, (unsigned long long)cyl,
		      (unsigned long long)heads, adapters[v->adapter]);
	if (d.len >= VMDK_DESC_SECTORS * VMDK_SECTOR) {
		rc = rf_error_set(err, -ENAMETOOLONG,
				  "'%s': the VMDK "
				  "descriptor does not fit (file name too "
				  "long?)",
				  w->path);
		goto out;
	}
	memset(out, 0, VMDK_DESC_SECTORS * VMDK_SECTOR);
	memcpy(out, d.data, d.len);
out:
	rf_buf_free(&d);
	return rc;
}

static int write_gt(struct fmt_writer *w, uint64_t off, struct rf_error *err)
{
	struct vmdk_writer *v = w->priv;
	uint8_t buf[VMDK_GTES * 4];

	for (unsigned i = 0; i < VMDK_GTES; i++)
		fmt_put_le32(buf + 4 * i, v->gt[i]);
	return fmt_pwrite(w, buf, sizeof(buf), off, err);
}

/* Write a metadata marker sector at v->pos. */
static int write_marker(struct fmt_writer *w, uint64_t val, uint32_t type,
			struct rf_error *err)
{
	struct vmdk_writer *v = w->priv;
	uint8_t m[VMDK_SECTOR];
	int rc;

	memset(m, 0, sizeof(m));
	fmt_put_le64(m, val);
	fmt_put_le32(m + 8, 0);
	fmt_put_le32(m + 12, type);
	rc = fmt_pwrite(w, m, sizeof(m), v->pos, err);
	v->pos += VMDK_SECTOR;
	return rc;
}

static int flush_gt(struct fmt_writer *w, struct rf_error *err)
{
	struct vmdk_writer *v = w->priv;
	uint64_t i = v->gt_index;
	int rc = 0;

	if (i == UINT64_MAX || !v->gt_used)
		goto out;
	if (v->stream) {
		rc = write_marker(w, VMDK_GTES * 4 / VMDK_SECTOR,
				  VMDK_MARKER_GT, err);
		if (rc < 0)
			goto out;
		v->gd[i] = (uint32_t)(v->pos / VMDK_SECTOR);
		rc = write_gt(w, v->pos, err);
		v->pos += VMDK_GTES * 4;
	} else {
		rc = write_gt(w, (v->gt_sector + i * 4) * VMDK_SECTOR, err);
		if (rc == 0)
			rc = write_gt(w, (v->rgt_sector + i * 4) * VMDK_SECTOR,
				      err);
	}
out:
	v->gt_index = UINT64_MAX;
	v->gt_used = false;
	return rc;
}

static int select_gt(struct fmt_writer *w, uint64_t grain, struct rf_error *err)
{
	struct vmdk_writer *v = w->priv;
	uint64_t i = grain / VMDK_GTES;
	int rc;

	if (i == v->gt_index)
		return 0;
	rc = flush_gt(w, err);
	if (rc < 0)
		return rc;
	memset(v->gt, 0, VMDK_GTES * 4);
	v->gt_index = i;
	return 0;
}

static int check_room(struct fmt_writer *w, uint64_t end, struct rf_error *err)
{
	if (fmt_div_round_up(end, VMDK_SECTOR) > VMDK_MAX_FILE_SECTORS)
		return rf_error_set(err, -EFBIG,
				    "'%s': a VMDK sparse file "
				    "cannot grow past 2 TiB",
				    w->path);
	return 0;
}

static int sparse_write_blocks(struct fmt_writer *w, uint64_t first,
			       uint64_t count, const uint8_t *buf,
			       struct rf_error *err)
{
	struct vmdk_writer *v = w->priv;
	int rc = 0;

	while (count > 0) {
		uint64_t room = VMDK_GTES - first % VMDK_GTES;
		uint64_t n = count < room ? count : room;

		rc = select_gt(w, first, err);
		if (rc < 0)
			break;
		rc = check_room(w, v->pos + n * v->gs, err);
		if (rc < 0)
			break;
		for (uint64_t i = 0; i < n; i++)
			v->gt[(first + i) % VMDK_GTES] =
				(uint32_t)((v->pos + i * v->gs) / VMDK_SECTOR);
		v->gt_used = true;
		rc = fmt_pwrite(w, buf, (size_t)(n * v->gs), v->pos, err);
		if (rc < 0)
			break;
		v->pos += n * v->gs;
		first += n;
		count -= n;
		buf += n * v->gs;
	}
	return rc;
}

/* The pool's emit callback: one deflated grain behind its marker. */
static int stream_emit(void *ctx, uint64_t block, const uint8_t *raw,
		       size_t raw_len, const uint8_t *comp, size_t comp_len,
		       struct rf_error *err)
{
	struct fmt_writer *w = ctx;
	struct vmdk_writer *v = w->priv;
	size_t len;
	int rc;

	if (comp == NULL)
		return rf_error_set(err, -EIO,
				    "'%s': could not deflate a "
				    "grain",
				    w->path);
	rc = select_gt(w, block, err);
	if (rc < 0)
		return rc;
	len = (size_t)fmt_round_up(12 + comp_len, VMDK_SECTOR);
	rc = check_room(w, v->pos + len, err);
	if (rc < 0)
		return rc;
	memset(v->io, 0, len);
	fmt_put_le64(v->io, block * VMDK_GRAIN_SECTORS);
	fmt_put_le32(v->io + 8, (uint32_t)comp_len);
	memcpy(v->io + 12, comp, comp_len);
	rc = fmt_pwrite(w, v->io, len, v->pos, err);
	if (rc < 0)
		return rc;
	v->gt[block % VMDK_GTES] = (uint32_t)(v->pos / VMDK_SECTOR);
	v->gt_used = true;
	v->pos += len;
	return 0;
}

/*
 * Grains are zlib streams (RFC 1950), as VMware and qemu read them.
 * libdeflate makes them about twice as fast as zlib at the same level,
 * and a little smaller; level 6 is zlib's (and qemu-img's) default.
 */
#define VMDK_DEFLATE_LEVEL 6
/*
 * Bits per byte above which a grain is taken for already-compressed or
 * random data: deflate would only store it, so store it at once (the
 * output is the same size). 64 KiB of random bytes measure about 7.997;
 * anything with structure worth compressing measures far less.
 */
#define VMDK_STORE_ENTROPY 7.99

struct stream_codec {
	struct libdeflate_compressor *deflate;
	struct libdeflate_compressor *store;
};

static void *stream_codec_new(void *ctx)
{
	struct stream_codec *c = rf_xcalloc(1, sizeof(*c));

	c->deflate = libdeflate_alloc_compressor(VMDK_DEFLATE_LEVEL);
	c->store = libdeflate_alloc_compressor(0);
	return c;
}

static void stream_codec_free(void *codec)
{
	struct stream_codec *c = codec;

	libdeflate_free_compressor(c->deflate);
	libdeflate_free_compressor(c->store);
	free(c);
}

/* Shannon entropy of the bytes of p, in bits per byte. */
static double byte_entropy(const uint8_t *p, size_t len)
{
	uint32_t count[256] = {0};
	double h = 0;

	for (size_t i = 0; i < len; i++)
		count[p[i]]++;
	for (int i = 0; i < 256; i++) {
		if (count[i] != 0) {
			double f = (double)count[i] / (double)len;

			h -= f * log2(f);
		}
	}
	return h;
}

static size_t stream_compress(void *codec, const uint8_t *in, size_t in_len,
			      uint8_t *out, size_t out_cap)
{
	struct stream_codec *c = codec;

	if (c->deflate == NULL || c->store == NULL)
		return 0;
	if (byte_entropy(in, in_len) > VMDK_STORE_ENTROPY)
		return libdeflate_zlib_compress(c->store, in, in_len, out,
						out_cap);
	return libdeflate_zlib_compress(c->deflate, in, in_len, out, out_cap);
}

static int vmdk_write_blocks(struct fmt_writer *w, uint64_t first,
			     uint64_t count, const uint8_t *buf,
			     struct rf_error *err)
{
	struct vmdk_writer *v = w->priv;
	int rc = 0;

	if (!v->stream)
		return sparse_write_blocks(w, first, count, buf, err);
	for (uint64_t i = 0; i < count && rc == 0; i++)
		rc = fmt_pool_submit(v->pool, first + i, buf + i * v->gs, err);
	return rc;
}

static int vmdk_open(struct fmt_writer *w, struct rf_error *err)
{
	struct vmdk_writer *v = rf_xcalloc(1, sizeof(*v));
	uint8_t *desc = NULL;
	uint64_t threads;
	int sub, rc;

	w->priv = v;
	v->gt_index = UINT64_MAX;
	rc = fmt_opt_choice(w, "subformat", subformats, 0, &sub, err);
	if (rc < 0)
		goto out;
	v->stream = sub == 1;
	rc = fmt_opt_choice(w, "adapter_type", adapters, 0, &v->adapter, err);
	if (rc < 0)
		goto out;
	rc = fmt_opt_size(w, "hwversion", 4, &v->hwversion, err);
	if (rc < 0)
		goto out;
	rc = fmt_opt_size(w, "threads", fmt_default_threads(), &threads, err);
	if (rc < 0)
		goto out;
	if (threads < 1 || threads > 64) {
		rc = rf_error_set(err, -EINVAL, "threads must be 1 to 64");
		goto out;
	}
	v->threads = (unsigned)threads;
	if (w->size == 0) {
		rc = rf_error_set(err, -EINVAL,
				  "A VMDK image needs a size of "
				  "at least one sector");
		goto out;
	}
	if (w->size > VMDK_MAX_CAPACITY) {
		rc = rf_error_set(err, -EFBIG,
				  "Image size %llu is too large "
				  "for VMDK (at most 64 TiB)",
				  (unsigned long long)w->size);
		goto out;
	}
	v->capacity = fmt_div_round_up(w->size, VMDK_SECTOR);
	w->virtual_size = v->capacity * VMDK_SECTOR;
	v->gs = VMDK_GRAIN_SECTORS * VMDK_SECTOR;
	w->block_size = (uint32_t)v->gs;
	v->num_gts = fmt_div_round_up(v->capacity,
				      (uint64_t)VMDK_GRAIN_SECTORS * VMDK_GTES);
	v->gd_sectors = fmt_div_round_up(v->num_gts * 4, VMDK_SECTOR);
	v->gd = rf_xcalloc(v->num_gts ? v->num_gts : 1, 4);
	v->gt = rf_xcalloc(VMDK_GTES, 4);
	v->io = rf_xmalloc(fmt_round_up(
		12 + libdeflate_zlib_compress_bound(NULL, v->gs), VMDK_SECTOR));
	if (v->stream) {
		v->overhead = VMDK_GRAIN_SECTORS;
	} else {
		v->rgd_sector = 1 + VMDK_DESC_SECTORS;
		v->rgt_sector = v->rgd_sector + v->gd_sectors;
		v->gd_sector = v->rgt_sector + v->num_gts * 4;
		v->gt_sector = v->gd_sector + v->gd_sectors;
		v->overhead = fmt_round_up(v->gt_sector + v->num_gts * 4,
					   VMDK_GRAIN_SECTORS);
		for (uint64_t i = 0; i < v->num_gts; i++)
			v->gd[i] = (uint32_t)(v->gt_sector + 4 * i);
	}
	v->pos = v->overhead * VMDK_SECTOR;
	rc = check_room(w, v->pos, err);
	if (rc < 0)
		goto out;
	desc = rf_xmalloc(VMDK_DESC_SECTORS * VMDK_SECTOR);
	rc = put_descriptor(w, desc, err);
	if (rc < 0)
		goto out;
	/* The stream's header is final now (the footer has the GD). */
	put_header(v, v->header, v->stream ? VMDK_GD_AT_END : v->gd_sector);
	rc = fmt_pwrite(w, v->header, VMDK_SECTOR, 0, err);
	if (rc < 0)
		goto out;
	rc = fmt_pwrite(w, desc, VMDK_DESC_SECTORS * VMDK_SECTOR, VMDK_SECTOR,
			err);
	if (rc < 0)
		goto out;
	if (v->stream) {
		struct fmt_pool_def def = {
			.threads = v->threads,
			.block_size = v->gs,
			.out_cap = libdeflate_zlib_compress_bound(NULL, v->gs),
			.codec_new = stream_codec_new,
			.codec_free = stream_codec_free,
			.compress = stream_compress,
			.emit = stream_emit,
			.ctx = w,
		};

		rc = fmt_pool_new(&def, &v->pool, err);
	}
out:
	free(desc);
	return rc;
}

static int write_gd(struct fmt_writer *w, uint64_t sector, struct rf_error *err)
{
	struct vmdk_writer *v = w->priv;
	size_t len = (size_t)(v->gd_sectors * VMDK_SECTOR);
	uint8_t *buf = rf_xcalloc(len ? len : 1, 1);
	int rc;

	for (uint64_t i = 0; i < v->num_gts; i++)
		fmt_put_le32(buf + 4 * i, v->gd[i]);
	rc = fmt_pwrite(w, buf, len, sector * VMDK_SECTOR, err);
	free(buf);
	return rc;
}

static int vmdk_finish(struct fmt_writer *w, struct rf_error *err)
{
	struct vmdk_writer *v = w->priv;
	uint8_t footer[VMDK_SECTOR];
	uint64_t gd;
	int rc;

	if (v->pool != NULL) {
		rc = fmt_pool_drain(v->pool, err);
		if (rc < 0)
			return rc;
	}
	rc = flush_gt(w, err);
	if (rc < 0)
		return rc;
	if (!v->stream) {
		rc = write_gd(w, v->rgd_sector, err);
		if (rc == 0)
			rc = write_gd(w, v->gd_sector, err);
		if (rc == 0)
			rc = fmt_truncate(w, v->pos, err);
		return rc;
	}
	rc = check_room(w, v->pos + (v->gd_sectors + 4) * VMDK_SECTOR, err);
	if (rc < 0)
		return rc;
	rc = write_marker(w, v->gd_sectors, VMDK_MARKER_GD, err);
	if (rc < 0)
		return rc;
	gd = v->pos / VMDK_SECTOR;
	rc = write_gd(w, gd, err);
	if (rc < 0)
		return rc;
	v->pos += v->gd_sectors * VMDK_SECTOR;
	rc = write_marker(w, 1, VMDK_MARKER_FOOTER, err);
	if (rc < 0)
		return rc;
	put_header(v, footer, gd);
	rc = fmt_pwrite(w, footer, sizeof(footer), v->pos, err);
	if (rc < 0)
		return rc;
	v->pos += VMDK_SECTOR;
	rc = write_marker(w, 0, VMDK_MARKER_EOS, err);
	if (rc < 0)
		return rc;
	return fmt_truncate(w, v->pos, err);
}

static void vmdk_free(struct fmt_writer *w)
{
	struct vmdk_writer *v = w->priv;

	if (v == NULL)
		return;
	fmt_pool_free(v->pool);
	free(v->gd);
	free(v->gt);
	free(v->io);
	free(v);
	w->priv = NULL;
}

const struct fmt_writer_ops fmt_vmdk_writer = {
	.name = "vmdk",
	.description = "VMware disk: monolithicSparse or streamOptimized",
	.open = vmdk_open,
	.write_blocks = vmdk_write_blocks,
	.finish = vmdk_finish,
	.free = vmdk_free,
};

/* ---- reader ---- */

struct vmdk_reader {
	uint32_t flags;
	uint64_t capacity; /* sectors */
	uint64_t grain;	   /* sectors */
	uint64_t gs;	   /* grain bytes */
	uint32_t gtes;
	uint64_t num_gts;
	uint32_t *gd;
	uint8_t *gt;	    /* cached table, little-endian */
	uint64_t gt_sector; /* its sector, 0 for none */
	bool compressed;
	uint8_t *cbuf;
	size_t cbuf_cap;
	uint8_t *gbuf;	      /* last inflated grain */
	uint64_t gbuf_sector; /* its sector, 0 for none */
	z_stream zs;
	bool zs_ready;
};

static const char desc_magic[] = "# Disk DescriptorFile";

static bool vmdk_probe(const uint8_t *head, size_t len)
{
	if (len >= 4 && fmt_get_le32(head) == VMDK_MAGIC)
		return true;
	return len >= sizeof(desc_magic) - 1 &&
	       memcmp(head, desc_magic, sizeof(desc_magic) - 1) == 0;
}

/* Copy the value of `key = "value"` (or key="value") from text. */
static bool desc_value(const char *text, const char *key, char *out,
		       size_t size)
{
	size_t klen = strlen(key);

	for (const char *line = text; line != NULL && *line != '\0';) {
		const char *next = strchr(line, '\n');
		const char *p = line;

		if (strncmp(p, key, klen) == 0) {
			p += klen;
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p == '=') {
				size_t n = 0;

				p++;
				while (*p == ' ' || *p == '\t' || *p == '"')
					p++;
				while (p[n] != '"' && p[n] != '\n' &&
				       p[n] != '\r' && p[n] != '\0' &&
				       n + 1 < size)
					n++;
				memcpy(out, p, n);
				out[n] = '\0';
				return true;
			}
		}
		line = next ? next + 1 : NULL;
	}
	return false;
}

static void read_descriptor(struct fmt_reader *r, const uint8_t *h)
{
	uint64_t off = fmt_get_le64(h + 28), size = fmt_get_le64(h + 36);
	struct rf_error ignored;
	char value[64];
	char *text;

	/* Only for `info`: an unreadable descriptor is not an error. */
	if (off == 0 || size == 0 || size > VMDK_MAX_DESC_BYTES / VMDK_SECTOR ||
	    off > r->file_size / VMDK_SECTOR)
		return;
	text = rf_xcalloc(size * VMDK_SECTOR + 1, 1);
	if (fmt_pread(r, text, size * VMDK_SECTOR, off * VMDK_SECTOR,
		      &ignored) == 0) {
		if (desc_value(text, "createType", value, sizeof(value)))
			fmt_reader_add_info(r, "create type", "%s", value);
		if (desc_value(text, "ddb.adapterType", value, sizeof(value)))
			fmt_reader_add_info(r, "adapter type", "%s", value);
		if (desc_value(text, "CID", value, sizeof(value)))
			fmt_reader_add_info(r, "cid", "%s", value);
	}
	free(text);
}

static int vmdk_check_header(struct fmt_reader *r, struct vmdk_reader *v,
			     const uint8_t *h, uint64_t *gd_off,
			     struct rf_error *err)
{
	uint32_t version = fmt_get_le32(h + 4);
	uint16_t algo = fmt_get_le16(h + 77);
	uint64_t gd_bytes;

	if (fmt_get_le32(h) != VMDK_MAGIC)
		return rf_error_set(err, -EINVAL, "'%s': bad VMDK magic",
				    r->name);
	if (version < 1 || version > 3)
		return rf_error_set(err, -ENOTSUP,
				    "'%s': VMDK version %u is "
				    "not supported",
				    r->name, version);
	v->flags = fmt_get_le32(h + 8);
	v->capacity = fmt_get_le64(h + 12);
	v->grain = fmt_get_le64(h + 20);
	v->gtes = fmt_get_le32(h + 44);
	*gd_off = fmt_get_le64(h + 56);
	if (v->grain == 0 || v->grain > VMDK_MAX_GRAIN_SECTORS ||
	    (v->grain & (v->grain - 1)) != 0)
		return rf_error_set(err, -EINVAL, "'%s': bad grain size %llu",
				    r->name, (unsigned long long)v->grain);
	if (v->gtes == 0 || v->gtes > VMDK_MAX_GTES)
		return rf_error_set(err, -EINVAL,
				    "'%s': L2 table size too "
				    "big (%u entries)",
				    r->name, v->gtes);
	if (v->capacity > (1ull << 54) / VMDK_SECTOR)
		return rf_error_set(err, -EFBIG, "'%s': capacity too large",
				    r->name);
	v->num_gts = fmt_div_round_up(v->capacity, v->grain * v->gtes);
	if (v->num_gts > VMDK_MAX_GD_ENTRIES)
		return rf_error_set(err, -EFBIG, "'%s': L1 size too big",
				    r->name);
	v->compressed = (v->flags & VMDK_FLAG_COMPRESSED) != 0;
	if (v->compressed && algo != VMDK_COMPRESS_DEFLATE)
		return rf_error_set(err, -ENOTSUP,
				    "'%s': unknown compression "
				    "algorithm %u",
				    r->name, algo);
	if (*gd_off == VMDK_GD_AT_END)
		return 0;
	gd_bytes = v->num_gts * 4;
	if (*gd_off > r->file_size / VMDK_SECTOR ||
	    gd_bytes > r->file_size - *gd_off * VMDK_SECTOR)
		return rf_error_set(err, -EINVAL,
				    "'%s': grain directory is "
				    "outside the file (truncated image?)",
				    r->name);
	return 0;
}

/* A streamOptimized file keeps the real header in its footer. */
static int read_footer(struct fmt_reader *r, struct vmdk_reader *v, uint8_t *h,
		       struct rf_error *err)
{
	uint8_t f[3 * VMDK_SECTOR];
	int rc;

	if (!(v->flags & VMDK_FLAG_MARKERS) || r->file_size < 4 * VMDK_SECTOR)
		return rf_error_set(err, -EINVAL,
				    "'%s': grain directory at "
				    "the end, but no footer",
				    r->name);
	rc = fmt_pread(r, f, sizeof(f),
		       r->file_size / VMDK_SECTOR * VMDK_SECTOR - sizeof(f),
		       err);
	if (rc < 0)
		return rc;
	if (fmt_get_le32(f + 8) != 0 ||
	    fmt_get_le32(f + 12) != VMDK_MARKER_FOOTER ||
	    fmt_get_le32(f + VMDK_SECTOR) != VMDK_MAGIC ||
	    fmt_get_le64(f + 2 * VMDK_SECTOR) != 0 ||
	    fmt_get_le32(f + 2 * VMDK_SECTOR + 12) != VMDK_MARKER_EOS)
		return rf_error_set(err, -EINVAL,
				    "'%s': invalid footer "
				    "(truncated streamOptimized image?)",
				    r->name);
	memcpy(h, f + VMDK_SECTOR, VMDK_SECTOR);
	return 0;
}

static int vmdk_ropen(struct fmt_reader *r, struct rf_error *err)
{
	struct vmdk_reader *v = rf_xcalloc(1, sizeof(*v));
	uint8_t h[VMDK_SECTOR];
	uint8_t *gd = NULL;
	uint64_t gd_off;
	int rc;

	r->priv = v;
	if (r->file_size >= sizeof(desc_magic) - 1) {
		char text[sizeof(desc_magic) - 1];

		rc = fmt_pread(r, text, sizeof(text), 0, err);
		if (rc < 0)
			goto out;
		if (memcmp(text, desc_magic, sizeof(text)) == 0) {
			rc = rf_error_set(err, -ENOTSUP,
					  "'%s' is a VMDK "
					  "descriptor with separate extents, "
					  "which is not supported (convert a "
					  "flat extent as raw)",
					  r->name);
			goto out;
		}
	}
	rc = fmt_pread(r, h, sizeof(h), 0, err);
	if (rc < 0)
		goto out;
	rc = vmdk_check_header(r, v, h, &gd_off, err);
	if (rc < 0)
		goto out;
	read_descriptor(r, h);
	if (gd_off == VMDK_GD_AT_END) {
		rc = read_footer(r, v, h, err);
		if (rc < 0)
			goto out;
		rc = vmdk_check_header(r, v, h, &gd_off, err);
		if (rc < 0)
			goto out;
		if (gd_off == VMDK_GD_AT_END) {
			rc = rf_error_set(err, -EINVAL,
					  "'%s': the footer has "
					  "no grain directory",
					  r->name);
			goto out;
		}
	}
	v->gs = v->grain * VMDK_SECTOR;
	r->virtual_size = v->capacity * VMDK_SECTOR;
	v->gd = rf_xcalloc(v->num_gts ? v->num_gts : 1, 4);
	if (v->num_gts > 0) {
		gd = rf_xmalloc(v->num_gts * 4);
		rc = fmt_pread(r, gd, v->num_gts * 4, gd_off * VMDK_SECTOR,
			       err);
		if (rc < 0)
			goto out;
		for (uint64_t i = 0; i < v->num_gts; i++)
			v->gd[i] = fmt_get_le32(gd + 4 * i);
	}
	v->gt = rf_xmalloc((size_t)v->gtes * 4);
	v->gbuf = rf_xmalloc(v->gs);
	fmt_reader_add_info(r, "grain size", "%llu", (unsigned long long)v->gs);
	fmt_reader_add_info(r, "compressed", "%s",
			    v->compressed ? "true" : "false");
out:
	free(gd);
	return rc;
}

/* Grain table entry for grain g; 0 when unallocated. */
static int gt_entry(struct fmt_reader *r, uint64_t g, uint32_t *entry,
		    struct rf_error *err)
{
	struct vmdk_reader *v = r->priv;
	uint64_t i = g / v->gtes;
	uint64_t sector;
	int rc;

	*entry = 0;
	if (i >= v->num_gts)
		return rf_error_set(err, -EINVAL,
				    "'%s': grain outside the "
				    "grain directory",
				    r->name);
	sector = v->gd[i];
	if (sector == 0)
		return 0;
	if (sector != v->gt_sector) {
		v->gt_sector = 0;
		rc = fmt_pread(r, v->gt, (size_t)v->gtes * 4,
			       sector * VMDK_SECTOR, err);
		if (rc < 0)
			return rc;
		v->gt_sector = sector;
	}
	*entry = fmt_get_le32(v->gt + 4 * (g % v->gtes));
	return 0;
}

static bool entry_is_data(const struct vmdk_reader *v, uint32_t e)
{
	if (e == 0)
		return false;
	/* With zeroed-grain support, 1 means "reads as zeros". */
	if (e == 1 && (v->flags & VMDK_FLAG_ZERO_GRAIN))
		return false;
	return true;
}

static int vmdk_map(struct fmt_reader *r, uint64_t off, uint64_t max,
		    uint64_t *len, bool *data, struct rf_error *err)
{
	struct vmdk_reader *v = r->priv;
	uint64_t pos = off, end = off + max;
	bool first = true;

	while (pos < end) {
		uint64_t g = pos / v->gs, next;
		uint32_t e;
		bool d;
		int rc = gt_entry(r, g, &e, err);

		if (rc < 0)
			return rc;
		if (v->gd[g / v->gtes] == 0) {
			d = false;
			next = (g / v->gtes + 1) * v->gtes * v->gs;
		} else {
			d = entry_is_data(v, e);
			next = (g + 1) * v->gs;
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

static int inflate_grain(struct fmt_reader *r, uint64_t sector,
			 struct rf_error *err)
{
	struct vmdk_reader *v = r->priv;
	uint64_t off = sector * VMDK_SECTOR;
	uint64_t clen, avail;
	uint8_t *in;
	int zrc, rc;

	if (sector == v->gbuf_sector)
		return 0;
	v->gbuf_sector = 0;
	if (off >= r->file_size)
		return rf_error_set(err, -EIO,
				    "'%s': grain outside the file "
				    "(truncated image?)",
				    r->name);
	avail = r->file_size - off;
	if (v->flags & VMDK_FLAG_MARKERS) {
		uint8_t m[12];

		rc = fmt_pread(r, m, sizeof(m), off, err);
		if (rc < 0)
			return rc;
		clen = fmt_get_le32(m + 8);
		off += 12;
		if (clen == 0 || clen > avail - 12 ||
		    clen > compressBound((uLong)v->gs) + 4096)
			return rf_error_set(err, -EIO,
					    "'%s': corrupt grain "
					    "marker",
					    r->name);
	} else {
		clen = compressBound((uLong)v->gs) + 4096;
		if (clen > avail)
			clen = avail;
	}
	if (clen > v->cbuf_cap) {
		v->cbuf = rf_xrealloc(v->cbuf, (size_t)clen);
		v->cbuf_cap = (size_t)clen;
	}
	in = v->cbuf;
	rc = fmt_pread(r, in, (size_t)clen, off, err);
	if (rc < 0)
		return rc;
	if (!v->zs_ready) {
		if (inflateInit(&v->zs) != Z_OK)
			return rf_error_set(err, -ENOMEM, "zlib init failed");
		v->zs_ready = true;
	} else if (inflateReset(&v->zs) != Z_OK) {
		return rf_error_set(err, -EIO, "zlib reset failed");
	}
	v->zs.next_in = in;
	v->zs.avail_in = (uInt)clen;
	v->zs.next_out = v->gbuf;
	v->zs.avail_out = (uInt)v->gs;
	zrc = inflate(&v->zs, Z_FINISH);
	if (zrc != Z_STREAM_END)
		return rf_error_set(err, -EIO,
				    "'%s': corrupt compressed grain "
				    "at sector %llu",
				    r->name, (unsigned long long)sector);
	/* A short last grain: the rest reads as zeros. */
	memset(v->gbuf + (v->gs - v->zs.avail_out), 0, v->zs.avail_out);
	v->gbuf_sector = sector;
	return 0;
}

static int vmdk_read(struct fmt_reader *r, uint64_t off, void *buf, size_t len,
		     struct rf_error *err)
{
	struct vmdk_reader *v = r->priv;
	uint8_t *p = buf;
	int rc = 0;

	while (len > 0) {
		uint64_t g = off / v->gs;
		size_t in = (size_t)(off % v->gs);
		size_t n = v->gs - in < len ? (size_t)(v->gs - in) : len;
		uint32_t e;

		rc = gt_entry(r, g, &e, err);
		if (rc < 0)
			break;
		if (!entry_is_data(v, e)) {
			memset(p, 0, n);
		} else if (v->compressed) {
			rc = inflate_grain(r, e, err);
			if (rc < 0)
				break;
			memcpy(p, v->gbuf + in, n);
		} else {
			rc = fmt_pread(r, p, n, (uint64_t)e * VMDK_SECTOR + in,
				       err);
			if (rc < 0)
				break;
		}
		p += n;
		off += n;
		len -= n;
	}
	return rc;
}

static void vmdk_close(struct fmt_reader *r)
{
	struct vmdk_reader *v = r->priv;

	if (v == NULL)
		return;
	if (v->zs_ready)
		inflateEnd(&v->zs);
	free(v->gd);
	free(v->gt);
	free(v->cbuf);
	free(v->gbuf);
	free(v);
	r->priv = NULL;
}

const struct fmt_reader_ops fmt_vmdk_reader = {
	.name = "vmdk",
	.probe = vmdk_probe,
	.open = vmdk_ropen,
	.map = vmdk_map,
	.read = vmdk_read,
	.close = vmdk_close,
};
