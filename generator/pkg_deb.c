/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Debian packages. A repository directory holds a Packages (or .gz, .xz)
 * index, whose Filename fields are relative to it and whose SHA256 fields
 * are verified, or else plain .deb files, whose control files name them.
 * A .deb is an ar archive whose member data.tar[.gz|.xz|.zst|.bz2] holds
 * the files; the member is read as a nested stream (no temporary file) and
 * handed to gen_extract().
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "buf.h"
#include "escape.h"
#include "pkg_kind.h"

/* Largest control file or Packages index read into memory. */
#define CONTROL_MAX (1u << 20)
#define INDEX_MAX (512u << 20)

/* The value of field in a control stanza (first line only), or NULL. */
static char *field(const char *stanza, size_t len, const char *name)
{
	size_t n = strlen(name);
	const char *p = stanza, *end = stanza + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - p) > n && strncasecmp(p, name, n) == 0 &&
		    p[n] == ':') {
			const char *v = p + n + 1, *ve = eol;

			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\r'))
				ve--;
			return rf_xstrndup(v, (size_t)(ve - v));
		}
		p = eol + 1;
	}
	return NULL;
}

/* Add the package a stanza describes; path is where its file is. */
static int add_stanza(struct gen_repo *repo, const char *st, size_t len,
		      const char *dir, const char *path)
{
	struct gen_repo_pkg p = {.kind = &gen_pkg_deb};
	char *sha = NULL, *fname = NULL;
	int rc = -EINVAL;

	p.name = field(st, len, "Package");
	p.version = field(st, len, "Version");
	p.arch = field(st, len, "Architecture");
	/* Pre-Depends must be there before, which a single dpkg -i of a
	 * set orders itself; both are needs */
	p.depends = field(st, len, "Depends");
	{
		char *pre = field(st, len, "Pre-Depends");

		if (pre != NULL) {
			struct rf_buf b = RF_BUF_INIT;

			rf_buf_printf(&b, "%s%s%s", pre, p.depends ? ", " : "",
				      p.depends ? p.depends : "");
			free(p.depends);
			free(pre);
			p.depends = rf_buf_detach(&b);
		}
	}
	p.provides = field(st, len, "Provides");
	if (p.name == NULL || p.version == NULL || p.arch == NULL)
		goto out;
	if (path != NULL) {
		p.path = rf_xstrdup(path);
	} else {
		const char *rel;
		struct rf_buf b = RF_BUF_INIT;

		fname = field(st, len, "Filename");
		if (fname == NULL || gen_name_check(fname, false, &rel) < 0)
			goto out;
		rf_buf_printf(&b, "%s/%s", dir, rel);
		p.path = rf_buf_detach(&b);
		sha = field(st, len, "SHA256");
		if (sha == NULL || strlen(sha) != 2 * RF_SHA256_LEN ||
		    rf_hex_decode(p.digest, RF_SHA256_LEN, sha) < 0)
			goto out; /* an index must say what to verify */
		p.algo = RF_DIGEST_SHA256;
	}
	gen_repo_push(repo, &p);
	rc = 0;
out:
	free(p.name);
	free(p.version);
	free(p.arch);
	free(p.path);
	free(p.depends);
	free(p.provides);
	free(sha);
	free(fname);
	return rc;
}

/* Reading one ar member as a stream of its own. */
static la_ssize_t member_read(struct archive *inner, void *ctx,
			      const void **buf)
{
	static __thread char block[65536];
	la_ssize_t n =
		archive_read_data((struct archive *)ctx, block, sizeof(block));

	(void)inner;
	*buf = block;
	return n;
}

/* Open the ar member the outer archive is positioned at. */
static struct archive *member_open(struct archive *outer)
{
	struct archive *in = archive_read_new();

	archive_read_support_filter_all(in);
	archive_read_support_format_tar(in);
	if (archive_read_open(in, outer, NULL, member_read, NULL) !=
	    ARCHIVE_OK) {
		archive_read_free(in);
		return NULL;
	}
	return in;
}

/* The data.tar member the outer archive is positioned at, decoded, to the
 * payload cache as it is unpacked. */
static int unpack_raw(const struct gen_repo_pkg *p, struct archive *outer,
		      struct gen_pkg_stream *s, const struct gen_dest *dest,
		      const struct gen_limits *lim, struct rf_error *err)
{
	struct archive *raw = archive_read_new();
	int rc;

	archive_read_support_filter_all(raw);
	archive_read_support_format_raw(raw);
	if (archive_read_open(raw, outer, NULL, member_read, NULL) !=
	    ARCHIVE_OK)
		rc = rf_error_set(err, -EINVAL, "unreadable data.tar: %s",
				  archive_error_string(raw));
	else
		rc = gen_pkg_unpack_raw(p, raw, s, dest, lim, err);
	archive_read_free(raw);
	return rc;
}

/* The control stanza of the .deb at path, into out. */
static int deb_control(const char *path, struct rf_buf *out,
		       struct rf_error *err)
{
	struct archive *a = archive_read_new(), *in = NULL;
	struct archive_entry *e;
	int rc = -ENOENT;

	archive_read_support_format_ar(a);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		rc = rf_error_set(err, -EIO, "%s: %s", path,
				  archive_error_string(a));
		goto out;
	}
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *n = archive_entry_pathname(e);

		if (n == NULL || strncmp(n, "control.tar", 11) != 0)
			continue;
		in = member_open(a);
		if (in == NULL)
			break;
		while (archive_read_next_header(in, &e) == ARCHIVE_OK) {
			n = archive_entry_pathname(e);
			if (n != NULL && (strcmp(n, "./control") == 0 ||
					  strcmp(n, "control") == 0)) {
				rc = gen_pkg_read_entry(in, CONTROL_MAX, out);
				goto out;
			}
		}
		break;
	}
out:
	if (rc == -ENOENT)
		rf_error_set(err, rc, "%s: no control file", path);
	else if (rc < 0 && err != NULL && err->code == 0)
		rf_error_set(err, rc, "%s: unreadable control file", path);
	archive_read_free(in);
	archive_read_free(a);
	return rc;
}

static int add_index(struct gen_repo *repo, const char *dir, const char *index,
		     struct rf_error *err)
{
	struct rf_buf b = RF_BUF_INIT;
	const char *p, *end;
	size_t line = 0;
	int rc;

	rc = gen_pkg_read_file(index, INDEX_MAX, &b, err);
	if (rc < 0)
		goto out;
	p = b.data;
	end = p ? p + b.len : p;
	while (p != NULL && p < end) {
		const char *sep = p;
		size_t len;

		/* a stanza ends at an empty line */
		while (sep < end) {
			const char *nl = memchr(sep, '\n', (size_t)(end - sep));

			if (nl == NULL) {
				sep = end;
				break;
			}
			if (nl + 1 < end && nl[1] == '\n') {
				sep = nl + 1;
				break;
			}
			sep = nl + 1;
		}
		len = (size_t)(sep - p);
		line++;
		if (len > 1 && add_stanza(repo, p, len, dir, NULL) < 0) {
			rc = rf_error_set(err, -EINVAL,
					  "%s: stanza %zu lacks Package, "
					  "Version, Architecture, Filename "
					  "or SHA256",
					  index, line);
			goto out;
		}
		p = sep;
		while (p < end && *p == '\n')
			p++;
	}
out:
	rf_buf_free(&b);
	return rc;
}

static int add_debs(struct gen_repo *repo, const char *dir,
		    struct rf_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0;

	if (d == NULL)
		return rf_error_errno(err, -errno, "cannot open %s", dir);
	while ((de = readdir(d)) != NULL) {
		struct rf_buf path = RF_BUF_INIT, ctl = RF_BUF_INIT;

		if (!gen_pkg_has_suffix(de->d_name, ".deb"))
			continue;
		rf_buf_printf(&path, "%s/%s", dir, de->d_name);
		rc = deb_control(path.data, &ctl, err);
		if (rc == 0 && add_stanza(repo, ctl.data ? ctl.data : "",
					  ctl.len, dir, path.data) < 0)
			rc = rf_error_set(err, -EINVAL, "%s: bad control file",
					  path.data);
		rf_buf_free(&path);
		rf_buf_free(&ctl);
		if (rc < 0)
			break;
	}
	closedir(d);
	return rc;
}

static int deb_add_dir(struct gen_repo *repo, const char *dir,
		       struct rf_error *err)
{
	static const char *const names[] = {"Packages", "Packages.gz",
					    "Packages.xz"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct rf_buf p = RF_BUF_INIT;
		int rc = 1;

		rf_buf_printf(&p, "%s/%s", dir, names[i]);
		if (access(p.data, R_OK) == 0)
			rc = add_index(repo, dir, p.data, err);
		rf_buf_free(&p);
		if (rc <= 0)
			return rc;
	}
	return add_debs(repo, dir, err);
}

static int deb_unpack(const struct gen_repo_pkg *p, struct gen_pkg_stream *s,
		      const struct gen_dest *dest, const struct gen_limits *lim,
		      struct rf_error *err)
{
	struct archive *a = archive_read_new(), *in = NULL;
	struct archive_entry *e;
	int rc;

	archive_read_support_format_ar(a);
	if (gen_pkg_stream_open(a, s) != ARCHIVE_OK) {
		rc = rf_error_set(err, -EINVAL, "%s", archive_error_string(a));
		goto out;
	}
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);

		if (name == NULL || strncmp(name, "data.tar", 8) != 0)
			continue;
		if (gen_pkg_stream_fill(s)) {
			rc = unpack_raw(p, a, s, dest, lim, err);
			goto out;
		}
		in = member_open(a);
		if (in == NULL) {
			rc = rf_error_set(err, -EINVAL, "unreadable %s", name);
			goto out;
		}
		rc = gen_extract(in, dest, lim, NULL, NULL, NULL, err);
		goto out;
	}
	rc = rf_error_set(err, -EINVAL, "no data.tar member");
out:
	archive_read_free(in);
	archive_read_free(a);
	return rc;
}

const struct gen_pkg_kind gen_pkg_deb = {
	.name = "deb",
	.db = "dpkg",
	.add_dir = deb_add_dir,
	.unpack = deb_unpack,
	.payload_format = archive_read_support_format_tar,
};
