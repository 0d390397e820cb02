/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef GEN_PKG_KIND_H
#define GEN_PKG_KIND_H

/*
 * Kinds of package (Debian .deb, rpm, pacman .pkg.tar.*) behind one table
 * each, one file per kind (pkg_deb.c, pkg_rpm.c, pkg_pacman.c), looked up
 * by the report's package database in repo.c. A kind finds its packages in
 * a local repository directory and unpacks a package's payload; repo.c
 * keeps the list, matches a report's package, opens the package file and
 * verifies its digest while the kind reads it.
 *
 * Private to generator/: gen.h is the interface main.c and the tests use.
 */

#include <stdint.h>

#include "digest.h"
#include "extract.h"
#include "gen.h"

struct archive;
struct rf_buf;

/*
 * One package file of a repository; every string is owned by the entry.
 * The version is split as the report's database spells it (see struct
 * gen_package): dpkg keeps the epoch in version, rpm has epoch, version and
 * release apart, alpm has epoch apart and "pkgver-pkgrel" in version.
 */
struct gen_repo_pkg {
	const struct gen_pkg_kind *kind;
	char *name, *epoch, *version, *release, *arch, *path;
	char *depends, *provides; /* NULL when the package has none */
	/* what to verify: the digest of the file's bytes from offset
	 * digest_from to its end (an index's checksum covers the whole file,
	 * an rpm's payload digest the bytes after its header) */
	enum rf_digest_algo algo; /* RF_DIGEST_NONE: nothing to verify */
	unsigned char digest[RF_DIGEST_MAX];
	uint64_t digest_from;
};

/* The package file being unpacked, as a libarchive read callback source;
 * repo.c hashes what passes through it. */
struct gen_pkg_stream;

struct gen_pkg_kind {
	const char *name; /* "deb", "rpm", "pacman" */
	const char *db;	  /* the report's <package db=...> it serves */
	/* names the database gives to what is no package file and has no
	 * payload (rpm's gpg-pubkey: an imported key, whose only trace is
	 * the database itself, which the overlay carries); NULL-ended */
	const char *const *pseudo;
	/*
	 * Add to repo the packages of this kind in dir: those an index of
	 * the kind lists (its checksums to be verified), or, without an
	 * index, the package files of the directory. 0 also when dir holds
	 * none; a negative errno (err set) on a bad index or package file.
	 */
	int (*add_dir)(struct gen_repo *repo, const char *dir,
		       struct rf_error *err);
	/*
	 * Unpack the payload of p, read from s, into dest with
	 * gen_extract(). Must keep no state outside the call (packages are
	 * unpacked on several threads at once).
	 */
	int (*unpack)(const struct gen_repo_pkg *p, struct gen_pkg_stream *s,
		      const struct gen_dest *dest, const struct gen_limits *lim,
		      struct rf_error *err);
	/*
	 * The payload cache (cache.h). The payload is one archive whose
	 * format this registers on a reader (tar, cpio), NULL when the
	 * kind's payloads are not cached; when gen_pkg_stream_fill(s) is
	 * true, unpack() hands the decoded payload to gen_pkg_unpack_raw(),
	 * which also stores it. skip: what of the payload is no file of the
	 * package (pacman's dot members), NULL when all is.
	 */
	int (*payload_format)(struct archive *a);
	gen_extract_skip_fn skip;
};

/* Whether unpack() is to store the payload as it reads it. */
bool gen_pkg_stream_fill(const struct gen_pkg_stream *s);

/*
 * raw: an open reader of the "raw" format whose one entry is the decoded
 * payload of p. Reads it in the kind's format, extracts it into dest
 * (what the kind skips aside) and stores every byte of it in the payload
 * cache.
 */
int gen_pkg_unpack_raw(const struct gen_repo_pkg *p, struct archive *raw,
		       struct gen_pkg_stream *s, const struct gen_dest *dest,
		       const struct gen_limits *lim, struct rf_error *err);

/*
 * Unpack p when its payload is the package file itself once filters (the
 * rpm lead and headers, compression) are taken off: the kind's format, or
 * through the payload cache (gen_pkg_unpack_raw()) when s fills it. what
 * names the payload in a message ("an rpm payload").
 */
int gen_pkg_unpack_stream(const struct gen_repo_pkg *p,
			  struct gen_pkg_stream *s,
			  int (*filters)(struct archive *a), const char *what,
			  const struct gen_dest *dest, const struct gen_limits *lim,
			  struct rf_error *err);

extern const struct gen_pkg_kind gen_pkg_deb;
extern const struct gen_pkg_kind gen_pkg_rpm;
extern const struct gen_pkg_kind gen_pkg_pacman;

/* The kind serving a report's package database, NULL when none does. */
const struct gen_pkg_kind *gen_pkg_kind_by_db(const char *db);

/* Frees the strings of p and zeroes it. */
void gen_repo_pkg_clear(struct gen_repo_pkg *p);

/* Adds *p to repo, which takes over its strings (p is zeroed). */
void gen_repo_push(struct gen_repo *repo, struct gen_repo_pkg *p);

/* Opens a on the package stream s (formats and filters already set).
 * Returns ARCHIVE_OK or libarchive's error. */
int gen_pkg_stream_open(struct archive *a, struct gen_pkg_stream *s);

/* Reads the current entry of a into out, at most max bytes: -EFBIG past
 * it, -EIO on a read error. */
int gen_pkg_read_entry(struct archive *a, size_t max, struct rf_buf *out);

/* The file at path, decompressed by its content (gzip, xz, zstd, bzip2 or
 * none), at most max bytes, into out. */
int gen_pkg_read_file(const char *path, size_t max, struct rf_buf *out,
		      struct rf_error *err);

/* Whether name ends with suffix. */
bool gen_pkg_has_suffix(const char *name, const char *suffix);

#endif
