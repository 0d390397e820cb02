/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers the repository kinds share: deb822 text, checksums of files,
 * decompression by content, and checks of locations read from metadata.
 */
#include "config.h"

#include <archive.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "repo_private.h"

bool srv_deb822_stanza(struct srv_deb822 *it)
{
	while (it->p < it->end) {
		const char *nl = memchr(it->p, '\n', it->end - it->p);
		const char *eol = nl ? nl : it->end;
		const char *q = it->p;

		while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r'))
			q++;
		if (q < eol && *q != '#')
			return true;
		it->p = nl ? nl + 1 : it->end;
		it->line++;
	}
	return false;
}

static bool blank_line(const char *p, const char *eol)
{
	for (; p < eol; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r')
			return false;
	return true;
}

int srv_deb822_field(struct srv_deb822 *it, const char **name, size_t *nlen,
		     const char **val, size_t *vlen)
{
	const char *nl, *eol, *colon, *v, *vend;

	for (;;) {
		if (it->p >= it->end)
			return 0;
		nl = memchr(it->p, '\n', it->end - it->p);
		eol = nl ? nl : it->end;
		if (blank_line(it->p, eol)) {
			it->p = nl ? nl + 1 : it->end;
			it->line++;
			return 0;
		}
		/* deb822 comments may sit between fields (.sources) */
		if (*it->p != '#')
			break;
		it->p = nl ? nl + 1 : it->end;
		it->line++;
	}
	if (*it->p == ' ' || *it->p == '\t')
		return -EBADMSG; /* continuation without a field */
	colon = memchr(it->p, ':', eol - it->p);
	if (colon == NULL || colon == it->p)
		return -EBADMSG;
	*name = it->p;
	*nlen = colon - it->p;
	v = colon + 1;
	while (v < eol && (*v == ' ' || *v == '\t'))
		v++;
	vend = eol;
	it->p = nl ? nl + 1 : it->end;
	it->line++;
	/* continuation lines belong to the value */
	while (it->p < it->end && (*it->p == ' ' || *it->p == '\t')) {
		nl = memchr(it->p, '\n', it->end - it->p);
		eol = nl ? nl : it->end;
		if (blank_line(it->p, eol))
			break;
		vend = eol;
		it->p = nl ? nl + 1 : it->end;
		it->line++;
	}
	while (vend > v && isspace((unsigned char)vend[-1]))
		vend--;
	*val = v;
	*vlen = vend > v ? (size_t)(vend - v) : 0;
	return 1;
}

bool srv_deb822_is(const char *name, size_t nlen, const char *want)
{
	return strlen(want) == nlen && strncasecmp(name, want, nlen) == 0;
}

static void to_hex(const unsigned char *d, size_t n, char *out)
{
	static const char x[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = x[d[i] >> 4];
		out[2 * i + 1] = x[d[i] & 15];
	}
	out[2 * n] = '\0';
}

int srv_repo_verify_file(const char *path, int64_t size, const char *algo,
			 const char *hex, char sha256_hex[65],
			 struct rf_error *err)
{
	enum rf_digest_algo a = rf_digest_by_name(algo);
	unsigned char want[RF_DIGEST_MAX], got[RF_DIGEST_MAX], s256[32];
	char gothex[2 * RF_DIGEST_MAX + 1];
	struct rf_digest *d = NULL;
	unsigned char chunk[1 << 15];
	uint64_t total = 0;
	ssize_t n;
	int fd = -1, rc = -EIO;

	if (a == RF_DIGEST_NONE || strlen(hex) != 2 * rf_digest_len(a)) {
		rc = rf_error_set(err, -EBADMSG,
				  "unusable %s checksum '%s' for %s",
				  algo ? algo : "(no)", hex ? hex : "", path);
		goto out;
	}
	for (size_t i = 0; i < rf_digest_len(a); i++) {
		unsigned int byte;

		if (sscanf(hex + 2 * i, "%2x", &byte) != 1 ||
		    !isxdigit((unsigned char)hex[2 * i + 1])) {
			rc = rf_error_set(err, -EBADMSG,
					  "bad %s checksum '%s' for %s", algo,
					  hex, path);
			goto out;
		}
		want[i] = byte;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = rf_error_errno(err, -errno, "cannot open %s", path);
		goto out;
	}
	d = rf_digest_new(a, RF_DIGEST_SHA256);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		rf_digest_update(d, chunk, n);
		total += n;
	}
	if (n < 0) {
		rc = rf_error_errno(err, -errno, "cannot read %s", path);
		goto out;
	}
	rf_digest_final(d, got, s256);
	if (size >= 0 && total != (uint64_t)size) {
		rc = rf_error_set(err, -EBADMSG,
				  "%s: size %llu, the metadata says %lld", path,
				  (unsigned long long)total, (long long)size);
		goto out;
	}
	if (memcmp(want, got, rf_digest_len(a)) != 0) {
		to_hex(got, rf_digest_len(a), gothex);
		rc = rf_error_set(err, -EBADMSG,
				  "%s: %s checksum mismatch (got %s, the "
				  "metadata says %s)",
				  path, algo, gothex, hex);
		goto out;
	}
	if (sha256_hex)
		to_hex(s256, 32, sha256_hex);
	rc = 0;
out:
	rf_digest_free(d);
	if (fd >= 0)
		close(fd);
	return rc;
}

int srv_repo_sha256_file(const char *path, char hex[65], struct rf_error *err)
{
	unsigned char s256[RF_SHA256_LEN];
	int rc = rf_digest_file(path, RF_DIGEST_SHA256, s256, err);

	if (rc == 0)
		to_hex(s256, RF_SHA256_LEN, hex);
	return rc;
}

int srv_repo_read_decompressed(const char *path, uint64_t max,
			       struct rf_buf *out, struct rf_error *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int rc = -EIO, r;
	la_ssize_t n;

	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	archive_read_support_format_empty(a);
	if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
		rc = rf_error_set(err, -EBADMSG, "cannot read %s: %s", path,
				  archive_error_string(a));
		goto out;
	}
	r = archive_read_next_header(a, &e);
	if (r == ARCHIVE_EOF) {
		rc = 0; /* an empty file */
		goto out;
	}
	if (r != ARCHIVE_OK) {
		rc = rf_error_set(err, -EBADMSG, "cannot read %s: %s", path,
				  archive_error_string(a));
		goto out;
	}
	for (;;) {
		rf_buf_grow(out, 1 << 16);
		n = archive_read_data(a, out->data + out->len, 1 << 16);
		if (n < 0) {
			rc = rf_error_set(err, -EBADMSG,
					  "%s is corrupt or truncated: %s",
					  path, archive_error_string(a));
			goto out;
		}
		if (n == 0)
			break;
		out->len += n;
		out->data[out->len] = '\0';
		if (out->len > max) {
			rc = rf_error_set(err, -EFBIG,
					  "%s: more than %llu bytes once "
					  "decompressed",
					  path, (unsigned long long)max);
			goto out;
		}
	}
	rc = 0;
out:
	archive_read_free(a);
	return rc;
}

bool srv_repo_location_ok(const char *loc)
{
	const char *p = loc, *slash;

	if (loc == NULL || *loc == '\0' || *loc == '/')
		return false;
	for (const char *c = loc; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\' ||
		    *c == '?' || *c == '#')
			return false;
	for (;;) {
		size_t n;

		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (slash == NULL)
			return !(n == 1 && p[0] == '.');
		p = slash + 1;
	}
}

char *srv_repo_subst(const char *s, const char *const *names,
		     const char *const *values, size_t n)
{
	struct rf_buf b = RF_BUF_INIT;

	while (*s) {
		size_t i;

		if (*s != '$') {
			rf_buf_addch(&b, *s++);
			continue;
		}
		for (i = 0; i < n; i++) {
			size_t l = strlen(names[i]);

			if (values[i] && strncmp(s + 1, names[i], l) == 0 &&
			    !isalnum((unsigned char)s[1 + l]) &&
			    s[1 + l] != '_')
				break;
		}
		if (i == n) {
			rf_buf_addch(&b, *s++);
			continue;
		}
		rf_buf_addstr(&b, values[i]);
		s += 1 + strlen(names[i]);
	}
	return rf_buf_detach(&b);
}
