/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef RF_SHA256NI_H
#define RF_SHA256NI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * SHA-256 (FIPS 180-4) with the x86 SHA extensions, two messages at a
 * time. One SHA-256 with them is a chain of dependent round instructions
 * that waits on their latency; two independent chains interleaved keep
 * the unit busy, and on the machines reforge was measured on hash 1.8
 * times as many bytes a second as one (3.2 against 1.8 GB/s, which is
 * what OpenSSL reaches with the same instructions). The scanner's lanes
 * (walk.c) pair their files' chunks through sha256ni_update2().
 */
#define SHA256NI_LEN 32

struct sha256ni {
	uint32_t h[8];
	uint64_t bytes;		/* fed so far */
	unsigned char buf[64];	/* a partial block */
	unsigned nbuf;
};

/* Whether the CPU has the SHA extensions (and SSSE3, SSE4.1); false also
 * when REFORGE_NO_SHANI is set in the environment (tests, comparisons).
 * The other calls are for when it is true. */
bool sha256ni_available(void);

void sha256ni_init(struct sha256ni *c);
void sha256ni_update(struct sha256ni *c, const void *p, size_t n);
/* Both updates at once: the blocks they have in common are hashed
 * together. */
void sha256ni_update2(struct sha256ni *a, const void *pa, size_t na,
		      struct sha256ni *b, const void *pb, size_t nb);
/*
 * The part of two updates they can hash together (after completing their
 * partial blocks): *pa, *na, *pb and *nb are moved past what was hashed,
 * and what is left (of one of them, less than a block) is for a later
 * call, to pair it with another message's bytes or to feed it alone.
 */
void sha256ni_update2_common(struct sha256ni *a, const unsigned char **pa,
			     size_t *na, struct sha256ni *b,
			     const unsigned char **pb, size_t *nb);
void sha256ni_final(struct sha256ni *c, unsigned char out[SHA256NI_LEN]);

#endif
