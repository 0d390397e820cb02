/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target of the source host's repository configuration parsers. The
 * first byte chooses: 0 apt one-line .list, 1 deb822 .sources, 2 yum/dnf
 * .repo, 3 pacman.conf (its Include files read the same input again).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/repo_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	const char *text;
	size_t len;
};

static int include(void *ctx, const char *path, char **text, size_t *len)
{
	const struct input *in = ctx;

	*text = rf_xmalloc(in->len + 1);
	memcpy(*text, in->text, in->len + 1);
	*len = in->len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct srv_repo_vars vars = {"9", "x86_64", "x86_64"};
	struct srv_repo_deflist list = {0};
	struct rf_error err = {0};
	struct input in;
	char *text;

	if (size < 1)
		return 0;
	text = rf_xmalloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	in.text = text;
	in.len = size - 1;
	switch (data[0] % 4) {
	case 0:
		srv_repo_sources_parse_apt_list(text, size - 1, "f", &list,
						&err);
		break;
	case 1:
		srv_repo_sources_parse_deb822(text, size - 1, "f", &list, &err);
		break;
	case 2:
		srv_repo_sources_parse_yum(text, size - 1, "f", &vars, &list,
					   &err);
		break;
	case 3:
		srv_repo_sources_parse_pacman(text, size - 1, "f", &vars,
					      include, &in, &list, &err);
		break;
	}
	for (size_t i = 0; i < list.n; i++)
		if (list.defs[i].name == NULL || list.defs[i].kind == NULL)
			abort();
	srv_repo_deflist_free(&list);
	free(text);
	return 0;
}
