/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef GEN_H
#define GEN_H

/*
 * The generator's model of a scan report, the package repositories it
 * takes packages from, the tree it builds, and the disk it writes.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "error.h"
#include "extract.h"

enum gen_class {
	GEN_UNMODIFIED,
	GEN_MODIFIED,
	GEN_MISSING,
	GEN_UNOWNED,
};

struct gen_xattr {
	char *name;
	unsigned char *value;
	size_t len;
};

/* One <file> of the report. Paths are relative (no leading '/'); "" is
 * the root. */
struct gen_file {
	char *path;
	mode_t type; /* S_IFREG ...; 0 for a missing file */
	unsigned mode;
	uid_t uid;
	gid_t gid;
	struct timespec mtime;
	uint64_t size;
	uint64_t allocated; /* bytes of data a sparse file has; else size */
	unsigned long long link_group; /* 0: none */
	dev_t rdev;
	enum gen_class cls;
	char *package;
	char *target; /* a symlink's */
	struct gen_xattr *xattrs;
	size_t nxattrs;
	char *acl_access, *acl_default; /* short text form */
};

/* A <package>: version as its database spells it (dpkg: with the epoch;
 * rpm and alpm: epoch and, for rpm, release apart; NULL when absent). */
struct gen_package {
	char *db, *name, *version, *arch, *status;
	char *epoch, *release;
};

/* A <filesystem kind="disk"> of <storage>. */
struct gen_fs {
	char *mountpoint; /* "/" or "/boot" ... */
	char *type;
	char *uuid, *label;
	uint64_t size, used;
};

struct gen_report {
	struct gen_file *files;
	size_t nfiles;
	struct gen_package *pkgs;
	size_t npkgs;
	struct gen_fs *fs;
	size_t nfs;
	uint64_t swap_bytes; /* total of <swap> sizes; 0 when none */
	bool have_swap;
	char *table;    /* "gpt", "msdos" or NULL when unknown */
	char *firmware; /* "efi", "bios", "hybrid", "unknown" */
};

/* Parse the report at path (untrusted: every value is checked). On
 * success *out is a new report the caller frees with gen_report_free(). */
int gen_report_load(const char *path, struct gen_report **out,
		    struct rf_error *err);
/* As gen_report_load() from memory (fuzzing). */
int gen_report_parse(const char *data, size_t len, struct gen_report **out,
		     struct rf_error *err);
void gen_report_free(struct gen_report *r);

/* Repositories: where package files come from. */
struct gen_repo;

/*
 * Open a repository at url: file:///DIR holding, for each kind of package
 * (generator/pkg_*.c), an index whose checksums are verified (Packages[.gz
 * |.xz]; rpm-md repodata/repomd.xml; a pacman NAME.db) or else plain
 * package files (.deb, .rpm, .pkg.tar.*), which name themselves. A bad
 * index or package file fails the call and adds nothing. Several URLs may
 * be added to one gen_repo; earlier ones win.
 */
struct gen_repo *gen_repo_new(void);
int gen_repo_add(struct gen_repo *repo, const char *url,
		 struct rf_error *err);
void gen_repo_free(struct gen_repo *repo);
/* Unpack through the payload cache (cache.h) from now on; the cache
 * outlives the repository's use of it. */
struct gen_cache;
void gen_repo_set_cache(struct gen_repo *repo, struct gen_cache *cache);

/*
 * Unpack the payload of package name/version/arch into dest: found in the
 * repository, its checksum verified while it is read (a mismatch fails the
 * call, and the caller must discard the root), its payload (a .deb's
 * data.tar.*, an rpm's cpio, a pacman package's files) extracted with
 * gen_extract(). -ENOENT (err set) when no repository has it. A
 * database entry that is no package file (rpm's gpg-pubkey) has nothing
 * to unpack: 0. Keeps no state outside the call but what repo holds, which
 * it only reads: several threads may unpack from one repo at once.
 */
int gen_repo_unpack(struct gen_repo *repo, const struct gen_package *pkg,
		    const struct gen_dest *dest, const struct gen_limits *lim,
		    struct rf_error *err);

/* What a repository knows of one package; the strings belong to the
 * repository. depends holds Pre-Depends and Depends, as in the control
 * file (NULL when none). */
struct gen_repo_entry {
	const char *name, *version, *arch, *path, *depends, *provides;
};

/*
 * The package called name (or, failing that, the first that provides
 * name) for arch ("all" matches any; NULL: any arch), earlier
 * repositories first. 0, or -ENOENT when no repository has it.
 */
int gen_repo_lookup(const struct gen_repo *repo, const char *name,
		    const char *arch, struct gen_repo_entry *out);

/* Whether a Depends/Provides-style list mentions the package name as one
 * of its items (versions and arch qualifiers ignored). */
bool gen_deps_mention(const char *list, const char *name);

/* Unpack the overlay tar at path into dest. */
int gen_overlay_unpack(const char *path, const struct gen_dest *dest,
		       const struct gen_limits *lim,
		       struct gen_extract_stats *stats, struct rf_error *err);

/*
 * Give every file of the report its recorded owner (the report's numeric
 * ids: the source's), mode, mtime, xattrs and ACLs; remove the package
 * files the report says were missing; join hardlink groups. Returns 0 or a
 * negative errno; *warnings counts files the report lists but the tree
 * lacks (or has with another type); absent, when not NULL, gets the first
 * 20 of their paths, one a line.
 */
struct rf_buf;
int gen_tree_apply(const struct gen_report *r, int rootfd,
		   uint64_t *warnings, struct rf_buf *absent,
		   struct rf_error *err);

/*
 * Before any package is unpacked: make every directory of the report, and
 * every symlink a package owns, so that packages unpack through them as
 * dpkg did on the source (a usr-merged /bin -> usr/bin made by a
 * maintainer script is owned by base-files as a directory; its files must
 * land in usr/bin).
 */
/* Whether path (report form: relative, "" the root) is at or under
 * mountpoint ("/", "/boot"); *len: the mount point's length in report
 * form, for the longest match. */
bool gen_path_under(const char *path, const char *mountpoint, size_t *len);

/* Note the report's path as absent from the image: *warnings counts, the
 * first 20 go into absent (one a line; absent may be NULL). */
void gen_note_absent(struct rf_buf *absent, uint64_t *warnings,
		     const char *path);

/* Whether the report recorded xattr name for f. */
bool gen_file_has_xattr(const struct gen_file *f, const char *name);

/* The files of r's hardlink groups (none missing), by group and then in
 * report order, the first of each group's run its first file: *n of
 * them, an array to free. *first, when not NULL: r->nfiles flags (an
 * array to free), set for the first file of each group. */
struct gen_link_member {
	unsigned long long group;
	size_t index; /* in r->files */
};
struct gen_link_member *gen_link_members(const struct gen_report *r,
					 size_t *n, unsigned char **first);

int gen_tree_prepare(const struct gen_report *r, int rootfd,
		     struct rf_error *err);

/* The POSIX ACL xattr value of an ACL's short text form (as
 * rf_acl_to_text() writes it), into a new buffer. */
int gen_acl_from_text(const char *text, unsigned char **out, size_t *len);

#endif
