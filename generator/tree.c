/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Making the staged tree say what the report says: after the packages and
 * the overlay are unpacked, every file the report lists gets the owner,
 * mode, xattrs, ACLs and mtime recorded on the source, package files that
 * were missing there are removed, and hardlink groups are joined.
 *
 * Owners are the report's numeric uid and gid, which are what the source's
 * inodes held; the report's user and group names are the source's names
 * for them, and the image's etc/passwd and etc/group (unpacked from the
 * overlay or the packages) are the source's too, so ids and names agree on
 * the booted image without any mapping.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "buf.h"
#include "gen.h"
#include "rootfs.h"

#define ACL_XATTR_VERSION 2
#define ACL_UNDEFINED_ID 0xffffffffu

struct acl_ent {
	uint16_t tag, perm;
	uint32_t id;
};

static int acl_cmp(const void *a, const void *b)
{
	const struct acl_ent *x = a, *y = b;

	if (x->tag != y->tag)
		return x->tag < y->tag ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

int gen_acl_from_text(const char *text, unsigned char **out, size_t *len)
{
	struct acl_ent *ents = NULL;
	size_t n = 0;
	char *copy = rf_xstrdup(text), *save = NULL, *tok;
	int rc = -EINVAL;

	for (tok = strtok_r(copy, ",\n", &save); tok != NULL;
	     tok = strtok_r(NULL, ",\n", &save)) {
		char *c1 = strchr(tok, ':'), *c2, *end;
		struct acl_ent e = {0, 0, ACL_UNDEFINED_ID};
		bool qual;

		if (c1 == NULL || (c2 = strchr(c1 + 1, ':')) == NULL ||
		    strlen(c2 + 1) != 3 || n >= 1024)
			goto out;
		*c1 = '\0';
		qual = c2 > c1 + 1;
		if (qual) {
			unsigned long id;

			*c2 = '\0';
			errno = 0;
			id = strtoul(c1 + 1, &end, 10);
			if (errno != 0 || *end != '\0' || id >= ACL_UNDEFINED_ID)
				goto out;
			e.id = (uint32_t)id;
		}
		if (strcmp(tok, "u") == 0 || strcmp(tok, "user") == 0)
			e.tag = qual ? 0x02 : 0x01;
		else if (strcmp(tok, "g") == 0 || strcmp(tok, "group") == 0)
			e.tag = qual ? 0x08 : 0x04;
		else if ((strcmp(tok, "m") == 0 || strcmp(tok, "mask") == 0) &&
			 !qual)
			e.tag = 0x10;
		else if ((strcmp(tok, "o") == 0 || strcmp(tok, "other") == 0) &&
			 !qual)
			e.tag = 0x20;
		else
			goto out;
		for (int i = 0; i < 3; i++) {
			char want = "rwx"[i];

			if (c2[1 + i] == want)
				e.perm |= (uint16_t)(4 >> i);
			else if (c2[1 + i] != '-')
				goto out;
		}
		ents = rf_xrealloc(ents, (n + 1) * sizeof(*ents));
		ents[n++] = e;
	}
	if (n == 0)
		goto out;
	qsort(ents, n, sizeof(*ents), acl_cmp);
	*len = 4 + 8 * n;
	*out = rf_xmalloc(*len);
	{
		uint32_t v = htole32(ACL_XATTR_VERSION);

		memcpy(*out, &v, 4);
	}
	for (size_t i = 0; i < n; i++) {
		uint16_t tag = htole16(ents[i].tag), perm = htole16(ents[i].perm);
		uint32_t id = htole32(ents[i].id);
		unsigned char *p = *out + 4 + 8 * i;

		memcpy(p, &tag, 2);
		memcpy(p + 2, &perm, 2);
		memcpy(p + 4, &id, 4);
	}
	rc = 0;
out:
	free(ents);
	free(copy);
	return rc;
}

/* The path of base in the directory pfd for the l*xattr() calls, which
 * take no directory descriptor; never followed past base itself. */
static char *xpath(int pfd, const char *base)
{
	struct rf_buf b = RF_BUF_INIT;

	rf_buf_printf(&b, "/proc/self/fd/%d/%s", pfd, base);
	return rf_buf_detach(&b);
}

bool gen_file_has_xattr(const struct gen_file *f, const char *name)
{
	for (size_t i = 0; i < f->nxattrs; i++)
		if (strcmp(f->xattrs[i].name, name) == 0)
			return true;
	return false;
}

/* The ACL name of p as text says (NULL: none); has says whether p has
 * one now. */
static int set_acl(const char *p, const char *name, const char *text,
		   bool has, struct rf_error *err, const char *path)
{
	unsigned char *v = NULL;
	size_t len = 0;
	int rc = 0;

	if (text == NULL) {
		if (has && lremovexattr(p, name) < 0 && errno != ENODATA &&
		    errno != ENOTSUP)
			rc = rf_error_errno(err, -errno, "remove %s of /%s",
					    name, path);
		return rc;
	}
	if (gen_acl_from_text(text, &v, &len) < 0)
		return rf_error_set(err, -EINVAL, "/%s: bad ACL '%s'", path,
				    text);
	if (lsetxattr(p, name, v, len, 0) < 0)
		rc = rf_error_errno(err, -errno, "set %s of /%s", name, path);
	free(v);
	return rc;
}

/*
 * xattrs_too is false for the later members of a hardlink group: the
 * scanner records an inode's xattrs and ACLs with its first path only.
 */
static int apply_one(int pfd, const char *base, const struct gen_file *f,
		     bool xattrs_too, struct rf_error *err)
{
	bool lnk = S_ISLNK(f->type);
	char *p = xpath(pfd, base);
	char names[65536];
	ssize_t nl;
	struct timespec ts[2];
	bool has_access, has_default; /* ACLs the tree's file has now */
	int rc = 0;

	if (fchownat(pfd, base, f->uid, f->gid, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = rf_error_errno(err, -errno, "chown /%s", f->path);
		goto out;
	}
	if (!lnk && fchmodat(pfd, base, f->mode, 0) < 0) {
		rc = rf_error_errno(err, -errno, "chmod /%s", f->path);
		goto out;
	}
	/* xattrs the tree has and the source had not go (an ACL aside) */
	nl = xattrs_too ? llistxattr(p, names, sizeof(names)) : 0;
	/* the list failed: try the removals anyway */
	has_access = has_default = nl < 0;
	for (ssize_t i = 0; i < nl;) {
		const char *n = names + i;

		if (strcmp(n, "system.posix_acl_access") == 0)
			has_access = true;
		else if (strcmp(n, "system.posix_acl_default") == 0)
			has_default = true;
		else if (strncmp(n, "system.posix_acl_", 17) != 0 &&
			 !gen_file_has_xattr(f, n) && lremovexattr(p, n) < 0 && !lnk) {
			rc = rf_error_errno(err, -errno, "remove %s of /%s", n,
					    f->path);
			goto out;
		}
		i += (ssize_t)strlen(n) + 1;
	}
	for (size_t i = 0; i < f->nxattrs && xattrs_too; i++) {
		const struct gen_xattr *x = &f->xattrs[i];

		if (strncmp(x->name, "system.posix_acl_", 17) == 0)
			continue;
		if (lsetxattr(p, x->name, x->value, x->len, 0) < 0 && !lnk) {
			rc = rf_error_errno(err, -errno, "set %s of /%s",
					    x->name, f->path);
			goto out;
		}
	}
	if (!lnk && xattrs_too) {
		rc = set_acl(p, "system.posix_acl_access", f->acl_access,
			     has_access, err, f->path);
		if (rc == 0 && S_ISDIR(f->type))
			rc = set_acl(p, "system.posix_acl_default",
				     f->acl_default, has_default, err, f->path);
		if (rc < 0)
			goto out;
	}
	ts[0] = f->mtime;
	ts[1] = f->mtime;
	if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		rc = rf_error_errno(err, -errno, "set times of /%s", f->path);
out:
	free(p);
	return rc;
}

/* Make every member of each hardlink group (v, n: gen_link_members())
 * a link of its first. */
static int join_links(const struct gen_report *r, int rootfd,
		      const struct gen_link_member *v, size_t n,
		      struct rf_error *err)
{
	int rc = 0;

	for (size_t i = 0, k; i < n && rc == 0; i = k) {
		const struct gen_file *first = &r->files[v[i].index];
		const char *b1, *b2;
		struct stat s1, s2;
		int p1 = gen_open_parent(rootfd, first->path, &b1, false);

		for (k = i + 1; k < n && v[k].group == v[i].group; k++) {
			const struct gen_file *f = &r->files[v[k].index];
			int p2;

			if (rc < 0 || p1 < 0 || !S_ISREG(first->type) ||
			    !S_ISREG(f->type) ||
			    fstatat(p1, b1, &s1, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(s1.st_mode))
				continue;
			p2 = gen_open_parent(rootfd, f->path, &b2, false);
			if (p2 < 0)
				continue;
			if ((fstatat(p2, b2, &s2, AT_SYMLINK_NOFOLLOW) < 0 ||
			     s1.st_ino != s2.st_ino) &&
			    ((unlinkat(p2, b2, 0) < 0 && errno != ENOENT) ||
			     linkat(p1, b1, p2, b2, 0) < 0))
				rc = rf_error_errno(err, -errno,
						    "link /%s to /%s", f->path,
						    first->path);
			close(p2);
		}
		if (p1 >= 0)
			close(p1);
	}
	return rc;
}

static int member_cmp(const void *a, const void *b)
{
	const struct gen_link_member *x = a, *y = b;

	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

struct gen_link_member *gen_link_members(const struct gen_report *r,
					 size_t *n, unsigned char **first)
{
	struct gen_link_member *v = rf_xcalloc(r->nfiles + 1, sizeof(*v));

	*n = 0;
	for (size_t i = 0; i < r->nfiles; i++)
		if (r->files[i].link_group != 0 &&
		    r->files[i].cls != GEN_MISSING) {
			v[*n].group = r->files[i].link_group;
			v[(*n)++].index = i;
		}
	qsort(v, *n, sizeof(*v), member_cmp);
	if (first != NULL) {
		*first = rf_xcalloc(r->nfiles + 1, 1);
		for (size_t i = 0; i < *n; i++)
			if (i == 0 || v[i].group != v[i - 1].group)
				(*first)[v[i].index] = 1;
	}
	return v;
}

bool gen_path_under(const char *path, const char *mountpoint, size_t *len)
{
	const char *mp = mountpoint + 1; /* "/" → "", "/boot" → "boot" */
	size_t n = strlen(mp);

	*len = n;
	return n == 0 || (strncmp(path, mp, n) == 0 &&
			  (path[n] == '/' || path[n] == '\0'));
}

void gen_note_absent(struct rf_buf *absent, uint64_t *warnings,
		     const char *path)
{
	if (absent != NULL && *warnings < 20)
		rf_buf_printf(absent, "%s/%s", absent->len ? "\n" : "", path);
	(*warnings)++;
}

int gen_tree_apply(const struct gen_report *r, int rootfd,
		   uint64_t *warnings, struct rf_buf *absent,
		   struct rf_error *err)
{
	size_t n;
	unsigned char *first;
	struct gen_link_member *v = gen_link_members(r, &n, &first);
	int rc = 0;

	*warnings = 0;
	/* first everything that changes directories, then the metadata, so
	 * that directory mtimes end as recorded */
	for (size_t i = r->nfiles; i-- > 0;) {
		const struct gen_file *f = &r->files[i];
		const char *base;
		int pfd;
		struct stat st;

		if (f->cls != GEN_MISSING || f->path[0] == '\0')
			continue;
		pfd = gen_open_parent(rootfd, f->path, &base, false);
		if (pfd < 0)
			continue;
		if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    unlinkat(pfd, base, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) <
			    0 &&
		    errno != ENOTEMPTY && errno != EEXIST)
			rc = rf_error_errno(err, -errno, "remove /%s", f->path);
		close(pfd);
		if (rc < 0)
			goto out;
	}
	rc = join_links(r, rootfd, v, n, err);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < r->nfiles && rc == 0; i++) {
		const struct gen_file *f = &r->files[i];
		const char *base = ".";
		struct stat st;
		int pfd;

		if (f->cls == GEN_MISSING)
			continue;
		if (f->path[0] == '\0')
			pfd = dup(rootfd);
		else
			pfd = gen_open_parent(rootfd, f->path, &base, false);
		if (pfd < 0 || fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    (st.st_mode & S_IFMT) != f->type)
			gen_note_absent(absent, warnings, f->path);
		else
			rc = apply_one(pfd, base, f,
				       f->link_group == 0 || first[i], err);
		if (pfd >= 0)
			close(pfd);
	}
out:
	free(first);
	free(v);
	return rc;
}

int gen_tree_prepare(const struct gen_report *r, int rootfd,
		     struct rf_error *err)
{
	int rc = 0;

	for (size_t i = 0; i < r->nfiles && rc == 0; i++) {
		const struct gen_file *f = &r->files[i];
		const char *base;
		int pfd;

		if (f->cls == GEN_MISSING || f->path[0] == '\0' ||
		    !(S_ISDIR(f->type) ||
		      (S_ISLNK(f->type) && f->package != NULL)))
			continue;
		pfd = gen_open_parent(rootfd, f->path, &base, true);
		if (pfd < 0) {
			rc = rf_error_errno(err, pfd, "cannot prepare /%s",
					    f->path);
			break;
		}
		if (S_ISDIR(f->type) && mkdirat(pfd, base, 0755) < 0 &&
		    errno != EEXIST)
			rc = rf_error_errno(err, -errno, "mkdir /%s", f->path);
		if (S_ISLNK(f->type)) {
			char *t = f->target;

			if (t == NULL)
				rc = rf_error_set(err, -EINVAL, "/%s: a symlink "
						  "without target", f->path);
			else if (symlinkat(t, pfd, base) < 0 && errno != EEXIST)
				rc = rf_error_errno(err, -errno, "symlink /%s",
						    f->path);
		}
		close(pfd);
	}
	return rc;
}
