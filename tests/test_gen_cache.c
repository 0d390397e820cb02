/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The payload cache (generator/cache.c) on its own: an entry stored is
 * read back byte for byte; one dropped, or never ended, is not there; a
 * damaged one is found when read to its end and removed; trimming to the
 * size limit removes the least recently used first; a directory others
 * may write is refused.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <archive.h>

#include "cache.h"
#include "cunit_main.h"

#define PAYLOAD (300 * 1024)

static char dir[64];

static void key_of(char key[GEN_CACHE_KEY_MAX], int n)
{
	unsigned char sha[32];

	memset(sha, n, sizeof(sha));
	gen_cache_key(key, "deb", sha);
}

/* A payload of PAYLOAD bytes that zstd cannot shrink much. */
static void payload(unsigned char *p, int n)
{
	unsigned s = 12345u + (unsigned)n;

	for (size_t i = 0; i < PAYLOAD; i++) {
		s = s * 1103515245u + 12345u;
		p[i] = (unsigned char)(s >> 16);
	}
}

static void store(struct gen_cache *c, int n, bool keep)
{
	char key[GEN_CACHE_KEY_MAX];
	unsigned char *p = malloc(PAYLOAD);
	struct gen_cache_fill *f;

	CU_ASSERT_FATAL(p != NULL);
	payload(p, n);
	key_of(key, n);
	f = gen_cache_fill_new(c, key);
	CU_ASSERT_FATAL(f != NULL);
	for (size_t off = 0; off < PAYLOAD; off += 7000)
		gen_cache_fill_write(f, p + off,
				     PAYLOAD - off < 7000 ? PAYLOAD - off : 7000);
	gen_cache_fill_end(f, keep);
	free(p);
}

/* Read entry n whole: 1 same bytes, 0 absent, -1 different or damaged. */
static int fetch(struct gen_cache *c, int n)
{
	char key[GEN_CACHE_KEY_MAX];
	unsigned char *want = malloc(PAYLOAD), *got = malloc(PAYLOAD + 1);
	struct gen_cache_reader *r;
	struct archive *a = archive_read_new(); /* for error messages */
	size_t len = 0;
	long k;
	int rc = 1;

	key_of(key, n);
	r = gen_cache_get(c, key);
	if (r == NULL) {
		archive_read_free(a);
		free(want);
		free(got);
		return 0;
	}
	payload(want, n);
	for (;;) {
		const void *b;

		k = gen_cache_read(a, r, &b);
		if (k <= 0)
			break;
		if (len + (size_t)k > PAYLOAD) {
			rc = -1;
			break;
		}
		memcpy(got + len, b, (size_t)k);
		len += (size_t)k;
	}
	if (k < 0 || len != PAYLOAD || memcmp(got, want, PAYLOAD) != 0)
		rc = -1;
	if (!gen_cache_reader_end(r, rc == 1))
		rc = -1;
	archive_read_free(a);
	free(want);
	free(got);
	return rc;
}

/* The file of entry n. */
static void entry_path(char path[256], int n)
{
	char key[GEN_CACHE_KEY_MAX];

	key_of(key, n);
	snprintf(path, 256, "%s/%s.zst", dir, key);
}

static int entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	CU_ASSERT_FATAL(d != NULL);
	while ((de = readdir(d)) != NULL)
		n += gen_cache_is_entry(de->d_name);
	closedir(d);
	return n;
}

static void set_age(int n, int seconds_ago)
{
	char path[256];
	struct timeval tv[2];

	entry_path(path, n);
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec -= seconds_ago;
	tv[1] = tv[0];
	CU_ASSERT(utimes(path, tv) == 0);
}

static void test_store_read(void)
{
	struct gen_cache *c;
	struct rf_error err = {0};
	struct gen_cache_stats st;

	CU_ASSERT_FATAL(gen_cache_open(dir, 0, &c, &err) == 0);
	store(c, 1, true);
	store(c, 2, false); /* dropped */
	CU_ASSERT_EQUAL(entries(), 1);
	CU_ASSERT_EQUAL(fetch(c, 1), 1);
	CU_ASSERT_EQUAL(fetch(c, 2), 0);
	gen_cache_stats(c, &st);
	CU_ASSERT_EQUAL(st.stored, 1);
	CU_ASSERT(st.hits >= 1 && st.misses == 1);
	gen_cache_close(c);
}

static void test_damaged(void)
{
	struct gen_cache *c;
	struct rf_error err = {0};
	char path[256];
	struct stat sb;
	int fd;

	CU_ASSERT_FATAL(gen_cache_open(dir, 0, &c, &err) == 0);
	store(c, 3, true);
	entry_path(path, 3);
	CU_ASSERT_FATAL(stat(path, &sb) == 0);
	fd = open(path, O_WRONLY);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(pwrite(fd, "XXXXXXXX", 8, sb.st_size / 2) == 8);
	close(fd);
	CU_ASSERT_EQUAL(fetch(c, 3), -1);
	CU_ASSERT(access(path, F_OK) != 0); /* removed */
	/* a truncated one the same */
	store(c, 3, true);
	CU_ASSERT(truncate(path, sb.st_size - 20) == 0);
	CU_ASSERT_EQUAL(fetch(c, 3), -1);
	CU_ASSERT(access(path, F_OK) != 0);
	gen_cache_close(c);
}

static void test_trim(void)
{
	struct gen_cache *c;
	struct rf_error err = {0};
	char path[256];
	struct stat sb;
	uint64_t one;

	CU_ASSERT_FATAL(gen_cache_open(dir, 0, &c, &err) == 0);
	for (int n = 10; n < 14; n++)
		store(c, n, true);
	gen_cache_close(c);
	entry_path(path, 10);
	CU_ASSERT_FATAL(stat(path, &sb) == 0);
	one = (uint64_t)sb.st_blocks * 512;
	/* 1 (of the first test) oldest, then 10, 12, 13; 11 used last */
	set_age(1, 500);
	set_age(10, 400);
	set_age(12, 300);
	set_age(13, 200);
	set_age(11, 100);
	CU_ASSERT_FATAL(gen_cache_open(dir, 2 * one + one / 2, &c, &err) == 0);
	gen_cache_close(c);
	/* two fit: 11 and 13 stay, 1, 10 and 12 go */
	CU_ASSERT_EQUAL(entries(), 2);
	CU_ASSERT_FATAL(gen_cache_open(dir, 0, &c, &err) == 0);
	CU_ASSERT_EQUAL(fetch(c, 1), 0);
	CU_ASSERT_EQUAL(fetch(c, 10), 0);
	CU_ASSERT_EQUAL(fetch(c, 12), 0);
	CU_ASSERT_EQUAL(fetch(c, 11), 1);
	CU_ASSERT_EQUAL(fetch(c, 13), 1);
	gen_cache_close(c);
}

static void test_refused(void)
{
	struct gen_cache *c = NULL;
	struct rf_error err = {0};

	CU_ASSERT(chmod(dir, 0777) == 0);
	CU_ASSERT(gen_cache_open(dir, 0, &c, &err) < 0);
	CU_ASSERT(c == NULL);
	CU_ASSERT(strstr(err.msg, "writable by no one else") != NULL);
	CU_ASSERT(chmod(dir, 0700) == 0);
}

static CU_TestInfo tests[] = {
	{"stored, read back, dropped", test_store_read},
	{"damaged and truncated entries", test_damaged},
	{"trimmed, least recently used first", test_trim},
	{"a directory others may write is refused", test_refused},
	CU_TEST_INFO_NULL,
};

int run(void);

int main(void)
{
	char cmd[128];
	int rc;

	snprintf(dir, sizeof(dir), "%s/reforge-cache-test.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL)
		return 99;
	rc = run();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return rc;
}

#define main run
RF_CUNIT_MAIN("gen_cache")
