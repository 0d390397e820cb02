/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading a scan report (lib/report.rng) into the generator's model. The
 * report is outside input: it is read with a streaming reader (memory
 * bounded by what is kept), without network or entity expansion, and
 * every number and path is checked.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <libxml/xmlreader.h>

#include "buf.h"
#include "escape.h"
#include "gen.h"

#define GEN_REPORT_MAX_FILES 50000000

/* The attribute name or its name-base64 twin, as a new string (a value
 * with a NUL inside is refused). NULL when absent or bad. */
static char *attr_bytes(xmlTextReaderPtr rd, const char *name)
{
	xmlChar *v = xmlTextReaderGetAttribute(rd, BAD_CAST name);
	char b64name[64];
	struct rf_buf b = RF_BUF_INIT;
	char *out = NULL;

	if (v != NULL) {
		out = rf_xstrdup((const char *)v);
		xmlFree(v);
		return out;
	}
	snprintf(b64name, sizeof(b64name), "%s-base64", name);
	v = xmlTextReaderGetAttribute(rd, BAD_CAST b64name);
	if (v == NULL)
		return NULL;
	if (rf_base64_decode(&b, (const char *)v) == 0 &&
	    memchr(b.data ? b.data : "", '\0', b.len) == NULL) {
		rf_buf_addch(&b, '\0');
		out = rf_buf_detach(&b);
	}
	rf_buf_free(&b);
	xmlFree(v);
	return out;
}

static int attr_u64(xmlTextReaderPtr rd, const char *name, int base,
		    uint64_t *out)
{
	xmlChar *v = xmlTextReaderGetAttribute(rd, BAD_CAST name);
	char *end;
	int rc = -ENOENT;

	if (v == NULL)
		return rc;
	errno = 0;
	*out = strtoull((const char *)v, &end, base);
	rc = (errno != 0 || end == (char *)v || *end != '\0' ||
	      v[0] == '-')
		     ? -EINVAL
		     : 0;
	xmlFree(v);
	return rc;
}

static mode_t type_by_name(const char *t)
{
	static const struct {
		const char *name;
		mode_t type;
	} types[] = {
		{"file", S_IFREG},      {"directory", S_IFDIR},
		{"symlink", S_IFLNK},   {"fifo", S_IFIFO},
		{"socket", S_IFSOCK},   {"chardev", S_IFCHR},
		{"blockdev", S_IFBLK},
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(t, types[i].name) == 0)
			return types[i].type;
	return 0;
}

static int parse_file(xmlTextReaderPtr rd, struct gen_file *f,
		      struct rf_error *err)
{
	char *path = attr_bytes(rd, "path"), *s = NULL;
	const char *rel;
	uint64_t v;
	int rc = -EINVAL;

	memset(f, 0, sizeof(*f));
	if (path == NULL || path[0] != '/') {
		rc = rf_error_set(err, -EINVAL, "a <file> without an "
				  "absolute path");
		goto out;
	}
	if (strcmp(path, "/") == 0) {
		f->path = rf_xstrdup("");
	} else if (gen_name_check(path, true, &rel) == 0) {
		f->path = rf_xstrdup(rel);
	} else {
		rc = rf_error_set(err, -EINVAL, "bad path '%s'", path);
		goto out;
	}
	s = attr_bytes(rd, "class");
	if (s == NULL)
		goto bad;
	if (strcmp(s, "unmodified") == 0)
		f->cls = GEN_UNMODIFIED;
	else if (strcmp(s, "modified") == 0)
		f->cls = GEN_MODIFIED;
	else if (strcmp(s, "missing") == 0)
		f->cls = GEN_MISSING;
	else if (strcmp(s, "unowned") == 0)
		f->cls = GEN_UNOWNED;
	else
		goto bad;
	f->package = attr_bytes(rd, "package");
	if (f->cls == GEN_MISSING) {
		rc = 0;
		goto out;
	}
	free(s);
	s = attr_bytes(rd, "type");
	if (s == NULL || (f->type = type_by_name(s)) == 0)
		goto bad;
	if (attr_u64(rd, "mode", 8, &v) < 0 || v > 07777)
		goto bad;
	f->mode = (unsigned)v;
	if (attr_u64(rd, "uid", 10, &v) < 0 || v >= UINT32_MAX)
		goto bad;
	f->uid = (uid_t)v;
	if (attr_u64(rd, "gid", 10, &v) < 0 || v >= UINT32_MAX)
		goto bad;
	f->gid = (gid_t)v;
	if (attr_u64(rd, "size", 10, &v) == 0)
		f->size = v;
	/* a sparse file's: what its data takes */
	f->allocated = f->size;
	if (attr_u64(rd, "allocated", 10, &v) == 0 && v < f->size)
		f->allocated = v;
	if (attr_u64(rd, "link-group", 10, &v) == 0)
		f->link_group = v;
	free(s);
	s = attr_bytes(rd, "mtime");
	if (s != NULL) {
		long long sec = 0;
		long nsec = 0;
		char dot;

		if (sscanf(s, "%lld%c%9ld", &sec, &dot, &nsec) != 3 ||
		    dot != '.' || nsec < 0)
			goto bad;
		f->mtime.tv_sec = (time_t)sec;
		f->mtime.tv_nsec = nsec;
	}
	f->target = attr_bytes(rd, "target");
	free(s);
	s = attr_bytes(rd, "rdev");
	if (s != NULL) {
		unsigned maj, min;

		if (sscanf(s, "%u:%u", &maj, &min) != 2)
			goto bad;
		f->rdev = makedev(maj, min);
	}
	rc = 0;
	goto out;
bad:
	rc = rf_error_set(err, -EINVAL, "bad attributes of /%s", f->path);
out:
	free(s);
	free(path);
	return rc;
}

static int parse_child(xmlTextReaderPtr rd, const char *name,
		       struct gen_file *f, struct rf_error *err)
{
	if (strcmp(name, "xattr") == 0) {
		char *xn = attr_bytes(rd, "name");
		xmlChar *v = xmlTextReaderGetAttribute(rd,
						       BAD_CAST "value-base64");
		struct rf_buf b = RF_BUF_INIT;
		struct gen_xattr *x;

		if (xn == NULL || v == NULL ||
		    rf_base64_decode(&b, (const char *)v) < 0 ||
		    b.len > 65536) {
			free(xn);
			xmlFree(v);
			rf_buf_free(&b);
			return rf_error_set(err, -EINVAL, "bad xattr of /%s",
					    f->path);
		}
		xmlFree(v);
		f->xattrs = rf_xrealloc(f->xattrs,
					(f->nxattrs + 1) * sizeof(*f->xattrs));
		x = &f->xattrs[f->nxattrs++];
		x->name = xn;
		x->len = b.len;
		x->value = (unsigned char *)rf_buf_detach(&b);
	} else if (strcmp(name, "acl") == 0) {
		char *t = attr_bytes(rd, "type"), *text = attr_bytes(rd, "text");
		char **slot = NULL;

		if (t != NULL && strcmp(t, "access") == 0)
			slot = &f->acl_access;
		else if (t != NULL && strcmp(t, "default") == 0)
			slot = &f->acl_default;
		free(t);
		if (slot == NULL || text == NULL) {
			free(text);
			return rf_error_set(err, -EINVAL, "bad acl of /%s",
					    f->path);
		}
		free(*slot);
		*slot = text;
	}
	return 0;
}

static void parse_fs(xmlTextReaderPtr rd, struct gen_report *r)
{
	char *kind = attr_bytes(rd, "kind");
	struct gen_fs *fs;
	uint64_t v;

	if (kind == NULL || strcmp(kind, "disk") != 0) {
		free(kind);
		return;
	}
	free(kind);
	r->fs = rf_xrealloc(r->fs, (r->nfs + 1) * sizeof(*r->fs));
	fs = &r->fs[r->nfs++];
	memset(fs, 0, sizeof(*fs));
	fs->mountpoint = attr_bytes(rd, "mountpoint");
	fs->type = attr_bytes(rd, "type");
	fs->uuid = attr_bytes(rd, "uuid");
	fs->label = attr_bytes(rd, "label");
	if (attr_u64(rd, "size", 10, &v) == 0)
		fs->size = v;
	if (attr_u64(rd, "used", 10, &v) == 0)
		fs->used = v;
}

static int walk(xmlTextReaderPtr rd, struct gen_report *r,
		struct rf_error *err)
{
	size_t cap = 0;
	struct gen_file *cur = NULL;
	bool in_repos = false;
	int rc = 0, ret;

	while ((ret = xmlTextReaderRead(rd)) == 1) {
		const char *name;
		int type = xmlTextReaderNodeType(rd);

		if (type == XML_READER_TYPE_END_ELEMENT) {
			name = (const char *)xmlTextReaderConstLocalName(rd);
			if (strcmp(name, "file") == 0)
				cur = NULL;
			else if (strcmp(name, "repositories") == 0)
				in_repos = false;
			continue;
		}
		if (type != XML_READER_TYPE_ELEMENT)
			continue;
		name = (const char *)xmlTextReaderConstLocalName(rd);
		/* the source's repository configuration, files included, is
		 * the server's to read; the tree takes those files from the
		 * overlay like any other */
		if (strcmp(name, "repositories") == 0 &&
		    !xmlTextReaderIsEmptyElement(rd)) {
			in_repos = true;
			continue;
		}
		if (in_repos)
			continue;
		if (strcmp(name, "file") == 0) {
			if (r->nfiles >= GEN_REPORT_MAX_FILES)
				return rf_error_set(err, -EFBIG,
						    "more than %d files",
						    GEN_REPORT_MAX_FILES);
			if (r->nfiles == cap) {
				cap = cap ? cap * 2 : 1024;
				r->files = rf_xrealloc(r->files,
						       cap * sizeof(*r->files));
			}
			cur = &r->files[r->nfiles];
			rc = parse_file(rd, cur, err);
			r->nfiles++; /* freed with the report even when bad */
			if (rc < 0)
				return rc;
			if (xmlTextReaderIsEmptyElement(rd))
				cur = NULL;
		} else if (cur != NULL) {
			rc = parse_child(rd, name, cur, err);
			if (rc < 0)
				return rc;
		} else if (strcmp(name, "package") == 0) {
			struct gen_package *p;

			r->pkgs = rf_xrealloc(r->pkgs,
					      (r->npkgs + 1) * sizeof(*r->pkgs));
			p = &r->pkgs[r->npkgs++];
			p->db = attr_bytes(rd, "db");
			p->name = attr_bytes(rd, "name");
			p->version = attr_bytes(rd, "version");
			p->arch = attr_bytes(rd, "arch");
			p->status = attr_bytes(rd, "status");
			p->epoch = attr_bytes(rd, "epoch");
			p->release = attr_bytes(rd, "release");
			if (p->db == NULL || p->name == NULL ||
			    p->version == NULL)
				return rf_error_set(err, -EINVAL,
						    "a <package> without db, "
						    "name or version");
		} else if (strcmp(name, "filesystem") == 0) {
			parse_fs(rd, r);
		} else if (strcmp(name, "swap") == 0) {
			uint64_t v = 0;

			r->have_swap = true;
			if (attr_u64(rd, "size", 10, &v) == 0)
				r->swap_bytes += v;
		} else if (strcmp(name, "disk") == 0 && r->table == NULL) {
			r->table = attr_bytes(rd, "table");
		} else if (strcmp(name, "boot") == 0 && r->firmware == NULL) {
			r->firmware = attr_bytes(rd, "firmware");
		}
	}
	if (ret < 0) {
		const xmlError *e = xmlGetLastError();

		rc = rf_error_set(err, -EINVAL, "the report is not well-formed "
				  "XML%s%s", e ? ": " : "",
				  e && e->message ? e->message : "");
	}
	return rc;
}

/* libxml2 would print parse errors; the caller gets them in err */
static void quiet(void *arg, const char *msg, xmlParserSeverities severity,
		  xmlTextReaderLocatorPtr locator)
{
	(void)arg;
	(void)msg;
	(void)severity;
	(void)locator;
}

static int load(xmlTextReaderPtr rd, struct gen_report **out,
		struct rf_error *err)
{
	struct gen_report *r = rf_xcalloc(1, sizeof(*r));
	int rc;

	if (rd == NULL) {
		rc = rf_error_set(err, -ENOMEM, "cannot read the report");
		goto out;
	}
	xmlTextReaderSetErrorHandler(rd, quiet, NULL);
	rc = walk(rd, r, err);
out:
	if (rd != NULL)
		xmlFreeTextReader(rd);
	if (rc < 0)
		gen_report_free(r);
	else
		*out = r;
	return rc;
}

int gen_report_load(const char *path, struct gen_report **out,
		    struct rf_error *err)
{
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return rf_error_errno(err, -errno, "cannot open %s", path);
	fclose(f);
	return load(xmlReaderForFile(path, NULL, XML_PARSE_NONET), out, err);
}

int gen_report_parse(const char *data, size_t len, struct gen_report **out,
		     struct rf_error *err)
{
	if (len > INT32_MAX)
		return rf_error_set(err, -EFBIG, "report too large");
	return load(xmlReaderForMemory(data, (int)len, "report.xml", NULL,
				       XML_PARSE_NONET),
		    out, err);
}

void gen_report_free(struct gen_report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nfiles; i++) {
		struct gen_file *f = &r->files[i];

		free(f->path);
		free(f->package);
		free(f->target);
		for (size_t j = 0; j < f->nxattrs; j++) {
			free(f->xattrs[j].name);
			free(f->xattrs[j].value);
		}
		free(f->xattrs);
		free(f->acl_access);
		free(f->acl_default);
	}
	free(r->files);
	for (size_t i = 0; i < r->npkgs; i++) {
		free(r->pkgs[i].db);
		free(r->pkgs[i].name);
		free(r->pkgs[i].version);
		free(r->pkgs[i].arch);
		free(r->pkgs[i].status);
		free(r->pkgs[i].epoch);
		free(r->pkgs[i].release);
	}
	free(r->pkgs);
	for (size_t i = 0; i < r->nfs; i++) {
		free(r->fs[i].mountpoint);
		free(r->fs[i].type);
		free(r->fs[i].uuid);
		free(r->fs[i].label);
	}
	free(r->fs);
	free(r->table);
	free(r->firmware);
	free(r);
}
