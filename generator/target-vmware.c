/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Target vmware: VMware: PVSCSI disks (or LSI Logic, AHCI), vmxnet3 network,
 * open-vm-tools, BIOS or EFI as the source booted.
 */
#include "config.h"

#include <stddef.h>

#include "target.h"

static const char *const remove_tools[] = {
	"xe-guest-utilities",
	"xenstore-utils",
	"hyperv-daemons",
	"hyperv-daemons-license",
	"hypervkvpd",
	"hypervvssd",
	"hypervfcopyd",
	"virtualbox-guest-utils",
	"virtualbox-guest-x11",
	"virtualbox-guest-dkms",
	"virtualbox-guest-additions",
	"ovmd",
	"walinuxagent",
	"WALinuxAgent",
	"qemu-guest-agent",
	NULL,
};

static const char *const install_tools[] = {
	"open-vm-tools",
	NULL,
};

static const char *const drivers[] = {
	"vmw_pvscsi", "mptspi",	  "mptsas",	 "ahci", "vmxnet3",
	"e1000",      "vmw_vmci", "vmw_balloon", NULL,
};

const struct gen_target gen_target_vmware = {
	.name = "vmware",
	.description = "VMware vSphere/ESXi and Workstation",
	.remove = remove_tools,
	.install = install_tools,
	.drivers = drivers,
	.serial = NULL,
	.firmware = "bios",
	.uefi_capable = true,
	.bios_capable = true,
};
