/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Safe extraction of untrusted archives into a staging root; the policy is
 * in extract.h.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "buf.h"
#include "extract.h"
#include "fsw.h"
#include "rootfs.h"

#define RATIO_FLOOR (64ULL << 20)

void gen_limits_default(struct gen_limits *l)
{
	l->max_entries = 10000000;
	l->max_bytes = 1ULL << 40;
	l->max_file_size = 1ULL << 40;
	l->max_ratio = 1000;
}

int gen_name_check(const char *name, bool allow_abs, const char **out)
{
	const char *p;
	size_t len;

	if (name == NULL)
		return -EINVAL;
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	if (allow_abs)
		while (*name == '/')
			name++;
	len = strlen(name);
	if (len == 0 || len > GEN_NAME_MAX || name[0] == '/')
		return -EINVAL;
	for (p = name; *p != '\0';) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -EINVAL;
		if (n > NAME_MAX)
			return -ENAMETOOLONG;
		p += n;
		while (*p == '/')
			p++;
	}
	*out = name;
	return 0;
}

int gen_open_parent(int rootfd, const char *name, const char **base,
		    bool create)
{
	char *dir = NULL, *slash;
	int fd = -EINVAL;
	size_t len = strlen(name);

	/* a trailing slash belongs to a directory entry, not to its name */
	while (len > 1 && name[len - 1] == '/')
		len--;
	dir = rf_xstrndup(name, len);
	slash = strrchr(dir, '/');
	if (slash == NULL) {
		*base = name;
		fd = rf_root_open(rootfd, ".", O_PATH | O_DIRECTORY);
		goto out;
	}
	*base = name + (slash - dir) + 1;
	*slash = '\0';
	fd = rf_root_open(rootfd, dir, O_PATH | O_DIRECTORY);
	if (fd == -ENOENT && create) {
		const char *sub;
		int pfd = gen_open_parent(rootfd, dir, &sub, true);

		if (pfd < 0) {
			fd = pfd;
			goto out;
		}
		if (mkdirat(pfd, sub, 0755) < 0 && errno != EEXIST) {
			fd = -errno;
			close(pfd);
			goto out;
		}
		close(pfd);
		fd = rf_root_open(rootfd, dir, O_PATH | O_DIRECTORY);
	}
out:
	free(dir);
	return fd;
}

static int remove_at(int parent, const char *name, bool recurse, int depth)
{
	struct stat st;
	int fd = -1, rc = 0;
	DIR *d = NULL;
	struct dirent *de;

	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(parent, name, 0) < 0 ? -errno : 0;
	if (unlinkat(parent, name, AT_REMOVEDIR) == 0)
		return 0;
	if (!recurse || errno != ENOTEMPTY)
		return -errno;
	if (depth > 4096)
		return -ELOOP;
	fd = openat(parent, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rc = remove_at(dirfd(d), de->d_name, true, depth + 1);
		if (rc < 0)
			break;
	}
	closedir(d);
	if (rc == 0 && unlinkat(parent, name, AT_REMOVEDIR) < 0)
		rc = -errno;
	return rc;
}

int gen_remove_tree(int dirfd, const char *name)
{
	return remove_at(dirfd, name, true, 0);
}

/* Make room at name for an entry of type mode. */
static int make_room(int pfd, const char *name, mode_t mode, bool *keep)
{
	struct stat st;

	*keep = false;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(mode) && (S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode))) {
		*keep = true;
		return 0;
	}
	return remove_at(pfd, name, false, 0);
}

int gen_extract_size(struct archive_entry *e, const char *name,
		     const struct gen_limits *lim, uint64_t *size,
		     struct rf_error *err)
{
	int64_t s = archive_entry_size(e);

	if (s < 0 || (uint64_t)s > lim->max_file_size)
		return rf_error_set(err, -EFBIG,
				    "%s: size %lld over the cap of %llu", name,
				    (long long)s,
				    (unsigned long long)lim->max_file_size);
	*size = (uint64_t)s;
	return 0;
}

int gen_extract_chunk(struct archive *a, const char *name, uint64_t size,
		      int64_t off, size_t len, const struct gen_limits *lim,
		      uint64_t *total, struct rf_error *err)
{
	if (off < 0 || (uint64_t)off > size || len > size - (uint64_t)off)
		return rf_error_set(err, -EINVAL,
				    "%s: data beyond the entry's size", name);
	*total += len;
	if (*total > lim->max_bytes)
		return rf_error_set(err, -EFBIG,
				    "%s: more than %llu bytes unpacked (cap)",
				    name, (unsigned long long)lim->max_bytes);
	if (*total > RATIO_FLOOR &&
	    *total / lim->max_ratio > (uint64_t)archive_filter_bytes(a, -1))
		return rf_error_set(err, -EFBIG,
				    "%s: compression ratio over %llu:1 (cap)",
				    name, (unsigned long long)lim->max_ratio);
	return 0;
}

static int write_data(struct archive *a, int fd, uint64_t size,
		      const struct gen_limits *lim, uint64_t *total,
		      struct rf_error *err, const char *name)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;

	for (;;) {
		r = archive_read_data_block(a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return rf_error_set(err, -EIO, "%s: %s", name,
					    archive_error_string(a));
		r = gen_extract_chunk(a, name, size, off, len, lim, total, err);
		if (r < 0)
			return r;
		while (len > 0) {
			ssize_t n = pwrite(fd, buf, len, off);

			if (n < 0)
				return rf_error_errno(err, -errno, "write %s",
						      name);
			buf = (const char *)buf + n;
			len -= (size_t)n;
			off += n;
		}
	}
	if (ftruncate(fd, (off_t)size) < 0)
		return rf_error_errno(err, -errno, "truncate %s", name);
	return 0;
}

/* Owner, mode, xattrs and times of name in pfd, from the entry. */
static int set_meta(int pfd, const char *name, struct archive_entry *e,
		    struct rf_error *err, const char *full)
{
	mode_t type = archive_entry_filetype(e);
	bool lnk = type == AE_IFLNK;
	struct timespec ts[2];
	char proc[64];
	const char *xname;
	const void *xval;
	size_t xlen;
	struct rf_buf path = RF_BUF_INIT;
	int rc = 0;

	if (fchownat(pfd, name, (uid_t)archive_entry_uid(e),
		     (gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
		return rf_error_errno(err, -errno, "chown %s", full);
	if (!lnk && fchmodat(pfd, name, archive_entry_perm(e) & 07777, 0) < 0)
		return rf_error_errno(err, -errno, "chmod %s", full);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d/", pfd);
	rf_buf_addstr(&path, proc);
	rf_buf_addstr(&path, name);
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &xname, &xval, &xlen) ==
	       ARCHIVE_OK) {
		if (lsetxattr(path.data, xname, xval, xlen, 0) < 0 && !lnk) {
			rc = rf_error_errno(err, -errno, "xattr %s on %s",
					    xname, full);
			goto out;
		}
	}
	ts[0].tv_sec = archive_entry_mtime(e);
	ts[0].tv_nsec = archive_entry_mtime_nsec(e);
	ts[1] = ts[0];
	if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		rc = rf_error_errno(err, -errno, "set times of %s", full);
out:
	rf_buf_free(&path);
	return rc;
}

/*
 * The data a hardlink entry carries (cpio's newc format, as in rpm
 * payloads, puts it on the last link of a file) goes into the file just
 * linked: base in pfd, opened without following anything, and only when it
 * is a regular file. The target was found inside the root, so this writes
 * nowhere else.
 */
static int link_data(struct archive *a, struct archive_entry *e, int pfd,
		     const char *base, const char *name,
		     const struct gen_limits *lim, uint64_t *total,
		     struct rf_error *err)
{
	uint64_t size = 0;
	struct stat st;
	int fd, rc;

	rc = gen_extract_size(e, name, lim, &size, err);
	if (rc < 0)
		return rc;
	fd = openat(pfd, base, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return rf_error_errno(err, -errno, "open %s", name);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = rf_error_set(err, -EINVAL, "%s: data for a hardlink to "
				  "what is not a regular file", name);
		goto out;
	}
	rc = write_data(a, fd, size, lim, total, err, name);
out:
	close(fd);
	return rc;
}

static int extract_one(struct archive *a, struct archive_entry *e,
		       int rootfd, const char *name, const struct gen_limits *lim,
		       uint64_t *total, struct rf_error *err)
{
	const char *base, *hl = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	int pfd = -1, fd = -1, rc;
	bool keep;

	pfd = gen_open_parent(rootfd, name, &base, true);
	if (pfd < 0)
		return rf_error_errno(err, pfd, "cannot open the directory of %s",
				      name);
	if (strcmp(base, ".") == 0 || *base == '\0') {
		/* the root itself: metadata only */
		rc = type == AE_IFDIR ? 0
				      : rf_error_set(err, -EINVAL,
						     "%s: the root is a "
						     "directory", name);
		goto out;
	}
	if (hl != NULL) {
		const char *hname, *tbase;
		int tfd;

		rc = gen_name_check(hl, false, &hname);
		if (rc < 0) {
			rc = rf_error_set(err, rc, "%s: hardlink to a bad "
					  "name", name);
			goto out;
		}
		tfd = gen_open_parent(rootfd, hname, &tbase, false);
		if (tfd < 0) {
			rc = rf_error_errno(err, tfd, "%s: hardlink target %s",
					    name, hname);
			goto out;
		}
		rc = make_room(pfd, base, S_IFREG, &keep);
		if (rc == 0 && linkat(tfd, tbase, pfd, base, 0) < 0)
			rc = -errno;
		close(tfd);
		if (rc < 0) {
			rc = rf_error_errno(err, rc, "link %s to %s", name,
					    hname);
			goto out;
		}
		if (archive_entry_size_is_set(e) &&
		    archive_entry_size(e) > 0)
			rc = link_data(a, e, pfd, base, name, lim, total, err);
		goto out;
	}
	rc = make_room(pfd, base, type, &keep);
	if (rc < 0) {
		rc = rf_error_errno(err, rc, "cannot replace %s", name);
		goto out;
	}
	switch (type) {
	case AE_IFREG: {
		uint64_t size = 0;

		rc = gen_extract_size(e, name, lim, &size, err);
		if (rc < 0)
			goto out;
		fd = openat(pfd, base,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0600);
		if (fd < 0) {
			rc = rf_error_errno(err, -errno, "create %s", name);
			goto out;
		}
		rc = write_data(a, fd, size, lim, total, err, name);
		break;
	}
	case AE_IFDIR:
		if (!keep && mkdirat(pfd, base, 0700) < 0)
			rc = rf_error_errno(err, -errno, "mkdir %s", name);
		if (keep) {
			struct stat st;

			/* a kept symlink gets nothing of the entry's */
			if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				goto out;
		}
		break;
	case AE_IFLNK: {
		const char *t = archive_entry_symlink(e);

		if (t == NULL || symlinkat(t, pfd, base) < 0)
			rc = rf_error_errno(err, t ? -errno : -EINVAL,
					    "symlink %s", name);
		break;
	}
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
	case AE_IFSOCK:
		if (mknodat(pfd, base, type | 0600, archive_entry_rdev(e)) < 0)
			rc = rf_error_errno(err, -errno, "mknod %s", name);
		break;
	default:
		rc = rf_error_set(err, -EINVAL, "%s: unknown entry type 0%o",
				  name, (unsigned)type);
	}
	if (rc == 0)
		rc = set_meta(pfd, base, e, err, name);
out:
	if (fd >= 0)
		close(fd);
	if (pfd >= 0)
		close(pfd);
	return rc;
}

int gen_extract(struct archive *a, const struct gen_dest *dest,
		const struct gen_limits *lim, gen_extract_skip_fn skip,
		void *skip_ctx, struct gen_extract_stats *stats,
		struct rf_error *err)
{
	struct archive_entry *e;
	uint64_t entries = 0, total = 0;
	int rc = 0, r;

	for (;;) {
		const char *raw, *name;
		char *copy;
		size_t len;

		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			rc = rf_error_set(err, -EIO, "bad archive: %s",
					  archive_error_string(a));
			break;
		}
		if (++entries > lim->max_entries) {
			rc = rf_error_set(err, -EFBIG,
					  "more than %llu entries (cap)",
					  (unsigned long long)lim->max_entries);
			break;
		}
		raw = archive_entry_pathname(e);
		if (raw != NULL && (strcmp(raw, ".") == 0 ||
				    strcmp(raw, "./") == 0))
			continue; /* the root: its metadata comes from the report */
		rc = gen_name_check(raw, false, &name);
		if (rc < 0) {
			rc = rf_error_set(err, rc, "refused entry name '%s'",
					  raw ? raw : "(none)");
			break;
		}
		if (skip != NULL && skip(skip_ctx, name))
			continue;
		/* a directory's trailing slash would make the *at() calls
		 * follow a symlink left at that name */
		copy = rf_xstrdup(name);
		len = strlen(copy);
		while (len > 1 && copy[len - 1] == '/')
			copy[--len] = '\0';
		if (dest->batch != NULL)
			rc = gen_fsw_read(a, e, dest->batch, copy, lim, &total,
					  err);
		else
			rc = extract_one(a, e, dest->rootfd, copy, lim, &total,
					 err);
		free(copy);
		if (rc < 0)
			break;
	}
	if (stats != NULL) {
		stats->entries = entries;
		stats->bytes = total;
	}
	return rc;
}
