/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of server/repo*: version keys, locations, the metadata
 * parsers (deb Packages/Release/InRelease, repomd/primary, pacman desc),
 * the source host's configuration parsers, and the index on SQLite (a
 * refresh that fails keeps the previous index). Real repositories made by
 * the ecosystems' tools are in tests/system/repo-*.sh.
 */
#include "config.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cunit_main.h"
#include "digest.h"
#include "server/repo_private.h"

static const char *nz(const char *s)
{
	return s ? s : "(null)";
}

#define ASSERT_STR(a, b) CU_ASSERT_STRING_EQUAL(nz(a), b)

static void test_evr(void)
{
	char out[64];

	CU_ASSERT_EQUAL(srv_repo_evr(NULL, "2.3-4", NULL, out, sizeof(out)), 0);
	ASSERT_STR(out, "0:2.3-4");
	srv_repo_evr(NULL, "1:2.3-4", NULL, out, sizeof(out));
	ASSERT_STR(out, "1:2.3-4");
	srv_repo_evr("1", "2.3", "4", out, sizeof(out));
	ASSERT_STR(out, "1:2.3-4");
	srv_repo_evr("", "2.3", "", out, sizeof(out));
	ASSERT_STR(out, "0:2.3");
	srv_repo_evr("00", "1", "1", out, sizeof(out));
	ASSERT_STR(out, "0:1-1");
	/* a colon that is not an epoch stays in the version */
	srv_repo_evr(NULL, "a:1", NULL, out, sizeof(out));
	ASSERT_STR(out, "0:a:1");
	CU_ASSERT_EQUAL(srv_repo_evr(NULL, "1234567890", NULL, out, 8),
			-ENAMETOOLONG);
}

static void test_location(void)
{
	CU_ASSERT_TRUE(srv_repo_location_ok("pool/main/h/hello_1.deb"));
	CU_ASSERT_TRUE(srv_repo_location_ok("x.rpm"));
	CU_ASSERT_FALSE(srv_repo_location_ok("../x.deb"));
	CU_ASSERT_FALSE(srv_repo_location_ok("pool/../../x"));
	CU_ASSERT_FALSE(srv_repo_location_ok("/etc/passwd"));
	CU_ASSERT_FALSE(srv_repo_location_ok("a//b"));
	CU_ASSERT_FALSE(srv_repo_location_ok("a/."));
	CU_ASSERT_FALSE(srv_repo_location_ok("a\nb"));
	CU_ASSERT_FALSE(srv_repo_location_ok("a?b"));
	CU_ASSERT_FALSE(srv_repo_location_ok(""));
}

/* Collects what a parser emits, as "name evr arch algo sum loc size". */
struct seen {
	struct rf_buf out;
	int n;
};

static int collect(void *arg, const struct srv_repo_pkg *p,
		   struct rf_error *err)
{
	struct seen *s = arg;
	char evr[256];

	srv_repo_evr(p->epoch, p->version, p->release, evr, sizeof(evr));
	rf_buf_printf(&s->out, "%s %s %s %s %s %s %lld\n", p->name, evr,
		      p->arch, p->algo, p->checksum, p->location,
		      (long long)p->size);
	s->n++;
	return 0;
}

static const char packages[] =
	"Package: hello\n"
	"Version: 1:2.0-1\n"
	"Architecture: amd64\n"
	"Description: a\n"
	" multi-line description\n"
	" .\n"
	"Filename: ./pool/hello_2.0-1_amd64.deb\n"
	"Size: 1234\n"
	"MD5sum: 00112233445566778899aabbccddeeff\n"
	"SHA256: "
	"0011223344556677889900112233445566778899001122334455667788990011\n"
	"\n\n"
	"Package: world\n"
	"Version: 3\n"
	"Architecture: all\n"
	"Filename: pool/world_3_all.deb\n"
	"MD5sum: 00112233445566778899aabbccddeeff\n";

static void test_deb_packages(void)
{
	struct seen s = {RF_BUF_INIT, 0};
	struct rf_error err = {0};

	CU_ASSERT_EQUAL(srv_repo_deb_parse_packages(packages, strlen(packages),
						    collect, &s, &err),
			0);
	CU_ASSERT_EQUAL(s.n, 2);
	ASSERT_STR(s.out.data,
		   "hello 1:2.0-1 amd64 sha256 "
		   "00112233445566778899001122334455667788990011223344556677889"
		   "90011"
		   " pool/hello_2.0-1_amd64.deb 1234\n"
		   "world 0:3 all md5 00112233445566778899aabbccddeeff "
		   "pool/world_3_all.deb -1\n");
	rf_buf_free(&s.out);
}

static void test_deb_packages_bad(void)
{
	static const char *const bad[] = {
		"Package: x\nVersion: 1\nArchitecture: all\nMD5sum: 00\n",
		"Package: x\nVersion: 1\nArchitecture: all\n"
		"Filename: ../../etc/x\nMD5sum: 00\n",
		"Package: x\nVersion: 1\nArchitecture: all\n"
		"Filename: x.deb\n",
		"Package: x\nVersion 1\n",
		" continuation first\n",
		"Package: x\nVersion: 1\nArchitecture: all\n"
		"Filename: x.deb\nMD5sum: 00\nSize: -3\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct seen s = {RF_BUF_INIT, 0};
		struct rf_error err = {0};

		CU_ASSERT_EQUAL(srv_repo_deb_parse_packages(bad[i],
							    strlen(bad[i]),
							    collect, &s, &err),
				-EBADMSG);
		CU_ASSERT_EQUAL(s.n, 0);
		CU_ASSERT(err.msg[0] != '\0');
		rf_buf_free(&s.out);
	}
}

static const char release[] =
	"Suite: test\n"
	"MD5Sum:\n"
	" 00112233445566778899aabbccddeeff 10 main/binary-amd64/Packages\n"
	"SHA256:\n"
	" aa00000000000000000000000000000000000000000000000000000000000000"
	" 10 main/binary-amd64/Packages\n"
	" bb00000000000000000000000000000000000000000000000000000000000000"
	" 7 main/binary-amd64/Packages.xz\n";

static void test_deb_release(void)
{
	struct srv_deb_release_entry e;
	struct rf_error err = {0};

	CU_ASSERT_EQUAL(srv_repo_deb_release_lookup(
				release, strlen(release),
				"main/binary-amd64/Packages.xz", &e, &err),
			0);
	ASSERT_STR(e.algo, "sha256");
	CU_ASSERT_EQUAL(e.size, 7);
	CU_ASSERT_EQUAL(e.hex[0], 'b');
	/* listed in MD5Sum only: not trusted */
	{
		static const char md5only[] = "MD5Sum:\n 00 1 x/Packages\n";

		CU_ASSERT_EQUAL(
			srv_repo_deb_release_lookup(md5only, strlen(md5only),
						    "x/Packages", &e, &err),
			-ENOENT);
	}
	CU_ASSERT_EQUAL(srv_repo_deb_release_lookup(
				release, strlen(release),
				"contrib/binary-amd64/Packages", &e, &err),
			-ENOENT);
}

static void test_deb_clearsigned(void)
{
	static const char in[] = "-----BEGIN PGP SIGNED MESSAGE-----\n"
				 "Hash: SHA512\n"
				 "\n"
				 "Suite: test\n"
				 "- -dash escaped\n"
				 "-----BEGIN PGP SIGNATURE-----\n"
				 "\n"
				 "abc\n"
				 "-----END PGP SIGNATURE-----\n";
	struct rf_buf out = RF_BUF_INIT;
	struct rf_error err = {0};

	CU_ASSERT_EQUAL(
		srv_repo_deb_clearsigned_text(in, strlen(in), &out, &err), 0);
	ASSERT_STR(out.data, "Suite: test\n-dash escaped\n");
	rf_buf_reset(&out);
	/* truncated before the signature */
	CU_ASSERT_EQUAL(srv_repo_deb_clearsigned_text(in, 60, &out, &err),
			-EBADMSG);
	CU_ASSERT_EQUAL(
		srv_repo_deb_clearsigned_text("Suite: x\n", 9, &out, &err),
		-EBADMSG);
	/* anything after the signature: a second message, or junk */
	{
		char twice[2 * sizeof(in)];

		snprintf(twice, sizeof(twice), "%s%s", in, in);
		rf_buf_reset(&out);
		CU_ASSERT_EQUAL(srv_repo_deb_clearsigned_text(
					twice, strlen(twice), &out, &err),
				-EBADMSG);
		snprintf(twice, sizeof(twice), "%sSuite: evil\n", in);
		rf_buf_reset(&out);
		CU_ASSERT_EQUAL(srv_repo_deb_clearsigned_text(
					twice, strlen(twice), &out, &err),
				-EBADMSG);
		snprintf(twice, sizeof(twice), "%s\n  \n", in);
		rf_buf_reset(&out);
		CU_ASSERT_EQUAL(srv_repo_deb_clearsigned_text(
					twice, strlen(twice), &out, &err),
				0);
	}
	rf_buf_free(&out);
}

static const char repomd[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<repomd xmlns=\"http://linux.duke.edu/metadata/repo\">\n"
	" <revision>1</revision>\n"
	" <data type=\"filelists\"><checksum type=\"sha256\">ff</checksum>"
	"<location href=\"repodata/f.xml.gz\"/></data>\n"
	" <data type=\"primary\">\n"
	"  <checksum type=\"sha256\">\n   abcd\n  </checksum>\n"
	"  <open-checksum type=\"sha256\">eeee</open-checksum>\n"
	"  <location href=\"repodata/p.xml.zst\"/>\n"
	"  <size>42</size><open-size>99</open-size>\n"
	" </data>\n"
	"</repomd>\n";

static const char primary[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<metadata xmlns=\"http://linux.duke.edu/metadata/common\" "
	"xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"2\">\n"
	"<package type=\"rpm\"><name>bash</name><arch>x86_64</arch>"
	"<version epoch=\"0\" ver=\"5.1\" rel=\"2.el9\"/>"
	"<checksum type=\"sha256\" pkgid=\"YES\">aa</checksum>"
	"<size package=\"100\" installed=\"300\" archive=\"310\"/>"
	"<location href=\"Packages/b/bash.rpm\"/>"
	"<format><rpm:provides><rpm:entry name=\"sh\"/></rpm:provides>"
	"<file>/bin/bash</file></format></package>\n"
	"<package type=\"rpm\"><name>tz</name><arch>noarch</arch>"
	"<version epoch=\"3\" ver=\"2024a\" rel=\"1\"/>"
	"<checksum type=\"sha\">bb</checksum>"
	"<location href=\"tz.rpm\"/></package>\n"
	"</metadata>\n";

static void test_rpmmd(void)
{
	struct srv_rpmmd_data d;
	struct seen s = {RF_BUF_INIT, 0};
	struct rf_error err = {0};

	CU_ASSERT_EQUAL(srv_repo_rpmmd_parse_repomd(repomd, strlen(repomd),
						    "primary", &d, &err),
			0);
	ASSERT_STR(d.href, "repodata/p.xml.zst");
	ASSERT_STR(d.hex, "abcd");
	ASSERT_STR(d.algo, "sha256");
	CU_ASSERT_EQUAL(d.size, 42);
	CU_ASSERT_EQUAL(srv_repo_rpmmd_parse_repomd(repomd, strlen(repomd),
						    "other", &d, &err),
			-ENOENT);
	CU_ASSERT_EQUAL(
		srv_repo_rpmmd_parse_repomd(repomd, 200, "primary", &d, &err),
		-EBADMSG);
	CU_ASSERT_EQUAL(srv_repo_rpmmd_parse_primary(primary, strlen(primary),
						     collect, &s, &err),
			0);
	ASSERT_STR(s.out.data,
		   "bash 0:5.1-2.el9 x86_64 sha256 aa Packages/b/bash.rpm 100\n"
		   "tz 3:2024a-1 noarch sha1 bb tz.rpm -1\n");
	rf_buf_reset(&s.out);
	CU_ASSERT_EQUAL(srv_repo_rpmmd_parse_primary(primary,
						     strlen(primary) - 30,
						     collect, &s, &err),
			-EBADMSG);
	rf_buf_free(&s.out);
}

static void test_pacman_desc(void)
{
	static const char desc[] =
		"%FILENAME%\nfoo-1:2.0-3-x86_64.pkg.tar.zst\n"
		"\n%NAME%\nfoo\n\n%VERSION%\n1:2.0-3\n\n"
		"%CSIZE%\n77\n\n%SHA256SUM%\n"
		"cc\n\n%ARCH%\nx86_64\n";
	static const char unsafe[] = "%FILENAME%\n../foo.pkg\n\n%NAME%\nfoo\n"
				     "\n%VERSION%\n1-1\n\n%ARCH%\nany\n\n"
				     "%MD5SUM%\n00\n";
	static const char norel[] = "%FILENAME%\nfoo.pkg\n\n%NAME%\nfoo\n"
				    "\n%VERSION%\n1\n\n%ARCH%\nany\n\n"
				    "%MD5SUM%\n00\n";
	struct seen s = {RF_BUF_INIT, 0};
	struct rf_error err = {0};

	CU_ASSERT_EQUAL(srv_repo_pacman_parse_desc(desc, strlen(desc), collect,
						   &s, &err),
			0);
	ASSERT_STR(s.out.data, "foo 1:2.0-3 x86_64 sha256 cc "
			       "foo-1:2.0-3-x86_64.pkg.tar.zst 77\n");
	CU_ASSERT_EQUAL(srv_repo_pacman_parse_desc(unsafe, strlen(unsafe),
						   collect, &s, &err),
			-EBADMSG);
	CU_ASSERT_EQUAL(srv_repo_pacman_parse_desc(norel, strlen(norel),
						   collect, &s, &err),
			-EBADMSG);
	CU_ASSERT_EQUAL(srv_repo_pacman_parse_db("junk", 4, collect, &s, &err),
			-EBADMSG);
	CU_ASSERT_EQUAL(s.n, 1);
	rf_buf_free(&s.out);
}

static const struct srv_repo_def *find(const struct srv_repo_deflist *l,
				       const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->defs[i].name, name) == 0)
			return &l->defs[i];
	return NULL;
}

static void test_sources_apt(void)
{
	static const char list[] =
		"# comment\n"
		"deb http://deb.example.org/debian bookworm main contrib\n"
		"deb-src http://deb.example.org/debian bookworm main\n"
		"deb [arch=amd64,i386 signed-by=/usr/share/keyrings/x.gpg] "
		"https://deb.example.org/debian bookworm-updates main # c\n"
		"deb http://deb.example.org/debian bookworm non-free\n"
		"deb [broken http://x/ y z\n";
	static const char sources[] =
		"Types: deb deb-src\n"
		"URIs: http://a.example.org/debian http://b.example.org/d\n"
		"Suites: trixie trixie-updates\n"
		"Components: main\n"
		"Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
		"\n"
		"# disabled\n"
		"Types: deb\n"
		"URIs: http://c.example.org/x\n"
		"Suites: ./\n"
		"Enabled: no\n"
		"Signed-By:\n"
		" -----BEGIN PGP PUBLIC KEY BLOCK-----\n"
		" .\n"
		" abc\n";
	struct srv_repo_deflist l = {0};
	struct rf_error err = {0};
	const struct srv_repo_def *d;

	CU_ASSERT_EQUAL(srv_repo_sources_parse_apt_list(
				list, strlen(list), "sources.list", &l, &err),
			0);
	CU_ASSERT_EQUAL(l.n, 3);
	d = find(&l, "deb.example.org-bookworm");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	ASSERT_STR(d->kind, "deb");
	ASSERT_STR(d->url, "http://deb.example.org/debian");
	ASSERT_STR(d->components, "main contrib");
	CU_ASSERT_PTR_NULL(d->keyring);
	d = find(&l, "deb.example.org-bookworm-updates");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	ASSERT_STR(d->arch, "amd64");
	ASSERT_STR(d->keyring, "/usr/share/keyrings/x.gpg");
	/* the same host and suite twice: a unique name */
	d = find(&l, "deb.example.org-bookworm-2");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	ASSERT_STR(d->components, "non-free");

	CU_ASSERT_EQUAL(srv_repo_sources_parse_deb822(sources, strlen(sources),
						      "debian.sources", &l,
						      &err),
			0);
	CU_ASSERT_EQUAL(l.n, 3 + 4 + 1);
	d = find(&l, "b.example.org-trixie-updates");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	ASSERT_STR(d->keyring,
		   "/usr/share/keyrings/debian-archive-keyring.gpg");
	CU_ASSERT_TRUE(d->enabled);
	ASSERT_STR(d->origin, "debian.sources");
	d = find(&l, "c.example.org-.");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_FALSE(d->enabled);
	ASSERT_STR(d->suite, "./");
	CU_ASSERT_PTR_NULL(d->keyring); /* inline key: not a path */
	srv_repo_deflist_free(&l);
}

static void test_sources_yum(void)
{
	static const char repo[] =
		"[main]\ngpgcheck=1\n\n"
		"[baseos]\nname=BaseOS $releasever\n"
		"baseurl=http://mirror.example.org/$releasever/BaseOS/"
		"$basearch/os/\n"
		"        http://other.example.org/$releasever/\n"
		"gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY\n"
		"enabled=1\n\n"
		"[debug]\n"
		"mirrorlist=https://mirrors.example.org/?repo=debug\n"
		"enabled=0\n";
	static const struct srv_repo_vars vars = {"9.4", "x86_64", NULL};
	struct srv_repo_deflist l = {0};
	struct rf_error err = {0};
	const struct srv_repo_def *d;

	CU_ASSERT_EQUAL(srv_repo_sources_parse_yum(repo, strlen(repo), "r",
						   &vars, &l, &err),
			0);
	CU_ASSERT_EQUAL_FATAL(l.n, 2);
	d = find(&l, "baseos");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	ASSERT_STR(d->kind, "rpm-md");
	ASSERT_STR(d->url, "http://mirror.example.org/9.4/BaseOS/x86_64/os/");
	ASSERT_STR(d->keyring, "/etc/pki/rpm-gpg/RPM-GPG-KEY");
	CU_ASSERT_TRUE(d->enabled);
	d = find(&l, "debug");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_PTR_NULL(d->url);
	CU_ASSERT_FALSE(d->enabled);
	srv_repo_deflist_free(&l);
}

static void write_file(const char *dir, const char *rel, const char *text)
{
	char path[4096], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	for (slash = strchr(path + strlen(dir) + 1, '/'); slash;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
}

static void test_sources_root(void)
{
	char root[] = "/tmp/rf-test-repo-root.XXXXXX";
	struct srv_repo_deflist l = {0};
	struct rf_error err = {0};
	const struct srv_repo_def *d;
	char cmd[128];

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(root));
	write_file(root, "etc/os-release", "ID=x\nVERSION_ID=\"8.10\"\n");
	write_file(root, "etc/apt/sources.list",
		   "deb http://deb.example.org/debian bookworm main\n");
	write_file(root, "etc/apt/sources.list.d/b.sources",
		   "Types: deb\nURIs: http://s.example.org/\n"
		   "Suites: stable\nComponents: main\n");
	write_file(root, "etc/yum.repos.d/r.repo",
		   "[appstream]\nbaseurl=http://m.example.org/$releasever/\n");
	write_file(root, "etc/pacman.conf",
		   "[options]\nArchitecture = auto\n\n"
		   "[core]\nInclude = /etc/pacman.d/mirrorlist\n\n"
		   "[extra]\nSigLevel = Never\n"
		   "Server = file:///srv/$repo/os/$arch\n");
	/* the Include is read inside the root, not from this host */
	write_file(root, "etc/pacman.d/mirrorlist",
		   "#Server = http://commented.example.org/\n"
		   "Server = https://p.example.org/$repo/os/$arch\n"
		   "Server = https://second.example.org/$repo/os/$arch\n");
	CU_ASSERT_EQUAL(srv_repo_sources_from_root(
				root, &(struct srv_repo_vars){.arch = "x86_64"},
				&l, &err),
			0);
	CU_ASSERT_EQUAL(l.n, 5);
	d = find(&l, "appstream");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	ASSERT_STR(d->url, "http://m.example.org/8.10/");
	ASSERT_STR(d->origin, "/etc/yum.repos.d/r.repo");
	d = find(&l, "core");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	ASSERT_STR(d->kind, "pacman");
	ASSERT_STR(d->url, "https://p.example.org/core/os/x86_64");
	ASSERT_STR(d->suite, "core");
	d = find(&l, "extra");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	ASSERT_STR(d->url, "file:///srv/extra/os/x86_64");
	CU_ASSERT_PTR_NOT_NULL(find(&l, "s.example.org-stable"));
	CU_ASSERT_PTR_NOT_NULL(find(&l, "deb.example.org-bookworm"));
	srv_repo_deflist_free(&l);
	CU_ASSERT_EQUAL(
		srv_repo_sources_from_root("/nonexistent/root", NULL, &l, &err),
		-ENOENT);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CU_ASSERT_EQUAL(system(cmd), 0);
}

/* A flat file:// repository written here: the index, and a refresh that
 * fails and keeps it. */
static void test_index(void)
{
	char dir[] = "/tmp/rf-test-repo-index.XXXXXX";
	char path[256], url[300], cmd[300], *pkgpath = NULL;
	struct srv_repo_config cfg = {0};
	struct srv_repo *r = NULL;
	struct srv_repo_refresh_stats st;
	struct srv_repo_info *info;
	struct rf_error err = {0};
	struct srv_repo_query q[3] = {
		{"hello", NULL, "1.0", NULL, "all"},
		{"hello", "0", "1.0", "", "all"},
		{"hello", NULL, "1.1", NULL, "all"},
	};
	bool missing[3];
	size_t n;
	sqlite3 *db;
	char stanza[512];
	unsigned char sum[32];
	char hex[65];

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	write_file(dir, "repo/pool/hello.deb", "not really a deb\n");
	rf_sha256("not really a deb\n", 17, sum);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);
	snprintf(stanza, sizeof(stanza),
		 "Package: hello\nVersion: 1.0\nArchitecture: all\n"
		 "Filename: pool/hello.deb\nSize: 17\nSHA256: %s\n",
		 hex);
	write_file(dir, "repo/Packages", stanza);
	snprintf(path, sizeof(path), "%s/cache", dir);
	cfg.cache_dir = path;
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(":memory:", &db), SQLITE_OK);
	CU_ASSERT_EQUAL_FATAL(srv_repo_open(db, &cfg, &r, &err), 0);
	snprintf(url, sizeof(url), "file://%s/repo", dir);
	CU_ASSERT_EQUAL(srv_repo_add(r,
				     &(struct srv_repo_def){.name = "flat",
							    .kind = "deb",
							    .url = url,
							    .suite = "./"},
				     &err),
			0);
	CU_ASSERT_EQUAL(srv_repo_refresh(r, "flat", 0, &st, &err), 0);
	CU_ASSERT_EQUAL(st.packages, 1);
	CU_ASSERT_EQUAL(srv_repo_reconcile(r, q, 3, missing, &err), 1);
	CU_ASSERT_FALSE(missing[0]);
	CU_ASSERT_FALSE(missing[1]);
	CU_ASSERT_TRUE(missing[2]);
	CU_ASSERT_EQUAL(srv_repo_fetch_package(r, NULL, &q[0], &pkgpath, &err),
			0);
	CU_ASSERT_PTR_NOT_NULL(
		strstr(pkgpath ? pkgpath : "", "/packages/flat/hello.deb"));
	free(pkgpath);

	/* a malformed Packages: the refresh fails, the index stays */
	write_file(dir, "repo/Packages",
		   "Package: hello\nVersion: 1.1\nArchitecture: all\n"
		   "Filename: pool/hello.deb\n\nPackage: x\n");
	CU_ASSERT_EQUAL(srv_repo_refresh(r, "flat", 0, &st, &err), -EBADMSG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "previous index kept"));
	CU_ASSERT_EQUAL(srv_repo_reconcile(r, q, 3, missing, &err), 1);
	CU_ASSERT_FALSE(missing[0]);
	CU_ASSERT_EQUAL(srv_repo_list(r, &info, &n, &err), 0);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(info[0].packages, 1);
	CU_ASSERT_PTR_NOT_NULL(info[0].last_error);
	srv_repo_info_free(info, n);

	CU_ASSERT_EQUAL(srv_repo_refresh(r, "nope", 0, &st, &err), -ENOENT);
	CU_ASSERT_EQUAL(srv_repo_remove(r, "flat", &err), 0);
	CU_ASSERT_EQUAL(srv_repo_reconcile(r, q, 3, missing, &err), 3);
	srv_repo_free(r);
	sqlite3_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CU_ASSERT_EQUAL(system(cmd), 0);
}

static CU_TestInfo tests[] = {
	{"evr", test_evr},
	{"location", test_location},
	{"deb Packages", test_deb_packages},
	{"deb Packages, malformed", test_deb_packages_bad},
	{"deb Release", test_deb_release},
	{"deb InRelease armour", test_deb_clearsigned},
	{"rpm-md repomd and primary", test_rpmmd},
	{"pacman desc", test_pacman_desc},
	{"sources: apt", test_sources_apt},
	{"sources: yum", test_sources_yum},
	{"sources: a root", test_sources_root},
	{"index", test_index},
	CU_TEST_INFO_NULL,
};

RF_CUNIT_MAIN("repo")
