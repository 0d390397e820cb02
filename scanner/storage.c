/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The <storage> section: file systems, swap and disks.
 *
 * A root that is not the running system only has etc/fstab, kept as
 * written (UUID=, LABEL=, PARTUUID= specs are what the generator must
 * recreate). The running system also has the truth of the moment:
 * proc/self/mountinfo for what is mounted, statfs for sizes,
 * dev/disk/by-* for UUIDs and labels, sys/dev/block for which disk a
 * partition or device-mapper volume sits on, proc/swaps, and the disks'
 * first sectors for the partition table type.
 *
 * Network and pseudo file systems are listed with kind="network" or
 * kind="pseudo" and never statfs'ed: statfs on a dead NFS server hangs.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "rootfs.h"
#include "sys_internal.h"

/* Largest logical sector size trusted from sysfs. */
#define SYS_MAX_SECTOR 4096

static const char *const network_types[] = {
	"nfs",
	"nfs4",
	"cifs",
	"smb3",
	"smbfs",
	"sshfs",
	"fuse.sshfs",
	"glusterfs",
	"fuse.glusterfs",
	"ceph",
	"fuse.ceph",
	"afs",
	"ncpfs",
	"lustre",
	"davfs",
	"fuse.s3fs",
	"fuse.rclone",
	"beegfs",
	"gpfs",
	"orangefs",
	/* shares of a hypervisor host: not part of any disk image */
	"9p",
	"virtiofs",
};

static const char *const pseudo_types[] = {
	"proc",	       "sysfs",	     "devtmpfs",
	"devpts",      "tmpfs",	     "ramfs",
	"cgroup",      "cgroup2",    "securityfs",
	"debugfs",     "tracefs",    "pstore",
	"bpf",	       "mqueue",     "hugetlbfs",
	"configfs",    "fusectl",    "autofs",
	"binfmt_misc", "efivarfs",   "rpc_pipefs",
	"nsfs",	       "overlay",    "selinuxfs",
	"nfsd",	       "fuse.lxcfs", "fuse.gvfsd-fuse",
	"fuse.portal", "devfs",	     "usbfs",
	"none",	       "swap",
};

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static const char *fs_kind(const char *type)
{
	if (in_list(type, network_types,
		    sizeof(network_types) / sizeof(*network_types)))
		return "network";
	if (in_list(type, pseudo_types,
		    sizeof(pseudo_types) / sizeof(*pseudo_types)))
		return "pseudo";
	return "disk";
}

/* fstab(5) and mountinfo escape blanks and backslashes as \ooo. */
static void unescape_octal(char *s)
{
	char *out = s;

	while (*s != '\0') {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			char c = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
					(s[3] - '0'));

			/* a NUL would cut the string: keep the escape */
			if (c != '\0') {
				*out++ = c;
				s += 4;
				continue;
			}
		}
		*out++ = *s++;
	}
	*out = '\0';
}

/* The value of a "KEY=value" spec (UUID=, LABEL=...), or NULL. */
static const char *spec_value(const char *spec, const char *key)
{
	size_t n = strlen(key);

	if (strncmp(spec, key, n) != 0 || spec[n] != '=')
		return NULL;
	return spec + n + 1;
}

struct fstab_entry {
	char *spec, *file, *type, *opts, *freq, *pass;
	bool mounted; /* live: matched by a mount */
};

struct fstab {
	struct fstab_entry *v;
	size_t n;
	struct rf_buf text; /* the entries point into it */
};

static void load_fstab(const struct scan_sysctx *ctx, struct fstab *t)
{
	char *cur, *line;
	size_t cap = 0;
	int lineno = 0;

	if (sys_read_text(ctx, "/etc/fstab", SYS_MAX_CONF, &t->text) < 0)
		return;
	cur = t->text.data;
	while ((line = sys_next_line(&cur)) != NULL && t->n < SYS_MAX_ITEMS) {
		struct fstab_entry e = {0};
		char *rest = sys_strip(line);

		lineno++;
		if (*rest == '\0' || *rest == '#')
			continue;
		e.spec = sys_next_word(&rest);
		e.file = sys_next_word(&rest);
		e.type = sys_next_word(&rest);
		e.opts = sys_next_word(&rest);
		e.freq = sys_next_word(&rest);
		e.pass = sys_next_word(&rest);
		if (e.type == NULL) {
			sys_warn(ctx,
				 "/etc/fstab:%d: fewer than 3 fields, "
				 "skipped",
				 lineno);
			continue;
		}
		unescape_octal(e.spec);
		unescape_octal(e.file);
		if (t->n == cap) {
			cap = cap ? cap * 2 : 16;
			t->v = rf_xrealloc(t->v, cap * sizeof(*t->v));
		}
		t->v[t->n++] = e;
	}
}

static void free_fstab(struct fstab *t)
{
	free(t->v);
	rf_buf_free(&t->text);
}

/* Attributes that come from a spec as written: uuid, label, partuuid. */
static void spec_attrs(struct sys_out *o, const char *spec)
{
	static const char *const keys[][2] = {
		{"UUID", "uuid"},
		{"LABEL", "label"},
		{"PARTUUID", "partuuid"},
		{"PARTLABEL", "partlabel"},
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		const char *v = spec_value(spec, keys[i][0]);

		if (v != NULL) {
			/* "UUID=\"...\"" is accepted by mount(8) too */
			size_t n = strlen(v);

			if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
				sys_attr_len(o, keys[i][1], v + 1, n - 2);
			else
				sys_attr(o, keys[i][1], v);
		}
	}
}

static void write_fstab_entry(struct sys_out *o, const struct fstab_entry *e,
			      bool live)
{
	bool swap = strcmp(e->type, "swap") == 0;

	sys_start(o, swap ? "swap" : "filesystem");
	sys_attr(o, "source", "fstab");
	if (!swap) {
		sys_attr(o, "mountpoint", e->file);
		sys_attr(o, "type", e->type);
		sys_attr(o, "kind", fs_kind(e->type));
	}
	sys_attr(o, "spec", e->spec);
	if (e->spec[0] == '/')
		sys_attr(o, "device", e->spec);
	spec_attrs(o, e->spec);
	sys_attr(o, "options", e->opts);
	if (!swap) {
		sys_attr(o, "dump", e->freq);
		sys_attr(o, "pass", e->pass);
	}
	if (live)
		sys_attr_bool(o, "mounted", e->mounted);
	sys_end(o);
}

/*
 * Identities of block devices, from the running system's udev links:
 * /dev/disk/by-uuid/<uuid> -> ../../sda1, and so on.
 */
struct devid {
	dev_t dev;
	const char *attr; /* "uuid", "label", ... */
	char *value;
};

struct devids {
	struct devid *v;
	size_t n, cap;
};

/* udev escapes unsafe bytes of labels as \xNN. */
static void unescape_hex(char *s)
{
	char *out = s;

	while (*s != '\0') {
		unsigned v;

		if (s[0] == '\\' && s[1] == 'x' && s[2] != '\0' &&
		    s[3] != '\0' && sscanf(s + 2, "%2x", &v) == 1 && v != 0) {
			*out++ = (char)v;
			s += 4;
			continue;
		}
		*out++ = *s++;
	}
	*out = '\0';
}

static void load_devids(const struct scan_sysctx *ctx, struct devids *ids)
{
	static const char *const dirs[][2] = {
		{"/dev/disk/by-uuid", "uuid"},
		{"/dev/disk/by-label", "label"},
		{"/dev/disk/by-partuuid", "partuuid"},
		{"/dev/disk/by-partlabel", "partlabel"},
	};
	struct rf_buf p = RF_BUF_INIT;

	for (size_t d = 0; d < sizeof(dirs) / sizeof(*dirs); d++) {
		char **names;
		int n = sys_list_dir(ctx, dirs[d][0], &names);

		for (int i = 0; i < n; i++) {
			struct stat st;
			int fd;

			rf_buf_reset(&p);
			rf_buf_printf(&p, "%s/%s", dirs[d][0], names[i]);
			fd = rf_root_open(ctx->rootfd, p.data, O_PATH);
			if (fd < 0)
				continue;
			if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode)) {
				if (ids->n == ids->cap) {
					ids->cap = ids->cap ? ids->cap * 2 : 16;
					ids->v = rf_xrealloc(
						ids->v,
						ids->cap * sizeof(*ids->v));
				}
				ids->v[ids->n].dev = st.st_rdev;
				ids->v[ids->n].attr = dirs[d][1];
				ids->v[ids->n].value = rf_xstrdup(names[i]);
				unescape_hex(ids->v[ids->n].value);
				ids->n++;
			}
			close(fd);
		}
		if (n > 0)
			sys_names_free(names, n);
	}
	rf_buf_free(&p);
}

static void free_devids(struct devids *ids)
{
	for (size_t i = 0; i < ids->n; i++)
		free(ids->v[i].value);
	free(ids->v);
}

/* Writes the udev identities of dev, each kind once; returns how many. */
static int devid_attrs(struct sys_out *o, const struct devids *ids, dev_t dev)
{
	const char *done[8];
	int n = 0;

	for (size_t i = 0; i < ids->n; i++) {
		bool seen = false;

		if (ids->v[i].dev != dev)
			continue;
		for (int k = 0; k < n; k++)
			seen = seen || done[k] == ids->v[i].attr;
		if (seen || n == (int)(sizeof(done) / sizeof(*done)))
			continue;
		done[n++] = ids->v[i].attr;
		sys_attr(o, ids->v[i].attr, ids->v[i].value);
	}
	return n;
}

/*
 * The kernel name of a block device, and the disk it is on. sysfs links
 * /sys/dev/block/M:m to .../block/sda/sda1 for a partition (which has a
 * "partition" file) and to .../block/sda for a whole disk; device-mapper
 * and md volumes (dm/, md/) are on no single disk: their slaves/ tell.
 * Loop devices are files of some file system, not disks. Returns the name
 * (caller frees) or NULL; *disk is NULL or a name the caller frees.
 */
static char *block_name(const struct scan_sysctx *ctx, dev_t dev, char **disk)
{
	struct rf_buf p = RF_BUF_INIT, l = RF_BUF_INIT, q = RF_BUF_INIT;
	char *name = NULL, *slash;
	size_t base;

	*disk = NULL;
	rf_buf_printf(&p, "/sys/dev/block/%u:%u", major(dev), minor(dev));
	base = p.len;
	if (rf_root_readlink(ctx->rootfd, p.data, &l) < 0 || l.len == 0)
		goto out;
	slash = strrchr(l.data, '/');
	name = rf_xstrdup(slash ? slash + 1 : l.data);
	if (*name == '\0' || strncmp(name, "loop", 4) == 0)
		goto out;
	rf_buf_addstr(&p, "/partition");
	if (sys_exists(ctx, p.data)) {
		char *up;

		if (slash == NULL)
			goto out;
		*slash = '\0';
		up = strrchr(l.data, '/');
		*disk = rf_xstrdup(up ? up + 1 : l.data);
		goto out;
	}
	p.len = base;
	p.data[base] = '\0';
	rf_buf_printf(&q, "%s/dm", p.data);
	if (sys_exists(ctx, q.data))
		goto out;
	rf_buf_reset(&q);
	rf_buf_printf(&q, "%s/md", p.data);
	if (sys_exists(ctx, q.data))
		goto out;
	*disk = rf_xstrdup(name);
out:
	rf_buf_free(&p);
	rf_buf_free(&l);
	rf_buf_free(&q);
	return name;
}

/* The disk of a kernel block device name (sda1 -> sda), or NULL. */
static char *parent_disk(const struct scan_sysctx *ctx, const char *name)
{
	struct rf_buf p = RF_BUF_INIT, b = RF_BUF_INIT;
	char *disk = NULL;
	unsigned maj, min;

	rf_buf_printf(&p, "/sys/class/block/%s/dev", name);
	if (sys_read_text(ctx, p.data, SYS_MAX_CONF, &b) == 0 &&
	    sscanf(b.data, "%u:%u", &maj, &min) == 2)
		free(block_name(ctx, makedev(maj, min), &disk));
	rf_buf_free(&p);
	rf_buf_free(&b);
	return disk;
}

static void write_block_device(const struct scan_sysctx *ctx, struct sys_out *o,
			       dev_t dev, struct sys_strlist *disks)
{
	struct rf_buf p = RF_BUF_INIT, b = RF_BUF_INIT;
	char *disk = NULL, *name = block_name(ctx, dev, &disk);
	char **slaves;
	int n;

	if (name == NULL)
		goto out;
	sys_attr(o, "devname", name);
	if (disk != NULL) {
		sys_attr(o, "disk", disk);
		sys_strlist_add(disks, disk, false);
	}
	rf_buf_printf(&p, "/sys/class/block/%s/dm/name", name);
	if (sys_read_text(ctx, p.data, SYS_MAX_CONF, &b) == 0)
		sys_attr(o, "dm-name", sys_strip(b.data));
	rf_buf_reset(&p);
	rf_buf_printf(&p, "/sys/class/block/%s/slaves", name);
	n = sys_list_dir(ctx, p.data, &slaves);
	for (int i = 0; i < n; i++) {
		char *sd = parent_disk(ctx, slaves[i]);

		sys_start(o, "component");
		sys_attr(o, "devname", slaves[i]);
		sys_attr(o, "disk", sd);
		sys_end(o);
		if (sd != NULL)
			sys_strlist_add(disks, sd, false);
		free(sd);
	}
	if (n > 0)
		sys_names_free(slaves, n);
out:
	free(name);
	free(disk);
	rf_buf_free(&p);
	rf_buf_free(&b);
}

static void write_statfs(const struct scan_sysctx *ctx, struct sys_out *o,
			 const char *mountpoint)
{
	struct statvfs sv;
	int fd = rf_root_open(ctx->rootfd, mountpoint, O_PATH | O_DIRECTORY);

	if (fd < 0)
		return;
	if (fstatvfs(fd, &sv) == 0 && sv.f_frsize > 0 &&
	    sv.f_blocks >= sv.f_bfree) {
		uint64_t fr = sv.f_frsize;

		sys_attr_u64(o, "size", (uint64_t)sv.f_blocks * fr);
		sys_attr_u64(o, "used",
			     (uint64_t)(sv.f_blocks - sv.f_bfree) * fr);
		sys_attr_u64(o, "avail", (uint64_t)sv.f_bavail * fr);
		if (sv.f_files >= sv.f_ffree && sv.f_files > 0) {
			sys_attr_u64(o, "inodes", sv.f_files);
			sys_attr_u64(o, "inodes-used",
				     (uint64_t)(sv.f_files - sv.f_ffree));
		}
	}
	close(fd);
}

/* One line of proc/self/mountinfo, cut in place. */
struct mountinfo {
	unsigned maj, min;
	char *root, *mountpoint, *options, *type, *source;
};

static bool parse_mountinfo_line(char *line, struct mountinfo *m)
{
	char *rest = line, *w, *dev;

	if (sys_next_word(&rest) == NULL || sys_next_word(&rest) == NULL)
		return false; /* mount id, parent id */
	dev = sys_next_word(&rest);
	if (dev == NULL || sscanf(dev, "%u:%u", &m->maj, &m->min) != 2)
		return false;
	m->root = sys_next_word(&rest);
	m->mountpoint = sys_next_word(&rest);
	m->options = sys_next_word(&rest);
	if (m->options == NULL)
		return false;
	/* optional fields up to a lone "-" */
	while ((w = sys_next_word(&rest)) != NULL && strcmp(w, "-") != 0)
		;
	if (w == NULL)
		return false;
	m->type = sys_next_word(&rest);
	m->source = sys_next_word(&rest);
	if (m->type == NULL || m->source == NULL)
		return false;
	unescape_octal(m->root);
	unescape_octal(m->mountpoint);
	unescape_octal(m->source);
	unescape_octal(m->type);
	return true;
}

static void live_mounts(const struct scan_sysctx *ctx, struct sys_out *o,
			struct fstab *ft, struct sys_strlist *disks)
{
	struct rf_buf b = RF_BUF_INIT;
	struct devids ids = {0};
	char *cur, *line;
	int count = 0, bad = 0;

	if (sys_read_text(ctx, "/proc/self/mountinfo", SYS_MAX_TABLE, &b) < 0)
		goto out;
	load_devids(ctx, &ids);
	cur = b.data;
	while ((line = sys_next_line(&cur)) != NULL && count < SYS_MAX_ITEMS) {
		struct mountinfo m;
		struct fstab_entry *fe = NULL;
		const char *kind;
		dev_t dev;

		if (!parse_mountinfo_line(line, &m)) {
			if (*sys_strip(line) != '\0' && bad++ == 0)
				sys_warn(ctx, "/proc/self/mountinfo: "
					      "malformed line skipped");
			continue;
		}
		count++;
		kind = fs_kind(m.type);
		/* the last fstab line for a mount point is the one used */
		for (size_t i = 0; i < ft->n; i++)
			if (strcmp(ft->v[i].file, m.mountpoint) == 0 &&
			    strcmp(ft->v[i].type, "swap") != 0)
				fe = &ft->v[i];
		dev = makedev(m.maj, m.min);
		if (m.source[0] == '/') {
			struct stat st;
			int fd = rf_root_open(ctx->rootfd, m.source, O_PATH);

			/* btrfs reports an anonymous 0:N in mountinfo */
			if (fd >= 0 && fstat(fd, &st) == 0 &&
			    S_ISBLK(st.st_mode))
				dev = st.st_rdev;
			if (fd >= 0)
				close(fd);
		}
		sys_start(o, "filesystem");
		sys_attr(o, "source", "live");
		sys_attr(o, "mountpoint", m.mountpoint);
		sys_attr(o, "type", m.type);
		sys_attr(o, "kind", kind);
		sys_attr(o, "device", m.source);
		/* what udev knows of the device; else what fstab says */
		if ((strcmp(kind, "disk") != 0 ||
		     devid_attrs(o, &ids, dev) == 0) &&
		    fe != NULL)
			spec_attrs(o, fe->spec);
		if (fe != NULL) {
			fe->mounted = true;
			sys_attr(o, "spec", fe->spec);
			sys_attr(o, "options", fe->opts);
			sys_attr(o, "dump", fe->freq);
			sys_attr(o, "pass", fe->pass);
		}
		sys_attr(o, "mount-options", m.options);
		if (strcmp(m.root, "/") != 0)
			sys_attr(o, "bind-root", m.root);
		if (strcmp(kind, "disk") == 0)
			write_statfs(ctx, o, m.mountpoint);
		if (strcmp(kind, "disk") == 0 && major(dev) != 0)
			write_block_device(ctx, o, dev, disks);
		sys_end(o);
	}
	if (bad > 1)
		sys_warn(ctx,
			 "/proc/self/mountinfo: %d malformed lines "
			 "skipped in all",
			 bad);
out:
	free_devids(&ids);
	rf_buf_free(&b);
}

/* proc/swaps: "Filename Type Size Used Priority", sizes in KiB. */
static void live_swaps(const struct scan_sysctx *ctx, struct sys_out *o)
{
	struct rf_buf b = RF_BUF_INIT;
	char *cur, *line;
	int count = 0;

	if (sys_read_text(ctx, "/proc/swaps", SYS_MAX_CONF, &b) < 0)
		goto out;
	cur = b.data;
	sys_next_line(&cur); /* the header */
	while ((line = sys_next_line(&cur)) != NULL && count < SYS_MAX_ITEMS) {
		char *rest = line, *file, *type, *size, *used, *prio;
		uint64_t v;

		file = sys_next_word(&rest);
		type = sys_next_word(&rest);
		size = sys_next_word(&rest);
		used = sys_next_word(&rest);
		prio = sys_next_word(&rest);
		if (type == NULL)
			continue;
		count++;
		unescape_octal(file);
		sys_start(o, "swap");
		sys_attr(o, "source", "live");
		sys_attr(o, "device", file);
		sys_attr(o, "type", type);
		if (size != NULL && sys_parse_u64(size, UINT64_MAX / 1024, &v))
			sys_attr_u64(o, "size", v * 1024);
		if (used != NULL && sys_parse_u64(used, UINT64_MAX / 1024, &v))
			sys_attr_u64(o, "used", v * 1024);
		sys_attr(o, "priority", prio);
		sys_end(o);
	}
out:
	rf_buf_free(&b);
}

/*
 * The partition table type, from the first two logical sectors:
 *
 *   MBR (msdos): sector 0 ends with the signature 0x55 0xAA at offset 510;
 *     four 16-byte entries start at offset 446, each beginning with a
 *     status byte (0x00, or 0x80 for active) and holding its type at
 *     offset 4. A protective MBR (type 0xEE) stands in front of a GPT.
 *   GPT: sector 1 (LBA 1, at the logical sector size) starts with the
 *     8 bytes "EFI PART" (UEFI spec, 5.3.2).
 *
 * A FAT file system written on a whole disk also ends sector 0 with
 * 0x55AA, but its boot code makes invalid status bytes: "none".
 */
static const char *table_type(const unsigned char *s, size_t sector)
{
	bool any = false;

	if (memcmp(s + sector, "EFI PART", 8) == 0)
		return "gpt";
	if (s[510] != 0x55 || s[511] != 0xaa)
		return "none";
	for (int i = 0; i < 4; i++) {
		const unsigned char *e = s + 446 + 16 * i;

		if (e[0] != 0x00 && e[0] != 0x80)
			return "none";
		if (e[4] == 0xee)
			return "gpt"; /* its header may be damaged */
		if (e[4] != 0)
			any = true;
	}
	return any ? "msdos" : "none";
}

static void write_disk(const struct scan_sysctx *ctx, struct sys_out *o,
		       const char *name)
{
	unsigned char sectors[2 * SYS_MAX_SECTOR];
	struct rf_buf p = RF_BUF_INIT, b = RF_BUF_INIT;
	uint64_t lbs = 512, nsect;
	struct stat st;
	int fd = -1;

	sys_start(o, "disk");
	sys_attr(o, "name", name);
	rf_buf_printf(&p, "/sys/class/block/%s/size", name);
	if (sys_read_text(ctx, p.data, SYS_MAX_CONF, &b) == 0 &&
	    sys_parse_u64(sys_strip(b.data), UINT64_MAX / 512, &nsect))
		sys_attr_u64(o, "size", nsect * 512); /* sysfs counts 512 */
	rf_buf_reset(&p);
	rf_buf_printf(&p, "/sys/class/block/%s/queue/logical_block_size", name);
	if (sys_read_text(ctx, p.data, SYS_MAX_CONF, &b) == 0 &&
	    (!sys_parse_u64(sys_strip(b.data), SYS_MAX_SECTOR, &lbs) ||
	     lbs < 512))
		lbs = 512;
	sys_attr_u64(o, "sector-size", lbs);
	rf_buf_reset(&p);
	rf_buf_printf(&p, "/dev/%s", name);
	fd = rf_root_open(ctx->rootfd, p.data, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		goto out;
	/* only a block device: never read a FIFO or a file planted there */
	if (fstat(fd, &st) < 0 || !S_ISBLK(st.st_mode))
		goto out;
	if (pread(fd, sectors, 2 * lbs, 0) == (ssize_t)(2 * lbs))
		sys_attr(o, "table", table_type(sectors, lbs));
out:
	if (fd >= 0)
		close(fd);
	sys_end(o);
	rf_buf_free(&p);
	rf_buf_free(&b);
}

void sys_write_storage(const struct scan_sysctx *ctx, struct sys_out *o)
{
	struct fstab ft = {0};
	struct sys_strlist disks = {0};

	load_fstab(ctx, &ft);
	sys_start(o, "storage");
	if (ctx->live)
		live_mounts(ctx, o, &ft, &disks);
	for (size_t i = 0; i < ft.n; i++)
		if (strcmp(ft.v[i].type, "swap") != 0 &&
		    (!ctx->live || !ft.v[i].mounted))
			write_fstab_entry(o, &ft.v[i], ctx->live);
	if (ctx->live)
		live_swaps(ctx, o);
	for (size_t i = 0; i < ft.n; i++)
		if (strcmp(ft.v[i].type, "swap") == 0)
			write_fstab_entry(o, &ft.v[i], false);
	for (size_t i = 0; i < disks.n; i++)
		write_disk(ctx, o, disks.v[i]);
	sys_end(o);
	sys_strlist_free(&disks);
	free_fstab(&ft);
}
