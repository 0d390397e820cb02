/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SHA-256 on the SHA extensions (scanner/sha256ni.c) against OpenSSL, the
 * way the scanner's lanes feed it: two messages of random lengths at a
 * time, each cut into chunks of uneven sizes (a chunk ending inside a
 * block, chunks smaller than a block), one stream often ending before the
 * other, and lengths at the edges of the padding. Then the FIPS 180-4
 * examples. Skipped (passing) on a CPU without the extensions.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "sha256ni.h"
#include "cunit_main.h"

#define MAXLEN 20000

static unsigned rnd(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 8) & 0xffffff;
}

static size_t pick_len(unsigned *seed)
{
	static const size_t edge[] = {0,  1,   55,  56,  57,  63,   64,
				      65, 119, 120, 127, 128, 4096, 65536};
	unsigned r = rnd(seed);

	return r % 4 == 0 ? edge[(r >> 2) % (sizeof(edge) / sizeof(edge[0]))]
			  : (size_t)(r >> 2) % MAXLEN;
}

/* A chunk size: mostly whole blocks, sometimes not, sometimes tiny. */
static size_t pick_step(unsigned *seed)
{
	unsigned r = rnd(seed);

	switch (r % 4) {
	case 0: return 64 * (1 + (r >> 2) % 40);
	case 1: return 1 + (r >> 2) % 63;
	default: return 1 + (r >> 2) % 3000;
	}
}

struct msg {
	unsigned char *buf;
	size_t len, off;
	struct sha256ni c;
	unsigned char want[SHA256NI_LEN];
};

static void msg_start(struct msg *m, unsigned *seed)
{
	m->len = pick_len(seed);
	for (size_t i = 0; i < m->len; i++)
		m->buf[i] = (unsigned char)rnd(seed);
	CU_ASSERT_FATAL(EVP_Digest(m->buf, m->len, m->want, NULL,
				   EVP_sha256(), NULL) == 1);
	m->off = 0;
	sha256ni_init(&m->c);
}

static size_t msg_step(struct msg *m, unsigned *seed)
{
	size_t n = pick_step(seed);

	return n < m->len - m->off ? n : m->len - m->off;
}

static void test_pairs(void)
{
	struct msg a = {.buf = malloc(MAXLEN + 65536)},
		   b = {.buf = malloc(MAXLEN + 65536)};
	unsigned seed = 20261124;
	unsigned char got[SHA256NI_LEN];
	unsigned checked = 0;

	if (!sha256ni_available()) {
		printf("no SHA extensions here: nothing to check\n");
		free(a.buf);
		free(b.buf);
		return;
	}
	CU_ASSERT_FATAL(a.buf != NULL && b.buf != NULL);
	msg_start(&a, &seed);
	msg_start(&b, &seed);
	while (checked < 4000) {
		size_t na = msg_step(&a, &seed), nb = msg_step(&b, &seed);
		bool alone = rnd(&seed) % 8 == 0;

		if (alone)
			sha256ni_update(&a.c, a.buf + a.off, na);
		else
			sha256ni_update2(&a.c, a.buf + a.off, na, &b.c,
					 b.buf + b.off, nb);
		a.off += na;
		if (!alone)
			b.off += nb;
		if (a.off == a.len) {
			sha256ni_final(&a.c, got);
			CU_ASSERT(memcmp(got, a.want, SHA256NI_LEN) == 0);
			checked++;
			msg_start(&a, &seed);
		}
		if (b.off == b.len) {
			sha256ni_final(&b.c, got);
			CU_ASSERT(memcmp(got, b.want, SHA256NI_LEN) == 0);
			checked++;
			msg_start(&b, &seed);
		}
	}
	free(a.buf);
	free(b.buf);
}

/*
 * As the scanner's lanes feed it: several messages at once, each given a
 * chunk, the longest paired with the next as far as that one goes, what
 * is left of it with the next (sha256ni_update2_common), the rest alone.
 */
static void test_chains(void)
{
	enum { N = 7 };
	struct msg m[N];
	unsigned seed = 1124;
	unsigned checked = 0;
	unsigned char got[SHA256NI_LEN];

	if (!sha256ni_available())
		return;
	for (int i = 0; i < N; i++) {
		m[i].buf = malloc(MAXLEN + 65536);
		CU_ASSERT_FATAL(m[i].buf != NULL);
		msg_start(&m[i], &seed);
	}
	while (checked < 3000) {
		const unsigned char *p[N];
		size_t n[N];
		int cur = -1;

		for (int i = 0; i < N; i++) {
			n[i] = msg_step(&m[i], &seed);
			p[i] = m[i].buf + m[i].off;
			m[i].off += n[i];
		}
		for (int i = 0; i < N; i++) {
			int done = i;

			if (cur < 0) {
				cur = i;
				continue;
			}
			sha256ni_update2_common(&m[cur].c, &p[cur], &n[cur],
						&m[i].c, &p[i], &n[i]);
			CU_ASSERT(n[cur] < 64 || n[i] < 64);
			if (n[i] >= 64 || n[cur] < 64) {
				done = cur;
				cur = i;
			}
			sha256ni_update(&m[done].c, p[done], n[done]);
		}
		sha256ni_update(&m[cur].c, p[cur], n[cur]);
		for (int i = 0; i < N; i++)
			if (m[i].off == m[i].len) {
				sha256ni_final(&m[i].c, got);
				CU_ASSERT(memcmp(got, m[i].want, SHA256NI_LEN) == 0);
				checked++;
				msg_start(&m[i], &seed);
			}
	}
	for (int i = 0; i < N; i++)
		free(m[i].buf);
}

/* FIPS 180-4's examples: "abc", the 448-bit message, a million a's. */
static void test_vectors(void)
{
	static const char *const want[] = {
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
		"cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
	};
	const char *m2 =
		"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	struct sha256ni c, d;
	unsigned char out[SHA256NI_LEN], out2[SHA256NI_LEN];
	char hex[2 * SHA256NI_LEN + 1];
	char *mill = malloc(1000000);

	if (!sha256ni_available()) {
		free(mill);
		return;
	}
	CU_ASSERT_FATAL(mill != NULL);
	memset(mill, 'a', 1000000);
	sha256ni_init(&c);
	sha256ni_update(&c, "abc", 3);
	sha256ni_final(&c, out);
	for (int i = 0; i < SHA256NI_LEN; i++)
		sprintf(hex + 2 * i, "%02x", out[i]);
	CU_ASSERT_STRING_EQUAL(hex, want[0]);
	/* the other two together */
	sha256ni_init(&c);
	sha256ni_init(&d);
	sha256ni_update2(&c, m2, strlen(m2), &d, mill, 1000000);
	sha256ni_final(&c, out);
	sha256ni_final(&d, out2);
	for (int i = 0; i < SHA256NI_LEN; i++)
		sprintf(hex + 2 * i, "%02x", out[i]);
	CU_ASSERT_STRING_EQUAL(hex, want[1]);
	for (int i = 0; i < SHA256NI_LEN; i++)
		sprintf(hex + 2 * i, "%02x", out2[i]);
	CU_ASSERT_STRING_EQUAL(hex, want[2]);
	free(mill);
}

static CU_TestInfo tests[] = {
	{"pairs of random messages in uneven chunks", test_pairs},
	{"chains of messages paired as far as they go", test_chains},
	{"FIPS 180-4 examples", test_vectors},
	CU_TEST_INFO_NULL,
};

RF_CUNIT_MAIN("sha256ni")
