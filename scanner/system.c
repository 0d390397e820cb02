/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The system inventory's entry point and its <system> section: who the root
 * is (os-release), what it runs on (ELF header of its shell, uname when
 * live), its kernels, host name, time zone, locale, keyboard, kernel command
 * lines and the firmware it boots with.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "rootfs.h"
#include "sys_internal.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

/* grub.cfg menus repeat one command line for every kernel; enough. */
#define SYS_MAX_CMDLINES 64

int scan_system_write(const struct scan_sysctx *ctx, xmlTextWriterPtr w,
		      struct rf_error *err)
{
	struct sys_out o = {w, 0};

	sys_write_system(ctx, &o);
	sys_write_storage(ctx, &o);
	sys_write_network(ctx, &o);
	sys_write_accounts(ctx, &o);
	sys_write_services(ctx, &o);
	sys_write_repositories(ctx, &o);
	if (o.failed)
		return rf_error_set(err, o.failed,
				    "cannot write the system inventory: the "
				    "XML writer failed");
	return 0;
}

static void write_os(const struct scan_sysctx *ctx, struct sys_out *o)
{
	/* os-release(5) keys, and the attribute each becomes. */
	static const char *const keys[][2] = {
		{"ID", "id"},
		{"ID_LIKE", "id-like"},
		{"NAME", "name"},
		{"VERSION", "version"},
		{"VERSION_ID", "version-id"},
		{"VERSION_CODENAME", "version-codename"},
		{"PRETTY_NAME", "pretty-name"},
		{"VARIANT_ID", "variant-id"},
	};
	static const char *const paths[] = {"/etc/os-release",
					    "/usr/lib/os-release"};
	const char *vals[sizeof(keys) / sizeof(keys[0])] = {NULL};
	struct rf_buf b = RF_BUF_INIT;
	const char *path = NULL;
	char *cur, *line, *k, *v;
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (sys_read_text(ctx, paths[i], SYS_MAX_CONF, &b) == 0) {
			path = paths[i];
			break;
		}
	}
	if (path == NULL)
		goto out;
	cur = b.data;
	while ((line = sys_next_line(&cur)) != NULL) {
		if (!sys_parse_assignment(line, &k, &v))
			continue;
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(k, keys[i][0]) == 0)
				vals[i] = v;
	}
	sys_start(o, "os");
	sys_attr(o, "file", path);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		sys_attr(o, keys[i][1], vals[i]);
	sys_end(o);
out:
	rf_buf_free(&b);
}

/*
 * ELF machine to the names people use: uname -m and Debian's architecture.
 * The root's shell says what its userland is, which a live uname does not
 * (a 64-bit kernel may run a 32-bit userland).
 */
struct elf_arch {
	unsigned machine;
	unsigned char class; /* 1: 32-bit, 2: 64-bit */
	unsigned char data;  /* 1: little endian, 2: big endian */
	int arm_hardfloat;   /* -1: does not matter */
	const char *uname;
	const char *dpkg;
};

static const struct elf_arch elf_arches[] = {
	{62, 2, 1, -1, "x86_64", "amd64"},
	{62, 1, 1, -1, "x86_64", "x32"},
	{3, 1, 1, -1, "i686", "i386"},
	{183, 2, 1, -1, "aarch64", "arm64"},
	{40, 1, 1, 1, "armv7l", "armhf"},
	{40, 1, 1, 0, "armv5tel", "armel"},
	{21, 2, 1, -1, "ppc64le", "ppc64el"},
	{21, 2, 2, -1, "ppc64", "ppc64"},
	{20, 1, 2, -1, "ppc", "powerpc"},
	{22, 2, 2, -1, "s390x", "s390x"},
	{243, 2, 1, -1, "riscv64", "riscv64"},
	{8, 2, 1, -1, "mips64", "mips64el"},
	{8, 1, 1, -1, "mips", "mipsel"},
	{8, 1, 2, -1, "mips", "mips"},
	{258, 2, 1, -1, "loongarch64", "loong64"},
	{43, 2, 2, -1, "sparc64", "sparc64"},
};

/* Reads the ELF identification of path; 0 or a negative errno. */
static int read_elf_header(const struct scan_sysctx *ctx, const char *path,
			   unsigned char *hdr, size_t len)
{
	struct stat st;
	ssize_t n;
	int fd, rc;

	fd = rf_root_open(ctx->rootfd, path, O_RDONLY | O_NOATIME);
	if (fd == -EPERM)
		fd = rf_root_open(ctx->rootfd, path, O_RDONLY);
	if (fd < 0)
		return fd;
	rc = -ENOEXEC; /* assume it is not an ELF file */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		goto out;
	n = pread(fd, hdr, len, 0);
	if (n != (ssize_t)len || memcmp(hdr, "\177ELF", 4) != 0)
		goto out;
	rc = 0;
out:
	close(fd);
	return rc;
}

static void write_arch(const struct scan_sysctx *ctx, struct sys_out *o)
{
	static const char *const shells[] = {"/bin/sh", "/usr/bin/sh",
					     "/bin/bash", "/bin/busybox",
					     "/usr/bin/env"};
	unsigned char h[52];
	const struct elf_arch *found = NULL;
	const char *path = NULL;
	struct utsname u;
	unsigned machine = 0;
	uint32_t flags = 0;
	size_t i;

	for (i = 0; i < sizeof(shells) / sizeof(shells[0]); i++) {
		if (read_elf_header(ctx, shells[i], h, sizeof(h)) == 0) {
			path = shells[i];
			break;
		}
	}
	if (path == NULL && !ctx->live)
		return;
	sys_start(o, "arch");
	if (path != NULL && (h[4] == 1 || h[4] == 2) &&
	    (h[5] == 1 || h[5] == 2)) {
		/* e_machine at 18; e_flags at 36 (ELF32; ELF64 has it at 48,
		 * but only 32-bit ARM looks at it) */
		if (h[5] == 1) {
			machine = h[18] | (unsigned)h[19] << 8;
			flags = h[36] | (uint32_t)h[37] << 8 |
				(uint32_t)h[38] << 16 | (uint32_t)h[39] << 24;
		} else {
			machine = (unsigned)h[18] << 8 | h[19];
			flags = (uint32_t)h[36] << 24 | (uint32_t)h[37] << 16 |
				(uint32_t)h[38] << 8 | h[39];
		}
		for (i = 0; i < sizeof(elf_arches) / sizeof(elf_arches[0]);
		     i++) {
			const struct elf_arch *a = &elf_arches[i];

			if (a->machine != machine || a->class != h[4] ||
			    a->data != h[5])
				continue;
			/* EF_ARM_ABI_FLOAT_HARD, the hard-float ABI */
			if (a->arm_hardfloat >= 0 &&
			    a->arm_hardfloat != !!(flags & 0x400u))
				continue;
			found = a;
			break;
		}
		if (found != NULL) {
			sys_attr(o, "machine", found->uname);
			sys_attr(o, "dpkg", found->dpkg);
		}
		sys_attr_u64(o, "elf-machine", machine);
		sys_attr_u64(o, "bits", h[4] == 2 ? 64 : 32);
		sys_attr(o, "endian", h[5] == 1 ? "little" : "big");
		sys_attr(o, "file", path);
	}
	if (ctx->live && uname(&u) == 0)
		sys_attr(o, "kernel-machine", u.machine);
	sys_end(o);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The first of the candidate paths (prefix, version, suffix) that exists,
 * into out; false if none.
 */
static bool find_file(const struct scan_sysctx *ctx, struct rf_buf *out,
		      const char *const (*cand)[2], size_t n, const char *ver)
{
	for (size_t i = 0; i < n; i++) {
		rf_buf_reset(out);
		rf_buf_printf(out, "%s%s%s", cand[i][0], ver, cand[i][1]);
		if (sys_exists(ctx, out->data))
			return true;
	}
	rf_buf_reset(out);
	return false;
}

/*
 * Kernels: every boot/vmlinuz-VERSION and every modules directory, joined on
 * VERSION, with the image and initramfs that go with each.
 */
static void write_kernels(const struct scan_sysctx *ctx, struct sys_out *o)
{
	static const char *const prefixes[] = {"vmlinuz-", "vmlinux-",
					       "kernel-", "Image-"};
	static const char *const moddirs[] = {"/lib/modules",
					      "/usr/lib/modules"};
	static const char *const images[][2] = {
		{"/boot/vmlinuz-", ""},
		{"/boot/vmlinux-", ""},
		{"/boot/kernel-", ""},
		{"/boot/Image-", ""},
		{"/usr/lib/modules/", "/vmlinuz"},
		{"/lib/modules/", "/vmlinuz"},
	};
	static const char *const initrds[][2] = {
		{"/boot/initrd.img-", ""},
		{"/boot/initramfs-", ".img"},
		{"/boot/initrd-", ""},
	};
	static const char *const modules[][2] = {
		{"/lib/modules/", ""},
		{"/usr/lib/modules/", ""},
	};
	struct sys_strlist vers = {0};
	struct rf_buf p = RF_BUF_INIT, img = RF_BUF_INIT;
	struct utsname u;
	const char *running = NULL;
	bool running_seen = false;
	char **names;
	int n;

	if (ctx->live && uname(&u) == 0)
		running = u.release;
	n = sys_list_dir(ctx, "/boot", &names);
	for (int i = 0; i < n; i++)
		for (size_t k = 0; k < sizeof(prefixes) / sizeof(*prefixes);
		     k++) {
			size_t pl = strlen(prefixes[k]);

			if (strncmp(names[i], prefixes[k], pl) == 0 &&
			    names[i][pl] != '\0')
				sys_strlist_add(&vers, names[i] + pl, false);
		}
	if (n > 0)
		sys_names_free(names, n);
	for (size_t m = 0; m < sizeof(moddirs) / sizeof(*moddirs); m++) {
		n = sys_list_dir(ctx, moddirs[m], &names);
		for (int i = 0; i < n; i++) {
			rf_buf_reset(&p);
			rf_buf_printf(&p, "%s/%s", moddirs[m], names[i]);
			if (sys_is_dir(ctx, p.data))
				sys_strlist_add(&vers, names[i], false);
		}
		if (n > 0)
			sys_names_free(names, n);
	}
	if (vers.n > 0)
		qsort(vers.v, vers.n, sizeof(*vers.v), cmp_str);
	for (size_t i = 0; i < vers.n; i++) {
		const char *v = vers.v[i];
		bool is_running = running && strcmp(running, v) == 0;

		sys_start(o, "kernel");
		sys_attr(o, "version", v);
		if (find_file(ctx, &img, images, NITEMS(images), v))
			sys_attr(o, "image", img.data);
		if (find_file(ctx, &img, initrds, NITEMS(initrds), v))
			sys_attr(o, "initrd", img.data);
		if (find_file(ctx, &img, modules, NITEMS(modules), v))
			sys_attr(o, "modules", img.data);
		if (is_running) {
			sys_attr_bool(o, "running", true);
			running_seen = true;
		}
		sys_end(o);
	}
	/* a container's kernel belongs to its host, not to the root */
	if (running != NULL && !running_seen) {
		sys_start(o, "kernel");
		sys_attr(o, "version", running);
		sys_attr_bool(o, "running", true);
		sys_attr_bool(o, "installed", false);
		sys_end(o);
	}
	sys_strlist_free(&vers);
	rf_buf_free(&p);
	rf_buf_free(&img);
}

/* The first line of path that is neither blank nor a comment, or NULL. */
static char *first_line(const struct scan_sysctx *ctx, const char *path,
			struct rf_buf *b)
{
	char *cur, *line;

	if (sys_read_text(ctx, path, SYS_MAX_CONF, b) < 0)
		return NULL;
	cur = b->data;
	while ((line = sys_next_line(&cur)) != NULL) {
		line = sys_strip(line);
		if (*line != '\0' && *line != '#')
			return line;
	}
	return NULL;
}

/* The value of KEY in the shell-assignment file path, or NULL. */
static char *assignment(const struct scan_sysctx *ctx, const char *path,
			const char *key, struct rf_buf *b)
{
	char *cur, *line, *k, *v, *found = NULL;

	if (sys_read_text(ctx, path, SYS_MAX_CONF, b) < 0)
		return NULL;
	cur = b->data;
	while ((line = sys_next_line(&cur)) != NULL)
		if (sys_parse_assignment(line, &k, &v) && strcmp(k, key) == 0)
			found = v; /* the last one wins, as in sh */
	return found;
}

/*
 * A host name as hostname(7) allows (letters, digits, '-', '.'; '_' is
 * seen in the wild), at most 253 bytes. Anything else in etc/hostname is
 * not a name, and is not copied into the report: a hostile symlink could
 * make it any file of the root.
 */
static bool valid_hostname(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= 253 &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"
			    "WXYZ0123456789-._") == n;
}

static void write_hostname(const struct scan_sysctx *ctx, struct sys_out *o)
{
	struct rf_buf b = RF_BUF_INIT;
	const char *path = "/etc/hostname";
	char *name;
	struct utsname u;

	name = first_line(ctx, path, &b);
	if (name == NULL) {
		path = "/etc/HOSTNAME";
		name = first_line(ctx, path, &b);
	}
	if (name == NULL) {
		path = "/etc/sysconfig/network";
		name = assignment(ctx, path, "HOSTNAME", &b);
	}
	if (name != NULL && !valid_hostname(name)) {
		sys_warn(ctx, "%s: not a valid host name, left out", path);
		name = NULL;
	}
	if (name != NULL || ctx->live) {
		sys_start(o, "hostname");
		if (name != NULL) {
			sys_attr(o, "name", name);
			sys_attr(o, "file", path);
		}
		if (ctx->live && uname(&u) == 0)
			sys_attr(o, "running", u.nodename);
		sys_end(o);
	}
	rf_buf_free(&b);
}

static void write_tz(struct sys_out *o, const char *name, const char *file,
		     const char *link)
{
	sys_start(o, "timezone");
	sys_attr(o, "name", name);
	sys_attr(o, "file", file);
	sys_attr(o, "link", link);
	sys_end(o);
}

static void write_timezone(const struct scan_sysctx *ctx, struct sys_out *o)
{
	struct rf_buf b = RF_BUF_INIT;
	char *name;

	name = first_line(ctx, "/etc/timezone", &b);
	if (name != NULL)
		write_tz(o, name, "/etc/timezone", NULL);
	rf_buf_reset(&b);
	if (sys_is_symlink(ctx, "/etc/localtime")) {
		if (rf_root_readlink(ctx->rootfd, "/etc/localtime", &b) == 0) {
			const char *z = strstr(b.data, "zoneinfo/");

			write_tz(o, z != NULL && z[9] != '\0' ? z + 9 : NULL,
				 "/etc/localtime", b.data);
		}
	} else if (sys_exists(ctx, "/etc/localtime")) {
		/* a copy of a zone file: its name is not recorded anywhere */
		write_tz(o, NULL, "/etc/localtime", NULL);
	}
	name = assignment(ctx, "/etc/sysconfig/clock", "ZONE", &b);
	if (name != NULL)
		write_tz(o, name, "/etc/sysconfig/clock", NULL);
	rf_buf_free(&b);
}

/* Every assignment of the files as <variable name value file/>. */
static void write_variables(const struct scan_sysctx *ctx, struct sys_out *o,
			    const char *element, const char *const *paths,
			    size_t npaths)
{
	struct rf_buf b = RF_BUF_INIT;
	bool started = false;

	for (size_t i = 0; i < npaths; i++) {
		char *cur, *line, *k, *v;
		int count = 0;

		if (sys_read_text(ctx, paths[i], SYS_MAX_CONF, &b) < 0)
			continue;
		cur = b.data;
		while ((line = sys_next_line(&cur)) != NULL &&
		       count < SYS_MAX_ITEMS) {
			if (!sys_parse_assignment(line, &k, &v))
				continue;
			if (!started) {
				sys_start(o, element);
				started = true;
			}
			sys_start(o, "variable");
			sys_attr(o, "name", k);
			sys_attr(o, "value", v);
			sys_attr(o, "file", paths[i]);
			sys_end(o);
			count++;
		}
	}
	if (started)
		sys_end(o);
	rf_buf_free(&b);
}

static void write_cmdline(struct sys_out *o, const char *file,
			  const char *variable, const char *kernel,
			  const char *value)
{
	sys_start(o, "cmdline");
	sys_attr(o, "file", file);
	sys_attr(o, "variable", variable);
	sys_attr(o, "kernel", kernel);
	sys_attr(o, "value", value);
	sys_end(o);
}

static bool grub_defaults(const struct scan_sysctx *ctx, void *opaque,
			  const char *path, char *text)
{
	char *cur = text, *line, *k, *v;

	while ((line = sys_next_line(&cur)) != NULL)
		if (sys_parse_assignment(line, &k, &v) &&
		    (strcmp(k, "GRUB_CMDLINE_LINUX") == 0 ||
		     strcmp(k, "GRUB_CMDLINE_LINUX_DEFAULT") == 0))
			write_cmdline(opaque, path, k, NULL, v);
	return true;
}

static bool grub_d_name(const char *name)
{
	return sys_has_suffix(name, ".cfg");
}

/*
 * The `linux` lines of a generated grub.cfg: kernel path and arguments as
 * written (variables such as $vt_handoff are not expanded). The same line
 * repeats in every submenu, so duplicates are dropped.
 */
static void grub_cfg(const struct scan_sysctx *ctx, struct sys_out *o,
		     const char *path)
{
	struct rf_buf b = RF_BUF_INIT, key = RF_BUF_INIT;
	struct sys_strlist seen = {0};
	char *cur, *line;

	if (sys_read_text(ctx, path, SYS_MAX_GRUBCFG, &b) < 0)
		goto out;
	cur = b.data;
	while ((line = sys_next_line(&cur)) != NULL &&
	       seen.n < SYS_MAX_CMDLINES) {
		char *rest = line, *cmd = sys_next_word(&rest), *kernel;

		if (cmd == NULL || (strcmp(cmd, "linux") != 0 &&
				    strcmp(cmd, "linuxefi") != 0 &&
				    strcmp(cmd, "linux16") != 0))
			continue;
		kernel = sys_next_word(&rest);
		if (kernel == NULL)
			continue;
		rest = sys_strip(rest);
		/* a newline cannot occur in either part: a safe separator */
		rf_buf_reset(&key);
		rf_buf_printf(&key, "%s\n%s", kernel, rest);
		if (!sys_strlist_has(&seen, key.data)) {
			sys_strlist_add(&seen, key.data, true);
			write_cmdline(o, path, NULL, kernel, rest);
		}
	}
out:
	sys_strlist_free(&seen);
	rf_buf_free(&key);
	rf_buf_free(&b);
}

/* Boot Loader Specification entries (Fedora, RHEL 8+): linux + options. */
static bool bls_entry(const struct scan_sysctx *ctx, void *opaque,
		      const char *path, char *text)
{
	char *cur = text, *line, *kernel = NULL, *options = NULL;

	while ((line = sys_next_line(&cur)) != NULL) {
		char *rest = line, *key = sys_next_word(&rest);

		if (key == NULL)
			continue;
		if (strcmp(key, "linux") == 0)
			kernel = sys_strip(rest);
		else if (strcmp(key, "options") == 0)
			options = sys_strip(rest);
	}
	if (options != NULL)
		write_cmdline(opaque, path, NULL, kernel, options);
	return true;
}

static bool bls_name(const char *name)
{
	return sys_has_suffix(name, ".conf");
}

static void write_cmdlines(const struct scan_sysctx *ctx, struct sys_out *o)
{
	struct rf_buf b = RF_BUF_INIT, p = RF_BUF_INIT;
	char **names;
	int n;

	if (sys_read_text(ctx, "/etc/default/grub", SYS_MAX_CONF, &b) == 0)
		grub_defaults(ctx, o, "/etc/default/grub", b.data);
	sys_for_each_file(ctx, "/etc/default/grub.d", grub_d_name, SYS_MAX_CONF,
			  grub_defaults, o);
	grub_cfg(ctx, o, "/boot/grub/grub.cfg");
	grub_cfg(ctx, o, "/boot/grub2/grub.cfg");
	/* RHEL 7 and 8 on EFI keep the real grub.cfg on the ESP */
	n = sys_list_dir(ctx, "/boot/efi/EFI", &names);
	for (int i = 0; i < n; i++) {
		rf_buf_reset(&p);
		rf_buf_printf(&p, "/boot/efi/EFI/%s/grub.cfg", names[i]);
		grub_cfg(ctx, o, p.data);
	}
	if (n > 0)
		sys_names_free(names, n);
	sys_for_each_file(ctx, "/boot/loader/entries", bls_name, SYS_MAX_CONF,
			  bls_entry, o);
	if (sys_read_text(ctx, "/etc/kernel/cmdline", SYS_MAX_CONF, &b) == 0) {
		/* one logical line; newlines inside count as blanks */
		for (size_t i = 0; i < b.len; i++)
			if (b.data[i] == '\n' || b.data[i] == '\r')
				b.data[i] = ' ';
		write_cmdline(o, "/etc/kernel/cmdline", NULL, NULL,
			      sys_strip(b.data));
	}
	if (ctx->live &&
	    sys_read_text(ctx, "/proc/cmdline", SYS_MAX_CONF, &b) == 0)
		write_cmdline(o, "/proc/cmdline", NULL, NULL,
			      sys_strip(b.data));
	rf_buf_free(&b);
	rf_buf_free(&p);
}

/*
 * Firmware: a live system knows (sys/firmware/efi); a root only hints, by
 * what its boot loader installed. Both kinds of hint (a hybrid cloud image)
 * say "hybrid".
 */
static void write_boot(const struct scan_sysctx *ctx, struct sys_out *o)
{
	static const struct {
		const char *path;
		const char *kind;
	} hints[] = {
		{"/boot/efi/EFI", "efi"},
		{"/boot/grub/x86_64-efi", "efi"},
		{"/boot/grub/arm64-efi", "efi"},
		{"/boot/grub2/x86_64-efi", "efi"},
		{"/boot/grub2/arm64-efi", "efi"},
		{"/boot/efi/loader", "efi"},
		{"/efi/EFI", "efi"},
		{"/boot/grub/i386-pc", "bios"},
		{"/boot/grub2/i386-pc", "bios"},
	};
	bool efi = false, bios = false, found[sizeof(hints) / sizeof(*hints)];
	const char *firmware = "unknown";
	size_t i;

	for (i = 0; i < sizeof(hints) / sizeof(*hints); i++) {
		found[i] = sys_is_dir(ctx, hints[i].path);
		if (found[i] && strcmp(hints[i].kind, "efi") == 0)
			efi = true;
		else if (found[i])
			bios = true;
	}
	if (ctx->live && sys_is_dir(ctx, "/sys/firmware")) {
		firmware =
			sys_is_dir(ctx, "/sys/firmware/efi") ? "efi" : "bios";
	} else if (efi || bios) {
		firmware = efi && bios ? "hybrid" : efi ? "efi" : "bios";
	}
	sys_start(o, "boot");
	sys_attr(o, "firmware", firmware);
	if (ctx->live && sys_is_dir(ctx, "/sys/firmware/efi")) {
		sys_start(o, "hint");
		sys_attr(o, "path", "/sys/firmware/efi");
		sys_attr(o, "kind", "efi");
		sys_end(o);
	}
	for (i = 0; i < sizeof(hints) / sizeof(*hints); i++) {
		if (!found[i])
			continue;
		sys_start(o, "hint");
		sys_attr(o, "path", hints[i].path);
		sys_attr(o, "kind", hints[i].kind);
		sys_end(o);
	}
	sys_end(o);
}

void sys_write_system(const struct scan_sysctx *ctx, struct sys_out *o)
{
	static const char *const locale_files[] = {"/etc/default/locale",
						   "/etc/locale.conf",
						   "/etc/sysconfig/i18n"};
	static const char *const keyboard_files[] = {"/etc/default/keyboard",
						     "/etc/vconsole.conf",
						     "/etc/sysconfig/keyboard"};

	sys_start(o, "system");
	write_os(ctx, o);
	write_arch(ctx, o);
	write_kernels(ctx, o);
	write_hostname(ctx, o);
	write_timezone(ctx, o);
	write_variables(ctx, o, "locale", locale_files,
			sizeof(locale_files) / sizeof(*locale_files));
	write_variables(ctx, o, "keyboard", keyboard_files,
			sizeof(keyboard_files) / sizeof(*keyboard_files));
	write_cmdlines(ctx, o);
	write_boot(ctx, o);
	sys_end(o);
}
