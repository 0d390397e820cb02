/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target of the repository metadata parsers. The first byte chooses
 * the parser, the rest is its input: 0 deb Packages, 1 deb Release lookup,
 * 2 InRelease armour, 3 repomd.xml, 4 rpm-md primary, 5 pacman desc,
 * 6 pacman .db archive.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/repo_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check(void *arg, const struct srv_repo_pkg *p, struct rf_error *err)
{
	size_t *n = arg;

	/* what a parser emits is always complete and safe to join */
	if (p->name == NULL || p->version == NULL || p->arch == NULL ||
	    p->checksum == NULL || !srv_repo_location_ok(p->location))
		abort();
	(*n)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rf_error err = {0};
	struct rf_buf b = RF_BUF_INIT;
	struct srv_deb_release_entry ent;
	struct srv_rpmmd_data md;
	size_t n = 0;
	char *text;

	if (size < 1)
		return 0;
	/* the parsers get NUL-terminated text, as the refresh gives them */
	text = rf_xmalloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	size--;
	switch (data[0] % 7) {
	case 0:
		srv_repo_deb_parse_packages(text, size, check, &n, &err);
		break;
	case 1:
		srv_repo_deb_release_lookup(text, size,
					    "main/binary-amd64/Packages.xz",
					    &ent, &err);
		break;
	case 2:
		srv_repo_deb_clearsigned_text(text, size, &b, &err);
		break;
	case 3:
		srv_repo_rpmmd_parse_repomd(text, size, "primary", &md, &err);
		break;
	case 4:
		srv_repo_rpmmd_parse_primary(text, size, check, &n, &err);
		break;
	case 5:
		srv_repo_pacman_parse_desc(text, size, check, &n, &err);
		break;
	case 6:
		srv_repo_pacman_parse_db(data + 1, size, check, &n, &err);
		break;
	}
	rf_buf_free(&b);
	free(text);
	return 0;
}
