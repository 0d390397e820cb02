/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef GEN_BOOT_H
#define GEN_BOOT_H

/*
 * Tuning a staged tree for a target (target.h) so that the image boots
 * there: in two steps around the disk plan.
 *
 * gen_tune_tree(), on the whole staged root before the disk is planned:
 *   - the other platforms' guest tools are purged and the target's
 *     installed (from the repositories, with what they depend on) by the
 *     tree's own dpkg, run in a chroot of the staged root;
 *   - a source without a kernel gets one from the repositories, the
 *     closest to its release (gen_kernel_order()); without the GRUB
 *     images the firmware needs, they too;
 *   - when the tree has cloud-init, the target's datasource settings;
 *   - the target's disk and network drivers are added to the initramfs
 *     configuration and the initramfs is made again by the distribution's
 *     own tool (update-initramfs, dracut or mkinitcpio) in the chroot;
 *   - generalisation (each step switchable): an empty machine-id, SSH
 *     host keys made again at first boot, no persistent net rules;
 *   - network (ifupdown, netplan, NetworkManager keyfiles, networkd):
 *     interfaces are renamed to the kernel's names (eth0 ..., the kernel
 *     command line gets net.ifnames=0), DHCP stays DHCP, static
 *     addresses stay or become DHCP, MAC-bound matches go.
 *   Every check that can fail (no kernel anywhere, no initramfs tool, a
 *   filesystem the boot loader cannot read) fails here, before any image
 *   is written.
 *
 * The chroot runs in a private mount namespace (unshare(CLONE_NEWNS)):
 * proc, sysfs (read-only), a tmpfs /run and a tmpfs /dev holding only
 * null, zero, full, random, urandom and tty are mounted inside the staged
 * root and disappear with the process, on every path; no host device is
 * visible. A policy-rc.d forbids service starts while it runs.
 *
 * gen_tune_boot(), after the plan (the new UUIDs are known): fstab and the
 * boot loader. GRUB's images are made by the host's grub-mkimage from the
 * target tree's own GRUB directories (usr/lib/grub/i386-pc,
 * usr/lib/grub/x86_64-efi), so that the core image, the modules copied to
 * /boot/grub and the boot sector are all the target's version; for BIOS
 * the boot sector and core image go into the layout (disk.c writes them),
 * for UEFI the image goes to the EFI system partition as
 * EFI/BOOT/BOOTX64.EFI (the removable-media path: no NVRAM entry needed).
 *
 * Every file tuning changes is listed (path, why) in changes[]: what the
 * image's record names as intended differences from the source.
 */

#include <stdbool.h>

#include "buf.h"
#include "disk.h"
#include "error.h"
#include "gen.h"
#include "target.h"

struct gen_change {
	char *path; /* in the image, with a leading '/' */
	char *why;
};

struct gen_tune {
	/* set by the caller */
	const struct gen_target *target;
	bool network_dhcp; /* static addresses become DHCP */
	bool keep_machine_id, keep_ssh_keys, keep_net_rules;
	const char *tmpdir;
	unsigned timeout; /* seconds for each tool run in the chroot */

	/* filled by gen_tune_tree() */
	bool bios, efi; /* the boot loaders to install */
	char **kernels; /* versions, newest first */
	size_t nkernels;
	char **kernel_files, **initrd_files; /* under /boot, per kernel */
	bool renamed_nics;		     /* net.ifnames=0 needed */
	char *os_name;

	/* the record */
	struct gen_change *changes;
	size_t nchanges;
	struct rf_buf log; /* lines for the job's log */
};

void gen_tune_init(struct gen_tune *t, const struct gen_target *target);
void gen_tune_release(struct gen_tune *t);

int gen_tune_tree(struct gen_tune *t, const struct gen_report *r,
		  const struct gen_repo *repo, const char *stage,
		  struct rf_error *err);

/* Steps of gen_tune_tree() on their own (no chroot needed), for the
 * tests: rootfd is the staged root. */
int gen_tune_generalise(struct gen_tune *t, int rootfd, struct rf_error *err);
int gen_tune_network(struct gen_tune *t, int rootfd, struct rf_error *err);

/* dpkg's order of two versions (deb-version(7)): <0, 0 or >0, as
 * `dpkg --compare-versions a lt|eq|gt b` says. */
int gen_deb_vercmp(const char *a, const char *b);

/*
 * Sort the kernels c[0..n) the repositories offer, best first, for a
 * source without a kernel (report r, dpkg architecture arch): those of
 * the source's own Debian release (its packages' +debNNu tags or
 * base-files' version) before its backports (~bpoNN) before other
 * releases; then the highest version not newer than the source's
 * packages built from the kernel's source (linux-libc-dev,
 * linux-headers-ABI ...), or the lowest newer one when none is older;
 * then the distribution's usual metapackage (linux-image-ARCH) before
 * the kernel of one ABI.
 */
void gen_kernel_order(const struct gen_report *r, const char *arch,
		      struct gen_repo_entry *c, size_t n);

int gen_tune_boot(struct gen_tune *t, const struct gen_report *r,
		  struct gen_layout *l, const char *stage,
		  struct rf_error *err);

#endif
