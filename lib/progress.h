/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef RF_PROGRESS_H
#define RF_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/*
 * A one-line progress display on a terminal. It draws only when the stream
 * is a terminal, at most five times a second, and rf_progress_done() erases
 * it; on a pipe or a file it prints nothing at all.
 */
struct rf_progress {
	FILE *out;
	bool enabled;
	uint64_t last_ns;
	uint64_t start_ns;
	int width;
};

void rf_progress_init(struct rf_progress *p, FILE *out);
/* Redraws if due (or if force); fmt is one line without a newline. */
void rf_progress_update(struct rf_progress *p, bool force, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void rf_progress_done(struct rf_progress *p);

/* Monotonic clock in nanoseconds. */
uint64_t rf_now_ns(void);

/* "1.5 GiB" style size, written into buf (at least 16 bytes). */
const char *rf_human_size(char *buf, size_t size, uint64_t bytes);

#endif
