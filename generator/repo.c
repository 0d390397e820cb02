/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Package repositories on local disk (file:// URLs) and the unpacking of a
 * package's payload. A Debian package is an ar archive whose member
 * data.tar[.gz|.xz|.zst|.bz2] holds the files; the member is read as a
 * nested stream (no temporary file) and handed to gen_extract(). The
 * package file is hashed as it is read, so the checksum of the index is
 * verified in the same pass.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "buf.h"
#include "digest.h"
#include "escape.h"
#include "gen.h"

/* Largest control file or Packages index read into memory. */
#define CONTROL_MAX (1u << 20)
#define INDEX_MAX (512u << 20)

struct repo_pkg {
	char *name, *version, *arch, *path;
	char *depends, *provides; /* NULL when the control has none */
	unsigned char sha256[RF_SHA256_LEN];
	bool have_sha256;
};

struct gen_repo {
	struct repo_pkg *pkgs;
	size_t npkgs;
};

struct gen_repo *gen_repo_new(void)
{
	return rf_xcalloc(1, sizeof(struct gen_repo));
}

void gen_repo_free(struct gen_repo *repo)
{
	if (repo == NULL)
		return;
	for (size_t i = 0; i < repo->npkgs; i++) {
		free(repo->pkgs[i].name);
		free(repo->pkgs[i].version);
		free(repo->pkgs[i].arch);
		free(repo->pkgs[i].path);
		free(repo->pkgs[i].depends);
		free(repo->pkgs[i].provides);
	}
	free(repo->pkgs);
	free(repo);
}

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
	struct repo_pkg p = {0};
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
		    rf_hex_decode(p.sha256, RF_SHA256_LEN, sha) < 0)
			goto out; /* an index must say what to verify */
		p.have_sha256 = true;
	}
	repo->pkgs = rf_xrealloc(repo->pkgs,
				 (repo->npkgs + 1) * sizeof(*repo->pkgs));
	repo->pkgs[repo->npkgs++] = p;
	memset(&p, 0, sizeof(p));
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

/* Read the current entry of a (at most max bytes) into out. */
static int read_entry(struct archive *a, size_t max, struct rf_buf *out)
{
	char buf[65536];
	ssize_t n;

	while ((n = archive_read_data(a, buf, sizeof(buf))) > 0) {
		if (out->len + (size_t)n > max)
			return -EFBIG;
		rf_buf_add(out, buf, (size_t)n);
	}
	return n < 0 ? -EIO : 0;
}

/* Reading one ar member as a stream of its own. */
static la_ssize_t member_read(struct archive *inner, void *ctx,
			      const void **buf)
{
	static __thread char block[65536];
	la_ssize_t n = archive_read_data((struct archive *)ctx, block,
					 sizeof(block));

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
				rc = read_entry(in, CONTROL_MAX, out);
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

/* Decompress the index (Packages, .gz, .xz) at path into out. */
static int read_index(const char *path, struct rf_buf *out,
		      struct rf_error *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int rc;

	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	archive_read_support_format_empty(a);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		rc = rf_error_set(err, -EIO, "%s: %s", path,
				  archive_error_string(a));
		goto out;
	}
	rc = archive_read_next_header(a, &e);
	if (rc == ARCHIVE_EOF) {
		rc = 0;
		goto out;
	}
	rc = rc == ARCHIVE_OK ? read_entry(a, INDEX_MAX, out) : -EIO;
	if (rc < 0)
		rf_error_set(err, rc, "%s: unreadable index", path);
out:
	archive_read_free(a);
	return rc;
}

static int add_index(struct gen_repo *repo, const char *dir,
		     const char *index, struct rf_error *err)
{
	struct rf_buf b = RF_BUF_INIT;
	const char *p, *end;
	size_t line = 0;
	int rc;

	rc = read_index(index, &b, err);
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
					  "or SHA256", index, line);
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
		size_t n = strlen(de->d_name);
		struct rf_buf path = RF_BUF_INIT, ctl = RF_BUF_INIT;

		if (n < 5 || strcmp(de->d_name + n - 4, ".deb") != 0)
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

int gen_repo_add(struct gen_repo *repo, const char *url, struct rf_error *err)
{
	static const char *const names[] = {"Packages", "Packages.gz",
					    "Packages.xz"};
	const char *dir = url;
	struct stat st;

	if (strncmp(url, "file://", 7) == 0)
		dir = url + 7;
	else if (strstr(url, "://") != NULL)
		return rf_error_set(err, -EPROTONOSUPPORT,
				    "%s: only file:// repositories can be read "
				    "without the server", url);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return rf_error_set(err, -ENOENT, "%s: not a directory", url);
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

static const struct repo_pkg *find(const struct gen_repo *repo,
				   const struct gen_package *pkg)
{
	for (size_t i = 0; i < repo->npkgs; i++) {
		const struct repo_pkg *p = &repo->pkgs[i];

		if (strcmp(p->name, pkg->name) == 0 &&
		    strcmp(p->version, pkg->version) == 0 &&
		    (pkg->arch == NULL || strcmp(p->arch, pkg->arch) == 0))
			return p;
	}
	return NULL;
}

int gen_repo_lookup(const struct gen_repo *repo, const char *name,
		    const char *arch, struct gen_repo_entry *out)
{
	/* by name first; then a virtual name: the first that provides it */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < repo->npkgs; i++) {
			const struct repo_pkg *p = &repo->pkgs[i];

			if (pass == 0 ? strcmp(p->name, name) != 0
				      : p->provides == NULL ||
						!gen_deps_mention(p->provides,
								  name))
				continue;
			if (arch != NULL && strcmp(p->arch, arch) != 0 &&
			    strcmp(p->arch, "all") != 0)
				continue;
			out->name = p->name;
			out->version = p->version;
			out->arch = p->arch;
			out->path = p->path;
			out->depends = p->depends;
			out->provides = p->provides;
			return 0;
		}
	return -ENOENT;
}

bool gen_deps_mention(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; *p != '\0';) {
		while (*p == ' ' || *p == ',' || *p == '|' || *p == '\n' ||
		       *p == '\t')
			p++;
		const char *e = p;

		while (*e != '\0' && *e != ' ' && *e != ',' && *e != '|' &&
		       *e != '(' && *e != ':' && *e != '\n' && *e != '\t')
			e++;
		if ((size_t)(e - p) == n && strncmp(p, name, n) == 0)
			return true;
		/* skip the rest of this alternative: version, arch */
		while (*e != '\0' && *e != ',' && *e != '|')
			e++;
		p = e;
	}
	return false;
}

/* The package file, hashed as libarchive reads it. */
struct hashed {
	int fd;
	struct rf_digest *d;
	char buf[1 << 17];
};

static la_ssize_t hashed_read(struct archive *a, void *ctx, const void **buf)
{
	struct hashed *h = ctx;
	ssize_t n;

	do
		n = read(h->fd, h->buf, sizeof(h->buf));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(a, errno, "read error");
		return -1;
	}
	rf_digest_update(h->d, h->buf, (size_t)n);
	*buf = h->buf;
	return n;
}

int gen_repo_unpack(struct gen_repo *repo, const struct gen_package *pkg,
		    int rootfd, const struct gen_limits *lim,
		    struct rf_error *err)
{
	const struct repo_pkg *p = find(repo, pkg);
	struct hashed *h = NULL;
	struct archive *a = NULL, *in = NULL;
	struct archive_entry *e;
	unsigned char sha[RF_SHA256_LEN];
	bool done = false;
	ssize_t n;
	int rc = -EIO;

	if (p == NULL)
		return rf_error_set(err, -ENOENT, "no repository has %s %s %s",
				    pkg->name, pkg->version,
				    pkg->arch ? pkg->arch : "");
	h = rf_xcalloc(1, sizeof(*h));
	h->fd = open(p->path, O_RDONLY | O_CLOEXEC);
	if (h->fd < 0) {
		rc = rf_error_errno(err, -errno, "cannot open %s", p->path);
		goto out;
	}
	h->d = rf_digest_new(RF_DIGEST_SHA256, RF_DIGEST_NONE);
	a = archive_read_new();
	archive_read_support_format_ar(a);
	if (archive_read_open(a, h, NULL, hashed_read, NULL) != ARCHIVE_OK) {
		rc = rf_error_set(err, -EINVAL, "%s: %s", p->path,
				  archive_error_string(a));
		goto out;
	}
	while (!done && archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);

		if (name == NULL || strncmp(name, "data.tar", 8) != 0)
			continue;
		in = member_open(a);
		if (in == NULL) {
			rc = rf_error_set(err, -EINVAL, "%s: unreadable %s",
					  p->path, name);
			goto out;
		}
		rc = gen_extract(in, rootfd, lim, NULL, NULL, NULL, err);
		if (rc < 0) {
			rf_error_prefix(err, "%s", p->path);
			goto out;
		}
		done = true;
	}
	if (!done) {
		rc = rf_error_set(err, -EINVAL, "%s: no data.tar member",
				  p->path);
		goto out;
	}
	/* what libarchive did not need still counts for the checksum */
	while ((n = read(h->fd, h->buf, sizeof(h->buf))) > 0)
		rf_digest_update(h->d, h->buf, (size_t)n);
	rf_digest_final(h->d, sha, NULL);
	if (p->have_sha256 && memcmp(sha, p->sha256, sizeof(sha)) != 0) {
		rc = rf_error_set(err, -EBADMSG,
				  "%s: SHA-256 differs from the repository's "
				  "index", p->path);
		goto out;
	}
	rc = 0;
out:
	archive_read_free(in);
	archive_read_free(a);
	if (h != NULL) {
		if (h->fd >= 0)
			close(h->fd);
		rf_digest_free(h->d);
		free(h);
	}
	return rc;
}

int gen_overlay_unpack(const char *path, int rootfd,
		       const struct gen_limits *lim,
		       struct gen_extract_stats *stats, struct rf_error *err)
{
	struct archive *a = archive_read_new();
	int rc;

	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, 1 << 17) != ARCHIVE_OK) {
		rc = rf_error_set(err, -EIO, "%s: %s", path,
				  archive_error_string(a));
		goto out;
	}
	rc = gen_extract(a, rootfd, lim, NULL, NULL, stats, err);
	if (rc < 0)
		rf_error_prefix(err, "overlay %s", path);
out:
	archive_read_free(a);
	return rc;
}
