/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The dpkg database: var/lib/dpkg/status for the packages, info/PKG.list for
 * the paths each one owns, info/PKG.md5sums and the status file's Conffiles
 * for the digests, diversions and statoverride for what the administrator
 * moved or re-owned. The verdict on content uses these MD5 digests, the same
 * that `dpkg --verify` compares, so both agree on the same root.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "escape.h"
#include "pkgdb.h"
#include "rootfs.h"

#define DPKG_DIR "var/lib/dpkg"
/* Largest database file read: the status file of a big host is ~10 MiB. */
#define DPKG_MAX_FILE (512u * 1024 * 1024)

/* One stanza of the status file, fields pointing into the file's buffer. */
struct stanza {
	char *package, *status, *arch, *version, *maintainer, *multiarch;
	char *conffiles;
};

struct diversion {
	char *from, *to, *by;
};

struct dpkg_state {
	struct scan_pkgset *set;
	int rootfd;
	struct diversion *divs;
	size_t ndivs;
	struct rf_buf divbuf; /* backing store of divs' strings */
};

static bool dpkg_probe(int rootfd)
{
	struct stat st;

	return fstatat(rootfd, DPKG_DIR "/status", &st, 0) == 0 &&
	       S_ISREG(st.st_mode);
}

/* Next line of buf starting at *pos, NUL-terminated in place; NULL at end. */
static char *next_line(struct rf_buf *buf, size_t *pos)
{
	char *line, *nl;

	if (*pos >= buf->len)
		return NULL;
	line = buf->data + *pos;
	nl = memchr(line, '\n', buf->len - *pos);
	if (nl) {
		*nl = '\0';
		*pos = (size_t)(nl - buf->data) + 1;
	} else {
		*pos = buf->len;
	}
	return line;
}

static int read_db_file(struct dpkg_state *st, const char *path,
			struct rf_buf *out, struct rf_error *err)
{
	rf_buf_reset(out);
	return rf_root_read_file(st->rootfd, path, DPKG_MAX_FILE, out, err);
}

static int load_diversions(struct dpkg_state *st, struct rf_error *err)
{
	size_t pos = 0, n = 0, cap = 0;
	char *lines[3];
	int rc;

	rc = read_db_file(st, DPKG_DIR "/diversions", &st->divbuf, err);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	for (;;) {
		int k;

		for (k = 0; k < 3; k++) {
			lines[k] = next_line(&st->divbuf, &pos);
			if (lines[k] == NULL)
				break;
		}
		if (k == 0)
			break;
		if (k < 3 || lines[0][0] != '/' || lines[1][0] != '/')
			return rf_error_set(err, -EINVAL,
					    "%s/diversions: malformed entry "
					    "%zu (expected three lines: "
					    "from, to, package)",
					    DPKG_DIR, n + 1);
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			st->divs =
				rf_xrealloc(st->divs, cap * sizeof(*st->divs));
		}
		st->divs[n].from = lines[0];
		st->divs[n].to = lines[1];
		st->divs[n].by = lines[2];
		scan_pkgset_add_diversion(st->set, lines[0], lines[1],
					  lines[2]);
		n++;
	}
	st->ndivs = n;
	return 0;
}

/* Where the file that package pkg lists as path really is. */
static const char *divert(const struct dpkg_state *st, const char *path,
			  const char *pkg)
{
	for (size_t i = 0; i < st->ndivs; i++) {
		const struct diversion *d = &st->divs[i];

		if (strcmp(d->from, path) != 0)
			continue;
		/* ":" marks a local diversion, which moves every package's */
		if (strcmp(d->by, ":") != 0 && strcmp(d->by, pkg) == 0)
			return path;
		return d->to;
	}
	return path;
}

/* Parse "status" into stanzas, calling fn for each. */
static int parse_status(struct rf_buf *buf,
			int (*fn)(struct dpkg_state *, struct stanza *,
				  struct rf_error *),
			struct dpkg_state *st, struct rf_error *err)
{
	struct stanza s;
	char **cont = NULL; /* field a continuation line extends */
	size_t pos = 0, lineno = 0;
	char *line;
	int rc;

	memset(&s, 0, sizeof(s));
	for (;;) {
		line = next_line(buf, &pos);
		lineno++;
		if (line == NULL || line[0] == '\0') {
			if (s.package != NULL) {
				rc = fn(st, &s, err);
				if (rc < 0)
					return rc;
			} else if (s.status || s.version) {
				return rf_error_set(
					err, -EINVAL,
					"%s/status:%zu: stanza without a "
					"Package field",
					DPKG_DIR, lineno);
			}
			memset(&s, 0, sizeof(s));
			cont = NULL;
			if (line == NULL)
				return 0;
			continue;
		}
		if (line[0] == ' ' || line[0] == '\t') {
			/* continuation: join to the field with a newline */
			if (cont != NULL && *cont != NULL)
				line[-1] = '\n';
			continue;
		}
		{
			char *colon = strchr(line, ':');
			char *value;

			if (colon == NULL)
				return rf_error_set(
					err, -EINVAL,
					"%s/status:%zu: line is not a field",
					DPKG_DIR, lineno);
			*colon = '\0';
			value = colon + 1;
			while (*value == ' ' || *value == '\t')
				value++;
			cont = NULL;
			if (strcasecmp(line, "Package") == 0)
				s.package = value;
			else if (strcasecmp(line, "Status") == 0)
				s.status = value;
			else if (strcasecmp(line, "Architecture") == 0)
				s.arch = value;
			else if (strcasecmp(line, "Version") == 0)
				s.version = value;
			else if (strcasecmp(line, "Maintainer") == 0)
				s.maintainer = value;
			else if (strcasecmp(line, "Multi-Arch") == 0)
				s.multiarch = value;
			else if (strcasecmp(line, "Conffiles") == 0) {
				s.conffiles = value;
				cont = &s.conffiles;
			}
		}
	}
}

/* "install ok installed" -> "installed"; NULL for not-installed. */
static const char *status_state(const char *status)
{
	const char *p = strrchr(status, ' ');

	p = p ? p + 1 : status;
	if (strcmp(p, "not-installed") == 0)
		return NULL;
	return p;
}

/*
 * Read info/NAME[:ARCH].SUFFIX into buf: Multi-Arch: same packages are
 * arch-qualified, the others not; try the likely name first.
 */
static int read_info(struct dpkg_state *st, const struct stanza *s,
		     const char *suffix, struct rf_buf *buf,
		     struct rf_error *err)
{
	char path[1024];
	bool same = s->multiarch && strcmp(s->multiarch, "same") == 0;
	int rc;

	for (int attempt = 0; attempt < 2; attempt++) {
		bool qualified = (attempt == 0) == same;

		if (qualified && s->arch == NULL)
			continue;
		if (qualified)
			snprintf(path, sizeof(path), DPKG_DIR "/info/%s:%s.%s",
				 s->package, s->arch, suffix);
		else
			snprintf(path, sizeof(path), DPKG_DIR "/info/%s.%s",
				 s->package, suffix);
		rc = read_db_file(st, path, buf, err);
		if (rc != -ENOENT)
			return rc;
	}
	return -ENOENT;
}

static int add_md5(struct dpkg_state *st, uint32_t idx, const char *pkgname,
		   struct scan_pkgfile *pf, const char *hex, const char *where,
		   struct rf_error *err)
{
	unsigned char md5[16];

	if (strlen(hex) != 32 || rf_hex_decode(md5, 16, hex) < 0)
		return rf_error_set(err, -EINVAL,
				    "%s: bad MD5 digest '%.40s' for '%s' of "
				    "package %s",
				    where, hex, pf->path, pkgname);
	pf->algo = RF_DIGEST_MD5;
	pf->digest = scan_pkgset_memdup(st->set, md5, sizeof(md5));
	return 0;
}

static int load_package(struct dpkg_state *st, struct stanza *s,
			struct rf_error *err)
{
	struct rf_buf buf = RF_BUF_INIT;
	struct scan_pkg pkg;
	const char *state;
	uint32_t idx;
	size_t pos;
	char *line;
	int rc;

	if (s->status == NULL)
		return rf_error_set(err, -EINVAL,
				    "%s/status: package %s has no Status",
				    DPKG_DIR, s->package);
	state = status_state(s->status);
	if (state == NULL)
		return 0;
	memset(&pkg, 0, sizeof(pkg));
	pkg.db = "dpkg";
	pkg.name = s->package;
	pkg.version = s->version;
	pkg.arch = s->arch;
	pkg.status = state;
	pkg.vendor = s->maintainer;
	idx = scan_pkgset_add_package(st->set, &pkg);

	/* the paths it owns */
	rc = read_info(st, s, "list", &buf, err);
	if (rc < 0 && rc != -ENOENT)
		goto out;
	pos = 0;
	while (rc == 0 && (line = next_line(&buf, &pos)) != NULL) {
		size_t len = strlen(line);

		if (line[0] != '/')
			continue;
		if (strcmp(line, "/.") == 0)
			line[1] = '\0'; /* dpkg's name for the root itself */
		while (len > 1 && line[len - 1] == '/')
			line[--len] = '\0';
		scan_pkgset_add_file(st->set, idx, divert(st, line, s->package),
				     NULL);
	}

	/* their digests */
	rc = read_info(st, s, "md5sums", &buf, err);
	if (rc < 0 && rc != -ENOENT)
		goto out;
	pos = 0;
	while (rc == 0 && (line = next_line(&buf, &pos)) != NULL) {
		struct rf_buf path = RF_BUF_INIT;
		struct scan_pkgfile *pf;
		char *sep;

		if (line[0] == '\0')
			continue;
		sep = strstr(line, "  ");
		if (sep == NULL || sep - line != 32) {
			rc = rf_error_set(err, -EINVAL,
					  "md5sums of package %s: malformed "
					  "line '%.60s'",
					  s->package, line);
			goto out;
		}
		*sep = '\0';
		sep += 2;
		if (*sep != '/')
			rf_buf_addch(&path, '/');
		rf_buf_addstr(&path, sep);
		pf = scan_pkgset_add_file(
			st->set, idx, divert(st, path.data, s->package), NULL);
		rf_buf_free(&path);
		if (pf->algo == RF_DIGEST_NONE) {
			rc = add_md5(st, idx, s->package, pf, line, "md5sums",
				     err);
			if (rc < 0)
				goto out;
		}
	}

	/* conffiles: " /etc/x 0123... [obsolete] [remove-on-upgrade]" */
	if (s->conffiles != NULL) {
		char *save = NULL;

		for (line = strtok_r(s->conffiles, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			char *path, *hash, *flag, *fsave = NULL;
			struct scan_pkgfile *pf;

			path = strtok_r(line, " \t", &fsave);
			hash = strtok_r(NULL, " \t", &fsave);
			if (path == NULL)
				continue;
			if (hash == NULL || path[0] != '/') {
				rc = rf_error_set(
					err, -EINVAL,
					"%s/status: package %s: malformed "
					"Conffiles line",
					DPKG_DIR, s->package);
				goto out;
			}
			pf = scan_pkgset_add_file(st->set, idx,
						  divert(st, path, s->package),
						  NULL);
			pf->flags |= SCAN_PF_CONFIG;
			while ((flag = strtok_r(NULL, " \t", &fsave)) != NULL)
				if (strcmp(flag, "obsolete") == 0)
					pf->flags |= SCAN_PF_OBSOLETE;
			/* md5sums wins over Conffiles, as in dpkg --verify */
			if (pf->algo == RF_DIGEST_NONE &&
			    strcmp(hash, "newconffile") != 0) {
				rc = add_md5(st, idx, s->package, pf, hash,
					     "Conffiles", err);
				if (rc < 0)
					goto out;
			}
		}
	}
	rc = 0;
out:
	rf_buf_free(&buf);
	return rc;
}

/* "user group mode path": what dpkg-statoverride set for a path. */
static int load_statoverrides(struct dpkg_state *st, struct rf_error *err)
{
	struct rf_buf buf = RF_BUF_INIT;
	size_t pos = 0, lineno = 0;
	char *line;
	int rc;

	rc = read_db_file(st, DPKG_DIR "/statoverride", &buf, err);
	if (rc == -ENOENT) {
		rc = 0;
		goto out;
	}
	while (rc == 0 && (line = next_line(&buf, &pos)) != NULL) {
		char *user, *group, *mode, *path, *save = NULL, *end;
		struct scan_pkgfile *pf;
		unsigned long m;

		lineno++;
		user = strtok_r(line, " ", &save);
		if (user == NULL)
			continue;
		group = strtok_r(NULL, " ", &save);
		mode = strtok_r(NULL, " ", &save);
		path = save;
		if (group == NULL || mode == NULL || path == NULL ||
		    path[0] != '/') {
			rc = rf_error_set(err, -EINVAL,
					  "%s/statoverride:%zu: malformed line",
					  DPKG_DIR, lineno);
			goto out;
		}
		m = strtoul(mode, &end, 8);
		if (*end != '\0' || m > 07777) {
			rc = rf_error_set(err, -EINVAL,
					  "%s/statoverride:%zu: bad mode '%s'",
					  DPKG_DIR, lineno, mode);
			goto out;
		}
		pf = scan_pkgset_find(st->set, path);
		if (pf == NULL)
			continue; /* overrides may name files of no package */
		pf->mode = (pf->mode & S_IFMT) | (mode_t)m;
		pf->flags |= SCAN_PF_HAS_PERM;
		/* "#1234" names an id with no name; leave those unchecked */
		if (user[0] != '#' && group[0] != '#') {
			pf->user = scan_pkgset_strdup(st->set, user);
			pf->group = scan_pkgset_strdup(st->set, group);
			pf->flags |= SCAN_PF_HAS_OWNER;
		}
	}
out:
	rf_buf_free(&buf);
	return rc;
}

static int dpkg_load(struct scan_pkgset *set, int rootfd, const char *root,
		     struct rf_error *err)
{
	struct dpkg_state st;
	struct rf_buf status = RF_BUF_INIT;
	int rc;

	memset(&st, 0, sizeof(st));
	st.set = set;
	st.rootfd = rootfd;
	rc = load_diversions(&st, err);
	if (rc < 0)
		goto out;
	rc = read_db_file(&st, DPKG_DIR "/status", &status, err);
	if (rc == -ENOENT)
		rc = rf_error_set(err, -ENOENT, "%s/status is missing",
				  DPKG_DIR);
	if (rc < 0)
		goto out;
	rc = parse_status(&status, load_package, &st, err);
	if (rc < 0)
		goto out;
	rc = load_statoverrides(&st, err);
out:
	if (rc < 0)
		rf_error_prefix(err, "dpkg database of %s", root);
	rf_buf_free(&status);
	rf_buf_free(&st.divbuf);
	free(st.divs);
	return rc;
}

const struct scan_pkgdb_ops scan_pkgdb_dpkg = {
	.name = "dpkg",
	.path = DPKG_DIR,
	.probe = dpkg_probe,
	.load = dpkg_load,
};
