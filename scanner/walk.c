/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The scan: load the package databases, walk the tree, hash and classify
 * every file, write the report as it goes.
 *
 * One thread walks the tree in sorted order and writes the report; hashing
 * threads read the regular files. Entries pass through a ring of bounded
 * size in walk order: the walker adds them at the tail, the hashing threads
 * claim those that need reading, and the walker emits finished entries from
 * the head. The report therefore comes out in a stable order while both
 * cores hash, and memory does not grow with the tree.
 *
 * The scanned tree is never written and no timestamp changes: directories
 * and files are opened read-only with O_NOATIME, and every file is checked
 * for having changed between lstat() and open(), and while it was read.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <libxml/xmlwriter.h>

#include "acl.h"
#include "buf.h"
#include "digest.h"
#include "escape.h"
#include "md5mb.h"
#include "sha256ni.h"
#include "pkgdb.h"
#include "progress.h"
#include "rootfs.h"
#include "report.h"
#include "scanreport.h"
#include "scan.h"
#include "system.h"

/*
 * Entries in flight between the walker and the writer. Generous, so that
 * one thread held by a big file leaves the others work to do: an entry is a
 * few hundred bytes, and only its path besides. Hashing a file of several
 * hundred megabytes takes a core about a second, in which another core
 * hashes tens of thousands of small files: as many must be queued behind
 * it, or that core waits.
 */
#define RING_SIZE 65536
/*
 * Finished entries the walker writes out at a time before it queues the
 * next one: behind a big file they pile up by thousands, and the hashing
 * threads would wait for new work while the walker wrote them all.
 */
#define DRAIN_BATCH 4
#define READ_BUF (1024 * 1024)
/*
 * Files from this size on that do not go through lanes (sparse files, other
 * digests, a scan on one thread) are hashed from a read-only mapping of the
 * page cache, one window at a time: no copy into a buffer, and the pages of
 * a window are mapped in one call. A window at most is mapped per thread, so
 * the resident size stays bounded however big the file.
 */
#define MAP_MIN (1024 * 1024)
#define MAP_WINDOW (8 * 1024 * 1024)
#define MAX_EXTENTS 4096      /* sparse layout recorded up to this many */
#define MAX_XATTR_LIST 65536  /* bytes of xattr names per file */
#define MAX_XATTR_VALUE 65536 /* bytes of one xattr value */

static const char *const class_names[SCAN_NCLASSES] = {"unmodified", "modified",
						       "missing", "unowned"};

const char *scan_class_name(enum scan_class c)
{
	return (unsigned)c < SCAN_NCLASSES ? class_names[c] : "unknown";
}

/* A directory some queued entries still need, to open them by name. */
struct dirref {
	int fd;
	unsigned refs; /* touched by the walker thread only */
	size_t *open;  /* the scan's count of open ones */
};

struct extent {
	uint64_t off, len;
};

struct entry {
	char *path; /* in-root absolute path */
	size_t pathlen;
	const char *name; /* last component, inside path */
	struct dirref *dir;
	struct stat st;
	struct scan_pkgfile *pf;
	char *target; /* symlink target */
	size_t targetlen;
	bool hash; /* a hashing thread must read it */
	bool done;
	uint64_t seq; /* its place in the walk: older entries are lower */
	/* results */
	bool have_sha, have_pkgdigest, changed, sparse;
	unsigned char sha[RF_SHA256_LEN];
	unsigned char pkgdigest[RF_DIGEST_MAX];
	int read_errno;
	struct rf_buf xattrs; /* packed: name NUL, u32 length, value */
	char *acl_access, *acl_default;
	struct extent *extents;
	size_t nextents;
	uint64_t allocated;
	struct hardlink *link; /* first member of its hardlink group */
};

struct hardlink {
	dev_t dev;
	ino_t ino;
	uint64_t group;
	bool emitted;
	bool have_sha;
	unsigned char sha[RF_SHA256_LEN];
	enum rf_digest_algo algo;
	unsigned char pkgdigest[RF_DIGEST_MAX];
	struct hardlink *next;
};

struct change {
	char *path;
	size_t pathlen;
	enum scan_class cls;
	char *detail;
};

struct exclusion {
	char *path;
	const char *kind; /* pseudo, volatile, cache, mount, pattern, ... */
	const char *pattern;
};

/*
 * What a hashing thread keeps between files: its read buffer, and one
 * digest context per package digest algorithm, reset rather than remade.
 */
struct hasher {
	char *buf; /* READ_BUF + 1 bytes */
	struct rf_digest *ctx[RF_DIGEST_SHA512 + 1];
	struct lanes *lanes; /* MD5 in lockstep, when the CPU can */
};

struct scan {
	const struct scan_options *opt;
	int rootfd;
	dev_t rootdev;
	bool live;
	struct scan_pkgset *set;
	struct scan_accounts *accounts;
	struct scan_summary *sum;
	struct rf_progress progress;

	xmlTextWriterPtr w;
	bool xml_failed;
	dev_t report_dev;
	ino_t report_ino;

	/* the ring, guarded by lock */
	pthread_mutex_t lock;
	pthread_cond_t work_cv, done_cv;
	struct entry ring[RING_SIZE];
	uint64_t head, tail, claim;
	bool finished;
	/* directories held open for queued entries, and how many may be:
	 * the walker waits for the head when past the limit */
	size_t ndirs, maxdirs;
	pthread_t *threads;
	int nthreads;

	struct hardlink **links;
	size_t linkcap, nlinks;
	uint64_t next_group;

	struct change *changes;
	size_t nchanges, changecap;

	struct exclusion *excl;
	size_t nexcl, exclcap;

	uint64_t bytes_hashed;
	struct hasher hasher; /* the walking thread's, with --jobs 1 */
};

static void scan_warn(struct scan *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void scan_warn(struct scan *s, const char *fmt, ...)
{
	va_list ap;

	s->sum->warnings++;
	if (s->progress.enabled)
		rf_progress_done(&s->progress);
	fputs("reforge-scan: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void sys_warn(void *opaque, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sys_warn(void *opaque, const char *fmt, ...)
{
	struct scan *s = opaque;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	scan_warn(s, "%s", msg);
}

/* An escaped rendering of a path for messages. Caller frees. */
static char *printable(const char *path, size_t len)
{
	struct rf_buf b = RF_BUF_INIT;

	rf_escape_c(&b, path, len);
	return rf_buf_detach(&b);
}

/* ---------------------------------------------------------------- */
/* Exclusions */

/* Trees whose contents never belong in a migration. */
static const struct {
	const char *path;
	const char *kind;
} default_excludes[] = {
	{"/proc", "pseudo"},
	{"/sys", "pseudo"},
	{"/dev", "pseudo"},
	{"/run", "volatile"},
	{"/tmp", "volatile"},
	{"/var/tmp", "volatile"},
	{"/var/cache/apt/archives", "cache"},
	{"/var/lib/apt/lists", "cache"},
	{"/var/cache/dnf", "cache"},
	{"/var/cache/yum", "cache"},
	{"/var/cache/pacman/pkg", "cache"},
	{"/var/cache/zypp", "cache"},
};

static void add_exclusion(struct scan *s, const char *path, size_t len,
			  const char *kind, const char *pattern)
{
	if (s->nexcl == s->exclcap) {
		s->exclcap = s->exclcap ? s->exclcap * 2 : 32;
		s->excl = rf_xrealloc(s->excl, s->exclcap * sizeof(*s->excl));
	}
	s->excl[s->nexcl].path = rf_xstrndup(path, len);
	s->excl[s->nexcl].kind = kind;
	s->excl[s->nexcl].pattern = pattern;
	s->nexcl++;
	s->sum->excluded++;
}

/* The kind of default exclusion of path's contents, or NULL. */
static const char *default_exclusion(const char *path)
{
	for (size_t i = 0;
	     i < sizeof(default_excludes) / sizeof(default_excludes[0]); i++)
		if (strcmp(path, default_excludes[i].path) == 0)
			return default_excludes[i].kind;
	return NULL;
}

/*
 * The --exclude pattern that matches path, or NULL. A pattern with a slash
 * is matched against the whole path from the root, one without against the
 * last component, as tar and rsync do.
 */
static const char *pattern_exclusion(const struct scan *s, const char *path,
				     const char *name)
{
	for (size_t i = 0; i < s->opt->nexcludes; i++) {
		const char *pat = s->opt->excludes[i];

		if (strchr(pat, '/') ? fnmatch(pat, path, 0) == 0
				     : fnmatch(pat, name, 0) == 0)
			return pat;
	}
	return NULL;
}

/* Filesystems that hold no files of the host: never crossed into. */
static bool pseudo_fs(long type)
{
	switch ((unsigned long)type) {
	case 0x9fa0:	 /* proc */
	case 0x62656572: /* sysfs */
	case 0x1cd1:	 /* devpts */
	case 0x27e0eb:	 /* cgroup */
	case 0x63677270: /* cgroup2 */
	case 0x64626720: /* debugfs */
	case 0x74726163: /* tracefs */
	case 0x73636673: /* securityfs */
	case 0xcafe4a11: /* bpf */
	case 0x6e736673: /* nsfs */
	case 0x42494e4d: /* binfmt_misc */
	case 0x19800202: /* mqueue */
	case 0x958458f6: /* hugetlbfs */
	case 0x6165676c: /* pstore */
	case 0xde5e81e4: /* efivarfs */
	case 0x01021994: /* tmpfs */
	case 0x858458f6: /* ramfs */
		return true;
	default:
		return false;
	}
}

static bool network_fs(long type)
{
	switch ((unsigned long)type) {
	case 0x6969:	 /* nfs */
	case 0xff534d42: /* cifs */
	case 0xfe534d42: /* smb2 */
	case 0x517b:	 /* smb */
	case 0x65735546: /* fuse (sshfs and friends) */
	case 0x00c36400: /* ceph */
	case 0x5346414f: /* afs */
	case 0x6b414653: /* kafs */
	case 0x01161970: /* gfs2 */
	case 0x47504653: /* gpfs */
	case 0x0bd00bd0: /* lustre */
		return true;
	default:
		return false;
	}
}

/* ---------------------------------------------------------------- */
/* Reading a file: metadata, extents, digests */

static void read_xattrs_fd(struct entry *e, int fd, const char *hostpath)
{
	/*
	 * The kernel allocates a buffer of the size asked for on every call:
	 * a small one first, as most files have no or few xattrs, and the
	 * largest only when the names do not fit.
	 */
	char small[512];
	char *names = small;
	char *value = NULL;
	ssize_t len;

	len = fd >= 0 ? flistxattr(fd, names, sizeof(small))
		      : llistxattr(hostpath, names, sizeof(small));
	if (len < 0 && errno == ERANGE) {
		names = rf_xmalloc(MAX_XATTR_LIST);
		len = fd >= 0 ? flistxattr(fd, names, MAX_XATTR_LIST)
			      : llistxattr(hostpath, names, MAX_XATTR_LIST);
	}
	if (len <= 0)
		goto out;
	value = rf_xmalloc(MAX_XATTR_VALUE);
	for (char *n = names; n < names + len; n += strlen(n) + 1) {
		ssize_t vl = fd >= 0 ? fgetxattr(fd, n, value, MAX_XATTR_VALUE)
				     : lgetxattr(hostpath, n, value,
						 MAX_XATTR_VALUE);
		uint32_t l32;

		if (vl < 0)
			continue;
		if (strcmp(n, "system.posix_acl_access") == 0) {
			e->acl_access = rf_acl_to_text(value, (size_t)vl);
			if (e->acl_access != NULL)
				continue;
		} else if (strcmp(n, "system.posix_acl_default") == 0) {
			e->acl_default = rf_acl_to_text(value, (size_t)vl);
			if (e->acl_default != NULL)
				continue;
		}
		l32 = (uint32_t)vl;
		rf_buf_add(&e->xattrs, n, strlen(n) + 1);
		rf_buf_add(&e->xattrs, &l32, sizeof(l32));
		rf_buf_add(&e->xattrs, value, (size_t)vl);
	}
out:
	if (names != small)
		free(names);
	free(value);
}

/* The data extents of a sparse file; false when there are too many. */
static bool map_extents(struct entry *e, int fd, uint64_t size)
{
	size_t cap = 0;
	off_t pos = 0;

	while ((uint64_t)pos < size) {
		off_t data = lseek(fd, pos, SEEK_DATA), hole;

		if (data < 0)
			break; /* ENXIO: only a hole up to the end */
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || hole <= data)
			return false;
		if ((uint64_t)hole > size)
			hole = (off_t)size;
		if (e->nextents == MAX_EXTENTS)
			return false;
		if (e->nextents == cap) {
			cap = cap ? cap * 2 : 8;
			e->extents = rf_xrealloc(e->extents,
						 cap * sizeof(*e->extents));
		}
		e->extents[e->nextents].off = (uint64_t)data;
		e->extents[e->nextents].len = (uint64_t)(hole - data);
		e->nextents++;
		pos = hole;
	}
	return true;
}

static const unsigned char zeros[64 * 1024];

static void feed_zeros(struct rf_digest *d, uint64_t n)
{
	while (n > 0) {
		size_t k = n > sizeof(zeros) ? sizeof(zeros) : (size_t)n;

		rf_digest_update(d, zeros, k);
		n -= k;
	}
}

/*
 * Read [off, off + len) into the digest; buf holds READ_BUF + 1 bytes.
 * With at_end, the range ends where lstat said the file ends, and the last
 * read asks for one byte more, so that a short read tells at once that the
 * file did not grow. Returns 0, 1 when the file ended early (it shrank), 2
 * when it has data past len (it grew), or a negative errno.
 */
static int hash_range(struct rf_digest *d, int fd, char *buf, uint64_t off,
		      uint64_t len, bool at_end, uint64_t *hashed)
{
	for (;;) {
		bool last = len <= READ_BUF;
		size_t want = last ? (size_t)len : READ_BUF;
		ssize_t n;

		if (len == 0 && !at_end)
			return 0;
		if (last && at_end)
			want++;
		n = pread(fd, buf, want, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if ((uint64_t)n > len) {
			rf_digest_update(d, buf, (size_t)len);
			*hashed += len;
			return 2;
		}
		if (n == 0)
			return len > 0 ? 1 : 0;
		rf_digest_update(d, buf, (size_t)n);
		off += (uint64_t)n;
		len -= (uint64_t)n;
		*hashed += (uint64_t)n;
		if (len == 0 && (!at_end || (size_t)n < want))
			return 0; /* a short read is the end of the file */
	}
}

/*
 * A mapped file that shrinks under the scan raises SIGBUS on the first
 * access past its new end. A hashing thread arms bus_jmp around its
 * accesses to a mapping only; the handler jumps back there, and the file is
 * reported as changed. A SIGBUS anywhere else is not ours: the previous
 * disposition is put back and the signal delivered again.
 */
static __thread sigjmp_buf *volatile bus_jmp;
static struct sigaction bus_old;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	sigjmp_buf *jb = bus_jmp;

	(void)uc;
	if (jb != NULL) {
		bus_jmp = NULL;
		siglongjmp(*jb, 1);
	}
	sigaction(SIGBUS, &bus_old, NULL);
	if (si == NULL || si->si_code <= 0)
		raise(sig); /* sent, not a fault: a fault recurs on return */
}

static void sigbus_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &bus_old);
}

static void sigbus_restore(void)
{
	sigaction(SIGBUS, &bus_old, NULL);
}

/*
 * Hash the whole of a file of size bytes (size >= MAP_MIN) from mappings
 * of MAP_WINDOW bytes. Returns what hash_range() does, or 3 when the file
 * shrank under a mapping (SIGBUS): the digest is then unusable.
 */
static int hash_mapped(struct rf_digest *d, int fd, uint64_t size,
		       uint64_t *hashed)
{
	sigjmp_buf jb;
	void *volatile map = NULL;
	volatile size_t maplen = 0;
	volatile uint64_t off = 0;
	ssize_t n;
	char c;

	if (sigsetjmp(jb, 1) != 0) {
		if (map != NULL)
			munmap(map, maplen);
		return 3;
	}
	while (off < size) {
		size_t len = size - off > MAP_WINDOW ? MAP_WINDOW
						     : (size_t)(size - off);
		void *p = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_POPULATE,
			       fd, (off_t)off);

		if (p == MAP_FAILED)
			return -errno;
		maplen = len;
		map = p;
		bus_jmp = &jb;
		rf_digest_update(d, p, len);
		bus_jmp = NULL;
		map = NULL;
		munmap(p, len);
		off += len;
		*hashed += len;
	}
	/* one byte more than lstat said: did it grow? */
	do
		n = pread(fd, &c, 1, (off_t)size);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n > 0 ? 2 : 0;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       (a->st_mode & S_IFMT) == (b->st_mode & S_IFMT);
}

static bool unchanged(const struct stat *a, const struct stat *b)
{
	return same_file(a, b) && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/*
 * Read one regular file: its digests, xattrs, ACLs and sparse layout. Runs
 * on a hashing thread; touches only e and its own buffers. The file is
 * read up to the size lstat() gave, never more, so a file that keeps
 * growing cannot hold the scan.
 */
static void hasher_init(struct hasher *h)
{
	memset(h, 0, sizeof(*h));
	h->buf = rf_xmalloc(READ_BUF + 1);
}

static void hasher_free(struct hasher *h)
{
	for (size_t i = 0; i < sizeof(h->ctx) / sizeof(h->ctx[0]); i++)
		rf_digest_free(h->ctx[i]);
	free(h->buf);
}

static struct rf_digest *hasher_digest(struct hasher *h,
				       enum rf_digest_algo palgo)
{
	if (h->ctx[palgo] == NULL)
		h->ctx[palgo] = rf_digest_new(RF_DIGEST_SHA256, palgo);
	else
		rf_digest_reset(h->ctx[palgo]);
	return h->ctx[palgo];
}

/*
 * Open e to read it. Whether it is still the file lstat() saw is checked
 * once, after the read (entry_after()), not here too: one fstat() a file
 * fewer. Opened non-blocking, a fifo put in its place cannot hold the
 * scan, and reading one fails (ESPIPE) before entry_after() tells that it
 * was replaced.
 */
static int entry_open(struct entry *e)
{
	int fd;

	fd = openat(e->dir->fd, e->name,
		    O_RDONLY | O_NOFOLLOW | O_NOATIME | O_NONBLOCK | O_NOCTTY |
			    O_CLOEXEC);
	if (fd < 0 && errno == EPERM)
		/* O_NOATIME needs ownership or CAP_FOWNER */
		fd = openat(e->dir->fd, e->name,
			    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
				    O_CLOEXEC);
	if (fd < 0) {
		e->read_errno = errno;
		if (errno == ENOENT || errno == ELOOP)
			e->changed = true; /* gone, or now a symlink */
		return -1;
	}
#ifdef HAVE_POSIX_FADVISE
	if (e->st.st_size > READ_BUF) /* readahead matters past one read */
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
	return fd;
}

/*
 * After reading e from fd: false when fd is not the file lstat() saw
 * (replaced between lstat and open: the entry keeps what lstat saw, says
 * it changed, and claims nothing of what was read); true else, with
 * e->changed set too when it changed while it was read. e->allocated is
 * the file's as fstat() says then, else as lstat() said.
 */
static bool entry_after(struct entry *e, int fd)
{
	struct stat after;

	e->allocated = (uint64_t)e->st.st_blocks * 512;
	if (fstat(fd, &after) < 0) {
		e->changed = true;
		return true;
	}
	if (!same_file(&after, &e->st)) {
		e->changed = true;
		return false;
	}
	e->allocated = (uint64_t)after.st_blocks * 512;
	if (!unchanged(&after, &e->st))
		e->changed = true;
	return true;
}

static void hash_entry(struct scan *s, struct entry *e, struct hasher *h,
		       uint64_t *hashed)
{
	char *buf = h->buf;
	enum rf_digest_algo palgo = RF_DIGEST_NONE;
	struct rf_digest *d = NULL;
	uint64_t size = (uint64_t)e->st.st_size;
	int fd, rc = 0;

	fd = entry_open(e);
	if (fd < 0)
		return;
	if (e->pf != NULL && e->pf->algo != RF_DIGEST_NONE &&
	    e->pf->algo != RF_DIGEST_SHA256)
		palgo = e->pf->algo;
	d = hasher_digest(h, palgo);
	if (size > 0 && (uint64_t)e->st.st_blocks * 512 < size) {
		/* maybe sparse: hash the data extents, zeros for the holes */
		if (map_extents(e, fd, size) && e->nextents > 0 &&
		    !(e->nextents == 1 && e->extents[0].off == 0 &&
		      e->extents[0].len == size)) {
			uint64_t pos = 0;

			e->sparse = true;
			for (size_t i = 0; i < e->nextents && rc == 0; i++) {
				feed_zeros(d, e->extents[i].off - pos);
				rc = hash_range(d, fd, buf, e->extents[i].off,
						e->extents[i].len, false,
						hashed);
				pos = e->extents[i].off + e->extents[i].len;
			}
			if (rc == 0)
				feed_zeros(d, size - pos);
		} else if (e->nextents == 0 && lseek(fd, 0, SEEK_DATA) < 0 &&
			   errno == ENXIO) {
			e->sparse = true; /* all hole */
			feed_zeros(d, size);
		} else {
			free(e->extents);
			e->extents = NULL;
			e->nextents = 0;
			rc = hash_range(d, fd, buf, 0, size, true, hashed);
		}
	} else if (size >= MAP_MIN) {
		rc = hash_mapped(d, fd, size, hashed);
		if (rc == -ENODEV || rc == -EACCES || rc == -EINVAL) {
			/* a filesystem that cannot map it: read it */
			rf_digest_reset(d);
			*hashed = 0;
			rc = hash_range(d, fd, buf, 0, size, true, hashed);
		}
	} else {
		rc = hash_range(d, fd, buf, 0, size, true, hashed);
	}
	if (!entry_after(e, fd))
		goto out;
	if (rc == 3) {
		/* SIGBUS: it shrank while mapped, or the device failed */
		if (!e->changed)
			e->read_errno = EIO;
		goto out;
	}
	if (rc < 0) {
		e->read_errno = -rc;
		goto out;
	}
	if (rc == 1 || rc == 2)
		e->changed = true; /* shrank or grew while read */
	rf_digest_final(d, e->sha,
			palgo != RF_DIGEST_NONE ? e->pkgdigest : NULL);
	e->have_sha = true;
	if (palgo != RF_DIGEST_NONE)
		e->have_pkgdigest = true;
	read_xattrs_fd(e, fd, NULL);
out:
	close(fd);
}

/* Record that e is read; the walker waits only ever for the head. */
static void entry_done(struct scan *s, struct entry *e, uint64_t hashed)
{
	pthread_mutex_lock(&s->lock);
	s->bytes_hashed += hashed;
	e->done = true;
	if (e == &s->ring[s->head % RING_SIZE])
		pthread_cond_signal(&s->done_cv);
	pthread_mutex_unlock(&s->lock);
}

/*
 * Package files whose database digest is MD5 (all of dpkg's) are hashed in
 * lanes: a thread keeps up to MD5MB_LANES of them open at once, reads each
 * by chunks of LANE_CHUNK bytes (SHA-256 of a chunk at once, on one core),
 * and advances the MD5 of all of them together (md5mb.h). A lane ends as
 * hash_entry() does: the same end-of-file checks, the same verdicts.
 */
/*
 * Lanes read their files, never map them: a mapping of the page cache costs
 * more than the copy (populating and unmapping it, with a TLB shootdown on
 * the other cores each time, was 9% of a scan of / on 2 cores), and a
 * chunk this small is still in the cache when MD5 reads it back.
 */
#define LANE_CHUNK (64 * 1024)

struct lane {
	struct entry *e;
	int fd;
	struct rf_digest *sha;
	unsigned char *buf; /* LANE_CHUNK + 3 blocks: carry, data, padding */
	const unsigned char *next; /* whole blocks not fed to MD5 yet */
	size_t blocks;
	size_t carry; /* bytes of a partial block, after those blocks */
	uint64_t off, left, hashed;
	int rc;	  /* as hash_range() returns */
	bool eof; /* the padding is among the blocks */
	bool md5; /* in the lockstep MD5, besides SHA-256 */
	/* with the SHA extensions: the SHA-256, and the bytes read since it
	 * was last fed (contiguous in buf), fed two lanes at a time */
	struct sha256ni ni;
	const unsigned char *pend;
	size_t pend_len;
};

struct lanes {
	bool ni; /* SHA-256 by sha256ni.h, two lanes at a time */
	struct md5mb m;
	struct lane l[MD5MB_LANES];
	uint32_t busy;
};

#define LANES_ALL ((uint32_t)((1u << MD5MB_LANES) - 1))

/*
 * Files that need SHA-256 alone go through lanes too, only not in the
 * MD5: a thread then advances all the files it holds a window at a time,
 * and one big file cannot hold up the package files waiting in its lanes
 * (and with them the head of the ring, and the other thread).
 */
static bool lane_wanted(const struct hasher *h, const struct entry *e)
{
	if (h->lanes == NULL ||
	    /* sparse files (fewer blocks than bytes) keep their own path */
	    (uint64_t)e->st.st_blocks * 512 < (uint64_t)e->st.st_size)
		return false;
	return e->pf == NULL || e->pf->algo == RF_DIGEST_NONE ||
	       e->pf->algo == RF_DIGEST_SHA256 || e->pf->algo == RF_DIGEST_MD5;
}

static void lane_finish(struct scan *s, struct lanes *ls, unsigned i)
{
	struct lane *l = &ls->l[i];
	struct entry *e = l->e;

	if (!entry_after(e, l->fd)) {
		/* replaced: nothing of it is claimed */
	} else if (l->rc < 0) {
		e->read_errno = -l->rc;
	} else {
		if (l->rc == 1 || l->rc == 2)
			e->changed = true; /* shrank or grew while read */
		if (ls->ni)
			sha256ni_final(&l->ni, e->sha);
		else
			rf_digest_final(l->sha, e->sha, NULL);
		e->have_sha = true;
		if (l->md5) {
			md5mb_final(&ls->m, i, e->pkgdigest);
			e->have_pkgdigest = true;
		}
		read_xattrs_fd(e, l->fd, NULL);
	}
	close(l->fd);
	l->fd = -1;
	l->e = NULL;
	ls->busy &= ~(1u << i);
	entry_done(s, e, l->hashed);
}

/*
 * Read the next chunk of lane i, until it has whole blocks to feed or has
 * ended. Reads up to the size lstat() gave and one byte more at the end,
 * as hash_range() does.
 */
static void lane_fill(struct lanes *ls, unsigned i)
{
	struct lane *l = &ls->l[i];

	while (l->blocks == 0 && !l->eof) {
		size_t want = l->left < LANE_CHUNK ? (size_t)l->left + 1
						   : LANE_CHUNK;
		unsigned char *at = l->buf + l->carry;
		bool end = false;
		size_t full;
		ssize_t n;

		n = pread(l->fd, at, want, (off_t)l->off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			l->rc = -errno;
			return;
		}
		if ((uint64_t)n > l->left) {
			n = (ssize_t)l->left;
			l->rc = 2; /* grew */
			end = true;
		} else if (n == 0) {
			if (l->left > 0)
				l->rc = 1; /* shrank */
			end = true;
		} else if ((uint64_t)n == l->left && (size_t)n < want) {
			end = true; /* a short read is the end of the file */
		}
		if (ls->ni) {
			if (l->pend_len == 0)
				l->pend = at;
			l->pend_len += (size_t)n;
		} else {
			rf_digest_update(l->sha, at, (size_t)n);
		}
		l->off += (uint64_t)n;
		l->left -= (uint64_t)n;
		l->hashed += (uint64_t)n;
		n += (ssize_t)l->carry;
		full = (size_t)n / MD5_BLOCK;
		l->carry = (size_t)n % MD5_BLOCK;
		l->next = l->buf;
		l->blocks = full;
		if (end) {
			l->blocks += md5mb_pad(l->buf + full * MD5_BLOCK,
					       l->carry, l->off);
			l->carry = 0;
			l->eof = true;
		}
	}
}

/* Start lane i on e; false when e was dealt with at once. */
static bool lane_start(struct scan *s, struct lanes *ls, unsigned i,
		       struct entry *e)
{
	struct lane *l = &ls->l[i];

	l->fd = entry_open(e);
	if (l->fd < 0) {
		entry_done(s, e, 0);
		return false;
	}
	if (l->buf == NULL)
		l->buf = rf_xmalloc(LANE_CHUNK + 3 * MD5_BLOCK);
	if (ls->ni) {
		sha256ni_init(&l->ni);
		l->pend_len = 0;
	} else if (l->sha == NULL) {
		l->sha = rf_digest_new(RF_DIGEST_SHA256, RF_DIGEST_NONE);
	} else {
		rf_digest_reset(l->sha);
	}
	l->e = e;
	l->blocks = l->carry = 0;
	l->off = l->hashed = 0;
	l->left = (uint64_t)e->st.st_size;
	l->rc = 0;
	l->eof = false;
	l->md5 = e->pf != NULL && e->pf->algo == RF_DIGEST_MD5;
	md5mb_init(&ls->m, i);
	ls->busy |= 1u << i;
	return true;
}

/*
 * SHA-256 of what the lanes in mask read, two lanes at a time: the longest
 * first, with the next longest as far as that one goes, then what is left
 * of it with the next, and so on; a chunk of a big file is so hashed
 * along with the small files read beside it. Only what nothing is left to
 * pair with goes alone.
 */
static void lanes_sha(struct lanes *ls, uint32_t mask)
{
	struct lane *v[MD5MB_LANES], *cur = NULL;
	unsigned n = 0;

	for (unsigned i = 0; i < MD5MB_LANES; i++) {
		struct lane *l = &ls->l[i];
		unsigned k = n;

		if (!((mask >> i) & 1) || l->pend_len == 0)
			continue;
		/* insertion, longest first */
		while (k > 0 && v[k - 1]->pend_len < l->pend_len) {
			v[k] = v[k - 1];
			k--;
		}
		v[k] = l;
		n++;
	}
	for (unsigned k = 0; k < n; k++) {
		struct lane *l = v[k];

		if (cur == NULL) {
			cur = l;
			continue;
		}
		sha256ni_update2_common(&cur->ni, &cur->pend, &cur->pend_len,
					&l->ni, &l->pend, &l->pend_len);
		/* one of the two is down to less than a block: it is done
		 * with; the other goes on with the next lane */
		if (l->pend_len >= 64 || cur->pend_len < 64) {
			struct lane *t = cur;

			cur = l;
			l = t;
		}
		sha256ni_update(&l->ni, l->pend, l->pend_len);
		l->pend_len = 0;
	}
	if (cur != NULL) {
		sha256ni_update(&cur->ni, cur->pend, cur->pend_len);
		cur->pend_len = 0;
	}
}

/*
 * Feed every busy MD5 lane among those in only as many blocks as the
 * shortest of them has ready; the other lanes are done with what they read
 * (SHA-256 digests it as it is read).
 */
static void lanes_run(struct scan *s, struct lanes *ls, uint32_t only)
{
	const unsigned char *p[MD5MB_LANES] = {NULL};
	size_t n = SIZE_MAX;
	uint32_t mask = 0, busy;

	for (unsigned i = 0; i < MD5MB_LANES; i++) {
		struct lane *l = &ls->l[i];

		if (!(((ls->busy & only) >> i) & 1))
			continue;
		lane_fill(ls, i);
		if (l->rc < 0) {
			lane_finish(s, ls, i);
			continue;
		}
		if (!l->md5)
			continue;
		p[i] = l->next;
		mask |= 1u << i;
		if (l->blocks < n)
			n = l->blocks;
	}
	busy = ls->busy & only;
	if (ls->ni)
		lanes_sha(ls, busy);
	if (mask != 0)
		md5mb_blocks(&ls->m, p, mask, n);
	for (unsigned i = 0; i < MD5MB_LANES; i++) {
		struct lane *l = &ls->l[i];
		size_t fed;

		if (!((busy >> i) & 1))
			continue;
		fed = l->md5 ? n : l->blocks;
		l->next += fed * MD5_BLOCK;
		l->blocks -= fed;
		if (l->blocks > 0)
			continue;
		if (l->eof)
			lane_finish(s, ls, i);
		else if (l->carry > 0)
			/* the partial block goes first in the next chunk */
			memmove(l->buf, l->next, l->carry);
	}
}

static void lanes_free(struct lanes *ls)
{
	if (ls == NULL)
		return;
	for (unsigned i = 0; i < MD5MB_LANES; i++) {
		free(ls->l[i].buf);
		rf_digest_free(ls->l[i].sha);
	}
	free(ls);
}

/*
 * The lane that holds the oldest entry of those busy, to run alone. With
 * the SHA extensions another lane runs with it, the one with the most
 * left to read (unless both want MD5, which two lanes would take to the
 * vector code): two SHA-256 cost about what one does.
 */
static uint32_t lanes_oldest(const struct lanes *ls)
{
	uint64_t seq = UINT64_MAX, most = 0;
	unsigned old = 0;
	uint32_t partner = 0;

	for (unsigned i = 0; i < MD5MB_LANES; i++)
		if (((ls->busy >> i) & 1) && ls->l[i].e->seq < seq) {
			seq = ls->l[i].e->seq;
			old = i;
		}
	if (!ls->ni)
		return 1u << old;
	for (unsigned i = 0; i < MD5MB_LANES; i++)
		if (i != old && ((ls->busy >> i) & 1) &&
		    !(ls->l[i].md5 && ls->l[old].md5) && ls->l[i].left > most) {
			most = ls->l[i].left;
			partner = 1u << i;
		}
	return (1u << old) | partner;
}

static void *hash_thread(void *arg)
{
	struct scan *s = arg;
	struct hasher h;
	uint64_t hashed;

	hasher_init(&h);
	/* lanes when either digest gains from them: without AVX-512 their
	 * MD5 is the scalar code, one lane after the other */
	if (md5mb_available() || sha256ni_available()) {
		h.lanes = rf_xcalloc(1, sizeof(*h.lanes));
		h.lanes->ni = sha256ni_available();
	}
	pthread_mutex_lock(&s->lock);
	for (;;) {
		uint32_t busy = h.lanes ? h.lanes->busy : 0;
		struct entry *e;

		if (s->claim != s->tail && busy != LANES_ALL) {
			e = &s->ring[s->claim % RING_SIZE];
			s->claim++;
			if (!e->hash || e->done)
				continue;
			pthread_mutex_unlock(&s->lock);
			if (lane_wanted(&h, e)) {
				unsigned i = (unsigned)__builtin_ctz(~busy);

				lane_start(s, h.lanes, i, e);
			} else {
				hashed = 0;
				hash_entry(s, e, &h, &hashed);
				entry_done(s, e, hashed);
			}
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (busy != 0) {
			/*
			 * Nothing new to claim, or every lane taken. With
			 * nothing to claim and the ring full, the walker
			 * waits for the head, and the other threads soon for
			 * the walker: the oldest lane then runs alone, at the
			 * speed of one core, rather than a share of it.
			 */
			uint32_t only = LANES_ALL;

			if (s->claim == s->tail &&
			    s->tail - s->head == RING_SIZE)
				only = lanes_oldest(h.lanes);
			pthread_mutex_unlock(&s->lock);
			lanes_run(s, h.lanes, only);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (s->claim == s->tail && s->finished)
			break;
		pthread_cond_wait(&s->work_cv, &s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	lanes_free(h.lanes);
	hasher_free(&h);
	return NULL;
}

/* ---------------------------------------------------------------- */
/* Hardlinks */

static struct hardlink *hardlink_find(struct scan *s, dev_t dev, ino_t ino,
				      bool add)
{
	size_t h;
	struct hardlink *l;

	if (s->linkcap == 0) {
		s->linkcap = 4096;
		s->links = rf_xcalloc(s->linkcap, sizeof(*s->links));
	}
	h = (size_t)((ino * 11400714819323198485ull) ^ dev) % s->linkcap;
	for (l = s->links[h]; l != NULL; l = l->next)
		if (l->dev == dev && l->ino == ino)
			return l;
	if (!add)
		return NULL;
	l = rf_xcalloc(1, sizeof(*l));
	l->dev = dev;
	l->ino = ino;
	l->group = ++s->next_group;
	l->next = s->links[h];
	s->links[h] = l;
	s->nlinks++;
	return l;
}

/* ---------------------------------------------------------------- */
/* Emitting an entry */

#define XML(call)                                                              \
	do {                                                                   \
		if ((call) < 0)                                                \
			s->xml_failed = true;                                  \
	} while (0)

static void add_change(struct scan *s, const char *path, size_t len,
		       enum scan_class cls, const char *detail)
{
	struct change *c;

	if (s->opt->changes_path == NULL)
		return;
	if (s->nchanges == s->changecap) {
		s->changecap = s->changecap ? s->changecap * 2 : 1024;
		s->changes = rf_xrealloc(s->changes,
					 s->changecap * sizeof(*s->changes));
	}
	c = &s->changes[s->nchanges++];
	c->path = rf_xstrndup(path, len);
	c->pathlen = len;
	c->cls = cls;
	c->detail = rf_xstrdup(detail);
}

static const char *type_name(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "file";
	case S_IFDIR:
		return "directory";
	case S_IFLNK:
		return "symlink";
	case S_IFIFO:
		return "fifo";
	case S_IFSOCK:
		return "socket";
	case S_IFCHR:
		return "chardev";
	case S_IFBLK:
		return "blockdev";
	default:
		return "unknown";
	}
}

/*
 * The attributes of a <file>, as rf_report_attr_bytes() and
 * xmlTextWriterWriteFormatAttribute() would write them, without their
 * allocations: a NUL-terminated value that is safe as it is goes straight
 * to the writer, and numbers are formatted on the stack. Hundreds of
 * thousands of files make these add up.
 */
static void attr_str(struct scan *s, const char *name, const char *value,
		     size_t len)
{
	if (value[len] == '\0' && rf_xml_safe(value, len))
		XML(xmlTextWriterWriteAttribute(s->w, BAD_CAST name,
						BAD_CAST value));
	else
		XML(rf_report_attr_bytes(s->w, name, value, len));
}

static void attr_fmt(struct scan *s, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void attr_fmt(struct scan *s, const char *name, const char *fmt, ...)
{
	char v[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	XML(xmlTextWriterWriteAttribute(s->w, BAD_CAST name, BAD_CAST v));
}

static void write_xattrs(struct scan *s, const struct entry *e)
{
	const char *p = e->xattrs.data, *end = p + e->xattrs.len;
	struct rf_buf b = RF_BUF_INIT;

	while (p != NULL && p < end) {
		const char *name = p;
		uint32_t vl;

		p += strlen(name) + 1;
		memcpy(&vl, p, sizeof(vl));
		p += sizeof(vl);
		rf_buf_reset(&b);
		rf_base64_encode(&b, p, vl);
		XML(xmlTextWriterStartElement(s->w, BAD_CAST "xattr"));
		rf_report_attr_bytes(s->w, "name", name, strlen(name));
		XML(xmlTextWriterWriteAttribute(
			s->w, BAD_CAST "value-base64",
			BAD_CAST(b.data ? b.data : "")));
		XML(xmlTextWriterEndElement(s->w));
		p += vl;
	}
	if (e->acl_access) {
		XML(xmlTextWriterStartElement(s->w, BAD_CAST "acl"));
		XML(xmlTextWriterWriteAttribute(s->w, BAD_CAST "type",
						BAD_CAST "access"));
		XML(xmlTextWriterWriteAttribute(s->w, BAD_CAST "text",
						BAD_CAST e->acl_access));
		XML(xmlTextWriterEndElement(s->w));
	}
	if (e->acl_default) {
		XML(xmlTextWriterStartElement(s->w, BAD_CAST "acl"));
		XML(xmlTextWriterWriteAttribute(s->w, BAD_CAST "type",
						BAD_CAST "default"));
		XML(xmlTextWriterWriteAttribute(s->w, BAD_CAST "text",
						BAD_CAST e->acl_default));
		XML(xmlTextWriterEndElement(s->w));
	}
	rf_buf_free(&b);
}

static void emit(struct scan *s, struct entry *e)
{
	enum scan_class cls = SCAN_UNOWNED;
	const char *user, *group;
	unsigned diff = 0;
	char detail[160];
	bool is_reg = S_ISREG(e->st.st_mode);

	user = scan_accounts_user(s->accounts, e->st.st_uid);
	group = scan_accounts_group(s->accounts, e->st.st_gid);

	/* a later member of a hardlink group shares the first's content */
	if (e->link != NULL && !e->hash) {
		struct hardlink *l = e->link;

		if (l->have_sha) {
			memcpy(e->sha, l->sha, sizeof(e->sha));
			e->have_sha = true;
			if (e->pf && e->pf->algo == l->algo &&
			    l->algo != RF_DIGEST_NONE) {
				memcpy(e->pkgdigest, l->pkgdigest,
				       sizeof(e->pkgdigest));
				e->have_pkgdigest = true;
			}
		}
	} else if (e->link != NULL && e->have_sha && !e->changed) {
		struct hardlink *l = e->link;

		memcpy(l->sha, e->sha, sizeof(l->sha));
		l->have_sha = true;
		l->algo = e->have_pkgdigest ? e->pf->algo : RF_DIGEST_NONE;
		memcpy(l->pkgdigest, e->pkgdigest, sizeof(l->pkgdigest));
	}
	if (e->link != NULL)
		e->link->emitted = true;
	if (e->read_errno != 0 && !e->changed) {
		char *p = printable(e->path, e->pathlen);

		scan_warn(s, "cannot read %s: %s", p, strerror(e->read_errno));
		free(p);
	}
	if (e->changed) {
		char *p = printable(e->path, e->pathlen);

		s->sum->changed++;
		scan_warn(s, "%s changed while it was scanned", p);
		free(p);
	}

	if (e->pf != NULL) {
		e->pf->seen = true;
		if (is_reg && !e->have_sha && e->pf->algo != RF_DIGEST_NONE)
			diff = SCAN_DIFF_CONTENT; /* unreadable: not verified */
		else
			diff = scan_pkgfile_verify(
				e->pf, &e->st,
				e->have_pkgdigest ? e->pkgdigest
				: (e->pf->algo == RF_DIGEST_SHA256 &&
				   e->have_sha)
					? e->sha
					: NULL,
				e->target, user, group);
		cls = diff ? SCAN_MODIFIED : SCAN_UNMODIFIED;
	}
	scan_diff_names(diff, detail, sizeof(detail));
	if (cls == SCAN_MODIFIED && (e->pf->flags & SCAN_PF_CONFIG))
		strncat(detail, ",conffile",
			sizeof(detail) - strlen(detail) - 1);
	if (cls == SCAN_UNOWNED)
		snprintf(detail, sizeof(detail), "%s",
			 type_name(e->st.st_mode));

	s->sum->files[cls]++;
	if (is_reg)
		s->sum->bytes[cls] += (uint64_t)e->st.st_size;
	if (cls != SCAN_UNMODIFIED)
		add_change(s, e->path, e->pathlen, cls, detail);

	XML(xmlTextWriterStartElement(s->w, BAD_CAST "file"));
	attr_str(s, "path", e->path, e->pathlen);
	XML(xmlTextWriterWriteAttribute(s->w, BAD_CAST "type",
					BAD_CAST type_name(e->st.st_mode)));
	attr_fmt(s, "mode", "%04o", (unsigned)(e->st.st_mode & 07777));
	attr_fmt(s, "uid", "%u", (unsigned)e->st.st_uid);
	attr_fmt(s, "gid", "%u", (unsigned)e->st.st_gid);
	if (user != NULL)
		attr_str(s, "user", user, strlen(user));
	if (group != NULL)
		attr_str(s, "group", group, strlen(group));
	if (is_reg)
		attr_fmt(s, "size", "%llu", (unsigned long long)e->st.st_size);
	attr_fmt(s, "mtime", "%lld.%09ld", (long long)e->st.st_mtim.tv_sec,
		 (long)e->st.st_mtim.tv_nsec);
	if (e->have_sha) {
		static const char hexd[] = "0123456789abcdef";
		char hex[2 * RF_SHA256_LEN + 1];

		for (size_t i = 0; i < RF_SHA256_LEN; i++) {
			hex[2 * i] = hexd[e->sha[i] >> 4];
			hex[2 * i + 1] = hexd[e->sha[i] & 15];
		}
		hex[2 * RF_SHA256_LEN] = '\0';
		XML(xmlTextWriterWriteAttribute(s->w, BAD_CAST "sha256",
						BAD_CAST hex));
	}
	if (e->target != NULL)
		attr_str(s, "target", e->target, e->targetlen);
	if (S_ISCHR(e->st.st_mode) || S_ISBLK(e->st.st_mode))
		attr_fmt(s, "rdev", "%u:%u", major(e->st.st_rdev),
			 minor(e->st.st_rdev));
	if (e->link != NULL) {
		attr_fmt(s, "link-group", "%llu",
			 (unsigned long long)e->link->group);
		attr_fmt(s, "nlink", "%lu", (unsigned long)e->st.st_nlink);
	}
	XML(xmlTextWriterWriteAttribute(s->w, BAD_CAST "class",
					BAD_CAST class_names[cls]));
	if (cls == SCAN_MODIFIED)
		XML(xmlTextWriterWriteAttribute(s->w, BAD_CAST "detail",
						BAD_CAST detail));
	if (e->pf != NULL) {
		const struct scan_pkg *pkg =
			scan_pkgset_package(s->set, e->pf->pkg);

		attr_str(s, "package", pkg->name, strlen(pkg->name));
		if (e->pf->flags & SCAN_PF_CONFIG)
			XML(xmlTextWriterWriteAttribute(s->w, BAD_CAST "config",
							BAD_CAST "true"));
	}
	if (e->sparse)
		attr_fmt(s, "allocated", "%llu",
			 (unsigned long long)e->allocated);
	if (e->changed)
		XML(xmlTextWriterWriteAttribute(s->w, BAD_CAST "changed",
						BAD_CAST "true"));
	if (e->read_errno != 0)
		XML(xmlTextWriterWriteAttribute(
			s->w, BAD_CAST "error",
			BAD_CAST strerror(e->read_errno)));
	write_xattrs(s, e);
	if (e->sparse) {
		for (size_t i = 0; i < e->nextents; i++) {
			XML(xmlTextWriterStartElement(s->w, BAD_CAST "extent"));
			XML(xmlTextWriterWriteFormatAttribute(
				s->w, BAD_CAST "offset", "%llu",
				(unsigned long long)e->extents[i].off));
			XML(xmlTextWriterWriteFormatAttribute(
				s->w, BAD_CAST "length", "%llu",
				(unsigned long long)e->extents[i].len));
			XML(xmlTextWriterEndElement(s->w));
		}
	}
	XML(xmlTextWriterEndElement(s->w));
}

static void dirref_put(struct dirref *d)
{
	if (d != NULL && --d->refs == 0) {
		close(d->fd);
		(*d->open)--;
		free(d);
	}
}

static void entry_clear(struct entry *e)
{
	free(e->path);
	free(e->target);
	rf_buf_free(&e->xattrs);
	free(e->acl_access);
	free(e->acl_default);
	free(e->extents);
	dirref_put(e->dir);
	memset(e, 0, sizeof(*e));
}

static void progress(struct scan *s, const struct entry *e)
{
	uint64_t n = 0;
	char size[32];

	if (!s->progress.enabled)
		return;
	for (int c = 0; c < SCAN_NCLASSES; c++)
		n += s->sum->files[c];
	rf_progress_update(&s->progress, false,
			   "scanning: %llu files, %s read  %.*s",
			   (unsigned long long)n,
			   rf_human_size(size, sizeof(size), s->bytes_hashed),
			   40, e->path);
}

/*
 * Emit up to max finished entries at the head; wait for the first if wait
 * is true.
 */
static void drain(struct scan *s, bool wait, size_t max)
{
	for (size_t n = 0; n < max; n++) {
		struct entry *e;

		pthread_mutex_lock(&s->lock);
		if (s->head == s->tail) {
			pthread_mutex_unlock(&s->lock);
			return;
		}
		e = &s->ring[s->head % RING_SIZE];
		while (!e->done && wait)
			pthread_cond_wait(&s->done_cv, &s->lock);
		pthread_mutex_unlock(&s->lock);
		if (!e->done)
			return;
		emit(s, e);
		progress(s, e);
		entry_clear(e);
		pthread_mutex_lock(&s->lock);
		s->head++;
		pthread_mutex_unlock(&s->lock);
		wait = false;
	}
}

/* Queue an entry; takes ownership of path and a reference on dir. */
static void push(struct scan *s, struct entry *proto)
{
	struct entry *e;

	pthread_mutex_lock(&s->lock);
	while (s->tail - s->head == RING_SIZE ||
	       (s->ndirs > s->maxdirs && s->head != s->tail)) {
		pthread_mutex_unlock(&s->lock);
		drain(s, true, DRAIN_BATCH);
		pthread_mutex_lock(&s->lock);
	}
	e = &s->ring[s->tail % RING_SIZE];
	*e = *proto;
	e->done = !e->hash;
	e->seq = s->tail;
	s->tail++;
	if (e->hash)
		pthread_cond_signal(&s->work_cv);
	pthread_mutex_unlock(&s->lock);
	if (s->nthreads == 0 && e->hash) {
		/* no hashing threads (--jobs 1): do it here */
		uint64_t hashed = 0;

		if (s->hasher.buf == NULL)
			hasher_init(&s->hasher);
		hash_entry(s, e, &s->hasher, &hashed);
		s->bytes_hashed += hashed;
		e->done = true;
	}
	drain(s, false, DRAIN_BATCH);
}

/* ---------------------------------------------------------------- */
/* The walk */

struct name {
	char *s;
};

static int cmp_names(const void *a, const void *b)
{
	return strcmp(((const struct name *)a)->s, ((const struct name *)b)->s);
}

static char *child_path(const char *dir, size_t dirlen, const char *name,
			size_t *len)
{
	size_t nl = strlen(name);
	bool root = dirlen == 1;
	char *p = rf_xmalloc(dirlen + nl + 2);

	memcpy(p, dir, dirlen);
	if (!root)
		p[dirlen++] = '/';
	memcpy(p + dirlen, name, nl + 1);
	*len = dirlen + nl;
	return p;
}

static char *host_path(const struct scan *s, const char *path)
{
	struct rf_buf b = RF_BUF_INIT;

	rf_buf_addstr(&b, s->opt->root);
	if (b.len > 0 && b.data[b.len - 1] == '/')
		b.len--;
	rf_buf_addstr(&b, path);
	return rf_buf_detach(&b);
}

static void walk_dir(struct scan *s, struct dirref *dir, const char *path,
		     size_t pathlen, int depth);

static void visit(struct scan *s, struct dirref *dir, const char *dirpath,
		  size_t dirlen, const char *name, int depth)
{
	struct entry e;
	const char *kind, *pat;
	char *hp = NULL;
	int childfd = -1;
	bool descend = false;

	memset(&e, 0, sizeof(e));
	e.path = child_path(dirpath, dirlen, name, &e.pathlen);
	e.name = e.path + e.pathlen - strlen(name);
	if (fstatat(dir->fd, name, &e.st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT) {
			char *p = printable(e.path, e.pathlen);

			scan_warn(s, "cannot stat %s: %s", p, strerror(errno));
			free(p);
		}
		free(e.path);
		return; /* deleted since the directory was read */
	}
	if (e.st.st_dev == s->report_dev && e.st.st_ino == s->report_ino) {
		free(e.path);
		return; /* our own report, when written inside the root */
	}
	pat = pattern_exclusion(s, e.path, name);
	if (pat != NULL) {
		add_exclusion(s, e.path, e.pathlen, "pattern", pat);
		free(e.path);
		return;
	}
	e.pf = scan_pkgset_find(s->set, e.path);
	if (e.pf != NULL && (e.pf->flags & SCAN_PF_ALIAS))
		e.pf = NULL;

	switch (e.st.st_mode & S_IFMT) {
	case S_IFREG:
		e.hash = true;
		if (e.st.st_nlink > 1) {
			struct hardlink *l = hardlink_find(s, e.st.st_dev,
							   e.st.st_ino, false);

			if (l != NULL) {
				e.link = l;
				/* same inode: its digests are known already,
				 * unless this path's package wants another */
				e.hash = false;
				if (e.pf && e.pf->algo != RF_DIGEST_NONE &&
				    e.pf->algo != RF_DIGEST_SHA256)
					e.hash = true;
			} else {
				e.link = hardlink_find(s, e.st.st_dev,
						       e.st.st_ino, true);
			}
		}
		break;
	case S_IFLNK: {
		char target[PATH_MAX + 1];
		ssize_t n = readlinkat(dir->fd, name, target, sizeof(target));

		if (n < 0 || n > PATH_MAX) {
			char *p = printable(e.path, e.pathlen);

			scan_warn(s, "cannot read link %s: %s", p,
				  n < 0 ? strerror(errno) : "target too long");
			free(p);
			e.read_errno = n < 0 ? errno : ENAMETOOLONG;
		} else {
			e.target = rf_xstrndup(target, (size_t)n);
			e.targetlen = (size_t)n;
		}
		break;
	}
	case S_IFDIR: {
		struct stat st;
		struct statfs sfs;

		childfd = openat(dir->fd, name,
				 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					 O_NOATIME | O_CLOEXEC);
		if (childfd < 0 && errno == EPERM)
			childfd = openat(dir->fd, name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);
		if (childfd < 0 || fstat(childfd, &st) < 0 ||
		    !same_file(&st, &e.st)) {
			char *p = printable(e.path, e.pathlen);

			if (childfd < 0 && errno != ENOENT) {
				scan_warn(s, "cannot open directory %s: %s", p,
					  strerror(errno));
				e.read_errno = errno;
				add_exclusion(s, e.path, e.pathlen,
					      "unreadable", NULL);
			} else {
				e.changed = true;
			}
			free(p);
			if (childfd >= 0)
				close(childfd);
			childfd = -1;
			break;
		}
		read_xattrs_fd(&e, childfd, NULL);
		kind = default_exclusion(e.path);
		if (kind != NULL) {
			add_exclusion(s, e.path, e.pathlen, kind, NULL);
			break;
		}
		if (e.st.st_dev != s->rootdev && fstatfs(childfd, &sfs) == 0) {
			if (pseudo_fs(sfs.f_type)) {
				add_exclusion(s, e.path, e.pathlen, "pseudo",
					      NULL);
				break;
			}
			if (!s->opt->cross_mounts &&
			    (s->live || network_fs(sfs.f_type))) {
				add_exclusion(s, e.path, e.pathlen,
					      network_fs(sfs.f_type) ? "netfs"
								     : "mount",
					      NULL);
				break;
			}
		}
		descend = true;
		break;
	}
	default:
		/* fifos, sockets, devices: never opened, so by path */
		hp = host_path(s, e.path);
		read_xattrs_fd(&e, -1, hp);
		free(hp);
		break;
	}
	if (S_ISLNK(e.st.st_mode)) {
		/* no fd-based xattr calls on a symlink itself */
		hp = host_path(s, e.path);
		read_xattrs_fd(&e, -1, hp);
		free(hp);
	}
	e.dir = dir;
	dir->refs++;
	{
		char *path = descend ? rf_xstrndup(e.path, e.pathlen) : NULL;
		size_t len = e.pathlen;

		push(s, &e); /* the ring owns e.path now */
		if (descend) {
			struct dirref *child = rf_xcalloc(1, sizeof(*child));

			child->fd = childfd;
			child->refs = 1;
			child->open = &s->ndirs;
			s->ndirs++;
			childfd = -1;
			walk_dir(s, child, path, len, depth + 1);
			dirref_put(child);
			free(path);
		}
	}
	if (childfd >= 0)
		close(childfd);
}

static void walk_dir(struct scan *s, struct dirref *dir, const char *path,
		     size_t pathlen, int depth)
{
	struct name *names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	fd = dup(dir->fd);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		char *p = printable(path, pathlen);

		scan_warn(s, "cannot read directory %s: %s", p,
			  strerror(errno));
		free(p);
		if (fd >= 0)
			close(fd);
		return;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = rf_xrealloc(names, cap * sizeof(*names));
		}
		names[n++].s = rf_xstrdup(de->d_name);
	}
	if (errno != 0) {
		char *p = printable(path, pathlen);

		scan_warn(s, "error reading directory %s: %s", p,
			  strerror(errno));
		free(p);
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		visit(s, dir, path, pathlen, names[i].s, depth);
		free(names[i].s);
	}
	free(names);
}

/* ---------------------------------------------------------------- */
/* Missing files, packages, exclusions, changes */

static bool under_exclusion(const struct scan *s, const char *path)
{
	for (size_t i = 0; i < s->nexcl; i++) {
		size_t l = strlen(s->excl[i].path);

		if (strncmp(path, s->excl[i].path, l) == 0 &&
		    (path[l] == '/' || path[l] == '\0' ||
		     (l == 1 && s->excl[i].path[0] == '/')))
			return true;
	}
	return pattern_exclusion(s, path, strrchr(path, '/') + 1) != NULL;
}

static int cmp_pf_path(const void *a, const void *b)
{
	return strcmp((*(struct scan_pkgfile *const *)a)->path,
		      (*(struct scan_pkgfile *const *)b)->path);
}

static void emit_missing(struct scan *s)
{
	size_t n = scan_pkgset_nfiles(s->set), k = 0;
	struct scan_pkgfile **miss = rf_xmalloc(n * sizeof(*miss) + 1);

	for (size_t i = 0; i < n; i++) {
		struct scan_pkgfile *pf = scan_pkgset_file(s->set, i);

		/* rpm -V reports neither %ghost nor missingok files missing */
		if (pf->seen ||
		    (pf->flags &
		     (SCAN_PF_GHOST | SCAN_PF_MISSINGOK | SCAN_PF_ALIAS)) ||
		    strcmp(pf->path, "/") == 0 || under_exclusion(s, pf->path))
			continue;
		miss[k++] = pf;
	}
	if (k > 1)
		qsort(miss, k, sizeof(*miss), cmp_pf_path);
	for (size_t i = 0; i < k; i++) {
		struct scan_pkgfile *pf = miss[i];
		const struct scan_pkg *pkg =
			scan_pkgset_package(s->set, pf->pkg);
		const char *detail = (pf->flags & SCAN_PF_CONFIG) ? "conffile"
				     : (pf->flags & SCAN_PF_HAS_TYPE)
					     ? type_name(pf->mode)
				     : pf->algo != RF_DIGEST_NONE ? "file"
								  : "path";

		s->sum->files[SCAN_MISSING]++;
		if (pf->flags & SCAN_PF_HAS_SIZE)
			s->sum->bytes[SCAN_MISSING] += pf->size;
		add_change(s, pf->path, strlen(pf->path), SCAN_MISSING, detail);
		XML(xmlTextWriterStartElement(s->w, BAD_CAST "file"));
		rf_report_attr_bytes(s->w, "path", pf->path, strlen(pf->path));
		if (pf->flags & SCAN_PF_HAS_TYPE)
			XML(xmlTextWriterWriteAttribute(
				s->w, BAD_CAST "type",
				BAD_CAST type_name(pf->mode)));
		XML(xmlTextWriterWriteAttribute(s->w, BAD_CAST "class",
						BAD_CAST "missing"));
		XML(xmlTextWriterWriteAttribute(s->w, BAD_CAST "detail",
						BAD_CAST detail));
		rf_report_attr_bytes(s->w, "package", pkg->name,
				     strlen(pkg->name));
		if (pf->flags & SCAN_PF_CONFIG)
			XML(xmlTextWriterWriteAttribute(s->w, BAD_CAST "config",
							BAD_CAST "true"));
		XML(xmlTextWriterEndElement(s->w));
	}
	free(miss);
}

static int cmp_changes(const void *a, const void *b)
{
	const struct change *x = a, *y = b;
	size_t n = x->pathlen < y->pathlen ? x->pathlen : y->pathlen;
	int c = memcmp(x->path, y->path, n);

	if (c != 0)
		return c;
	return x->pathlen < y->pathlen ? -1 : x->pathlen > y->pathlen;
}

static void write_change(FILE *f, struct rf_buf *b, const struct change *c)
{
	rf_buf_reset(b);
	rf_buf_addstr(b, class_names[c->cls]);
	rf_buf_addch(b, '\t');
	rf_buf_addstr(b, c->detail);
	rf_buf_addch(b, '\t');
	rf_escape_c(b, c->path, c->pathlen);
	rf_buf_addch(b, '\n');
	fwrite(b->data, 1, b->len, f);
}

struct sort_half {
	struct change *v;
	size_t n;
};

static void *sort_half(void *arg)
{
	struct sort_half *h = arg;

	qsort(h->v, h->n, sizeof(*h->v), cmp_changes);
	return NULL;
}

/*
 * The changes sorted by path and written out. The two halves are sorted on
 * two threads (the hashing threads are done by now) and merged as written.
 */
static int write_changes(struct scan *s, struct rf_error *err)
{
	struct sort_half hi = {s->changes + s->nchanges / 2,
			       s->nchanges - s->nchanges / 2};
	struct change *lo = s->changes, *lo_end = hi.v, *hi_end = hi.v + hi.n;
	FILE *f = stdout;
	struct rf_buf b = RF_BUF_INIT;
	pthread_t t;
	int rc = 0;

	if (pthread_create(&t, NULL, sort_half, &hi) == 0) {
		qsort(lo, (size_t)(lo_end - lo), sizeof(*lo), cmp_changes);
		pthread_join(t, NULL);
	} else {
		qsort(lo, s->nchanges, sizeof(*lo), cmp_changes);
		lo_end = hi.v = hi_end;
	}
	if (strcmp(s->opt->changes_path, "-") != 0) {
		f = fopen(s->opt->changes_path, "w");
		if (f == NULL)
			return rf_error_errno(err, -errno, "cannot write '%s'",
					      s->opt->changes_path);
	}
	while (lo < lo_end || hi.v < hi_end) {
		if (hi.v == hi_end ||
		    (lo < lo_end && cmp_changes(lo, hi.v) <= 0))
			write_change(f, &b, lo++);
		else
			write_change(f, &b, hi.v++);
	}
	if (fflush(f) != 0 || ferror(f))
		rc = rf_error_errno(err, -errno, "cannot write the changes");
	if (f != stdout && fclose(f) != 0 && rc == 0)
		rc = rf_error_errno(err, -errno, "cannot write '%s'",
				    s->opt->changes_path);
	rf_buf_free(&b);
	return rc;
}

struct changes_job {
	struct scan *s;
	struct rf_error err;
	int rc;
};

static void *changes_thread(void *arg)
{
	struct changes_job *j = arg;

	j->rc = write_changes(j->s, &j->err);
	return NULL;
}

static void write_exclusions(struct scan *s)
{
	XML(xmlTextWriterStartElement(s->w, BAD_CAST "excludes"));
	for (size_t i = 0; i < s->opt->nexcludes; i++) {
		XML(xmlTextWriterStartElement(s->w, BAD_CAST "pattern"));
		rf_report_attr_bytes(s->w, "glob", s->opt->excludes[i],
				     strlen(s->opt->excludes[i]));
		XML(xmlTextWriterEndElement(s->w));
	}
	for (size_t i = 0; i < s->nexcl; i++) {
		XML(xmlTextWriterStartElement(s->w, BAD_CAST "exclude"));
		rf_report_attr_bytes(s->w, "path", s->excl[i].path,
				     strlen(s->excl[i].path));
		XML(xmlTextWriterWriteAttribute(s->w, BAD_CAST "kind",
						BAD_CAST s->excl[i].kind));
		if (s->excl[i].pattern)
			rf_report_attr_bytes(s->w, "glob", s->excl[i].pattern,
					     strlen(s->excl[i].pattern));
		XML(xmlTextWriterEndElement(s->w));
	}
	XML(xmlTextWriterEndElement(s->w));
}

/* ---------------------------------------------------------------- */

static int load_databases(struct scan *s, struct rf_error *err)
{
	const struct scan_pkgdb_ops *const *reg = scan_pkgdb_registry();
	size_t used = 0;
	int rc;

	for (size_t i = 0; reg[i] != NULL; i++) {
		if (!reg[i]->probe(s->rootfd))
			continue;
		rc = reg[i]->load(s->set, s->rootfd, s->opt->root, err);
		if (rc < 0)
			return rc;
		used += (size_t)snprintf(s->sum->databases + used,
					 used < sizeof(s->sum->databases)
						 ? sizeof(s->sum->databases) -
							   used
						 : 0,
					 "%s%s", used ? "," : "", reg[i]->name);
		if (used >= sizeof(s->sum->databases))
			used = sizeof(s->sum->databases) - 1;
	}
	s->sum->packages = scan_pkgset_npackages(s->set);
	return scan_pkgset_canonicalize(s->set, s->rootfd);
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * How many directories the walk may hold open for queued entries: what the
 * descriptor limit leaves besides the lanes' files, the report and the
 * databases. Past it the walker waits for the head, as when the ring is
 * full, rather than fail to open the next directory.
 */
static size_t dir_limit(int nthreads)
{
	size_t other = 256 + (size_t)(nthreads + 1) * (MD5MB_LANES + 1);
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 64;
	if (rl.rlim_cur == RLIM_INFINITY)
		return SIZE_MAX;
	if (rl.rlim_cur < other + 64)
		return 64;
	return (size_t)(rl.rlim_cur - other);
}

int scan_run(const struct scan_options *opt, struct scan_summary *sum,
	     struct rf_error *err)
{
	struct scan *s = rf_xcalloc(1, sizeof(*s));
	struct scan_sysctx sys;
	struct scan_report_out out;
	struct stat st;
	uint64_t t0 = rf_now_ns();
	bool out_open = false, started = false, bus_installed = false;
	struct changes_job changes;
	pthread_t changes_t;
	bool changes_started = false;
	bool isolated;
	int rc;

	memset(sum, 0, sizeof(*sum));
	memset(&out, 0, sizeof(out));
	memset(&changes, 0, sizeof(changes));
	s->opt = opt;
	s->sum = sum;
	s->report_dev = (dev_t)-1;
	s->rootfd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->work_cv, NULL);
	pthread_cond_init(&s->done_cv, NULL);
	rf_progress_init(&s->progress, stderr);
	if (!opt->progress)
		s->progress.enabled = false;
	raise_fd_limit();

	s->rootfd = rf_root_open_readonly(opt->root, &isolated);
	if (s->rootfd < 0) {
		rc = rf_error_errno(err, s->rootfd, "cannot open root '%s'",
				    opt->root);
		goto out;
	}
	if (fstat(s->rootfd, &st) < 0) {
		rc = rf_error_errno(err, -errno, "cannot stat '%s'", opt->root);
		goto out;
	}
	s->rootdev = st.st_dev;
	{
		struct stat slash;

		s->live = stat("/", &slash) == 0 && slash.st_dev == st.st_dev &&
			  slash.st_ino == st.st_ino;
	}

	s->set = scan_pkgset_new();
	rc = load_databases(s, err);
	if (rc < 0)
		goto out;

	memset(&sys, 0, sizeof(sys));
	sys.rootfd = s->rootfd;
	sys.root = opt->root;
	sys.live = s->live;
	sys.warn = sys_warn;
	sys.opaque = s;
	s->accounts = scan_accounts_load(&sys);

	rc = scan_report_open(&out, opt->report_path, err);
	if (rc < 0)
		goto out;
	out_open = true;
	s->w = out.writer;
	if (out.fd_dev_valid) {
		s->report_dev = out.dev;
		s->report_ino = out.ino;
	}
	rc = scan_report_begin(s->w, opt->root, s->live, isolated, err);
	if (rc < 0)
		goto out;
	rc = scan_system_write(&sys, s->w, err);
	if (rc < 0)
		goto out;
	rc = scan_report_packages(s->w, s->set, err);
	if (rc < 0)
		goto out;

	/* the walk */
	s->nthreads =
		opt->jobs > 0 ? opt->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (s->nthreads < 1)
		s->nthreads = 1;
	if (s->nthreads == 1)
		s->nthreads = 0; /* hash on the walking thread */
	s->threads = rf_xcalloc((size_t)s->nthreads + 1, sizeof(*s->threads));
	s->maxdirs = dir_limit(s->nthreads);
	sigbus_install();
	bus_installed = true;
	for (int i = 0; i < s->nthreads; i++)
		if (pthread_create(&s->threads[i], NULL, hash_thread, s) != 0) {
			s->nthreads = i;
			break;
		}
	started = true;
	XML(xmlTextWriterStartElement(s->w, BAD_CAST "files"));
	{
		struct entry e;
		struct dirref *root = rf_xcalloc(1, sizeof(*root));

		root->fd =
			openat(s->rootfd, ".",
			       O_RDONLY | O_DIRECTORY | O_NOATIME | O_CLOEXEC);
		if (root->fd < 0)
			root->fd = openat(s->rootfd, ".",
					  O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		root->refs = 1;
		root->open = &s->ndirs;
		s->ndirs++;
		memset(&e, 0, sizeof(e));
		e.path = rf_xstrdup("/");
		e.pathlen = 1;
		e.name = e.path;
		e.st = st;
		e.pf = scan_pkgset_find(s->set, "/");
		read_xattrs_fd(&e, root->fd, NULL);
		push(s, &e);
		walk_dir(s, root, "/", 1, 0);
		dirref_put(root);
	}
	pthread_mutex_lock(&s->lock);
	s->finished = true;
	pthread_cond_broadcast(&s->work_cv);
	pthread_mutex_unlock(&s->lock);
	while (s->head != s->tail)
		drain(s, true, SIZE_MAX);
	emit_missing(s);
	/* every change is known: they are sorted and written while the
	 * report is finished */
	if (opt->changes_path != NULL) {
		changes.s = s;
		if (pthread_create(&changes_t, NULL, changes_thread,
				   &changes) == 0)
			changes_started = true;
		else
			changes_thread(&changes);
	}
	XML(xmlTextWriterEndElement(s->w)); /* files */
	write_exclusions(s);
	rf_progress_done(&s->progress);
	sum->seconds = (double)(rf_now_ns() - t0) / 1e9;
	rc = scan_report_summary(s->w, sum, err);
	if (rc < 0)
		goto out;
	if (s->xml_failed) {
		rc = rf_error_set(err, -EIO, "cannot write the report");
		goto out;
	}
	rc = scan_report_close(&out, true, err);
	out_open = false;
	if (rc < 0)
		goto out;
	if (changes_started) {
		pthread_join(changes_t, NULL);
		changes_started = false;
	}
	if (opt->changes_path != NULL && changes.rc < 0) {
		rc = changes.rc;
		if (err != NULL)
			*err = changes.err;
	}
out:
	if (changes_started)
		pthread_join(changes_t, NULL);
	if (started) {
		pthread_mutex_lock(&s->lock);
		s->finished = true;
		pthread_cond_broadcast(&s->work_cv);
		pthread_mutex_unlock(&s->lock);
		for (int i = 0; i < s->nthreads; i++)
			pthread_join(s->threads[i], NULL);
	}
	if (bus_installed)
		sigbus_restore();
	if (out_open)
		scan_report_close(&out, false, NULL);
	while (s->head != s->tail) {
		entry_clear(&s->ring[s->head % RING_SIZE]);
		s->head++;
	}
	for (size_t i = 0; i < s->linkcap; i++)
		while (s->links[i]) {
			struct hardlink *next = s->links[i]->next;

			free(s->links[i]);
			s->links[i] = next;
		}
	free(s->links);
	for (size_t i = 0; i < s->nchanges; i++) {
		free(s->changes[i].path);
		free(s->changes[i].detail);
	}
	free(s->changes);
	for (size_t i = 0; i < s->nexcl; i++)
		free(s->excl[i].path);
	free(s->excl);
	free(s->threads);
	hasher_free(&s->hasher);
	scan_accounts_free(s->accounts);
	scan_pkgset_free(s->set);
	if (s->rootfd >= 0)
		close(s->rootfd);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->work_cv);
	pthread_cond_destroy(&s->done_cv);
	free(s);
	return rc;
}
