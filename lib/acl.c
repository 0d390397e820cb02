/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <endian.h>
#include <stdint.h>
#include <string.h>

#include "acl.h"
#include "buf.h"

#define ACL_XATTR_VERSION 2
#define ACL_MAX_ENTRIES 8192 /* far beyond what any filesystem allows */

enum {
	TAG_USER_OBJ = 0x01,
	TAG_USER = 0x02,
	TAG_GROUP_OBJ = 0x04,
	TAG_GROUP = 0x08,
	TAG_MASK = 0x10,
	TAG_OTHER = 0x20,
};

char *rf_acl_to_text(const void *xattr, size_t len)
{
	const unsigned char *p = xattr;
	struct rf_buf b = RF_BUF_INIT;
	uint32_t version;
	size_t n;

	if (len < 4 || (len - 4) % 8 != 0)
		return NULL;
	memcpy(&version, p, 4);
	if (le32toh(version) != ACL_XATTR_VERSION)
		return NULL;
	n = (len - 4) / 8;
	if (n > ACL_MAX_ENTRIES)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const unsigned char *e = p + 4 + 8 * i;
		uint16_t tag, perm;
		uint32_t id;
		char perms[4];

		memcpy(&tag, e, 2);
		memcpy(&perm, e + 2, 2);
		memcpy(&id, e + 4, 4);
		tag = le16toh(tag);
		perm = le16toh(perm);
		id = le32toh(id);
		perms[0] = (perm & 4) ? 'r' : '-';
		perms[1] = (perm & 2) ? 'w' : '-';
		perms[2] = (perm & 1) ? 'x' : '-';
		perms[3] = '\0';
		if (i > 0)
			rf_buf_addch(&b, ',');
		switch (tag) {
		case TAG_USER_OBJ:
			rf_buf_printf(&b, "u::%s", perms);
			break;
		case TAG_USER:
			rf_buf_printf(&b, "u:%u:%s", id, perms);
			break;
		case TAG_GROUP_OBJ:
			rf_buf_printf(&b, "g::%s", perms);
			break;
		case TAG_GROUP:
			rf_buf_printf(&b, "g:%u:%s", id, perms);
			break;
		case TAG_MASK:
			rf_buf_printf(&b, "m::%s", perms);
			break;
		case TAG_OTHER:
			rf_buf_printf(&b, "o::%s", perms);
			break;
		default:
			rf_buf_free(&b);
			return NULL;
		}
	}
	return rf_buf_detach(&b);
}
