/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef SRV_REPO_PRIVATE_H
#define SRV_REPO_PRIVATE_H

/*
 * What the repository kinds share with server/repo.c: the kind table, the
 * refresh context through which a kind fetches files and hands over the
 * packages it parsed, and the parsers the fuzz targets reach.
 */

#include <stdio.h>

#include "buf.h"
#include "repo.h"

struct srv_repo_rctx;

typedef int (*srv_repo_emit_fn)(void *arg, const struct srv_repo_pkg *pkg,
				struct rf_error *err);

/*
 * A kind of repository. prepare() checks a definition before it is stored
 * and fills defaults (it may replace strings of def, which it then owns).
 * refresh() fetches and verifies the metadata through ctx and calls
 * srv_repo_emit() for every package; it returns 0, or 1 when
 * srv_repo_meta_seen() said the metadata is the indexed one, or a negative
 * errno. It never touches the database: server/repo.c replaces the index
 * only after refresh() returned 0.
 */
struct srv_repo_kind {
	const char *name;
	int (*prepare)(struct srv_repo_def *def, struct rf_error *err);
	int (*refresh)(struct srv_repo_rctx *ctx, struct rf_error *err);
};

extern const struct srv_repo_kind srv_repo_kind_deb;
extern const struct srv_repo_kind srv_repo_kind_rpmmd;
extern const struct srv_repo_kind srv_repo_kind_pacman;

const struct srv_repo_kind *srv_repo_kind_by_name(const char *name);

/* The definition being refreshed. */
const struct srv_repo_def *srv_repo_ctx_def(struct srv_repo_rctx *ctx);

/*
 * Makes relpath (relative to the repository URL) available as a local file
 * and returns its path in *path (caller frees). For http(s) the copy lives
 * in the metadata cache and is fetched with If-None-Match/If-Modified-Since
 * from the last transfer of that URL. Returns -ENOENT when the file does
 * not exist (404, 410, no such file), other negative errnos on failure.
 */
int srv_repo_get(struct srv_repo_rctx *ctx, const char *relpath, char **path,
		 struct rf_error *err);

/*
 * Identifies the top-level metadata (its SHA-256, hex) that the index about
 * to be built derives from. Returns true when the current index was built
 * from the same metadata: the kind may then stop and return 1.
 */
bool srv_repo_meta_seen(struct srv_repo_rctx *ctx, const char *sha256_hex);

/* Checks gpgv's verdict; see repo.h. out: clearsigned text, else NULL. */
int srv_repo_gpgv(struct srv_repo_rctx *ctx, const char *sig, const char *data,
		  const char *out, struct rf_error *err);
/* A fresh path in the cache for a temporary file (caller frees, unlinks). */
char *srv_repo_tmp_path(struct srv_repo_rctx *ctx, const char *tag);

/* Adds one package to the index being built (strings are copied); ctx is
 * the struct srv_repo_rctx, so that this is a srv_repo_emit_fn. */
int srv_repo_emit(void *ctx, const struct srv_repo_pkg *pkg,
		  struct rf_error *err);

/* Helpers of the kinds, in repo_util.c. */

/* Size (when >= 0) and checksum (algo name, hex) of a file; -EBADMSG if
 * they differ. The file's SHA-256 goes to sha256_hex when not NULL. */
int srv_repo_verify_file(const char *path, int64_t size, const char *algo,
			 const char *hex, char sha256_hex[65],
			 struct rf_error *err);
/* SHA-256 of a file, as hex. */
int srv_repo_sha256_file(const char *path, char hex[65], struct rf_error *err);
/* The whole of a file, decompressed by its content (gzip, xz, bzip2, zstd,
 * lz4 or none), at most max bytes. */
int srv_repo_read_decompressed(const char *path, uint64_t max,
			       struct rf_buf *out, struct rf_error *err);
uint64_t srv_repo_ctx_max(struct srv_repo_rctx *ctx);
/* A location is safe to join to the repository URL and to name a cache
 * file: relative, no "..", no empty or control characters. */
bool srv_repo_location_ok(const char *loc);
/* Replaces every "$var" of s that vars names; returns a new string. */
char *srv_repo_subst(const char *s, const char *const *names,
		     const char *const *values, size_t n);

/*
 * deb822 text (Packages, Release, .sources): stanzas of "Field: value"
 * lines; continuation lines start with a space or tab.
 */
struct srv_deb822 {
	const char *p, *end;
	unsigned line;
};

/* Skips blank and comment lines; false at the end of the text. */
bool srv_deb822_stanza(struct srv_deb822 *it);
/*
 * Next field of the current stanza: 1 and the field (value trimmed, with
 * its continuation lines), 0 at the stanza's end, -EBADMSG on a malformed
 * line (it->line says where).
 */
int srv_deb822_field(struct srv_deb822 *it, const char **name, size_t *nlen,
		     const char **val, size_t *vlen);
bool srv_deb822_is(const char *name, size_t nlen, const char *want);

/* Parsers reached by the fuzz targets: each calls emit for what it finds. */

/* Release file: the checksum (algo, hex, size) of one listed path. */
struct srv_deb_release_entry {
	char algo[8];
	char hex[129];
	int64_t size;
};
int srv_repo_deb_release_lookup(const char *text, size_t len, const char *path,
				struct srv_deb_release_entry *out,
				struct rf_error *err);
/* Strips the OpenPGP clearsign armour of an InRelease file (no check). */
int srv_repo_deb_clearsigned_text(const char *text, size_t len,
				  struct rf_buf *out, struct rf_error *err);
int srv_repo_deb_parse_packages(const char *text, size_t len,
				srv_repo_emit_fn emit, void *arg,
				struct rf_error *err);

/* repomd.xml: the location and checksum of one data type. */
struct srv_rpmmd_data {
	char href[1024];
	char algo[16];
	char hex[129];
	int64_t size;
};
int srv_repo_rpmmd_parse_repomd(const char *text, size_t len, const char *type,
				struct srv_rpmmd_data *out,
				struct rf_error *err);
int srv_repo_rpmmd_parse_primary(const char *text, size_t len,
				 srv_repo_emit_fn emit, void *arg,
				 struct rf_error *err);

/* One pacman desc file. */
int srv_repo_pacman_parse_desc(const char *text, size_t len,
			       srv_repo_emit_fn emit, void *arg,
			       struct rf_error *err);
/* A pacman .db archive (tar, any compression), from memory. */
int srv_repo_pacman_parse_db(const void *data, size_t len,
			     srv_repo_emit_fn emit, void *arg,
			     struct rf_error *err);

#endif
