/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef GEN_CACHE_H
#define GEN_CACHE_H

/*
 * The payload cache: the decompressed payload of a package (a .deb's
 * data.tar, an rpm's cpio, a pacman package's tar), stored again with
 * zstd at its fastest level, under the
 * SHA-256 of the package file it came from. A package unpacked a second
 * time, by this run or a later one, is read from there: zstd decodes
 * several times faster than the xz most packages carry, and a package
 * whose repository index gives its SHA-256 is then not read at all.
 *
 * An entry is stored only once the package it came from has been verified
 * against its repository's digest (or, with none, against the SHA-256 the
 * key was computed from), under its final name only once complete
 * (rf_atomic), with zstd's checksum of the content; an entry found damaged
 * when read is removed and the package unpacked from its file instead.
 * Several processes may share a cache: each entry is written whole under
 * a private name first, and removing one that another process reads does
 * not disturb it.
 *
 * The directory must belong to the user running reforge-gen and be
 * writable by no one else: whatever is in it goes into images.
 * gen_cache_close() keeps the whole under its size limit, oldest used
 * first (a hit sets the entry's mtime).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct archive;
struct gen_cache;
struct gen_cache_fill;
struct gen_cache_reader;

/* the key of a payload: kind of package and the SHA-256 of its file */
#define GEN_CACHE_KEY_MAX 96

struct gen_cache_stats {
	uint64_t hits, misses, stored, damaged;
};

/* Open (creating it, mode 0700) the cache in dir, kept under max_bytes
 * (0: no limit). */
int gen_cache_open(const char *dir, uint64_t max_bytes,
		   struct gen_cache **out, struct rf_error *err);
/* Trim to the size limit and free; NULL is allowed. */
void gen_cache_close(struct gen_cache *c);
void gen_cache_stats(const struct gen_cache *c, struct gen_cache_stats *st);

/* Whether a name in the cache's directory is one of its entries. */
bool gen_cache_is_entry(const char *name);

/* key = "<kind>-sha256-<hex of sha256>"; the entry is KEY.zst */
void gen_cache_key(char key[GEN_CACHE_KEY_MAX], const char *kind,
		   const unsigned char sha256[32]);

/*
 * The entry for key as a stream for libarchive (gen_cache_read() is the
 * read callback, the reader its client data); NULL when there is none (a
 * miss, counted). gen_cache_reader_end() reads what libarchive left, then
 * says whether the entry was whole (its checksum right): when not, or when
 * ok is false, the entry is removed (counted as damaged when ok was true).
 */
struct gen_cache_reader *gen_cache_get(struct gen_cache *c, const char *key);
long gen_cache_read(struct archive *a, void *reader, const void **buf);
bool gen_cache_reader_end(struct gen_cache_reader *r, bool ok);
/* Whether reading the entry found it damaged so far. */
bool gen_cache_reader_bad(const struct gen_cache_reader *r);

/*
 * Store a payload as it is read: NULL when it cannot be (the cache is
 * full of errors, a disk full: storing is never what fails an image).
 * gen_cache_fill_end() names the entry when keep, else drops it.
 */
struct gen_cache_fill *gen_cache_fill_new(struct gen_cache *c,
					  const char *key);
void gen_cache_fill_write(struct gen_cache_fill *f, const void *buf,
			  size_t n);
void gen_cache_fill_end(struct gen_cache_fill *f, bool keep);

#endif
