/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * MD5 in lockstep (scanner/md5mb.c) against OpenSSL's MD5, on many random
 * messages of random lengths, fed the way the scanner feeds them: lanes
 * start and finish at different times, and advance by uneven steps. Both
 * the vector code (when the CPU has it) and the scalar code are checked.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "md5mb.h"
#include "cunit_main.h"

#define MAXLEN 5000

struct lane {
	unsigned char *buf; /* message, then its padding */
	size_t len, blocks, fed;
	unsigned char want[MD5_LEN];
	bool busy;
};

static unsigned rnd(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 8) & 0xffffff;
}

/* Lengths at the edges of the padding besides random ones. */
static size_t pick_len(unsigned *seed)
{
	static const size_t edge[] = {0,  1,   55,  56,  57,  63,
				      64, 119, 120, 127, 128, 4096};
	unsigned r = rnd(seed);

	return r % 4 == 0 ? edge[(r >> 2) % (sizeof(edge) / sizeof(edge[0]))]
			  : (size_t)(r >> 2) % MAXLEN;
}

static void start(struct md5mb *m, struct lane *ln, unsigned l, unsigned *seed)
{
	size_t full;

	ln->len = pick_len(seed);
	for (size_t i = 0; i < ln->len; i++)
		ln->buf[i] = (unsigned char)rnd(seed);
	CU_ASSERT_FATAL(EVP_Digest(ln->buf, ln->len, ln->want, NULL, EVP_md5(),
				   NULL) == 1);
	full = ln->len / MD5_BLOCK;
	ln->blocks = full + md5mb_pad(ln->buf + full * MD5_BLOCK,
				      ln->len % MD5_BLOCK, ln->len);
	ln->fed = 0;
	ln->busy = true;
	md5mb_init(m, l);
}

/*
 * Hash count messages on lanes (those in lanes_mask), each advance by a
 * random number of blocks no larger than what every busy lane has left;
 * with single, one lane at a time (the scalar code).
 */
static void run(uint32_t lanes_mask, int count, bool single, unsigned seed)
{
	struct md5mb m;
	struct lane ln[MD5MB_LANES];
	int started = 0, finished = 0;

	memset(&m, 0, sizeof(m));
	memset(ln, 0, sizeof(ln));
	for (unsigned l = 0; l < MD5MB_LANES; l++)
		ln[l].buf = malloc(MAXLEN + 2 * MD5_BLOCK);
	while (finished < count) {
		const unsigned char *p[MD5MB_LANES] = {NULL};
		uint32_t mask = 0;
		size_t step = (size_t)-1;

		for (unsigned l = 0; l < MD5MB_LANES; l++) {
			if (!((lanes_mask >> l) & 1))
				continue;
			if (!ln[l].busy && started < count) {
				start(&m, &ln[l], l, &seed);
				started++;
			}
			if (!ln[l].busy)
				continue;
			p[l] = ln[l].buf + ln[l].fed * MD5_BLOCK;
			mask |= 1u << l;
			if (ln[l].blocks - ln[l].fed < step)
				step = ln[l].blocks - ln[l].fed;
		}
		CU_ASSERT_FATAL(mask != 0);
		step = 1 + rnd(&seed) % step;
		if (single) {
			for (unsigned l = 0; l < MD5MB_LANES; l++)
				if ((mask >> l) & 1)
					md5mb_blocks(&m, p, 1u << l, step);
		} else {
			md5mb_blocks(&m, p, mask, step);
		}
		for (unsigned l = 0; l < MD5MB_LANES; l++) {
			unsigned char got[MD5_LEN];

			if (!((mask >> l) & 1))
				continue;
			ln[l].fed += step;
			if (ln[l].fed < ln[l].blocks)
				continue;
			md5mb_final(&m, l, got);
			CU_ASSERT(memcmp(got, ln[l].want, MD5_LEN) == 0);
			ln[l].busy = false;
			finished++;
		}
	}
	for (unsigned l = 0; l < MD5MB_LANES; l++)
		free(ln[l].buf);
}

static void test_all_lanes(void)
{
	run(0xffff, 3000, false, 1);
}

static void test_some_lanes(void)
{
	run(0x0812, 500, false, 2); /* lanes 1, 4 and 11 */
	run(0x8001, 500, false, 3);
}

static void test_scalar(void)
{
	run(0xffff, 1000, true, 4);
}

/* The RFC 1321 test suite's vectors, through a lane of their own. */
static void test_rfc1321(void)
{
	static const struct {
		const char *msg, *hex;
	} v[] = {
		{"", "d41d8cd98f00b204e9800998ecf8427e"},
		{"abc", "900150983cd24fb0d6963f7d28e17f72"},
		{"12345678901234567890123456789012345678901234567890123456789"
		 "012345678901234567890",
		 "57edf4a22be3c955ac49da2e2107b67a"},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct md5mb m;
		unsigned char buf[256], got[MD5_LEN];
		const unsigned char *p[MD5MB_LANES];
		size_t len = strlen(v[i].msg), full = len / MD5_BLOCK, n;
		char hex[2 * MD5_LEN + 1];

		memcpy(buf, v[i].msg, len);
		n = full + md5mb_pad(buf + full * MD5_BLOCK, len % MD5_BLOCK,
				     len);
		for (int l = 0; l < MD5MB_LANES; l++) {
			p[l] = buf;
			md5mb_init(&m, (unsigned)l);
		}
		md5mb_blocks(&m, p, 0xffff, n);
		for (int l = 0; l < MD5MB_LANES; l++) {
			md5mb_final(&m, (unsigned)l, got);
			for (int k = 0; k < MD5_LEN; k++)
				snprintf(hex + 2 * k, 3, "%02x", got[k]);
			CU_ASSERT_STRING_EQUAL(hex, v[i].hex);
		}
	}
}

static CU_TestInfo tests[] = {
	{"RFC 1321 vectors", test_rfc1321},
	{"sixteen lanes, uneven", test_all_lanes},
	{"some lanes", test_some_lanes},
	{"scalar", test_scalar},
	CU_TEST_INFO_NULL,
};

RF_CUNIT_MAIN("md5mb")
