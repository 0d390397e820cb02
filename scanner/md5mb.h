/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef RF_MD5MB_H
#define RF_MD5MB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * MD5 of up to MD5MB_LANES messages in lockstep. dpkg records MD5 for its
 * files, so the scanner computes MD5 besides SHA-256 for every package
 * file; one MD5 is a serial chain of dependent 32-bit operations that no
 * single core runs fast, but sixteen independent ones fill the sixteen
 * 32-bit lanes of an AVX-512 register for the price of about one.
 *
 * The caller keeps each lane's message in whole 64-byte blocks (the last
 * one or two padded with md5mb_pad()); md5mb_blocks() advances every lane
 * it is told about by the same number of blocks.
 */
#define MD5MB_LANES 16
#define MD5_BLOCK 64
#define MD5_LEN 16

struct md5mb {
	/* word w of lane l at st[w][l]: the layout of the vector code (which
	 * does not rely on the alignment: the struct may come from malloc) */
	uint32_t st[4][MD5MB_LANES];
};

/* Whether the lockstep code can run on this CPU (AVX-512F); false also
 * when REFORGE_NO_MD5MB is set in the environment (tests, comparisons). */
bool md5mb_available(void);

/* Start lane over, for a new message. */
void md5mb_init(struct md5mb *m, unsigned lane);

/*
 * Advance every lane whose bit is set in mask by nblocks blocks read from
 * p[lane]; the others are neither read nor meaningfully changed. Uses the
 * vector code when md5mb_available(), the scalar code otherwise (or for a
 * single lane, where the scalar code is the faster).
 *
 * If reading a lane faults (a mapped file that shrank: SIGBUS) and the
 * caller jumps out of the call, the vector code has changed no lane's
 * state (it stores only at the end) and the scalar code has changed only
 * lanes before the faulting one; with one lane, the scalar code's case,
 * only that lane. The other lanes can then be fed again from where they
 * were.
 */
void md5mb_blocks(struct md5mb *m, const unsigned char *const p[MD5MB_LANES],
		  uint32_t mask, size_t nblocks);

/*
 * Pad the last len (< 64) bytes of a message of total bytes, which start
 * at tail, in place: tail must have room for 128 bytes. Returns the number
 * of blocks (1 or 2) to feed from tail.
 */
size_t md5mb_pad(unsigned char *tail, size_t len, uint64_t total);

/* The digest of lane, once its padded blocks are fed. */
void md5mb_final(const struct md5mb *m, unsigned lane,
		 unsigned char out[MD5_LEN]);

#endif
