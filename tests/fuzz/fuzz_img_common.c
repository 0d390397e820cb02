/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared body of the image-reader fuzz targets: the input becomes a file
 * (a memfd), the reader of one format opens it, and every header value it
 * trusts is then exercised by mapping and reading the disk. The walk is
 * bounded, since a header may claim any virtual size.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "formats/image.h"

int fuzz_img(const char *format, const uint8_t *data, size_t size);

int fuzz_img(const char *format, const uint8_t *data, size_t size)
{
	struct rf_error err = {0, ""};
	struct fmt_reader *r = NULL;
	uint8_t *buf;
	uint64_t off = 0;
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	buf = malloc(256 * 1024);
	if (buf != NULL &&
	    fmt_reader_open_fd(fd, "fuzz", format, &r, &err) == 0) {
		uint64_t vsize = fmt_reader_virtual_size(r);

		for (int steps = 0; steps < 256 && off < vsize; steps++) {
			uint64_t len;
			bool mapped;

			if (fmt_reader_map(r, off, vsize - off, &len, &mapped,
					   &err) < 0)
				break;
			if (mapped &&
			    fmt_reader_read(r, off, buf,
					    len < 256 * 1024 ? (size_t)len
							     : 256 * 1024,
					    &err) < 0)
				break;
			off += len;
		}
		/* And once at the very end of the disk. */
		if (vsize > 0)
			(void)fmt_reader_read(r, vsize - 1, buf, 1, &err);
	}
	fmt_reader_free(r);
	free(buf);
	close(fd);
	return 0;
}
