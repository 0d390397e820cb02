/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * reforge-server: stores the scans that reforge-scan sends, with their
 * contents, in one data directory; and manages its access tokens.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "buf.h"
#include "srv.h"
#include "srv_http.h"
#include "srv_job.h"

#define DEFAULT_CONFIG SYSCONFDIR "/reforge/server.conf"
#define DEFAULT_DATA LOCALSTATEDIR "/lib/reforge"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

static void usage(FILE *f)
{
	fputs("Usage: reforge-server [OPTION]...\n"
	      "       reforge-server [--data DIR] token create|revoke NAME\n"
	      "Store the scans reforge-scan sends, with the contents of their\n"
	      "modified and unowned files, under one data directory (SQLite\n"
	      "database and a content-addressed store), served over HTTP(S).\n"
	      "\n"
	      "  -d, --data DIR          data directory (default " DEFAULT_DATA ")\n"
	      "  -l, --listen ADDR:PORT  address to serve (default 127.0.0.1:8443)\n"
	      "      --tls-cert FILE     PEM certificate: serve HTTPS\n"
	      "      --tls-key FILE      PEM private key of --tls-cert\n"
	      "  -c, --config FILE       settings file (default " DEFAULT_CONFIG
	      ",\n"
	      "                          when present): 'key = value' lines,\n"
	      "                          keys are these long options\n"
	      "      --max-body BYTES    largest report accepted (default 1 GiB)\n"
	      "      --max-overlay BYTES largest overlay (default 1 TiB)\n"
	      "      --connections N     connections at once (default 256)\n"
	      "      --per-ip N          connections from one address (default 64)\n"
	      "      --idle-timeout S    close a connection silent for S s (60)\n"
	      "      --deadline S        longest a request may last (86400)\n"
	      "      --min-rate BYTES    slowest body accepted, in bytes/s on\n"
	      "                          average (default 1024; 0: any)\n"
	      "      --min-rate-grace S  seconds a body may take before\n"
	      "                          --min-rate applies (default 30)\n"
	      "      --workers N         image jobs run at once (default 1)\n"
	      "      --generator PATH    reforge-gen to run (default: beside\n"
	      "                          this program, else from PATH)\n"
	      "      --payload-cache-max BYTES  size DATA/payload-cache, the\n"
	      "                          jobs' decoded packages, is kept under\n"
	      "                          (default 4 GiB; 0: no limit)\n"
	      "      --port-file FILE    write the port served to FILE\n"
	      "  -h, --help              show this help and exit\n"
	      "  -V, --version           show the version and exit\n"
	      "\n"
	      "token create NAME prints a new token (keep it: only its hash is\n"
	      "stored); token revoke NAME removes it.\n"
	      "\n"
	      "Exit status: 0 stopped by SIGTERM/SIGINT, or the token command\n"
	      "done; 1 failure; 2 bad usage.\n",
	      f);
}

struct settings {
	struct srv_config cfg;
	struct srv_jobs_config jobs;
	char *owned[16];
	size_t nowned;
};

static const char *keep(struct settings *s, const char *v)
{
	char *c = rf_xstrdup(v);

	if (s->nowned < sizeof(s->owned) / sizeof(s->owned[0]))
		s->owned[s->nowned++] = c;
	return c;
}

static int parse_num(const char *opt, const char *v, uint64_t min,
		     uint64_t *out)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || v[0] == '-') {
		fprintf(stderr, "reforge-server: --%s wants a number of at "
				"least %llu, not '%s'\n",
			opt, (unsigned long long)min, v);
		return -1;
	}
	*out = n;
	return 0;
}

/* One setting by its long option name; -1 on a bad value or name. */
static int set(struct settings *s, const char *key, const char *v)
{
	struct srv_config *c = &s->cfg;
	uint64_t n;

	if (strcmp(key, "data") == 0)
		c->data = keep(s, v);
	else if (strcmp(key, "listen") == 0)
		c->listen = keep(s, v);
	else if (strcmp(key, "tls-cert") == 0)
		c->tls_cert = keep(s, v);
	else if (strcmp(key, "tls-key") == 0)
		c->tls_key = keep(s, v);
	else if (strcmp(key, "port-file") == 0)
		c->port_file = keep(s, v);
	else if (strcmp(key, "generator") == 0)
		s->jobs.generator = keep(s, v);
	else if (strcmp(key, "payload-cache-max") == 0)
		return parse_num(key, v, 0, &s->jobs.payload_cache_max);
	else if (strcmp(key, "workers") == 0) {
		if (parse_num(key, v, 1, &n) < 0 || n > 256)
			return -1;
		s->jobs.workers = (unsigned)n;
	}
	else if (strcmp(key, "max-body") == 0)
		return parse_num(key, v, 1, &c->max_body);
	else if (strcmp(key, "max-overlay") == 0)
		return parse_num(key, v, 1, &c->max_overlay);
	else if (strcmp(key, "min-rate") == 0)
		return parse_num(key, v, 0, &c->min_rate);
	else if (strcmp(key, "min-rate-grace") == 0) {
		if (parse_num(key, v, 0, &n) < 0 || n > 1000000)
			return -1;
		c->min_rate_grace = (unsigned)n;
	}
	else if (strcmp(key, "connections") == 0 ||
		 strcmp(key, "per-ip") == 0 ||
		 strcmp(key, "idle-timeout") == 0 ||
		 strcmp(key, "deadline") == 0) {
		if (parse_num(key, v, 1, &n) < 0 || n > 1000000)
			return -1;
		if (key[0] == 'c')
			c->connections = (unsigned)n;
		else if (key[0] == 'p')
			c->per_ip = (unsigned)n;
		else if (key[0] == 'i')
			c->idle_timeout = (unsigned)n;
		else
			c->deadline = (unsigned)n;
	} else {
		fprintf(stderr, "reforge-server: unknown setting '%s'\n", key);
		return -1;
	}
	return 0;
}

static int read_config(struct settings *s, const char *path, bool required)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, rc = 0;

	if (f == NULL) {
		if (!required && errno == ENOENT)
			return 0;
		fprintf(stderr, "reforge-server: cannot read '%s': %s\n", path,
			strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		char *k = line, *eq, *v, *e;

		lineno++;
		while (*k == ' ' || *k == '\t')
			k++;
		if (*k == '#' || *k == '\n' || *k == '\0')
			continue;
		eq = strchr(k, '=');
		if (eq == NULL) {
			fprintf(stderr, "reforge-server: %s:%d: want "
					"'key = value'\n",
				path, lineno);
			rc = -1;
			break;
		}
		for (e = eq; e > k && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		v = eq + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		for (e = v + strlen(v);
		     e > v && (e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t');
		     e--)
			;
		*e = '\0';
		if (set(s, k, v) < 0) {
			fprintf(stderr, "reforge-server: in %s line %d\n", path,
				lineno);
			rc = -1;
			break;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

static int token_command(struct srv_store *st, int argc, char **argv)
{
	struct rf_error err;
	sqlite3 *db = NULL;
	char secret[65];
	int status = EXIT_FAIL;

	rf_error_clear(&err);
	if (argc != 3 || (strcmp(argv[1], "create") != 0 &&
			  strcmp(argv[1], "revoke") != 0)) {
		fputs("Usage: reforge-server [--data DIR] token "
		      "create|revoke NAME\n",
		      stderr);
		return EXIT_USAGE;
	}
	if (srv_db_open(st, &db, &err) < 0)
		goto out;
	if (strcmp(argv[1], "create") == 0) {
		if (srv_token_create(db, argv[2], secret, &err) < 0)
			goto out;
		printf("%s\n", secret);
	} else if (srv_token_revoke(db, argv[2], &err) < 0) {
		goto out;
	}
	status = EXIT_OK;
out:
	if (status != EXIT_OK)
		fprintf(stderr, "reforge-server: %s\n", err.msg);
	sqlite3_close(db);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"data", required_argument, NULL, 'd'},
		{"listen", required_argument, NULL, 'l'},
		{"config", required_argument, NULL, 'c'},
		{"tls-cert", required_argument, NULL, 1},
		{"tls-key", required_argument, NULL, 1},
		{"max-body", required_argument, NULL, 1},
		{"max-overlay", required_argument, NULL, 1},
		{"connections", required_argument, NULL, 1},
		{"per-ip", required_argument, NULL, 1},
		{"idle-timeout", required_argument, NULL, 1},
		{"deadline", required_argument, NULL, 1},
		{"min-rate", required_argument, NULL, 1},
		{"min-rate-grace", required_argument, NULL, 1},
		{"port-file", required_argument, NULL, 1},
		{"workers", required_argument, NULL, 1},
		{"generator", required_argument, NULL, 1},
		{"payload-cache-max", required_argument, NULL, 1},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct settings s;
	struct srv_store *st = NULL;
	struct srv_http *http = NULL;
	struct srv_jobs *jobs = NULL;
	struct rf_buf cache = RF_BUF_INIT;
	struct rf_error err;
	const char *config = NULL;
	sigset_t sigs;
	int c, idx, sig, status = EXIT_FAIL;

	memset(&s, 0, sizeof(s));
	s.cfg.data = DEFAULT_DATA;
	s.cfg.listen = "127.0.0.1:8443";
	s.cfg.max_body = 1ull << 30;
	s.cfg.max_overlay = 1ull << 40;
	s.cfg.connections = 256;
	s.cfg.per_ip = 64;
	s.cfg.idle_timeout = 60;
	s.cfg.deadline = 86400;
	s.cfg.min_rate = 1024;
	s.cfg.min_rate_grace = 30;
	s.jobs.workers = 1;
	s.jobs.payload_cache_max = 4ull << 30;
	/* the settings file first, so that options override it */
	for (int i = 1; i < argc - 1; i++)
		if (strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0)
			config = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config = argv[i] + 9;
	if (read_config(&s, config ? config : DEFAULT_CONFIG, config != NULL) <
	    0)
		return EXIT_USAGE;
	/* '+': stop at the first non-option (the token command) */
	while ((c = getopt_long(argc, argv, "+d:l:c:hV", longopts, &idx)) !=
	       -1) {
		switch (c) {
		case 'd':
			s.cfg.data = optarg;
			break;
		case 'l':
			s.cfg.listen = optarg;
			break;
		case 'c':
			break;
		case 1:
			if (set(&s, longopts[idx].name, optarg) < 0) {
				status = EXIT_USAGE;
				goto out;
			}
			break;
		case 'h':
			usage(stdout);
			status = EXIT_OK;
			goto out;
		case 'V':
			printf("reforge-server (%s) %s\n", PACKAGE_NAME,
			       PACKAGE_VERSION);
			status = EXIT_OK;
			goto out;
		default:
			fputs("Try 'reforge-server --help' for more "
			      "information.\n",
			      stderr);
			status = EXIT_USAGE;
			goto out;
		}
	}
	if (optind < argc && strcmp(argv[optind], "token") != 0) {
		fprintf(stderr, "reforge-server: unknown command '%s'\n"
				"Try 'reforge-server --help' for more "
				"information.\n",
			argv[optind]);
		status = EXIT_USAGE;
		goto out;
	}
	LIBXML_TEST_VERSION
	rf_error_clear(&err);
	if (srv_store_open(s.cfg.data, &st, &err) < 0) {
		fprintf(stderr, "reforge-server: %s\n", err.msg);
		goto out;
	}
	if (optind < argc) {
		status = token_command(st, argc - optind, argv + optind);
		goto out;
	}
	/* the signals the main thread waits for; every thread blocks them */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	s.jobs.data = s.cfg.data;
	rf_buf_printf(&cache, "%s/repo-cache", s.cfg.data);
	s.jobs.repo_cache = cache.data;
	if (srv_jobs_start(&s.jobs, st, &jobs, &err) < 0) {
		fprintf(stderr, "reforge-server: %s\n", err.msg);
		goto out;
	}
	s.cfg.jobs = jobs;
	if (srv_http_start(&s.cfg, st, &http, &err) < 0) {
		fprintf(stderr, "reforge-server: %s\n", err.msg);
		goto out;
	}
	fprintf(stderr, "reforge-server: serving %s on %s, data in %s\n",
		s.cfg.tls_cert ? "HTTPS" : "HTTP", s.cfg.listen, s.cfg.data);
	sigwait(&sigs, &sig);
	fprintf(stderr, "reforge-server: stopping (signal %d)\n", sig);
	status = EXIT_OK;
out:
	srv_http_stop(http);
	srv_jobs_stop(jobs);
	srv_store_free(st);
	rf_buf_free(&cache);
	for (size_t i = 0; i < s.nowned; i++)
		free(s.owned[i]);
	xmlCleanupParser();
	return status;
}
