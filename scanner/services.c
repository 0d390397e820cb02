/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The <services> section: what starts at boot. systemd keeps "enabled" as
 * symlinks in etc/systemd/system/<target>.wants/ (and .requires/,
 * .upholds/), "masked" as a symlink to /dev/null, aliases as other
 * symlinks, and the default target as etc/systemd/system/default.target.
 * SysV init keeps it as etc/rcN.d/SNNname links.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rootfs.h"
#include "sys_internal.h"

/* The link target of path, one level, or NULL (b owns the text). */
static const char *link_target(const struct scan_sysctx *ctx, const char *path,
			       struct rf_buf *b)
{
	rf_buf_reset(b);
	if (!sys_is_symlink(ctx, path) ||
	    rf_root_readlink(ctx->rootfd, path, b) < 0)
		return NULL;
	return b->data;
}

static bool is_dev_null(const char *target)
{
	return target != NULL && strcmp(target, "/dev/null") == 0;
}

static void write_unit(struct sys_out *o, const char *name, const char *state,
		       const char *scope, const char *target,
		       const char *relation, const char *link)
{
	sys_start(o, "unit");
	sys_attr(o, "name", name);
	sys_attr(o, "state", state);
	sys_attr(o, "scope", scope);
	sys_attr(o, "target", target);
	sys_attr(o, "relation", relation);
	sys_attr(o, "link", link);
	sys_end(o);
}

/* The units in dir/<target>.<relation>/: each one enabled by target. */
static void wants_dir(const struct scan_sysctx *ctx, struct sys_out *o,
		      const char *dir, const char *sub, const char *scope)
{
	static const char *const relations[] = {"wants", "requires", "upholds"};
	struct rf_buf p = RF_BUF_INIT, l = RF_BUF_INIT, target = RF_BUF_INIT;
	const char *relation = NULL;
	char **names;
	int n;

	for (size_t i = 0; i < sizeof(relations) / sizeof(*relations); i++) {
		rf_buf_reset(&target);
		rf_buf_printf(&target, ".%s", relations[i]);
		if (sys_has_suffix(sub, target.data)) {
			relation = relations[i];
			break;
		}
	}
	if (relation == NULL)
		goto out;
	rf_buf_reset(&target);
	rf_buf_add(&target, sub, strlen(sub) - strlen(relation) - 1);
	rf_buf_reset(&p);
	rf_buf_printf(&p, "%s/%s", dir, sub);
	n = sys_list_dir(ctx, p.data, &names);
	for (int i = 0; i < n; i++) {
		const char *link;

		rf_buf_reset(&p);
		rf_buf_printf(&p, "%s/%s/%s", dir, sub, names[i]);
		link = link_target(ctx, p.data, &l);
		write_unit(o, names[i],
			   is_dev_null(link) ? "masked" : "enabled", scope,
			   target.data, relation, link);
	}
	if (n > 0)
		sys_names_free(names, n);
out:
	rf_buf_free(&p);
	rf_buf_free(&l);
	rf_buf_free(&target);
}

static void unit_dir(const struct scan_sysctx *ctx, struct sys_out *o,
		     const char *dir, const char *scope)
{
	struct rf_buf p = RF_BUF_INIT, l = RF_BUF_INIT;
	char **names;
	int n = sys_list_dir(ctx, dir, &names);

	for (int i = 0; i < n; i++) {
		const char *link;

		rf_buf_reset(&p);
		rf_buf_printf(&p, "%s/%s", dir, names[i]);
		if (sys_is_symlink(ctx, p.data)) {
			link = link_target(ctx, p.data, &l);
			if (strcmp(names[i], "default.target") == 0 &&
			    strcmp(scope, "system") == 0)
				continue; /* written as <default-target> */
			write_unit(o, names[i],
				   is_dev_null(link) ? "masked" : "alias",
				   scope, NULL, NULL, link);
		} else if (sys_is_dir(ctx, p.data)) {
			wants_dir(ctx, o, dir, names[i], scope);
		}
	}
	if (n > 0)
		sys_names_free(names, n);
	rf_buf_free(&p);
	rf_buf_free(&l);
}

/* The base name of a unit link's target: "/lib/.../graphical.target". */
static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

static void default_target(const struct scan_sysctx *ctx, struct sys_out *o)
{
	/* etc overrides the distribution's choice in lib */
	static const char *const paths[] = {
		"/etc/systemd/system/default.target",
		"/usr/lib/systemd/system/default.target",
		"/lib/systemd/system/default.target"};
	struct rf_buf l = RF_BUF_INIT;

	for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++) {
		const char *link = link_target(ctx, paths[i], &l);

		if (link == NULL)
			continue;
		sys_start(o, "default-target");
		sys_attr(o, "unit", base_name(link));
		sys_attr(o, "file", paths[i]);
		sys_attr(o, "link", link);
		sys_end(o);
		break;
	}
	rf_buf_free(&l);
}

/* SysV start links: etc/rcN.d/SNNname (RHEL: etc/rc.d/rcN.d). */
static void sysv_links(const struct scan_sysctx *ctx, struct sys_out *o)
{
	static const char runlevels[] = "0123456S";
	struct rf_buf p = RF_BUF_INIT, l = RF_BUF_INIT;

	for (const char *r = runlevels; *r; r++) {
		char **names;
		int n;

		rf_buf_reset(&p);
		rf_buf_printf(&p, "/etc/rc%c.d", *r);
		if (!sys_is_dir(ctx, p.data)) {
			rf_buf_reset(&p);
			rf_buf_printf(&p, "/etc/rc.d/rc%c.d", *r);
		}
		n = sys_list_dir(ctx, p.data, &names);
		for (int i = 0; i < n; i++) {
			const char *s = names[i], *link;
			char runlevel[2] = {*r, '\0'}, order[3];
			struct rf_buf lp = RF_BUF_INIT;

			if (s[0] != 'S' || s[1] < '0' || s[1] > '9' ||
			    s[2] < '0' || s[2] > '9' || s[3] == '\0')
				continue;
			order[0] = s[1];
			order[1] = s[2];
			order[2] = '\0';
			rf_buf_printf(&lp, "%s/%s", p.data, s);
			link = link_target(ctx, lp.data, &l);
			sys_start(o, "sysv");
			sys_attr(o, "name", s + 3);
			sys_attr(o, "runlevel", runlevel);
			sys_attr(o, "order", order);
			sys_attr(o, "link", link);
			sys_end(o);
			rf_buf_free(&lp);
		}
		if (n > 0)
			sys_names_free(names, n);
	}
	rf_buf_free(&p);
	rf_buf_free(&l);
}

void sys_write_services(const struct scan_sysctx *ctx, struct sys_out *o)
{
	sys_start(o, "services");
	default_target(ctx, o);
	unit_dir(ctx, o, "/etc/systemd/system", "system");
	unit_dir(ctx, o, "/etc/systemd/user", "user");
	sysv_links(ctx, o);
	sys_end(o);
}
