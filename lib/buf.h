/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef RF_BUF_H
#define RF_BUF_H

#include <stddef.h>

/*
 * A growable byte buffer, always NUL-terminated once anything was added.
 * The buffer owns data; rf_buf_free() releases it and leaves an empty buffer.
 * Allocation failure aborts (out of memory is not a recoverable input error).
 */
struct rf_buf {
	char *data;
	size_t len;
	size_t cap;
};

#define RF_BUF_INIT                                                            \
	{                                                                      \
		NULL, 0, 0                                                     \
	}

void rf_buf_grow(struct rf_buf *b, size_t extra);
void rf_buf_add(struct rf_buf *b, const void *data, size_t len);
void rf_buf_addstr(struct rf_buf *b, const char *s);
void rf_buf_addch(struct rf_buf *b, char c);
void rf_buf_printf(struct rf_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void rf_buf_reset(struct rf_buf *b);
/* Hands data to the caller (who frees it) and empties b. Never NULL. */
char *rf_buf_detach(struct rf_buf *b);
void rf_buf_free(struct rf_buf *b);

/* Allocation helpers that abort on failure. */
void *rf_xmalloc(size_t n);
void *rf_xcalloc(size_t n, size_t size);
void *rf_xrealloc(void *p, size_t n);
char *rf_xstrdup(const char *s);
char *rf_xstrndup(const char *s, size_t n);

#endif
