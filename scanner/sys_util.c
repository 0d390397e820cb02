/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers of the system inventory: the sticky-error XML output, bounded
 * reading of the root's text files and the small parsers every section
 * needs (lines, words, shell assignments, directory listings).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "escape.h"
#include "rootfs.h"
#include "sys_internal.h"

void sys_start(struct sys_out *o, const char *element)
{
	int rc;

	if (o->failed)
		return;
	rc = xmlTextWriterStartElement(o->w, BAD_CAST element);
	if (rc < 0)
		o->failed = -EIO;
}

void sys_end(struct sys_out *o)
{
	if (o->failed)
		return;
	if (xmlTextWriterEndElement(o->w) < 0)
		o->failed = -EIO;
}

static void write_attr(struct sys_out *o, const char *name, const char *value)
{
	if (o->failed)
		return;
	if (xmlTextWriterWriteAttribute(o->w, BAD_CAST name, BAD_CAST value) <
	    0)
		o->failed = -EIO;
}

void sys_attr_len(struct sys_out *o, const char *name, const char *value,
		  size_t len)
{
	struct rf_buf b = RF_BUF_INIT, n = RF_BUF_INIT;

	if (value == NULL || o->failed)
		return;
	if (rf_xml_safe(value, len) && memchr(value, '\0', len) == NULL) {
		rf_buf_add(&b, value, len);
		write_attr(o, name, b.len ? b.data : "");
	} else {
		rf_base64_encode(&b, value, len);
		rf_buf_printf(&n, "%s-base64", name);
		write_attr(o, n.data, b.len ? b.data : "");
	}
	rf_buf_free(&b);
	rf_buf_free(&n);
}

void sys_attr(struct sys_out *o, const char *name, const char *value)
{
	if (value != NULL)
		sys_attr_len(o, name, value, strlen(value));
}

void sys_attr_u64(struct sys_out *o, const char *name, uint64_t value)
{
	char num[32];

	snprintf(num, sizeof(num), "%llu", (unsigned long long)value);
	write_attr(o, name, num);
}

void sys_attr_bool(struct sys_out *o, const char *name, bool value)
{
	write_attr(o, name, value ? "true" : "false");
}

void sys_leaf(struct sys_out *o, const char *element, const char *name,
	      const char *value)
{
	sys_start(o, element);
	sys_attr(o, name, value);
	sys_end(o);
}

void sys_warn(const struct scan_sysctx *ctx, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (ctx->warn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->warn(ctx->opaque, "%s", msg);
}

int sys_read_text(const struct scan_sysctx *ctx, const char *path, size_t max,
		  struct rf_buf *out)
{
	struct rf_error err = {0};
	int rc;

	rf_buf_reset(out);
	rc = rf_root_read_file(ctx->rootfd, path, max, out, &err);
	if (rc == -ENOENT)
		goto out;
	if (rc < 0) {
		sys_warn(ctx, "%s: skipped: %s", path, err.msg);
		goto out;
	}
	/* Configuration files are text; a NUL means garbage, not config. */
	if (memchr(out->data, '\0', out->len) != NULL) {
		sys_warn(ctx, "%s: skipped: holds NUL bytes, not a text file",
			 path);
		rc = -EINVAL;
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		rf_buf_reset(out);
	else if (out->data == NULL)
		rf_buf_addstr(out, ""); /* an empty file is an empty string */
	return rc;
}

char *sys_next_line(char **cursor)
{
	char *line = *cursor, *nl;
	size_t len;

	if (line == NULL || *line == '\0')
		return NULL;
	nl = strchr(line, '\n');
	if (nl != NULL) {
		*nl = '\0';
		*cursor = nl + 1;
	} else {
		*cursor = line + strlen(line);
	}
	len = strlen(line);
	if (len > 0 && line[len - 1] == '\r')
		line[len - 1] = '\0';
	return line;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	       c == '\f';
}

char *sys_strip(char *s)
{
	size_t len;

	while (is_blank(*s))
		s++;
	len = strlen(s);
	while (len > 0 && is_blank(s[len - 1]))
		s[--len] = '\0';
	return s;
}

char *sys_next_word(char **cursor)
{
	char *s = *cursor, *word;

	while (is_blank(*s))
		s++;
	if (*s == '\0') {
		*cursor = s;
		return NULL;
	}
	word = s;
	while (*s != '\0' && !is_blank(*s))
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*cursor = s;
	return word;
}

bool sys_parse_assignment(char *line, char **key, char **value)
{
	char *s = sys_strip(line), *eq, *in, *outp;
	char quote = 0;

	if (*s == '\0' || *s == '#')
		return false;
	if (strncmp(s, "export", 6) == 0 && is_blank(s[6]))
		s = sys_strip(s + 7);
	eq = strchr(s, '=');
	if (eq == NULL || eq == s)
		return false;
	*eq = '\0';
	for (char *k = s; *k; k++)
		if (!(*k == '_' || (*k >= 'A' && *k <= 'Z') ||
		      (*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9')))
			return false;
	/*
	 * Unquote in place: the output never runs ahead of the input. A
	 * `#` outside quotes after a blank starts a comment, as in sh.
	 */
	in = outp = eq + 1;
	while (*in != '\0') {
		char c = *in++;

		if (quote == 0 && (c == '"' || c == '\'')) {
			quote = c;
		} else if (quote != 0 && c == quote) {
			quote = 0;
		} else if (quote != '\'' && c == '\\' && *in != '\0') {
			*outp++ = *in++;
		} else if (quote == 0 && is_blank(c)) {
			const char *p = in;

			while (is_blank(*p))
				p++;
			if (*p == '#' || *p == '\0')
				break;
			*outp++ = c;
		} else {
			*outp++ = c;
		}
	}
	*outp = '\0';
	*key = s;
	*value = eq + 1;
	return true;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int sys_list_dir(const struct scan_sysctx *ctx, const char *dir, char ***names)
{
	struct sys_strlist l = {0};
	struct dirent *de;
	DIR *d = NULL;
	int fd, rc;

	*names = NULL;
	fd = rf_root_open(ctx->rootfd, dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		rc = fd == -ENOENT || fd == -ENOTDIR ? 0 : fd;
		if (rc < 0)
			sys_warn(ctx, "%s: cannot list: %s", dir,
				 strerror(-rc));
		goto out;
	}
	d = fdopendir(fd);
	if (d == NULL) {
		rc = -errno;
		close(fd);
		sys_warn(ctx, "%s: cannot list: %s", dir, strerror(-rc));
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (l.n >= SYS_MAX_DIR_ENTRIES) {
			sys_warn(ctx,
				 "%s: more than %d entries, the rest "
				 "is left out",
				 dir, SYS_MAX_DIR_ENTRIES);
			break;
		}
		sys_strlist_add(&l, de->d_name, true);
	}
	if (l.n > 0)
		qsort(l.v, l.n, sizeof(*l.v), cmp_names);
	*names = l.v;
	rc = (int)l.n;
out:
	if (d != NULL)
		closedir(d);
	return rc;
}

void sys_names_free(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* A configuration masked by a symlink to /dev/null. */
static bool masked(const struct scan_sysctx *ctx, const char *path)
{
	struct rf_buf l = RF_BUF_INIT;
	bool m = false;

	if (sys_is_symlink(ctx, path) &&
	    rf_root_readlink(ctx->rootfd, path, &l) == 0)
		m = strcmp(l.data, "/dev/null") == 0;
	rf_buf_free(&l);
	return m;
}

void sys_for_each_file(const struct scan_sysctx *ctx, const char *dir,
		       bool (*accept)(const char *name), size_t max,
		       sys_file_fn fn, void *opaque)
{
	struct rf_buf p = RF_BUF_INIT, b = RF_BUF_INIT;
	char **names;
	int n = sys_list_dir(ctx, dir, &names);

	for (int i = 0; i < n; i++) {
		if (accept != NULL && !accept(names[i]))
			continue;
		rf_buf_reset(&p);
		rf_buf_printf(&p, "%s/%s", dir, names[i]);
		if (masked(ctx, p.data) ||
		    sys_read_text(ctx, p.data, max, &b) < 0)
			continue;
		if (!fn(ctx, opaque, p.data, b.data))
			break;
	}
	if (n > 0)
		sys_names_free(names, n);
	rf_buf_free(&p);
	rf_buf_free(&b);
}

static int stat_in_root(const struct scan_sysctx *ctx, const char *path,
			int flags, struct stat *st)
{
	int fd = rf_root_open(ctx->rootfd, path, O_PATH | flags);
	int rc;

	if (fd < 0)
		return fd;
	rc = fstat(fd, st) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

bool sys_is_dir(const struct scan_sysctx *ctx, const char *path)
{
	struct stat st;

	return stat_in_root(ctx, path, 0, &st) == 0 && S_ISDIR(st.st_mode);
}

bool sys_exists(const struct scan_sysctx *ctx, const char *path)
{
	struct stat st;

	return stat_in_root(ctx, path, 0, &st) == 0;
}

bool sys_is_symlink(const struct scan_sysctx *ctx, const char *path)
{
	struct stat st;

	return stat_in_root(ctx, path, O_NOFOLLOW, &st) == 0 &&
	       S_ISLNK(st.st_mode);
}

bool sys_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return false;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return false;
		d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

bool sys_has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return n >= s && strcmp(name + n - s, suffix) == 0;
}

void sys_strlist_add(struct sys_strlist *l, const char *s, bool dup)
{
	if (!dup && sys_strlist_has(l, s))
		return;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = rf_xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = rf_xstrdup(s);
}

bool sys_strlist_has(const struct sys_strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

void sys_strlist_free(struct sys_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}
