/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tuning for the target and the boot loader: see boot.h.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "boot.h"
#include "extract.h"
#include "rootfs.h"

#define FILE_MAX (16u << 20)
#define CACHE_DIR "var/cache/reforge-tune"
#define SECTOR 512u

/* Packages dpkg says are installed, with what they provide. */
struct installed {
	char **names, **provides, **versions;
	size_t n;
	bool have_dpkg;
	char *arch; /* dpkg's native architecture, as the packages say */
};

static void record(struct gen_tune *t, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void note(struct gen_tune *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void record(struct gen_tune *t, const char *path, const char *fmt, ...)
{
	struct rf_buf why = RF_BUF_INIT, p = RF_BUF_INIT;
	va_list ap;

	for (size_t i = 0; i < t->nchanges; i++)
		if (strcmp(t->changes[i].path + 1,
			   path[0] == '/' ? path + 1 : path) == 0)
			return; /* the first reason stands */
	va_start(ap, fmt);
	{
		char tmp[1024];

		vsnprintf(tmp, sizeof(tmp), fmt, ap);
		rf_buf_addstr(&why, tmp);
	}
	va_end(ap);
	rf_buf_printf(&p, "%s%s", path[0] == '/' ? "" : "/", path);
	t->changes = rf_xrealloc(t->changes,
				 (t->nchanges + 1) * sizeof(*t->changes));
	t->changes[t->nchanges].path = rf_buf_detach(&p);
	t->changes[t->nchanges].why = rf_buf_detach(&why);
	t->nchanges++;
}

static void note(struct gen_tune *t, const char *fmt, ...)
{
	char tmp[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	rf_buf_printf(&t->log, "%s\n", tmp);
}

void gen_tune_init(struct gen_tune *t, const struct gen_target *target)
{
	memset(t, 0, sizeof(*t));
	t->target = target;
	t->timeout = 900;
	t->log = (struct rf_buf)RF_BUF_INIT;
}

static void free_strv(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void gen_tune_release(struct gen_tune *t)
{
	if (t == NULL)
		return;
	free_strv(t->kernels, t->nkernels);
	free_strv(t->kernel_files, t->nkernels);
	free_strv(t->initrd_files, t->nkernels);
	for (size_t i = 0; i < t->nchanges; i++) {
		free(t->changes[i].path);
		free(t->changes[i].why);
	}
	free(t->changes);
	free(t->os_name);
	rf_buf_free(&t->log);
}

/* --- files inside the staged root, resolved inside it --- */

static bool root_exists(int rootfd, const char *path)
{
	int fd = rf_root_open(rootfd, path, O_PATH);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* 0 with the file in out, -ENOENT when absent, or an error. */
static int root_read(int rootfd, const char *path, struct rf_buf *out,
		     struct rf_error *err)
{
	rf_buf_reset(out);
	return rf_root_read_file(rootfd, path, FILE_MAX, out, err);
}

static int root_write(int rootfd, const char *path, const void *data,
		      size_t len, mode_t mode, struct rf_error *err)
{
	const char *base;
	int pfd = gen_open_parent(rootfd, path, &base, true), fd = -1;
	int rc = 0;

	if (pfd < 0)
		return rf_error_errno(err, pfd, "cannot reach %s in the tree",
				      path);
	/* replace, never write through, whatever is there */
	if (unlinkat(pfd, base, 0) < 0 && errno != ENOENT) {
		rc = rf_error_errno(err, -errno, "cannot replace %s", path);
		goto out;
	}
	fd = openat(pfd, base,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = rf_error_errno(err, -errno, "cannot write %s", path);
		goto out;
	}
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, (const char *)data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = rf_error_errno(err, n < 0 ? -errno : -EIO,
					    "cannot write %s", path);
			goto out;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, mode) < 0)
		rc = rf_error_errno(err, -errno, "chmod %s", path);
out:
	if (fd >= 0)
		close(fd);
	close(pfd);
	return rc;
}

static int root_unlink(int rootfd, const char *path)
{
	const char *base;
	int pfd = gen_open_parent(rootfd, path, &base, false), rc = 0;

	if (pfd < 0)
		return pfd;
	if (unlinkat(pfd, base, 0) < 0)
		rc = -errno;
	close(pfd);
	return rc;
}

static int root_symlink(int rootfd, const char *target, const char *path,
			struct rf_error *err)
{
	const char *base;
	int pfd = gen_open_parent(rootfd, path, &base, true), rc = 0;

	if (pfd < 0)
		return rf_error_errno(err, pfd, "cannot reach %s", path);
	unlinkat(pfd, base, 0);
	if (symlinkat(target, pfd, base) < 0)
		rc = rf_error_errno(err, -errno, "cannot link %s", path);
	close(pfd);
	return rc;
}

/* --- running tools --- */

/* Wait for pid at most timeout seconds; its group is killed after. */
static int wait_bounded(pid_t pid, unsigned timeout, int *status)
{
	struct timespec nap = {0, 50 * 1000 * 1000};
	unsigned long waited = 0;
	pid_t got;

	for (;;) {
		got = waitpid(pid, status, WNOHANG);
		if (got == pid)
			break;
		if (got < 0 && errno != EINTR)
			return -errno;
		if (waited / 20 >= timeout) {
			kill(-pid, SIGKILL);
			waitpid(pid, status, 0);
			return -ETIMEDOUT;
		}
		nanosleep(&nap, NULL);
		waited++;
	}
	kill(-pid, SIGKILL); /* whatever it left running */
	return 0;
}

/* A directory of the staged root to mount on: made if absent, refused if
 * it is anything but a directory (a symlink would aim the mount
 * elsewhere). */
static int mount_point(const char *root, const char *name, char *out,
		       size_t outlen)
{
	struct stat st;

	snprintf(out, outlen, "%s/%s", root, name);
	if (lstat(out, &st) < 0) {
		if (errno != ENOENT || mkdir(out, 0755) < 0)
			return -1;
		return 0;
	}
	return S_ISDIR(st.st_mode) ? 0 : -1;
}

/* In the child, in its own mount namespace: the chroot's mounts. */
static void child_mounts(const char *root)
{
	static const struct {
		const char *name;
		mode_t mode;
		unsigned maj, min;
	} nodes[] = {
		{"null", 0666, 1, 3},	 {"zero", 0666, 1, 5},
		{"full", 0666, 1, 7},	 {"random", 0666, 1, 8},
		{"urandom", 0666, 1, 9}, {"tty", 0666, 5, 0},
	};
	char p[4200];

	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		_exit(125);
	if (mount_point(root, "proc", p, sizeof(p)) < 0 ||
	    mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) <
		    0)
		_exit(125);
	if (mount_point(root, "sys", p, sizeof(p)) < 0 ||
	    mount("sysfs", p, "sysfs",
		  MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		_exit(125);
	if (mount_point(root, "run", p, sizeof(p)) < 0 ||
	    mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
		_exit(125);
	if (mount_point(root, "dev", p, sizeof(p)) < 0 ||
	    mount("tmpfs", p, "tmpfs", MS_NOSUID, "mode=0755") < 0)
		_exit(125);
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		snprintf(p, sizeof(p), "%s/dev/%s", root, nodes[i].name);
		if (mknod(p, S_IFCHR | nodes[i].mode,
			  makedev(nodes[i].maj, nodes[i].min)) < 0)
			_exit(125);
		chmod(p, nodes[i].mode);
	}
	snprintf(p, sizeof(p), "%s/dev/fd", root);
	symlink("/proc/self/fd", p);
	snprintf(p, sizeof(p), "%s/dev/pts", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/dev/shm", root);
	mkdir(p, 01777);
}

/*
 * Run argv inside the staged root (path), as described in boot.h; its
 * output goes into the message when it fails, and into out (when not
 * NULL) when it succeeds.
 */
static int chroot_run(const struct gen_tune *t, const char *root,
		      char *const argv[], struct rf_buf *out,
		      struct rf_error *err)
{
	int log = open(t->tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	pid_t pid;
	int status = 0, rc = 0;

	if (log < 0)
		return rf_error_errno(err, -errno,
				      "cannot make a temporary "
				      "file in %s",
				      t->tmpdir);
	pid = fork();
	if (pid < 0) {
		rc = rf_error_errno(err, -errno, "fork");
		goto out;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		dup2(nul, 0);
		dup2(log, 1);
		dup2(log, 2);
		child_mounts(root);
		if (chroot(root) < 0 || chdir("/") < 0)
			_exit(125);
		clearenv();
		setenv("PATH",
		       "/usr/local/sbin:/usr/local/bin:/usr/sbin:"
		       "/usr/bin:/sbin:/bin",
		       1);
		setenv("LC_ALL", "C", 1);
		setenv("HOME", "/root", 1);
		setenv("DEBIAN_FRONTEND", "noninteractive", 1);
		setenv("DEBCONF_NONINTERACTIVE_SEEN", "true", 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	rc = wait_bounded(pid, t->timeout, &status);
	if (rc == -ETIMEDOUT) {
		rc = rf_error_set(err, rc,
				  "%s in the tree took more than %u "
				  "s and was killed",
				  argv[0], t->timeout);
		goto out;
	}
	if (rc < 0) {
		rc = rf_error_errno(err, rc, "waitpid");
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char msg[700] = "";
		off_t end = lseek(log, 0, SEEK_END);
		off_t from = end > 600 ? end - 600 : 0;
		ssize_t n = pread(log, msg, sizeof(msg) - 1, from);

		msg[n > 0 ? n : 0] = '\0';
		rc = rf_error_set(err, -EIO,
				  "%s in the tree failed (%s %d)%s%s", argv[0],
				  !WIFEXITED(status)	       ? "signal"
				  : WEXITSTATUS(status) == 125 ? "setup, exit"
							       : "exit",
				  WIFEXITED(status) ? WEXITSTATUS(status)
						    : WTERMSIG(status),
				  msg[0] ? ": ..." : "", msg);
		goto out;
	}
	if (out != NULL) {
		char buf[4096];
		ssize_t n;
		off_t pos = 0;

		while ((n = pread(log, buf, sizeof(buf), pos)) > 0) {
			rf_buf_add(out, buf, (size_t)n);
			pos += n;
		}
	}
out:
	close(log);
	return rc;
}

/* --- the package database --- */

static void installed_free(struct installed *in)
{
	free_strv(in->names, in->n);
	free_strv(in->provides, in->n);
	free_strv(in->versions, in->n);
	free(in->arch);
	memset(in, 0, sizeof(*in));
}

static char *stanza_field(const char *st, const char *end, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = st; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - p) > n && strncmp(p, name, n) == 0 &&
		    p[n] == ':') {
			const char *v = p + n + 1;

			while (v < eol && *v == ' ')
				v++;
			return rf_xstrndup(v, (size_t)(eol - v));
		}
		p = eol + 1;
	}
	return NULL;
}

static int installed_load(int rootfd, struct installed *in,
			  struct rf_error *err)
{
	struct rf_buf b = RF_BUF_INIT;
	int rc = root_read(rootfd, "var/lib/dpkg/status", &b, err);

	memset(in, 0, sizeof(*in));
	if (rc == -ENOENT) {
		rc = 0; /* not a dpkg system */
		goto out;
	}
	if (rc < 0)
		goto out;
	in->have_dpkg = true;
	for (const char *p = b.data ? b.data : "", *end = p + b.len; p < end;) {
		const char *stop = strstr(p, "\n\n");
		const char *se = stop ? stop + 1 : end;
		char *name = stanza_field(p, se, "Package");
		char *status = stanza_field(p, se, "Status");
		char *arch = stanza_field(p, se, "Architecture");

		if (name != NULL && status != NULL && strlen(status) > 10 &&
		    strcmp(status + strlen(status) - 10, " installed") == 0) {
			in->names = rf_xrealloc(in->names,
						(in->n + 1) * sizeof(char *));
			in->provides = rf_xrealloc(
				in->provides, (in->n + 1) * sizeof(char *));
			in->versions = rf_xrealloc(
				in->versions, (in->n + 1) * sizeof(char *));
			in->names[in->n] = name;
			in->provides[in->n] = stanza_field(p, se, "Provides");
			in->versions[in->n] = stanza_field(p, se, "Version");
			in->n++;
			name = NULL;
			if (in->arch == NULL && arch != NULL &&
			    strcmp(arch, "all") != 0) {
				in->arch = arch;
				arch = NULL;
			}
		}
		free(name);
		free(status);
		free(arch);
		p = stop ? stop + 2 : end;
	}
out:
	rf_buf_free(&b);
	return rc;
}

static bool is_installed(const struct installed *in, const char *name,
			 bool or_provided)
{
	for (size_t i = 0; i < in->n; i++) {
		if (strcmp(in->names[i], name) == 0)
			return true;
		if (or_provided && in->provides[i] != NULL &&
		    gen_deps_mention(in->provides[i], name))
			return true;
	}
	return false;
}

/* The package name of one alternative of a Depends item, into out. */
static const char *dep_name(const char *p, const char *end, char *out,
			    size_t outlen)
{
	size_t n = 0;

	while (p < end && (*p == ' ' || *p == '\n' || *p == '\t'))
		p++;
	while (p < end && *p != ' ' && *p != '(' && *p != ':' && *p != '[' &&
	       *p != '\n' && n + 1 < outlen)
		out[n++] = *p++;
	out[n] = '\0';
	return out;
}

/* The version of the package called name that dpkg has installed, or
 * NULL (the string belongs to in). */
static const char *installed_version(const struct installed *in,
				     const char *name)
{
	for (size_t i = 0; i < in->n; i++)
		if (strcmp(in->names[i], name) == 0)
			return in->versions[i] ? in->versions[i] : "";
	return NULL;
}

/* The version constraint of one alternative, "name (op version)", into
 * op and ver; false when it has none. */
static bool dep_version(const char *a, const char *aend, char op[3], char *ver,
			size_t verlen)
{
	const char *p = memchr(a, '(', (size_t)(aend - a));
	size_t n = 0, m = 0;

	if (p == NULL)
		return false;
	for (p++; p < aend && *p == ' '; p++)
		;
	while (p < aend && n < 2 && (*p == '<' || *p == '>' || *p == '='))
		op[n++] = *p++;
	op[n] = '\0';
	while (p < aend && (*p == ' ' || *p == '\n' || *p == '\t'))
		p++;
	while (p < aend && *p != ')' && *p != ' ' && m + 1 < verlen)
		ver[m++] = *p++;
	ver[m] = '\0';
	return n > 0 && m > 0;
}

/* Whether version have meets "op want" (deb-control(5); the obsolete
 * "<" and ">" mean "<=" and ">="). */
static bool version_meets(const char *have, const char *op, const char *want)
{
	int c = gen_deb_vercmp(have, want);

	if (strcmp(op, "<<") == 0)
		return c < 0;
	if (strcmp(op, "<=") == 0 || strcmp(op, "<") == 0)
		return c <= 0;
	if (strcmp(op, "=") == 0)
		return c == 0;
	if (strcmp(op, ">=") == 0 || strcmp(op, ">") == 0)
		return c >= 0;
	if (strcmp(op, ">>") == 0)
		return c > 0;
	return false;
}

struct selection {
	struct gen_repo_entry *e;
	size_t n;
};

static bool selected(const struct selection *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->e[i].name, name) == 0 ||
		    (s->e[i].provides != NULL &&
		     gen_deps_mention(s->e[i].provides, name)))
			return true;
	return false;
}

/*
 * Whether one alternative of a Depends item, [a, aend), is met by what is
 * installed or selected: by name in a version that meets its constraint,
 * or by what a package provides when it has no constraint (dpkg's rule
 * for a Provides without a version).
 */
static bool alternative_met(const struct installed *in,
			    const struct selection *s, const char *a,
			    const char *aend)
{
	char dn[256], op[3], ver[128];
	bool versioned = dep_version(a, aend, op, ver, sizeof(ver));
	const char *have;

	dep_name(a, aend, dn, sizeof(dn));
	if (dn[0] == '\0')
		return true;
	have = installed_version(in, dn);
	if (have != NULL && (!versioned || version_meets(have, op, ver)))
		return true;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->e[i].name, dn) == 0 &&
		    (!versioned || version_meets(s->e[i].version, op, ver)))
			return true;
	return !versioned && (is_installed(in, dn, true) || selected(s, dn));
}

/*
 * Add name and what it needs (and the tree lacks) to s, from repo; an
 * alternative whose version constraint the installed package or the
 * repository's cannot meet is passed over for the next. -ENOENT with
 * the missing package in err when one is in no repository.
 */
static int resolve(const struct gen_repo *repo, const struct installed *in,
		   const char *name, struct selection *s, unsigned depth,
		   struct rf_error *err)
{
	struct gen_repo_entry e;

	if (is_installed(in, name, true) || selected(s, name))
		return 0;
	if (depth > 64)
		return rf_error_set(err, -ELOOP,
				    "dependencies of %s go too "
				    "deep",
				    name);
	if (gen_repo_lookup(repo, name, in->arch, &e) < 0)
		return rf_error_set(err, -ENOENT, "%s is in no repository",
				    name);
	s->e = rf_xrealloc(s->e, (s->n + 1) * sizeof(*s->e));
	s->e[s->n++] = e;
	if (e.depends == NULL)
		return 0;
	for (const char *item = e.depends; *item != '\0';) {
		const char *iend = strchr(item, ',');
		bool ok = false;
		int rc = -ENOENT;

		if (iend == NULL)
			iend = item + strlen(item);
		/* satisfied already by any alternative? */
		for (const char *a = item; a < iend && !ok;) {
			const char *aend = memchr(a, '|', (size_t)(iend - a));

			if (aend == NULL)
				aend = iend;
			ok = alternative_met(in, s, a, aend);
			a = aend + (aend < iend);
		}
		for (const char *a = item; a < iend && !ok;) {
			const char *aend = memchr(a, '|', (size_t)(iend - a));
			char dn[256], op[3], ver[128];
			struct gen_repo_entry d;

			if (aend == NULL)
				aend = iend;
			dep_name(a, aend, dn, sizeof(dn));
			/* installed in a version that does not do, or the
			 * repository's does not: dpkg would refuse it */
			if (installed_version(in, dn) != NULL ||
			    (dep_version(a, aend, op, ver, sizeof(ver)) &&
			     gen_repo_lookup(repo, dn, in->arch, &d) == 0 &&
			     strcmp(d.name, dn) == 0 &&
			     !version_meets(d.version, op, ver))) {
				rc = rf_error_set(err, -ENOENT,
						  "%s needs %.*s, which no "
						  "repository has",
						  e.name, (int)(aend - a), a);
				a = aend + (aend < iend);
				continue;
			}
			rc = resolve(repo, in, dn, s, depth + 1, err);
			ok = rc == 0;
			a = aend + (aend < iend);
		}
		if (!ok)
			return rc < 0 ? rc : -ENOENT;
		item = *iend ? iend + 1 : iend;
	}
	return 0;
}

static int copy_into_root(int rootfd, const char *from, const char *to,
			  struct rf_error *err)
{
	struct rf_buf b = RF_BUF_INIT;
	int fd = open(from, O_RDONLY | O_CLOEXEC), rc = 0;
	char buf[65536];
	ssize_t n;

	if (fd < 0)
		return rf_error_errno(err, -errno, "cannot open %s", from);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		rf_buf_add(&b, buf, (size_t)n);
	if (n < 0)
		rc = rf_error_errno(err, -errno, "cannot read %s", from);
	else
		rc = root_write(rootfd, to, b.data ? b.data : "", b.len, 0644,
				err);
	close(fd);
	rf_buf_free(&b);
	return rc;
}

/* Whether a Depends list names one of the items of a Provides list. */
static bool provides_needed(const char *depends, const char *provides)
{
	for (const char *p = provides; *p != '\0';) {
		char name[256];
		size_t len = strcspn(p, ",");

		dep_name(p, p + len, name, sizeof(name));
		if (name[0] != '\0' && gen_deps_mention(depends, name))
			return true;
		p += len;
		p += *p != '\0';
	}
	return false;
}

/* Whether package e needs package d (by name or what d provides). */
static bool needs(const struct gen_repo_entry *e,
		  const struct gen_repo_entry *d)
{
	return e->depends != NULL &&
	       (gen_deps_mention(e->depends, d->name) ||
		(d->provides != NULL &&
		 provides_needed(e->depends, d->provides)));
}

/* The selection in an order where what a package needs comes before it
 * (a cycle is cut where it closes): order[] gets the indexes. */
static void deps_first(const struct selection *s, size_t i, bool *seen,
		       size_t *order, size_t *n)
{
	seen[i] = true;
	for (size_t j = 0; j < s->n; j++)
		if (!seen[j] && j != i && needs(&s->e[i], &s->e[j]))
			deps_first(s, j, seen, order, n);
	order[(*n)++] = i;
}

/*
 * Install the selection's package files (debs[i] for s->e[i], paths in
 * the tree) by the tree's dpkg. One dpkg -i of the whole set is not
 * enough: dpkg unpacks a package only when its Pre-Depends are configured,
 * and does not configure one of its own set to get there (apt runs dpkg
 * several times for this). So: unpack in an order where needs come first,
 * in runs that need nothing of the run itself; configure what is pending
 * between runs (what cannot be configured yet waits for the next), and
 * everything at the end, which must succeed.
 */
static int dpkg_install(const struct gen_tune *t, const char *root,
			const struct selection *s, char *const *debs,
			struct rf_error *err)
{
	char *configure[] = {"dpkg", "--force-confold", "--configure",
			     "--pending", NULL};
	bool *seen = rf_xcalloc(s->n + 1, sizeof(bool));
	size_t *order = rf_xcalloc(s->n + 1, sizeof(size_t)), n = 0;
	char **argv = rf_xcalloc(s->n + 4, sizeof(char *));
	size_t run = 0, start = 0;
	int rc = 0;

	for (size_t i = 0; i < s->n; i++)
		if (!seen[i])
			deps_first(s, i, seen, order, &n);
	argv[0] = "dpkg";
	argv[1] = "--force-confold";
	argv[2] = "--unpack";
	for (size_t k = 0; k <= n && rc == 0; k++) {
		bool flush = k == n;

		for (size_t r = start; r < k && !flush; r++)
			flush = needs(&s->e[order[k]], &s->e[order[r]]);
		if (flush && run > 0) {
			struct rf_error ignored = {0};

			argv[3 + run] = NULL;
			rc = chroot_run(t, root, argv, NULL, err);
			if (rc == 0 && k < n)
				chroot_run(t, root, configure, NULL, &ignored);
			run = 0;
			start = k;
		}
		if (k < n)
			argv[3 + run++] = debs[order[k]];
	}
	if (rc == 0)
		rc = chroot_run(t, root, configure, NULL, err);
	free(seen);
	free(order);
	free(argv);
	return rc;
}

/*
 * Install name (one of '|' alternatives) with what it needs by the
 * tree's own dpkg. 1 when installed, 0 when it or something it needs is
 * in no repository (why in err), negative when dpkg failed (the set is
 * purged again, err says why).
 */
static int install_pkgs(struct gen_tune *t, int rootfd, const char *root,
			const struct gen_repo *repo, struct installed *in,
			const char *name, const char *why, struct rf_error *err)
{
	struct selection s = {0};
	struct rf_buf argbuf = RF_BUF_INIT;
	char **argv = NULL;
	int rc = 0;

	rc = resolve(repo, in, name, &s, 0, err);
	if (rc == -ENOENT) {
		rc = 0;
		goto out;
	}
	if (rc < 0 || s.n == 0)
		goto out;
	argv = rf_xcalloc(s.n + 6, sizeof(char *));
	argv[0] = "dpkg";
	argv[1] = "--force-confold";
	argv[2] = "-i";
	for (size_t i = 0; i < s.n; i++) {
		struct rf_buf to = RF_BUF_INIT;

		rf_buf_printf(&to, CACHE_DIR "/%s.deb", s.e[i].name);
		rc = copy_into_root(rootfd, s.e[i].path, to.data, err);
		rf_buf_reset(&to);
		rf_buf_printf(&to, "/" CACHE_DIR "/%s.deb", s.e[i].name);
		argv[3 + i] = rf_buf_detach(&to);
		if (rc < 0)
			goto out;
	}
	rc = dpkg_install(t, root, &s, argv + 3, err);
	if (rc < 0) {
		struct rf_error ignored = {0};
		char **purge = rf_xcalloc(s.n + 4, sizeof(char *));

		purge[0] = "dpkg";
		purge[1] = "--purge";
		purge[2] = "--force-depends";
		for (size_t i = 0; i < s.n; i++)
			purge[3 + i] = (char *)s.e[i].name;
		chroot_run(t, root, purge, NULL, &ignored);
		free(purge);
		goto out;
	}
	for (size_t i = 0; i < s.n; i++) {
		struct rf_buf p = RF_BUF_INIT;

		rf_buf_printf(&p, "var/lib/dpkg/info/%s.list", s.e[i].name);
		record(t, p.data,
		       "installed %s %s (%s); its files are listed "
		       "here",
		       s.e[i].name, s.e[i].version,
		       i == 0 ? why : "needed by it");
		rf_buf_free(&p);
		in->names =
			rf_xrealloc(in->names, (in->n + 1) * sizeof(char *));
		in->provides =
			rf_xrealloc(in->provides, (in->n + 1) * sizeof(char *));
		in->versions =
			rf_xrealloc(in->versions, (in->n + 1) * sizeof(char *));
		in->names[in->n] = rf_xstrdup(s.e[i].name);
		in->provides[in->n] =
			s.e[i].provides ? rf_xstrdup(s.e[i].provides) : NULL;
		in->versions[in->n] = rf_xstrdup(s.e[i].version);
		in->n++;
		rf_buf_printf(&argbuf, "%s%s %s", i ? ", " : "", s.e[i].name,
			      s.e[i].version);
	}
	record(t, "var/lib/dpkg/status",
	       "packages installed or removed by "
	       "tuning");
	note(t, "added: %s (%s)", argbuf.data, why);
	rc = 1;
out:
	if (argv != NULL)
		for (size_t i = 0; i < s.n; i++)
			free(argv[3 + i]);
	free(argv);
	free(s.e);
	rf_buf_free(&argbuf);
	return rc;
}

/* --- kernels --- */

static int verscmp_desc(const void *a, const void *b)
{
	return -strverscmp(*(char *const *)a, *(char *const *)b);
}

static void find_kernels(struct gen_tune *t, int rootfd)
{
	int dfd = rf_root_open(rootfd, "boot", O_RDONLY | O_DIRECTORY);
	DIR *d;
	struct dirent *de;

	free_strv(t->kernels, t->nkernels);
	free_strv(t->kernel_files, t->nkernels);
	free_strv(t->initrd_files, t->nkernels);
	t->kernels = t->kernel_files = t->initrd_files = NULL;
	t->nkernels = 0;
	if (dfd < 0 || (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (strncmp(de->d_name, "vmlinuz-", 8) != 0 &&
		    strncmp(de->d_name, "vmlinux-", 8) != 0)
			continue;
		if (fstatat(dfd, de->d_name, &st, 0) < 0 ||
		    !S_ISREG(st.st_mode) || strlen(de->d_name) > 200)
			continue;
		t->kernels = rf_xrealloc(t->kernels,
					 (t->nkernels + 1) * sizeof(char *));
		t->kernels[t->nkernels++] = rf_xstrdup(de->d_name + 8);
	}
	closedir(d);
	if (t->nkernels > 1)
		qsort(t->kernels, t->nkernels, sizeof(char *), verscmp_desc);
}

/* After the initramfs is made: the file names under /boot. */
static void find_boot_files(struct gen_tune *t, int rootfd)
{
	free_strv(t->kernel_files, t->nkernels);
	free_strv(t->initrd_files, t->nkernels);
	t->kernel_files = rf_xcalloc(t->nkernels + 1, sizeof(char *));
	t->initrd_files = rf_xcalloc(t->nkernels + 1, sizeof(char *));
	for (size_t i = 0; i < t->nkernels; i++) {
		static const char *const initrd[][2] = {
			{"initrd.img-", ""},
			{"initramfs-", ".img"},
			{"initrd-", ""},
			{"initrd-", ".img"},
		};
		struct rf_buf b = RF_BUF_INIT;

		rf_buf_printf(&b, "vmlinuz-%s", t->kernels[i]);
		t->kernel_files[i] = rf_buf_detach(&b);
		for (size_t j = 0; j < sizeof(initrd) / sizeof(*initrd); j++) {
			char name[300], path[310];

			snprintf(name, sizeof(name), "%s%s%s", initrd[j][0],
				 t->kernels[i], initrd[j][1]);
			snprintf(path, sizeof(path), "boot/%s", name);
			if (root_exists(rootfd, path)) {
				t->initrd_files[i] = rf_xstrdup(name);
				break;
			}
		}
	}
}

/* Whether kernel version has module (a '-' and '_' are the same). */
static bool kernel_has(int rootfd, const char *version, const char *module,
		       struct rf_buf *scratch)
{
	static const char *const lists[] = {"modules.dep", "modules.builtin"};
	char a[128], b[128];
	struct rf_error ignored = {0};

	snprintf(a, sizeof(a), "/%s.ko", module);
	snprintf(b, sizeof(b), "/%s.ko", module);
	for (char *c = a; *c; c++)
		if (*c == '_')
			*c = '-';
	for (char *c = b; *c; c++)
		if (*c == '-')
			*c = '_';
	for (size_t i = 0; i < 2; i++) {
		char path[400];

		snprintf(path, sizeof(path), "lib/modules/%s/%s", version,
			 lists[i]);
		if (root_read(rootfd, path, scratch, &ignored) < 0 ||
		    scratch->data == NULL)
			continue;
		if (strstr(scratch->data, a) || strstr(scratch->data, b))
			return true;
	}
	return false;
}

/* --- steps --- */

static int remove_tools(struct gen_tune *t, const struct gen_report *r,
			int rootfd, const char *root, struct installed *in,
			struct rf_error *err)
{
	char *argv[64] = {"dpkg", "--purge", "--force-depends",
			  "--force-remove-essential"};
	int n = 4, rc = 0;

	for (size_t i = 0; t->target->remove[i] != NULL && n < 63; i++)
		if (is_installed(in, t->target->remove[i], false))
			argv[n++] = (char *)t->target->remove[i];
	if (n == 4)
		return 0;
	rc = chroot_run(t, root, argv, NULL, err);
	if (rc < 0) {
		rf_error_prefix(err, "cannot remove the other platforms' "
				     "guest tools");
		return rc;
	}
	for (int k = 4; k < n; k++) {
		size_t files = 0;

		for (size_t i = 0; i < r->nfiles; i++) {
			const struct gen_file *f = &r->files[i];

			if (f->package == NULL || f->type == 0 ||
			    S_ISDIR(f->type) ||
			    strcmp(f->package, argv[k]) != 0)
				continue;
			record(t, f->path,
			       "removed with %s (guest tools that "
			       "do not belong on %s)",
			       argv[k], t->target->name);
			files++;
		}
		for (size_t i = 0; i < in->n; i++)
			if (strcmp(in->names[i], argv[k]) == 0)
				in->names[i][0] = '\0';
		note(t,
		     "removed: %s (%zu files; guest tools that do not "
		     "belong on %s)",
		     argv[k], files, t->target->name);
	}
	record(t, "var/lib/dpkg/status",
	       "packages installed or removed by "
	       "tuning");
	(void)rootfd;
	return 0;
}

static int install_tools(struct gen_tune *t, int rootfd, const char *root,
			 const struct gen_repo *repo, struct installed *in,
			 struct rf_error *err)
{
	int rc = 0;

	for (size_t i = 0; t->target->install[i] != NULL; i++) {
		const char *want = t->target->install[i];
		struct rf_error why = {0};

		if (is_installed(in, want, false)) {
			note(t, "kept: %s (already installed)", want);
			continue;
		}
		rc = install_pkgs(t, rootfd, root, repo, in, want,
				  "the target's guest tools", &why);
		if (rc == 0)
			note(t, "not added: %s (%s)", want, why.msg);
		if (rc < 0) {
			/* a tool that does not install is not fatal: the
			 * image boots without it */
			note(t, "not added: %s (%s)", want, why.msg);
			rc = 0;
		}
	}
	(void)err;
	return rc;
}

/* --- the kernel for a source without one --- */

/* dpkg's weight of one character of a non-digit part: '~' sorts before
 * anything, even the end; letters before the other characters. */
static int deb_order(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return 0;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return c;
	if (c == '~')
		return -1;
	if (c != '\0')
		return c + 256;
	return 0;
}

static bool deb_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Compare the upstream or revision parts [a, ae) and [b, be), as
 * deb-version(7) says: alternately a non-digit run, by deb_order(),
 * and a digit run, as a number (of any length). */
static int deb_part_cmp(const char *a, const char *ae, const char *b,
			const char *be)
{
	while (a < ae || b < be) {
		int first = 0;

		while ((a < ae && !deb_digit((unsigned char)*a)) ||
		       (b < be && !deb_digit((unsigned char)*b))) {
			int ac = a < ae ? deb_order((unsigned char)*a) : 0;
			int bc = b < be ? deb_order((unsigned char)*b) : 0;

			if (ac != bc)
				return ac < bc ? -1 : 1;
			a++;
			b++;
		}
		while (a < ae && *a == '0')
			a++;
		while (b < be && *b == '0')
			b++;
		while (a < ae && b < be && deb_digit((unsigned char)*a) &&
		       deb_digit((unsigned char)*b)) {
			if (first == 0 && *a != *b)
				first = *a < *b ? -1 : 1;
			a++;
			b++;
		}
		if (a < ae && deb_digit((unsigned char)*a))
			return 1;
		if (b < be && deb_digit((unsigned char)*b))
			return -1;
		if (first != 0)
			return first;
	}
	return 0;
}

/* A version's epoch (0 when none: digits then ':'), and where the rest
 * begins; an epoch too large to be real counts as the largest. */
static unsigned long deb_epoch(const char *v, const char **rest)
{
	const char *colon = strchr(v, ':');
	unsigned long e = 0;

	*rest = v;
	if (colon == NULL)
		return 0;
	for (const char *p = v; p < colon; p++) {
		if (!deb_digit((unsigned char)*p))
			return 0; /* not an epoch: dpkg would refuse it */
		e = e > 100000000ul ? e : e * 10 + (unsigned long)(*p - '0');
	}
	*rest = colon + 1;
	return e;
}

int gen_deb_vercmp(const char *a, const char *b)
{
	const char *ua, *ub, *ra, *rb;
	unsigned long ea = deb_epoch(a, &ua), eb = deb_epoch(b, &ub);
	int c;

	if (ea != eb)
		return ea < eb ? -1 : 1;
	ra = strrchr(ua, '-');
	rb = strrchr(ub, '-');
	c = deb_part_cmp(ua, ra ? ra : ua + strlen(ua), ub,
			 rb ? rb : ub + strlen(ub));
	if (c != 0)
		return c;
	ra = ra ? ra + 1 : "";
	rb = rb ? rb + 1 : "";
	return deb_part_cmp(ra, ra + strlen(ra), rb, rb + strlen(rb));
}

/* The Debian release a version is tagged for: "+deb12u1", "~deb12u1",
 * "~bpo12+1" (backport: *bpo true), or 0 when untagged. */
static unsigned deb_release_tag(const char *v, bool *bpo)
{
	static const char *const tags[] = {"~bpo", "+deb", "~deb", NULL};

	*bpo = false;
	for (size_t i = 0; tags[i] != NULL; i++) {
		const char *p = strstr(v, tags[i]);
		unsigned n = 0;

		if (p == NULL || !deb_digit((unsigned char)p[4]))
			continue;
		for (p += 4; deb_digit((unsigned char)*p) && n < 10000; p++)
			n = n * 10 + (unsigned)(*p - '0');
		*bpo = i == 0;
		return n;
	}
	return 0;
}

/* Packages built from the kernel's own source: their version is the
 * kernel version the source's other packages were made with. */
static bool from_kernel_source(const char *name)
{
	static const char *const prefixes[] = {
		"linux-libc-dev",
		"linux-headers-",
		"linux-kbuild-",
		"linux-image-",
		"linux-modules-",
		"linux-compiler-",
		NULL,
	};

	for (size_t i = 0; prefixes[i] != NULL; i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

/*
 * What the source says of its release: the newest version of a package
 * built from the kernel's source (*ref, NULL when none; it belongs to r),
 * and the Debian release its packages are tagged for, or base-files'
 * major version (0 when unknown).
 */
static unsigned source_release(const struct gen_report *r, const char **ref)
{
	unsigned rel = 0, base = 0;

	*ref = NULL;
	for (size_t i = 0; i < r->npkgs; i++) {
		const struct gen_package *p = &r->pkgs[i];
		bool bpo;
		unsigned tag;

		if (p->name == NULL || p->version == NULL)
			continue;
		if (from_kernel_source(p->name) &&
		    (*ref == NULL || gen_deb_vercmp(p->version, *ref) > 0))
			*ref = p->version;
		tag = deb_release_tag(p->version, &bpo);
		if (tag > 0 && !bpo && tag > rel)
			rel = tag;
		if (strcmp(p->name, "base-files") == 0 &&
		    strstr(p->version, "ubuntu") == NULL)
			base = (unsigned)strtoul(p->version, NULL, 10);
	}
	return base > 0 && base < 1000 ? base : rel;
}

/* The preferred metapackages, most usual first; %s is the architecture. */
static const char *const kernel_metas[] = {
	"linux-image-%s",	"linux-image-generic", "linux-image-virtual",
	"linux-image-cloud-%s", "linux-image-kvm",     NULL,
};

static const char *kernel_meta(size_t i, const char *arch, char *out,
			       size_t len)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(out, len, kernel_metas[i], arch ? arch : "amd64");
#pragma GCC diagnostic pop
	return out;
}

static unsigned kernel_name_rank(const char *name, const char *arch)
{
	for (unsigned i = 0; kernel_metas[i] != NULL; i++) {
		char want[128];

		if (strcmp(name, kernel_meta(i, arch, want, sizeof(want))) == 0)
			return i;
	}
	return 100; /* a kernel of one ABI, not a metapackage */
}

struct kernel_key {
	unsigned fit;  /* 0 tagged for the source's release, 1 untagged,
			* 2 its backport, 3 older release, 4 newer */
	bool newer;    /* newer than the source's kernel packages */
	unsigned rank; /* kernel_name_rank() */
};

static struct kernel_key kernel_key(const struct gen_repo_entry *c,
				    unsigned rel, const char *ref,
				    const char *arch)
{
	struct kernel_key k = {.fit = 1};
	bool bpo;
	unsigned tag = deb_release_tag(c->version, &bpo);

	if (tag != 0 && rel != 0 && tag != rel)
		k.fit = tag < rel ? 3 : 4;
	else if (tag != 0 && bpo)
		k.fit = 2;
	else if (tag != 0 && rel != 0)
		k.fit = 0;
	k.newer = ref != NULL && gen_deb_vercmp(c->version, ref) > 0;
	k.rank = kernel_name_rank(c->name, arch);
	return k;
}

/* <0 when a is the better kernel for the source. */
static int kernel_better(const struct gen_repo_entry *a,
			 const struct gen_repo_entry *b, unsigned rel,
			 const char *ref, const char *arch)
{
	struct kernel_key ka = kernel_key(a, rel, ref, arch);
	struct kernel_key kb = kernel_key(b, rel, ref, arch);
	int v;

	if (ka.fit != kb.fit)
		return ka.fit < kb.fit ? -1 : 1;
	if (ka.newer != kb.newer)
		return ka.newer ? 1 : -1;
	/* not newer: the highest is the closest; newer: the lowest */
	v = gen_deb_vercmp(a->version, b->version);
	if (v != 0)
		return ka.newer ? v : -v;
	if (ka.rank != kb.rank)
		return ka.rank < kb.rank ? -1 : 1;
	return strcmp(a->name, b->name);
}

void gen_kernel_order(const struct gen_report *r, const char *arch,
		      struct gen_repo_entry *c, size_t n)
{
	const char *ref;
	unsigned rel = source_release(r, &ref);

	/* Debian's kernels in a stable release carry no release tag: with
	 * no kernel package of its own, the source's release is what the
	 * repositories' linux-image-ARCH says (earlier repositories win,
	 * as for every package) */
	for (size_t i = 0; i < n && ref == NULL; i++) {
		struct kernel_key k = kernel_key(&c[i], rel, NULL, arch);

		if (k.rank == 0 && k.fit <= 1)
			ref = c[i].version;
	}
	/* insertion sort: a handful of candidates, and a stable order */
	for (size_t i = 1; i < n; i++) {
		struct gen_repo_entry e = c[i];
		size_t j = i;

		for (;
		     j > 0 && kernel_better(&e, &c[j - 1], rel, ref, arch) < 0;
		     j--)
			c[j] = c[j - 1];
		c[j] = e;
	}
}

/* Add the package called name to the candidates, once. */
static void kernel_candidate(const struct gen_repo *repo, const char *arch,
			     const char *name, struct gen_repo_entry **c,
			     size_t *n)
{
	struct gen_repo_entry e;

	if (strncmp(name, "linux-image-", 12) != 0 ||
	    strstr(name, "-dbg") != NULL)
		return;
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*c)[i].name, name) == 0)
			return;
	/* by its own name only: what provides it is another package */
	if (gen_repo_lookup(repo, name, arch, &e) < 0 ||
	    strcmp(e.name, name) != 0)
		return;
	*c = rf_xrealloc(*c, (*n + 1) * sizeof(**c));
	(*c)[(*n)++] = e;
}

/*
 * The kernels the repositories offer for this source: the usual
 * metapackages, the kernel each of them depends on, and the kernel of
 * every linux-headers-ABI (or leftover linux-image-ABI) the source has.
 */
static size_t kernel_candidates(const struct gen_report *r,
				const struct gen_repo *repo, const char *arch,
				struct gen_repo_entry **out)
{
	struct gen_repo_entry *c = NULL;
	size_t n = 0, metas;

	for (size_t i = 0; kernel_metas[i] != NULL; i++) {
		char name[128];

		kernel_candidate(repo, arch,
				 kernel_meta(i, arch, name, sizeof(name)), &c,
				 &n);
	}
	metas = n;
	for (size_t i = 0; i < metas; i++) {
		const char *d = c[i].depends;

		while (d != NULL && *d != '\0') {
			char dn[256];
			size_t len = strcspn(d, ",|");

			dep_name(d, d + len, dn, sizeof(dn));
			kernel_candidate(repo, arch, dn, &c, &n);
			d += len;
			d += *d != '\0';
		}
	}
	for (size_t i = 0; i < r->npkgs; i++) {
		const char *name = r->pkgs[i].name;
		char want[300];

		if (name == NULL)
			continue;
		if (strncmp(name, "linux-headers-", 14) == 0 &&
		    deb_digit((unsigned char)name[14])) {
			snprintf(want, sizeof(want), "linux-image-%s",
				 name + 14);
			kernel_candidate(repo, arch, want, &c, &n);
		} else if (strncmp(name, "linux-image-", 12) == 0) {
			kernel_candidate(repo, arch, name, &c, &n);
		}
	}
	*out = c;
	return n;
}

static int need_kernel(struct gen_tune *t, const struct gen_report *r,
		       int rootfd, const char *root,
		       const struct gen_repo *repo, struct installed *in,
		       struct rf_error *err)
{
	struct gen_repo_entry *c = NULL;
	struct rf_buf tried = RF_BUF_INIT;
	size_t n = 0;
	int rc = 0;

	find_kernels(t, rootfd);
	if (t->nkernels > 0)
		return 0;
	if (in->have_dpkg) {
		n = kernel_candidates(r, repo, in->arch, &c);
		gen_kernel_order(r, in->arch, c, n);
	}
	for (size_t i = 0; i < n && t->nkernels == 0; i++) {
		struct rf_error why = {0};
		char *name = rf_xstrdup(c[i].name);

		rf_buf_printf(&tried, "%s%s %s", i ? ", " : "", c[i].name,
			      c[i].version);
		/* dpkg may list it with its files gone (a /boot the scan
		 * did not see): installed again then */
		for (size_t k = 0; k < in->n; k++)
			if (strcmp(in->names[k], c[i].name) == 0)
				in->names[k][0] = '\0';
		rc = install_pkgs(t, rootfd, root, repo, in, name,
				  "the source had no kernel; the closest "
				  "to its release",
				  &why);
		free(name);
		if (rc < 0) {
			rf_error_set(err, rc,
				     "the source has no kernel, and "
				     "installing %s failed: %s",
				     c[i].name, why.msg);
			goto out;
		}
		if (rc == 0)
			note(t, "kernel: not %s (%s)", c[i].name, why.msg);
		find_kernels(t, rootfd);
	}
	if (t->nkernels == 0) {
		rc = rf_error_set(err, -ENOENT,
				  "the source has no kernel in /boot (a "
				  "container or a paravirtualised guest?) and "
				  "no repository has one%s%s%s",
				  !in->have_dpkg ? " (no dpkg database)"
				  : n > 0	 ? " that installs (tried "
						 : "",
				  n > 0 ? tried.data : "", n > 0 ? ")" : "");
		goto out;
	}
	note(t, "kernel: %s from the repositories (%zu candidate%s)",
	     t->kernels[0], n, n == 1 ? "" : "s");
	rc = 0;
out:
	free(c);
	rf_buf_free(&tried);
	return rc;
}

/* The target's cloud-init settings, when the tree has cloud-init (its
 * own or installed above). */
static int cloud_init_config(struct gen_tune *t, int rootfd,
			     struct rf_error *err)
{
	static const char path[] =
		"etc/cloud/cloud.cfg.d/90-reforge-target.cfg";
	int rc;

	if (t->target->cloud_init == NULL ||
	    !root_exists(rootfd, "etc/cloud/cloud.cfg"))
		return 0;
	rc = root_write(rootfd, path, t->target->cloud_init,
			strlen(t->target->cloud_init), 0644, err);
	if (rc == 0) {
		record(t, path,
		       "cloud-init: the %s target's datasource, no wait "
		       "for a metadata service elsewhere",
		       t->target->name);
		note(t, "cloud-init: datasource of the %s target",
		     t->target->name);
	}
	return rc;
}

static int need_grub(struct gen_tune *t, int rootfd, const char *root,
		     const struct gen_repo *repo, struct installed *in,
		     struct rf_error *err)
{
	static const struct {
		const char *dir, *pkg, *what;
	} kinds[2] = {
		{"usr/lib/grub/i386-pc/boot.img", "grub-pc-bin", "BIOS"},
		{"usr/lib/grub/x86_64-efi/kernel.img", "grub-efi-amd64-bin",
		 "UEFI"},
	};

	for (int k = 0; k < 2; k++) {
		struct rf_error why = {0};
		int rc;

		if ((k == 0 && !t->bios) || (k == 1 && !t->efi) ||
		    root_exists(rootfd, kinds[k].dir))
			continue;
		rc = in->have_dpkg ? install_pkgs(t, rootfd, root, repo, in,
						  kinds[k].pkg,
						  "the boot loader", &why)
				   : 0;
		if (rc < 0 || !root_exists(rootfd, kinds[k].dir))
			return rf_error_set(
				err, -ENOENT,
				"the tree has no GRUB for %s (%s) "
				"and %s could not be installed: "
				"%s",
				kinds[k].what, kinds[k].dir, kinds[k].pkg,
				why.msg[0] ? why.msg : "no dpkg database");
	}
	return 0;
}

enum initramfs_tool {
	INITRAMFS_NONE,
	INITRAMFS_DEBIAN,
	INITRAMFS_DRACUT,
	INITRAMFS_MKINITCPIO
};

static enum initramfs_tool which_initramfs(int rootfd)
{
	if (root_exists(rootfd, "usr/sbin/update-initramfs") ||
	    root_exists(rootfd, "sbin/update-initramfs"))
		return INITRAMFS_DEBIAN;
	if (root_exists(rootfd, "usr/bin/dracut") ||
	    root_exists(rootfd, "usr/sbin/dracut"))
		return INITRAMFS_DRACUT;
	if (root_exists(rootfd, "usr/bin/mkinitcpio"))
		return INITRAMFS_MKINITCPIO;
	return INITRAMFS_NONE;
}

static int drivers_config(struct gen_tune *t, int rootfd,
			  enum initramfs_tool tool, struct rf_error *err)
{
	struct rf_buf have = RF_BUF_INIT, conf = RF_BUF_INIT,
		      scratch = RF_BUF_INIT, list = RF_BUF_INIT;
	const char *path = NULL;
	int rc = 0;

	for (size_t i = 0; t->target->drivers[i] != NULL; i++) {
		const char *m = t->target->drivers[i];
		bool any = false;

		for (size_t k = 0; k < t->nkernels && !any; k++)
			any = kernel_has(rootfd, t->kernels[k], m, &scratch);
		if (!any) {
			note(t, "driver %s: not in kernel %s", m,
			     t->kernels[0]);
			continue;
		}
		rf_buf_printf(&list, "%s%s", list.len ? " " : "", m);
	}
	if (list.len == 0)
		goto out;
	switch (tool) {
	case INITRAMFS_DEBIAN:
		path = "etc/initramfs-tools/modules";
		rc = root_read(rootfd, path, &have, err);
		if (rc < 0 && rc != -ENOENT)
			goto out;
		rf_buf_add(&conf, have.data ? have.data : "", have.len);
		if (conf.len && conf.data[conf.len - 1] != '\n')
			rf_buf_addch(&conf, '\n');
		rf_buf_printf(&conf, "# reforge: drivers of the %s target\n",
			      t->target->name);
		note(t, "drivers in the initramfs: %s", list.data);
		for (char *m = list.data, *sp; m != NULL; m = sp) {
			sp = strchr(m, ' ');
			if (sp != NULL)
				*sp++ = '\0';
			rf_buf_printf(&conf, "%s\n", m);
		}
		break;
	case INITRAMFS_DRACUT:
		path = "etc/dracut.conf.d/90-reforge-target.conf";
		rf_buf_printf(&conf,
			      "# reforge: drivers of the %s target\n"
			      "add_drivers+=\" %s \"\n",
			      t->target->name, list.data);
		break;
	case INITRAMFS_MKINITCPIO:
		path = "etc/mkinitcpio.conf.d/90-reforge-target.conf";
		rf_buf_printf(&conf,
			      "# reforge: drivers of the %s target\n"
			      "MODULES+=(%s)\n",
			      t->target->name, list.data);
		break;
	case INITRAMFS_NONE:
		goto out;
	}
	rc = root_write(rootfd, path, conf.data, conf.len, 0644, err);
	if (rc == 0) {
		record(t, path,
		       "the %s target's disk and network drivers in "
		       "the initramfs",
		       t->target->name);
		if (tool != INITRAMFS_DEBIAN)
			note(t, "drivers in the initramfs: %s", list.data);
	}
out:
	rf_buf_free(&have);
	rf_buf_free(&conf);
	rf_buf_free(&scratch);
	rf_buf_free(&list);
	return rc;
}

static int make_initramfs(struct gen_tune *t, int rootfd, const char *root,
			  enum initramfs_tool tool, struct rf_error *err)
{
	int rc = 0;

	for (size_t k = 0; k < t->nkernels && rc == 0; k++) {
		char *v = t->kernels[k], path[300];

		snprintf(path, sizeof(path), "boot/initrd.img-%s", v);
		if (tool == INITRAMFS_DEBIAN) {
			char *argv[] = {"update-initramfs",
					root_exists(rootfd, path) ? "-u" : "-c",
					"-k", v, NULL};

			rc = chroot_run(t, root, argv, NULL, err);
		} else if (tool == INITRAMFS_DRACUT) {
			char *argv[] = {"dracut", "-f", "--no-hostonly",
					"--kver", v,	NULL};

			rc = chroot_run(t, root, argv, NULL, err);
		} else if (k == 0) {
			char *argv[] = {"mkinitcpio", "-P", NULL};

			rc = chroot_run(t, root, argv, NULL, err);
		}
	}
	if (rc < 0)
		return rf_error_prefix(err, "cannot make the initramfs");
	find_boot_files(t, rootfd);
	for (size_t k = 0; k < t->nkernels; k++) {
		char path[320];

		if (t->initrd_files[k] == NULL)
			continue;
		snprintf(path, sizeof(path), "boot/%s", t->initrd_files[k]);
		record(t, path, "made again with the %s target's drivers",
		       t->target->name);
	}
	if (t->initrd_files[0] == NULL)
		return rf_error_set(err, -ENOENT,
				    "no initramfs for kernel %s "
				    "after making it",
				    t->kernels[0]);
	note(t, "initramfs made for %zu kernel%s (newest %s)", t->nkernels,
	     t->nkernels == 1 ? "" : "s", t->kernels[0]);
	return 0;
}

static bool has_systemd(int rootfd)
{
	return root_exists(rootfd, "lib/systemd/systemd") ||
	       root_exists(rootfd, "usr/lib/systemd/systemd");
}

static const char SSH_UNIT[] =
	"# reforge: the image makes its own SSH host keys at first boot\n"
	"[Unit]\n"
	"Description=SSH host keys of this machine (reforge first boot)\n"
	"Before=ssh.service sshd.service\n"
	"ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key\n"
	"\n"
	"[Service]\n"
	"Type=oneshot\n"
	"ExecStart=/usr/bin/ssh-keygen -A\n"
	"\n"
	"[Install]\n"
	"WantedBy=multi-user.target\n";

int gen_tune_generalise(struct gen_tune *t, int rootfd, struct rf_error *err)
{
	struct rf_buf b = RF_BUF_INIT;
	struct rf_error ignored = {0};
	int rc = 0;

	if (!t->keep_machine_id &&
	    root_read(rootfd, "etc/machine-id", &b, &ignored) == 0 &&
	    b.len > 0) {
		rc = root_write(rootfd, "etc/machine-id", "", 0, 0444, err);
		if (rc < 0)
			goto out;
		record(t, "etc/machine-id",
		       "emptied: the image gets its own "
		       "at first boot");
		if (root_unlink(rootfd, "var/lib/dbus/machine-id") == 0)
			record(t, "var/lib/dbus/machine-id",
			       "removed: D-Bus "
			       "reads /etc/machine-id");
		note(t, "generalised: machine-id");
	}
	if (!t->keep_ssh_keys && root_exists(rootfd, "etc/ssh") &&
	    has_systemd(rootfd)) {
		static const char *const kinds[] = {"rsa", "ecdsa", "ed25519",
						    "dsa"};
		size_t gone = 0;

		for (size_t i = 0; i < 4; i++)
			for (int pub = 0; pub < 2; pub++) {
				char p[80];

				snprintf(p, sizeof(p),
					 "etc/ssh/ssh_host_%s_key%s", kinds[i],
					 pub ? ".pub" : "");
				if (root_unlink(rootfd, p) == 0) {
					record(t, p,
					       "removed: new host keys "
					       "are made at first boot");
					gone++;
				}
			}
		if (gone > 0) {
			rc = root_write(rootfd,
					"etc/systemd/system/"
					"reforge-ssh-hostkeys.service",
					SSH_UNIT, sizeof(SSH_UNIT) - 1, 0644,
					err);
			if (rc == 0)
				rc = root_symlink(
					rootfd,
					"/etc/systemd/system/"
					"reforge-ssh-hostkeys.service",
					"etc/systemd/system/multi-user.target."
					"wants/reforge-ssh-hostkeys.service",
					err);
			if (rc < 0)
				goto out;
			record(t,
			       "etc/systemd/system/"
			       "reforge-ssh-hostkeys.service",
			       "makes SSH host keys at first boot");
			record(t,
			       "etc/systemd/system/multi-user.target.wants/"
			       "reforge-ssh-hostkeys.service",
			       "enables it");
			note(t, "generalised: SSH host keys (made again at "
				"first boot)");
		}
	}
	if (!t->keep_net_rules &&
	    root_unlink(rootfd, "etc/udev/rules.d/70-persistent-net.rules") ==
		    0) {
		record(t, "etc/udev/rules.d/70-persistent-net.rules",
		       "removed: names the source's NICs by MAC address");
		note(t, "generalised: persistent net rules");
	}
out:
	rf_buf_free(&b);
	return rc;
}

/* --- network --- */

static bool nic_name(const char *s)
{
	return strncmp(s, "eth", 3) == 0 || strncmp(s, "en", 2) == 0 ||
	       strncmp(s, "em", 2) == 0 ||
	       (s[0] == 'p' && s[1] >= '0' && s[1] <= '9');
}

struct nic_map {
	char from[8][64];
	size_t n;
};

static const char *map_nic(struct nic_map *m, const char *name, bool add)
{
	static char out[32];
	char base[64];
	const char *colon = strchr(name, ':');
	size_t len = colon ? (size_t)(colon - name) : strlen(name);

	if (len >= sizeof(base) || strchr(name, '.') != NULL)
		return NULL;
	memcpy(base, name, len);
	base[len] = '\0';
	if (!nic_name(base))
		return NULL;
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->from[i], base) == 0) {
			snprintf(out, sizeof(out), "eth%zu", i);
			return out;
		}
	if (!add || m->n >= 8)
		return NULL;
	snprintf(m->from[m->n], sizeof(m->from[0]), "%s", base);
	snprintf(out, sizeof(out), "eth%zu", m->n++);
	return out;
}

/* Replace every whole-word name of m in line by its new name. */
static void rename_words(struct nic_map *m, const char *line, size_t len,
			 struct rf_buf *out)
{
	for (size_t i = 0; i < len;) {
		size_t j = i;

		while (j < len && (line[j] == '_' || line[j] == '-' ||
				   (line[j] >= 'a' && line[j] <= 'z') ||
				   (line[j] >= '0' && line[j] <= '9') ||
				   (line[j] >= 'A' && line[j] <= 'Z')))
			j++;
		if (j == i) {
			rf_buf_addch(out, line[i++]);
			continue;
		}
		{
			char w[64];
			const char *to = NULL;

			if (j - i < sizeof(w)) {
				memcpy(w, line + i, j - i);
				w[j - i] = '\0';
				to = map_nic(m, w, false);
			}
			if (to != NULL)
				rf_buf_addstr(out, to);
			else
				rf_buf_add(out, line + i, j - i);
		}
		i = j;
	}
}

static bool starts_word(const char *l, const char *w)
{
	size_t n = strlen(w);

	while (*l == ' ' || *l == '\t')
		l++;
	return strncmp(l, w, n) == 0 && (l[n] == ' ' || l[n] == '\t');
}

/* ifupdown's interfaces file: names to ethN, static to DHCP if asked. */
static int ifupdown_file(struct gen_tune *t, int rootfd, const char *path,
			 struct nic_map *m, struct rf_error *err)
{
	struct rf_buf in = RF_BUF_INIT, out = RF_BUF_INIT;
	bool dropping = false, changed = false;
	int rc = root_read(rootfd, path, &in, err);

	if (rc == -ENOENT) {
		rc = 0;
		goto out;
	}
	if (rc < 0 || in.data == NULL)
		goto out;
	/* first pass: the NICs, in order of appearance */
	for (char *l = in.data; l != NULL && *l;) {
		char *eol = strchr(l, '\n'), a[64], b[64];

		if (sscanf(l, "%63s %63s", a, b) == 2 &&
		    (strcmp(a, "auto") == 0 || strcmp(a, "iface") == 0 ||
		     strncmp(a, "allow-", 6) == 0))
			map_nic(m, b, true);
		l = eol ? eol + 1 : NULL;
	}
	/* the file names NICs as the kernel names them (eth0 ...) once
	 * rewritten, or already did: either way net.ifnames=0 */
	if (m->n > 0)
		t->renamed_nics = true;
	for (char *l = in.data; l != NULL && *l;) {
		char *eol = strchr(l, '\n');
		size_t len = eol ? (size_t)(eol - l) : strlen(l);
		char a[64] = "", name[64] = "", fam[16] = "", meth[16] = "";
		struct rf_buf line = RF_BUF_INIT;

		sscanf(l, "%63s %63s %15s %15s", a, name, fam, meth);
		if (starts_word(l, "iface") || starts_word(l, "auto") ||
		    starts_word(l, "mapping") || starts_word(l, "source") ||
		    strncmp(a, "allow-", 6) == 0)
			dropping = false;
		if (dropping && l[0] != '#') {
			rf_buf_printf(&out,
				      "# reforge (--network dhcp): %.*s\n",
				      (int)len, l);
			changed = true;
			l = eol ? eol + 1 : NULL;
			continue;
		}
		rename_words(m, l, len, &line);
		if (t->network_dhcp && strcmp(a, "iface") == 0 &&
		    strcmp(meth, "static") == 0 &&
		    map_nic(m, name, false) != NULL) {
			rf_buf_reset(&line);
			rf_buf_printf(&line, "iface %s %s dhcp",
				      map_nic(m, name, false), fam);
			dropping = true;
		}
		if (line.len != len ||
		    (len > 0 && memcmp(line.data, l, len) != 0))
			changed = true;
		rf_buf_add(&out, line.data ? line.data : "", line.len);
		rf_buf_addch(&out, '\n');
		rf_buf_free(&line);
		l = eol ? eol + 1 : NULL;
	}
	if (!changed)
		goto out;
	rc = root_write(rootfd, path, out.data, out.len, 0644, err);
	if (rc == 0) {
		record(t, path,
		       "interfaces named as the target's kernel names "
		       "them (net.ifnames=0)%s",
		       t->network_dhcp ? ", static addresses to DHCP" : "");
		t->renamed_nics = true;
	}
out:
	rf_buf_free(&in);
	rf_buf_free(&out);
	return rc;
}

/* systemd-networkd: a [Match] on the source's MAC address cannot match
 * the target's NIC; match the kernel's names instead. */
static int networkd_files(struct gen_tune *t, int rootfd, struct nic_map *m,
			  struct rf_error *err)
{
	int dfd = rf_root_open(rootfd, "etc/systemd/network",
			       O_RDONLY | O_DIRECTORY);
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (dfd < 0)
		return 0;
	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return 0;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		struct rf_buf in = RF_BUF_INIT, out = RF_BUF_INIT;
		char path[512];
		size_t len = strlen(de->d_name);
		bool changed = false;

		if (len < 9 || strcmp(de->d_name + len - 8, ".network") != 0)
			continue;
		snprintf(path, sizeof(path), "etc/systemd/network/%s",
			 de->d_name);
		if (root_read(rootfd, path, &in, err) < 0 || in.data == NULL) {
			rf_buf_free(&in);
			continue;
		}
		for (char *l = in.data; l != NULL && *l;) {
			char *eol = strchr(l, '\n');
			size_t ll = eol ? (size_t)(eol - l) : strlen(l);

			if (strncmp(l, "MACAddress=", 11) == 0 ||
			    strncmp(l, "PermanentMACAddress=", 20) == 0) {
				rf_buf_printf(&out,
					      "# reforge: %.*s\n"
					      "Name=eth* en*\n",
					      (int)ll, l);
				changed = true;
			} else if (strncmp(l, "Name=", 5) == 0) {
				struct rf_buf nl = RF_BUF_INIT;

				rename_words(m, l, ll, &nl);
				changed |=
					nl.len != ll ||
					(ll > 0 && memcmp(nl.data, l, ll) != 0);
				rf_buf_add(&out, nl.data ? nl.data : "",
					   nl.len);
				rf_buf_addch(&out, '\n');
				rf_buf_free(&nl);
			} else {
				rf_buf_add(&out, l, ll);
				rf_buf_addch(&out, '\n');
			}
			l = eol ? eol + 1 : NULL;
		}
		if (changed) {
			rc = root_write(rootfd, path, out.data, out.len, 0644,
					err);
			if (rc == 0)
				record(t, path,
				       "matches the target's NIC, not "
				       "the source's MAC address or name");
			t->renamed_nics = true;
		}
		rf_buf_free(&in);
		rf_buf_free(&out);
	}
	closedir(d);
	return rc;
}

/* --- netplan --- */

/* One line of a block-style YAML file, as far as netplan's needs go. */
struct yaml_line {
	size_t indent;
	char key[64];	   /* "" when the line is no "key:" */
	const char *value; /* after "key:" and its spaces */
	size_t vlen;
	bool item; /* "- ..." */
};

static void yaml_parse_line(const char *l, size_t len, struct yaml_line *y)
{
	size_t i = 0, k = 0;

	memset(y, 0, sizeof(*y));
	while (i < len && l[i] == ' ')
		i++;
	y->indent = i;
	if (i < len && l[i] == '-' && (i + 1 == len || l[i + 1] == ' ')) {
		y->item = true;
		return;
	}
	while (i < len && k + 1 < sizeof(y->key) &&
	       (l[i] == '_' || l[i] == '-' || l[i] == '.' || l[i] == '"' ||
		(l[i] >= 'a' && l[i] <= 'z') || (l[i] >= 'A' && l[i] <= 'Z') ||
		(l[i] >= '0' && l[i] <= '9')))
		if (l[i++] != '"')
			y->key[k++] = l[i - 1];
	y->key[k] = '\0';
	if (k == 0 || i >= len || l[i] != ':' ||
	    (i + 1 < len && l[i + 1] != ' ' && l[i + 1] != '\t')) {
		y->key[0] = '\0';
		return;
	}
	for (i++; i < len && (l[i] == ' ' || l[i] == '\t'); i++)
		;
	y->value = l + i;
	y->vlen = len - i;
	/* a comment after the value is not the value */
	for (size_t j = 0; j < y->vlen; j++)
		if (y->value[j] == '#' && j > 0 && y->value[j - 1] == ' ') {
			y->vlen = j;
			break;
		}
	while (y->vlen > 0 &&
	       (y->value[y->vlen - 1] == ' ' || y->value[y->vlen - 1] == '\t' ||
		y->value[y->vlen - 1] == '\r'))
		y->vlen--;
}

static bool yaml_true(const struct yaml_line *y)
{
	static const char *const yes[] = {"true", "yes", "on", "True",
					  "TRUE", "y",	 NULL};

	for (size_t i = 0; yes[i] != NULL; i++)
		if (y->vlen == strlen(yes[i]) &&
		    strncmp(y->value, yes[i], y->vlen) == 0)
			return true;
	return false;
}

/* The device sections of netplan whose entries are interfaces. */
static bool netplan_devices(const char *key)
{
	return strcmp(key, "ethernets") == 0 || strcmp(key, "bonds") == 0 ||
	       strcmp(key, "bridges") == 0 || strcmp(key, "vlans") == 0;
}

/* Static settings that DHCP replaces. */
static bool netplan_static_key(const char *key)
{
	return strcmp(key, "addresses") == 0 || strcmp(key, "gateway4") == 0 ||
	       strcmp(key, "gateway6") == 0 || strcmp(key, "routes") == 0 ||
	       strcmp(key, "nameservers") == 0;
}

#define NETPLAN_DEPTH 8
#define NETPLAN_IFACES 32

struct netplan_iface {
	char section[64], name[64];
	bool has_addresses, has_dhcp4;
};

struct netplan_walk {
	size_t indent[NETPLAN_DEPTH];
	char key[NETPLAN_DEPTH][64];
	size_t depth;
};

/* Push y (a key line) onto the path of keys that leads to it; the path
 * of an item or a scalar line is only popped. */
static void netplan_path(struct netplan_walk *w, const struct yaml_line *y)
{
	while (w->depth > 0 && w->indent[w->depth - 1] >= y->indent)
		w->depth--;
	if (y->key[0] != '\0' && w->depth < NETPLAN_DEPTH) {
		w->indent[w->depth] = y->indent;
		snprintf(w->key[w->depth], sizeof(w->key[0]), "%s", y->key);
		w->depth++;
	}
}

static struct netplan_iface *netplan_find(struct netplan_iface *ifs, size_t n,
					  const char *section, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ifs[i].section, section) == 0 &&
		    strcmp(ifs[i].name, name) == 0)
			return &ifs[i];
	return NULL;
}

/*
 * A netplan file: interfaces named by the kernel (ethN; its keys, what
 * names them in other devices' lists), a match on the source's MAC
 * address or driver replaced by the new name, set-name dropped, and with
 * --network dhcp an interface with addresses gets DHCP instead. Block
 * style only: a file in flow style is left as it is (and said so).
 */
/* Whether what was written to out from at on differs from the line l. */
static bool line_rewritten(const struct rf_buf *out, size_t at, const char *l,
			   size_t len)
{
	return out->len - at != len + 1 || memcmp(out->data + at, l, len) != 0;
}

/* Write a rewritten network configuration (private: it may hold
 * secrets) and record why. */
static int write_rewritten(struct gen_tune *t, int rootfd, const char *path,
			   const struct rf_buf *out, const char *why,
			   struct rf_error *err)
{
	int rc = root_write(rootfd, path, out->data, out->len, 0600, err);

	if (rc == 0)
		record(t, path, "%s%s", why,
		       t->network_dhcp ? ", static addresses to DHCP" : "");
	return rc;
}

static int netplan_file(struct gen_tune *t, int rootfd, const char *path,
			struct nic_map *m, struct rf_error *err)
{
	struct rf_buf in = RF_BUF_INIT, out = RF_BUF_INIT;
	struct netplan_iface ifs[NETPLAN_IFACES];
	struct netplan_walk w = {.depth = 0};
	size_t nifs = 0, drop_above = (size_t)-1;
	bool changed = false, named = false;
	int rc = root_read(rootfd, path, &in, err);

	if (rc < 0 || in.data == NULL) {
		rc = rc == -ENOENT ? 0 : rc;
		goto out;
	}
	/* first pass: the interfaces, and which are static */
	for (char *l = in.data; l != NULL && *l;) {
		char *eol = strchr(l, '\n');
		size_t len = eol ? (size_t)(eol - l) : strlen(l);
		struct yaml_line y;
		bool skip;

		yaml_parse_line(l, len, &y);
		skip = len == y.indent || l[y.indent] == '#';
		l = eol ? eol + 1 : NULL;
		if (skip)
			continue;
		netplan_path(&w, &y);
		if (y.key[0] == '\0' || w.depth < 3 ||
		    strcmp(w.key[0], "network") != 0 ||
		    !netplan_devices(w.key[1]))
			continue;
		if (w.depth == 3 && nifs < NETPLAN_IFACES) {
			memset(&ifs[nifs], 0, sizeof(ifs[0]));
			snprintf(ifs[nifs].section, sizeof(ifs[0].section),
				 "%s", w.key[1]);
			snprintf(ifs[nifs].name, sizeof(ifs[0].name), "%s",
				 w.key[2]);
			nifs++;
			if (strcmp(w.key[1], "ethernets") == 0)
				map_nic(m, w.key[2], true);
		} else if (w.depth == 4) {
			struct netplan_iface *f =
				netplan_find(ifs, nifs, w.key[1], w.key[2]);

			if (f != NULL && strcmp(y.key, "addresses") == 0)
				f->has_addresses = true;
			if (f != NULL && strcmp(y.key, "dhcp4") == 0)
				f->has_dhcp4 = true;
		}
	}
	if (m->n > 0)
		t->renamed_nics = true;
	w.depth = 0;
	for (char *l = in.data; l != NULL && *l;) {
		char *eol = strchr(l, '\n');
		size_t len = eol ? (size_t)(eol - l) : strlen(l);
		struct yaml_line y;
		struct netplan_iface *f = NULL;
		const char *nic = NULL;
		size_t at = out.len;

		yaml_parse_line(l, len, &y);
		if (len == y.indent || l[y.indent] == '#') {
			rf_buf_add(&out, l, len);
			rf_buf_addch(&out, '\n');
			l = eol ? eol + 1 : NULL;
			continue;
		}
		/* what the dropped key holds: deeper lines, or a sequence
		 * at its own indent */
		if (drop_above != (size_t)-1 &&
		    (y.indent > drop_above ||
		     (y.item && y.indent == drop_above))) {
			rf_buf_printf(&out,
				      "# reforge (--network dhcp): %.*s\n",
				      (int)len, l);
			changed = true;
			l = eol ? eol + 1 : NULL;
			continue;
		}
		drop_above = (size_t)-1;
		netplan_path(&w, &y);
		if (w.depth >= 3 && strcmp(w.key[0], "network") == 0 &&
		    netplan_devices(w.key[1])) {
			f = netplan_find(ifs, nifs, w.key[1], w.key[2]);
			if (strcmp(w.key[1], "ethernets") == 0)
				nic = map_nic(m, w.key[2], false);
		}
		if (w.depth == 3 && y.key[0] != '\0')
			named = false;
		if (f != NULL && w.depth == 5 && y.key[0] != '\0' &&
		    strcmp(w.key[3], "match") == 0 &&
		    (strcmp(y.key, "macaddress") == 0 ||
		     strcmp(y.key, "driver") == 0)) {
			rf_buf_printf(&out, "%*s# reforge: %.*s\n",
				      (int)y.indent, "", (int)(len - y.indent),
				      l + y.indent);
			if (nic != NULL && !named)
				rf_buf_printf(&out, "%*sname: %s\n",
					      (int)y.indent, "", nic);
			named = true;
		} else if (f != NULL && w.depth == 4 && y.key[0] != '\0' &&
			   strcmp(y.key, "set-name") == 0) {
			rf_buf_printf(&out, "%*s# reforge: %.*s\n",
				      (int)y.indent, "", (int)(len - y.indent),
				      l + y.indent);
		} else if (f != NULL && f->has_addresses && t->network_dhcp &&
			   w.depth == 4 && netplan_static_key(y.key)) {
			if (strcmp(y.key, "addresses") == 0 && !f->has_dhcp4)
				rf_buf_printf(&out, "%*sdhcp4: true\n",
					      (int)y.indent, "");
			rf_buf_printf(&out,
				      "# reforge (--network dhcp): %.*s\n",
				      (int)len, l);
			drop_above = y.indent;
		} else if (f != NULL && f->has_addresses && t->network_dhcp &&
			   w.depth == 4 && strcmp(y.key, "dhcp4") == 0 &&
			   !yaml_true(&y)) {
			rf_buf_printf(&out, "%*sdhcp4: true\n", (int)y.indent,
				      "");
		} else {
			rename_words(m, l, len, &out);
			rf_buf_addch(&out, '\n');
		}
		changed |= line_rewritten(&out, at, l, len);
		l = eol ? eol + 1 : NULL;
	}
	if (changed)
		rc = write_rewritten(t, rootfd, path, &out,
				     "netplan: interfaces named as the "
				     "target's kernel names them "
				     "(net.ifnames=0), no match on the "
				     "source's MAC address",
				     err);
out:
	rf_buf_free(&in);
	rf_buf_free(&out);
	return rc;
}

/* --- NetworkManager keyfiles --- */

/*
 * A keyfile of NetworkManager: interface-name to the kernel's name,
 * mac-address (of [ethernet] or anywhere) commented out, and with
 * --network dhcp a manual method becomes auto, its addresses, gateway,
 * routes and DNS servers commented out.
 */
static int nm_file(struct gen_tune *t, int rootfd, const char *path,
		   struct nic_map *m, struct rf_error *err)
{
	struct rf_buf in = RF_BUF_INIT, out = RF_BUF_INIT;
	char section[32] = "";
	bool changed = false;
	int rc = root_read(rootfd, path, &in, err);

	if (rc < 0 || in.data == NULL) {
		rc = rc == -ENOENT ? 0 : rc;
		goto out;
	}
	for (char *l = in.data; l != NULL && *l;) {
		char *eol = strchr(l, '\n');

		if (strncmp(l, "interface-name=", 15) == 0) {
			char name[64];
			size_t n = strcspn(l + 15, "\n\r");

			if (n < sizeof(name)) {
				memcpy(name, l + 15, n);
				name[n] = '\0';
				map_nic(m, name, true);
			}
		}
		l = eol ? eol + 1 : NULL;
	}
	if (m->n > 0)
		t->renamed_nics = true;
	for (char *l = in.data; l != NULL && *l;) {
		char *eol = strchr(l, '\n');
		size_t len = eol ? (size_t)(eol - l) : strlen(l);
		size_t at = out.len;
		bool ip = strcmp(section, "ipv4") == 0 ||
			  strcmp(section, "ipv6") == 0;

		if (l[0] == '[') {
			size_t n = strcspn(l + 1, "]\n");

			snprintf(section, sizeof(section), "%.*s",
				 (int)(n < 31 ? n : 31), l + 1);
			rf_buf_add(&out, l, len);
			rf_buf_addch(&out, '\n');
		} else if (strncmp(l, "mac-address=", 12) == 0) {
			rf_buf_printf(&out, "# reforge: %.*s\n", (int)len, l);
		} else if (ip && t->network_dhcp &&
			   strncmp(l, "method=manual", 13) == 0) {
			rf_buf_addstr(&out, "method=auto\n");
		} else if (ip && t->network_dhcp &&
			   (strncmp(l, "address", 7) == 0 ||
			    strncmp(l, "gateway=", 8) == 0 ||
			    strncmp(l, "route", 5) == 0 ||
			    strncmp(l, "dns=", 4) == 0 ||
			    strncmp(l, "dns-search=", 11) == 0)) {
			/* static settings of this section: its method line
			 * may come after them */
			rf_buf_printf(&out,
				      "# reforge (--network dhcp): %.*s\n",
				      (int)len, l);
		} else {
			rename_words(m, l, len, &out);
			rf_buf_addch(&out, '\n');
		}
		changed |= line_rewritten(&out, at, l, len);
		l = eol ? eol + 1 : NULL;
	}
	if (changed)
		rc = write_rewritten(t, rootfd, path, &out,
				     "NetworkManager: the connection names "
				     "the target's NIC as the kernel names "
				     "it (net.ifnames=0), not the source's "
				     "MAC address",
				     err);
out:
	rf_buf_free(&in);
	rf_buf_free(&out);
	return rc;
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of dir (in the tree) whose name ends in suffix
 * through fn, in name order so that NICs are numbered the same on every
 * run. */
static int each_file(struct gen_tune *t, int rootfd, const char *dir,
		     const char *suffix, struct nic_map *m,
		     int (*fn)(struct gen_tune *, int, const char *,
			       struct nic_map *, struct rf_error *),
		     struct rf_error *err)
{
	int dfd = rf_root_open(rootfd, dir, O_RDONLY | O_DIRECTORY);
	char **names = NULL;
	size_t n = 0, sl = strlen(suffix);
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (dfd < 0)
		return 0;
	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		struct stat st;

		if (de->d_name[0] == '.' || len <= sl ||
		    strcmp(de->d_name + len - sl, suffix) != 0 ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
			    0 ||
		    !S_ISREG(st.st_mode))
			continue;
		names = rf_xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = rf_xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), strp_cmp);
	for (size_t i = 0; i < n && rc == 0; i++) {
		char p[600];

		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		rc = fn(t, rootfd, p, m, err);
	}
	free_strv(names, n);
	return rc;
}

int gen_tune_network(struct gen_tune *t, int rootfd, struct rf_error *err)
{
	struct nic_map m = {.n = 0};
	int rc = ifupdown_file(t, rootfd, "etc/network/interfaces", &m, err);

	if (rc == 0)
		rc = each_file(t, rootfd, "etc/network/interfaces.d", "", &m,
			       ifupdown_file, err);
	if (rc == 0)
		rc = each_file(t, rootfd, "etc/netplan", ".yaml", &m,
			       netplan_file, err);
	if (rc == 0)
		rc = each_file(t, rootfd,
			       "etc/NetworkManager/system-connections", "", &m,
			       nm_file, err);
	if (rc == 0)
		rc = networkd_files(t, rootfd, &m, err);
	for (size_t i = 0; i < m.n && rc == 0; i++)
		note(t, "network: %s is eth%zu on %s", m.from[i], i,
		     t->target->name);
	return rc;
}

/* What the boot loader and the plan can make of the source's / and
 * /boot. */
static int check_filesystems(const struct gen_tune *t,
			     const struct gen_report *r, struct rf_error *err)
{
	static const char *const ok[] = {"ext2",  "ext3", "ext4", "xfs",
					 "btrfs", "vfat", NULL};

	for (size_t i = 0; i < r->nfs; i++) {
		const struct gen_fs *fs = &r->fs[i];
		bool good = false;

		if (fs->mountpoint == NULL || fs->type == NULL ||
		    (strcmp(fs->mountpoint, "/") != 0 &&
		     strcmp(fs->mountpoint, "/boot") != 0))
			continue;
		for (size_t k = 0; ok[k] != NULL; k++)
			good |= strcmp(fs->type, ok[k]) == 0;
		if (strcmp(fs->mountpoint, "/") == 0 &&
		    strcmp(fs->type, "vfat") == 0)
			good = false;
		if (!good)
			return rf_error_set(err, -EINVAL,
					    "the source's %s is %s, which a %s "
					    "image cannot boot from (reforge "
					    "boots ext2/3/4, xfs and btrfs)",
					    fs->mountpoint, fs->type,
					    t->target->name);
	}
	return 0;
}

static void read_os_name(struct gen_tune *t, int rootfd)
{
	struct rf_buf b = RF_BUF_INIT;
	struct rf_error ignored = {0};

	if (root_read(rootfd, "etc/os-release", &b, &ignored) == 0 ||
	    root_read(rootfd, "usr/lib/os-release", &b, &ignored) == 0) {
		char *p = b.data ? strstr(b.data, "PRETTY_NAME=") : NULL;

		if (p != NULL) {
			p += 12;
			p += *p == '"';
			size_t n = strcspn(p, "\"\n");

			t->os_name = rf_xstrndup(p, n < 80 ? n : 80);
			for (char *c = t->os_name; *c; c++)
				if (*c == '\'' || *c == '\\')
					*c = ' ';
		}
	}
	if (t->os_name == NULL)
		t->os_name = rf_xstrdup("Linux");
	rf_buf_free(&b);
}

int gen_tune_tree(struct gen_tune *t, const struct gen_report *r,
		  const struct gen_repo *repo, const char *stage,
		  struct rf_error *err)
{
	static const char POLICY[] = "#!/bin/sh\n# reforge: no service "
				     "starts while the image is tuned\nexit "
				     "101\n";
	struct installed in = {0};
	struct rf_buf root = RF_BUF_INIT;
	enum initramfs_tool tool;
	bool policy = false;
	int rootfd = -1, rc;

	rf_buf_printf(&root, "%s/root", stage);
	t->efi = r->firmware && (strcmp(r->firmware, "efi") == 0 ||
				 strcmp(r->firmware, "hybrid") == 0);
	t->bios = !r->firmware || strcmp(r->firmware, "efi") != 0;
	rc = check_filesystems(t, r, err);
	if (rc < 0)
		goto out;
	rootfd = open(root.data, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		rc = rf_error_errno(err, -errno, "cannot open %s", root.data);
		goto out;
	}
	read_os_name(t, rootfd);
	rc = installed_load(rootfd, &in, err);
	if (rc < 0)
		goto out;
	if (in.have_dpkg && !root_exists(rootfd, "usr/sbin/policy-rc.d")) {
		rc = root_write(rootfd, "usr/sbin/policy-rc.d", POLICY,
				sizeof(POLICY) - 1, 0755, err);
		if (rc < 0)
			goto out;
		policy = true;
	}
	if (in.have_dpkg) {
		rc = remove_tools(t, r, rootfd, root.data, &in, err);
		if (rc < 0)
			goto out;
	} else {
		note(t, "guest tools: not changed (only dpkg systems so far)");
	}
	rc = need_kernel(t, r, rootfd, root.data, repo, &in, err);
	if (rc < 0)
		goto out;
	rc = need_grub(t, rootfd, root.data, repo, &in, err);
	if (rc < 0)
		goto out;
	tool = which_initramfs(rootfd);
	if (tool == INITRAMFS_NONE) {
		rc = rf_error_set(err, -ENOENT,
				  "the tree has no initramfs tool "
				  "(update-initramfs, dracut or mkinitcpio): "
				  "its kernel cannot get the %s target's "
				  "drivers",
				  t->target->name);
		goto out;
	}
	if (in.have_dpkg) {
		rc = install_tools(t, rootfd, root.data, repo, &in, err);
		if (rc < 0)
			goto out;
	}
	rc = cloud_init_config(t, rootfd, err);
	if (rc < 0)
		goto out;
	rc = drivers_config(t, rootfd, tool, err);
	if (rc == 0)
		rc = gen_tune_generalise(t, rootfd, err);
	if (rc == 0)
		rc = gen_tune_network(t, rootfd, err);
	if (rc == 0)
		rc = make_initramfs(t, rootfd, root.data, tool, err);
out:
	if (rootfd >= 0) {
		int cfd =
			rf_root_open(rootfd, "var/cache", O_PATH | O_DIRECTORY);

		if (cfd >= 0) {
			gen_remove_tree(cfd, "reforge-tune");
			close(cfd);
		}
		if (policy)
			root_unlink(rootfd, "usr/sbin/policy-rc.d");
		close(rootfd);
	}
	installed_free(&in);
	rf_buf_free(&root);
	return rc;
}

/* --- after the plan: fstab and the boot loader --- */

static const struct gen_part *part_at(const struct gen_layout *l,
				      const char *mp)
{
	for (size_t i = 0; i < l->nparts; i++)
		if (l->parts[i].mountpoint != NULL &&
		    strcmp(l->parts[i].mountpoint, mp) == 0)
			return &l->parts[i];
	return NULL;
}

static const struct gen_part *part_kind(const struct gen_layout *l,
					enum gen_part_kind k)
{
	for (size_t i = 0; i < l->nparts; i++)
		if (l->parts[i].kind == k)
			return &l->parts[i];
	return NULL;
}

/*
 * The GRUB module that reads the filesystem holding the kernels (/boot,
 * else /): ext2 reads ext2, ext3 and ext4 alike.
 */
static const char *grub_fs_module(const struct gen_layout *l)
{
	const struct gen_part *p = part_at(l, "/boot");

	if (p == NULL)
		p = part_at(l, "/");
	if (p != NULL && p->fstype != NULL &&
	    (strcmp(p->fstype, "xfs") == 0 || strcmp(p->fstype, "btrfs") == 0))
		return p->fstype;
	return "ext2";
}

static bool network_fs(const char *spec, const char *type)
{
	static const char *const net[] = {
		"nfs",	"nfs4",	  "cifs",	    "smbfs",
		"smb3", "sshfs",  "fuse.sshfs",	    "glusterfs",
		"ceph", "davfs",  "fuse.glusterfs", "afs",
		"9p",	"lustre", "fuse.s3fs",	    NULL,
	};

	for (size_t i = 0; net[i] != NULL; i++)
		if (strcmp(type, net[i]) == 0)
			return true;
	return strncmp(spec, "//", 2) == 0 || strstr(spec, ":/") != NULL;
}

static bool disk_spec(const char *spec)
{
	return strncmp(spec, "UUID=", 5) == 0 ||
	       strncmp(spec, "LABEL=", 6) == 0 ||
	       strncmp(spec, "PARTUUID=", 9) == 0 ||
	       strncmp(spec, "PARTLABEL=", 10) == 0 ||
	       strncmp(spec, "/dev/", 5) == 0;
}

/* fsck_fat: the tree can check a vfat filesystem at boot (without
 * fsck.vfat systemd-fsck would fail the mount) */
static void fstab_line(struct rf_buf *out, const struct gen_part *p,
		       bool fsck_fat)
{
	if (p->kind == GEN_PART_SWAP)
		rf_buf_printf(out, "UUID=%s none swap sw 0 0\n", p->uuid);
	else if (strcmp(p->fstype, "vfat") == 0)
		rf_buf_printf(out, "UUID=%s %s vfat umask=0077 0 %d\n", p->uuid,
			      p->mountpoint, fsck_fat ? 1 : 0);
	else if (strncmp(p->fstype, "ext", 3) == 0)
		rf_buf_printf(out, "UUID=%s %s %s %s 0 %d\n", p->uuid,
			      p->mountpoint, p->fstype,
			      strcmp(p->mountpoint, "/") == 0
				      ? "errors=remount-ro"
				      : "defaults",
			      strcmp(p->mountpoint, "/") == 0 ? 1 : 2);
	else /* xfs and btrfs: no errors= option, nothing for fsck to do */
		rf_buf_printf(out, "UUID=%s %s %s defaults 0 0\n", p->uuid,
			      p->mountpoint, p->fstype);
}

static int fstab(struct gen_tune *t, const struct gen_layout *l, int rootfd,
		 struct rf_error *err)
{
	struct rf_buf in = RF_BUF_INIT, out = RF_BUF_INIT, gone = RF_BUF_INIT;
	bool *seen = rf_xcalloc(l->nparts + 1, sizeof(bool));
	size_t nnet = 0;
	bool fat = root_exists(rootfd, "usr/sbin/fsck.vfat") ||
		   root_exists(rootfd, "sbin/fsck.vfat");
	int rc = root_read(rootfd, "etc/fstab", &in, err);

	if (rc < 0 && rc != -ENOENT)
		goto out;
	rc = 0;
	for (char *line = in.data; line != NULL && *line;) {
		char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		char spec[512] = "", mp[512] = "", type[64] = "",
		     opts[512] = "", dump[16] = "", pass[16] = "";
		char copy[2048];
		const struct gen_part *p = NULL;

		snprintf(copy, sizeof(copy), "%.*s", (int)len, line);
		line = eol ? eol + 1 : NULL;
		if (copy[strspn(copy, " \t")] == '#' ||
		    sscanf(copy, "%511s %511s %63s %511s %15s %15s", spec, mp,
			   type, opts, dump, pass) < 3) {
			rf_buf_printf(&out, "%s\n", copy);
			continue;
		}
		if (network_fs(spec, type)) {
			rf_buf_printf(&gone, "#   %s\n", copy);
			nnet++;
			continue;
		}
		if (strcmp(type, "swap") == 0) {
			for (size_t i = 0; i < l->nparts && p == NULL; i++)
				if (l->parts[i].kind == GEN_PART_SWAP &&
				    !seen[i])
					p = &l->parts[i];
		} else {
			p = part_at(l, mp);
		}
		if (p != NULL && !seen[p - l->parts]) {
			seen[p - l->parts] = true;
			if (p->kind == GEN_PART_SWAP ||
			    strcmp(type, p->fstype) != 0 ||
			    strcmp(p->fstype, "vfat") == 0)
				fstab_line(&out, p, fat);
			else
				rf_buf_printf(&out, "UUID=%s %s %s %s %s %s\n",
					      p->uuid, mp, type,
					      opts[0] ? opts : "defaults",
					      dump[0] ? dump : "0",
					      pass[0] ? pass : "0");
			continue;
		}
		if (disk_spec(spec) && strcmp(type, "tmpfs") != 0 &&
		    strstr(opts, "bind") == NULL) {
			rf_buf_printf(&out, "# reforge: not in the image: %s\n",
				      copy);
			continue;
		}
		rf_buf_printf(&out, "%s\n", copy);
	}
	for (size_t i = 0; i < l->nparts; i++) {
		const struct gen_part *p = &l->parts[i];

		if (seen[i] || p->kind == GEN_PART_BIOS || p->fstype == NULL)
			continue;
		fstab_line(&out, p, fat);
	}
	if (nnet > 0) {
		rf_buf_printf(&out,
			      "# reforge: network filesystems of the "
			      "source, to mount again where the %s image can "
			      "reach them:\n%s",
			      t->target->name, gone.data);
		note(t, "fstab: %zu network filesystem%s commented out", nnet,
		     nnet == 1 ? "" : "s");
	}
	rc = root_write(rootfd, "etc/fstab", out.data ? out.data : "", out.len,
			0644, err);
	if (rc == 0)
		record(t, "etc/fstab",
		       "the image's filesystems by their new "
		       "UUIDs%s",
		       nnet ? "; network filesystems commented" : "");
out:
	free(seen);
	rf_buf_free(&in);
	rf_buf_free(&out);
	rf_buf_free(&gone);
	return rc;
}

/* The directory fd and the path inside it where the image's path lands,
 * given the partitions the plan split off. */
static int open_image_path(const struct gen_layout *l, const char *path,
			   const char **rel)
{
	const struct gen_part *best = NULL;
	size_t bestlen = 0;

	for (size_t i = 0; i < l->nparts; i++) {
		const struct gen_part *p = &l->parts[i];
		size_t n = p->mountpoint ? strlen(p->mountpoint) : 0;

		if (p->dir == NULL || n == 0)
			continue;
		if (strcmp(p->mountpoint, "/") == 0)
			n = 0;
		else if (strncmp(path, p->mountpoint, n) != 0 ||
			 (path[n] != '/' && path[n] != '\0'))
			continue;
		if (best == NULL || n > bestlen) {
			best = p;
			bestlen = n;
		}
	}
	if (best == NULL)
		return -ENOENT;
	*rel = path + bestlen + (path[bestlen] == '/');
	return open(best->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static int image_write(const struct gen_layout *l, const char *path,
		       const void *data, size_t len, struct rf_error *err)
{
	const char *rel;
	int dfd = open_image_path(l, path, &rel), rc;

	if (dfd < 0)
		return rf_error_errno(err, dfd, "no filesystem for %s", path);
	rc = root_write(dfd, rel, data, len, 0644, err);
	close(dfd);
	return rc;
}

/* GRUB's modules for platform into /boot/grub/platform. */
static int copy_modules(struct gen_tune *t, const struct gen_layout *l,
			int rootfd, const char *platform, struct rf_error *err)
{
	char src[128];
	int dfd, rc = 0;
	DIR *d;
	struct dirent *de;
	size_t n = 0;

	snprintf(src, sizeof(src), "usr/lib/grub/%s", platform);
	dfd = rf_root_open(rootfd, src, O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		return rf_error_errno(err, dfd, "no %s in the tree", src);
	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return rf_error_errno(err, -errno, "cannot read %s", src);
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		struct rf_buf b = RF_BUF_INIT;
		char from[400], to[400];

		if (len < 5 || (strcmp(de->d_name + len - 4, ".mod") != 0 &&
				strcmp(de->d_name + len - 4, ".lst") != 0))
			continue;
		snprintf(from, sizeof(from), "%s/%s", src, de->d_name);
		snprintf(to, sizeof(to), "/boot/grub/%s/%s", platform,
			 de->d_name);
		rc = root_read(rootfd, from, &b, err);
		if (rc == 0)
			rc = image_write(l, to, b.data ? b.data : "", b.len,
					 err);
		rf_buf_free(&b);
		n++;
	}
	closedir(d);
	if (rc == 0) {
		char p[80];

		snprintf(p, sizeof(p), "boot/grub/%s", platform);
		record(t, p,
		       "GRUB's modules (%zu) for the boot loader "
		       "installed by tuning",
		       n);
	}
	return rc;
}

/* Run the host's grub-mkimage on the tree's platform directory; the core
 * image into *out. */
static int mkimage(struct gen_tune *t, int rootfd, const char *format,
		   const char *platform, const char *early,
		   const char *const *modules, struct rf_buf *out,
		   struct rf_error *err)
{
	char dir[64], cfg[64], img[64], src[128];
	int dfd = -1, dup_fd = -1, cfd = -1, ofd = -1, rc;
	char *argv[40];
	size_t n = 0;

	snprintf(src, sizeof(src), "usr/lib/grub/%s", platform);
	dfd = rf_root_open(rootfd, src, O_RDONLY | O_DIRECTORY);
	if (dfd < 0) {
		rc = rf_error_errno(err, dfd, "no %s in the tree", src);
		goto out;
	}
	/* tools see the descriptors the child inherits: no O_CLOEXEC */
	dup_fd = fcntl(dfd, F_DUPFD, 3);
	cfd = open(t->tmpdir, O_TMPFILE | O_RDWR, 0600);
	ofd = open(t->tmpdir, O_TMPFILE | O_RDWR, 0600);
	if (dup_fd < 0 || cfd < 0 || ofd < 0 ||
	    write(cfd, early, strlen(early)) != (ssize_t)strlen(early)) {
		rc = rf_error_errno(err, -errno, "cannot prepare grub-mkimage");
		goto out;
	}
	snprintf(dir, sizeof(dir), "/proc/self/fd/%d", dup_fd);
	snprintf(cfg, sizeof(cfg), "/proc/self/fd/%d", cfd);
	snprintf(img, sizeof(img), "/proc/self/fd/%d", ofd);
	argv[n++] = "grub-mkimage";
	argv[n++] = "-O";
	argv[n++] = (char *)format;
	argv[n++] = "-d";
	argv[n++] = dir;
	argv[n++] = "-c";
	argv[n++] = cfg;
	argv[n++] = "-p";
	argv[n++] = "/boot/grub";
	argv[n++] = "-o";
	argv[n++] = img;
	for (size_t i = 0; modules[i] != NULL && n < 39; i++)
		argv[n++] = (char *)modules[i];
	argv[n] = NULL;
	rc = gen_run(argv, t->tmpdir, err);
	if (rc < 0) {
		rf_error_prefix(err,
				"cannot make GRUB's %s image (is "
				"grub-common installed on this host?)",
				format);
		goto out;
	}
	{
		char buf[65536];
		ssize_t got;
		off_t pos = 0;

		rf_buf_reset(out);
		while ((got = pread(ofd, buf, sizeof(buf), pos)) > 0) {
			rf_buf_add(out, buf, (size_t)got);
			pos += got;
		}
	}
	if (out->len < SECTOR) {
		rc = rf_error_set(err, -EIO, "grub-mkimage wrote no image");
		goto out;
	}
out:
	if (dfd >= 0)
		close(dfd);
	if (dup_fd >= 0)
		close(dup_fd);
	if (cfd >= 0)
		close(cfd);
	if (ofd >= 0)
		close(ofd);
	return rc;
}

static void put64le(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* The BIOS boot sector and core image, for disk.c to write. */
static int bios_loader(struct gen_tune *t, struct gen_layout *l, int rootfd,
		       const char *early, struct rf_error *err)
{
	const char *const modules[] = {
		"biosdisk", "part_msdos",     "part_gpt", grub_fs_module(l),
		"fat",	    "search_fs_uuid", NULL,
	};
	struct rf_buf core = RF_BUF_INIT, boot = RF_BUF_INIT;
	const struct gen_part *bp = part_kind(l, GEN_PART_BIOS);
	uint64_t at, room;
	int rc;

	if (l->gpt && bp == NULL)
		return rf_error_set(err, -EINVAL,
				    "a GPT disk for BIOS needs a "
				    "BIOS boot partition");
	at = l->gpt ? bp->start : SECTOR;
	room = l->gpt ? bp->size : l->parts[0].start - SECTOR;
	rc = mkimage(t, rootfd, "i386-pc", "i386-pc", early, modules, &core,
		     err);
	if (rc < 0)
		goto out;
	while (core.len % SECTOR)
		rf_buf_addch(&core, '\0');
	if (core.len > room) {
		rc = rf_error_set(err, -ENOSPC,
				  "GRUB's core image (%zu bytes) "
				  "does not fit its %llu bytes",
				  core.len, (unsigned long long)room);
		goto out;
	}
	rc = root_read(rootfd, "usr/lib/grub/i386-pc/boot.img", &boot, err);
	if (rc < 0 || boot.len != SECTOR) {
		rc = rf_error_set(err, rc < 0 ? rc : -EINVAL,
				  "the tree's GRUB "
				  "boot.img is missing or not one sector");
		goto out;
	}
	/* boot.img loads the first sector of core.img from the LBA at
	 * 0x5c; that sector (diskboot) loads the rest from the blocklist
	 * at its end (start LBA at 0x1f4), which grub-mkimage left at 2 */
	put64le((unsigned char *)boot.data + 0x5c, at / SECTOR);
	put64le((unsigned char *)core.data + 0x1f4, at / SECTOR + 1);
	free(l->boot_code);
	free(l->core);
	l->boot_code = (unsigned char *)rf_buf_detach(&boot);
	l->core_len = core.len;
	l->core = (unsigned char *)rf_buf_detach(&core);
	l->core_offset = at;
	note(t,
	     "boot loader: GRUB for BIOS (core image %zu KiB at sector "
	     "%llu)",
	     l->core_len / 1024, (unsigned long long)(at / SECTOR));
	record(t, "boot/grub/i386-pc",
	       "GRUB for BIOS, in the boot sector and "
	       "%s",
	       l->gpt ? "the BIOS boot partition" : "after it");
out:
	rf_buf_free(&core);
	rf_buf_free(&boot);
	return rc;
}

static int efi_loader(struct gen_tune *t, struct gen_layout *l, int rootfd,
		      const char *early, struct rf_error *err)
{
	const char *const modules[] = {
		"part_gpt",	  "part_msdos", grub_fs_module(l),
		"fat",		  "search_fs_uuid", NULL,
	};
	const struct gen_part *esp = part_kind(l, GEN_PART_ESP);
	struct rf_buf img = RF_BUF_INIT;
	int dfd = -1, rc;

	if (esp == NULL || esp->dir == NULL)
		return rf_error_set(err, -EINVAL,
				    "UEFI needs an EFI system "
				    "partition");
	rc = mkimage(t, rootfd, "x86_64-efi", "x86_64-efi", early, modules,
		     &img, err);
	if (rc < 0)
		goto out;
	dfd = open(esp->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = rf_error_errno(err, -errno, "cannot open %s", esp->dir);
		goto out;
	}
	rc = root_write(dfd, "EFI/BOOT/BOOTX64.EFI", img.data, img.len, 0644,
			err);
	if (rc < 0)
		goto out;
	{
		struct rf_buf p = RF_BUF_INIT;

		rf_buf_printf(&p, "%s/EFI/BOOT/BOOTX64.EFI", esp->mountpoint);
		record(t, p.data,
		       "GRUB for UEFI at the removable-media path "
		       "(no NVRAM entry needed)");
		rf_buf_free(&p);
	}
	note(t, "boot loader: GRUB for UEFI (EFI/BOOT/BOOTX64.EFI, %zu KiB)",
	     img.len / 1024);
out:
	if (dfd >= 0)
		close(dfd);
	rf_buf_free(&img);
	return rc;
}

static void cmdline_extra(const struct gen_tune *t, struct rf_buf *out)
{
	if (t->target->serial != NULL)
		rf_buf_printf(out, " console=tty0 console=%s,115200",
			      t->target->serial);
	if (t->renamed_nics)
		rf_buf_addstr(out, " net.ifnames=0 biosdevname=0");
}

/* /etc/default/grub keeps the target's kernel arguments for the
 * distribution's own update-grub later. */
static int default_grub(struct gen_tune *t, int rootfd, struct rf_error *err)
{
	struct rf_buf in = RF_BUF_INIT, out = RF_BUF_INIT, extra = RF_BUF_INIT;
	int rc = root_read(rootfd, "etc/default/grub", &in, err);

	cmdline_extra(t, &extra);
	if (rc == -ENOENT || extra.len == 0) {
		rc = 0;
		goto out;
	}
	if (rc < 0)
		goto out;
	rf_buf_add(&out, in.data ? in.data : "", in.len);
	if (out.len && out.data[out.len - 1] != '\n')
		rf_buf_addch(&out, '\n');
	rf_buf_printf(&out,
		      "# reforge: the %s target's kernel arguments\n"
		      "GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX%s\"\n",
		      t->target->name, extra.data);
	if (t->target->serial != NULL)
		rf_buf_printf(&out, "GRUB_TERMINAL=\"console serial\"\n"
				    "GRUB_SERIAL_COMMAND=\"serial --unit=0 "
				    "--speed=115200\"\n");
	rc = root_write(rootfd, "etc/default/grub", out.data, out.len, 0644,
			err);
	if (rc == 0)
		record(t, "etc/default/grub",
		       "the %s target's kernel "
		       "arguments kept for update-grub",
		       t->target->name);
out:
	rf_buf_free(&in);
	rf_buf_free(&out);
	rf_buf_free(&extra);
	return rc;
}

int gen_tune_boot(struct gen_tune *t, const struct gen_report *r,
		  struct gen_layout *l, const char *stage, struct rf_error *err)
{
	const struct gen_part *root = part_at(l, "/");
	const struct gen_part *boot = part_at(l, "/boot");
	const char *kdir = boot ? "" : "/boot";
	struct rf_buf cfg = RF_BUF_INIT, early = RF_BUF_INIT,
		      extra = RF_BUF_INIT, rootpath = RF_BUF_INIT;
	int rootfd = -1, rc;

	(void)r;
	rf_buf_printf(&rootpath, "%s/root", stage);
	rootfd = open(rootpath.data, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root == NULL || rootfd < 0) {
		rc = rf_error_set(err, -EINVAL, "no root filesystem to boot");
		goto out;
	}
	rc = fstab(t, l, rootfd, err);
	if (rc < 0)
		goto out;
	rc = default_grub(t, rootfd, err);
	if (rc < 0)
		goto out;
	if (t->nkernels == 0 || t->kernel_files == NULL ||
	    t->initrd_files == NULL) {
		rc = rf_error_set(err, -ENOENT, "no kernel to boot");
		goto out;
	}
	/* the core image finds /boot by UUID, whatever the disk's name */
	rf_buf_printf(&early,
		      "search.fs_uuid %s root\n"
		      "set prefix=($root)%s/grub\n",
		      boot ? boot->uuid : root->uuid, kdir);
	cmdline_extra(t, &extra);
	rf_buf_printf(&cfg,
		      "# Written by reforge-gen for the %s target; the "
		      "distribution's update-grub\n# replaces it.\n"
		      "set default=0\nset timeout=2\n",
		      t->target->name);
	if (t->target->serial != NULL)
		rf_buf_printf(&cfg, "serial --unit=0 --speed=115200\n"
				    "terminal_input console serial\n"
				    "terminal_output console serial\n");
	rf_buf_printf(&cfg,
		      "insmod part_gpt\ninsmod part_msdos\n"
		      "insmod %s\n"
		      "search --no-floppy --fs-uuid --set=root %s\n",
		      grub_fs_module(l), boot ? boot->uuid : root->uuid);
	for (size_t k = 0; k < t->nkernels; k++) {
		rf_buf_printf(&cfg,
			      "menuentry '%s, Linux %s' {\n"
			      "\tlinux %s/%s root=UUID=%s ro%s\n",
			      t->os_name, t->kernels[k], kdir,
			      t->kernel_files[k], root->uuid,
			      extra.data ? extra.data : "");
		if (t->initrd_files[k] != NULL)
			rf_buf_printf(&cfg, "\tinitrd %s/%s\n", kdir,
				      t->initrd_files[k]);
		rf_buf_printf(&cfg, "}\n");
	}
	rc = image_write(l, "/boot/grub/grub.cfg", cfg.data, cfg.len, err);
	if (rc < 0)
		goto out;
	record(t, "boot/grub/grub.cfg",
	       "boots kernel %s from the new root "
	       "UUID%s",
	       t->kernels[0],
	       extra.len ? " with the target's "
			   "console and NIC names"
			 : "");
	if (t->bios) {
		rc = copy_modules(t, l, rootfd, "i386-pc", err);
		if (rc == 0)
			rc = bios_loader(t, l, rootfd, early.data, err);
		if (rc < 0)
			goto out;
	}
	if (t->efi) {
		rc = copy_modules(t, l, rootfd, "x86_64-efi", err);
		if (rc == 0)
			rc = efi_loader(t, l, rootfd, early.data, err);
		if (rc < 0)
			goto out;
	}
out:
	if (rootfd >= 0)
		close(rootfd);
	rf_buf_free(&cfg);
	rf_buf_free(&early);
	rf_buf_free(&extra);
	rf_buf_free(&rootpath);
	return rc;
}
