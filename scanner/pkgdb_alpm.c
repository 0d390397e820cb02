/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pacman package database backend: the root's local database
 * (var/lib/pacman/local/NAME-VERSION/{desc,files,mtree}) read through
 * libalpm, and for each package file what `pacman -Qkk` would compare it
 * with.
 *
 * libalpm wants a database directory to open by path, follows symlinks as it
 * goes, and stamps an empty local database with a version file: so desc and
 * files of every package, the version stamp and the sync databases are
 * copied out of the root first (pkgdb_backend.h) and libalpm reads the copy.
 * The mtree of each package is read here, from the root through
 * rf_root_open(), with libarchive's mtree reader: that parsing is ours, and
 * tests/fuzz/fuzz_alpm_mtree.c covers it.
 *
 * What pacman -Qkk (pacman 6.0, src/pacman/check.c) compares, for every
 * mtree entry but the package's own .PKGINFO-style metadata, and how it maps
 * onto struct scan_pkgfile:
 *   - existence (a missing file is an error)    -> the walk's "missing";
 *   - file type: regular, directory, symlink    -> SCAN_PF_HAS_TYPE;
 *   - uid and gid (numbers)                     -> SCAN_PF_HAS_OWNER, as the
 *     names the root's passwd and group give those numbers;
 *   - permission bits                           -> SCAN_PF_HAS_PERM;
 *   - symlink target                            -> SCAN_PF_HAS_TARGET;
 *   - mtime of files and symlinks               -> SCAN_PF_HAS_MTIME, for
 *     regular files only;
 *   - size of regular files                     -> SCAN_PF_HAS_SIZE;
 *   - md5 and sha256 of regular files           -> the digest: sha256, else
 *     md5 (pacman compares both where libarchive reads them, 3.6.2 on).
 * For `backup` files (SCAN_PF_CONFIG) pacman reports these changes as
 * information rather than as errors; the scanner reports a modified config
 * file. Kept different on purpose: the walk compares no symlink's mtime, so
 * a symlink recreated with the same target is not a change.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <alpm.h>

#include "buf.h"
#include "pkgdb.h"
#include "pkgdb_alpm.h"
#include "pkgdb_backend.h"
#include "rootfs.h"
#include "system.h"

#define ALPM_DBPATH "var/lib/pacman"
#define ALPM_LOCAL ALPM_DBPATH "/local"
#define ALPM_SYNC ALPM_DBPATH "/sync"
#define ALPM_CONF "etc/pacman.conf"

/* Bounds on what is read: far above any real database. */
#define ALPM_DESC_MAX ((size_t)16 << 20)
#define ALPM_FILES_MAX ((size_t)256 << 20)
/* pacman writes some 25 sections to a desc */
#define ALPM_SECTIONS_MAX 64
#define ALPM_SYNC_MAX ((uint64_t)1 << 30)
#define ALPM_VERSION_MAX 64
#define ALPM_CONF_MAX ((size_t)1 << 20)

static bool alpm_probe(int rootfd)
{
	int fd = rf_root_open(rootfd, ALPM_LOCAL, O_PATH | O_DIRECTORY);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/*
 * libalpm logs through a callback; library code does not print, so the
 * messages are caught here and the first error becomes the load's message.
 */
struct alpm_log {
	int nerrors;
	char first[512];
	const struct scan_scratch *scratch; /* the copy libalpm reads */
};

static void alpm_log_cb(void *ctx, alpm_loglevel_t level, const char *fmt,
			va_list args)
{
	struct alpm_log *log = ctx;
	size_t len;

	if (level != ALPM_LOG_ERROR || log->nerrors++ > 0)
		return;
	vsnprintf(log->first, sizeof(log->first), fmt, args);
	len = strlen(log->first);
	while (len > 0 && log->first[len - 1] == '\n')
		log->first[--len] = '\0';
	scan_scratch_unname(log->scratch, "", ALPM_DBPATH, log->first,
			    sizeof(log->first));
}

/* A name libalpm will join to a path: no separators, no dot names. */
static bool alpm_plain_name(const char *name)
{
	return name[0] != '\0' && name[0] != '.' && strchr(name, '/') == NULL;
}

/* A line libalpm takes for a section header: "%NAME%", "%FILES%". */
static bool alpm_is_header(const char *p, size_t len)
{
	if (len < 3 || p[0] != '%' || p[len - 1] != '%')
		return false;
	for (size_t i = 1; i + 1 < len; i++)
		if (!isupper((unsigned char)p[i]) &&
		    !isdigit((unsigned char)p[i]) && p[i] != '_')
			return false;
	return true;
}

/*
 * Whether text (len bytes), a desc or files of the local database, is as
 * pacman writes it: text without NUL bytes, each section header at most
 * once. libalpm reads a repeated section without a word, keeping the last
 * (and leaking the others); such a file did not come from pacman.
 */
static bool alpm_entry_text_ok(const char *text, size_t len)
{
	struct {
		const char *p;
		size_t len;
	} seen[ALPM_SECTIONS_MAX];
	size_t nseen = 0;

	if (memchr(text, '\0', len) != NULL)
		return false;
	for (const char *p = text, *end = text + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (alpm_is_header(p, l)) {
			for (size_t i = 0; i < nseen; i++)
				if (seen[i].len == l &&
				    memcmp(seen[i].p, p, l) == 0)
					return false;
			if (nseen == ALPM_SECTIONS_MAX)
				return false;
			seen[nseen].p = p;
			seen[nseen++].len = l;
		}
		p += l + 1;
	}
	return true;
}

/*
 * Copy one file of a local database entry, checked first; a missing one is
 * left out (libalpm says what it misses).
 */
static int alpm_copy_entry_file(struct scan_scratch *scratch, int rootfd,
				const char *entry, const char *file, size_t max,
				struct rf_error *err)
{
	struct rf_buf src = RF_BUF_INIT, dst = RF_BUF_INIT, text = RF_BUF_INIT;
	int rc;

	rf_buf_printf(&src, "%s/%s/%s", ALPM_LOCAL, entry, file);
	rf_buf_printf(&dst, "local/%s/%s", entry, file);
	rc = rf_root_read_file(rootfd, src.data, max, &text, err);
	if (rc == -ENOENT) {
		rc = 0;
		goto out;
	}
	if (rc < 0)
		goto out;
	if (!alpm_entry_text_ok(text.data ? text.data : "", text.len)) {
		rc = rf_error_set(err, -EINVAL,
				  "%s of %s is corrupt (NUL bytes or a "
				  "section given twice)",
				  file, entry);
		goto out;
	}
	rc = scan_scratch_write(scratch, dst.data, text.data ? text.data : "",
				text.len, err);
out:
	rf_buf_free(&src);
	rf_buf_free(&dst);
	rf_buf_free(&text);
	return rc;
}

/*
 * Copy the local database (version stamp, desc and files of every entry)
 * into the scratch directory. *nentries counts the package entries.
 */
static int alpm_copy_local(struct scan_scratch *scratch, int rootfd,
			   size_t *nentries, struct rf_error *err)
{
	DIR *dir = NULL;
	struct dirent *de;
	int rc;

	*nentries = 0;
	rc = scan_scratch_mkdir(scratch, "local", err);
	if (rc < 0)
		return rc;
	dir = scan_root_opendir(rootfd, ALPM_LOCAL);
	if (dir == NULL)
		return rf_error_errno(err, -errno, "cannot open '%s'",
				      ALPM_LOCAL);
	rc = scan_scratch_copy(scratch, rootfd, ALPM_LOCAL "/ALPM_DB_VERSION",
			       "local/ALPM_DB_VERSION", ALPM_VERSION_MAX, err);
	if (rc < 0 && rc != -ENOENT)
		goto out;
	rc = 0;
	while ((errno = 0, de = readdir(dir)) != NULL) {
		struct rf_buf sub = RF_BUF_INIT;
		struct stat st;

		if (!alpm_plain_name(de->d_name) ||
		    fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
			    0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		rf_buf_printf(&sub, "local/%s", de->d_name);
		rc = scan_scratch_mkdir(scratch, sub.data, err);
		rf_buf_free(&sub);
		if (rc == 0)
			rc = alpm_copy_entry_file(scratch, rootfd, de->d_name,
						  "desc", ALPM_DESC_MAX, err);
		if (rc == 0)
			rc = alpm_copy_entry_file(scratch, rootfd, de->d_name,
						  "files", ALPM_FILES_MAX, err);
		if (rc < 0)
			goto out;
		(*nentries)++;
	}
	if (errno != 0)
		rc = rf_error_errno(err, -errno, "cannot read '%s'",
				    ALPM_LOCAL);
out:
	closedir(dir);
	return rc;
}

/*
 * Copy the sync databases (NAME.db), which say where packages come from.
 * They are optional: one that cannot be copied is left out. Returns the
 * names (without ".db"), NULL-terminated, for the caller to free.
 */
static char **alpm_copy_sync(struct scan_scratch *scratch, int rootfd)
{
	struct rf_error ignored = {0};
	char **names = rf_xcalloc(1, sizeof(*names));
	size_t n = 0;
	DIR *dir;
	struct dirent *de;

	dir = scan_root_opendir(rootfd, ALPM_SYNC);
	if (dir == NULL)
		return names;
	if (scan_scratch_mkdir(scratch, "sync", &ignored) < 0)
		goto out;
	while ((de = readdir(dir)) != NULL) {
		size_t len = strlen(de->d_name);
		struct rf_buf src = RF_BUF_INIT, dst = RF_BUF_INIT;
		struct stat st;
		int rc;

		if (len <= 3 || strcmp(de->d_name + len - 3, ".db") != 0 ||
		    !alpm_plain_name(de->d_name) ||
		    fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
			    0 ||
		    !S_ISREG(st.st_mode))
			continue;
		rf_buf_printf(&src, "%s/%s", ALPM_SYNC, de->d_name);
		rf_buf_printf(&dst, "sync/%s", de->d_name);
		rc = scan_scratch_copy(scratch, rootfd, src.data, dst.data,
				       ALPM_SYNC_MAX, &ignored);
		rf_buf_free(&src);
		rf_buf_free(&dst);
		if (rc < 0)
			continue;
		names = rf_xrealloc(names, (n + 2) * sizeof(*names));
		names[n++] = rf_xstrndup(de->d_name, len - 3);
		names[n] = NULL;
	}
out:
	closedir(dir);
	return names;
}

static void alpm_names_free(char **names)
{
	if (names == NULL)
		return;
	for (size_t i = 0; names[i] != NULL; i++)
		free(names[i]);
	free(names);
}

/*
 * The sync databases libalpm could read, in name order; the others (corrupt,
 * unreadable) are unregistered: knowing a package's origin is a nicety.
 */
static alpm_list_t *alpm_register_sync(alpm_handle_t *handle, char **names)
{
	alpm_list_t *dbs = NULL;

	for (size_t i = 0; names[i] != NULL; i++) {
		alpm_db_t *db = alpm_register_syncdb(handle, names[i], 0);

		if (db == NULL)
			continue;
		if (alpm_db_get_pkgcache(db) == NULL) {
			alpm_db_unregister(db);
			continue;
		}
		dbs = alpm_list_add(dbs, db);
	}
	return dbs;
}

/*
 * The sync database that holds this very version of the package, else one
 * that holds the package at all (repositories keep only the newest). NULL
 * when none does: a package built locally or from the AUR.
 */
static const char *alpm_origin(alpm_list_t *syncdbs, alpm_pkg_t *pkg)
{
	const char *name = alpm_pkg_get_name(pkg);
	const char *version = alpm_pkg_get_version(pkg);
	const char *any = NULL;

	for (alpm_list_t *l = syncdbs; l != NULL; l = l->next) {
		alpm_pkg_t *spkg = alpm_db_get_pkg(l->data, name);

		if (spkg == NULL)
			continue;
		if (strcmp(alpm_pkg_get_version(spkg), version) == 0)
			return alpm_db_get_name(l->data);
		if (any == NULL)
			any = alpm_db_get_name(l->data);
	}
	return any;
}

/* What the mtree reader needs beyond the set: the package and the root. */
struct alpm_mtree_ctx {
	struct scan_pkgset *set;
	uint32_t pkg;
	const char *pkgname;
	/* the package's file list (sorted by libalpm) and backup entries */
	alpm_filelist_t *files;
	alpm_list_t *backup;
	/* marks the file list entries the mtree described */
	unsigned char *seen;
	const struct scan_accounts *accounts;
	const char *last_name[2]; /* user, group: set-owned copies */
};

static bool alpm_is_backup(alpm_list_t *backup, const char *rel)
{
	for (alpm_list_t *l = backup; l != NULL; l = l->next) {
		const alpm_backup_t *b = l->data;

		if (b->name != NULL && strcmp(b->name, rel) == 0)
			return true;
	}
	return false;
}

/*
 * rel (relative to the root, no "./") as an absolute path in out, or false
 * when it has empty, "." or ".." components: no real package has those.
 */
static bool alpm_abs_path(const char *rel, struct rf_buf *out)
{
	const char *p = rel;

	rf_buf_reset(out);
	rf_buf_addch(out, '/');
	while (*p != '\0') {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == 0 && end != NULL && end[1] == '\0')
			break; /* a trailing slash */
		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (out->len > 1)
			rf_buf_addch(out, '/');
		rf_buf_add(out, p, len);
		p += len;
		if (*p == '/')
			p++;
	}
	return true;
}

/* Add path to the package, or fill what an earlier owner left unknown. */
static void alpm_add_file(struct alpm_mtree_ctx *ctx, const char *path,
			  struct scan_pkgfile *desc)
{
	struct scan_pkgfile *pf;
	bool shared;

	pf = scan_pkgset_add_file(ctx->set, ctx->pkg, path, &shared);
	if (shared) {
		if (pf->pkg == ctx->pkg)
			pf->nowners--; /* listed twice by one package */
		scan_pkgfile_fill_unknown(pf, desc);
		return;
	}
	desc->path = pf->path;
	desc->pkg = pf->pkg;
	desc->nowners = pf->nowners;
	*pf = *desc;
}

/*
 * The name the root gives a uid or gid, as the walk will name the file's
 * owner; id 0 is "root" even without a passwd. NULL when it has none: the
 * owner is then not compared (pacman compares numbers, the walk names).
 */
static const char *alpm_id_name(struct alpm_mtree_ctx *ctx, la_int64_t id,
				bool group)
{
	const char *name;

	if (id < 0 || id > UINT32_MAX)
		return NULL;
	name = group ? scan_accounts_group(ctx->accounts, (gid_t)id)
		     : scan_accounts_user(ctx->accounts, (uid_t)id);
	if (name == NULL && id == 0)
		name = "root";
	if (name == NULL)
		return NULL;
	/* runs of one owner are the rule: store the name once per run */
	if (ctx->last_name[group] == NULL ||
	    strcmp(ctx->last_name[group], name) != 0)
		ctx->last_name[group] = scan_pkgset_strdup(ctx->set, name);
	return ctx->last_name[group];
}

static bool nonzero(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0)
			return true;
	return false;
}

/* Mark the file list's entry for path (absolute, in path) as described. */
static void alpm_add_listed(struct alpm_mtree_ctx *ctx, mode_t type,
			    struct rf_buf *path)
{
	alpm_file_t *listed =
		alpm_filelist_contains(ctx->files, path->data + 1);

	/* the file list names directories with a trailing slash */
	if (listed == NULL && type == AE_IFDIR) {
		rf_buf_addch(path, '/');
		listed = alpm_filelist_contains(ctx->files, path->data + 1);
		path->data[--path->len] = '\0';
	}
	if (listed != NULL)
		ctx->seen[listed - ctx->files->files] = 1;
}

/* One mtree entry into the set. */
static int alpm_mtree_entry(struct alpm_mtree_ctx *ctx, struct archive_entry *e,
			    struct rf_buf *path, struct rf_error *err)
{
	const char *rel = archive_entry_pathname(e);
	struct scan_pkgfile desc = {0};
	mode_t type = archive_entry_filetype(e);
	const unsigned char *digest;

	if (rel == NULL)
		return rf_error_set(err, -EINVAL,
				    "mtree of %s: an entry without a path",
				    ctx->pkgname);
	if (rel[0] == '.' && rel[1] == '/')
		rel += 2;
	/* .PKGINFO, .BUILDINFO, .INSTALL, .CHANGELOG: not installed files */
	if (rel[0] == '\0' ||
	    (rel[0] == '.' && strncmp(rel, "../", 3) != 0 &&
	     strcmp(rel, "..") != 0 && strchr(rel, '/') == NULL))
		return 0;
	if (!alpm_abs_path(rel, path))
		return rf_error_set(err, -EINVAL,
				    "mtree of %s: invalid path '%s'",
				    ctx->pkgname, rel);
	if (strcmp(path->data, "/") == 0)
		return 0;

	if (alpm_is_backup(ctx->backup, path->data + 1))
		desc.flags |= SCAN_PF_CONFIG;
	/* other types: pacman -Qkk checks that they exist, nothing more */
	if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
		alpm_add_listed(ctx, type, path);
		alpm_add_file(ctx, path->data, &desc);
		return 0;
	}
	desc.mode = type | (archive_entry_perm(e) & 07777);
	desc.flags |= SCAN_PF_HAS_TYPE | SCAN_PF_HAS_PERM;
	desc.user = alpm_id_name(ctx, archive_entry_uid(e), false);
	desc.group = alpm_id_name(ctx, archive_entry_gid(e), true);
	if (desc.user != NULL || desc.group != NULL)
		desc.flags |= SCAN_PF_HAS_OWNER;
	if (type == AE_IFREG) {
		if (archive_entry_size_is_set(e) &&
		    archive_entry_size(e) >= 0) {
			desc.size = (uint64_t)archive_entry_size(e);
			desc.flags |= SCAN_PF_HAS_SIZE;
		}
		if (archive_entry_mtime_is_set(e)) {
			desc.mtime = (int64_t)archive_entry_mtime(e);
			desc.flags |= SCAN_PF_HAS_MTIME;
		}
#if ARCHIVE_VERSION_NUMBER >= 3006002
		/* an unset digest reads as zeros */
		digest = archive_entry_digest(e, ARCHIVE_ENTRY_DIGEST_SHA256);
		if (digest != NULL && nonzero(digest, RF_SHA256_LEN)) {
			desc.algo = RF_DIGEST_SHA256;
		} else {
			digest = archive_entry_digest(e,
						      ARCHIVE_ENTRY_DIGEST_MD5);
			if (digest != NULL &&
			    nonzero(digest, rf_digest_len(RF_DIGEST_MD5)))
				desc.algo = RF_DIGEST_MD5;
		}
		if (desc.algo != RF_DIGEST_NONE)
			desc.digest = scan_pkgset_memdup(
				ctx->set, digest, rf_digest_len(desc.algo));
#else
		(void)digest;
		(void)nonzero;
#endif
	}
	if (type == AE_IFLNK && archive_entry_symlink(e) != NULL) {
		desc.link_target =
			scan_pkgset_strdup(ctx->set, archive_entry_symlink(e));
		desc.flags |= SCAN_PF_HAS_TARGET;
	}
	alpm_add_listed(ctx, type, path);
	alpm_add_file(ctx, path->data, &desc);
	return 0;
}

/*
 * Refuse an mtree that names contents files: libarchive's reader would open
 * them, by a path relative to the scanner's working directory, on the host.
 * Keywords are separated by blanks; paths hold none (they are escaped).
 */
static bool alpm_mtree_safe(const char *text, size_t len)
{
	static const char *const kws[] = {
		" content=", "\tcontent=", " contents=", "\tcontents="};

	for (size_t i = 0; i < sizeof(kws) / sizeof(*kws); i++)
		if (memmem(text, len, kws[i], strlen(kws[i])) != NULL)
			return false;
	return true;
}

/*
 * The uncompressed text of an mtree (gzip-compressed as pacman writes it, or
 * plain) in out, at most max bytes.
 */
static int alpm_mtree_text(const void *data, size_t len, size_t max,
			   struct rf_buf *out, const char *pkgname,
			   struct rf_error *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char buf[65536];
	ssize_t n;
	int rc;

	archive_read_support_filter_gzip(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_memory(a, data, len) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK) {
		rc = rf_error_set(err, -EINVAL, "mtree of %s: %s", pkgname,
				  archive_error_string(a)
					  ? archive_error_string(a)
					  : "unreadable");
		goto out;
	}
	while ((n = archive_read_data(a, buf, sizeof(buf))) > 0) {
		if (out->len + (size_t)n > max) {
			rc = rf_error_set(err, -EFBIG,
					  "mtree of %s: larger than %zu bytes "
					  "uncompressed",
					  pkgname, max);
			goto out;
		}
		rf_buf_add(out, buf, (size_t)n);
	}
	if (n < 0) {
		rc = rf_error_set(err, -EINVAL, "mtree of %s: %s", pkgname,
				  archive_error_string(a)
					  ? archive_error_string(a)
					  : "truncated or corrupt");
		goto out;
	}
	rc = 0;
out:
	archive_read_free(a);
	return rc;
}

int scan_alpm_read_mtree(struct scan_pkgset *set, uint32_t pkg,
			 const char *pkgname, const void *data, size_t len,
			 alpm_filelist_t *files, alpm_list_t *backup,
			 const struct scan_accounts *accounts,
			 struct rf_error *err)
{
	static alpm_filelist_t no_files = {0, NULL};
	struct alpm_mtree_ctx ctx = {
		.set = set,
		.pkg = pkg,
		.pkgname = pkgname,
		.files = files ? files : &no_files,
		.backup = backup,
		.accounts = accounts,
	};
	struct rf_buf text = RF_BUF_INIT, path = RF_BUF_INIT;
	struct archive *a = NULL;
	struct archive_entry *e;
	int rc, r;

	ctx.seen = rf_xcalloc(ctx.files->count + 1, 1);
	if (data != NULL) {
		rc = alpm_mtree_text(data, len, SCAN_ALPM_MTREE_MAX, &text,
				     pkgname, err);
		if (rc < 0)
			goto out;
		if (!alpm_mtree_safe(text.data ? text.data : "", text.len)) {
			rc = rf_error_set(err, -EINVAL,
					  "mtree of %s names contents files",
					  pkgname);
			goto out;
		}
		a = archive_read_new();
		archive_read_support_format_mtree(a);
		/* never look at the host's files for what the mtree lacks */
		archive_read_set_format_option(a, "mtree", "checkfs", NULL);
		if (archive_read_open_memory(a, text.data ? text.data : "",
					     text.len) != ARCHIVE_OK) {
			rc = rf_error_set(err, -EINVAL, "mtree of %s: %s",
					  pkgname, archive_error_string(a));
			goto out;
		}
		while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK ||
		       r == ARCHIVE_WARN) {
			if (r == ARCHIVE_WARN) {
				rc = rf_error_set(err, -EINVAL,
						  "mtree of %s: %s", pkgname,
						  archive_error_string(a));
				goto out;
			}
			rc = alpm_mtree_entry(&ctx, e, &path, err);
			if (rc < 0)
				goto out;
		}
		if (r != ARCHIVE_EOF) {
			rc = rf_error_set(err, -EINVAL, "mtree of %s: %s",
					  pkgname,
					  archive_error_string(a)
						  ? archive_error_string(a)
						  : "corrupt");
			goto out;
		}
	}
	/* what the file list has and the mtree did not describe */
	for (size_t i = 0; i < ctx.files->count; i++) {
		const char *rel = ctx.files->files[i].name;
		struct scan_pkgfile desc = {0};
		size_t rlen;

		if (ctx.seen[i] || rel == NULL)
			continue;
		if (!alpm_abs_path(rel, &path)) {
			rc = rf_error_set(err, -EINVAL,
					  "file list of %s: invalid path '%s'",
					  pkgname, rel);
			goto out;
		}
		if (strcmp(path.data, "/") == 0)
			continue;
		rlen = strlen(rel);
		if (rel[rlen - 1] == '/') {
			desc.mode = S_IFDIR;
			desc.flags |= SCAN_PF_HAS_TYPE;
		}
		if (alpm_is_backup(backup, rel))
			desc.flags |= SCAN_PF_CONFIG;
		alpm_add_file(&ctx, path.data, &desc);
	}
	rc = 0;
out:
	archive_read_free(a);
	free(ctx.seen);
	rf_buf_free(&text);
	rf_buf_free(&path);
	return rc;
}

/* "1:2.0-3" -> epoch "1", version "2.0-3"; no epoch -> NULL. */
static const char *alpm_split_epoch(const char *full, char *epoch, size_t size,
				    const char **version)
{
	const char *colon = strchr(full, ':');
	size_t len;

	*version = full;
	if (colon == NULL)
		return NULL;
	len = (size_t)(colon - full);
	if (len == 0 || len >= size)
		return NULL;
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)full[i]))
			return NULL;
	memcpy(epoch, full, len);
	epoch[len] = '\0';
	*version = colon + 1;
	return epoch;
}

/* One package of the local database into the set. */
static int alpm_load_pkg(struct scan_pkgset *set, int rootfd, alpm_pkg_t *apkg,
			 alpm_list_t *syncdbs,
			 const struct scan_accounts *accounts,
			 struct alpm_log *log, struct rf_error *err)
{
	struct scan_pkg pkg = {0};
	struct rf_buf mtree = RF_BUF_INIT, mpath = RF_BUF_INIT;
	alpm_filelist_t *files;
	char epoch[16];
	uint32_t idx;
	int rc;

	pkg.db = "alpm";
	pkg.name = alpm_pkg_get_name(apkg);
	pkg.epoch = alpm_split_epoch(alpm_pkg_get_version(apkg), epoch,
				     sizeof(epoch), &pkg.version);
	pkg.arch = alpm_pkg_get_arch(apkg);
	pkg.status = "installed";
	pkg.vendor = alpm_pkg_get_packager(apkg);
	pkg.origin = alpm_origin(syncdbs, apkg);
	pkg.reason = alpm_pkg_get_reason(apkg) == ALPM_PKG_REASON_DEPEND
			     ? "dependency"
			     : "explicit";
	pkg.install_time = (int64_t)alpm_pkg_get_installdate(apkg);
	idx = scan_pkgset_add_package(set, &pkg);

	files = alpm_pkg_get_files(apkg);
	if (log->nerrors > 0) {
		rc = rf_error_set(err, -EINVAL, "file list of %s: %s", pkg.name,
				  log->first);
		goto out;
	}
	rf_buf_printf(&mpath, "%s/%s-%s/mtree", ALPM_LOCAL, pkg.name,
		      alpm_pkg_get_version(apkg));
	rc = rf_root_read_file(rootfd, mpath.data, SCAN_ALPM_MTREE_MAX, &mtree,
			       err);
	if (rc == -EFBIG)
		rf_error_set(err, rc, "'%s' is larger than %zu bytes",
			     mpath.data, (size_t)SCAN_ALPM_MTREE_MAX);
	if (rc < 0 && rc != -ENOENT)
		goto out;
	/* packages from before 2012 have no mtree: the file list only */
	rc = scan_alpm_read_mtree(
		set, idx, pkg.name, rc == -ENOENT ? NULL : mtree.data,
		mtree.len, files, alpm_pkg_get_backup(apkg), accounts, err);
out:
	rf_buf_free(&mtree);
	rf_buf_free(&mpath);
	return rc;
}

/* Whether text has the line "%KEY%" followed by the line value. */
static bool alpm_desc_has(const char *text, const char *key, const char *value)
{
	size_t klen = strlen(key), vlen = strlen(value);

	for (const char *p = text; (p = strstr(p, key)) != NULL; p += klen) {
		const char *v = p + klen + 1;

		if ((p == text || p[-1] == '\n') && p[klen] == '\n' &&
		    strncmp(v, value, vlen) == 0 &&
		    (v[vlen] == '\n' || v[vlen] == '\0'))
			return true;
	}
	return false;
}

/*
 * libalpm takes a package's name and version from its entry's directory
 * name and reads a desc that lacks them, or is garbage, without a word: a
 * package with nothing known. A desc must at least say who it describes.
 */
static int alpm_check_desc(struct scan_scratch *scratch, alpm_pkg_t *pkg,
			   struct rf_error *err)
{
	const char *name = alpm_pkg_get_name(pkg);
	const char *version = alpm_pkg_get_version(pkg);
	struct rf_buf path = RF_BUF_INIT, text = RF_BUF_INIT;
	int rc;

	rf_buf_printf(&path, "local/%s-%s/desc", name, version);
	rc = rf_root_read_file(scan_scratch_fd(scratch), path.data,
			       ALPM_DESC_MAX, &text, err);
	if (rc == 0 &&
	    (text.data == NULL || !alpm_desc_has(text.data, "%NAME%", name) ||
	     !alpm_desc_has(text.data, "%VERSION%", version)))
		rc = -EINVAL;
	if (rc < 0)
		rc = rf_error_set(err, rc == -ENOENT ? -ENOENT : -EINVAL,
				  "desc of %s-%s is missing, truncated or "
				  "corrupt",
				  name, version);
	rf_buf_free(&path);
	rf_buf_free(&text);
	return rc;
}

/*
 * The NoExtract patterns of the root's pacman.conf ([options] only; Include
 * directives are not followed): pacman never extracted the files they
 * match, and pacman -Qkk does not call them missing. Returns whether any.
 */
static bool alpm_read_noextract(alpm_handle_t *handle, int rootfd)
{
	struct rf_buf conf = RF_BUF_INIT;
	struct rf_error ignored;
	bool options = false, any = false;
	char *cur, *line;

	if (rf_root_read_file(rootfd, ALPM_CONF, ALPM_CONF_MAX, &conf,
			      &ignored) < 0 ||
	    conf.data == NULL)
		goto out;
	for (cur = conf.data; cur != NULL;) {
		char *end, *eq, *word, *save;

		line = cur;
		cur = strchr(cur, '\n');
		if (cur != NULL)
			*cur++ = '\0';
		if ((end = strchr(line, '#')) != NULL)
			*end = '\0';
		while (isspace((unsigned char)*line))
			line++;
		end = line + strlen(line);
		while (end > line && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (line[0] == '[') {
			options = strcmp(line, "[options]") == 0;
			continue;
		}
		eq = strchr(line, '=');
		if (!options || eq == NULL)
			continue;
		for (end = eq; end > line && isspace((unsigned char)end[-1]);)
			end--;
		if ((size_t)(end - line) != strlen("NoExtract") ||
		    strncmp(line, "NoExtract", (size_t)(end - line)) != 0)
			continue;
		for (word = strtok_r(eq + 1, " \t", &save); word != NULL;
		     word = strtok_r(NULL, " \t", &save))
			any |= alpm_option_add_noextract(handle, word) == 0;
	}
out:
	rf_buf_free(&conf);
	return any;
}

/* Files of alpm packages that NoExtract matches need not exist. */
static void alpm_mark_noextract(struct scan_pkgset *set, uint32_t first,
				alpm_handle_t *handle)
{
	for (size_t i = 0; i < scan_pkgset_nfiles(set); i++) {
		struct scan_pkgfile *pf = scan_pkgset_file(set, i);

		/* this backend's packages are the last added */
		if (pf->pkg >= first &&
		    alpm_option_match_noextract(handle, pf->path + 1) == 0)
			pf->flags |= SCAN_PF_MISSINGOK;
	}
}

/* The version the local database says it has, for messages. */
static void alpm_db_version(int rootfd, char *out, size_t size)
{
	struct rf_buf b = RF_BUF_INIT;
	struct rf_error ignored;
	size_t len = 0;

	snprintf(out, size, "none");
	if (rf_root_read_file(rootfd, ALPM_LOCAL "/ALPM_DB_VERSION",
			      ALPM_VERSION_MAX, &b, &ignored) == 0 &&
	    b.len > 0) {
		while (len < b.len && len + 1 < size &&
		       isdigit((unsigned char)b.data[len]))
			len++;
		if (len > 0)
			snprintf(out, size, "%.*s", (int)len, b.data);
	}
	rf_buf_free(&b);
}

static int alpm_load(struct scan_pkgset *set, int rootfd, const char *root,
		     struct rf_error *err)
{
	struct scan_sysctx sysctx = {.rootfd = rootfd, .root = root};
	struct scan_accounts *accounts = NULL;
	struct scan_scratch *scratch = NULL;
	struct alpm_log log = {0};
	alpm_handle_t *handle = NULL;
	alpm_list_t *pkgs, *syncdbs = NULL;
	alpm_errno_t aerr;
	char **syncnames = NULL;
	size_t nentries;
	uint32_t first;
	int rc;

	rc = scan_scratch_new("alpmdb", &scratch, err);
	if (rc < 0)
		goto out;
	rc = alpm_copy_local(scratch, rootfd, &nentries, err);
	if (rc < 0)
		goto out;
	syncnames = alpm_copy_sync(scratch, rootfd);

	/* libalpm checks the local database's version stamp right here */
	handle = alpm_initialize(scan_scratch_path(scratch),
				 scan_scratch_path(scratch), &aerr);
	if (handle == NULL && aerr == ALPM_ERR_DB_VERSION) {
		char version[ALPM_VERSION_MAX];

		alpm_db_version(rootfd, version, sizeof(version));
		rc = rf_error_set(err, -ENOTSUP,
				  "database version %s is not one libalpm %s "
				  "reads (newer, or older than pacman 4.2)",
				  version, alpm_version());
		goto out;
	}
	if (handle == NULL) {
		rc = rf_error_set(err, -EIO, "libalpm: %s",
				  alpm_strerror(aerr));
		goto out;
	}
	log.scratch = scratch;
	alpm_option_set_logcb(handle, alpm_log_cb, &log);

	pkgs = alpm_db_get_pkgcache(alpm_get_localdb(handle));
	if (pkgs == NULL && alpm_errno(handle) != ALPM_ERR_OK) {
		rc = rf_error_set(err, -EIO, "libalpm: %s",
				  log.nerrors
					  ? log.first
					  : alpm_strerror(alpm_errno(handle)));
		goto out;
	}
	/* libalpm logs a corrupt entry and leaves the package out */
	if (alpm_list_count(pkgs) < nentries) {
		rc = rf_error_set(
			err, -EINVAL,
			"%zu of %zu package entries are unreadable%s%s",
			nentries - alpm_list_count(pkgs), nentries,
			log.nerrors ? ": " : "", log.first);
		goto out;
	}
	if (log.nerrors > 0) {
		rc = rf_error_set(err, -EINVAL, "libalpm: %s", log.first);
		goto out;
	}

	for (alpm_list_t *l = pkgs; l != NULL; l = l->next) {
		rc = alpm_check_desc(scratch, l->data, err);
		if (rc < 0)
			goto out;
	}
	syncdbs = alpm_register_sync(handle, syncnames);
	log.nerrors = 0; /* a bad sync database only costs origins */
	accounts = scan_accounts_load(&sysctx);
	first = scan_pkgset_npackages(set);
	for (alpm_list_t *l = pkgs; l != NULL; l = l->next) {
		rc = alpm_load_pkg(set, rootfd, l->data, syncdbs, accounts,
				   &log, err);
		if (rc < 0)
			goto out;
	}
	if (alpm_read_noextract(handle, rootfd))
		alpm_mark_noextract(set, first, handle);
	rc = 0;
out:
	if (rc < 0)
		rf_error_prefix(err, "pacman database in %s", ALPM_LOCAL);
	scan_accounts_free(accounts);
	alpm_list_free(syncdbs);
	if (handle != NULL)
		alpm_release(handle);
	alpm_names_free(syncnames);
	scan_scratch_free(scratch);
	return rc;
}

const struct scan_pkgdb_ops scan_pkgdb_alpm = {
	.name = "alpm",
	.path = ALPM_LOCAL,
	.probe = alpm_probe,
	.load = alpm_load,
};
