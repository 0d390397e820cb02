/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pacman packages. A repository directory holds a database made by
 * repo-add, NAME.db (a tar, compressed or not, of one NAME-VERSION/desc
 * per package, whose %FILENAME% is in the directory and whose %SHA256SUM%
 * is verified), or else plain .pkg.tar[.zst|.xz|.gz|.bz2] files, whose
 * .PKGINFO names them (nothing to verify then).
 *
 * A package is a tar of the files plus metadata members at its top
 * (.PKGINFO, .MTREE, .BUILDINFO, .INSTALL, .CHANGELOG); pacman extracts no
 * top-level name that starts with a dot, and neither does this.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>

#include "buf.h"
#include "escape.h"
#include "pkg_kind.h"

#define DESC_MAX (1u << 20)
#define DB_ENTRIES_MAX 10000000

/* Appends v to a comma-separated list. */
static void list_add(char **list, const char *v, size_t n)
{
	struct rf_buf b = RF_BUF_INIT;

	if (*list != NULL)
		rf_buf_printf(&b, "%s, ", *list);
	rf_buf_add(&b, v, n);
	free(*list);
	*list = rf_buf_detach(&b);
}

/* "[epoch:]pkgver-pkgrel" into p's epoch and version, as the scanner
 * splits it (the epoch only when it is all digits). */
static void split_version(struct gen_repo_pkg *p, const char *full)
{
	const char *colon = strchr(full, ':');
	bool digits = colon != NULL && colon != full;

	for (const char *c = full; digits && c < colon; c++)
		digits = isdigit((unsigned char)*c) != 0;
	free(p->epoch);
	free(p->version);
	p->epoch = digits ? rf_xstrndup(full, (size_t)(colon - full)) : NULL;
	p->version = rf_xstrdup(digits ? colon + 1 : full);
}

/* Checks p (from a desc or .PKGINFO) and adds it to repo. */
static int push(struct gen_repo *repo, struct gen_repo_pkg *p, const char *what,
		struct rf_error *err)
{
	if (p->name == NULL || p->version == NULL || p->arch == NULL ||
	    p->path == NULL)
		return rf_error_set(err, -EBADMSG,
				    "%s lacks the name, version, arch or "
				    "file name of a package",
				    what);
	p->kind = &gen_pkg_pacman;
	gen_repo_push(repo, p);
	return 0;
}

/*
 * One desc file: "%FIELD%" lines, each followed by its values, one a line,
 * up to an empty line.
 */
static int parse_desc(struct gen_repo *repo, const char *dir, const char *text,
		      size_t len, const char *what, struct rf_error *err)
{
	struct gen_repo_pkg p = {0};
	const char *s = text, *end = text + len, *field = NULL;
	char *sha = NULL, *file = NULL;
	size_t flen = 0;
	int rc = -EBADMSG;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *eol = nl ? nl : end;
		size_t n = (size_t)(eol - s);

		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n == 0) {
			field = NULL;
		} else if (n > 2 && s[0] == '%' && s[n - 1] == '%') {
			field = s + 1;
			flen = n - 2;
		} else if (field != NULL) {
#define IS(want) (flen == sizeof(want) - 1 && memcmp(field, want, flen) == 0)
			char *v = rf_xstrndup(s, n);

			if (IS("FILENAME") && file == NULL)
				file = v, v = NULL;
			else if (IS("NAME") && p.name == NULL)
				p.name = v, v = NULL;
			else if (IS("VERSION") && p.version == NULL)
				split_version(&p, v);
			else if (IS("ARCH") && p.arch == NULL)
				p.arch = v, v = NULL;
			else if (IS("SHA256SUM") && sha == NULL)
				sha = v, v = NULL;
			else if (IS("DEPENDS"))
				list_add(&p.depends, s, n);
			else if (IS("PROVIDES"))
				list_add(&p.provides, s, n);
#undef IS
			free(v);
		}
		s = nl ? nl + 1 : end;
	}
	if (file != NULL) {
		const char *rel;
		struct rf_buf path = RF_BUF_INIT;

		if (strchr(file, '/') != NULL ||
		    gen_name_check(file, false, &rel) < 0) {
			rc = rf_error_set(err, -EBADMSG,
					  "%s: unsafe %%FILENAME%% '%s'", what,
					  file);
			goto out;
		}
		rf_buf_printf(&path, "%s/%s", dir, rel);
		p.path = rf_buf_detach(&path);
	}
	if (sha == NULL || strlen(sha) != 2 * RF_SHA256_LEN ||
	    rf_hex_decode(p.digest, RF_SHA256_LEN, sha) < 0) {
		rc = rf_error_set(err, -EBADMSG, "%s: no valid %%SHA256SUM%%",
				  what);
		goto out;
	}
	p.algo = RF_DIGEST_SHA256;
	rc = push(repo, &p, what, err);
out:
	gen_repo_pkg_clear(&p);
	free(sha);
	free(file);
	return rc;
}

/* Every desc file of the database at path. */
static int add_db(struct gen_repo *repo, const char *dir, const char *path,
		  struct rf_error *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct rf_buf b = RF_BUF_INIT;
	uint64_t entries = 0;
	int rc = 0, r;

	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_empty(a);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		rc = rf_error_set(err, -EBADMSG, "%s: %s", path,
				  archive_error_string(a));
		goto out;
	}
	while (rc == 0 &&
	       (r = archive_read_next_header(a, &e)) != ARCHIVE_EOF) {
		const char *name = archive_entry_pathname(e);

		if (r < ARCHIVE_WARN || ++entries > DB_ENTRIES_MAX) {
			rc = rf_error_set(err, -EBADMSG, "%s: %s", path,
					  r < ARCHIVE_WARN
						  ? archive_error_string(a)
						  : "too many entries");
			break;
		}
		if (name == NULL || archive_entry_filetype(e) != AE_IFREG ||
		    !(gen_pkg_has_suffix(name, "/desc")))
			continue;
		rf_buf_reset(&b);
		rc = gen_pkg_read_entry(a, DESC_MAX, &b);
		if (rc < 0) {
			rc = rf_error_set(err, rc, "%s: unreadable %s", path,
					  name);
			break;
		}
		rc = parse_desc(repo, dir, b.data ? b.data : "", b.len, name,
				err);
		if (rc < 0)
			rf_error_prefix(err, "%s", path);
	}
out:
	rf_buf_free(&b);
	archive_read_free(a);
	return rc;
}

/* The package a .PKGINFO ("key = value" lines) describes. */
static int parse_pkginfo(struct gen_repo *repo, const char *path,
			 const char *text, size_t len, struct rf_error *err)
{
	struct gen_repo_pkg p = {0};
	const char *s = text, *end = text + len;
	int rc;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *eol = nl ? nl : end, *eq;
		size_t klen;

		eq = memchr(s, '=', (size_t)(eol - s));
		if (*s != '#' && eq != NULL) {
			const char *k = s, *v = eq + 1, *ve = eol;
			char *val;

			while (eq > k && eq[-1] == ' ')
				eq--;
			klen = (size_t)(eq - k);
			while (v < ve && *v == ' ')
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\r'))
				ve--;
			val = rf_xstrndup(v, (size_t)(ve - v));
#define IS(want) (klen == sizeof(want) - 1 && memcmp(k, want, klen) == 0)
			if (IS("pkgname") && p.name == NULL)
				p.name = val, val = NULL;
			else if (IS("pkgver") && p.version == NULL)
				split_version(&p, val);
			else if (IS("arch") && p.arch == NULL)
				p.arch = val, val = NULL;
			else if (IS("depend"))
				list_add(&p.depends, v, (size_t)(ve - v));
			else if (IS("provides"))
				list_add(&p.provides, v, (size_t)(ve - v));
#undef IS
			free(val);
		}
		s = nl ? nl + 1 : end;
	}
	p.path = rf_xstrdup(path);
	rc = push(repo, &p, path, err);
	gen_repo_pkg_clear(&p);
	return rc;
}

static int read_pkginfo(struct gen_repo *repo, const char *path,
			struct rf_error *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct rf_buf b = RF_BUF_INIT;
	int rc = -EBADMSG, r;

	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		rc = rf_error_set(err, -EBADMSG, "%s: %s", path,
				  archive_error_string(a));
		goto out;
	}
	/* makepkg writes it first; look a little further, not through the
	 * whole package */
	for (int i = 0; i < 8; i++) {
		const char *name;

		r = archive_read_next_header(a, &e);
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			break;
		name = archive_entry_pathname(e);
		if (name == NULL || strcmp(name, ".PKGINFO") != 0)
			continue;
		rc = gen_pkg_read_entry(a, DESC_MAX, &b);
		if (rc < 0) {
			rc = rf_error_set(err, rc, "%s: unreadable .PKGINFO",
					  path);
			goto out;
		}
		rc = parse_pkginfo(repo, path, b.data ? b.data : "", b.len,
				   err);
		goto out;
	}
	rc = rf_error_set(err, -EBADMSG, "%s: no .PKGINFO%s%s", path,
			  archive_error_string(a) ? ": " : "",
			  archive_error_string(a) ? archive_error_string(a)
						  : "");
out:
	rf_buf_free(&b);
	archive_read_free(a);
	return rc;
}

/* Whether name is a package file (.pkg.tar and a compression, no .sig). */
static bool is_package(const char *name)
{
	const char *t = strstr(name, ".pkg.tar");

	return t != NULL && t != name && !gen_pkg_has_suffix(name, ".sig") &&
	       strchr(t + 8, '/') == NULL &&
	       (t[8] == '\0' || (t[8] == '.' && strchr(t + 9, '.') == NULL));
}

static int pacman_add_dir(struct gen_repo *repo, const char *dir,
			  struct rf_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool have_db = false;
	int rc = 0;

	if (d == NULL)
		return rf_error_errno(err, -errno, "cannot open %s", dir);
	/* the databases first: with one, the loose files are not read */
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		rewinddir(d);
		while (rc == 0 && (de = readdir(d)) != NULL) {
			struct rf_buf path = RF_BUF_INIT;

			if (pass == 0 ? !gen_pkg_has_suffix(de->d_name, ".db")
				      : have_db || !is_package(de->d_name))
				continue;
			rf_buf_printf(&path, "%s/%s", dir, de->d_name);
			if (pass == 0) {
				rc = add_db(repo, dir, path.data, err);
				have_db = true;
			} else {
				rc = read_pkginfo(repo, path.data, err);
			}
			rf_buf_free(&path);
		}
	}
	closedir(d);
	return rc;
}

/* pacman's rule: no top-level name that starts with a dot. */
static bool skip_metadata(void *ctx, const char *name)
{
	(void)ctx;
	return name[0] == '.' && strchr(name, '/') == NULL;
}

static int pacman_unpack(const struct gen_repo_pkg *p, struct gen_pkg_stream *s,
			 const struct gen_dest *dest, const struct gen_limits *lim,
			 struct rf_error *err)
{
	return gen_pkg_unpack_stream(p, s, archive_read_support_filter_all,
				     "a pacman package", dest, lim, err);
}

const struct gen_pkg_kind gen_pkg_pacman = {
	.name = "pacman",
	.db = "alpm",
	.add_dir = pacman_add_dir,
	.unpack = pacman_unpack,
	.payload_format = archive_read_support_format_tar,
	.skip = skip_metadata,
};
