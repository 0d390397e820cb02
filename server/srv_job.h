/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef SRV_JOB_H
#define SRV_JOB_H
/*
 * Image jobs: a stored scan becomes a disk image by running reforge-gen as
 * a child process, in a pool of worker threads inside reforge-server.
 *
 * Table (created by srv_jobs_start(), in the store's database):
 *   jobs  id, scan_id, format, disk_size, target, state, stage, progress,
 *         error, created, started, finished, image_size, token_id
 * States: queued -> running -> done | failed | cancelled.
 *
 * Files under the data directory:
 *   jobs/ID/        the job's staging: report.xml, overlay.tar, repo/ (links
 *                   into the package cache), reforge-gen's own staging
 *                   (--tmpdir), its --json output. Removed when the job
 *                   ends, however it ends.
 *   images/ID.FMT   the image; reforge-gen makes it appear only complete.
 *   images/ID.tuning.json  what tuning changed in it (path, why), a JSON
 *                   array written before the image appears.
 *   job-logs/ID.log what the job did, reforge-gen's messages included.
 *
 * Restarts: a job that was "running" when the server died is marked failed
 * ("server restarted": it may be what brought the server down, so it is not
 * run again unasked) and its staging removed. A server stopped by SIGTERM
 * kills its children and puts their jobs back in the queue: they did not
 * fail. Queued jobs stay queued across restarts.
 */
#include <stdint.h>

#include <sqlite3.h>

#include "error.h"
#include "srv.h"

struct srv_jobs;

struct srv_jobs_config {
	const char *data;      /* the data directory */
	const char *generator; /* reforge-gen; NULL: next to the program,
				  else from PATH */
	const char *repo_cache; /* the repositories' package cache */
	/* reforge-gen's --cache-max for DATA/payload-cache, in bytes (0:
	 * no limit) */
	uint64_t payload_cache_max;
	unsigned workers;      /* threads running jobs at once, >= 1 */
};

/*
 * Create the table, recover from a crash (see above) and start the workers.
 * The config's strings must outlive the pool. *out is freed (workers
 * stopped, running jobs put back in the queue) by srv_jobs_stop().
 */
int srv_jobs_start(const struct srv_jobs_config *cfg, struct srv_store *st,
		   struct srv_jobs **out, struct rf_error *err);
void srv_jobs_stop(struct srv_jobs *jobs);

/* What srv_job_create() is asked for. */
struct srv_job_request {
	int64_t scan_id;
	const char *format;    /* raw, qcow2, vmdk, ova */
	const char *disk_size; /* NULL or reforge-gen's SIZE (digits + K/M/G/T) */
	const char *target;    /* NULL or a target name */
	int64_t token;
};

/*
 * Queue a job; its id in *id. -ENOENT: no such scan; -EBUSY: the scan is
 * still pending (its overlay is incomplete); -EINVAL: a bad format, size
 * or target (err says which).
 */
int srv_job_create(struct srv_jobs *jobs, sqlite3 *db,
		   const struct srv_job_request *req, int64_t *id,
		   struct rf_error *err);

/*
 * Cancel a queued or running job: a running one's process group is killed
 * and its staging removed by its worker before the state is "cancelled".
 * -ENOENT: no such job; -EALREADY: it has ended.
 */
int srv_job_cancel(struct srv_jobs *jobs, sqlite3 *db, int64_t id,
		   struct rf_error *err);

/*
 * Delete an ended (or queued) job, its image and its log. -ENOENT: no such
 * job; -EBUSY: it is running (cancel it first).
 */
int srv_job_delete(struct srv_jobs *jobs, sqlite3 *db, int64_t id,
		   struct rf_error *err);

/*
 * The image file of a done job: its path (caller frees) in *path.
 * -ENOENT: no such job; -EAGAIN: not done.
 */
int srv_job_image_path(struct srv_jobs *jobs, sqlite3 *db, int64_t id,
		       char **path, struct rf_error *err);

/* The tuning record of a job's image (which may not exist); caller
 * frees. */
char *srv_job_tuning_path(struct srv_jobs *jobs, int64_t id);

/* The log file of a job (which may not exist yet); caller frees. */
char *srv_job_log_path(struct srv_jobs *jobs, int64_t id);

#endif
