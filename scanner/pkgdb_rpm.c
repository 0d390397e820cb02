/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The rpm package database backend (work in progress). */
#include "config.h"

#include <errno.h>

#include "pkgdb.h"

static bool rpm_probe(int rootfd)
{
	(void)rootfd;
	return false;
}

static int rpm_load(struct scan_pkgset *set, int rootfd, const char *root,
		    struct rf_error *err)
{
	(void)set;
	(void)rootfd;
	(void)root;
	return rf_error_set(err, -ENOSYS, "rpm database reading not built");
}

const struct scan_pkgdb_ops scan_pkgdb_rpm = {
	.name = "rpm",
	.path = "var/lib/rpm",
	.probe = rpm_probe,
	.load = rpm_load,
};
