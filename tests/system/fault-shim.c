/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * LD_PRELOAD shim for server-faults.sh: counts the server's writes to
 * regular files (write, pwrite, pwrite64; not its stdout/stderr) and its
 * renames (rename, renameat, renameat2), and fails the Nth one of the kind
 * chosen with the errno chosen. It needs no runtime of its own (it may be
 * loaded before ASan's).
 *
 *   SHIM_OP=write|rename  SHIM_N=N (0: never)  SHIM_ERRNO=EIO|ENOSPC
 *   SHIM_COUNT=FILE       at exit, "WRITES RENAMES" counted
 *   SHIM_ARM=SUFFIX       count nothing until a rename to a path ending so
 *                         (the server's --port-file: it is up)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static int writes, renames, armed;

static int fail_now(const char *op, int *counter)
{
	const char *want = getenv("SHIM_OP"), *n = getenv("SHIM_N");
	const char *e = getenv("SHIM_ERRNO");
	int c;

	if (!__atomic_load_n(&armed, __ATOMIC_SEQ_CST))
		return 0;
	c = __atomic_add_fetch(counter, 1, __ATOMIC_SEQ_CST);

	if (want == NULL || n == NULL || strcmp(want, op) != 0 ||
	    atoi(n) != c)
		return 0;
	errno = e != NULL && strcmp(e, "ENOSPC") == 0 ? ENOSPC : EIO;
	return 1;
}

static int is_file(int fd)
{
	struct stat sb;

	return fd > 2 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
}

#define REAL(name)                                                            \
	static __typeof__(&name) real_##name;                                 \
	if (real_##name == NULL)                                              \
		real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *buf, size_t len)
{
	REAL(write);
	if (is_file(fd) && fail_now("write", &writes))
		return -1;
	return real_write(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	REAL(pwrite);
	if (is_file(fd) && fail_now("write", &writes))
		return -1;
	return real_pwrite(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	REAL(pwrite64);
	if (is_file(fd) && fail_now("write", &writes))
		return -1;
	return real_pwrite64(fd, buf, len, off);
}

/* The rename that says the server is up arms the shim. */
static int arming(const char *to)
{
	const char *suffix = getenv("SHIM_ARM");
	size_t n = suffix ? strlen(suffix) : 0, len = strlen(to);

	if (n == 0 || len < n || strcmp(to + len - n, suffix) != 0)
		return 0;
	__atomic_store_n(&armed, 1, __ATOMIC_SEQ_CST);
	return 1;
}

int rename(const char *from, const char *to)
{
	REAL(rename);
	if (!arming(to) && fail_now("rename", &renames))
		return -1;
	return real_rename(from, to);
}

int renameat(int fd1, const char *from, int fd2, const char *to)
{
	REAL(renameat);
	if (fail_now("rename", &renames))
		return -1;
	return real_renameat(fd1, from, fd2, to);
}

int renameat2(int fd1, const char *from, int fd2, const char *to,
	      unsigned flags)
{
	REAL(renameat2);
	if (fail_now("rename", &renames))
		return -1;
	return real_renameat2(fd1, from, fd2, to, flags);
}

__attribute__((destructor)) static void report(void)
{
	const char *path = getenv("SHIM_COUNT");
	FILE *f;

	if (path == NULL || (f = fopen(path, "w")) == NULL)
		return;
	/* fopen's own writes go through write(): count before them */
	fprintf(f, "%d %d\n", writes, renames);
	fclose(f);
}
