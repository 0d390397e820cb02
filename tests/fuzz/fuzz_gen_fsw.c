/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ext4 writer (generator/fsw.c) on arbitrary bytes read as an archive
 * (tar or cpio, any compression), through
 * gen_extract() as the generator calls it: the first byte chooses whether
 * the records are applied as read (the overlay's way) or at the end (a
 * package read on a worker thread). Each input fills a fresh copy of a
 * small empty filesystem made once by mke2fs, which is then written
 * (gen_fsw_close()) whatever the archive held. Nothing may crash, leak or
 * touch a byte outside that copy.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>

#include "generator/fsw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], empty[128], img[128];

static void cleanup(void)
{
	unlink(empty);
	unlink(img);
	rmdir(dir);
}

/* The empty filesystem, made once. */
static void setup(void)
{
	char cmd[512];

	if (dir[0] != '\0')
		return;
	strcpy(dir, "/tmp/rf-fuzz-fsw-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(empty, sizeof(empty), "%s/empty.img", dir);
	snprintf(img, sizeof(img), "%s/fs.img", dir);
	snprintf(cmd, sizeof(cmd),
		 "mke2fs -q -F -t ext4 -b 4096 -N 1024 %s 8M >/dev/null 2>&1",
		 empty);
	if (system(cmd) != 0)
		abort();
	atexit(cleanup);
}

/* img: a copy of the empty filesystem. */
static void fresh(void)
{
	int in = open(empty, O_RDONLY), out;
	char buf[65536];
	ssize_t n;

	out = open(img, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (in < 0 || out < 0)
		abort();
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			abort();
	close(in);
	close(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gen_fsw *w = NULL;
	struct rf_error err = {0};
	struct gen_limits lim;
	struct archive *a;
	struct gen_dest d = {-1, NULL};
	bool live;
	int rc;

	if (size < 1)
		return 0;
	setup();
	fresh();
	live = data[0] & 1;
	gen_limits_default(&lim);
	lim.max_entries = 10000;
	lim.max_bytes = 16 << 20;
	lim.max_file_size = 1ULL << 30;
	if (gen_fsw_open(img, &w, &err) < 0)
		abort();
	d.batch = gen_fsw_batch_new(w, live);
	a = archive_read_new();
	/* what the generator reads: tar (the overlay, .deb and pacman
	 * payloads) and cpio (rpm payloads), compressed or not */
	archive_read_support_format_tar(a);
	archive_read_support_format_cpio(a);
	archive_read_support_filter_all(a);
	rc = archive_read_open_memory(a, data + 1, size - 1) == ARCHIVE_OK
		     ? gen_extract(a, &d, &lim, NULL, NULL, NULL, &err)
		     : -EINVAL;
	if (rc == 0)
		rc = gen_fsw_apply(w, d.batch, &err);
	gen_fsw_batch_free(d.batch);
	archive_read_free(a);
	/* what was applied is written, whatever came after it */
	memset(&err, 0, sizeof(err));
	gen_fsw_close(w, &err);
	return 0;
}
