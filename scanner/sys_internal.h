/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef SCAN_SYS_INTERNAL_H
#define SCAN_SYS_INTERNAL_H

/*
 * What the parts of the system inventory (system.c, storage.c, network*.c,
 * accounts.c, services.c) share: a sticky-error XML output, bounded reading
 * of the root's text files, line and key=value helpers, listing a directory
 * inside the root. Private to scanner/; system.h is the public face.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/xmlwriter.h>

#include "buf.h"
#include "system.h"

/* Caps on what one file may hold before it is refused with a warning. */
#define SYS_MAX_CONF (1u << 20)	   /* a configuration file */
#define SYS_MAX_TABLE (32u << 20)  /* passwd, group, shadow */
#define SYS_MAX_GRUBCFG (8u << 20) /* generated grub.cfg */
#define SYS_MAX_DIR_ENTRIES 4096   /* names taken from one directory */
#define SYS_MAX_ITEMS 4096	   /* records taken from one file */

/*
 * The XML output. xmlTextWriter reports failure on every call; rather than
 * test each of several hundred calls, the first failure is remembered here
 * and every later call does nothing, so a section's code reads as the
 * document it writes and scan_system_write() checks once at the end (the
 * way stdio's ferror() is used).
 */
struct sys_out {
	xmlTextWriterPtr w;
	int failed; /* the first negative return seen, 0 when none */
};

void sys_start(struct sys_out *o, const char *element);
void sys_end(struct sys_out *o);
/*
 * Text attribute. NULL writes nothing. A value that is not XML-safe UTF-8
 * (rf_xml_safe()) goes out as the attribute "<name>-base64" holding the
 * base64 of its bytes instead: the one rule for every text attribute of the
 * system sections (see lib/report-system.rng).
 */
void sys_attr(struct sys_out *o, const char *name, const char *value);
void sys_attr_len(struct sys_out *o, const char *name, const char *value,
		  size_t len);
void sys_attr_u64(struct sys_out *o, const char *name, uint64_t value);
void sys_attr_bool(struct sys_out *o, const char *name, bool value);
/* An empty element with one text attribute: <element name="value"/>. */
void sys_leaf(struct sys_out *o, const char *element, const char *name,
	      const char *value);

/* Warn through ctx->warn, prefixed with nothing: callers name the file. */
void sys_warn(const struct scan_sysctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Read a text file of the root (path absolute, resolved inside the root)
 * into out, at most max bytes. Returns 0; -ENOENT, silently, when the file
 * is not there; any other failure (too big, not a regular file, holds NUL
 * bytes so it cannot be text) is warned about and returned as a negative
 * errno, and out is left empty.
 */
int sys_read_text(const struct scan_sysctx *ctx, const char *path, size_t max,
		  struct rf_buf *out);

/*
 * Lines of a NUL-terminated text buffer, cut in place: returns the next line
 * without its "\n" (and "\r"), advancing *cursor, or NULL at the end.
 */
char *sys_next_line(char **cursor);
/* s without leading and trailing blanks, cut in place. */
char *sys_strip(char *s);
/* The next blank-separated word of *cursor, cut in place; NULL at end. */
char *sys_next_word(char **cursor);

/*
 * One shell-style assignment line (os-release, files of /etc/default,
 * locale.conf, ifcfg): `[export ]KEY=VALUE` with VALUE bare, "double" or
 * 'single' quoted and backslash escapes in double quotes. Comments and blank
 * lines give false. On true, *key and *value point into line (cut in place).
 */
bool sys_parse_assignment(char *line, char **key, char **value);

/*
 * Names in a directory of the root, sorted bytewise, hidden ones (leading
 * dot) left out, at most SYS_MAX_DIR_ENTRIES. Returns the count (0 when the
 * directory is absent) and sets *names to an array of owned strings that
 * sys_names_free() releases; negative errno (warned) on other failures.
 */
int sys_list_dir(const struct scan_sysctx *ctx, const char *dir, char ***names);
void sys_names_free(char **names, int n);

/*
 * Read every file of dir that accept() takes (NULL: every one), in name
 * order, and hand its path and text (NUL-terminated, to cut in place) to
 * fn, which returns false to stop. Files that cannot be read are warned
 * about and skipped; a file masked by a symlink to /dev/null, quietly.
 */
typedef bool (*sys_file_fn)(const struct scan_sysctx *ctx, void *opaque,
			    const char *path, char *text);
void sys_for_each_file(const struct scan_sysctx *ctx, const char *dir,
		       bool (*accept)(const char *name), size_t max,
		       sys_file_fn fn, void *opaque);

/* d_type-like test of path inside the root, following symlinks. */
bool sys_is_dir(const struct scan_sysctx *ctx, const char *path);
bool sys_exists(const struct scan_sysctx *ctx, const char *path);
/* lstat-like: is path itself a symlink? */
bool sys_is_symlink(const struct scan_sysctx *ctx, const char *path);

/* Is s a decimal number that fits in *out (no sign, no blanks)? */
bool sys_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* A growable list of owned strings. */
struct sys_strlist {
	char **v;
	size_t n, cap;
};

/* Append a copy of s; unless dup is true, a value already there is skipped. */
void sys_strlist_add(struct sys_strlist *l, const char *s, bool dup);
bool sys_strlist_has(const struct sys_strlist *l, const char *s);
void sys_strlist_free(struct sys_strlist *l);

/* Does name end with suffix? */
bool sys_has_suffix(const char *name, const char *suffix);

/* The sections, each in its own file. */
void sys_write_system(const struct scan_sysctx *ctx, struct sys_out *o);
void sys_write_storage(const struct scan_sysctx *ctx, struct sys_out *o);
void sys_write_network(const struct scan_sysctx *ctx, struct sys_out *o);
void sys_write_accounts(const struct scan_sysctx *ctx, struct sys_out *o);
void sys_write_services(const struct scan_sysctx *ctx, struct sys_out *o);
void sys_write_repositories(const struct scan_sysctx *ctx, struct sys_out *o);

#endif
