/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef RF_REPORT_H
#define RF_REPORT_H

#include <stddef.h>

#include <libxml/xmlwriter.h>

/*
 * Conventions of the scan report (lib/report.rng is its schema), shared by
 * the scanner that writes it and the server that reads it.
 */
#define RF_REPORT_NS "urn:reforge:report:1"
#define RF_REPORT_FORMAT_VERSION "1"

/*
 * Write a byte string (a path, a link target, a name) as attribute name, or,
 * when it is not text XML can carry (invalid UTF-8, control characters), as
 * name-base64. Returns what xmlTextWriter returned (negative on failure).
 */
int rf_report_attr_bytes(xmlTextWriterPtr w, const char *name,
			 const char *value, size_t len);

#endif
