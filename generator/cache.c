/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The payload cache: see cache.h. */
#include "config.h"

#include <archive.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "atomic.h"
#include "buf.h"
#include "cache.h"

#define SUFFIX ".zst" /* a tar or a cpio: the key names the kind */
#define ZSTD_LEVEL 1 /* the payload is stored once and read many times:
			  level 1 stores it at disk speed, and zstd decodes
			  every level as fast */

struct gen_cache {
	char *dir;
	int dirfd;
	uint64_t max;
	struct gen_cache_stats st; /* updated with atomics: several threads */
};

struct gen_cache_reader {
	struct gen_cache *c;
	char name[GEN_CACHE_KEY_MAX + sizeof(SUFFIX)];
	int fd;
	ZSTD_DCtx *d;
	ZSTD_inBuffer in;
	void *inbuf, *outbuf;
	size_t insize, outsize;
	bool eof, frame_done, bad;
};

struct gen_cache_fill {
	struct gen_cache *c;
	struct rf_atomic a;
	ZSTD_CCtx *z;
	void *outbuf;
	size_t outsize;
	bool bad;
};

static void count(uint64_t *v)
{
	__atomic_add_fetch(v, 1, __ATOMIC_RELAXED);
}

int gen_cache_open(const char *dir, uint64_t max_bytes,
		   struct gen_cache **out, struct rf_error *err)
{
	struct gen_cache *c;
	struct stat st;
	int fd;

	*out = NULL;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return rf_error_errno(err, -errno, "cannot make the cache %s",
				      dir);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return rf_error_errno(err, -errno, "cannot open the cache %s",
				      dir);
	if (fstat(fd, &st) < 0) {
		int rc = rf_error_errno(err, -errno, "cannot stat the cache %s",
					dir);

		close(fd);
		return rc;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
		close(fd);
		return rf_error_set(err, -EPERM,
				    "the cache %s must belong to this user and "
				    "be writable by no one else (what it "
				    "holds goes into images)",
				    dir);
	}
	c = rf_xcalloc(1, sizeof(*c));
	c->dir = rf_xstrdup(dir);
	c->dirfd = fd;
	c->max = max_bytes;
	*out = c;
	return 0;
}

struct cached {
	char *name;
	time_t mtime;
	uint64_t size;
};

static int oldest_first(const void *a, const void *b)
{
	const struct cached *x = a, *y = b;

	return x->mtime < y->mtime ? -1 : x->mtime > y->mtime;
}

/* Remove the least recently used entries past the limit. */
static void trim(struct gen_cache *c)
{
	struct cached *v = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	struct dirent *de;
	DIR *d;
	int fd = dup(c->dirfd);

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (!gen_cache_is_entry(de->d_name) ||
		    fstatat(c->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
			    0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = rf_xrealloc(v, cap * sizeof(*v));
		}
		v[n].name = rf_xstrdup(de->d_name);
		v[n].mtime = st.st_mtime;
		v[n].size = (uint64_t)st.st_blocks * 512;
		total += v[n].size;
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), oldest_first);
	for (size_t i = 0; i < n && total > c->max; i++)
		if (unlinkat(c->dirfd, v[i].name, 0) == 0)
			total -= v[i].size;
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

void gen_cache_close(struct gen_cache *c)
{
	if (c == NULL)
		return;
	if (c->max > 0)
		trim(c);
	close(c->dirfd);
	free(c->dir);
	free(c);
}

void gen_cache_stats(const struct gen_cache *c, struct gen_cache_stats *st)
{
	if (c == NULL)
		memset(st, 0, sizeof(*st));
	else
		*st = c->st;
}

bool gen_cache_is_entry(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > strlen(SUFFIX) &&
	       strcmp(name + n - strlen(SUFFIX), SUFFIX) == 0;
}

void gen_cache_key(char key[GEN_CACHE_KEY_MAX], const char *kind,
		   const unsigned char sha256[32])
{
	static const char hex[] = "0123456789abcdef";
	int n = snprintf(key, GEN_CACHE_KEY_MAX, "%.16s-sha256-", kind);

	for (int i = 0; i < 32; i++) {
		key[n++] = hex[sha256[i] >> 4];
		key[n++] = hex[sha256[i] & 15];
	}
	key[n] = '\0';
}

struct gen_cache_reader *gen_cache_get(struct gen_cache *c, const char *key)
{
	struct gen_cache_reader *r;
	int fd;

	ZSTD_DCtx *d;

	r = rf_xcalloc(1, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s" SUFFIX, key);
	fd = openat(c->dirfd, r->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	d = fd >= 0 ? ZSTD_createDCtx() : NULL;
	if (d == NULL) {
		/* none, or no memory to decode it: a miss, the entry kept */
		if (fd >= 0)
			close(fd);
		free(r);
		count(&c->st.misses);
		return NULL;
	}
	/* used now: the last to go when the cache is trimmed */
	futimens(fd, NULL);
	r->c = c;
	r->fd = fd;
	r->d = d;
	r->insize = ZSTD_DStreamInSize();
	r->outsize = ZSTD_DStreamOutSize();
	r->inbuf = rf_xmalloc(r->insize);
	r->outbuf = rf_xmalloc(r->outsize);
	r->in.src = r->inbuf;
	count(&c->st.hits);
	return r;
}

/* The next decoded bytes: > 0, 0 at the end of the entry, < 0 when it is
 * damaged (r->bad; *why says how). */
static ssize_t decode(struct gen_cache_reader *r, const char **why)
{
	for (;;) {
		ZSTD_outBuffer out = {r->outbuf, r->outsize, 0};
		size_t ret, before;

		if (r->in.pos == r->in.size && !r->eof) {
			ssize_t n;

			do
				n = read(r->fd, r->inbuf, r->insize);
			while (n < 0 && errno == EINTR);
			if (n < 0) {
				*why = strerror(errno);
				r->bad = true;
				return -1;
			}
			r->eof = n == 0;
			r->in.size = (size_t)n;
			r->in.pos = 0;
		}
		before = r->in.pos;
		ret = ZSTD_decompressStream(r->d, &out, &r->in);
		if (ZSTD_isError(ret)) {
			*why = ZSTD_getErrorName(ret);
			r->bad = true;
			return -1;
		}
		/* a call with nothing to do after the end of the frame
		 * asks for the next frame's header: still done */
		if (ret == 0)
			r->frame_done = true;
		else if (r->in.pos != before || out.pos > 0)
			r->frame_done = false;
		if (out.pos > 0)
			return (ssize_t)out.pos;
		if (r->eof && r->in.pos == r->in.size) {
			if (!r->frame_done) {
				*why = "truncated";
				r->bad = true;
				return -1;
			}
			return 0;
		}
	}
}

long gen_cache_read(struct archive *a, void *reader, const void **buf)
{
	struct gen_cache_reader *r = reader;
	const char *why = NULL;
	ssize_t n;

	if (r->bad) {
		archive_set_error(a, EIO, "cache entry %s is damaged", r->name);
		return -1;
	}
	n = decode(r, &why);
	if (n < 0) {
		archive_set_error(a, EIO, "cache entry %s: %s", r->name, why);
		return -1;
	}
	*buf = r->outbuf;
	return (long)n;
}

bool gen_cache_reader_bad(const struct gen_cache_reader *r)
{
	return r->bad;
}

bool gen_cache_reader_end(struct gen_cache_reader *r, bool ok)
{
	const char *why;
	bool whole;

	if (r == NULL)
		return false;
	/* the rest (tar's padding), to reach zstd's checksum */
	while (ok && !r->bad && decode(r, &why) > 0)
		;
	whole = !r->bad && r->frame_done;
	if (!whole || !ok) {
		unlinkat(r->c->dirfd, r->name, 0);
		if (ok)
			count(&r->c->st.damaged);
	}
	ZSTD_freeDCtx(r->d);
	close(r->fd);
	free(r->inbuf);
	free(r->outbuf);
	free(r);
	return whole;
}

struct gen_cache_fill *gen_cache_fill_new(struct gen_cache *c,
					  const char *key)
{
	struct gen_cache_fill *f = rf_xcalloc(1, sizeof(*f));
	struct rf_buf path = RF_BUF_INIT;
	struct rf_error err = {0};

	f->c = c;
	f->a = (struct rf_atomic)RF_ATOMIC_INIT;
	rf_buf_printf(&path, "%s/%s" SUFFIX, c->dir, key);
	if (rf_atomic_open(&f->a, path.data, O_WRONLY, 0600, &err) < 0)
		goto fail;
	f->z = ZSTD_createCCtx();
	if (f->z == NULL ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(f->z, ZSTD_c_compressionLevel,
						ZSTD_LEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(f->z, ZSTD_c_checksumFlag,
						1)))
		goto fail;
	f->outsize = ZSTD_CStreamOutSize();
	f->outbuf = rf_xmalloc(f->outsize);
	rf_buf_free(&path);
	return f;
fail:
	rf_buf_free(&path);
	ZSTD_freeCCtx(f->z);
	rf_atomic_close(&f->a);
	free(f);
	return NULL;
}

/* Compress in (all of it, or the frame's end with end) to the file. */
static void fill_step(struct gen_cache_fill *f, const void *buf, size_t n,
		      bool end)
{
	ZSTD_inBuffer in = {buf, n, 0};
	size_t left;

	do {
		ZSTD_outBuffer out = {f->outbuf, f->outsize, 0};

		left = ZSTD_compressStream2(f->z, &out, &in,
					    end ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(left)) {
			f->bad = true;
			return;
		}
		for (size_t done = 0; done < out.pos;) {
			ssize_t w = write(f->a.fd, (char *)f->outbuf + done,
					  out.pos - done);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				f->bad = true; /* a full disk: no entry */
				return;
			}
			done += (size_t)w;
		}
	} while (end ? left != 0 : in.pos < in.size);
}

void gen_cache_fill_write(struct gen_cache_fill *f, const void *buf,
			  size_t n)
{
	if (f != NULL && !f->bad && n > 0)
		fill_step(f, buf, n, false);
}

void gen_cache_fill_end(struct gen_cache_fill *f, bool keep)
{
	struct rf_error err = {0};

	if (f == NULL)
		return;
	if (keep && !f->bad)
		fill_step(f, NULL, 0, true);
	if (keep && !f->bad && rf_atomic_commit(&f->a, false, &err) == 0)
		count(&f->c->st.stored);
	rf_atomic_close(&f->a);
	ZSTD_freeCCtx(f->z);
	free(f->outbuf);
	free(f);
}
