/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Network configuration kept as INI-style files: NetworkManager keyfiles
 * (etc/NetworkManager/system-connections), systemd-networkd .network files
 * (etc/systemd/network), and the shell-assignment ifcfg files of Red Hat
 * (etc/sysconfig/network-scripts) and SUSE (etc/sysconfig/network).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sys_network.h"

typedef void (*ini_fn)(void *opaque, const char *section, char *key,
		       char *value);

/*
 * "[section]" lines and "key=value" lines (blanks around both trimmed);
 * '#' and ';' start comment lines. Lines of neither form are ignored, as
 * NetworkManager and systemd do with a warning of their own. fn also gets
 * key NULL where a section ends (before the next one and at the end), for
 * readers that judge a section as a whole.
 */
static void ini_parse(char *text, ini_fn fn, void *opaque)
{
	struct rf_buf section = RF_BUF_INIT;
	char *cur = text, *line;
	int count = 0;

	rf_buf_addstr(&section, "");
	while ((line = sys_next_line(&cur)) != NULL && count < SYS_MAX_ITEMS) {
		char *s = sys_strip(line), *eq;
		size_t len = strlen(s);

		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (s[0] == '[' && s[len - 1] == ']') {
			fn(opaque, section.data, NULL, NULL);
			rf_buf_reset(&section);
			rf_buf_add(&section, s + 1, len - 2);
			rf_buf_addstr(&section, "");
			continue;
		}
		eq = strchr(s, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		count++;
		fn(opaque, section.data, sys_strip(s), sys_strip(eq + 1));
	}
	fn(opaque, section.data, NULL, NULL);
	rf_buf_free(&section);
}

/* Words of a list separated by any of seps, added to out. */
static void split_list(char *list, const char *seps, struct sys_strlist *out)
{
	char *w;

	while ((w = strsep(&list, seps)) != NULL) {
		w = sys_strip(w);
		if (*w != '\0')
			sys_net_list_add(out, w);
	}
}

static bool is_true(const char *v)
{
	return strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
	       strcmp(v, "on") == 0 || strcmp(v, "1") == 0 ||
	       strcmp(v, "y") == 0;
}

/* NetworkManager keyfile, nm-settings-keyfile(5). */
static const char *nm_method(const char *m, bool v6)
{
	static const char *const map[][3] = {
		/* keyfile, ipv4, ipv6 */
		{"auto", "dhcp", "auto"},
		{"dhcp", "dhcp", "dhcp"},
		{"manual", "static", "static"},
		{"disabled", "disabled", "disabled"},
		{"ignore", "disabled", "disabled"},
		{"link-local", "link-local", "link-local"},
		{"shared", "shared", "shared"},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(*map); i++)
		if (strcmp(m, map[i][0]) == 0)
			return map[i][v6 ? 2 : 1];
	return m;
}

static void nm_key(void *opaque, const char *section, char *key, char *value)
{
	struct sys_iface *ifc = opaque;
	bool v6 = strcmp(section, "ipv6") == 0;
	struct sys_ipconf *c = v6 ? &ifc->v6 : &ifc->v4;

	if (key == NULL)
		return;
	if (strcmp(section, "connection") == 0) {
		if (strcmp(key, "id") == 0)
			sys_net_set(&ifc->connection, value);
		else if (strcmp(key, "interface-name") == 0)
			sys_net_set(&ifc->name, value);
		else if (strcmp(key, "type") == 0)
			sys_net_set(&ifc->kind,
				    strcmp(value, "802-3-ethernet") == 0
					    ? "ethernet"
				    : strcmp(value, "802-11-wireless") == 0
					    ? "wifi"
					    : value);
		else if (strcmp(key, "autoconnect") == 0)
			ifc->autostart = is_true(value);
		else if (strcmp(key, "master") == 0 ||
			 strcmp(key, "controller") == 0)
			sys_net_set(&ifc->master, value);
	} else if (strcmp(section, "ethernet") == 0 ||
		   strcmp(section, "802-3-ethernet") == 0 ||
		   strcmp(section, "wifi") == 0 ||
		   strcmp(section, "802-11-wireless") == 0) {
		if (strcmp(key, "mac-address") == 0)
			sys_net_set(&ifc->mac, value);
	} else if (strcmp(section, "vlan") == 0) {
		if (strcmp(key, "id") == 0)
			sys_net_set(&ifc->vlan_id, value);
		else if (strcmp(key, "parent") == 0)
			sys_net_set(&ifc->vlan_link, value);
	} else if (v6 || strcmp(section, "ipv4") == 0) {
		if (strcmp(key, "method") == 0) {
			sys_net_set(&c->method, nm_method(value, v6));
		} else if (strncmp(key, "address", 7) == 0) {
			/* address1=ip/prefix[,gateway]; older: addresses1= */
			char *list = value, *one;

			while ((one = strsep(&list, ";")) != NULL) {
				char *gw = strchr(one, ',');

				if (gw != NULL) {
					*gw++ = '\0';
					if (c->gateway == NULL && *gw)
						sys_net_set(&c->gateway, gw);
				}
				one = sys_strip(one);
				if (*one != '\0')
					sys_net_list_add(&c->addresses, one);
			}
		} else if (strcmp(key, "gateway") == 0) {
			sys_net_set(&c->gateway, value);
		} else if (strcmp(key, "dns") == 0) {
			split_list(value, ";,", &ifc->dns);
		} else if (strcmp(key, "dns-search") == 0) {
			split_list(value, ";,", &ifc->search);
		}
	}
}

/* Files NetworkManager's keyfile plugin would take: no backup copies. */
static bool nm_file_name(const char *name)
{
	return (sys_has_suffix(name, ".nmconnection") ||
		strchr(name, '.') == NULL) &&
	       !sys_has_suffix(name, "~");
}

static bool nm_file(const struct scan_sysctx *ctx, void *opaque,
		    const char *path, char *text)
{
	/* profiles are separate even when they name one device */
	struct sys_iface *ifc =
		sys_net_iface(opaque, "networkmanager", NULL, path);

	if (ifc == NULL)
		return false;
	ini_parse(text, nm_key, ifc);
	return true;
}

void sys_net_nm(const struct scan_sysctx *ctx, struct sys_netconf *nc)
{
	sys_for_each_file(ctx, "/etc/NetworkManager/system-connections",
			  nm_file_name, SYS_MAX_CONF, nm_file, nc);
}

/* systemd-networkd, systemd.network(5). */
struct networkd_file {
	struct sys_iface *ifc;
	bool dhcp4, dhcp6;
	char *route_gw, *route_dst; /* of the [Route] section being read */
};

static bool default_destination(const char *dst)
{
	return dst == NULL || strcmp(dst, "0.0.0.0/0") == 0 ||
	       strcmp(dst, "::/0") == 0 || strcmp(dst, "0.0.0.0") == 0 ||
	       strcmp(dst, "::") == 0;
}

static void networkd_gateway(struct sys_iface *ifc, const char *gw)
{
	struct sys_ipconf *c = sys_net_is_v6(gw) ? &ifc->v6 : &ifc->v4;

	if (c->gateway == NULL)
		sys_net_set(&c->gateway, gw);
}

static void networkd_key(void *opaque, const char *section, char *key,
			 char *value)
{
	struct networkd_file *f = opaque;
	struct sys_iface *ifc = f->ifc;

	if (key == NULL) {
		/* a route without Destination is the default route */
		if (f->route_gw != NULL && default_destination(f->route_dst))
			networkd_gateway(ifc, f->route_gw);
		sys_net_set(&f->route_gw, NULL);
		sys_net_set(&f->route_dst, NULL);
		return;
	}
	if (strcmp(section, "Match") == 0) {
		if (strcmp(key, "Name") == 0)
			sys_net_set(&ifc->name, value);
		else if (strcmp(key, "MACAddress") == 0 ||
			 strcmp(key, "PermanentMACAddress") == 0)
			sys_net_set(&ifc->mac, value);
		else if (strcmp(key, "Type") == 0)
			sys_net_set(&ifc->kind, value);
	} else if (strcmp(section, "Network") == 0) {
		if (strcmp(key, "DHCP") == 0) {
			bool all = is_true(value);

			f->dhcp4 = all || strcmp(value, "ipv4") == 0;
			f->dhcp6 = all || strcmp(value, "ipv6") == 0;
		} else if (strcmp(key, "Address") == 0) {
			sys_net_address(ifc, value);
		} else if (strcmp(key, "Gateway") == 0) {
			networkd_gateway(ifc, value);
		} else if (strcmp(key, "DNS") == 0) {
			split_list(value, " \t", &ifc->dns);
		} else if (strcmp(key, "Domains") == 0) {
			split_list(value, " \t", &ifc->search);
		} else if (strcmp(key, "Bond") == 0 ||
			   strcmp(key, "Bridge") == 0) {
			sys_net_set(&ifc->master, value);
		}
	} else if (strcmp(section, "Address") == 0) {
		if (strcmp(key, "Address") == 0)
			sys_net_address(ifc, value);
	} else if (strcmp(section, "Route") == 0) {
		if (strcmp(key, "Gateway") == 0)
			sys_net_set(&f->route_gw, value);
		else if (strcmp(key, "Destination") == 0)
			sys_net_set(&f->route_dst, value);
	}
}

static bool networkd_file_name(const char *name)
{
	return sys_has_suffix(name, ".network");
}

static bool networkd_file(const struct scan_sysctx *ctx, void *opaque,
			  const char *path, char *text)
{
	struct networkd_file f = {NULL, false, false, NULL, NULL};

	f.ifc = sys_net_iface(opaque, "networkd", NULL, path);
	if (f.ifc == NULL)
		return false;
	ini_parse(text, networkd_key, &f);
	if (f.dhcp4)
		sys_net_set(&f.ifc->v4.method, "dhcp");
	else if (f.ifc->v4.addresses.n > 0)
		sys_net_set(&f.ifc->v4.method, "static");
	if (f.dhcp6)
		sys_net_set(&f.ifc->v6.method, "dhcp");
	else if (f.ifc->v6.addresses.n > 0)
		sys_net_set(&f.ifc->v6.method, "static");
	return true;
}

void sys_net_networkd(const struct scan_sysctx *ctx, struct sys_netconf *nc)
{
	sys_for_each_file(ctx, "/etc/systemd/network", networkd_file_name,
			  SYS_MAX_CONF, networkd_file, nc);
}

/*
 * ifcfg files: shell assignments. Red Hat's initscripts (BOOTPROTO,
 * IPADDR[n], PREFIX[n] or NETMASK[n], GATEWAY, DNSn, ONBOOT, IPV6ADDR...)
 * and SUSE's wicked (BOOTPROTO, IPADDR with /prefix, STARTMODE) share the
 * form and most names.
 */
struct ifcfg {
	struct sys_strlist keys, values;
};

static const char *ifcfg_get(const struct ifcfg *f, const char *key)
{
	const char *v = NULL;

	for (size_t i = 0; i < f->keys.n; i++)
		if (strcmp(f->keys.v[i], key) == 0)
			v = f->values.v[i]; /* the last one wins, as in sh */
	return v;
}

static void ifcfg_addresses(struct sys_iface *ifc, const struct ifcfg *f)
{
	struct rf_buf k = RF_BUF_INIT, a = RF_BUF_INIT;

	/* IPADDR, then IPADDR0 .. IPADDR255, each with its PREFIX/NETMASK */
	for (int i = -1; i < 256; i++) {
		const char *ip, *prefix, *mask;
		char idx[8] = "";

		if (i >= 0)
			snprintf(idx, sizeof(idx), "%d", i);
		rf_buf_reset(&k);
		rf_buf_printf(&k, "IPADDR%s", idx);
		ip = ifcfg_get(f, k.data);
		if (ip == NULL || *ip == '\0')
			continue;
		rf_buf_reset(&k);
		rf_buf_printf(&k, "PREFIX%s", idx);
		prefix = ifcfg_get(f, k.data);
		rf_buf_reset(&k);
		rf_buf_printf(&k, "NETMASK%s", idx);
		mask = ifcfg_get(f, k.data);
		rf_buf_reset(&a);
		if (prefix != NULL && strchr(ip, '/') == NULL)
			rf_buf_printf(&a, "%s/%s", ip, prefix);
		else
			rf_buf_addstr(&a, ip);
		sys_net_list_add(&ifc->v4.addresses, a.data);
		if (mask != NULL && prefix == NULL && ifc->v4.netmask == NULL)
			sys_net_set(&ifc->v4.netmask, mask);
	}
	rf_buf_free(&k);
	rf_buf_free(&a);
}

static void ifcfg_apply(struct sys_iface *ifc, const struct ifcfg *f)
{
	const char *v;
	char *list;

	if ((v = ifcfg_get(f, "NAME")) != NULL)
		sys_net_set(&ifc->connection, v);
	if ((v = ifcfg_get(f, "TYPE")) != NULL)
		sys_net_set(&ifc->kind, v);
	if ((v = ifcfg_get(f, "HWADDR")) != NULL ||
	    (v = ifcfg_get(f, "MACADDR")) != NULL)
		sys_net_set(&ifc->mac, v);
	if ((v = ifcfg_get(f, "ONBOOT")) != NULL)
		ifc->autostart = is_true(v);
	if ((v = ifcfg_get(f, "STARTMODE")) != NULL)
		ifc->autostart = strcmp(v, "auto") == 0 ||
				 strcmp(v, "onboot") == 0 ||
				 strcmp(v, "hotplug") == 0;
	if ((v = ifcfg_get(f, "MASTER")) != NULL ||
	    (v = ifcfg_get(f, "BRIDGE")) != NULL)
		sys_net_set(&ifc->master, v);
	if ((v = ifcfg_get(f, "PHYSDEV")) != NULL)
		sys_net_set(&ifc->vlan_link, v);
	ifcfg_addresses(ifc, f);
	if ((v = ifcfg_get(f, "BOOTPROTO")) != NULL) {
		if (strncmp(v, "dhcp", 4) == 0 || strcmp(v, "bootp") == 0)
			sys_net_set(&ifc->v4.method, "dhcp");
		else if (ifc->v4.addresses.n > 0)
			sys_net_set(&ifc->v4.method, "static");
		else
			sys_net_set(&ifc->v4.method, "manual");
	} else if (ifc->v4.addresses.n > 0) {
		sys_net_set(&ifc->v4.method, "static");
	}
	if ((v = ifcfg_get(f, "GATEWAY")) != NULL && *v)
		sys_net_set(&ifc->v4.gateway, v);
	for (int i = 1; i <= 9; i++) {
		char k[8];

		snprintf(k, sizeof(k), "DNS%d", i);
		if ((v = ifcfg_get(f, k)) != NULL && *v)
			sys_net_list_add(&ifc->dns, v);
	}
	if ((v = ifcfg_get(f, "DOMAIN")) != NULL) {
		list = rf_xstrdup(v);
		split_list(list, " \t", &ifc->search);
		free(list);
	}
	if ((v = ifcfg_get(f, "IPV6INIT")) != NULL && is_true(v)) {
		if ((v = ifcfg_get(f, "DHCPV6C")) != NULL && is_true(v))
			sys_net_set(&ifc->v6.method, "dhcp");
		else if ((v = ifcfg_get(f, "IPV6_AUTOCONF")) != NULL &&
			 !is_true(v))
			sys_net_set(&ifc->v6.method, "static");
		else
			sys_net_set(&ifc->v6.method, "auto");
	}
	if ((v = ifcfg_get(f, "IPV6ADDR")) != NULL && *v)
		sys_net_list_add(&ifc->v6.addresses, v);
	if ((v = ifcfg_get(f, "IPV6ADDR_SECONDARIES")) != NULL) {
		list = rf_xstrdup(v);
		split_list(list, " \t", &ifc->v6.addresses);
		free(list);
	}
	if ((v = ifcfg_get(f, "IPV6_DEFAULTGW")) != NULL && *v)
		sys_net_set(&ifc->v6.gateway, v);
}

static bool ifcfg_file_name(const char *name)
{
	return strncmp(name, "ifcfg-", 6) == 0 && name[6] != '\0' &&
	       strchr(name, '~') == NULL && !sys_has_suffix(name, ".bak") &&
	       !sys_has_suffix(name, ".orig") &&
	       !sys_has_suffix(name, ".rpmsave") &&
	       !sys_has_suffix(name, ".rpmnew");
}

static bool ifcfg_file(const struct scan_sysctx *ctx, void *opaque,
		       const char *path, char *text)
{
	struct ifcfg f = {{0}, {0}};
	struct sys_iface *ifc;
	const char *dev;
	char *cur = text, *line, *k, *v;

	while ((line = sys_next_line(&cur)) != NULL && f.keys.n < SYS_MAX_ITEMS)
		if (sys_parse_assignment(line, &k, &v)) {
			sys_strlist_add(&f.keys, k, true);
			sys_strlist_add(&f.values, v, true);
		}
	dev = ifcfg_get(&f, "DEVICE");
	ifc = sys_net_iface(opaque, "ifcfg", NULL, path);
	if (ifc != NULL) {
		/* without DEVICE, the name is the file's: ifcfg-NAME */
		sys_net_set(&ifc->name,
			    dev && *dev ? dev : strrchr(path, '/') + 7);
		ifcfg_apply(ifc, &f);
	}
	sys_strlist_free(&f.keys);
	sys_strlist_free(&f.values);
	return ifc != NULL;
}

void sys_net_ifcfg(const struct scan_sysctx *ctx, struct sys_netconf *nc)
{
	sys_for_each_file(ctx, "/etc/sysconfig/network-scripts",
			  ifcfg_file_name, SYS_MAX_CONF, ifcfg_file, nc);
	sys_for_each_file(ctx, "/etc/sysconfig/network", ifcfg_file_name,
			  SYS_MAX_CONF, ifcfg_file, nc);
}
