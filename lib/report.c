/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <stdio.h>

#include "buf.h"
#include "escape.h"
#include "report.h"

int rf_report_attr_bytes(xmlTextWriterPtr w, const char *name,
			 const char *value, size_t len)
{
	struct rf_buf b = RF_BUF_INIT;
	char attr[64];
	int rc;

	if (rf_xml_safe(value, len)) {
		rf_buf_add(&b, value, len);
		rc = xmlTextWriterWriteAttribute(
			w, BAD_CAST name, BAD_CAST(b.data ? b.data : ""));
	} else {
		snprintf(attr, sizeof(attr), "%s-base64", name);
		rf_base64_encode(&b, value, len);
		rc = xmlTextWriterWriteAttribute(
			w, BAD_CAST attr, BAD_CAST(b.data ? b.data : ""));
	}
	rf_buf_free(&b);
	return rc;
}
