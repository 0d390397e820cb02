/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef SCAN_SYS_NETWORK_H
#define SCAN_SYS_NETWORK_H

/*
 * The network model the configuration readers fill and network.c writes:
 * one record per interface per configuring system (an interface set up by
 * both ifupdown and netplan appears twice, as it is configured twice).
 * Every string is owned by its record; NULL means "not configured".
 */

#include "sys_internal.h"

struct sys_ipconf {
	char *method; /* dhcp, static, auto, manual, loopback, disabled, ... */
	struct sys_strlist addresses; /* "ip" or "ip/prefix" as configured */
	char *netmask;		      /* ifupdown: applies to bare addresses */
	char *gateway;
};

struct sys_iface {
	char *config;	  /* ifupdown, networkmanager, netplan, networkd,
			     ifcfg */
	char *name;	  /* as written: networkd may give globs; NULL when
			     a NetworkManager profile binds by MAC only */
	char *file;	  /* where it is configured */
	char *kind;	  /* ethernet, bond, bridge, vlan, wifi, ... */
	char *connection; /* NetworkManager profile name */
	char *mac;
	char *vlan_id, *vlan_link;
	char *master;  /* the bond or bridge this one is a port of */
	int autostart; /* 1, 0, or -1 when the system does not say */
	bool hotplug;  /* ifupdown allow-hotplug */
	struct sys_ipconf v4, v6;
	struct sys_strlist dns, search, members;
};

struct sys_netconf {
	struct sys_iface **v;
	size_t n, cap;
};

/*
 * The record of config's interface name (a new one when name is NULL or
 * not seen yet), or NULL when SYS_MAX_ITEMS records exist already. The
 * record's file is set to file when new.
 */
struct sys_iface *sys_net_iface(struct sys_netconf *nc, const char *config,
				const char *name, const char *file);
/*
 * Add s to one of an interface's lists unless it is there already or the
 * list holds SYS_NET_MAX_LIST values (which keeps the duplicate check
 * cheap whatever a file repeats).
 */
#define SYS_NET_MAX_LIST 256
void sys_net_list_add(struct sys_strlist *l, const char *s);
/* Replace *field with a copy of value (NULL clears it). */
void sys_net_set(char **field, const char *value);
/* Add an address to v4 or v6, by its form. */
void sys_net_address(struct sys_iface *ifc, const char *addr);
/* Is addr an IPv6 address (or prefix)? */
bool sys_net_is_v6(const char *addr);

/* The readers: each adds what its system configures to nc. */
void sys_net_ifupdown(const struct scan_sysctx *ctx, struct sys_netconf *nc);
void sys_net_nm(const struct scan_sysctx *ctx, struct sys_netconf *nc);
void sys_net_networkd(const struct scan_sysctx *ctx, struct sys_netconf *nc);
void sys_net_ifcfg(const struct scan_sysctx *ctx, struct sys_netconf *nc);
void sys_net_netplan(const struct scan_sysctx *ctx, struct sys_netconf *nc);

#endif
