/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The generator's report reader on arbitrary bytes. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "generator/gen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gen_report *r = NULL;
	struct rf_error err = {0};

	if (gen_report_parse((const char *)data, size, &r, &err) == 0)
		gen_report_free(r);
	return 0;
}
