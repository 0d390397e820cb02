/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef GEN_TARGET_H
#define GEN_TARGET_H

/*
 * Targets: the platform an image is tuned for. Each target is a table,
 * one file each (target-kvm.c ...), listed in one registry (target.c); a
 * new target is a new file and a line in the registry. The tuning steps
 * that read these tables are in boot.c.
 */

#include <stdbool.h>

struct gen_target {
	const char *name;
	const char *description;
	/* Guest tools of other platforms that misbehave here: removed. */
	const char *const *remove;
	/* This platform's guest tools: installed when a repository has them
	 * (each entry is a list of alternative package names, '|'
	 * separated, first found wins). */
	const char *const *install;
	/* Kernel modules the initramfs must hold to find the root disk and
	 * the network on this platform. */
	const char *const *drivers;
	/* cloud-init's settings for this platform (a file of
	 * /etc/cloud/cloud.cfg.d), written when the tree has cloud-init, or
	 * NULL. They must name the platform's datasource and let a first
	 * boot anywhere else go on at once rather than wait minutes for a
	 * metadata service that is not there; and leave the network to the
	 * source's configuration, which tuning renamed for the target. */
	const char *cloud_init;
	/* Serial console the platform shows (kernel console= argument), or
	 * NULL for none. */
	const char *serial;
	/* Firmware the platform boots by default: "bios" or "efi"; the
	 * source's firmware wins when the platform has both. */
	const char *firmware;
	bool uefi_capable, bios_capable;
};

extern const struct gen_target gen_target_kvm;
extern const struct gen_target gen_target_vmware;
extern const struct gen_target gen_target_openstack;
extern const struct gen_target gen_target_aws;
extern const struct gen_target gen_target_azure;

/* The target called name, or NULL. "none" is not a target: it means no
 * tuning at all and is the caller's to handle. */
const struct gen_target *gen_target_by_name(const char *name);

/* Every target, NULL-terminated, in the registry's order. */
extern const struct gen_target *const gen_targets[];

#endif
