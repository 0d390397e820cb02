/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static void oom(void)
{
	fputs("reforge: out of memory\n", stderr);
	abort();
}

void *rf_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom();
	return p;
}

void *rf_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		oom();
	return p;
}

void *rf_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		oom();
	return p;
}

char *rf_xstrdup(const char *s)
{
	return rf_xstrndup(s, strlen(s));
}

char *rf_xstrndup(const char *s, size_t n)
{
	char *p = rf_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void rf_buf_grow(struct rf_buf *b, size_t extra)
{
	size_t want = b->len + extra + 1;

	if (want < b->len)
		oom();
	if (want <= b->cap)
		return;
	if (b->cap * 2 > want)
		want = b->cap * 2;
	if (want < 64)
		want = 64;
	b->data = rf_xrealloc(b->data, want);
	b->cap = want;
	b->data[b->len] = '\0';
}

void rf_buf_add(struct rf_buf *b, const void *data, size_t len)
{
	rf_buf_grow(b, len);
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void rf_buf_addstr(struct rf_buf *b, const char *s)
{
	rf_buf_add(b, s, strlen(s));
}

void rf_buf_addch(struct rf_buf *b, char c)
{
	rf_buf_add(b, &c, 1);
}

void rf_buf_printf(struct rf_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	rf_buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void rf_buf_reset(struct rf_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

char *rf_buf_detach(struct rf_buf *b)
{
	char *p = b->data ? b->data : rf_xstrdup("");

	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void rf_buf_free(struct rf_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
