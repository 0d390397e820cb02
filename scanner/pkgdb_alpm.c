/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The pacman (libalpm) package database backend (work in progress). */
#include "config.h"

#include <errno.h>

#include "pkgdb.h"

static bool alpm_probe(int rootfd)
{
	(void)rootfd;
	return false;
}

static int alpm_load(struct scan_pkgset *set, int rootfd, const char *root,
		     struct rf_error *err)
{
	(void)set;
	(void)rootfd;
	(void)root;
	return rf_error_set(err, -ENOSYS, "pacman database reading not built");
}

const struct scan_pkgdb_ops scan_pkgdb_alpm = {
	.name = "alpm",
	.path = "var/lib/pacman/local",
	.probe = alpm_probe,
	.load = alpm_load,
};
