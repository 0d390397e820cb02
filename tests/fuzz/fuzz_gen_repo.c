/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The generator's repository readers (generator/pkg_*.c) on arbitrary
 * bytes, written as one file of a repository directory, which the first
 * byte chooses:
 *   0  a pacman database, t.db (a tar, any compression, of desc files)
 *   1  a pacman package, x.pkg.tar (its .PKGINFO)
 *   2  rpm-md primary metadata, with a repomd.xml that names it with its
 *      right checksum, so that the primary parser is reached
 *   3  repomd.xml
 *   4  a Debian Packages index
 * .rpm files are librpm's to parse, not ours, and are left out.
 */
#include "config.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "digest.h"
#include "escape.h"
#include "generator/gen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[256];

static void put(const char *name, const void *data, size_t len)
{
	char p[512];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	if (len > 0 && write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
}

static void remove_dir(void)
{
	char p[300];

	snprintf(p, sizeof(p), "%s/repodata", dir);
	rmdir(p);
	rmdir(dir);
}

static void clear(void)
{
	static const char *const names[] = {"t.db", "x.pkg.tar",
					    "repodata/primary.xml",
					    "repodata/repomd.xml", "Packages"};
	char p[512];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gen_repo *repo;
	struct gen_repo_entry e;
	struct rf_error err = {0};
	char url[300];

	if (size < 1)
		return 0;
	if (dir[0] == '\0') {
		char p[300];

		snprintf(dir, sizeof(dir), "%s/rf-fuzz-gen-repo.XXXXXX",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (mkdtemp(dir) == NULL)
			abort();
		snprintf(p, sizeof(p), "%s/repodata", dir);
		mkdir(p, 0700);
		atexit(remove_dir);
	}
	clear();
	switch (data[0] % 5) {
	case 0:
		put("t.db", data + 1, size - 1);
		break;
	case 1:
		put("x.pkg.tar", data + 1, size - 1);
		break;
	case 2: {
		unsigned char sum[RF_SHA256_LEN];
		struct rf_buf md = RF_BUF_INIT;

		put("repodata/primary.xml", data + 1, size - 1);
		rf_sha256(data + 1, size - 1, sum);
		rf_buf_addstr(&md, "<repomd><data type=\"primary\"><checksum "
				   "type=\"sha256\">");
		rf_hex_encode(&md, sum, sizeof(sum));
		rf_buf_addstr(&md, "</checksum><location href=\"repodata/"
				   "primary.xml\"/></data></repomd>");
		put("repodata/repomd.xml", md.data, md.len);
		rf_buf_free(&md);
		break;
	}
	case 3:
		put("repodata/repomd.xml", data + 1, size - 1);
		break;
	default:
		put("Packages", data + 1, size - 1);
		break;
	}
	snprintf(url, sizeof(url), "file://%s", dir);
	repo = gen_repo_new();
	if (gen_repo_add(repo, url, &err) == 0)
		(void)gen_repo_lookup(repo, "a", NULL, &e);
	gen_repo_free(repo);
	clear();
	return 0;
}
