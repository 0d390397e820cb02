/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Debian repositories: dists/SUITE/{InRelease,Release[.gpg]} lists the
 * checksum of every index; COMPONENT/binary-ARCH/Packages[.xz|.gz|...] lists
 * the packages. A flat repository (suite ending in '/') keeps Release and
 * Packages in URL/SUITE. Package Filename fields are relative to the URL.
 *
 * Only SHA-512 and SHA-256 checksums of Release are trusted; a Release that
 * has neither is refused. Without a keyring, a flat repository may lack a
 * Release (as apt's [trusted=yes] allows): its Packages is then read as it
 * is, but package files still carry their own checksums.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "repo_private.h"

static int copy_field(char *dst, size_t size, const char *val, size_t len,
		      const char *what, unsigned line, struct rf_error *err)
{
	if (len >= size || memchr(val, '\n', len) != NULL)
		return rf_error_set(err, -EBADMSG,
				    "line %u: %s field too long or on several "
				    "lines",
				    line, what);
	memcpy(dst, val, len);
	dst[len] = '\0';
	return 0;
}

int srv_repo_deb_release_lookup(const char *text, size_t len, const char *path,
				struct srv_deb_release_entry *out,
				struct rf_error *err)
{
	static const char *const algos[] = {"SHA512", "SHA256"};
	struct srv_deb822 it;
	const char *name, *val;
	size_t nlen, vlen, plen = strlen(path);
	int best = -1, r;

	it = (struct srv_deb822){text, text + len, 1};
	if (!srv_deb822_stanza(&it))
		return rf_error_set(err, -EBADMSG, "Release file is empty");
	while ((r = srv_deb822_field(&it, &name, &nlen, &val, &vlen)) > 0) {
		int ai = -1;

		for (int i = 0; i < 2; i++)
			if (srv_deb822_is(name, nlen, algos[i]))
				ai = i;
		if (ai < 0 || (best >= 0 && best <= ai))
			continue;
		/* lines of " hex size path" */
		for (const char *p = val, *end = val + vlen; p < end;) {
			const char *nl = memchr(p, '\n', end - p);
			const char *eol = nl ? nl : end;
			char hex[129], sizebuf[24], *e;
			const char *f[3];
			size_t fl[3];
			int nf = 0;

			for (const char *q = p; q < eol && nf < 3;) {
				while (q < eol && (*q == ' ' || *q == '\t'))
					q++;
				if (q == eol)
					break;
				f[nf] = q;
				while (q < eol && *q != ' ' && *q != '\t' &&
				       *q != '\r')
					q++;
				fl[nf] = q - f[nf];
				nf++;
			}
			p = nl ? nl + 1 : end;
			if (nf != 3 || fl[2] != plen ||
			    memcmp(f[2], path, plen) != 0)
				continue;
			if (fl[0] >= sizeof(hex) || fl[1] >= sizeof(sizebuf))
				return rf_error_set(err, -EBADMSG,
						    "Release: bad %s line for "
						    "%s",
						    algos[ai], path);
			memcpy(hex, f[0], fl[0]);
			hex[fl[0]] = '\0';
			memcpy(sizebuf, f[1], fl[1]);
			sizebuf[fl[1]] = '\0';
			errno = 0;
			out->size = strtoll(sizebuf, &e, 10);
			if (errno || *e || out->size < 0)
				return rf_error_set(err, -EBADMSG,
						    "Release: bad size for %s",
						    path);
			snprintf(out->algo, sizeof(out->algo), "%s",
				 ai == 0 ? "sha512" : "sha256");
			snprintf(out->hex, sizeof(out->hex), "%s", hex);
			best = ai;
			break;
		}
	}
	if (r < 0)
		return rf_error_set(err, r, "Release: malformed line %u",
				    it.line);
	return best >= 0 ? 0 : -ENOENT;
}

int srv_repo_deb_clearsigned_text(const char *text, size_t len,
				  struct rf_buf *out, struct rf_error *err)
{
	static const char begin[] = "-----BEGIN PGP SIGNED MESSAGE-----";
	static const char sig[] = "-----BEGIN PGP SIGNATURE-----";
	const char *p = text, *end = text + len;
	bool headers = true, signature = false;

	if (len < sizeof(begin) - 1 ||
	    memcmp(text, begin, sizeof(begin) - 1) != 0)
		return rf_error_set(err, -EBADMSG,
				    "InRelease is not a clearsigned message");
	p = memchr(p, '\n', end - p);
	p = p ? p + 1 : end;
	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		const char *eol = nl ? nl : end;
		size_t n = eol - p;

		if (n && eol[-1] == '\r')
			n--;
		if (headers) {
			if (n == 0)
				headers = false;
		} else if (n >= sizeof(sig) - 1 &&
			   memcmp(p, sig, sizeof(sig) - 1) == 0) {
			signature = true;
			break;
		} else if (n >= 2 && p[0] == '-' && p[1] == ' ') {
			rf_buf_add(out, p + 2, n - 2);
			rf_buf_addch(out, '\n');
		} else {
			rf_buf_add(out, p, n);
			rf_buf_addch(out, '\n');
		}
		p = nl ? nl + 1 : end;
	}
	if (!signature)
		return rf_error_set(
			err, -EBADMSG,
			"InRelease: no signature block (truncated?)");
	/*
	 * Nothing may follow the signature: gpgv would verify a second
	 * message there too, and text beside what is parsed is a classic way
	 * to smuggle unsigned data past a check (as apt refuses it).
	 */
	{
		static const char sig_end[] = "-----END PGP SIGNATURE-----";
		const char *e = memmem(p, (size_t)(end - p), sig_end,
				       sizeof(sig_end) - 1);

		if (e == NULL)
			return rf_error_set(err, -EBADMSG,
					    "InRelease: unterminated signature");
		for (e += sizeof(sig_end) - 1; e < end; e++)
			if (*e != '\n' && *e != '\r' && *e != ' ' &&
			    *e != '\t')
				return rf_error_set(
					err, -EBADMSG,
					"InRelease: data after the signature");
	}
	return 0;
}

struct deb_pkg {
	char name[256], version[256], arch[64], algo[8], hex[129];
	char filename[4096];
	int64_t size;
	int rank; /* of the checksum kept: 3 sha512, 2 sha256, 1 md5 */
};

static int emit_stanza(struct deb_pkg *d, unsigned line, srv_repo_emit_fn emit,
		       void *arg, struct rf_error *err)
{
	const char *loc = d->filename;
	struct srv_repo_pkg p;

	if (!d->name[0] || !d->version[0] || !d->arch[0] || !d->filename[0])
		return rf_error_set(err, -EBADMSG,
				    "Packages: stanza ending at line %u lacks "
				    "Package, Version, Architecture or "
				    "Filename",
				    line);
	if (d->rank == 0)
		return rf_error_set(err, -EBADMSG,
				    "Packages: %s has no checksum", d->name);
	while (loc[0] == '.' && loc[1] == '/')
		loc += 2;
	if (!srv_repo_location_ok(loc))
		return rf_error_set(err, -EBADMSG,
				    "Packages: %s has an unsafe Filename '%s'",
				    d->name, d->filename);
	p = (struct srv_repo_pkg){
		.name = d->name,
		.version = d->version,
		.arch = d->arch,
		.size = d->size,
		.algo = d->algo,
		.checksum = d->hex,
		.location = loc,
	};
	return emit(arg, &p, err);
}

int srv_repo_deb_parse_packages(const char *text, size_t len,
				srv_repo_emit_fn emit, void *arg,
				struct rf_error *err)
{
	struct srv_deb822 it = {text, text + len, 1};
	struct deb_pkg d;
	const char *name, *val;
	size_t nlen, vlen;
	int rc = 0, r;

	while (srv_deb822_stanza(&it)) {
		memset(&d, 0, sizeof(d));
		d.size = -1;
		while ((r = srv_deb822_field(&it, &name, &nlen, &val, &vlen)) >
		       0) {
			int rank = 0;

			switch (name[0] | 0x20) {
			case 'p':
				if (srv_deb822_is(name, nlen, "Package"))
					rc = copy_field(d.name, sizeof(d.name),
							val, vlen, "Package",
							it.line, err);
				break;
			case 'v':
				if (srv_deb822_is(name, nlen, "Version"))
					rc = copy_field(d.version,
							sizeof(d.version), val,
							vlen, "Version",
							it.line, err);
				break;
			case 'a':
				if (srv_deb822_is(name, nlen, "Architecture"))
					rc = copy_field(d.arch, sizeof(d.arch),
							val, vlen,
							"Architecture", it.line,
							err);
				break;
			case 'f':
				if (srv_deb822_is(name, nlen, "Filename"))
					rc = copy_field(d.filename,
							sizeof(d.filename), val,
							vlen, "Filename",
							it.line, err);
				break;
			case 's':
				if (srv_deb822_is(name, nlen, "Size")) {
					char num[24], *e;

					rc = copy_field(num, sizeof(num), val,
							vlen, "Size", it.line,
							err);
					if (rc)
						break;
					errno = 0;
					d.size = strtoll(num, &e, 10);
					if (errno || *e || e == num ||
					    d.size < 0)
						rc = rf_error_set(
							err, -EBADMSG,
							"Packages: line %u: "
							"bad Size",
							it.line);
				} else if (srv_deb822_is(name, nlen,
							 "SHA512")) {
					rank = 3;
				} else if (srv_deb822_is(name, nlen,
							 "SHA256")) {
					rank = 2;
				}
				break;
			case 'm':
				if (srv_deb822_is(name, nlen, "MD5sum"))
					rank = 1;
				break;
			}
			if (rc)
				goto out;
			if (rank > d.rank) {
				rc = copy_field(d.hex, sizeof(d.hex), val, vlen,
						"checksum", it.line, err);
				if (rc)
					goto out;
				snprintf(d.algo, sizeof(d.algo), "%s",
					 rank == 3   ? "sha512"
					 : rank == 2 ? "sha256"
						     : "md5");
				d.rank = rank;
			}
		}
		if (r < 0) {
			rc = rf_error_set(err, r, "Packages: malformed line %u",
					  it.line);
			goto out;
		}
		rc = emit_stanza(&d, it.line, emit, arg, err);
		if (rc)
			goto out;
	}
out:
	return rc;
}

static int deb_prepare(struct srv_repo_def *def, struct rf_error *err)
{
	if (def->suite == NULL || def->suite[0] == '\0')
		return rf_error_set(err, -EINVAL,
				    "a deb repository needs --suite (\"./\" "
				    "for a flat repository)");
	if (def->suite[0] == '/' || strstr(def->suite, "..") ||
	    strchr(def->suite, ' '))
		return rf_error_set(err, -EINVAL, "bad suite '%s'", def->suite);
	if (def->components == NULL)
		def->components = rf_xstrdup("main");
	if (def->arch == NULL)
		def->arch = rf_xstrdup("amd64");
	for (const char *c = def->components; *c; c++)
		if (*c == '/' && (c[1] == '.' || c == def->components))
			return rf_error_set(err, -EINVAL, "bad components '%s'",
					    def->components);
	return 0;
}

/* Reads the Release text, its signature checked when there is a keyring.
 * -ENOENT: no Release at all. */
static int deb_release(struct srv_repo_rctx *ctx, const char *dist,
		       struct rf_buf *release, struct rf_error *err)
{
	const struct srv_repo_def *def = srv_repo_ctx_def(ctx);
	char *rel = NULL, *path = NULL, *sig = NULL, *tmp = NULL;
	struct rf_buf raw = RF_BUF_INIT;
	int rc;

	rf_buf_printf(&raw, "%sInRelease", dist);
	rel = rf_buf_detach(&raw);
	rc = srv_repo_get(ctx, rel, &path, err);
	if (rc == 0) {
		if (def->keyring) {
			tmp = srv_repo_tmp_path(ctx, "inrelease");
			rc = srv_repo_gpgv(ctx, NULL, path, tmp, err);
			if (rc == 0)
				rc = srv_repo_read_decompressed(tmp, 1 << 26,
								release, err);
			goto out;
		}
		rc = srv_repo_read_decompressed(path, 1 << 26, &raw, err);
		if (rc == 0)
			rc = srv_repo_deb_clearsigned_text(raw.data, raw.len,
							   release, err);
		goto out;
	}
	if (rc != -ENOENT)
		goto out;
	rf_error_clear(err);
	free(rel);
	rf_buf_printf(&raw, "%sRelease", dist);
	rel = rf_buf_detach(&raw);
	rc = srv_repo_get(ctx, rel, &path, err);
	if (rc)
		goto out;
	if (def->keyring) {
		char *sigrel;

		rf_buf_printf(&raw, "%sRelease.gpg", dist);
		sigrel = rf_buf_detach(&raw);
		rc = srv_repo_get(ctx, sigrel, &sig, err);
		free(sigrel);
		if (rc == -ENOENT) {
			rc = rf_error_set(err, -EBADMSG,
					  "%s: neither InRelease nor "
					  "Release.gpg: cannot check the "
					  "signature with %s",
					  def->name, def->keyring);
			goto out;
		}
		if (rc == 0)
			rc = srv_repo_gpgv(ctx, sig, path, NULL, err);
		if (rc)
			goto out;
	}
	rc = srv_repo_read_decompressed(path, 1 << 26, release, err);
out:
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	rf_buf_free(&raw);
	free(rel);
	free(path);
	free(sig);
	return rc;
}

static int deb_index(struct srv_repo_rctx *ctx, const char *dist,
		     const struct rf_buf *release, const char *sub,
		     struct rf_error *err)
{
	static const char *const exts[] = {".xz",  ".gz",  ".zst",
					   ".bz2", ".lz4", ""};
	struct srv_deb_release_entry ent;
	struct rf_buf b = RF_BUF_INIT, text = RF_BUF_INIT;
	char *rel = NULL, *path = NULL;
	size_t i;
	int rc = -ENOENT;

	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		rf_buf_reset(&b);
		rf_buf_printf(&b, "%sPackages%s", sub, exts[i]);
		if (release == NULL) {
			/* unverified flat repository: what exists */
			rel = rf_buf_detach(&b);
			rf_buf_printf(&b, "%s%s", dist, rel);
			free(rel);
			rel = rf_buf_detach(&b);
			rc = srv_repo_get(ctx, rel, &path, err);
			if (rc == 0)
				break;
			free(rel);
			rel = NULL;
			if (rc != -ENOENT)
				goto out;
			rf_error_clear(err);
			continue;
		}
		rc = srv_repo_deb_release_lookup(release->data, release->len,
						 b.data, &ent, err);
		if (rc == 0) {
			rel = rf_buf_detach(&b);
			break;
		}
		if (rc != -ENOENT)
			goto out;
	}
	if (rc == -ENOENT) {
		rc = rf_error_set(err, -EBADMSG,
				  "%s: %s lists no %sPackages index",
				  srv_repo_ctx_def(ctx)->name,
				  release ? "Release" : "the repository", sub);
		goto out;
	}
	if (release) {
		char *full;

		rf_buf_printf(&b, "%s%s", dist, rel);
		full = rf_buf_detach(&b);
		rc = srv_repo_get(ctx, full, &path, err);
		free(full);
		if (rc == -ENOENT)
			rc = rf_error_set(err, -EBADMSG,
					  "%s: %s%s is listed in Release but "
					  "missing",
					  srv_repo_ctx_def(ctx)->name, dist,
					  rel);
		if (rc)
			goto out;
		rc = srv_repo_verify_file(path, ent.size, ent.algo, ent.hex,
					  NULL, err);
		if (rc)
			goto out;
	}
	rc = srv_repo_read_decompressed(path, srv_repo_ctx_max(ctx), &text,
					err);
	if (rc == 0)
		rc = srv_repo_deb_parse_packages(text.data, text.len,
						 srv_repo_emit, ctx, err);
	if (rc)
		rf_error_prefix(err, "%s", path);
out:
	rf_buf_free(&b);
	rf_buf_free(&text);
	free(rel);
	free(path);
	return rc;
}

static int deb_refresh(struct srv_repo_rctx *ctx, struct rf_error *err)
{
	const struct srv_repo_def *def = srv_repo_ctx_def(ctx);
	bool flat = def->suite[strlen(def->suite) - 1] == '/';
	struct rf_buf dist = RF_BUF_INIT, release = RF_BUF_INIT;
	struct rf_buf sub = RF_BUF_INIT;
	unsigned char s256[RF_SHA256_LEN];
	char hex[65];
	int rc;

	if (!flat)
		rf_buf_printf(&dist, "dists/%s/", def->suite);
	else if (strcmp(def->suite, "./") != 0 && strcmp(def->suite, "/"))
		rf_buf_addstr(&dist, def->suite);
	else
		rf_buf_addstr(&dist, "");
	rc = deb_release(ctx, dist.data, &release, err);
	if (rc == -ENOENT && flat && def->keyring == NULL) {
		rf_error_clear(err);
		rc = deb_index(ctx, dist.data, NULL, "", err);
		goto out;
	}
	if (rc == -ENOENT)
		rc = rf_error_set(err, -EBADMSG,
				  "%s: no InRelease or Release in %s%s",
				  def->name, def->url, dist.data);
	if (rc)
		goto out;
	rf_sha256(release.data, release.len, s256);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", s256[i]);
	if (srv_repo_meta_seen(ctx, hex)) {
		rc = 1;
		goto out;
	}
	if (flat) {
		rc = deb_index(ctx, dist.data, &release, "", err);
		goto out;
	}
	for (const char *c = def->components; *c;) {
		size_t n;

		while (*c == ' ' || *c == ',')
			c++;
		n = strcspn(c, " ,");
		if (n == 0)
			break;
		rf_buf_reset(&sub);
		rf_buf_printf(&sub, "%.*s/binary-%s/", (int)n, c, def->arch);
		rc = deb_index(ctx, dist.data, &release, sub.data, err);
		if (rc)
			goto out;
		c += n;
	}
out:
	rf_buf_free(&dist);
	rf_buf_free(&release);
	rf_buf_free(&sub);
	return rc;
}

const struct srv_repo_kind srv_repo_kind_deb = {
	.name = "deb",
	.prepare = deb_prepare,
	.refresh = deb_refresh,
};
