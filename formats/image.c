/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The generic half of formats/: the registry, option parsing, the atomic
 * output file, the assembly of the caller's extents into whole non-zero
 * blocks for the writer backends, and the reader front end.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>

#include "atomic.h"
#include "buf.h"
#include "error.h"
#include "private.h"
#include "progress.h"

static const struct fmt_writer_ops *const writers[] = {
	&fmt_raw_writer,
	&fmt_qcow2_writer,
	&fmt_vmdk_writer,
	&fmt_ova_writer,
	NULL,
};

/* Probed in this order; raw accepts anything and comes last. */
static const struct fmt_reader_ops *const readers[] = {
	&fmt_qcow2_reader,
	&fmt_vmdk_reader,
	&fmt_raw_reader,
	NULL,
};

const struct fmt_writer_ops *fmt_writer_by_name(const char *name)
{
	for (size_t i = 0; writers[i] != NULL; i++)
		if (strcmp(writers[i]->name, name) == 0)
			return writers[i];
	return NULL;
}

const struct fmt_reader_ops *fmt_reader_by_name(const char *name)
{
	for (size_t i = 0; readers[i] != NULL; i++)
		if (strcmp(readers[i]->name, name) == 0)
			return readers[i];
	return NULL;
}

const struct fmt_writer_ops *const *fmt_writer_list(void)
{
	return writers;
}

const struct fmt_reader_ops *const *fmt_reader_list(void)
{
	return readers;
}

/* ---- options ---- */

int fmt_options_parse(struct fmt_options *o, const char *s,
		      struct rf_error *err)
{
	const char *p = s;
	int rc = 0;

	memset(o, 0, sizeof(*o));
	if (s == NULL)
		return 0;
	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		struct fmt_opt *opt;

		if (len == 0) {
			p++;
			continue;
		}
		if (eq == NULL || eq == p) {
			rc = rf_error_set(err, -EINVAL,
					  "Invalid option '%.*s': expected "
					  "key=value",
					  (int)len, p);
			goto out;
		}
		o->v = rf_xrealloc(o->v, (o->n + 1) * sizeof(*o->v));
		opt = &o->v[o->n++];
		opt->key = rf_xstrndup(p, (size_t)(eq - p));
		opt->value = rf_xstrndup(eq + 1, len - (size_t)(eq - p) - 1);
		opt->used = false;
		p += len;
	}
out:
	if (rc < 0)
		fmt_options_free(o);
	return rc;
}

void fmt_options_free(struct fmt_options *o)
{
	for (size_t i = 0; i < o->n; i++) {
		free(o->v[i].key);
		free(o->v[i].value);
	}
	free(o->v);
	o->v = NULL;
	o->n = 0;
}

const char *fmt_opt_str(struct fmt_writer *w, const char *key)
{
	const char *value = NULL;

	/* The last one wins, as in qemu-img. */
	for (size_t i = 0; i < w->opts.n; i++) {
		if (strcmp(w->opts.v[i].key, key) == 0) {
			w->opts.v[i].used = true;
			value = w->opts.v[i].value;
		}
	}
	return value;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end != '\0' && end[1] != '\0' &&
	    !(end[1] == 'B' && end[2] == '\0') &&
	    !(end[1] == 'i' && end[2] == 'B' && end[3] == '\0'))
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

int fmt_opt_size(struct fmt_writer *w, const char *key, uint64_t def,
		 uint64_t *out, struct rf_error *err)
{
	const char *s = fmt_opt_str(w, key);

	*out = def;
	if (s == NULL)
		return 0;
	if (parse_size(s, out) < 0)
		return rf_error_set(err, -EINVAL,
				    "Parameter '%s' expects a size, not '%s'",
				    key, s);
	return 0;
}

int fmt_opt_bool(struct fmt_writer *w, const char *key, bool def, bool *out,
		 struct rf_error *err)
{
	const char *s = fmt_opt_str(w, key);

	*out = def;
	if (s == NULL)
		return 0;
	if (!strcmp(s, "on") || !strcmp(s, "true") || !strcmp(s, "yes") ||
	    !strcmp(s, "1"))
		*out = true;
	else if (!strcmp(s, "off") || !strcmp(s, "false") || !strcmp(s, "no") ||
		 !strcmp(s, "0"))
		*out = false;
	else
		return rf_error_set(err, -EINVAL,
				    "Parameter '%s' expects 'on' or 'off', "
				    "not '%s'",
				    key, s);
	return 0;
}

int fmt_opt_choice(struct fmt_writer *w, const char *key,
		   const char *const *choices, int def, int *out,
		   struct rf_error *err)
{
	const char *s = fmt_opt_str(w, key);
	struct rf_buf list = RF_BUF_INIT;
	int rc = 0;

	*out = def;
	if (s == NULL)
		return 0;
	for (int i = 0; choices[i] != NULL; i++) {
		if (strcmp(choices[i], s) == 0) {
			*out = i;
			return 0;
		}
	}
	for (int i = 0; choices[i] != NULL; i++)
		rf_buf_printf(&list, "%s%s", i ? ", " : "", choices[i]);
	rc = rf_error_set(err, -EINVAL,
			  "Invalid value '%s' for parameter '%s' (one of: %s)",
			  s, key, list.data);
	rf_buf_free(&list);
	return rc;
}

unsigned fmt_default_threads(void)
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n <= 0)
		n = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (n <= 0)
		n = 1;
	return n > 16 ? 16 : (unsigned)n;
}

bool fmt_is_zero(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t acc = 0;

	/* A cheap look at the head first: most data is not zero. */
	if (len >= 16) {
		uint64_t w[2];

		memcpy(w, b, 16);
		if (w[0] | w[1])
			return false;
		return memcmp(b, b + 16, len - 16) == 0 && !memcmp(b, b + 8, 8);
	}
	for (size_t i = 0; i < len; i++)
		acc |= b[i];
	return acc == 0;
}

void *fmt_alloc_aligned(size_t len)
{
	void *p = NULL;

	/* Page-aligned buffers make the kernel's copies faster. */
	if (posix_memalign(&p, 4096, len ? len : 1) != 0)
		abort();
	return p;
}

/* ---- output file ---- */

int fmt_pwrite_fd(int fd, const void *buf, size_t len, uint64_t off,
		  const char *name, struct rf_error *err)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len > (1u << 30) ? (1u << 30) : len,
				   (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return rf_error_errno(err, -errno,
					      "Could not write to '%s'", name);
		}
		if (n == 0)
			return rf_error_set(err, -EIO,
					    "Could not write to '%s': no "
					    "progress",
					    name);
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* Start writeback every so often, so the final fsync() is short. */
#define FMT_WRITEBACK_BYTES (64u << 20)

int fmt_pwrite(struct fmt_writer *w, const void *buf, size_t len, uint64_t off,
	       struct rf_error *err)
{
	int rc = fmt_pwrite_fd(w->fd, buf, len, off, w->path, err);

	if (rc < 0)
		return rc;
	w->dirty += len;
	if (w->sync && w->dirty >= FMT_WRITEBACK_BYTES) {
		/* Only a hint: an error here shows up again at fsync. */
		(void)sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		w->dirty = 0;
	}
	return 0;
}

int fmt_truncate(struct fmt_writer *w, uint64_t len, struct rf_error *err)
{
	if (len > (uint64_t)INT64_MAX)
		return rf_error_set(err, -EFBIG, "'%s': image too large",
				    w->path);
	if (ftruncate(w->fd, (off_t)len) < 0)
		return rf_error_errno(err, -errno, "Could not resize '%s'",
				      w->path);
	return 0;
}

/* ---- writer ---- */

static struct fmt_writer *writer_alloc(const struct fmt_writer_ops *ops,
				       const char *path, uint64_t size)
{
	struct fmt_writer *w = rf_xcalloc(1, sizeof(*w));

	w->ops = ops;
	w->fd = -1;
	w->out = (struct rf_atomic)RF_ATOMIC_INIT;
	w->path = rf_xstrdup(path);
	w->size = size;
	w->virtual_size = size;
	w->stage_block = UINT64_MAX;
	w->sync = true;
	return w;
}

static int writer_start(struct fmt_writer *w, struct rf_error *err)
{
	int rc;

	rc = w->ops->open(w, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < w->opts.n; i++)
		if (!w->opts.v[i].used)
			return rf_error_set(err, -EINVAL,
					    "Invalid parameter '%s' for "
					    "format '%s'",
					    w->opts.v[i].key, w->ops->name);
	if (w->block_size == 0)
		return rf_error_set(err, -EINVAL,
				    "internal: format '%s' "
				    "set no block size",
				    w->ops->name);
	w->stage = rf_xmalloc(w->block_size);
	return 0;
}

int fmt_writer_new(const char *format, const char *path, uint64_t size,
		   const char *options, struct fmt_writer **out,
		   struct rf_error *err)
{
	const struct fmt_writer_ops *ops = fmt_writer_by_name(format);
	struct fmt_writer *w = NULL;
	int rc;

	*out = NULL;
	if (ops == NULL) {
		rc = rf_error_set(err, -EINVAL, "Unknown file format '%s'",
				  format);
		goto out;
	}
	if (size > (uint64_t)INT64_MAX / 2) {
		rc = rf_error_set(err, -EFBIG, "Image size %llu is too large",
				  (unsigned long long)size);
		goto out;
	}
	w = writer_alloc(ops, path, size);
	rc = fmt_options_parse(&w->opts, options, err);
	if (rc < 0)
		goto out;
	rc = rf_atomic_open(&w->out, path, O_RDWR, 0666, err);
	if (rc < 0)
		goto out;
	w->fd = w->out.fd;
	rc = writer_start(w, err);
	if (rc < 0)
		goto out;
	*out = w;
	w = NULL;
out:
	fmt_writer_free(w);
	return rc;
}

int fmt_writer_new_fd(const struct fmt_writer_ops *ops, int fd,
		      const char *name, uint64_t size, struct fmt_options *opts,
		      struct fmt_writer **out, struct rf_error *err)
{
	struct fmt_writer *w = writer_alloc(ops, name, size);
	int rc;

	*out = NULL;
	w->fd = fd;
	/* Borrow the options so that the owner sees which were used. */
	w->opts = *opts;
	rc = ops->open(w, err);
	w->opts.v = NULL;
	w->opts.n = 0;
	if (rc < 0)
		goto out;
	w->stage = rf_xmalloc(w->block_size);
	*out = w;
	w = NULL;
out:
	if (w != NULL) {
		w->fd = -1;
		fmt_writer_free(w);
	}
	return rc;
}

/* Hand the backend the non-zero runs of count whole blocks. */
static int emit_blocks(struct fmt_writer *w, uint64_t first, uint64_t count,
		       const uint8_t *buf, struct rf_error *err)
{
	size_t bs = w->block_size;
	uint64_t i = 0;
	int rc = 0;

	while (i < count) {
		uint64_t start;

		while (i < count && fmt_is_zero(buf + i * bs, bs))
			i++;
		start = i;
		while (i < count && !fmt_is_zero(buf + i * bs, bs))
			i++;
		if (i > start) {
			w->data_blocks += i - start;
			rc = w->ops->write_blocks(w, first + start, i - start,
						  buf + start * bs, err);
			if (rc < 0)
				break;
		}
	}
	return rc;
}

static int flush_stage(struct fmt_writer *w, struct rf_error *err)
{
	int rc = 0;

	if (w->stage_block != UINT64_MAX)
		rc = emit_blocks(w, w->stage_block, 1, w->stage, err);
	w->stage_block = UINT64_MAX;
	return rc;
}

int fmt_writer_write(struct fmt_writer *w, uint64_t offset, const void *buf,
		     size_t len, struct rf_error *err)
{
	const uint8_t *p = buf;
	uint64_t bs = w->block_size;
	int rc = 0;

	if (w->failed || w->finished)
		return rf_error_set(err, -EINVAL,
				    "'%s': the writer can no "
				    "longer be used",
				    w->path);
	if (offset < w->next_off) {
		rc = rf_error_set(err, -EINVAL,
				  "'%s': extent at %llu comes "
				  "before the end of the previous one (%llu)",
				  w->path, (unsigned long long)offset,
				  (unsigned long long)w->next_off);
		goto out;
	}
	if (offset > w->size || len > w->size - offset) {
		rc = rf_error_set(err, -EINVAL,
				  "'%s': extent at %llu of %zu "
				  "bytes passes the end of the disk (%llu)",
				  w->path, (unsigned long long)offset, len,
				  (unsigned long long)w->size);
		goto out;
	}
	if (len == 0)
		goto out;
	w->next_off = offset + len;
	while (len > 0) {
		uint64_t block = offset / bs;
		size_t in = (size_t)(offset % bs);
		size_t n;

		if (w->stage_block != UINT64_MAX && w->stage_block != block) {
			rc = flush_stage(w, err);
			if (rc < 0)
				goto out;
		}
		if (in != 0 || len < bs) {
			if (w->stage_block == UINT64_MAX) {
				memset(w->stage, 0, bs);
				w->stage_block = block;
			}
			n = bs - in < len ? bs - in : len;
			memcpy(w->stage + in, p, n);
			/* Later extents start past it: the block is done. */
			if (in + n == bs) {
				rc = flush_stage(w, err);
				if (rc < 0)
					goto out;
			}
		} else {
			n = len - len % bs;
			rc = emit_blocks(w, block, n / bs, p, err);
			if (rc < 0)
				goto out;
		}
		offset += n;
		p += n;
		len -= n;
	}
out:
	if (rc < 0)
		w->failed = true;
	return rc;
}

int fmt_writer_finish(struct fmt_writer *w, struct rf_error *err)
{
	int rc;

	if (w->failed || w->finished)
		return rf_error_set(err, -EINVAL,
				    "'%s': the writer can no "
				    "longer be used",
				    w->path);
	rc = flush_stage(w, err);
	if (rc < 0)
		goto out;
	rc = w->ops->finish(w, err);
	if (rc < 0)
		goto out;
	if (w->out.fd >= 0) {
		rc = rf_atomic_commit(&w->out, w->sync, err);
		if (rc < 0)
			goto out;
	}
	w->finished = true;
out:
	if (rc < 0)
		w->failed = true;
	return rc;
}

void fmt_writer_set_sync(struct fmt_writer *w, bool sync)
{
	w->sync = sync;
}

uint64_t fmt_writer_virtual_size(const struct fmt_writer *w)
{
	return w->virtual_size;
}

void fmt_writer_free(struct fmt_writer *w)
{
	if (w == NULL)
		return;
	if (w->ops->free != NULL)
		w->ops->free(w);
	/* An output that never became the image goes away; a descriptor
	 * lent by fmt_writer_new_fd() stays its owner's. */
	rf_atomic_close(&w->out);
	fmt_options_free(&w->opts);
	free(w->stage);
	free(w->path);
	free(w);
}

/* ---- reader ---- */

int fmt_pread(struct fmt_reader *r, void *buf, size_t len, uint64_t off,
	      struct rf_error *err)
{
	uint8_t *p = buf;

	if (off > r->file_size || len > r->file_size - off)
		return rf_error_set(err, -EIO,
				    "'%s': image is truncated or "
				    "corrupt (read of %zu bytes at %llu, past "
				    "the end of the file)",
				    r->name, len, (unsigned long long)off);
	while (len > 0) {
		ssize_t n = pread(r->fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return rf_error_errno(err, -errno,
					      "Could not read "
					      "'%s'",
					      r->name);
		}
		if (n == 0)
			return rf_error_set(err, -EIO,
					    "'%s': image is "
					    "truncated",
					    r->name);
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

void fmt_reader_add_info(struct fmt_reader *r, const char *key, const char *fmt,
			 ...)
{
	struct rf_buf b = RF_BUF_INIT;
	va_list ap;
	char line[512];

	if (r->ninfo >= sizeof(r->info_keys) / sizeof(r->info_keys[0]))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rf_buf_addstr(&b, line);
	r->info_keys[r->ninfo] = rf_xstrdup(key);
	r->info_values[r->ninfo] = rf_buf_detach(&b);
	r->ninfo++;
}

static int reader_size(struct fmt_reader *r, struct rf_error *err)
{
	struct stat st;
	uint64_t bytes;

	if (fstat(r->fd, &st) < 0)
		return rf_error_errno(err, -errno, "Could not stat '%s'",
				      r->name);
	if (S_ISREG(st.st_mode)) {
		r->file_size = (uint64_t)st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode) && ioctl(r->fd, BLKGETSIZE64, &bytes) == 0) {
		r->file_size = bytes;
		return 0;
	}
	return rf_error_set(err, -EINVAL,
			    "'%s' is neither a file nor a "
			    "block device",
			    r->name);
}

int fmt_reader_open_fd(int fd, const char *name, const char *format,
		       struct fmt_reader **out, struct rf_error *err)
{
	struct fmt_reader *r = rf_xcalloc(1, sizeof(*r));
	uint8_t head[1024];
	ssize_t n;
	int rc;

	*out = NULL;
	r->name = rf_xstrdup(name);
	r->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (r->fd < 0) {
		rc = rf_error_errno(err, -errno, "Could not open '%s'", name);
		goto out;
	}
	rc = reader_size(r, err);
	if (rc < 0)
		goto out;
	if (format != NULL) {
		r->ops = fmt_reader_by_name(format);
		if (r->ops == NULL) {
			rc = rf_error_set(err, -EINVAL,
					  "Unknown file format "
					  "'%s'",
					  format);
			goto out;
		}
	} else {
		do
			n = pread(r->fd, head, sizeof(head), 0);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			rc = rf_error_errno(err, -errno, "Could not read '%s'",
					    name);
			goto out;
		}
		for (size_t i = 0; readers[i] != NULL; i++) {
			if (readers[i]->probe(head, (size_t)n)) {
				r->ops = readers[i];
				break;
			}
		}
	}
	rc = r->ops->open(r, err);
	if (rc < 0)
		goto out;
	*out = r;
	r = NULL;
out:
	fmt_reader_free(r);
	return rc;
}

int fmt_reader_open(const char *path, const char *format,
		    struct fmt_reader **out, struct rf_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	*out = NULL;
	if (fd < 0)
		return rf_error_errno(err, -errno, "Could not open '%s'", path);
	rc = fmt_reader_open_fd(fd, path, format, out, err);
	close(fd);
	return rc;
}

const char *fmt_reader_format(const struct fmt_reader *r)
{
	return r->ops->name;
}

uint64_t fmt_reader_virtual_size(const struct fmt_reader *r)
{
	return r->virtual_size;
}

int fmt_reader_map(struct fmt_reader *r, uint64_t off, uint64_t max,
		   uint64_t *len, bool *data, struct rf_error *err)
{
	int rc;

	if (off >= r->virtual_size || max == 0)
		return rf_error_set(err, -EINVAL,
				    "'%s': map request at %llu "
				    "is outside the disk",
				    r->name, (unsigned long long)off);
	if (max > r->virtual_size - off)
		max = r->virtual_size - off;
	rc = r->ops->map(r, off, max, len, data, err);
	if (rc == 0 && (*len == 0 || *len > max))
		rc = rf_error_set(err, -EIO,
				  "internal: '%s' mapped a bad "
				  "length",
				  r->name);
	return rc;
}

int fmt_reader_read(struct fmt_reader *r, uint64_t off, void *buf, size_t len,
		    struct rf_error *err)
{
	if (off > r->virtual_size || len > r->virtual_size - off)
		return rf_error_set(err, -EINVAL,
				    "'%s': read of %zu bytes at "
				    "%llu is outside the disk",
				    r->name, len, (unsigned long long)off);
	if (len == 0)
		return 0;
	return r->ops->read(r, off, buf, len, err);
}

size_t fmt_reader_info(const struct fmt_reader *r, const char *const **keys,
		       const char *const **values)
{
	*keys = (const char *const *)r->info_keys;
	*values = (const char *const *)r->info_values;
	return r->ninfo;
}

void fmt_reader_free(struct fmt_reader *r)
{
	if (r == NULL)
		return;
	if (r->ops != NULL && r->ops->close != NULL)
		r->ops->close(r);
	for (size_t i = 0; i < r->ninfo; i++) {
		free(r->info_keys[i]);
		free(r->info_values[i]);
	}
	if (r->fd >= 0)
		close(r->fd);
	free(r->name);
	free(r);
}

/* ---- convert ---- */

/*
 * Reading and writing overlap: a thread reads the next chunks while the
 * caller's thread writes (and, for compressed formats, hands out work to
 * the compression threads). qemu-img overlaps its I/O the same way.
 */
#define FMT_COPY_CHUNK (4u << 20)
#define FMT_COPY_BUFS 4

struct copy_queue {
	struct fmt_reader *r;
	uint64_t size;
	uint8_t *buf[FMT_COPY_BUFS];
	uint64_t off[FMT_COPY_BUFS];
	size_t len[FMT_COPY_BUFS];
	unsigned head;	/* next chunk to write */
	unsigned count; /* chunks read, not yet written */
	bool done;	/* the reader has finished */
	bool stop;	/* the writer gave up */
	int rc;
	struct rf_error err;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static int copy_read_chunk(struct copy_queue *q, uint64_t off, size_t n)
{
	unsigned slot;
	int rc;

	pthread_mutex_lock(&q->lock);
	while (q->count == FMT_COPY_BUFS && !q->stop)
		pthread_cond_wait(&q->cond, &q->lock);
	slot = (q->head + q->count) % FMT_COPY_BUFS;
	rc = q->stop ? -ECANCELED : 0;
	pthread_mutex_unlock(&q->lock);
	if (rc < 0)
		return rc;
	/* The slot is the reader's until published. */
	rc = fmt_reader_read(q->r, off, q->buf[slot], n, &q->err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&q->lock);
	q->off[slot] = off;
	q->len[slot] = n;
	q->count++;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

static void *copy_reader(void *arg)
{
	struct copy_queue *q = arg;
	uint64_t off = 0;
	int rc = 0;

	while (off < q->size && rc == 0) {
		uint64_t len, end;
		bool data;

		rc = fmt_reader_map(q->r, off, q->size - off, &len, &data,
				    &q->err);
		if (rc < 0)
			break;
		end = off + len;
		while (data && off < end && rc == 0) {
			size_t n = end - off < FMT_COPY_CHUNK
					   ? (size_t)(end - off)
					   : FMT_COPY_CHUNK;

			rc = copy_read_chunk(q, off, n);
			off += n;
		}
		off = end;
	}
	pthread_mutex_lock(&q->lock);
	q->rc = rc;
	q->done = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int fmt_convert(struct fmt_reader *r, struct fmt_writer *w,
		fmt_progress_fn progress, void *ctx, struct rf_error *err)
{
	struct copy_queue q;
	pthread_t reader;
	bool started = false;
	int rc = 0, e;

	memset(&q, 0, sizeof(q));
	q.r = r;
	q.size = fmt_reader_virtual_size(r);
	if (q.size > w->size)
		return rf_error_set(err, -EINVAL,
				    "'%s' (%llu bytes) does not "
				    "fit in '%s' (%llu bytes)",
				    r->name, (unsigned long long)q.size,
				    w->path, (unsigned long long)w->size);
	pthread_mutex_init(&q.lock, NULL);
	pthread_cond_init(&q.cond, NULL);
	for (unsigned i = 0; i < FMT_COPY_BUFS; i++)
		q.buf[i] = fmt_alloc_aligned(FMT_COPY_CHUNK);
	e = pthread_create(&reader, NULL, copy_reader, &q);
	if (e != 0) {
		rc = rf_error_errno(err, -e, "Could not start a thread");
		goto out;
	}
	started = true;
	for (;;) {
		unsigned slot;

		pthread_mutex_lock(&q.lock);
		while (q.count == 0 && !q.done)
			pthread_cond_wait(&q.cond, &q.lock);
		if (q.count == 0) {
			pthread_mutex_unlock(&q.lock);
			break;
		}
		slot = q.head;
		pthread_mutex_unlock(&q.lock);
		rc = fmt_writer_write(w, q.off[slot], q.buf[slot], q.len[slot],
				      err);
		if (rc < 0)
			break;
		if (progress != NULL)
			progress(ctx, q.off[slot] + q.len[slot], q.size);
		pthread_mutex_lock(&q.lock);
		q.head = (q.head + 1) % FMT_COPY_BUFS;
		q.count--;
		pthread_cond_broadcast(&q.cond);
		pthread_mutex_unlock(&q.lock);
	}
out:
	if (started) {
		pthread_mutex_lock(&q.lock);
		q.stop = true;
		pthread_cond_broadcast(&q.cond);
		pthread_mutex_unlock(&q.lock);
		pthread_join(reader, NULL);
		if (rc == 0 && q.rc < 0) {
			rc = q.rc;
			if (err != NULL)
				*err = q.err;
		}
	}
	if (rc == 0 && progress != NULL)
		progress(ctx, q.size, q.size);
	for (unsigned i = 0; i < FMT_COPY_BUFS; i++)
		free(q.buf[i]);
	pthread_mutex_destroy(&q.lock);
	pthread_cond_destroy(&q.cond);
	return rc;
}
