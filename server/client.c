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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "escape.h"
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
	      "  repo list                 the repositories the server knows\n"
	      "  repo add NAME --kind deb|rpm-md|pacman --url URL [--suite S]\n"
	      "           [--components C] [--arch A] [--keyring FILE]\n"
	      "                            add a repository (URL file://, http://\n"
	      "                            or https://; the keyring file is sent)\n"
	      "  repo add --from-scan ID [--all | NAME...] [--releasever V]\n"
	      "           [--basearch A]   the source host's own repositories,\n"
	      "                            listed, or added (--all: the enabled)\n"
	      "  repo refresh [NAME] [--force]\n"
	      "                            download and re-index one or all\n"
	      "  repo remove NAME          forget a repository and its index\n"
	      "  repo fetch NAME|- PKG...  fetch packages into the server's\n"
	      "                            cache (PKG: name[:arch][=version])\n"
	      "  generate SCAN_ID [--format raw|qcow2|vmdk|ova] [--disk-size S]\n"
	      "           [--target T]     queue an image job (default qcow2)\n"
	      "  images                    the image jobs: state, progress\n"
	      "  image show ID             one job, with its log\n"
	      "  image download ID -o FILE the image (resumes FILE.part)\n"
	      "  image cancel ID           stop a queued or running job\n"
	      "  image delete ID           forget a job, its image and its log\n"
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

/* {"key": value} printed; value is not taken. */
static void print_tagged(const char *key, json_t *value)
{
	json_t *o = json_pack("{s:O}", key, value);

	print_json(o);
	json_decref(o);
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
	json_t *j, *cl, *m;
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
	cl = json_object_get(j, "missing_packages");
	printf("in no repository  %zu packages\n", json_array_size(cl));
	json_array_foreach(cl, i, m)
		printf("  %s %s %s\n", str(m, "name"), str(m, "version"),
		       str(m, "arch"));
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

/* DELETE prefix/name; prints "done name" when it is. */
static int delete_one(struct client *c, const char *prefix, const char *name,
		      const char *done)
{
	struct rf_buf p = RF_BUF_INIT;
	json_t *j;

	rf_buf_printf(&p, "%s/%s", prefix, name);
	j = call(c, "DELETE", p.data);
	rf_buf_free(&p);
	if (j == NULL)
		return EXIT_FAIL;
	if (c->json)
		print_json(j);
	else
		printf("%s %s\n", done, name);
	json_decref(j);
	return EXIT_OK;
}

static int cmd_delete(struct client *c, const char *id)
{
	return delete_one(c, "/api/v1/scans", id, "deleted scan");
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

/* ---- repositories ---- */

struct repo_opts {
	const char *kind, *url, *suite, *components, *arch, *keyring;
	const char *from_scan, *releasever, *basearch;
	bool all, force;
};

/* POST path with the JSON body j (taken); the answer when status is want. */
static json_t *call_json(struct client *c, const char *method,
			 const char *path, json_t *j, long want)
{
	char *text = json_dumps(j, JSON_COMPACT);
	struct reply r;
	FILE *f;
	json_t *ans = NULL;

	json_decref(j);
	f = text ? fmemopen(text, strlen(text), "r") : NULL;
	if (f == NULL) {
		fputs("reforge: out of memory\n", stderr);
		free(text);
		return NULL;
	}
	if (request(c, method, path, f, "Content-Type: application/json",
		    &r) == 0)
		ans = expect(&r, want);
	fclose(f);
	free(text);
	return ans;
}

/* The bytes of a keyring file, base64, for the server to keep. */
static char *keyring_base64(const char *path)
{
	struct rf_buf raw = RF_BUF_INIT, b64 = RF_BUF_INIT;
	char buf[65536];
	size_t n;
	FILE *f = fopen(path, "rb");

	if (f == NULL) {
		fprintf(stderr, "reforge: cannot read the keyring '%s': %s\n",
			path, strerror(errno));
		return NULL;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0 &&
	       raw.len < (2u << 20))
		rf_buf_add(&raw, buf, n);
	fclose(f);
	if (raw.len == 0 || raw.len >= (2u << 20)) {
		fprintf(stderr, "reforge: the keyring '%s' is %s\n", path,
			raw.len == 0 ? "empty" : "larger than 2 MiB");
		rf_buf_free(&raw);
		return NULL;
	}
	rf_base64_encode(&b64, raw.data, raw.len);
	rf_buf_free(&raw);
	return rf_buf_detach(&b64);
}

static void put(json_t *o, const char *key, const char *v)
{
	if (v != NULL)
		json_object_set_new(o, key, json_string(v));
}

/* Add one definition; 0 or -1 (message printed). */
static int add_one(struct client *c, json_t *def)
{
	json_t *ans = call_json(c, "POST", "/api/v1/repos", def, 201);

	if (ans == NULL)
		return -1;
	if (!c->json)
		printf("added %s\n", str(ans, "added"));
	json_decref(ans);
	return 0;
}

static int cmd_repo_add(struct client *c, const char *name,
			const struct repo_opts *o)
{
	json_t *def;
	char *key = NULL;
	int status;

	if (o->kind == NULL || o->url == NULL) {
		fputs("reforge: repo add NAME needs --kind and --url\n", stderr);
		return EXIT_USAGE;
	}
	if (o->keyring != NULL && (key = keyring_base64(o->keyring)) == NULL)
		return EXIT_FAIL;
	def = json_object();
	put(def, "name", name);
	put(def, "kind", o->kind);
	put(def, "url", o->url);
	put(def, "suite", o->suite);
	put(def, "components", o->components);
	put(def, "arch", o->arch);
	put(def, "keyring-base64", key);
	free(key);
	status = add_one(c, def) == 0 ? EXIT_OK : EXIT_FAIL;
	if (status == EXIT_OK && c->json)
		printf("{\"added\": \"%s\"}\n", name);
	return status;
}

static bool chosen(char **names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/*
 * repo add --from-scan ID [--all | NAME...]: the source host's own
 * repositories as the server read them from the scan's report. Without
 * --all or names, only lists them. Keyrings named there are paths on the
 * source host: not sent (add the repository by hand with --keyring).
 */
static int cmd_repo_from_scan(struct client *c, const struct repo_opts *o,
			      char **names, int n)
{
	struct rf_buf p = RF_BUF_INIT;
	json_t *j, *d, *added = json_array();
	bool list_only = !o->all && n == 0;
	int status = EXIT_OK;
	size_t i;

	rf_buf_printf(&p, "/api/v1/scans/%s/repositories", o->from_scan);
	if (o->releasever != NULL || o->basearch != NULL) {
		char *rv = curl_easy_escape(NULL, o->releasever ? o->releasever
								: "", 0);
		char *ba = curl_easy_escape(NULL, o->basearch ? o->basearch
							      : "", 0);

		rf_buf_printf(&p, "?%s%s%s%s", o->releasever ? "releasever=" : "",
			      o->releasever ? rv : "",
			      o->releasever && o->basearch ? "&" : "",
			      o->basearch ? "basearch=" : "");
		if (o->basearch)
			rf_buf_addstr(&p, ba);
		curl_free(rv);
		curl_free(ba);
	}
	j = call(c, "GET", p.data);
	rf_buf_free(&p);
	if (j == NULL) {
		json_decref(added);
		return EXIT_FAIL;
	}
	if (list_only) {
		if (c->json) {
			print_json(j);
		} else {
			printf("%-24s %-7s %-8s %-40s %s\n", "NAME", "KIND",
			       "ENABLED", "URL", "SUITE/COMPONENTS");
			json_array_foreach(json_object_get(j, "repositories"),
					   i, d)
				printf("%-24s %-7s %-8s %-40s %s %s\n",
				       str(d, "name"), str(d, "kind"),
				       json_is_true(json_object_get(d,
								    "enabled"))
					       ? "yes"
					       : "no",
				       str(d, "url"), str(d, "suite"),
				       str(d, "components"));
			json_array_foreach(json_object_get(j, "warnings"), i, d)
				fprintf(stderr, "reforge: %s: %s\n",
					str(d, "file"), str(d, "error"));
		}
		json_decref(j);
		json_decref(added);
		return EXIT_OK;
	}
	for (i = 0; i < (size_t)n; i++) {
		bool found = false;
		size_t k;

		json_array_foreach(json_object_get(j, "repositories"), k, d)
			found |= strcmp(str(d, "name"), names[i]) == 0;
		if (!found) {
			fprintf(stderr, "reforge: scan %s has no repository "
				"named '%s'\n", o->from_scan, names[i]);
			status = EXIT_FAIL;
		}
	}
	json_array_foreach(json_object_get(j, "repositories"), i, d) {
		json_t *def;

		if (!(o->all ? json_is_true(json_object_get(d, "enabled"))
			     : chosen(names, n, str(d, "name"))))
			continue;
		if (!json_is_string(json_object_get(d, "url"))) {
			fprintf(stderr, "reforge: %s has no URL (a mirror list "
				"only): skipped\n", str(d, "name"));
			continue;
		}
		def = json_object();
		for (const char *const *k = (const char *const[]){
			     "name", "kind", "url", "suite", "components",
			     "arch", NULL};
		     *k != NULL; k++)
			if (json_is_string(json_object_get(d, *k)))
				json_object_set(def, *k, json_object_get(d, *k));
		if (add_one(c, def) < 0)
			status = EXIT_FAIL;
		else
			json_array_append_new(added,
					      json_string(str(d, "name")));
	}
	if (c->json)
		print_tagged("added", added);
	json_decref(added);
	json_decref(j);
	return status;
}

static int cmd_repo_list(struct client *c)
{
	json_t *j = call(c, "GET", "/api/v1/repos"), *r;
	size_t i;

	if (j == NULL)
		return EXIT_FAIL;
	if (c->json) {
		print_json(j);
	} else {
		printf("%-20s %-7s %-40s %9s %-21s %s\n", "NAME", "KIND", "URL",
		       "PACKAGES", "REFRESHED", "LAST ERROR");
		json_array_foreach(json_object_get(j, "repositories"), i, r) {
			char t[32];

			if (num(r, "refreshed") > 0)
				when(r, "refreshed", t, sizeof(t));
			else
				snprintf(t, sizeof(t), "never");
			printf("%-20s %-7s %-40s %9lld %-21s %s\n",
			       str(r, "name"), str(r, "kind"), str(r, "url"),
			       num(r, "packages"), t,
			       json_is_string(json_object_get(r, "last_error"))
				       ? str(r, "last_error")
				       : "");
		}
	}
	json_decref(j);
	return EXIT_OK;
}

static int cmd_repo_refresh(struct client *c, const char *name, bool force)
{
	struct rf_buf p = RF_BUF_INIT;
	struct reply r;
	json_t *j, *one;
	int status = EXIT_OK;
	size_t i;

	if (name != NULL)
		rf_buf_printf(&p, "/api/v1/repos/%s/refresh", name);
	else
		rf_buf_addstr(&p, "/api/v1/repos/refresh");
	if (force)
		rf_buf_addstr(&p, "?force=1");
	if (request(c, "POST", p.data, NULL, NULL, &r) < 0) {
		rf_buf_free(&p);
		return EXIT_FAIL;
	}
	rf_buf_free(&p);
	/* 502: some refresh failed, and the answer says which */
	j = expect(&r, r.status == 502 ? 502 : 200);
	if (j == NULL)
		return EXIT_FAIL;
	if (c->json)
		print_json(j);
	json_array_foreach(json_object_get(j, "refreshed"), i, one) {
		if (!json_is_true(json_object_get(one, "ok"))) {
			status = EXIT_FAIL;
			fprintf(stderr, "reforge: %s: %s\n", str(one, "name"),
				str(one, "error"));
		} else if (!c->json) {
			printf("%s: %lld packages%s, %lld files fetched "
			       "(%lld bytes), %lld not modified\n",
			       str(one, "name"), num(one, "packages"),
			       json_is_true(json_object_get(one, "unchanged"))
				       ? " (unchanged)"
				       : "",
			       num(one, "fetched"), num(one, "downloaded"),
			       num(one, "not_modified"));
		}
	}
	json_decref(j);
	return status;
}

static int cmd_repo_remove(struct client *c, const char *name)
{
	return delete_one(c, "/api/v1/repos", name, "removed");
}

static int cmd_repo_fetch(struct client *c, const char *name, char **pkgs,
			  int n)
{
	json_t *all = json_array();
	int status = EXIT_OK;

	for (int i = 0; i < n; i++) {
		struct rf_buf p = RF_BUF_INIT;
		char *e = curl_easy_escape(NULL, pkgs[i], 0);
		json_t *j;

		rf_buf_printf(&p, "/api/v1/repos/%s/fetch?package=%s", name, e);
		curl_free(e);
		j = call(c, "POST", p.data);
		rf_buf_free(&p);
		if (j == NULL) {
			status = EXIT_FAIL;
			continue;
		}
		if (!c->json)
			printf("%s  %s  %lld bytes  %s\n", str(j, "sha256"),
			       pkgs[i], num(j, "size"), str(j, "file"));
		json_array_append_new(all, j);
	}
	if (c->json)
		print_tagged("fetched", all);
	json_decref(all);
	return status;
}

static bool repo_name_ok(const char *s)
{
	return *s != '\0' && *s != '.' && strlen(s) <= 128 &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789._-") == strlen(s);
}

/* reforge repo SUB ...: args are the words after "repo". */
static int cmd_repo(struct client *c, const struct repo_opts *o, char **args,
		    int n)
{
	const char *sub = n > 0 ? args[0] : "";

	for (int i = 1; i < n; i++)
		if (strcmp(sub, "fetch") != 0 && !repo_name_ok(args[i])) {
			fprintf(stderr, "reforge: '%s' is not a repository "
				"name ([A-Za-z0-9._-])\n", args[i]);
			return EXIT_USAGE;
		}
	if (strcmp(sub, "list") == 0 && n == 1)
		return cmd_repo_list(c);
	if (strcmp(sub, "add") == 0 && o->from_scan != NULL)
		return cmd_repo_from_scan(c, o, args + 1, n - 1);
	if (strcmp(sub, "add") == 0 && n == 2)
		return cmd_repo_add(c, args[1], o);
	if (strcmp(sub, "refresh") == 0 && n <= 2)
		return cmd_repo_refresh(c, n == 2 ? args[1] : NULL, o->force);
	if (strcmp(sub, "remove") == 0 && n == 2)
		return cmd_repo_remove(c, args[1]);
	if (strcmp(sub, "fetch") == 0 && n >= 3 &&
	    (strcmp(args[1], "-") == 0 || repo_name_ok(args[1])))
		return cmd_repo_fetch(c, args[1], args + 2, n - 2);
	fputs("reforge: repo list | add NAME --kind K --url U [...] | add "
	      "--from-scan ID [--all | NAME...] | refresh [NAME] | remove NAME "
	      "| fetch NAME PKG...\n",
	      stderr);
	return EXIT_USAGE;
}

/* ---- image jobs ---- */

struct gen_opts {
	const char *format, *disk_size, *target, *output;
};

static int cmd_generate(struct client *c, const char *scan,
			const struct gen_opts *o)
{
	json_t *body = json_pack("{s:I,s:s}", "scan",
				 (json_int_t)strtoll(scan, NULL, 10), "format",
				 o->format ? o->format : "qcow2");
	json_t *ans;

	put(body, "disk_size", o->disk_size);
	put(body, "target", o->target);
	ans = call_json(c, "POST", "/api/v1/images", body, 201);
	if (ans == NULL)
		return EXIT_FAIL;
	if (c->json)
		print_json(ans);
	else
		printf("queued image job %lld\n", num(ans, "id"));
	json_decref(ans);
	return EXIT_OK;
}

static int cmd_images(struct client *c)
{
	json_t *j = call(c, "GET", "/api/v1/images"), *s;
	size_t i;

	if (j == NULL)
		return EXIT_FAIL;
	if (c->json) {
		print_json(j);
	} else {
		printf("%-6s %-6s %-6s %-10s %4s  %-21s %s\n", "ID", "SCAN",
		       "FORMAT", "STATE", "%", "CREATED", "STAGE/ERROR");
		json_array_foreach(json_object_get(j, "images"), i, s) {
			char t[32];
			const char *what = str(s, "stage");

			when(s, "created", t, sizeof(t));
			if (strcmp(what, "-") == 0)
				what = str(s, "error");
			printf("%-6lld %-6lld %-6s %-10s %4lld  %-21s %.60s\n",
			       num(s, "id"), num(s, "scan"), str(s, "format"),
			       str(s, "state"), num(s, "progress"), t,
			       strcmp(what, "-") ? what : "");
		}
	}
	json_decref(j);
	return EXIT_OK;
}

/* What tuning changed in the image: a table of path and why; a path's
 * control characters escaped as C does (file names are the source's). */
static void image_tuning(json_t *list)
{
	struct rf_buf p = RF_BUF_INIT;
	size_t i, width = 4;
	json_t *e;

	if (!json_is_array(list))
		return;
	printf("tuning:    %zu change%s\n", json_array_size(list),
	       json_array_size(list) == 1 ? "" : "s");
	json_array_foreach(list, i, e) {
		size_t n = strlen(str(e, "path"));

		if (n > width && n <= 48)
			width = n;
	}
	if (json_array_size(list) > 0)
		printf("  %-*s  %s\n", (int)width, "PATH", "WHY");
	json_array_foreach(list, i, e) {
		rf_buf_reset(&p);
		rf_escape_c(&p, str(e, "path"), strlen(str(e, "path")));
		printf("  %-*s  %s\n", (int)width, p.data ? p.data : "",
		       str(e, "why"));
	}
	rf_buf_free(&p);
}

static int cmd_image_show(struct client *c, const char *id)
{
	struct rf_buf p = RF_BUF_INIT;
	json_t *j;

	rf_buf_printf(&p, "/api/v1/images/%s", id);
	j = call(c, "GET", p.data);
	rf_buf_free(&p);
	if (j == NULL)
		return EXIT_FAIL;
	if (c->json) {
		print_json(j);
	} else {
		char t[32];

		printf("image job %lld: scan %lld, %s\n", num(j, "id"),
		       num(j, "scan"), str(j, "format"));
		printf("state:     %s (%lld%%)\n", str(j, "state"),
		       num(j, "progress"));
		if (json_is_string(json_object_get(j, "stage")))
			printf("stage:     %s\n", str(j, "stage"));
		if (json_is_string(json_object_get(j, "error")))
			printf("error:     %s\n", str(j, "error"));
		when(j, "created", t, sizeof(t));
		printf("created:   %s\n", t);
		when(j, "finished", t, sizeof(t));
		printf("finished:  %s\n", t);
		if (json_is_integer(json_object_get(j, "image_size")))
			printf("size:      %lld bytes\n", num(j, "image_size"));
		image_tuning(json_object_get(j, "tuning"));
		if (json_is_string(json_object_get(j, "log")))
			printf("log:\n%s", str(j, "log"));
	}
	json_decref(j);
	return EXIT_OK;
}

static int cmd_image_cancel(struct client *c, const char *id)
{
	struct rf_buf p = RF_BUF_INIT;
	json_t *j;

	rf_buf_printf(&p, "/api/v1/images/%s/cancel", id);
	j = call(c, "POST", p.data);
	rf_buf_free(&p);
	if (j == NULL)
		return EXIT_FAIL;
	if (c->json)
		print_json(j);
	else
		printf("cancelled image job %s\n", id);
	json_decref(j);
	return EXIT_OK;
}

struct download {
	CURL *curl;
	FILE *f;
	long status;
	struct rf_buf error; /* the body of an answer that is not the image */
	uint64_t bytes;
	struct rf_progress prog;
	bool failed;
};

static size_t to_download(char *data, size_t size, size_t n, void *ctx)
{
	struct download *d = ctx;
	size_t len = size * n;
	char h[16];

	if (d->status == 0)
		curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &d->status);
	if (d->status != 200 && d->status != 206) {
		if (d->error.len < 65536)
			rf_buf_add(&d->error, data, len);
		return len;
	}
	if (fwrite(data, 1, len, d->f) != len) {
		d->failed = true;
		return 0;
	}
	d->bytes += len;
	rf_progress_update(&d->prog, false, "downloading: %s",
			   rf_human_size(h, sizeof(h), d->bytes));
	return len;
}

/*
 * GET the image into FILE.part, from where an earlier attempt stopped
 * (Range), then rename it to FILE.
 */
static int cmd_image_download(struct client *c, const char *id,
			      const char *out)
{
	struct rf_buf url = RF_BUF_INIT, part = RF_BUF_INIT, auth = RF_BUF_INIT;
	struct curl_slist *h = NULL;
	struct download d;
	struct stat sb;
	CURLcode cc;
	int status = EXIT_FAIL;
	char range[32];

	memset(&d, 0, sizeof(d));
	rf_buf_printf(&part, "%s.part", out);
	d.f = fopen(part.data, "ab");
	if (d.f == NULL || fstat(fileno(d.f), &sb) < 0) {
		fprintf(stderr, "reforge: cannot write '%s': %s\n", part.data,
			strerror(errno));
		goto out;
	}
	rf_progress_init(&d.prog, stderr);
	d.curl = curl_easy_init();
	rf_buf_printf(&url, "%s/api/v1/images/%s/file", c->url, id);
	rf_buf_printf(&auth, "Authorization: Bearer %s", c->token);
	h = curl_slist_append(h, auth.data);
	curl_easy_setopt(d.curl, CURLOPT_URL, url.data);
	curl_easy_setopt(d.curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(d.curl, CURLOPT_WRITEFUNCTION, to_download);
	curl_easy_setopt(d.curl, CURLOPT_WRITEDATA, &d);
	curl_easy_setopt(d.curl, CURLOPT_NOSIGNAL, 1L);
	if (c->cacert != NULL)
		curl_easy_setopt(d.curl, CURLOPT_CAINFO, c->cacert);
	if (sb.st_size > 0) {
		snprintf(range, sizeof(range), "%lld-", (long long)sb.st_size);
		curl_easy_setopt(d.curl, CURLOPT_RANGE, range);
	}
	cc = curl_easy_perform(d.curl);
	rf_progress_done(&d.prog);
	curl_easy_getinfo(d.curl, CURLINFO_RESPONSE_CODE, &d.status);
	if (d.status == 416) {
		/* what the .part holds is not a prefix of this image */
		fprintf(stderr, "reforge: '%s' does not fit the image: remove "
			"it and download again\n", part.data);
		goto out;
	}
	if (d.status != 200 && d.status != 206) {
		json_t *j = json_loadb(d.error.data ? d.error.data : "",
				       d.error.len, 0, NULL);
		const char *msg = json_string_value(json_object_get(j, "error"));

		if (d.status == 0)
			fprintf(stderr, "reforge: %s: %s\n", c->url,
				curl_easy_strerror(cc));
		else
			fprintf(stderr, "reforge: the server answered %ld: "
				"%s\n", d.status, msg ? msg : "(no message)");
		json_decref(j);
		goto out;
	}
	if (cc != CURLE_OK || d.failed) {
		fprintf(stderr, "reforge: the download stopped (%s); run the "
			"same command again to resume it\n",
			d.failed ? strerror(errno) : curl_easy_strerror(cc));
		goto out;
	}
	if (d.status == 200 && sb.st_size > 0) {
		/* the server sent it all, not the rest: start over */
		fprintf(stderr, "reforge: the server ignored the range: "
			"download again\n");
		unlink(part.data);
		goto out;
	}
	if (fflush(d.f) != 0 || fsync(fileno(d.f)) < 0 ||
	    rename(part.data, out) < 0) {
		fprintf(stderr, "reforge: cannot write '%s': %s\n", out,
			strerror(errno));
		goto out;
	}
	if (c->json) {
		json_t *j = json_pack("{s:s,s:s,s:I}", "image", id, "file", out,
				      "bytes",
				      (json_int_t)(sb.st_size + (off_t)d.bytes));

		print_json(j);
		json_decref(j);
	} else {
		printf("image %s written to %s\n", id, out);
	}
	status = EXIT_OK;
out:
	if (d.f != NULL)
		fclose(d.f);
	if (d.curl != NULL)
		curl_easy_cleanup(d.curl);
	curl_slist_free_all(h);
	rf_buf_free(&d.error);
	rf_buf_free(&url);
	rf_buf_free(&part);
	rf_buf_free(&auth);
	return status;
}

/* reforge image SUB ID: args are the words after "image". */
static int cmd_image(struct client *c, const struct gen_opts *o, char **args,
		     int n)
{
	const char *sub = n > 0 ? args[0] : "";

	if (n != 2 || !is_id(args[1])) {
		fputs("reforge: image show|download|delete|cancel ID\n", stderr);
		return EXIT_USAGE;
	}
	if (strcmp(sub, "show") == 0)
		return cmd_image_show(c, args[1]);
	if (strcmp(sub, "delete") == 0)
		return delete_one(c, "/api/v1/images", args[1],
				  "deleted image job");
	if (strcmp(sub, "cancel") == 0)
		return cmd_image_cancel(c, args[1]);
	if (strcmp(sub, "download") == 0) {
		if (o->output == NULL) {
			fputs("reforge: image download ID -o FILE\n", stderr);
			return EXIT_USAGE;
		}
		return cmd_image_download(c, args[1], o->output);
	}
	fputs("reforge: image show|download|delete|cancel ID\n", stderr);
	return EXIT_USAGE;
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
		{"kind", required_argument, NULL, 10},
		{"url", required_argument, NULL, 11},
		{"suite", required_argument, NULL, 12},
		{"components", required_argument, NULL, 13},
		{"arch", required_argument, NULL, 14},
		{"keyring", required_argument, NULL, 15},
		{"from-scan", required_argument, NULL, 16},
		{"all", no_argument, NULL, 17},
		{"force", no_argument, NULL, 18},
		{"releasever", required_argument, NULL, 19},
		{"basearch", required_argument, NULL, 20},
		{"format", required_argument, NULL, 30},
		{"disk-size", required_argument, NULL, 31},
		{"target", required_argument, NULL, 32},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct client c;
	struct repo_opts ro;
	struct gen_opts go;
	bool gen_opt = false;
	const char *token_file = NULL, *cmd, *sub;
	bool repo_opt = false;
	int opt, status = EXIT_USAGE, n;

	memset(&ro, 0, sizeof(ro));
	memset(&go, 0, sizeof(go));

	memset(&c, 0, sizeof(c));
	c.url = getenv("REFORGE_SERVER");
	if (c.url == NULL)
		c.url = "https://127.0.0.1:8443";
	while ((opt = getopt_long(argc, argv, "s:t:o:hV", longopts, NULL)) != -1) {
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
		case 10: ro.kind = optarg; repo_opt = true; break;
		case 11: ro.url = optarg; repo_opt = true; break;
		case 12: ro.suite = optarg; repo_opt = true; break;
		case 13: ro.components = optarg; repo_opt = true; break;
		case 14: ro.arch = optarg; repo_opt = true; break;
		case 15: ro.keyring = optarg; repo_opt = true; break;
		case 16:
			if (!is_id(optarg)) {
				fprintf(stderr, "reforge: --from-scan wants a "
					"scan id, not '%s'\n", optarg);
				goto bad;
			}
			ro.from_scan = optarg;
			repo_opt = true;
			break;
		case 17: ro.all = true; repo_opt = true; break;
		case 18: ro.force = true; repo_opt = true; break;
		case 19: ro.releasever = optarg; repo_opt = true; break;
		case 20: ro.basearch = optarg; repo_opt = true; break;
		case 30: go.format = optarg; gen_opt = true; break;
		case 31: go.disk_size = optarg; gen_opt = true; break;
		case 32: go.target = optarg; gen_opt = true; break;
		case 'o': go.output = optarg; gen_opt = true; break;
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
	if (strcmp(cmd, "repo") == 0) {
		if (read_token(&c, token_file) < 0)
			return EXIT_FAIL;
		curl_global_init(CURL_GLOBAL_DEFAULT);
		status = cmd_repo(&c, &ro, argv + optind + 1, n - 1);
		curl_global_cleanup();
		if (status == EXIT_USAGE)
			goto bad;
		return status;
	}
	if (strcmp(cmd, "generate") == 0 || strcmp(cmd, "images") == 0 ||
	    strcmp(cmd, "image") == 0) {
		if (repo_opt ||
		    (strcmp(cmd, "generate") == 0 && (n != 2 || !is_id(sub))) ||
		    (strcmp(cmd, "images") == 0 && n != 1)) {
			fputs("reforge: generate SCAN_ID [--format F] "
			      "[--disk-size S] [--target T] | images | image "
			      "SUB ID\n", stderr);
			goto bad;
		}
		if (read_token(&c, token_file) < 0)
			return EXIT_FAIL;
		curl_global_init(CURL_GLOBAL_DEFAULT);
		if (strcmp(cmd, "generate") == 0)
			status = cmd_generate(&c, sub, &go);
		else if (strcmp(cmd, "images") == 0)
			status = cmd_images(&c);
		else
			status = cmd_image(&c, &go, argv + optind + 1, n - 1);
		curl_global_cleanup();
		if (status == EXIT_USAGE)
			goto bad;
		return status;
	}
	if (gen_opt) {
		fputs("reforge: --format, --disk-size, --target and -o go with "
		      "'generate' and 'image download'\n", stderr);
		goto bad;
	}
	if (repo_opt) {
		fputs("reforge: --kind, --url, --from-scan and the like go with "
		      "'repo'\n", stderr);
		goto bad;
	}
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
