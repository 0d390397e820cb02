/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of lib/: buffers, escapes, digests, errors, in-root opening. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acl.h"
#include "atomic.h"
#include "buf.h"
#include "digest.h"
#include "error.h"
#include "escape.h"
#include "rootfs.h"
#include "cunit_main.h"

static void test_escape_table(void)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
		{"plain", 5, "plain"},
		{"a b", 3, "a b"},
		{"tab\there", 8, "tab\\there"},
		{"new\nline", 8, "new\\nline"},
		{"back\\slash", 10, "back\\\\slash"},
		{"\xff\x01", 2, "\\377\\001"},
		{"caf\xc3\xa9", 5, "caf\\303\\251"},
		{"nul\0x", 5, "nul\\000x"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rf_buf out = RF_BUF_INIT, back = RF_BUF_INIT;

		rf_escape_c(&out, cases[i].in, cases[i].len);
		CU_ASSERT_STRING_EQUAL(out.data, cases[i].out);
		CU_ASSERT_EQUAL(rf_unescape_c(&back, out.data), 0);
		CU_ASSERT_EQUAL(back.len, cases[i].len);
		CU_ASSERT(memcmp(back.data, cases[i].in, cases[i].len) == 0);
		rf_buf_free(&out);
		rf_buf_free(&back);
	}
}

static void test_unescape_rejects(void)
{
	struct rf_buf b = RF_BUF_INIT;

	CU_ASSERT_EQUAL(rf_unescape_c(&b, "bad\\q"), -EINVAL);
	rf_buf_reset(&b);
	CU_ASSERT_EQUAL(rf_unescape_c(&b, "trailing\\"), -EINVAL);
	rf_buf_reset(&b);
	CU_ASSERT_EQUAL(rf_unescape_c(&b, "\\48"), -EINVAL);
	rf_buf_free(&b);
}

static void test_xml_safe(void)
{
	CU_ASSERT_TRUE(rf_xml_safe("usr/bin/ls", 10));
	CU_ASSERT_TRUE(rf_xml_safe("caf\xc3\xa9", 5));
	CU_ASSERT_TRUE(rf_xml_safe("\xf0\x9f\x98\x80", 4));
	CU_ASSERT_FALSE(rf_xml_safe("a\nb", 3));
	CU_ASSERT_FALSE(rf_xml_safe("\xff", 1));
	CU_ASSERT_FALSE(rf_xml_safe("\xc0\xaf", 2));	 /* overlong '/' */
	CU_ASSERT_FALSE(rf_xml_safe("\xed\xa0\x80", 3)); /* surrogate */
	CU_ASSERT_FALSE(rf_xml_safe("\xef\xbf\xbf", 3)); /* U+FFFF */
	CU_ASSERT_FALSE(rf_xml_safe("caf\xc3", 4));	 /* truncated */
}

static void test_base64(void)
{
	/* RFC 4648, section 10 */
	static const char *const vec[][2] = {
		{"", ""},
		{"f", "Zg=="},
		{"fo", "Zm8="},
		{"foo", "Zm9v"},
		{"foob", "Zm9vYg=="},
		{"fooba", "Zm9vYmE="},
		{"foobar", "Zm9vYmFy"},
	};

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		struct rf_buf e = RF_BUF_INIT, d = RF_BUF_INIT;

		rf_base64_encode(&e, vec[i][0], strlen(vec[i][0]));
		CU_ASSERT_STRING_EQUAL(e.data ? e.data : "", vec[i][1]);
		CU_ASSERT_EQUAL(rf_base64_decode(&d, vec[i][1]), 0);
		CU_ASSERT_EQUAL(d.len, strlen(vec[i][0]));
		CU_ASSERT(d.len == 0 || memcmp(d.data, vec[i][0], d.len) == 0);
		rf_buf_free(&e);
		rf_buf_free(&d);
	}
	{
		struct rf_buf d = RF_BUF_INIT;

		CU_ASSERT_EQUAL(rf_base64_decode(&d, "Zm9"), -EINVAL);
		CU_ASSERT_EQUAL(rf_base64_decode(&d, "Z=9v"), -EINVAL);
		CU_ASSERT_EQUAL(rf_base64_decode(&d, "Zm!v"), -EINVAL);
		rf_buf_free(&d);
	}
}

static void test_digest(void)
{
	unsigned char a[RF_DIGEST_MAX], b[RF_DIGEST_MAX];
	struct rf_buf hex = RF_BUF_INIT;
	struct rf_digest *d = rf_digest_new(RF_DIGEST_SHA256, RF_DIGEST_MD5);

	rf_digest_update(d, "ab", 2);
	rf_digest_update(d, "c", 1);
	rf_digest_final(d, a, b);
	rf_hex_encode(&hex, a, 32);
	CU_ASSERT_STRING_EQUAL(hex.data, "ba7816bf8f01cfea414140de5dae2223"
					 "b00361a396177a9cb410ff61f20015ad");
	rf_buf_reset(&hex);
	rf_hex_encode(&hex, b, 16);
	CU_ASSERT_STRING_EQUAL(hex.data, "900150983cd24fb0d6963f7d28e17f72");
	rf_digest_reset(d);
	rf_digest_final(d, a, NULL);
	rf_buf_reset(&hex);
	rf_hex_encode(&hex, a, 32);
	CU_ASSERT_STRING_EQUAL(hex.data, "e3b0c44298fc1c149afbf4c8996fb924"
					 "27ae41e4649b934ca495991b7852b855");
	CU_ASSERT_EQUAL(rf_digest_by_name("sha256"), RF_DIGEST_SHA256);
	CU_ASSERT_EQUAL(rf_digest_by_name("crc32"), RF_DIGEST_NONE);
	CU_ASSERT_EQUAL(rf_digest_len(RF_DIGEST_SHA1), 20);
	CU_ASSERT_EQUAL(rf_hex_decode(b, 2, "0aFf"), 0);
	CU_ASSERT(b[0] == 0x0a && b[1] == 0xff);
	CU_ASSERT_EQUAL(rf_hex_decode(b, 2, "0aF"), -EINVAL);
	CU_ASSERT_EQUAL(rf_hex_decode(b, 1, "0aF"), -EINVAL);
	rf_digest_free(d);
	rf_buf_free(&hex);
	/* OpenPGP ids, as rpm names its digests (RFC 4880, 9.4) */
	CU_ASSERT_EQUAL(rf_digest_by_openpgp_id(1), RF_DIGEST_MD5);
	CU_ASSERT_EQUAL(rf_digest_by_openpgp_id(8), RF_DIGEST_SHA256);
	CU_ASSERT_EQUAL(rf_digest_by_openpgp_id(11), RF_DIGEST_SHA224);
	CU_ASSERT_EQUAL(rf_digest_by_openpgp_id(3), RF_DIGEST_NONE);
	CU_ASSERT_EQUAL(rf_digest_by_openpgp_id(0), RF_DIGEST_NONE);
}

static void test_error(void)
{
	struct rf_error err;

	rf_error_clear(&err);
	CU_ASSERT_EQUAL(rf_error_set(&err, -EINVAL, "bad %s", "thing"),
			-EINVAL);
	CU_ASSERT_STRING_EQUAL(err.msg, "bad thing");
	rf_error_prefix(&err, "reading '%s'", "x");
	CU_ASSERT_STRING_EQUAL(err.msg, "reading 'x': bad thing");
	CU_ASSERT_EQUAL(rf_error_errno(&err, -ENOENT, "open"), -ENOENT);
	CU_ASSERT_STRING_EQUAL(err.msg, "open: No such file or directory");
	CU_ASSERT_EQUAL(rf_error_set(NULL, -EIO, "ignored"), -EIO);
}

/*
 * A root with links that would leave it if followed naively: the resolution
 * must stay inside, with openat2 and with the portable walk alike.
 */
static void check_root_resolution(int (*open_fn)(int, const char *, int))
{
	char dir[] = "/tmp/rf-test-root-XXXXXX";
	char outside[] = "/tmp/rf-test-outside-XXXXXX";
	char path[512], buf[64];
	int rootfd, fd, ofd;
	ssize_t n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	ofd = mkstemp(outside);
	CU_ASSERT_FATAL(ofd >= 0);
	CU_ASSERT(write(ofd, "OUTSIDE", 7) == 7);
	close(ofd);
	snprintf(path, sizeof(path), "%s/etc", dir);
	CU_ASSERT(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/etc/real", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	CU_ASSERT(write(fd, "INSIDE", 6) == 6);
	close(fd);
	snprintf(path, sizeof(path), "%s/etc/abs", dir);
	CU_ASSERT(symlink("/etc/real", path) == 0);
	snprintf(path, sizeof(path), "%s/etc/up", dir);
	CU_ASSERT(symlink("../../../../etc/real", path) == 0);
	snprintf(path, sizeof(path), "%s/escape", dir);
	CU_ASSERT(symlink(outside, path) == 0);
	snprintf(path, sizeof(path), "%s/loop", dir);
	CU_ASSERT(symlink("loop", path) == 0);

	rootfd = open(dir, O_PATH | O_DIRECTORY);
	CU_ASSERT_FATAL(rootfd >= 0);
	static const char *const inside[] = {"etc/abs", "/etc/abs", "etc/up",
					     "../../etc/real", "etc/./real"};
	for (size_t i = 0; i < sizeof(inside) / sizeof(inside[0]); i++) {
		fd = open_fn(rootfd, inside[i], O_RDONLY);
		CU_ASSERT(fd >= 0);
		if (fd >= 0) {
			n = read(fd, buf, sizeof(buf));
			CU_ASSERT(n == 6 && memcmp(buf, "INSIDE", 6) == 0);
			close(fd);
		}
	}
	/* an absolute link to a host file resolves inside: there is none */
	fd = open_fn(rootfd, "escape", O_RDONLY);
	CU_ASSERT_EQUAL(fd, -ENOENT);
	if (fd >= 0)
		close(fd);
	fd = open_fn(rootfd, "loop", O_RDONLY);
	CU_ASSERT_EQUAL(fd, -ELOOP);
	if (fd >= 0)
		close(fd);
	fd = open_fn(rootfd, "etc/real/x", O_RDONLY);
	CU_ASSERT_EQUAL(fd, -ENOTDIR);
	if (fd >= 0)
		close(fd);
	close(rootfd);

	snprintf(path, sizeof(path), "rm -rf '%s' '%s'", dir, outside);
	CU_ASSERT(system(path) == 0);
}

static void test_root_open(void)
{
	check_root_resolution(rf_root_open);
}

static void test_root_open_walk(void)
{
	check_root_resolution(rf_root_open_walk);
}

static void test_root_read_file(void)
{
	char dir[] = "/tmp/rf-test-read-XXXXXX";
	char path[512];
	struct rf_buf b = RF_BUF_INIT;
	struct rf_error err;
	int rootfd, fd;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	CU_ASSERT(write(fd, "hello\n", 6) == 6);
	close(fd);
	rootfd = open(dir, O_PATH | O_DIRECTORY);
	CU_ASSERT_EQUAL(rf_root_read_file(rootfd, "/f", 100, &b, &err), 0);
	CU_ASSERT_STRING_EQUAL(b.data, "hello\n");
	rf_buf_reset(&b);
	CU_ASSERT_EQUAL(rf_root_read_file(rootfd, "/f", 3, &b, &err), -EFBIG);
	CU_ASSERT_EQUAL(rf_root_read_file(rootfd, "/none", 3, &b, &err),
			-ENOENT);
	CU_ASSERT_EQUAL(rf_root_read_file(rootfd, "/", 3, &b, &err), -EINVAL);
	close(rootfd);
	rf_buf_free(&b);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	CU_ASSERT(system(path) == 0);
}

static void test_buf(void)
{
	struct rf_buf b = RF_BUF_INIT;
	char *s;

	for (int i = 0; i < 1000; i++)
		rf_buf_printf(&b, "%d,", i);
	CU_ASSERT(strncmp(b.data, "0,1,2,", 6) == 0);
	CU_ASSERT_EQUAL(b.len, strlen(b.data));
	s = rf_buf_detach(&b);
	CU_ASSERT_PTR_NULL(b.data);
	CU_ASSERT(strlen(s) > 3000);
	free(s);
	s = rf_buf_detach(&b);
	CU_ASSERT_STRING_EQUAL(s, "");
	free(s);
}


/* The kernel's ACL xattr layout, as setfacl leaves it. */
static void test_acl_to_text(void)
{
	static const unsigned char good[] = {
		2, 0, 0, 0,                         /* version */
		0x01, 0, 6, 0, 0xff, 0xff, 0xff, 0xff, /* u::rw- */
		0x02, 0, 4, 0, 0xe8, 0x03, 0, 0,    /* u:1000:r-- */
		0x04, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, /* g::r-- */
		0x08, 0, 5, 0, 0x0a, 0, 0, 0,       /* g:10:r-x */
		0x10, 0, 7, 0, 0xff, 0xff, 0xff, 0xff, /* m::rwx */
		0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, /* o::--- */
	};
	unsigned char bad[sizeof(good)];
	char *t = rf_acl_to_text(good, sizeof(good));

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_STRING_EQUAL(t, "u::rw-,u:1000:r--,g::r--,g:10:r-x,m::rwx,o::---");
	free(t);
	/* wrong version, truncated entry, unknown tag, empty */
	memcpy(bad, good, sizeof(bad));
	bad[0] = 1;
	CU_ASSERT_PTR_NULL(rf_acl_to_text(bad, sizeof(bad)));
	CU_ASSERT_PTR_NULL(rf_acl_to_text(good, sizeof(good) - 3));
	memcpy(bad, good, sizeof(bad));
	bad[4] = 0x40;
	CU_ASSERT_PTR_NULL(rf_acl_to_text(bad, sizeof(bad)));
	CU_ASSERT_PTR_NULL(rf_acl_to_text(good, 2));
	t = rf_acl_to_text(good, 4);
	CU_ASSERT_PTR_NOT_NULL(t);
	CU_ASSERT_STRING_EQUAL(t ? t : "x", "");
	free(t);
}

/* Entries of dir, "." and ".." aside. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void read_back(const char *path, const char *want)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY);
	ssize_t n;

	CU_ASSERT_FATAL(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	CU_ASSERT(n == (ssize_t)strlen(want));
	CU_ASSERT_STRING_EQUAL(buf, want);
}

/*
 * An atomic output: invisible until committed, gone when not, replaces an
 * older file whole, refuses to replace what is not a regular file.
 */
static void test_atomic(void)
{
	char dir[] = "/tmp/rf-test-atomic-XXXXXX";
	char path[512], node[512];
	struct rf_atomic a = RF_ATOMIC_INIT;
	struct rf_error err;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/out", dir);

	/* abandoned: nothing is left, under any name */
	CU_ASSERT_EQUAL_FATAL(rf_atomic_open(&a, path, O_WRONLY, 0644, &err),
			      0);
	CU_ASSERT(write(a.fd, "lost", 4) == 4);
	rf_atomic_close(&a);
	CU_ASSERT_EQUAL(count_entries(dir), 0);

	/* committed: the content under the final name, nothing else */
	CU_ASSERT_EQUAL_FATAL(rf_atomic_open(&a, path, O_RDWR, 0644, &err), 0);
	CU_ASSERT(write(a.fd, "first", 5) == 5);
	CU_ASSERT_EQUAL(count_entries(dir), 0); /* not visible yet */
	CU_ASSERT_EQUAL(rf_atomic_commit(&a, true, &err), 0);
	rf_atomic_close(&a);
	read_back(path, "first");
	CU_ASSERT_EQUAL(count_entries(dir), 1);

	/* a second one replaces the first whole, and only when committed */
	CU_ASSERT_EQUAL_FATAL(rf_atomic_open(&a, path, O_WRONLY, 0644, &err),
			      0);
	CU_ASSERT(write(a.fd, "2nd", 3) == 3);
	read_back(path, "first");
	CU_ASSERT_EQUAL(rf_atomic_commit(&a, false, &err), 0);
	/* committing twice is refused, and the file stays */
	CU_ASSERT_EQUAL(rf_atomic_commit(&a, false, &err), -EINVAL);
	rf_atomic_close(&a);
	read_back(path, "2nd");
	CU_ASSERT_EQUAL(count_entries(dir), 1);

	/* never replaces a fifo or a directory with a regular file */
	snprintf(node, sizeof(node), "%s/fifo", dir);
	CU_ASSERT_FATAL(mkfifo(node, 0600) == 0);
	CU_ASSERT_EQUAL(rf_atomic_open(&a, node, O_WRONLY, 0644, &err),
			-EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not a regular file"));
	rf_atomic_close(&a); /* allowed after a failed open */
	CU_ASSERT_EQUAL(rf_atomic_open(&a, dir, O_WRONLY, 0644, &err),
			-EINVAL);
	snprintf(node, sizeof(node), "%s/none/out", dir);
	CU_ASSERT_EQUAL(rf_atomic_open(&a, node, O_WRONLY, 0644, &err),
			-ENOENT);
	CU_ASSERT_EQUAL(rf_atomic_open(&a, "", O_WRONLY, 0644, &err),
			-EINVAL);
	CU_ASSERT_EQUAL(count_entries(dir), 2);

	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	CU_ASSERT(system(path) == 0);
}

static CU_TestInfo tests[] = {
	{"escape table", test_escape_table},
	{"unescape rejects malformed", test_unescape_rejects},
	{"xml-safe strings", test_xml_safe},
	{"base64 RFC 4648 vectors", test_base64},
	{"digests", test_digest},
	{"errors", test_error},
	{"buffers", test_buf},
	{"ACL xattr to text", test_acl_to_text},
	{"open inside root (openat2)", test_root_open},
	{"open inside root (walk)", test_root_open_walk},
	{"read file inside root", test_root_read_file},
	{"atomic output files", test_atomic},
	CU_TEST_INFO_NULL,
};

RF_CUNIT_MAIN("lib")
