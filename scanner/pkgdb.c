/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The registry of package database backends. */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "pkgdb.h"

static const struct scan_pkgdb_ops *const registry[] = {
	&scan_pkgdb_dpkg,
	&scan_pkgdb_rpm,
	&scan_pkgdb_alpm,
	NULL,
};

const struct scan_pkgdb_ops *const *scan_pkgdb_registry(void)
{
	return registry;
}

const struct scan_pkgdb_ops *scan_pkgdb_by_name(const char *name)
{
	for (size_t i = 0; registry[i] != NULL; i++)
		if (strcmp(registry[i]->name, name) == 0)
			return registry[i];
	return NULL;
}
