/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "escape.h"

void rf_escape_c(struct rf_buf *out, const char *s, size_t len)
{
	size_t i;

	rf_buf_grow(out, len);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\')
			rf_buf_add(out, "\\\\", 2);
		else if (c == '\t')
			rf_buf_add(out, "\\t", 2);
		else if (c == '\n')
			rf_buf_add(out, "\\n", 2);
		else if (c < 0x20 || c >= 0x7f)
			rf_buf_printf(out, "\\%03o", c);
		else
			rf_buf_addch(out, (char)c);
	}
}

int rf_unescape_c(struct rf_buf *out, const char *s)
{
	while (*s) {
		if (*s != '\\') {
			rf_buf_addch(out, *s++);
			continue;
		}
		s++;
		if (*s == '\\')
			rf_buf_addch(out, '\\');
		else if (*s == 't')
			rf_buf_addch(out, '\t');
		else if (*s == 'n')
			rf_buf_addch(out, '\n');
		else if (s[0] >= '0' && s[0] <= '3' && s[1] >= '0' &&
			 s[1] <= '7' && s[2] >= '0' && s[2] <= '7') {
			rf_buf_addch(out,
				     (char)((s[0] - '0') * 64 +
					    (s[1] - '0') * 8 + (s[2] - '0')));
			s += 2;
		} else
			return -EINVAL;
		s++;
	}
	return 0;
}

bool rf_xml_safe(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned int cp;
		size_t n;

		if (p[i] < 0x80) {
			if (p[i] < 0x20)
				return false;
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			n = 2;
			cp = p[i] & 0x1f;
		} else if ((p[i] & 0xf0) == 0xe0) {
			n = 3;
			cp = p[i] & 0x0f;
		} else if ((p[i] & 0xf8) == 0xf0) {
			n = 4;
			cp = p[i] & 0x07;
		} else
			return false;
		if (i + n > len)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		/* overlong forms, surrogates, non-characters, beyond Unicode */
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
		    (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe ||
		    cp == 0xffff)
			return false;
		i += n;
	}
	return true;
}

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void rf_base64_encode(struct rf_buf *out, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	rf_buf_grow(out, (len + 2) / 3 * 4);
	for (i = 0; i + 2 < len; i += 3) {
		char q[4] = {b64[p[i] >> 2],
			     b64[((p[i] & 3) << 4) | (p[i + 1] >> 4)],
			     b64[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)],
			     b64[p[i + 2] & 63]};
		rf_buf_add(out, q, 4);
	}
	if (len - i == 1) {
		char q[4] = {b64[p[i] >> 2], b64[(p[i] & 3) << 4], '=', '='};
		rf_buf_add(out, q, 4);
	} else if (len - i == 2) {
		char q[4] = {b64[p[i] >> 2],
			     b64[((p[i] & 3) << 4) | (p[i + 1] >> 4)],
			     b64[(p[i + 1] & 15) << 2], '='};
		rf_buf_add(out, q, 4);
	}
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;

	return p ? (int)(p - b64) : -1;
}

int rf_base64_decode(struct rf_buf *out, const char *s)
{
	size_t len = strlen(s), i;

	if (len % 4 != 0)
		return -EINVAL;
	for (i = 0; i < len; i += 4) {
		int v[4], k, pad = 0;

		for (k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)
				return -EINVAL;
			v[k] = b64_value(s[i + k]);
			if (v[k] < 0)
				return -EINVAL;
		}
		rf_buf_addch(out, (char)((v[0] << 2) | (v[1] >> 4)));
		if (pad < 2)
			rf_buf_addch(out,
				     (char)(((v[1] & 15) << 4) | (v[2] >> 2)));
		if (pad < 1)
			rf_buf_addch(out, (char)(((v[2] & 3) << 6) | v[3]));
	}
	return 0;
}

void rf_hex_encode(struct rf_buf *out, const unsigned char *data, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	rf_buf_grow(out, len * 2);
	for (i = 0; i < len; i++) {
		out->data[out->len++] = hex[data[i] >> 4];
		out->data[out->len++] = hex[data[i] & 15];
	}
	out->data[out->len] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int rf_hex_decode(unsigned char *data, size_t len, const char *hex)
{
	size_t i;

	for (i = 0; i < len; i++) {
		int hi = hex_value(hex[2 * i]), lo;

		if (hi < 0)
			return -EINVAL;
		lo = hex_value(hex[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		data[i] = (unsigned char)(hi << 4 | lo);
	}
	return hex[2 * len] == '\0' ? 0 : -EINVAL;
}
