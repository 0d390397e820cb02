/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * reforge-repo-tool: drives the repository library (server/repo.h) on its
 * own database, as the server's `reforge repo ...` will: for the tests, the
 * benchmark, and a person trying a repository before the server has it.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "repo.h"

static const char usage_text[] =
	"Usage: reforge-repo-tool [--db FILE] [--cache DIR] [--json] COMMAND\n"
	"\n"
	"Commands:\n"
	"  add NAME --kind deb|rpm-md|pacman --url URL [--suite S]\n"
	"      [--components C] [--arch A] [--keyring FILE]\n"
	"  list                    repositories, package counts, last error\n"
	"  refresh [NAME...]       re-index (all when no NAME)\n"
	"  remove NAME\n"
	"  fetch NAME PKG...       PKG is name[:arch][=version]; prints paths\n"
	"  reconcile FILE|-        lines 'name epoch version release arch'\n"
	"                          ('-' for none): prints the packages no\n"
	"                          repository has\n"
	"  sources ROOT            repositories configured in a host's root\n"
	"\n"
	"Options:\n"
	"  --db FILE      SQLite database (default: repo.db)\n"
	"  --cache DIR    metadata and package cache (default: repo-cache)\n"
	"  --gpgv PROG    gpgv program for signature checks\n"
	"  --json         machine-readable output (list, refresh, sources,\n"
	"                 reconcile)\n"
	"  --time         reconcile, refresh: print the elapsed time\n"
	"  --force        refresh: re-read all metadata even if unchanged\n"
	"  -h, --help     this help;  -V, --version  the version\n"
	"\n"
	"Exit status: 0 success, 1 failure, 2 bad usage.\n";

static bool json_out, show_time, force;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fail(const struct rf_error *err)
{
	fprintf(stderr, "reforge-repo-tool: %s\n", err->msg);
	return 1;
}

static int usage_error(const char *msg)
{
	fprintf(stderr, "reforge-repo-tool: %s\nTry --help.\n", msg);
	return 2;
}

static int cmd_add(struct srv_repo *r, int argc, char **argv)
{
	static const struct option opts[] = {
		{"kind", required_argument, NULL, 'k'},
		{"url", required_argument, NULL, 'u'},
		{"suite", required_argument, NULL, 's'},
		{"components", required_argument, NULL, 'c'},
		{"arch", required_argument, NULL, 'a'},
		{"keyring", required_argument, NULL, 'K'},
		{NULL, 0, NULL, 0},
	};
	struct srv_repo_def def = {.enabled = true};
	struct rf_error err = {0};
	int c;

	optind = 0; /* 0: glibc re-reads the option string */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			def.kind = optarg;
			break;
		case 'u':
			def.url = optarg;
			break;
		case 's':
			def.suite = optarg;
			break;
		case 'c':
			def.components = optarg;
			break;
		case 'a':
			def.arch = optarg;
			break;
		case 'K':
			def.keyring = optarg;
			break;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc || def.kind == NULL || def.url == NULL)
		return usage_error("add NAME --kind KIND --url URL");
	def.name = argv[optind];
	if (srv_repo_add(r, &def, &err))
		return fail(&err);
	return 0;
}

static json_t *def_json(const struct srv_repo_def *d)
{
	json_t *o = json_object();

#define S(k, v) json_object_set_new(o, k, (v) ? json_string(v) : json_null())
	S("name", d->name);
	S("kind", d->kind);
	S("url", d->url);
	S("suite", d->suite);
	S("components", d->components);
	S("arch", d->arch);
	S("keyring", d->keyring);
#undef S
	return o;
}

static int cmd_list(struct srv_repo *r)
{
	struct srv_repo_info *info;
	struct rf_error err = {0};
	json_t *arr = json_array();
	size_t n;

	if (srv_repo_list(r, &info, &n, &err)) {
		json_decref(arr);
		return fail(&err);
	}
	for (size_t i = 0; i < n; i++) {
		const struct srv_repo_info *x = &info[i];

		if (json_out) {
			json_t *o = def_json(&x->def);

			json_object_set_new(o, "packages",
					    json_integer(x->packages));
			json_object_set_new(o, "refreshed",
					    json_integer(x->refreshed));
			json_object_set_new(o, "last_error",
					    x->last_error
						    ? json_string(x->last_error)
						    : json_null());
			json_array_append_new(arr, o);
			continue;
		}
		printf("%-20s %-7s %8lld  %s", x->def.name, x->def.kind,
		       (long long)x->packages, x->def.url);
		if (x->def.suite)
			printf(" %s", x->def.suite);
		if (x->def.components && strcmp(x->def.kind, "deb") == 0)
			printf(" %s", x->def.components);
		if (x->def.arch)
			printf(" [%s]", x->def.arch);
		printf("%s\n", x->refreshed ? "" : "  (never refreshed)");
		if (x->last_error)
			printf("  last error: %s\n", x->last_error);
	}
	if (json_out)
		json_dumpf(arr, stdout, JSON_INDENT(2)), putchar('\n');
	json_decref(arr);
	srv_repo_info_free(info, n);
	return 0;
}

static int refresh_one(struct srv_repo *r, const char *name, json_t *arr)
{
	struct srv_repo_refresh_stats st;
	struct rf_error err = {0};
	double t0 = now(), dt;
	int rc;

	rc = srv_repo_refresh(r, name, force ? SRV_REPO_REFRESH_FORCE : 0, &st,
			      &err);
	dt = now() - t0;
	if (json_out) {
		json_t *o = json_object();

		json_object_set_new(o, "name", json_string(name));
		json_object_set_new(o, "ok", json_boolean(rc == 0));
		if (rc) {
			json_object_set_new(o, "error", json_string(err.msg));
		} else {
			json_object_set_new(o, "packages",
					    json_integer(st.packages));
			json_object_set_new(o, "unchanged",
					    json_boolean(st.unchanged));
			json_object_set_new(o, "fetched",
					    json_integer(st.fetched));
			json_object_set_new(o, "not_modified",
					    json_integer(st.not_modified));
			json_object_set_new(o, "downloaded",
					    json_integer(st.downloaded));
		}
		if (show_time)
			json_object_set_new(o, "seconds", json_real(dt));
		json_array_append_new(arr, o);
		return rc ? 1 : 0;
	}
	if (rc)
		return fail(&err);
	printf("%s: %lld packages%s, %u fetched (%llu bytes), %u not "
	       "modified\n",
	       name, (long long)st.packages, st.unchanged ? " (unchanged)" : "",
	       st.fetched, (unsigned long long)st.downloaded, st.not_modified);
	if (show_time)
		printf("%s: indexed in %.3f s\n", name, dt);
	return 0;
}

static int cmd_refresh(struct srv_repo *r, int argc, char **argv)
{
	json_t *arr = json_array();
	int rc = 0;

	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			rc |= refresh_one(r, argv[i], arr);
	} else {
		struct srv_repo_info *info;
		struct rf_error err = {0};
		size_t n;

		if (srv_repo_list(r, &info, &n, &err)) {
			json_decref(arr);
			return fail(&err);
		}
		for (size_t i = 0; i < n; i++)
			rc |= refresh_one(r, info[i].def.name, arr);
		srv_repo_info_free(info, n);
	}
	if (json_out)
		json_dumpf(arr, stdout, JSON_INDENT(2)), putchar('\n');
	json_decref(arr);
	return rc;
}

static int cmd_remove(struct srv_repo *r, int argc, char **argv)
{
	struct rf_error err = {0};

	if (argc != 2)
		return usage_error("remove NAME");
	if (srv_repo_remove(r, argv[1], &err))
		return fail(&err);
	return 0;
}

static int cmd_fetch(struct srv_repo *r, int argc, char **argv)
{
	int rc = 0;

	if (argc < 3)
		return usage_error("fetch NAME PKG...");
	for (int i = 2; i < argc; i++) {
		char *spec = rf_xstrdup(argv[i]), *eq, *colon, *path;
		struct srv_repo_query q = {.name = spec};
		struct rf_error err = {0};

		eq = strchr(spec, '=');
		if (eq) {
			*eq = '\0';
			q.version = eq + 1;
		}
		colon = strchr(spec, ':');
		if (colon) {
			*colon = '\0';
			q.arch = colon + 1;
		}
		if (srv_repo_fetch_package(r, argv[1], &q, &path, &err)) {
			rc = fail(&err);
		} else {
			printf("%s\n", path);
			free(path);
		}
		free(spec);
	}
	return rc;
}

static const char *field(char *s)
{
	return strcmp(s, "-") == 0 ? NULL : s;
}

static int cmd_reconcile(struct srv_repo *r, int argc, char **argv)
{
	FILE *f = stdin;
	struct srv_repo_query *q = NULL;
	char **lines = NULL, *line = NULL;
	size_t n = 0, cap = 0, lcap = 0;
	struct rf_error err = {0};
	bool *missing;
	double t0, dt;
	int rc = 0, count;

	if (argc != 2)
		return usage_error("reconcile FILE|-");
	if (strcmp(argv[1], "-") != 0 && (f = fopen(argv[1], "r")) == NULL) {
		fprintf(stderr, "reforge-repo-tool: %s: %s\n", argv[1],
			strerror(errno));
		return 1;
	}
	while (getline(&line, &lcap, f) > 0) {
		char *w[5], *save = NULL, *s = line;
		int k;

		for (k = 0; k < 5; k++, s = NULL) {
			w[k] = strtok_r(s, " \t\n", &save);
			if (w[k] == NULL)
				break;
		}
		if (k == 0 || w[0][0] == '#')
			continue;
		if (k != 5) {
			fprintf(stderr,
				"reforge-repo-tool: %s: line %zu: "
				"want 'name epoch version release arch'\n",
				argv[1], n + 1);
			rc = 2;
			break;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			q = rf_xrealloc(q, cap * sizeof(*q));
			lines = rf_xrealloc(lines, cap * sizeof(*lines));
		}
		lines[n] = line;
		q[n] = (struct srv_repo_query){field(w[0]), field(w[1]),
					       field(w[2]), field(w[3]),
					       field(w[4])};
		n++;
		line = NULL;
		lcap = 0;
	}
	free(line);
	if (f != stdin)
		fclose(f);
	missing = rf_xcalloc(n ? n : 1, sizeof(bool));
	if (rc == 0) {
		t0 = now();
		count = srv_repo_reconcile(r, q, n, missing, &err);
		dt = now() - t0;
		if (count < 0) {
			rc = fail(&err);
		} else if (json_out) {
			json_t *o = json_object(), *arr = json_array();

			for (size_t i = 0; i < n; i++) {
				char evr[1024];

				if (!missing[i])
					continue;
				srv_repo_evr(q[i].epoch, q[i].version,
					     q[i].release, evr, sizeof(evr));
				json_array_append_new(
					arr, json_pack("{s:s?, s:s, s:s?}",
						       "name", q[i].name, "evr",
						       evr, "arch", q[i].arch));
			}
			json_object_set_new(o, "packages", json_integer(n));
			json_object_set_new(o, "missing", arr);
			if (show_time)
				json_object_set_new(o, "seconds",
						    json_real(dt));
			json_dumpf(o, stdout, JSON_INDENT(2));
			putchar('\n');
			json_decref(o);
		} else {
			for (size_t i = 0; i < n; i++)
				if (missing[i])
					printf("missing %s %s %s %s %s\n",
					       q[i].name,
					       q[i].epoch ? q[i].epoch : "-",
					       q[i].version ? q[i].version
							    : "-",
					       q[i].release ? q[i].release
							    : "-",
					       q[i].arch);
			printf("%zu packages, %d missing from every "
			       "repository\n",
			       n, count);
			if (show_time)
				printf("reconciled in %.3f ms\n", dt * 1e3);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	free(q);
	free(missing);
	return rc;
}

static int cmd_sources(int argc, char **argv)
{
	struct srv_repo_deflist list = {0};
	struct rf_error err = {0};
	json_t *arr = json_array();

	if (argc != 2) {
		json_decref(arr);
		return usage_error("sources ROOT");
	}
	if (srv_repo_sources_from_root(argv[1], NULL, &list, &err)) {
		json_decref(arr);
		srv_repo_deflist_free(&list);
		return fail(&err);
	}
	for (size_t i = 0; i < list.n; i++) {
		const struct srv_repo_def *d = &list.defs[i];

		if (json_out) {
			json_t *o = def_json(d);

			json_object_set_new(o, "enabled",
					    json_boolean(d->enabled));
			json_object_set_new(o, "origin",
					    json_string(d->origin));
			json_array_append_new(arr, o);
			continue;
		}
		printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d->name, d->kind,
		       d->url ? d->url : "-", d->suite ? d->suite : "-",
		       d->components ? d->components : "-",
		       d->arch ? d->arch : "-", d->keyring ? d->keyring : "-",
		       d->enabled ? "enabled" : "disabled", d->origin);
	}
	if (json_out)
		json_dumpf(arr, stdout, JSON_INDENT(2)), putchar('\n');
	json_decref(arr);
	srv_repo_deflist_free(&list);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"db", required_argument, NULL, 'd'},
		{"cache", required_argument, NULL, 'c'},
		{"gpgv", required_argument, NULL, 'g'},
		{"json", no_argument, NULL, 'j'},
		{"time", no_argument, NULL, 't'},
		{"force", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct srv_repo_config cfg = {.cache_dir = "repo-cache"};
	const char *dbpath = "repo.db", *cmd;
	struct srv_repo *r = NULL;
	struct rf_error err = {0};
	sqlite3 *db = NULL;
	int c, rc;

	while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dbpath = optarg;
			break;
		case 'c':
			cfg.cache_dir = optarg;
			break;
		case 'g':
			cfg.gpgv = optarg;
			break;
		case 'j':
			json_out = true;
			break;
		case 't':
			show_time = true;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("reforge-repo-tool %s\n", PACKAGE_VERSION);
			return 0;
		default:
			return 2;
		}
	}
	if (optind >= argc)
		return usage_error("no command");
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	if (strcmp(cmd, "sources") == 0)
		return cmd_sources(argc, argv);
	if (strcmp(cmd, "add") && strcmp(cmd, "list") &&
	    strcmp(cmd, "refresh") && strcmp(cmd, "remove") &&
	    strcmp(cmd, "fetch") && strcmp(cmd, "reconcile"))
		return usage_error("unknown command");
	if (sqlite3_open(dbpath, &db) != SQLITE_OK) {
		fprintf(stderr, "reforge-repo-tool: %s: %s\n", dbpath,
			sqlite3_errmsg(db));
		sqlite3_close(db);
		return 1;
	}
	/* as the server should: readers never wait for a refresh */
	sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
	sqlite3_busy_timeout(db, 10000);
	if (srv_repo_open(db, &cfg, &r, &err)) {
		rc = fail(&err);
		goto out;
	}
	if (strcmp(cmd, "add") == 0)
		rc = cmd_add(r, argc, argv);
	else if (strcmp(cmd, "list") == 0)
		rc = cmd_list(r);
	else if (strcmp(cmd, "refresh") == 0)
		rc = cmd_refresh(r, argc, argv);
	else if (strcmp(cmd, "remove") == 0)
		rc = cmd_remove(r, argc, argv);
	else if (strcmp(cmd, "fetch") == 0)
		rc = cmd_fetch(r, argc, argv);
	else
		rc = cmd_reconcile(r, argc, argv);
out:
	srv_repo_free(r);
	sqlite3_close(db);
	return rc;
}
