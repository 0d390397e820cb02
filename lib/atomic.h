/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef RF_ATOMIC_H
#define RF_ATOMIC_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

/*
 * An output file that appears under its final name only when it is
 * complete, and durable when asked: the scanner's report, an image, a
 * filesystem made by the generator.
 *
 * The data goes to an unnamed file (O_TMPFILE) in the destination's
 * directory, so that a process killed midway leaves nothing behind; where
 * the filesystem cannot make one, to a hidden temporary name beside the
 * destination. rf_atomic_commit() then syncs the data, gives the file its
 * name (linkat straight to the final name when nothing is there yet, else
 * a temporary name renamed over the old file) and syncs the directory so
 * that the name itself survives a crash.
 *
 * The destination must be a regular file or absent: a rename would
 * silently replace a device node, a fifo or a directory with a regular
 * file, so rf_atomic_open() refuses those; callers that want to write into
 * such a node open it themselves.
 */
struct rf_atomic {
	int fd;        /* write the data here */
	int dirfd;     /* the destination's directory */
	char *path;    /* as given, for messages */
	char *base;    /* the final name inside dirfd */
	char *tmpname; /* a named temporary file, or NULL */
	bool unnamed;  /* fd is an O_TMPFILE file */
	bool done;     /* committed: rf_atomic_close() keeps the file */
};

#define RF_ATOMIC_INIT {.fd = -1, .dirfd = -1}

/*
 * Start writing the file path (mode before umask, e.g. 0666). flags is
 * O_WRONLY or O_RDWR. On failure *a is left closed (rf_atomic_close() is
 * still allowed).
 */
int rf_atomic_open(struct rf_atomic *a, const char *path, int flags,
		   mode_t mode, struct rf_error *err);

/*
 * Name the finished file. With sync, fsync the data first and the
 * directory after; a failed fsync fails the commit (it is not retried:
 * the kernel may have dropped the pages it could not write). The
 * descriptor stays open until rf_atomic_close().
 */
int rf_atomic_commit(struct rf_atomic *a, bool sync, struct rf_error *err);

/* Close and free; a file never committed vanishes. */
void rf_atomic_close(struct rf_atomic *a);

#endif
