/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * reforge: the command line client of reforge-server, for people (tables)
 * and scripts (--json).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "progress.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_PROBLEMS = 3 };

struct client {
	const char *url;
	const char *cacert;
	char token[256];
	bool json;
};

static void usage(FILE *f)
{
	fputs("Usage: reforge [OPTION]... COMMAND\n"
	      "Talk to reforge-server.\n"
	      "\n"
	      "Commands:\n"
	      "  scans                     list the scans\n"
	      "  scan show ID              one scan: machine, state, classes\n"
	      "  scan diff ID1 ID2         packages added, removed, upgraded;\n"
	      "                            files added, removed, changed\n"
	      "  scan delete ID            delete a scan (contents other scans\n"
	      "                            use are kept)\n"
	      "  scan import REPORT OVERLAY [NAME]\n"
	      "                            send a report and overlay written by\n"
	      "                            reforge-scan --report --overlay\n"
	      "  store check               read every stored object; report any\n"
	      "                            missing, corrupt or orphaned one\n"
	      "\n"
	      "Options:\n"
	      "  -s, --server URL          the server (default $REFORGE_SERVER,\n"
	      "                            else https://127.0.0.1:8443)\n"
	      "  -t, --token-file FILE     the token (default $REFORGE_TOKEN_FILE,\n"
	      "                            else ~/.config/reforge/token)\n"
	      "      --cacert FILE         trust the CA certificates in FILE\n"
	      "      --json                print JSON for scripts\n"
	      "  -h, --help                show this help and exit\n"
	      "  -V, --version             show the version and exit\n"
	      "\n"
	      "Exit status: 0 done; 1 failure; 2 bad usage; 3 store check found\n"
	      "problems.\n",
	      f);
}

struct reply {
	long status;
	struct rf_buf body;
};

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct rf_buf *b = ctx;

	if (b->len + size * n > (256u << 20))
		return 0;
	rf_buf_add(b, data, size * n);
	return size * n;
}

struct file_source {
	FILE *f;
};

static size_t from_file(char *out, size_t size, size_t n, void *ctx)
{
	struct file_source *s = ctx;

	return fread(out, 1, size * n, s->f);
}

/*
 * One request; body_file (may be NULL) is sent from offset. Returns 0 when
 * an answer came, -1 (message printed) when none did.
 */
static int request(struct client *c, const char *method, const char *path,
		   FILE *body_file, const char *extra_header, struct reply *r)
{
	struct rf_buf s = RF_BUF_INIT;
	struct curl_slist *h = NULL;
	struct file_source src = {body_file};
	CURL *curl = curl_easy_init();
	CURLcode cc;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	rf_buf_printf(&s, "%s%s", c->url, path);
	curl_easy_setopt(curl, CURLOPT_URL, s.data);
	rf_buf_reset(&s);
	rf_buf_printf(&s, "Authorization: Bearer %s", c->token);
	h = curl_slist_append(h, s.data);
	if (extra_header != NULL)
		h = curl_slist_append(h, extra_header);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	if (c->cacert != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, c->cacert);
	if (body_file != NULL) {
		curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(curl, CURLOPT_READFUNCTION, from_file);
		curl_easy_setopt(curl, CURLOPT_READDATA, &src);
	}
	cc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (cc != CURLE_OK && r->status < 200) {
		fprintf(stderr, "reforge: %s: %s\n", c->url,
			curl_easy_strerror(cc));
		rc = -1;
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(curl);
	rf_buf_free(&s);
	return rc;
}

/* The answer as JSON when it is a success; else the error, printed. */
static json_t *expect(struct reply *r, long want)
{
	json_t *j = json_loadb(r->body.data ? r->body.data : "", r->body.len,
			       0, NULL);

	if (r->status != want) {
		const char *msg = json_string_value(json_object_get(j, "error"));

		fprintf(stderr, "reforge: the server answered %ld: %s\n",
			r->status, msg ? msg : "(no message)");
		json_decref(j);
		j = NULL;
	} else if (j == NULL) {
		fputs("reforge: the server's answer is not JSON\n", stderr);
	}
	rf_buf_free(&r->body);
	return j;
}

static json_t *call(struct client *c, const char *method, const char *path)
{
	struct reply r;

	if (request(c, method, path, NULL, NULL, &r) < 0)
		return NULL;
	return expect(&r, 200);
}

static void print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	fputc('\n', stdout);
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static long long num(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static void when(json_t *o, const char *key, char *buf, size_t size)
{
	json_t *v = json_object_get(o, key);
	time_t t;
	struct tm tm;

	if (!json_is_integer(v)) {
		snprintf(buf, size, "-");
		return;
	}
	t = (time_t)json_integer_value(v);
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M:%SZ", &tm);
}

static int cmd_scans(struct client *c)
{
	json_t *j = call(c, "GET", "/api/v1/scans"), *s;
	size_t i;

	if (j == NULL)
		return EXIT_FAIL;
	if (c->json) {
		print_json(j);
	} else {
		printf("%-6s %-24s %-5s %-9s %-21s %8s %8s\n", "ID", "MACHINE",
		       "SEQ", "STATE", "CREATED", "FILES", "PACKAGES");
		json_array_foreach(json_object_get(j, "scans"), i, s) {
			char t[32];

			when(s, "created", t, sizeof(t));
			printf("%-6lld %-24s %-5lld %-9s %-21s %8lld %8lld\n",
			       num(s, "id"), str(s, "machine"), num(s, "seq"),
			       str(s, "state"), t, num(s, "files"),
			       num(s, "packages"));
		}
	}
	json_decref(j);
	return EXIT_OK;
}

static bool is_id(const char *s)
{
	if (*s < '1' || *s > '9')
		return false;
	while (*s >= '0' && *s <= '9')
		s++;
	return *s == '\0';
}

static int cmd_show(struct client *c, const char *id)
{
	struct rf_buf p = RF_BUF_INIT;
	json_t *j, *cl;
	char t[32], size[32];
	size_t i;

	rf_buf_printf(&p, "/api/v1/scans/%s", id);
	j = call(c, "GET", p.data);
	rf_buf_free(&p);
	if (j == NULL)
		return EXIT_FAIL;
	if (c->json) {
		print_json(j);
		json_decref(j);
		return EXIT_OK;
	}
	printf("scan      %lld\nmachine   %s (#%lld)\nstate     %s\n",
	       num(j, "id"), str(j, "machine"), num(j, "seq"), str(j, "state"));
	when(j, "created", t, sizeof(t));
	printf("received  %s\n", t);
	printf("report    %s (made %s)\nroot      %s\n", str(j, "report_sha"),
	       str(j, "report_created"), str(j, "root"));
	printf("packages  %lld\nfiles     %lld\n", num(j, "packages"),
	       num(j, "files"));
	json_array_foreach(json_object_get(j, "classes"), i, cl)
		printf("  %-11s %10lld files %12s\n", str(cl, "class"),
		       num(cl, "files"),
		       rf_human_size(size, sizeof(size),
				     (uint64_t)num(cl, "bytes")));
	json_decref(j);
	return EXIT_OK;
}

static int cmd_diff(struct client *c, const char *a, const char *b)
{
	struct rf_buf p = RF_BUF_INIT;
	json_t *j, *e;
	size_t i;

	rf_buf_printf(&p, "/api/v1/scans/%s/diff/%s", a, b);
	j = call(c, "GET", p.data);
	rf_buf_free(&p);
	if (j == NULL)
		return EXIT_FAIL;
	if (c->json) {
		print_json(j);
		json_decref(j);
		return EXIT_OK;
	}
	printf("packages: %zu changes\n",
	       json_array_size(json_object_get(j, "packages")));
	json_array_foreach(json_object_get(j, "packages"), i, e)
		printf("  %-9s %s%s%s %s%s%s\n", str(e, "change"),
		       str(e, "name"), *str(e, "arch") ? ":" : "",
		       str(e, "arch"), json_is_string(json_object_get(e, "old"))
					       ? str(e, "old")
					       : "",
		       json_is_string(json_object_get(e, "old")) &&
				       json_is_string(json_object_get(e, "new"))
			       ? " -> "
			       : "",
		       json_is_string(json_object_get(e, "new")) ? str(e, "new")
								 : "");
	printf("files: %zu changes\n",
	       json_array_size(json_object_get(j, "files")));
	json_array_foreach(json_object_get(j, "files"), i, e) {
		const char *path = json_string_value(json_object_get(e, "path"));

		printf("  %-9s %s%s\n", str(e, "change"),
		       path ? path : str(e, "path-base64"),
		       path ? "" : " (base64)");
	}
	json_decref(j);
	return EXIT_OK;
}

static int cmd_delete(struct client *c, const char *id)
{
	struct rf_buf p = RF_BUF_INIT;
	json_t *j;

	rf_buf_printf(&p, "/api/v1/scans/%s", id);
	j = call(c, "DELETE", p.data);
	rf_buf_free(&p);
	if (j == NULL)
		return EXIT_FAIL;
	if (c->json)
		print_json(j);
	else
		printf("deleted scan %s\n", id);
	json_decref(j);
	return EXIT_OK;
}

static int cmd_check(struct client *c)
{
	json_t *j = call(c, "POST", "/api/v1/store/check"), *p;
	bool ok;
	size_t i;

	if (j == NULL)
		return EXIT_FAIL;
	ok = json_is_true(json_object_get(j, "ok"));
	if (c->json) {
		print_json(j);
	} else {
		char size[32];

		printf("%lld objects (%s) read: %lld corrupt, %lld missing, "
		       "%lld orphaned, %lld unrecorded\n",
		       num(j, "objects"),
		       rf_human_size(size, sizeof(size),
				     (uint64_t)num(j, "bytes")),
		       num(j, "corrupt"), num(j, "missing"),
		       num(j, "orphaned"), num(j, "unrecorded"));
		json_array_foreach(json_object_get(j, "problems"), i, p)
			printf("  %-10s %s: %s\n", str(p, "problem"),
			       str(p, "object"), str(p, "detail"));
	}
	json_decref(j);
	return ok ? EXIT_OK : EXIT_PROBLEMS;
}

static int cmd_import(struct client *c, const char *report,
		      const char *overlay, const char *name)
{
	struct rf_buf p = RF_BUF_INIT, hdr = RF_BUF_INIT;
	FILE *rf = fopen(report, "rb"), *of = fopen(overlay, "rb");
	struct reply r;
	json_t *j = NULL;
	long long scan;
	uint64_t offset = 0;
	char *ename = NULL;
	int status = EXIT_FAIL, tries;

	if (rf == NULL || of == NULL) {
		fprintf(stderr, "reforge: cannot read '%s': %s\n",
			rf == NULL ? report : overlay, strerror(errno));
		goto out;
	}
	ename = curl_easy_escape(NULL, name, 0);
	rf_buf_printf(&p, "/api/v1/scans?name=%s", ename);
	if (request(c, "POST", p.data, rf, NULL, &r) < 0)
		goto out;
	j = expect(&r, 201);
	if (j == NULL)
		goto out;
	scan = num(j, "scan");
	/* the whole overlay, resumed from the server's offset on a break */
	for (tries = 0; tries < 10; tries++) {
		json_t *a;

		if (fseeko(of, (off_t)offset, SEEK_SET) < 0) {
			fprintf(stderr, "reforge: cannot seek in '%s'\n",
				overlay);
			goto out;
		}
		rf_buf_reset(&p);
		rf_buf_printf(&p, "/api/v1/scans/%lld/overlay", scan);
		rf_buf_reset(&hdr);
		rf_buf_printf(&hdr, "Upload-Offset: %llu",
			      (unsigned long long)offset);
		if (request(c, "PATCH", p.data, of, hdr.data, &r) == 0 &&
		    r.status == 200) {
			a = expect(&r, 200);
			if (json_is_true(json_object_get(a, "complete"))) {
				json_decref(a);
				break;
			}
			json_decref(a);
		} else if (r.status >= 400 && r.status < 500 &&
			   r.status != 409) {
			json_decref(expect(&r, 200));
			goto out;
		} else {
			rf_buf_free(&r.body);
		}
		sleep(1);
		if (request(c, "GET", p.data, NULL, NULL, &r) < 0)
			continue;
		a = expect(&r, 200);
		if (json_is_true(json_object_get(a, "complete"))) {
			json_decref(a);
			break;
		}
		offset = (uint64_t)num(a, "offset");
		json_decref(a);
	}
	if (tries == 10) {
		fprintf(stderr, "reforge: the upload of scan %lld did not "
				"finish\n",
			scan);
		goto out;
	}
	if (c->json)
		print_json(j);
	else
		printf("imported as scan %lld (%s #%lld)\n", scan,
		       str(j, "machine"), num(j, "seq"));
	status = EXIT_OK;
out:
	if (rf)
		fclose(rf);
	if (of)
		fclose(of);
	curl_free(ename);
	json_decref(j);
	rf_buf_free(&p);
	rf_buf_free(&hdr);
	return status;
}

static int read_token(struct client *c, const char *path)
{
	struct rf_buf def = RF_BUF_INIT;
	FILE *f;
	size_t len;

	if (path == NULL)
		path = getenv("REFORGE_TOKEN_FILE");
	if (path == NULL && getenv("HOME") != NULL) {
		rf_buf_printf(&def, "%s/.config/reforge/token", getenv("HOME"));
		path = def.data;
	}
	f = path ? fopen(path, "r") : NULL;
	if (f == NULL || fgets(c->token, sizeof(c->token), f) == NULL) {
		fprintf(stderr, "reforge: cannot read a token from '%s'%s%s\n",
			path ? path : "(none)", f ? "" : ": ",
			f ? "" : strerror(errno));
		if (f)
			fclose(f);
		rf_buf_free(&def);
		return -1;
	}
	fclose(f);
	rf_buf_free(&def);
	len = strcspn(c->token, " \t\r\n");
	c->token[len] = '\0';
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"server", required_argument, NULL, 's'},
		{"token-file", required_argument, NULL, 't'},
		{"cacert", required_argument, NULL, 1},
		{"json", no_argument, NULL, 2},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct client c;
	const char *token_file = NULL, *cmd, *sub;
	int opt, status = EXIT_USAGE, n;

	memset(&c, 0, sizeof(c));
	c.url = getenv("REFORGE_SERVER");
	if (c.url == NULL)
		c.url = "https://127.0.0.1:8443";
	while ((opt = getopt_long(argc, argv, "s:t:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			c.url = optarg;
			break;
		case 't':
			token_file = optarg;
			break;
		case 1:
			c.cacert = optarg;
			break;
		case 2:
			c.json = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("reforge (%s) %s\n", PACKAGE_NAME,
			       PACKAGE_VERSION);
			return EXIT_OK;
		default:
			goto bad;
		}
	}
	n = argc - optind;
	if (n < 1)
		goto bad;
	cmd = argv[optind];
	sub = n > 1 ? argv[optind + 1] : "";
	if (!((strcmp(cmd, "scans") == 0 && n == 1) ||
	      (strcmp(cmd, "store") == 0 && n == 2 && !strcmp(sub, "check")) ||
	      (strcmp(cmd, "scan") == 0 &&
	       (((!strcmp(sub, "show") || !strcmp(sub, "delete")) && n == 3 &&
		 is_id(argv[optind + 2])) ||
		(!strcmp(sub, "diff") && n == 4 && is_id(argv[optind + 2]) &&
		 is_id(argv[optind + 3])) ||
		(!strcmp(sub, "import") && (n == 4 || n == 5))))))
		goto bad;
	if (read_token(&c, token_file) < 0)
		return EXIT_FAIL;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (strcmp(cmd, "scans") == 0)
		status = cmd_scans(&c);
	else if (strcmp(cmd, "store") == 0)
		status = cmd_check(&c);
	else if (strcmp(sub, "show") == 0)
		status = cmd_show(&c, argv[optind + 2]);
	else if (strcmp(sub, "delete") == 0)
		status = cmd_delete(&c, argv[optind + 2]);
	else if (strcmp(sub, "diff") == 0)
		status = cmd_diff(&c, argv[optind + 2], argv[optind + 3]);
	else {
		char host[256];

		if (n == 5) {
			snprintf(host, sizeof(host), "%s", argv[optind + 4]);
		} else if (gethostname(host, sizeof(host)) < 0) {
			strcpy(host, "imported");
		}
		host[sizeof(host) - 1] = '\0';
		status = cmd_import(&c, argv[optind + 2], argv[optind + 3],
				    host);
	}
	curl_global_cleanup();
	return status;
bad:
	fputs("Try 'reforge --help' for more information.\n", stderr);
	return EXIT_USAGE;
}
