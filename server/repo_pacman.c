/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pacman repositories: URL/DB.db is a tar archive (gzip, zstd, xz...) with
 * one NAME-VERSION/desc file per package, whose %FIELD% blocks give the
 * file name, version, architecture, size and checksums. DB is the suite, or
 * the repository's name. There is no checksum over the .db itself, so only
 * its signature (DB.db.sig, checked when there is a keyring) vouches for it;
 * every package file has its SHA-256.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "repo_private.h"

struct desc {
	char filename[1024], name[256], version[256], arch[64];
	char sha256[65], md5[33];
	int64_t csize;
};

static int set(char *dst, size_t size, const char *v, size_t n)
{
	if (n >= size)
		return -1;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

int srv_repo_pacman_parse_desc(const char *text, size_t len,
			       srv_repo_emit_fn emit, void *arg,
			       struct rf_error *err)
{
	const char *p = text, *end = text + len, *field = NULL;
	size_t flen = 0;
	struct desc d;
	char epoch[24] = "", *ver, *rel;
	struct srv_repo_pkg pkg;
	int bad = 0;

	memset(&d, 0, sizeof(d));
	d.csize = -1;
	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		const char *eol = nl ? nl : end;
		size_t n = eol - p;

		if (n && eol[-1] == '\r')
			n--;
		if (n == 0) {
			field = NULL;
		} else if (n > 2 && p[0] == '%' && p[n - 1] == '%') {
			field = p + 1;
			flen = n - 2;
		} else if (field) {
#define F(want) (flen == sizeof(want) - 1 && memcmp(field, want, flen) == 0)
			if (F("FILENAME"))
				bad |= set(d.filename, sizeof(d.filename), p,
					   n);
			else if (F("NAME"))
				bad |= set(d.name, sizeof(d.name), p, n);
			else if (F("VERSION"))
				bad |= set(d.version, sizeof(d.version), p, n);
			else if (F("ARCH"))
				bad |= set(d.arch, sizeof(d.arch), p, n);
			else if (F("SHA256SUM"))
				bad |= set(d.sha256, sizeof(d.sha256), p, n);
			else if (F("MD5SUM"))
				bad |= set(d.md5, sizeof(d.md5), p, n);
			else if (F("CSIZE")) {
				char num[24], *e;

				bad |= set(num, sizeof(num), p, n);
				if (!bad) {
					errno = 0;
					d.csize = strtoll(num, &e, 10);
					if (errno || *e || d.csize < 0)
						bad = 1;
				}
			}
#undef F
			field = NULL; /* the first value of a field counts */
		}
		p = nl ? nl + 1 : end;
	}
	if (bad)
		return rf_error_set(err, -EBADMSG,
				    "desc of '%s': a field is malformed or too "
				    "long",
				    d.name);
	if (!d.filename[0] || !d.name[0] || !d.version[0] || !d.arch[0] ||
	    (!d.sha256[0] && !d.md5[0]))
		return rf_error_set(err, -EBADMSG,
				    "desc of '%s' lacks FILENAME, NAME, "
				    "VERSION, ARCH or a checksum",
				    d.name);
	if (!srv_repo_location_ok(d.filename) || strchr(d.filename, '/'))
		return rf_error_set(err, -EBADMSG,
				    "desc of '%s': unsafe FILENAME '%s'",
				    d.name, d.filename);
	/* [epoch:]pkgver-pkgrel */
	ver = d.version;
	{
		char *colon = strchr(ver, ':');

		if (colon && colon != ver &&
		    (size_t)(colon - ver) < sizeof(epoch)) {
			bool digits = true;

			for (char *c = ver; c < colon; c++)
				digits &= isdigit((unsigned char)*c) != 0;
			if (digits) {
				memcpy(epoch, ver, colon - ver);
				epoch[colon - ver] = '\0';
				ver = colon + 1;
			}
		}
	}
	rel = strrchr(ver, '-');
	if (rel == NULL || rel == ver || rel[1] == '\0')
		return rf_error_set(err, -EBADMSG,
				    "desc of '%s': version '%s' has no release",
				    d.name, d.version);
	*rel++ = '\0';
	pkg = (struct srv_repo_pkg){
		.name = d.name,
		.epoch = epoch,
		.version = ver,
		.release = rel,
		.arch = d.arch,
		.size = d.csize,
		.algo = d.sha256[0] ? "sha256" : "md5",
		.checksum = d.sha256[0] ? d.sha256 : d.md5,
		.location = d.filename,
	};
	return emit(arg, &pkg, err);
}

int srv_repo_pacman_parse_db(const void *data, size_t len,
			     srv_repo_emit_fn emit, void *arg,
			     struct rf_error *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct rf_buf desc = RF_BUF_INIT;
	int rc = 0, r;

	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_empty(a);
	if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
		rc = rf_error_set(err, -EBADMSG, "not a pacman database: %s",
				  archive_error_string(a));
		goto out;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *path = archive_entry_pathname(e);
		const char *slash = path ? strrchr(path, '/') : NULL;
		la_ssize_t n;

		if (slash == NULL || strcmp(slash, "/desc") != 0 ||
		    archive_entry_filetype(e) != AE_IFREG)
			continue;
		/* a desc is a few kB; bound it against hostile archives */
		if (archive_entry_size(e) > (1 << 20)) {
			rc = rf_error_set(err, -EBADMSG,
					  "%s: desc larger than 1 MiB", path);
			goto out;
		}
		rf_buf_reset(&desc);
		for (;;) {
			rf_buf_grow(&desc, 1 << 14);
			n = archive_read_data(a, desc.data + desc.len, 1 << 14);
			if (n < 0) {
				rc = rf_error_set(err, -EBADMSG,
						  "pacman database is corrupt "
						  "or truncated: %s",
						  archive_error_string(a));
				goto out;
			}
			if (n == 0)
				break;
			desc.len += n;
			if (desc.len > (1 << 20)) {
				rc = rf_error_set(err, -EBADMSG,
						  "%s: desc larger than 1 MiB",
						  path);
				goto out;
			}
		}
		rc = srv_repo_pacman_parse_desc(desc.data ? desc.data : "",
						desc.len, emit, arg, err);
		if (rc)
			goto out;
	}
	if (r != ARCHIVE_EOF)
		rc = rf_error_set(err, -EBADMSG,
				  "pacman database is corrupt or truncated: %s",
				  archive_error_string(a));
out:
	rf_buf_free(&desc);
	archive_read_free(a);
	return rc;
}

static int pacman_prepare(struct srv_repo_def *def, struct rf_error *err)
{
	static const char *const names[] = {"repo", "arch"};
	const char *values[2];
	char *url;

	if (def->suite == NULL)
		def->suite = rf_xstrdup(def->name);
	if (def->arch == NULL)
		def->arch = rf_xstrdup("x86_64");
	if (!srv_repo_location_ok(def->suite) || strchr(def->suite, '/'))
		return rf_error_set(err, -EINVAL, "bad database name '%s'",
				    def->suite);
	/* pacman.conf writes Server = .../$repo/os/$arch */
	values[0] = def->suite;
	values[1] = def->arch;
	url = srv_repo_subst(def->url, names, values, 2);
	free(def->url);
	def->url = url;
	return 0;
}

static int pacman_refresh(struct srv_repo_rctx *ctx, struct rf_error *err)
{
	const struct srv_repo_def *def = srv_repo_ctx_def(ctx);
	struct rf_buf db = RF_BUF_INIT, rel = RF_BUF_INIT;
	char *path = NULL, *sig = NULL, *relpath = NULL;
	char hex[65];
	int rc;

	rf_buf_printf(&rel, "%s.db", def->suite);
	relpath = rf_buf_detach(&rel);
	rc = srv_repo_get(ctx, relpath, &path, err);
	if (rc == -ENOENT)
		rc = rf_error_set(err, -EBADMSG, "%s: no %s at %s", def->name,
				  relpath, def->url);
	if (rc)
		goto out;
	if (def->keyring) {
		char *sigrel;

		rf_buf_printf(&rel, "%s.db.sig", def->suite);
		sigrel = rf_buf_detach(&rel);
		rc = srv_repo_get(ctx, sigrel, &sig, err);
		if (rc == -ENOENT)
			rc = rf_error_set(err, -EBADMSG,
					  "%s: no %s: cannot check the "
					  "signature with %s",
					  def->name, sigrel, def->keyring);
		free(sigrel);
		if (rc == 0)
			rc = srv_repo_gpgv(ctx, sig, path, NULL, err);
		if (rc)
			goto out;
	}
	/* the database stays compressed in memory: libarchive reads it */
	rc = srv_repo_sha256_file(path, hex, err);
	if (rc)
		goto out;
	if (srv_repo_meta_seen(ctx, hex)) {
		rc = 1;
		goto out;
	}
	{
		FILE *f = fopen(path, "rb");
		size_t n;

		if (f == NULL) {
			rc = rf_error_errno(err, -errno, "cannot open %s",
					    path);
			goto out;
		}
		do {
			rf_buf_grow(&db, 1 << 16);
			n = fread(db.data + db.len, 1, 1 << 16, f);
			db.len += n;
		} while (n > 0 && db.len <= srv_repo_ctx_max(ctx));
		fclose(f);
		if (db.len > srv_repo_ctx_max(ctx)) {
			rc = rf_error_set(err, -EFBIG, "%s is too large", path);
			goto out;
		}
	}
	rc = srv_repo_pacman_parse_db(db.data ? db.data : "", db.len,
				      srv_repo_emit, ctx, err);
	if (rc)
		rf_error_prefix(err, "%s", path);
out:
	rf_buf_free(&db);
	rf_buf_free(&rel);
	free(relpath);
	free(path);
	free(sig);
	return rc;
}

const struct srv_repo_kind srv_repo_kind_pacman = {
	.name = "pacman",
	.prepare = pacman_prepare,
	.refresh = pacman_refresh,
};
