/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Target aws: Amazon EC2 Nitro instances: NVMe disks, ENA network (Xen-era
 * instances: xen-blkfront, xen-netfront), cloud-init, serial console on ttyS0.
 */
#include "config.h"

#include <stddef.h>

#include "target.h"

static const char *const remove_tools[] = {
	"open-vm-tools",
	"open-vm-tools-desktop",
	"open-vm-tools-sdmp",
	"vmware-tools",
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
	"xe-guest-utilities",
	NULL,
};

static const char *const install_tools[] = {
	"cloud-init",
	NULL,
};

static const char *const drivers[] = {
	"nvme", "nvme_core", "ena", "xen_blkfront", "xen_netfront", NULL,
};

const struct gen_target gen_target_aws = {
	.name = "aws",
	.description = "Amazon EC2 (Nitro)",
	.remove = remove_tools,
	.install = install_tools,
	.drivers = drivers,
	.serial = "ttyS0",
	.firmware = "bios",
	.uefi_capable = true,
	.bios_capable = true,
};
