/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "progress.h"

static int split_path(const char *path, char **dir, char **base,
		      struct rf_error *err)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL) {
		*dir = rf_xstrdup(".");
		*base = rf_xstrdup(path);
	} else {
		*dir = slash == path
			       ? rf_xstrdup("/")
			       : rf_xstrndup(path, (size_t)(slash - path));
		*base = rf_xstrdup(slash + 1);
	}
	if (**base == '\0' || !strcmp(*base, ".") || !strcmp(*base, "..")) {
		free(*dir);
		free(*base);
		*dir = *base = NULL;
		return rf_error_set(err, -EINVAL, "'%s' does not name a file",
				    path);
	}
	return 0;
}

/* A hidden name beside the destination, unlikely to exist already. */
static char *temp_name(const char *base)
{
	static unsigned counter;
	struct rf_buf b = RF_BUF_INIT;

	rf_buf_printf(&b, ".%s.tmp.%lx%04x", base,
		      (unsigned long)(rf_now_ns() ^ (uint64_t)getpid() << 32),
		      __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED) &
			      0xffffu);
	return rf_buf_detach(&b);
}

int rf_atomic_open(struct rf_atomic *a, const char *path, int flags,
		   mode_t mode, struct rf_error *err)
{
	char *dir = NULL;
	struct stat st;
	int rc;

	*a = (struct rf_atomic)RF_ATOMIC_INIT;
	a->path = rf_xstrdup(path);
	flags = (flags & O_ACCMODE) | O_CLOEXEC;
	rc = split_path(path, &dir, &a->base, err);
	if (rc < 0)
		goto out;
	a->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (a->dirfd < 0) {
		rc = rf_error_errno(err, -errno, "cannot create '%s'", path);
		goto out;
	}
	if (fstatat(a->dirfd, a->base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
		rc = rf_error_set(err, -EINVAL,
				  "'%s' exists and is not a regular file",
				  path);
		goto out;
	}
	a->fd = openat(a->dirfd, ".", O_TMPFILE | flags, mode);
	if (a->fd >= 0) {
		a->unnamed = true;
		rc = 0;
		goto out;
	}
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
		rc = rf_error_errno(err, -errno, "cannot create '%s'", path);
		goto out;
	}
	for (int tries = 0; tries < 100; tries++) {
		free(a->tmpname);
		a->tmpname = temp_name(a->base);
		a->fd = openat(a->dirfd, a->tmpname, O_CREAT | O_EXCL | flags,
			       mode);
		if (a->fd >= 0 || errno != EEXIST)
			break;
	}
	if (a->fd < 0) {
		rc = rf_error_errno(err, -errno, "cannot create '%s'", path);
		free(a->tmpname);
		a->tmpname = NULL;
		goto out;
	}
	rc = 0;
out:
	free(dir);
	if (rc < 0)
		rf_atomic_close(a);
	return rc;
}

/* Give an unnamed file a name: the final one if free, else a temporary. */
static int name_unnamed(struct rf_atomic *a, bool *final,
			struct rf_error *err)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", a->fd);
	*final = false;
	if (linkat(AT_FDCWD, proc, a->dirfd, a->base, AT_SYMLINK_FOLLOW) ==
	    0) {
		*final = true;
		return 0;
	}
	if (errno != EEXIST)
		return rf_error_errno(err, -errno, "cannot create '%s'",
				      a->path);
	for (int tries = 0; tries < 100; tries++) {
		free(a->tmpname);
		a->tmpname = temp_name(a->base);
		if (linkat(AT_FDCWD, proc, a->dirfd, a->tmpname,
			   AT_SYMLINK_FOLLOW) == 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	free(a->tmpname);
	a->tmpname = NULL;
	return rf_error_errno(err, -errno, "cannot create '%s'", a->path);
}

int rf_atomic_commit(struct rf_atomic *a, bool sync, struct rf_error *err)
{
	bool final = false;
	int rc;

	if (a->fd < 0 || a->dirfd < 0 || a->done)
		return rf_error_set(err, -EINVAL, "'%s' is not open",
				    a->path ? a->path : "");
	if (sync && fsync(a->fd) < 0) {
		rc = rf_error_errno(err, -errno, "cannot write '%s'",
				    a->path);
		goto out;
	}
	if (a->unnamed) {
		rc = name_unnamed(a, &final, err);
		if (rc < 0)
			goto out;
		a->unnamed = false;
	}
	if (!final) {
		if (renameat(a->dirfd, a->tmpname, a->dirfd, a->base) < 0) {
			rc = rf_error_errno(err, -errno,
					    "cannot rename to '%s'", a->path);
			goto out;
		}
		free(a->tmpname);
		a->tmpname = NULL;
	}
	a->done = true;
	if (sync && fsync(a->dirfd) < 0) {
		rc = rf_error_errno(err, -errno,
				    "cannot write the directory of '%s'",
				    a->path);
		goto out;
	}
	rc = 0;
out:
	return rc;
}

void rf_atomic_close(struct rf_atomic *a)
{
	if (a->tmpname != NULL && a->dirfd >= 0)
		(void)unlinkat(a->dirfd, a->tmpname, 0);
	if (a->fd >= 0)
		close(a->fd);
	if (a->dirfd >= 0)
		close(a->dirfd);
	free(a->path);
	free(a->base);
	free(a->tmpname);
	*a = (struct rf_atomic)RF_ATOMIC_INIT;
}
