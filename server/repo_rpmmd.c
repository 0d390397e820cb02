/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rpm-md repositories (yum, dnf, zypper): repodata/repomd.xml names each
 * metadata file with its checksum; the primary file lists the packages with
 * name, arch, epoch/version/release, checksum, size and location (relative
 * to the repository URL). Both are read with libxml2's streaming reader,
 * without network access or entity expansion. repomd.xml.asc, a detached
 * signature, is checked when the repository has a keyring.
 */
#include "config.h"

#include <errno.h>
#include <libxml/xmlreader.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "repo_private.h"

#define RPMMD_XML_OPTIONS                                                      \
	(XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |           \
	 XML_PARSE_NOBLANKS)

static void silent(void *arg, const char *msg, xmlParserSeverities sev,
		   xmlTextReaderLocatorPtr loc)
{
}

static xmlTextReaderPtr reader_new(const char *text, size_t len)
{
	xmlTextReaderPtr r;

	if (len > INT32_MAX)
		return NULL;
	r = xmlReaderForMemory(text, (int)len, NULL, NULL, RPMMD_XML_OPTIONS);
	if (r)
		xmlTextReaderSetErrorHandler(r, silent, NULL);
	return r;
}

static bool is(xmlTextReaderPtr r, const char *name)
{
	const xmlChar *n = xmlTextReaderConstLocalName(r);

	return n && strcmp((const char *)n, name) == 0;
}

/* Copies an attribute (or "" when absent); false when too long. */
static bool attr(xmlTextReaderPtr r, const char *name, char *dst, size_t size)
{
	xmlChar *v = xmlTextReaderGetAttribute(r, (const xmlChar *)name);
	bool ok = true;

	dst[0] = '\0';
	if (v) {
		ok = strlen((char *)v) < size;
		if (ok)
			strcpy(dst, (char *)v);
		xmlFree(v);
	}
	return ok;
}

static bool text(xmlTextReaderPtr r, char *dst, size_t size)
{
	xmlChar *v = xmlTextReaderReadString(r);
	bool ok = true;
	size_t n;

	dst[0] = '\0';
	if (v) {
		n = strlen((char *)v);
		/* trim: repomd checksums are sometimes indented */
		char *s = (char *)v;

		while (*s == ' ' || *s == '\n' || *s == '\t')
			s++, n--;
		while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' ||
			     s[n - 1] == '\t'))
			n--;
		ok = n < size;
		if (ok) {
			memcpy(dst, s, n);
			dst[n] = '\0';
		}
		xmlFree(v);
	}
	return ok;
}

int srv_repo_rpmmd_parse_repomd(const char *txt, size_t len, const char *type,
				struct srv_rpmmd_data *out,
				struct rf_error *err)
{
	xmlTextReaderPtr r = reader_new(txt, len);
	char t[64], num[24];
	bool in = false, found = false;
	int rc = -EBADMSG, ret;

	memset(out, 0, sizeof(*out));
	out->size = -1;
	if (r == NULL) {
		rc = rf_error_set(err, -EBADMSG, "repomd.xml: cannot parse");
		goto out;
	}
	while ((ret = xmlTextReaderRead(r)) == 1) {
		int nt = xmlTextReaderNodeType(r);

		if (nt == XML_READER_TYPE_END_ELEMENT && is(r, "data")) {
			if (in)
				found = true;
			in = false;
			continue;
		}
		if (nt != XML_READER_TYPE_ELEMENT)
			continue;
		if (is(r, "data") && xmlTextReaderDepth(r) == 1) {
			in = attr(r, "type", t, sizeof(t)) &&
			     strcmp(t, type) == 0 && !found;
			continue;
		}
		if (!in || xmlTextReaderDepth(r) != 2)
			continue;
		if (is(r, "checksum")) {
			if (!attr(r, "type", out->algo, sizeof(out->algo)) ||
			    !text(r, out->hex, sizeof(out->hex)))
				goto bad;
		} else if (is(r, "location")) {
			if (!attr(r, "href", out->href, sizeof(out->href)))
				goto bad;
		} else if (is(r, "size")) {
			char *e;

			if (!text(r, num, sizeof(num)))
				goto bad;
			errno = 0;
			out->size = strtoll(num, &e, 10);
			if (errno || *e || e == num || out->size < 0)
				goto bad;
		}
	}
	if (ret < 0) {
		rc = rf_error_set(err, -EBADMSG,
				  "repomd.xml is not well-formed XML "
				  "(truncated?)");
		goto out;
	}
	if (!found) {
		rc = rf_error_set(err, -ENOENT, "repomd.xml has no %s data",
				  type);
		goto out;
	}
	if (!out->href[0] || !out->hex[0] || !out->algo[0])
		goto bad;
	/* "sha" is what old createrepo wrote for SHA-1 */
	if (strcmp(out->algo, "sha") == 0)
		strcpy(out->algo, "sha1");
	rc = 0;
	goto out;
bad:
	rc = rf_error_set(err, -EBADMSG,
			  "repomd.xml: bad or missing checksum, location or "
			  "size of the %s data",
			  type);
out:
	xmlFreeTextReader(r);
	return rc;
}

struct rpm_pkg {
	char name[256], arch[64], epoch[24], ver[256], rel[256];
	char algo[16], hex[129], href[4096];
	int64_t size;
};

static int rpm_emit(struct rpm_pkg *p, srv_repo_emit_fn emit, void *arg,
		    struct rf_error *err)
{
	struct srv_repo_pkg pkg;

	if (!p->name[0] || !p->arch[0] || !p->ver[0] || !p->href[0] ||
	    !p->hex[0])
		return rf_error_set(err, -EBADMSG,
				    "primary: a package lacks name, arch, "
				    "version, checksum or location");
	if (!srv_repo_location_ok(p->href))
		return rf_error_set(err, -EBADMSG,
				    "primary: %s has an unsafe location '%s'",
				    p->name, p->href);
	if (strcmp(p->algo, "sha") == 0)
		strcpy(p->algo, "sha1");
	pkg = (struct srv_repo_pkg){
		.name = p->name,
		.epoch = p->epoch,
		.version = p->ver,
		.release = p->rel,
		.arch = p->arch,
		.size = p->size,
		.algo = p->algo,
		.checksum = p->hex,
		.location = p->href,
	};
	return emit(arg, &pkg, err);
}

int srv_repo_rpmmd_parse_primary(const char *txt, size_t len,
				 srv_repo_emit_fn emit, void *arg,
				 struct rf_error *err)
{
	xmlTextReaderPtr r = reader_new(txt, len);
	struct rpm_pkg p;
	bool in = false;
	int rc = -EBADMSG, ret;

	if (r == NULL) {
		rc = rf_error_set(err, -EBADMSG, "primary: cannot parse");
		goto out;
	}
	while ((ret = xmlTextReaderRead(r)) == 1) {
		int nt = xmlTextReaderNodeType(r);
		int depth = xmlTextReaderDepth(r);

		if (depth == 1 && is(r, "package")) {
			if (nt == XML_READER_TYPE_ELEMENT &&
			    !xmlTextReaderIsEmptyElement(r)) {
				memset(&p, 0, sizeof(p));
				p.size = -1;
				in = true;
			} else if (nt == XML_READER_TYPE_END_ELEMENT && in) {
				in = false;
				rc = rpm_emit(&p, emit, arg, err);
				if (rc)
					goto out;
			}
			continue;
		}
		if (!in || depth != 2 || nt != XML_READER_TYPE_ELEMENT)
			continue;
		if (is(r, "name")) {
			if (!text(r, p.name, sizeof(p.name)))
				goto bad;
		} else if (is(r, "arch")) {
			if (!text(r, p.arch, sizeof(p.arch)))
				goto bad;
		} else if (is(r, "version")) {
			if (!attr(r, "epoch", p.epoch, sizeof(p.epoch)) ||
			    !attr(r, "ver", p.ver, sizeof(p.ver)) ||
			    !attr(r, "rel", p.rel, sizeof(p.rel)))
				goto bad;
		} else if (is(r, "checksum")) {
			if (!attr(r, "type", p.algo, sizeof(p.algo)) ||
			    !text(r, p.hex, sizeof(p.hex)))
				goto bad;
		} else if (is(r, "location")) {
			if (!attr(r, "href", p.href, sizeof(p.href)))
				goto bad;
		} else if (is(r, "size")) {
			char num[24], *e;

			if (!attr(r, "package", num, sizeof(num)))
				goto bad;
			errno = 0;
			p.size = strtoll(num, &e, 10);
			if (errno || *e || e == num || p.size < 0)
				goto bad;
		}
	}
	if (ret < 0 || in) {
		rc = rf_error_set(err, -EBADMSG,
				  "primary is not well-formed XML "
				  "(truncated?)");
		goto out;
	}
	rc = 0;
	goto out;
bad:
	rc = rf_error_set(err, -EBADMSG,
			  "primary: a field of package '%s' is malformed or "
			  "too long",
			  p.name);
out:
	xmlFreeTextReader(r);
	return rc;
}

static int rpmmd_prepare(struct srv_repo_def *def, struct rf_error *err)
{
	return 0;
}

static int rpmmd_refresh(struct srv_repo_rctx *ctx, struct rf_error *err)
{
	const struct srv_repo_def *def = srv_repo_ctx_def(ctx);
	struct rf_buf repomd = RF_BUF_INIT, primary = RF_BUF_INIT;
	struct srv_rpmmd_data data;
	char *path = NULL, *sig = NULL, *ppath = NULL;
	unsigned char s256[RF_SHA256_LEN];
	char hex[65];
	int rc;

	rc = srv_repo_get(ctx, "repodata/repomd.xml", &path, err);
	if (rc == -ENOENT)
		rc = rf_error_set(err, -EBADMSG,
				  "%s: no repodata/repomd.xml at %s", def->name,
				  def->url);
	if (rc)
		goto out;
	if (def->keyring) {
		rc = srv_repo_get(ctx, "repodata/repomd.xml.asc", &sig, err);
		if (rc == -ENOENT)
			rc = rf_error_set(err, -EBADMSG,
					  "%s: no repodata/repomd.xml.asc: "
					  "cannot check the signature with %s",
					  def->name, def->keyring);
		if (rc == 0)
			rc = srv_repo_gpgv(ctx, sig, path, NULL, err);
		if (rc)
			goto out;
	}
	rc = srv_repo_read_decompressed(path, 1 << 26, &repomd, err);
	if (rc)
		goto out;
	rf_sha256(repomd.data, repomd.len, s256);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", s256[i]);
	if (srv_repo_meta_seen(ctx, hex)) {
		rc = 1;
		goto out;
	}
	rc = srv_repo_rpmmd_parse_repomd(repomd.data, repomd.len, "primary",
					 &data, err);
	if (rc == 0 && !srv_repo_location_ok(data.href))
		rc = rf_error_set(err, -EBADMSG,
				  "repomd.xml: unsafe location '%s'",
				  data.href);
	if (rc) {
		rf_error_prefix(err, "%s", def->name);
		rc = -EBADMSG;
		goto out;
	}
	rc = srv_repo_get(ctx, data.href, &ppath, err);
	if (rc == -ENOENT)
		rc = rf_error_set(err, -EBADMSG,
				  "%s: %s is named by repomd.xml but missing",
				  def->name, data.href);
	if (rc == 0)
		rc = srv_repo_verify_file(ppath, data.size, data.algo, data.hex,
					  NULL, err);
	if (rc == 0)
		rc = srv_repo_read_decompressed(ppath, srv_repo_ctx_max(ctx),
						&primary, err);
	if (rc == 0)
		rc = srv_repo_rpmmd_parse_primary(primary.data, primary.len,
						  srv_repo_emit, ctx, err);
out:
	rf_buf_free(&repomd);
	rf_buf_free(&primary);
	free(path);
	free(sig);
	free(ppath);
	return rc;
}

const struct srv_repo_kind srv_repo_kind_rpmmd = {
	.name = "rpm-md",
	.prepare = rpmmd_prepare,
	.refresh = rpmmd_refresh,
};
