/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * reforge-gen: a scan (report + overlay) and package repositories become a
 * disk image, without the server.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include "boot.h"
#include "buf.h"
#include "cache.h"
#include "disk.h"
#include "fsw.h"
#include "gen.h"
#include "progress.h"
#include "target.h"
#include "unpack.h"

enum { EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_WARN = 3 };

#define STAGE_PREFIX "reforge-gen."
#define SHM_DIR "/dev/shm"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: reforge-gen --report FILE [--overlay FILE] --repo URL... "
		"-o IMAGE\n"
		"                   [--format raw|qcow2|vmdk|ova] [--options "
		"OPTS]\n"
		"                   [--disk-size SIZE] [--headroom PERCENT] "
		"[--tmpdir DIR]\n"
		"                   [--missing-ok] [--no-sync] [--json] "
		"[--quiet]\n"
		"                   [--target kvm|vmware|openstack|aws|azure|"
		"none]\n"
		"                   [--network keep|dhcp] [--keep-machine-id] "
		"[--keep-ssh-keys]\n"
		"                   [--keep-net-rules] [--jobs N] [--verbose]\n"
		"                   [--stage-in-memory auto|always|never]\n"
		"                   [--cache DIR [--cache-max SIZE]] [--staged]\n"
		"\n"
		"Rebuilds the scanned host's files into a disk image: every "
		"package of the\n"
		"report is unpacked from the repositories (file:// "
		"directories: a Debian,\n"
		"rpm-md or pacman repository, or .deb, .rpm, .pkg.tar.* "
		"files; checksums\n"
		"verified), the overlay is applied on top,\n"
		"every file gets the owner, mode, times, xattrs and ACLs the "
		"report recorded,\n"
		"and the partitions and filesystems follow the source's "
		"storage: ext4\n"
		"made by mke2fs and filled by reforge-gen, ext2/3 by mke2fs -d, "
		"xfs by\n"
		"mkfs.xfs -p (what it cannot carry is "
		"reported), btrfs\n"
		"by mkfs.btrfs --rootdir, any other type as ext4.\n"
		"\n"
		"When nothing needs the tree on disk (--target none, every "
		"filesystem ext4,\n"
		"no EFI system partition), the packages and the overlay go "
		"straight into\n"
		"the filesystems, which libext2fs fills from their streams with "
		"no staged\n"
		"tree; --staged stages the tree all the same.\n"
		"\n"
		"The tree is then tuned for --target (default kvm): other "
		"platforms' guest\n"
		"tools removed, the target's installed from the repositories, "
		"its drivers\n"
		"put in a new initramfs, GRUB installed for the firmware, fstab "
		"and the\n"
		"boot loader on the new UUIDs, NICs renamed, machine-id, SSH "
		"host keys\n"
		"and persistent net rules generalised. --target none leaves "
		"the files\n"
		"as the source had them and installs no boot loader.\n"
		"\n"
		"Packages are unpacked on --jobs threads (default: one per "
		"core, at most 8),\n"
		"each into its own directory, and merged in report order, so "
		"a later\n"
		"package's file replaces an earlier one's as in a sequential "
		"unpack.\n"
		"\n"
		"Staging (the tree and the filesystem files) goes to --tmpdir, "
		"else $TMPDIR,\n"
		"else /var/tmp. With neither given and --stage-in-memory auto "
		"(default),\n"
		"it goes to /dev/shm when that is a tmpfs and the estimate "
		"(twice the\n"
		"report's data) is under a quarter of MemAvailable and under "
		"half of\n"
		"/dev/shm's free space; always: /dev/shm whatever the size; "
		"never: on disk.\n"
		"\n"
		"--cache DIR keeps the decoded payload of every package "
		"unpacked, zstd-\n"
		"compressed, under the package's SHA-256 (made 0700; it must be "
		"yours\n"
		"and writable by no one else); a later unpack of the same package "
		"reads\n"
		"it from there, much faster than xz. Least recently used entries go "
		"past\n"
		"--cache-max (default 4G; 0: no limit).\n"
		"\n"
		"Exit status: 0 done; 1 failed; 2 bad usage; 3 done with "
		"warnings.\n");
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || s[0] == '-')
		return -EINVAL;
	switch (*end) {
	case 'T': shift = 40; break;
	case 'G': shift = 30; break;
	case 'M': shift = 20; break;
	case 'k': case 'K': shift = 10; break;
	case '\0': break;
	default: return -EINVAL;
	}
	if (*end != '\0' && end[1] != '\0')
		return -EINVAL;
	if (shift != 0 && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

/*
 * Staging directories of killed runs: each holds a lock file flock()ed for
 * the life of its run, so one whose lock can be taken belongs to no one.
 */
static void reclaim_stale(const char *tmpdir)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char lock[4096];
		int fd;

		if (strncmp(de->d_name, STAGE_PREFIX, strlen(STAGE_PREFIX)) != 0)
			continue;
		snprintf(lock, sizeof(lock), "%s/%s/lock", tmpdir, de->d_name);
		fd = open(lock, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			gen_remove_tree(dirfd(d), de->d_name);
		close(fd);
	}
	closedir(d);
}

/* A JSON string of s (paths may hold any byte but NUL). */
static void json_str(const char *s)
{
	putchar('"');
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\')
			printf("\\%c", *c);
		else if (*c < 0x20 || *c >= 0x7f)
			printf("\\u%04x", *c);
		else
			putchar(*c);
	}
	putchar('"');
}

static void print_log_from(const struct gen_tune *t, size_t from)
{
	const char *p = t->log.data + from;

	while (*p != '\0') {
		const char *eol = strchr(p, '\n');
		int n = eol ? (int)(eol - p) : (int)strlen(p);

		fprintf(stderr, "reforge-gen: %s: %.*s\n", t->target->name, n,
			p);
		p += n + (eol != NULL);
	}
}

static void print_log(const struct gen_tune *t)
{
	print_log_from(t, 0);
}

struct unpack_ctx {
	struct rf_progress *prog;
	const struct gen_report *r;
};

static void unpack_event(void *ctx, size_t i, size_t n, int rc,
			 const struct rf_error *err)
{
	struct unpack_ctx *uc = ctx;

	if (rc == -ENOENT) {
		rf_progress_done(uc->prog);
		fprintf(stderr, "reforge-gen: %s\n", err->msg);
	} else if (rc == 0) {
		rf_progress_update(uc->prog, false, "unpacked %zu/%zu: %s",
				   i + 1, n, uc->r->pkgs[i].name);
	}
}

/* Bytes the staged tree and its filesystem images will take, from the
 * report: data rounded to blocks plus a block per other inode, twice. */
static uint64_t stage_estimate(const struct gen_report *r)
{
	uint64_t b = 0;

	for (size_t i = 0; i < r->nfiles; i++) {
		const struct gen_file *f = &r->files[i];

		b += S_ISREG(f->type) ? (f->size + 4095) / 4096 * 4096 : 4096;
	}
	return 2 * b;
}

static uint64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	unsigned long long kb = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

/*
 * Whether to stage in SHM_DIR (tmpfs) rather than on disk: only when the
 * staging space was not chosen (no --tmpdir, no TMPDIR), SHM_DIR is a
 * tmpfs, and the estimate takes under a quarter of the available memory
 * and under half of the tmpfs's free space, so a busy host is never
 * pushed into swapping or the OOM killer by an image build. *why says why
 * not, for -v.
 */
static bool stage_fits_memory(uint64_t need, const char **why)
{
	struct statfs sf;
	uint64_t avail = mem_available();

	if (statfs(SHM_DIR, &sf) < 0 || sf.f_type != TMPFS_MAGIC) {
		*why = SHM_DIR " is not a tmpfs";
		return false;
	}
	if (avail == 0 || need > avail / 4) {
		*why = "over a quarter of the available memory";
		return false;
	}
	if (need > (uint64_t)sf.f_bavail * (uint64_t)sf.f_bsize / 2) {
		*why = "over half of the free space of " SHM_DIR;
		return false;
	}
	return true;
}

/* The staged trees, removed on a thread of their own while the image is
 * written (they are no longer read once the filesystems are made). */
struct remover {
	const char *stage;
	pthread_t tid;
	bool started;
};

static void *remove_trees(void *arg)
{
	struct remover *rm = arg;
	int dfd = open(rm->stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;

	if (d == NULL) {
		if (dfd >= 0)
			close(dfd);
		return NULL;
	}
	/* everything but the lock, which marks the staging as in use */
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0 &&
		    strcmp(de->d_name, "lock") != 0)
			gen_remove_tree(dirfd(d), de->d_name);
	closedir(d);
	return NULL;
}

static void start_remover(void *ctx)
{
	struct remover *rm = ctx;

	rm->started = pthread_create(&rm->tid, NULL, remove_trees, rm) == 0;
}

static volatile sig_atomic_t stop_signal;

/*
 * Whether a run filling the filesystems from the streams that failed with
 * rc starts again staged: a filesystem sized from the report filled up,
 * or mke2fs made one without extents; the overlay, once read, must be a
 * file that can be read again (not a pipe).
 */
static bool restage(int rc, bool direct, const char *overlay,
		    bool overlay_read)
{
	struct stat st;

	return direct && !stop_signal && (rc == -ENOSPC || rc == -EOPNOTSUPP) &&
	       (!overlay_read || overlay == NULL ||
		(stat(overlay, &st) == 0 && S_ISREG(st.st_mode)));
}

static void on_signal(int sig)
{
	stop_signal = sig;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"report", required_argument, NULL, 'r'},
		{"overlay", required_argument, NULL, 'O'},
		{"repo", required_argument, NULL, 'R'},
		{"format", required_argument, NULL, 'f'},
		{"options", required_argument, NULL, 'p'},
		{"output", required_argument, NULL, 'o'},
		{"disk-size", required_argument, NULL, 's'},
		{"headroom", required_argument, NULL, 'H'},
		{"tmpdir", required_argument, NULL, 't'},
		{"missing-ok", no_argument, NULL, 'm'},
		{"no-sync", no_argument, NULL, 'n'},
		{"json", no_argument, NULL, 'j'},
		{"quiet", no_argument, NULL, 'q'},
		{"target", required_argument, NULL, 'T'},
		{"network", required_argument, NULL, 'N'},
		{"keep-machine-id", no_argument, NULL, 'M'},
		{"keep-ssh-keys", no_argument, NULL, 'K'},
		{"keep-net-rules", no_argument, NULL, 'P'},
		{"jobs", required_argument, NULL, 'J'},
		{"stage-in-memory", required_argument, NULL, 'S'},
		{"cache", required_argument, NULL, 'C'},
		{"cache-max", required_argument, NULL, 'X'},
		{"staged", no_argument, NULL, 'D'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *report = NULL, *overlay = NULL, *tmpdir = NULL;
	struct gen_disk_opts dopts = {.format = "qcow2", .headroom = 20,
				      .sync = true};
	struct rf_error err = {0};
	struct gen_report *r = NULL;
	struct gen_repo *repo = gen_repo_new();
	struct gen_layout *layout = NULL;
	struct gen_limits lim;
	struct gen_extract_stats ost = {0};
	struct rf_progress prog;
	char stage[4096] = "";
	bool missing_ok = false, json = false, quiet = false, verbose = false;
	bool staged = false, direct = false, retry = false;
	struct gen_fsw *fsw = NULL;
	const char *in_memory = "auto", *cache_dir = NULL;
	uint64_t cache_max = 4ULL << 30;
	struct gen_cache *cache = NULL;
	unsigned jobs = 0;
	uint64_t warnings = 0, tree_warnings = 0, missing = 0, unpacked = 0;
	uint64_t t0 = rf_now_ns();
	int ret = EXIT_FAIL, rc, c, rootfd = -1, lockfd = -1;
	struct sigaction sa;
	const char *target_name = "kvm";
	struct gen_tune tune;
	bool tuned = false;
	struct remover remover = {.stage = stage};
	/* wall time of each phase, for --json and the benchmark */
	uint64_t t_unpack = 0, t_overlay = 0, t_meta = 0, t_tune = 0,
		 t_plan = 0, t_mkfs = 0, t_phase;

	gen_tune_init(&tune, NULL);
	gen_limits_default(&lim);
	while ((c = getopt_long(argc, argv, "o:qvh", opts, NULL)) != -1) {
		switch (c) {
		case 'r': report = optarg; break;
		case 'O': overlay = optarg; break;
		case 'R':
			if (gen_repo_add(repo, optarg, &err) < 0) {
				fprintf(stderr, "reforge-gen: %s\n", err.msg);
				goto out;
			}
			break;
		case 'f': dopts.format = optarg; break;
		case 'p': dopts.options = optarg; break;
		case 'o': dopts.out = optarg; break;
		case 's':
			if (parse_size(optarg, &dopts.disk_size) < 0) {
				fprintf(stderr, "reforge-gen: bad --disk-size "
					"'%s'\n", optarg);
				ret = EXIT_USAGE;
				goto out;
			}
			break;
		case 'H': dopts.headroom = (unsigned)atoi(optarg); break;
		case 't': tmpdir = optarg; break;
		case 'm': missing_ok = true; break;
		case 'n': dopts.sync = false; break;
		case 'j': json = true; break;
		case 'q': quiet = true; break;
		case 'T': target_name = optarg; break;
		case 'N':
			if (strcmp(optarg, "dhcp") != 0 &&
			    strcmp(optarg, "keep") != 0) {
				fprintf(stderr, "reforge-gen: --network is keep "
					"or dhcp\n");
				ret = EXIT_USAGE;
				goto out;
			}
			tune.network_dhcp = strcmp(optarg, "dhcp") == 0;
			break;
		case 'M': tune.keep_machine_id = true; break;
		case 'K': tune.keep_ssh_keys = true; break;
		case 'P': tune.keep_net_rules = true; break;
		case 'J': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end != '\0' || v < 1 || v > 64 || optarg[0] == '-') {
				fprintf(stderr, "reforge-gen: --jobs is 1 to "
					"64\n");
				ret = EXIT_USAGE;
				goto out;
			}
			jobs = (unsigned)v;
			break;
		}
		case 'S':
			if (strcmp(optarg, "auto") != 0 &&
			    strcmp(optarg, "always") != 0 &&
			    strcmp(optarg, "never") != 0) {
				fprintf(stderr, "reforge-gen: --stage-in-memory "
					"is auto, always or never\n");
				ret = EXIT_USAGE;
				goto out;
			}
			in_memory = optarg;
			break;
		case 'C': cache_dir = optarg; break;
		case 'X':
			if (parse_size(optarg, &cache_max) < 0) {
				fprintf(stderr, "reforge-gen: bad --cache-max "
					"'%s'\n", optarg);
				ret = EXIT_USAGE;
				goto out;
			}
			break;
		case 'D': staged = true; break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout); ret = 0; goto out;
		case 'V': printf("reforge-gen %s\n", PACKAGE_VERSION); ret = 0;
			  goto out;
		default: usage(stderr); ret = EXIT_USAGE; goto out;
		}
	}
	if (report == NULL || dopts.out == NULL || optind != argc ||
	    dopts.headroom > 1000) {
		usage(stderr);
		ret = EXIT_USAGE;
		goto out;
	}
	if (strcmp(target_name, "none") != 0) {
		tune.target = gen_target_by_name(target_name);
		if (tune.target == NULL) {
			fprintf(stderr, "reforge-gen: unknown --target '%s' "
				"(kvm, vmware, openstack, aws, azure or "
				"none)\n", target_name);
			ret = EXIT_USAGE;
			goto out;
		}
	}
	rf_progress_init(&prog, stderr);
	if (quiet)
		prog.enabled = false;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	if (cache_dir != NULL) {
		if (gen_cache_open(cache_dir, cache_max, &cache, &err) < 0) {
			fprintf(stderr, "reforge-gen: %s\n", err.msg);
			goto out;
		}
		gen_repo_set_cache(repo, cache);
	}
	rc = gen_report_load(report, &r, &err);
	if (rc < 0) {
		fprintf(stderr, "reforge-gen: %s: %s\n", report, err.msg);
		goto out;
	}
	if (!staged && tune.target == NULL) {
		/* no tuning: the filesystem can be filled from the streams */
		rc = gen_disk_plan(r, NULL, &dopts, &layout, &err);
		if (rc < 0) {
			fprintf(stderr, "reforge-gen: %s\n", err.msg);
			goto out;
		}
		direct = gen_disk_direct(layout);
		if (!direct) {
			gen_layout_free(layout);
			layout = NULL;
		}
		if (verbose)
			fprintf(stderr, "reforge-gen: %s\n",
				direct ? "filling the filesystems from the "
					 "streams (no staged tree)"
				       : "staging the tree (a filesystem not "
					 "ext4, or an EFI system partition)");
	}
	if (strcmp(in_memory, "always") == 0) {
		tmpdir = SHM_DIR;
	} else if (tmpdir == NULL && getenv("TMPDIR") == NULL &&
		   strcmp(in_memory, "auto") == 0) {
		uint64_t need = stage_estimate(r);
		const char *why = NULL;

		if (stage_fits_memory(need, &why))
			tmpdir = SHM_DIR;
		if (verbose && tmpdir != NULL)
			fprintf(stderr, "reforge-gen: staging about %llu MiB "
				"in memory (" SHM_DIR ")\n",
				(unsigned long long)(need >> 20));
		else if (verbose)
			fprintf(stderr, "reforge-gen: staging about %llu MiB "
				"on disk (in memory: %s)\n",
				(unsigned long long)(need >> 20), why);
	}
	if (tmpdir == NULL)
		tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
	tune.tmpdir = tmpdir;
	reclaim_stale(tmpdir);
	/* a killed run may have staged in memory while this one does not:
	 * its tree would hold RAM until the next reboot */
	if (strcmp(in_memory, "never") != 0 && strcmp(tmpdir, SHM_DIR) != 0)
		reclaim_stale(SHM_DIR);
	snprintf(stage, sizeof(stage), "%s/" STAGE_PREFIX "XXXXXX", tmpdir);
	if (mkdtemp(stage) == NULL) {
		fprintf(stderr, "reforge-gen: cannot make a staging directory "
			"in %s: %s\n", tmpdir, strerror(errno));
		stage[0] = '\0';
		goto out;
	}
	{
		char p[4200];

		snprintf(p, sizeof(p), "%s/lock", stage);
		lockfd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		snprintf(p, sizeof(p), "%s/root", stage);
		if (lockfd < 0 || flock(lockfd, LOCK_EX) < 0 ||
		    mkdir(p, 0755) < 0 ||
		    (rootfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
			fprintf(stderr, "reforge-gen: cannot prepare %s: %s\n",
				stage, strerror(errno));
			goto out;
		}
	}

build:
	if (retry) {
		/* a filesystem sized from the report filled up (the packages
		 * hold more than the source kept: the files it removed go
		 * only at the end), or mke2fs made one without extents (its
		 * configuration): the staged tree is measured, and mke2fs -d
		 * does without extents */
		fprintf(stderr, "reforge-gen: filling the filesystems from "
			"the streams: %s; staging the tree instead\n",
			err.msg);
		memset(&err, 0, sizeof(err));
		gen_fsw_free(fsw);
		fsw = NULL;
		gen_layout_free(layout);
		layout = NULL;
		direct = retry = false;
		warnings = unpacked = missing = 0;
		t_mkfs = 0;
		memset(&ost, 0, sizeof(ost));
	}
	t_phase = rf_now_ns();
	if (direct) {
		/* the plan has the root first, then shallower mount points */
		rc = 0;
		for (size_t i = 0; i < layout->nparts && rc == 0; i++) {
			struct gen_part *p = &layout->parts[i];
			char dev[64];

			if (p->kind != GEN_PART_FS)
				continue;
			rc = gen_disk_make(p, tmpdir, &err);
			snprintf(dev, sizeof(dev), "/proc/self/fd/%d", p->fd);
			if (rc == 0 && fsw == NULL)
				rc = gen_fsw_open(dev, &fsw, &err);
			else if (rc == 0)
				rc = gen_fsw_mount(fsw, p->mountpoint, dev,
						   &err);
		}
		if (restage(rc, direct, overlay, false)) {
			retry = true;
			goto build;
		}
		if (rc == 0)
			rc = gen_fsw_prepare(fsw, r, &err);
		t_mkfs = rf_now_ns() - t_phase;
		t_phase = rf_now_ns();
	} else {
		rc = gen_tree_prepare(r, rootfd, &err);
	}
	if (rc < 0) {
		fprintf(stderr, "reforge-gen: %s\n", err.msg);
		goto out;
	}
	{
		struct unpack_ctx uc = {&prog, r};
		struct gen_unpack_opts uo = {.jobs = jobs, .lim = &lim,
					     .stage = stage,
					     .stop = &stop_signal,
					     .fsw = fsw,
					     .event = unpack_event, .ctx = &uc};

		rc = gen_unpack_all(r, repo, rootfd, &uo, &unpacked, &missing,
				    &err);
		rf_progress_done(&prog);
		if (restage(rc, direct, overlay, false)) {
			retry = true;
			goto build;
		}
		if (rc < 0 && rc != -EINTR) {
			fprintf(stderr, "reforge-gen: %s\n", err.msg);
			goto out;
		}
	}
	if (missing > 0 && !missing_ok) {
		fprintf(stderr, "reforge-gen: %llu packages are in no "
			"repository (--missing-ok to build without them)\n",
			(unsigned long long)missing);
		goto out;
	}
	warnings += missing;
	t_unpack = rf_now_ns() - t_phase;
	t_phase = rf_now_ns();
	if (overlay != NULL && !stop_signal) {
		struct gen_dest d = {rootfd, NULL};

		rf_progress_update(&prog, true, "applying the overlay");
		if (fsw != NULL)
			d.batch = gen_fsw_batch_new(fsw, true);
		rc = gen_overlay_unpack(overlay, &d, &lim, &ost, &err);
		if (rc == 0 && fsw != NULL)
			rc = gen_fsw_apply(fsw, d.batch, &err);
		gen_fsw_batch_free(d.batch);
		if (restage(rc, direct, overlay, true)) {
			retry = true;
			goto build;
		}
		if (rc < 0) {
			rf_progress_done(&prog);
			fprintf(stderr, "reforge-gen: %s\n", err.msg);
			goto out;
		}
	}
	t_overlay = rf_now_ns() - t_phase;
	t_phase = rf_now_ns();
	if (!stop_signal) {
		rf_progress_update(&prog, true, "setting owners, modes, times");
		struct rf_buf absent = RF_BUF_INIT;

		if (fsw != NULL)
			rc = gen_fsw_report(fsw, r, &tree_warnings, &absent,
					    &err);
		else
			rc = gen_tree_apply(r, rootfd, &tree_warnings, &absent,
					    &err);
		if (rc < 0) {
			rf_progress_done(&prog);
			fprintf(stderr, "reforge-gen: %s\n", err.msg);
			goto out;
		}
		if (tree_warnings > 0)
			fprintf(stderr, "reforge-gen: %llu files of the report "
				"are not in the tree, or differ in type (not "
				"in the overlay?), among them:\n%s\n",
				(unsigned long long)tree_warnings,
				absent.data ? absent.data : "");
		rf_buf_free(&absent);
		warnings += tree_warnings;
	}
	t_meta = rf_now_ns() - t_phase;
	t_phase = rf_now_ns();
	if (!stop_signal && tune.target != NULL) {
		rf_progress_update(&prog, true, "tuning for %s",
				   tune.target->name);
		rc = gen_tune_tree(&tune, r, repo, stage, &err);
		rf_progress_done(&prog);
		if (!quiet && tune.log.len > 0)
			print_log(&tune);
		if (rc < 0) {
			fprintf(stderr, "reforge-gen: tuning for %s: %s\n",
				tune.target->name, err.msg);
			goto out;
		}
		tuned = true;
	}
	if (!stop_signal) {
		size_t logged = tune.log.len;

		t_tune = rf_now_ns() - t_phase;
		t_phase = rf_now_ns();
		rf_progress_update(&prog, true, "making the filesystems");
		if (fsw != NULL) {
			rc = gen_fsw_close(fsw, &err);
			fsw = NULL;
			if (restage(rc, direct, overlay, true)) {
				rf_progress_done(&prog);
				retry = true;
				goto build;
			}
			if (rc < 0)
				rf_error_prefix(&err, "filling the filesystems");
			t_mkfs += rf_now_ns() - t_phase;
		} else {
			rc = gen_disk_plan(r, stage, &dopts, &layout, &err);
			t_plan = rf_now_ns() - t_phase;
		}
		t_phase = rf_now_ns();
		if (rc == 0 && tuned) {
			rc = gen_tune_boot(&tune, r, layout, stage, &err);
			if (rc < 0)
				rf_error_prefix(&err, "tuning for %s",
						tune.target->name);
			if (!quiet && tune.log.len > logged) {
				rf_progress_done(&prog);
				print_log_from(&tune, logged);
			}
		}
		t_tune += rf_now_ns() - t_phase;
		dopts.made = start_remover;
		dopts.made_ctx = &remover;
		if (rc == 0)
			rc = gen_disk_write(layout, &dopts, tmpdir, &err);
		rf_progress_done(&prog);
		if (rc < 0) {
			fprintf(stderr, "reforge-gen: %s\n", err.msg);
			goto out;
		}
		for (size_t i = 0; i < layout->nparts; i++)
			if (layout->parts[i].note != NULL) {
				fprintf(stderr, "reforge-gen: %s\n",
					layout->parts[i].note);
				warnings++;
			}
	}
	if (stop_signal) {
		fprintf(stderr, "reforge-gen: stopped by signal %d\n",
			(int)stop_signal);
		goto out;
	}
	if (json) {
		printf("{\"image\":\"%s\",\"format\":\"%s\",\"size\":%llu,"
		       "\"table\":\"%s\",\"packages\":%llu,\"overlay_entries\":"
		       "%llu,\"warnings\":%llu,\"seconds\":%.3f,",
		       dopts.out, dopts.format,
		       (unsigned long long)layout->size,
		       layout->gpt ? "gpt" : "msdos",
		       (unsigned long long)unpacked,
		       (unsigned long long)ost.entries,
		       (unsigned long long)warnings,
		       (double)(rf_now_ns() - t0) / 1e9);
		printf("\"phases\":{\"unpack\":%.3f,\"overlay\":%.3f,"
		       "\"metadata\":%.3f,\"tuning\":%.3f,\"plan\":%.3f,"
		       "\"mkfs\":%.3f,\"write\":%.3f},",
		       (double)t_unpack / 1e9, (double)t_overlay / 1e9,
		       (double)t_meta / 1e9, (double)t_tune / 1e9,
		       (double)t_plan / 1e9,
		       (double)(layout->mkfs_ns + t_mkfs) / 1e9,
		       (double)layout->write_ns / 1e9);
		printf("\"staging\":");
		json_str(tmpdir);
		printf(",\"direct\":%s,", direct ? "true" : "false");
		if (cache != NULL) {
			struct gen_cache_stats cs;

			gen_cache_stats(cache, &cs);
			printf("\"cache\":{\"hits\":%llu,\"misses\":%llu,"
			       "\"stored\":%llu,\"damaged\":%llu},",
			       (unsigned long long)cs.hits,
			       (unsigned long long)cs.misses,
			       (unsigned long long)cs.stored,
			       (unsigned long long)cs.damaged);
		}
		printf("\"target\":");
		json_str(tune.target ? tune.target->name : "none");
		printf(",\"tuning\":[");
		for (size_t i = 0; i < tune.nchanges; i++) {
			printf("%s{\"path\":", i ? "," : "");
			json_str(tune.changes[i].path);
			printf(",\"why\":");
			json_str(tune.changes[i].why);
			printf("}");
		}
		printf("],\"partitions\":[");
		for (size_t i = 0; i < layout->nparts; i++) {
			const struct gen_part *p = &layout->parts[i];

			printf("%s{\"number\":%zu,\"start\":%llu,\"size\":%llu,"
			       "\"type\":\"%s\",\"mountpoint\":%s%s%s,"
			       "\"uuid\":\"%s\",\"partuuid\":\"%s\"",
			       i ? "," : "", i + 1,
			       (unsigned long long)p->start,
			       (unsigned long long)p->size,
			       p->fstype ? p->fstype : "bios-boot",
			       p->mountpoint ? "\"" : "",
			       p->mountpoint ? p->mountpoint : "null",
			       p->mountpoint ? "\"" : "", p->uuid,
			       layout->gpt ? p->partuuid : "");
			if (p->source_type != NULL) {
				printf(",\"source_type\":");
				json_str(p->source_type);
			}
			if (p->note != NULL) {
				printf(",\"note\":");
				json_str(p->note);
			}
			printf("}");
		}
		printf("]}\n");
	} else if (!quiet) {
		printf("reforge-gen: %s (%s, %llu MiB, %s) from %llu packages "
		       "and %llu overlay entries in %.1f s\n",
		       dopts.out, dopts.format,
		       (unsigned long long)(layout->size >> 20),
		       layout->gpt ? "gpt" : "msdos",
		       (unsigned long long)unpacked,
		       (unsigned long long)ost.entries,
		       (double)(rf_now_ns() - t0) / 1e9);
		for (size_t i = 0; i < layout->nparts; i++) {
			const struct gen_part *p = &layout->parts[i];

			printf("  %zu  %-10s %-10s %8llu MiB  UUID=%s\n", i + 1,
			       p->fstype ? p->fstype : "bios-boot",
			       p->mountpoint ? p->mountpoint : "-",
			       (unsigned long long)(p->size >> 20), p->uuid);
		}
	}
	ret = warnings ? EXIT_WARN : 0;
out:
	if (remover.started)
		pthread_join(remover.tid, NULL);
	if (rootfd >= 0)
		close(rootfd);
	if (stage[0] != '\0') {
		char *slash = strrchr(stage, '/');
		int dfd = open(tmpdir, O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (dfd >= 0 && slash != NULL)
			gen_remove_tree(dfd, slash + 1);
		if (dfd >= 0)
			close(dfd);
	}
	if (lockfd >= 0)
		close(lockfd);
	gen_fsw_free(fsw);
	gen_layout_free(layout);
	gen_tune_release(&tune);
	gen_report_free(r);
	gen_repo_free(repo);
	gen_cache_close(cache);
	return ret;
}
