/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the rpm and alpm backends share: merging what two packages say about
 * one path, and scratch copies of package database files, taken out of the
 * scanned root through rf_root_open() so that the libraries reading them can
 * neither follow a symlink out of the root nor write into it.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "pkgdb_backend.h"
#include "rootfs.h"

#define COPY_CHUNK (1024 * 1024)
#define COPY_ATTEMPTS 3
/* scratch trees are a few levels deep; deeper means something is wrong */
#define RMTREE_DEPTH 16

void scan_pkgfile_fill_unknown(struct scan_pkgfile *pf,
			       const struct scan_pkgfile *more)
{
	uint32_t known = pf->flags;

	if (!(known & SCAN_PF_HAS_TYPE) && (more->flags & SCAN_PF_HAS_TYPE)) {
		pf->mode = (pf->mode & 07777) | (more->mode & S_IFMT);
		pf->flags |= SCAN_PF_HAS_TYPE;
	}
	if (!(known & SCAN_PF_HAS_PERM) && (more->flags & SCAN_PF_HAS_PERM)) {
		pf->mode = (pf->mode & S_IFMT) | (more->mode & 07777);
		pf->flags |= SCAN_PF_HAS_PERM;
	}
	if (!(known & SCAN_PF_HAS_OWNER) && (more->flags & SCAN_PF_HAS_OWNER)) {
		pf->user = more->user;
		pf->group = more->group;
		pf->flags |= SCAN_PF_HAS_OWNER;
	}
	if (!(known & SCAN_PF_HAS_SIZE) && (more->flags & SCAN_PF_HAS_SIZE)) {
		pf->size = more->size;
		pf->flags |= SCAN_PF_HAS_SIZE;
	}
	if (!(known & SCAN_PF_HAS_MTIME) && (more->flags & SCAN_PF_HAS_MTIME)) {
		pf->mtime = more->mtime;
		pf->flags |= SCAN_PF_HAS_MTIME;
	}
	if (!(known & SCAN_PF_HAS_TARGET) &&
	    (more->flags & SCAN_PF_HAS_TARGET)) {
		pf->link_target = more->link_target;
		pf->flags |= SCAN_PF_HAS_TARGET;
	}
	if (pf->algo == RF_DIGEST_NONE && more->algo != RF_DIGEST_NONE) {
		pf->algo = more->algo;
		pf->digest = more->digest;
	}
}

DIR *scan_root_opendir(int rootfd, const char *path)
{
	DIR *dir;
	int fd;

	/* O_NOATIME: the scan must not change the host's access times */
	fd = rf_root_open(rootfd, path, O_RDONLY | O_DIRECTORY | O_NOATIME);
	if (fd == -EPERM)
		fd = rf_root_open(rootfd, path, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	dir = fdopendir(fd);
	if (dir == NULL) {
		int saved = errno;

		close(fd);
		errno = saved;
	}
	return dir;
}

struct scan_scratch {
	char *path;
	int fd; /* the directory, O_DIRECTORY */
};

int scan_scratch_new(const char *prefix, struct scan_scratch **out,
		     struct rf_error *err)
{
	const char *tmp = getenv("TMPDIR");
	struct scan_scratch *s = NULL;
	struct rf_buf path = RF_BUF_INIT;
	int rc;

	*out = NULL;
	/* a relative TMPDIR would depend on the cwd, which nobody chose */
	if (tmp == NULL || tmp[0] != '/')
		tmp = "/tmp";
	rf_buf_printf(&path, "%s/reforge-%s.XXXXXX", tmp, prefix);
	if (mkdtemp(path.data) == NULL) {
		rc = rf_error_errno(err, -errno,
				    "cannot create a scratch directory in %s",
				    tmp);
		goto out;
	}
	s = rf_xcalloc(1, sizeof(*s));
	s->path = rf_buf_detach(&path);
	s->fd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->fd < 0) {
		rc = rf_error_errno(err, -errno, "cannot open '%s'", s->path);
		rmdir(s->path);
		free(s->path);
		free(s);
		s = NULL;
		goto out;
	}
	*out = s;
	rc = 0;
out:
	rf_buf_free(&path);
	return rc;
}

const char *scan_scratch_path(const struct scan_scratch *s)
{
	return s->path;
}

int scan_scratch_fd(const struct scan_scratch *s)
{
	return s->fd;
}

void scan_scratch_unname(const struct scan_scratch *s, const char *sub,
			 const char *as, char *msg, size_t size)
{
	struct rf_buf from = RF_BUF_INIT, out = RF_BUF_INIT;
	const char *p = msg, *hit;

	rf_buf_addstr(&from, s->path);
	if (sub[0] != '\0')
		rf_buf_printf(&from, "/%s", sub);
	while ((hit = strstr(p, from.data)) != NULL) {
		rf_buf_add(&out, p, (size_t)(hit - p));
		rf_buf_addstr(&out, as);
		p = hit + from.len;
	}
	if (p != msg) {
		rf_buf_addstr(&out, p);
		snprintf(msg, size, "%s", out.data);
	}
	rf_buf_free(&from);
	rf_buf_free(&out);
}

int scan_scratch_mkdir(struct scan_scratch *s, const char *rel,
		       struct rf_error *err)
{
	char *copy = rf_xstrdup(rel);
	int rc = 0;

	for (char *p = copy;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (copy[0] != '\0' && mkdirat(s->fd, copy, 0700) < 0 &&
		    errno != EEXIST) {
			rc = rf_error_errno(err, -errno,
					    "cannot create '%s/%s'", s->path,
					    copy);
			break;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	free(copy);
	return rc;
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static bool same_file_state(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* One attempt of scan_scratch_copy(); -EAGAIN when src changed meanwhile. */
static int copy_once(struct scan_scratch *s, int rootfd, const char *src,
		     const char *dst, uint64_t max, char *buf,
		     struct rf_error *err)
{
	struct stat before, after;
	uint64_t total = 0;
	int in, out = -1, rc;

	/* O_NOATIME: the scan must not change the host's access times */
	in = rf_root_open(rootfd, src,
			  O_RDONLY | O_NOCTTY | O_NONBLOCK | O_NOATIME);
	if (in == -EPERM)
		in = rf_root_open(rootfd, src,
				  O_RDONLY | O_NOCTTY | O_NONBLOCK);
	if (in == -ENOENT)
		return -ENOENT;
	if (in < 0)
		return rf_error_errno(err, in, "cannot open '%s'", src);
	if (fstat(in, &before) < 0) {
		rc = rf_error_errno(err, -errno, "cannot stat '%s'", src);
		goto out;
	}
	if (!S_ISREG(before.st_mode)) {
		rc = rf_error_set(err, -EINVAL, "'%s' is not a regular file",
				  src);
		goto out;
	}
	if ((uint64_t)before.st_size > max) {
		rc = rf_error_set(err, -EFBIG, "'%s' is larger than %llu bytes",
				  src, (unsigned long long)max);
		goto out;
	}
	out = openat(s->fd, dst,
		     O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		     0600);
	if (out < 0) {
		rc = rf_error_errno(err, -errno, "cannot create '%s/%s'",
				    s->path, dst);
		goto out;
	}
	for (;;) {
		ssize_t n = read(in, buf, COPY_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = rf_error_errno(err, -errno, "cannot read '%s'",
					    src);
			goto out;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > max) {
			/* it grew past the limit while we read */
			rc = -EAGAIN;
			goto out;
		}
		rc = write_all(out, buf, (size_t)n);
		if (rc < 0) {
			rf_error_errno(err, rc, "cannot write '%s/%s'", s->path,
				       dst);
			goto out;
		}
	}
	if (fstat(in, &after) < 0) {
		rc = rf_error_errno(err, -errno, "cannot stat '%s'", src);
		goto out;
	}
	rc = same_file_state(&before, &after) &&
			     total == (uint64_t)before.st_size
		     ? 0
		     : -EAGAIN;
out:
	if (out >= 0 && close(out) < 0 && rc == 0)
		rc = rf_error_errno(err, -errno, "cannot write '%s/%s'",
				    s->path, dst);
	close(in);
	return rc;
}

int scan_scratch_copy(struct scan_scratch *s, int rootfd, const char *src,
		      const char *dst, uint64_t max, struct rf_error *err)
{
	char *buf = rf_xmalloc(COPY_CHUNK);
	int rc = -EAGAIN;

	for (int i = 0; i < COPY_ATTEMPTS && rc == -EAGAIN; i++)
		rc = copy_once(s, rootfd, src, dst, max, buf, err);
	if (rc == -EAGAIN)
		rf_error_set(err, -EAGAIN,
			     "'%s' kept changing while it was read", src);
	if (rc < 0 && rc != -ENOENT)
		unlinkat(s->fd, dst, 0);
	free(buf);
	return rc;
}

int scan_scratch_write(struct scan_scratch *s, const char *dst,
		       const void *data, size_t len, struct rf_error *err)
{
	int fd, rc;

	fd = openat(s->fd, dst,
		    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return rf_error_errno(err, -errno, "cannot create '%s/%s'",
				      s->path, dst);
	rc = write_all(fd, data, len);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		rf_error_errno(err, rc, "cannot write '%s/%s'", s->path, dst);
	return rc;
}

/* Remove everything inside the directory dfd; closes dfd. */
static void remove_contents(int dfd, int depth)
{
	DIR *dir = fdopendir(dfd);
	struct dirent *de;

	if (dir == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		int sub;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(dir), de->d_name, 0) == 0 || errno != EISDIR)
			continue;
		sub = openat(dirfd(dir), de->d_name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0 && depth < RMTREE_DEPTH)
			remove_contents(sub, depth + 1);
		else if (sub >= 0)
			close(sub);
		unlinkat(dirfd(dir), de->d_name, AT_REMOVEDIR);
	}
	closedir(dir);
}

void scan_scratch_free(struct scan_scratch *s)
{
	if (s == NULL)
		return;
	/* the tree is ours alone: created by mkdtemp(), mode 0700 */
	remove_contents(s->fd, 0);
	rmdir(s->path);
	free(s->path);
	free(s);
}
