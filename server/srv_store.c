/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The content-addressed store: objects/ab/cdef... named by the SHA-256 of
 * their bytes. Every file is written the way that survives a crash at any
 * point (restic's order): a temporary file in tmp/ on the same filesystem,
 * write, length and digest check, fsync, rename into place, fsync of the
 * directory. An fsync error fails the write and is never retried: after a
 * failed fsync the kernel may have dropped the dirty pages, so a second
 * fsync could succeed on data that is gone (PostgreSQL's lesson).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "digest.h"
#include "escape.h"
#include "srv.h"

static pthread_rwlock_t gc_lock = PTHREAD_RWLOCK_INITIALIZER;

void srv_gc_lock_shared(void)
{
	pthread_rwlock_rdlock(&gc_lock);
}

void srv_gc_lock_exclusive(void)
{
	pthread_rwlock_wrlock(&gc_lock);
}

void srv_gc_unlock(void)
{
	pthread_rwlock_unlock(&gc_lock);
}

bool srv_is_sha256_hex(const char *s)
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[64] == '\0';
}

int srv_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int srv_fsync(const struct srv_store *st, int fd)
{
	if (st->nosync)
		return 0;
	if (fsync(fd) < 0)
		return -errno;
	return 0;
}

/* mkdirat that accepts an existing directory. */
static int ensure_dir(int dirfd, const char *name)
{
	if (mkdirat(dirfd, name, 0750) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int open_dir(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* Remove every file in tmp/: the partial writes of a run that crashed. */
static void clean_tmp(int tmpfd)
{
	int fd = dup(tmpfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			unlinkat(tmpfd, de->d_name, 0);
	closedir(d);
}

int srv_store_open(const char *dir, struct srv_store **out,
		   struct rf_error *err)
{
	struct srv_store *st = rf_xcalloc(1, sizeof(*st));
	static const char *const subdirs[] = {"objects", "tmp", "uploads"};
	int rc;

	st->dirfd = st->objfd = st->tmpfd = st->upfd = -1;
	st->dir = rf_xstrdup(dir);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		rc = rf_error_errno(err, -errno, "cannot create '%s'", dir);
		goto out;
	}
	st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0) {
		rc = rf_error_errno(err, -errno, "cannot open '%s'", dir);
		goto out;
	}
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		rc = ensure_dir(st->dirfd, subdirs[i]);
		if (rc < 0) {
			rf_error_errno(err, rc, "cannot create '%s/%s'", dir,
				       subdirs[i]);
			goto out;
		}
	}
	st->objfd = open_dir(st->dirfd, "objects");
	st->tmpfd = open_dir(st->dirfd, "tmp");
	st->upfd = open_dir(st->dirfd, "uploads");
	if (st->objfd < 0 || st->tmpfd < 0 || st->upfd < 0) {
		rc = rf_error_errno(err, st->objfd < 0 ? st->objfd
				    : st->tmpfd < 0 ? st->tmpfd : st->upfd,
				    "cannot open the store in '%s'", dir);
		goto out;
	}
	clean_tmp(st->tmpfd);
	rc = 0;
out:
	if (rc < 0) {
		srv_store_free(st);
		st = NULL;
	}
	*out = st;
	return rc;
}

void srv_store_free(struct srv_store *st)
{
	if (st == NULL)
		return;
	if (st->dirfd >= 0)
		close(st->dirfd);
	if (st->objfd >= 0)
		close(st->objfd);
	if (st->tmpfd >= 0)
		close(st->tmpfd);
	if (st->upfd >= 0)
		close(st->upfd);
	free(st->dir);
	free(st);
}

void srv_object_relpath(const char *sha_hex, char buf[68])
{
	snprintf(buf, 68, "%.2s/%s", sha_hex, sha_hex + 2);
}

bool srv_object_exists(struct srv_store *st, const char *sha_hex)
{
	char rel[68];
	struct stat sb;

	srv_object_relpath(sha_hex, rel);
	return fstatat(st->objfd, rel, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(sb.st_mode);
}

int srv_object_open(struct srv_store *st, const char *sha_hex)
{
	char rel[68];
	int fd;

	srv_object_relpath(sha_hex, rel);
	fd = openat(st->objfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int srv_object_unlink(struct srv_store *st, const char *sha_hex)
{
	char rel[68];

	srv_object_relpath(sha_hex, rel);
	if (unlinkat(st->objfd, rel, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

struct srv_object_writer {
	struct srv_store *st;
	int fd;
	char tmpname[64];
	uint64_t size;
	struct rf_digest *digest;
};

int srv_object_begin(struct srv_store *st, struct srv_object_writer **out,
		     struct rf_error *err)
{
	struct srv_object_writer *w = rf_xcalloc(1, sizeof(*w));
	static unsigned long counter;
	int rc;

	w->st = st;
	/* unique within the process: pid, thread-safe counter */
	snprintf(w->tmpname, sizeof(w->tmpname), "obj.%ld.%lu", (long)getpid(),
		 __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
	w->fd = openat(st->tmpfd, w->tmpname,
		       O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (w->fd < 0) {
		rc = rf_error_errno(err, -errno, "cannot create a temporary "
				    "file in '%s/tmp'", st->dir);
		free(w);
		*out = NULL;
		return rc;
	}
	w->digest = rf_digest_new(RF_DIGEST_SHA256, RF_DIGEST_NONE);
	*out = w;
	return 0;
}

int srv_object_write(struct srv_object_writer *w, const void *data,
		     size_t len, struct rf_error *err)
{
	int rc = srv_write_all(w->fd, data, len);

	if (rc < 0)
		return rf_error_errno(err, rc, "cannot write to the store");
	rf_digest_update(w->digest, data, len);
	w->size += len;
	return 0;
}

void srv_object_abort(struct srv_object_writer *w)
{
	if (w == NULL)
		return;
	if (w->fd >= 0)
		close(w->fd);
	unlinkat(w->st->tmpfd, w->tmpname, 0);
	rf_digest_free(w->digest);
	free(w);
}

static int object_commit(struct srv_object_writer *w, const char *sha_hex,
			 uint64_t size, char *sha_out, struct rf_error *err)
{
	unsigned char md[RF_SHA256_LEN];
	struct rf_buf hex = RF_BUF_INIT;
	struct srv_store *st = w->st;
	char rel[68], sub[3];
	int rc, subfd = -1;

	rf_digest_final(w->digest, md, NULL);
	rf_hex_encode(&hex, md, sizeof(md));
	if (sha_hex == NULL) {
		/* named by what was written */
		memcpy(sha_out, hex.data, 65);
		sha_hex = sha_out;
		size = w->size;
	}
	if (w->size != size || strcmp(hex.data, sha_hex) != 0) {
		rc = rf_error_set(err, -EBADMSG,
				  "content has %llu bytes and SHA-256 %s, "
				  "announced %llu bytes and %s",
				  (unsigned long long)w->size, hex.data,
				  (unsigned long long)size, sha_hex);
		goto out;
	}
	rc = srv_fsync(st, w->fd);
	if (rc < 0) {
		rf_error_errno(err, rc, "cannot fsync an object");
		goto out;
	}
	if (close(w->fd) < 0) {
		w->fd = -1;
		rc = rf_error_errno(err, -errno, "cannot close an object");
		goto out;
	}
	w->fd = -1;
	memcpy(sub, sha_hex, 2);
	sub[2] = '\0';
	rc = ensure_dir(st->objfd, sub);
	if (rc < 0) {
		rf_error_errno(err, rc, "cannot create objects/%s", sub);
		goto out;
	}
	srv_object_relpath(sha_hex, rel);
	if (renameat(st->tmpfd, w->tmpname, st->objfd, rel) < 0) {
		rc = rf_error_errno(err, -errno, "cannot rename into objects/%s",
				    rel);
		goto out;
	}
	subfd = open_dir(st->objfd, sub);
	if (subfd < 0) {
		rc = rf_error_errno(err, subfd, "cannot open objects/%s", sub);
		goto out;
	}
	rc = srv_fsync(st, subfd);
	if (rc == 0)
		rc = srv_fsync(st, st->objfd);
	if (rc < 0) {
		/* the name may not be durable: take it back */
		unlinkat(st->objfd, rel, 0);
		rf_error_errno(err, rc, "cannot fsync objects/%s", sub);
		goto out;
	}
	rc = 0;
out:
	if (subfd >= 0)
		close(subfd);
	rf_buf_free(&hex);
	if (w->fd >= 0)
		close(w->fd);
	if (rc < 0)
		unlinkat(st->tmpfd, w->tmpname, 0);
	rf_digest_free(w->digest);
	free(w);
	return rc;
}

int srv_object_commit(struct srv_object_writer *w, const char *sha_hex,
		      uint64_t size, struct rf_error *err)
{
	return object_commit(w, sha_hex, size, NULL, err);
}

int srv_object_finish(struct srv_object_writer *w, char *sha_out,
		      uint64_t *size, struct rf_error *err)
{
	*size = w->size;
	return object_commit(w, NULL, 0, sha_out, err);
}
