/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writing the overlay (see overlay.h): the report is read back as a stream
 * with xmlTextReader, one file element expanded at a time, and each
 * modified or unowned entry becomes a pax entry. Nothing is written to the
 * source host: the tar goes to the sink as libarchive produces it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <libxml/xmlreader.h>

#include "buf.h"
#include "digest.h"
#include "escape.h"
#include "overlay.h"
#include "rootfs.h"

/* A set of strings (contents sent, link groups seen): open addressing. */
struct strset {
	char **slot;
	size_t cap, n;
};

static size_t str_hash(const char *s)
{
	size_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* Adds s; returns the stored value when it was there, NULL when new. */
static const char *strset_put(struct strset *set, const char *key,
			      const char *value)
{
	size_t i;

	if (set->n * 2 >= set->cap) {
		struct strset bigger = {NULL, set->cap ? set->cap * 2 : 256, 0};

		bigger.slot = rf_xcalloc(bigger.cap, sizeof(char *));
		for (i = 0; i < set->cap; i++)
			if (set->slot[i] != NULL) {
				size_t j = str_hash(set->slot[i]) &
					   (bigger.cap - 1);

				while (bigger.slot[j] != NULL)
					j = (j + 1) & (bigger.cap - 1);
				bigger.slot[j] = set->slot[i];
				bigger.n++;
			}
		free(set->slot);
		*set = bigger;
	}
	for (i = str_hash(key) & (set->cap - 1); set->slot[i] != NULL;
	     i = (i + 1) & (set->cap - 1))
		if (strcmp(set->slot[i], key) == 0)
			return set->slot[i] + strlen(key) + 1;
	{
		size_t kl = strlen(key), vl = strlen(value);
		char *s = rf_xmalloc(kl + vl + 2);

		memcpy(s, key, kl + 1);
		memcpy(s + kl + 1, value, vl + 1);
		set->slot[i] = s;
	}
	set->n++;
	return NULL;
}

static void strset_free(struct strset *set)
{
	for (size_t i = 0; i < set->cap; i++)
		free(set->slot[i]);
	free(set->slot);
}

struct writer {
	const struct scan_overlay_opts *opt;
	scan_overlay_sink sink;
	void *sink_ctx;
	int sink_rc;
	struct archive *a;
	int rootfd;
	struct strset sent, groups;
	struct scan_overlay_stats *stats;
	struct rf_error *err;
};

static la_ssize_t to_sink(struct archive *a, void *ctx, const void *buf,
			  size_t len)
{
	struct writer *w = ctx;
	int rc = w->sink(w->sink_ctx, buf, len);

	if (rc < 0) {
		w->sink_rc = rc;
		archive_set_error(a, -rc, "upload stopped");
		return -1;
	}
	return (la_ssize_t)len;
}

/* A byte-string attribute of node: name, or name-base64 decoded. */
static bool prop_bytes(xmlNodePtr n, const char *name, struct rf_buf *out)
{
	char b64[64];
	xmlChar *v;
	bool ok;

	rf_buf_reset(out);
	v = xmlGetProp(n, BAD_CAST name);
	if (v != NULL) {
		rf_buf_addstr(out, (const char *)v);
		xmlFree(v);
		return true;
	}
	snprintf(b64, sizeof(b64), "%s-base64", name);
	v = xmlGetProp(n, BAD_CAST b64);
	if (v == NULL)
		return false;
	rf_buf_add(out, "", 0);
	ok = rf_base64_decode(out, (const char *)v) == 0;
	xmlFree(v);
	return ok;
}

static unsigned long long prop_num(xmlNodePtr n, const char *name, int base,
				   bool *present)
{
	xmlChar *v = xmlGetProp(n, BAD_CAST name);
	unsigned long long r = 0;

	*present = v != NULL;
	if (v != NULL)
		r = strtoull((const char *)v, NULL, base);
	xmlFree(v);
	return r;
}

static int type_of(const char *t)
{
	if (strcmp(t, "file") == 0)
		return AE_IFREG;
	if (strcmp(t, "directory") == 0)
		return AE_IFDIR;
	if (strcmp(t, "symlink") == 0)
		return AE_IFLNK;
	if (strcmp(t, "fifo") == 0)
		return AE_IFIFO;
	if (strcmp(t, "chardev") == 0)
		return AE_IFCHR;
	if (strcmp(t, "blockdev") == 0)
		return AE_IFBLK;
	return 0; /* sockets and unknown kinds are not recreated */
}

static void add_children(struct archive_entry *e, xmlNodePtr n)
{
	struct rf_buf name = RF_BUF_INIT, val = RF_BUF_INIT;

	for (xmlNodePtr c = n->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (xmlStrcmp(c->name, BAD_CAST "xattr") == 0) {
			if (prop_bytes(c, "name", &name) &&
			    prop_bytes(c, "value", &val))
				archive_entry_xattr_add_entry(
					e, name.data, val.data, val.len);
		} else if (xmlStrcmp(c->name, BAD_CAST "acl") == 0) {
			xmlChar *type = xmlGetProp(c, BAD_CAST "type");
			xmlChar *text = xmlGetProp(c, BAD_CAST "text");

			if (type != NULL && text != NULL)
				archive_entry_acl_from_text(
					e, (const char *)text,
					xmlStrcmp(type, BAD_CAST "default") == 0
						? ARCHIVE_ENTRY_ACL_TYPE_DEFAULT
						: ARCHIVE_ENTRY_ACL_TYPE_ACCESS);
			xmlFree(type);
			xmlFree(text);
		}
	}
	rf_buf_free(&name);
	rf_buf_free(&val);
}

/*
 * The data extents of a sparse file (<extent> children, and the
 * "allocated" attribute that marks the file sparse) as the entry's sparse
 * map, so that its holes are not sent: libarchive's pax writer then takes
 * the whole logical contents and skips the holes' bytes. Extents out of
 * order, overlapping or past the end leave the entry whole.
 */
static void add_sparse(struct archive_entry *e, xmlNodePtr n, uint64_t size)
{
	uint64_t end = 0, count = 0;
	bool has;

	prop_num(n, "allocated", 10, &has);
	if (!has || size == 0)
		return;
	for (xmlNodePtr c = n->children; c != NULL; c = c->next) {
		unsigned long long off, len;
		bool ho, hl;

		if (c->type != XML_ELEMENT_NODE ||
		    xmlStrcmp(c->name, BAD_CAST "extent") != 0)
			continue;
		off = prop_num(c, "offset", 10, &ho);
		len = prop_num(c, "length", 10, &hl);
		if (!ho || !hl || off < end || len > size || off > size - len)
			return;
		end = off + len;
		count++;
	}
	for (xmlNodePtr c = n->children; c != NULL; c = c->next) {
		bool ho, hl;

		if (c->type == XML_ELEMENT_NODE &&
		    xmlStrcmp(c->name, BAD_CAST "extent") == 0 && count > 0)
			archive_entry_sparse_add_entry(
				e, (la_int64_t)prop_num(c, "offset", 10, &ho),
				(la_int64_t)prop_num(c, "length", 10, &hl));
	}
	if (count == 0) /* all hole: one empty extent at the end */
		archive_entry_sparse_add_entry(e, (la_int64_t)size, 0);
}

/* Send size bytes of path, checking them against sha. */
static int send_content(struct writer *w, const char *path, uint64_t size,
			const char *sha)
{
	static const char zeros[4096];
	struct rf_digest *d = rf_digest_new(RF_DIGEST_SHA256, RF_DIGEST_NONE);
	unsigned char md[RF_SHA256_LEN];
	struct rf_buf hex = RF_BUF_INIT;
	char buf[65536];
	uint64_t left = size;
	struct stat sb;
	int fd, rc;

	fd = rf_root_open(w->rootfd, path, O_RDONLY | O_NOATIME | O_NOFOLLOW);
	if (fd == -EPERM) /* O_NOATIME needs ownership or CAP_FOWNER */
		fd = rf_root_open(w->rootfd, path, O_RDONLY | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		rc = rf_error_set(w->err, -ESTALE, "'%s' is no longer the "
				  "regular file the scan read: scan again",
				  path);
		goto out;
	}
	while (left > 0) {
		ssize_t n = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* shrunk: padded below, caught by the digest */
		rf_digest_update(d, buf, (size_t)n);
		if (archive_write_data(w->a, buf, (size_t)n) != n)
			goto archive_fail;
		left -= (uint64_t)n;
	}
	while (left > 0) {
		size_t z = left < sizeof(zeros) ? (size_t)left : sizeof(zeros);

		rf_digest_update(d, zeros, z);
		if (archive_write_data(w->a, zeros, z) != (la_ssize_t)z)
			goto archive_fail;
		left -= z;
	}
	rf_digest_final(d, md, NULL);
	rf_hex_encode(&hex, md, sizeof(md));
	if (strcmp(hex.data, sha) != 0) {
		rc = rf_error_set(w->err, -ESTALE, "'%s' changed since the "
				  "scan: scan again",
				  path);
		goto out;
	}
	w->stats->contents++;
	w->stats->content_bytes += size;
	rc = 0;
	goto out;
archive_fail:
	rc = w->sink_rc < 0 ? rf_error_set(w->err, w->sink_rc, "the overlay's "
					   "receiver stopped")
			    : rf_error_set(w->err, -EIO, "overlay: %s",
					   archive_error_string(w->a));
out:
	if (fd >= 0)
		close(fd);
	rf_digest_free(d);
	rf_buf_free(&hex);
	return rc;
}

static int one_file(struct writer *w, xmlNodePtr n)
{
	struct archive_entry *e = archive_entry_new();
	struct rf_buf path = RF_BUF_INIT, s = RF_BUF_INIT;
	xmlChar *cls = xmlGetProp(n, BAD_CAST "class");
	xmlChar *type = xmlGetProp(n, BAD_CAST "type");
	xmlChar *sha = xmlGetProp(n, BAD_CAST "sha256");
	xmlChar *mtime = xmlGetProp(n, BAD_CAST "mtime");
	unsigned long long size, group;
	bool has, has_size, has_group, carries = false;
	const char *first;
	int ft, rc = 0;

	if (cls == NULL || type == NULL)
		goto out;
	if (xmlStrcmp(cls, BAD_CAST "unmodified") == 0) {
		/* only the files of a package the server asks for whole */
		if (w->opt->want_package == NULL ||
		    xmlStrcmp(type, BAD_CAST "file") != 0 ||
		    !prop_bytes(n, "package", &s) ||
		    !w->opt->want_package(w->opt->want_ctx, s.data))
			goto out;
	} else if (xmlStrcmp(cls, BAD_CAST "modified") != 0 &&
		   xmlStrcmp(cls, BAD_CAST "unowned") != 0) {
		goto out;
	}
	ft = type_of((const char *)type);
	if (ft == 0 || !prop_bytes(n, "path", &path) || path.len < 2 ||
	    path.data[0] != '/')
		goto out; /* "/" itself is the image's root, not an entry */
	archive_entry_copy_pathname(e, path.data + 1);
	archive_entry_set_filetype(e, (unsigned)ft);
	archive_entry_set_perm(e, (mode_t)prop_num(n, "mode", 8, &has));
	archive_entry_set_uid(e, (la_int64_t)prop_num(n, "uid", 10, &has));
	archive_entry_set_gid(e, (la_int64_t)prop_num(n, "gid", 10, &has));
	if (prop_bytes(n, "user", &s))
		archive_entry_copy_uname(e, s.data);
	if (prop_bytes(n, "group", &s))
		archive_entry_copy_gname(e, s.data);
	if (mtime != NULL) {
		char *dot;
		long long sec = strtoll((const char *)mtime, &dot, 10);
		long nsec = 0;

		if (*dot == '.') {
			char digits[10] = "000000000";
			size_t l = strlen(dot + 1);

			memcpy(digits, dot + 1, l < 9 ? l : 9);
			nsec = strtol(digits, NULL, 10);
		}
		archive_entry_set_mtime(e, (time_t)sec, nsec);
	}
	if (ft == AE_IFLNK && prop_bytes(n, "target", &s))
		archive_entry_copy_symlink(e, s.data);
	if (ft == AE_IFCHR || ft == AE_IFBLK) {
		xmlChar *rdev = xmlGetProp(n, BAD_CAST "rdev");
		unsigned maj = 0, min = 0;

		if (rdev != NULL &&
		    sscanf((const char *)rdev, "%u:%u", &maj, &min) == 2)
			archive_entry_set_rdev(e, makedev(maj, min));
		xmlFree(rdev);
	}
	add_children(e, n);
	size = prop_num(n, "size", 10, &has_size);
	group = prop_num(n, "link-group", 10, &has_group);
	archive_entry_set_size(e, 0);
	if (ft == AE_IFREG && has_group) {
		char key[32];

		snprintf(key, sizeof(key), "%llu", group);
		first = strset_put(&w->groups, key, path.data + 1);
		if (first != NULL) {
			if (w->opt->contents_only)
				goto out;
			archive_entry_copy_hardlink(e, first);
			goto write_header;
		}
	}
	if (ft == AE_IFREG && sha != NULL && has_size) {
		bool wanted = w->opt->want == NULL ||
			      w->opt->want(w->opt->want_ctx, (const char *)sha);

		/* each content once: later copies are metadata only */
		if (wanted &&
		    strset_put(&w->sent, (const char *)sha, "") == NULL) {
			archive_entry_set_size(e, (la_int64_t)size);
			add_sparse(e, n, size);
			carries = true;
		}
	}
	/* an empty file carries a content too: the empty one */
	if (w->opt->contents_only && !carries)
		goto out;
write_header:
	if (archive_write_header(w->a, e) != ARCHIVE_OK) {
		rc = w->sink_rc < 0 ? rf_error_set(w->err, w->sink_rc,
						   "the overlay's receiver "
						   "stopped")
				    : rf_error_set(w->err, -EIO, "overlay: %s",
						   archive_error_string(w->a));
		goto out;
	}
	w->stats->entries++;
	if (archive_entry_size(e) > 0)
		rc = send_content(w, path.data, size, (const char *)sha);
out:
	archive_entry_free(e);
	rf_buf_free(&path);
	rf_buf_free(&s);
	xmlFree(cls);
	xmlFree(type);
	xmlFree(sha);
	xmlFree(mtime);
	return rc;
}

int scan_overlay_write(const struct scan_overlay_opts *opt,
		       scan_overlay_sink sink, void *sink_ctx,
		       struct scan_overlay_stats *stats, struct rf_error *err)
{
	struct writer w;
	xmlTextReaderPtr r = NULL;
	bool isolated, in_files = false;
	int fd = -1, rd, rc;

	memset(&w, 0, sizeof(w));
	memset(stats, 0, sizeof(*stats));
	w.opt = opt;
	w.sink = sink;
	w.sink_ctx = sink_ctx;
	w.stats = stats;
	w.err = err;
	w.rootfd = rf_root_open_readonly(opt->root, &isolated);
	if (w.rootfd < 0) {
		rc = rf_error_errno(err, w.rootfd, "cannot open '%s'", opt->root);
		goto out;
	}
	fd = dup(opt->report_fd);
	if (fd < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		rc = rf_error_errno(err, -errno, "cannot read the report");
		goto out;
	}
	r = xmlReaderForFd(fd, NULL, NULL, XML_PARSE_NONET);
	if (r == NULL) {
		rc = rf_error_set(err, -ENOMEM, "cannot read the report");
		goto out;
	}
	w.a = archive_write_new();
	archive_write_set_format_pax(w.a);
	/* paths as the bytes they are, whatever the locale */
	archive_write_set_format_option(w.a, "pax", "hdrcharset", "BINARY");
	archive_write_set_bytes_in_last_block(w.a, 1);
	if (archive_write_open(w.a, &w, NULL, to_sink, NULL) != ARCHIVE_OK) {
		rc = rf_error_set(err, -EIO, "overlay: %s",
				  archive_error_string(w.a));
		goto out;
	}
	rc = 0;
	while (rc == 0 && (rd = xmlTextReaderRead(r)) == 1) {
		int depth = xmlTextReaderDepth(r);
		int nt = xmlTextReaderNodeType(r);
		const char *name = (const char *)xmlTextReaderConstLocalName(r);
		xmlNodePtr node;

		if (nt != XML_READER_TYPE_ELEMENT || name == NULL)
			continue;
		if (depth == 1)
			in_files = strcmp(name, "files") == 0;
		if (depth != 2 || !in_files || strcmp(name, "file") != 0)
			continue;
		node = xmlTextReaderExpand(r);
		if (node == NULL) {
			rc = rf_error_set(err, -EBADMSG, "the report is not "
					  "readable XML");
			break;
		}
		rc = one_file(&w, node);
	}
	if (rc < 0)
		goto out;
	if (archive_write_close(w.a) != ARCHIVE_OK) {
		rc = w.sink_rc < 0 ? rf_error_set(err, w.sink_rc, "the overlay's "
						  "receiver stopped")
				   : rf_error_set(err, -EIO, "overlay: %s",
						  archive_error_string(w.a));
		goto out;
	}
	rc = 0;
out:
	if (w.a != NULL)
		archive_write_free(w.a);
	if (r != NULL)
		xmlFreeTextReader(r);
	if (fd >= 0)
		close(fd);
	if (w.rootfd >= 0)
		close(w.rootfd);
	strset_free(&w.sent);
	strset_free(&w.groups);
	return rc;
}

static int to_fd(void *ctx, const void *data, size_t len)
{
	int fd = *(int *)ctx;
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int scan_overlay_to_file(const char *root, int report_fd, const char *path,
			 struct scan_overlay_stats *stats,
			 struct rf_error *err)
{
	struct scan_overlay_opts oo = {
		.root = root,
		.report_fd = report_fd,
		.want = NULL,
	};
	struct rf_buf tmp = RF_BUF_INIT;
	int fd, rc;

	rf_buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = rf_error_errno(err, -errno, "cannot create '%s'", tmp.data);
		goto out;
	}
	rc = scan_overlay_write(&oo, to_fd, &fd, stats, err);
	if (rc == 0 && fsync(fd) < 0)
		rc = rf_error_errno(err, -errno, "cannot write '%s'", path);
	if (close(fd) < 0 && rc == 0)
		rc = rf_error_errno(err, -errno, "cannot write '%s'", path);
	if (rc == 0 && rename(tmp.data, path) < 0)
		rc = rf_error_errno(err, -errno, "cannot rename to '%s'", path);
	if (rc < 0)
		unlink(tmp.data);
out:
	rf_buf_free(&tmp);
	return rc;
}
