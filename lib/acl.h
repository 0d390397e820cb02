/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef RF_ACL_H
#define RF_ACL_H

#include <stddef.h>

/*
 * POSIX ACLs as the kernel stores them in the system.posix_acl_access and
 * system.posix_acl_default extended attributes: a little-endian header
 * (version 2) and entries of {le16 tag, le16 perm, le32 id}.
 *
 * Returns the short text form with numeric ids ("u::rw-,u:1000:r--,g::r--,
 * m::r--,o::---"), which acl_from_text(3) reads back, as a string the caller
 * frees; NULL when the value is malformed (wrong version, truncated entry,
 * unknown tag).
 */
char *rf_acl_to_text(const void *xattr, size_t len);

#endif
