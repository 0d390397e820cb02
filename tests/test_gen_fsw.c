/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ext4 writer (generator/fsw.c) on its own: archives made here with
 * libarchive go through gen_extract() into a filesystem made by mke2fs,
 * which must then pass e2fsck and read back, through libext2fs, as the
 * archive and the report say: contents (a sparse file of many extents, a
 * file over several data buffers), a directory of many blocks, long
 * names, fast and slow symlinks, hardlinks, device numbers of both
 * encodings, xattrs in the inode and in a block, ACLs, owners, modes and
 * times; absolute and climbing symlinks in an archive lead back into the
 * image; a hardlink to a directory and a file over a directory that is
 * not empty are refused; a filesystem too small says so.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <ext2fs/ext2fs.h>

#include "buf.h"
#include "cunit_main.h"
#include "fsw.h"
#include "gen.h"

static char dir[64];

static void setup_dir(void)
{
	if (dir[0] == '\0') {
		strcpy(dir, "/tmp/rf-fsw-XXXXXX");
		if (mkdtemp(dir) == NULL)
			abort();
	}
}

/* A new empty ext4 of size (mke2fs's size argument) with inodes at
 * dir/name. */
static const char *mkfs_n(const char *name, const char *size, int inodes)
{
	static char path[128];
	char cmd[512];

	setup_dir();
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	snprintf(cmd, sizeof(cmd),
		 "mke2fs -q -F -t ext4 -b 4096 -N %d %s %s >/dev/null 2>&1",
		 inodes, path, size);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	return path;
}

static const char *mkfs(const char *name, const char *size)
{
	return mkfs_n(name, size, 8192);
}

static int fsck(const char *path)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "e2fsck -fn %s >%s/fsck.log 2>&1", path,
		 dir);
	return system(cmd);
}

/* --- archives ------------------------------------------------------------ */

struct tarbuf {
	struct archive *a;
	struct rf_buf out;
};

static la_ssize_t tar_write(struct archive *a, void *ctx, const void *buf,
			    size_t len)
{
	struct tarbuf *t = ctx;

	(void)a;
	rf_buf_add(&t->out, buf, len);
	return (la_ssize_t)len;
}

static void tar_open(struct tarbuf *t)
{
	memset(t, 0, sizeof(*t));
	t->a = archive_write_new();
	archive_write_set_format_pax(t->a);
	archive_write_open(t->a, t, NULL, tar_write, NULL);
}

static struct archive_entry *entry(const char *name, mode_t type,
				   unsigned perm)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_mtime(e, 1700000000, 123456789);
	return e;
}

static void put(struct tarbuf *t, struct archive_entry *e, const void *data,
		size_t len)
{
	CU_ASSERT_EQUAL(archive_write_header(t->a, e), ARCHIVE_OK);
	if (len > 0)
		CU_ASSERT_EQUAL(archive_write_data(t->a, data, len),
				(la_ssize_t)len);
	archive_entry_free(e);
}

static void put_file(struct tarbuf *t, const char *name, unsigned perm,
		     const void *data, size_t len)
{
	struct archive_entry *e = entry(name, AE_IFREG, perm);

	archive_entry_set_size(e, (la_int64_t)len);
	put(t, e, data, len);
}

static void put_dir(struct tarbuf *t, const char *name, unsigned perm)
{
	put(t, entry(name, AE_IFDIR, perm), NULL, 0);
}

static void put_link(struct tarbuf *t, const char *name, const char *target)
{
	struct archive_entry *e = entry(name, AE_IFLNK, 0777);

	archive_entry_set_symlink(e, target);
	put(t, e, NULL, 0);
}

static void put_hardlink(struct tarbuf *t, const char *name, const char *to)
{
	struct archive_entry *e = entry(name, AE_IFREG, 0644);

	archive_entry_set_hardlink(e, to);
	archive_entry_set_size(e, 0);
	put(t, e, NULL, 0);
}

static void tar_close(struct tarbuf *t)
{
	archive_write_close(t->a);
	archive_write_free(t->a);
}

/* Read t's archive into w (one batch, applied at the end, or each record
 * as read when live): gen_extract()'s rc. */
static int fill_lim(struct gen_fsw *w, struct tarbuf *t, bool live,
		    const struct gen_limits *caps, struct rf_error *err)
{
	struct archive *a = archive_read_new();
	struct gen_limits lim;
	struct gen_dest d = {-1, gen_fsw_batch_new(w, live)};
	int rc;

	gen_limits_default(&lim);
	if (caps != NULL)
		lim = *caps;
	archive_read_support_format_tar(a);
	CU_ASSERT_EQUAL_FATAL(archive_read_open_memory(a, t->out.data,
						       t->out.len),
			      ARCHIVE_OK);
	rc = gen_extract(a, &d, &lim, NULL, NULL, NULL, err);
	if (rc == 0)
		rc = gen_fsw_apply(w, d.batch, err);
	gen_fsw_batch_free(d.batch);
	archive_read_free(a);
	return rc;
}

static int fill(struct gen_fsw *w, struct tarbuf *t, bool live,
		struct rf_error *err)
{
	return fill_lim(w, t, live, NULL, err);
}

/* A tar header written by hand (for what libarchive's writer will not
 * make): ustar, mode 0644, owned by root. */
static void raw_header(struct rf_buf *b, const char *name, char type,
		       size_t size)
{
	unsigned char h[512] = {0};
	unsigned sum = 0;

	snprintf((char *)h, 100, "%s", name);
	memcpy(h + 100, "0000644", 7);
	memcpy(h + 108, "0000000", 7);
	memcpy(h + 116, "0000000", 7);
	snprintf((char *)h + 124, 12, "%011zo", size);
	memcpy(h + 136, "14000000000", 11);
	h[156] = (unsigned char)type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	for (size_t i = 0; i < sizeof(h); i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	rf_buf_add(b, h, sizeof(h));
}

/* b padded to a whole record of 512 bytes */
static void raw_pad(struct rf_buf *b)
{
	static const unsigned char zero[512];

	rf_buf_add(b, zero, (512 - b->len % 512) % 512);
}

/* One pax record "LEN key=value\n" into b. */
static void pax_record(struct rf_buf *b, const char *key, const char *value)
{
	size_t n = strlen(key) + strlen(value) + 3, len = n + 1;

	while (len != n + (size_t)snprintf(NULL, 0, "%zu", len))
		len = n + (size_t)snprintf(NULL, 0, "%zu", len);
	rf_buf_printf(b, "%zu %s=%s\n", len, key, value);
}

/* --- reading back ---------------------------------------------------------- */

static ext2_ino_t ino_of(ext2_filsys fs, const char *path)
{
	ext2_ino_t ino = 0;

	if (ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, path, &ino))
		return 0;
	return ino;
}

static struct ext2_inode_large inode_of(ext2_filsys fs, ext2_ino_t ino)
{
	struct ext2_inode_large in;

	memset(&in, 0, sizeof(in));
	CU_ASSERT_EQUAL(ext2fs_read_inode_full(fs, ino, (void *)&in,
					       sizeof(in)),
			0);
	return in;
}

/* The whole content of path, *len bytes (NULL when it is not there). */
static unsigned char *content(ext2_filsys fs, const char *path, size_t *len)
{
	ext2_ino_t ino = ino_of(fs, path);
	ext2_file_t f;
	unsigned char *buf;
	unsigned got = 0;
	uint64_t size;

	if (ino == 0 || ext2fs_file_open(fs, ino, 0, &f))
		return NULL;
	size = ext2fs_file_get_size(f);
	buf = rf_xmalloc(size + 1);
	*len = 0;
	while (*len < size) {
		if (ext2fs_file_read(f, buf + *len, (unsigned)(size - *len),
				     &got) || got == 0)
			break;
		*len += got;
	}
	ext2fs_file_close(f);
	return buf;
}

/* An ACL in the xattr form, read back: the id of an entry that names no
 * user or group (whose on-disk form has none) reads as 0. */
static bool same_acl(const unsigned char *a, const unsigned char *b,
		     size_t len, const char *name)
{
	if (strncmp(name, "system.posix_acl_", 17) != 0 || len % 8 != 4 ||
	    memcmp(a, b, 4) != 0)
		return false;
	for (size_t i = 4; i < len; i += 8) {
		bool qualified = a[i] == 0x02 || a[i] == 0x08;

		if (memcmp(a + i, b + i, qualified ? 8 : 4) != 0)
			return false;
	}
	return true;
}

/* Whether path holds exactly the n bytes at want. */
static bool holds(ext2_filsys fs, const char *path, const void *want,
		  size_t n)
{
	size_t len = 0;
	unsigned char *got = content(fs, path, &len);
	bool ok = got != NULL && len == n && memcmp(got, want, n) == 0;

	free(got);
	return ok;
}

static ext2_filsys open_ro(const char *path)
{
	ext2_filsys fs = NULL;

	CU_ASSERT_EQUAL_FATAL(ext2fs_open(path, EXT2_FLAG_64BITS, 0, 0,
					  unix_io_manager, &fs),
			      0);
	return fs;
}

static bool xattr_is(ext2_filsys fs, const char *path, const char *name,
		     const void *want, size_t wlen)
{
	struct ext2_xattr_handle *h = NULL;
	void *v = NULL;
	size_t len = 0;
	bool ok = false;

	if (ext2fs_xattrs_open(fs, ino_of(fs, path), &h))
		return false;
	if (!ext2fs_xattrs_read(h) && !ext2fs_xattr_get(h, name, &v, &len))
		ok = len == wlen && (memcmp(v, want, len) == 0 ||
				     same_acl(v, want, len, name));
	free(v);
	ext2fs_xattrs_close(&h);
	return ok;
}

/* --- tests ------------------------------------------------------------------ */

#define SPARSE_SIZE (40ULL << 20)
#define BIG_SIZE (3U << 20)

static void test_fill_and_read_back(void)
{
	const char *img = mkfs("a.img", "256M");
	struct gen_fsw *w = NULL;
	struct rf_error err = {0};
	struct tarbuf t;
	unsigned char *big = rf_xmalloc(BIG_SIZE), *got;
	char name[300], target[200];
	size_t len;
	ext2_filsys fs;
	struct archive_entry *e;
	struct ext2_inode_large in;
	struct gen_report r = {0};
	struct gen_file *files = rf_xcalloc(3 + 500, sizeof(*files));
	char (*gone)[64] = rf_xcalloc(500, sizeof(*gone));
	unsigned char xbig[3000];

	for (size_t i = 0; i < BIG_SIZE; i++)
		big[i] = (unsigned char)(i * 2654435761u >> 13);
	memset(xbig, 'x', sizeof(xbig));
	tar_open(&t);
	put_dir(&t, "etc", 0755);
	put_file(&t, "etc/hostname", 0644, "box\n", 4);
	put_dir(&t, "usr", 0755);
	put_dir(&t, "usr/bin", 0755);
	put_file(&t, "usr/bin/big", 04755, big, BIG_SIZE);
	/* a sparse file: six data runs between holes, more extents than
	 * the inode holds */
	e = entry("usr/bin/sparse", AE_IFREG, 0644);
	archive_entry_set_size(e, (la_int64_t)SPARSE_SIZE);
	for (int i = 0; i < 6; i++)
		archive_entry_sparse_add_entry(e, (la_int64_t)i << 22, 5000);
	CU_ASSERT_EQUAL(archive_write_header(t.a, e), ARCHIVE_OK);
	{
		/* the writer takes the whole content, holes too */
		unsigned char *whole = rf_xcalloc(1, SPARSE_SIZE);

		for (int i = 0; i < 6; i++)
			memcpy(whole + ((size_t)i << 22), big + i * 5000, 5000);
		CU_ASSERT_EQUAL(archive_write_data(t.a, whole, SPARSE_SIZE),
				(la_ssize_t)SPARSE_SIZE);
		free(whole);
	}
	archive_entry_free(e);
	/* a directory of many blocks, a name of 255 bytes */
	put_dir(&t, "many", 0755);
	for (int i = 0; i < 1500; i++) {
		snprintf(name, sizeof(name), "many/file-with-a-long-name-%05d", i);
		put_file(&t, name, 0644, name, strlen(name));
	}
	memset(name, 'n', 255);
	memcpy(name, "many/", 5);
	name[5 + 255] = '\0';
	memset(name + 5, 'n', 255);
	put_file(&t, name, 0600, "long", 4);
	/* symlinks: fast, slow, and two that would leave the root */
	/* a symlink takes security.* and trusted.* xattrs, not user.* */
	e = entry("usr/bin/fast", AE_IFLNK, 0777);
	archive_entry_set_symlink(e, "big");
	archive_entry_xattr_add_entry(e, "user.no", "x", 1);
	archive_entry_xattr_add_entry(e, "security.selinux", "ctx", 3);
	put(&t, e, NULL, 0);
	memset(target, 't', sizeof(target) - 1);
	target[sizeof(target) - 1] = '\0';
	put_link(&t, "usr/bin/slow", target);
	put_link(&t, "evil", "/");
	put_file(&t, "evil/etc/passwd", 0644, "root:x:0:0::/root:/bin/sh\n", 26);
	put_link(&t, "usr/up", "../../../../..");
	put_dir(&t, "usr/up/tmp", 01777);
	put_file(&t, "usr/up/tmp/owned", 0644, "in", 2);
	/* a hardlink, device nodes of both encodings, a fifo, xattrs */
	put_hardlink(&t, "usr/bin/big2", "usr/bin/big");
	e = entry("dev-old", AE_IFCHR, 0600);
	archive_entry_set_rdev(e, makedev(1, 3));
	put(&t, e, NULL, 0);
	e = entry("dev-new", AE_IFBLK, 0660);
	archive_entry_set_rdev(e, makedev(300, 70000));
	put(&t, e, NULL, 0);
	put(&t, entry("fifo", AE_IFIFO, 0644), NULL, 0);
	e = entry("etc/attrs", AE_IFREG, 0640);
	archive_entry_set_size(e, 1);
	archive_entry_xattr_add_entry(e, "user.small", "v", 1);
	archive_entry_xattr_add_entry(e, "user.big", xbig, sizeof(xbig));
	archive_entry_set_uid(e, 70000);
	archive_entry_set_gid(e, 80000);
	put(&t, e, "a", 1);
	/* replaced: a file by a file, a file by a directory */
	put_file(&t, "etc/twice", 0644, "first", 5);
	put_file(&t, "etc/twice", 0644, "second", 6);
	put_file(&t, "etc/becomes-dir", 0644, "f", 1);
	put_dir(&t, "etc/becomes-dir", 0700);
	put_file(&t, "gone", 0644, "x", 1);
	tar_close(&t);

	CU_ASSERT_EQUAL_FATAL(gen_fsw_open(img, &w, &err), 0);
	CU_ASSERT_EQUAL(fill(w, &t, false, &err), 0);
	if (err.msg[0])
		fprintf(stderr, "fill: %s\n", err.msg);
	/* the report: an owner, mode, time and ACL for hostname, a file
	 * missing on the source */
	files[0].path = "etc/hostname";
	files[0].type = S_IFREG;
	files[0].mode = 0600;
	files[0].uid = 1000;
	files[0].gid = 1001;
	files[0].mtime.tv_sec = 1600000000;
	files[0].mtime.tv_nsec = 5;
	files[0].acl_access = "u::rw-,u:1234:r--,g::---,m::r--,o::---";
	files[1].path = "gone";
	files[1].cls = GEN_MISSING;
	files[2].path = "";
	files[2].type = S_IFDIR;
	files[2].mode = 0711;
	/* every third file of the big directory missing on the source */
	for (int i = 0; i < 500; i++) {
		snprintf(gone[i], sizeof(gone[i]),
			 "many/file-with-a-long-name-%05d", 3 * i);
		files[3 + i].path = gone[i];
		files[3 + i].cls = GEN_MISSING;
	}
	r.files = files;
	r.nfiles = 3 + 500;
	{
		uint64_t warnings = 0;

		CU_ASSERT_EQUAL(gen_fsw_report(w, &r, &warnings, NULL, &err), 0);
		CU_ASSERT_EQUAL(warnings, 0);
	}
	CU_ASSERT_EQUAL_FATAL(gen_fsw_close(w, &err), 0);
	CU_ASSERT_EQUAL(fsck(img), 0);

	fs = open_ro(img);
	CU_ASSERT(holds(fs, "usr/bin/big", big, BIG_SIZE));
	CU_ASSERT_EQUAL(ino_of(fs, "usr/bin/big"), ino_of(fs, "usr/bin/big2"));
	in = inode_of(fs, ino_of(fs, "usr/bin/big"));
	CU_ASSERT_EQUAL(in.i_mode, S_IFREG | 04755);
	CU_ASSERT_EQUAL(in.i_links_count, 2);
	CU_ASSERT_EQUAL(in.i_mtime, 1700000000);
	CU_ASSERT_EQUAL(in.i_mtime_extra >> 2, 123456789);
	got = content(fs, "usr/bin/sparse", &len);
	CU_ASSERT_FATAL(got != NULL && len == SPARSE_SIZE);
	for (int i = 0; i < 6; i++) {
		unsigned char zero[64] = {0};

		CU_ASSERT(memcmp(got + ((size_t)i << 22), big + i * 5000,
				 5000) == 0);
		CU_ASSERT(memcmp(got + ((size_t)i << 22) + 5000, zero,
				 sizeof(zero)) == 0);
	}
	free(got);
	in = inode_of(fs, ino_of(fs, "usr/bin/sparse"));
	/* 6 runs of 2 blocks, and an extent tree block */
	CU_ASSERT_EQUAL(in.i_blocks, (6 * 2 + 1) * 8);
	for (int i = 0; i < 1500; i++) {
		snprintf(name, sizeof(name), "many/file-with-a-long-name-%05d",
			 i);
		got = content(fs, name, &len);
		if (i % 3 == 0) {
			CU_ASSERT(got == NULL);
		} else {
			CU_ASSERT(got != NULL && len == 32 &&
				  memcmp(got, name, 32) == 0);
		}
		free(got);
	}
	memset(name, 'n', 255);
	memcpy(name, "many/", 5);
	name[5 + 255] = '\0';
	memset(name + 5, 'n', 255);
	in = inode_of(fs, ino_of(fs, "many"));
	CU_ASSERT(in.i_size > 4096 * 8);
	CU_ASSERT(in.i_flags & EXT2_INDEX_FL); /* an htree */
	CU_ASSERT_FALSE(inode_of(fs, ino_of(fs, "lost+found")).i_flags &
			EXT2_INDEX_FL);
	CU_ASSERT(ino_of(fs, name) != 0);
	in = inode_of(fs, ino_of(fs, "usr/bin/fast"));
	CU_ASSERT(LINUX_S_ISLNK(in.i_mode) && in.i_size == 3 &&
		  memcmp(in.i_block, "big", 3) == 0);
	CU_ASSERT(xattr_is(fs, "usr/bin/fast", "security.selinux", "ctx", 3));
	CU_ASSERT_FALSE(xattr_is(fs, "usr/bin/fast", "user.no", "x", 1));
	got = content(fs, "usr/bin/slow", &len);
	CU_ASSERT(got != NULL && len == strlen(target) &&
		  memcmp(got, target, len) == 0);
	free(got);
	/* what went through the symlinks is in the image */
	got = content(fs, "etc/passwd", &len);
	CU_ASSERT(got != NULL && len == 26);
	free(got);
	CU_ASSERT(ino_of(fs, "tmp/owned") != 0);
	CU_ASSERT_EQUAL(inode_of(fs, ino_of(fs, "tmp")).i_mode, S_IFDIR | 01777);
	in = inode_of(fs, ino_of(fs, "dev-old"));
	CU_ASSERT_EQUAL(in.i_mode, S_IFCHR | 0600);
	CU_ASSERT_EQUAL(in.i_block[0], (1 << 8) | 3);
	in = inode_of(fs, ino_of(fs, "dev-new"));
	CU_ASSERT_EQUAL(in.i_block[0], 0);
	CU_ASSERT_EQUAL(in.i_block[1],
			(70000 & 0xff) | (300 << 8) | ((70000 & ~0xff) << 12));
	CU_ASSERT_EQUAL(inode_of(fs, ino_of(fs, "fifo")).i_mode, S_IFIFO | 0644);
	CU_ASSERT(xattr_is(fs, "etc/attrs", "user.small", "v", 1));
	CU_ASSERT(xattr_is(fs, "etc/attrs", "user.big", xbig, sizeof(xbig)));
	in = inode_of(fs, ino_of(fs, "etc/attrs"));
	CU_ASSERT_EQUAL(in.i_uid | (uint32_t)in.osd2.linux2.l_i_uid_high << 16,
			70000);
	CU_ASSERT_EQUAL(in.i_gid | (uint32_t)in.osd2.linux2.l_i_gid_high << 16,
			80000);
	CU_ASSERT(in.i_file_acl != 0); /* the big xattr's block */
	got = content(fs, "etc/twice", &len);
	CU_ASSERT(got != NULL && len == 6 && memcmp(got, "second", 6) == 0);
	free(got);
	CU_ASSERT(LINUX_S_ISDIR(inode_of(fs, ino_of(fs, "etc/becomes-dir")).i_mode));
	/* the report's word */
	in = inode_of(fs, ino_of(fs, "etc/hostname"));
	CU_ASSERT_EQUAL(in.i_mode, S_IFREG | 0600);
	CU_ASSERT_EQUAL(in.i_uid, 1000);
	CU_ASSERT_EQUAL(in.i_gid, 1001);
	CU_ASSERT_EQUAL(in.i_mtime, 1600000000);
	CU_ASSERT_EQUAL(in.i_mtime_extra >> 2, 5);
	{
		unsigned char *acl;
		size_t alen;

		CU_ASSERT_EQUAL_FATAL(gen_acl_from_text(files[0].acl_access,
							&acl, &alen),
				      0);
		/* libext2fs reads it back in the form it was given */
		CU_ASSERT_EQUAL(alen, 4 + 5 * 8);
		CU_ASSERT(xattr_is(fs, "etc/hostname",
				   "system.posix_acl_access", acl, alen));
		free(acl);
	}
	CU_ASSERT_EQUAL(ino_of(fs, "gone"), 0);
	CU_ASSERT_EQUAL(inode_of(fs, EXT2_ROOT_INO).i_mode, S_IFDIR | 0711);
	CU_ASSERT(ino_of(fs, "lost+found") != 0);
	ext2fs_close_free(&fs);
	free(t.out.data);
	free(big);
	free(files);
	free(gone);
}

/* (records applied as read, as the overlay's are) */
static void test_refused(void)
{
	const char *img = mkfs("b.img", "64M");
	struct gen_fsw *w = NULL;
	struct rf_error err = {0};
	struct tarbuf t;

	CU_ASSERT_EQUAL_FATAL(gen_fsw_open(img, &w, &err), 0);
	/* a hardlink to a directory */
	tar_open(&t);
	put_dir(&t, "d", 0755);
	put_hardlink(&t, "l", "d");
	tar_close(&t);
	CU_ASSERT_EQUAL(fill(w, &t, true, &err), -EPERM);
	free(t.out.data);
	/* a file over a directory that holds files */
	tar_open(&t);
	put_dir(&t, "e", 0755);
	put_file(&t, "e/x", 0644, "x", 1);
	put_file(&t, "e", 0644, "y", 1);
	tar_close(&t);
	memset(&err, 0, sizeof(err));
	CU_ASSERT_EQUAL(fill(w, &t, true, &err), -ENOTEMPTY);
	CU_ASSERT(strstr(err.msg, "cannot replace e") != NULL);
	free(t.out.data);
	/* a name that climbs */
	tar_open(&t);
	put_file(&t, "a/../../x", 0644, "x", 1);
	tar_close(&t);
	memset(&err, 0, sizeof(err));
	CU_ASSERT_EQUAL(fill(w, &t, true, &err), -EINVAL);
	free(t.out.data);
	/* caps hold on this path too: a file past max_file_size, entries
	 * past max_entries */
	{
		struct gen_limits caps;

		gen_limits_default(&caps);
		caps.max_file_size = 4;
		tar_open(&t);
		put_file(&t, "big", 0644, "12345", 5);
		tar_close(&t);
		memset(&err, 0, sizeof(err));
		CU_ASSERT_EQUAL(fill_lim(w, &t, true, &caps, &err), -EFBIG);
		CU_ASSERT(strstr(err.msg, "over the cap") != NULL);
		free(t.out.data);
		gen_limits_default(&caps);
		caps.max_entries = 2;
		tar_open(&t);
		put_file(&t, "c1", 0644, "1", 1);
		put_file(&t, "c2", 0644, "2", 1);
		put_file(&t, "c3", 0644, "3", 1);
		tar_close(&t);
		memset(&err, 0, sizeof(err));
		CU_ASSERT_EQUAL(fill_lim(w, &t, true, &caps, &err), -EFBIG);
		CU_ASSERT(strstr(err.msg, "entries (cap)") != NULL);
		free(t.out.data);
	}
	/* a sparse map that goes back (libarchive takes it): its second
	 * run lies inside the first, written whole (1 MiB) already */
	{
		struct rf_buf pax = RF_BUF_INIT, map = RF_BUF_INIT;
		size_t run = 1 << 20;

		memset(&t, 0, sizeof(t));
		pax_record(&pax, "GNU.sparse.major", "1");
		pax_record(&pax, "GNU.sparse.minor", "0");
		pax_record(&pax, "GNU.sparse.name", "back");
		pax_record(&pax, "GNU.sparse.realsize", "4194304");
		rf_buf_printf(&map, "2\n%zu\n%zu\n%zu\n10\n", run, run,
			      run + 100);
		raw_pad(&map);
		raw_header(&t.out, "PaxHeaders/back", 'x', pax.len);
		rf_buf_add(&t.out, pax.data, pax.len);
		raw_pad(&t.out);
		raw_header(&t.out, "GNUSparseFile.0/back", '0',
			   map.len + run + 10);
		rf_buf_add(&t.out, map.data, map.len);
		for (size_t i = 0; i < run + 10; i++)
			rf_buf_addch(&t.out, (char)('a' + i % 26));
		raw_pad(&t.out);
		{
			static const char end[1024]; /* the archive's end */

			rf_buf_add(&t.out, end, sizeof(end));
		}
		memset(&err, 0, sizeof(err));
		CU_ASSERT_EQUAL(fill(w, &t, true, &err), -EINVAL);
		CU_ASSERT(strstr(err.msg, "out of order") != NULL);
		rf_buf_free(&pax);
		rf_buf_free(&map);
		rf_buf_free(&t.out);
	}
	/* a symlink loop */
	tar_open(&t);
	put_link(&t, "loop", "loop/x");
	put_file(&t, "loop/y", 0644, "y", 1);
	tar_close(&t);
	memset(&err, 0, sizeof(err));
	CU_ASSERT_EQUAL(fill(w, &t, true, &err), -ELOOP);
	free(t.out.data);
	/* what was filled before is still a sound filesystem */
	CU_ASSERT_EQUAL(gen_fsw_close(w, &err), 0);
	CU_ASSERT_EQUAL(fsck(img), 0);
}

static void test_full(void)
{
	const char *img = mkfs("c.img", "16M");
	struct gen_fsw *w = NULL;
	struct rf_error err = {0};
	struct tarbuf t;
	size_t n = 24U << 20;
	unsigned char *data = rf_xmalloc(n);
	uint64_t used, left;

	for (size_t i = 0; i < n; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 11);
	tar_open(&t);
	put_file(&t, "small", 0644, "s", 1);
	put_file(&t, "huge", 0644, data, n);
	tar_close(&t);
	CU_ASSERT_EQUAL_FATAL(gen_fsw_open(img, &w, &err), 0);
	CU_ASSERT_EQUAL(fill(w, &t, false, &err), -ENOSPC);
	CU_ASSERT(strstr(err.msg, "huge") != NULL &&
		  strstr(err.msg, "full") != NULL);
	/* nothing of the failed batch holds blocks */
	gen_fsw_space(w, &used, &left);
	CU_ASSERT_EQUAL(used, 0);
	gen_fsw_free(w);
	free(t.out.data);
	free(data);
}

/* A second filesystem mounted at /srv: what goes under it is on it, even
 * through a symlink the reader could not see yet (the data moved), and a
 * hardlink across the mount point is a copy. */
static void test_mounted(void)
{
	char root[128], srv[128];
	struct gen_fsw *w = NULL;
	struct rf_error err = {0};
	struct tarbuf t;
	ext2_filsys fs;
	size_t n = 300000;
	unsigned char *data = rf_xmalloc(n);
	struct ext2_inode_large in;

	for (size_t i = 0; i < n; i++)
		data[i] = (unsigned char)(i * 7 + 3);
	snprintf(root, sizeof(root), "%s", mkfs("r.img", "64M"));
	snprintf(srv, sizeof(srv), "%s", mkfs("s.img", "64M"));
	tar_open(&t);
	put_dir(&t, "etc", 0755);
	put_file(&t, "etc/f", 0644, data, n);
	put_dir(&t, "srv/www", 0750);
	put_file(&t, "srv/www/index", 0644, "hello", 5);
	put_link(&t, "web", "srv/www");
	put_file(&t, "web/moved", 0600, data, n);
	put_hardlink(&t, "srv/www/f-link", "etc/f");
	tar_close(&t);
	CU_ASSERT_EQUAL_FATAL(gen_fsw_open(root, &w, &err), 0);
	CU_ASSERT_EQUAL_FATAL(gen_fsw_mount(w, "/srv", srv, &err), 0);
	CU_ASSERT_EQUAL(gen_fsw_mount(w, "/srv", srv, &err), -EEXIST);
	CU_ASSERT_EQUAL(fill(w, &t, false, &err), 0);
	if (err.msg[0])
		fprintf(stderr, "fill: %s\n", err.msg);
	CU_ASSERT_EQUAL_FATAL(gen_fsw_close(w, &err), 0);
	CU_ASSERT_EQUAL(fsck(root), 0);
	CU_ASSERT_EQUAL(fsck(srv), 0);

	fs = open_ro(srv);
	CU_ASSERT(holds(fs, "www/moved", data, n));
	CU_ASSERT(holds(fs, "www/f-link", data, n));
	CU_ASSERT_EQUAL(inode_of(fs, ino_of(fs, "www/f-link")).i_links_count, 1);
	CU_ASSERT_EQUAL(inode_of(fs, ino_of(fs, "www")).i_mode, S_IFDIR | 0750);
	CU_ASSERT(ino_of(fs, "www/index") != 0);
	CU_ASSERT(ino_of(fs, "lost+found") != 0);
	ext2fs_close_free(&fs);

	fs = open_ro(root);
	CU_ASSERT(holds(fs, "etc/f", data, n));
	CU_ASSERT_EQUAL(inode_of(fs, ino_of(fs, "etc/f")).i_links_count, 1);
	/* the mount point: an empty directory */
	in = inode_of(fs, ino_of(fs, "srv"));
	CU_ASSERT(LINUX_S_ISDIR(in.i_mode) && in.i_links_count == 2 &&
		  in.i_size == 4096);
	CU_ASSERT_EQUAL(ino_of(fs, "srv/www"), 0);
	CU_ASSERT_EQUAL(ino_of(fs, "web/moved"), 0); /* on /srv: not here */
	ext2fs_close_free(&fs);
	free(t.out.data);
	free(data);
}

/* A staged tree, as the staged path fills ext4 from it. */
static void test_tree(void)
{
	const char *img = mkfs("t.img", "64M");
	char top[128], p[1024];
	struct gen_fsw *w = NULL;
	struct rf_error err = {0};
	struct timespec ts[2] = {{1500000000, 42}, {1500000000, 42}};
	unsigned char *acl;
	size_t alen, n = 200000;
	unsigned char *data = rf_xmalloc(n);
	ext2_filsys fs;
	struct ext2_inode_large in;
	int fd;

	for (size_t i = 0; i < n; i++)
		data[i] = (unsigned char)(i * 13 + 1);
	snprintf(top, sizeof(top), "%s/tree", dir);
	snprintf(p, sizeof(p), "rm -rf %s && mkdir -p %s/d/e && mkfifo %s/d/fifo",
		 top, top, top);
	CU_ASSERT_EQUAL_FATAL(system(p), 0);
	/* a sparse file: data at 0 and at 5 MiB, 8 MiB long */
	snprintf(p, sizeof(p), "%s/d/sparse", top);
	fd = open(p, O_WRONLY | O_CREAT, 0640);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(pwrite(fd, data, n, 0), (ssize_t)n);
	CU_ASSERT_EQUAL(pwrite(fd, data, 100, 5 << 20), 100);
	CU_ASSERT_EQUAL(ftruncate(fd, 8 << 20), 0);
	CU_ASSERT_EQUAL(fsetxattr(fd, "user.k", "val", 3, 0), 0);
	CU_ASSERT_EQUAL_FATAL(gen_acl_from_text("u::rw-,u:77:r--,g::r--,m::r--,o::---",
						&acl, &alen),
			      0);
	CU_ASSERT_EQUAL(fsetxattr(fd, "system.posix_acl_access", acl, alen, 0),
			0);
	close(fd);
	CU_ASSERT_EQUAL(utimensat(AT_FDCWD, p, ts, 0), 0);
	snprintf(p, sizeof(p), "ln %s/d/sparse %s/d/e/link && ln -s ../sparse %s/d/e/sym && "
		 "chown 1234:5678 %s/d/e && chmod 2750 %s/d/e", top, top, top, top, top);
	CU_ASSERT_EQUAL_FATAL(system(p), 0);

	CU_ASSERT_EQUAL_FATAL(gen_fsw_open(img, &w, &err), 0);
	CU_ASSERT_EQUAL(gen_fsw_add_tree(w, top, &err), 0);
	if (err.msg[0])
		fprintf(stderr, "tree: %s\n", err.msg);
	CU_ASSERT_EQUAL_FATAL(gen_fsw_close(w, &err), 0);
	CU_ASSERT_EQUAL(fsck(img), 0);

	fs = open_ro(img);
	{
		size_t len = 0;
		unsigned char *got = content(fs, "d/sparse", &len);
		unsigned char zero[4096] = {0};

		CU_ASSERT_FATAL(got != NULL && len == (8 << 20));
		CU_ASSERT(memcmp(got, data, n) == 0);
		CU_ASSERT(memcmp(got + n, zero, sizeof(zero)) == 0);
		CU_ASSERT(memcmp(got + (5 << 20), data, 100) == 0);
		free(got);
	}
	in = inode_of(fs, ino_of(fs, "d/sparse"));
	/* 49 blocks of data and one at 5 MiB: the holes take none */
	CU_ASSERT_EQUAL(in.i_blocks, (49 + 1) * 8);
	CU_ASSERT_EQUAL(in.i_links_count, 2);
	CU_ASSERT_EQUAL(in.i_mode, S_IFREG | 0640);
	CU_ASSERT_EQUAL(in.i_mtime, 1500000000);
	CU_ASSERT_EQUAL(in.i_mtime_extra >> 2, 42);
	CU_ASSERT_EQUAL(ino_of(fs, "d/sparse"), ino_of(fs, "d/e/link"));
	CU_ASSERT(xattr_is(fs, "d/sparse", "user.k", "val", 3));
	CU_ASSERT(xattr_is(fs, "d/sparse", "system.posix_acl_access", acl,
			   alen));
	in = inode_of(fs, ino_of(fs, "d/e"));
	CU_ASSERT_EQUAL(in.i_mode, S_IFDIR | 02750);
	CU_ASSERT_EQUAL(in.i_uid, 1234);
	CU_ASSERT_EQUAL(in.i_gid, 5678);
	in = inode_of(fs, ino_of(fs, "d/e/sym"));
	CU_ASSERT(LINUX_S_ISLNK(in.i_mode) && in.i_size == 9 &&
		  memcmp(in.i_block, "../sparse", 9) == 0);
	CU_ASSERT(LINUX_S_ISFIFO(inode_of(fs, ino_of(fs, "d/fifo")).i_mode));
	CU_ASSERT(ino_of(fs, "lost+found") != 0);
	ext2fs_close_free(&fs);
	free(acl);
	free(data);
}

/* A directory whose leaves are more than its index root holds: two
 * levels, which e2fsck checks entry by entry. */
static void test_two_levels(void)
{
	const char *img = mkfs_n("h.img", "256M", 32768);
	struct gen_fsw *w = NULL;
	struct rf_error err = {0};
	struct tarbuf t;
	char name[160];
	ext2_filsys fs;
	struct ext2_inode_large in;
	const int count = 25000;

	tar_open(&t);
	put_dir(&t, "big", 0755);
	for (int i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "big/%06d-%s", i,
			 "an-entry-name-long-enough-that-a-leaf-holds-few-of-"
			 "them-and-the-root-cannot-hold-all-the-leaves");
		put_file(&t, name, 0644, NULL, 0);
	}
	tar_close(&t);
	CU_ASSERT_EQUAL_FATAL(gen_fsw_open(img, &w, &err), 0);
	CU_ASSERT_EQUAL(fill(w, &t, true, &err), 0);
	CU_ASSERT_EQUAL_FATAL(gen_fsw_close(w, &err), 0);
	if (err.msg[0])
		fprintf(stderr, "close: %s\n", err.msg);
	CU_ASSERT_EQUAL(fsck(img), 0);
	fs = open_ro(img);
	in = inode_of(fs, ino_of(fs, "big"));
	CU_ASSERT(in.i_flags & EXT2_INDEX_FL);
	CU_ASSERT(in.i_size > 4096 * 600); /* past one level's 507 leaves */
	for (int i = 0; i < count; i += 997) {
		snprintf(name, sizeof(name), "big/%06d-%s", i,
			 "an-entry-name-long-enough-that-a-leaf-holds-few-of-"
			 "them-and-the-root-cannot-hold-all-the-leaves");
		CU_ASSERT(ino_of(fs, name) != 0);
	}
	ext2fs_close_free(&fs);
	free(t.out.data);
}

static void test_cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CU_ASSERT_EQUAL(system(cmd), 0);
}

static CU_TestInfo tests[] = {
	{"a filled filesystem reads back as written", test_fill_and_read_back},
	{"bad entries refused, the filesystem sound", test_refused},
	{"a full filesystem is an error", test_full},
	{"a filesystem mounted in another", test_mounted},
	{"a staged tree", test_tree},
	{"a directory of two index levels", test_two_levels},
	{"cleanup", test_cleanup},
	CU_TEST_INFO_NULL,
};

RF_CUNIT_MAIN("gen_fsw")
