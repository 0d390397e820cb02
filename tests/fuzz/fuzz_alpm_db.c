/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target of the whole pacman backend on one database entry: an input
 * is desc, files, mtree and the root's pacman.conf, separated by lines
 * "====", written into a scratch root as var/lib/pacman/local/fuzz-1-1/
 * and etc/pacman.conf, and loaded with scan_pkgdb_alpm. Whatever the bytes: 0
 * with at most one package, or an error with a message; anything else aborts.
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "pkgdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ENTRY "var/lib/pacman/local/fuzz-1-1"

static void put(const char *root, const char *rel, const void *p, size_t n)
{
	struct rf_buf path = RF_BUF_INIT;
	FILE *f;

	rf_buf_printf(&path, "%s/%s", root, rel);
	f = fopen(path.data, "wb");
	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		abort();
	rf_buf_free(&path);
}

static void rmtree(const char *root)
{
	static const char *const files[] = {
		ENTRY "/desc",	   ENTRY "/files",
		ENTRY "/mtree",	   "var/lib/pacman/local/ALPM_DB_VERSION",
		"etc/pacman.conf",
	};
	static const char *const dirs[] = {
		ENTRY,
		"var/lib/pacman/local",
		"var/lib/pacman",
		"var/lib",
		"var",
		"etc",
	};
	struct rf_buf path = RF_BUF_INIT;

	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
		rf_buf_reset(&path);
		rf_buf_printf(&path, "%s/%s", root, files[i]);
		unlink(path.data);
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(*dirs); i++) {
		rf_buf_reset(&path);
		rf_buf_printf(&path, "%s/%s", root, dirs[i]);
		rmdir(path.data);
	}
	rmdir(root);
	rf_buf_free(&path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sep[] = "\n====\n";
	const char *tmp = getenv("TMPDIR");
	const uint8_t *part[4] = {data, NULL, NULL, NULL};
	size_t len[4] = {size, 0, 0, 0};
	struct rf_buf root = RF_BUF_INIT, dir = RF_BUF_INIT;
	struct scan_pkgset *set = scan_pkgset_new();
	struct rf_error err = {0};
	int fd, rc;

	/* desc ==== files ==== mtree ==== pacman.conf */
	for (int i = 0; i < 3; i++) {
		const uint8_t *s = memmem(part[i], len[i], sep, strlen(sep));

		if (s == NULL)
			break;
		part[i + 1] = s + strlen(sep);
		len[i + 1] = len[i] - (size_t)(part[i + 1] - part[i]);
		len[i] = (size_t)(s - part[i]);
	}
	rf_buf_printf(&root, "%s/rf-fuzz-alpm.XXXXXX",
		      tmp && tmp[0] == '/' ? tmp : "/tmp");
	if (mkdtemp(root.data) == NULL)
		abort();
	rf_buf_printf(&dir, "mkdir -p '%s/" ENTRY "' '%s/etc'", root.data,
		      root.data);
	if (system(dir.data) != 0)
		abort();
	put(root.data, "var/lib/pacman/local/ALPM_DB_VERSION", "9\n", 2);
	put(root.data, ENTRY "/desc", part[0], len[0]);
	if (part[1] != NULL)
		put(root.data, ENTRY "/files", part[1], len[1]);
	if (part[2] != NULL)
		put(root.data, ENTRY "/mtree", part[2], len[2]);
	if (part[3] != NULL)
		put(root.data, "etc/pacman.conf", part[3], len[3]);

	fd = open(root.data, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !scan_pkgdb_alpm.probe(fd))
		abort();
	rc = scan_pkgdb_alpm.load(set, fd, root.data, &err);
	/* to see what each corpus input exercises */
	if (getenv("RF_FUZZ_VERBOSE") != NULL)
		fprintf(stderr, "rc %d, %zu files: %s\n", rc,
			scan_pkgset_nfiles(set), err.msg);
	if ((rc < 0 && err.msg[0] == '\0') ||
	    (rc == 0 && scan_pkgset_npackages(set) > 1))
		abort();
	close(fd);
	rmtree(root.data);
	scan_pkgset_free(set);
	rf_buf_free(&root);
	rf_buf_free(&dir);
	return 0;
}
