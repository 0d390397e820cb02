/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Package repositories on local disk (file:// URLs) and the unpacking of a
 * package's payload. What a repository holds and how a payload is laid out
 * differ by kind of package (pkg_deb.c, pkg_rpm.c, pkg_pacman.c, behind
 * struct gen_pkg_kind); this file keeps the list of packages, matches the
 * report's packages against it, and opens a package file for its kind
 * with a digest computed as libarchive reads it, so that the checksum of
 * the index is verified in the same pass as the unpacking.
 */
#include "config.h"

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
#include "cache.h"
#include "digest.h"
#include "gen.h"
#include "pkg_kind.h"

/* The registry: the report's package database names its kind. */
static const struct gen_pkg_kind *const kinds[] = {
	&gen_pkg_deb,
	&gen_pkg_rpm,
	&gen_pkg_pacman,
};

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

struct gen_repo {
	struct gen_repo_pkg *pkgs;
	size_t npkgs;
	struct gen_cache *cache; /* the payload cache, or NULL */
};

void gen_repo_set_cache(struct gen_repo *repo, struct gen_cache *cache)
{
	repo->cache = cache;
}

const struct gen_pkg_kind *gen_pkg_kind_by_db(const char *db)
{
	for (size_t i = 0; db != NULL && i < NKINDS; i++)
		if (strcmp(kinds[i]->db, db) == 0)
			return kinds[i];
	return NULL;
}

struct gen_repo *gen_repo_new(void)
{
	return rf_xcalloc(1, sizeof(struct gen_repo));
}

void gen_repo_pkg_clear(struct gen_repo_pkg *p)
{
	free(p->name);
	free(p->epoch);
	free(p->version);
	free(p->release);
	free(p->arch);
	free(p->path);
	free(p->depends);
	free(p->provides);
	memset(p, 0, sizeof(*p));
}

void gen_repo_free(struct gen_repo *repo)
{
	if (repo == NULL)
		return;
	for (size_t i = 0; i < repo->npkgs; i++)
		gen_repo_pkg_clear(&repo->pkgs[i]);
	free(repo->pkgs);
	free(repo);
}

void gen_repo_push(struct gen_repo *repo, struct gen_repo_pkg *p)
{
	repo->pkgs = rf_xrealloc(repo->pkgs,
				 (repo->npkgs + 1) * sizeof(*repo->pkgs));
	repo->pkgs[repo->npkgs++] = *p;
	memset(p, 0, sizeof(*p));
}

bool gen_pkg_has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return n > s && strcmp(name + n - s, suffix) == 0;
}

int gen_pkg_read_entry(struct archive *a, size_t max, struct rf_buf *out)
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

int gen_pkg_read_file(const char *path, size_t max, struct rf_buf *out,
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
	rc = rc == ARCHIVE_OK ? gen_pkg_read_entry(a, max, out) : -EIO;
	if (rc == -EFBIG)
		rf_error_set(err, rc, "%s: more than %zu bytes", path, max);
	else if (rc < 0)
		rf_error_set(err, rc, "%s: unreadable: %s", path,
			     archive_error_string(a));
out:
	archive_read_free(a);
	return rc;
}

int gen_repo_add(struct gen_repo *repo, const char *url, struct rf_error *err)
{
	const char *dir = url;
	struct stat st;
	size_t before = repo->npkgs;

	if (strncmp(url, "file://", 7) == 0)
		dir = url + 7;
	else if (strstr(url, "://") != NULL)
		return rf_error_set(err, -EPROTONOSUPPORT,
				    "%s: only file:// repositories can be read "
				    "without the server",
				    url);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return rf_error_set(err, -ENOENT, "%s: not a directory", url);
	for (size_t i = 0; i < NKINDS; i++) {
		int rc = kinds[i]->add_dir(repo, dir, err);

		if (rc < 0) {
			/* a repository is taken whole or not at all */
			while (repo->npkgs > before)
				gen_repo_pkg_clear(&repo->pkgs[--repo->npkgs]);
			return rc;
		}
	}
	return 0;
}

/* NULL and "" are the same; so are a missing epoch and epoch 0. */
static bool same(const char *a, const char *b, bool epoch)
{
	if (epoch) {
		if (a != NULL && strcmp(a, "0") == 0)
			a = NULL;
		if (b != NULL && strcmp(b, "0") == 0)
			b = NULL;
	}
	if (a == NULL || b == NULL)
		return (a == NULL || *a == '\0') && (b == NULL || *b == '\0');
	return strcmp(a, b) == 0;
}

static const struct gen_repo_pkg *find(const struct gen_repo *repo,
				       const struct gen_package *pkg)
{
	const struct gen_pkg_kind *kind = gen_pkg_kind_by_db(pkg->db);

	for (size_t i = 0; kind != NULL && i < repo->npkgs; i++) {
		const struct gen_repo_pkg *p = &repo->pkgs[i];

		if (p->kind == kind && strcmp(p->name, pkg->name) == 0 &&
		    strcmp(p->version, pkg->version) == 0 &&
		    same(p->epoch, pkg->epoch, true) &&
		    same(p->release, pkg->release, false) &&
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
			const struct gen_repo_pkg *p = &repo->pkgs[i];

			if (pass == 0 ? strcmp(p->name, name) != 0
				      : p->provides == NULL ||
						!gen_deps_mention(p->provides,
								  name))
				continue;
			if (arch != NULL && strcmp(p->arch, arch) != 0 &&
			    strcmp(p->arch, "all") != 0 &&
			    strcmp(p->arch, "noarch") != 0 &&
			    strcmp(p->arch, "any") != 0)
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

/* The package file, hashed as libarchive reads it: the bytes from
 * digest_from on go into the digest, all of them into the key's digest
 * when the cache key was computed from the file (it must be the same file
 * still). */
struct gen_pkg_stream {
	int fd;
	struct rf_digest *d, *kd;
	uint64_t pos, from;
	struct gen_cache_fill *fill; /* the payload, to the cache */
	bool filled;		     /* the kind wrote all of it there */
	char buf[1 << 17];
};

bool gen_pkg_stream_fill(const struct gen_pkg_stream *s)
{
	return s->fill != NULL;
}

/* The payload, read from the raw reader, each byte also to the cache. */
struct tee {
	struct archive *raw;
	struct gen_cache_fill *fill;
	char block[65536];
};

static la_ssize_t tee_read(struct archive *a, void *ctx, const void **buf)
{
	struct tee *t = ctx;
	la_ssize_t n = archive_read_data(t->raw, t->block, sizeof(t->block));

	if (n < 0) {
		archive_set_error(a, archive_errno(t->raw), "%s",
				  archive_error_string(t->raw));
		return -1;
	}
	gen_cache_fill_write(t->fill, t->block, (size_t)n);
	*buf = t->block;
	return n;
}

int gen_pkg_unpack_raw(const struct gen_repo_pkg *p, struct archive *raw,
		       struct gen_pkg_stream *s, const struct gen_dest *dest,
		       const struct gen_limits *lim, struct rf_error *err)
{
	struct tee *t = rf_xcalloc(1, sizeof(*t));
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	la_ssize_t n;
	int rc;

	t->raw = raw;
	t->fill = s->fill;
	p->kind->payload_format(a);
	if (archive_read_next_header(raw, &e) != ARCHIVE_OK ||
	    archive_read_open(a, t, NULL, tee_read, NULL) != ARCHIVE_OK) {
		rc = rf_error_set(err, -EINVAL, "unreadable payload: %s",
				  archive_error_string(raw) != NULL
					  ? archive_error_string(raw)
					  : archive_error_string(a));
		goto out;
	}
	rc = gen_extract(a, dest, lim, p->kind->skip, NULL, NULL, err);
	if (rc < 0)
		goto out;
	/* what follows the archive's end (padding) belongs to it too */
	while ((n = archive_read_data(raw, t->block, sizeof(t->block))) > 0)
		gen_cache_fill_write(t->fill, t->block, (size_t)n);
	if (n == 0)
		s->filled = true;
out:
	archive_read_free(a);
	free(t);
	return rc;
}

int gen_pkg_unpack_stream(const struct gen_repo_pkg *p,
			  struct gen_pkg_stream *s,
			  int (*filters)(struct archive *a), const char *what,
			  const struct gen_dest *dest, const struct gen_limits *lim,
			  struct rf_error *err)
{
	struct archive *a = archive_read_new();
	int rc;

	filters(a);
	if (s->fill != NULL) /* decoded as it is, for the payload cache */
		archive_read_support_format_raw(a);
	else
		p->kind->payload_format(a);
	if (gen_pkg_stream_open(a, s) != ARCHIVE_OK)
		rc = rf_error_set(err, -EINVAL, "not %s: %s", what,
				  archive_error_string(a));
	else if (s->fill != NULL)
		rc = gen_pkg_unpack_raw(p, a, s, dest, lim, err);
	else
		rc = gen_extract(a, dest, lim, p->kind->skip, NULL, NULL,
				 err);
	archive_read_free(a);
	return rc;
}

static void stream_hash(struct gen_pkg_stream *s, const char *buf, size_t n)
{
	if (s->kd != NULL)
		rf_digest_update(s->kd, buf, n);
	if (s->d != NULL && s->pos + n > s->from) {
		size_t skip =
			s->pos >= s->from ? 0 : (size_t)(s->from - s->pos);

		rf_digest_update(s->d, buf + skip, n - skip);
	}
	s->pos += n;
}

static la_ssize_t stream_read(struct archive *a, void *ctx, const void **buf)
{
	struct gen_pkg_stream *s = ctx;
	ssize_t n;

	do
		n = read(s->fd, s->buf, sizeof(s->buf));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(a, errno, "read error");
		return -1;
	}
	stream_hash(s, s->buf, (size_t)n);
	*buf = s->buf;
	return n;
}

int gen_pkg_stream_open(struct archive *a, struct gen_pkg_stream *s)
{
	return archive_read_open(a, s, NULL, stream_read, NULL);
}

/*
 * Unpack the payload stored under key: 0 done, 1 not there (or damaged:
 * removed, and the package is to be unpacked from its file over what was
 * written), < 0 (err set) a failure of the extraction itself.
 */
static int unpack_cached(struct gen_cache *c, const char *key,
			 const struct gen_pkg_kind *kind, const struct gen_dest *dest,
			 const struct gen_limits *lim, struct rf_error *err)
{
	struct gen_cache_reader *r = gen_cache_get(c, key);
	struct archive *a;
	int rc;

	if (r == NULL)
		return 1;
	a = archive_read_new();
	kind->payload_format(a);
	if (archive_read_open(a, r, NULL, gen_cache_read, NULL) != ARCHIVE_OK)
		rc = rf_error_set(err, -EIO, "cache entry %s: %s", key,
				  archive_error_string(a));
	else
		rc = gen_extract(a, dest, lim, kind->skip, NULL, NULL, err);
	archive_read_free(a);
	if (gen_cache_reader_bad(r)) {
		gen_cache_reader_end(r, true);
		return 1;
	}
	if (!gen_cache_reader_end(r, rc == 0) && rc == 0)
		return 1;
	return rc;
}

int gen_repo_unpack(struct gen_repo *repo, const struct gen_package *pkg,
		    const struct gen_dest *dest, const struct gen_limits *lim,
		    struct rf_error *err)
{
	char key[GEN_CACHE_KEY_MAX];
	unsigned char ksum[RF_DIGEST_MAX];
	bool keyed = false, key_from_index = false;
	const struct gen_pkg_kind *kind = gen_pkg_kind_by_db(pkg->db);
	const struct gen_repo_pkg *p = find(repo, pkg);
	struct gen_pkg_stream *s = NULL;
	unsigned char sum[RF_DIGEST_MAX];
	ssize_t n = 0;
	int rc = -EIO;

	if (kind == NULL)
		return rf_error_set(err, -ENOENT,
				    "%s: no kind of package "
				    "serves the '%s' database",
				    pkg->name, pkg->db);
	for (size_t i = 0; kind->pseudo != NULL && kind->pseudo[i]; i++)
		if (strcmp(kind->pseudo[i], pkg->name) == 0)
			return 0; /* nothing to unpack */
	if (p == NULL)
		return rf_error_set(err, -ENOENT,
				    "no repository has %s %s%s%s%s%s %s",
				    pkg->name, pkg->epoch ? pkg->epoch : "",
				    pkg->epoch ? ":" : "", pkg->version,
				    pkg->release ? "-" : "",
				    pkg->release ? pkg->release : "",
				    pkg->arch ? pkg->arch : "");
	if (repo->cache != NULL && p->kind->payload_format != NULL) {
		struct rf_error kerr = {0};

		/* the index's SHA-256 of the whole file names the payload
		 * without reading the file; else the file's own */
		key_from_index = p->algo == RF_DIGEST_SHA256 &&
				 p->digest_from == 0;
		if (key_from_index)
			memcpy(ksum, p->digest, RF_SHA256_LEN);
		keyed = key_from_index ||
			rf_digest_file(p->path, RF_DIGEST_SHA256, ksum, &kerr) ==
				0;
		if (keyed) {
			gen_cache_key(key, p->kind->name, ksum);
			rc = unpack_cached(repo->cache, key, p->kind, dest,
					   lim, err);
			if (rc <= 0)
				return rc;
		}
	}
	s = rf_xcalloc(1, sizeof(*s));
	s->from = p->digest_from;
	if (keyed) {
		s->fill = gen_cache_fill_new(repo->cache, key);
		if (s->fill != NULL && !key_from_index)
			s->kd = rf_digest_new(RF_DIGEST_SHA256, RF_DIGEST_NONE);
	}
	s->fd = open(p->path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0) {
		rc = rf_error_errno(err, -errno, "cannot open %s", p->path);
		goto out;
	}
	if (p->algo != RF_DIGEST_NONE)
		s->d = rf_digest_new(p->algo, RF_DIGEST_NONE);
	rc = p->kind->unpack(p, s, dest, lim, err);
	/* to the caller -ENOENT says no repository has the package; a
	 * package whose entries need what is not there is a bad one */
	if (rc == -ENOENT)
		rc = -EINVAL;
	if (s->d != NULL || s->kd != NULL) {
		/* what libarchive did not need still counts for the digest;
		 * it is checked even when the unpacking failed, since a
		 * damaged file is better named as such than by what broke */
		while ((n = read(s->fd, s->buf, sizeof(s->buf))) > 0)
			stream_hash(s, s->buf, (size_t)n);
		if (s->kd != NULL) {
			/* the file is still the one the key was made of */
			rf_digest_final(s->kd, sum, NULL);
			if (n != 0 || memcmp(sum, ksum, RF_SHA256_LEN) != 0)
				s->filled = false;
		}
	}
	if (s->d != NULL) {
		rf_digest_final(s->d, sum, NULL);
		if (n < 0 && rc == 0) {
			rc = rf_error_errno(err, -errno, "read %s", p->path);
			goto out;
		}
		if (n == 0 &&
		    (s->pos < s->from ||
		     memcmp(sum, p->digest, rf_digest_len(p->algo)) != 0)) {
			rc = rf_error_set(err, -EBADMSG,
					  "%s: %s differs from the one the "
					  "%s gives",
					  p->path,
					  p->algo == RF_DIGEST_SHA256
						  ? "SHA-256"
						  : rf_digest_name(p->algo),
					  p->digest_from > 0
						  ? "package's header"
						  : "repository's index");
			goto out;
		}
	}
	if (rc < 0) {
		rf_error_prefix(err, "%s", p->path);
		goto out;
	}
	rc = 0;
out:
	if (s != NULL) {
		/* stored only from a verified package, read whole */
		gen_cache_fill_end(s->fill, rc == 0 && s->filled);
		if (s->fd >= 0)
			close(s->fd);
		rf_digest_free(s->d);
		rf_digest_free(s->kd);
		free(s);
	}
	return rc;
}

int gen_overlay_unpack(const char *path, const struct gen_dest *dest,
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
	rc = gen_extract(a, dest, lim, NULL, NULL, stats, err);
	if (rc < 0)
		rf_error_prefix(err, "overlay %s", path);
out:
	archive_read_free(a);
	return rc;
}
