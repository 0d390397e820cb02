/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef SRV_REPO_H
#define SRV_REPO_H

/*
 * Package repositories the server knows: their definitions and an index of
 * the packages they hold, kept in the server's SQLite database, so that the
 * answer to a scan can name the packages no repository has (the scanner then
 * sends all their files) and the generator can fetch the others.
 *
 * Kinds of repository (deb, rpm-md, pacman) are backends behind struct
 * srv_repo_kind, one file each, looked up by name in server/repo.c.
 *
 * Tables (created by srv_repo_open(), all prefixed repo_):
 *   repo_source  one row per configured repository
 *   repo_pkg     one row per package of a repository's current index
 *   repo_http    ETag / Last-Modified / local copy of each fetched URL
 *
 * Atomicity: a refresh downloads, verifies and parses everything first, then
 * replaces the repository's rows in one transaction. Any error before the
 * COMMIT leaves the previous index untouched. srv_repo_reconcile() reads in
 * one transaction, so with the database in WAL mode (srv_repo_open() asks
 * for it) a scan that arrives during a refresh sees the old index or the new
 * one, never a mix, even from another connection.
 *
 * Signatures: deb Release files (InRelease, or Release + Release.gpg),
 * rpm-md repomd.xml.asc and pacman .db.sig are checked with the gpgv program
 * against the repository's keyring file (binary OpenPGP keyring, as made by
 * `gpg --export`) when one is configured; then a missing or bad signature is
 * an error. Without a keyring the metadata is taken unsigned (apt's
 * [trusted=yes]), but every checksum is still verified.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct sqlite3;

/* A repository definition: what `reforge repo add` takes. */
struct srv_repo_def {
	char *name;	  /* [A-Za-z0-9._-]+, unique */
	char *kind;	  /* "deb", "rpm-md", "pacman" */
	char *url;	  /* file://, http:// or https:// */
	char *suite;	  /* deb: suite ("bookworm", or "./" for a flat
			     repository); pacman: database name (default
			     the name); rpm-md: unused */
	char *components; /* deb: space-separated, default "main" */
	char *arch;	  /* deb: architecture (default amd64); pacman:
			     substituted for $arch in the URL */
	char *keyring;	  /* gpgv keyring file; NULL: no signature check */
	bool enabled;	  /* sources parser: false when disabled there */
	char *origin;	  /* sources parser: file it came from */
};

void srv_repo_def_clear(struct srv_repo_def *def);

/* A growable list of definitions; owns its entries. */
struct srv_repo_deflist {
	struct srv_repo_def *defs;
	size_t n, cap;
};

void srv_repo_deflist_free(struct srv_repo_deflist *list);
/* Appends a copy of def (every string duplicated). */
void srv_repo_deflist_add(struct srv_repo_deflist *list,
			  const struct srv_repo_def *def);

/*
 * One package of an index. Strings point into storage owned by whoever
 * filled the struct (a kind's parser, or a srv_repo_pkglist).
 */
struct srv_repo_pkg {
	const char *name;
	const char *epoch; /* NULL or "" when none */
	const char *version;
	const char *release; /* NULL or "" when none (deb: part of version) */
	const char *arch;
	int64_t size;	      /* bytes of the package file, -1 unknown */
	const char *algo;     /* "sha256", "sha512", "sha1", "md5" */
	const char *checksum; /* lower-case hex */
	const char *location; /* relative to the repository's base URL */
};

/*
 * The canonical "EPOCH:VERSION[-RELEASE]" string of an epoch/version/release
 * as any package database spells it: the epoch defaults to the one in
 * version ("1:2.3-4" from dpkg) or 0, so that dpkg's "2.3-4", alpm's
 * version "2.3-4" and rpm's version "2.3" + release "4" all meet at
 * "0:2.3-4". Writes at most size bytes; returns -ENAMETOOLONG if cut.
 */
int srv_repo_evr(const char *epoch, const char *version, const char *release,
		 char *out, size_t size);

/* The state of the repository subsystem: one per database connection. */
struct srv_repo;

struct srv_repo_config {
	const char *cache_dir; /* metadata and package cache; created */
	const char *gpgv;      /* gpgv program; NULL: "gpgv" from PATH */
	long connect_timeout;  /* seconds; 0: 15 */
	long transfer_timeout; /* seconds for one transfer; 0: 600 */
	uint64_t max_metadata; /* bytes of one metadata file, decompressed;
				  0: 2 GiB */
	/*
	 * Held around every write (a transaction, or one statement), so
	 * that the writers of one process take turns there and not in
	 * SQLite's busy wait; NULL: none (a process with one writer).
	 */
	void (*write_lock)(void);
	void (*write_unlock)(void);
};

/*
 * Creates the repo_ tables if needed in db (which the caller keeps open and
 * closes after srv_repo_free()) and returns the state in *out, which the
 * caller frees with srv_repo_free().
 */
int srv_repo_open(struct sqlite3 *db, const struct srv_repo_config *cfg,
		  struct srv_repo **out, struct rf_error *err);
void srv_repo_free(struct srv_repo *r);

/* Adds a definition (validated by its kind); -EEXIST if the name is taken. */
int srv_repo_add(struct srv_repo *r, const struct srv_repo_def *def,
		 struct rf_error *err);
/* Removes a repository and its index; -ENOENT if there is none. */
int srv_repo_remove(struct srv_repo *r, const char *name, struct rf_error *err);

/* What srv_repo_list() tells of one repository. */
struct srv_repo_info {
	struct srv_repo_def def;
	int64_t packages;  /* rows in the index */
	int64_t refreshed; /* time of the last good refresh, 0 never */
	char *last_error;  /* message of the last failed refresh or NULL */
};

/* All repositories by name; free with srv_repo_info_free(). */
int srv_repo_list(struct srv_repo *r, struct srv_repo_info **out, size_t *n,
		  struct rf_error *err);
void srv_repo_info_free(struct srv_repo_info *info, size_t n);

/* What one refresh did. */
struct srv_repo_refresh_stats {
	int64_t packages;      /* in the index afterwards */
	uint64_t downloaded;   /* bytes transferred (0 for file://) */
	unsigned fetched;      /* files transferred */
	unsigned not_modified; /* files the server said had not changed */
	bool unchanged;	       /* the metadata was the indexed one: kept */
};

/* Flags of srv_repo_refresh(). */
enum srv_repo_refresh_flags {
	/* re-read every file even when the top-level metadata is the one
	 * the index was built from */
	SRV_REPO_REFRESH_FORCE = 1u << 0,
};

/*
 * Downloads, verifies and re-indexes one repository (name) atomically. On
 * any error the previous index stays, and the error is also recorded for
 * srv_repo_list(). stats may be NULL.
 */
int srv_repo_refresh(struct srv_repo *r, const char *name, unsigned flags,
		     struct srv_repo_refresh_stats *stats,
		     struct rf_error *err);

/* A package of a scan, as its database spells it (see srv_repo_evr()). */
struct srv_repo_query {
	const char *name;
	const char *epoch; /* may be NULL */
	const char *version;
	const char *release; /* may be NULL */
	const char *arch;
};

/*
 * For each of the n packages of a scan, sets missing[i] to true when no
 * configured repository has exactly that name, epoch:version-release and
 * architecture, false when one has. Reads one consistent snapshot of the
 * index. Returns the count of missing packages, or a negative errno.
 */
int srv_repo_reconcile(struct srv_repo *r, const struct srv_repo_query *q,
		       size_t n, bool *missing, struct rf_error *err);

/*
 * Fetches one package file into the cache, verifying its checksum, and
 * returns its path in *path (caller frees). repo may be NULL (any
 * repository); epoch/version/release/arch may be NULL (any), but then the
 * match must be unique: -EEXIST if several versions fit, -ENOENT if none.
 * A file already in the cache is verified again and not downloaded.
 */
int srv_repo_fetch_package(struct srv_repo *r, const char *repo,
			   const struct srv_repo_query *pkg, char **path,
			   struct rf_error *err);

/*
 * The repository configuration of a host's root directory: apt one-line
 * .list and deb822 .sources files, yum/dnf .repo files and pacman.conf
 * (with its Include files, resolved inside root). Definitions are appended
 * to list. Variables ($releasever, $basearch, $arch, $repo) are replaced
 * when vars gives them (NULL members: kept as written); releasever defaults
 * to VERSION_ID of the root's os-release.
 */
struct srv_repo_vars {
	const char *releasever;
	const char *basearch;
	const char *arch;
};

int srv_repo_sources_from_root(const char *root,
			       const struct srv_repo_vars *vars,
			       struct srv_repo_deflist *list,
			       struct rf_error *err);

/* The parsers behind it, over one file's text (origin names it). */
int srv_repo_sources_parse_apt_list(const char *text, size_t len,
				    const char *origin,
				    struct srv_repo_deflist *list,
				    struct rf_error *err);
int srv_repo_sources_parse_deb822(const char *text, size_t len,
				  const char *origin,
				  struct srv_repo_deflist *list,
				  struct rf_error *err);
int srv_repo_sources_parse_yum(const char *text, size_t len, const char *origin,
			       const struct srv_repo_vars *vars,
			       struct srv_repo_deflist *list,
			       struct rf_error *err);
/*
 * include(ctx, path, &text, &len) reads an Include file (path as written in
 * pacman.conf); it may be NULL, then Include lines are ignored. Servers of
 * one section after the first are not kept: a definition has one URL.
 */
int srv_repo_sources_parse_pacman(
	const char *text, size_t len, const char *origin,
	const struct srv_repo_vars *vars,
	int (*include)(void *ctx, const char *path, char **text, size_t *len),
	void *ctx, struct srv_repo_deflist *list, struct rf_error *err);

#endif
