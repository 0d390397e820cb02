/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Target openstack: OpenStack on KVM compute nodes: virtio devices,
 * qemu-guest-agent, cloud-init for the metadata service.
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
	NULL,
};

static const char *const install_tools[] = {
	"qemu-guest-agent",
	"cloud-init",
	NULL,
};

static const char *const drivers[] = {
	"virtio_blk", "virtio_scsi",	"virtio_net",
	"virtio_pci", "virtio_console", NULL,
};

/* The metadata service or a config drive; both are found by what the
 * platform shows (DMI, a "config-2" filesystem), not by waiting. */
static const char cloud_init[] =
	"# reforge: target openstack\n"
	"# the network is the source's, renamed for the target\n"
	"network: {config: disabled}\n"
	"datasource_list: [ OpenStack, ConfigDrive, None ]\n"
	"datasource:\n"
	"  OpenStack:\n"
	"    timeout: 10\n"
	"    max_wait: 60\n";

const struct gen_target gen_target_openstack = {
	.name = "openstack",
	.description = "OpenStack (KVM compute)",
	.remove = remove_tools,
	.install = install_tools,
	.drivers = drivers,
	.cloud_init = cloud_init,
	.serial = "ttyS0",
	.firmware = "bios",
	.uefi_capable = true,
	.bios_capable = true,
};
