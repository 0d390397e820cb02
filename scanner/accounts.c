/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Accounts of the root: the <accounts> section (users and groups from its
 * etc/passwd, etc/group and etc/shadow) and the id-to-name table the scan
 * uses for every file's owner. The host's NSS is never asked: the root's
 * files are the truth about the root.
 *
 * Of etc/shadow only one fact leaves this file: whether the account has a
 * usable password. The hash is never copied anywhere.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sys_internal.h"

/* Malformed lines warned about per file; the rest are only counted. */
#define ACC_MAX_WARN 5

/*
 * Split line on ':' into at most max fields, in place. Returns the number
 * of fields found.
 */
static int split_fields(char *line, char **fields, int max)
{
	int n = 0;

	fields[n++] = line;
	for (char *p = line; *p != '\0' && n < max; p++) {
		if (*p == ':') {
			*p = '\0';
			fields[n++] = p + 1;
		}
	}
	return n;
}

/* A line that only NIS compat or a comment puts there. */
static bool skip_line(const char *line)
{
	return line[0] == '\0' || line[0] == '#' || line[0] == '+' ||
	       line[0] == '-';
}

/*
 * A password field that lets someone log in with a password: not empty,
 * not locked ("!..."), not "*" (no password), not a shadow placeholder.
 */
static bool usable_password(const char *field)
{
	return field[0] != '\0' && field[0] != '!' && field[0] != '*' &&
	       strcmp(field, "x") != 0;
}

static bool valid_id(const char *s, uint32_t *id)
{
	uint64_t v;

	/* (uid_t)-1 means "no id" to the kernel; it is not an account */
	if (!sys_parse_u64(s, UINT32_MAX - 1u, &v))
		return false;
	*id = (uint32_t)v;
	return true;
}

static void warn_line(const struct scan_sysctx *ctx, const char *path,
		      int lineno, int *bad)
{
	if (++*bad <= ACC_MAX_WARN)
		sys_warn(ctx, "%s:%d: malformed line skipped", path, lineno);
}

static void warn_total(const struct scan_sysctx *ctx, const char *path, int bad)
{
	if (bad > ACC_MAX_WARN)
		sys_warn(ctx, "%s: %d malformed lines skipped in all", path,
			 bad);
}

/* shadow entries: name and whether its password is usable, by name. */
struct shadow_entry {
	const char *name;
	bool usable;
};

static int cmp_shadow(const void *a, const void *b)
{
	return strcmp(((const struct shadow_entry *)a)->name,
		      ((const struct shadow_entry *)b)->name);
}

/* Parses b (etc/shadow) in place; entries point into b. */
static size_t load_shadow(const struct scan_sysctx *ctx, struct rf_buf *b,
			  struct shadow_entry **out)
{
	struct shadow_entry *v = NULL;
	size_t n = 0, cap = 0;
	char *cur, *line, *f[3];
	int lineno = 0, bad = 0;

	*out = NULL;
	if (sys_read_text(ctx, "/etc/shadow", SYS_MAX_TABLE, b) < 0)
		return 0;
	cur = b->data;
	while ((line = sys_next_line(&cur)) != NULL) {
		lineno++;
		if (skip_line(line))
			continue;
		if (split_fields(line, f, 3) < 2 || f[0][0] == '\0') {
			warn_line(ctx, "/etc/shadow", lineno, &bad);
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = rf_xrealloc(v, cap * sizeof(*v));
		}
		v[n].name = f[0];
		v[n].usable = usable_password(f[1]);
		n++;
	}
	warn_total(ctx, "/etc/shadow", bad);
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_shadow);
	*out = v;
	return n;
}

static void write_users(const struct scan_sysctx *ctx, struct sys_out *o)
{
	struct rf_buf b = RF_BUF_INIT, sb = RF_BUF_INIT;
	struct shadow_entry *shadow = NULL;
	size_t nshadow;
	char *cur, *line, *f[8];
	int lineno = 0, bad = 0;

	if (sys_read_text(ctx, "/etc/passwd", SYS_MAX_TABLE, &b) < 0)
		goto out;
	nshadow = load_shadow(ctx, &sb, &shadow);
	cur = b.data;
	while ((line = sys_next_line(&cur)) != NULL) {
		struct shadow_entry key, *s = NULL;
		uint32_t uid, gid;

		lineno++;
		if (skip_line(line))
			continue;
		if (split_fields(line, f, 8) != 7 || f[0][0] == '\0' ||
		    !valid_id(f[2], &uid) || !valid_id(f[3], &gid)) {
			warn_line(ctx, "/etc/passwd", lineno, &bad);
			continue;
		}
		key.name = f[0];
		if (nshadow > 0)
			s = bsearch(&key, shadow, nshadow, sizeof(*shadow),
				    cmp_shadow);
		sys_start(o, "user");
		sys_attr(o, "name", f[0]);
		sys_attr_u64(o, "uid", uid);
		sys_attr_u64(o, "gid", gid);
		sys_attr(o, "gecos", f[4]);
		sys_attr(o, "home", f[5]);
		sys_attr(o, "shell", f[6]);
		if (strcmp(f[1], "x") != 0)
			sys_attr_bool(o, "password", usable_password(f[1]));
		else if (s != NULL)
			sys_attr_bool(o, "password", s->usable);
		sys_end(o);
	}
	warn_total(ctx, "/etc/passwd", bad);
out:
	free(shadow);
	rf_buf_free(&sb);
	rf_buf_free(&b);
}

static void write_groups(const struct scan_sysctx *ctx, struct sys_out *o)
{
	struct rf_buf b = RF_BUF_INIT;
	char *cur, *line, *f[5];
	int lineno = 0, bad = 0;

	if (sys_read_text(ctx, "/etc/group", SYS_MAX_TABLE, &b) < 0)
		goto out;
	cur = b.data;
	while ((line = sys_next_line(&cur)) != NULL) {
		char *members, *m;
		uint32_t gid;

		lineno++;
		if (skip_line(line))
			continue;
		if (split_fields(line, f, 5) != 4 || f[0][0] == '\0' ||
		    !valid_id(f[2], &gid)) {
			warn_line(ctx, "/etc/group", lineno, &bad);
			continue;
		}
		sys_start(o, "group");
		sys_attr(o, "name", f[0]);
		sys_attr_u64(o, "gid", gid);
		members = f[3];
		while ((m = strsep(&members, ",")) != NULL) {
			m = sys_strip(m);
			if (*m != '\0')
				sys_leaf(o, "member", "name", m);
		}
		sys_end(o);
	}
	warn_total(ctx, "/etc/group", bad);
out:
	rf_buf_free(&b);
}

void sys_write_accounts(const struct scan_sysctx *ctx, struct sys_out *o)
{
	sys_start(o, "accounts");
	write_users(ctx, o);
	write_groups(ctx, o);
	sys_end(o);
}

/*
 * The id-to-name table: two arrays sorted by id, looked up by binary
 * search. Where ids repeat, the first line of the file wins, as it does
 * for getpwuid() with the files backend.
 */
struct id_name {
	uint32_t id;
	uint32_t line; /* order in the file, to keep the first duplicate */
	char *name;
};

struct id_table {
	struct id_name *v;
	size_t n;
};

struct scan_accounts {
	struct id_table users;
	struct id_table groups;
};

static int cmp_id(const void *a, const void *b)
{
	const struct id_name *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static void load_table(const struct scan_sysctx *ctx, const char *path,
		       int nfields, struct id_table *t)
{
	struct rf_buf b = RF_BUF_INIT;
	char *cur, *line, *f[8];
	size_t cap = 0, keep;
	uint32_t lineno = 0;

	if (sys_read_text(ctx, path, SYS_MAX_TABLE, &b) < 0)
		goto out;
	cur = b.data;
	while ((line = sys_next_line(&cur)) != NULL) {
		uint32_t id;

		lineno++;
		/* malformed lines are warned about by the section writer */
		if (skip_line(line) || split_fields(line, f, 8) != nfields ||
		    f[0][0] == '\0' || !valid_id(f[2], &id))
			continue;
		if (t->n == cap) {
			cap = cap ? cap * 2 : 64;
			t->v = rf_xrealloc(t->v, cap * sizeof(*t->v));
		}
		t->v[t->n].id = id;
		t->v[t->n].line = lineno;
		t->v[t->n].name = rf_xstrdup(f[0]);
		t->n++;
	}
	if (t->n == 0)
		goto out;
	qsort(t->v, t->n, sizeof(*t->v), cmp_id);
	keep = 1;
	for (size_t i = 1; i < t->n; i++) {
		if (t->v[i].id == t->v[keep - 1].id)
			free(t->v[i].name);
		else
			t->v[keep++] = t->v[i];
	}
	t->n = keep;
out:
	rf_buf_free(&b);
}

struct scan_accounts *scan_accounts_load(const struct scan_sysctx *ctx)
{
	struct scan_accounts *a = rf_xcalloc(1, sizeof(*a));

	load_table(ctx, "/etc/passwd", 7, &a->users);
	load_table(ctx, "/etc/group", 4, &a->groups);
	return a;
}

static const char *lookup(const struct id_table *t, uint32_t id)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->v[mid].id == id)
			return t->v[mid].name;
		if (t->v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *scan_accounts_user(const struct scan_accounts *a, uid_t uid)
{
	return a == NULL ? NULL : lookup(&a->users, (uint32_t)uid);
}

const char *scan_accounts_group(const struct scan_accounts *a, gid_t gid)
{
	return a == NULL ? NULL : lookup(&a->groups, (uint32_t)gid);
}

static void free_table(struct id_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].name);
	free(t->v);
}

void scan_accounts_free(struct scan_accounts *a)
{
	if (a == NULL)
		return;
	free_table(&a->users);
	free_table(&a->groups);
	free(a);
}
