/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * formats/: every writer is checked write-then-verify, against our own
 * readers and against qemu-img (check: exit 0; compare with the same
 * extents written as raw: identical), with extents placed at L2-table and
 * grain-table boundaries, unaligned, and at the last byte of odd sizes.
 * The readers are fed truncated and corrupted images and must fail
 * cleanly.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cunit_main.h"
#include "formats/image.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define TiB (1024ull * 1024 * MiB)

static char tmpdir[] = "/tmp/test_formats.XXXXXX";
static bool have_tmpdir;

static const char *tmp_path(const char *name)
{
	static char paths[8][512];
	static unsigned next;
	char *p = paths[next++ % 8];

	if (!have_tmpdir) {
		CU_ASSERT_FATAL(mkdtemp(tmpdir) != NULL);
		have_tmpdir = true;
	}
	snprintf(p, 512, "%s/%s", tmpdir, name);
	return p;
}

/* Run a shell command; its exit status (or -1). */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

struct extent {
	uint64_t off;
	uint64_t len;
};

static int cmp_extent(const void *a, const void *b)
{
	const struct extent *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/*
 * Extents for a disk of size bytes: a few around each multiple of every
 * boundary (in bytes), random ones, and the last byte. Sorted and merged,
 * so they are ascending and disjoint. Returns the count.
 */
static size_t make_extents(uint64_t size, const uint64_t *bounds,
			   size_t nbounds, struct extent *ex, size_t max)
{
	size_t n = 0, m = 0;

	if (size == 0)
		return 0;
	for (size_t b = 0; b < nbounds; b++)
		for (uint64_t at = bounds[b]; at < size && n + 3 < max / 2;
		     at += bounds[b]) {
			/* Ending just before, starting at, and straddling. */
			ex[n++] = (struct extent){at - 1 - rnd() % 700,
						  1 + rnd() % 300};
			ex[n++] = (struct extent){at, 1 + rnd() % 5000};
			ex[n++] = (struct extent){at - rnd() % 100,
						  200 + rnd() % 3000};
			at += bounds[b] * (rnd() % 3);
		}
	while (n < max - 1 && n < 40 + max / 4) {
		uint64_t off = rnd() % size;

		ex[n++] = (struct extent){off, 1 + rnd() % (200 * KiB)};
	}
	ex[n++] = (struct extent){size - 1, 1};
	for (size_t i = 0; i < n; i++)
		if (ex[i].off >= size || ex[i].len > size - ex[i].off)
			ex[i].len = ex[i].off < size ? size - ex[i].off : 0;
	qsort(ex, n, sizeof(*ex), cmp_extent);
	for (size_t i = 0; i < n; i++) {
		if (ex[i].len == 0)
			continue;
		if (m > 0 && ex[i].off <= ex[m - 1].off + ex[m - 1].len) {
			uint64_t end = ex[i].off + ex[i].len;

			if (end > ex[m - 1].off + ex[m - 1].len)
				ex[m - 1].len = end - ex[m - 1].off;
			continue;
		}
		ex[m++] = ex[i];
	}
	return m;
}

/* The disk's content: random bytes in the extents, with zero runs. */
static uint8_t *make_model(uint64_t size, const struct extent *ex, size_t n)
{
	uint8_t *m = calloc(1, size ? size : 1);

	CU_ASSERT_FATAL(m != NULL);
	for (size_t i = 0; i < n; i++) {
		for (uint64_t j = 0; j < ex[i].len; j++)
			m[ex[i].off + j] = (uint8_t)(rnd() >> 24);
		/* Some written data is compressible, some is all zeros. */
		if (ex[i].len > 4096 && rnd() % 3 == 0)
			memset(m + ex[i].off + 1000, 'a', 2000);
		if (ex[i].len > 70000 && rnd() % 2 == 0)
			memset(m + ex[i].off + 1, 0, 66000);
	}
	return m;
}

static int write_image(const char *format, const char *opts, const char *path,
		       uint64_t size, const uint8_t *model,
		       const struct extent *ex, size_t n)
{
	struct rf_error err = {0, ""};
	struct fmt_writer *w = NULL;
	int rc;

	rc = fmt_writer_new(format, path, size, opts, &w, &err);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = fmt_writer_write(w, ex[i].off, model + ex[i].off,
				      (size_t)ex[i].len, &err);
	if (rc == 0)
		rc = fmt_writer_finish(w, &err);
	if (rc < 0)
		fprintf(stderr, "write %s (%s): %s\n", format, opts ? opts : "",
			err.msg);
	fmt_writer_free(w);
	return rc;
}

/* Read the whole image back with our reader and compare with model. */
static void verify_read(const char *path, const char *format, uint64_t size,
			const uint8_t *model)
{
	struct rf_error err = {0, ""};
	struct fmt_reader *r = NULL;
	uint8_t *buf = NULL;
	uint64_t off = 0;
	int rc;

	rc = fmt_reader_open(path, NULL, &r, &err);
	if (rc < 0)
		fprintf(stderr, "open %s: %s\n", path, err.msg);
	CU_ASSERT_FATAL(rc == 0);
	CU_ASSERT_STRING_EQUAL(fmt_reader_format(r), format);
	CU_ASSERT(fmt_reader_virtual_size(r) >= size);
	CU_ASSERT(fmt_reader_virtual_size(r) < size + 512 ||
		  !strcmp(format, "raw"));
	buf = malloc(4 * MiB);
	while (off < fmt_reader_virtual_size(r)) {
		uint64_t len;
		bool data;

		rc = fmt_reader_map(r, off, 4 * MiB, &len, &data, &err);
		CU_ASSERT_FATAL(rc == 0);
		rc = fmt_reader_read(r, off, buf, (size_t)len, &err);
		CU_ASSERT_FATAL(rc == 0);
		for (uint64_t i = 0; i < len; i++) {
			uint8_t want = off + i < size ? model[off + i] : 0;

			if (buf[i] != want) {
				fprintf(stderr, "%s: byte %llu is %u, not %u\n",
					path, (unsigned long long)(off + i),
					buf[i], want);
				CU_FAIL("content differs");
				goto out;
			}
			/* A run mapped as zeros must read as zeros. */
			if (!data && want != 0) {
				CU_FAIL("data mapped as a hole");
				goto out;
			}
		}
		off += len;
	}
out:
	free(buf);
	fmt_reader_free(r);
}

struct config {
	const char *format;
	const char *opts;
};

static const struct config configs[] = {
	{"qcow2", NULL},
	{"qcow2", "cluster_size=512"},
	{"qcow2", "cluster_size=4k,compress=on,threads=2"},
	{"qcow2", "cluster_size=2M,compress=on,compression_type=zstd"},
	{"qcow2", "compress=on,compression_type=zlib,threads=1"},
	{"vmdk", NULL},
	{"vmdk", "subformat=streamOptimized,adapter_type=lsilogic"},
	{"vmdk", "subformat=streamOptimized,threads=1"},
};

/* Write size bytes of extents in every format; check all three ways. */
static void roundtrip(uint64_t size, const uint64_t *bounds, size_t nbounds,
		      bool empty)
{
	struct extent ex[400];
	size_t n = empty ? 0 : make_extents(size, bounds, nbounds, ex, 400);
	uint8_t *model = make_model(size, ex, n);
	const char *raw = tmp_path("ref.raw");
	char out[512];

	CU_ASSERT_FATAL(write_image("raw", NULL, raw, size, model, ex, n) == 0);
	verify_read(raw, "raw", size, model);
	for (size_t c = 0; c < sizeof(configs) / sizeof(configs[0]); c++) {
		snprintf(out, sizeof(out), "%s/out.%zu.%s", tmpdir, c,
			 configs[c].format);
		/* A VMDK has at least one sector (qemu opens no less). */
		if (size == 0 && !strcmp(configs[c].format, "vmdk")) {
			CU_ASSERT(write_image("vmdk", configs[c].opts, out, 0,
					      model, ex, 0) == -EINVAL);
			CU_ASSERT(access(out, F_OK) != 0);
			continue;
		}
		CU_ASSERT_FATAL(write_image(configs[c].format, configs[c].opts,
					    out, size, model, ex, n) == 0);
		verify_read(out, configs[c].format, size, model);
		CU_ASSERT_EQUAL(run("qemu-img check -q '%s'", out), 0);
		if (run("qemu-img compare -q -f raw '%s' '%s'", raw, out) !=
		    0) {
			fprintf(stderr,
				"qemu-img compare: %s (%s) differs, "
				"size %llu\n",
				configs[c].format,
				configs[c].opts ? configs[c].opts : "",
				(unsigned long long)size);
			CU_FAIL("qemu-img compare");
		}
		unlink(out);
	}
	unlink(raw);
	free(model);
}

static void test_roundtrip_small(void)
{
	/* qcow2 L2 ranges at 512-byte clusters: 32 KiB; at 4k: 2 MiB. */
	const uint64_t bounds[] = {32 * KiB, 2 * MiB, 64 * KiB};

	roundtrip(0, bounds, 0, false);
	roundtrip(512, bounds, 0, false);
	roundtrip(1, bounds, 0, false);
	roundtrip(1000003, bounds, 3, false);
	roundtrip(3 * MiB + 7, bounds, 3, false);
	/* Empty disks: a size, nothing written. */
	roundtrip(1 * MiB, bounds, 0, true);
	roundtrip(1000 * MiB + 5, bounds, 0, true);
}

static void test_roundtrip_boundaries(void)
{
	/* VMDK grain tables: 32 MiB; qcow2 L2 at 64 KiB clusters: 512 MiB. */
	const uint64_t bounds[] = {32 * MiB, 64 * KiB, 2 * MiB};

	roundtrip(70 * MiB + 3, bounds, 3, false);
}

/* 2 TiB of virtual disk with a byte at each end of an L2 range and at the
 * last sector: the sizes the big-disk arithmetic must get right. */
static void test_big_virtual(void)
{
	const uint64_t size = 2 * TiB;
	static const char *const formats[][2] = {
		{"qcow2", NULL},
		{"vmdk", "subformat=streamOptimized"},
		{"vmdk", NULL},
	};
	struct extent ex[] = {
		{0, 1},
		{512 * MiB - 1, 2},
		{TiB, 4096},
		{size - 512, 512},
	};
	const char *path = tmp_path("big.img");
	uint8_t data[4096];

	memset(data, 0x5a, sizeof(data));
	for (size_t f = 0; f < 3; f++) {
		struct rf_error err = {0, ""};
		struct fmt_writer *w = NULL;
		struct fmt_reader *r = NULL;
		uint8_t back[512];
		int rc;

		rc = fmt_writer_new(formats[f][0], path, size, formats[f][1],
				    &w, &err);
		for (size_t i = 0; i < 4 && rc == 0; i++)
			rc = fmt_writer_write(w, ex[i].off, data,
					      (size_t)ex[i].len, &err);
		if (rc == 0)
			rc = fmt_writer_finish(w, &err);
		if (rc < 0)
			fprintf(stderr, "%s\n", err.msg);
		CU_ASSERT_FATAL(rc == 0);
		fmt_writer_free(w);
		CU_ASSERT_EQUAL(run("qemu-img check -q '%s'", path), 0);
		CU_ASSERT_FATAL(fmt_reader_open(path, NULL, &r, &err) == 0);
		CU_ASSERT_EQUAL(fmt_reader_virtual_size(r), size);
		CU_ASSERT(fmt_reader_read(r, size - 512, back, 512, &err) == 0);
		CU_ASSERT(memcmp(back, data, 512) == 0);
		CU_ASSERT(fmt_reader_read(r, 512 * MiB - 2, back, 4, &err) ==
			  0);
		CU_ASSERT(back[0] == 0 && back[1] == 0x5a && back[2] == 0x5a &&
			  back[3] == 0);
		fmt_reader_free(r);
		unlink(path);
	}
}

static void test_options(void)
{
	static const char *const bad[][2] = {
		{"qcow2", "cluster_size=1000"},
		{"qcow2", "cluster_size=4M"},
		{"qcow2", "compression_type=lz4"},
		{"qcow2", "nonsense=1"},
		{"qcow2", "compress=maybe"},
		{"qcow2", "novalue"},
		{"vmdk", "subformat=twoGbMaxExtentFlat"},
		{"vmdk", "adapter_type=floppy"},
		{"raw", "cluster_size=64k"},
		{"ova", "nic=token-ring"},
		{"ova", "cpus=0"},
		{"nosuchformat", NULL},
	};
	const char *path = tmp_path("opt.img");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rf_error err = {0, ""};
		struct fmt_writer *w = NULL;
		int rc = fmt_writer_new(bad[i][0], path, MiB, bad[i][1], &w,
					&err);

		CU_ASSERT(rc == -EINVAL);
		CU_ASSERT(w == NULL);
		CU_ASSERT(err.msg[0] != '\0');
		CU_ASSERT(access(path, F_OK) != 0);
	}
	/* qcow2 at 512-byte clusters cannot address 2 TiB: a clear error. */
	{
		struct rf_error err = {0, ""};
		struct fmt_writer *w = NULL;

		CU_ASSERT(fmt_writer_new("qcow2", path, 2 * TiB,
					 "cluster_size=512", &w,
					 &err) == -EFBIG);
		fmt_writer_free(w);
	}
	CU_ASSERT(fmt_writer_by_name("qcow2") != NULL);
	CU_ASSERT(fmt_reader_by_name("vmdk") != NULL);
	CU_ASSERT(fmt_reader_by_name("ova") == NULL);
}

/* Count directory entries other than . and .. */
static int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_order_and_abort(void)
{
	static const char *const formats[] = {"raw", "qcow2", "vmdk", "ova"};
	uint8_t data[8192];

	memset(data, 7, sizeof(data));
	tmp_path("x");
	for (size_t f = 0; f < 4; f++) {
		struct rf_error err = {0, ""};
		struct fmt_writer *w = NULL;
		const char *path = tmp_path("order.img");
		int before = dir_entries(tmpdir);

		CU_ASSERT_FATAL(fmt_writer_new(formats[f], path, MiB, NULL, &w,
					       &err) == 0);
		CU_ASSERT(fmt_writer_write(w, 1000, data, 100, &err) == 0);
		CU_ASSERT(fmt_writer_write(w, 1100, data, 100, &err) == 0);
		/* Behind the previous extent. */
		CU_ASSERT(fmt_writer_write(w, 1150, data, 10, &err) == -EINVAL);
		/* The writer is now unusable. */
		CU_ASSERT(fmt_writer_write(w, 5000, data, 10, &err) == -EINVAL);
		CU_ASSERT(fmt_writer_finish(w, &err) == -EINVAL);
		fmt_writer_free(w);
		CU_ASSERT(access(path, F_OK) != 0);
		CU_ASSERT_EQUAL(dir_entries(tmpdir), before);

		/* Past the end; then an abandoned writer leaves nothing. */
		w = NULL;
		CU_ASSERT_FATAL(fmt_writer_new(formats[f], path, MiB, NULL, &w,
					       &err) == 0);
		CU_ASSERT(fmt_writer_write(w, MiB - 10, data, 11, &err) ==
			  -EINVAL);
		fmt_writer_free(w);
		w = NULL;
		CU_ASSERT_FATAL(fmt_writer_new(formats[f], path, MiB, NULL, &w,
					       &err) == 0);
		CU_ASSERT(fmt_writer_write(w, 0, data, sizeof(data), &err) ==
			  0);
		fmt_writer_free(w);
		CU_ASSERT(access(path, F_OK) != 0);
		CU_ASSERT_EQUAL(dir_entries(tmpdir), before);
	}
}

/* Replacing an existing file is atomic: old content until finish. */
static void test_replace(void)
{
	const char *path = tmp_path("replace.raw");
	struct rf_error err = {0, ""};
	struct fmt_writer *w = NULL;
	struct stat st;
	FILE *f = fopen(path, "w");

	CU_ASSERT_FATAL(f != NULL);
	fputs("old", f);
	fclose(f);
	CU_ASSERT_FATAL(fmt_writer_new("raw", path, 4096, NULL, &w, &err) == 0);
	CU_ASSERT(fmt_writer_write(w, 0, "new", 3, &err) == 0);
	CU_ASSERT(stat(path, &st) == 0 && st.st_size == 3);
	CU_ASSERT(fmt_writer_finish(w, &err) == 0);
	fmt_writer_free(w);
	CU_ASSERT(stat(path, &st) == 0 && st.st_size == 4096);
	unlink(path);
}

/* Open and read everything; return 0 or the first error. */
static int read_all(const char *path, const char *format, size_t *nerr)
{
	struct rf_error err = {0, ""};
	struct fmt_reader *r = NULL;
	uint8_t *buf = malloc(MiB);
	uint64_t off = 0;
	int rc;

	rc = fmt_reader_open(path, format, &r, &err);
	while (rc == 0 && off < fmt_reader_virtual_size(r)) {
		uint64_t len;
		bool data;

		rc = fmt_reader_map(r, off, MiB, &len, &data, &err);
		if (rc == 0)
			rc = fmt_reader_read(r, off, buf, (size_t)len, &err);
		off += rc == 0 ? len : 0;
	}
	if (rc < 0) {
		/* Every failure explains itself. */
		CU_ASSERT(err.msg[0] != '\0');
		(*nerr)++;
	}
	fmt_reader_free(r);
	free(buf);
	return rc;
}

static void put_file(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

static void test_corrupt(void)
{
	static const char *const kinds[][3] = {
		{"qcow2", "cluster_size=4k", "qcow2"},
		{"qcow2", "cluster_size=4k,compress=on", "qcow2"},
		{"qcow2", "compress=on,compression_type=zstd", "qcow2"},
		{"vmdk", NULL, "vmdk"},
		{"vmdk", "subformat=streamOptimized", "vmdk"},
	};
	const uint64_t bounds[] = {64 * KiB};
	struct extent ex[64];
	size_t n = make_extents(2 * MiB, bounds, 1, ex, 64);
	uint8_t *model = make_model(2 * MiB, ex, n);
	const char *good = tmp_path("good.img"), *bad = tmp_path("bad.img");

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		size_t nerr = 0;
		struct stat st;
		uint8_t *image;
		int fd;

		CU_ASSERT_FATAL(write_image(kinds[k][0], kinds[k][1], good,
					    2 * MiB, model, ex, n) == 0);
		CU_ASSERT_FATAL(stat(good, &st) == 0);
		image = malloc((size_t)st.st_size);
		fd = open(good, O_RDONLY);
		CU_ASSERT_FATAL(fd >= 0 && image != NULL);
		CU_ASSERT_FATAL(read(fd, image, (size_t)st.st_size) ==
				st.st_size);
		close(fd);
		/* Truncations: the reader must notice, not crash. */
		for (int i = 1; i <= 16; i++) {
			uint64_t len = (uint64_t)st.st_size * (uint64_t)i / 17;

			put_file(bad, image, (size_t)len);
			read_all(bad, kinds[k][2], &nerr);
		}
		/* Most truncations cut off data or metadata. */
		CU_ASSERT(nerr >= 8);
		/* Byte flips in the headers and metadata. */
		for (int i = 0; i < 300; i++) {
			uint64_t where = rnd() % (uint64_t)(st.st_size < 131072
								    ? st.st_size
								    : 131072);
			uint8_t old;

			if (i % 3 == 0)
				where = (uint64_t)st.st_size - 1 - rnd() % 2048;
			old = image[where];
			image[where] = (uint8_t)rnd();
			put_file(bad, image, (size_t)st.st_size);
			image[where] = old;
			read_all(bad, kinds[k][2], &nerr);
		}
		free(image);
	}
	unlink(good);
	unlink(bad);
	free(model);
}

static void test_convert_api(void)
{
	const uint64_t bounds[] = {64 * KiB, 32 * MiB};
	struct extent ex[200];
	size_t n = make_extents(40 * MiB, bounds, 2, ex, 200);
	uint8_t *model = make_model(40 * MiB, ex, n);
	const char *src = tmp_path("src.vmdk"), *dst = tmp_path("dst.qcow2");
	struct rf_error err = {0, ""};
	struct fmt_reader *r = NULL;
	struct fmt_writer *w = NULL;

	CU_ASSERT_FATAL(write_image("vmdk", "subformat=streamOptimized", src,
				    40 * MiB, model, ex, n) == 0);
	CU_ASSERT_FATAL(fmt_reader_open(src, "vmdk", &r, &err) == 0);
	CU_ASSERT_FATAL(fmt_writer_new("qcow2", dst, fmt_reader_virtual_size(r),
				       NULL, &w, &err) == 0);
	CU_ASSERT(fmt_convert(r, w, NULL, NULL, &err) == 0);
	CU_ASSERT(fmt_writer_finish(w, &err) == 0);
	fmt_writer_free(w);
	fmt_reader_free(r);
	verify_read(dst, "qcow2", 40 * MiB, model);
	CU_ASSERT_EQUAL(run("qemu-img compare -q '%s' '%s'", src, dst), 0);
	unlink(src);
	unlink(dst);
	free(model);
}

static void test_cleanup(void)
{
	if (have_tmpdir)
		CU_ASSERT(run("rm -rf '%s'", tmpdir) == 0);
}

static CU_TestInfo tests[] = {
	{"options are checked", test_options},
	{"ordering rules; abandoned writers leave nothing",
	 test_order_and_abort},
	{"an existing file is replaced atomically", test_replace},
	{"round trips: small and odd sizes", test_roundtrip_small},
	{"round trips: L2 and grain-table boundaries",
	 test_roundtrip_boundaries},
	{"2 TiB virtual disks", test_big_virtual},
	{"fmt_convert between formats", test_convert_api},
	{"truncated and corrupt images fail cleanly", test_corrupt},
	{"cleanup", test_cleanup},
	CU_TEST_INFO_NULL,
};

RF_CUNIT_MAIN("formats")
