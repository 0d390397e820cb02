/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The registry of targets: one line per target file.
 */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "target.h"

const struct gen_target *const gen_targets[] = {
	&gen_target_kvm, &gen_target_vmware, &gen_target_openstack,
	&gen_target_aws, &gen_target_azure,  NULL,
};

const struct gen_target *gen_target_by_name(const char *name)
{
	for (size_t i = 0; gen_targets[i] != NULL; i++)
		if (strcmp(gen_targets[i]->name, name) == 0)
			return gen_targets[i];
	return NULL;
}
