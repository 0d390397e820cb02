/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef HAVE_LINUX_OPENAT2_H
#include <linux/openat2.h>
#endif

#include "rootfs.h"

/* Symlinks followed in one resolution before giving up, as the kernel does. */
#define RF_ROOT_MAX_LINKS 40

#if defined(HAVE_LINUX_OPENAT2_H) && defined(SYS_openat2)
static int open_kernel(int rootfd, const char *path, int flags)
{
	struct open_how how;
	long fd;

	memset(&how, 0, sizeof(how));
	how.flags = (unsigned long long)(flags | O_CLOEXEC);
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	do
		fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	return fd < 0 ? -errno : (int)fd;
}
#else
static int open_kernel(int rootfd, const char *path, int flags)
{
	return -ENOSYS;
}
#endif

/*
 * The portable walk. The remaining path is kept in a buffer; each step takes
 * one component and opens it with O_PATH | O_NOFOLLOW relative to the
 * current directory. A symlink has its target spliced in front of the rest
 * (an absolute one restarts at the root); a directory is pushed on a stack
 * of descriptors, so ".." goes up one level and never above the root.
 */
int rf_root_open_walk(int rootfd, const char *path, int flags)
{
	int stack[256];
	int depth = 0, links = 0, rc, fd = -1;
	struct rf_buf rest = RF_BUF_INIT, tmp = RF_BUF_INIT;
	size_t pos = 0;

	stack[0] = rootfd;
	rf_buf_addstr(&rest, path);
	for (;;) {
		char name[NAME_MAX + 1], target[PATH_MAX];
		struct stat st;
		size_t n;
		ssize_t tl;
		int last;

		while (pos < rest.len && rest.data[pos] == '/')
			pos++;
		if (pos >= rest.len) {
			/* the path names a directory already on the stack */
			fd = openat(stack[depth], ".", flags | O_CLOEXEC);
			rc = fd < 0 ? -errno : fd;
			goto out;
		}
		n = strcspn(rest.data + pos, "/");
		if (n > NAME_MAX) {
			rc = -ENAMETOOLONG;
			goto out;
		}
		memcpy(name, rest.data + pos, n);
		name[n] = '\0';
		pos += n;
		while (pos < rest.len && rest.data[pos] == '/')
			pos++;
		last = pos >= rest.len;
		if (strcmp(name, ".") == 0)
			continue;
		if (strcmp(name, "..") == 0) {
			if (depth > 0)
				close(stack[depth--]);
			continue;
		}
		fd = openat(stack[depth], name,
			    O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0) {
			rc = -errno;
			goto out;
		}
		if (S_ISLNK(st.st_mode) && !(last && (flags & O_NOFOLLOW))) {
			tl = readlinkat(fd, "", target, sizeof(target));
			close(fd);
			fd = -1;
			if (tl < 0 || tl >= (ssize_t)sizeof(target) ||
			    ++links > RF_ROOT_MAX_LINKS) {
				rc = -ELOOP;
				goto out;
			}
			rf_buf_reset(&tmp);
			rf_buf_add(&tmp, target, (size_t)tl);
			rf_buf_addch(&tmp, '/');
			rf_buf_add(&tmp, rest.data + pos, rest.len - pos);
			if (target[0] == '/')
				while (depth > 0)
					close(stack[depth--]);
			rf_buf_reset(&rest);
			rf_buf_add(&rest, tmp.data, tmp.len);
			pos = 0;
			continue;
		}
		if (last) {
			close(fd);
			fd = openat(stack[depth], name,
				    flags | O_NOFOLLOW | O_CLOEXEC);
			rc = fd < 0 ? -errno : fd;
			goto out;
		}
		if (!S_ISDIR(st.st_mode)) {
			close(fd);
			rc = -ENOTDIR;
			goto out;
		}
		if (depth + 1 >= (int)(sizeof(stack) / sizeof(stack[0]))) {
			close(fd);
			rc = -ENAMETOOLONG;
			goto out;
		}
		stack[++depth] = fd;
	}
out:
	while (depth > 0)
		close(stack[depth--]);
	rf_buf_free(&rest);
	rf_buf_free(&tmp);
	return rc;
}

int rf_root_open(int rootfd, const char *path, int flags)
{
	/* shared by every thread: read and written atomically (each writes
	 * the same answer) */
	static int have_openat2 = -1;
	int fd;

	if (__atomic_load_n(&have_openat2, __ATOMIC_RELAXED) != 0) {
		fd = open_kernel(rootfd, path, flags);
		if (fd != -ENOSYS) {
			__atomic_store_n(&have_openat2, 1, __ATOMIC_RELAXED);
			return fd;
		}
		__atomic_store_n(&have_openat2, 0, __ATOMIC_RELAXED);
	}
	return rf_root_open_walk(rootfd, path, flags);
}

int rf_root_open_readonly(const char *path, bool *isolated)
{
	int fd = -1;

	*isolated = false;
#if defined(SYS_open_tree) && defined(SYS_mount_setattr)
	fd = (int)syscall(SYS_open_tree, AT_FDCWD, path,
			  OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (fd >= 0) {
		struct mount_attr attr;

		memset(&attr, 0, sizeof(attr));
		attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOATIME;
		attr.attr_clr = MOUNT_ATTR__ATIME; /* replaces relatime etc. */
		if (syscall(SYS_mount_setattr, fd, "",
			    AT_EMPTY_PATH | AT_RECURSIVE, &attr,
			    sizeof(attr)) == 0) {
			*isolated = true;
			return fd;
		}
		close(fd);
	}
#endif
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int rf_root_read_file(int rootfd, const char *path, size_t max,
		      struct rf_buf *out, struct rf_error *err)
{
	struct stat st;
	int fd, rc;

	/* O_NOATIME: reading a scanned root must not change its atimes */
	fd = rf_root_open(rootfd, path,
			  O_RDONLY | O_NOCTTY | O_NONBLOCK | O_NOATIME);
	if (fd == -EPERM) /* allowed to the owner and root only */
		fd = rf_root_open(rootfd, path,
				  O_RDONLY | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (fd == -ENOENT || fd == -ENOTDIR)
			return -ENOENT;
		return rf_error_errno(err, fd, "cannot open '%s'", path);
	}
	rc = -EIO; /* assume failure */
	if (fstat(fd, &st) < 0) {
		rc = rf_error_errno(err, -errno, "cannot stat '%s'", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = rf_error_set(err, -EINVAL, "'%s' is not a regular file",
				  path);
		goto out;
	}
	if ((size_t)st.st_size > max) {
		rc = rf_error_set(err, -EFBIG, "'%s' is larger than %zu bytes",
				  path, max);
		goto out;
	}
	for (;;) {
		ssize_t n;

		rf_buf_grow(out, 65536);
		n = read(fd, out->data + out->len, 65536);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = rf_error_errno(err, -errno, "cannot read '%s'",
					    path);
			goto out;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		out->data[out->len] = '\0';
		if (out->len > max) {
			rc = rf_error_set(err, -EFBIG,
					  "'%s' grew past %zu bytes", path,
					  max);
			goto out;
		}
	}
	rf_buf_grow(out, 0);
	out->data[out->len] = '\0';
	rc = 0;
out:
	close(fd);
	return rc;
}

int rf_root_readlink(int rootfd, const char *path, struct rf_buf *out)
{
	char target[4096];
	const char *slash = strrchr(path, '/');
	int dirfd = rootfd, rc;
	ssize_t n;

	if (slash != NULL && slash != path) {
		char *dir = strndup(path, (size_t)(slash - path));

		if (dir == NULL)
			return -ENOMEM;
		dirfd = rf_root_open(rootfd, dir, O_PATH | O_DIRECTORY);
		free(dir);
		if (dirfd < 0)
			return dirfd;
	}
	n = readlinkat(dirfd, slash ? slash + 1 : path, target, sizeof(target));
	rc = n < 0 ? -errno : 0;
	if (n >= (ssize_t)sizeof(target))
		rc = -ENAMETOOLONG;
	if (rc == 0)
		rf_buf_add(out, target, (size_t)n);
	if (dirfd != rootfd)
		close(dirfd);
	return rc;
}
