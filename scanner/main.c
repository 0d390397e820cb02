/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * reforge-scan: inventory a Linux host (or a mounted image of one) for
 * migration: system, packages, and every file with its class.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <libxml/parser.h>

#include "buf.h"
#include "progress.h"
#include "scan.h"
#include "overlay.h"
#include "upload.h"

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_WARNINGS = 3,
};

static void usage(FILE *f)
{
	fputs("Usage: reforge-scan [OPTION]...\n"
	      "Inventory a Linux system for migration: its identity, storage,\n"
	      "network, accounts, services, packages, and every file, each\n"
	      "classed as an unmodified package file, a modified package file,\n"
	      "a missing package file, or an unowned file.\n"
	      "\n"
	      "  -r, --root DIR          scan the tree at DIR (a chroot or a mounted\n"
	      "                          image) instead of the running system's /\n"
	      "  -o, --report FILE       write the XML report to FILE ('-': stdout)\n"
	      "  -c, --changes[=FILE]    list every path that is not an unmodified\n"
	      "                          package file, as CLASS<TAB>DETAIL<TAB>PATH,\n"
	      "                          sorted by path (default: stdout)\n"
	      "      --json              print the summary as JSON on stdout\n"
	      "  -x, --exclude GLOB      leave out paths matching GLOB (repeatable);\n"
	      "                          a GLOB with a '/' matches the whole path,\n"
	      "                          one without matches the file name\n"
	      "      --exclude-from FILE read GLOBs from FILE, one a line ('#' comments)\n"
	      "      --cross-mounts      descend into other filesystems mounted under\n"
	      "                          the root, network ones included\n"
	      "  -j, --jobs N            hash on N threads (default: one per CPU)\n"
	      "  -q, --quiet             no progress line\n"
	      "\n"
	      "Sending the scan to reforge-server:\n"
	      "      --server URL        send the report, then the contents the\n"
	      "                          server lacks (https://host:port)\n"
	      "      --token-file FILE   the access token, on FILE's first line\n"
	      "      --name NAME         the machine's name (default: host name)\n"
	      "      --cacert FILE       trust the CA certificates in FILE\n"
	      "      --limit-rate BYTES  send at most BYTES per second (k, M, G)\n"
	      "      --retry-time S      keep resuming an interrupted upload for\n"
	      "                          S seconds (default 600)\n"
	      "      --overlay FILE      write the overlay (every modified and\n"
	      "                          unowned file) to FILE, for 'reforge scan\n"
	      "                          import'; needs --report FILE\n"
	      "  -h, --help              show this help and exit\n"
	      "  -V, --version           show the version and exit\n"
	      "\n"
	      "Left out by default: the contents of /proc, /sys, /dev, /run, /tmp,\n"
	      "/var/tmp and package caches; when scanning /, other mounted\n"
	      "filesystems. The report records everything left out.\n"
	      "\n"
	      "The scanned tree is only read: files are opened read-only without\n"
	      "updating access times.\n"
	      "\n"
	      "Exit status: 0 the scan is complete; 1 it failed; 2 bad usage;\n"
	      "3 it is complete but with warnings (files unreadable or changed\n"
	      "while read).\n",
	      f);
}

static int read_exclude_file(const char *path, const char ***list,
			     size_t *n, size_t *cap)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *line = NULL;
	size_t len = 0;
	ssize_t r;

	if (f == NULL) {
		fprintf(stderr, "reforge-scan: cannot read '%s': %s\n", path,
			strerror(errno));
		return -1;
	}
	while ((r = getline(&line, &len, f)) > 0) {
		while (r > 0 && (line[r - 1] == '\n' || line[r - 1] == '\r'))
			line[--r] = '\0';
		if (r == 0 || line[0] == '#')
			continue;
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			*list = rf_xrealloc(*list, *cap * sizeof(**list));
		}
		(*list)[(*n)++] = rf_xstrdup(line);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return 0;
}

static void print_summary(FILE *f, const struct scan_options *opt,
			  const struct scan_summary *sum)
{
	char size[32];

	fprintf(f, "reforge-scan: scanned %s in %.1f s: %u packages (%s)\n",
		opt->root, sum->seconds, sum->packages,
		sum->databases[0] ? sum->databases : "no package database");
	for (int c = 0; c < SCAN_NCLASSES; c++)
		fprintf(f, "  %-11s %10llu files  %12s\n",
			scan_class_name((enum scan_class)c),
			(unsigned long long)sum->files[c],
			rf_human_size(size, sizeof(size), sum->bytes[c]));
	fprintf(f, "  excluded %llu trees; %llu files changed while read; "
		   "%llu warnings\n",
		(unsigned long long)sum->excluded,
		(unsigned long long)sum->changed,
		(unsigned long long)sum->warnings);
}

static int print_json(const struct scan_options *opt,
		      const struct scan_summary *sum)
{
	json_t *root = json_object(), *classes = json_object();
	int rc;

	for (int c = 0; c < SCAN_NCLASSES; c++)
		json_object_set_new(
			classes, scan_class_name((enum scan_class)c),
			json_pack("{s:I,s:I}", "files",
				  (json_int_t)sum->files[c], "bytes",
				  (json_int_t)sum->bytes[c]));
	json_object_set_new(root, "root", json_string(opt->root));
	json_object_set_new(root, "report",
			    opt->report_path ? json_string(opt->report_path)
					     : json_null());
	json_object_set_new(root, "packages", json_integer(sum->packages));
	json_object_set_new(root, "databases", json_string(sum->databases));
	json_object_set_new(root, "classes", classes);
	json_object_set_new(root, "excluded", json_integer((json_int_t)sum->excluded));
	json_object_set_new(root, "changed", json_integer((json_int_t)sum->changed));
	json_object_set_new(root, "warnings", json_integer((json_int_t)sum->warnings));
	json_object_set_new(root, "seconds", json_real(sum->seconds));
	rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	fputc('\n', stdout);
	json_decref(root);
	return rc;
}

/* --overlay and --server, once the report is written. */
static int scan_send(const struct scan_options *opt,
		     struct scan_upload_opts *up, const char *overlay_path,
		     bool captured)
{
	struct scan_upload_result res;
	struct scan_overlay_stats ost;
	struct rf_error err;
	char host[256];
	int status = EXIT_FAIL;

	rf_error_clear(&err);
	if (!captured) {
		up->report_fd = open(opt->report_path, O_RDONLY | O_CLOEXEC);
		if (up->report_fd < 0) {
			fprintf(stderr, "reforge-scan: cannot read back '%s': "
					"%s\n",
				opt->report_path, strerror(errno));
			return EXIT_FAIL;
		}
	}
	if (overlay_path != NULL) {
		if (scan_overlay_to_file(opt->root, up->report_fd, overlay_path,
					 &ost, &err) < 0)
			goto fail;
		fprintf(stderr, "reforge-scan: overlay %s: %llu entries, %llu "
				"contents\n",
			overlay_path, (unsigned long long)ost.entries,
			(unsigned long long)ost.contents);
	}
	if (up->url != NULL) {
		if (up->name == NULL) {
			if (gethostname(host, sizeof(host)) < 0)
				strcpy(host, "localhost");
			host[sizeof(host) - 1] = '\0';
			up->name = host;
		}
		up->root = opt->root;
		up->progress = opt->progress;
		if (scan_upload(up, &res, &err) < 0)
			goto fail;
		fprintf(stderr, "reforge-scan: sent to %s as scan %lld (%s #%lld):"
				" report %llu bytes, %llu contents lacking, "
				"overlay %llu bytes in %u attempts, %llu "
				"packages in no repository\n",
			up->url, (long long)res.scan_id, up->name,
			(long long)res.seq,
			(unsigned long long)res.report_bytes,
			(unsigned long long)res.needed,
			(unsigned long long)res.overlay_bytes, res.attempts,
			(unsigned long long)res.missing_packages);
	}
	status = EXIT_OK;
	goto out;
fail:
	fprintf(stderr, "reforge-scan: %s\n", err.msg);
out:
	close(up->report_fd);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"root", required_argument, NULL, 'r'},
		{"report", required_argument, NULL, 'o'},
		{"changes", optional_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'J'},
		{"exclude", required_argument, NULL, 'x'},
		{"exclude-from", required_argument, NULL, 'X'},
		{"cross-mounts", no_argument, NULL, 'M'},
		{"jobs", required_argument, NULL, 'j'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{"server", required_argument, NULL, 256},
		{"token-file", required_argument, NULL, 257},
		{"name", required_argument, NULL, 258},
		{"cacert", required_argument, NULL, 259},
		{"limit-rate", required_argument, NULL, 260},
		{"retry-time", required_argument, NULL, 261},
		{"overlay", required_argument, NULL, 262},
		{NULL, 0, NULL, 0},
	};
	struct scan_upload_opts up = {.retry_seconds = 600};
	const char *overlay_path = NULL;
	struct scan_report_capture cap;
	bool capturing = false;
	struct scan_options opt;
	struct scan_summary sum;
	struct rf_error err;
	const char **excludes = NULL;
	size_t nexcl = 0, exclcap = 0;
	bool json = false;
	int c, rc, status;

	memset(&opt, 0, sizeof(opt));
	opt.root = "/";
	opt.progress = true;
	while ((c = getopt_long(argc, argv, "r:o:c::x:j:qhV", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'r':
			opt.root = optarg;
			break;
		case 'o':
			opt.report_path = optarg;
			break;
		case 'c':
			opt.changes_path = optarg ? optarg : "-";
			break;
		case 'J':
			json = true;
			break;
		case 'x':
			if (nexcl == exclcap) {
				exclcap = exclcap ? exclcap * 2 : 16;
				excludes = rf_xrealloc(excludes,
						       exclcap * sizeof(*excludes));
			}
			excludes[nexcl++] = rf_xstrdup(optarg);
			break;
		case 'X':
			if (read_exclude_file(optarg, &excludes, &nexcl,
					      &exclcap) < 0)
				return EXIT_USAGE;
			break;
		case 'M':
			opt.cross_mounts = true;
			break;
		case 'j': {
			char *end;
			long n = strtol(optarg, &end, 10);

			if (*end != '\0' || n < 1 || n > 256) {
				fprintf(stderr, "reforge-scan: --jobs wants a "
						"number from 1 to 256\n");
				return EXIT_USAGE;
			}
			opt.jobs = (int)n;
			break;
		}
		case 'q':
			opt.progress = false;
			break;
		case 256:
			up.url = optarg;
			break;
		case 257:
			up.token_file = optarg;
			break;
		case 258:
			up.name = optarg;
			break;
		case 259:
			up.cacert = optarg;
			break;
		case 260:
		case 261: {
			char *end;
			unsigned long long n = strtoull(optarg, &end, 10);

			if (c == 260 && (*end == 'k' || *end == 'K'))
				n <<= 10, end++;
			else if (c == 260 && *end == 'M')
				n <<= 20, end++;
			else if (c == 260 && *end == 'G')
				n <<= 30, end++;
			if (*end != '\0' || optarg[0] == '-' || n == 0) {
				fprintf(stderr, "reforge-scan: --%s wants a "
						"positive number\n",
					c == 260 ? "limit-rate" : "retry-time");
				return EXIT_USAGE;
			}
			if (c == 260)
				up.limit_rate = n;
			else
				up.retry_seconds = n > 86400 ? 86400 : (unsigned)n;
			break;
		}
		case 262:
			overlay_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("reforge-scan (%s) %s\n", PACKAGE_NAME,
			       PACKAGE_VERSION);
			return EXIT_OK;
		default:
			fputs("Try 'reforge-scan --help' for more "
			      "information.\n",
			      stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "reforge-scan: unexpected argument '%s'\n"
				"Try 'reforge-scan --help' for more "
				"information.\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	{
		int out_users = (json ? 1 : 0) +
				(opt.changes_path && !strcmp(opt.changes_path, "-")) +
				(opt.report_path && !strcmp(opt.report_path, "-"));

		if (out_users > 1) {
			fputs("reforge-scan: only one of --json, --changes and "
			      "--report can use standard output; give the "
			      "others a FILE\n",
			      stderr);
			return EXIT_USAGE;
		}
	}
	opt.excludes = excludes;
	opt.nexcludes = nexcl;
	if ((up.url != NULL) != (up.token_file != NULL)) {
		fputs("reforge-scan: --server and --token-file go together\n",
		      stderr);
		return EXIT_USAGE;
	}
	if (overlay_path != NULL &&
	    (opt.report_path == NULL || !strcmp(opt.report_path, "-"))) {
		fputs("reforge-scan: --overlay needs --report FILE (the two go "
		      "to 'reforge scan import' together)\n",
		      stderr);
		return EXIT_USAGE;
	}

	LIBXML_TEST_VERSION
	rf_error_clear(&err);
	if (up.url != NULL && opt.report_path == NULL) {
		/* the report is sent from memory: nothing left on the host */
		if (scan_report_capture_begin(&cap, &err) < 0) {
			fprintf(stderr, "reforge-scan: %s\n", err.msg);
			status = EXIT_FAIL;
			goto out;
		}
		capturing = true;
		opt.report_path = cap.path;
	}
	rc = scan_run(&opt, &sum, &err);
	if (capturing) {
		int crc = scan_report_capture_end(&cap, &up.report_fd,
						  rc < 0 ? NULL : &err);

		opt.report_path = NULL;
		if (rc == 0 && crc < 0)
			rc = crc;
		else if (rc < 0 && crc == 0)
			close(up.report_fd);
		if (rc < 0)
			capturing = false;
	}
	if (rc < 0) {
		fprintf(stderr, "reforge-scan: %s\n", err.msg);
		status = EXIT_FAIL;
		goto out;
	}
	if (up.url != NULL || overlay_path != NULL) {
		status = scan_send(&opt, &up, overlay_path, capturing);
		if (status != EXIT_OK)
			goto out;
	}
	if (json)
		print_json(&opt, &sum);
	else
		print_summary((opt.changes_path &&
			       !strcmp(opt.changes_path, "-")) ||
					      (opt.report_path &&
					       !strcmp(opt.report_path, "-"))
				      ? stderr
				      : stdout,
			      &opt, &sum);
	status = sum.warnings ? EXIT_WARNINGS : EXIT_OK;
	if (fflush(stdout) != 0) {
		fprintf(stderr, "reforge-scan: cannot write to stdout: %s\n",
			strerror(errno));
		status = EXIT_FAIL;
	}
out:
	for (size_t i = 0; i < nexcl; i++)
		free((char *)excludes[i]);
	free(excludes);
	xmlCleanupParser();
	return status;
}
