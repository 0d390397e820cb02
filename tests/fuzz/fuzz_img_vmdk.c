/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VMDK reader: sparse header, footer, descriptor, grain directory and
 * tables, grain markers and deflated grains.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

int fuzz_img(const char *format, const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_img("vmdk", data, size);
}
