/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The rpm package database backend: every installed header of the root's
 * rpmdb, read through librpm whatever its format (sqlite, ndb, or Berkeley
 * DB through librpm's read-only bdb_ro), and for each file what `rpm -V`
 * would compare it with.
 *
 * librpm opens databases by path with plain open(), and SQLite writes its
 * -shm index even for readers, so the database files are first copied out
 * of the root (pkgdb_backend.h) and librpm reads the copy: the scanned root
 * is never written and may be a read-only mount.
 *
 * What rpm -V compares, and how it maps onto struct scan_pkgfile (lib/verify.c
 * of rpm 4.18, rpmfilesVerify() and verifyHeader()):
 *   - file states: "not installed" and "net shared" files are never verified
 *     (nothing known, missing is fine: SCAN_PF_MISSINGOK); "replaced" files
 *     only for existence; "wrong color" files not for digest, size or mtime;
 *   - %ghost files: never content, size, mtime or link target, mode without
 *     the file type, and never reported missing;
 *   - %config(missingok) files are not reported missing either;
 *   - %verify(not ...) switches attributes off (FILEVERIFYFLAGS);
 *   - an mtime difference on a file that several packages own is ignored.
 *   - a device node's major:minor (rdev) is compared with the database's;
 * the file capabilities and ACLs that rpm -V also compares are not
 * verified.
 *
 * Where a package came from is not in the rpmdb; dnf's history database
 * (var/lib/dnf/history.sqlite, libdnf's "swdb") records the repository of
 * every install, and the reason (asked for, or pulled in as a dependency).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rpm/header.h>
#include <rpm/rpmdb.h>
#include <rpm/rpmfi.h>
#include <rpm/rpmfiles.h>
#include <rpm/rpmlib.h>
#include <rpm/rpmlog.h>
#include <rpm/rpmmacro.h>
#include <rpm/rpmpgp.h>
#include <rpm/rpmtag.h>
#include <rpm/rpmts.h>
#include <sqlite3.h>

#include "buf.h"
#include "pkgdb.h"
#include "pkgdb_backend.h"
#include "rootfs.h"

/* Where distributions keep the rpmdb, newest convention first. */
static const char *const rpm_db_dirs[] = {
	"usr/lib/sysimage/rpm",
	"var/lib/rpm",
};

/* The file that tells each database format apart, and librpm's name of it. */
static const struct {
	const char *file;
	const char *backend;
} rpm_db_formats[] = {
	{"rpmdb.sqlite", "sqlite"},
	{"Packages.db", "ndb"},
	{"Packages", "bdb_ro"},
};

/* A database file larger than this is not an rpmdb anyone has. */
#define RPM_DB_FILE_MAX ((uint64_t)8 << 30)
/* Where the copy goes inside the scratch directory (librpm's root). */
#define RPM_SCRATCH_DBPATH "var/lib/rpm"

struct rpm_db_location {
	const char *dir;     /* one of rpm_db_dirs */
	const char *backend; /* librpm's %_db_backend */
	const char *file;
};

/*
 * Find the root's database: the directory and format whose main file was
 * written last, so that the leftovers of a conversion (Packages next to
 * rpmdb.sqlite, /var/lib/rpm next to /usr/lib/sysimage/rpm) lose to the
 * database rpm really uses. Returns false when there is none.
 */
static bool rpm_find_db(int rootfd, struct rpm_db_location *loc)
{
	struct timespec best = {0, 0};
	bool found = false;

	for (size_t d = 0; d < sizeof(rpm_db_dirs) / sizeof(*rpm_db_dirs);
	     d++) {
		for (size_t f = 0;
		     f < sizeof(rpm_db_formats) / sizeof(*rpm_db_formats);
		     f++) {
			char path[128];
			struct stat st;
			int fd;

			snprintf(path, sizeof(path), "%s/%s", rpm_db_dirs[d],
				 rpm_db_formats[f].file);
			fd = rf_root_open(rootfd, path, O_PATH);
			if (fd < 0)
				continue;
			if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
			    (!found || st.st_mtim.tv_sec > best.tv_sec ||
			     (st.st_mtim.tv_sec == best.tv_sec &&
			      st.st_mtim.tv_nsec > best.tv_nsec))) {
				best = st.st_mtim;
				loc->dir = rpm_db_dirs[d];
				loc->backend = rpm_db_formats[f].backend;
				loc->file = rpm_db_formats[f].file;
				found = true;
			}
			close(fd);
		}
	}
	return found;
}

static bool rpm_probe(int rootfd)
{
	struct rpm_db_location loc;

	return rpm_find_db(rootfd, &loc);
}

/* Files of a database directory that are not the database. */
static bool rpm_db_file_wanted(const char *name)
{
	size_t len = strlen(name);

	if (name[0] == '.') /* .rpm.lock, .dbenv.lock */
		return false;
	if (strncmp(name, "__db.", 5) == 0) /* Berkeley DB environment */
		return false;
	/* SQLite rebuilds its shared-memory index from the WAL */
	if (len > 4 && strcmp(name + len - 4, "-shm") == 0)
		return false;
	return true;
}

/*
 * Copy every file of the database directory into the scratch directory.
 * The main file must be among them.
 */
static int rpm_copy_db(int rootfd, const struct rpm_db_location *loc,
		       struct scan_scratch *scratch, struct rf_error *err)
{
	struct rf_buf src = RF_BUF_INIT, dst = RF_BUF_INIT;
	DIR *dir = NULL;
	struct dirent *de;
	bool have_main = false;
	int rc;

	rc = scan_scratch_mkdir(scratch, RPM_SCRATCH_DBPATH, err);
	if (rc < 0)
		goto out;
	dir = scan_root_opendir(rootfd, loc->dir);
	if (dir == NULL) {
		rc = rf_error_errno(err, -errno, "cannot open '%s'", loc->dir);
		goto out;
	}
	while ((errno = 0, de = readdir(dir)) != NULL) {
		struct stat st;

		if (!rpm_db_file_wanted(de->d_name))
			continue;
		/* regular files only: no symlink games inside the db dir */
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
			    0 ||
		    !S_ISREG(st.st_mode))
			continue;
		rf_buf_reset(&src);
		rf_buf_printf(&src, "%s/%s", loc->dir, de->d_name);
		rf_buf_reset(&dst);
		rf_buf_printf(&dst, "%s/%s", RPM_SCRATCH_DBPATH, de->d_name);
		rc = scan_scratch_copy(scratch, rootfd, src.data, dst.data,
				       RPM_DB_FILE_MAX, err);
		if (rc == -ENOENT) /* removed meanwhile */
			continue;
		if (rc < 0)
			goto out;
		if (strcmp(de->d_name, loc->file) == 0)
			have_main = true;
	}
	if (errno != 0) {
		rc = rf_error_errno(err, -errno, "cannot read '%s'", loc->dir);
		goto out;
	}
	rc = have_main ? 0
		       : rf_error_set(err, -ENOENT, "'%s/%s' disappeared",
				      loc->dir, loc->file);
out:
	if (dir != NULL)
		closedir(dir);
	rf_buf_free(&src);
	rf_buf_free(&dst);
	return rc;
}

/*
 * librpm reports through rpmlog(), which would print to stderr; library code
 * does not print, so the messages are caught here and the first error becomes
 * the load's error message.
 */
struct rpm_log {
	int nerrors;
	char first[512];
	/* librpm fell back to its empty "dummy" database */
	bool dummy;
	/* the copy librpm reads, and the root's directory it came from */
	const struct scan_scratch *scratch;
	const char *dir;
};

static int rpm_log_cb(rpmlogRec rec, rpmlogCallbackData data)
{
	struct rpm_log *log = data;
	const char *msg = rpmlogRecMessage(rec);
	size_t len;

	if (msg == NULL)
		return 0;
	/*
	 * A format librpm was built without (Debian's has no ndb) is only a
	 * warning to librpm, which then reads an empty dummy database; for a
	 * scan that would silently lose every package.
	 */
	if (strstr(msg, "dummy database") != NULL ||
	    strstr(msg, "invalid %_db_backend") != NULL)
		log->dummy = true;
	if (rpmlogRecPriority(rec) > RPMLOG_ERR)
		return 0; /* other warnings and chatter: dropped */
	if (log->nerrors++ == 0) {
		snprintf(log->first, sizeof(log->first), "%s", msg);
		len = strlen(log->first);
		while (len > 0 && log->first[len - 1] == '\n')
			log->first[--len] = '\0';
		if (log->scratch != NULL)
			scan_scratch_unname(log->scratch, RPM_SCRATCH_DBPATH,
					    log->dir, log->first,
					    sizeof(log->first));
	}
	return 0;
}

static pthread_once_t rpm_config_once = PTHREAD_ONCE_INIT;
static int rpm_config_rc;

/* librpm's configuration is global: read it once per process. */
static void rpm_read_config(void)
{
	rpm_config_rc = rpmReadConfigFiles(NULL, NULL);
}

/*
 * Strings repeated on almost every file (user and group names) are stored
 * once per run of equal values rather than once per file.
 */
struct rpm_intern {
	const char *last;
};

static const char *rpm_intern(struct scan_pkgset *set, struct rpm_intern *in,
			      const char *s)
{
	if (s == NULL)
		return NULL;
	if (in->last == NULL || strcmp(in->last, s) != 0)
		in->last = scan_pkgset_strdup(set, s);
	return in->last;
}

/*
 * dnf's history, when the root has one: the latest finished transaction
 * item that put this very package (name, epoch, version, release, arch) in
 * place, and its repository; the reason may have changed since (dnf mark).
 * libdnf's TransactionItemAction: 1 install, 2 downgrade, 4 obsolete,
 * 6 upgrade, 9 reinstall, 11 reason change; state 1 is done.
 */
#define DNF_HISTORY "var/lib/dnf/history.sqlite"
#define DNF_HISTORY_MAX ((uint64_t)4 << 30)

static const char dnf_query[] =
	"SELECT repo.repoid, ti.reason, ti.action FROM trans_item ti "
	"JOIN rpm r ON r.item_id = ti.item_id "
	"LEFT JOIN repo ON repo.id = ti.repo_id "
	"WHERE ti.state = 1 AND ti.action IN (1, 2, 4, 6, 9, 11) "
	"AND r.name = ?1 AND r.epoch = ?2 AND r.version = ?3 "
	"AND r.release = ?4 AND r.arch = ?5 ORDER BY ti.id DESC";

struct rpm_history {
	sqlite3 *db;
	sqlite3_stmt *query;
};

/*
 * Open a copy of the root's dnf history. Without one, or with one this
 * code cannot query (another schema, damage), packages simply have no
 * origin: it is a nicety, never a reason to fail the scan.
 */
static void rpm_history_open(int rootfd, struct scan_scratch *scratch,
			     struct rpm_history *h)
{
	struct rf_error ignored;
	struct rf_buf path = RF_BUF_INIT;

	memset(h, 0, sizeof(*h));
	if (scan_scratch_mkdir(scratch, "dnf", &ignored) < 0 ||
	    scan_scratch_copy(scratch, rootfd, DNF_HISTORY,
			      "dnf/history.sqlite", DNF_HISTORY_MAX,
			      &ignored) < 0)
		return;
	/*
	 * What the last transaction left in the log is history too; without
	 * a log (or an unreadable one) the database file alone is read.
	 */
	(void)scan_scratch_copy(scratch, rootfd, DNF_HISTORY "-wal",
				"dnf/history.sqlite-wal", DNF_HISTORY_MAX,
				&ignored);
	rf_buf_printf(&path, "%s/dnf/history.sqlite",
		      scan_scratch_path(scratch));
	if (sqlite3_open_v2(path.data, &h->db, SQLITE_OPEN_READWRITE, NULL) !=
		    SQLITE_OK ||
	    sqlite3_prepare_v2(h->db, dnf_query, -1, &h->query, NULL) !=
		    SQLITE_OK) {
		sqlite3_close(h->db);
		h->db = NULL;
	}
	rf_buf_free(&path);
}

static void rpm_history_close(struct rpm_history *h)
{
	sqlite3_finalize(h->query);
	sqlite3_close(h->db);
	memset(h, 0, sizeof(*h));
}

/* libdnf's TransactionItemReason as "explicit" or "dependency". */
static const char *dnf_reason(int reason)
{
	switch (reason) {
	case 2: /* user */
	case 5: /* group */
		return "explicit";
	case 1: /* dependency */
	case 3: /* clean */
	case 4: /* weak dependency */
		return "dependency";
	default:
		return NULL;
	}
}

/* Fill pkg->origin (in repo, size bytes) and pkg->reason from history. */
static void rpm_history_lookup(struct rpm_history *h, Header hdr,
			       struct scan_pkg *pkg, char *repo, size_t size)
{
	bool have_reason = false;
	int rc;

	if (h->query == NULL || pkg->version == NULL || pkg->release == NULL ||
	    pkg->arch == NULL)
		return;
	sqlite3_reset(h->query);
	sqlite3_bind_text(h->query, 1, pkg->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(h->query, 2,
			   (sqlite3_int64)headerGetNumber(hdr, RPMTAG_EPOCH));
	sqlite3_bind_text(h->query, 3, pkg->version, -1, SQLITE_STATIC);
	sqlite3_bind_text(h->query, 4, pkg->release, -1, SQLITE_STATIC);
	sqlite3_bind_text(h->query, 5, pkg->arch, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(h->query)) == SQLITE_ROW) {
		const unsigned char *id = sqlite3_column_text(h->query, 0);

		if (!have_reason) {
			pkg->reason =
				dnf_reason(sqlite3_column_int(h->query, 1));
			have_reason = true;
		}
		if (sqlite3_column_int(h->query, 2) == 11)
			continue; /* a reason change, no new origin */
		if (id != NULL && id[0] != '\0') {
			snprintf(repo, size, "%s", (const char *)id);
			pkg->origin = repo;
		}
		break;
	}
	sqlite3_reset(h->query);
}

struct rpm_load_state {
	struct scan_pkgset *set;
	struct rpm_intern users, groups;
	struct rpm_history history;
};

/*
 * What the database says about the file under the iterator, as rpm -V would
 * use it, in *pf (strings owned by the set).
 */
static void rpm_describe_file(struct rpm_load_state *st, rpmfi fi,
			      struct scan_pkgfile *pf)
{
	rpmfileAttrs fflags = rpmfiFFlags(fi);
	rpmVerifyAttrs vflags = rpmfiVFlags(fi);
	rpm_mode_t mode = rpmfiFMode(fi);
	bool ghost = (fflags & RPMFILE_GHOST) != 0;

	memset(pf, 0, sizeof(*pf));
	if (fflags & RPMFILE_CONFIG)
		pf->flags |= SCAN_PF_CONFIG;
	if (fflags & RPMFILE_NOREPLACE)
		pf->flags |= SCAN_PF_NOREPLACE;
	if (fflags & RPMFILE_GHOST)
		pf->flags |= SCAN_PF_GHOST;
	if (fflags & RPMFILE_MISSINGOK)
		pf->flags |= SCAN_PF_MISSINGOK;
	if (fflags & RPMFILE_DOC)
		pf->flags |= SCAN_PF_DOC;

	switch (rpmfiFState(fi)) {
	case RPMFILE_STATE_NOTINSTALLED: /* --excludedocs, %_install_langs */
	case RPMFILE_STATE_NETSHARED:	 /* %_netsharedpath */
		/* rpm -V skips these entirely: need not exist, nothing known */
		pf->flags |= SCAN_PF_MISSINGOK;
		return;
	case RPMFILE_STATE_REPLACED:
		/* another package's file won: only its existence is checked */
		return;
	case RPMFILE_STATE_WRONGCOLOR:
		/* multilib: shares attributes, not contents, with the winner */
		vflags &= ~(RPMVERIFY_FILEDIGEST | RPMVERIFY_FILESIZE |
			    RPMVERIFY_MTIME | RPMVERIFY_RDEV);
		break;
	default:
		break;
	}
	if (ghost)
		vflags &= ~(RPMVERIFY_FILEDIGEST | RPMVERIFY_FILESIZE |
			    RPMVERIFY_MTIME | RPMVERIFY_LINKTO);

	pf->mode = mode;
	/* rpm -V leaves the file type of a ghost alone, not its permissions */
	if (!ghost)
		pf->flags |= SCAN_PF_HAS_TYPE;
	pf->flags |= SCAN_PF_HAS_PERM;
	if (!(vflags & RPMVERIFY_MODE))
		pf->flags |= SCAN_PF_NOVERIFY_MODE;

	pf->user = (vflags & RPMVERIFY_USER)
			   ? rpm_intern(st->set, &st->users, rpmfiFUser(fi))
			   : NULL;
	pf->group = (vflags & RPMVERIFY_GROUP)
			    ? rpm_intern(st->set, &st->groups, rpmfiFGroup(fi))
			    : NULL;
	if (pf->user != NULL || pf->group != NULL)
		pf->flags |= SCAN_PF_HAS_OWNER;

	if (S_ISREG(mode) && !ghost) {
		const unsigned char *digest;
		size_t len = 0;
		int algo = 0;

		if (vflags & RPMVERIFY_FILESIZE) {
			pf->size = (uint64_t)rpmfiFSize(fi);
			pf->flags |= SCAN_PF_HAS_SIZE;
		}
		if (vflags & RPMVERIFY_MTIME) {
			pf->mtime = (int64_t)rpmfiFMtime(fi);
			pf->flags |= SCAN_PF_HAS_MTIME;
		}
		digest = rpmfiFDigest(fi, &algo, &len);
		pf->algo = rf_digest_by_openpgp_id((unsigned long)algo);
		if (digest != NULL && pf->algo != RF_DIGEST_NONE &&
		    len == rf_digest_len(pf->algo))
			pf->digest = scan_pkgset_memdup(st->set, digest, len);
		else
			pf->algo = RF_DIGEST_NONE;
		if (!(vflags & RPMVERIFY_FILEDIGEST))
			pf->flags |= SCAN_PF_NOVERIFY_CONTENT;
	}
	if ((S_ISCHR(mode) || S_ISBLK(mode)) && (vflags & RPMVERIFY_RDEV)) {
		pf->rdev = (dev_t)rpmfiFRdev(fi);
		pf->flags |= SCAN_PF_HAS_RDEV;
	}
	if (S_ISLNK(mode) && (vflags & RPMVERIFY_LINKTO) &&
	    rpmfiFLink(fi) != NULL) {
		pf->link_target = scan_pkgset_strdup(st->set, rpmfiFLink(fi));
		pf->flags |= SCAN_PF_HAS_TARGET;
	}
}

/* A header's number tag as a decimal string, NULL when absent. */
static const char *rpm_number_string(Header h, rpmTagVal tag, char *buf,
				     size_t size)
{
	if (!headerIsEntry(h, tag))
		return NULL;
	snprintf(buf, size, "%" PRIu64, headerGetNumber(h, tag));
	return buf;
}

static int rpm_load_header(struct rpm_load_state *st, Header h,
			   struct rf_error *err)
{
	struct scan_pkg pkg = {0};
	char epoch[24], repo[256];
	rpmfiles files = NULL;
	rpmfi fi = NULL;
	uint32_t idx;
	int rc = 0;

	pkg.db = "rpm";
	pkg.name = headerGetString(h, RPMTAG_NAME);
	if (pkg.name == NULL || pkg.name[0] == '\0')
		return rf_error_set(err, -EINVAL,
				    "package header #%u has no name",
				    headerGetInstance(h));
	pkg.epoch = rpm_number_string(h, RPMTAG_EPOCH, epoch, sizeof(epoch));
	pkg.version = headerGetString(h, RPMTAG_VERSION);
	pkg.release = headerGetString(h, RPMTAG_RELEASE);
	pkg.arch = headerGetString(h, RPMTAG_ARCH);
	pkg.status = "installed";
	pkg.vendor = headerGetString(h, RPMTAG_VENDOR);
	pkg.install_time = (int64_t)headerGetNumber(h, RPMTAG_INSTALLTIME);
	rpm_history_lookup(&st->history, h, &pkg, repo, sizeof(repo));
	idx = scan_pkgset_add_package(st->set, &pkg);

	if (!headerIsEntry(h, RPMTAG_BASENAMES))
		return 0; /* gpg-pubkey and other file-less packages */
	files = rpmfilesNew(NULL, h, RPMTAG_BASENAMES,
			    RPMFI_FLAGS_VERIFY | RPMFI_NOFILECAPS |
				    RPMFI_NOFILESIGNATURES |
				    RPMFI_NOVERITYSIGNATURES);
	if (files == NULL) {
		rc = rf_error_set(err, -EINVAL,
				  "cannot read the file list of %s", pkg.name);
		goto out;
	}
	fi = rpmfilesIter(files, RPMFI_ITER_FWD);
	while (fi != NULL && rpmfiNext(fi) >= 0) {
		const char *fn = rpmfiFN(fi);
		char *path = NULL;
		struct scan_pkgfile desc, *pf;
		size_t len;
		bool shared;

		if (fn == NULL || fn[0] != '/') {
			rc = rf_error_set(err, -EINVAL,
					  "%s lists a file with no absolute "
					  "path ('%s')",
					  pkg.name, fn ? fn : "");
			goto out;
		}
		len = strlen(fn);
		if (len > 1 && fn[len - 1] == '/')
			fn = path = rf_xstrndup(fn, len - 1);
		rpm_describe_file(st, fi, &desc);
		pf = scan_pkgset_add_file(st->set, idx, fn, &shared);
		free(path);
		if (shared) {
			scan_pkgfile_fill_unknown(pf, &desc);
			/* rpm -V: "filter out timestamp differences of shared
			 * files" */
			pf->flags |= SCAN_PF_NOVERIFY_MTIME;
			continue;
		}
		desc.path = pf->path;
		desc.pkg = pf->pkg;
		desc.nowners = pf->nowners;
		*pf = desc;
	}
out:
	rpmfiFree(fi);
	rpmfilesFree(files);
	return rc;
}

/*
 * Read the headers of the database copied into scratch; origins from the
 * root's dnf history.
 */
static int rpm_read_db(struct scan_pkgset *set, int rootfd,
		       struct scan_scratch *scratch,
		       const struct rpm_db_location *loc, struct rpm_log *log,
		       struct rf_error *err)
{
	const char *root = scan_scratch_path(scratch);
	struct rpm_load_state st = {.set = set};
	rpmdbMatchIterator mi = NULL;
	rpmts ts = NULL;
	Header h;
	int rc;

	/*
	 * The host's configuration may put the database anywhere (Debian:
	 * ~/.rpmdb); the copy is where these macros say.
	 */
	rpmPushMacro(NULL, "_dbpath", NULL, "/" RPM_SCRATCH_DBPATH,
		     RMIL_CMDLINE);
	rpmPushMacro(NULL, "_db_backend", NULL, loc->backend, RMIL_CMDLINE);
	rpm_history_open(rootfd, scratch, &st.history);
	ts = rpmtsCreate();
	if (rpmtsSetRootDir(ts, root) != 0) {
		rc = rf_error_set(err, -EINVAL, "librpm refused root '%s'",
				  root);
		goto out;
	}
	if (rpmtsOpenDB(ts, O_RDONLY) != 0 && !log->dummy) {
		rc = rf_error_set(err, -EIO, "cannot open the %s database: %s",
				  loc->backend,
				  log->nerrors ? log->first : "unknown error");
		goto out;
	}
	mi = rpmtsInitIterator(ts, RPMDBI_PACKAGES, NULL, 0);
	if (log->dummy) {
		rc = rf_error_set(err, -ENOTSUP,
				  "librpm %s cannot read %s databases",
				  RPMVERSION, loc->backend);
		goto out;
	}
	if (mi == NULL && log->nerrors > 0) {
		rc = rf_error_set(err, -EIO, "cannot read the %s database: %s",
				  loc->backend, log->first);
		goto out;
	}
	rc = 0;
	while (mi != NULL && (h = rpmdbNextIterator(mi)) != NULL) {
		rc = rpm_load_header(&st, h, err);
		if (rc < 0)
			goto out;
	}
	/* a damaged header is logged and skipped by librpm: not by us */
	if (log->nerrors > 0)
		rc = rf_error_set(err, -EIO, "%s database is damaged: %s",
				  loc->backend, log->first);
out:
	rpm_history_close(&st.history);
	rpmdbFreeIterator(mi);
	rpmtsFree(ts);
	rpmPopMacro(NULL, "_db_backend");
	rpmPopMacro(NULL, "_dbpath");
	return rc;
}

static int rpm_load(struct scan_pkgset *set, int rootfd, const char *root,
		    struct rf_error *err)
{
	struct scan_scratch *scratch = NULL;
	struct rpm_db_location loc;
	struct rpm_log log = {0};
	const char *where = "the root";
	rpmlogCallback old_cb;
	int rc;

	(void)root; /* librpm reads the copy, never the root itself */
	old_cb = rpmlogSetCallback(rpm_log_cb, &log);
	pthread_once(&rpm_config_once, rpm_read_config);
	if (rpm_config_rc != 0) {
		rc = rf_error_set(err, -EIO,
				  "cannot read librpm's configuration%s%s",
				  log.nerrors ? ": " : "", log.first);
		goto out;
	}
	if (!rpm_find_db(rootfd, &loc)) {
		rc = rf_error_set(err, -ENOENT, "no rpm database in %s or %s",
				  rpm_db_dirs[0], rpm_db_dirs[1]);
		goto out;
	}
	where = loc.dir;
	rc = scan_scratch_new("rpmdb", &scratch, err);
	if (rc < 0)
		goto out;
	log.scratch = scratch;
	log.dir = loc.dir;
	rc = rpm_copy_db(rootfd, &loc, scratch, err);
	if (rc < 0)
		goto out;
	rc = rpm_read_db(set, rootfd, scratch, &loc, &log, err);
out:
	if (rc < 0)
		rf_error_prefix(err, "rpm database in %s", where);
	rpmlogSetCallback(old_cb, NULL);
	scan_scratch_free(scratch);
	return rc;
}

const struct scan_pkgdb_ops scan_pkgdb_rpm = {
	.name = "rpm",
	.path = "var/lib/rpm",
	.probe = rpm_probe,
	.load = rpm_load,
};
