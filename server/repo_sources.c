/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A host's own repository configuration, read into repository definitions
 * so that `reforge repo add --from-scan` can offer them: apt's one-line
 * sources.list and deb822 .sources, yum/dnf .repo files, pacman.conf.
 *
 * Keyrings named there (signed-by, gpgkey) are paths on the source host:
 * they are kept in def->keyring as written, for the person adding the
 * repository to import. A .repo section with only a mirrorlist or metalink
 * has no URL (def->url NULL): the server cannot resolve mirrors.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repo_private.h"
#include "rootfs.h"

#define SOURCES_FILE_MAX (4u << 20)

/* A name unique in list, from a hint such as "deb.debian.org-bookworm". */
static char *unique_name(const struct srv_repo_deflist *list, const char *hint)
{
	struct rf_buf b = RF_BUF_INIT;
	char *base;

	for (const char *c = hint; *c && b.len < 100; c++)
		rf_buf_addch(&b, isalnum((unsigned char)*c) || *c == '.' ||
						 *c == '_' || *c == '-'
					 ? *c
					 : '-');
	if (b.len == 0 || b.data[0] == '.')
		rf_buf_addstr(&b, b.len ? "" : "repo");
	while (b.len > 1 && b.data[b.len - 1] == '-')
		b.data[--b.len] = '\0';
	if (b.data[0] == '.')
		b.data[0] = '_';
	base = rf_buf_detach(&b);
	for (unsigned n = 1;; n++) {
		bool taken = false;

		rf_buf_reset(&b);
		if (n == 1)
			rf_buf_addstr(&b, base);
		else
			rf_buf_printf(&b, "%s-%u", base, n);
		for (size_t i = 0; i < list->n && !taken; i++)
			taken = strcmp(list->defs[i].name, b.data) == 0;
		if (!taken)
			break;
	}
	free(base);
	return rf_buf_detach(&b);
}

static char *apt_hint(const char *uri, const char *suite)
{
	struct rf_buf b = RF_BUF_INIT;
	const char *host = strstr(uri, "://");
	size_t n;

	host = host ? host + 3 : uri;
	n = strcspn(host, "/:");
	rf_buf_printf(&b, "%.*s-%s", (int)n, host, suite);
	return rf_buf_detach(&b);
}

static void add_apt(struct srv_repo_deflist *list, const char *origin,
		    const char *uri, const char *suite, const char *comps,
		    const char *arch, const char *keyring, bool enabled)
{
	struct srv_repo_def d = {0};
	char *hint = apt_hint(uri, suite);

	d.name = unique_name(list, hint);
	d.kind = "deb";
	d.url = (char *)uri;
	d.suite = (char *)suite;
	d.components = comps && *comps ? (char *)comps : NULL;
	d.arch = (char *)arch;
	d.keyring = (char *)keyring;
	d.enabled = enabled;
	d.origin = (char *)origin;
	srv_repo_deflist_add(list, &d);
	free(d.name);
	free(hint);
}

/* Next whitespace-separated word of [*p, end), or NULL. */
static char *word(const char **p, const char *end)
{
	const char *s = *p;

	while (s < end && isspace((unsigned char)*s))
		s++;
	if (s == end)
		return NULL;
	*p = s;
	while (*p < end && !isspace((unsigned char)**p))
		(*p)++;
	return rf_xstrndup(s, *p - s);
}

int srv_repo_sources_parse_apt_list(const char *text, size_t len,
				    const char *origin,
				    struct srv_repo_deflist *list,
				    struct rf_error *err)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		const char *eol = nl ? nl : end, *hash, *q;
		char *type, *uri = NULL, *suite = NULL, *arch = NULL;
		char *keyring = NULL, *w;
		struct rf_buf comps = RF_BUF_INIT;

		hash = memchr(p, '#', eol - p);
		if (hash)
			eol = hash;
		q = p;
		p = nl ? nl + 1 : end;
		type = word(&q, eol);
		if (type == NULL || strcmp(type, "deb") != 0) {
			free(type);
			continue;
		}
		free(type);
		while (q < eol && isspace((unsigned char)*q))
			q++;
		if (q < eol && *q == '[') {
			const char *close = memchr(q, ']', eol - q);
			const char *o = q + 1;

			if (close == NULL)
				continue; /* malformed: apt refuses it too */
			while ((w = word(&o, close))) {
				if (strncmp(w, "arch=", 5) == 0 && !arch)
					arch = rf_xstrndup(w + 5,
							   strcspn(w + 5, ","));
				else if (strncmp(w, "signed-by=", 10) == 0 &&
					 !keyring)
					keyring = rf_xstrndup(
						w + 10, strcspn(w + 10, ","));
				free(w);
			}
			q = close + 1;
		}
		uri = word(&q, eol);
		suite = word(&q, eol);
		while ((w = word(&q, eol))) {
			if (comps.len)
				rf_buf_addch(&comps, ' ');
			rf_buf_addstr(&comps, w);
			free(w);
		}
		if (uri && suite)
			add_apt(list, origin, uri, suite, comps.data, arch,
				keyring, true);
		free(uri);
		free(suite);
		free(arch);
		free(keyring);
		rf_buf_free(&comps);
	}
	(void)err;
	return 0;
}

static char *slice(const char *v, size_t n)
{
	return rf_xstrndup(v, n);
}

int srv_repo_sources_parse_deb822(const char *text, size_t len,
				  const char *origin,
				  struct srv_repo_deflist *list,
				  struct rf_error *err)
{
	struct srv_deb822 it = {text, text + len, 1};
	const char *name, *val;
	size_t nlen, vlen;
	int rc = 0, r;

	while (srv_deb822_stanza(&it)) {
		char *types = NULL, *uris = NULL, *suites = NULL;
		char *comps = NULL, *arch = NULL, *keyring = NULL;
		bool enabled = true;

		while ((r = srv_deb822_field(&it, &name, &nlen, &val, &vlen)) >
		       0) {
			char **dst = NULL;

			if (srv_deb822_is(name, nlen, "Types"))
				dst = &types;
			else if (srv_deb822_is(name, nlen, "URIs"))
				dst = &uris;
			else if (srv_deb822_is(name, nlen, "Suites"))
				dst = &suites;
			else if (srv_deb822_is(name, nlen, "Components"))
				dst = &comps;
			else if (srv_deb822_is(name, nlen, "Architectures"))
				dst = &arch;
			else if (srv_deb822_is(name, nlen, "Signed-By"))
				dst = &keyring;
			else if (srv_deb822_is(name, nlen, "Enabled"))
				enabled = !(vlen == 2 &&
					    strncasecmp(val, "no", 2) == 0);
			if (dst && *dst == NULL)
				*dst = slice(val, vlen);
		}
		if (r < 0) {
			rc = rf_error_set(err, -EBADMSG,
					  "%s: malformed line %u", origin,
					  it.line);
			r = -1;
		}
		/* an inline key block is not a path: keep none */
		if (keyring && (strchr(keyring, '\n') || keyring[0] != '/')) {
			free(keyring);
			keyring = NULL;
		}
		if (arch)
			arch[strcspn(arch, " \t")] = '\0';
		if (r == 0 && types && uris && suites) {
			const char *t = types, *te = types + strlen(types);
			char *w;
			bool deb = false;

			while ((w = word(&t, te))) {
				deb |= strcmp(w, "deb") == 0;
				free(w);
			}
			for (const char *u = uris, *ue = uris + strlen(uris);
			     deb;) {
				char *uri = word(&u, ue);

				if (uri == NULL)
					break;
				for (const char *s = suites,
						*se = suites + strlen(suites);
				     ;) {
					char *suite = word(&s, se);

					if (suite == NULL)
						break;
					add_apt(list, origin, uri, suite, comps,
						arch, keyring, enabled);
					free(suite);
				}
				free(uri);
			}
		}
		free(types);
		free(uris);
		free(suites);
		free(comps);
		free(arch);
		free(keyring);
		if (rc)
			break;
	}
	return rc;
}

/* INI files (.repo, pacman.conf): calls fn for "[section]" and key=value. */
static void ini_each(const char *text, size_t len,
		     void (*fn)(void *arg, const char *section, const char *key,
				const char *val),
		     void *arg)
{
	const char *p = text, *end = text + len;
	char *section = NULL, *key = NULL;
	struct rf_buf val = RF_BUF_INIT;

	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		const char *eol = nl ? nl : end, *s = p, *e = eol;
		bool cont = p < eol && (*p == ' ' || *p == '\t');

		p = nl ? nl + 1 : end;
		while (s < e && isspace((unsigned char)*s))
			s++;
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
		if (s == e || *s == '#' || *s == ';')
			continue;
		if (cont && key) {
			/* yum: more baseurls on continuation lines */
			rf_buf_addch(&val, ' ');
			rf_buf_add(&val, s, e - s);
			continue;
		}
		if (key) {
			fn(arg, section, key, val.data ? val.data : "");
			free(key);
			key = NULL;
			rf_buf_reset(&val);
		}
		if (*s == '[') {
			const char *close = memchr(s, ']', e - s);

			free(section);
			section = close ? rf_xstrndup(s + 1, close - s - 1)
					: NULL;
			if (section)
				fn(arg, section, NULL, NULL);
			continue;
		}
		if (section == NULL)
			continue;
		{
			const char *eq = memchr(s, '=', e - s), *ke, *v;

			ke = eq ? eq : e;
			while (ke > s && isspace((unsigned char)ke[-1]))
				ke--;
			key = rf_xstrndup(s, ke - s);
			v = eq ? eq + 1 : e;
			while (v < e && isspace((unsigned char)*v))
				v++;
			rf_buf_add(&val, v, e - v);
			if (val.data == NULL)
				rf_buf_addstr(&val, "");
		}
	}
	if (key)
		fn(arg, section, key, val.data ? val.data : "");
	free(key);
	free(section);
	rf_buf_free(&val);
}

struct yum_state {
	struct srv_repo_deflist *list;
	const char *origin;
	const struct srv_repo_vars *vars;
	struct srv_repo_def cur;
	bool open;
};

static char *expand(const char *s, const struct srv_repo_vars *v,
		    const char *repo)
{
	static const char *const names[] = {"releasever", "basearch", "arch",
					    "repo"};
	const char *values[4] = {v ? v->releasever : NULL,
				 v ? v->basearch : NULL, v ? v->arch : NULL,
				 repo};

	return srv_repo_subst(s, names, values, 4);
}

static void yum_flush(struct yum_state *st)
{
	if (st->open) {
		char *given = st->cur.name;

		st->cur.name = unique_name(st->list, given);
		free(given);
		srv_repo_deflist_add(st->list, &st->cur);
	}
	srv_repo_def_clear(&st->cur);
	st->open = false;
}

static void yum_kv(void *arg, const char *section, const char *key,
		   const char *val)
{
	struct yum_state *st = arg;

	if (key == NULL) {
		yum_flush(st);
		if (strcmp(section, "main") == 0)
			return;
		st->open = true;
		st->cur.name = rf_xstrdup(section);
		st->cur.kind = rf_xstrdup("rpm-md");
		st->cur.origin = rf_xstrdup(st->origin);
		st->cur.enabled = true;
		return;
	}
	if (!st->open)
		return;
	if (strcmp(key, "baseurl") == 0 && st->cur.url == NULL) {
		const char *p = val;
		char *first = word(&p, val + strlen(val));

		if (first) {
			first[strcspn(first, ",")] = '\0';
			st->cur.url = expand(first, st->vars, NULL);
			free(first);
		}
	} else if (strcmp(key, "enabled") == 0) {
		st->cur.enabled = !(strcmp(val, "0") == 0 ||
				    strcasecmp(val, "false") == 0 ||
				    strcasecmp(val, "no") == 0);
	} else if (strcmp(key, "gpgkey") == 0 && st->cur.keyring == NULL) {
		const char *p = val;
		char *first = word(&p, val + strlen(val));

		if (first && strncmp(first, "file://", 7) == 0)
			st->cur.keyring = expand(first + 7, st->vars, NULL);
		free(first);
	}
}

int srv_repo_sources_parse_yum(const char *text, size_t len, const char *origin,
			       const struct srv_repo_vars *vars,
			       struct srv_repo_deflist *list,
			       struct rf_error *err)
{
	struct yum_state st = {.list = list, .origin = origin, .vars = vars};

	ini_each(text, len, yum_kv, &st);
	yum_flush(&st);
	(void)err;
	return 0;
}

struct pacman_state {
	struct srv_repo_deflist *list;
	const char *origin;
	struct srv_repo_vars vars;
	int (*include)(void *ctx, const char *path, char **text, size_t *len);
	void *ctx;
	struct srv_repo_def cur;
	char *arch_opt;
	bool open;
	unsigned depth;
};

static void pacman_flush(struct pacman_state *st)
{
	if (st->open) {
		char *given = st->cur.name;

		st->cur.name = unique_name(st->list, given);
		free(given);
		srv_repo_deflist_add(st->list, &st->cur);
	}
	srv_repo_def_clear(&st->cur);
	st->open = false;
}

static void pacman_kv(void *arg, const char *section, const char *key,
		      const char *val);

/* An Include file holds key = value lines of the including section. */
static void pacman_include(struct pacman_state *st, const char *path)
{
	char *text = NULL;
	size_t len = 0;
	const char *p, *end;

	if (st->include == NULL || st->depth > 4 ||
	    st->include(st->ctx, path, &text, &len) < 0)
		return;
	st->depth++;
	for (p = text, end = text + len; p < end;) {
		const char *nl = memchr(p, '\n', end - p);
		const char *eol = nl ? nl : end, *s = p, *eq, *ke, *v, *e;
		char *k, *vv;

		p = nl ? nl + 1 : end;
		while (s < eol && isspace((unsigned char)*s))
			s++;
		eq = memchr(s, '=', eol - s);
		if (s == eol || *s == '#' || eq == NULL)
			continue;
		for (ke = eq; ke > s && isspace((unsigned char)ke[-1]);)
			ke--;
		for (v = eq + 1; v < eol && isspace((unsigned char)*v);)
			v++;
		for (e = eol; e > v && isspace((unsigned char)e[-1]);)
			e--;
		k = rf_xstrndup(s, ke - s);
		vv = rf_xstrndup(v, e - v);
		pacman_kv(st, st->cur.name, k, vv);
		free(k);
		free(vv);
	}
	st->depth--;
	free(text);
}

static void pacman_kv(void *arg, const char *section, const char *key,
		      const char *val)
{
	struct pacman_state *st = arg;

	if (key == NULL) {
		pacman_flush(st);
		if (strcmp(section, "options") == 0)
			return;
		st->open = true;
		st->cur.name = rf_xstrdup(section);
		st->cur.kind = rf_xstrdup("pacman");
		st->cur.suite = rf_xstrdup(section);
		st->cur.origin = rf_xstrdup(st->origin);
		st->cur.enabled = true;
		return;
	}
	if (strcmp(section, "options") == 0) {
		if (strcmp(key, "Architecture") == 0 && st->arch_opt == NULL) {
			const char *p = val;

			st->arch_opt = word(&p, val + strlen(val));
		}
		return;
	}
	if (!st->open)
		return;
	if (strcmp(key, "Server") == 0 && st->cur.url == NULL) {
		struct srv_repo_vars v = st->vars;

		if (v.arch == NULL && st->arch_opt &&
		    strcmp(st->arch_opt, "auto") != 0)
			v.arch = st->arch_opt;
		st->cur.url = expand(val, &v, st->cur.suite);
		if (v.arch)
			st->cur.arch = rf_xstrdup(v.arch);
	} else if (strcmp(key, "Include") == 0 && st->cur.url == NULL) {
		pacman_include(st, val);
	}
}

int srv_repo_sources_parse_pacman(
	const char *text, size_t len, const char *origin,
	const struct srv_repo_vars *vars,
	int (*include)(void *ctx, const char *path, char **text, size_t *len),
	void *ctx, struct srv_repo_deflist *list, struct rf_error *err)
{
	struct pacman_state st = {
		.list = list,
		.origin = origin,
		.include = include,
		.ctx = ctx,
	};

	if (vars)
		st.vars = *vars;
	ini_each(text, len, pacman_kv, &st);
	pacman_flush(&st);
	free(st.arch_opt);
	(void)err;
	return 0;
}

/* Reading a root. */

struct root_ctx {
	int fd;
	struct rf_error *err;
};

static int read_in_root(void *arg, const char *path, char **text, size_t *len)
{
	struct root_ctx *rc = arg;
	struct rf_buf b = RF_BUF_INIT;
	struct rf_error ignored;
	int r;

	r = rf_root_read_file(rc->fd, path, SOURCES_FILE_MAX, &b, &ignored);
	if (r < 0) {
		rf_buf_free(&b);
		return r;
	}
	*len = b.len;
	*text = rf_buf_detach(&b);
	return 0;
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Sorted names of the files in dir (inside the root) ending in suffix. */
static int list_dir(int rootfd, const char *dir, const char *suffix,
		    char ***names, size_t *n)
{
	int fd = rf_root_open(rootfd, dir, O_RDONLY | O_DIRECTORY);
	DIR *d;
	struct dirent *e;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -errno;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !has_suffix(e->d_name, suffix))
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			*names = rf_xrealloc(*names, cap * sizeof(char *));
		}
		(*names)[(*n)++] = rf_xstrdup(e->d_name);
	}
	closedir(d);
	/* sources.list.d is read in name order, as apt does */
	for (size_t i = 1; i < *n; i++)
		for (size_t j = i;
		     j > 0 && strcmp((*names)[j - 1], (*names)[j]) > 0; j--) {
			char *t = (*names)[j];

			(*names)[j] = (*names)[j - 1];
			(*names)[j - 1] = t;
		}
	return 0;
}

enum source_type { SRC_APT_LIST, SRC_DEB822, SRC_YUM, SRC_PACMAN };

static int parse_one(struct root_ctx *rc, const char *path,
		     enum source_type type, const struct srv_repo_vars *vars,
		     struct srv_repo_deflist *list, struct rf_error *err)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	r = read_in_root(rc, path, &text, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return rf_error_errno(err, r, "cannot read %s", path);
	switch (type) {
	case SRC_APT_LIST:
		r = srv_repo_sources_parse_apt_list(text, len, path, list, err);
		break;
	case SRC_DEB822:
		r = srv_repo_sources_parse_deb822(text, len, path, list, err);
		break;
	case SRC_YUM:
		r = srv_repo_sources_parse_yum(text, len, path, vars, list,
					       err);
		break;
	case SRC_PACMAN:
		r = srv_repo_sources_parse_pacman(text, len, path, vars,
						  read_in_root, rc, list, err);
		break;
	}
	free(text);
	return r;
}

static char *os_release_version(struct root_ctx *rc)
{
	char *text = NULL, *ver = NULL;
	size_t len = 0;

	if (read_in_root(rc, "/etc/os-release", &text, &len) < 0 &&
	    read_in_root(rc, "/usr/lib/os-release", &text, &len) < 0)
		return NULL;
	for (const char *p = text, *end = text + len; p < end;) {
		const char *nl = memchr(p, '\n', end - p);
		const char *eol = nl ? nl : end;

		if (eol - p > 11 && strncmp(p, "VERSION_ID=", 11) == 0) {
			const char *v = p + 11, *e = eol;

			if (*v == '"' || *v == '\'')
				v++;
			if (e > v && (e[-1] == '"' || e[-1] == '\''))
				e--;
			ver = rf_xstrndup(v, e - v);
			break;
		}
		p = nl ? nl + 1 : end;
	}
	free(text);
	return ver;
}

int srv_repo_sources_from_root(const char *root,
			       const struct srv_repo_vars *vars,
			       struct srv_repo_deflist *list,
			       struct rf_error *err)
{
	static const struct {
		const char *dir, *suffix;
		enum source_type type;
	} dirs[] = {
		{"/etc/apt/sources.list.d", ".list", SRC_APT_LIST},
		{"/etc/apt/sources.list.d", ".sources", SRC_DEB822},
		{"/etc/yum.repos.d", ".repo", SRC_YUM},
		{"/etc/distro.repos.d", ".repo", SRC_YUM},
	};
	struct root_ctx rc = {.err = err};
	struct srv_repo_vars v = {0};
	char *osver = NULL;
	int r;

	if (vars)
		v = *vars;
	rc.fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rc.fd < 0)
		return rf_error_errno(err, -errno, "cannot open %s", root);
	if (v.releasever == NULL)
		v.releasever = osver = os_release_version(&rc);
	r = parse_one(&rc, "/etc/apt/sources.list", SRC_APT_LIST, &v, list,
		      err);
	for (size_t i = 0; r == 0 && i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char **names;
		size_t n;

		r = list_dir(rc.fd, dirs[i].dir, dirs[i].suffix, &names, &n);
		if (r < 0) {
			r = rf_error_errno(err, r, "cannot list %s%s", root,
					   dirs[i].dir);
			break;
		}
		for (size_t j = 0; j < n; j++) {
			struct rf_buf path = RF_BUF_INIT;

			rf_buf_printf(&path, "%s/%s", dirs[i].dir, names[j]);
			if (r == 0)
				r = parse_one(&rc, path.data, dirs[i].type, &v,
					      list, err);
			rf_buf_free(&path);
			free(names[j]);
		}
		free(names);
	}
	if (r == 0)
		r = parse_one(&rc, "/etc/pacman.conf", SRC_PACMAN, &v, list,
			      err);
	free(osver);
	close(rc.fd);
	return r;
}
