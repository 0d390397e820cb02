/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target of the system inventory's parsers. The first byte of an
 * input picks which configuration file the rest becomes (os-release,
 * passwd, fstab, interfaces, a NetworkManager keyfile, a netplan YAML, a
 * networkd file, mountinfo...), the second byte whether the scan is live;
 * the file is written into a scratch root and the whole inventory is
 * scanned. Whatever the bytes, the output must be well-formed XML that
 * validates against lib/report-system.rng: anything else aborts.
 */
#include "config.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <libxml/xmlwriter.h>

#include "buf.h"
#include "scanner/system.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where an input's bytes go, by its first byte. */
static const char *const targets[] = {
	"etc/os-release",
	"etc/passwd",
	"etc/group",
	"etc/shadow",
	"etc/fstab",
	"etc/network/interfaces",
	"etc/NetworkManager/system-connections/f.nmconnection",
	"etc/netplan/f.yaml",
	"etc/systemd/network/f.network",
	"etc/sysconfig/network-scripts/ifcfg-f",
	"etc/resolv.conf",
	"etc/hostname",
	"etc/default/locale",
	"etc/default/keyboard",
	"etc/default/grub",
	"boot/grub/grub.cfg",
	"boot/loader/entries/f.conf",
	"proc/self/mountinfo",
	"proc/swaps",
	"bin/sh",
	"etc/network/interfaces.d/f",
};

#define NTARGETS (sizeof(targets) / sizeof(*targets))

static char root[64];
static int rootfd = -1;
static xmlRelaxNGPtr schema;

static void ignore_warning(void *opaque, const char *fmt, ...)
{
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	return remove(path);
}

static void cleanup(void)
{
	nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The directories every target needs, and the schema, once. */
static void setup(void)
{
	static const char wrap[] =
		"<grammar xmlns='http://relaxng.org/ns/structure/1.0' "
		"ns='urn:reforge:report:1'>"
		"<include href='" RF_SYSTEM_RNG "'/>"
		"<start><element name='report'><ref name='system.sections'/>"
		"</element></start></grammar>";
	xmlRelaxNGParserCtxtPtr pc;

	strcpy(root, "/tmp/rf-fuzz-sysconf-XXXXXX");
	if (mkdtemp(root) == NULL)
		abort();
	for (size_t i = 0; i < NTARGETS; i++) {
		struct rf_buf p = RF_BUF_INIT;

		rf_buf_printf(&p, "%s/%s", root, targets[i]);
		for (char *s = strchr(p.data + strlen(root) + 1, '/'); s;
		     s = strchr(s + 1, '/')) {
			*s = '\0';
			mkdir(p.data, 0755);
			*s = '/';
		}
		rf_buf_free(&p);
	}
	atexit(cleanup);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	pc = xmlRelaxNGNewMemParserCtxt(wrap, (int)strlen(wrap));
	schema = xmlRelaxNGParse(pc);
	xmlRelaxNGFreeParserCtxt(pc);
	if (rootfd < 0 || schema == NULL)
		abort();
}

static void write_target(const char *path, const uint8_t *data, size_t size)
{
	struct rf_buf p = RF_BUF_INIT;
	FILE *f;

	rf_buf_printf(&p, "%s/%s", root, path);
	f = fopen(p.data, "wb");
	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	rf_buf_free(&p);
}

static void remove_target(const char *path)
{
	struct rf_buf p = RF_BUF_INIT;

	rf_buf_printf(&p, "%s/%s", root, path);
	unlink(p.data);
	rf_buf_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scan_sysctx ctx = {0};
	struct rf_error err = {0};
	struct scan_accounts *acc;
	xmlBufferPtr buf;
	xmlTextWriterPtr w;
	xmlRelaxNGValidCtxtPtr vc;
	xmlDocPtr doc;
	const char *target;

	if (size < 2)
		return 0;
	if (rootfd < 0)
		setup();
	target = targets[data[0] % NTARGETS];
	write_target(target, data + 2, size - 2);
	ctx.rootfd = rootfd;
	ctx.root = root;
	ctx.live = data[1] & 1;
	ctx.warn = ignore_warning;

	buf = xmlBufferCreate();
	w = xmlNewTextWriterMemory(buf, 0);
	if (xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) < 0 ||
	    xmlTextWriterStartElementNS(w, NULL, BAD_CAST "report",
					BAD_CAST "urn:reforge:report:1") < 0 ||
	    scan_system_write(&ctx, w, &err) != 0 ||
	    xmlTextWriterEndDocument(w) < 0)
		abort();
	xmlFreeTextWriter(w);
	doc = xmlReadMemory((const char *)xmlBufferContent(buf),
			    xmlBufferLength(buf), "fuzz.xml", NULL,
			    XML_PARSE_NONET);
	if (doc == NULL)
		abort(); /* not well-formed */
	vc = xmlRelaxNGNewValidCtxt(schema);
	if (xmlRelaxNGValidateDoc(vc, doc) != 0) {
		fwrite(xmlBufferContent(buf), 1, xmlBufferLength(buf), stderr);
		abort(); /* does not match the schema */
	}
	xmlRelaxNGFreeValidCtxt(vc);
	xmlFreeDoc(doc);
	xmlBufferFree(buf);

	acc = scan_accounts_load(&ctx);
	for (unsigned id = 0; id < 4; id++) {
		scan_accounts_user(acc, id);
		scan_accounts_group(acc, id);
	}
	scan_accounts_free(acc);
	remove_target(target);
	return 0;
}
