/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The <repositories> section: the source host's own package repository
 * configuration, file by file as it is (apt sources, yum/dnf and zypper
 * .repo files, pacman.conf and the files it Includes), so that the server
 * can offer to add the repositories this host installs from (`reforge repo
 * add --from-scan`). The files are not interpreted here: the server's
 * parsers read them (server/repo_sources.c).
 */
#include "config.h"

#include <string.h>

#include "escape.h"
#include "sys_internal.h"

/* A repository file larger than this is not one; it is left out, warned. */
#define SYS_MAX_REPO_FILE (256u << 10)
/* Files Included from pacman.conf, at most (Include may chain). */
#define SYS_MAX_PACMAN_INCLUDES 64

struct repos_state {
	struct sys_out *o;
	struct sys_strlist seen; /* paths written */
	bool started;		 /* <repositories> is open */
};

static void write_file(struct repos_state *st, const char *path,
		       const char *text)
{
	struct rf_buf b64 = RF_BUF_INIT;

	if (sys_strlist_has(&st->seen, path))
		return;
	sys_strlist_add(&st->seen, path, false);
	/* the section only when there is something: it is optional */
	if (!st->started) {
		sys_start(st->o, "repositories");
		st->started = true;
	}
	rf_base64_encode(&b64, text, strlen(text));
	sys_start(st->o, "file");
	sys_attr(st->o, "path", path);
	sys_attr(st->o, "content-base64", b64.data ? b64.data : "");
	sys_end(st->o);
	rf_buf_free(&b64);
}

static bool one_file(const struct scan_sysctx *ctx, void *opaque,
		     const char *path, char *text)
{
	(void)ctx;
	write_file(opaque, path, text);
	return true;
}

static bool is_list(const char *name)
{
	return sys_has_suffix(name, ".list") || sys_has_suffix(name, ".sources");
}

static bool is_repo(const char *name)
{
	return sys_has_suffix(name, ".repo");
}

/*
 * pacman.conf and, breadth first, the files its Include lines name
 * (absolute paths inside the root; globs are not expanded).
 */
static void pacman(const struct scan_sysctx *ctx, struct repos_state *st)
{
	struct sys_strlist todo = {0};
	struct rf_buf b = RF_BUF_INIT;

	sys_strlist_add(&todo, "/etc/pacman.conf", false);
	for (size_t i = 0; i < todo.n && i < SYS_MAX_PACMAN_INCLUDES; i++) {
		char *cur, *line;

		if (sys_read_text(ctx, todo.v[i], SYS_MAX_REPO_FILE, &b) < 0)
			continue;
		write_file(st, todo.v[i], b.data);
		cur = b.data;
		while ((line = sys_next_line(&cur)) != NULL) {
			char *eq = strchr(line, '='), *key, *val;

			if (eq == NULL)
				continue;
			*eq = '\0';
			key = sys_strip(line);
			val = sys_strip(eq + 1);
			if (strcmp(key, "Include") == 0 && val[0] == '/' &&
			    strpbrk(val, "*?[") == NULL)
				sys_strlist_add(&todo, val, false);
		}
	}
	sys_strlist_free(&todo);
	rf_buf_free(&b);
}

void sys_write_repositories(const struct scan_sysctx *ctx, struct sys_out *o)
{
	static const struct {
		const char *dir;
		bool (*accept)(const char *name);
	} dirs[] = {
		{"/etc/apt/sources.list.d", is_list},
		{"/etc/yum.repos.d", is_repo},
		{"/etc/distro.repos.d", is_repo},
		{"/etc/zypp/repos.d", is_repo},
	};
	struct repos_state st = {o, {0}, false};
	struct rf_buf b = RF_BUF_INIT;

	if (sys_read_text(ctx, "/etc/apt/sources.list", SYS_MAX_REPO_FILE, &b) ==
	    0)
		write_file(&st, "/etc/apt/sources.list", b.data);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		sys_for_each_file(ctx, dirs[i].dir, dirs[i].accept,
				  SYS_MAX_REPO_FILE, one_file, &st);
	pacman(ctx, &st);
	if (st.started)
		sys_end(o);
	sys_strlist_free(&st.seen);
	rf_buf_free(&b);
}
