/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef RF_ESCAPE_H
#define RF_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/*
 * Append s (len bytes) to out as a C-escaped string: backslash, tab and
 * newline as \\ \t \n, every other byte outside printable ASCII as \ooo.
 * The result is printable ASCII and never contains a tab or newline, so it
 * can stand in a tab-separated line.
 */
void rf_escape_c(struct rf_buf *out, const char *s, size_t len);

/* Inverse of rf_escape_c(). Returns 0, or -EINVAL on a malformed escape. */
int rf_unescape_c(struct rf_buf *out, const char *s);

/*
 * True when s is valid UTF-8 made only of characters XML 1.0 allows in an
 * attribute without loss (no C0 controls, no U+FFFE/U+FFFF, no surrogates).
 * Such a path is written as text; any other goes out as base64.
 */
bool rf_xml_safe(const char *s, size_t len);

/* Standard base64 (RFC 4648) of len bytes appended to out. */
void rf_base64_encode(struct rf_buf *out, const void *data, size_t len);
/* Decodes into out; returns 0 or -EINVAL. */
int rf_base64_decode(struct rf_buf *out, const char *s);

/* Lower-case hex of len bytes appended to out. */
void rf_hex_encode(struct rf_buf *out, const unsigned char *data, size_t len);
/* Parses exactly 2*len hex digits into data; returns 0 or -EINVAL. */
int rf_hex_decode(unsigned char *data, size_t len, const char *hex);

#endif
