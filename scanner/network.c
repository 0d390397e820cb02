/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The <network> section: the interface model, its writer, the ifupdown
 * reader (etc/network/interfaces and what it sources) and etc/resolv.conf.
 * NetworkManager, systemd-networkd and ifcfg files are read in
 * sys_netini.c, netplan in sys_netplan.c.
 */
#include "config.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "rootfs.h"
#include "sys_network.h"

/* ifupdown: how deep `source` may nest and how many files in all. */
#define IFUP_MAX_DEPTH 8
#define IFUP_MAX_FILES 256
/* Path components of a `source` pattern, deeper is refused. */
#define IFUP_MAX_COMPONENTS 64

struct sys_iface *sys_net_iface(struct sys_netconf *nc, const char *config,
				const char *name, const char *file)
{
	struct sys_iface *ifc;

	if (name != NULL)
		for (size_t i = 0; i < nc->n; i++)
			if (nc->v[i]->name != NULL &&
			    strcmp(nc->v[i]->config, config) == 0 &&
			    strcmp(nc->v[i]->name, name) == 0)
				return nc->v[i];
	if (nc->n >= SYS_MAX_ITEMS)
		return NULL;
	if (nc->n == nc->cap) {
		nc->cap = nc->cap ? nc->cap * 2 : 8;
		nc->v = rf_xrealloc(nc->v, nc->cap * sizeof(*nc->v));
	}
	ifc = rf_xcalloc(1, sizeof(*ifc));
	ifc->config = rf_xstrdup(config);
	sys_net_set(&ifc->name, name);
	sys_net_set(&ifc->file, file);
	ifc->autostart = -1;
	nc->v[nc->n++] = ifc;
	return ifc;
}

void sys_net_list_add(struct sys_strlist *l, const char *s)
{
	if (l->n < SYS_NET_MAX_LIST)
		sys_strlist_add(l, s, false);
}

void sys_net_set(char **field, const char *value)
{
	free(*field);
	*field = value ? rf_xstrdup(value) : NULL;
}

bool sys_net_is_v6(const char *addr)
{
	return strchr(addr, ':') != NULL;
}

void sys_net_address(struct sys_iface *ifc, const char *addr)
{
	if (*addr != '\0')
		sys_net_list_add(sys_net_is_v6(addr) ? &ifc->v6.addresses
						     : &ifc->v4.addresses,
				 addr);
}

static void free_ipconf(struct sys_ipconf *c)
{
	free(c->method);
	free(c->netmask);
	free(c->gateway);
	sys_strlist_free(&c->addresses);
}

static void free_netconf(struct sys_netconf *nc)
{
	for (size_t i = 0; i < nc->n; i++) {
		struct sys_iface *ifc = nc->v[i];

		free(ifc->config);
		free(ifc->name);
		free(ifc->file);
		free(ifc->kind);
		free(ifc->connection);
		free(ifc->mac);
		free(ifc->vlan_id);
		free(ifc->vlan_link);
		free(ifc->master);
		free_ipconf(&ifc->v4);
		free_ipconf(&ifc->v6);
		sys_strlist_free(&ifc->dns);
		sys_strlist_free(&ifc->search);
		sys_strlist_free(&ifc->members);
		free(ifc);
	}
	free(nc->v);
}

/* Prefix length of a dotted netmask or a number; -1 when neither. */
static int prefix_length(const char *mask, bool v6)
{
	uint64_t n;
	unsigned a[4];
	uint32_t m;
	int len = 0;
	char end;

	if (sys_parse_u64(mask, v6 ? 128 : 32, &n))
		return (int)n;
	if (v6 ||
	    sscanf(mask, "%u.%u.%u.%u%c", &a[0], &a[1], &a[2], &a[3], &end) !=
		    4 ||
	    a[0] > 255 || a[1] > 255 || a[2] > 255 || a[3] > 255)
		return -1;
	m = a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3];
	while (len < 32 && (m & (1u << (31 - len))))
		len++;
	/* the bits after the ones must all be zero */
	if (len < 32 && (m << len) != 0)
		return -1;
	return len;
}

static void write_address(struct sys_out *o, const char *addr,
			  const char *netmask, bool v6)
{
	const char *slash = strrchr(addr, '/');
	uint64_t prefix;

	sys_start(o, "address");
	if (slash != NULL && sys_parse_u64(slash + 1, v6 ? 128 : 32, &prefix)) {
		sys_attr_len(o, "ip", addr, (size_t)(slash - addr));
		sys_attr_u64(o, "prefix", prefix);
	} else {
		int len = netmask ? prefix_length(netmask, v6) : -1;

		sys_attr(o, "ip", addr);
		if (slash == NULL && len >= 0)
			sys_attr_u64(o, "prefix", (uint64_t)len);
	}
	sys_end(o);
}

static void write_ipconf(struct sys_out *o, const char *element,
			 const struct sys_ipconf *c, bool v6)
{
	if (c->method == NULL && c->addresses.n == 0 && c->gateway == NULL)
		return;
	sys_start(o, element);
	sys_attr(o, "method", c->method);
	for (size_t i = 0; i < c->addresses.n; i++)
		write_address(o, c->addresses.v[i], c->netmask, v6);
	if (c->gateway != NULL)
		sys_leaf(o, "gateway", "address", c->gateway);
	sys_end(o);
}

static void write_iface(struct sys_out *o, const struct sys_iface *ifc)
{
	sys_start(o, "interface");
	sys_attr(o, "config", ifc->config);
	sys_attr(o, "name", ifc->name);
	sys_attr(o, "file", ifc->file);
	sys_attr(o, "kind", ifc->kind);
	sys_attr(o, "connection", ifc->connection);
	sys_attr(o, "mac", ifc->mac);
	if (ifc->autostart >= 0)
		sys_attr_bool(o, "auto", ifc->autostart == 1);
	if (ifc->hotplug)
		sys_attr_bool(o, "hotplug", true);
	sys_attr(o, "vlan-id", ifc->vlan_id);
	sys_attr(o, "vlan-link", ifc->vlan_link);
	sys_attr(o, "master", ifc->master);
	write_ipconf(o, "ipv4", &ifc->v4, false);
	write_ipconf(o, "ipv6", &ifc->v6, true);
	for (size_t i = 0; i < ifc->dns.n; i++)
		sys_leaf(o, "nameserver", "address", ifc->dns.v[i]);
	for (size_t i = 0; i < ifc->search.n; i++)
		sys_leaf(o, "search", "domain", ifc->search.v[i]);
	for (size_t i = 0; i < ifc->members.n; i++)
		sys_leaf(o, "member", "name", ifc->members.v[i]);
	sys_end(o);
}

/*
 * ifupdown, interfaces(5). Stanzas start with iface, mapping, auto,
 * allow-*, source, source-directory; any other line is an option of the
 * iface stanza above it. A trailing backslash continues a line; comments
 * are whole lines starting with '#'.
 */
struct ifup_state {
	const struct scan_sysctx *ctx;
	struct sys_netconf *nc;
	int files; /* read so far, against IFUP_MAX_FILES */
};

static void ifup_file(struct ifup_state *st, const char *path, int depth);

static bool has_wildcard(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/*
 * Shell-style expansion of an absolute pattern inside the root, one path
 * component at a time, in sorted order; matches are added to out.
 */
static void glob_in_root(const struct scan_sysctx *ctx, const char *dir,
			 const char *rest, int level, struct sys_strlist *out)
{
	struct rf_buf next = RF_BUF_INIT, comp = RF_BUF_INIT;
	const char *slash;
	char **names;
	int n;

	while (*rest == '/')
		rest++;
	if (level > IFUP_MAX_COMPONENTS)
		return;
	if (*rest == '\0') {
		if (sys_exists(ctx, dir))
			sys_strlist_add(out, dir, false);
		return;
	}
	slash = strchr(rest, '/');
	rf_buf_add(&comp, rest, slash ? (size_t)(slash - rest) : strlen(rest));
	rest = slash ? slash : "";
	if (!has_wildcard(comp.data)) {
		rf_buf_printf(&next, "%s/%s", strcmp(dir, "/") ? dir : "",
			      comp.data);
		glob_in_root(ctx, next.data, rest, level + 1, out);
		goto out;
	}
	n = sys_list_dir(ctx, dir, &names);
	for (int i = 0; i < n && out->n < IFUP_MAX_FILES; i++) {
		if (fnmatch(comp.data, names[i], FNM_PERIOD) != 0)
			continue;
		rf_buf_reset(&next);
		rf_buf_printf(&next, "%s/%s", strcmp(dir, "/") ? dir : "",
			      names[i]);
		glob_in_root(ctx, next.data, rest, level + 1, out);
	}
	if (n > 0)
		sys_names_free(names, n);
out:
	rf_buf_free(&next);
	rf_buf_free(&comp);
}

/* A relative path in a sourced line is relative to the sourcing file. */
static void resolve_relative(struct rf_buf *out, const char *from,
			     const char *path)
{
	const char *slash = strrchr(from, '/');

	if (path[0] == '/' || slash == NULL) {
		rf_buf_addstr(out, path);
		return;
	}
	rf_buf_add(out, from, (size_t)(slash - from));
	rf_buf_printf(out, "/%s", path);
}

static void ifup_source(struct ifup_state *st, const char *from,
			const char *pattern, int depth)
{
	struct rf_buf abs = RF_BUF_INIT;
	struct sys_strlist files = {0};

	resolve_relative(&abs, from, pattern);
	glob_in_root(st->ctx, "/", abs.data, 0, &files);
	if (files.n == 0 && !has_wildcard(abs.data))
		sys_warn(st->ctx, "%s: source %s: no such file", from,
			 abs.data);
	for (size_t i = 0; i < files.n; i++)
		ifup_file(st, files.v[i], depth + 1);
	sys_strlist_free(&files);
	rf_buf_free(&abs);
}

/* source-directory takes the files named only of [A-Za-z0-9_-]. */
static bool run_parts_name(const char *name)
{
	return *name != '\0' &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"
			    "WXYZ0123456789_-") == strlen(name);
}

static void ifup_source_dir(struct ifup_state *st, const char *from,
			    const char *dir, int depth)
{
	struct rf_buf abs = RF_BUF_INIT, p = RF_BUF_INIT;
	char **names;
	int n;

	resolve_relative(&abs, from, dir);
	n = sys_list_dir(st->ctx, abs.data, &names);
	for (int i = 0; i < n; i++) {
		if (!run_parts_name(names[i]))
			continue;
		rf_buf_reset(&p);
		rf_buf_printf(&p, "%s/%s", abs.data, names[i]);
		ifup_file(st, p.data, depth + 1);
	}
	if (n > 0)
		sys_names_free(names, n);
	rf_buf_free(&abs);
	rf_buf_free(&p);
}

static void ifup_option(struct sys_iface *ifc, bool v6, char *key, char *rest)
{
	struct sys_ipconf *c = v6 ? &ifc->v6 : &ifc->v4;
	char *w;

	if (strcmp(key, "address") == 0) {
		if ((w = sys_next_word(&rest)) != NULL)
			sys_net_list_add(&c->addresses, w);
	} else if (strcmp(key, "netmask") == 0) {
		sys_net_set(&c->netmask, sys_next_word(&rest));
	} else if (strcmp(key, "gateway") == 0) {
		sys_net_set(&c->gateway, sys_next_word(&rest));
	} else if (strcmp(key, "dns-nameservers") == 0) {
		while ((w = sys_next_word(&rest)) != NULL)
			sys_net_list_add(&ifc->dns, w);
	} else if (strcmp(key, "dns-search") == 0 ||
		   strcmp(key, "dns-domain") == 0) {
		while ((w = sys_next_word(&rest)) != NULL)
			sys_net_list_add(&ifc->search, w);
	} else if (strcmp(key, "hwaddress") == 0) {
		w = sys_next_word(&rest);
		if (w != NULL && strcmp(w, "ether") == 0)
			w = sys_next_word(&rest);
		sys_net_set(&ifc->mac, w);
	} else if (strcmp(key, "bond-slaves") == 0 ||
		   strcmp(key, "bridge_ports") == 0 ||
		   strcmp(key, "bridge-ports") == 0) {
		while ((w = sys_next_word(&rest)) != NULL)
			if (strcmp(w, "none") != 0)
				sys_net_list_add(&ifc->members, w);
		if (ifc->kind == NULL)
			sys_net_set(&ifc->kind,
				    key[1] == 'o' ? "bond" : "bridge");
	} else if (strcmp(key, "vlan-raw-device") == 0 ||
		   strcmp(key, "vlan_raw_device") == 0) {
		sys_net_set(&ifc->vlan_link, sys_next_word(&rest));
		sys_net_set(&ifc->kind, "vlan");
	}
}

static void ifup_file(struct ifup_state *st, const char *path, int depth)
{
	struct rf_buf b = RF_BUF_INIT, logical = RF_BUF_INIT;
	struct sys_iface *cur_if = NULL;
	bool cur_v6 = false;
	char *cur, *line;

	if (depth > IFUP_MAX_DEPTH) {
		sys_warn(st->ctx,
			 "%s: sourced more than %d levels deep, "
			 "skipped",
			 path, IFUP_MAX_DEPTH);
		return;
	}
	if (++st->files > IFUP_MAX_FILES) {
		if (st->files == IFUP_MAX_FILES + 1)
			sys_warn(st->ctx,
				 "%s: more than %d interfaces files, "
				 "the rest is skipped",
				 path, IFUP_MAX_FILES);
		return;
	}
	if (sys_read_text(st->ctx, path, SYS_MAX_CONF, &b) < 0)
		goto out;
	cur = b.data;
	while ((line = sys_next_line(&cur)) != NULL) {
		char *rest, *key;
		size_t len = strlen(line);

		if (logical.len == 0 && line[0] == '#')
			continue;
		if (len > 0 && line[len - 1] == '\\') {
			rf_buf_add(&logical, line, len - 1);
			rf_buf_addch(&logical, ' ');
			continue;
		}
		rf_buf_addstr(&logical, line);
		rest = logical.data;
		key = sys_next_word(&rest);
		if (key == NULL || key[0] == '#') {
			rf_buf_reset(&logical);
			continue;
		}
		if (strcmp(key, "iface") == 0) {
			char *name = sys_next_word(&rest);
			char *family = sys_next_word(&rest);
			char *method = sys_next_word(&rest);

			cur_if = NULL;
			if (name != NULL && family != NULL &&
			    (strcmp(family, "inet") == 0 ||
			     strcmp(family, "inet6") == 0)) {
				cur_v6 = family[4] == '6';
				cur_if = sys_net_iface(st->nc, "ifupdown", name,
						       path);
			}
			if (cur_if != NULL && method != NULL)
				sys_net_set(cur_v6 ? &cur_if->v6.method
						   : &cur_if->v4.method,
					    method);
			/* the stanza, not an `auto` line, says where */
			if (cur_if != NULL)
				sys_net_set(&cur_if->file, path);
		} else if (strcmp(key, "auto") == 0 ||
			   strcmp(key, "allow-auto") == 0 ||
			   strcmp(key, "allow-hotplug") == 0) {
			char *name;

			cur_if = NULL;
			while ((name = sys_next_word(&rest)) != NULL) {
				struct sys_iface *ifc = sys_net_iface(
					st->nc, "ifupdown", name, path);

				if (ifc == NULL)
					break;
				if (key[6] == 'h')
					ifc->hotplug = true;
				else
					ifc->autostart = 1;
			}
		} else if (strcmp(key, "source") == 0) {
			char *pattern = sys_next_word(&rest);

			cur_if = NULL;
			if (pattern != NULL)
				ifup_source(st, path, pattern, depth);
		} else if (strcmp(key, "source-directory") == 0) {
			char *dir = sys_next_word(&rest);

			cur_if = NULL;
			if (dir != NULL)
				ifup_source_dir(st, path, dir, depth);
		} else if (strcmp(key, "mapping") == 0 ||
			   strncmp(key, "allow-", 6) == 0 ||
			   strcmp(key, "no-auto-down") == 0 ||
			   strcmp(key, "no-scripts") == 0 ||
			   strcmp(key, "rename") == 0) {
			cur_if = NULL;
		} else if (cur_if != NULL) {
			ifup_option(cur_if, cur_v6, key, rest);
		}
		rf_buf_reset(&logical);
	}
out:
	rf_buf_free(&b);
	rf_buf_free(&logical);
}

void sys_net_ifupdown(const struct scan_sysctx *ctx, struct sys_netconf *nc)
{
	struct ifup_state st = {ctx, nc, 0};

	ifup_file(&st, "/etc/network/interfaces", 0);
}

/*
 * etc/resolv.conf: parsed when it is a file of its own; a symlink (to
 * systemd-resolved's or resolvconf's runtime file) is recorded as such,
 * since what it points to is written at run time.
 */
static void write_resolver(const struct scan_sysctx *ctx, struct sys_out *o)
{
	const char *path = "/etc/resolv.conf";
	struct rf_buf b = RF_BUF_INIT;
	char *cur, *line;
	int count = 0;

	if (sys_is_symlink(ctx, path)) {
		if (rf_root_readlink(ctx->rootfd, path, &b) == 0) {
			sys_start(o, "resolver");
			sys_attr(o, "file", path);
			sys_attr(o, "link", b.data);
			sys_end(o);
		}
		goto out;
	}
	if (sys_read_text(ctx, path, SYS_MAX_CONF, &b) < 0)
		goto out;
	sys_start(o, "resolver");
	sys_attr(o, "file", path);
	cur = b.data;
	while ((line = sys_next_line(&cur)) != NULL && count < SYS_MAX_ITEMS) {
		char *rest = line, *key = sys_next_word(&rest), *w;

		if (key == NULL)
			continue;
		if (strcmp(key, "nameserver") == 0 &&
		    (w = sys_next_word(&rest)) != NULL) {
			sys_leaf(o, "nameserver", "address", w);
			count++;
		} else if (strcmp(key, "search") == 0 ||
			   strcmp(key, "domain") == 0) {
			while ((w = sys_next_word(&rest)) != NULL &&
			       count++ < SYS_MAX_ITEMS)
				sys_leaf(o, "search", "domain", w);
		}
	}
	sys_end(o);
out:
	rf_buf_free(&b);
}

void sys_write_network(const struct scan_sysctx *ctx, struct sys_out *o)
{
	struct sys_netconf nc = {0};

	sys_net_ifupdown(ctx, &nc);
	sys_net_nm(ctx, &nc);
	sys_net_netplan(ctx, &nc);
	sys_net_networkd(ctx, &nc);
	sys_net_ifcfg(ctx, &nc);
	sys_start(o, "network");
	for (size_t i = 0; i < nc.n; i++)
		write_iface(o, nc.v[i]);
	write_resolver(ctx, o);
	sys_end(o);
	free_netconf(&nc);
}
