/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Packages unpacked on all cores, merged in report order; see unpack.h.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "rootfs.h"
#include "fsw.h"
#include "unpack.h"

/* Deeper trees than this in one package are refused by the merge (each
 * level holds two descriptors). */
#define MERGE_DEPTH_MAX 256

enum job_state { JOB_PENDING, JOB_DONE };

struct job {
	enum job_state state;
	int rc; /* 1: skipped, not installed */
	struct rf_error err;
	struct gen_fsw_batch *batch; /* with o->fsw: what it read */
};

struct pool {
	const struct gen_report *r;
	struct gen_repo *repo;
	const struct gen_unpack_opts *o;
	pthread_mutex_t lock;
	pthread_cond_t done; /* a job finished */
	size_t next;         /* the next of order[] a worker takes */
	size_t *order;       /* jobs by package file size, largest first */
	bool abort;
	struct job *jobs;
};

unsigned gen_unpack_default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 8 ? 8 : (unsigned)n;
}

static bool installed(const struct gen_package *p)
{
	return p->status == NULL || strcmp(p->status, "installed") == 0;
}

static void pkg_dir(const struct gen_unpack_opts *o, size_t i,
		    struct rf_buf *b)
{
	rf_buf_printf(b, "%s/pkg-%zu", o->stage, i);
}

struct sized {
	size_t i;
	off_t size;
};

static int sized_cmp(const void *a, const void *b)
{
	const struct sized *x = a, *y = b;

	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * The order the workers take the packages in: the largest package files
 * first, so that no large one is left to the end with one core busy (the
 * merge still goes in report order). The file is looked up by name only:
 * the order does not need the exact version.
 */
static size_t *work_order(const struct gen_report *r,
			  const struct gen_repo *repo)
{
	struct sized *v = rf_xcalloc(r->npkgs, sizeof(*v));
	size_t *order = rf_xcalloc(r->npkgs, sizeof(*order));

	for (size_t i = 0; i < r->npkgs; i++) {
		struct gen_repo_entry e;
		struct stat st;

		v[i].i = i;
		if (installed(&r->pkgs[i]) &&
		    gen_repo_lookup(repo, r->pkgs[i].name, r->pkgs[i].arch,
				    &e) == 0 &&
		    stat(e.path, &st) == 0)
			v[i].size = st.st_size;
	}
	qsort(v, r->npkgs, sizeof(*v), sized_cmp);
	for (size_t i = 0; i < r->npkgs; i++)
		order[i] = v[i].i;
	free(v);
	return order;
}

/* Remove package i's private tree, or what is left of it. */
static void remove_pkg_dir(const struct gen_unpack_opts *o, size_t i)
{
	char name[32];
	int sfd = open(o->stage, O_PATH | O_DIRECTORY | O_CLOEXEC);

	snprintf(name, sizeof(name), "pkg-%zu", i);
	if (sfd >= 0) {
		gen_remove_tree(sfd, name);
		close(sfd);
	}
}

/* Unpack job i into its own directory, or its own batch of the ext4
 * writer. */
static int run_job(struct pool *pl, size_t i, struct rf_error *err)
{
	struct rf_buf dir = RF_BUF_INIT;
	int fd = -1, rc;

	if (pl->o->fsw != NULL) {
		struct gen_dest d = {-1, gen_fsw_batch_new(pl->o->fsw, false)};

		pl->jobs[i].batch = d.batch;
		return gen_repo_unpack(pl->repo, &pl->r->pkgs[i], &d,
				       pl->o->lim, err);
	}
	pkg_dir(pl->o, i, &dir);
	if (mkdir(dir.data, 0700) < 0) {
		rc = rf_error_errno(err, -errno, "mkdir %s", dir.data);
		goto out;
	}
	fd = open(dir.data, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = rf_error_errno(err, -errno, "open %s", dir.data);
		goto out;
	}
	rc = gen_repo_unpack(pl->repo, &pl->r->pkgs[i],
			     &(struct gen_dest){fd, NULL}, pl->o->lim, err);
out:
	if (fd >= 0)
		close(fd);
	rf_buf_free(&dir);
	return rc;
}

static void *worker(void *arg)
{
	struct pool *pl = arg;

	for (;;) {
		struct rf_error err = {0};
		size_t i;
		int rc;

		pthread_mutex_lock(&pl->lock);
		if (pl->abort || pl->next >= pl->r->npkgs) {
			pthread_mutex_unlock(&pl->lock);
			break;
		}
		i = pl->order[pl->next++];
		pthread_mutex_unlock(&pl->lock);
		rc = installed(&pl->r->pkgs[i]) ? run_job(pl, i, &err) : 1;
		pthread_mutex_lock(&pl->lock);
		pl->jobs[i].rc = rc;
		pl->jobs[i].err = err;
		pl->jobs[i].state = JOB_DONE;
		pthread_cond_broadcast(&pl->done);
		pthread_mutex_unlock(&pl->lock);
	}
	return NULL;
}

/* Give the kept directory name in dst the owner and mode of src's, as
 * gen_extract() does for a directory entry over an existing directory. */
static int take_meta(int dst, int src, const char *name, const char *rel,
		     struct rf_error *err)
{
	struct stat st;

	if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return rf_error_errno(err, -errno, "stat %s", rel);
	if (fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
	    fchmodat(dst, name, st.st_mode & 07777, 0) < 0)
		return rf_error_errno(err, -errno, "set the owner of %s", rel);
	return 0;
}

static int merge_dir(int rootfd, int dst, int src, struct rf_buf *rel,
		     int depth, struct rf_error *err);

/* Whether the directory name in dirfd has no entry (or cannot be read:
 * the merge then fails on it). */
static bool empty_dir(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					     O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	bool empty = true;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	while (empty && (de = readdir(d)) != NULL)
		empty = strcmp(de->d_name, ".") == 0 ||
			strcmp(de->d_name, "..") == 0;
	closedir(d);
	return empty;
}

/* Merge the entry name of src into dst (the directory rel of the root). */
static int merge_one(int rootfd, int dst, int src, const char *name,
		     struct rf_buf *rel, int depth, struct rf_error *err)
{
	struct stat s, d;
	size_t len = rel->len;
	int sub_src = -1, sub_dst = -1, rc = 0;
	bool have;

	if (len > 0)
		rf_buf_addstr(rel, "/");
	rf_buf_addstr(rel, name);
	if (fstatat(src, name, &s, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = rf_error_errno(err, -errno, "stat %s", rel->data);
		goto out;
	}
	have = fstatat(dst, name, &d, AT_SYMLINK_NOFOLLOW) == 0;
	if (!have && errno != ENOENT) {
		rc = rf_error_errno(err, -errno, "stat %s", rel->data);
		goto out;
	}
	if (S_ISDIR(s.st_mode) && have &&
	    (S_ISDIR(d.st_mode) || S_ISLNK(d.st_mode))) {
		/* into the kept directory, or through the kept symlink as
		 * resolved inside the root */
		if (S_ISDIR(d.st_mode)) {
			rc = take_meta(dst, src, name, rel->data, err);
			if (rc < 0)
				goto out;
			sub_dst = openat(dst, name, O_PATH | O_DIRECTORY |
						    O_NOFOLLOW | O_CLOEXEC);
			if (sub_dst < 0)
				sub_dst = -errno;
		} else if (empty_dir(src, name)) {
			goto out; /* the kept symlink may dangle until later */
		} else {
			sub_dst = rf_root_open(rootfd, rel->data,
					       O_PATH | O_DIRECTORY);
		}
		if (sub_dst < 0) {
			rc = rf_error_errno(err, sub_dst,
					    "cannot open the directory %s",
					    rel->data);
			goto out;
		}
		sub_src = openat(src, name, O_RDONLY | O_DIRECTORY |
					    O_NOFOLLOW | O_CLOEXEC);
		if (sub_src < 0) {
			rc = rf_error_errno(err, -errno, "open %s", rel->data);
			goto out;
		}
		rc = merge_dir(rootfd, sub_dst, sub_src, rel, depth + 1, err);
		sub_src = -1; /* merge_dir() closed it */
		goto out;
	}
	/* a non-directory replaces one (renameat does that atomically); a
	 * directory gives way only when empty, as in make_room() */
	if (have && S_ISDIR(d.st_mode) &&
	    unlinkat(dst, name, AT_REMOVEDIR) < 0) {
		rc = rf_error_errno(err, -errno, "cannot replace %s",
				    rel->data);
		goto out;
	}
	if (have && !S_ISDIR(d.st_mode) && S_ISDIR(s.st_mode) &&
	    unlinkat(dst, name, 0) < 0) {
		rc = rf_error_errno(err, -errno, "cannot replace %s",
				    rel->data);
		goto out;
	}
	if (renameat(src, name, dst, name) < 0)
		rc = rf_error_errno(err, -errno, "cannot move %s into the root",
				    rel->data);
out:
	if (sub_src >= 0)
		close(sub_src);
	if (sub_dst >= 0)
		close(sub_dst);
	rel->len = len;
	if (rel->data != NULL)
		rel->data[len] = '\0';
	return rc;
}

/* Merge every entry of the directory src (taken over: closed here) into
 * dst, the directory rel of the root. */
static int merge_dir(int rootfd, int dst, int src, struct rf_buf *rel,
		     int depth, struct rf_error *err)
{
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (depth > MERGE_DEPTH_MAX) {
		close(src);
		return rf_error_set(err, -ELOOP, "%s: more than %d levels "
				    "of directories", rel->data,
				    MERGE_DEPTH_MAX);
	}
	d = fdopendir(src);
	if (d == NULL) {
		rc = rf_error_errno(err, -errno, "cannot read %s",
				    rel->len ? rel->data : "/");
		close(src);
		return rc;
	}
	/* entries moved away while reading are not returned twice */
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		rc = merge_one(rootfd, dst, dirfd(d), de->d_name, rel, depth,
			       err);
	}
	closedir(d);
	return rc;
}

/* Merge package i's private tree into the root and remove what is left
 * of it (the directories that merged into existing ones). */
static int merge_job(const struct gen_unpack_opts *o, int rootfd, size_t i,
		     const char *name, struct rf_error *err)
{
	struct rf_buf dir = RF_BUF_INIT, rel = RF_BUF_INIT;
	int src, rc;

	pkg_dir(o, i, &dir);
	rf_buf_addstr(&rel, "");
	src = open(dir.data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (src < 0) {
		rc = rf_error_errno(err, -errno, "open %s", dir.data);
		goto out;
	}
	rc = merge_dir(rootfd, rootfd, src, &rel, 0, err);
	if (rc < 0)
		rf_error_prefix(err, "merging %s", name);
out:
	remove_pkg_dir(o, i);
	rf_buf_free(&rel);
	rf_buf_free(&dir);
	return rc;
}

/* One package after the other straight into the root: one core, or a
 * single package, gains nothing from the private trees. */
static int unpack_serial(const struct gen_report *r, struct gen_repo *repo,
			 int rootfd, const struct gen_unpack_opts *o,
			 uint64_t *unpacked, uint64_t *missing,
			 struct rf_error *err)
{
	int rc = 0;

	for (size_t i = 0; i < r->npkgs && rc == 0; i++) {
		struct rf_error e = {0};
		int one = 1;

		if (o->stop != NULL && *o->stop) {
			rc = rf_error_set(err, -EINTR, "stopped");
			break;
		}
		if (installed(&r->pkgs[i]) && o->fsw != NULL) {
			struct gen_dest d = {-1, gen_fsw_batch_new(o->fsw, true)};

			one = gen_repo_unpack(repo, &r->pkgs[i], &d, o->lim, &e);
			if (one == 0)
				one = gen_fsw_apply(o->fsw, d.batch, &e);
			gen_fsw_batch_free(d.batch);
		} else if (installed(&r->pkgs[i])) {
			one = gen_repo_unpack(repo, &r->pkgs[i],
					      &(struct gen_dest){rootfd, NULL},
					      o->lim, &e);
		}
		if (one == -ENOENT)
			(*missing)++;
		else if (one == 0)
			(*unpacked)++;
		else if (one < 0) {
			*err = e;
			rc = one;
			break;
		}
		if (o->event != NULL)
			o->event(o->ctx, i, r->npkgs, one, &e);
	}
	return rc;
}

int gen_unpack_all(const struct gen_report *r, struct gen_repo *repo,
		   int rootfd, const struct gen_unpack_opts *o,
		   uint64_t *unpacked, uint64_t *missing,
		   struct rf_error *err)
{
	struct pool pl = {.r = r, .repo = repo, .o = o};
	unsigned jobs = o->jobs ? o->jobs : gen_unpack_default_jobs();
	pthread_t *tids = NULL;
	size_t started = 0;
	int rc = 0;

	*unpacked = 0;
	*missing = 0;
	if (jobs > r->npkgs)
		jobs = (unsigned)r->npkgs;
	if (jobs <= 1)
		return unpack_serial(r, repo, rootfd, o, unpacked, missing,
				     err);
	pl.jobs = rf_xcalloc(r->npkgs, sizeof(*pl.jobs));
	pl.order = work_order(r, repo);
	pthread_mutex_init(&pl.lock, NULL);
	pthread_cond_init(&pl.done, NULL);
	tids = rf_xcalloc(jobs, sizeof(*tids));
	for (; started < jobs; started++) {
		int e = pthread_create(&tids[started], NULL, worker, &pl);

		if (e != 0) {
			if (started == 0) {
				rc = rf_error_errno(err, -e, "cannot start a "
						    "worker thread");
				goto join;
			}
			break; /* fewer workers will do */
		}
	}
	for (size_t i = 0; i < r->npkgs && rc == 0; i++) {
		struct job *j = &pl.jobs[i];

		pthread_mutex_lock(&pl.lock);
		while (j->state != JOB_DONE && !(o->stop && *o->stop)) {
			struct timespec ts;

			/* wake up now and then to notice a signal */
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 100000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&pl.done, &pl.lock, &ts);
		}
		pthread_mutex_unlock(&pl.lock);
		if (j->state != JOB_DONE) {
			rc = rf_error_set(err, -EINTR, "stopped");
			break;
		}
		if (j->rc == 0 && o->fsw != NULL)
			rc = gen_fsw_apply(o->fsw, j->batch, err);
		else if (j->rc == 0)
			rc = merge_job(o, rootfd, i, r->pkgs[i].name, err);
		else if (j->rc < 0 && o->fsw == NULL)
			remove_pkg_dir(o, i); /* half unpacked: never merged */
		gen_fsw_batch_free(j->batch);
		j->batch = NULL;
		if (rc < 0)
			break;
		if (j->rc == -ENOENT) {
			(*missing)++;
		} else if (j->rc < 0) {
			*err = j->err;
			rc = j->rc;
			break;
		} else if (j->rc == 0) {
			(*unpacked)++;
		}
		if (o->event != NULL)
			o->event(o->ctx, i, r->npkgs, j->rc, &j->err);
	}
join:
	pthread_mutex_lock(&pl.lock);
	pl.abort = true;
	pthread_mutex_unlock(&pl.lock);
	for (size_t t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
	/* the private trees of packages unpacked but never merged */
	for (size_t i = 0; i < r->npkgs; i++) {
		gen_fsw_batch_free(pl.jobs[i].batch);
		if (pl.jobs[i].state == JOB_DONE && pl.jobs[i].rc != 1 &&
		    o->fsw == NULL)
			remove_pkg_dir(o, i);
	}
	pthread_cond_destroy(&pl.done);
	pthread_mutex_destroy(&pl.lock);
	free(tids);
	free(pl.order);
	free(pl.jobs);
	return rc;
}
