/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef RF_ERROR_H
#define RF_ERROR_H

/*
 * Errors: every function returns 0 or a negative errno value, and fills the
 * struct rf_error passed last with a message a person can act on. Only a
 * program's main() turns an error into output and an exit code.
 */

#define RF_ERROR_MSG_MAX 1024

struct rf_error {
	int code;		    /* negative errno, 0 when unset */
	char msg[RF_ERROR_MSG_MAX]; /* NUL-terminated, never NULL */
};

/*
 * Record code (a negative errno) and a printf-style message in err, which may
 * be NULL. Returns code, so callers write: return rf_error_set(err, ...).
 */
int rf_error_set(struct rf_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* As rf_error_set(), appending ": strerror(-code)". */
int rf_error_errno(struct rf_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix an already set message with more context ("while X: old msg"). */
int rf_error_prefix(struct rf_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void rf_error_clear(struct rf_error *err);

#endif
