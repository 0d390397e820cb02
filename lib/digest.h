/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef RF_DIGEST_H
#define RF_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Content digests. SHA-256 names contents everywhere in reforge (reports,
 * the store, the overlay); the others exist to compare against what package
 * databases recorded (dpkg: MD5; rpm: MD5, SHA-1, SHA-256, ...; pacman:
 * SHA-256 and MD5).
 */
enum rf_digest_algo {
	RF_DIGEST_NONE = 0,
	RF_DIGEST_MD5,
	RF_DIGEST_SHA1,
	RF_DIGEST_SHA224,
	RF_DIGEST_SHA256,
	RF_DIGEST_SHA384,
	RF_DIGEST_SHA512,
};

#define RF_DIGEST_MAX 64
#define RF_SHA256_LEN 32

/* Bytes in a digest of algo, 0 for RF_DIGEST_NONE. */
size_t rf_digest_len(enum rf_digest_algo algo);
/* "md5", "sha256", ...; "none". */
const char *rf_digest_name(enum rf_digest_algo algo);
/* Inverse of rf_digest_name(); RF_DIGEST_NONE when unknown. */
enum rf_digest_algo rf_digest_by_name(const char *name);
/*
 * The algorithm of an OpenPGP hash algorithm id (RFC 4880, 9.4), as rpm
 * headers name file and payload digests (PGPHASHALGO_*); RF_DIGEST_NONE
 * when unknown.
 */
enum rf_digest_algo rf_digest_by_openpgp_id(unsigned long id);

/*
 * Incremental digest over one or two algorithms at once (the scanner hashes
 * a package file with SHA-256 and with the database's own algorithm in one
 * pass over its bytes). The context owns its OpenSSL state.
 */
struct rf_digest;

struct rf_digest *rf_digest_new(enum rf_digest_algo a, enum rf_digest_algo b);
void rf_digest_update(struct rf_digest *d, const void *data, size_t len);
/* Writes rf_digest_len(a) bytes to out_a and rf_digest_len(b) to out_b. */
void rf_digest_final(struct rf_digest *d, unsigned char *out_a,
		     unsigned char *out_b);
/* Starts over with the same algorithms. */
void rf_digest_reset(struct rf_digest *d);
void rf_digest_free(struct rf_digest *d);

/* One-shot SHA-256. */
void rf_sha256(const void *data, size_t len, unsigned char out[RF_SHA256_LEN]);

struct rf_error;
/* The digest (algo) of the whole file at path into out; a negative errno
 * (err set) when it cannot be opened or read. */
int rf_digest_file(const char *path, enum rf_digest_algo algo,
		   unsigned char *out, struct rf_error *err);

#endif
