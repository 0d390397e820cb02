/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * MD5 (RFC 1321) in lockstep over sixteen messages: see md5mb.h. The 64
 * steps are listed once, as a macro, and instantiated twice: on scalars,
 * for one lane, and on AVX-512 vectors, for sixteen. The vector code is
 * compiled for AVX-512F with a target attribute and only called after a
 * run-time check of the CPU, so the program still runs everywhere.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_MD5MB_AVX512 1
#endif

#include "md5mb.h"

/* (function, a, b, c, d, message word, constant, rotation) per step */
#define MD5_STEPS(S) \
	S(F, a, b, c, d,  0, 0xd76aa478,  7) \
	S(F, d, a, b, c,  1, 0xe8c7b756, 12) \
	S(F, c, d, a, b,  2, 0x242070db, 17) \
	S(F, b, c, d, a,  3, 0xc1bdceee, 22) \
	S(F, a, b, c, d,  4, 0xf57c0faf,  7) \
	S(F, d, a, b, c,  5, 0x4787c62a, 12) \
	S(F, c, d, a, b,  6, 0xa8304613, 17) \
	S(F, b, c, d, a,  7, 0xfd469501, 22) \
	S(F, a, b, c, d,  8, 0x698098d8,  7) \
	S(F, d, a, b, c,  9, 0x8b44f7af, 12) \
	S(F, c, d, a, b, 10, 0xffff5bb1, 17) \
	S(F, b, c, d, a, 11, 0x895cd7be, 22) \
	S(F, a, b, c, d, 12, 0x6b901122,  7) \
	S(F, d, a, b, c, 13, 0xfd987193, 12) \
	S(F, c, d, a, b, 14, 0xa679438e, 17) \
	S(F, b, c, d, a, 15, 0x49b40821, 22) \
	S(G, a, b, c, d,  1, 0xf61e2562,  5) \
	S(G, d, a, b, c,  6, 0xc040b340,  9) \
	S(G, c, d, a, b, 11, 0x265e5a51, 14) \
	S(G, b, c, d, a,  0, 0xe9b6c7aa, 20) \
	S(G, a, b, c, d,  5, 0xd62f105d,  5) \
	S(G, d, a, b, c, 10, 0x02441453,  9) \
	S(G, c, d, a, b, 15, 0xd8a1e681, 14) \
	S(G, b, c, d, a,  4, 0xe7d3fbc8, 20) \
	S(G, a, b, c, d,  9, 0x21e1cde6,  5) \
	S(G, d, a, b, c, 14, 0xc33707d6,  9) \
	S(G, c, d, a, b,  3, 0xf4d50d87, 14) \
	S(G, b, c, d, a,  8, 0x455a14ed, 20) \
	S(G, a, b, c, d, 13, 0xa9e3e905,  5) \
	S(G, d, a, b, c,  2, 0xfcefa3f8,  9) \
	S(G, c, d, a, b,  7, 0x676f02d9, 14) \
	S(G, b, c, d, a, 12, 0x8d2a4c8a, 20) \
	S(H, a, b, c, d,  5, 0xfffa3942,  4) \
	S(H, d, a, b, c,  8, 0x8771f681, 11) \
	S(H, c, d, a, b, 11, 0x6d9d6122, 16) \
	S(H, b, c, d, a, 14, 0xfde5380c, 23) \
	S(H, a, b, c, d,  1, 0xa4beea44,  4) \
	S(H, d, a, b, c,  4, 0x4bdecfa9, 11) \
	S(H, c, d, a, b,  7, 0xf6bb4b60, 16) \
	S(H, b, c, d, a, 10, 0xbebfbc70, 23) \
	S(H, a, b, c, d, 13, 0x289b7ec6,  4) \
	S(H, d, a, b, c,  0, 0xeaa127fa, 11) \
	S(H, c, d, a, b,  3, 0xd4ef3085, 16) \
	S(H, b, c, d, a,  6, 0x04881d05, 23) \
	S(H, a, b, c, d,  9, 0xd9d4d039,  4) \
	S(H, d, a, b, c, 12, 0xe6db99e5, 11) \
	S(H, c, d, a, b, 15, 0x1fa27cf8, 16) \
	S(H, b, c, d, a,  2, 0xc4ac5665, 23) \
	S(I, a, b, c, d,  0, 0xf4292244,  6) \
	S(I, d, a, b, c,  7, 0x432aff97, 10) \
	S(I, c, d, a, b, 14, 0xab9423a7, 15) \
	S(I, b, c, d, a,  5, 0xfc93a039, 21) \
	S(I, a, b, c, d, 12, 0x655b59c3,  6) \
	S(I, d, a, b, c,  3, 0x8f0ccc92, 10) \
	S(I, c, d, a, b, 10, 0xffeff47d, 15) \
	S(I, b, c, d, a,  1, 0x85845dd1, 21) \
	S(I, a, b, c, d,  8, 0x6fa87e4f,  6) \
	S(I, d, a, b, c, 15, 0xfe2ce6e0, 10) \
	S(I, c, d, a, b,  6, 0xa3014314, 15) \
	S(I, b, c, d, a, 13, 0x4e0811a1, 21) \
	S(I, a, b, c, d,  4, 0xf7537e82,  6) \
	S(I, d, a, b, c, 11, 0xbd3af235, 10) \
	S(I, c, d, a, b,  2, 0x2ad7d2bb, 15) \
	S(I, b, c, d, a,  9, 0xeb86d391, 21)

static const uint32_t md5_iv[4] = {0x67452301, 0xefcdab89, 0x98badcfe,
				   0x10325476};

static inline uint32_t rol32(uint32_t x, unsigned s)
{
	return (x << s) | (x >> (32 - s));
}

static inline uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

#define SF(b, c, d) (((b) & (c)) | (~(b) & (d)))
#define SG(b, c, d) (((b) & (d)) | ((c) & ~(d)))
#define SH(b, c, d) ((b) ^ (c) ^ (d))
#define SI(b, c, d) ((c) ^ ((b) | ~(d)))
#define SCALAR_STEP(f, a, b, c, d, w, k, s)                                    \
	a = b + rol32(a + S##f(b, c, d) + x[w] + (uint32_t)(k), s);

static void md5_scalar(uint32_t st[4], const unsigned char *p, size_t n)
{
	for (; n > 0; n--, p += MD5_BLOCK) {
		uint32_t x[16], a = st[0], b = st[1], c = st[2], d = st[3];

		for (int i = 0; i < 16; i++)
			x[i] = le32(p + 4 * i);
		MD5_STEPS(SCALAR_STEP)
		st[0] += a;
		st[1] += b;
		st[2] += c;
		st[3] += d;
	}
}

#ifdef HAVE_MD5MB_AVX512
/* F, G, H and I are each one ternary-logic instruction */
#define VF 0xca
#define VG 0xe4
#define VH 0x96
#define VI 0x39
#define VECTOR_STEP(f, a, b, c, d, w, k, s)                                    \
	a = _mm512_add_epi32(a, _mm512_add_epi32(x[w], _mm512_set1_epi32(    \
							       (int)(k))));    \
	a = _mm512_add_epi32(a, _mm512_ternarylogic_epi32(b, c, d, V##f));     \
	a = _mm512_add_epi32(_mm512_rol_epi32(a, s), b);

/* A 4x4 transpose of the 128-bit quarters of a, b, c and d. */
#define QUARTERS(a, b, c, d, o0, o1, o2, o3)                                   \
	do {                                                                   \
		__m512i v0 = _mm512_shuffle_i32x4(a, b, 0x44);                 \
		__m512i v1 = _mm512_shuffle_i32x4(a, b, 0xee);                 \
		__m512i v2 = _mm512_shuffle_i32x4(c, d, 0x44);                 \
		__m512i v3 = _mm512_shuffle_i32x4(c, d, 0xee);                 \
		o0 = _mm512_shuffle_i32x4(v0, v2, 0x88);                       \
		o1 = _mm512_shuffle_i32x4(v0, v2, 0xdd);                       \
		o2 = _mm512_shuffle_i32x4(v1, v3, 0x88);                       \
		o3 = _mm512_shuffle_i32x4(v1, v3, 0xdd);                       \
	} while (0)

/*
 * One block of each lane, r[l] holding lane l's sixteen words, turned into
 * x[w] holding word w of every lane: a 16x16 transpose of 32-bit words,
 * by pairs of words, then of quadwords, then of 128-bit quarters.
 */
__attribute__((target("avx512f"))) static inline void
transpose16(const __m512i r[16], __m512i x[16])
{
	__m512i t[16], u[16];

	for (int k = 0; k < 16; k += 2) {
		t[k] = _mm512_unpacklo_epi32(r[k], r[k + 1]);
		t[k + 1] = _mm512_unpackhi_epi32(r[k], r[k + 1]);
	}
	for (int k = 0; k < 16; k += 4) {
		u[k] = _mm512_unpacklo_epi64(t[k], t[k + 2]);
		u[k + 1] = _mm512_unpackhi_epi64(t[k], t[k + 2]);
		u[k + 2] = _mm512_unpacklo_epi64(t[k + 1], t[k + 3]);
		u[k + 3] = _mm512_unpackhi_epi64(t[k + 1], t[k + 3]);
	}
	/* u[4k + m], quarter j: word 4j + m of lanes 4k..4k + 3 */
	for (int m = 0; m < 4; m++)
		QUARTERS(u[m], u[4 + m], u[8 + m], u[12 + m], x[m], x[4 + m],
			 x[8 + m], x[12 + m]);
}

/* What a lane outside the mask reads: never used, but readable. */
static const unsigned char idle_block[MD5_BLOCK] __attribute__((aligned(64)));

__attribute__((target("avx512f"))) static void
md5_x16(struct md5mb *m, const unsigned char *const p[MD5MB_LANES],
	uint32_t mask, size_t n)
{
	__m512i a = _mm512_loadu_si512(m->st[0]), b = _mm512_loadu_si512(m->st[1]);
	__m512i c = _mm512_loadu_si512(m->st[2]), d = _mm512_loadu_si512(m->st[3]);
	const unsigned char *q[MD5MB_LANES];
	size_t step[MD5MB_LANES];

	for (int l = 0; l < MD5MB_LANES; l++) {
		bool on = (mask >> l) & 1;

		q[l] = on ? p[l] : idle_block;
		step[l] = on ? MD5_BLOCK : 0;
	}
	for (size_t blk = 0; blk < n; blk++) {
		__m512i r[16], x[16], sa = a, sb = b, sc = c, sd = d;

		for (int l = 0; l < MD5MB_LANES; l++) {
			r[l] = _mm512_loadu_si512(q[l]);
			q[l] += step[l];
		}
		transpose16(r, x);
		MD5_STEPS(VECTOR_STEP)
		a = _mm512_add_epi32(a, sa);
		b = _mm512_add_epi32(b, sb);
		c = _mm512_add_epi32(c, sc);
		d = _mm512_add_epi32(d, sd);
	}
	_mm512_storeu_si512(m->st[0], a);
	_mm512_storeu_si512(m->st[1], b);
	_mm512_storeu_si512(m->st[2], c);
	_mm512_storeu_si512(m->st[3], d);
}
#endif

static int avail = -1;

bool md5mb_available(void)
{
	if (avail < 0) {
		int v = 0;
#ifdef HAVE_MD5MB_AVX512
		__builtin_cpu_init();
		v = __builtin_cpu_supports("avx512f") &&
		    getenv("REFORGE_NO_MD5MB") == NULL;
#endif
		avail = v;
	}
	return avail > 0;
}

void md5mb_init(struct md5mb *m, unsigned lane)
{
	for (int w = 0; w < 4; w++)
		m->st[w][lane] = md5_iv[w];
}

void md5mb_blocks(struct md5mb *m, const unsigned char *const p[MD5MB_LANES],
		  uint32_t mask, size_t nblocks)
{
	mask &= (1u << MD5MB_LANES) - 1;
	if (nblocks == 0 || mask == 0)
		return;
#ifdef HAVE_MD5MB_AVX512
	if ((mask & (mask - 1)) != 0 && md5mb_available()) {
		md5_x16(m, p, mask, nblocks);
		return;
	}
#endif
	for (unsigned l = 0; l < MD5MB_LANES; l++) {
		uint32_t st[4];

		if (!((mask >> l) & 1))
			continue;
		for (int w = 0; w < 4; w++)
			st[w] = m->st[w][l];
		md5_scalar(st, p[l], nblocks);
		for (int w = 0; w < 4; w++)
			m->st[w][l] = st[w];
	}
}

size_t md5mb_pad(unsigned char *tail, size_t len, uint64_t total)
{
	size_t n = len < 56 ? 1 : 2;
	uint64_t bits = total * 8;

	tail[len] = 0x80;
	memset(tail + len + 1, 0, n * MD5_BLOCK - len - 1);
	for (int i = 0; i < 8; i++)
		tail[n * MD5_BLOCK - 8 + i] = (unsigned char)(bits >> (8 * i));
	return n;
}

void md5mb_final(const struct md5mb *m, unsigned lane,
		 unsigned char out[MD5_LEN])
{
	for (int w = 0; w < 4; w++)
		for (int i = 0; i < 4; i++)
			out[4 * w + i] =
				(unsigned char)(m->st[w][lane] >> (8 * i));
}
