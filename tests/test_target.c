/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Targets and tuning without a chroot: the registry and its tables, the
 * dependency lists the installer reads, repository lookups by name and by
 * what a package provides (packages made by dpkg-deb), and the fstab,
 * grub.cfg and /etc/default/grub that gen_tune_boot() writes for a layout
 * (no boot loader: neither BIOS nor UEFI asked).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "buf.h"
#include "cunit_main.h"
#include "generator/boot.h"
#include "generator/disk.h"
#include "generator/extract.h"
#include "generator/gen.h"
#include "generator/target.h"

static bool listed(const char *const *list, const char *name)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

static void test_registry(void)
{
	size_t n = 0;

	for (size_t i = 0; gen_targets[i] != NULL; i++, n++) {
		const struct gen_target *t = gen_targets[i];

		CU_ASSERT_PTR_EQUAL(gen_target_by_name(t->name), t);
		CU_ASSERT_PTR_NOT_NULL(t->description);
		CU_ASSERT_PTR_NOT_NULL(t->drivers[0]);
		CU_ASSERT_PTR_NOT_NULL(t->install[0]);
		CU_ASSERT(t->bios_capable || t->uefi_capable);
		/* a target never removes what it installs */
		for (size_t k = 0; t->install[k] != NULL; k++)
			CU_ASSERT(!listed(t->remove, t->install[k]));
	}
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_PTR_NULL(gen_target_by_name("none"));
	CU_ASSERT_PTR_NULL(gen_target_by_name("KVM"));
	CU_ASSERT_PTR_NULL(gen_target_by_name(""));
}

static void test_tables(void)
{
	static const char *const foreign[] = {
		"open-vm-tools",
		"xe-guest-utilities",
		"hyperv-daemons",
		"virtualbox-guest-utils",
		"ovmd",
		"walinuxagent",
		NULL,
	};
	const struct gen_target *kvm = gen_target_by_name("kvm");
	const struct gen_target *vmw = gen_target_by_name("vmware");

	for (size_t i = 0; foreign[i] != NULL; i++)
		CU_ASSERT(listed(kvm->remove, foreign[i]));
	CU_ASSERT(listed(kvm->drivers, "virtio_blk"));
	CU_ASSERT(listed(kvm->drivers, "virtio_scsi"));
	CU_ASSERT(listed(kvm->drivers, "virtio_net"));
	CU_ASSERT(listed(kvm->install, "qemu-guest-agent"));
	CU_ASSERT(listed(vmw->drivers, "vmw_pvscsi"));
	CU_ASSERT(listed(vmw->drivers, "vmxnet3"));
	CU_ASSERT(listed(vmw->install, "open-vm-tools"));
	CU_ASSERT(!listed(vmw->remove, "open-vm-tools"));
	CU_ASSERT(listed(gen_target_by_name("openstack")->install,
			 "qemu-guest-agent"));
	CU_ASSERT(
		listed(gen_target_by_name("openstack")->install, "cloud-init"));
	CU_ASSERT(listed(gen_target_by_name("aws")->install, "cloud-init"));
	CU_ASSERT(listed(gen_target_by_name("azure")->install, "cloud-init"));
	CU_ASSERT(listed(gen_target_by_name("azure")->remove, "walinuxagent"));
	CU_ASSERT(
		!listed(gen_target_by_name("azure")->remove, "hyperv-daemons"));
	CU_ASSERT(listed(gen_target_by_name("azure")->drivers, "hv_vmbus"));
	CU_ASSERT(listed(gen_target_by_name("azure")->drivers, "hv_storvsc"));
	CU_ASSERT(listed(gen_target_by_name("azure")->drivers, "hv_netvsc"));
	CU_ASSERT(listed(gen_target_by_name("aws")->drivers, "nvme"));
	CU_ASSERT(listed(gen_target_by_name("aws")->drivers, "ena"));
	/* a platform with cloud-init names its datasource; without the
	 * fallback None, a first boot elsewhere would have none */
	for (size_t i = 0; gen_targets[i] != NULL; i++) {
		const struct gen_target *t = gen_targets[i];

		CU_ASSERT((t->cloud_init != NULL) ==
			  listed(t->install, "cloud-init"));
		if (t->cloud_init != NULL)
			CU_ASSERT_PTR_NOT_NULL(
				strstr(t->cloud_init, ", None ]"));
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(gen_target_by_name("aws")->cloud_init,
				      "strict_id: true"));
}

static void test_deps_mention(void)
{
	static const struct {
		const char *list, *name;
		bool want;
	} cases[] = {
		{"libc6 (>= 2.34), libglib2.0-0 (>= 2.71)", "libglib2.0-0",
		 true},
		{"libc6 (>= 2.34), libglib2.0-0 (>= 2.71)", "libc", false},
		{"a | b, c", "b", true},
		{"python3:any, perl", "python3", true},
		{"python3:any, perl", "any", false},
		{"debconf (>= 0.5) | debconf-2.0", "debconf-2.0", true},
		{"x (= 1) [amd64]", "amd64", false},
		{"", "x", false},
		{"   ,,, | ", "x", false},
		{"x-dev", "x", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CU_ASSERT_EQUAL(gen_deps_mention(cases[i].list, cases[i].name),
				cases[i].want);
}

static char tmp[256];

static int sh(const char *fmt, const char *arg)
	__attribute__((format(printf, 1, 0)));

/* Run fmt with every %s replaced by arg (the scratch directory). */
static int sh(const char *fmt, const char *arg)
{
	char cmd[4096];

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(cmd, sizeof(cmd), fmt, arg, arg, arg, arg);
#pragma GCC diagnostic pop
	return system(cmd);
}

static void test_repo_lookup(void)
{
	struct gen_repo *repo = gen_repo_new();
	struct gen_repo_entry e;
	struct rf_error err = {0};
	struct rf_buf url = RF_BUF_INIT;

	snprintf(tmp, sizeof(tmp), "/tmp/rf-target.XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(tmp) != NULL);
	CU_ASSERT_EQUAL_FATAL(
		sh("cd %s && mkdir -p a/DEBIAN b/DEBIAN debs && "
		   "printf 'Package: rf-agent\\nVersion: 1.0\\n"
		   "Architecture: amd64\\nMaintainer: t <t@t>\\n"
		   "Description: t\\nDepends: rf-lib (>= 1) | rf-other, "
		   "python3:any\\nPre-Depends: rf-pre\\n"
		   "Provides: guest-agent\\n' >a/DEBIAN/control && "
		   "printf 'Package: rf-lib\\nVersion: 2\\nArchitecture: all\\n"
		   "Maintainer: t <t@t>\\nDescription: t\\n' >b/DEBIAN/control "
		   "&& dpkg-deb -b a debs/a.deb >/dev/null && "
		   "dpkg-deb -b b debs/b.deb >/dev/null",
		   tmp),
		0);
	rf_buf_printf(&url, "file://%s/debs", tmp);
	CU_ASSERT_EQUAL_FATAL(gen_repo_add(repo, url.data, &err), 0);
	CU_ASSERT_EQUAL(gen_repo_lookup(repo, "rf-agent", "amd64", &e), 0);
	CU_ASSERT_STRING_EQUAL(e.version, "1.0");
	CU_ASSERT_PTR_NOT_NULL_FATAL(e.depends);
	CU_ASSERT(gen_deps_mention(e.depends, "rf-pre"));
	CU_ASSERT(gen_deps_mention(e.depends, "rf-lib"));
	CU_ASSERT(gen_deps_mention(e.depends, "python3"));
	/* by what it provides; arch all matches any */
	CU_ASSERT_EQUAL(gen_repo_lookup(repo, "guest-agent", "amd64", &e), 0);
	CU_ASSERT_STRING_EQUAL(e.name, "rf-agent");
	CU_ASSERT_EQUAL(gen_repo_lookup(repo, "rf-lib", "arm64", &e), 0);
	CU_ASSERT_EQUAL(gen_repo_lookup(repo, "rf-agent", "arm64", &e),
			-ENOENT);
	CU_ASSERT_EQUAL(gen_repo_lookup(repo, "nothing", NULL, &e), -ENOENT);
	gen_repo_free(repo);
	rf_buf_free(&url);
	sh("rm -rf %s", tmp);
}

static char *slurp(const char *path)
{
	struct rf_buf b = RF_BUF_INIT;
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		rf_buf_add(&b, buf, (size_t)n);
	close(fd);
	rf_buf_addch(&b, '\0');
	return rf_buf_detach(&b);
}

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
}

static void test_fstab_and_grub_cfg(void)
{
	struct gen_tune t;
	struct gen_report r = {0};
	struct gen_layout *l = rf_xcalloc(1, sizeof(*l));
	struct rf_error err = {0};
	char path[512], *fstab, *cfg, *dflt;
	char **kernels = rf_xcalloc(1, sizeof(char *));
	char **kfiles = rf_xcalloc(1, sizeof(char *));
	char **ifiles = rf_xcalloc(1, sizeof(char *));

	kernels[0] = rf_xstrdup("6.1.0-9-amd64");
	kfiles[0] = rf_xstrdup("vmlinuz-6.1.0-9-amd64");
	ifiles[0] = rf_xstrdup("initrd.img-6.1.0-9-amd64");

	snprintf(tmp, sizeof(tmp), "/tmp/rf-target.XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(tmp) != NULL);
	CU_ASSERT_EQUAL_FATAL(sh("mkdir -p %s/root/etc/default %s/root/boot "
				 "%s/fs-1",
				 tmp),
			      0);
	snprintf(path, sizeof(path), "%s/root/etc/fstab", tmp);
	spit(path, "# the source's\n"
		   "UUID=11111111-2222-3333-4444-555555555555 / xfs "
		   "defaults,noatime 0 1\n"
		   "/dev/sda2 /boot ext4 defaults 1 2\n"
		   "/dev/sdb1 /srv/old ext4 defaults 0 2\n"
		   "filer:/export /data nfs4 rw 0 0\n"
		   "//win/share /mnt/win cifs credentials=/x 0 0\n"
		   "tmpfs /tmp tmpfs size=1G 0 0\n"
		   "/dev/sda3 none swap sw 0 0\n");
	snprintf(path, sizeof(path), "%s/root/etc/default/grub", tmp);
	spit(path, "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX=\"quiet\"\n");

	l->gpt = true;
	l->nparts = 3;
	l->parts = rf_xcalloc(3, sizeof(*l->parts));
	l->parts[0] = (struct gen_part){.kind = GEN_PART_FS, .fd = -1};
	l->parts[0].mountpoint = rf_xstrdup("/");
	l->parts[0].fstype = rf_xstrdup("ext4");
	l->parts[0].source_type = rf_xstrdup("xfs");
	snprintf(l->parts[0].uuid, 40, "aaaaaaaa-0000-4000-8000-000000000001");
	snprintf(path, sizeof(path), "%s/root", tmp);
	l->parts[0].dir = rf_xstrdup(path);
	l->parts[1] = (struct gen_part){.kind = GEN_PART_FS, .fd = -1};
	l->parts[1].mountpoint = rf_xstrdup("/boot");
	l->parts[1].fstype = rf_xstrdup("ext4");
	snprintf(l->parts[1].uuid, 40, "bbbbbbbb-0000-4000-8000-000000000002");
	snprintf(path, sizeof(path), "%s/fs-1", tmp);
	l->parts[1].dir = rf_xstrdup(path);
	l->parts[2] = (struct gen_part){.kind = GEN_PART_SWAP, .fd = -1};
	l->parts[2].fstype = rf_xstrdup("swap");
	snprintf(l->parts[2].uuid, 40, "cccccccc-0000-4000-8000-000000000003");

	gen_tune_init(&t, gen_target_by_name("kvm"));
	t.tmpdir = tmp;
	t.kernels = kernels;
	t.kernel_files = kfiles;
	t.initrd_files = ifiles;
	t.nkernels = 1;
	t.renamed_nics = true;
	t.os_name = rf_xstrdup("Debian GNU/Linux 12 (bookworm)");
	CU_ASSERT_EQUAL_FATAL(gen_tune_boot(&t, &r, l, tmp, &err), 0);

	snprintf(path, sizeof(path), "%s/root/etc/fstab", tmp);
	fstab = slurp(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fstab);
	/* the root by its new UUID, as ext4 now */
	CU_ASSERT_PTR_NOT_NULL(strstr(fstab, "UUID=aaaaaaaa-0000-4000-8000-"
					     "000000000001 / ext4 "
					     "errors=remount-ro 0 1\n"));
	CU_ASSERT_PTR_NULL(strstr(fstab, "11111111-2222"));
	/* same type: the source's options kept */
	CU_ASSERT_PTR_NOT_NULL(strstr(fstab, "UUID=bbbbbbbb-0000-4000-8000-"
					     "000000000002 /boot ext4 "
					     "defaults 1 2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(fstab, "UUID=cccccccc-0000-4000-8000-"
					     "000000000003 none swap sw"));
	CU_ASSERT_PTR_NOT_NULL(strstr(fstab, "# reforge: not in the image: "
					     "/dev/sdb1 /srv/old"));
	CU_ASSERT_PTR_NOT_NULL(strstr(fstab, "#   filer:/export /data nfs4"));
	CU_ASSERT_PTR_NOT_NULL(strstr(fstab, "#   //win/share /mnt/win cifs"));
	CU_ASSERT_PTR_NOT_NULL(strstr(fstab, "\ntmpfs /tmp tmpfs size=1G"));
	CU_ASSERT_PTR_NOT_NULL(strstr(fstab, "# the source's\n"));

	/* grub.cfg lands in the /boot filesystem, paths relative to it */
	snprintf(path, sizeof(path), "%s/fs-1/grub/grub.cfg", tmp);
	cfg = slurp(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_PTR_NOT_NULL(strstr(cfg, "--set=root bbbbbbbb-0000"));
	CU_ASSERT_PTR_NOT_NULL(strstr(
		cfg, "linux /vmlinuz-6.1.0-9-amd64 root=UUID=aaaaaaaa-0000-"
		     "4000-8000-000000000001 ro console=tty0 "
		     "console=ttyS0,115200 net.ifnames=0"));
	CU_ASSERT_PTR_NOT_NULL(strstr(cfg, "initrd /initrd.img-6.1.0-9-amd64"));
	CU_ASSERT_PTR_NOT_NULL(strstr(cfg, "Debian GNU/Linux 12 (bookworm)"));

	snprintf(path, sizeof(path), "%s/root/etc/default/grub", tmp);
	dflt = slurp(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(dflt);
	CU_ASSERT_PTR_NOT_NULL(strstr(dflt, "GRUB_CMDLINE_LINUX=\"quiet\"\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(dflt, "net.ifnames=0"));

	/* every file written is in the record */
	{
		bool f = false, g = false, d = false;

		for (size_t i = 0; i < t.nchanges; i++) {
			f |= strcmp(t.changes[i].path, "/etc/fstab") == 0;
			g |= strcmp(t.changes[i].path, "/boot/grub/grub.cfg") ==
			     0;
			d |= strcmp(t.changes[i].path, "/etc/default/grub") ==
			     0;
		}
		CU_ASSERT(f && g && d);
	}
	/* gen_tune_release() frees the kernel lists */
	gen_tune_release(&t);
	gen_layout_free(l);
	free(fstab);
	free(cfg);
	free(dflt);
	sh("rm -rf %s", tmp);
}

static void test_fstab_symlink_refused(void)
{
	struct gen_tune t;
	struct gen_report r = {0};
	struct gen_layout *l = rf_xcalloc(1, sizeof(*l));
	struct rf_error err = {0};
	char path[512], victim[512];
	struct stat st;

	snprintf(tmp, sizeof(tmp), "/tmp/rf-target.XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(tmp) != NULL);
	CU_ASSERT_EQUAL_FATAL(sh("mkdir -p %s/root/etc %s/root/boot", tmp), 0);
	snprintf(victim, sizeof(victim), "%s/outside", tmp);
	spit(victim, "untouched\n");
	/* a tree whose etc/fstab points outside the root */
	snprintf(path, sizeof(path), "%s/root/etc/fstab", tmp);
	CU_ASSERT_EQUAL_FATAL(symlink(victim, path), 0);
	l->nparts = 1;
	l->parts = rf_xcalloc(1, sizeof(*l->parts));
	l->parts[0] = (struct gen_part){.kind = GEN_PART_FS, .fd = -1};
	l->parts[0].mountpoint = rf_xstrdup("/");
	l->parts[0].fstype = rf_xstrdup("ext4");
	snprintf(l->parts[0].uuid, 40, "aaaaaaaa-0000-4000-8000-000000000001");
	snprintf(path, sizeof(path), "%s/root", tmp);
	l->parts[0].dir = rf_xstrdup(path);
	gen_tune_init(&t, gen_target_by_name("vmware"));
	t.tmpdir = tmp;
	t.os_name = rf_xstrdup("x");
	gen_tune_boot(&t, &r, l, tmp, &err);
	/* whatever happened, the file outside is as it was */
	{
		char *v = slurp(victim);

		CU_ASSERT_PTR_NOT_NULL_FATAL(v);
		CU_ASSERT_STRING_EQUAL(v, "untouched\n");
		free(v);
	}
	CU_ASSERT_EQUAL(lstat(victim, &st), 0);
	gen_tune_release(&t);
	gen_layout_free(l);
	sh("rm -rf %s", tmp);
}

static void test_network_and_generalise(void)
{
	struct gen_tune t;
	struct rf_error err = {0};
	char path[512], *ifs, *nd, *mid, *unit;
	int rootfd;
	struct stat st;

	snprintf(tmp, sizeof(tmp), "/tmp/rf-target.XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(tmp) != NULL);
	CU_ASSERT_EQUAL_FATAL(
		sh("mkdir -p %s/root/etc/network %s/root/etc/systemd/network "
		   "%s/root/etc/ssh %s/root/etc/udev/rules.d",
		   tmp),
		0);
	CU_ASSERT_EQUAL_FATAL(
		sh("mkdir -p %s/root/lib/systemd %s/root/var/lib/dbus && "
		   "touch %s/root/lib/systemd/systemd "
		   "%s/root/etc/ssh/ssh_host_ed25519_key",
		   tmp),
		0);
	snprintf(path, sizeof(path), "%s/root/etc/network/interfaces", tmp);
	spit(path, "auto lo\niface lo inet loopback\n\n"
		   "auto ens192\niface ens192 inet static\n"
		   "    address 192.0.2.10/24\n    gateway 192.0.2.1\n\n"
		   "allow-hotplug enp11s0\niface enp11s0 inet dhcp\n"
		   "auto br0\niface br0 inet dhcp\n    bridge_ports enp11s0\n");
	snprintf(path, sizeof(path),
		 "%s/root/etc/systemd/network/10-lan.network", tmp);
	spit(path, "[Match]\nMACAddress=00:50:56:aa:bb:cc\n\n[Network]\n"
		   "DHCP=yes\n");
	snprintf(path, sizeof(path), "%s/root/etc/machine-id", tmp);
	spit(path, "0123456789abcdef0123456789abcdef\n");
	snprintf(path, sizeof(path), "%s/root/var/lib/dbus/machine-id", tmp);
	spit(path, "0123456789abcdef0123456789abcdef\n");
	snprintf(path, sizeof(path),
		 "%s/root/etc/udev/rules.d/70-persistent-net.rules", tmp);
	spit(path, "SUBSYSTEM==\"net\", NAME=\"ens192\"\n");
	snprintf(path, sizeof(path), "%s/root", tmp);
	rootfd = open(path, O_PATH | O_DIRECTORY);
	CU_ASSERT_FATAL(rootfd >= 0);

	gen_tune_init(&t, gen_target_by_name("kvm"));
	t.tmpdir = tmp;
	t.network_dhcp = true;
	CU_ASSERT_EQUAL(gen_tune_network(&t, rootfd, &err), 0);
	CU_ASSERT_EQUAL(gen_tune_generalise(&t, rootfd, &err), 0);
	CU_ASSERT(t.renamed_nics);

	snprintf(path, sizeof(path), "%s/root/etc/network/interfaces", tmp);
	ifs = slurp(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ifs);
	CU_ASSERT_PTR_NOT_NULL(
		strstr(ifs, "auto eth0\niface eth0 inet dhcp\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ifs, "# reforge (--network dhcp):     "
					   "address 192.0.2.10/24"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ifs, "allow-hotplug eth1\n"
					   "iface eth1 inet dhcp"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ifs, "iface lo inet loopback"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ifs, "auto br0\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(ifs, "bridge_ports eth1"));
	CU_ASSERT_PTR_NULL(strstr(ifs, "ens192"));

	snprintf(path, sizeof(path),
		 "%s/root/etc/systemd/network/10-lan.network", tmp);
	nd = slurp(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(nd);
	CU_ASSERT_PTR_NOT_NULL(strstr(nd, "\nName=eth* en*\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(nd, "# reforge: MACAddress="));

	snprintf(path, sizeof(path), "%s/root/etc/machine-id", tmp);
	mid = slurp(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mid);
	CU_ASSERT_STRING_EQUAL(mid, "");
	snprintf(path, sizeof(path), "%s/root/var/lib/dbus/machine-id", tmp);
	CU_ASSERT(lstat(path, &st) < 0);
	snprintf(path, sizeof(path), "%s/root/etc/ssh/ssh_host_ed25519_key",
		 tmp);
	CU_ASSERT(lstat(path, &st) < 0);
	snprintf(path, sizeof(path),
		 "%s/root/etc/udev/rules.d/70-persistent-net.rules", tmp);
	CU_ASSERT(lstat(path, &st) < 0);
	snprintf(path, sizeof(path),
		 "%s/root/etc/systemd/system/"
		 "reforge-ssh-hostkeys.service",
		 tmp);
	unit = slurp(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(unit);
	CU_ASSERT_PTR_NOT_NULL(
		strstr(unit, "ExecStart=/usr/bin/ssh-keygen -A"));
	snprintf(path, sizeof(path),
		 "%s/root/etc/systemd/system/"
		 "multi-user.target.wants/reforge-ssh-hostkeys.service",
		 tmp);
	CU_ASSERT(lstat(path, &st) == 0 && S_ISLNK(st.st_mode));
	{
		size_t found = 0;

		for (size_t i = 0; i < t.nchanges; i++)
			found +=
				strcmp(t.changes[i].path,
				       "/etc/network/interfaces") == 0 ||
				strcmp(t.changes[i].path, "/etc/machine-id") ==
					0 ||
				strcmp(t.changes[i].path,
				       "/etc/ssh/ssh_host_ed25519_key") == 0 ||
				strcmp(t.changes[i].path,
				       "/etc/systemd/network/10-lan.network") ==
					0;
		CU_ASSERT_EQUAL(found, 4);
	}
	gen_tune_release(&t);
	free(ifs);
	free(nd);
	free(mid);
	free(unit);
	close(rootfd);
	sh("rm -rf %s", tmp);
}

static void test_keep_switches(void)
{
	struct gen_tune t;
	struct rf_error err = {0};
	char path[512], *mid, *ifs;
	int rootfd;
	struct stat st;

	snprintf(tmp, sizeof(tmp), "/tmp/rf-target.XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(tmp) != NULL);
	CU_ASSERT_EQUAL_FATAL(sh("mkdir -p %s/root/etc/network %s/root/etc/ssh "
				 "%s/root/lib/systemd && touch "
				 "%s/root/lib/systemd/systemd",
				 tmp),
			      0);
	snprintf(path, sizeof(path), "%s/root/etc/ssh/ssh_host_rsa_key", tmp);
	spit(path, "key\n");
	snprintf(path, sizeof(path), "%s/root/etc/machine-id", tmp);
	spit(path, "0123456789abcdef0123456789abcdef\n");
	snprintf(path, sizeof(path), "%s/root/etc/network/interfaces", tmp);
	spit(path,
	     "auto eth0\niface eth0 inet static\n    address 192.0.2.9\n");
	snprintf(path, sizeof(path), "%s/root", tmp);
	rootfd = open(path, O_PATH | O_DIRECTORY);
	CU_ASSERT_FATAL(rootfd >= 0);
	gen_tune_init(&t, gen_target_by_name("vmware"));
	t.tmpdir = tmp;
	t.keep_machine_id = t.keep_ssh_keys = t.keep_net_rules = true;
	CU_ASSERT_EQUAL(gen_tune_network(&t, rootfd, &err), 0);
	CU_ASSERT_EQUAL(gen_tune_generalise(&t, rootfd, &err), 0);
	snprintf(path, sizeof(path), "%s/root/etc/machine-id", tmp);
	mid = slurp(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mid);
	CU_ASSERT_STRING_EQUAL(mid, "0123456789abcdef0123456789abcdef\n");
	snprintf(path, sizeof(path), "%s/root/etc/ssh/ssh_host_rsa_key", tmp);
	CU_ASSERT(lstat(path, &st) == 0);
	/* static stays static; eth0 is already the kernel's name */
	snprintf(path, sizeof(path), "%s/root/etc/network/interfaces", tmp);
	ifs = slurp(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ifs);
	CU_ASSERT_PTR_NOT_NULL(strstr(ifs, "iface eth0 inet static\n"
					   "    address 192.0.2.9\n"));
	CU_ASSERT_EQUAL(t.nchanges, 0);
	/* eth0 is the kernel's name only with net.ifnames=0 */
	CU_ASSERT(t.renamed_nics);
	gen_tune_release(&t);
	free(mid);
	free(ifs);
	close(rootfd);
	sh("rm -rf %s", tmp);
}

/* gen_deb_vercmp() against dpkg itself, on the cases deb-version(7)
 * makes hard: epochs, '~' before the end, digit runs as numbers, letters
 * before other characters, the last '-' splitting the revision. */
static void test_deb_vercmp(void)
{
	static const char *const v[] = {
		"1.0",
		"1.0-1",
		"1.0~rc1",
		"1.0~rc1-1",
		"1:0.9",
		"0:1.0",
		"1.0a",
		"1.0+a",
		"1.0.1",
		"1.00",
		"1.0-1~bpo12+1",
		"1.0-1+deb12u1",
		"6.1.123-1",
		"6.1.119-1",
		"6.11.5-1~bpo12+1",
		"6.12.9-1",
		"5.10.226-1",
		"10",
		"9",
		"1.0-a-b",
		"1.0-a-c",
		"~",
		"~~",
		"",
		"a",
		"1.0-0",
		"2:1",
		"12.4+deb12u5",
		"1.0+dfsg-2",
		"1.0-2",
		"1.0.~1",
		"00001.2",
		"1.2",
		"99999999999999999999",
	};
	size_t n = sizeof(v) / sizeof(v[0]);

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			char cmd[300];
			int mine = gen_deb_vercmp(v[i], v[j]);
			const char *op = mine < 0   ? "lt"
					 : mine > 0 ? "gt"
						    : "eq";

			/* dpkg refuses an empty version: only ours then */
			if (v[i][0] == '\0' || v[j][0] == '\0') {
				CU_ASSERT((i == j) == (mine == 0));
				continue;
			}
			snprintf(cmd, sizeof(cmd),
				 "dpkg --compare-versions '%s' %s '%s' "
				 "2>/dev/null",
				 v[i], op, v[j]);
			if (system(cmd) != 0) {
				fprintf(stderr, "\n%s %s %s: dpkg says no\n",
					v[i], op, v[j]);
				CU_FAIL("gen_deb_vercmp disagrees with dpkg");
			}
		}
}

static struct gen_package pkg(const char *name, const char *version)
{
	struct gen_package p = {.db = "dpkg",
				.name = (char *)name,
				.version = (char *)version,
				.arch = "amd64",
				.status = "installed"};

	return p;
}

static const char *first_kernel(struct gen_package *pkgs, size_t npkgs,
				struct gen_repo_entry *c, size_t n)
{
	struct gen_report r = {.pkgs = pkgs, .npkgs = npkgs};

	gen_kernel_order(&r, "amd64", c, n);
	return c[0].name;
}

/* Several kernels on offer (bookworm, its backports and security, the
 * next release, an older one); the choice follows the source. */
static void test_kernel_choice(void)
{
	const struct gen_repo_entry all[] = {
		{.name = "linux-image-amd64", .version = "6.1.123-1"},
		{.name = "linux-image-6.1.0-29-amd64", .version = "6.1.123-1"},
		{.name = "linux-image-6.1.0-28-amd64", .version = "6.1.119-1"},
		{.name = "linux-image-6.11.5+bpo-amd64",
		 .version = "6.11.5-1~bpo12+1"},
		{.name = "linux-image-6.12.9-amd64", .version = "6.12.9-1"},
		{.name = "linux-image-5.10.0-33-amd64",
		 .version = "5.10.226-1~deb11u1"},
		{.name = "linux-image-cloud-amd64", .version = "6.1.123-1"},
		{.name = "linux-image-6.6.0-bpo-amd64",
		 .version = "6.6.13-1~bpo13+1"},
	};
	struct gen_repo_entry c[8];
	struct gen_package bookworm[] = {
		pkg("base-files", "12.4+deb12u9"),
		pkg("libc6", "2.36-9+deb12u9"),
	};
	struct gen_package headers[] = {
		pkg("base-files", "12.4+deb12u9"),
		pkg("linux-headers-6.1.0-28-amd64", "6.1.119-1"),
		pkg("linux-libc-dev", "6.1.119-1"),
	};
	struct gen_package libc_dev_between[] = {
		pkg("base-files", "12.4+deb12u9"),
		pkg("linux-libc-dev", "6.1.120-1"),
	};
	struct gen_package bullseye[] = {
		pkg("base-files", "11.1+deb11u11"),
		pkg("openssl", "1.1.1w-0+deb11u2"),
	};
	struct gen_package tagged_only[] = {
		pkg("libc6", "2.36-9+deb12u9"),
		pkg("openssl", "3.0.15-1~deb12u1"),
	};
	struct gen_package old_libc_dev[] = {
		pkg("base-files", "12.4+deb12u9"),
		pkg("linux-libc-dev", "6.0.1-1"),
	};

	/* bookworm: its own metapackage, not the backport, not trixie's
	 * higher version, not the cloud flavour of the same version */
	memcpy(c, all, sizeof(all));
	CU_ASSERT_STRING_EQUAL(first_kernel(bookworm, 2, c, 8),
			       "linux-image-amd64");
	CU_ASSERT_STRING_EQUAL(c[1].name, "linux-image-cloud-amd64");
	CU_ASSERT_STRING_EQUAL(c[2].name, "linux-image-6.1.0-29-amd64");
	CU_ASSERT_STRING_EQUAL(c[3].name, "linux-image-6.1.0-28-amd64");
	/* the release tags alone say bookworm */
	memcpy(c, all, sizeof(all));
	CU_ASSERT_STRING_EQUAL(first_kernel(tagged_only, 2, c, 8),
			       "linux-image-amd64");
	/* headers of 6.1.0-28 installed: that very kernel */
	memcpy(c, all, sizeof(all));
	CU_ASSERT_STRING_EQUAL(first_kernel(headers, 3, c, 8),
			       "linux-image-6.1.0-28-amd64");
	/* between two: the highest not newer */
	memcpy(c, all, sizeof(all));
	CU_ASSERT_STRING_EQUAL(first_kernel(libc_dev_between, 2, c, 8),
			       "linux-image-6.1.0-28-amd64");
	/* older than all of the release's: the lowest newer one */
	memcpy(c, all, sizeof(all));
	CU_ASSERT_STRING_EQUAL(first_kernel(old_libc_dev, 2, c, 8),
			       "linux-image-6.1.0-28-amd64");
	/* bullseye: the kernel tagged for bullseye, not bookworm's */
	memcpy(c, all, sizeof(all));
	CU_ASSERT_STRING_EQUAL(first_kernel(bullseye, 2, c, 8),
			       "linux-image-5.10.0-33-amd64");
	/* nothing known of the source: the usual metapackage */
	memcpy(c, all, sizeof(all));
	CU_ASSERT_STRING_EQUAL(first_kernel(NULL, 0, c, 8),
			       "linux-image-amd64");
	/* no metapackage, no tag of the source: the highest */
	memcpy(c, all + 1, sizeof(all[0]) * 5);
	CU_ASSERT_STRING_EQUAL(first_kernel(NULL, 0, c, 5),
			       "linux-image-6.12.9-amd64");
	/* the backport of the source's release before other releases' */
	c[0] = all[3];
	c[1] = all[5];
	c[2] = all[7];
	CU_ASSERT_STRING_EQUAL(first_kernel(bookworm, 2, c, 3),
			       "linux-image-6.11.5+bpo-amd64");
	/* one candidate: itself */
	c[0] = all[4];
	CU_ASSERT_STRING_EQUAL(first_kernel(bookworm, 2, c, 1),
			       "linux-image-6.12.9-amd64");
}

static char *tree_file(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/root/%s", tmp, rel);
	return slurp(path);
}

static bool changed(const struct gen_tune *t, const char *path)
{
	for (size_t i = 0; i < t->nchanges; i++)
		if (strcmp(t->changes[i].path, path) == 0)
			return true;
	return false;
}

/* netplan: interface keys, a MAC or driver match, set-name, the names in
 * a bridge's list; with --network dhcp the static interfaces (and only
 * those: a bridge member keeps dhcp4: false) get DHCP. */
static void test_netplan(void)
{
	static const char yaml[] = "# written by the installer\n"
				   "network:\n"
				   "  version: 2\n"
				   "  renderer: networkd\n"
				   "  ethernets:\n"
				   "    ens3:\n"
				   "      match:\n"
				   "        macaddress: \"52:54:00:12:34:56\"\n"
				   "      set-name: ens3\n"
				   "      dhcp4: true\n"
				   "    enp0s8:\n"
				   "      dhcp4: no\n"
				   "      addresses:\n"
				   "      - 192.0.2.10/24\n"
				   "      routes:\n"
				   "        - to: default\n"
				   "          via: 192.0.2.1\n"
				   "      nameservers:\n"
				   "        addresses: [192.0.2.53]\n"
				   "    enp0s9:\n"
				   "      match:\n"
				   "        driver: vmxnet3\n"
				   "      dhcp4: false\n"
				   "  bridges:\n"
				   "    br0:\n"
				   "      interfaces: [enp0s9]\n"
				   "      addresses: [198.51.100.2/24]\n"
				   "      gateway4: 198.51.100.1\n";
	struct gen_tune t;
	struct rf_error err = {0};
	char path[512], *np, *kept;
	int rootfd;

	snprintf(tmp, sizeof(tmp), "/tmp/rf-target.XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(tmp) != NULL);
	CU_ASSERT_EQUAL_FATAL(sh("mkdir -p %s/root/etc/netplan", tmp), 0);
	snprintf(path, sizeof(path), "%s/root/etc/netplan/50-cloud-init.yaml",
		 tmp);
	spit(path, yaml);
	snprintf(path, sizeof(path), "%s/root/etc/netplan/60-kept.yaml", tmp);
	spit(path, "network:\n  version: 2\n  renderer: networkd\n");
	snprintf(path, sizeof(path), "%s/root", tmp);
	rootfd = open(path, O_PATH | O_DIRECTORY);
	CU_ASSERT_FATAL(rootfd >= 0);
	gen_tune_init(&t, gen_target_by_name("kvm"));
	t.tmpdir = tmp;
	t.network_dhcp = true;
	CU_ASSERT_EQUAL(gen_tune_network(&t, rootfd, &err), 0);
	CU_ASSERT(t.renamed_nics);
	np = tree_file("etc/netplan/50-cloud-init.yaml");
	CU_ASSERT_PTR_NOT_NULL_FATAL(np);
	CU_ASSERT_PTR_NOT_NULL(strstr(np, "# written by the installer\n"
					  "network:\n  version: 2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(
		np, "    eth0:\n      match:\n"
		    "        # reforge: macaddress: \"52:54:00:12:34:56\"\n"
		    "        name: eth0\n"
		    "      # reforge: set-name: ens3\n"
		    "      dhcp4: true\n"
		    "    eth1:\n      dhcp4: true\n"
		    "# reforge (--network dhcp):       addresses:\n"
		    "# reforge (--network dhcp):       - 192.0.2.10/24\n"
		    "# reforge (--network dhcp):       routes:\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(np, "# reforge (--network dhcp): "
					  "          via: 192.0.2.1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(np, "# reforge (--network dhcp): "
					  "        addresses: [192.0.2.53]\n"
					  "    eth2:\n      match:\n"
					  "        # reforge: driver: vmxnet3\n"
					  "        name: eth2\n"
					  "      dhcp4: false\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(np, "    br0:\n"
					  "      interfaces: [eth2]\n"
					  "      dhcp4: true\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(np, "# reforge (--network dhcp): "
					  "      gateway4: 198.51.100.1\n"));
	CU_ASSERT_PTR_NULL(strstr(np, "ens3:"));
	CU_ASSERT_PTR_NULL(strstr(np, "enp0s"));
	CU_ASSERT(changed(&t, "/etc/netplan/50-cloud-init.yaml"));
	/* nothing to change there: not written, not listed */
	kept = tree_file("etc/netplan/60-kept.yaml");
	CU_ASSERT_PTR_NOT_NULL_FATAL(kept);
	CU_ASSERT_STRING_EQUAL(
		kept, "network:\n  version: 2\n  renderer: networkd\n");
	CU_ASSERT(!changed(&t, "/etc/netplan/60-kept.yaml"));
	gen_tune_release(&t);
	free(np);
	free(kept);
	close(rootfd);
	sh("rm -rf %s", tmp);
}

/* NetworkManager keyfiles: interface-name and mac-address; static kept
 * without --network dhcp, made auto with it. */
static void test_networkmanager(void)
{
	static const char lan[] = "[connection]\n"
				  "id=lan\n"
				  "type=ethernet\n"
				  "interface-name=enp1s0\n"
				  "\n"
				  "[ethernet]\n"
				  "mac-address=52:54:00:AA:BB:CC\n"
				  "\n"
				  "[ipv4]\n"
				  "address1=192.0.2.20/24,192.0.2.1\n"
				  "dns=192.0.2.53;\n"
				  "method=manual\n"
				  "\n"
				  "[ipv6]\n"
				  "addr-gen-mode=stable-privacy\n"
				  "method=auto\n";
	struct gen_tune t;
	struct rf_error err = {0};
	char path[512], *a = NULL, *b = NULL, *c = NULL;
	int rootfd;
	struct stat st;

	snprintf(tmp, sizeof(tmp), "/tmp/rf-target.XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(tmp) != NULL);
	CU_ASSERT_EQUAL_FATAL(
		sh("mkdir -p %s/root/etc/NetworkManager/system-connections",
		   tmp),
		0);
	snprintf(path, sizeof(path),
		 "%s/root/etc/NetworkManager/system-connections/"
		 "lan.nmconnection",
		 tmp);
	spit(path, lan);
	snprintf(path, sizeof(path),
		 "%s/root/etc/NetworkManager/system-connections/"
		 "Wired connection 2",
		 tmp);
	spit(path, "[connection]\nid=Wired connection 2\ntype=ethernet\n"
		   "[ethernet]\nmac-address=52:54:00:AA:BB:CD\n"
		   "[ipv4]\nmethod=auto\n");
	snprintf(path, sizeof(path), "%s/root", tmp);
	rootfd = open(path, O_PATH | O_DIRECTORY);
	CU_ASSERT_FATAL(rootfd >= 0);

	/* static stays static */
	gen_tune_init(&t, gen_target_by_name("vmware"));
	t.tmpdir = tmp;
	CU_ASSERT_EQUAL(gen_tune_network(&t, rootfd, &err), 0);
	CU_ASSERT(t.renamed_nics);
	a = tree_file("etc/NetworkManager/system-connections/lan.nmconnection");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL(strstr(a, "interface-name=eth0\n\n[ethernet]\n"
					 "# reforge: mac-address=52:54:00:AA:"
					 "BB:CC\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(a, "address1=192.0.2.20/24,192.0.2.1\n"
					 "dns=192.0.2.53;\nmethod=manual\n"));
	CU_ASSERT(changed(&t, "/etc/NetworkManager/system-connections/"
			      "lan.nmconnection"));
	/* NetworkManager ignores a keyfile others can read */
	snprintf(path, sizeof(path),
		 "%s/root/etc/NetworkManager/system-connections/"
		 "lan.nmconnection",
		 tmp);
	CU_ASSERT(stat(path, &st) == 0 && (st.st_mode & 077) == 0);
	b = tree_file("etc/NetworkManager/system-connections/"
		      "Wired connection 2");
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_STRING_EQUAL(b, "[connection]\nid=Wired connection 2\n"
				  "type=ethernet\n[ethernet]\n"
				  "# reforge: mac-address=52:54:00:AA:BB:CD\n"
				  "[ipv4]\nmethod=auto\n");
	gen_tune_release(&t);

	/* --network dhcp */
	gen_tune_init(&t, gen_target_by_name("vmware"));
	t.tmpdir = tmp;
	t.network_dhcp = true;
	CU_ASSERT_EQUAL(gen_tune_network(&t, rootfd, &err), 0);
	c = tree_file("etc/NetworkManager/system-connections/lan.nmconnection");
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_NOT_NULL(strstr(c, "[ipv4]\n"
					 "# reforge (--network dhcp): address1="
					 "192.0.2.20/24,192.0.2.1\n"
					 "# reforge (--network dhcp): dns="
					 "192.0.2.53;\nmethod=auto\n\n[ipv6]\n"
					 "addr-gen-mode=stable-privacy\n"
					 "method=auto\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(c, "interface-name=eth0\n"));
	gen_tune_release(&t);
	free(a);
	free(b);
	free(c);
	close(rootfd);
	sh("rm -rf %s", tmp);
}

static CU_TestInfo tests[] = {
	{"netplan", test_netplan},
	{"networkmanager", test_networkmanager},
	{"deb_vercmp", test_deb_vercmp},
	{"kernel_choice", test_kernel_choice},
	{"network_and_generalise", test_network_and_generalise},
	{"keep_switches", test_keep_switches},
	{"registry", test_registry},
	{"tables", test_tables},
	{"deps_mention", test_deps_mention},
	{"repo_lookup", test_repo_lookup},
	{"fstab_and_grub_cfg", test_fstab_and_grub_cfg},
	{"fstab_symlink_refused", test_fstab_symlink_refused},
	CU_TEST_INFO_NULL,
};

RF_CUNIT_MAIN("target")
