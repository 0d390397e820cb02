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

/* Only EC2's datasource, and only where the DMI data says EC2
 * (strict_id): elsewhere cloud-init falls to None without a network
 * wait; on EC2 its metadata service answers within seconds. */
static const char cloud_init[] =
	"# reforge: target aws\n"
	"# the network is the source's, renamed for the target\n"
	"network: {config: disabled}\n"
	"datasource_list: [ Ec2, None ]\n"
	"datasource:\n"
	"  Ec2:\n"
	"    strict_id: true\n"
	"    timeout: 10\n"
	"    max_wait: 60\n";

const struct gen_target gen_target_aws = {
	.name = "aws",
	.description = "Amazon EC2 (Nitro)",
	.remove = remove_tools,
	.install = install_tools,
	.drivers = drivers,
	.cloud_init = cloud_init,
	.serial = "ttyS0",
	.firmware = "bios",
	.uefi_capable = true,
	.bios_capable = true,
};
