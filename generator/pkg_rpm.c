/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rpm packages. A repository directory is an rpm-md repository
 * (repodata/repomd.xml names the primary file and its checksum; primary
 * lists every package's name, epoch/version/release, arch, checksum and
 * location, relative to the directory), or else holds plain .rpm files,
 * whose headers librpm reads (header digests checked, signatures not: no
 * keyring here) and whose payload digest is verified while the payload is
 * unpacked.
 *
 * An rpm file is a lead, a signature header, the main header and the
 * payload, a cpio archive (newc) compressed as the header says (gzip, xz,
 * zstd, bzip2). libarchive's rpm filter skips the lead and both headers;
 * its decompression filters and cpio reader do the rest. cpio's newc format
 * carries a hardlinked file's data on its last link, which gen_extract()
 * writes into the linked file. The "stripped cpio" rpm uses for files over
 * 4 GiB is not read by libarchive: such packages fail with its message.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <libxml/xmlreader.h>
#include <rpm/header.h>
#include <rpm/rpmlib.h>
#include <rpm/rpmlog.h>
#include <rpm/rpmpgp.h>
#include <rpm/rpmtag.h>
#include <rpm/rpmtd.h>
#include <rpm/rpmts.h>

#include "buf.h"
#include "escape.h"
#include "pkg_kind.h"

#define REPOMD_MAX (16u << 20)
#define PRIMARY_MAX (1u << 30)
#define XML_OPTIONS                                                            \
	(XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |           \
	 XML_PARSE_NOBLANKS)

static enum rf_digest_algo algo_by_name(const char *name)
{
	/* "sha" is what old createrepo wrote for SHA-1 */
	return strcmp(name, "sha") == 0 ? RF_DIGEST_SHA1
					: rf_digest_by_name(name);
}

/* Decodes hex (of algo's length) into out; false when it is not that. */
static bool digest_from_hex(enum rf_digest_algo algo, const char *hex,
			    unsigned char *out)
{
	size_t len = rf_digest_len(algo);

	return len > 0 && hex != NULL && strlen(hex) == 2 * len &&
	       rf_hex_decode(out, len, hex) == 0;
}

static void xml_silent(void *arg, const char *msg, xmlParserSeverities sev,
		       xmlTextReaderLocatorPtr loc)
{
	(void)arg;
	(void)msg;
	(void)sev;
	(void)loc;
}

static xmlTextReaderPtr xml_reader(const struct rf_buf *b)
{
	xmlTextReaderPtr r;

	if (b->len > INT32_MAX)
		return NULL;
	r = xmlReaderForMemory(b->data ? b->data : "", (int)b->len, NULL, NULL,
			       XML_OPTIONS);
	if (r != NULL)
		xmlTextReaderSetErrorHandler(r, xml_silent, NULL);
	return r;
}

static bool xml_is(xmlTextReaderPtr r, const char *name)
{
	const xmlChar *n = xmlTextReaderConstLocalName(r);

	return n != NULL && strcmp((const char *)n, name) == 0;
}

/* A new copy of an attribute, NULL when absent. */
static char *xml_attr(xmlTextReaderPtr r, const char *name)
{
	xmlChar *v = xmlTextReaderGetAttribute(r, (const xmlChar *)name);
	char *s = v ? rf_xstrdup((const char *)v) : NULL;

	xmlFree(v);
	return s;
}

/* A new copy of the element's text, blanks around it trimmed. */
static char *xml_text(xmlTextReaderPtr r)
{
	xmlChar *v = xmlTextReaderReadString(r);
	const char *s = (const char *)v;
	size_t n;
	char *out;

	if (v == NULL)
		return NULL;
	while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' ||
			 s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	out = rf_xstrndup(s, n);
	xmlFree(v);
	return out;
}

static void set_str(char **dst, char *v)
{
	free(*dst);
	*dst = v;
}

/* repomd.xml: the location and checksum of the primary data. */
static int parse_repomd(const struct rf_buf *b, char **href, char **algo,
			char **hex, struct rf_error *err)
{
	xmlTextReaderPtr r = xml_reader(b);
	bool in = false, found = false;
	int rc = -EBADMSG, ret = -1;

	while (r != NULL && !found && (ret = xmlTextReaderRead(r)) == 1) {
		int nt = xmlTextReaderNodeType(r);

		if (nt == XML_READER_TYPE_END_ELEMENT && xml_is(r, "data")) {
			found = in;
			continue;
		}
		if (nt != XML_READER_TYPE_ELEMENT)
			continue;
		if (xml_is(r, "data") && xmlTextReaderDepth(r) == 1) {
			char *type = xml_attr(r, "type");

			in = type != NULL && strcmp(type, "primary") == 0;
			free(type);
		} else if (in && xmlTextReaderDepth(r) == 2 &&
			   xml_is(r, "checksum")) {
			set_str(algo, xml_attr(r, "type"));
			set_str(hex, xml_text(r));
		} else if (in && xmlTextReaderDepth(r) == 2 &&
			   xml_is(r, "location")) {
			set_str(href, xml_attr(r, "href"));
		}
	}
	if (r == NULL || (ret < 0 && !found))
		rc = rf_error_set(err, -EBADMSG, "not well-formed XML");
	else if (!found || *href == NULL || *algo == NULL || *hex == NULL)
		rc = rf_error_set(err, -EBADMSG,
				  "no primary data with a location and a "
				  "checksum");
	else
		rc = 0;
	xmlFreeTextReader(r);
	return rc;
}

/* One <package> of primary being read. */
struct primary_pkg {
	struct gen_repo_pkg p;
	char *algo, *hex, *href;
};

static void primary_pkg_clear(struct primary_pkg *pp)
{
	gen_repo_pkg_clear(&pp->p);
	free(pp->algo);
	free(pp->hex);
	free(pp->href);
	memset(pp, 0, sizeof(*pp));
}

/* The package read, checked, into repo. */
static int primary_push(struct gen_repo *repo, const char *dir,
			struct primary_pkg *pp, struct rf_error *err)
{
	struct gen_repo_pkg *p = &pp->p;
	struct rf_buf path = RF_BUF_INIT;
	const char *rel;

	if (p->name == NULL || p->version == NULL || p->arch == NULL ||
	    pp->href == NULL || pp->algo == NULL)
		return rf_error_set(err, -EBADMSG,
				    "a package lacks name, version, arch, "
				    "checksum or location");
	if (gen_name_check(pp->href, false, &rel) < 0)
		return rf_error_set(err, -EBADMSG, "%s: unsafe location '%s'",
				    p->name, pp->href);
	p->algo = algo_by_name(pp->algo);
	if (!digest_from_hex(p->algo, pp->hex, p->digest))
		return rf_error_set(err, -EBADMSG, "%s: bad %s checksum '%s'",
				    p->name, pp->algo, pp->hex ? pp->hex : "");
	p->kind = &gen_pkg_rpm;
	rf_buf_printf(&path, "%s/%s", dir, rel);
	p->path = rf_buf_detach(&path);
	gen_repo_push(repo, p);
	primary_pkg_clear(pp);
	return 0;
}

static int parse_primary(struct gen_repo *repo, const char *dir,
			 const struct rf_buf *b, struct rf_error *err)
{
	xmlTextReaderPtr r = xml_reader(b);
	struct primary_pkg pp = {0};
	bool in = false;
	int rc = 0, ret = -1;

	while (r != NULL && rc == 0 && (ret = xmlTextReaderRead(r)) == 1) {
		int nt = xmlTextReaderNodeType(r);
		int depth = xmlTextReaderDepth(r);

		if (depth == 1 && xml_is(r, "package")) {
			if (nt == XML_READER_TYPE_ELEMENT &&
			    !xmlTextReaderIsEmptyElement(r)) {
				primary_pkg_clear(&pp);
				in = true;
			} else if (nt == XML_READER_TYPE_END_ELEMENT && in) {
				in = false;
				rc = primary_push(repo, dir, &pp, err);
			}
			continue;
		}
		if (!in || depth != 2 || nt != XML_READER_TYPE_ELEMENT)
			continue;
		if (xml_is(r, "name")) {
			set_str(&pp.p.name, xml_text(r));
		} else if (xml_is(r, "arch")) {
			set_str(&pp.p.arch, xml_text(r));
		} else if (xml_is(r, "version")) {
			set_str(&pp.p.epoch, xml_attr(r, "epoch"));
			set_str(&pp.p.version, xml_attr(r, "ver"));
			set_str(&pp.p.release, xml_attr(r, "rel"));
		} else if (xml_is(r, "checksum")) {
			set_str(&pp.algo, xml_attr(r, "type"));
			set_str(&pp.hex, xml_text(r));
		} else if (xml_is(r, "location")) {
			set_str(&pp.href, xml_attr(r, "href"));
		}
	}
	if (rc == 0 && (r == NULL || ret < 0 || in))
		rc = rf_error_set(err, -EBADMSG,
				  "not well-formed XML (truncated?)");
	primary_pkg_clear(&pp);
	xmlFreeTextReader(r);
	return rc;
}

/* dir/repodata/repomd.xml, then the primary file it names, verified. */
static int add_rpmmd(struct gen_repo *repo, const char *dir, const char *repomd,
		     struct rf_error *err)
{
	struct rf_buf b = RF_BUF_INIT, path = RF_BUF_INIT;
	char *href = NULL, *algo_name = NULL, *hex = NULL;
	unsigned char want[RF_DIGEST_MAX], got[RF_DIGEST_MAX];
	enum rf_digest_algo algo;
	const char *rel;
	int rc;

	rc = gen_pkg_read_file(repomd, REPOMD_MAX, &b, err);
	if (rc == 0)
		rc = parse_repomd(&b, &href, &algo_name, &hex, err);
	if (rc < 0) {
		rf_error_prefix(err, "%s", repomd);
		goto out;
	}
	algo = algo_by_name(algo_name);
	if (gen_name_check(href, false, &rel) < 0 ||
	    !digest_from_hex(algo, hex, want)) {
		rc = rf_error_set(err, -EBADMSG,
				  "%s: bad location '%s' or %s checksum of "
				  "the primary data",
				  repomd, href, algo_name);
		goto out;
	}
	rf_buf_printf(&path, "%s/%s", dir, rel);
	rc = rf_digest_file(path.data, algo, got, err);
	if (rc < 0)
		goto out;
	if (memcmp(want, got, rf_digest_len(algo)) != 0) {
		rc = rf_error_set(err, -EBADMSG,
				  "%s: %s differs from the one repomd.xml "
				  "gives",
				  path.data, algo_name);
		goto out;
	}
	rf_buf_reset(&b);
	rc = gen_pkg_read_file(path.data, PRIMARY_MAX, &b, err);
	if (rc == 0)
		rc = parse_primary(repo, dir, &b, err);
	if (rc < 0)
		rf_error_prefix(err, "%s", path.data);
out:
	rf_buf_free(&b);
	rf_buf_free(&path);
	free(href);
	free(algo_name);
	free(hex);
	return rc;
}

/* librpm reports through rpmlog(), which would print; keep the last
 * error for the message instead. */
static int rpm_log(rpmlogRec rec, rpmlogCallbackData data)
{
	struct rf_buf *last = data;

	if (rpmlogRecPriority(rec) <= RPMLOG_ERR) {
		rf_buf_reset(last);
		rf_buf_addstr(last, rpmlogRecMessage(rec));
		while (last->len > 0 && last->data[last->len - 1] == '\n')
			last->data[--last->len] = '\0';
	}
	return 0;
}

static char *header_str(Header h, rpmTagVal tag)
{
	const char *s = headerGetString(h, tag);

	return s != NULL ? rf_xstrdup(s) : NULL;
}

/* The package the header of the .rpm at path describes; 1 for a source
 * package (left out). */
static int read_rpm(rpmts ts, const char *path, struct gen_repo_pkg *p,
		    struct rf_buf *log, struct rf_error *err)
{
	FD_t fd = Fopen(path, "r.ufdio");
	Header h = NULL;
	struct rpmtd_s td;
	off_t off;
	rpmRC rr;
	int rc = -EBADMSG;

	if (fd == NULL || Ferror(fd)) {
		rc = rf_error_set(err, -EIO, "cannot open %s: %s", path,
				  fd ? Fstrerror(fd) : "");
		goto out;
	}
	rr = rpmReadPackageFile(ts, fd, path, &h);
	if (rr != RPMRC_OK && rr != RPMRC_NOKEY && rr != RPMRC_NOTTRUSTED) {
		rc = rf_error_set(err, -EBADMSG,
				  "%s: not a readable rpm "
				  "package%s%s",
				  path, log->len ? ": " : "",
				  log->len ? log->data : "");
		goto out;
	}
	if (headerIsSource(h)) {
		rc = 1;
		goto out;
	}
	off = Ftell(fd);
	p->kind = &gen_pkg_rpm;
	p->name = header_str(h, RPMTAG_NAME);
	if (headerIsEntry(h, RPMTAG_EPOCH)) {
		struct rf_buf e = RF_BUF_INIT;

		rf_buf_printf(
			&e, "%llu",
			(unsigned long long)headerGetNumber(h, RPMTAG_EPOCH));
		p->epoch = rf_buf_detach(&e);
	}
	p->version = header_str(h, RPMTAG_VERSION);
	p->release = header_str(h, RPMTAG_RELEASE);
	p->arch = header_str(h, RPMTAG_ARCH);
	p->path = rf_xstrdup(path);
	if (p->name == NULL || p->version == NULL || p->release == NULL ||
	    p->arch == NULL || off <= 0) {
		rc = rf_error_set(err, -EBADMSG,
				  "%s: header without name, "
				  "version, release or arch",
				  path);
		goto out;
	}
	/* the payload digest covers the (compressed) bytes after the
	 * header: verified while they are unpacked */
	if (headerGet(h, RPMTAG_PAYLOADDIGEST, &td, HEADERGET_MINMEM)) {
		const char *hex = rpmtdNextString(&td);

		p->algo = rf_digest_by_openpgp_id(
			headerGetNumber(h, RPMTAG_PAYLOADDIGESTALGO));
		if (!digest_from_hex(p->algo, hex, p->digest)) {
			rpmtdFreeData(&td);
			rc = rf_error_set(err, -EBADMSG,
					  "%s: bad payload digest", path);
			goto out;
		}
		rpmtdFreeData(&td);
		p->digest_from = (uint64_t)off;
	}
	rc = 0;
out:
	headerFree(h);
	if (fd != NULL)
		Fclose(fd);
	return rc;
}

/* The .rpm files of dir (source packages left out). */
static int add_rpms(struct gen_repo *repo, const char *dir,
		    struct rf_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct rf_buf log = RF_BUF_INIT;
	rpmlogCallback old_cb = NULL;
	rpmts ts = NULL;
	int rc = 0;

	if (d == NULL)
		return rf_error_errno(err, -errno, "cannot open %s", dir);
	while (rc >= 0 && (de = readdir(d)) != NULL) {
		struct gen_repo_pkg p = {0};
		struct rf_buf path = RF_BUF_INIT;

		if (!gen_pkg_has_suffix(de->d_name, ".rpm"))
			continue;
		if (ts == NULL) {
			old_cb = rpmlogSetCallback(rpm_log, &log);
			ts = rpmtsCreate();
			/* digests yes, signatures no: there is no keyring */
			rpmtsSetVSFlags(ts, RPMVSF_MASK_NOSIGNATURES);
		}
		rf_buf_reset(&log);
		rf_buf_printf(&path, "%s/%s", dir, de->d_name);
		rc = read_rpm(ts, path.data, &p, &log, err);
		if (rc == 0)
			gen_repo_push(repo, &p);
		gen_repo_pkg_clear(&p);
		rf_buf_free(&path);
	}
	if (ts != NULL) {
		rpmtsFree(ts);
		rpmlogSetCallback(old_cb, NULL);
	}
	rf_buf_free(&log);
	closedir(d);
	return rc < 0 ? rc : 0;
}

static int rpm_add_dir(struct gen_repo *repo, const char *dir,
		       struct rf_error *err)
{
	struct rf_buf repomd = RF_BUF_INIT;
	int rc;

	rf_buf_printf(&repomd, "%s/repodata/repomd.xml", dir);
	if (access(repomd.data, F_OK) == 0)
		rc = add_rpmmd(repo, dir, repomd.data, err);
	else
		rc = add_rpms(repo, dir, err);
	rf_buf_free(&repomd);
	return rc;
}

/* rpm first: it strips what precedes the compressed cpio */
static int rpm_filters(struct archive *a)
{
	archive_read_support_filter_rpm(a);
	return archive_read_support_filter_all(a);
}

static int rpm_unpack(const struct gen_repo_pkg *p, struct gen_pkg_stream *s,
		      const struct gen_dest *dest, const struct gen_limits *lim,
		      struct rf_error *err)
{
	return gen_pkg_unpack_stream(p, s, rpm_filters, "an rpm payload",
				     dest, lim, err);
}

static const char *const rpm_pseudo[] = {"gpg-pubkey", NULL};

const struct gen_pkg_kind gen_pkg_rpm = {
	.name = "rpm",
	.db = "rpm",
	.pseudo = rpm_pseudo,
	.add_dir = rpm_add_dir,
	.unpack = rpm_unpack,
	.payload_format = archive_read_support_format_cpio,
};
