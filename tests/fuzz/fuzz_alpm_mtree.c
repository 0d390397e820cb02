/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target of the pacman backend's own parsing: an input is a package's
 * mtree as the local database keeps it (gzip-compressed, or plain text),
 * read with scan_alpm_read_mtree() against a small file list and a backup
 * entry. Whatever the bytes: an error or a set whose every path is
 * absolute, without empty, "." or ".." components; anything else aborts.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkgdb.h"
#include "pkgdb_alpm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool clean_path(const char *p)
{
	if (p[0] != '/' || p[1] == '\0')
		return false;
	for (const char *c = p + 1;;) {
		const char *end = strchr(c, '/');
		size_t len = end ? (size_t)(end - c) : strlen(c);

		if (len == 0 || (len == 1 && c[0] == '.') ||
		    (len == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (end == NULL)
			return true;
		c = end + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* sorted, as libalpm keeps a file list */
	static alpm_file_t names[] = {
		{"etc/", 0, 0},	     {"etc/x.conf", 0, 0},
		{"usr/", 0, 0},	     {"usr/bin/", 0, 0},
		{"usr/bin/a", 0, 0}, {"usr/share/only-listed", 0, 0},
	};
	alpm_filelist_t files = {sizeof(names) / sizeof(*names), names};
	alpm_backup_t backup = {"etc/x.conf", NULL};
	alpm_list_t *backups = alpm_list_add(NULL, &backup);
	struct scan_pkgset *set = scan_pkgset_new();
	struct scan_pkg pkg = {.db = "alpm", .name = "fuzz"};
	struct rf_error err = {0};
	uint32_t idx = scan_pkgset_add_package(set, &pkg);
	int rc;

	rc = scan_alpm_read_mtree(set, idx, "fuzz", data, size, &files, backups,
				  NULL, &err);
	/* to see what each corpus input exercises */
	if (getenv("RF_FUZZ_VERBOSE") != NULL)
		fprintf(stderr, "rc %d, %zu files: %s\n", rc,
			scan_pkgset_nfiles(set), err.msg);
	if (rc < 0 && err.msg[0] == '\0')
		abort(); /* an error always says what */
	for (size_t i = 0; i < scan_pkgset_nfiles(set); i++) {
		const struct scan_pkgfile *pf = scan_pkgset_file(set, i);

		if (!clean_path(pf->path) || pf->pkg != idx ||
		    pf->nowners != 1 ||
		    (pf->algo != RF_DIGEST_NONE && pf->digest == NULL))
			abort();
	}
	alpm_list_free(backups);
	scan_pkgset_free(set);
	return 0;
}
