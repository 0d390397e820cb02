/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef SCAN_SYSTEM_H
#define SCAN_SYSTEM_H

#include <stdbool.h>
#include <sys/types.h>

#include <libxml/xmlwriter.h>

#include "error.h"

/*
 * The system inventory of a scanned root: identity (os-release, arch,
 * kernels, hostname, timezone, locale, keyboard, kernel command line),
 * storage layout, network configuration, accounts and enabled services.
 * Everything is read from the root through rf_root_open(), never from the
 * host running the scanner, except what only a live system can tell when
 * the root is the running system's "/" (live = true): mounts, the running
 * kernel, the live command line.
 */
struct scan_sysctx {
	int rootfd;       /* O_PATH descriptor of the root */
	const char *root; /* its path, for messages */
	bool live;        /* the root is the running system's / */
	/* Called for every problem that does not stop the scan. */
	void (*warn)(void *opaque, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));
	void *opaque;
};

/*
 * Write the <system>, <storage>, <network>, <accounts> and <services>
 * elements (in that order; see lib/report-system.rng) with w. A file the
 * root lacks is simply absent from the report; a malformed one is warned
 * about and skipped. Returns 0, or a negative errno with err set when the
 * writer fails.
 */
int scan_system_write(const struct scan_sysctx *ctx, xmlTextWriterPtr w,
		      struct rf_error *err);

/*
 * The root's users and groups by id, from its etc/passwd and etc/group (not
 * from the host's NSS). Used to name the owner of every scanned file.
 */
struct scan_accounts;

/* Never fails: a root without passwd/group yields an empty table. */
struct scan_accounts *scan_accounts_load(const struct scan_sysctx *ctx);
/* NULL when the id has no name in the root. Valid until _free. */
const char *scan_accounts_user(const struct scan_accounts *a, uid_t uid);
const char *scan_accounts_group(const struct scan_accounts *a, gid_t gid);
void scan_accounts_free(struct scan_accounts *a);

#endif
