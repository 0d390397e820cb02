/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the scanner's package model: the package set, canonical
 * paths on usr-merged roots, the generic verdict, and the dpkg backend on
 * hand-made databases (the system tests use databases dpkg wrote itself).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "pkgdb.h"
#include "cunit_main.h"

static char root[64];
static int rootfd = -1;

static void mkroot(void)
{
	strcpy(root, "/tmp/rf-test-scan-XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(root));
	rootfd = open(root, O_RDONLY | O_DIRECTORY);
	CU_ASSERT_FATAL(rootfd >= 0);
}

static void rmroot(void)
{
	char cmd[128];

	close(rootfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	CU_ASSERT(system(cmd) == 0);
}

static void put(const char *rel, const char *content)
{
	char path[512], cmd[600];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	CU_ASSERT(system(cmd) == 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(write(fd, content, strlen(content)) ==
		  (ssize_t)strlen(content));
	close(fd);
}

static void link_(const char *target, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	CU_ASSERT(symlink(target, path) == 0);
}

static void test_set_basics(void)
{
	struct scan_pkgset *set = scan_pkgset_new();
	struct scan_pkg p = {.db = "dpkg", .name = "a", .version = "1"};
	struct scan_pkgfile *pf;
	bool shared;
	char path[64];
	uint32_t a, b;

	a = scan_pkgset_add_package(set, &p);
	p.name = "b";
	b = scan_pkgset_add_package(set, &p);
	CU_ASSERT_EQUAL(a, 0);
	CU_ASSERT_EQUAL(b, 1);
	CU_ASSERT_STRING_EQUAL(scan_pkgset_package(set, 1)->name, "b");
	CU_ASSERT_PTR_NULL(scan_pkgset_package(set, 2));
	pf = scan_pkgset_add_file(set, a, "/usr", &shared);
	CU_ASSERT_FALSE(shared);
	CU_ASSERT_EQUAL(pf->nowners, 1);
	pf = scan_pkgset_add_file(set, b, "/usr", &shared);
	CU_ASSERT_TRUE(shared);
	CU_ASSERT_EQUAL(pf->nowners, 2);
	CU_ASSERT_EQUAL(pf->pkg, a);
	/* many entries: pointers stay valid, every one is found */
	for (int i = 0; i < 100000; i++) {
		snprintf(path, sizeof(path), "/usr/share/f%d", i);
		scan_pkgset_add_file(set, b, path, NULL)->size = (uint64_t)i;
	}
	CU_ASSERT_EQUAL(scan_pkgset_nfiles(set), 100001);
	for (int i = 0; i < 100000; i += 997) {
		snprintf(path, sizeof(path), "/usr/share/f%d", i);
		pf = scan_pkgset_find(set, path);
		CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
		CU_ASSERT_EQUAL(pf->size, (uint64_t)i);
		CU_ASSERT_STRING_EQUAL(pf->path, path);
	}
	CU_ASSERT_PTR_NULL(scan_pkgset_find(set, "/usr/share/f100000"));
	scan_pkgset_free(set);
	scan_pkgset_free(NULL);
}

static void test_canonicalize(void)
{
	struct scan_pkgset *set = scan_pkgset_new();
	struct scan_pkg p = {.db = "dpkg", .name = "coreutils"};
	struct scan_pkgfile *ls, *usr_ls, *f;
	uint32_t i;

	mkroot();
	put("usr/bin/ls", "ls");
	put("usr/lib/x86_64-linux-gnu/libc.so", "c");
	link_("usr/bin", "bin");
	link_("usr/lib", "lib");
	put("real/deep/file", "d");
	link_("../real/deep", "usr/deeplink"); /* relative, through .. */
	link_("/etc", "usr/abs");	       /* absolute: inside the root */
	put("etc/conf", "c");
	link_("loop2", "loop1");
	link_("loop1", "loop2");
	i = scan_pkgset_add_package(set, &p);
	ls = scan_pkgset_add_file(set, i, "/bin/ls", NULL);
	ls->algo = RF_DIGEST_MD5;
	ls->digest = scan_pkgset_memdup(set, "0123456789abcdef", 16);
	usr_ls = scan_pkgset_add_file(set, i, "/usr/bin/ls", NULL);
	scan_pkgset_add_file(set, i, "/lib/x86_64-linux-gnu/libc.so", NULL);
	scan_pkgset_add_file(set, i, "/usr/deeplink/file", NULL);
	scan_pkgset_add_file(set, i, "/usr/abs/conf", NULL);
	scan_pkgset_add_file(set, i, "/loop1/x", NULL);
	scan_pkgset_add_file(set, i, "/bin", NULL);
	CU_ASSERT_EQUAL(scan_pkgset_canonicalize(set, rootfd), 0);

	f = scan_pkgset_find(set, "/usr/bin/ls");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	/* the first listed keeps the entry, and the digest is kept */
	CU_ASSERT_PTR_EQUAL(f, ls);
	CU_ASSERT_EQUAL(f->algo, RF_DIGEST_MD5);
	CU_ASSERT_EQUAL(f->nowners, 2);
	CU_ASSERT_TRUE(usr_ls->flags & SCAN_PF_ALIAS);
	CU_ASSERT_FALSE(ls->flags & SCAN_PF_ALIAS);
	CU_ASSERT_PTR_NOT_NULL(
		scan_pkgset_find(set, "/usr/lib/x86_64-linux-gnu/libc.so"));
	CU_ASSERT_PTR_NULL(
		scan_pkgset_find(set, "/lib/x86_64-linux-gnu/libc.so"));
	CU_ASSERT_PTR_NOT_NULL(scan_pkgset_find(set, "/real/deep/file"));
	CU_ASSERT_PTR_NOT_NULL(scan_pkgset_find(set, "/etc/conf"));
	/* a loop gives up and keeps the path as listed */
	CU_ASSERT_PTR_NOT_NULL(scan_pkgset_find(set, "/loop1/x"));
	/* the symlink itself is not resolved: /bin is the link */
	CU_ASSERT_PTR_NOT_NULL(scan_pkgset_find(set, "/bin"));
	scan_pkgset_free(set);
	rmroot();
}

static void test_verify(void)
{
	struct scan_pkgfile pf;
	struct stat st;
	unsigned char md5[16] = {1, 2, 3};
	unsigned char other[16] = {9};
	char names[128];

	memset(&pf, 0, sizeof(pf));
	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFREG | 0644;
	st.st_size = 10;
	pf.algo = RF_DIGEST_MD5;
	pf.digest = md5;
	CU_ASSERT_EQUAL(
		scan_pkgfile_verify(&pf, &st, md5, NULL, "root", "root"), 0);
	CU_ASSERT_EQUAL(scan_pkgfile_verify(&pf, &st, other, NULL, NULL, NULL),
			SCAN_DIFF_CONTENT);
	/* a digest but not a regular file: a type change */
	st.st_mode = S_IFLNK | 0777;
	CU_ASSERT_EQUAL(scan_pkgfile_verify(&pf, &st, NULL, "x", NULL, NULL),
			SCAN_DIFF_TYPE);
	/* everything rpm knows */
	st.st_mode = S_IFREG | 0600;
	st.st_mtime = 5;
	pf.flags = SCAN_PF_HAS_TYPE | SCAN_PF_HAS_PERM | SCAN_PF_HAS_OWNER |
		   SCAN_PF_HAS_SIZE | SCAN_PF_HAS_MTIME;
	pf.mode = S_IFREG | 0644;
	pf.user = "root";
	pf.group = "adm";
	pf.size = 11;
	pf.mtime = 4;
	CU_ASSERT_EQUAL(
		scan_pkgfile_verify(&pf, &st, other, NULL, "daemon", "adm"),
		SCAN_DIFF_CONTENT | SCAN_DIFF_SIZE | SCAN_DIFF_MODE |
			SCAN_DIFF_OWNER | SCAN_DIFF_MTIME);
	CU_ASSERT_STRING_EQUAL(scan_diff_names(SCAN_DIFF_CONTENT |
						       SCAN_DIFF_MODE |
						       SCAN_DIFF_OWNER,
					       names, sizeof(names)),
			       "content,mode,owner");
	/* what the database says not to verify is not verified */
	pf.flags |= SCAN_PF_NOVERIFY_CONTENT | SCAN_PF_NOVERIFY_MTIME |
		    SCAN_PF_NOVERIFY_MODE | SCAN_PF_NOVERIFY_OWNER;
	CU_ASSERT_EQUAL(
		scan_pkgfile_verify(&pf, &st, other, NULL, "daemon", "x"), 0);
	/* symlink targets */
	memset(&pf, 0, sizeof(pf));
	pf.flags = SCAN_PF_HAS_TYPE | SCAN_PF_HAS_TARGET | SCAN_PF_HAS_PERM;
	pf.mode = S_IFLNK | 0777;
	pf.link_target = "a";
	st.st_mode = S_IFLNK | 0777;
	CU_ASSERT_EQUAL(scan_pkgfile_verify(&pf, &st, NULL, "a", NULL, NULL),
			0);
	CU_ASSERT_EQUAL(scan_pkgfile_verify(&pf, &st, NULL, "b", NULL, NULL),
			SCAN_DIFF_TARGET);
	st.st_mode = S_IFDIR | 0755;
	CU_ASSERT_EQUAL(scan_pkgfile_verify(&pf, &st, NULL, NULL, NULL, NULL),
			SCAN_DIFF_TYPE);
	CU_ASSERT_STRING_EQUAL(scan_diff_names(0, names, sizeof(names)), "");
	/* device numbers, as rpm keeps them: 16 bits, major << 8 | minor */
	memset(&pf, 0, sizeof(pf));
	pf.flags = SCAN_PF_HAS_TYPE | SCAN_PF_HAS_RDEV;
	pf.mode = S_IFCHR | 0666;
	pf.rdev = 0x0103;
	st.st_mode = S_IFCHR | 0666;
	st.st_rdev = makedev(1, 3);
	CU_ASSERT_EQUAL(scan_pkgfile_verify(&pf, &st, NULL, NULL, NULL, NULL),
			0);
	st.st_rdev = makedev(1, 7);
	CU_ASSERT_EQUAL(scan_pkgfile_verify(&pf, &st, NULL, NULL, NULL, NULL),
			SCAN_DIFF_RDEV);
	CU_ASSERT_STRING_EQUAL(scan_diff_names(SCAN_DIFF_RDEV, names,
					       sizeof(names)),
			       "rdev");
	st.st_mode = S_IFBLK | 0666;
	CU_ASSERT_EQUAL(scan_pkgfile_verify(&pf, &st, NULL, NULL, NULL, NULL),
			SCAN_DIFF_TYPE);
}

static int load_dpkg(struct scan_pkgset *set, struct rf_error *err)
{
	CU_ASSERT_TRUE(scan_pkgdb_dpkg.probe(rootfd));
	return scan_pkgdb_dpkg.load(set, rootfd, root, err);
}

static void test_dpkg_database(void)
{
	struct scan_pkgset *set = scan_pkgset_new();
	struct rf_error err;
	struct scan_pkgfile *pf;

	mkroot();
	put("var/lib/dpkg/status",
	    "Package: a\n"
	    "Status: install ok installed\n"
	    "Architecture: amd64\n"
	    "Multi-Arch: same\n"
	    "Version: 1.0-1\n"
	    "Description: x\n"
	    " continued description line\n"
	    "Conffiles:\n"
	    " /etc/a.conf 00112233445566778899aabbccddeeff\n"
	    " /etc/old.conf 00112233445566778899aabbccddeeff obsolete\n"
	    " /etc/new.conf newconffile\n"
	    "\n"
	    "Package: gone\n"
	    "Status: purge ok not-installed\n"
	    "\n"
	    "Package: b\n"
	    "Status: deinstall ok config-files\n"
	    "Version: 2\n");
	put("var/lib/dpkg/info/a:amd64.list",
	    "/.\n/etc\n/etc/a.conf\n/usr/bin/tool\n/usr/bin/other\n");
	put("var/lib/dpkg/info/a:amd64.md5sums",
	    "ffeeddccbbaa99887766554433221100  usr/bin/tool\n"
	    "ffeeddccbbaa99887766554433221100  usr/bin/other\n");
	put("var/lib/dpkg/diversions",
	    "/usr/bin/tool\n/usr/bin/tool.distrib\n:\n"
	    "/usr/bin/other\n/usr/bin/other.moved\na\n");
	put("var/lib/dpkg/statoverride", "root adm 0750 /usr/bin/other\n"
					 "#1000 #1000 0700 /nowhere\n");
	CU_ASSERT_EQUAL_FATAL(load_dpkg(set, &err), 0);
	CU_ASSERT_EQUAL(scan_pkgset_npackages(set), 2);
	CU_ASSERT_STRING_EQUAL(scan_pkgset_package(set, 0)->status,
			       "installed");
	CU_ASSERT_STRING_EQUAL(scan_pkgset_package(set, 1)->status,
			       "config-files");
	pf = scan_pkgset_find(set, "/etc/a.conf");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_TRUE(pf->flags & SCAN_PF_CONFIG);
	CU_ASSERT_EQUAL(pf->algo, RF_DIGEST_MD5);
	CU_ASSERT_EQUAL(pf->digest[0], 0x00);
	CU_ASSERT_EQUAL(pf->digest[15], 0xff);
	pf = scan_pkgset_find(set, "/etc/old.conf");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_TRUE(pf->flags & SCAN_PF_OBSOLETE);
	pf = scan_pkgset_find(set, "/etc/new.conf");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(pf->algo, RF_DIGEST_NONE);
	/* a local diversion moves the package's file */
	CU_ASSERT_PTR_NULL(scan_pkgset_find(set, "/usr/bin/tool"));
	pf = scan_pkgset_find(set, "/usr/bin/tool.distrib");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_EQUAL(pf->algo, RF_DIGEST_MD5);
	/* a diversion by the package itself does not move its own file */
	pf = scan_pkgset_find(set, "/usr/bin/other");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pf);
	CU_ASSERT_TRUE(pf->flags & SCAN_PF_HAS_PERM);
	CU_ASSERT_EQUAL(pf->mode & 07777, 0750);
	CU_ASSERT_STRING_EQUAL(pf->group, "adm");
	CU_ASSERT_PTR_NOT_NULL(scan_pkgset_find(set, "/"));
	CU_ASSERT_EQUAL(scan_pkgset_ndiversions(set), 2);
	scan_pkgset_free(set);
	rmroot();
}

/* Malformed databases: an error with a message, never a crash. */
static void test_dpkg_corrupt(void)
{
	static const struct {
		const char *file, *content, *msg;
	} cases[] = {
		{"var/lib/dpkg/status", "Status: install ok installed\n",
		 "without a Package"},
		{"var/lib/dpkg/status", "Package a\n", "not a field"},
		{"var/lib/dpkg/status", "Package: a\nVersion: 1\n",
		 "no Status"},
		{"var/lib/dpkg/status",
		 "Package: a\nStatus: install ok installed\nConffiles:\n "
		 "/etc/x\n",
		 "Conffiles"},
		{"var/lib/dpkg/status",
		 "Package: a\nStatus: install ok installed\nConffiles:\n "
		 "/etc/x zz\n",
		 "bad MD5"},
		{"var/lib/dpkg/info/a.md5sums", "abc  usr/x\n", "malformed"},
		{"var/lib/dpkg/diversions", "/a\n/b\n", "malformed"},
		{"var/lib/dpkg/statoverride", "root root 99999 /x\n",
		 "bad mode"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct scan_pkgset *set = scan_pkgset_new();
		struct rf_error err;

		mkroot();
		put("var/lib/dpkg/status",
		    "Package: a\nStatus: install ok installed\n");
		put(cases[i].file, cases[i].content);
		rf_error_clear(&err);
		CU_ASSERT_EQUAL(load_dpkg(set, &err), -EINVAL);
		if (strstr(err.msg, cases[i].msg) == NULL)
			fprintf(stderr, "case %zu: message '%s'\n", i, err.msg);
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, cases[i].msg));
		scan_pkgset_free(set);
		rmroot();
	}
}

static void test_registry(void)
{
	const struct scan_pkgdb_ops *const *reg = scan_pkgdb_registry();
	size_t n = 0;

	for (; reg[n] != NULL; n++) {
		CU_ASSERT_PTR_EQUAL(scan_pkgdb_by_name(reg[n]->name), reg[n]);
		CU_ASSERT_PTR_NOT_NULL(reg[n]->probe);
		CU_ASSERT_PTR_NOT_NULL(reg[n]->load);
	}
	CU_ASSERT_EQUAL(n, 3);
	CU_ASSERT_PTR_NULL(scan_pkgdb_by_name("portage"));
}

static CU_TestInfo tests[] = {
	{"package set", test_set_basics},
	{"canonical paths (usr-merge)", test_canonicalize},
	{"verdicts", test_verify},
	{"dpkg database", test_dpkg_database},
	{"dpkg corrupt databases", test_dpkg_corrupt},
	{"backend registry", test_registry},
	CU_TEST_INFO_NULL,
};

RF_CUNIT_MAIN("scanner")
