/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SHA-256 on the x86 SHA extensions, one or two messages at a time: see
 * sha256ni.h. The state lives in two registers as the instructions want
 * it (ABEF, CDGH); a block is sixteen groups of four rounds, each group
 * also advancing the message schedule of the ones after it (SHA256MSG1
 * three groups ahead, SHA256MSG2 one group ahead). The two-message code
 * runs the same groups for both, interleaved. The code is compiled for
 * the extensions with a target attribute and only called after a run-time
 * check of the CPU.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sha256ni.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHANI 1
#endif

static int avail = -1;

#ifdef HAVE_SHANI

#define SHANI __attribute__((target("sha,sse4.1,ssse3")))

static const uint32_t K[64] __attribute__((aligned(16))) = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* the state as the round instructions hold it */
struct regs {
	__m128i abef, cdgh;
};

static SHANI inline struct regs load(const uint32_t h[8])
{
	__m128i dcba = _mm_loadu_si128((const __m128i *)h);
	__m128i hgfe = _mm_loadu_si128((const __m128i *)(h + 4));
	__m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
	__m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
	struct regs r;

	r.abef = _mm_alignr_epi8(cdab, efgh, 8);
	r.cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
	return r;
}

static SHANI inline void store(uint32_t h[8], struct regs r)
{
	__m128i feba = _mm_shuffle_epi32(r.abef, 0x1B);
	__m128i dchg = _mm_shuffle_epi32(r.cdgh, 0xB1);

	_mm_storeu_si128((__m128i *)h, _mm_blend_epi16(feba, dchg, 0xF0));
	_mm_storeu_si128((__m128i *)(h + 4), _mm_alignr_epi8(dchg, feba, 8));
}

/*
 * Rounds 4g to 4g+3 of state S with the message words in M[g % 4]; on the
 * way, words 4(g+1).. are completed (SHA256MSG2, from groups g-1 and g)
 * and the first half of words 4(g+3).. is started (SHA256MSG1, from group
 * g-1 and g), as the schedule W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) +
 * W[t-16] allows. g is a constant: the conditions fold away.
 */
#define GROUP(S, M, g)                                                       \
	do {                                                                 \
		__m128i k_ = _mm_add_epi32(                                  \
			M[(g)&3],                                            \
			_mm_load_si128((const __m128i *)&K[4 * (g)]));       \
		S.cdgh = _mm_sha256rnds2_epu32(S.cdgh, S.abef, k_);          \
		if ((g) >= 3 && (g) <= 14)                                   \
			M[((g) + 1) & 3] = _mm_sha256msg2_epu32(             \
				_mm_add_epi32(M[((g) + 1) & 3],              \
					      _mm_alignr_epi8(M[(g)&3],      \
							      M[((g)-1) & 3], \
							      4)),           \
				M[(g)&3]);                                   \
		k_ = _mm_shuffle_epi32(k_, 0x0E);                            \
		S.abef = _mm_sha256rnds2_epu32(S.abef, S.cdgh, k_);          \
		if ((g) >= 1 && (g) <= 12)                                   \
			M[((g)-1) & 3] = _mm_sha256msg1_epu32(M[((g)-1) & 3], \
							      M[(g)&3]);     \
	} while (0)

#define BSWAP_MASK \
	_mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL)

static SHANI void blocks1(uint32_t h[8], const unsigned char *p, size_t n)
{
	const __m128i mask = BSWAP_MASK;
	struct regs s = load(h);

	for (; n > 0; n--, p += 64) {
		struct regs in = s;
		__m128i m[4];

		for (int i = 0; i < 4; i++)
			m[i] = _mm_shuffle_epi8(
				_mm_loadu_si128((const __m128i *)(p + 16 * i)),
				mask);
		GROUP(s, m, 0);
		GROUP(s, m, 1);
		GROUP(s, m, 2);
		GROUP(s, m, 3);
		GROUP(s, m, 4);
		GROUP(s, m, 5);
		GROUP(s, m, 6);
		GROUP(s, m, 7);
		GROUP(s, m, 8);
		GROUP(s, m, 9);
		GROUP(s, m, 10);
		GROUP(s, m, 11);
		GROUP(s, m, 12);
		GROUP(s, m, 13);
		GROUP(s, m, 14);
		GROUP(s, m, 15);
		s.abef = _mm_add_epi32(s.abef, in.abef);
		s.cdgh = _mm_add_epi32(s.cdgh, in.cdgh);
	}
	store(h, s);
}

#define GROUP2(g)             \
	do {                  \
		GROUP(a, ma, g); \
		GROUP(b, mb, g); \
	} while (0)

static SHANI void blocks2(uint32_t ha[8], const unsigned char *pa,
			  uint32_t hb[8], const unsigned char *pb, size_t n)
{
	const __m128i mask = BSWAP_MASK;
	struct regs a = load(ha), b = load(hb);

	for (; n > 0; n--, pa += 64, pb += 64) {
		struct regs ina = a, inb = b;
		__m128i ma[4], mb[4];

		for (int i = 0; i < 4; i++) {
			ma[i] = _mm_shuffle_epi8(
				_mm_loadu_si128((const __m128i *)(pa + 16 * i)),
				mask);
			mb[i] = _mm_shuffle_epi8(
				_mm_loadu_si128((const __m128i *)(pb + 16 * i)),
				mask);
		}
		GROUP2(0);
		GROUP2(1);
		GROUP2(2);
		GROUP2(3);
		GROUP2(4);
		GROUP2(5);
		GROUP2(6);
		GROUP2(7);
		GROUP2(8);
		GROUP2(9);
		GROUP2(10);
		GROUP2(11);
		GROUP2(12);
		GROUP2(13);
		GROUP2(14);
		GROUP2(15);
		a.abef = _mm_add_epi32(a.abef, ina.abef);
		a.cdgh = _mm_add_epi32(a.cdgh, ina.cdgh);
		b.abef = _mm_add_epi32(b.abef, inb.abef);
		b.cdgh = _mm_add_epi32(b.cdgh, inb.cdgh);
	}
	store(ha, a);
	store(hb, b);
}

bool sha256ni_available(void)
{
	if (avail < 0) {
		unsigned a, b, c, d;
		int v = 0;

		if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSSE3) &&
		    (c & bit_SSE4_1) && __get_cpuid_count(7, 0, &a, &b, &c, &d))
			v = (b & (1u << 29)) != 0; /* SHA */
		avail = v && getenv("REFORGE_NO_SHANI") == NULL;
	}
	return avail > 0;
}

#else /* no x86: never available, never called */

static void blocks1(uint32_t h[8], const unsigned char *p, size_t n)
{
	(void)h, (void)p, (void)n;
	abort();
}

static void blocks2(uint32_t ha[8], const unsigned char *pa, uint32_t hb[8],
		    const unsigned char *pb, size_t n)
{
	(void)ha, (void)pa, (void)hb, (void)pb, (void)n;
	abort();
}

bool sha256ni_available(void)
{
	avail = 0;
	return false;
}

#endif

void sha256ni_init(struct sha256ni *c)
{
	static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
				       0xa54ff53a, 0x510e527f, 0x9b05688c,
				       0x1f83d9ab, 0x5be0cd19};

	memcpy(c->h, iv, sizeof(iv));
	c->bytes = 0;
	c->nbuf = 0;
}

/* Complete a partial block from the n bytes at *p (hashed once whole):
 * what is left to hash then starts on a block, or *n is 0. */
static void top_up(struct sha256ni *c, const unsigned char **p, size_t *n)
{
	size_t take;

	if (c->nbuf == 0)
		return;
	take = 64 - c->nbuf < *n ? 64 - c->nbuf : *n;
	memcpy(c->buf + c->nbuf, *p, take);
	c->nbuf += (unsigned)take;
	c->bytes += take;
	*p += take;
	*n -= take;
	if (c->nbuf == 64) {
		blocks1(c->h, c->buf, 1);
		c->nbuf = 0;
	}
}

/* The whole blocks of p, then keep the rest (c->nbuf is 0 or p is empty). */
static void rest(struct sha256ni *c, const unsigned char *p, size_t n)
{
	c->bytes += n;
	if (n >= 64)
		blocks1(c->h, p, n / 64);
	p += n - n % 64;
	n %= 64;
	if (n > 0) {
		memcpy(c->buf + c->nbuf, p, n);
		c->nbuf += (unsigned)n;
	}
}

void sha256ni_update(struct sha256ni *c, const void *data, size_t n)
{
	const unsigned char *p = data;

	top_up(c, &p, &n);
	rest(c, p, n);
}

void sha256ni_update2_common(struct sha256ni *a, const unsigned char **pa,
			     size_t *na, struct sha256ni *b,
			     const unsigned char **pb, size_t *nb)
{
	size_t both;

	top_up(a, pa, na);
	top_up(b, pb, nb);
	if (a->nbuf != 0 || b->nbuf != 0)
		return; /* one is all in its partial block */
	both = (*na / 64 < *nb / 64 ? *na : *nb) / 64;
	if (both == 0)
		return;
	blocks2(a->h, *pa, b->h, *pb, both);
	a->bytes += both * 64;
	b->bytes += both * 64;
	*pa += both * 64;
	*na -= both * 64;
	*pb += both * 64;
	*nb -= both * 64;
}

void sha256ni_update2(struct sha256ni *a, const void *da, size_t na,
		      struct sha256ni *b, const void *db, size_t nb)
{
	const unsigned char *pa = da, *pb = db;

	sha256ni_update2_common(a, &pa, &na, b, &pb, &nb);
	sha256ni_update(a, pa, na);
	sha256ni_update(b, pb, nb);
}

void sha256ni_final(struct sha256ni *c, unsigned char out[SHA256NI_LEN])
{
	unsigned char pad[128];
	uint64_t bits = c->bytes * 8;
	size_t len = c->nbuf, total = len + 9 <= 64 ? 64 : 128;

	memcpy(pad, c->buf, len);
	pad[len] = 0x80;
	memset(pad + len + 1, 0, total - len - 1);
	for (int i = 0; i < 8; i++)
		pad[total - 1 - i] = (unsigned char)(bits >> (8 * i));
	blocks1(c->h, pad, total / 64);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (unsigned char)(c->h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
		out[4 * i + 3] = (unsigned char)c->h[i];
	}
}
