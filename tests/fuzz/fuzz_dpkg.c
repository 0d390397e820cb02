/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The dpkg backend's parsers on arbitrary bytes. The first byte chooses the
 * database file the rest becomes (status, diversions, statoverride, a
 * package's list or md5sums); the others hold a small valid database, so
 * that the input reaches every parser.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pkgdb.h"

static const char *const files[] = {
	"var/lib/dpkg/status",	       "var/lib/dpkg/diversions",
	"var/lib/dpkg/statoverride",   "var/lib/dpkg/info/p.list",
	"var/lib/dpkg/info/p.md5sums",
};

static void put(int dirfd, const char *rel, const void *data, size_t len)
{
	int fd = openat(dirfd, rel, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		abort();
	if (len > 0 && write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char root[64];
	static int rootfd = -1;
	struct scan_pkgset *set;
	struct rf_error err;
	size_t which;

	if (rootfd < 0) {
		char cmd[128];

		strcpy(root, "/tmp/rf-fuzz-dpkg-XXXXXX");
		if (mkdtemp(root) == NULL)
			abort();
		snprintf(cmd, sizeof(cmd), "mkdir -p %s/var/lib/dpkg/info",
			 root);
		if (system(cmd) != 0)
			abort();
		rootfd = open(root, O_RDONLY | O_DIRECTORY);
	}
	if (size < 1)
		return 0;
	put(rootfd, files[0],
	    "Package: p\nStatus: install ok installed\nVersion: 1\n"
	    "Conffiles:\n /etc/p.conf 00112233445566778899aabbccddeeff\n",
	    98);
	put(rootfd, files[1], "", 0);
	put(rootfd, files[2], "", 0);
	put(rootfd, files[3], "/.\n/etc\n/etc/p.conf\n/usr/bin/p\n", 31);
	put(rootfd, files[4], "00112233445566778899aabbccddeeff  usr/bin/p\n",
	    45);
	which = data[0] % (sizeof(files) / sizeof(files[0]));
	put(rootfd, files[which], data + 1, size - 1);
	set = scan_pkgset_new();
	if (scan_pkgdb_dpkg.load(set, rootfd, root, &err) == 0)
		scan_pkgset_canonicalize(set, rootfd);
	scan_pkgset_free(set);
	return 0;
}
