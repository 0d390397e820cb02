/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The package set: every package the root's databases list and, for each
 * path they own, what they say it should be. Paths are found through an
 * open-addressing hash table; entries live in fixed-size chunks so that
 * pointers handed out stay valid while the set grows, and strings in an
 * arena, so that 400,000 package files cost a few dozen megabytes and a few
 * hundred allocations.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "pkgdb.h"

#define FILES_PER_CHUNK 4096
#define ARENA_BLOCK (256 * 1024)

struct arena_block {
	struct arena_block *next;
	size_t used, size;
	char data[];
};

struct diversion {
	const char *from, *to, *by;
};

struct scan_pkgset {
	struct scan_pkg *pkgs;
	uint32_t npkgs, pkgcap;

	struct scan_pkgfile **chunks;
	size_t nfiles, nchunks;

	/*
	 * hash table: index + 1 into the chunks in the low 32 bits (0 is
	 * empty), the path's hash's high 32 bits above, so that most probes
	 * of another path are told apart without reading its entry
	 */
	uint64_t *table;
	size_t tablecap; /* a power of two */

	struct diversion *divs;
	size_t ndivs, divcap;

	struct arena_block *arena;
};

static void *arena_alloc(struct scan_pkgset *set, size_t len, size_t align)
{
	struct arena_block *b = set->arena;
	size_t off;

	if (b != NULL) {
		off = (b->used + align - 1) & ~(align - 1);
		if (off + len <= b->size) {
			b->used = off + len;
			return b->data + off;
		}
	}
	{
		size_t size =
			len + align > ARENA_BLOCK ? len + align : ARENA_BLOCK;

		b = rf_xmalloc(sizeof(*b) + size);
		b->next = set->arena;
		b->size = size;
		b->used = 0;
		set->arena = b;
	}
	off = ((uintptr_t)b->data % align) ? align - (uintptr_t)b->data % align
					   : 0;
	b->used = off + len;
	return b->data + off;
}

const char *scan_pkgset_strdup(struct scan_pkgset *set, const char *s)
{
	size_t len;
	char *p;

	if (s == NULL)
		return NULL;
	len = strlen(s);
	p = arena_alloc(set, len + 1, 1);
	memcpy(p, s, len + 1);
	return p;
}

const void *scan_pkgset_memdup(struct scan_pkgset *set, const void *p,
			       size_t len)
{
	void *q = arena_alloc(set, len ? len : 1, 8);

	memcpy(q, p, len);
	return q;
}

struct scan_pkgset *scan_pkgset_new(void)
{
	struct scan_pkgset *set = rf_xcalloc(1, sizeof(*set));

	set->tablecap = 1024;
	set->table = rf_xcalloc(set->tablecap, sizeof(*set->table));
	return set;
}

void scan_pkgset_free(struct scan_pkgset *set)
{
	if (set == NULL)
		return;
	while (set->arena) {
		struct arena_block *next = set->arena->next;

		free(set->arena);
		set->arena = next;
	}
	for (size_t i = 0; i < set->nchunks; i++)
		free(set->chunks[i]);
	free(set->chunks);
	free(set->table);
	free(set->pkgs);
	free(set->divs);
	free(set);
}

uint32_t scan_pkgset_add_package(struct scan_pkgset *set,
				 const struct scan_pkg *pkg)
{
	struct scan_pkg *p;

	if (set->npkgs == set->pkgcap) {
		set->pkgcap = set->pkgcap ? set->pkgcap * 2 : 256;
		set->pkgs = rf_xrealloc(set->pkgs,
					set->pkgcap * sizeof(*set->pkgs));
	}
	p = &set->pkgs[set->npkgs];
	p->db = scan_pkgset_strdup(set, pkg->db);
	p->name = scan_pkgset_strdup(set, pkg->name);
	p->epoch = scan_pkgset_strdup(set, pkg->epoch);
	p->version = scan_pkgset_strdup(set, pkg->version);
	p->release = scan_pkgset_strdup(set, pkg->release);
	p->arch = scan_pkgset_strdup(set, pkg->arch);
	p->status = scan_pkgset_strdup(set, pkg->status);
	p->vendor = scan_pkgset_strdup(set, pkg->vendor);
	p->origin = scan_pkgset_strdup(set, pkg->origin);
	p->reason = scan_pkgset_strdup(set, pkg->reason);
	p->install_time = pkg->install_time;
	return set->npkgs++;
}

/* FNV-1a: short paths, good enough spread, no state. */
static uint64_t hash_path(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ull;
	}
	return h ^ (h >> 32);
}

#define TAG_MASK 0xffffffff00000000ull

/* A table entry for file idx whose path hashes to h, and back. */
static uint64_t slot_value(size_t idx, uint64_t h)
{
	return (uint64_t)(idx + 1) | (h & TAG_MASK);
}

static size_t slot_index(uint64_t v)
{
	return (size_t)(v & ~TAG_MASK) - 1;
}

static struct scan_pkgfile *file_at(struct scan_pkgset *set, size_t idx)
{
	return &set->chunks[idx / FILES_PER_CHUNK][idx % FILES_PER_CHUNK];
}

static void table_grow(struct scan_pkgset *set)
{
	size_t cap = set->tablecap * 2;
	uint64_t *table = rf_xcalloc(cap, sizeof(*table));

	for (size_t i = 0; i < set->nfiles; i++) {
		uint64_t hv = hash_path(file_at(set, i)->path);
		size_t h = (size_t)hv & (cap - 1);

		while (table[h] != 0)
			h = (h + 1) & (cap - 1);
		table[h] = slot_value(i, hv);
	}
	free(set->table);
	set->table = table;
	set->tablecap = cap;
}

/* The slot holding path, or the empty slot where it would go; *hv is
 * the path's hash. */
static uint64_t *table_slot(struct scan_pkgset *set, const char *path,
			    uint64_t *hv)
{
	uint64_t tag;
	size_t h;

	*hv = hash_path(path);
	tag = *hv & TAG_MASK;
	h = (size_t)*hv & (set->tablecap - 1);
	while (set->table[h] != 0 &&
	       ((set->table[h] & TAG_MASK) != tag ||
		strcmp(file_at(set, slot_index(set->table[h]))->path, path) !=
			0))
		h = (h + 1) & (set->tablecap - 1);
	return &set->table[h];
}

struct scan_pkgfile *scan_pkgset_add_file(struct scan_pkgset *set, uint32_t pkg,
					  const char *path, bool *shared)
{
	struct scan_pkgfile *pf;
	uint64_t *slot, hv;

	if (shared)
		*shared = false;
	slot = table_slot(set, path, &hv);
	if (*slot != 0) {
		pf = file_at(set, slot_index(*slot));
		pf->nowners++;
		if (shared)
			*shared = true;
		return pf;
	}
	if (set->nfiles % FILES_PER_CHUNK == 0) {
		set->chunks = rf_xrealloc(
			set->chunks, (set->nchunks + 1) * sizeof(*set->chunks));
		set->chunks[set->nchunks++] = rf_xmalloc(
			FILES_PER_CHUNK * sizeof(struct scan_pkgfile));
	}
	pf = file_at(set, set->nfiles);
	memset(pf, 0, sizeof(*pf));
	pf->path = scan_pkgset_strdup(set, path);
	pf->pkg = pkg;
	pf->nowners = 1;
	*slot = slot_value(set->nfiles++, hv);
	if (set->nfiles * 2 > set->tablecap)
		table_grow(set);
	return pf;
}

struct scan_pkgfile *scan_pkgset_find(struct scan_pkgset *set, const char *path)
{
	uint64_t hv, *slot = table_slot(set, path, &hv);

	return *slot ? file_at(set, slot_index(*slot)) : NULL;
}

void scan_pkgset_add_diversion(struct scan_pkgset *set, const char *from,
			       const char *to, const char *by)
{
	if (set->ndivs == set->divcap) {
		set->divcap = set->divcap ? set->divcap * 2 : 16;
		set->divs = rf_xrealloc(set->divs,
					set->divcap * sizeof(*set->divs));
	}
	set->divs[set->ndivs].from = scan_pkgset_strdup(set, from);
	set->divs[set->ndivs].to = scan_pkgset_strdup(set, to);
	set->divs[set->ndivs].by = scan_pkgset_strdup(set, by);
	set->ndivs++;
}

uint32_t scan_pkgset_npackages(const struct scan_pkgset *set)
{
	return set->npkgs;
}

const struct scan_pkg *scan_pkgset_package(const struct scan_pkgset *set,
					   uint32_t idx)
{
	return idx < set->npkgs ? &set->pkgs[idx] : NULL;
}

size_t scan_pkgset_nfiles(const struct scan_pkgset *set)
{
	return set->nfiles;
}

struct scan_pkgfile *scan_pkgset_file(struct scan_pkgset *set, size_t idx)
{
	return idx < set->nfiles ? file_at(set, idx) : NULL;
}

size_t scan_pkgset_ndiversions(const struct scan_pkgset *set)
{
	return set->ndivs;
}

void scan_pkgset_diversion(const struct scan_pkgset *set, size_t idx,
			   const char **from, const char **to, const char **by)
{
	*from = set->divs[idx].from;
	*to = set->divs[idx].to;
	*by = set->divs[idx].by;
}

/*
 * id 0 is "root" to rpm (it never looks that name up) and to pacman (which
 * compares numbers), even in a root whose passwd does not name it.
 */
static bool same_name(const char *expected, const char *actual, unsigned id)
{
	if (actual == NULL && id == 0)
		actual = "root";
	return actual != NULL && strcmp(expected, actual) == 0;
}

unsigned scan_pkgfile_verify(const struct scan_pkgfile *pf,
			     const struct stat *st,
			     const unsigned char *pkgdigest, const char *target,
			     const char *user, const char *group)
{
	unsigned diff = 0;
	bool is_reg = S_ISREG(st->st_mode);

	if (pf->flags & SCAN_PF_HAS_TYPE) {
		if ((pf->mode & S_IFMT) != (st->st_mode & S_IFMT))
			diff |= SCAN_DIFF_TYPE;
	} else if (pf->algo != RF_DIGEST_NONE && !is_reg) {
		/* only regular files carry a digest */
		diff |= SCAN_DIFF_TYPE;
	}
	if (diff & SCAN_DIFF_TYPE)
		return diff; /* nothing else compares across types */

	if (is_reg && pf->algo != RF_DIGEST_NONE &&
	    !(pf->flags & SCAN_PF_NOVERIFY_CONTENT)) {
		if (pkgdigest == NULL ||
		    memcmp(pkgdigest, pf->digest, rf_digest_len(pf->algo)) != 0)
			diff |= SCAN_DIFF_CONTENT;
	}
	if (is_reg && (pf->flags & SCAN_PF_HAS_SIZE) &&
	    !(pf->flags & SCAN_PF_NOVERIFY_CONTENT) &&
	    (uint64_t)st->st_size != pf->size)
		diff |= SCAN_DIFF_SIZE;
	if (S_ISLNK(st->st_mode) && (pf->flags & SCAN_PF_HAS_TARGET) &&
	    (target == NULL || strcmp(target, pf->link_target) != 0))
		diff |= SCAN_DIFF_TARGET;
	/* a symlink's own permission bits mean nothing on Linux */
	if ((pf->flags & SCAN_PF_HAS_PERM) && !S_ISLNK(st->st_mode) &&
	    !(pf->flags & SCAN_PF_NOVERIFY_MODE) &&
	    (pf->mode & 07777) != (st->st_mode & 07777))
		diff |= SCAN_DIFF_MODE;
	if ((pf->flags & SCAN_PF_HAS_OWNER) &&
	    !(pf->flags & SCAN_PF_NOVERIFY_OWNER)) {
		if (pf->user && !same_name(pf->user, user, st->st_uid))
			diff |= SCAN_DIFF_OWNER;
		if (pf->group && !same_name(pf->group, group, st->st_gid))
			diff |= SCAN_DIFF_GROUP;
	}
	/*
	 * rpm -V compares device numbers only between two device nodes, and
	 * only the 16 bits its database keeps (major << 8 | minor).
	 */
	if ((pf->flags & SCAN_PF_HAS_RDEV) &&
	    (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) &&
	    (pf->rdev & 0xffff) != (st->st_rdev & 0xffff))
		diff |= SCAN_DIFF_RDEV;
	if ((pf->flags & SCAN_PF_HAS_MTIME) && is_reg &&
	    !(pf->flags & SCAN_PF_NOVERIFY_MTIME) &&
	    (int64_t)st->st_mtime != pf->mtime)
		diff |= SCAN_DIFF_MTIME;
	return diff;
}

const char *scan_diff_names(unsigned diff, char *buf, size_t size)
{
	static const char *const names[] = {"content", "size",	"mode",
					    "owner",   "group", "type",
					    "target",  "mtime", "rdev"};
	size_t len = 0;

	if (size == 0)
		return buf;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(diff & (1u << i)))
			continue;
		len += (size_t)snprintf(buf + len, len < size ? size - len : 0,
					"%s%s", len ? "," : "", names[i]);
		if (len >= size)
			break;
	}
	return buf;
}

/*
 * Canonical directories. Databases list paths as packages ship them, but on
 * the disk some of their directories are symlinks (usr-merge: /bin ->
 * usr/bin): the walk meets /usr/bin/ls, never /bin/ls. Each distinct
 * directory of a package path is resolved once, component by component,
 * inside the root, and the result cached. Every prefix handed to fstatat()
 * is already free of symlinks, so nothing can lead outside the root.
 */
struct canon_cache {
	struct scan_pkgset *set;
	int rootfd;
	const char **keys, **values;
	size_t cap, n;
};

#define CANON_MAX_DEPTH 40

static const char *canon(struct canon_cache *c, const char *path, int depth);

static const char **canon_slot(struct canon_cache *c, const char *path)
{
	size_t h = hash_path(path) & (c->cap - 1);

	while (c->keys[h] != NULL && strcmp(c->keys[h], path) != 0)
		h = (h + 1) & (c->cap - 1);
	return &c->keys[h];
}

static void canon_put(struct canon_cache *c, const char *key, const char *value)
{
	const char **slot;

	if ((c->n + 1) * 2 > c->cap) {
		struct canon_cache big = *c;

		big.cap = c->cap * 2;
		big.n = 0;
		big.keys = rf_xcalloc(big.cap, sizeof(*big.keys));
		big.values = rf_xcalloc(big.cap, sizeof(*big.values));
		for (size_t i = 0; i < c->cap; i++) {
			if (c->keys[i] == NULL)
				continue;
			slot = canon_slot(&big, c->keys[i]);
			*slot = c->keys[i];
			big.values[slot - big.keys] = c->values[i];
			big.n++;
		}
		free(c->keys);
		free(c->values);
		*c = big;
	}
	slot = canon_slot(c, key);
	if (*slot == NULL) {
		*slot = scan_pkgset_strdup(c->set, key);
		c->n++;
	}
	c->values[slot - c->keys] = value;
}

/* "/a/b" + "c" -> "/a/b/c"; "/" + "c" -> "/c" */
static void join(struct rf_buf *out, const char *dir, const char *name)
{
	rf_buf_reset(out);
	rf_buf_addstr(out, dir);
	if (out->len == 0 || out->data[out->len - 1] != '/')
		rf_buf_addch(out, '/');
	rf_buf_addstr(out, name);
}

static const char *canon_uncached(struct canon_cache *c, const char *path,
				  int depth)
{
	struct rf_buf parent_path = RF_BUF_INIT, cand = RF_BUF_INIT;
	const char *slash = strrchr(path, '/');
	const char *parent, *base, *result;
	char target[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (slash == NULL || slash[1] == '\0' ||
	    (slash == path && path[1] == '\0'))
		return "/";
	rf_buf_add(&parent_path, path, (size_t)(slash - path));
	parent = canon(c, parent_path.len ? parent_path.data : "/", depth);
	base = slash + 1;
	if (strcmp(base, ".") == 0) {
		result = parent;
	} else if (strcmp(base, "..") == 0) {
		const char *ps = strrchr(parent, '/');

		rf_buf_reset(&cand);
		if (ps != NULL && ps != parent)
			rf_buf_add(&cand, parent, (size_t)(ps - parent));
		result = scan_pkgset_strdup(c->set, cand.len ? cand.data : "/");
	} else {
		join(&cand, parent, base);
		result = scan_pkgset_strdup(c->set, cand.data);
		if (depth < CANON_MAX_DEPTH &&
		    fstatat(c->rootfd, cand.data + 1, &st,
			    AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode) &&
		    (n = readlinkat(c->rootfd, cand.data + 1, target,
				    sizeof(target) - 1)) > 0) {
			target[n] = '\0';
			if (target[0] == '/')
				rf_buf_reset(&cand);
			else
				join(&cand, parent, "");
			rf_buf_addstr(&cand, target);
			while (cand.len > 1 && cand.data[cand.len - 1] == '/')
				cand.data[--cand.len] = '\0';
			result = canon(c, cand.data, depth + 1);
		}
	}
	rf_buf_free(&parent_path);
	rf_buf_free(&cand);
	return result;
}

static const char *canon(struct canon_cache *c, const char *path, int depth)
{
	const char **slot = canon_slot(c, path);
	const char *result;

	if (*slot != NULL)
		return c->values[slot - c->keys];
	result = canon_uncached(c, path, depth);
	canon_put(c, path, result);
	return result;
}

int scan_pkgset_canonicalize(struct scan_pkgset *set, int rootfd)
{
	struct canon_cache c = {set, rootfd, NULL, NULL, 1024, 0};
	struct rf_buf dir = RF_BUF_INIT, moved = RF_BUF_INIT;
	size_t nmoved = 0;

	c.keys = rf_xcalloc(c.cap, sizeof(*c.keys));
	c.values = rf_xcalloc(c.cap, sizeof(*c.values));
	for (size_t i = 0; i < set->nfiles; i++) {
		struct scan_pkgfile *pf = file_at(set, i);
		const char *slash = strrchr(pf->path, '/');
		const char *cdir;

		if (slash == NULL || slash == pf->path)
			continue; /* top-level entries have no parent to fix */
		rf_buf_reset(&dir);
		rf_buf_add(&dir, pf->path, (size_t)(slash - pf->path));
		cdir = canon(&c, dir.data, 0);
		if (strcmp(cdir, dir.data) == 0)
			continue;
		join(&moved, cdir, slash + 1);
		pf->path = scan_pkgset_strdup(set, moved.data);
		nmoved++;
	}
	if (nmoved > 0) {
		/*
		 * Rebuild the index; where two listed paths name one file
		 * (/bin/ls and /usr/bin/ls), the first keeps the entry and
		 * learns what the other knew, the other becomes an alias.
		 */
		memset(set->table, 0, set->tablecap * sizeof(*set->table));
		for (size_t i = 0; i < set->nfiles; i++) {
			struct scan_pkgfile *pf = file_at(set, i);
			uint64_t hv, *slot = table_slot(set, pf->path, &hv);

			if (*slot == 0) {
				*slot = slot_value(i, hv);
				continue;
			}
			{
				struct scan_pkgfile *keep =
					file_at(set, slot_index(*slot));

				keep->nowners += pf->nowners;
				keep->flags |= pf->flags & ~SCAN_PF_ALIAS;
				if (keep->algo == RF_DIGEST_NONE) {
					keep->algo = pf->algo;
					keep->digest = pf->digest;
				}
				pf->flags |= SCAN_PF_ALIAS;
			}
		}
	}
	free(c.keys);
	free(c.values);
	rf_buf_free(&dir);
	rf_buf_free(&moved);
	return 0;
}
