/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Image jobs (srv_job.h): a pool of worker threads, each taking the oldest
 * queued job, preparing reforge-gen's inputs under DATA/jobs/ID and running
 * it as a child in a process group of its own, so that a cancel (or the
 * server's stop) kills it with everything it started.
 *
 * The child's stderr is a pseudo-terminal: reforge-gen draws its progress
 * only on a terminal, and its lines ("unpacking 3/40: name", "applying the
 * overlay", "making the filesystems") are the job's stages. Lines that end
 * in a newline are its messages and go into the job's log.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <libxml/xmlreader.h>

#include "buf.h"
#include "escape.h"
#include "progress.h"
#include "repo.h"
#include "srv_job.h"

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS jobs("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" scan_id INTEGER NOT NULL, format TEXT NOT NULL, disk_size TEXT,"
	" target TEXT, token_id INTEGER NOT NULL,"
	" state TEXT NOT NULL CHECK(state IN ('queued','running','done',"
	"  'failed','cancelled')),"
	" stage TEXT, progress INTEGER NOT NULL DEFAULT 0, error TEXT,"
	" created INTEGER NOT NULL, started INTEGER, finished INTEGER,"
	" image_size INTEGER);"
	"CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);";

/* A job a worker is running, as cancel and stop see it. */
struct running {
	int64_t id;   /* 0: the slot is free */
	pid_t pid;    /* the child (its process group), 0 before the spawn */
	bool cancel;  /* asked by srv_job_cancel() */
};

struct srv_jobs {
	const struct srv_jobs_config *cfg;
	struct srv_store *st;
	char *generator;
	pthread_mutex_t lock;
	pthread_cond_t wake;  /* a job was queued, or stop */
	pthread_cond_t ended; /* a running job ended */
	struct running *run;  /* cfg->workers slots */
	pthread_t *threads;
	unsigned started;
	bool stopping;
};

/* What one job is, read from its row. */
struct job {
	int64_t id, scan_id;
	char *format, *disk_size, *target;
	struct running *slot;
	int log;	 /* job-logs/ID.log, appended */
	char *dir;	 /* DATA/jobs/ID */
	sqlite3 *db;
	struct srv_jobs *jobs;
	int last_progress;
	uint64_t last_update_ns;
};

/* ---- small helpers ---- */

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* Remove a directory tree without following symlinks; absent is fine. */
static void remove_tree(const char *path)
{
	nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

static char *path_of(const struct srv_jobs *jobs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static char *path_of(const struct srv_jobs *jobs, const char *fmt, ...)
{
	struct rf_buf b = RF_BUF_INIT;
	char tail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	rf_buf_printf(&b, "%s/%s", jobs->cfg->data, tail);
	return rf_buf_detach(&b);
}

char *srv_job_log_path(struct srv_jobs *jobs, int64_t id)
{
	return path_of(jobs, "job-logs/%lld.log", (long long)id);
}

char *srv_job_tuning_path(struct srv_jobs *jobs, int64_t id)
{
	return path_of(jobs, "images/%lld.tuning.json", (long long)id);
}

static void job_log(struct job *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A line of the job's log, timestamped. */
static void job_log(struct job *j, const char *fmt, ...)
{
	struct rf_buf b = RF_BUF_INIT;
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;
	char line[2048];

	if (j->log < 0)
		return;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rf_buf_printf(&b, "%s %s\n", when, line);
	(void)srv_write_all(j->log, b.data, b.len);
	rf_buf_free(&b);
}

static int db_fail(sqlite3 *db, struct rf_error *err)
{
	return rf_error_set(err, -EIO, "database: %s", sqlite3_errmsg(db));
}

/* Run one statement with integer/text arguments ("i" int64, "s" text). */
static int exec_args(sqlite3 *db, const char *sql, const char *types, ...)
{
	sqlite3_stmt *q = NULL;
	va_list ap;
	int rc = -EIO;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	va_start(ap, types);
	for (int i = 0; types[i] != '\0'; i++) {
		if (types[i] == 'i') {
			sqlite3_bind_int64(q, i + 1, va_arg(ap, int64_t));
		} else {
			const char *s = va_arg(ap, const char *);

			if (s != NULL)
				sqlite3_bind_text(q, i + 1, s, -1,
						  SQLITE_TRANSIENT);
		}
	}
	va_end(ap);
	/* writers take turns in the process (srv_db_write_lock, srv.h) */
	srv_db_write_lock();
	if (sqlite3_step(q) == SQLITE_DONE)
		rc = sqlite3_changes(db);
	srv_db_write_unlock();
	sqlite3_finalize(q);
	return rc;
}

static void set_stage(struct job *j, const char *stage, int progress)
{
	uint64_t now = rf_now_ns();

	/* a stage change always; the same stage at most twice a second */
	if (progress == j->last_progress &&
	    now - j->last_update_ns < 500000000u)
		return;
	j->last_progress = progress;
	j->last_update_ns = now;
	exec_args(j->db, "UPDATE jobs SET stage = ?, progress = ? WHERE id = ?",
		  "sii", stage, (int64_t)progress, j->id);
}

static bool cancelled(struct job *j)
{
	bool c;

	pthread_mutex_lock(&j->jobs->lock);
	c = j->slot->cancel || j->jobs->stopping;
	pthread_mutex_unlock(&j->jobs->lock);
	return c;
}

/* ---- inputs ---- */

/*
 * The report as received (plain, gzip or zstd) into DIR/report.xml, plain:
 * libarchive's raw format with every filter reads all three.
 */
static int write_report(struct job *j, const char *sha, struct rf_error *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct rf_buf path = RF_BUF_INIT;
	char buf[65536];
	la_ssize_t n;
	int fd = -1, out = -1, rc;

	fd = srv_object_open(j->jobs->st, sha);
	if (fd < 0) {
		rc = rf_error_errno(err, fd, "cannot open the scan's report");
		goto out;
	}
	rf_buf_printf(&path, "%s/report.xml", j->dir);
	out = open(path.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		rc = rf_error_errno(err, -errno, "cannot create '%s'",
				    path.data);
		goto out;
	}
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK) {
		rc = rf_error_set(err, -EBADMSG, "the stored report: %s",
				  archive_error_string(a));
		goto out;
	}
	while ((n = archive_read_data(a, buf, sizeof(buf))) > 0) {
		rc = srv_write_all(out, buf, (size_t)n);
		if (rc < 0) {
			rc = rf_error_errno(err, rc, "cannot write '%s'",
					    path.data);
			goto out;
		}
	}
	if (n < 0) {
		rc = rf_error_set(err, -EBADMSG, "the stored report: %s",
				  archive_error_string(a));
		goto out;
	}
	rc = 0;
out:
	archive_read_free(a);
	if (fd >= 0)
		close(fd);
	if (out >= 0)
		close(out);
	rf_buf_free(&path);
	return rc;
}

/* A device node of the overlay: the database does not keep rdev. */
struct device {
	char *path; /* without the leading "/" */
	mode_t type;
	dev_t rdev;
};

struct devices {
	struct device *v;
	size_t n, cap;
};

static void devices_free(struct devices *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].path);
	free(d->v);
}

static bool attr_is(xmlTextReaderPtr r, const char *name, const char *v)
{
	xmlChar *a = xmlTextReaderGetAttribute(r, BAD_CAST name);
	bool is = a != NULL && strcmp((const char *)a, v) == 0;

	xmlFree(a);
	return is;
}

/* The modified and unowned device nodes of report.xml, with their rdev. */
static int read_devices(struct job *j, struct devices *d,
			struct rf_error *err)
{
	struct rf_buf path = RF_BUF_INIT;
	xmlTextReaderPtr r;
	int ret, rc = 0;

	rf_buf_printf(&path, "%s/report.xml", j->dir);
	r = xmlReaderForFile(path.data, NULL,
			     XML_PARSE_NONET | XML_PARSE_NOERROR |
				     XML_PARSE_NOWARNING | XML_PARSE_HUGE);
	rf_buf_free(&path);
	if (r == NULL)
		return rf_error_set(err, -EBADMSG, "cannot read the report");
	while ((ret = xmlTextReaderRead(r)) == 1) {
		xmlChar *p, *rdev;
		struct rf_buf raw = RF_BUF_INIT;
		unsigned maj, min;
		bool chr;

		if (xmlTextReaderNodeType(r) != XML_READER_TYPE_ELEMENT ||
		    strcmp((const char *)xmlTextReaderConstLocalName(r),
			   "file") != 0)
			continue;
		chr = attr_is(r, "type", "chardev");
		if (!chr && !attr_is(r, "type", "blockdev"))
			continue;
		if (!attr_is(r, "class", "modified") &&
		    !attr_is(r, "class", "unowned"))
			continue;
		rdev = xmlTextReaderGetAttribute(r, BAD_CAST "rdev");
		p = xmlTextReaderGetAttribute(r, BAD_CAST "path");
		if (p != NULL) {
			rf_buf_addstr(&raw, (const char *)p);
		} else {
			xmlChar *b = xmlTextReaderGetAttribute(
				r, BAD_CAST "path-base64");

			if (b == NULL ||
			    rf_base64_decode(&raw, (const char *)b) < 0)
				rf_buf_reset(&raw);
			xmlFree(b);
		}
		if (rdev != NULL && raw.len > 1 && raw.data[0] == '/' &&
		    sscanf((const char *)rdev, "%u:%u", &maj, &min) == 2) {
			if (d->n == d->cap) {
				d->cap = d->cap ? 2 * d->cap : 16;
				d->v = rf_xrealloc(d->v, d->cap * sizeof(*d->v));
			}
			d->v[d->n].path = rf_xstrndup(raw.data + 1,
						      raw.len - 1);
			d->v[d->n].type = chr ? AE_IFCHR : AE_IFBLK;
			d->v[d->n].rdev = makedev(maj, min);
			d->n++;
		}
		xmlFree(p);
		xmlFree(rdev);
		rf_buf_free(&raw);
	}
	if (ret < 0)
		rc = rf_error_set(err, -EBADMSG, "the report is not valid XML");
	xmlFreeTextReader(r);
	return rc;
}

/* One regular file's content from the store into the archive. */
static int copy_object(struct job *j, struct archive *a, const char *sha,
		       const char *path, int64_t size, struct rf_error *err)
{
	char buf[65536];
	int64_t left = size;
	ssize_t n;
	int fd = srv_object_open(j->jobs->st, sha);
	int rc = 0;

	if (fd < 0)
		return rf_error_errno(err, fd, "/%s: its content %.12s is not "
				      "in the store", path, sha);
	while (left > 0 && (n = read(fd, buf, sizeof(buf))) > 0) {
		if (n > left)
			n = (ssize_t)left;
		if (archive_write_data(a, buf, (size_t)n) != n) {
			rc = rf_error_set(err, -EIO, "overlay: %s",
					  archive_error_string(a));
			break;
		}
		left -= n;
	}
	if (rc == 0 && left > 0)
		rc = rf_error_set(err, -EIO, "/%s: the stored content %.12s "
				  "is shorter than recorded", path, sha);
	close(fd);
	return rc;
}

/*
 * DIR/overlay.tar: what no repository brings, as the scanner's --overlay
 * writes it (pax, names without the leading "/"): every modified and
 * unowned file (contents from the store), symlink, FIFO and device node,
 * and every regular file of the scan's packages in no repository. Owners,
 * modes and times are set again by reforge-gen from the report.
 */
static int write_overlay(struct job *j, uint64_t *entries,
			 struct rf_error *err)
{
	static const char sql[] =
		"SELECT path, type, mode, uid, gid, size, sha256, target "
		"FROM entries WHERE scan_id = ?1 AND path <> '/' AND "
		"type IN ('file', 'symlink', 'fifo') AND "
		"(class IN ('modified', 'unowned') OR (class = 'unmodified' "
		" AND type = 'file' AND package IN (SELECT name FROM "
		" scan_missing WHERE scan_id = ?1))) ORDER BY path";
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	struct devices dev = {0};
	struct rf_buf path = RF_BUF_INIT, name = RF_BUF_INIT;
	sqlite3_stmt *q = NULL;
	int rc, step;

	*entries = 0;
	rc = read_devices(j, &dev, err);
	if (rc < 0)
		goto out;
	rf_buf_printf(&path, "%s/overlay.tar", j->dir);
	archive_write_set_format_pax(a);
	archive_write_set_format_option(a, "pax", "hdrcharset", "BINARY");
	if (archive_write_open_filename(a, path.data) != ARCHIVE_OK) {
		rc = rf_error_set(err, -EIO, "cannot create '%s': %s",
				  path.data, archive_error_string(a));
		goto out;
	}
	if (sqlite3_prepare_v2(j->db, sql, -1, &q, NULL) != SQLITE_OK) {
		rc = db_fail(j->db, err);
		goto out;
	}
	sqlite3_bind_int64(q, 1, j->scan_id);
	/* objects must not be collected while they are copied (srv.h) */
	srv_gc_lock_shared();
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		const char *p = sqlite3_column_blob(q, 0);
		int plen = sqlite3_column_bytes(q, 0);
		const char *type = (const char *)sqlite3_column_text(q, 1);
		const char *sha = (const char *)sqlite3_column_text(q, 6);
		int64_t size = sqlite3_column_int64(q, 5);

		if (p == NULL || plen < 2 || p[0] != '/' || type == NULL)
			continue;
		rf_buf_reset(&name);
		rf_buf_add(&name, p + 1, (size_t)plen - 1);
		archive_entry_clear(e);
		archive_entry_copy_pathname(e, name.data);
		archive_entry_set_perm(e, (mode_t)sqlite3_column_int64(q, 2) &
						  07777);
		archive_entry_set_uid(e, sqlite3_column_int64(q, 3));
		archive_entry_set_gid(e, sqlite3_column_int64(q, 4));
		archive_entry_set_mtime(e, 0, 0);
		if (strcmp(type, "file") == 0) {
			if (sha == NULL || size < 0)
				continue;
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, size);
		} else if (strcmp(type, "symlink") == 0) {
			const char *t = sqlite3_column_blob(q, 7);
			char *target;

			if (t == NULL)
				continue;
			target = rf_xstrndup(t, (size_t)sqlite3_column_bytes(
							q, 7));
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_copy_symlink(e, target);
			free(target);
		} else {
			archive_entry_set_filetype(e, AE_IFIFO);
		}
		if (archive_write_header(a, e) < ARCHIVE_WARN) {
			rc = rf_error_set(err, -EIO, "overlay: /%s: %s",
					  name.data, archive_error_string(a));
			break;
		}
		if (strcmp(type, "file") == 0 && size > 0) {
			rc = copy_object(j, a, sha, name.data, size, err);
			if (rc < 0)
				break;
		}
		(*entries)++;
	}
	srv_gc_unlock();
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_fail(j->db, err);
	for (size_t i = 0; rc == 0 && i < dev.n; i++) {
		archive_entry_clear(e);
		archive_entry_copy_pathname(e, dev.v[i].path);
		archive_entry_set_filetype(e, (unsigned)dev.v[i].type);
		archive_entry_set_perm(e, 0600);
		archive_entry_set_rdev(e, dev.v[i].rdev);
		if (archive_write_header(a, e) < ARCHIVE_WARN)
			rc = rf_error_set(err, -EIO, "overlay: /%s: %s",
					  dev.v[i].path,
					  archive_error_string(a));
		(*entries)++;
	}
	if (rc == 0 && archive_write_close(a) != ARCHIVE_OK)
		rc = rf_error_set(err, -EIO, "overlay: %s",
				  archive_error_string(a));
out:
	sqlite3_finalize(q);
	archive_entry_free(e);
	archive_write_free(a);
	devices_free(&dev);
	rf_buf_free(&path);
	rf_buf_free(&name);
	return rc;
}

static char *col_dup(sqlite3_stmt *q, int i)
{
	const char *s = (const char *)sqlite3_column_text(q, i);

	return s != NULL && *s != '\0' ? rf_xstrdup(s) : NULL;
}

/*
 * DIR/repo: a link to the cached file of every package of the scan that a
 * repository has (fetched into the cache, checksum verified, when not
 * there), for reforge-gen's --repo file:///DIR/repo. *missing counts the
 * packages of scan_missing (their files are in the overlay).
 */
static int link_packages(struct job *j, size_t *linked, size_t *missing,
			 struct rf_error *err)
{
	static const char sql[] =
		"SELECT p.name, p.epoch, p.version, p.release, p.arch, "
		"EXISTS (SELECT 1 FROM scan_missing m WHERE m.scan_id = "
		" p.scan_id AND m.name = p.name AND m.arch = "
		" COALESCE(p.arch, '')) FROM packages p WHERE p.scan_id = ? "
		"ORDER BY p.name";
	struct srv_repo_config rcfg = {.cache_dir = j->jobs->cfg->repo_cache,
				       .write_lock = srv_db_write_lock,
				       .write_unlock = srv_db_write_unlock};
	struct srv_repo *repo = NULL;
	struct rf_buf dir = RF_BUF_INIT, link = RF_BUF_INIT,
		      failed = RF_BUF_INIT;
	sqlite3_stmt *q = NULL;
	size_t total = 0, n = 0, nfailed = 0;
	int rc, step;

	*linked = *missing = 0;
	rf_buf_printf(&dir, "%s/repo", j->dir);
	if (mkdir(dir.data, 0700) < 0) {
		rc = rf_error_errno(err, -errno, "cannot create '%s'",
				    dir.data);
		goto out;
	}
	rc = srv_repo_open(j->db, &rcfg, &repo, err);
	if (rc < 0)
		goto out;
	if (sqlite3_prepare_v2(j->db, "SELECT COUNT(*) FROM packages WHERE "
				      "scan_id = ?", -1, &q, NULL) != SQLITE_OK) {
		rc = db_fail(j->db, err);
		goto out;
	}
	sqlite3_bind_int64(q, 1, j->scan_id);
	if (sqlite3_step(q) == SQLITE_ROW)
		total = (size_t)sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	if (sqlite3_prepare_v2(j->db, sql, -1, &q, NULL) != SQLITE_OK) {
		rc = db_fail(j->db, err);
		goto out;
	}
	sqlite3_bind_int64(q, 1, j->scan_id);
	while ((step = sqlite3_step(q)) == SQLITE_ROW && !cancelled(j)) {
		char *f[5], *file = NULL, stage[160];
		struct srv_repo_query pq;
		struct rf_error ferr;
		const char *base;

		n++;
		if (sqlite3_column_int(q, 5)) {
			(*missing)++;
			continue;
		}
		for (int i = 0; i < 5; i++)
			f[i] = col_dup(q, i);
		pq = (struct srv_repo_query){f[0], f[1], f[2], f[3], f[4]};
		snprintf(stage, sizeof(stage), "fetching packages %zu/%zu: %s",
			 n, total, f[0] ? f[0] : "?");
		set_stage(j, stage, 5 + (int)(10 * n / (total ? total : 1)));
		rf_error_clear(&ferr);
		rc = f[0] == NULL ? -EINVAL
				  : srv_repo_fetch_package(repo, NULL, &pq,
							   &file, &ferr);
		if (rc < 0) {
			job_log(j, "package %s %s: %s", f[0] ? f[0] : "?",
				f[2] ? f[2] : "", ferr.msg);
			rf_buf_printf(&failed, "%s%s", nfailed ? ", " : "",
				      f[0] ? f[0] : "?");
			nfailed++;
		} else {
			base = strrchr(file, '/');
			rf_buf_reset(&link);
			rf_buf_printf(&link, "%s/%05zu-%s", dir.data, n,
				      base ? base + 1 : file);
			if (symlink(file, link.data) < 0) {
				rc = rf_error_errno(err, -errno, "cannot link "
						    "'%s'", link.data);
				free(file);
				for (int i = 0; i < 5; i++)
					free(f[i]);
				goto out;
			}
			(*linked)++;
		}
		free(file);
		for (int i = 0; i < 5; i++)
			free(f[i]);
	}
	if (cancelled(j)) {
		rc = rf_error_set(err, -ECANCELED, "cancelled");
		goto out;
	}
	if (step != SQLITE_DONE) {
		rc = db_fail(j->db, err);
		goto out;
	}
	if (nfailed > 0) {
		rc = rf_error_set(err, -ENOENT, "%zu package(s) could not be "
				  "fetched from the repositories (see the log): "
				  "%.300s", nfailed, failed.data);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(q);
	srv_repo_free(repo);
	rf_buf_free(&dir);
	rf_buf_free(&link);
	rf_buf_free(&failed);
	return rc;
}

/* ---- the child ---- */

/* Drop terminal escape sequences ("\033[K") from a line, in place. */
static void strip_escapes(char *s)
{
	char *w = s;

	while (*s != '\0') {
		if (*s == '\033') {
			s++;
			if (*s == '[') {
				s++;
				while (*s != '\0' && !(*s >= '@' && *s <= '~'))
					s++;
			}
			if (*s != '\0')
				s++;
			continue;
		}
		*w++ = *s++;
	}
	*w = '\0';
}

/* A progress line of reforge-gen as the job's stage and percentage. */
static void on_progress(struct job *j, const char *line)
{
	unsigned a, b;
	int pct = -1;

	if (sscanf(line, "unpacking %u/%u", &a, &b) == 2 && b > 0 && a <= b)
		pct = 15 + (int)(50ull * a / b);
	else if (strncmp(line, "applying the overlay", 20) == 0)
		pct = 66;
	else if (strncmp(line, "setting owners", 14) == 0)
		pct = 72;
	else if (strncmp(line, "tuning", 6) == 0)
		pct = 78;
	else if (strncmp(line, "making the filesystems", 22) == 0)
		pct = 85;
	if (pct >= 0)
		set_stage(j, line, pct);
}

/* Bytes from the child's terminal: progress lines and messages. */
static void on_output(struct job *j, struct rf_buf *line, const char *data,
		      size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = data[i];

		if (c != '\r' && c != '\n') {
			if (line->len < 4096)
				rf_buf_addch(line, c);
			continue;
		}
		if (line->len == 0)
			continue;
		rf_buf_addch(line, '\0');
		strip_escapes(line->data);
		if (c == '\n') {
			/* a message printed over a progress line */
			char *m = strstr(line->data, "reforge-gen:");

			if (m != NULL && m != line->data) {
				*m = '\0';
				on_progress(j, line->data);
				*m = 'r';
				job_log(j, "%s", m);
			} else if (line->data[0] != '\0') {
				job_log(j, "%s", line->data);
			}
		} else {
			on_progress(j, line->data);
		}
		rf_buf_reset(line);
	}
}

/* The last message line of the log, for the job's error. */
static void last_message(struct job *j, char *out, size_t size)
{
	char buf[4096];
	ssize_t n;
	off_t end = lseek(j->log, 0, SEEK_END);
	char *p, *last = NULL;

	out[0] = '\0';
	if (end <= 0)
		return;
	n = pread(j->log, buf, sizeof(buf) - 1,
		  end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1
					       : 0);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (p = strtok(buf, "\n"); p != NULL; p = strtok(NULL, "\n"))
		if (strstr(p, "reforge-gen:") != NULL)
			last = p;
	if (last != NULL)
		snprintf(out, size, "%s", strstr(last, "reforge-gen:"));
}

static char *gen_arg(struct rf_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static char *gen_arg(struct rf_buf *b, const char *fmt, ...)
{
	va_list ap;

	rf_buf_reset(b);
	va_start(ap, fmt);
	{
		char tmp[4096];

		vsnprintf(tmp, sizeof(tmp), fmt, ap);
		rf_buf_addstr(b, tmp);
	}
	va_end(ap);
	return rf_buf_detach(b);
}

/*
 * Run reforge-gen: stdout to DIR/gen.json, stderr a pseudo-terminal read
 * here, its own session (and process group). Returns its wait status in
 * *status, or a negative errno when it could not be started.
 */
static int run_generator(struct job *j, bool missing_ok, int *status,
			 struct rf_error *err)
{
	struct rf_buf b = RF_BUF_INIT, line = RF_BUF_INIT;
	char *argv[32], *owned[6], slave[128];
	int argc = 0, master = -1, out = -1, rc;
	pid_t parent = getpid();
	struct winsize ws = {.ws_row = 24, .ws_col = 200};
	pid_t pid;

	argv[argc++] = j->jobs->generator;
	owned[0] = gen_arg(&b, "%s/report.xml", j->dir);
	owned[1] = gen_arg(&b, "%s/overlay.tar", j->dir);
	owned[2] = gen_arg(&b, "file://%s/repo", j->dir);
	owned[3] = gen_arg(&b, "%s/image.%s", j->dir, j->format);
	/* decoded payloads shared by every job: a package unpacked for one
	 * image is read back several times faster for the next */
	owned[4] = gen_arg(&b, "%s/payload-cache", j->jobs->cfg->data);
	owned[5] = gen_arg(&b, "%llu",
			   (unsigned long long)j->jobs->cfg->payload_cache_max);
	argv[argc++] = "--report";
	argv[argc++] = owned[0];
	argv[argc++] = "--overlay";
	argv[argc++] = owned[1];
	argv[argc++] = "--repo";
	argv[argc++] = owned[2];
	argv[argc++] = "--format";
	argv[argc++] = j->format;
	argv[argc++] = "--tmpdir";
	argv[argc++] = j->dir;
	argv[argc++] = "--json";
	argv[argc++] = "--cache";
	argv[argc++] = owned[4];
	argv[argc++] = "--cache-max";
	argv[argc++] = owned[5];
	argv[argc++] = "-o";
	argv[argc++] = owned[3];
	if (missing_ok)
		argv[argc++] = "--missing-ok";
	if (j->disk_size != NULL) {
		argv[argc++] = "--disk-size";
		argv[argc++] = j->disk_size;
	}
	if (j->target != NULL) {
		argv[argc++] = "--target";
		argv[argc++] = j->target;
	}
	argv[argc] = NULL;
	{
		struct rf_buf cmd = RF_BUF_INIT;

		for (int i = 0; i < argc; i++)
			rf_buf_printf(&cmd, "%s%s", i ? " " : "", argv[i]);
		job_log(j, "running %s", cmd.data);
		rf_buf_free(&cmd);
	}
	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
	    ptsname_r(master, slave, sizeof(slave)) != 0) {
		rc = rf_error_errno(err, -errno, "no pseudo-terminal");
		goto out;
	}
	ioctl(master, TIOCSWINSZ, &ws);
	rf_buf_printf(&b, "%s/gen.json", j->dir);
	out = open(b.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	rf_buf_reset(&b);
	if (out < 0) {
		rc = rf_error_errno(err, -errno, "cannot create gen.json");
		goto out;
	}
	pthread_mutex_lock(&j->jobs->lock);
	if (j->slot->cancel || j->jobs->stopping) {
		pthread_mutex_unlock(&j->jobs->lock);
		rc = rf_error_set(err, -ECANCELED, "cancelled");
		goto out;
	}
	pid = fork();
	if (pid == 0) {
		/* the child: only async-signal-safe calls until exec */
		int s, nul;
		struct termios t;
		sigset_t none;

		sigemptyset(&none);
		pthread_sigmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		setsid();
		/* dies with the worker thread that waits for it, so that a
		 * server killed -9 leaves no generator running */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		s = open(slave, O_RDWR);
		nul = open("/dev/null", O_RDONLY);
		if (s < 0 || nul < 0)
			_exit(127);
		if (tcgetattr(s, &t) == 0) {
			/* keep "\n" as it is: it tells messages apart */
			t.c_oflag &= ~(tcflag_t)OPOST;
			tcsetattr(s, TCSANOW, &t);
		}
		dup2(nul, 0);
		dup2(out, 1);
		dup2(s, 2);
		close_range(3, ~0u, 0);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid < 0) {
		pthread_mutex_unlock(&j->jobs->lock);
		rc = rf_error_errno(err, -errno, "cannot start reforge-gen");
		goto out;
	}
	j->slot->pid = pid;
	pthread_mutex_unlock(&j->jobs->lock);
	close(out);
	out = -1;
	for (;;) {
		struct pollfd p = {.fd = master, .events = POLLIN};
		char buf[4096];
		ssize_t n;

		if (poll(&p, 1, 500) > 0) {
			n = read(master, buf, sizeof(buf));
			if (n > 0) {
				on_output(j, &line, buf, (size_t)n);
				continue;
			}
			if (n == 0 || (errno != EINTR && errno != EAGAIN))
				break; /* EIO: every writer is gone */
		}
		if (waitpid(pid, status, WNOHANG) == pid) {
			pid = 0;
			break;
		}
	}
	if (pid != 0)
		waitpid(pid, status, 0);
	if (line.len > 0)
		on_output(j, &line, "\n", 1);
	pthread_mutex_lock(&j->jobs->lock);
	j->slot->pid = 0;
	pthread_mutex_unlock(&j->jobs->lock);
	rc = 0;
out:
	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
		free(owned[i]);
	if (master >= 0)
		close(master);
	if (out >= 0)
		close(out);
	rf_buf_free(&b);
	rf_buf_free(&line);
	return rc;
}

/*
 * The changes tuning made (the "tuning" list of reforge-gen's --json
 * output, DIR/gen.json) kept beside the image as images/ID.tuning.json,
 * synced under its final name before the image appears: the record of
 * the image's intended differences from the source. A job without a
 * target has an empty list.
 */
static int keep_tuning(struct job *j, struct rf_error *err)
{
	struct rf_buf p = RF_BUF_INIT, tmp = RF_BUF_INIT;
	json_error_t jerr;
	json_t *gen = NULL, *list;
	char *text = NULL;
	struct stat sb;
	int fd = -1, rc = 0;

	rf_buf_printf(&p, "%s/gen.json", j->dir);
	if (stat(p.data, &sb) < 0 || sb.st_size > (64 << 20)) {
		rc = rf_error_set(err, -EIO, "reforge-gen's --json output is "
				  "missing or too large");
		goto out;
	}
	gen = json_load_file(p.data, 0, &jerr);
	if (gen == NULL) {
		rc = rf_error_set(err, -EIO, "reforge-gen's --json output: "
				  "%s", jerr.text);
		goto out;
	}
	list = json_object_get(gen, "tuning");
	if (!json_is_array(list)) {
		list = json_array();
		json_object_set_new(gen, "tuning", list);
	}
	text = json_dumps(list, JSON_INDENT(1) | JSON_ENSURE_ASCII);
	rf_buf_reset(&p);
	rf_buf_printf(&p, "%s/images/%lld.tuning.json", j->jobs->cfg->data,
		      (long long)j->id);
	rf_buf_printf(&tmp, "%s.part", p.data);
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || text == NULL) {
		rc = rf_error_errno(err, fd < 0 ? -errno : -ENOMEM,
				    "cannot write '%s'", tmp.data);
		goto out;
	}
	for (size_t off = 0, len = strlen(text); off < len;) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = rf_error_errno(err, n < 0 ? -errno : -EIO,
					    "cannot write '%s'", tmp.data);
			goto out;
		}
		off += (size_t)n;
	}
	if (srv_fsync(j->jobs->st, fd) < 0 || rename(tmp.data, p.data) < 0)
		rc = rf_error_errno(err, -errno, "cannot write '%s'", p.data);
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && tmp.data != NULL)
		unlink(tmp.data);
	free(text);
	json_decref(gen);
	rf_buf_free(&p);
	rf_buf_free(&tmp);
	return rc;
}

/* ---- one job ---- */

enum outcome { OUT_DONE, OUT_FAILED, OUT_CANCELLED, OUT_REQUEUE };

static enum outcome run_job(struct job *j, char *msg, size_t msize,
			    int64_t *image_size)
{
	struct rf_error err;
	struct rf_buf img = RF_BUF_INIT, from = RF_BUF_INIT;
	sqlite3_stmt *q = NULL;
	char *report_sha = NULL, *state = NULL;
	uint64_t entries = 0;
	size_t linked = 0, missing = 0;
	enum outcome res = OUT_FAILED;
	struct stat sb;
	int rc, status = 0;

	rf_error_clear(&err);
	msg[0] = '\0';
	remove_tree(j->dir);
	if (mkdir(j->dir, 0700) < 0) {
		rc = rf_error_errno(&err, -errno, "cannot create '%s'", j->dir);
		goto out;
	}
	if (sqlite3_prepare_v2(j->db, "SELECT state, report_sha FROM scans "
				      "WHERE id = ?", -1, &q, NULL) != SQLITE_OK) {
		rc = db_fail(j->db, &err);
		goto out;
	}
	sqlite3_bind_int64(q, 1, j->scan_id);
	if (sqlite3_step(q) == SQLITE_ROW) {
		state = col_dup(q, 0);
		report_sha = col_dup(q, 1);
	}
	sqlite3_finalize(q);
	q = NULL;
	if (state == NULL || report_sha == NULL ||
	    strcmp(state, "complete") != 0) {
		rc = rf_error_set(&err, -ENOENT, "scan %lld is %s",
				  (long long)j->scan_id,
				  state ? "not complete" : "gone");
		goto out;
	}
	set_stage(j, "reading the report", 1);
	rc = write_report(j, report_sha, &err);
	if (rc < 0)
		goto out;
	set_stage(j, "assembling the overlay", 3);
	rc = write_overlay(j, &entries, &err);
	if (rc < 0)
		goto out;
	job_log(j, "overlay: %llu entries", (unsigned long long)entries);
	rc = link_packages(j, &linked, &missing, &err);
	if (rc < 0)
		goto out;
	job_log(j, "packages: %zu from the repositories, %zu in no "
		"repository (their files are in the overlay)", linked, missing);
	set_stage(j, "generating", 15);
	rc = run_generator(j, missing > 0, &status, &err);
	if (rc < 0)
		goto out;
	if (cancelled(j)) {
		rc = rf_error_set(&err, -ECANCELED, "cancelled");
		goto out;
	}
	if (!WIFEXITED(status) ||
	    (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 3)) {
		char last[512];

		last_message(j, last, sizeof(last));
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
			rc = rf_error_set(&err, -ENOENT, "cannot run '%s'",
					  j->jobs->generator);
		else if (WIFEXITED(status))
			rc = rf_error_set(&err, -EIO, "reforge-gen failed "
					  "(exit %d)%s%s", WEXITSTATUS(status),
					  last[0] ? ": " : "", last);
		else
			rc = rf_error_set(&err, -EIO, "reforge-gen was killed "
					  "by signal %d", WTERMSIG(status));
		goto out;
	}
	if (WEXITSTATUS(status) == 3)
		job_log(j, "reforge-gen finished with warnings (see above)");
	rc = keep_tuning(j, &err);
	if (rc < 0)
		goto out;
	/* the image appears under its final name only complete */
	rf_buf_printf(&from, "%s/image.%s", j->dir, j->format);
	rf_buf_printf(&img, "%s/images/%lld.%s", j->jobs->cfg->data,
		      (long long)j->id, j->format);
	if (stat(from.data, &sb) < 0 || rename(from.data, img.data) < 0) {
		rc = rf_error_errno(&err, -errno, "cannot move the image to "
				    "'%s'", img.data);
		goto out;
	}
	{
		struct rf_buf d = RF_BUF_INIT;
		int dfd;

		rf_buf_printf(&d, "%s/images", j->jobs->cfg->data);
		dfd = open(d.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			srv_fsync(j->jobs->st, dfd);
			close(dfd);
		}
		rf_buf_free(&d);
	}
	*image_size = sb.st_size;
	job_log(j, "image %s: %lld bytes", img.data, (long long)sb.st_size);
	rc = 0;
	res = OUT_DONE;
out:
	if (rc < 0) {
		pthread_mutex_lock(&j->jobs->lock);
		if (j->jobs->stopping && !j->slot->cancel)
			res = OUT_REQUEUE;
		else if (j->slot->cancel)
			res = OUT_CANCELLED;
		pthread_mutex_unlock(&j->jobs->lock);
		snprintf(msg, msize, "%s",
			 res == OUT_CANCELLED ? "cancelled" : err.msg);
		job_log(j, "%s", res == OUT_REQUEUE
					 ? "the server is stopping: back in "
					   "the queue"
					 : msg);
	}
	remove_tree(j->dir);
	free(report_sha);
	free(state);
	rf_buf_free(&img);
	rf_buf_free(&from);
	return res;
}

/* Take the oldest queued job, under the pool's lock; 0 when none. */
static int64_t claim(struct srv_jobs *jobs, sqlite3 *db, struct running *slot)
{
	sqlite3_stmt *q = NULL;
	int64_t id = 0;

	if (sqlite3_prepare_v2(db, "UPDATE jobs SET state = 'running', "
				   "started = ?, stage = 'starting', "
				   "progress = 0 WHERE id = (SELECT id FROM "
				   "jobs WHERE state = 'queued' ORDER BY id "
				   "LIMIT 1) RETURNING id",
			       -1, &q, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_int64(q, 1, (sqlite3_int64)time(NULL));
	srv_db_write_lock();
	if (sqlite3_step(q) == SQLITE_ROW)
		id = sqlite3_column_int64(q, 0);
	while (sqlite3_step(q) == SQLITE_ROW)
		;
	srv_db_write_unlock();
	sqlite3_finalize(q);
	if (id > 0) {
		slot->id = id;
		slot->pid = 0;
		slot->cancel = false;
	}
	(void)jobs;
	return id;
}

static bool load_job(struct job *j)
{
	sqlite3_stmt *q = NULL;
	bool ok = false;

	if (sqlite3_prepare_v2(j->db, "SELECT scan_id, format, disk_size, "
				      "target FROM jobs WHERE id = ?",
			       -1, &q, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_int64(q, 1, j->id);
	if (sqlite3_step(q) == SQLITE_ROW) {
		j->scan_id = sqlite3_column_int64(q, 0);
		j->format = col_dup(q, 1);
		j->disk_size = col_dup(q, 2);
		j->target = col_dup(q, 3);
		ok = j->format != NULL;
	}
	sqlite3_finalize(q);
	return ok;
}

static void work(struct srv_jobs *jobs, sqlite3 *db, struct running *slot,
		 int64_t id)
{
	struct job j;
	char msg[1024], *log;
	int64_t size = 0;
	enum outcome res = OUT_FAILED;
	static const char *const states[] = {"done", "failed", "cancelled",
					     "queued"};

	memset(&j, 0, sizeof(j));
	j.id = id;
	j.db = db;
	j.jobs = jobs;
	j.slot = slot;
	j.last_progress = -1;
	j.dir = path_of(jobs, "jobs/%lld", (long long)id);
	log = srv_job_log_path(jobs, id);
	/* read back too: the last message is the job's error */
	j.log = open(log, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	free(log);
	if (!load_job(&j)) {
		snprintf(msg, sizeof(msg), "cannot read the job");
	} else {
		job_log(&j, "job %lld: scan %lld, format %s%s%s%s%s",
			(long long)id, (long long)j.scan_id, j.format,
			j.disk_size ? ", disk size " : "",
			j.disk_size ? j.disk_size : "",
			j.target ? ", target " : "", j.target ? j.target : "");
		res = run_job(&j, msg, sizeof(msg), &size);
	}
	pthread_mutex_lock(&jobs->lock);
	if (res == OUT_REQUEUE)
		exec_args(db, "UPDATE jobs SET state = 'queued', stage = NULL, "
			      "progress = 0, started = NULL WHERE id = ?",
			  "i", id);
	else
		exec_args(db, "UPDATE jobs SET state = ?, stage = NULL, "
			      "progress = ?, error = ?, finished = ?, "
			      "image_size = ? WHERE id = ?",
			  "sisiii", states[res],
			  (int64_t)(res == OUT_DONE ? 100 : j.last_progress < 0
								? 0
								: j.last_progress),
			  res == OUT_DONE ? NULL : msg, (int64_t)time(NULL),
			  size, id);
	if (res != OUT_DONE)
		exec_args(db, "UPDATE jobs SET image_size = NULL WHERE id = ?",
			  "i", id);
	job_log(&j, "job %lld: %s", (long long)id, states[res]);
	slot->id = 0;
	slot->pid = 0;
	slot->cancel = false;
	pthread_cond_broadcast(&jobs->ended);
	pthread_mutex_unlock(&jobs->lock);
	if (j.log >= 0)
		close(j.log);
	free(j.dir);
	free(j.format);
	free(j.disk_size);
	free(j.target);
}

struct worker_arg {
	struct srv_jobs *jobs;
	struct running *slot;
};

static void *worker(void *arg)
{
	struct worker_arg *wa = arg;
	struct srv_jobs *jobs = wa->jobs;
	struct running *slot = wa->slot;
	struct rf_error err;
	sqlite3 *db = NULL;

	free(wa);
	rf_error_clear(&err);
	if (srv_db_open(jobs->st, &db, &err) < 0)
		return NULL;
	pthread_mutex_lock(&jobs->lock);
	while (!jobs->stopping) {
		int64_t id = claim(jobs, db, slot);

		if (id == 0) {
			struct timespec ts;

			/* woken by srv_job_create(); the timeout is a
			 * safety net only */
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 5;
			pthread_cond_timedwait(&jobs->wake, &jobs->lock, &ts);
			continue;
		}
		pthread_mutex_unlock(&jobs->lock);
		work(jobs, db, slot, id);
		pthread_mutex_lock(&jobs->lock);
	}
	pthread_mutex_unlock(&jobs->lock);
	sqlite3_close(db);
	return NULL;
}

/* ---- the pool ---- */

/* reforge-gen: configured, else beside this program, else from PATH. */
static char *find_generator(const char *configured)
{
	char self[4096];
	ssize_t n;
	struct rf_buf b = RF_BUF_INIT;

	if (configured != NULL)
		return rf_xstrdup(configured);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash != NULL) {
			*slash = '\0';
			rf_buf_printf(&b, "%s/reforge-gen", self);
			if (access(b.data, X_OK) == 0)
				return rf_buf_detach(&b);
			rf_buf_free(&b);
		}
	}
	return rf_xstrdup("reforge-gen");
}

/* After a crash: no job is left "running", and no staging remains. */
static int recover(struct srv_jobs *jobs, sqlite3 *db, struct rf_error *err)
{
	char *dir;
	DIR *d;
	struct dirent *de;
	sqlite3_stmt *q = NULL;
	int rc;

	/* an image moved into place just before the crash, its job not yet
	 * recorded done: the job is failed, so the image goes */
	if (sqlite3_prepare_v2(db, "SELECT id, format FROM jobs WHERE state = "
				   "'running'", -1, &q, NULL) != SQLITE_OK)
		return db_fail(db, err);
	while (sqlite3_step(q) == SQLITE_ROW) {
		const char *fmt = (const char *)sqlite3_column_text(q, 1);
		char *img = path_of(jobs, "images/%lld.%s",
				    (long long)sqlite3_column_int64(q, 0),
				    fmt ? fmt : "");

		unlink(img);
		free(img);
		img = srv_job_tuning_path(jobs, sqlite3_column_int64(q, 0));
		unlink(img);
		free(img);
	}
	sqlite3_finalize(q);
	rc = exec_args(db, "UPDATE jobs SET state = 'failed', stage = NULL, "
			   "error = 'server restarted', finished = ? "
			   "WHERE state = 'running'",
		       "i", (int64_t)time(NULL));
	if (rc < 0)
		return db_fail(db, err);
	dir = path_of(jobs, "jobs");
	d = opendir(dir);
	while (d != NULL && (de = readdir(d)) != NULL) {
		struct rf_buf p = RF_BUF_INIT;

		if (de->d_name[0] == '.')
			continue;
		rf_buf_printf(&p, "%s/%s", dir, de->d_name);
		remove_tree(p.data);
		rf_buf_free(&p);
	}
	if (d != NULL)
		closedir(d);
	free(dir);
	return 0;
}

int srv_jobs_start(const struct srv_jobs_config *cfg, struct srv_store *st,
		   struct srv_jobs **out, struct rf_error *err)
{
	struct srv_jobs *jobs = rf_xcalloc(1, sizeof(*jobs));
	const char *dirs[] = {"jobs", "images", "job-logs"};
	sqlite3 *db = NULL;
	int rc;

	jobs->cfg = cfg;
	jobs->st = st;
	jobs->generator = find_generator(cfg->generator);
	pthread_mutex_init(&jobs->lock, NULL);
	pthread_cond_init(&jobs->wake, NULL);
	pthread_cond_init(&jobs->ended, NULL);
	jobs->run = rf_xcalloc(cfg->workers, sizeof(*jobs->run));
	jobs->threads = rf_xcalloc(cfg->workers, sizeof(*jobs->threads));
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char *p = path_of(jobs, "%s", dirs[i]);

		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			rc = rf_error_errno(err, -errno, "cannot create '%s'",
					    p);
			free(p);
			goto out;
		}
		free(p);
	}
	rc = srv_db_open(st, &db, err);
	if (rc < 0)
		goto out;
	rc = srv_db_exec(db, schema, err);
	if (rc < 0)
		goto out;
	rc = recover(jobs, db, err);
	if (rc < 0)
		goto out;
	for (unsigned i = 0; i < cfg->workers; i++) {
		struct worker_arg *wa = rf_xcalloc(1, sizeof(*wa));

		wa->jobs = jobs;
		wa->slot = &jobs->run[i];
		if (pthread_create(&jobs->threads[i], NULL, worker, wa) != 0) {
			free(wa);
			rc = rf_error_set(err, -EAGAIN, "cannot start a "
					  "worker thread");
			goto out;
		}
		jobs->started++;
	}
	rc = 0;
out:
	sqlite3_close(db);
	if (rc < 0) {
		srv_jobs_stop(jobs);
		jobs = NULL;
	}
	*out = jobs;
	return rc;
}

void srv_jobs_stop(struct srv_jobs *jobs)
{
	if (jobs == NULL)
		return;
	pthread_mutex_lock(&jobs->lock);
	jobs->stopping = true;
	for (unsigned i = 0; i < jobs->cfg->workers; i++)
		if (jobs->run[i].pid > 0)
			kill(-jobs->run[i].pid, SIGKILL);
	pthread_cond_broadcast(&jobs->wake);
	pthread_mutex_unlock(&jobs->lock);
	for (unsigned i = 0; i < jobs->started; i++)
		pthread_join(jobs->threads[i], NULL);
	pthread_mutex_destroy(&jobs->lock);
	pthread_cond_destroy(&jobs->wake);
	pthread_cond_destroy(&jobs->ended);
	free(jobs->run);
	free(jobs->threads);
	free(jobs->generator);
	free(jobs);
}

/* ---- requests ---- */

static bool one_of(const char *v, const char *const *set)
{
	for (; *set != NULL; set++)
		if (strcmp(v, *set) == 0)
			return true;
	return false;
}

int srv_job_create(struct srv_jobs *jobs, sqlite3 *db,
		   const struct srv_job_request *req, int64_t *id,
		   struct rf_error *err)
{
	static const char *const formats[] = {"raw", "qcow2", "vmdk", "ova",
					      NULL};
	sqlite3_stmt *q = NULL;
	const char *s;
	int rc;

	if (req->format == NULL || !one_of(req->format, formats))
		return rf_error_set(err, -EINVAL, "format is raw, qcow2, vmdk "
				    "or ova");
	s = req->disk_size;
	if (s != NULL) {
		size_t digits = strspn(s, "0123456789");

		if (digits == 0 || digits > 15 ||
		    (s[digits] != '\0' &&
		     (strchr("KMGTkmgt", s[digits]) == NULL ||
		      s[digits + 1] != '\0')))
			return rf_error_set(err, -EINVAL, "disk_size is a "
					    "number of bytes, or of K, M, G "
					    "or T");
	}
	s = req->target;
	if (s != NULL &&
	    (*s == '\0' || strlen(s) > 32 ||
	     strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(s) ||
	     *s == '-'))
		return rf_error_set(err, -EINVAL, "target is a name of a-z, "
				    "0-9 and '-'");
	if (sqlite3_prepare_v2(db, "SELECT state FROM scans WHERE id = ?", -1,
			       &q, NULL) != SQLITE_OK)
		return db_fail(db, err);
	sqlite3_bind_int64(q, 1, req->scan_id);
	if (sqlite3_step(q) != SQLITE_ROW)
		rc = rf_error_set(err, -ENOENT, "no such scan");
	else if (strcmp((const char *)sqlite3_column_text(q, 0),
			"complete") != 0)
		rc = rf_error_set(err, -EBUSY, "scan %lld is still pending: "
				  "its overlay is incomplete",
				  (long long)req->scan_id);
	else
		rc = 0;
	sqlite3_finalize(q);
	if (rc < 0)
		return rc;
	rc = exec_args(db, "INSERT INTO jobs(scan_id, format, disk_size, "
			   "target, token_id, state, created) "
			   "VALUES(?, ?, ?, ?, ?, 'queued', ?)",
		       "isssii", req->scan_id, req->format, req->disk_size,
		       req->target, req->token, (int64_t)time(NULL));
	if (rc < 0)
		return db_fail(db, err);
	*id = sqlite3_last_insert_rowid(db);
	pthread_mutex_lock(&jobs->lock);
	pthread_cond_signal(&jobs->wake);
	pthread_mutex_unlock(&jobs->lock);
	return 0;
}

/* The state of job id into buf; -ENOENT when there is none. */
static int job_state(sqlite3 *db, int64_t id, char *buf, size_t size)
{
	sqlite3_stmt *q = NULL;
	int rc = -ENOENT;

	if (sqlite3_prepare_v2(db, "SELECT state FROM jobs WHERE id = ?", -1,
			       &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(q, 1, id);
	if (sqlite3_step(q) == SQLITE_ROW) {
		snprintf(buf, size, "%s", sqlite3_column_text(q, 0));
		rc = 0;
	}
	sqlite3_finalize(q);
	return rc;
}

static struct running *find_running(struct srv_jobs *jobs, int64_t id)
{
	for (unsigned i = 0; i < jobs->cfg->workers; i++)
		if (jobs->run[i].id == id)
			return &jobs->run[i];
	return NULL;
}

int srv_job_cancel(struct srv_jobs *jobs, sqlite3 *db, int64_t id,
		   struct rf_error *err)
{
	struct running *r;
	char state[32];
	int rc;

	pthread_mutex_lock(&jobs->lock);
	rc = exec_args(db, "UPDATE jobs SET state = 'cancelled', "
			   "error = 'cancelled', finished = ? "
			   "WHERE id = ? AND state = 'queued'",
		       "ii", (int64_t)time(NULL), id);
	if (rc < 0) {
		rc = db_fail(db, err);
		goto out;
	}
	if (rc > 0) {
		rc = 0;
		goto out;
	}
	r = find_running(jobs, id);
	if (r == NULL) {
		rc = job_state(db, id, state, sizeof(state));
		if (rc == -ENOENT)
			rc = rf_error_set(err, -ENOENT, "no such image job");
		else if (rc == 0)
			rc = rf_error_set(err, -EALREADY, "job %lld is %s",
					  (long long)id, state);
		else
			rc = db_fail(db, err);
		goto out;
	}
	r->cancel = true;
	if (r->pid > 0)
		kill(-r->pid, SIGKILL);
	/* the worker removes the staging and records the state: wait */
	while (find_running(jobs, id) != NULL) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&jobs->ended, &jobs->lock, &ts);
		r = find_running(jobs, id);
		if (r != NULL && r->pid > 0)
			kill(-r->pid, SIGKILL);
	}
	rc = 0;
out:
	pthread_mutex_unlock(&jobs->lock);
	return rc;
}

static char *image_path(struct srv_jobs *jobs, int64_t id, const char *fmt)
{
	return path_of(jobs, "images/%lld.%s", (long long)id, fmt);
}

int srv_job_delete(struct srv_jobs *jobs, sqlite3 *db, int64_t id,
		   struct rf_error *err)
{
	sqlite3_stmt *q = NULL;
	char *fmt = NULL, *p;
	int rc;

	pthread_mutex_lock(&jobs->lock);
	if (find_running(jobs, id) != NULL) {
		rc = rf_error_set(err, -EBUSY, "job %lld is running: cancel "
				  "it first", (long long)id);
		goto out;
	}
	if (sqlite3_prepare_v2(db, "DELETE FROM jobs WHERE id = ? "
				   "RETURNING format",
			       -1, &q, NULL) != SQLITE_OK) {
		rc = db_fail(db, err);
		goto out;
	}
	sqlite3_bind_int64(q, 1, id);
	srv_db_write_lock();
	if (sqlite3_step(q) == SQLITE_ROW)
		fmt = col_dup(q, 0);
	while (sqlite3_step(q) == SQLITE_ROW)
		;
	srv_db_write_unlock();
	sqlite3_finalize(q);
	if (fmt == NULL) {
		rc = rf_error_set(err, -ENOENT, "no such image job");
		goto out;
	}
	p = image_path(jobs, id, fmt);
	unlink(p);
	free(p);
	p = srv_job_log_path(jobs, id);
	unlink(p);
	free(p);
	p = srv_job_tuning_path(jobs, id);
	unlink(p);
	free(p);
	rc = 0;
out:
	pthread_mutex_unlock(&jobs->lock);
	free(fmt);
	return rc;
}

int srv_job_image_path(struct srv_jobs *jobs, sqlite3 *db, int64_t id,
		       char **path, struct rf_error *err)
{
	sqlite3_stmt *q = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT state, format FROM jobs WHERE "
				   "id = ?", -1, &q, NULL) != SQLITE_OK)
		return db_fail(db, err);
	sqlite3_bind_int64(q, 1, id);
	if (sqlite3_step(q) != SQLITE_ROW) {
		rc = rf_error_set(err, -ENOENT, "no such image job");
	} else if (strcmp((const char *)sqlite3_column_text(q, 0), "done") !=
		   0) {
		rc = rf_error_set(err, -EAGAIN, "job %lld is %s, not done",
				  (long long)id, sqlite3_column_text(q, 0));
	} else {
		*path = image_path(jobs, id,
				   (const char *)sqlite3_column_text(q, 1));
		rc = 0;
	}
	sqlite3_finalize(q);
	return rc;
}
