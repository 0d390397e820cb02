/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Target azure: Microsoft Azure: Hyper-V storage and network (hv_storvsc,
 * hv_netvsc), cloud-init (walinuxagent is the other provisioning agent;
 * cloud-init replaces it), serial console on ttyS0.
 */
#include "config.h"

#include <stddef.h>

#include "target.h"

static const char *const remove_tools[] = {
	"open-vm-tools",
	"open-vm-tools-desktop",
	"open-vm-tools-sdmp",
	"vmware-tools",
	"xe-guest-utilities",
	"xenstore-utils",
	"virtualbox-guest-utils",
	"virtualbox-guest-x11",
	"virtualbox-guest-dkms",
	"virtualbox-guest-additions",
	"ovmd",
	"walinuxagent",
	"WALinuxAgent",
	NULL,
};

static const char *const install_tools[] = {
	"cloud-init",
	NULL,
};

static const char *const drivers[] = {
	"hv_vmbus", "hv_storvsc",	 "hv_netvsc",
	"hv_utils", "scsi_transport_fc", NULL,
};

/* Azure's datasource finds the platform by the DMI chassis asset
 * tag; elsewhere it stops at once and None is used. */
static const char cloud_init[] =
	"# reforge: target azure\n"
	"# the network is the source's, renamed for the target\n"
	"network: {config: disabled}\n"
	"datasource_list: [ Azure, None ]\n";

const struct gen_target gen_target_azure = {
	.name = "azure",
	.description = "Microsoft Azure",
	.remove = remove_tools,
	.install = install_tools,
	.drivers = drivers,
	.cloud_init = cloud_init,
	.serial = "ttyS0",
	.firmware = "bios",
	.uefi_capable = true,
	.bios_capable = true,
};
