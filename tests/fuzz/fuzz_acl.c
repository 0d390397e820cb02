/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rf_acl_to_text() on arbitrary xattr values: never a crash, and a
 * result only in the form acl_from_text(3) reads. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *t = rf_acl_to_text(data, size);

	if (t != NULL && strspn(t, "ugmo:,0123456789rwx-") != strlen(t))
		abort();
	free(t);
	return 0;
}
