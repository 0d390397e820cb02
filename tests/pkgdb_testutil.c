/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "digest.h"
#include "pkgdb_testutil.h"

char *tu_tmpdir(const char *tag)
{
	const char *tmp = getenv("TMPDIR");
	struct rf_buf b = RF_BUF_INIT;

	if (tmp == NULL || tmp[0] != '/')
		tmp = "/tmp";
	rf_buf_printf(&b, "%s/rf-test-%s.XXXXXX", tmp, tag);
	if (mkdtemp(b.data) == NULL) {
		perror(b.data);
		abort();
	}
	return rf_buf_detach(&b);
}

int tu_sh(const char *fmt, ...)
{
	struct rf_buf cmd = RF_BUF_INIT;
	va_list ap;
	int status;

	va_start(ap, fmt);
	rf_buf_grow(&cmd, 4096);
	if ((size_t)vsnprintf(cmd.data, cmd.cap, fmt, ap) >= cmd.cap)
		abort(); /* a test's command line, never this long */
	va_end(ap);
	status = system(cmd.data);
	rf_buf_free(&cmd);
	if (status == -1 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

void tu_rmtree(const char *path)
{
	if (path != NULL && path[0] == '/' && strstr(path, "/rf-test-"))
		tu_sh("chmod -R u+w '%s' 2>/dev/null; rm -rf '%s'", path, path);
}

bool tu_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	bool ok;

	if (f == NULL)
		return false;
	ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok;
}

char *tu_snapshot(const char *dir)
{
	struct rf_buf cmd = RF_BUF_INIT, out = RF_BUF_INIT;
	char buf[4096];
	size_t n;
	FILE *p;

	rf_buf_printf(&cmd,
		      "cd '%s' && find . -printf '%%p %%y %%s %%m %%U %%G "
		      "%%A@ %%T@ %%C@ %%i\\n' | sort && "
		      "find . -type f -exec sha256sum {} + | sort",
		      dir);
	p = popen(cmd.data, "r");
	if (p == NULL)
		abort();
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		rf_buf_add(&out, buf, n);
	pclose(p);
	rf_buf_free(&cmd);
	return rf_buf_detach(&out);
}

struct scan_pkgset *tu_load(const struct scan_pkgdb_ops *ops, const char *root,
			    int *rc, struct rf_error *err)
{
	struct scan_pkgset *set = scan_pkgset_new();
	int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);

	rf_error_clear(err);
	if (fd < 0) {
		*rc = -1;
		return set;
	}
	*rc = ops->load(set, fd, root, err);
	close(fd);
	return set;
}

const struct scan_pkg *tu_package(const struct scan_pkgset *set,
				  const char *name, uint32_t *idx)
{
	for (uint32_t i = 0; i < scan_pkgset_npackages(set); i++) {
		const struct scan_pkg *p = scan_pkgset_package(set, i);

		if (p->name && strcmp(p->name, name) == 0) {
			if (idx)
				*idx = i;
			return p;
		}
	}
	return NULL;
}

bool tu_sha256_file(const char *path, unsigned char out[32])
{
	struct rf_digest *d = rf_digest_new(RF_DIGEST_SHA256, RF_DIGEST_NONE);
	char buf[65536];
	size_t n;
	FILE *f = fopen(path, "rb");

	if (f == NULL) {
		rf_digest_free(d);
		return false;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		rf_digest_update(d, buf, n);
	fclose(f);
	rf_digest_final(d, out, NULL);
	rf_digest_free(d);
	return true;
}
