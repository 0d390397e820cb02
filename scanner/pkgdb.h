/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef SCAN_PKGDB_H
#define SCAN_PKGDB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "digest.h"
#include "error.h"

/*
 * Package databases. Each backend (dpkg, rpm, alpm) is a table of operations
 * in a file of its own; scan_pkgdb_registry() lists them. A backend reads the
 * database of the scanned root and adds what it finds to a struct
 * scan_pkgset, the one model the rest of the scanner works on: packages, and
 * for each package file what the database says it should be.
 *
 * A root may hold several databases (an Arch root with rpm installed); every
 * backend whose probe() says yes is loaded into the same set.
 */

/* What a database says about one package. Strings may be NULL. */
struct scan_pkg {
	const char *db; /* backend name: "dpkg", "rpm", "alpm" */
	const char *name;
	const char *epoch;   /* rpm and pacman; NULL when none */
	const char *version; /* upstream version (dpkg: the whole version) */
	const char *release; /* rpm release; NULL elsewhere */
	const char *arch;
	const char *status; /* dpkg: "installed", "config-files", ...;
			       rpm, alpm: "installed" */
	const char *vendor; /* rpm vendor, dpkg Maintainer, alpm packager */
	const char *origin; /* repository the database says it came from */
	const char
		*reason; /* "explicit" or "dependency" (alpm; rpm from dnf) */
	int64_t install_time; /* seconds since the epoch, 0 when unknown */
};

/* Flags of a package file: what the database knows and what it promises. */
enum scan_pkgfile_flag {
	SCAN_PF_CONFIG = 1u << 0, /* dpkg conffile, rpm %config, alpm backup */
	SCAN_PF_NOREPLACE = 1u << 1, /* rpm %config(noreplace) */
	SCAN_PF_GHOST = 1u << 2,     /* rpm %ghost: need not exist on disk */
	SCAN_PF_MISSINGOK = 1u << 3, /* rpm %config(missingok) */
	SCAN_PF_DOC = 1u << 4,	     /* rpm %doc */
	SCAN_PF_OBSOLETE = 1u << 5,  /* dpkg obsolete conffile */
	SCAN_PF_HAS_TYPE = 1u << 6,  /* mode's S_IFMT bits are known */
	SCAN_PF_HAS_PERM = 1u << 7,  /* mode's permission bits are known */
	SCAN_PF_HAS_OWNER = 1u << 8, /* user and group are known */
	SCAN_PF_HAS_SIZE = 1u << 9,
	SCAN_PF_HAS_MTIME = 1u << 10,
	SCAN_PF_HAS_TARGET = 1u << 11,	     /* link_target is known */
	SCAN_PF_NOVERIFY_CONTENT = 1u << 12, /* rpm: %verify(not md5) etc. */
	SCAN_PF_NOVERIFY_MTIME = 1u << 13,
	SCAN_PF_NOVERIFY_OWNER = 1u << 14,
	SCAN_PF_NOVERIFY_MODE = 1u << 15,
	/* set by scan_pkgset_canonicalize(): another entry names this file */
	SCAN_PF_ALIAS = 1u << 16,
	SCAN_PF_HAS_RDEV = 1u << 17, /* a device node's rdev is known */
};

/* What a database says one path should be. Owned by the set. */
struct scan_pkgfile {
	const char *path; /* absolute, as on disk (diversions applied) */
	uint32_t pkg;	  /* index of the owning package in the set */
	uint32_t nowners; /* packages that list this path (>= 1) */
	uint32_t flags;	  /* enum scan_pkgfile_flag */
	mode_t mode;	  /* see SCAN_PF_HAS_TYPE / _PERM */
	const char *user; /* see SCAN_PF_HAS_OWNER */
	const char *group;
	uint64_t size;		     /* see SCAN_PF_HAS_SIZE */
	int64_t mtime;		     /* see SCAN_PF_HAS_MTIME */
	dev_t rdev;		     /* see SCAN_PF_HAS_RDEV */
	const char *link_target;     /* see SCAN_PF_HAS_TARGET */
	enum rf_digest_algo algo;    /* RF_DIGEST_NONE when no digest */
	const unsigned char *digest; /* rf_digest_len(algo) bytes */
	bool seen;		     /* set by the walk when the path exists */
};

struct scan_pkgset;

struct scan_pkgset *scan_pkgset_new(void);
void scan_pkgset_free(struct scan_pkgset *set);

/*
 * Add a package; every string is copied. Returns its index, used when adding
 * its files.
 */
uint32_t scan_pkgset_add_package(struct scan_pkgset *set,
				 const struct scan_pkg *pkg);

/*
 * Add path (absolute, no trailing slash except "/") to package pkg and
 * return the entry for the backend to fill; strings put in it must come
 * from scan_pkgset_strdup()/scan_pkgset_memdup(). When another package
 * already listed the path, the existing entry is returned with nowners
 * incremented, and *shared (if not NULL) set to true: a backend then fills
 * only what the first owner left unknown.
 */
struct scan_pkgfile *scan_pkgset_add_file(struct scan_pkgset *set, uint32_t pkg,
					  const char *path, bool *shared);

/* Copies owned by the set, freed with it. */
const char *scan_pkgset_strdup(struct scan_pkgset *set, const char *s);
const void *scan_pkgset_memdup(struct scan_pkgset *set, const void *p,
			       size_t len);

/* A dpkg diversion: files of other packages than by, named from, are at to. */
void scan_pkgset_add_diversion(struct scan_pkgset *set, const char *from,
			       const char *to, const char *by);

/*
 * Rewrite every path whose directories include a symlink in the root (as
 * /bin -> usr/bin on usr-merged systems) to the path the file really has,
 * so that the walk of the real tree finds it. Call once, after every backend
 * has loaded. Entries that end up naming the same file are merged: the later
 * one gets SCAN_PF_ALIAS and is to be ignored. Returns 0.
 */
int scan_pkgset_canonicalize(struct scan_pkgset *set, int rootfd);

/* Look-ups. The returned pointers stay valid until the set is freed. */
struct scan_pkgfile *scan_pkgset_find(struct scan_pkgset *set,
				      const char *path);
uint32_t scan_pkgset_npackages(const struct scan_pkgset *set);
const struct scan_pkg *scan_pkgset_package(const struct scan_pkgset *set,
					   uint32_t idx);
size_t scan_pkgset_nfiles(const struct scan_pkgset *set);
/* Every file, in no particular order: idx from 0 to nfiles - 1. */
struct scan_pkgfile *scan_pkgset_file(struct scan_pkgset *set, size_t idx);
size_t scan_pkgset_ndiversions(const struct scan_pkgset *set);
void scan_pkgset_diversion(const struct scan_pkgset *set, size_t idx,
			   const char **from, const char **to, const char **by);

/* A package database backend. */
struct scan_pkgdb_ops {
	const char *name; /* "dpkg", "rpm", "alpm" */
	/* Where the database lives, relative to the root, for the report. */
	const char *path;
	/* True when the root at rootfd holds a database of this kind. */
	bool (*probe)(int rootfd);
	/*
	 * Read every package of the database and its files into set. root is
	 * the root's path (for libraries that want one); rootfd is an O_PATH
	 * descriptor of it, and every file of the root must be opened through
	 * rf_root_open() so that symlinks cannot lead outside. Returns 0 or a
	 * negative errno with err set; a corrupt database is an error, not a
	 * crash.
	 */
	int (*load)(struct scan_pkgset *set, int rootfd, const char *root,
		    struct rf_error *err);
};

extern const struct scan_pkgdb_ops scan_pkgdb_dpkg;
extern const struct scan_pkgdb_ops scan_pkgdb_rpm;
extern const struct scan_pkgdb_ops scan_pkgdb_alpm;

/* NULL-terminated list of every backend. */
const struct scan_pkgdb_ops *const *scan_pkgdb_registry(void);
/* NULL when no backend has that name. */
const struct scan_pkgdb_ops *scan_pkgdb_by_name(const char *name);

/*
 * The verdict on one existing path against its database entry. st describes
 * the path (lstat), sha and pkgdigest are its content digests (pkgdigest in
 * pf->algo, NULL when none was computed), target its symlink target or NULL,
 * user and group its owner's names in the scanned root (NULL when unknown).
 * Returns a mask of enum scan_diff, 0 when the file is as packaged.
 */
enum scan_diff {
	SCAN_DIFF_CONTENT = 1u << 0,
	SCAN_DIFF_SIZE = 1u << 1,
	SCAN_DIFF_MODE = 1u << 2,
	SCAN_DIFF_OWNER = 1u << 3,
	SCAN_DIFF_GROUP = 1u << 4,
	SCAN_DIFF_TYPE = 1u << 5,
	SCAN_DIFF_TARGET = 1u << 6,
	SCAN_DIFF_MTIME = 1u << 7,
	SCAN_DIFF_RDEV = 1u << 8, /* a device node's major:minor */
};

struct stat;
unsigned scan_pkgfile_verify(const struct scan_pkgfile *pf,
			     const struct stat *st,
			     const unsigned char *pkgdigest, const char *target,
			     const char *user, const char *group);

/* "content,mode" style names of a diff mask into buf; "" for 0. */
const char *scan_diff_names(unsigned diff, char *buf, size_t size);

#endif
