/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The qcow2 reader: header, L1/L2 tables, compressed clusters. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

int fuzz_img(const char *format, const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_img("qcow2", data, size);
}
