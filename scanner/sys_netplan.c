/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * netplan: the .yaml files of etc/netplan, read with libyaml's document
 * loader. Files are taken in name order and merged per interface id, a
 * later file's values replacing an earlier one's, as netplan does.
 *
 *   network:
 *     ethernets|bonds|bridges|vlans|wifis|tunnels:
 *       <id>:
 *         match: {name, macaddress}   macaddress
 *         dhcp4, dhcp6                addresses: [a/p | {a/p: {...}}]
 *         gateway4, gateway6          routes: [{to: default, via: gw}]
 *         nameservers: {addresses: [], search: []}
 *         interfaces: [...] (bonds, bridges)   id, link (vlans)
 *
 * The walk follows that shape only. Aliases let a small document name one
 * big node many times, so every node visited is also counted against a
 * budget per file, which bounds the work whatever the document holds.
 */
#include "config.h"

#include <string.h>
#include <yaml.h>

#include "sys_network.h"

/* Nodes visited per file before the rest of it is ignored. */
#define NETPLAN_BUDGET 1000000

struct walk {
	yaml_document_t *d;
	long budget;
};

/* Count one visited node; false once the budget is spent. */
static bool step(struct walk *w)
{
	return w->budget-- > 0;
}

/* The text of a scalar node, or NULL (not a scalar, or holds a NUL). */
static const char *scalar(yaml_node_t *n)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE ||
	    memchr(n->data.scalar.value, '\0', n->data.scalar.length) != NULL)
		return NULL;
	return (const char *)n->data.scalar.value;
}

static yaml_node_t *map_get(struct walk *w, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;

	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top && step(w); p++) {
		const char *k = scalar(yaml_document_get_node(w->d, p->key));

		if (k != NULL && strcmp(k, key) == 0)
			return yaml_document_get_node(w->d, p->value);
	}
	return NULL;
}

static const char *map_scalar(struct walk *w, yaml_node_t *map, const char *key)
{
	return scalar(map_get(w, map, key));
}

/* YAML 1.1 booleans, as netplan reads them. */
static bool yaml_true(const char *v)
{
	static const char *const t[] = {"true", "True", "TRUE", "yes",
					"Yes",	"YES",	"on",	"On",
					"ON",	"y",	"Y"};

	for (size_t i = 0; v != NULL && i < sizeof(t) / sizeof(*t); i++)
		if (strcmp(v, t[i]) == 0)
			return true;
	return false;
}

/* Every item of a sequence node, as a node, within the budget. */
#define for_each_item(w, seq, it, node)                                        \
	for ((it) = ((seq) && (seq)->type == YAML_SEQUENCE_NODE)               \
			    ? (seq)->data.sequence.items.start                 \
			    : NULL;                                            \
	     (it) != NULL && (it) < (seq)->data.sequence.items.top &&          \
	     step(w) && (((node) = yaml_document_get_node((w)->d, *(it))), 1); \
	     (it)++)

static void scalars_into(struct walk *w, yaml_node_t *seq,
			 struct sys_strlist *out)
{
	yaml_node_item_t *it;
	yaml_node_t *n;

	for_each_item(w, seq, it, n)
	{
		const char *s = scalar(n);

		if (s != NULL)
			sys_net_list_add(out, s);
	}
}

static void read_addresses(struct walk *w, yaml_node_t *seq,
			   struct sys_iface *ifc)
{
	yaml_node_item_t *it;
	yaml_node_t *n;

	for_each_item(w, seq, it, n)
	{
		const char *s = scalar(n);

		/* "- 192.0.2.1/24" or "- 192.0.2.1/24: {lifetime: 0}" */
		if (s == NULL && n != NULL && n->type == YAML_MAPPING_NODE &&
		    n->data.mapping.pairs.top > n->data.mapping.pairs.start)
			s = scalar(yaml_document_get_node(
				w->d, n->data.mapping.pairs.start->key));
		if (s != NULL)
			sys_net_address(ifc, s);
	}
}

static void read_routes(struct walk *w, yaml_node_t *seq, struct sys_iface *ifc)
{
	yaml_node_item_t *it;
	yaml_node_t *n;

	for_each_item(w, seq, it, n)
	{
		const char *to = map_scalar(w, n, "to");
		const char *via = map_scalar(w, n, "via");
		struct sys_ipconf *c;

		if (to == NULL || via == NULL)
			continue;
		if (strcmp(to, "default") != 0 &&
		    strcmp(to, "0.0.0.0/0") != 0 && strcmp(to, "::/0") != 0)
			continue;
		c = sys_net_is_v6(via) ? &ifc->v6 : &ifc->v4;
		sys_net_set(&c->gateway, via);
	}
}

static void read_iface(struct walk *w, yaml_node_t *def, struct sys_iface *ifc)
{
	yaml_node_t *ns = map_get(w, def, "nameservers");
	const char *v;

	if ((v = map_scalar(w, map_get(w, def, "match"), "macaddress")) != NULL)
		sys_net_set(&ifc->mac, v);
	if ((v = map_scalar(w, def, "macaddress")) != NULL)
		sys_net_set(&ifc->mac, v);
	if ((v = map_scalar(w, def, "dhcp4")) != NULL)
		sys_net_set(&ifc->v4.method, yaml_true(v) ? "dhcp" : NULL);
	if ((v = map_scalar(w, def, "dhcp6")) != NULL)
		sys_net_set(&ifc->v6.method, yaml_true(v) ? "dhcp" : NULL);
	read_addresses(w, map_get(w, def, "addresses"), ifc);
	if ((v = map_scalar(w, def, "gateway4")) != NULL)
		sys_net_set(&ifc->v4.gateway, v);
	if ((v = map_scalar(w, def, "gateway6")) != NULL)
		sys_net_set(&ifc->v6.gateway, v);
	read_routes(w, map_get(w, def, "routes"), ifc);
	scalars_into(w, map_get(w, ns, "addresses"), &ifc->dns);
	scalars_into(w, map_get(w, ns, "search"), &ifc->search);
	scalars_into(w, map_get(w, def, "interfaces"), &ifc->members);
	if ((v = map_scalar(w, def, "id")) != NULL)
		sys_net_set(&ifc->vlan_id, v);
	if ((v = map_scalar(w, def, "link")) != NULL)
		sys_net_set(&ifc->vlan_link, v);
	if (ifc->v4.method == NULL && ifc->v4.addresses.n > 0)
		sys_net_set(&ifc->v4.method, "static");
	if (ifc->v6.method == NULL && ifc->v6.addresses.n > 0)
		sys_net_set(&ifc->v6.method, "static");
}

static void read_document(const struct scan_sysctx *ctx, yaml_document_t *d,
			  const char *path, struct sys_netconf *nc)
{
	static const char *const kinds[][2] = {
		{"ethernets", "ethernet"}, {"bonds", "bond"},
		{"bridges", "bridge"},	   {"vlans", "vlan"},
		{"wifis", "wifi"},	   {"tunnels", "tunnel"},
		{"vrfs", "vrf"},	   {"modems", "modem"},
	};
	struct walk w = {d, NETPLAN_BUDGET};
	yaml_node_t *net =
		map_get(&w, yaml_document_get_root_node(d), "network");

	for (size_t k = 0; k < sizeof(kinds) / sizeof(*kinds); k++) {
		yaml_node_t *defs = map_get(&w, net, kinds[k][0]);
		yaml_node_pair_t *p;

		if (defs == NULL || defs->type != YAML_MAPPING_NODE)
			continue;
		for (p = defs->data.mapping.pairs.start;
		     p < defs->data.mapping.pairs.top && step(&w); p++) {
			const char *id =
				scalar(yaml_document_get_node(d, p->key));
			struct sys_iface *ifc;

			if (id == NULL)
				continue;
			ifc = sys_net_iface(nc, "netplan", id, path);
			if (ifc == NULL)
				return;
			sys_net_set(&ifc->file, path);
			sys_net_set(&ifc->kind, kinds[k][1]);
			read_iface(&w, yaml_document_get_node(d, p->value),
				   ifc);
		}
	}
	if (w.budget < 0)
		sys_warn(ctx,
			 "%s: too many nodes visited (aliases?), the "
			 "rest is ignored",
			 path);
}

static bool yaml_file_name(const char *name)
{
	return sys_has_suffix(name, ".yaml");
}

static bool read_file(const struct scan_sysctx *ctx, void *opaque,
		      const char *path, char *text)
{
	yaml_parser_t parser;
	yaml_document_t doc;

	if (!yaml_parser_initialize(&parser))
		return false;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text,
				     strlen(text));
	if (!yaml_parser_load(&parser, &doc)) {
		sys_warn(ctx, "%s:%zu: skipped: YAML error: %s", path,
			 parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "unknown");
	} else {
		if (yaml_document_get_root_node(&doc) != NULL)
			read_document(ctx, &doc, path, opaque);
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	return true;
}

void sys_net_netplan(const struct scan_sysctx *ctx, struct sys_netconf *nc)
{
	sys_for_each_file(ctx, "/etc/netplan", yaml_file_name, SYS_MAX_CONF,
			  read_file, nc);
}
