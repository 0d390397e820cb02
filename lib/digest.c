/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "digest.h"
#include "error.h"

struct rf_digest {
	EVP_MD_CTX *ctx[2];
	const EVP_MD *md[2];
};

static const struct {
	const char *name;
	size_t len;
} algos[] = {
	[RF_DIGEST_NONE] = {"none", 0},
	[RF_DIGEST_MD5] = {"md5", 16},
	[RF_DIGEST_SHA1] = {"sha1", 20},
	[RF_DIGEST_SHA224] = {"sha224", 28},
	[RF_DIGEST_SHA256] = {"sha256", 32},
	[RF_DIGEST_SHA384] = {"sha384", 48},
	[RF_DIGEST_SHA512] = {"sha512", 64},
};

size_t rf_digest_len(enum rf_digest_algo algo)
{
	return (unsigned)algo < sizeof(algos) / sizeof(algos[0])
		       ? algos[algo].len
		       : 0;
}

const char *rf_digest_name(enum rf_digest_algo algo)
{
	return (unsigned)algo < sizeof(algos) / sizeof(algos[0])
		       ? algos[algo].name
		       : "none";
}

enum rf_digest_algo rf_digest_by_name(const char *name)
{
	size_t i;

	for (i = 1; i < sizeof(algos) / sizeof(algos[0]); i++)
		if (strcmp(algos[i].name, name) == 0)
			return (enum rf_digest_algo)i;
	return RF_DIGEST_NONE;
}

enum rf_digest_algo rf_digest_by_openpgp_id(unsigned long id)
{
	switch (id) {
	case 1:
		return RF_DIGEST_MD5;
	case 2:
		return RF_DIGEST_SHA1;
	case 8:
		return RF_DIGEST_SHA256;
	case 9:
		return RF_DIGEST_SHA384;
	case 10:
		return RF_DIGEST_SHA512;
	case 11:
		return RF_DIGEST_SHA224;
	default:
		return RF_DIGEST_NONE;
	}
}

/*
 * OpenSSL 3 looks an algorithm up in its provider store, under a lock, each
 * time EVP_sha256() and friends are passed to an init: a cost paid per file
 * and contended between hashing threads. The algorithms are fetched once
 * instead, and kept for the life of the process.
 */
static const EVP_MD *fetched[RF_DIGEST_SHA512 + 1];
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_all(void)
{
	static const char *const names[] = {
		[RF_DIGEST_MD5] = "MD5",       [RF_DIGEST_SHA1] = "SHA1",
		[RF_DIGEST_SHA224] = "SHA224", [RF_DIGEST_SHA256] = "SHA256",
		[RF_DIGEST_SHA384] = "SHA384", [RF_DIGEST_SHA512] = "SHA512",
	};

	for (size_t i = 1; i < sizeof(names) / sizeof(names[0]); i++)
		fetched[i] = EVP_MD_fetch(NULL, names[i], NULL);
}

static const EVP_MD *evp_md(enum rf_digest_algo algo)
{
	if (algo <= RF_DIGEST_NONE || algo > RF_DIGEST_SHA512)
		return NULL;
	pthread_once(&fetch_once, fetch_all);
	return fetched[algo];
}

struct rf_digest *rf_digest_new(enum rf_digest_algo a, enum rf_digest_algo b)
{
	struct rf_digest *d = rf_xcalloc(1, sizeof(*d));

	d->md[0] = evp_md(a);
	d->md[1] = evp_md(b);
	for (int i = 0; i < 2; i++) {
		if (d->md[i] == NULL)
			continue;
		d->ctx[i] = EVP_MD_CTX_new();
		if (d->ctx[i] == NULL ||
		    !EVP_DigestInit_ex(d->ctx[i], d->md[i], NULL))
			abort(); /* only fails when out of memory */
	}
	return d;
}

void rf_digest_update(struct rf_digest *d, const void *data, size_t len)
{
	for (int i = 0; i < 2; i++)
		if (d->ctx[i])
			EVP_DigestUpdate(d->ctx[i], data, len);
}

void rf_digest_final(struct rf_digest *d, unsigned char *out_a,
		     unsigned char *out_b)
{
	unsigned char *out[2] = {out_a, out_b};

	for (int i = 0; i < 2; i++)
		if (d->ctx[i] && out[i])
			EVP_DigestFinal_ex(d->ctx[i], out[i], NULL);
}

void rf_digest_reset(struct rf_digest *d)
{
	for (int i = 0; i < 2; i++)
		if (d->ctx[i])
			EVP_DigestInit_ex(d->ctx[i], d->md[i], NULL);
}

void rf_digest_free(struct rf_digest *d)
{
	if (d == NULL)
		return;
	for (int i = 0; i < 2; i++)
		EVP_MD_CTX_free(d->ctx[i]);
	free(d);
}

void rf_sha256(const void *data, size_t len, unsigned char out[RF_SHA256_LEN])
{
	EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL);
}

int rf_digest_file(const char *path, enum rf_digest_algo algo,
		   unsigned char *out, struct rf_error *err)
{
	struct rf_digest *d;
	char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return rf_error_errno(err, -errno, "cannot open %s", path);
	d = rf_digest_new(algo, RF_DIGEST_NONE);
	while ((n = read(fd, buf, sizeof(buf))) > 0 ||
	       (n < 0 && errno == EINTR))
		if (n > 0)
			rf_digest_update(d, buf, (size_t)n);
	if (n < 0)
		rc = rf_error_errno(err, -errno, "cannot read %s", path);
	else
		rf_digest_final(d, out, NULL);
	rf_digest_free(d);
	close(fd);
	return rc;
}
