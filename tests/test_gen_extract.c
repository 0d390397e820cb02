/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * generator/extract.c against hostile archives made with libarchive's own
 * writer: sentinels planted beside the staging root must be untouched
 * (inode, ctime, size) and nothing may appear outside the root.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <archive.h>
#include <archive_entry.h>

#include "buf.h"
#include "cunit_main.h"
#include "generator/extract.h"

static char top[256], rootdir[300], outside[300], sentinel[320];

/* A tar under construction, in memory. */
struct tarw {
	struct archive *a;
	char *mem;
	size_t cap, used;
};

static void tar_begin(struct tarw *t, bool gzip)
{
	t->cap = 256u << 20;
	t->mem = malloc(t->cap);
	t->a = archive_write_new();
	archive_write_set_format_pax_restricted(t->a);
	if (gzip)
		archive_write_add_filter_gzip(t->a);
	archive_write_set_bytes_in_last_block(t->a, 1);
	CU_ASSERT_FATAL(archive_write_open_memory(t->a, t->mem, t->cap,
						  &t->used) == ARCHIVE_OK);
}

static void tar_add(struct tarw *t, const char *name, mode_t type,
		    mode_t perm, const char *data, size_t len,
		    const char *link, bool hard)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_mtime(e, 1000000000, 0);
	archive_entry_set_size(e, (la_int64_t)len);
	if (link != NULL && hard)
		archive_entry_set_hardlink(e, link);
	else if (link != NULL)
		archive_entry_set_symlink(e, link);
	CU_ASSERT(archive_write_header(t->a, e) == ARCHIVE_OK);
	/* libarchive's pax writer stores no data with a hardlink; the
	 * reader side of that case is the fuzz corpus's */
	if (len > 0 && data != NULL && !hard)
		CU_ASSERT(archive_write_data(t->a, data, len) == (ssize_t)len);
	archive_entry_free(e);
}

/* Close the tar and extract it into the root; returns gen_extract's rc. */
static int tar_extract(struct tarw *t, const struct gen_limits *lim)
{
	struct archive *r = archive_read_new();
	struct gen_limits def;
	struct rf_error err = {0};
	int fd, rc;

	CU_ASSERT(archive_write_close(t->a) == ARCHIVE_OK);
	archive_write_free(t->a);
	archive_read_support_format_all(r);
	archive_read_support_filter_all(r);
	CU_ASSERT_FATAL(archive_read_open_memory(r, t->mem, t->used) ==
			ARCHIVE_OK);
	gen_limits_default(&def);
	fd = open(rootdir, O_PATH | O_DIRECTORY);
	CU_ASSERT_FATAL(fd >= 0);
	rc = gen_extract(r, &(struct gen_dest){fd, NULL}, lim ? lim : &def, NULL, NULL, NULL, &err);
	if (rc < 0 && getenv("RF_TEST_VERBOSE"))
		fprintf(stderr, "gen_extract: %s\n", err.msg);
	close(fd);
	archive_read_free(r);
	free(t->mem);
	return rc;
}

struct snap {
	ino_t ino;
	struct timespec ctime;
	off_t size;
	int entries;
};

static void take(struct snap *s)
{
	struct stat st;
	DIR *d;
	struct dirent *de;

	CU_ASSERT_FATAL(stat(sentinel, &st) == 0);
	s->ino = st.st_ino;
	s->ctime = st.st_ctim;
	s->size = st.st_size;
	s->entries = 0;
	d = opendir(top);
	while ((de = readdir(d)) != NULL)
		s->entries++;
	closedir(d);
	d = opendir(outside);
	while ((de = readdir(d)) != NULL)
		s->entries++;
	closedir(d);
}

static void same(const struct snap *a)
{
	struct snap b;

	take(&b);
	CU_ASSERT_EQUAL(a->ino, b.ino);
	CU_ASSERT_EQUAL(a->ctime.tv_sec, b.ctime.tv_sec);
	CU_ASSERT_EQUAL(a->ctime.tv_nsec, b.ctime.tv_nsec);
	CU_ASSERT_EQUAL(a->size, b.size);
	CU_ASSERT_EQUAL(a->entries, b.entries);
}

static int setup(void)
{
	char *t = getenv("TMPDIR");

	snprintf(top, sizeof(top), "%s/rf-gen-extract.XXXXXX", t ? t : "/tmp");
	if (mkdtemp(top) == NULL)
		return 1;
	snprintf(rootdir, sizeof(rootdir), "%s/root", top);
	snprintf(outside, sizeof(outside), "%s/outside", top);
	snprintf(sentinel, sizeof(sentinel), "%s/sentinel", outside);
	return mkdir(outside, 0755);
}

static int teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	return system(cmd) == 0 ? 0 : 1;
}

static void fresh(void)
{
	static bool ready;
	char cmd[400];
	int fd;

	if (!ready) {
		CU_ASSERT_FATAL(setup() == 0);
		ready = true;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rootdir);
	CU_ASSERT(system(cmd) == 0);
	CU_ASSERT_FATAL(mkdir(rootdir, 0700) == 0);
	fd = open(sentinel, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(write(fd, "sentinel\n", 9) == 9);
	close(fd);
}

static void test_cleanup(void)
{
	CU_ASSERT(teardown() == 0);
}

static void test_escape_names(void)
{
	static const char *const bad[] = {"../x", "a/../../x", "/etc/x",
					  "./../x", "a/.."};
	struct snap s;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tarw t;

		fresh();
		take(&s);
		tar_begin(&t, false);
		tar_add(&t, bad[i], AE_IFREG, 0644, "evil", 4, NULL, false);
		CU_ASSERT(tar_extract(&t, NULL) < 0);
		same(&s);
	}
}

/* A symlink to the host's directory, then a file written through it. */
static void test_symlink_then_write(void)
{
	struct tarw t;
	struct snap s;
	char path[700];
	struct stat st;

	/* the host's directory does not exist inside the root: refused */
	fresh();
	take(&s);
	tar_begin(&t, false);
	tar_add(&t, "link", AE_IFLNK, 0777, NULL, 0, outside, false);
	tar_add(&t, "link/sentinel", AE_IFREG, 0644, "evil", 4, NULL, false);
	CU_ASSERT(tar_extract(&t, NULL) < 0);
	same(&s);

	/* the same once the root has that directory: written inside */
	fresh();
	take(&s);
	tar_begin(&t, false);
	tar_add(&t, outside + 1, AE_IFDIR, 0755, NULL, 0, NULL, false);
	tar_add(&t, "link", AE_IFLNK, 0777, NULL, 0, outside, false);
	tar_add(&t, "link/sentinel", AE_IFREG, 0644, "evil", 4, NULL, false);
	tar_add(&t, "rel", AE_IFLNK, 0777, NULL, 0,
		"../../../../../../../../../../..", false);
	tar_add(&t, "rel/evil-at-top", AE_IFREG, 0644, "evil", 4, NULL,
		false);
	/* a symlink over the sentinel itself, then a file of that name */
	tar_add(&t, "s", AE_IFLNK, 0777, NULL, 0, sentinel, false);
	tar_add(&t, "s", AE_IFREG, 0644, "evil", 4, NULL, false);
	/* a directory replaced by a symlink to /, then written through */
	tar_add(&t, "d/", AE_IFDIR, 0755, NULL, 0, NULL, false);
	tar_add(&t, "d", AE_IFLNK, 0777, NULL, 0, "/", false);
	tar_add(&t, "d/x", AE_IFREG, 0644, "evil", 4, NULL, false);
	CU_ASSERT(tar_extract(&t, NULL) == 0);
	same(&s);
	snprintf(path, sizeof(path), "%s%s/sentinel", rootdir, outside);
	CU_ASSERT(lstat(path, &st) == 0 && st.st_size == 4);
	snprintf(path, sizeof(path), "%s/evil-at-top", rootdir);
	CU_ASSERT(lstat(path, &st) == 0);
	snprintf(path, sizeof(path), "%s/s", rootdir);
	CU_ASSERT(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
	snprintf(path, sizeof(path), "%s/x", rootdir);
	CU_ASSERT(lstat(path, &st) == 0 && st.st_size == 4);
}

static void test_hardlinks(void)
{
	struct tarw t;
	struct snap s;
	char a[400], b[400], buf[16];
	struct stat sa, sb;
	int fd;

	fresh();
	take(&s);
	tar_begin(&t, false);
	tar_add(&t, "a", AE_IFREG, 0644, "A", 1, NULL, false);
	/* a hardlink carrying data must not write it into the target */
	tar_add(&t, "b", AE_IFREG, 0644, "EVIL!", 5, "a", true);
	CU_ASSERT(tar_extract(&t, NULL) == 0);
	snprintf(a, sizeof(a), "%s/a", rootdir);
	snprintf(b, sizeof(b), "%s/b", rootdir);
	CU_ASSERT(stat(a, &sa) == 0 && stat(b, &sb) == 0);
	CU_ASSERT_EQUAL(sa.st_ino, sb.st_ino);
	fd = open(a, O_RDONLY);
	CU_ASSERT(read(fd, buf, sizeof(buf)) == 1);
	close(fd);
	same(&s);

	/* to the host's file through a symlink, and with "..": refused */
	static const char *const targets[] = {"l/sentinel", "../outside/sentinel",
					      "/etc/passwd"};
	for (size_t i = 0; i < 3; i++) {
		fresh();
		take(&s);
		tar_begin(&t, false);
		tar_add(&t, "l", AE_IFLNK, 0777, NULL, 0, outside, false);
		tar_add(&t, "h", AE_IFREG, 0644, NULL, 0, targets[i], true);
		CU_ASSERT(tar_extract(&t, NULL) < 0);
		same(&s);
	}
	/* a hardlink to a symlink links the symlink, not what it names */
	fresh();
	take(&s);
	tar_begin(&t, false);
	tar_add(&t, "l", AE_IFLNK, 0777, NULL, 0, sentinel, false);
	tar_add(&t, "h", AE_IFREG, 0644, NULL, 0, "l", true);
	CU_ASSERT(tar_extract(&t, NULL) == 0);
	snprintf(a, sizeof(a), "%s/h", rootdir);
	CU_ASSERT(lstat(a, &sa) == 0 && S_ISLNK(sa.st_mode));
	same(&s);
}

static void test_types_and_modes(void)
{
	struct tarw t;
	char p[400], v[8];
	struct stat st;
	struct archive_entry *e;

	fresh();
	tar_begin(&t, false);
	tar_add(&t, "usr/bin/su", AE_IFREG, 04755, "su", 2, NULL, false);
	tar_add(&t, "run/fifo", AE_IFIFO, 0600, NULL, 0, NULL, false);
	tar_add(&t, "etc/localtime", AE_IFLNK, 0777, NULL, 0,
		"/usr/share/zoneinfo/UTC", false);
	e = archive_entry_new();
	archive_entry_set_pathname(e, "x/attr");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0640);
	archive_entry_set_size(e, 0);
	archive_entry_xattr_add_entry(e, "user.rf", "hi", 2);
	CU_ASSERT(archive_write_header(t.a, e) == ARCHIVE_OK);
	archive_entry_free(e);
	/* sparse: 1 MiB with 4 bytes at the end */
	e = archive_entry_new();
	archive_entry_set_pathname(e, "x/sparse");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 1 << 20);
	archive_entry_sparse_add_entry(e, (1 << 20) - 4, 4);
	CU_ASSERT(archive_write_header(t.a, e) == ARCHIVE_OK);
	CU_ASSERT(archive_write_data(t.a, "tail", 4) == 4);
	archive_entry_free(e);
	CU_ASSERT(tar_extract(&t, NULL) == 0);
	snprintf(p, sizeof(p), "%s/usr/bin/su", rootdir);
	CU_ASSERT(stat(p, &st) == 0 && (st.st_mode & 07777) == 04755);
	CU_ASSERT(st.st_mtime == 1000000000);
	snprintf(p, sizeof(p), "%s/run/fifo", rootdir);
	CU_ASSERT(lstat(p, &st) == 0 && S_ISFIFO(st.st_mode));
	snprintf(p, sizeof(p), "%s/etc/localtime", rootdir);
	CU_ASSERT(lstat(p, &st) == 0 && S_ISLNK(st.st_mode));
	snprintf(p, sizeof(p), "%s/x/attr", rootdir);
	if (getxattr(p, "user.rf", v, sizeof(v)) >= 0) {
		CU_ASSERT(memcmp(v, "hi", 2) == 0);
	} else {
		CU_ASSERT(errno == ENOTSUP); /* tmpfs without user xattrs */
	}
	snprintf(p, sizeof(p), "%s/x/sparse", rootdir);
	CU_ASSERT(stat(p, &st) == 0 && st.st_size == 1 << 20);
	CU_ASSERT(st.st_blocks * 512 < (1 << 20));
}

static void test_caps(void)
{
	struct tarw t;
	struct gen_limits lim;
	struct snap s;
	char name[32];
	char *zeros;

	fresh();
	take(&s);
	gen_limits_default(&lim);
	lim.max_entries = 5;
	tar_begin(&t, false);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		tar_add(&t, name, AE_IFREG, 0644, "x", 1, NULL, false);
	}
	CU_ASSERT(tar_extract(&t, &lim) == -EFBIG);

	gen_limits_default(&lim);
	lim.max_file_size = 100;
	tar_begin(&t, false);
	zeros = calloc(1, 128 << 20);
	tar_add(&t, "big", AE_IFREG, 0644, zeros, 200, NULL, false);
	CU_ASSERT(tar_extract(&t, &lim) == -EFBIG);

	gen_limits_default(&lim);
	lim.max_bytes = 1000;
	tar_begin(&t, false);
	tar_add(&t, "a", AE_IFREG, 0644, zeros, 600, NULL, false);
	tar_add(&t, "b", AE_IFREG, 0644, zeros, 600, NULL, false);
	CU_ASSERT(tar_extract(&t, &lim) == -EFBIG);

	/* 100 MiB of zeros compress about 1000:1; a cap of 50:1 trips */
	gen_limits_default(&lim);
	lim.max_ratio = 50;
	tar_begin(&t, true);
	tar_add(&t, "bomb", AE_IFREG, 0644, zeros, 100 << 20, NULL, false);
	CU_ASSERT(tar_extract(&t, &lim) == -EFBIG);
	free(zeros);
	same(&s);
}

static void test_name_check(void)
{
	const char *out;

	CU_ASSERT(gen_name_check("./etc/x", false, &out) == 0 &&
		  strcmp(out, "etc/x") == 0);
	CU_ASSERT(gen_name_check("/etc/x", false, &out) < 0);
	CU_ASSERT(gen_name_check("/etc/x", true, &out) == 0 &&
		  strcmp(out, "etc/x") == 0);
	CU_ASSERT(gen_name_check("a/..b/c", false, &out) == 0);
	CU_ASSERT(gen_name_check("a//../c", false, &out) < 0);
	CU_ASSERT(gen_name_check("", false, &out) < 0);
	CU_ASSERT(gen_name_check("./", false, &out) < 0);
}

static CU_TestInfo tests[] = {
	{"names are checked", test_name_check},
	{"escaping names are refused", test_escape_names},
	{"writes through symlinks stay inside", test_symlink_then_write},
	{"hardlinks", test_hardlinks},
	{"types, modes, xattrs, sparse", test_types_and_modes},
	{"caps", test_caps},
	{"cleanup", test_cleanup},
	CU_TEST_INFO_NULL,
};

RF_CUNIT_MAIN("generator extraction")
