/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the system inventory (scanner/system.h): fixture roots are
 * built in a temporary directory, scanned, and the XML produced is parsed
 * back with libxml2, checked with XPath and validated against
 * lib/report-system.rng.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <libxml/xmlwriter.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "buf.h"
#include "scanner/system.h"
#include "cunit_main.h"

#define NS "urn:reforge:report:1"

/* Fixture files: path relative to the root, then content. */
static void put_len(const char *root, const char *path, const char *data,
		    size_t len)
{
	struct rf_buf p = RF_BUF_INIT;
	char *slash;
	FILE *f;

	rf_buf_printf(&p, "%s/%s", root, path);
	for (slash = strchr(p.data + strlen(root) + 1, '/'); slash != NULL;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(p.data, 0755);
		*slash = '/';
	}
	f = fopen(p.data, "wb");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(fwrite(data, 1, len, f), len);
	fclose(f);
	rf_buf_free(&p);
}

static void put(const char *root, const char *path, const char *text)
{
	put_len(root, path, text, strlen(text));
}

static void link_to(const char *root, const char *path, const char *target)
{
	struct rf_buf p = RF_BUF_INIT, d = RF_BUF_INIT;
	char *slash;

	rf_buf_printf(&d, "%s/%s", root, path);
	slash = strrchr(d.data, '/');
	*slash = '\0';
	rf_buf_printf(&p, "mkdir -p '%s'", d.data);
	CU_ASSERT_EQUAL(system(p.data), 0);
	rf_buf_reset(&p);
	rf_buf_printf(&p, "%s/%s", root, path);
	CU_ASSERT_EQUAL(symlink(target, p.data), 0);
	rf_buf_free(&p);
	rf_buf_free(&d);
}

static void make_dir(const char *root, const char *path)
{
	struct rf_buf p = RF_BUF_INIT;

	rf_buf_printf(&p, "mkdir -p '%s/%s'", root, path);
	CU_ASSERT_EQUAL(system(p.data), 0);
	rf_buf_free(&p);
}

static char *new_root(void)
{
	char tmpl[] = "/tmp/rf-systest-XXXXXX";
	char *dir = mkdtemp(tmpl);

	CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
	return rf_xstrdup(dir);
}

static void remove_root(char *root)
{
	struct rf_buf cmd = RF_BUF_INIT;

	rf_buf_printf(&cmd, "rm -rf '%s'", root);
	CU_ASSERT_EQUAL(system(cmd.data), 0);
	rf_buf_free(&cmd);
	free(root);
}

/* Warnings of a scan, one a line. */
static void collect_warning(void *opaque, const char *fmt, ...)
{
	struct rf_buf *b = opaque;
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rf_buf_printf(b, "%s\n", msg);
}

/*
 * Scan root into a <report> document, as the scanner's writer frames it.
 * Returns the parsed document; *warnings gets the warnings.
 */
static xmlDocPtr scan(const char *root, bool live, struct rf_buf *warnings)
{
	struct scan_sysctx ctx = {0};
	struct rf_error err = {0};
	xmlBufferPtr buf = xmlBufferCreate();
	xmlTextWriterPtr w = xmlNewTextWriterMemory(buf, 0);
	xmlDocPtr doc;
	int rc;

	ctx.rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	CU_ASSERT_FATAL(ctx.rootfd >= 0);
	ctx.root = root;
	ctx.live = live;
	ctx.warn = collect_warning;
	ctx.opaque = warnings;
	CU_ASSERT(xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) >= 0);
	CU_ASSERT(xmlTextWriterStartElementNS(w, NULL, BAD_CAST "report",
					      BAD_CAST NS) >= 0);
	rc = scan_system_write(&ctx, w, &err);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(xmlTextWriterEndDocument(w) >= 0);
	xmlFreeTextWriter(w);
	close(ctx.rootfd);
	doc = xmlReadMemory((const char *)xmlBufferContent(buf),
			    xmlBufferLength(buf), "scan.xml", NULL,
			    XML_PARSE_NONET);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	if (getenv("RF_TEST_DUMP") != NULL)
		fprintf(stderr, "%s\n", (const char *)xmlBufferContent(buf));
	xmlBufferFree(buf);
	return doc;
}

/* Validate doc against the system sections of the report schema. */
static bool validates(xmlDocPtr doc)
{
	static const char wrap[] =
		"<grammar xmlns='http://relaxng.org/ns/structure/1.0' "
		"ns='" NS "'>"
		"<include href='" RF_SYSTEM_RNG "'/>"
		"<start><element name='report'><ref name='system.sections'/>"
		"</element></start></grammar>";
	xmlRelaxNGParserCtxtPtr pc;
	xmlRelaxNGPtr schema;
	xmlRelaxNGValidCtxtPtr vc;
	int rc;

	pc = xmlRelaxNGNewMemParserCtxt(wrap, (int)strlen(wrap));
	schema = xmlRelaxNGParse(pc);
	xmlRelaxNGFreeParserCtxt(pc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(schema);
	vc = xmlRelaxNGNewValidCtxt(schema);
	rc = xmlRelaxNGValidateDoc(vc, doc);
	xmlRelaxNGFreeValidCtxt(vc);
	xmlRelaxNGFree(schema);
	return rc == 0;
}

static xmlXPathObjectPtr eval(xmlDocPtr doc, const char *expr)
{
	xmlXPathContextPtr xc = xmlXPathNewContext(doc);
	xmlXPathObjectPtr r;

	xmlXPathRegisterNs(xc, BAD_CAST "r", BAD_CAST NS);
	r = xmlXPathEvalExpression(BAD_CAST expr, xc);
	xmlXPathFreeContext(xc);
	if (r == NULL)
		fprintf(stderr, "bad XPath: %s\n", expr);
	return r;
}

/* string(expr), compared with want. */
static bool xp_is(xmlDocPtr doc, const char *expr, const char *want)
{
	struct rf_buf e = RF_BUF_INIT;
	xmlXPathObjectPtr r;
	bool ok;

	rf_buf_printf(&e, "string(%s)", expr);
	r = eval(doc, e.data);
	ok = r != NULL && strcmp((const char *)r->stringval, want) == 0;
	if (!ok)
		fprintf(stderr, "\n%s = '%s', want '%s'\n", expr,
			r ? (const char *)r->stringval : "(error)", want);
	xmlXPathFreeObject(r);
	rf_buf_free(&e);
	return ok;
}

static int xp_count(xmlDocPtr doc, const char *expr)
{
	struct rf_buf e = RF_BUF_INIT;
	xmlXPathObjectPtr r;
	int n;

	rf_buf_printf(&e, "count(%s)", expr);
	r = eval(doc, e.data);
	n = r ? (int)r->floatval : -1;
	xmlXPathFreeObject(r);
	rf_buf_free(&e);
	return n;
}

/* What a document must hold: XPath string() values, or count()s. */
struct expect {
	const char *xpath;
	const char *want;
};

static void check_all(xmlDocPtr doc, const struct expect *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool ok;

		if (strncmp(e[i].xpath, "count(", 6) == 0) {
			struct rf_buf x = RF_BUF_INIT;

			rf_buf_add(&x, e[i].xpath + 6, strlen(e[i].xpath) - 7);
			ok = xp_count(doc, x.data) == atoi(e[i].want);
			if (!ok)
				fprintf(stderr, "\n%s != %s\n", e[i].xpath,
					e[i].want);
			rf_buf_free(&x);
		} else {
			ok = xp_is(doc, e[i].xpath, e[i].want);
		}
		CU_ASSERT_TRUE(ok);
	}
}

/* The whole serialised document contains s. */
static bool doc_contains(xmlDocPtr doc, const char *s)
{
	xmlChar *mem;
	int len;
	bool found;

	xmlDocDumpMemory(doc, &mem, &len);
	found = strstr((const char *)mem, s) != NULL;
	xmlFree(mem);
	return found;
}

/* An ELF header of an aarch64 executable: the first 64 bytes matter. */
static void put_elf(const char *root, const char *path)
{
	unsigned char h[64] = {0x7f, 'E', 'L', 'F', 2, 1, 1};

	h[16] = 2;   /* ET_EXEC */
	h[18] = 183; /* EM_AARCH64, little endian */
	put_len(root, path, (const char *)h, sizeof(h));
}

/* A root with one of each thing the inventory reads. */
static void build_fixture(const char *root)
{
	char big[4096];

	put(root, "etc/os-release",
	    "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
	    "NAME=\"Debian GNU/Linux\"\n"
	    "VERSION_ID=\"12\"\n"
	    "VERSION=\"12 (bookworm)\"\n"
	    "VERSION_CODENAME=bookworm\n"
	    "ID=debian\n"
	    "# a comment\n"
	    "HOME_URL='https://www.debian.org/'\n");
	put_elf(root, "usr/bin/dash");
	link_to(root, "bin/sh", "/usr/bin/dash");
	put(root, "boot/vmlinuz-6.1.0-18-amd64", "kernel");
	put(root, "boot/initrd.img-6.1.0-18-amd64", "initrd");
	make_dir(root, "lib/modules/6.1.0-18-amd64/kernel");
	make_dir(root, "usr/lib/modules/6.1.0-17-amd64");
	put(root, "etc/hostname", "# set by the installer\ntesthost\n");
	put(root, "etc/timezone", "Europe/Paris\n");
	put(root, "usr/share/zoneinfo/Europe/Paris", "TZif2");
	link_to(root, "etc/localtime", "/usr/share/zoneinfo/Europe/Paris");
	put(root, "etc/default/locale",
	    "LANG=en_US.UTF-8\nLC_MESSAGES=\"a\001b\"\n");
	put_len(root, "etc/locale.conf", "LANG=C\0\xff\n", 9);
	put(root, "etc/default/keyboard",
	    "XKBMODEL=\"pc105\"\nXKBLAYOUT=\"de\"\n"
	    "XKBVARIANT=\"nodeadkeys\" # comment\nBACKSPACE=\"guess\"\n");
	put(root, "etc/vconsole.conf", "KEYMAP=de-latin1\n");
	put(root, "etc/default/grub",
	    "GRUB_DEFAULT=0\n"
	    "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet splash\"\n"
	    "GRUB_CMDLINE_LINUX=\"console=ttyS0,115200 net.ifnames=0\"\n");
	put(root, "boot/grub/grub.cfg",
	    "menuentry 'Debian' {\n"
	    "\tlinux\t/boot/vmlinuz-6.1.0-18-amd64 root=UUID=1234-abcd ro "
	    "quiet\n"
	    "\tinitrd\t/boot/initrd.img-6.1.0-18-amd64\n}\n"
	    "submenu 'Advanced' {\n"
	    "menuentry 'Debian' {\n"
	    "\tlinux\t/boot/vmlinuz-6.1.0-18-amd64 root=UUID=1234-abcd ro "
	    "quiet\n}\n"
	    "menuentry 'Debian (recovery)' {\n"
	    "\tlinux\t/boot/vmlinuz-6.1.0-18-amd64 root=UUID=1234-abcd ro "
	    "single\n}\n}\n");
	put(root, "etc/kernel/cmdline", "root=UUID=1234-abcd ro\n");
	make_dir(root, "boot/efi/EFI/debian");

	put(root, "etc/passwd",
	    "root:x:0:0:root:/root:/bin/bash\n"
	    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
	    "alice:x:1000:1000:Alice \xe9,,,:/home/alice:/bin/bash\n"
	    "dup:x:1000:1000::/home/dup:/bin/sh\n"
	    "this line is broken\n"
	    "+nisuser\n"
	    "nopw:x:1001:1001::/home/nopw:/bin/sh\n"
	    "old:$1$salt$OLDHASHINPASSWD:1002:100::/home/old:/bin/sh\n");
	put(root, "etc/shadow",
	    "root:$6$abc$ROOTSECRETHASH:19000:0:99999:7:::\n"
	    "daemon:*:19000:0:99999:7:::\n"
	    "alice:$y$j9T$ALICESECRETHASH:19000:0:99999:7:::\n"
	    "nopw:!:19000:0:99999:7:::\n");
	put(root, "etc/group",
	    "root:x:0:\nsudo:x:27:alice, bob\nusers:x:100:\nbad\n");

	put(root, "etc/fstab",
	    "# /etc/fstab\n"
	    "UUID=1234-abcd / ext4 errors=remount-ro 0 1\n"
	    "LABEL=DATA /srv/my\\040data xfs defaults 0 2\n"
	    "PARTUUID=deadbeef-01 /boot/efi vfat umask=0077 0 1\n"
	    "server:/export /mnt/nfs nfs rw,hard 0 0\n"
	    "/dev/sda3 none swap sw 0 0\n"
	    "tmpfs /tmp tmpfs defaults 0 0\n"
	    "broken\n");

	put(root, "etc/network/interfaces",
	    "# interfaces(5)\n"
	    "source-directory interfaces.d\n"
	    "source /etc/network/extra/*.cfg\n"
	    "auto lo\n"
	    "iface lo inet loopback\n"
	    "\n"
	    "auto eth0\n"
	    "iface eth0 inet static\n"
	    "    address 192.0.2.10\n"
	    "    netmask 255.255.255.0\n"
	    "    gateway 192.0.2.1\n"
	    "    dns-nameservers 192.0.2.53 \\\n"
	    "        192.0.2.54\n"
	    "    dns-search example.com\n"
	    "    hwaddress ether 52:54:00:12:34:56\n"
	    "iface eth0 inet6 auto\n");
	put(root, "etc/network/interfaces.d/eth1",
	    "allow-hotplug eth1\niface eth1 inet dhcp\n");
	put(root, "etc/network/interfaces.d/skip.bak",
	    "iface bogus inet dhcp\n");
	put(root, "etc/network/extra/br.cfg",
	    "iface br0 inet manual\n    bridge_ports eth2 eth3\n");
	put(root, "etc/NetworkManager/system-connections/office.nmconnection",
	    "[connection]\n"
	    "id=Office LAN\n"
	    "type=ethernet\n"
	    "interface-name=enp1s0\n"
	    "autoconnect=false\n"
	    "\n"
	    "[ethernet]\n"
	    "mac-address=AA:BB:CC:DD:EE:FF\n"
	    "\n"
	    "[ipv4]\n"
	    "method=manual\n"
	    "address1=10.0.0.5/24,10.0.0.1\n"
	    "dns=10.0.0.53;10.0.0.54;\n"
	    "dns-search=corp.example;\n"
	    "\n"
	    "[ipv6]\n"
	    "method=auto\n");
	put(root, "etc/netplan/50-cloud-init.yaml",
	    "network:\n"
	    "  version: 2\n"
	    "  ethernets:\n"
	    "    ens3:\n"
	    "      match:\n"
	    "        macaddress: \"fa:16:3e:00:00:01\"\n"
	    "      dhcp4: true\n"
	    "      addresses:\n"
	    "        - 198.51.100.7/24\n"
	    "        - \"2001:db8::7/64\"\n"
	    "      routes:\n"
	    "        - to: default\n"
	    "          via: 198.51.100.1\n"
	    "        - to: 10.9.0.0/16\n"
	    "          via: 198.51.100.9\n"
	    "      nameservers:\n"
	    "        addresses: [198.51.100.53]\n"
	    "        search: [cloud.example]\n"
	    "  bonds:\n"
	    "    bond0:\n"
	    "      interfaces: [ens4, ens5]\n"
	    "      dhcp4: no\n"
	    "  vlans:\n"
	    "    vlan10:\n"
	    "      id: 10\n"
	    "      link: ens3\n");
	put(root, "etc/netplan/99-broken.yaml", "network: [unclosed\n");
	put(root, "etc/systemd/network/10-wan.network",
	    "[Match]\n"
	    "Name=enp2s0\n"
	    "\n"
	    "[Network]\n"
	    "DHCP=ipv6\n"
	    "Address=203.0.113.9/28\n"
	    "DNS=203.0.113.53 203.0.113.54\n"
	    "Domains=wan.example\n"
	    "\n"
	    "[Address]\n"
	    "Address=203.0.113.10/28\n"
	    "\n"
	    "[Route]\n"
	    "Destination=10.0.0.0/8\n"
	    "Gateway=203.0.113.2\n"
	    "\n"
	    "[Route]\n"
	    "Gateway=203.0.113.1\n");
	put(root, "etc/sysconfig/network-scripts/ifcfg-eth9",
	    "DEVICE=eth9\nBOOTPROTO=none\nIPADDR=172.16.0.9\nPREFIX=16\n"
	    "GATEWAY=172.16.0.1\nDNS1=172.16.0.53\nONBOOT=yes\n");
	put(root, "etc/resolv.conf",
	    "# plain file\nnameserver 192.0.2.53\nsearch example.com\n");

	link_to(root, "etc/systemd/system/default.target",
		"/lib/systemd/system/graphical.target");
	link_to(root, "etc/systemd/system/multi-user.target.wants/ssh.service",
		"/lib/systemd/system/ssh.service");
	link_to(root,
		"etc/systemd/system/getty.target.wants/getty@tty1.service",
		"/lib/systemd/system/getty@.service");
	link_to(root,
		"etc/systemd/system/sysinit.target.requires/"
		"systemd-remount-fs.service",
		"/lib/systemd/system/systemd-remount-fs.service");
	link_to(root, "etc/systemd/system/bluetooth.service", "/dev/null");
	link_to(root,
		"etc/systemd/system/dbus-org.freedesktop.timesync1.service",
		"/lib/systemd/system/systemd-timesyncd.service");
	put(root, "etc/systemd/system/local.service", "[Unit]\n");
	link_to(root, "etc/rc2.d/S01ssh", "../init.d/ssh");
	link_to(root, "etc/rc2.d/K01foo", "../init.d/foo");
	put(root, "etc/rc2.d/README", "not a link\n");
	link_to(root, "etc/rc3.d/S02cron", "../init.d/cron");

	/* bigger than any configuration file may be */
	memset(big, 'x', sizeof(big));
	{
		struct rf_buf b = RF_BUF_INIT;

		for (int i = 0; i < 300; i++)
			rf_buf_add(&b, big, sizeof(big));
		put_len(root, "etc/sysconfig/i18n", b.data, b.len);
		rf_buf_free(&b);
	}
}

static void test_fixture_system(void)
{
	static const struct expect expect[] = {
		{"/r:report/r:system/r:os/@id", "debian"},
		{"//r:os/@version-id", "12"},
		{"//r:os/@version-codename", "bookworm"},
		{"//r:os/@pretty-name", "Debian GNU/Linux 12 (bookworm)"},
		{"//r:os/@file", "/etc/os-release"},
		/* from the root's shell, not from the machine running the test
		 */
		{"//r:arch/@machine", "aarch64"},
		{"//r:arch/@dpkg", "arm64"},
		{"//r:arch/@bits", "64"},
		{"count(//r:arch/@kernel-machine)", "0"},
		{"count(//r:kernel)", "2"},
		{"//r:kernel[@version='6.1.0-18-amd64']/@image",
		 "/boot/vmlinuz-6.1.0-18-amd64"},
		{"//r:kernel[@version='6.1.0-18-amd64']/@initrd",
		 "/boot/initrd.img-6.1.0-18-amd64"},
		{"//r:kernel[@version='6.1.0-17-amd64']/@modules",
		 "/usr/lib/modules/6.1.0-17-amd64"},
		{"count(//r:kernel[@running])", "0"},
		{"//r:hostname/@name", "testhost"},
		{"//r:timezone[@file='/etc/timezone']/@name", "Europe/Paris"},
		{"//r:timezone[@file='/etc/localtime']/@name", "Europe/Paris"},
		{"//r:locale/r:variable[@name='LANG']/@value", "en_US.UTF-8"},
		/* a control character: the value goes out as base64 ("a\1b") */
		{"//r:locale/r:variable[@name='LC_MESSAGES']/@value-base64",
		 "YQFi"},
		{"//r:keyboard/r:variable[@name='XKBVARIANT']/@value",
		 "nodeadkeys"},
		{"//r:keyboard/r:variable[@name='KEYMAP']/@file",
		 "/etc/vconsole.conf"},
		{"//r:cmdline[@variable='GRUB_CMDLINE_LINUX']/@value",
		 "console=ttyS0,115200 net.ifnames=0"},
		{"//r:cmdline[@variable='GRUB_CMDLINE_LINUX_DEFAULT']/@value",
		 "quiet splash"},
		{"count(//r:cmdline[@file='/boot/grub/grub.cfg'])", "2"},
		{"//r:cmdline[@file='/boot/grub/grub.cfg'][1]/@kernel",
		 "/boot/vmlinuz-6.1.0-18-amd64"},
		{"//r:cmdline[@file='/etc/kernel/cmdline']/@value",
		 "root=UUID=1234-abcd ro"},
		{"//r:boot/@firmware", "efi"},
	};
	char *root = new_root();
	struct rf_buf warn = RF_BUF_INIT;
	xmlDocPtr doc;

	build_fixture(root);
	doc = scan(root, false, &warn);
	CU_ASSERT_TRUE(validates(doc));
	check_all(doc, expect, sizeof(expect) / sizeof(*expect));
	/* binary garbage and a huge file: warned about, skipped */
	CU_ASSERT_PTR_NOT_NULL(strstr(warn.data, "/etc/locale.conf: skipped"));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(warn.data, "/etc/sysconfig/i18n: skipped"));
	xmlFreeDoc(doc);
	rf_buf_free(&warn);
	remove_root(root);
}

static void test_fixture_accounts(void)
{
	static const struct expect expect[] = {
		{"count(//r:accounts/r:user)", "6"},
		{"//r:user[@name='root']/@password", "true"},
		{"//r:user[@name='daemon']/@password", "false"},
		{"//r:user[@name='nopw']/@password", "false"},
		{"//r:user[@name='old']/@password", "true"},
		{"//r:user[@name='dup']/@password", ""},
		{"//r:user[@name='alice']/@uid", "1000"},
		{"//r:user[@name='alice']/@shell", "/bin/bash"},
		/* Latin-1 in the GECOS field is not UTF-8: base64 of the bytes
		 */
		{"//r:user[@name='alice']/@gecos-base64", "QWxpY2Ug6SwsLA=="},
		{"count(//r:group)", "3"},
		{"count(//r:group[@name='sudo']/r:member)", "2"},
		{"//r:group[@name='sudo']/r:member[2]/@name", "bob"},
	};
	char *root = new_root();
	struct rf_buf warn = RF_BUF_INIT;
	xmlDocPtr doc;

	build_fixture(root);
	doc = scan(root, false, &warn);
	CU_ASSERT_TRUE(validates(doc));
	check_all(doc, expect, sizeof(expect) / sizeof(*expect));
	CU_ASSERT_FALSE(doc_contains(doc, "SECRETHASH"));
	CU_ASSERT_FALSE(doc_contains(doc, "OLDHASH"));
	CU_ASSERT_PTR_NOT_NULL(strstr(warn.data, "/etc/passwd:5: malformed"));
	CU_ASSERT_PTR_NOT_NULL(strstr(warn.data, "/etc/group:4: malformed"));
	xmlFreeDoc(doc);
	rf_buf_free(&warn);
	remove_root(root);
}

static void test_fixture_storage(void)
{
	static const struct expect expect[] = {
		{"count(//r:storage/r:filesystem)", "5"},
		{"//r:filesystem[@mountpoint='/']/@uuid", "1234-abcd"},
		{"//r:filesystem[@mountpoint='/']/@spec", "UUID=1234-abcd"},
		{"//r:filesystem[@mountpoint='/']/@kind", "disk"},
		{"//r:filesystem[@mountpoint='/']/@options",
		 "errors=remount-ro"},
		{"//r:filesystem[@mountpoint='/']/@pass", "1"},
		{"//r:filesystem[@mountpoint='/srv/my data']/@label", "DATA"},
		{"//r:filesystem[@mountpoint='/boot/efi']/@partuuid",
		 "deadbeef-01"},
		{"//r:filesystem[@type='nfs']/@kind", "network"},
		{"//r:filesystem[@type='tmpfs']/@kind", "pseudo"},
		{"count(//r:filesystem[@mounted])", "0"},
		{"//r:swap/@device", "/dev/sda3"},
		{"//r:swap/@source", "fstab"},
		{"count(//r:disk)", "0"},
	};
	char *root = new_root();
	struct rf_buf warn = RF_BUF_INIT;
	xmlDocPtr doc;

	build_fixture(root);
	doc = scan(root, false, &warn);
	CU_ASSERT_TRUE(validates(doc));
	check_all(doc, expect, sizeof(expect) / sizeof(*expect));
	CU_ASSERT_PTR_NOT_NULL(strstr(warn.data, "/etc/fstab:8: fewer than"));
	xmlFreeDoc(doc);
	rf_buf_free(&warn);
	remove_root(root);
}

static void test_fixture_network(void)
{
	static const struct expect expect[] = {
		/* ifupdown, with its sourced files */
		{"count(//r:interface[@config='ifupdown'])", "4"},
		{"//r:interface[@name='lo']/r:ipv4/@method", "loopback"},
		{"//r:interface[@name='eth0']/@auto", "true"},
		{"//r:interface[@name='eth0']/@mac", "52:54:00:12:34:56"},
		{"//r:interface[@name='eth0']/r:ipv4/@method", "static"},
		{"//r:interface[@name='eth0']/r:ipv4/r:address/@ip",
		 "192.0.2.10"},
		{"//r:interface[@name='eth0']/r:ipv4/r:address/@prefix", "24"},
		{"//r:interface[@name='eth0']/r:ipv4/r:gateway/@address",
		 "192.0.2.1"},
		{"//r:interface[@name='eth0']/r:ipv6/@method", "auto"},
		{"count(//r:interface[@name='eth0']/r:nameserver)", "2"},
		{"//r:interface[@name='eth0']/r:search/@domain", "example.com"},
		{"//r:interface[@name='eth1']/@file",
		 "/etc/network/interfaces.d/eth1"},
		{"//r:interface[@name='eth1']/@hotplug", "true"},
		{"//r:interface[@name='eth1']/r:ipv4/@method", "dhcp"},
		{"count(//r:interface[@name='bogus'])", "0"},
		{"//r:interface[@name='br0']/@kind", "bridge"},
		{"count(//r:interface[@name='br0']/r:member)", "2"},
		/* NetworkManager */
		{"//r:interface[@config='networkmanager']/@name", "enp1s0"},
		{"//r:interface[@config='networkmanager']/@connection",
		 "Office LAN"},
		{"//r:interface[@config='networkmanager']/@auto", "false"},
		{"//r:interface[@config='networkmanager']/@mac",
		 "AA:BB:CC:DD:EE:FF"},
		{"//r:interface[@config='networkmanager']/r:ipv4/r:gateway/"
		 "@address",
		 "10.0.0.1"},
		{"//r:interface[@config='networkmanager']/r:ipv4/@method",
		 "static"},
		{"count(//r:interface[@config='networkmanager']/r:nameserver)",
		 "2"},
		/* netplan */
		{"//r:interface[@name='ens3']/@mac", "fa:16:3e:00:00:01"},
		{"//r:interface[@name='ens3']/r:ipv4/@method", "dhcp"},
		{"//r:interface[@name='ens3']/r:ipv4/r:gateway/@address",
		 "198.51.100.1"},
		{"//r:interface[@name='ens3']/r:ipv6/r:address/@prefix", "64"},
		{"//r:interface[@name='ens3']/r:search/@domain",
		 "cloud.example"},
		{"count(//r:interface[@name='bond0']/r:member)", "2"},
		{"count(//r:interface[@name='bond0']/r:ipv4)", "0"},
		{"//r:interface[@name='vlan10']/@vlan-id", "10"},
		{"//r:interface[@name='vlan10']/@vlan-link", "ens3"},
		/* systemd-networkd */
		{"//r:interface[@config='networkd']/@name", "enp2s0"},
		{"count(//r:interface[@config='networkd']/r:ipv4/r:address)",
		 "2"},
		{"//r:interface[@config='networkd']/r:ipv4/r:gateway/@address",
		 "203.0.113.1"},
		{"//r:interface[@config='networkd']/r:ipv4/@method", "static"},
		{"//r:interface[@config='networkd']/r:ipv6/@method", "dhcp"},
		/* Red Hat ifcfg */
		{"//r:interface[@config='ifcfg']/@name", "eth9"},
		{"//r:interface[@config='ifcfg']/r:ipv4/r:address/@prefix",
		 "16"},
		{"//r:interface[@config='ifcfg']/@auto", "true"},
		/* resolv.conf */
		{"//r:resolver/r:nameserver/@address", "192.0.2.53"},
	};
	char *root = new_root();
	struct rf_buf warn = RF_BUF_INIT;
	xmlDocPtr doc;

	build_fixture(root);
	doc = scan(root, false, &warn);
	CU_ASSERT_TRUE(validates(doc));
	check_all(doc, expect, sizeof(expect) / sizeof(*expect));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(warn.data, "/etc/netplan/99-broken.yaml:"));
	xmlFreeDoc(doc);
	rf_buf_free(&warn);
	remove_root(root);
}

static void test_fixture_services(void)
{
	static const struct expect expect[] = {
		{"//r:default-target/@unit", "graphical.target"},
		{"//r:unit[@name='ssh.service']/@target", "multi-user.target"},
		{"//r:unit[@name='ssh.service']/@state", "enabled"},
		{"//r:unit[@name='ssh.service']/@relation", "wants"},
		{"//r:unit[@name='getty@tty1.service']/@link",
		 "/lib/systemd/system/getty@.service"},
		{"//r:unit[@name='systemd-remount-fs.service']/@relation",
		 "requires"},
		{"//r:unit[@name='bluetooth.service']/@state", "masked"},
		{"//r:unit[@name='dbus-org.freedesktop.timesync1.service']/"
		 "@state",
		 "alias"},
		{"count(//r:unit[@name='default.target'])", "0"},
		{"count(//r:unit[@name='local.service'])", "0"},
		{"count(//r:sysv)", "2"},
		{"//r:sysv[@name='ssh']/@runlevel", "2"},
		{"//r:sysv[@name='ssh']/@order", "01"},
		{"//r:sysv[@name='cron']/@runlevel", "3"},
	};
	char *root = new_root();
	struct rf_buf warn = RF_BUF_INIT;
	xmlDocPtr doc;

	build_fixture(root);
	doc = scan(root, false, &warn);
	CU_ASSERT_TRUE(validates(doc));
	check_all(doc, expect, sizeof(expect) / sizeof(*expect));
	xmlFreeDoc(doc);
	rf_buf_free(&warn);
	remove_root(root);
}

/*
 * Symlinks that would leave the root if followed on the host: each must
 * resolve inside the root, as on the booted system.
 */
static void test_hostile_links(void)
{
	static const struct expect expect[] = {
		{"//r:hostname/@name", "inside-root"},
		{"//r:timezone/@name", "Inside/Zone"},
		{"count(//r:os)", "0"},
		/* ../../etc/passwd stays in the root, which has none */
		{"count(//r:user)", "0"},
		{"count(//r:group)", "0"},
		/* /dev/zero of the root, which has none: never the host's */
		{"count(//r:filesystem)", "0"},
	};
	char *root = new_root();
	struct rf_buf warn = RF_BUF_INIT;
	xmlDocPtr doc;

	put(root, "etc/shadow", "inside-root\n");
	link_to(root, "etc/hostname", "/etc/shadow");
	put(root, "etc/timezone.real", "Inside/Zone\n");
	link_to(root, "etc/timezone", "../../../../../../etc/timezone.real");
	link_to(root, "etc/os-release", "/proc/self/root/etc/os-release");
	link_to(root, "etc/passwd", "../../../../etc/passwd");
	link_to(root, "etc/fstab", "/dev/zero");
	{
		struct rf_buf p = RF_BUF_INIT;

		rf_buf_printf(&p, "%s/etc/group", root);
		CU_ASSERT_EQUAL(mkfifo(p.data, 0644), 0);
		rf_buf_free(&p);
	}
	doc = scan(root, false, &warn);
	CU_ASSERT_TRUE(validates(doc));
	check_all(doc, expect, sizeof(expect) / sizeof(*expect));
	CU_ASSERT_PTR_NOT_NULL(strstr(warn.data, "/etc/group: skipped"));
	xmlFreeDoc(doc);
	rf_buf_free(&warn);
	remove_root(root);
}

/* A fake running system: proc, sys and dev files inside a fixture root. */
static void test_live_fixture(void)
{
	static const struct expect expect[] = {
		{"//r:filesystem[@mountpoint='/']/@source", "live"},
		{"//r:filesystem[@mountpoint='/']/@spec", "UUID=1234"},
		{"//r:filesystem[@mountpoint='/']/@device", "/dev/sda1"},
		{"//r:filesystem[@mountpoint='/']/@disk", "sda"},
		{"//r:filesystem[@mountpoint='/']/@devname", "sda1"},
		{"count(//r:filesystem[@mountpoint='/']/@size)", "1"},
		{"//r:filesystem[@mountpoint='/proc']/@kind", "pseudo"},
		{"//r:filesystem[@mountpoint='/mnt/share']/@kind", "network"},
		{"count(//r:filesystem[@mountpoint='/mnt/share']/@size)", "0"},
		{"//r:filesystem[@mountpoint='/mnt/my bind']/@bind-root",
		 "/srv/data"},
		{"//r:filesystem[@mountpoint='/data']/@mounted", "false"},
		{"//r:swap[@source='live']/@size", "1073737728"},
		{"//r:swap[@source='live']/@type", "partition"},
		{"count(//r:swap[@source='fstab'])", "1"},
		{"//r:disk/@name", "sda"},
		{"//r:disk/@size", "1073741824"},
		/* dev/sda is a plain file here: never read as a disk */
		{"count(//r:disk/@table)", "0"},
		{"//r:cmdline[@file='/proc/cmdline']/@value",
		 "BOOT_IMAGE=/vmlinuz root=UUID=1234 ro"},
		{"//r:boot/@firmware", "efi"},
		{"count(//r:kernel[@running='true'])", "1"},
	};
	char *root = new_root();
	struct rf_buf warn = RF_BUF_INIT;
	xmlDocPtr doc;

	put(root, "proc/self/mountinfo",
	    "27 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
	    "28 27 0:21 / /proc rw,nosuid - proc proc rw\n"
	    "29 27 0:50 / /mnt/share rw master:1 - nfs4 srv:/x rw\n"
	    "30 27 8:1 /srv/data /mnt/my\\040bind rw - ext4 /dev/sda1 rw\n"
	    "garbage line\n");
	put(root, "proc/swaps",
	    "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
	    "/dev/sda2                               partition\t1048572\t\t0"
	    "\t\t-2\n");
	put(root, "proc/cmdline", "BOOT_IMAGE=/vmlinuz root=UUID=1234 ro\n");
	put(root, "etc/fstab",
	    "UUID=1234 / ext4 defaults 0 1\n"
	    "/dev/sdb1 /data ext4 noauto 0 0\n"
	    "/dev/sda2 none swap sw 0 0\n");
	put(root, "sys/devices/virtual/block/sda/sda1/partition", "1\n");
	put(root, "sys/devices/virtual/block/sda/size", "2097152\n");
	link_to(root, "sys/dev/block/8:1",
		"../../devices/virtual/block/sda/sda1");
	link_to(root, "sys/class/block/sda", "../../devices/virtual/block/sda");
	make_dir(root, "sys/firmware/efi");
	put(root, "dev/sda", "not a block device");
	doc = scan(root, true, &warn);
	CU_ASSERT_TRUE(validates(doc));
	check_all(doc, expect, sizeof(expect) / sizeof(*expect));
	CU_ASSERT_PTR_NOT_NULL(
		strstr(warn.data, "/proc/self/mountinfo: malformed"));
	xmlFreeDoc(doc);
	rf_buf_free(&warn);
	remove_root(root);
}

/* The machine running the tests, as reforge-scan would see it. */
static void test_live_host(void)
{
	struct rf_buf warn = RF_BUF_INIT;
	xmlDocPtr doc = scan("/", true, &warn);

	CU_ASSERT_TRUE(validates(doc));
	CU_ASSERT_EQUAL(xp_count(doc, "//r:arch/@kernel-machine"), 1);
	CU_ASSERT_EQUAL(xp_count(doc, "//r:kernel[@running='true']"), 1);
	CU_ASSERT(xp_count(doc, "//r:filesystem[@source='live']") >= 1);
	CU_ASSERT(xp_count(doc, "//r:user") >= 1);
	CU_ASSERT_FALSE(doc_contains(doc, "$6$"));
	CU_ASSERT_FALSE(doc_contains(doc, "$y$"));
	if (warn.len > 0)
		printf("\n  live scan warnings:\n%s", warn.data);
	xmlFreeDoc(doc);
	rf_buf_free(&warn);
}

/*
 * An empty root: every section present, nothing in them, no warnings, and
 * an empty id table.
 */
static void test_empty_root(void)
{
	char *root = new_root();
	struct rf_buf warn = RF_BUF_INIT;
	xmlDocPtr doc = scan(root, false, &warn);
	struct scan_sysctx ctx = {0};
	struct scan_accounts *a;

	CU_ASSERT_TRUE(validates(doc));
	CU_ASSERT_EQUAL(xp_count(doc, "/r:report/*"), 5);
	CU_ASSERT_TRUE(xp_is(doc, "//r:boot/@firmware", "unknown"));
	CU_ASSERT_EQUAL(warn.len, 0);
	ctx.rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ctx.root = root;
	a = scan_accounts_load(&ctx);
	CU_ASSERT_PTR_NOT_NULL(a);
	CU_ASSERT_PTR_NULL(scan_accounts_user(a, 0));
	CU_ASSERT_PTR_NULL(scan_accounts_group(a, 0));
	scan_accounts_free(a);
	close(ctx.rootfd);
	xmlFreeDoc(doc);
	rf_buf_free(&warn);
	remove_root(root);
}

static void test_accounts_lookup(void)
{
	char *root = new_root();
	struct rf_buf pw = RF_BUF_INIT, gr = RF_BUF_INIT;
	struct scan_sysctx ctx = {0};
	struct scan_accounts *a;
	int ok = 1;

	/* many ids, in no order, with one duplicate (the first wins) */
	rf_buf_addstr(&pw, "first:x:500:500::/:/bin/sh\n");
	for (int i = 0; i < 20000; i++) {
		unsigned id = (unsigned)(i * 7919) % 20000 + 1000;

		rf_buf_printf(&pw, "u%u:x:%u:%u::/home/u%u:/bin/sh\n", id, id,
			      id, id);
		rf_buf_printf(&gr, "g%u:x:%u:\n", id, id);
	}
	rf_buf_addstr(&pw, "second:x:500:500::/:/bin/sh\n");
	rf_buf_addstr(&pw, "max:x:4294967294:0::/:/bin/sh\n");
	rf_buf_addstr(&pw, "minus:x:4294967295:0::/:/bin/sh\n");
	put(root, "etc/passwd", pw.data);
	put(root, "etc/group", gr.data);
	ctx.rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	CU_ASSERT_FATAL(ctx.rootfd >= 0);
	ctx.root = root;
	a = scan_accounts_load(&ctx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	for (unsigned id = 1000; id < 21000; id++) {
		char want[32];
		const char *u = scan_accounts_user(a, id);
		const char *g = scan_accounts_group(a, id);

		snprintf(want, sizeof(want), "u%u", id);
		ok &= u != NULL && strcmp(u, want) == 0;
		snprintf(want, sizeof(want), "g%u", id);
		ok &= g != NULL && strcmp(g, want) == 0;
	}
	CU_ASSERT_TRUE(ok);
	CU_ASSERT_STRING_EQUAL(scan_accounts_user(a, 500), "first");
	CU_ASSERT_STRING_EQUAL(scan_accounts_user(a, 4294967294u), "max");
	CU_ASSERT_PTR_NULL(scan_accounts_user(a, (uid_t)-1));
	CU_ASSERT_PTR_NULL(scan_accounts_user(a, 999));
	CU_ASSERT_PTR_NULL(scan_accounts_group(a, 500));
	scan_accounts_free(a);
	scan_accounts_free(NULL);
	close(ctx.rootfd);
	rf_buf_free(&pw);
	rf_buf_free(&gr);
	remove_root(root);
}

static CU_TestInfo tests[] = {
	{"system section of a fixture root", test_fixture_system},
	{"accounts section of a fixture root", test_fixture_accounts},
	{"storage section of a fixture root", test_fixture_storage},
	{"network section of a fixture root", test_fixture_network},
	{"services section of a fixture root", test_fixture_services},
	{"hostile symlinks resolve inside the root", test_hostile_links},
	{"live sources inside a fixture root", test_live_fixture},
	{"live scan of this machine", test_live_host},
	{"empty root", test_empty_root},
	{"id to name lookup", test_accounts_lookup},
	CU_TEST_INFO_NULL,
};

RF_CUNIT_MAIN("system")
