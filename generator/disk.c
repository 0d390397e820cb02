/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Partitions, filesystems and the image stream; see disk.h and
 * partition.txt.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ctype.h>
#include <ftw.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zlib.h>

#include "buf.h"
#include "disk.h"
#include "fsw.h"
#include "extract.h"
#include "formats/image.h"
#include "progress.h"

#define MiB (1ULL << 20)
/* largest file made xfs through a protofile */
#define XFS_PROTO_FILE_MAX (1024 * MiB)
#define SECTOR 512ULL
#define GPT_ENTRIES 128
#define GPT_ENTRY_SIZE 128
#define GPT_ARRAY_SECTORS (GPT_ENTRIES * GPT_ENTRY_SIZE / SECTOR)

static const char *const TYPE_LINUX = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
static const char *const TYPE_ESP = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
static const char *const TYPE_BIOS = "21686148-6449-6E6F-744E-656564454649";
static const char *const TYPE_SWAP = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F";

static void new_uuid(char out[40])
{
	unsigned char u[16];

	if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u))
		for (size_t i = 0; i < sizeof(u); i++)
			u[i] = (unsigned char)rand();
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
	snprintf(out, 40,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
		 u[10], u[11], u[12], u[13], u[14], u[15]);
}

/* A FAT volume id as blkid shows it: XXXX-XXXX. */
static void new_volid(char out[40])
{
	unsigned char v[4];

	if (getrandom(v, 4, 0) != 4)
		for (size_t i = 0; i < sizeof(v); i++)
			v[i] = (unsigned char)rand();
	snprintf(out, 40, "%02X%02X-%02X%02X", v[0], v[1], v[2], v[3]);
}

/* A GUID's text form to its on-disk bytes (partition.txt). */
static int guid_bytes(const char *s, unsigned char out[16])
{
	static const int order[16] = {3, 2, 1, 0, 5, 4, 7, 6,
				      8, 9, 10, 11, 12, 13, 14, 15};
	unsigned char raw[16];
	size_t n = 0;

	for (const char *p = s; *p != '\0' && n < 16; p++) {
		unsigned v;

		if (*p == '-')
			continue;
		if (sscanf(p, "%2x", &v) != 1)
			return -EINVAL;
		raw[n++] = (unsigned char)v;
		p++;
	}
	if (n != 16)
		return -EINVAL;
	for (int i = 0; i < 16; i++)
		out[i] = raw[order[i]];
	return 0;
}

static uint64_t round_up(uint64_t v, uint64_t to)
{
	return (v + to - 1) / to * to;
}

/* Space and inodes a staged tree needs, and its largest file (nftw has no
 * context pointer). */
static uint64_t du_bytes, du_inodes, du_largest;

static int du_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)path;
	(void)flag;
	(void)ftw;
	du_inodes++;
	if (S_ISREG(st->st_mode) && (uint64_t)st->st_size > du_largest)
		du_largest = (uint64_t)st->st_size;
	if (S_ISREG(st->st_mode))
		du_bytes += (uint64_t)st->st_blocks * 512 /
			    (st->st_nlink ? st->st_nlink : 1);
	else if (S_ISDIR(st->st_mode))
		du_bytes += 4096;
	else if (S_ISLNK(st->st_mode) && st->st_size > 59)
		du_bytes += 4096;
	return 0;
}

static int measure(struct gen_part *p, struct rf_error *err)
{
	du_bytes = 0;
	du_inodes = 0;
	du_largest = 0;
	if (nftw(p->dir, du_one, 64, FTW_PHYS) != 0)
		return rf_error_errno(err, -errno, "cannot measure %s", p->dir);
	p->data = du_bytes;
	p->inodes = du_inodes;
	return 0;
}

/* The part of l whose mountpoint holds path (report form, "" the root):
 * the longest that prefixes it. */
static struct gen_part *part_of(struct gen_layout *l, const char *path)
{
	struct gen_part *best = NULL;
	size_t best_len = 0, n;

	for (size_t i = 0; i < l->nparts; i++)
		if (l->parts[i].mountpoint != NULL &&
		    l->parts[i].kind != GEN_PART_SWAP &&
		    gen_path_under(path, l->parts[i].mountpoint, &n) &&
		    (best == NULL || n > best_len)) {
			best = &l->parts[i];
			best_len = n;
		}
	return best;
}

/* Space and inodes from the report, as measure() has them from a staged
 * tree: what the generated files will hold is what the source's did. */
static void measure_report(struct gen_layout *l, const struct gen_report *r)
{
	du_largest = 0;
	for (size_t i = 0; i < r->nfiles; i++) {
		const struct gen_file *f = &r->files[i];
		struct gen_part *p;

		if (f->cls == GEN_MISSING || (p = part_of(l, f->path)) == NULL)
			continue;
		p->inodes++;
		if (S_ISREG(f->type))
			p->data += round_up(f->allocated, 4096);
		else if (S_ISDIR(f->type))
			p->data += 4096;
		else if (S_ISLNK(f->type) && f->target != NULL &&
			 strlen(f->target) > 59)
			p->data += 4096;
		if (f->size > du_largest)
			du_largest = f->size;
	}
}

/* Whether the program name is in PATH. */
static bool have_tool(const char *name)
{
	const char *path = getenv("PATH");
	bool found = false;
	char *copy, *save = NULL;

	copy = rf_xstrdup(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
	for (char *dir = strtok_r(copy, ":", &save); dir && !found;
	     dir = strtok_r(NULL, ":", &save)) {
		struct rf_buf b = RF_BUF_INIT;

		rf_buf_printf(&b, "%s/%s", dir, name);
		found = access(b.data, X_OK) == 0;
		rf_buf_free(&b);
	}
	free(copy);
	return found;
}

static bool is_ext(const char *t)
{
	return t && (strcmp(t, "ext2") == 0 || strcmp(t, "ext3") == 0 ||
		     strcmp(t, "ext4") == 0);
}

static struct gen_part *add_part(struct gen_layout *l, enum gen_part_kind k)
{
	struct gen_part *p;

	l->parts = rf_xrealloc(l->parts, (l->nparts + 1) * sizeof(*l->parts));
	p = &l->parts[l->nparts++];
	memset(p, 0, sizeof(*p));
	p->kind = k;
	p->fd = -1;
	new_uuid(p->partuuid);
	return p;
}

static int mp_depth_cmp(const void *a, const void *b)
{
	const struct gen_part *x = a, *y = b;
	size_t dx = 0, dy = 0;

	/* the root first, then shallower mount points (so /boot before
	 * /boot/efi in the table); moving happens in reverse */
	for (const char *c = x->mountpoint ? x->mountpoint : "~"; *c; c++)
		dx += *c == '/';
	for (const char *c = y->mountpoint ? y->mountpoint : "~"; *c; c++)
		dy += *c == '/';
	if (x->mountpoint && strcmp(x->mountpoint, "/") == 0)
		dx = 0;
	if (y->mountpoint && strcmp(y->mountpoint, "/") == 0)
		dy = 0;
	return dx < dy ? -1 : dx > dy;
}

/* Move the subtree at mountpoint out of the root into dir, leaving an
 * empty directory with the same owner, mode and times. */
static int split_off(const char *stage, const char *mountpoint,
		     const char *dir, struct rf_error *err)
{
	struct rf_buf from = RF_BUF_INIT;
	struct stat st;
	struct timespec ts[2];
	int rc = 0;

	rf_buf_printf(&from, "%s/root%s", stage, mountpoint);
	if (lstat(from.data, &st) < 0 || !S_ISDIR(st.st_mode)) {
		/* nothing staged there: an empty filesystem */
		if (mkdir(dir, 0755) < 0)
			rc = rf_error_errno(err, -errno, "mkdir %s", dir);
		goto out;
	}
	if (rename(from.data, dir) < 0 || mkdir(from.data, st.st_mode) < 0 ||
	    lchown(from.data, st.st_uid, st.st_gid) < 0 ||
	    chmod(from.data, st.st_mode & 07777) < 0) {
		rc = rf_error_errno(err, -errno, "cannot split %s off",
				    mountpoint);
		goto out;
	}
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	utimensat(AT_FDCWD, from.data, ts, AT_SYMLINK_NOFOLLOW);
out:
	rf_buf_free(&from);
	return rc;
}

int gen_disk_plan(const struct gen_report *r, const char *stage,
		  const struct gen_disk_opts *o, struct gen_layout **out,
		  struct rf_error *err)
{
	struct gen_layout *l = rf_xcalloc(1, sizeof(*l));
	bool efi = r->firmware && (strcmp(r->firmware, "efi") == 0 ||
				   strcmp(r->firmware, "hybrid") == 0);
	bool bios = !r->firmware || strcmp(r->firmware, "efi") != 0;
	bool have_root = false, have_esp = false;
	uint64_t pos = MiB;
	size_t root = 0;
	int rc = 0;

	l->gpt = !(r->table && strcmp(r->table, "msdos") == 0);
	new_uuid(l->disk_guid);
	for (size_t i = 0; i < r->nfs; i++) {
		const struct gen_fs *fs = &r->fs[i];
		struct gen_part *p;
		bool dup = false;

		if (fs->mountpoint == NULL || fs->mountpoint[0] != '/' ||
		    fs->type == NULL)
			continue;
		for (size_t j = 0; j < l->nparts; j++)
			dup |= strcmp(l->parts[j].mountpoint, fs->mountpoint) == 0;
		if (dup)
			continue;
		p = add_part(l, GEN_PART_FS);
		p->mountpoint = rf_xstrdup(fs->mountpoint);
		if (strcmp(fs->type, "vfat") == 0) {
			p->fstype = rf_xstrdup("vfat");
			if (strcmp(fs->mountpoint, "/boot/efi") == 0 ||
			    strcmp(fs->mountpoint, "/efi") == 0) {
				p->kind = GEN_PART_ESP;
				have_esp = true;
			}
		} else if (is_ext(fs->type) ||
			   (strcmp(fs->type, "xfs") == 0 &&
			    have_tool("mkfs.xfs")) ||
			   (strcmp(fs->type, "btrfs") == 0 &&
			    have_tool("mkfs.btrfs"))) {
			p->fstype = rf_xstrdup(fs->type);
		} else {
			/* ext4 for any other disk type, or when the type's
			 * tools are not installed; the note says so */
			struct rf_buf note = RF_BUF_INIT;

			p->fstype = rf_xstrdup("ext4");
			p->source_type = rf_xstrdup(fs->type);
			rf_buf_printf(&note, "%s was %s on the source; made "
				      "ext4 (%s)", fs->mountpoint, fs->type,
				      strcmp(fs->type, "xfs") == 0
					      ? "mkfs.xfs is not installed"
				      : strcmp(fs->type, "btrfs") == 0
					      ? "mkfs.btrfs is not installed"
					      : "no maker for that type");
			p->note = rf_buf_detach(&note);
		}
		if (fs->label != NULL)
			p->label = rf_xstrdup(fs->label);
		have_root |= strcmp(fs->mountpoint, "/") == 0;
	}
	if (!have_root) {
		struct gen_part *p = add_part(l, GEN_PART_FS);

		p->mountpoint = rf_xstrdup("/");
		p->fstype = rf_xstrdup("ext4");
	}
	if (efi && !have_esp) {
		struct gen_part *p = add_part(l, GEN_PART_ESP);

		p->mountpoint = rf_xstrdup("/boot/efi");
		p->fstype = rf_xstrdup("vfat");
	}
	qsort(l->parts, l->nparts, sizeof(*l->parts), mp_depth_cmp);
	/* split deepest first, so /boot/efi leaves /boot before /boot goes */
	for (size_t i = l->nparts; i-- > 0;) {
		struct gen_part *p = &l->parts[i];
		struct rf_buf d = RF_BUF_INIT;

		if (stage == NULL) {
			/* no staged tree: the report says what each holds */
			if (strcmp(p->mountpoint, "/") == 0)
				root = i;
			continue;
		}
		if (strcmp(p->mountpoint, "/") == 0) {
			rf_buf_printf(&d, "%s/root", stage);
			p->dir = rf_buf_detach(&d);
			root = i;
			continue;
		}
		rf_buf_printf(&d, "%s/fs-%zu", stage, i);
		p->dir = rf_buf_detach(&d);
		rc = split_off(stage, p->mountpoint, p->dir, err);
		if (rc < 0)
			goto out;
	}
	if (l->gpt && bios)
		add_part(l, GEN_PART_BIOS)->size = MiB;
	if (r->have_swap) {
		struct gen_part *p = add_part(l, GEN_PART_SWAP);

		p->fstype = rf_xstrdup("swap");
		/* as on the source, within reason for an image */
		p->size = round_up(r->swap_bytes ? r->swap_bytes : 512 * MiB,
				   MiB);
		if (p->size > 4096 * MiB)
			p->size = 4096 * MiB;
	}
	if (!l->gpt && l->nparts > 4) {
		rc = rf_error_set(err, -E2BIG, "%zu partitions do not fit an "
				  "MBR without extended partitions",
				  l->nparts);
		goto out;
	}
	if (stage == NULL)
		measure_report(l, r);
	for (size_t i = 0; i < l->nparts; i++) {
		struct gen_part *p = &l->parts[i];

		if (p->dir != NULL || (stage == NULL && p->mountpoint != NULL)) {
			if (p->dir != NULL)
				rc = measure(p, err);
			if (rc < 0)
				goto out;
			/* mkfs.xfs -p (xfsprogs 6.1) reads each file whole
			 * into memory, its length an int */
			if (strcmp(p->fstype, "xfs") == 0 &&
			    du_largest >= XFS_PROTO_FILE_MAX) {
				struct rf_buf note = RF_BUF_INIT;

				rf_buf_printf(&note, "%s was xfs on the source; "
					      "made ext4 (a file of %llu MiB, "
					      "over what mkfs.xfs -p takes)",
					      p->mountpoint,
					      (unsigned long long)(du_largest /
								   MiB));
				free(p->fstype);
				p->fstype = rf_xstrdup("ext4");
				p->source_type = rf_xstrdup("xfs");
				p->note = rf_buf_detach(&note);
			}
			bool xfs = strcmp(p->fstype, "xfs") == 0;
			bool btrfs = strcmp(p->fstype, "btrfs") == 0;

			/* data, its metadata, the journal, then headroom;
			 * xfs has 512-byte inodes, btrfs keeps two copies
			 * of its metadata on one device */
			p->size = p->data +
				  p->inodes * (btrfs ? 1024 : xfs ? 512 : 256) +
				  p->data / (btrfs ? 8 : 16) +
				  (btrfs ? 128 : 64) * MiB;
			p->size += p->size * o->headroom / 100;
			if (p->kind == GEN_PART_ESP && p->size < 64 * MiB)
				p->size = 64 * MiB;
			/* mkfs.xfs refuses less than 300 MiB */
			if (xfs && p->size < 320 * MiB)
				p->size = 320 * MiB;
			if (btrfs && p->size < 256 * MiB)
				p->size = 256 * MiB;
			p->size = round_up(p->size, MiB);
		}
		/* every filesystem's UUID is known from the plan on: fstab
		 * and the boot loader (boot.c) name them before they are
		 * made */
		if (p->fstype != NULL && strcmp(p->fstype, "vfat") == 0)
			new_volid(p->uuid);
		else if (p->fstype != NULL)
			new_uuid(p->uuid);
	}
	for (size_t i = 0; i < l->nparts; i++) {
		l->parts[i].start = pos;
		pos += l->parts[i].size;
	}
	pos += MiB; /* the backup GPT, and round to whole MiB */
	if (o->disk_size != 0) {
		if (o->disk_size < pos) {
			rc = rf_error_set(err, -ENOSPC,
					  "--disk-size %llu MiB is below the "
					  "%llu MiB the data needs",
					  (unsigned long long)(o->disk_size / MiB),
					  (unsigned long long)(pos / MiB));
			goto out;
		}
		/* the root filesystem takes the rest */
		for (size_t i = root + 1; i < l->nparts; i++)
			l->parts[i].start += o->disk_size / MiB * MiB - pos;
		l->parts[root].size += o->disk_size / MiB * MiB - pos;
		pos = o->disk_size / MiB * MiB;
	}
	l->size = pos;
out:
	if (rc < 0)
		gen_layout_free(l);
	else
		*out = l;
	return rc;
}

void gen_layout_free(struct gen_layout *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->nparts; i++) {
		free(l->parts[i].mountpoint);
		free(l->parts[i].fstype);
		free(l->parts[i].source_type);
		free(l->parts[i].label);
		free(l->parts[i].dir);
		free(l->parts[i].note);
		if (l->parts[i].fd >= 0)
			close(l->parts[i].fd);
	}
	free(l->parts);
	free(l->boot_code);
	free(l->core);
	free(l);
}

/* gen_run() in the directory cwd (NULL: the current one). */
static int run_in(char *const argv[], const char *cwd, const char *tmpdir,
		  struct rf_error *err)
{
	int log = open(tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	pid_t pid;
	int status, rc = 0;

	if (log < 0)
		return rf_error_errno(err, -errno, "cannot make a temporary "
				      "file in %s", tmpdir);
	pid = fork();
	if (pid < 0) {
		rc = rf_error_errno(err, -errno, "fork");
		goto out;
	}
	if (pid == 0) {
		dup2(log, 1);
		dup2(log, 2);
		setenv("MTOOLS_SKIP_CHECK", "1", 1);
		setenv("E2FSPROGS_FAKE_TIME", "", 0);
		unsetenv("E2FSPROGS_FAKE_TIME");
		if (cwd != NULL && chdir(cwd) < 0)
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			rc = rf_error_errno(err, -errno, "waitpid");
			goto out;
		}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char msg[600] = "";
		ssize_t n = pread(log, msg, sizeof(msg) - 1, 0);

		msg[n > 0 ? n : 0] = '\0';
		rc = rf_error_set(err, -EIO, "%s failed (%s %d)%s%s", argv[0],
				  WIFEXITED(status) ? "exit" : "signal",
				  WIFEXITED(status) ? WEXITSTATUS(status)
						    : WTERMSIG(status),
				  msg[0] ? ": " : "", msg);
	}
out:
	close(log);
	return rc;
}

int gen_run(char *const argv[], const char *tmpdir, struct rf_error *err)
{
	return run_in(argv, NULL, tmpdir, err);
}

/* An unnamed file of size bytes in tmpdir, inherited by the tools (no
 * O_CLOEXEC), reachable by them as /proc/self/fd/N. */
static int scratch_file(const char *tmpdir, uint64_t size,
			struct rf_error *err)
{
	int fd = open(tmpdir, O_TMPFILE | O_RDWR, 0600);

	if (fd < 0)
		return rf_error_errno(err, -errno, "cannot make a temporary "
				      "file in %s", tmpdir);
	if (ftruncate(fd, (off_t)size) < 0) {
		int rc = rf_error_errno(err, -errno, "cannot size a temporary "
					"file in %s", tmpdir);

		close(fd);
		return rc;
	}
	return fd;
}

/* mcopy -s of every top-level entry of dir into the FAT image dev (mcopy
 * refuses "dir/." as a source). */
static int copy_to_fat(const char *dir, const char *dev, const char *tmpdir,
		       struct rf_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **argv = NULL;
	size_t n = 0, fixed = 7;
	int rc;

	if (d == NULL)
		return rf_error_errno(err, -errno, "cannot read %s", dir);
	argv = rf_xcalloc(fixed + 2, sizeof(char *));
	while ((de = readdir(d)) != NULL) {
		struct rf_buf b = RF_BUF_INIT;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		rf_buf_printf(&b, "%s/%s", dir, de->d_name);
		argv = rf_xrealloc(argv, (fixed + n + 3) * sizeof(char *));
		argv[fixed + n++] = rf_buf_detach(&b);
	}
	closedir(d);
	argv[0] = "mcopy";
	argv[1] = "-s";
	argv[2] = "-p";
	argv[3] = "-m";
	argv[4] = "-Q";
	argv[5] = "-i";
	argv[6] = (char *)dev;
	argv[fixed + n] = "::/";
	argv[fixed + n + 1] = NULL;
	rc = n > 0 ? gen_run(argv, tmpdir, err) : 0;
	for (size_t i = 0; i < n; i++)
		free(argv[fixed + i]);
	free(argv);
	return rc;
}

/*
 * xfs from a protofile (mkfs.xfs -p, see xfs_mkfs(8)): one line per entry,
 * "name mode uid gid [source]", a directory's entries after its line and
 * a "$" line closing it. The protofile is a list of whitespace-separated
 * tokens, a token starting with ':' begins a comment, and its mode field
 * has no sticky bit; xfsprogs 6.1 carries no times, xattrs or hardlinks
 * and makes no socket. So: names and link targets it cannot express are
 * left out and named in the note, sticky bits and mtimes are set
 * afterwards with xfs_db, and the note counts what was lost (a hardlinked
 * file becomes copies, xattrs and ACLs are dropped).
 */
struct proto {
	struct rf_buf out;   /* the protofile */
	struct rf_buf fixes; /* xfs_db commands */
	struct rf_buf lost;  /* the first names left out, one a line */
	void *inodes;        /* tsearch() set of hardlinked inodes seen */
	uint64_t names, links, xattrs, sockets, untimed;
};

/* Seconds from 1901-12-13 20:45:52 UTC, a bigtime timestamp's origin, to
 * the Unix epoch. */
#define XFS_BIGTIME_EPOCH 2147483648LL

struct seen_inode {
	dev_t dev;
	ino_t ino;
};

static int inode_cmp(const void *a, const void *b)
{
	const struct seen_inode *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static bool proto_token(const char *s)
{
	if (s[0] == '\0' || s[0] == ':' || strcmp(s, "$") == 0)
		return false;
	for (; *s != '\0'; s++)
		if (isspace((unsigned char)*s))
			return false;
	return true;
}

static void proto_lost(struct proto *ps, const char *rel)
{
	if (ps->names++ < 5)
		rf_buf_printf(&ps->lost, "\n  /%s", rel);
}

/*
 * The xfs_db commands that give the inode at /path what the protofile
 * cannot: the sticky bit, and the mtime (a bigtime timestamp, which
 * xfs_db writes whole: nanoseconds since 1901-12-13). Paths xfs_db's
 * command line could misread (quotes, backslashes) keep mkfs's time.
 */
static void proto_fix(struct proto *ps, const char *path,
		      const struct stat *st)
{
	uint64_t t;

	if (strpbrk(path, "'\"\\") != NULL) {
		ps->untimed++;
		return;
	}
	rf_buf_printf(&ps->fixes, "path /%s\n", path);
	if (st->st_mode & S_ISVTX)
		rf_buf_printf(&ps->fixes, "write core.mode 0%o\n",
			      (unsigned)st->st_mode);
	t = st->st_mtim.tv_sec < -(time_t)XFS_BIGTIME_EPOCH
		    ? 0
		    : ((uint64_t)(st->st_mtim.tv_sec + XFS_BIGTIME_EPOCH) *
			       1000000000u +
		       (uint64_t)st->st_mtim.tv_nsec);
	rf_buf_printf(&ps->fixes, "write core.mtime.sec %llu\n",
		      (unsigned long long)t);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of the directory dfd (taken over: closed here), at rel in
 * the partition ("" for its root), into ps, sorted by name. */
static int proto_dir(struct proto *ps, int dfd, const char *rel, int depth,
		     struct rf_error *err)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	int rc = 0;

	if (d == NULL) {
		close(dfd);
		return rf_error_errno(err, -errno, "cannot read /%s", rel);
	}
	if (depth > 256) {
		closedir(d);
		return rf_error_set(err, -ELOOP, "/%s: too deep", rel);
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		names = rf_xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = rf_xstrdup(de->d_name);
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *name = names[i];
		struct rf_buf path = RF_BUF_INIT;
		char proc[64], target[4096];
		struct stat st;
		char type;
		ssize_t len;

		rf_buf_printf(&path, "%s%s%s", rel, rel[0] ? "/" : "", name);
		if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = rf_error_errno(err, -errno, "stat /%s", path.data);
			goto next;
		}
		if (!proto_token(name)) {
			proto_lost(ps, path.data);
			goto next;
		}
		switch (st.st_mode & S_IFMT) {
		case S_IFREG: type = '-'; break;
		case S_IFDIR: type = 'd'; break;
		case S_IFLNK: type = 'l'; break;
		case S_IFCHR: type = 'c'; break;
		case S_IFBLK: type = 'b'; break;
		case S_IFIFO: type = 'p'; break;
		default:
			ps->sockets++;
			goto next;
		}
		if (type == 'l') {
			len = readlinkat(dirfd(d), name, target,
					 sizeof(target) - 1);
			if (len < 0) {
				rc = rf_error_errno(err, -errno, "readlink /%s",
						    path.data);
				goto next;
			}
			target[len] = '\0';
			if (!proto_token(target)) {
				proto_lost(ps, path.data);
				goto next;
			}
		}
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d/", dirfd(d));
		{
			struct rf_buf x = RF_BUF_INIT;

			rf_buf_printf(&x, "%s%s", proc, name);
			if (llistxattr(x.data, NULL, 0) > 0)
				ps->xattrs++;
			rf_buf_free(&x);
		}
		if (type == '-' && st.st_nlink > 1) {
			struct seen_inode *k = rf_xmalloc(sizeof(*k));
			void *found;

			k->dev = st.st_dev;
			k->ino = st.st_ino;
			found = tsearch(k, &ps->inodes, inode_cmp);
			if (found == NULL)
				abort(); /* out of memory, as rf_xmalloc */
			if (*(struct seen_inode **)found != k) {
				ps->links++;
				free(k);
			}
		}
		rf_buf_printf(&ps->out, "%s %c%c%c%03o %u %u", name, type,
			      st.st_mode & S_ISUID ? 'u' : '-',
			      st.st_mode & S_ISGID ? 'g' : '-',
			      (unsigned)(st.st_mode & 0777),
			      (unsigned)st.st_uid, (unsigned)st.st_gid);
		if (type == '-')
			rf_buf_printf(&ps->out, " %s", path.data);
		else if (type == 'l')
			rf_buf_printf(&ps->out, " %s", target);
		else if (type == 'c' || type == 'b')
			rf_buf_printf(&ps->out, " %u %u", major(st.st_rdev),
				      minor(st.st_rdev));
		rf_buf_addch(&ps->out, '\n');
		proto_fix(ps, path.data, &st);
		if (type == 'd') {
			int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY |
							 O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0) {
				rc = rf_error_errno(err, -errno, "open /%s",
						    path.data);
				goto next;
			}
			rc = proto_dir(ps, sub, path.data, depth + 1, err);
			rf_buf_addstr(&ps->out, "$\n");
		}
next:
		rf_buf_free(&path);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

/* A file of tmpdir holding buf, inherited by the tools (no O_CLOEXEC). */
static int scratch_text(const char *tmpdir, const struct rf_buf *buf,
			struct rf_error *err)
{
	int fd = scratch_file(tmpdir, 0, err);
	size_t done = 0;

	while (fd >= 0 && done < buf->len) {
		ssize_t n = write(fd, buf->data + done, buf->len - done);

		if (n < 0) {
			int rc = rf_error_errno(err, -errno, "write in %s",
						tmpdir);

			close(fd);
			return rc;
		}
		done += (size_t)n;
	}
	return fd;
}

static int make_xfs(struct gen_part *p, const char *dev, const char *tmpdir,
		    struct rf_error *err)
{
	struct proto ps = {RF_BUF_INIT, RF_BUF_INIT, RF_BUF_INIT, NULL,
			   0, 0, 0, 0, 0};
	struct stat st;
	char uuid[64], label[16], protopath[64], fixpath[80];
	int dfd, pfd = -1, ffd = -1, rc;

	dfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || fstat(dfd, &st) < 0) {
		rc = rf_error_errno(err, -errno, "open %s", p->dir);
		if (dfd >= 0)
			close(dfd);
		goto out;
	}
	/* the boot image line (none), the size line (mkfs decides), the
	 * root directory */
	rf_buf_printf(&ps.out, "/dev/null\n0 0\nd%c%c%03o %u %u\n",
		      st.st_mode & S_ISUID ? 'u' : '-',
		      st.st_mode & S_ISGID ? 'g' : '-',
		      (unsigned)(st.st_mode & 0777), (unsigned)st.st_uid,
		      (unsigned)st.st_gid);
	proto_fix(&ps, "", &st);
	rc = proto_dir(&ps, dfd, "", 0, err);
	if (rc < 0)
		goto out;
	rf_buf_addstr(&ps.out, "$\n");
	pfd = scratch_text(tmpdir, &ps.out, err);
	if (pfd < 0) {
		rc = pfd;
		goto out;
	}
	snprintf(protopath, sizeof(protopath), "/proc/self/fd/%d", pfd);
	snprintf(uuid, sizeof(uuid), "uuid=%s", p->uuid);
	/* an xfs label holds 12 bytes */
	snprintf(label, sizeof(label), "%.12s", p->label ? p->label : "");
	{
		char *argv[] = {"mkfs.xfs", "-q", "-f", "-m", uuid, "-m",
				"bigtime=1", "-p",
				protopath, label[0] ? "-L" : (char *)dev,
				label[0] ? label : NULL, label[0] ? (char *)dev
								  : NULL,
				NULL};

		rc = run_in(argv, p->dir, tmpdir, err);
	}
	if (rc < 0 || ps.fixes.len == 0)
		goto notes;
	ffd = scratch_text(tmpdir, &ps.fixes, err);
	if (ffd < 0) {
		rc = ffd;
		goto out;
	}
	snprintf(fixpath, sizeof(fixpath), "source /proc/self/fd/%d", ffd);
	{
		char *argv[] = {"xfs_db", "-x", "-c", fixpath, (char *)dev,
				NULL};

		rc = run_in(argv, NULL, tmpdir, err);
		if (rc < 0)
			rf_error_prefix(err, "setting sticky bits and times");
	}
notes:
	if (rc == 0 && (ps.names || ps.links || ps.xattrs || ps.sockets ||
			ps.untimed ||
			(p->label && strlen(p->label) > 12))) {
		struct rf_buf note = RF_BUF_INIT;
		const char *sep = " ";

		rf_buf_printf(&note, "xfs (mkfs.xfs -p) could not carry all "
			      "of %s:", p->mountpoint);
		if (ps.links) {
			rf_buf_printf(&note, "%s%llu hardlinks became copies",
				      sep, (unsigned long long)ps.links);
			sep = "; ";
		}
		if (ps.xattrs) {
			rf_buf_printf(&note, "%s%llu files lost their xattrs, "
				      "ACLs or capabilities", sep,
				      (unsigned long long)ps.xattrs);
			sep = "; ";
		}
		if (ps.sockets) {
			rf_buf_printf(&note, "%s%llu sockets left out", sep,
				      (unsigned long long)ps.sockets);
			sep = "; ";
		}
		if (ps.untimed) {
			rf_buf_printf(&note, "%s%llu names with quotes or "
				      "backslashes kept the time of the mkfs "
				      "run", sep,
				      (unsigned long long)ps.untimed);
			sep = "; ";
		}
		if (p->label && strlen(p->label) > 12) {
			rf_buf_printf(&note, "%sthe label cut to '%s'", sep,
				      label);
			sep = "; ";
		}
		if (ps.names)
			rf_buf_printf(&note, "%s%llu names or link targets "
				      "with blanks left out, among them:%s",
				      sep, (unsigned long long)ps.names,
				      ps.lost.data);
		else
			rf_buf_addch(&note, '.');
		p->note = rf_buf_detach(&note);
	}
out:
	if (pfd >= 0)
		close(pfd);
	if (ffd >= 0)
		close(ffd);
	tdestroy(ps.inodes, free);
	rf_buf_free(&ps.out);
	rf_buf_free(&ps.fixes);
	rf_buf_free(&ps.lost);
	return rc;
}

/* btrfs: mkfs.btrfs --rootdir copies the tree with owners, modes, times,
 * xattrs and hardlinks. */
static int make_btrfs(struct gen_part *p, const char *dev, const char *tmpdir,
		      struct rf_error *err)
{
	char *argv[12];
	int n = 0;

	argv[n++] = "mkfs.btrfs";
	argv[n++] = "-q";
	argv[n++] = "-f";
	argv[n++] = "-U";
	argv[n++] = p->uuid;
	if (p->label != NULL) {
		argv[n++] = "-L";
		argv[n++] = p->label;
	}
	argv[n++] = "--rootdir";
	argv[n++] = p->dir;
	argv[n++] = (char *)dev;
	argv[n] = NULL;
	return run_in(argv, NULL, tmpdir, err);
}

bool gen_disk_direct(const struct gen_layout *l)
{
	size_t fs = 0;

	for (size_t i = 0; i < l->nparts; i++) {
		const struct gen_part *p = &l->parts[i];

		/* ext2 and ext3 map blocks without extents */
		if (p->kind == GEN_PART_ESP ||
		    (p->kind == GEN_PART_FS && strcmp(p->fstype, "ext4") != 0))
			return false;
		fs += p->kind == GEN_PART_FS;
	}
	return fs >= 1;
}

static int make_ext(struct gen_part *p, const char *dev, bool tree,
		    const char *tmpdir, struct rf_error *err);

int gen_disk_make(struct gen_part *p, const char *tmpdir,
		  struct rf_error *err)
{
	char dev[64], volid[16];
	int rc = 0;

	if (p->kind == GEN_PART_BIOS || p->fd >= 0)
		return 0;
	p->fd = scratch_file(tmpdir, p->size, err);
	if (p->fd < 0)
		return p->fd;
	snprintf(dev, sizeof(dev), "/proc/self/fd/%d", p->fd);
	if (p->kind == GEN_PART_SWAP) {
		if (p->uuid[0] == '\0')
			new_uuid(p->uuid);
		char *argv[] = {"mkswap", "-U", p->uuid, dev, NULL};

		return gen_run(argv, tmpdir, err);
	}
	if (strcmp(p->fstype, "vfat") == 0) {
		char *mk[] = {"mkfs.vfat", "-i", volid, dev, NULL};

		if (strlen(p->uuid) != 9)
			new_volid(p->uuid);
		/* XXXX-XXXX is how blkid shows the volume id mkfs takes */
		snprintf(volid, sizeof(volid), "%.4s%.4s", p->uuid,
			 p->uuid + 5);
		rc = gen_run(mk, tmpdir, err);
		/* the tuning step may have put the boot loader in since the
		 * plan measured it */
		if (rc == 0)
			rc = measure(p, err);
		if (rc == 0 && p->data > 4096)
			rc = copy_to_fat(p->dir, dev, tmpdir, err);
		return rc;
	}
	if (strcmp(p->fstype, "xfs") == 0)
		return make_xfs(p, dev, tmpdir, err);
	if (strcmp(p->fstype, "btrfs") == 0)
		return make_btrfs(p, dev, tmpdir, err);
	rc = make_ext(p, dev, false, tmpdir, err);
	if (rc == 0 && p->dir != NULL && strcmp(p->fstype, "ext4") == 0) {
		/* the staged tree into it by the ext4 writer (fsw.h) */
		struct gen_fsw *w = NULL;

		rc = gen_fsw_open(dev, &w, err);
		if (rc == 0)
			rc = gen_fsw_add_tree(w, p->dir, err);
		if (rc == 0)
			rc = gen_fsw_close(w, err);
		else
			gen_fsw_free(w);
		/* made without extents (mke2fs.conf): mke2fs -d does */
		if (rc == -EOPNOTSUPP)
			rc = make_ext(p, dev, true, tmpdir, err);
	} else if (rc == 0 && p->dir != NULL) {
		rc = make_ext(p, dev, true, tmpdir, err);
	}
	return rc;
}

/* mke2fs of part p into dev, with its staged tree (-d) when tree. */
static int make_ext(struct gen_part *p, const char *dev, bool tree,
		    const char *tmpdir, struct rf_error *err)
{
	char size[32], inodes[32], path[64];

	snprintf(size, sizeof(size), "%lluk",
		 (unsigned long long)(p->size / 1024));
	snprintf(inodes, sizeof(inodes), "%llu",
		 (unsigned long long)(p->inodes * 2 + 4096));
	{
		char *argv[16];
		int n = 0;

		argv[n++] = "mke2fs";
		argv[n++] = "-q";
		argv[n++] = "-F";
		argv[n++] = "-t";
		argv[n++] = p->fstype;
		argv[n++] = "-b";
		argv[n++] = "4096";
		argv[n++] = "-N";
		argv[n++] = inodes;
		argv[n++] = "-U";
		argv[n++] = p->uuid;
		if (p->label != NULL) {
			argv[n++] = "-L";
			argv[n++] = p->label;
		}
		if (tree) {
			argv[n++] = "-d";
			argv[n++] = p->dir;
		}
		snprintf(path, sizeof(path), "%s", dev);
		argv[n++] = path;
		argv[n++] = size;
		argv[n] = NULL;
		return gen_run(argv, tmpdir, err);
	}
}

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static void mbr_entry(unsigned char *e, uint8_t status, uint8_t type,
		      uint64_t lba, uint64_t sectors)
{
	e[0] = status;
	e[1] = 0xfe;
	e[2] = 0xff;
	e[3] = 0xff;
	e[4] = type;
	e[5] = 0xfe;
	e[6] = 0xff;
	e[7] = 0xff;
	put32(e + 8, (uint32_t)lba);
	put32(e + 12, (uint32_t)(sectors > 0xffffffffULL ? 0xffffffffULL
						       : sectors));
}

/* Sector 0 and, for GPT, the entry array and both headers. */
static int tables(const struct gen_layout *l, unsigned char *mbr,
		  unsigned char *array, unsigned char *head,
		  unsigned char *backup, struct rf_error *err)
{
	uint64_t last = l->size / SECTOR - 1;
	unsigned char guid[16];
	int slot = 0;

	memset(mbr, 0, SECTOR);
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
	if (!l->gpt) {
		unsigned char sig[4];

		if (getrandom(sig, 4, 0) != 4)
			memset(sig, 0x42, 4);
		memcpy(mbr + 440, sig, 4);
		for (size_t i = 0; i < l->nparts; i++) {
			const struct gen_part *p = &l->parts[i];
			uint8_t type = p->kind == GEN_PART_SWAP  ? 0x82
				       : p->kind == GEN_PART_ESP ? 0xef
								 : 0x83;
			bool boot = p->mountpoint &&
				    strcmp(p->mountpoint, "/") == 0;

			if (p->start / SECTOR + p->size / SECTOR > 0xffffffffULL)
				return rf_error_set(err, -EFBIG,
						    "a partition past 2 TiB "
						    "needs GPT");
			mbr_entry(mbr + 446 + 16 * slot++, boot ? 0x80 : 0,
				  type, p->start / SECTOR, p->size / SECTOR);
		}
		return 0;
	}
	mbr_entry(mbr + 446, 0, 0xee, 1, last);
	mbr[447] = 0x00;
	mbr[448] = 0x02;
	mbr[449] = 0x00;
	memset(array, 0, GPT_ENTRIES * GPT_ENTRY_SIZE);
	for (size_t i = 0; i < l->nparts; i++) {
		const struct gen_part *p = &l->parts[i];
		unsigned char *e = array + GPT_ENTRY_SIZE * i;
		const char *type = p->kind == GEN_PART_SWAP   ? TYPE_SWAP
				   : p->kind == GEN_PART_ESP  ? TYPE_ESP
				   : p->kind == GEN_PART_BIOS ? TYPE_BIOS
							      : TYPE_LINUX;
		const char *name = p->kind == GEN_PART_BIOS ? "bios"
				   : p->kind == GEN_PART_SWAP ? "swap"
							      : p->mountpoint;

		guid_bytes(type, e);
		guid_bytes(p->partuuid, e + 16);
		put64(e + 32, p->start / SECTOR);
		put64(e + 40, (p->start + p->size) / SECTOR - 1);
		for (int c = 0; c < 36 && name[c] != '\0'; c++)
			put16(e + 56 + 2 * c, (unsigned char)name[c]);
	}
	for (int b = 0; b < 2; b++) {
		unsigned char *h = b ? backup : head;

		memset(h, 0, SECTOR);
		memcpy(h, "EFI PART", 8);
		put32(h + 8, 0x00010000);
		put32(h + 12, 92);
		put64(h + 24, b ? last : 1);
		put64(h + 32, b ? 1 : last);
		put64(h + 40, 2 + GPT_ARRAY_SECTORS);
		put64(h + 48, last - 1 - GPT_ARRAY_SECTORS);
		guid_bytes(l->disk_guid, guid);
		memcpy(h + 56, guid, 16);
		put64(h + 72, b ? last - GPT_ARRAY_SECTORS : 2);
		put32(h + 80, GPT_ENTRIES);
		put32(h + 84, GPT_ENTRY_SIZE);
		put32(h + 88, (uint32_t)crc32(0, array,
					     GPT_ENTRIES * GPT_ENTRY_SIZE));
		put32(h + 16, (uint32_t)crc32(0, h, 92));
	}
	return 0;
}

/* Copy the allocated extents of fd into w at base. */
static int stream(struct fmt_writer *w, int fd, uint64_t base, uint64_t size,
		  unsigned char *buf, size_t bufsize, struct rf_error *err)
{
	off_t pos = 0;
	int rc = 0;

	while ((uint64_t)pos < size && rc == 0) {
		off_t data = lseek(fd, pos, SEEK_DATA), hole;

		if (data < 0) {
			if (errno == ENXIO)
				break; /* only holes left */
			return rf_error_errno(err, -errno, "SEEK_DATA");
		}
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			return rf_error_errno(err, -errno, "SEEK_HOLE");
		if ((uint64_t)hole > size)
			hole = (off_t)size;
		for (pos = data; pos < hole && rc == 0;) {
			size_t n = (size_t)(hole - pos) < bufsize
					   ? (size_t)(hole - pos)
					   : bufsize;
			ssize_t got = pread(fd, buf, n, pos);

			if (got <= 0)
				return rf_error_errno(err, got < 0 ? -errno : -EIO,
						      "read a filesystem");
			rc = fmt_writer_write(w, base + (uint64_t)pos, buf,
					      (size_t)got, err);
			pos += got;
		}
	}
	return rc;
}

int gen_disk_write(struct gen_layout *l, const struct gen_disk_opts *o,
		   const char *tmpdir, struct rf_error *err)
{
	unsigned char mbr[SECTOR], head[SECTOR], backup[SECTOR];
	unsigned char *array = rf_xmalloc(GPT_ENTRIES * GPT_ENTRY_SIZE);
	size_t bufsize = 4 * MiB;
	unsigned char *buf = rf_xmalloc(bufsize);
	struct fmt_writer *w = NULL;
	uint64_t last, t0 = rf_now_ns();
	int rc;

	for (size_t i = 0; i < l->nparts; i++) {
		rc = gen_disk_make(&l->parts[i], tmpdir, err);
		if (rc < 0) {
			rf_error_prefix(err, "the %s filesystem",
					l->parts[i].mountpoint
						? l->parts[i].mountpoint
						: l->parts[i].fstype);
			goto out;
		}
	}
	l->mkfs_ns = rf_now_ns() - t0;
	if (o->made != NULL)
		o->made(o->made_ctx);
	t0 = rf_now_ns();
	rc = tables(l, mbr, array, head, backup, err);
	if (rc < 0)
		goto out;
	if (l->boot_code != NULL)
		memcpy(mbr, l->boot_code, 440);
	rc = fmt_writer_new(o->format, o->out, l->size, o->options, &w, err);
	if (rc < 0)
		goto out;
	fmt_writer_set_sync(w, o->sync);
	last = l->size / SECTOR - 1;
	rc = fmt_writer_write(w, 0, mbr, SECTOR, err);
	if (rc == 0 && l->gpt) {
		rc = fmt_writer_write(w, SECTOR, head, SECTOR, err);
		if (rc == 0)
			rc = fmt_writer_write(w, 2 * SECTOR, array,
					      GPT_ENTRIES * GPT_ENTRY_SIZE, err);
	}
	/* in disk order: stream formats take ascending offsets */
	if (rc == 0 && l->core != NULL && !l->gpt)
		rc = fmt_writer_write(w, l->core_offset, l->core, l->core_len,
				      err);
	for (size_t i = 0; i < l->nparts && rc == 0; i++) {
		if (l->core != NULL && l->gpt &&
		    l->core_offset == l->parts[i].start)
			rc = fmt_writer_write(w, l->core_offset, l->core,
					      l->core_len, err);
		if (rc == 0 && l->parts[i].fd >= 0)
			rc = stream(w, l->parts[i].fd, l->parts[i].start,
				    l->parts[i].size, buf, bufsize, err);
	}
	if (rc == 0 && l->gpt) {
		rc = fmt_writer_write(w, (last - GPT_ARRAY_SECTORS) * SECTOR,
				      array, GPT_ENTRIES * GPT_ENTRY_SIZE, err);
		if (rc == 0)
			rc = fmt_writer_write(w, last * SECTOR, backup, SECTOR,
					      err);
	}
	if (rc == 0)
		rc = fmt_writer_finish(w, err);
	l->write_ns = rf_now_ns() - t0;
out:
	fmt_writer_free(w);
	free(buf);
	free(array);
	return rc;
}
