/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "escape.h"
#include "report.h"
#include "scanreport.h"

#define CHECK(call)                                                            \
	do {                                                                   \
		if ((call) < 0)                                                \
			return rf_error_set(err, -EIO,                         \
					    "cannot write the report");        \
	} while (0)

/* xmlOutputBuffer callbacks over a plain file descriptor. */
static int fd_write(void *ctx, const char *buf, int len)
{
	int fd = *(int *)ctx;
	int done = 0;

	while (done < len) {
		ssize_t n = write(fd, buf + done, (size_t)(len - done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (int)n;
	}
	return len;
}

static int fd_close(void *ctx)
{
	(void)ctx;
	return 0; /* the descriptor is closed by scan_report_close() */
}

static int null_write(void *ctx, const char *buf, int len)
{
	return len;
}

int scan_report_open(struct scan_report_out *out, const char *path,
		     struct rf_error *err)
{
	xmlOutputBufferPtr ob;
	struct stat st;

	memset(out, 0, sizeof(*out));
	out->file = (struct rf_atomic)RF_ATOMIC_INIT;
	out->fd = -1;
	if (path == NULL) {
		ob = xmlOutputBufferCreateIO(null_write, fd_close, NULL, NULL);
	} else if (strcmp(path, "-") == 0) {
		out->fd = STDOUT_FILENO;
		ob = xmlOutputBufferCreateIO(fd_write, fd_close, &out->fd,
					     NULL);
	} else if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		/*
		 * A device, a fifo, a terminal: write into it as it is. The
		 * rename that protects a regular file would replace the node
		 * itself (/dev/null becoming a plain file).
		 */
		out->fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
		if (out->fd < 0)
			return rf_error_errno(err, -errno, "cannot open '%s'",
					      path);
		out->direct = true;
		ob = xmlOutputBufferCreateIO(fd_write, fd_close, &out->fd,
					     NULL);
	} else {
		/*
		 * A file that gets its name only when complete: a scan
		 * killed before the end leaves nothing at all behind.
		 */
		int rc = rf_atomic_open(&out->file, path, O_WRONLY, 0600, err);

		if (rc < 0)
			return rc;
		out->fd = out->file.fd;
		if (fstat(out->fd, &st) == 0) {
			out->fd_dev_valid = true;
			out->dev = st.st_dev;
			out->ino = st.st_ino;
		}
		ob = xmlOutputBufferCreateIO(fd_write, fd_close, &out->fd,
					     NULL);
	}
	if (ob == NULL || (out->writer = xmlNewTextWriter(ob)) == NULL) {
		scan_report_close(out, false, NULL);
		return rf_error_set(err, -ENOMEM, "cannot start the report");
	}
	xmlTextWriterSetIndent(out->writer, 1);
	xmlTextWriterSetIndentString(out->writer, BAD_CAST " ");
	return 0;
}

int scan_report_close(struct scan_report_out *out, bool commit,
		      struct rf_error *err)
{
	int rc = 0;

	if (out->writer != NULL) {
		if (xmlTextWriterFlush(out->writer) < 0)
			rc = rf_error_set(err, -EIO, "cannot write the report");
		xmlFreeTextWriter(out->writer);
		out->writer = NULL;
	}
	if (out->direct) {
		if (close(out->fd) < 0 && rc == 0 && commit)
			rc = rf_error_errno(err, -errno,
					    "cannot write the report");
		out->fd = -1;
	}
	if (out->file.fd >= 0) {
		if (rc == 0 && commit)
			rc = rf_atomic_commit(&out->file, true, err);
		rf_atomic_close(&out->file);
		out->fd = -1;
	}
	return rc;
}

int scan_report_begin(xmlTextWriterPtr w, const char *root, bool live,
		      bool isolated, struct rf_error *err)
{
	char when[64];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	CHECK(xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL));
	CHECK(xmlTextWriterStartElement(w, BAD_CAST "report"));
	CHECK(xmlTextWriterWriteAttribute(w, BAD_CAST "xmlns",
					  BAD_CAST RF_REPORT_NS));
	CHECK(xmlTextWriterWriteAttribute(w, BAD_CAST "format-version",
					  BAD_CAST RF_REPORT_FORMAT_VERSION));
	CHECK(xmlTextWriterWriteAttribute(w, BAD_CAST "scanner",
					  BAD_CAST PACKAGE_STRING));
	CHECK(xmlTextWriterWriteAttribute(w, BAD_CAST "created",
					  BAD_CAST when));
	CHECK(rf_report_attr_bytes(w, "root", root, strlen(root)));
	CHECK(xmlTextWriterWriteAttribute(w, BAD_CAST "live",
					  BAD_CAST(live ? "true" : "false")));
	CHECK(xmlTextWriterWriteAttribute(
		w, BAD_CAST "read-only-view",
		BAD_CAST(isolated ? "true" : "false")));
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	const uint32_t *x = a, *y = b;

	return x[0] != y[0] ? (x[0] < y[0] ? -1 : 1)
			    : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

static int attr_opt(xmlTextWriterPtr w, const char *name, const char *value)
{
	if (value == NULL)
		return 0;
	return rf_report_attr_bytes(w, name, value, strlen(value));
}

int scan_report_packages(xmlTextWriterPtr w, struct scan_pkgset *set,
			 struct rf_error *err)
{
	uint32_t npkgs = scan_pkgset_npackages(set);
	size_t nfiles = scan_pkgset_nfiles(set), nconf = 0, k = 0;
	uint32_t(*conf)[2];
	struct rf_buf hex = RF_BUF_INIT;
	int rc = 0;

	/* config files grouped by package: (package, file index) sorted */
	for (size_t i = 0; i < nfiles; i++)
		if (scan_pkgset_file(set, i)->flags & SCAN_PF_CONFIG)
			nconf++;
	conf = rf_xmalloc((nconf + 1) * sizeof(*conf));
	for (size_t i = 0; i < nfiles; i++) {
		struct scan_pkgfile *pf = scan_pkgset_file(set, i);

		if (pf->flags & SCAN_PF_CONFIG) {
			conf[k][0] = pf->pkg;
			conf[k][1] = (uint32_t)i;
			k++;
		}
	}
	qsort(conf, nconf, sizeof(*conf), cmp_u32);

	if (xmlTextWriterStartElement(w, BAD_CAST "packages") < 0)
		goto fail;
	k = 0;
	for (uint32_t i = 0; i < npkgs; i++) {
		const struct scan_pkg *p = scan_pkgset_package(set, i);

		if (xmlTextWriterStartElement(w, BAD_CAST "package") < 0 ||
		    attr_opt(w, "db", p->db) < 0 ||
		    attr_opt(w, "name", p->name) < 0 ||
		    attr_opt(w, "epoch", p->epoch) < 0 ||
		    attr_opt(w, "version", p->version) < 0 ||
		    attr_opt(w, "release", p->release) < 0 ||
		    attr_opt(w, "arch", p->arch) < 0 ||
		    attr_opt(w, "status", p->status) < 0 ||
		    attr_opt(w, "vendor", p->vendor) < 0 ||
		    attr_opt(w, "origin", p->origin) < 0 ||
		    attr_opt(w, "reason", p->reason) < 0)
			goto fail;
		if (p->install_time > 0 &&
		    xmlTextWriterWriteFormatAttribute(
			    w, BAD_CAST "install-time", "%lld",
			    (long long)p->install_time) < 0)
			goto fail;
		for (; k < nconf && conf[k][0] == i; k++) {
			struct scan_pkgfile *pf =
				scan_pkgset_file(set, conf[k][1]);

			if (xmlTextWriterStartElement(w, BAD_CAST "config") <
				    0 ||
			    rf_report_attr_bytes(w, "path", pf->path,
						 strlen(pf->path)) < 0)
				goto fail;
			if (pf->algo != RF_DIGEST_NONE) {
				rf_buf_reset(&hex);
				rf_hex_encode(&hex, pf->digest,
					      rf_digest_len(pf->algo));
				if (xmlTextWriterWriteAttribute(
					    w, BAD_CAST "digest-algo",
					    BAD_CAST rf_digest_name(pf->algo)) <
					    0 ||
				    xmlTextWriterWriteAttribute(
					    w, BAD_CAST "digest",
					    BAD_CAST hex.data) < 0)
					goto fail;
			}
			if ((pf->flags & SCAN_PF_OBSOLETE) &&
			    xmlTextWriterWriteAttribute(w, BAD_CAST "obsolete",
							BAD_CAST "true") < 0)
				goto fail;
			if ((pf->flags & SCAN_PF_NOREPLACE) &&
			    xmlTextWriterWriteAttribute(w, BAD_CAST "noreplace",
							BAD_CAST "true") < 0)
				goto fail;
			if (xmlTextWriterEndElement(w) < 0)
				goto fail;
		}
		if (xmlTextWriterEndElement(w) < 0)
			goto fail;
	}
	for (size_t i = 0; i < scan_pkgset_ndiversions(set); i++) {
		const char *from, *to, *by;

		scan_pkgset_diversion(set, i, &from, &to, &by);
		if (xmlTextWriterStartElement(w, BAD_CAST "diversion") < 0 ||
		    rf_report_attr_bytes(w, "from", from, strlen(from)) < 0 ||
		    rf_report_attr_bytes(w, "to", to, strlen(to)) < 0 ||
		    rf_report_attr_bytes(w, "by", by, strlen(by)) < 0 ||
		    xmlTextWriterEndElement(w) < 0)
			goto fail;
	}
	if (xmlTextWriterEndElement(w) < 0)
		goto fail;
	goto out;
fail:
	rc = rf_error_set(err, -EIO, "cannot write the report");
out:
	free(conf);
	rf_buf_free(&hex);
	return rc;
}

int scan_report_summary(xmlTextWriterPtr w, const struct scan_summary *sum,
			struct rf_error *err)
{
	CHECK(xmlTextWriterStartElement(w, BAD_CAST "summary"));
	CHECK(xmlTextWriterWriteFormatAttribute(w, BAD_CAST "packages", "%u",
						sum->packages));
	CHECK(xmlTextWriterWriteAttribute(w, BAD_CAST "databases",
					  BAD_CAST sum->databases));
	CHECK(xmlTextWriterWriteFormatAttribute(
		w, BAD_CAST "changed", "%llu",
		(unsigned long long)sum->changed));
	CHECK(xmlTextWriterWriteFormatAttribute(
		w, BAD_CAST "warnings", "%llu",
		(unsigned long long)sum->warnings));
	CHECK(xmlTextWriterWriteFormatAttribute(w, BAD_CAST "seconds", "%.3f",
						sum->seconds));
	for (int c = 0; c < SCAN_NCLASSES; c++) {
		CHECK(xmlTextWriterStartElement(w, BAD_CAST "class"));
		CHECK(xmlTextWriterWriteAttribute(
			w, BAD_CAST "name",
			BAD_CAST scan_class_name((enum scan_class)c)));
		CHECK(xmlTextWriterWriteFormatAttribute(
			w, BAD_CAST "files", "%llu",
			(unsigned long long)sum->files[c]));
		CHECK(xmlTextWriterWriteFormatAttribute(
			w, BAD_CAST "bytes", "%llu",
			(unsigned long long)sum->bytes[c]));
		CHECK(xmlTextWriterEndElement(w));
	}
	CHECK(xmlTextWriterEndElement(w)); /* summary */
	CHECK(xmlTextWriterEndElement(w)); /* report */
	CHECK(xmlTextWriterEndDocument(w));
	return 0;
}
