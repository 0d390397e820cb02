/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ext4 writer: see fsw.h. libext2fs does the filesystem's own
 * bookkeeping (bitmaps, group descriptors, checksums, inode tables,
 * extent trees past four extents, xattr blocks and the ACL format); this
 * file decides what goes where. File data is written with pwrite() into
 * blocks taken from the block bitmap under a lock, so that several
 * threads can read packages at once; nothing else of libext2fs is used
 * before gen_fsw_close(), which runs alone.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <ext2fs/ext2fs.h>

#include "buf.h"
#include "fsw.h"

#define DATA_BUF (1U << 20)    /* file data gathered before a write */
#define SYMLINK_HOPS 40        /* as the kernel's MAXSYMLINKS */
#define EXT_MAX_LEN 32768      /* blocks of one initialized extent */
#define LPF_BLOCKS 4           /* lost+found's room, as mke2fs gives */

struct fsw_ext {
	uint64_t lblk, pblk;
	uint32_t len;
};

struct fsw_xattr {
	char *name;
	unsigned char *val;
	size_t len;
};

struct fsw_dent;
struct fsw_inode;

/* One filesystem of the image: the root's, or one mounted in it. */
struct fsw_fs {
	ext2_filsys fs;
	int fd;                 /* for the data: pwrite() */
	uint64_t cursor;        /* where the next allocation looks first */
	uint64_t data_blocks;
	uint32_t next_ino;      /* at close */
	struct fsw_inode *root; /* its root directory in the model */
	char *mountpoint;       /* "/", "/srv" */
};

/* A directory's entries, by name (open addressing, linear probing). */
struct fsw_dir {
	struct fsw_dent **slot;
	size_t cap, n;
	size_t nsub; /* of them directories */
};

/* An inode to be. */
struct fsw_inode {
	struct fsw_fs *fs; /* the filesystem it is on */
	uint32_t ino;  /* given at close; 2 for a filesystem's root */
	uint32_t stub; /* a mounted root: its directory on the parent */
	mode_t mode;   /* type and permissions */
	uint32_t uid, gid;
	struct timespec mtime;
	dev_t rdev;
	uint64_t size;
	uint32_t nlink; /* entries naming it */
	struct fsw_ext *ext;
	size_t next;
	char *target;   /* a symlink's */
	struct fsw_xattr *x;
	size_t nx;
	struct fsw_dir *dir;   /* a directory's entries */
	struct fsw_dent *self; /* a directory's own entry */
	bool written;          /* by gen_fsw_close() */
	bool dx;               /* a directory written with an htree index */
};

struct fsw_dent {
	char *name;
	struct fsw_dent *parent;
	struct fsw_inode *in;
};

/* What one archive entry does, kept until the batch is applied. */
struct fsw_rec {
	struct fsw_fs *fs; /* where ext are */
	char *name, *link, *target;
	mode_t type;
	unsigned perm;
	uint32_t uid, gid;
	struct timespec mtime;
	dev_t rdev;
	uint64_t size;
	bool data; /* a hardlink entry that carries data */
	struct fsw_ext *ext;
	size_t next;
	struct fsw_xattr *x;
	size_t nx;
};

struct gen_fsw_batch {
	struct gen_fsw *w;
	bool live; /* each record applied as soon as read */
	struct fsw_rec *v;
	size_t n, cap;
	unsigned char *buf; /* DATA_BUF bytes, block aligned */
};

struct gen_fsw {
	struct fsw_fs **fss; /* the root's first */
	size_t nfs;
	unsigned bs;          /* every filesystem's */
	pthread_mutex_t lock; /* the block bitmaps and the counts */
	/* the namespace, when readers on other threads look up in it (more
	 * than one filesystem: which one a file's data goes to) */
	pthread_rwlock_t ns;
	struct fsw_dent root; /* root.in: the root directory */
	struct timespec now;
};

/* --- errors ------------------------------------------------------------ */

static int e2err(struct rf_error *err, errcode_t e, const char *what,
		 const char *name)
{
	int rc = e > 0 && e < 4096 ? -(int)e : -EIO;

	if (e == EXT2_ET_BLOCK_ALLOC_FAIL || e == EXT2_ET_INODE_ALLOC_FAIL ||
	    e == EXT2_ET_DIR_NO_SPACE)
		rc = -ENOSPC;

	return rf_error_set(err, rc, "%s%s%s: %s", what, name ? " " : "",
			    name ? name : "", error_message(e));
}

/* --- blocks -------------------------------------------------------------- */

/* Up to want free blocks in one run: *pblk, *got. */
static int alloc_run(struct gen_fsw *w, struct fsw_fs *f, uint64_t want,
		     uint64_t *pblk, uint64_t *got)
{
	ext2_filsys fs = f->fs;
	blk64_t end = ext2fs_blocks_count(fs->super) - 1, z, s, last;
	blk64_t start = f->cursor;
	int rc = -ENOSPC;

	pthread_mutex_lock(&w->lock);
	for (int pass = 0; pass < 2; pass++) {
		if (start <= end &&
		    ext2fs_find_first_zero_block_bitmap2(fs->block_map, start,
							 end, &z) == 0) {
			last = want - 1 > end - z ? end : z + want - 1;
			if (ext2fs_find_first_set_block_bitmap2(
				    fs->block_map, z, last, &s) != 0)
				s = last + 1;
			ext2fs_block_alloc_stats_range(fs, z, s - z, +1);
			*pblk = z;
			*got = s - z;
			f->cursor = s;
			f->data_blocks += s - z;
			rc = 0;
			break;
		}
		start = fs->super->s_first_data_block;
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

static void free_exts(struct gen_fsw *w, struct fsw_fs *f,
		      struct fsw_ext *ext, size_t n)
{
	if (n == 0)
		return;
	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < n; i++) {
		ext2fs_block_alloc_stats_range(f->fs, ext[i].pblk, ext[i].len,
					       -1);
		f->data_blocks -= ext[i].len;
	}
	pthread_mutex_unlock(&w->lock);
}

static void add_ext(struct fsw_ext **v, size_t *n, uint64_t lblk,
		    uint64_t pblk, uint64_t len)
{
	while (len > 0) {
		struct fsw_ext *l = *n ? &(*v)[*n - 1] : NULL;
		uint64_t take;

		if (l != NULL && l->lblk + l->len == lblk &&
		    l->pblk + l->len == pblk && l->len < EXT_MAX_LEN) {
			take = EXT_MAX_LEN - l->len;
			if (take > len)
				take = len;
			l->len += (uint32_t)take;
		} else {
			take = len > EXT_MAX_LEN ? EXT_MAX_LEN : len;
			*v = rf_xrealloc(*v, (*n + 1) * sizeof(**v));
			(*v)[(*n)++] = (struct fsw_ext){lblk, pblk,
							(uint32_t)take};
		}
		lblk += take;
		pblk += take;
		len -= take;
	}
}

/* Write len bytes of buf (a whole number of blocks) as the file's blocks
 * from lblk on. */
static int put_blocks(struct gen_fsw *w, struct fsw_fs *f,
		      const unsigned char *buf, size_t len, uint64_t lblk,
		      struct fsw_ext **ext, size_t *next)
{
	uint64_t nblk = len / w->bs;

	while (nblk > 0) {
		uint64_t p, got;
		size_t bytes;
		int rc = alloc_run(w, f, nblk, &p, &got);

		if (rc < 0)
			return rc;
		bytes = (size_t)got * w->bs;
		for (size_t done = 0; done < bytes;) {
			ssize_t n = pwrite(f->fd, buf + done, bytes - done,
					   (off_t)(p * w->bs + done));

			if (n < 0) {
				rc = -errno;
				free_exts(w, f,
					  &(struct fsw_ext){lblk, p,
							    (uint32_t)got},
					  1);
				return rc;
			}
			done += (size_t)n;
		}
		add_ext(ext, next, lblk, p, got);
		buf += bytes;
		lblk += got;
		nblk -= got;
	}
	return 0;
}

/*
 * Give the data at *ext (on from) to filesystem to: copied block by block
 * into new blocks there, the old ones freed. Only for what the namespace
 * put on another filesystem than its reader guessed (a symlink crossing a
 * mount point), or a hardlink across one (copied, keep set).
 */
static int move_data(struct gen_fsw *w, struct fsw_fs *to,
		     struct fsw_fs *from, struct fsw_ext **ext, size_t *next,
		     bool keep)
{
	struct fsw_ext *nv = NULL, *ov = *ext;
	size_t nn = 0, on = *next;
	unsigned char *buf = rf_xmalloc(DATA_BUF);
	int rc = 0;

	for (size_t i = 0; i < on && rc == 0; i++) {
		for (uint64_t done = 0; done < ov[i].len && rc == 0;) {
			uint64_t n = ov[i].len - done;
			ssize_t got;

			if (n > DATA_BUF / w->bs)
				n = DATA_BUF / w->bs;
			got = pread(from->fd, buf, n * w->bs,
				    (off_t)((ov[i].pblk + done) * w->bs));
			if (got != (ssize_t)(n * w->bs))
				rc = got < 0 ? -errno : -EIO;
			else
				rc = put_blocks(w, to, buf, n * w->bs,
						ov[i].lblk + done, &nv, &nn);
			done += n;
		}
	}
	if (rc < 0) {
		free_exts(w, to, nv, nn);
		free(nv);
	} else {
		if (!keep) {
			free_exts(w, from, ov, on);
			free(ov);
		}
		*ext = nv;
		*next = nn;
	}
	free(buf);
	return rc;
}

/* --- reading archives ------------------------------------------------------ */

static int apply_rec(struct gen_fsw *w, struct fsw_rec *r,
		     struct rf_error *err);
static struct fsw_fs *fs_for(struct gen_fsw *w, const char *name);

struct gen_fsw_batch *gen_fsw_batch_new(struct gen_fsw *w, bool live)
{
	struct gen_fsw_batch *b = rf_xcalloc(1, sizeof(*b));
	void *p;

	b->w = w;
	b->live = live;
	if (posix_memalign(&p, 4096, DATA_BUF) != 0)
		abort();
	b->buf = p;
	return b;
}

/* name set to the len bytes at val in the list *x of *nx. */
static void xattrs_put(struct fsw_xattr **x, size_t *nx, const char *name,
		       const void *val, size_t len)
{
	struct fsw_xattr *p = NULL;

	for (size_t i = 0; i < *nx && p == NULL; i++)
		if (strcmp((*x)[i].name, name) == 0)
			p = &(*x)[i];
	if (p == NULL) {
		*x = rf_xrealloc(*x, (*nx + 1) * sizeof(**x));
		p = &(*x)[(*nx)++];
		p->name = rf_xstrdup(name);
	} else {
		free(p->val);
	}
	p->val = rf_xmalloc(len ? len : 1);
	memcpy(p->val, val, len);
	p->len = len;
}

static void free_xattrs(struct fsw_xattr *x, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(x[i].name);
		free(x[i].val);
	}
	free(x);
}

static void rec_clear(struct gen_fsw *w, struct fsw_rec *r)
{
	free_exts(w, r->fs, r->ext, r->next);
	free(r->ext);
	free(r->name);
	free(r->link);
	free(r->target);
	free_xattrs(r->x, r->nx);
	memset(r, 0, sizeof(*r));
}

void gen_fsw_batch_free(struct gen_fsw_batch *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n; i++)
		rec_clear(b->w, &b->v[i]);
	free(b->v);
	free(b->buf);
	free(b);
}

/* An entry's data into new blocks: r->ext. Blocks gather in b->buf;
 * a gap of a block or more (a sparse file's hole) gets none. */
static int read_data(struct archive *a, struct gen_fsw_batch *b,
		     struct fsw_rec *r, const struct gen_limits *lim,
		     uint64_t *total, struct rf_error *err)
{
	struct gen_fsw *w = b->w;
	uint64_t start = 0; /* file offset of b->buf[0], block aligned */
	size_t fill = 0;    /* bytes of b->buf in use */
	uint64_t next = 0;  /* where the data so far ends */
	const void *buf;
	size_t len;
	la_int64_t off;
	int rc = 0, ar;

	for (;;) {
		ar = archive_read_data_block(a, &buf, &len, &off);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar < ARCHIVE_WARN)
			return rf_error_set(err, -EIO, "%s: %s", r->name,
					    archive_error_string(a));
		rc = gen_extract_chunk(a, r->name, r->size, off, len, lim,
				       total, err);
		if (rc < 0)
			return rc;
		/* a block is written once: a sparse map going back (which
		 * libarchive takes) would map it twice */
		if ((uint64_t)off < next)
			return rf_error_set(err, -EINVAL,
					    "%s: data out of order", r->name);
		next = (uint64_t)off + len;
		while (len > 0) {
			uint64_t end = start + fill;
			size_t n;

			if (fill > 0 && (uint64_t)off > end &&
			    ((uint64_t)off - end >= w->bs ||
			     (uint64_t)off - start >= DATA_BUF)) {
				/* a hole: what is gathered goes first */
				size_t whole = (fill + w->bs - 1) / w->bs * w->bs;

				memset(b->buf + fill, 0, whole - fill);
				rc = put_blocks(w, r->fs, b->buf, whole,
						start / w->bs, &r->ext,
						&r->next);
				if (rc < 0)
					goto write_error;
				fill = 0;
			}
			if (fill == 0) {
				start = (uint64_t)off / w->bs * w->bs;
				end = start;
			}
			if ((uint64_t)off > end) {
				memset(b->buf + fill, 0, (size_t)((uint64_t)off - end));
				fill += (size_t)((uint64_t)off - end);
			}
			n = DATA_BUF - fill;
			if (n > len)
				n = len;
			memcpy(b->buf + fill, buf, n);
			fill += n;
			buf = (const char *)buf + n;
			len -= n;
			off += (la_int64_t)n;
			if (fill == DATA_BUF) {
				rc = put_blocks(w, r->fs, b->buf, fill,
						start / w->bs, &r->ext,
						&r->next);
				if (rc < 0)
					goto write_error;
				start += fill;
				fill = 0;
			}
		}
	}
	if (fill > 0) {
		size_t whole = (fill + w->bs - 1) / w->bs * w->bs;

		memset(b->buf + fill, 0, whole - fill);
		rc = put_blocks(w, r->fs, b->buf, whole, start / w->bs,
				&r->ext, &r->next);
		if (rc < 0)
			goto write_error;
	}
	return 0;
write_error:
	return rf_error_errno(err, rc, "%s: cannot write its data%s", r->name,
			      rc == -ENOSPC ? " (the filesystem is full)" : "");
}

static int read_entry(struct archive *a, struct archive_entry *e,
		      struct gen_fsw_batch *b, const char *name,
		      const struct gen_limits *lim, uint64_t *total,
		      struct rf_error *err)
{
	struct fsw_rec *r;
	const char *hl = archive_entry_hardlink(e), *xname;
	const void *xval;
	size_t xlen;
	int64_t size = archive_entry_size(e);
	int rc = 0;

	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 256;
		b->v = rf_xrealloc(b->v, b->cap * sizeof(*b->v));
	}
	r = &b->v[b->n++];
	memset(r, 0, sizeof(*r));
	r->name = rf_xstrdup(name);
	r->fs = fs_for(b->w, name);
	r->type = archive_entry_filetype(e);
	r->perm = archive_entry_perm(e) & 07777;
	r->uid = (uint32_t)archive_entry_uid(e);
	r->gid = (uint32_t)archive_entry_gid(e);
	r->mtime.tv_sec = archive_entry_mtime(e);
	r->mtime.tv_nsec = archive_entry_mtime_nsec(e);
	r->rdev = archive_entry_rdev(e);
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &xname, &xval, &xlen) ==
	       ARCHIVE_OK)
		xattrs_put(&r->x, &r->nx, xname, xval, xlen);
	if (hl != NULL) {
		const char *hname;

		rc = gen_name_check(hl, false, &hname);
		if (rc < 0)
			return rf_error_set(err, rc, "%s: hardlink to a bad "
					    "name", name);
		r->link = rf_xstrdup(hname);
		if (!archive_entry_size_is_set(e) || size <= 0)
			return 0;
		r->data = true;
	}
	switch (hl != NULL ? AE_IFREG : r->type) {
	case AE_IFREG:
		rc = gen_extract_size(e, name, lim, &r->size, err);
		if (rc == 0)
			rc = read_data(a, b, r, lim, total, err);
		break;
	case AE_IFLNK: {
		const char *t = archive_entry_symlink(e);

		if (t == NULL || *t == '\0' || strlen(t) >= 4096)
			return rf_error_set(err, -EINVAL, "symlink %s: no "
					    "usable target", name);
		r->target = rf_xstrdup(t);
		break;
	}
	case AE_IFDIR:
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
	case AE_IFSOCK:
		break;
	default:
		rc = rf_error_set(err, -EINVAL, "%s: unknown entry type 0%o",
				  name, (unsigned)r->type);
	}
	return rc;
}

int gen_fsw_read(struct archive *a, struct archive_entry *e,
		 struct gen_fsw_batch *b, const char *name,
		 const struct gen_limits *lim, uint64_t *total,
		 struct rf_error *err)
{
	int rc = read_entry(a, e, b, name, lim, total, err);

	if (rc == 0 && b->live) {
		if (b->w->nfs > 1)
			pthread_rwlock_wrlock(&b->w->ns);
		rc = apply_rec(b->w, &b->v[b->n - 1], err);
		if (b->w->nfs > 1)
			pthread_rwlock_unlock(&b->w->ns);
		rec_clear(b->w, &b->v[--b->n]);
	}
	return rc;
}

/* --- the namespace ------------------------------------------------------ */

static size_t name_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 29));
}

static struct fsw_dent **dir_find(struct fsw_dir *d, const char *s, size_t n)
{
	size_t mask = d->cap - 1, i = name_hash(s, n) & mask;

	for (;; i = (i + 1) & mask) {
		struct fsw_dent *e = d->slot[i];

		if (e == NULL || (strncmp(e->name, s, n) == 0 &&
				  e->name[n] == '\0'))
			return &d->slot[i];
	}
}

static struct fsw_dent *lookup(struct fsw_inode *dir, const char *s, size_t n)
{
	if (dir->dir->cap == 0)
		return NULL;
	return *dir_find(dir->dir, s, n);
}

static void dir_insert(struct fsw_dir *d, struct fsw_dent *e)
{
	if (2 * (d->n + 1) > d->cap) {
		struct fsw_dent **old = d->slot;
		size_t oldcap = d->cap;

		d->cap = d->cap ? 2 * d->cap : 8;
		d->slot = rf_xcalloc(d->cap, sizeof(*d->slot));
		for (size_t i = 0; i < oldcap; i++)
			if (old[i] != NULL)
				*dir_find(d, old[i]->name,
					  strlen(old[i]->name)) = old[i];
		free(old);
	}
	*dir_find(d, e->name, strlen(e->name)) = e;
	d->n++;
	if (S_ISDIR(e->in->mode))
		d->nsub++;
}

/* Remove slot i, shifting back what probed past it. */
static void dir_delete(struct fsw_dir *d, struct fsw_dent *e)
{
	size_t mask = d->cap - 1;
	struct fsw_dent **p = dir_find(d, e->name, strlen(e->name));
	size_t i = (size_t)(p - d->slot), j = i;

	d->slot[i] = NULL;
	for (;;) {
		size_t k;

		j = (j + 1) & mask;
		if (d->slot[j] == NULL)
			break;
		k = name_hash(d->slot[j]->name, strlen(d->slot[j]->name)) & mask;
		/* j's entry moves back to i unless its home is cyclically
		 * in (i, j] */
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			d->slot[i] = d->slot[j];
			d->slot[j] = NULL;
			i = j;
		}
	}
	d->n--;
	if (S_ISDIR(e->in->mode))
		d->nsub--;
}

static struct fsw_inode *new_inode(struct gen_fsw *w, struct fsw_fs *f,
				   mode_t mode)
{
	struct fsw_inode *in = rf_xcalloc(1, sizeof(*in));

	in->fs = f;
	in->mode = mode;
	in->mtime = w->now;
	if (S_ISDIR(mode))
		in->dir = rf_xcalloc(1, sizeof(*in->dir));
	return in;
}

static void inode_drop(struct gen_fsw *w, struct fsw_inode *in)
{
	if (in->nlink > 0)
		return;
	free_exts(w, in->fs, in->ext, in->next);
	free(in->ext);
	free(in->target);
	free_xattrs(in->x, in->nx);
	if (in->dir != NULL)
		free(in->dir->slot);
	free(in->dir);
	free(in);
}

static struct fsw_dent *link_in(struct fsw_inode *dir, const char *name,
				size_t n, struct fsw_inode *in)
{
	struct fsw_dent *e = rf_xcalloc(1, sizeof(*e));

	e->name = rf_xstrndup(name, n);
	e->parent = dir->self;
	e->in = in;
	in->nlink++;
	if (S_ISDIR(in->mode))
		in->self = e;
	dir_insert(dir->dir, e);
	return e;
}

/* Remove entry e (a directory only when empty). */
static int unlink_dent(struct gen_fsw *w, struct fsw_dent *e)
{
	struct fsw_inode *in = e->in;

	if (in->dir != NULL && in->dir->n > 0)
		return -ENOTEMPTY;
	if (in->fs->root == in)
		return -EBUSY; /* a mount point */
	dir_delete(e->parent->in->dir, e);
	in->nlink--;
	free(e->name);
	free(e);
	inode_drop(w, in);
	return 0;
}

/*
 * Resolve the directory named by the n bytes at p from dir, following
 * symlinks as the root's own (RESOLVE_IN_ROOT: ".." stops at the root, an
 * absolute target starts from it). create: make missing directories
 * (0755, root's), but never through a symlink.
 */
static int walk(struct gen_fsw *w, struct fsw_inode *dir, const char *p,
		size_t n, bool create, int *hops, struct fsw_inode **out)
{
	const char *end = p + n;

	if (n > 0 && *p == '/')
		dir = w->root.in;
	while (p < end) {
		const char *s = p;
		size_t len;
		struct fsw_dent *e;

		while (p < end && *p != '/')
			p++;
		len = (size_t)(p - s);
		while (p < end && *p == '/')
			p++;
		if (len == 0 || (len == 1 && s[0] == '.'))
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			dir = dir->self->parent->in;
			continue;
		}
		e = lookup(dir, s, len);
		if (e == NULL) {
			if (!create)
				return -ENOENT;
			e = link_in(dir, s, len,
				    new_inode(w, dir->fs, S_IFDIR | 0755));
		}
		if (S_ISLNK(e->in->mode)) {
			struct fsw_inode *t;
			int rc;

			if (++*hops > SYMLINK_HOPS)
				return -ELOOP;
			rc = walk(w, dir, e->in->target, strlen(e->in->target),
				  false, hops, &t);
			if (rc < 0)
				return rc;
			dir = t;
			continue;
		}
		if (!S_ISDIR(e->in->mode))
			return -ENOTDIR;
		dir = e->in;
	}
	*out = dir;
	return 0;
}

/* The directory name's last component is in (*dir), and that component:
 * *base, *blen. A trailing slash is not part of it. */
static int parent_of(struct gen_fsw *w, const char *name, bool create,
		     struct fsw_inode **dir, const char **base, size_t *blen)
{
	size_t len = strlen(name);
	const char *slash;
	int hops = 0;

	while (len > 1 && name[len - 1] == '/')
		len--;
	slash = memrchr(name, '/', len);
	*base = slash ? slash + 1 : name;
	*blen = len - (size_t)(*base - name);
	return walk(w, w->root.in, name, slash ? (size_t)(slash - name) : 0,
		    create, &hops, dir);
}

static bool xattr_allowed(mode_t mode, const char *name)
{
	/* a symlink takes no user.* xattr (nor an ACL) */
	return !S_ISLNK(mode) || strncmp(name, "security.", 9) == 0 ||
	       strncmp(name, "trusted.", 8) == 0;
}

static void xattr_set(struct fsw_inode *in, const char *name,
		      const unsigned char *val, size_t len)
{
	if (xattr_allowed(in->mode, name))
		xattrs_put(&in->x, &in->nx, name, val, len);
}

static void xattr_remove(struct fsw_inode *in, size_t i)
{
	free(in->x[i].name);
	free(in->x[i].val);
	in->x[i] = in->x[--in->nx];
}

/* Make room at base in dir for an entry of type mode (extract.c's
 * make_room()): *keep when a directory entry meets a directory or a
 * symlink, which stay. */
static int make_room(struct gen_fsw *w, struct fsw_inode *dir,
		     const char *base, size_t blen, mode_t mode, bool *keep,
		     struct fsw_dent **kept)
{
	struct fsw_dent *e = lookup(dir, base, blen);

	*keep = false;
	*kept = e;
	if (e == NULL)
		return 0;
	if (S_ISDIR(mode) &&
	    (S_ISDIR(e->in->mode) || S_ISLNK(e->in->mode))) {
		*keep = true;
		return 0;
	}
	*kept = NULL;
	return unlink_dent(w, e);
}

/* The record's data onto f (where the namespace puts its file). */
static int data_to(struct gen_fsw *w, struct fsw_fs *f, struct fsw_rec *r,
		   struct rf_error *err)
{
	int rc = 0;

	if (r->fs != f) {
		rc = move_data(w, f, r->fs, &r->ext, &r->next, false);
		if (rc < 0)
			return rf_error_errno(err, rc, "%s: cannot write its "
					      "data on %s", r->name,
					      f->mountpoint);
		r->fs = f;
	}
	return rc;
}

/* A copy of in on f, for a hardlink across a mount point (which the
 * source cannot have had; a package can ship one). */
static int copy_inode(struct gen_fsw *w, struct fsw_fs *f,
		      struct fsw_inode *in, struct fsw_inode **out)
{
	struct fsw_inode *c = new_inode(w, f, in->mode);
	int rc;

	c->uid = in->uid;
	c->gid = in->gid;
	c->mtime = in->mtime;
	c->rdev = in->rdev;
	c->size = in->size;
	c->target = in->target ? rf_xstrdup(in->target) : NULL;
	for (size_t i = 0; i < in->nx; i++)
		xattr_set(c, in->x[i].name, in->x[i].val, in->x[i].len);
	c->ext = in->ext;
	c->next = in->next;
	rc = move_data(w, f, in->fs, &c->ext, &c->next, true);
	if (rc < 0) {
		c->ext = NULL;
		c->next = 0;
		inode_drop(w, c);
		return rc;
	}
	*out = c;
	return 0;
}

static int apply_rec(struct gen_fsw *w, struct fsw_rec *r,
		     struct rf_error *err)
{
	struct fsw_inode *dir, *in;
	struct fsw_dent *e;
	const char *base;
	size_t blen;
	bool keep;
	int rc;

	rc = parent_of(w, r->name, true, &dir, &base, &blen);
	if (rc < 0)
		return rf_error_errno(err, rc, "cannot open the directory of "
				      "%s", r->name);
	if (blen == 0 || (blen == 1 && base[0] == '.'))
		return r->type == AE_IFDIR
			       ? 0
			       : rf_error_set(err, -EINVAL, "%s: the root is "
					      "a directory", r->name);
	if (r->link != NULL) {
		struct fsw_inode *tdir;
		const char *tbase;
		size_t tlen;
		struct fsw_dent *t;

		rc = parent_of(w, r->link, false, &tdir, &tbase, &tlen);
		t = rc == 0 ? lookup(tdir, tbase, tlen) : NULL;
		if (t == NULL)
			return rf_error_errno(err, rc < 0 ? rc : -ENOENT,
					      "%s: hardlink target %s",
					      r->name, r->link);
		if (S_ISDIR(t->in->mode))
			return rf_error_errno(err, -EPERM, "link %s to %s",
					      r->name, r->link);
		in = t->in;
		e = lookup(dir, base, blen);
		if (e == t)
			return rf_error_errno(err, -ENOENT, "link %s to %s",
					      r->name, r->link);
		in->nlink++; /* held while what was there goes */
		rc = make_room(w, dir, base, blen, S_IFREG, &keep, &e);
		in->nlink--;
		if (rc == 0 && in->fs != dir->fs)
			rc = copy_inode(w, dir->fs, in, &in);
		if (rc < 0)
			return rf_error_errno(err, rc, "link %s to %s",
					      r->name, r->link);
		link_in(dir, base, blen, in);
		if (r->data) {
			if (!S_ISREG(in->mode))
				return rf_error_set(err, -EINVAL,
						    "%s: data for a hardlink "
						    "to what is not a regular "
						    "file", r->name);
			rc = data_to(w, in->fs, r, err);
			if (rc < 0)
				return rc;
			free_exts(w, in->fs, in->ext, in->next);
			free(in->ext);
			in->ext = r->ext;
			in->next = r->next;
			in->size = r->size;
			r->ext = NULL;
			r->next = 0;
		}
		return 0;
	}
	rc = make_room(w, dir, base, blen, r->type, &keep, &e);
	if (rc < 0)
		return rf_error_errno(err, rc, "cannot replace %s", r->name);
	if (keep) {
		/* a kept symlink gets nothing of the entry's */
		if (S_ISLNK(e->in->mode))
			return 0;
		in = e->in;
	} else {
		if (r->type == AE_IFREG) {
			rc = data_to(w, dir->fs, r, err);
			if (rc < 0)
				return rc;
		}
		in = new_inode(w, dir->fs,
			       r->type | (r->type == AE_IFDIR ? 0700 : 0600));
		switch (r->type) {
		case AE_IFREG:
			in->ext = r->ext;
			in->next = r->next;
			in->size = r->size;
			r->ext = NULL;
			r->next = 0;
			break;
		case AE_IFLNK:
			in->target = r->target;
			in->size = strlen(r->target);
			r->target = NULL;
			break;
		case AE_IFCHR:
		case AE_IFBLK:
			in->rdev = r->rdev;
			break;
		default:
			break;
		}
		link_in(dir, base, blen, in);
	}
	in->uid = r->uid;
	in->gid = r->gid;
	if (!S_ISLNK(in->mode))
		in->mode = (in->mode & S_IFMT) | r->perm;
	for (size_t i = 0; i < r->nx; i++)
		xattr_set(in, r->x[i].name, r->x[i].val, r->x[i].len);
	in->mtime = r->mtime;
	return 0;
}

int gen_fsw_apply(struct gen_fsw *w, struct gen_fsw_batch *b,
		  struct rf_error *err)
{
	int rc = 0;

	if (w->nfs > 1)
		pthread_rwlock_wrlock(&w->ns);
	for (size_t i = 0; i < b->n && rc == 0; i++) {
		rc = apply_rec(w, &b->v[i], err);
		rec_clear(w, &b->v[i]);
	}
	if (w->nfs > 1)
		pthread_rwlock_unlock(&w->ns);
	return rc;
}

/* The filesystem whose mount point is the longest prefix of name. */
static struct fsw_fs *by_prefix(struct gen_fsw *w, const char *name)
{
	struct fsw_fs *best = w->fss[0];
	size_t best_len = 0;

	size_t n;

	for (size_t i = 1; i < w->nfs; i++)
		if (gen_path_under(name, w->fss[i]->mountpoint, &n) &&
		    n > best_len) {
			best = w->fss[i];
			best_len = n;
		}
	return best;
}

/* The filesystem an entry named name will be on, as far as the namespace
 * tells now (the directories the report lists are there from the start):
 * where its data is written while it is read. */
static struct fsw_fs *fs_for(struct gen_fsw *w, const char *name)
{
	struct fsw_inode *dir;
	struct fsw_fs *f = NULL;
	const char *base;
	size_t blen;

	if (w->nfs == 1)
		return w->fss[0];
	pthread_rwlock_rdlock(&w->ns);
	if (parent_of(w, name, false, &dir, &base, &blen) == 0)
		f = dir->fs;
	pthread_rwlock_unlock(&w->ns);
	return f != NULL ? f : by_prefix(w, name);
}

/* The entry at path (report form: relative, "" the root), not followed. */
static struct fsw_dent *find(struct gen_fsw *w, const char *path)
{
	struct fsw_inode *dir;
	const char *base;
	size_t blen;

	if (path[0] == '\0')
		return &w->root;
	if (parent_of(w, path, false, &dir, &base, &blen) < 0 || blen == 0)
		return NULL;
	return lookup(dir, base, blen);
}

int gen_fsw_prepare(struct gen_fsw *w, const struct gen_report *r,
		    struct rf_error *err)
{
	for (size_t i = 0; i < r->nfiles; i++) {
		const struct gen_file *f = &r->files[i];
		struct fsw_inode *dir;
		const char *base;
		size_t blen;
		int rc;

		if (f->cls == GEN_MISSING || f->path[0] == '\0' ||
		    !(S_ISDIR(f->type) ||
		      (S_ISLNK(f->type) && f->package != NULL)))
			continue;
		if (S_ISLNK(f->type) && (f->target == NULL ||
					 f->target[0] == '\0'))
			return rf_error_set(err, -EINVAL, "/%s: a symlink "
					    "without target", f->path);
		rc = parent_of(w, f->path, true, &dir, &base, &blen);
		if (rc < 0)
			return rf_error_errno(err, rc, "cannot prepare /%s",
					      f->path);
		if (blen == 0 || lookup(dir, base, blen) != NULL)
			continue;
		if (S_ISDIR(f->type)) {
			link_in(dir, base, blen,
				new_inode(w, dir->fs, S_IFDIR | 0755));
		} else {
			struct fsw_inode *in = new_inode(w, dir->fs,
							 S_IFLNK | 0777);

			in->target = rf_xstrdup(f->target);
			in->size = strlen(f->target);
			link_in(dir, base, blen, in);
		}
	}
	return 0;
}

static int set_acl(struct fsw_inode *in, const char *name, const char *text,
		   struct rf_error *err, const char *path)
{
	unsigned char *v = NULL;
	size_t len = 0;

	if (text == NULL) {
		for (size_t i = 0; i < in->nx; i++)
			if (strcmp(in->x[i].name, name) == 0) {
				xattr_remove(in, i);
				break;
			}
		return 0;
	}
	if (gen_acl_from_text(text, &v, &len) < 0)
		return rf_error_set(err, -EINVAL, "/%s: bad ACL '%s'", path,
				    text);
	xattr_set(in, name, v, len);
	free(v);
	return 0;
}

/* tree.c's apply_one() on the model. */
static int apply_meta(struct fsw_inode *in, const struct gen_file *f,
		      bool xattrs_too, struct rf_error *err)
{
	bool lnk = S_ISLNK(in->mode);
	int rc = 0;

	in->uid = f->uid;
	in->gid = f->gid;
	if (!lnk)
		in->mode = (in->mode & S_IFMT) | (f->mode & 07777);
	if (xattrs_too) {
		for (size_t i = 0; i < in->nx;) {
			const char *n = in->x[i].name;

			if (strncmp(n, "system.posix_acl_", 17) != 0 &&
			    !gen_file_has_xattr(f, n))
				xattr_remove(in, i);
			else
				i++;
		}
		for (size_t i = 0; i < f->nxattrs; i++)
			if (strncmp(f->xattrs[i].name, "system.posix_acl_",
				    17) != 0)
				xattr_set(in, f->xattrs[i].name,
					  f->xattrs[i].value, f->xattrs[i].len);
		if (!lnk) {
			rc = set_acl(in, "system.posix_acl_access",
				     f->acl_access, err, f->path);
			if (rc == 0 && S_ISDIR(in->mode))
				rc = set_acl(in, "system.posix_acl_default",
					     f->acl_default, err, f->path);
		}
	}
	in->mtime = f->mtime;
	return rc;
}

int gen_fsw_report(struct gen_fsw *w, const struct gen_report *r,
		   uint64_t *warnings, struct rf_buf *absent,
		   struct rf_error *err)
{
	unsigned char *first;
	size_t n;
	struct gen_link_member *v = gen_link_members(r, &n, &first);
	int rc = 0;

	*warnings = 0;
	/* the package files missing on the source go, deepest first */
	for (size_t i = r->nfiles; i-- > 0;) {
		const struct gen_file *f = &r->files[i];
		struct fsw_dent *e;

		if (f->cls != GEN_MISSING || f->path[0] == '\0' ||
		    (e = find(w, f->path)) == NULL)
			continue;
		unlink_dent(w, e); /* a directory with files in it stays */
	}
	/* every member of a hardlink group becomes a link of its first
	 * (in report order), whose xattrs are the inode's */
	for (size_t i = 0, k; i < n; i = k) {
		const struct gen_file *f1 = &r->files[v[i].index];
		struct fsw_dent *e1 = find(w, f1->path);

		for (k = i + 1; k < n && v[k].group == v[i].group; k++) {
			const struct gen_file *f = &r->files[v[k].index];
			struct fsw_inode *dir;
			const char *base;
			size_t blen;
			struct fsw_dent *e;

			if (e1 == NULL || !S_ISREG(e1->in->mode) ||
			    !S_ISREG(f->type) || !S_ISREG(f1->type) ||
			    parent_of(w, f->path, false, &dir, &base, &blen) <
				    0 ||
			    blen == 0 || dir->fs != e1->in->fs)
				continue;
			e = lookup(dir, base, blen);
			if (e != NULL && e->in == e1->in)
				continue;
			if (e != NULL) {
				rc = unlink_dent(w, e);
				if (rc < 0) {
					rc = rf_error_errno(err, rc, "link /%s "
							    "to /%s", f->path,
							    f1->path);
					goto out;
				}
			}
			link_in(dir, base, blen, e1->in);
		}
	}
	for (size_t i = 0; i < r->nfiles && rc == 0; i++) {
		const struct gen_file *f = &r->files[i];
		struct fsw_dent *e;

		if (f->cls == GEN_MISSING)
			continue;
		e = find(w, f->path);
		if (e == NULL || (e->in->mode & S_IFMT) != f->type) {
			gen_note_absent(absent, warnings, f->path);
			continue;
		}
		rc = apply_meta(e->in, f, f->link_group == 0 || first[i], err);
	}
out:
	free(first);
	free(v);
	return rc;
}

/* --- from a staged tree --------------------------------------------------------- */

/* Inodes with more than one link met so far, by (dev, ino). */
struct seen {
	dev_t dev;
	ino_t ino;
	struct fsw_inode *in;
};

struct walker {
	struct gen_fsw *w;
	struct seen *seen; /* open addressing */
	size_t cap, n;
	unsigned char *buf; /* DATA_BUF */
	char *names;        /* llistxattr's */
	unsigned char *val; /* lgetxattr's */
};

static struct seen *seen_slot(struct walker *k, dev_t dev, ino_t ino)
{
	size_t mask = k->cap - 1, i = (size_t)(ino * 0x9E3779B97F4A7C15ULL ^
					       dev) & mask;

	while (k->seen[i].in != NULL &&
	       (k->seen[i].dev != dev || k->seen[i].ino != ino))
		i = (i + 1) & mask;
	return &k->seen[i];
}

static void seen_add(struct walker *k, dev_t dev, ino_t ino,
		     struct fsw_inode *in)
{
	if (2 * (k->n + 1) > k->cap) {
		struct seen *old = k->seen;
		size_t oldcap = k->cap;

		k->cap = k->cap ? 2 * k->cap : 64;
		k->seen = rf_xcalloc(k->cap, sizeof(*k->seen));
		for (size_t i = 0; i < oldcap; i++)
			if (old[i].in != NULL)
				*seen_slot(k, old[i].dev, old[i].ino) = old[i];
		free(old);
	}
	*seen_slot(k, dev, ino) = (struct seen){dev, ino, in};
	k->n++;
}

/* A staged file's data, holes left out. */
static int tree_data(struct walker *k, int fd, struct fsw_inode *in)
{
	struct gen_fsw *w = k->w;
	off_t pos = 0, end, size = (off_t)in->size, done = 0;
	int rc = 0;

	while (pos < size && rc == 0) {
		pos = lseek(fd, pos, SEEK_DATA);
		if (pos < 0)
			return errno == ENXIO ? 0 : -errno;
		end = lseek(fd, pos, SEEK_HOLE);
		if (end < 0)
			return -errno;
		if (end > size)
			end = size;
		/* from the start of its block, unless that one is written */
		pos = pos / w->bs * w->bs;
		if (pos < done)
			pos = done;
		while (pos < end && rc == 0) {
			size_t want = end - pos > DATA_BUF ? DATA_BUF
							   : (size_t)(end - pos);
			ssize_t n = pread(fd, k->buf, want, pos);
			size_t whole;

			if (n <= 0)
				return n < 0 ? -errno : -EIO; /* it shrank */
			whole = ((size_t)n + w->bs - 1) / w->bs * w->bs;
			memset(k->buf + n, 0, whole - (size_t)n);
			rc = put_blocks(w, in->fs, k->buf, whole,
					(uint64_t)pos / w->bs, &in->ext,
					&in->next);
			pos += n;
			done = pos + (off_t)(whole - (size_t)n);
		}
	}
	return rc;
}

/* Owner, mode, times and xattrs (ACLs and capabilities among them) of
 * a staged file: read on fd when it is open (a file, a directory), else
 * on name in dfd without following it. */
static int tree_meta(struct walker *k, int fd, int dfd, const char *name,
		     const struct stat *st, struct fsw_inode *in)
{
	char p[64 + NAME_MAX];
	ssize_t nl;

	in->uid = st->st_uid;
	in->gid = st->st_gid;
	if (!S_ISLNK(in->mode))
		in->mode = (in->mode & S_IFMT) | (st->st_mode & 07777);
	in->mtime = st->st_mtim;
	if (fd < 0)
		snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dfd, name);
	nl = fd >= 0 ? flistxattr(fd, k->names, XATTR_LIST_MAX)
		     : llistxattr(p, k->names, XATTR_LIST_MAX);
	if (nl < 0)
		return errno == ENOTSUP ? 0 : -errno;
	for (ssize_t i = 0; i < nl; i += (ssize_t)strlen(k->names + i) + 1) {
		const char *n = k->names + i;
		ssize_t vl = fd >= 0 ? fgetxattr(fd, n, k->val, XATTR_SIZE_MAX)
				     : lgetxattr(p, n, k->val, XATTR_SIZE_MAX);

		if (vl < 0)
			return -errno;
		xattr_set(in, n, k->val, (size_t)vl);
	}
	return 0;
}

static int tree_dir(struct walker *k, int dfd, struct fsw_inode *dir,
		    int depth, struct rf_error *err)
{
	struct gen_fsw *w = k->w;
	DIR *d;
	struct dirent *de;
	int lfd = dup(dfd), rc = 0; /* the listing's */

	if (depth > 4096)
		return rf_error_set(err, -ELOOP, "directories too deep");
	d = lfd < 0 ? NULL : fdopendir(lfd);
	if (d == NULL) {
		rc = rf_error_errno(err, -errno, "cannot read a directory");
		if (lfd >= 0)
			close(lfd);
		return rc;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		size_t len = strlen(name);
		struct fsw_dent *e;
		struct fsw_inode *in;
		struct stat st;
		struct seen *s;
		int fd = -1;

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = rf_error_errno(err, -errno, "stat %s", name);
			break;
		}
		if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && k->cap > 0 &&
		    (s = seen_slot(k, st.st_dev, st.st_ino))->in != NULL) {
			link_in(dir, name, len, s->in);
			continue;
		}
		e = lookup(dir, name, len); /* lost+found, made by mke2fs */
		if (e != NULL && S_ISDIR(st.st_mode) && S_ISDIR(e->in->mode)) {
			in = e->in;
		} else if (e != NULL) {
			rc = rf_error_set(err, -EEXIST, "%s twice", name);
			break;
		} else {
			in = new_inode(w, dir->fs, st.st_mode & S_IFMT);
			link_in(dir, name, len, in);
		}
		if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
			fd = openat(dfd, name, (S_ISDIR(st.st_mode)
							? O_RDONLY | O_DIRECTORY
							: O_RDONLY) |
						       O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				rc = -errno;
		}
		if (S_ISREG(st.st_mode) && rc == 0) {
			in->size = (uint64_t)st.st_size;
			rc = tree_data(k, fd, in);
		} else if (S_ISLNK(st.st_mode)) {
			char *t = rf_xmalloc(4097);
			ssize_t n = readlinkat(dfd, name, t, 4096);

			if (n <= 0) {
				rc = n < 0 ? -errno : -EINVAL;
				free(t);
			} else {
				t[n] = '\0';
				in->target = t;
				in->size = (uint64_t)n;
			}
		} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
			in->rdev = st.st_rdev;
		}
		if (rc == 0)
			rc = tree_meta(k, fd, dfd, name, &st, in);
		if (rc < 0) {
			rf_error_errno(err, rc, "%s", name);
		} else if (S_ISDIR(st.st_mode)) {
			rc = tree_dir(k, fd, in, depth + 1, err);
			if (rc < 0)
				rf_error_prefix(err, "%s", name);
		} else if (st.st_nlink > 1) {
			seen_add(k, st.st_dev, st.st_ino, in);
		}
		if (fd >= 0)
			close(fd);
	}
	closedir(d);
	return rc;
}

int gen_fsw_add_tree(struct gen_fsw *w, const char *path,
		     struct rf_error *err)
{
	struct walker k = {.w = w};
	struct stat st;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = rf_error_errno(err, -errno, "cannot open %s", path);
		goto out;
	}
	k.buf = rf_xmalloc(DATA_BUF);
	k.names = rf_xmalloc(XATTR_LIST_MAX);
	k.val = rf_xmalloc(XATTR_SIZE_MAX);
	/* the root takes the staged directory's owner, mode and times */
	rc = tree_meta(&k, fd, -1, NULL, &st, w->root.in);
	if (rc < 0)
		rf_error_errno(err, rc, "%s", path);
	else
		rc = tree_dir(&k, fd, w->root.in, 0, err);
	if (rc < 0)
		rf_error_prefix(err, "%s", path);
out:
	if (fd >= 0)
		close(fd);
	free(k.seen);
	free(k.buf);
	free(k.names);
	free(k.val);
	return rc;
}

/* --- writing -------------------------------------------------------------- */

static uint8_t ftype(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return EXT2_FT_REG_FILE;
	case S_IFDIR: return EXT2_FT_DIR;
	case S_IFCHR: return EXT2_FT_CHRDEV;
	case S_IFBLK: return EXT2_FT_BLKDEV;
	case S_IFIFO: return EXT2_FT_FIFO;
	case S_IFSOCK: return EXT2_FT_SOCK;
	case S_IFLNK: return EXT2_FT_SYMLINK;
	default: return EXT2_FT_UNKNOWN;
	}
}

/* An inode number of f, taken. */
static int take_ino(struct fsw_fs *f, bool dir, uint32_t *ino)
{
	if (f->next_ino > f->fs->super->s_inodes_count)
		return -ENOSPC;
	*ino = f->next_ino++;
	ext2fs_inode_alloc_stats2(f->fs, *ino, +1, dir);
	return 0;
}

/* Number every inode of f under dir, depth first (a directory's files
 * near it); a filesystem mounted there gets a directory of f's, its
 * stub, and is numbered on its own. */
static int number(struct fsw_fs *f, struct fsw_inode *dir, int depth)
{
	struct fsw_dir *d = dir->dir;
	int rc = 0;

	if (depth > 4096)
		return -ELOOP;
	for (size_t i = 0; i < d->cap && rc == 0; i++) {
		struct fsw_inode *in = d->slot[i] ? d->slot[i]->in : NULL;

		if (in == NULL)
			continue;
		if (in->fs != f)
			rc = take_ino(f, true, &in->stub);
		else if (in->ino == 0)
			rc = take_ino(f, S_ISDIR(in->mode), &in->ino);
	}
	for (size_t i = 0; i < d->cap && rc == 0; i++) {
		struct fsw_inode *in = d->slot[i] ? d->slot[i]->in : NULL;

		if (in != NULL && in->dir != NULL && in->fs == f &&
		    in->self == d->slot[i]) {
			rc = number(f, in, depth + 1);
		}
	}
	return rc;
}

static unsigned rec_len(size_t namelen)
{
	return (unsigned)((8 + namelen + 3) & ~(size_t)3);
}

/* A directory's blocks as they fill. */
struct dirw {
	struct gen_fsw *w;
	struct fsw_fs *f;
	struct fsw_inode *in;
	unsigned char *blk;
	unsigned room, pos, prev;
	uint64_t lblk;
};

/* The block so far (an empty one: one unused entry) goes to the disk. */
static int dirw_flush(struct dirw *d, struct rf_error *err)
{
	ext2_filsys fs = d->f->fs;
	struct ext2_dir_entry *de;
	uint64_t p, got;
	errcode_t e;
	int rc;

	if (d->pos == 0) {
		memset(d->blk, 0, d->w->bs);
		d->prev = 0;
	}
	/* the block's last entry takes what is left */
	de = (void *)(d->blk + d->prev);
	ext2fs_set_rec_len(fs, d->room - d->prev, de);
	if (ext2fs_has_feature_metadata_csum(fs->super))
		ext2fs_initialize_dirent_tail(fs,
					      EXT2_DIRENT_TAIL(d->blk, d->w->bs));
	rc = alloc_run(d->w, d->f, 1, &p, &got);
	if (rc < 0)
		return rf_error_errno(err, rc, "no room for a directory block");
	e = ext2fs_write_dir_block4(fs, p, d->blk, 0, d->in->ino);
	if (e)
		return e2err(err, e, "cannot write a directory block", NULL);
	add_ext(&d->in->ext, &d->in->next, d->lblk++, p, 1);
	d->pos = 0;
	return 0;
}

static int dirw_add(struct dirw *d, const char *name, uint32_t ino,
		    uint8_t ft, struct rf_error *err)
{
	size_t nl = strlen(name);
	struct ext2_dir_entry *de;
	int rc;

	if (nl > 255)
		return rf_error_set(err, -ENAMETOOLONG, "a name of %zu bytes "
				    "in a directory", nl);
	if (d->pos + rec_len(nl) > d->room) {
		rc = dirw_flush(d, err);
		if (rc < 0)
			return rc;
	}
	if (d->pos == 0)
		memset(d->blk, 0, d->w->bs);
	de = (void *)(d->blk + d->pos);
	de->inode = ino;
	ext2fs_dirent_set_name_len(de, (int)nl);
	ext2fs_dirent_set_file_type(de, ft);
	memcpy(de->name, name, nl);
	ext2fs_set_rec_len(d->f->fs, rec_len(nl), de);
	d->prev = d->pos;
	d->pos += rec_len(nl);
	return 0;
}

/* A directory entry as the htree orders them. */
struct dxent {
	const char *name;
	uint32_t ino, hash, minor;
	uint8_t ft;
};

static int dxent_cmp(const void *a, const void *b)
{
	const struct dxent *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	if (x->minor != y->minor)
		return x->minor < y->minor ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* An index block (a node, or the root past its header) whose entries go
 * to count blocks from first, with their first hashes; written at pblk. */
static int dx_block(struct gen_fsw *w, struct fsw_fs *f, struct fsw_inode *in,
		    unsigned char *blk, size_t at, unsigned limit,
		    size_t count, uint32_t first, const uint32_t *hashes,
		    uint64_t pblk, struct rf_error *err)
{
	struct ext2_dx_countlimit *cl = (void *)(blk + at);
	struct ext2_dx_entry *e = (void *)cl;
	errcode_t rc;

	cl->limit = ext2fs_cpu_to_le16((uint16_t)limit);
	cl->count = ext2fs_cpu_to_le16((uint16_t)count);
	/* the first entry's hash is the count and limit: it starts at 0 */
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			e[i].hash = ext2fs_cpu_to_le32(hashes[i]);
		e[i].block = ext2fs_cpu_to_le32(first + (uint32_t)i);
	}
	rc = ext2fs_write_dir_block4(f->fs, pblk, blk, 0, in->ino);
	return rc ? e2err(err, rc, "cannot write a directory index", NULL) : 0;
}

/*
 * A directory of more than one block, written with an htree index as the
 * kernel makes them (mke2fs -d leaves such directories linear, and a
 * lookup in one then reads every block): entries sorted by the
 * filesystem's hash, the root in block 0, the leaves from block 1, and
 * past what the root holds one level of nodes after them. 0, or 1 when
 * the directory is too big for two levels (to be written linear).
 */
static int write_dx(struct gen_fsw *w, struct fsw_fs *f, struct fsw_inode *in,
		    uint32_t up, unsigned room, unsigned char *blk,
		    struct rf_error *err)
{
	ext2_filsys fs = f->fs;
	struct fsw_dir *dir = in->dir;
	unsigned tail = ext2fs_has_feature_metadata_csum(fs->super)
				? sizeof(struct ext2_dx_tail)
				: 0;
	unsigned root_limit = (w->bs - 32 - tail) / 8;
	unsigned node_limit = (w->bs - 8 - tail) / 8;
	int alg = fs->super->s_def_hash_version;
	struct dxent *v = rf_xcalloc(dir->n + 1, sizeof(*v));
	struct dirw d = {.w = w, .f = f, .in = in, .blk = blk, .room = room,
			 .lblk = 1};
	uint32_t *lh = rf_xcalloc(dir->n + 1, sizeof(*lh)); /* per leaf */
	uint32_t *nh = NULL;                                 /* per node */
	size_t n = 0, nleaves = 0, nnodes;
	uint64_t root, got;
	errcode_t e;
	int rc = 0;

	if (alg <= EXT2_HASH_TEA &&
	    (fs->super->s_flags & EXT2_FLAGS_UNSIGNED_HASH))
		alg += 3;
	for (size_t i = 0; i < dir->cap; i++) {
		const struct fsw_inode *c =
			dir->slot[i] ? dir->slot[i]->in : NULL;

		if (c == NULL)
			continue;
		v[n].name = dir->slot[i]->name;
		v[n].ino = c->fs == f ? c->ino : c->stub;
		v[n].ft = ftype(c->mode);
		e = ext2fs_dirhash2(alg, v[n].name, (int)strlen(v[n].name),
				    NULL, 0, fs->super->s_hash_seed,
				    &v[n].hash, &v[n].minor);
		if (e) {
			rc = e2err(err, e, "cannot hash a name", NULL);
			goto out;
		}
		n++;
	}
	qsort(v, n, sizeof(*v), dxent_cmp);
	rc = alloc_run(w, f, 1, &root, &got);
	if (rc < 0) {
		rc = rf_error_errno(err, rc, "no room for a directory block");
		goto out;
	}
	add_ext(&in->ext, &in->next, 0, root, 1);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (i == 0 || d.pos + rec_len(strlen(v[i].name)) > d.room)
			/* a leaf starts here; a hash the previous leaf ends
			 * with is marked as going on */
			lh[nleaves++] = i > 0 && v[i].hash == v[i - 1].hash
						? v[i].hash | 1
						: v[i].hash;
		rc = dirw_add(&d, v[i].name, v[i].ino, v[i].ft, err);
	}
	if (rc == 0)
		rc = dirw_flush(&d, err);
	if (rc < 0)
		goto out;
	nnodes = nleaves <= root_limit ? 0
				       : (nleaves + node_limit - 1) / node_limit;
	if (nnodes > root_limit) {
		/* three levels need large_dir: written linear instead */
		free_exts(w, f, in->ext, in->next);
		free(in->ext);
		in->ext = NULL;
		in->next = 0;
		rc = 1;
		goto out;
	}
	nh = rf_xcalloc(nnodes + 1, sizeof(*nh));
	for (size_t k = 0; k < nnodes && rc == 0; k++) {
		size_t first = k * node_limit, count = nleaves - first;
		uint64_t p;

		if (count > node_limit)
			count = node_limit;
		nh[k] = lh[first];
		rc = alloc_run(w, f, 1, &p, &got);
		if (rc < 0) {
			rc = rf_error_errno(err, rc, "no room for a directory "
					    "block");
			break;
		}
		add_ext(&in->ext, &in->next, d.lblk, p, 1);
		/* a node: one empty entry over the block, then the index */
		memset(blk, 0, w->bs);
		ext2fs_set_rec_len(fs, w->bs, (void *)blk);
		rc = dx_block(w, f, in, blk, 8, node_limit, count,
			      (uint32_t)(1 + first), lh + first, p, err);
		d.lblk++;
	}
	if (rc == 0) {
		struct ext2_dir_entry *dot = (void *)blk;
		struct ext2_dir_entry *dotdot = (void *)(blk + 12);
		struct ext2_dx_root_info *ri = (void *)(blk + 24);

		memset(blk, 0, w->bs);
		dot->inode = in->ino; /* a dirent: swapped by libext2fs */
		ext2fs_dirent_set_name_len(dot, 1);
		ext2fs_dirent_set_file_type(dot, EXT2_FT_DIR);
		memcpy(dot->name, ".", 1);
		ext2fs_set_rec_len(fs, 12, dot);
		dotdot->inode = up;
		ext2fs_dirent_set_name_len(dotdot, 2);
		ext2fs_dirent_set_file_type(dotdot, EXT2_FT_DIR);
		memcpy(dotdot->name, "..", 2);
		ext2fs_set_rec_len(fs, w->bs - 12, dotdot);
		ri->hash_version = fs->super->s_def_hash_version;
		ri->info_length = 8;
		ri->indirect_levels = nnodes > 0;
		rc = nnodes > 0
			     ? dx_block(w, f, in, blk, 32, root_limit, nnodes,
					(uint32_t)(1 + nleaves), nh, root, err)
			     : dx_block(w, f, in, blk, 32, root_limit, nleaves,
					1, lh, root, err);
	}
	in->size = d.lblk * w->bs;
	in->dx = rc == 0;
out:
	free(nh);
	free(lh);
	free(v);
	return rc;
}

/* Lay out and write a directory's blocks: in->ext and in->size.
 * lost+found gets LPF_BLOCKS at least, room e2fsck needs no allocation
 * for; a directory of more than one block gets an htree index. */
static int write_dir(struct gen_fsw *w, struct fsw_fs *f,
		     struct fsw_inode *in, bool lpf, unsigned char *blk,
		     struct rf_error *err)
{
	struct dirw d = {.w = w, .f = f, .in = in, .blk = blk, .room = w->bs};
	struct fsw_dir *dir = in->dir;
	const struct fsw_inode *up = in->self->parent->in;
	uint32_t up_ino = in == f->root ? EXT2_ROOT_INO
			  : up->fs == f	 ? up->ino
					 : up->stub;
	size_t bytes = 24;
	int rc;

	if (ext2fs_has_feature_metadata_csum(f->fs->super))
		d.room -= sizeof(struct ext2_dir_entry_tail);
	for (size_t i = 0; i < dir->cap && bytes <= d.room; i++)
		if (dir->slot[i] != NULL)
			bytes += rec_len(strlen(dir->slot[i]->name));
	if (!lpf && bytes > d.room &&
	    ext2fs_has_feature_dir_index(f->fs->super)) {
		rc = write_dx(w, f, in, up_ino, d.room, blk, err);
		if (rc <= 0)
			return rc;
	}
	rc = dirw_add(&d, ".", in->ino, EXT2_FT_DIR, err);
	if (rc == 0)
		rc = dirw_add(&d, "..", up_ino, EXT2_FT_DIR, err);
	for (size_t i = 0; i < dir->cap && rc == 0; i++) {
		const struct fsw_inode *c =
			dir->slot[i] ? dir->slot[i]->in : NULL;

		if (c != NULL)
			rc = dirw_add(&d, dir->slot[i]->name,
				      c->fs == f ? c->ino : c->stub,
				      ftype(c->mode), err);
	}
	if (rc == 0)
		rc = dirw_flush(&d, err);
	while (rc == 0 && lpf && d.lblk < LPF_BLOCKS)
		rc = dirw_flush(&d, err);
	in->size = d.lblk * w->bs;
	return rc;
}

static void put_time(uint32_t *sec, uint32_t *extra, struct timespec t)
{
	int64_t s = t.tv_sec;

	*sec = (uint32_t)s;
	*extra = (uint32_t)(((s - (int32_t)s) >> 32) & EXT4_EPOCH_MASK) |
		 (uint32_t)((unsigned long)t.tv_nsec << EXT4_EPOCH_BITS);
}

static int write_inode(struct gen_fsw *w, struct fsw_fs *f,
		       struct fsw_inode *in, unsigned char *buf,
		       struct rf_error *err)
{
	ext2_filsys fs = f->fs;
	struct ext2_inode_large *li = (void *)buf;
	struct ext2_inode *ii = (void *)buf;
	unsigned isize = EXT2_INODE_SIZE(fs->super);
	uint64_t blocks = 0;
	bool extents = S_ISREG(in->mode) || S_ISDIR(in->mode) ||
		       (S_ISLNK(in->mode) && in->next > 0);
	errcode_t e;

	memset(buf, 0, isize);
	li->i_mode = (uint16_t)in->mode;
	li->i_uid = (uint16_t)in->uid;
	ext2fs_set_i_uid_high(*ii, in->uid >> 16);
	li->i_gid = (uint16_t)in->gid;
	ext2fs_set_i_gid_high(*ii, in->gid >> 16);
	if (S_ISDIR(in->mode)) {
		size_t n = 2 + in->dir->nsub;

		li->i_links_count = n >= EXT2_LINK_MAX ? 1 : (uint16_t)n;
	} else {
		li->i_links_count = in->nlink > 65000 ? 65000 : (uint16_t)in->nlink;
	}
	if (isize > EXT2_GOOD_OLD_INODE_SIZE) {
		li->i_extra_isize = sizeof(struct ext2_inode_large) -
				    EXT2_GOOD_OLD_INODE_SIZE;
		put_time(&li->i_mtime, &li->i_mtime_extra, in->mtime);
		put_time(&li->i_atime, &li->i_atime_extra, in->mtime);
		put_time(&li->i_ctime, &li->i_ctime_extra, w->now);
		put_time(&li->i_crtime, &li->i_crtime_extra, w->now);
	} else {
		li->i_mtime = li->i_atime = (uint32_t)in->mtime.tv_sec;
		li->i_ctime = (uint32_t)w->now.tv_sec;
	}
	for (size_t i = 0; i < in->next; i++)
		blocks += in->ext[i].len;
	if (S_ISLNK(in->mode) && in->next == 0) {
		memcpy(li->i_block, in->target, in->size); /* fast: < 60 */
	} else if (S_ISCHR(in->mode) || S_ISBLK(in->mode)) {
		unsigned ma = major(in->rdev), mi = minor(in->rdev);

		/* in CPU order: libext2fs swaps a device's i_block */
		if (ma < 256 && mi < 256)
			li->i_block[0] = ma << 8 | mi;
		else
			li->i_block[1] = (mi & 0xff) | (ma << 8) |
					 ((mi & ~0xffU) << 12);
	} else if (extents) {
		struct ext3_extent_header *h = (void *)li->i_block;
		struct ext3_extent *x = (void *)(h + 1);
		size_t n = in->next <= 4 ? in->next : 0;

		li->i_flags |= EXT4_EXTENTS_FL;
		if (in->dx)
			li->i_flags |= EXT2_INDEX_FL;
		h->eh_magic = ext2fs_cpu_to_le16(EXT3_EXT_MAGIC);
		h->eh_entries = ext2fs_cpu_to_le16((uint16_t)n);
		h->eh_max = ext2fs_cpu_to_le16(4);
		h->eh_depth = 0;
		for (size_t i = 0; i < n; i++) {
			x[i].ee_block = ext2fs_cpu_to_le32((uint32_t)in->ext[i].lblk);
			x[i].ee_len = ext2fs_cpu_to_le16((uint16_t)in->ext[i].len);
			x[i].ee_start_hi =
				ext2fs_cpu_to_le16((uint16_t)(in->ext[i].pblk >> 32));
			x[i].ee_start = ext2fs_cpu_to_le32((uint32_t)in->ext[i].pblk);
		}
	}
	e = ext2fs_inode_size_set(fs, ii, in->size);
	if (!e)
		e = ext2fs_iblk_set(fs, ii, blocks);
	if (!e)
		e = ext2fs_write_inode_full(fs, in->ino, ii, isize);
	if (e)
		return e2err(err, e, "cannot write its inode", NULL);
	if (extents && in->next > 4) {
		ext2_extent_handle_t h = NULL;

		e = ext2fs_extent_open2(fs, in->ino, NULL, &h);
		for (size_t i = 0; !e && i < in->next; i++) {
			struct ext2fs_extent x = {
				.e_pblk = in->ext[i].pblk,
				.e_lblk = in->ext[i].lblk,
				.e_len = in->ext[i].len,
			};

			e = ext2fs_extent_insert(h, EXT2_EXTENT_INSERT_AFTER,
						 &x);
		}
		if (h != NULL)
			ext2fs_extent_free(h);
		if (e)
			return e2err(err, e, "cannot write its extents", NULL);
	}
	if (in->nx > 0) {
		struct ext2_xattr_handle *h = NULL;

		e = ext2fs_xattrs_open(fs, in->ino, &h);
		if (!e)
			e = ext2fs_xattrs_read(h);
		for (size_t i = 0; !e && i < in->nx; i++)
			e = ext2fs_xattr_set(h, in->x[i].name, in->x[i].val,
					     in->x[i].len);
		if (h != NULL) {
			errcode_t c = ext2fs_xattrs_close(&h);

			if (!e)
				e = c;
		}
		if (e)
			return e2err(err, e, "cannot write its xattrs", NULL);
	}
	return 0;
}

/* The blocks of a symlink too long for its inode. */
static int write_symlink(struct gen_fsw *w, struct fsw_inode *in,
			 unsigned char *blk)
{
	if (in->size < sizeof(((struct ext2_inode *)0)->i_block))
		return 0;
	memset(blk, 0, w->bs);
	memcpy(blk, in->target, in->size);
	return put_blocks(w, in->fs, blk, w->bs, 0, &in->ext, &in->next);
}

/* The directory of f where a filesystem is mounted at e: empty, with the
 * mounted root's owner, mode and times (as the staged path leaves it). */
static int write_stub(struct gen_fsw *w, struct fsw_fs *f,
		      struct fsw_dent *e, unsigned char *buf,
		      unsigned char *blk, struct rf_error *err)
{
	struct fsw_dir none = {0};
	struct fsw_inode stub = {
		.fs = f, .ino = e->in->stub, .mode = e->in->mode,
		.uid = e->in->uid, .gid = e->in->gid, .mtime = e->in->mtime,
		.nlink = 1, .dir = &none, .self = e,
	};
	int rc = write_dir(w, f, &stub, false, blk, err);

	if (rc == 0)
		rc = write_inode(w, f, &stub, buf, err);
	free(stub.ext);
	return rc;
}

/* The path of e in the image, for a message. */
static void dent_path(const struct fsw_dent *e, struct rf_buf *b)
{
	if (e->parent == e)
		return; /* the root */
	dent_path(e->parent, b);
	rf_buf_addch(b, '/');
	rf_buf_addstr(b, e->name);
}

/* err, prefixed with the path of e */
static int failed_at(const struct fsw_dent *e, int rc, struct rf_error *err)
{
	struct rf_buf b = RF_BUF_INIT;

	dent_path(e, &b);
	rf_error_prefix(err, "%s", b.len > 0 ? b.data : "/");
	rf_buf_free(&b);
	return rc;
}

/* Write f's part of the tree under dir. */
static int write_tree(struct gen_fsw *w, struct fsw_fs *f,
		      struct fsw_inode *dir, unsigned char *buf,
		      unsigned char *blk, struct rf_error *err)
{
	struct fsw_dir *d = dir->dir;
	bool lpf = dir != f->root && dir->self->parent->in == f->root &&
		   strcmp(dir->self->name, "lost+found") == 0;
	int rc = write_dir(w, f, dir, lpf, blk, err);

	if (rc == 0)
		rc = write_inode(w, f, dir, buf, err);
	if (rc < 0)
		return failed_at(dir->self, rc, err);
	for (size_t i = 0; i < d->cap && rc == 0; i++) {
		struct fsw_dent *e = d->slot[i];

		if (e == NULL)
			continue;
		if (e->in->fs != f) {
			rc = write_stub(w, f, e, buf, blk, err);
			if (rc < 0)
				return failed_at(e, rc, err);
			continue;
		}
		if (e->in->dir != NULL) {
			if (e->in->self == e)
				rc = write_tree(w, f, e->in, buf, blk, err);
			continue;
		}
		if (e->in->written)
			continue; /* a hardlink's inode */
		if (S_ISLNK(e->in->mode)) {
			rc = write_symlink(w, e->in, blk);
			if (rc < 0) {
				rf_error_errno(err, rc, "no room for its target");
				return failed_at(e, rc, err);
			}
		}
		rc = write_inode(w, f, e->in, buf, err);
		if (rc < 0)
			return failed_at(e, rc, err);
		e->in->written = true;
	}
	return rc;
}

void gen_fsw_space(const struct gen_fsw *w, uint64_t *data, uint64_t *free)
{
	*data = *free = 0;
	for (size_t i = 0; i < w->nfs; i++) {
		*data += w->fss[i]->data_blocks * w->bs;
		*free += ext2fs_free_blocks_count(w->fss[i]->fs->super) * w->bs;
	}
}

static void fs_free(struct fsw_fs *f)
{
	if (f == NULL)
		return;
	if (f->fs != NULL)
		ext2fs_free(f->fs); /* a failed run: nothing more written */
	if (f->fd >= 0)
		close(f->fd);
	free(f->mountpoint);
	free(f);
}

/* Open the empty filesystem at dev as one of w's; its root is made by
 * the caller. */
static int fs_open(struct gen_fsw *w, const char *mountpoint,
		   const char *dev, struct fsw_fs **out, struct rf_error *err)
{
	struct fsw_fs *f = rf_xcalloc(1, sizeof(*f));
	errcode_t e;
	int rc = 0;

	f->fd = -1;
	f->mountpoint = rf_xstrdup(mountpoint);
	e = ext2fs_open2(dev, NULL, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0,
			 unix_io_manager, &f->fs);
	if (e) {
		f->fs = NULL;
		rc = e2err(err, e, "cannot open the new filesystem", NULL);
		goto out;
	}
	e = ext2fs_read_bitmaps(f->fs);
	if (e) {
		rc = e2err(err, e, "cannot read the new filesystem's bitmaps",
			   NULL);
		goto out;
	}
	if (w->bs == 0)
		w->bs = f->fs->blocksize;
	if (f->fs->blocksize != w->bs || w->bs > DATA_BUF ||
	    !ext2fs_has_feature_extents(f->fs->super)) {
		rc = rf_error_set(err, -EOPNOTSUPP, "the new filesystem has "
				  "no extents, or blocks of another size");
		goto out;
	}
	f->fd = open(dev, O_RDWR | O_CLOEXEC);
	if (f->fd < 0) {
		rc = rf_error_errno(err, -errno, "cannot open %s", dev);
		goto out;
	}
	f->cursor = f->fs->super->s_first_data_block;
out:
	if (rc < 0) {
		rf_error_prefix(err, "%s", mountpoint);
		fs_free(f);
	} else {
		w->fss = rf_xrealloc(w->fss, (w->nfs + 1) * sizeof(*w->fss));
		w->fss[w->nfs++] = f;
		*out = f;
	}
	return rc;
}

/* What mke2fs made in f's root stays known: lost+found is a directory of
 * the model, its old blocks given back at close. */
static void keep_lpf(struct gen_fsw *w, struct fsw_fs *f)
{
	ext2_ino_t lpf = 0;

	if (ext2fs_lookup(f->fs, EXT2_ROOT_INO, "lost+found", 10, NULL,
			  &lpf) == 0 &&
	    lpf != 0 && lookup(f->root, "lost+found", 10) == NULL)
		link_in(f->root, "lost+found", 10,
			new_inode(w, f, S_IFDIR | 0700));
}

int gen_fsw_open(const char *dev, struct gen_fsw **out, struct rf_error *err)
{
	struct gen_fsw *w = rf_xcalloc(1, sizeof(*w));
	struct fsw_fs *f;
	int rc;

	pthread_mutex_init(&w->lock, NULL);
	pthread_rwlock_init(&w->ns, NULL);
	clock_gettime(CLOCK_REALTIME, &w->now);
	rc = fs_open(w, "/", dev, &f, err);
	if (rc < 0)
		goto out;
	w->root.in = new_inode(w, f, S_IFDIR | 0755);
	w->root.in->ino = EXT2_ROOT_INO;
	w->root.in->nlink = 1;
	w->root.in->self = &w->root;
	w->root.name = (char *)"";
	w->root.parent = &w->root;
	f->root = w->root.in;
	keep_lpf(w, f);
out:
	if (rc < 0)
		gen_fsw_free(w);
	else
		*out = w;
	return rc;
}

int gen_fsw_mount(struct gen_fsw *w, const char *mountpoint, const char *dev,
		  struct rf_error *err)
{
	struct fsw_inode *dir, *root;
	struct fsw_fs *f;
	const char *base;
	size_t blen;
	int rc;

	if (mountpoint[0] != '/' || mountpoint[1] == '\0')
		return rf_error_set(err, -EINVAL, "%s: not a mount point",
				    mountpoint);
	rc = parent_of(w, mountpoint + 1, true, &dir, &base, &blen);
	if (rc == 0 && (blen == 0 || lookup(dir, base, blen) != NULL))
		rc = -EEXIST; /* mounted after what is in it */
	if (rc < 0)
		return rf_error_errno(err, rc, "cannot mount at %s",
				      mountpoint);
	rc = fs_open(w, mountpoint, dev, &f, err);
	if (rc < 0)
		return rc;
	root = new_inode(w, f, S_IFDIR | 0755);
	root->ino = EXT2_ROOT_INO;
	link_in(dir, base, blen, root);
	f->root = root;
	keep_lpf(w, f);
	return 0;
}

/* Give back the blocks and inodes mke2fs used for what the model now
 * holds (the root's and lost+found's directory blocks). */
static int release_mkfs(struct gen_fsw *w, struct fsw_fs *f,
			struct rf_error *err)
{
	ext2_ino_t lpf = 0;
	errcode_t e;

	if (ext2fs_lookup(f->fs, EXT2_ROOT_INO, "lost+found", 10, NULL, &lpf))
		lpf = 0;
	e = ext2fs_punch(f->fs, EXT2_ROOT_INO, NULL, NULL, 0, ~0ULL);
	if (!e && lpf != 0) {
		struct ext2_inode inode;

		e = ext2fs_punch(f->fs, lpf, NULL, NULL, 0, ~0ULL);
		if (!e)
			e = ext2fs_read_inode(f->fs, lpf, &inode);
		if (!e) {
			inode.i_links_count = 0;
			inode.i_dtime = (uint32_t)w->now.tv_sec;
			e = ext2fs_write_inode(f->fs, lpf, &inode);
		}
		if (!e)
			ext2fs_inode_alloc_stats2(f->fs, lpf, -1, 1);
	}
	if (e)
		return e2err(err, e, "cannot take over what mke2fs made",
			     NULL);
	return 0;
}

static int close_fs(struct gen_fsw *w, struct fsw_fs *f, unsigned char *blk,
		    struct rf_error *err)
{
	unsigned char *buf = rf_xcalloc(1, EXT2_INODE_SIZE(f->fs->super));
	errcode_t e;
	int rc;

	rc = release_mkfs(w, f, err);
	if (rc < 0)
		goto out;
	f->next_ino = f->fs->super->s_first_ino;
	rc = number(f, f->root, 0);
	if (rc < 0) {
		rc = rf_error_errno(err, rc, "%u inodes are too few",
				    f->fs->super->s_inodes_count);
		goto out;
	}
	rc = write_tree(w, f, f->root, buf, blk, err);
	if (rc < 0)
		goto out;
	e = ext2fs_close2(f->fs, 0);
	f->fs = NULL;
	if (e)
		rc = e2err(err, e, "cannot write the filesystem's metadata",
			   NULL);
out:
	if (rc < 0 && f->mountpoint[1] != '\0')
		rf_error_prefix(err, "the %s filesystem", f->mountpoint);
	free(buf);
	return rc;
}

int gen_fsw_close(struct gen_fsw *w, struct rf_error *err)
{
	unsigned char *blk = rf_xmalloc(w->bs);
	int rc = 0;

	for (size_t i = 0; i < w->nfs && rc == 0; i++)
		rc = close_fs(w, w->fss[i], blk, err);
	free(blk);
	gen_fsw_free(w);
	return rc;
}

static void free_tree(struct gen_fsw *w, struct fsw_inode *dir)
{
	struct fsw_dir *d = dir->dir;

	for (size_t i = 0; i < d->cap; i++) {
		struct fsw_dent *e = d->slot[i];

		if (e == NULL)
			continue;
		if (e->in->dir != NULL && e->in->self == e)
			free_tree(w, e->in);
		e->in->nlink--;
		e->in->next = 0; /* the blocks stay with the filesystem */
		if (e->in->nlink == 0)
			inode_drop(w, e->in);
		free(e->name);
		free(e);
	}
	free(d->slot);
	d->slot = NULL;
	d->cap = d->n = 0;
}

void gen_fsw_free(struct gen_fsw *w)
{
	if (w == NULL)
		return;
	if (w->root.in != NULL) {
		free_tree(w, w->root.in);
		w->root.in->nlink = 0;
		w->root.in->next = 0;
		inode_drop(w, w->root.in);
	}
	for (size_t i = 0; i < w->nfs; i++)
		fs_free(w->fss[i]);
	free(w->fss);
	pthread_rwlock_destroy(&w->ns);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
