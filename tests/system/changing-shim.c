/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * LD_PRELOAD shim for scan-changing.sh: right after reforge-scan's lstat of
 * a file with one of these names, change the file, once, deterministically:
 *   grow-me     append 4 KiB          shrink-me   truncate to 1 byte
 *   replace-me  rename replace-me.new over it
 *   vanish-me   unlink it             link-me     make it a symlink
 *   fifo-me     make it a fifo (with no writer: reading it must not hang)
 * and right after reforge-scan maps a file named truncate-me or
 * truncate-pkg-me, or reads its first chunk, another process truncates it
 * to 4 KiB: reading the mapping then faults (SIGBUS), the next read comes
 * short.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int (*real_fstatat)(int, const char *, struct stat *, int);

/*
 * The scanner reads through a read-only view of the tree, so the changes
 * are made through the real one: REFORGE_SHIM_ROOT names it, and the view's
 * directory descriptor tells the directory inside it.
 */
static int real_dir(int viewfd)
{
	char link[64], inside[4096], path[8192];
	const char *root = getenv("REFORGE_SHIM_ROOT");
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", viewfd);
	n = readlink(link, inside, sizeof(inside) - 1);
	if (root == NULL || n < 0)
		return -1;
	inside[n] = '\0';
	snprintf(path, sizeof(path), "%s%s", root, inside);
	return open(path, O_RDONLY | O_DIRECTORY);
}

static void act(int viewfd, const char *name)
{
	static int done[6];
	char buf[4096];
	int fd, dirfd;

	if (strstr(name, "-me") == NULL)
		return;
	dirfd = real_dir(viewfd);
	if (dirfd < 0)
		return;

	if (strcmp(name, "grow-me") == 0 && !done[0]++) {
		fd = openat(dirfd, name, O_WRONLY | O_APPEND);
		memset(buf, 'g', sizeof(buf));
		if (fd >= 0) {
			if (write(fd, buf, sizeof(buf)) < 0)
				_exit(99);
			close(fd);
		}
	} else if (strcmp(name, "shrink-me") == 0 && !done[1]++) {
		fd = openat(dirfd, name, O_WRONLY);
		if (fd >= 0) {
			if (ftruncate(fd, 1) < 0)
				_exit(99);
			close(fd);
		}
	} else if (strcmp(name, "replace-me") == 0 && !done[2]++) {
		renameat(dirfd, "replace-me.new", dirfd, name);
	} else if (strcmp(name, "vanish-me") == 0 && !done[3]++) {
		unlinkat(dirfd, name, 0);
	} else if (strcmp(name, "link-me") == 0 && !done[4]++) {
		unlinkat(dirfd, name, 0);
		symlinkat("grow-me", dirfd, name);
	} else if (strcmp(name, "fifo-me") == 0 && !done[5]++) {
		unlinkat(dirfd, name, 0);
		mkfifoat(dirfd, name, 0644);
	}
	close(dirfd);
}

static int hook(int dirfd, const char *name, struct stat *st, int flags)
{
	int rc;

	if (real_fstatat == NULL)
		real_fstatat = (int (*)(int, const char *, struct stat *, int))
			dlsym(RTLD_NEXT, "fstatat");
	rc = real_fstatat(dirfd, name, st, flags);
	if (rc == 0 && (flags & AT_SYMLINK_NOFOLLOW) && S_ISREG(st->st_mode))
		act(dirfd, name);
	return rc;
}

int fstatat(int dirfd, const char *name, struct stat *st, int flags)
{
	return hook(dirfd, name, st, flags);
}

int fstatat64(int dirfd, const char *name, struct stat64 *st, int flags)
{
	/* on 64-bit Linux struct stat64 and struct stat are one layout */
	return hook(dirfd, name, (struct stat *)st, flags);
}

static void *(*real_mmap)(void *, size_t, int, int, int, off_t);

static void truncate_once(int fd)
{
	static const char *const names[] = {"/truncate-me",
					    "/truncate-pkg-me"};
	static int done[2];
	char link[64], inside[4096], path[8192];
	const char *root = getenv("REFORGE_SHIM_ROOT");
	ssize_t n;
	pid_t pid;
	int which = -1;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, inside, sizeof(inside) - 1);
	if (root == NULL || n < 0)
		return;
	inside[n] = '\0';
	for (int i = 0; i < 2; i++) {
		size_t nl = strlen(names[i]);

		if ((size_t)n >= nl && strcmp(inside + n - nl, names[i]) == 0)
			which = i;
	}
	if (which < 0 || done[which]++)
		return;
	snprintf(path, sizeof(path), "%s%s", root, inside);
	pid = fork();
	if (pid == 0)
		_exit(truncate(path, 4096) == 0 ? 0 : 99);
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p;

	if (real_mmap == NULL)
		real_mmap = (void *(*)(void *, size_t, int, int, int, off_t))
			dlsym(RTLD_NEXT, "mmap");
	p = real_mmap(addr, len, prot, flags, fd, off);
	if (p != MAP_FAILED && fd >= 0)
		truncate_once(fd);
	return p;
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	/* on 64-bit Linux off_t is off64_t */
	return mmap(addr, len, prot, flags, fd, off);
}

static ssize_t (*real_pread)(int, void *, size_t, off_t);

ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n;

	if (real_pread == NULL)
		real_pread = (ssize_t(*)(int, void *, size_t, off_t))dlsym(
			RTLD_NEXT, "pread");
	n = real_pread(fd, buf, len, off);
	if (n > 0 && off == 0 && (size_t)n == len)
		truncate_once(fd);
	return n;
}

ssize_t pread64(int fd, void *buf, size_t len, off_t off)
{
	return pread(fd, buf, len, off);
}
