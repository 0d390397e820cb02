/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * reforge-img: convert disk images and show what they hold, with the
 * command line, messages and exit codes of qemu-img (0 success, 1 error).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "buf.h"
#include "error.h"
#include "image.h"
#include "progress.h"

static const char *prog = "reforge-img";

static void usage(FILE *out)
{
	const struct fmt_writer_ops *const *w = fmt_writer_list();
	const struct fmt_reader_ops *const *r = fmt_reader_list();

	fprintf(out,
		"Usage: %s COMMAND [OPTION]... ARG...\n"
		"Convert disk images and show what they hold.\n"
		"\n"
		"Commands:\n"
		"  convert [-f FMT] [-O FMT] [-o OPTIONS] [-t CACHE] [-c] [-p] "
		"[-q] IN OUT\n"
		"      Copy IN into a new image OUT (default format raw).\n"
		"      OUT appears only once complete.\n"
		"  info [-f FMT] [--output=human|json] FILE\n"
		"      Show the format, sizes and format details of FILE.\n"
		"\n"
		"Options:\n"
		"  -f FMT      input format (default: detected)\n"
		"  -O FMT      output format\n"
		"  -o OPTIONS  output options, key=value[,key=value]...\n"
		"  -t CACHE    writeback (default: OUT is flushed to disk) or "
		"unsafe (not\n"
		"              flushed; still never left half-written under "
		"its name)\n"
		"  -c          compress (qcow2: compress=on; vmdk: "
		"streamOptimized)\n"
		"  -p          show progress on a terminal\n"
		"  -q          quiet\n"
		"  -h, --help  this text;  -V, --version  the version\n"
		"\n"
		"Output formats:\n",
		prog);
	for (; *w != NULL; w++)
		fprintf(out, "  %-6s %s\n", (*w)->name, (*w)->description);
	fprintf(out, "Input formats:");
	for (; *r != NULL; r++)
		fprintf(out, " %s", (*r)->name);
	fprintf(out,
		"\n\nOutput options:\n"
		"  qcow2  cluster_size=SIZE (64k), compress=on|off, "
		"compression_type=zlib|zstd,\n"
		"         threads=N\n"
		"  vmdk   subformat=monolithicSparse|streamOptimized, "
		"adapter_type=ide|lsilogic|\n"
		"         buslogic|legacyESX|pvscsi, hwversion=N, threads=N\n"
		"  ova    name=NAME, cpus=N, memory=MiB, "
		"nic=e1000|e1000e|vmxnet3|none,\n"
		"         network=NAME, ostype=GUESTID, adapter_type=..., "
		"threads=N\n"
		"\nExit status: 0 on success, 1 on any error.\n");
}

static int fail_usage(const char *msg)
{
	fprintf(stderr, "%s: %s\nTry '%s --help' for more information.\n", prog,
		msg, prog);
	return 1;
}

struct progress_ctx {
	struct rf_progress p;
	bool on;
};

static void show_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct progress_ctx *pc = ctx;

	if (pc->on)
		rf_progress_update(&pc->p, false, "    (%.2f/100%%)",
				   total ? 100.0 * (double)done / (double)total
					 : 100.0);
}

static int cmd_convert(int argc, char **argv)
{
	const char *in_fmt = NULL, *out_fmt = "raw", *opts = NULL;
	const char *cache = "writeback";
	bool compress = false, quiet = false;
	struct progress_ctx pc = {.on = false};
	struct rf_error err = {0, ""};
	struct fmt_reader *r = NULL;
	struct fmt_writer *w = NULL;
	struct rf_buf o = RF_BUF_INIT;
	int c, rc = 1;

	optind = 1;
	while ((c = getopt(argc, argv, "f:O:o:t:cpqh")) != -1) {
		switch (c) {
		case 'f':
			in_fmt = optarg;
			break;
		case 'O':
			out_fmt = optarg;
			break;
		case 'o':
			/* Repeated -o options add up, as in qemu-img. */
			if (o.len)
				rf_buf_addch(&o, ',');
			rf_buf_addstr(&o, optarg);
			break;
		case 't':
			cache = optarg;
			break;
		case 'c':
			compress = true;
			break;
		case 'p':
			pc.on = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		default:
			rc = fail_usage("invalid option for convert");
			goto out;
		}
	}
	if (argc - optind != 2) {
		rc = fail_usage("Expecting one input and one output image "
				"name");
		goto out;
	}
	if (fmt_writer_by_name(out_fmt) == NULL) {
		fprintf(stderr, "%s: Unknown file format '%s'\n", prog,
			out_fmt);
		goto out;
	}
	if (compress) {
		if (!strcmp(out_fmt, "qcow2")) {
			rf_buf_addstr(&o,
				      o.len ? ",compress=on" : "compress=on");
		} else if (!strcmp(out_fmt, "vmdk")) {
			/* Compressed VMDK is streamOptimized, as in qemu. */
			if (o.data == NULL || !strstr(o.data, "subformat="))
				rf_buf_addstr(&o, o.len ? ",subformat="
							  "streamOptimized"
							: "subformat="
							  "streamOptimized");
		} else if (strcmp(out_fmt, "ova") != 0) {
			fprintf(stderr,
				"%s: Compression not supported for "
				"this file format\n",
				prog);
			goto out;
		}
	}
	if (strcmp(cache, "writeback") != 0 && strcmp(cache, "unsafe") != 0) {
		fprintf(stderr,
			"%s: Invalid cache option: %s (writeback or "
			"unsafe)\n",
			prog, cache);
		goto out;
	}
	opts = o.data;
	if (quiet)
		pc.on = false;
	if (fmt_reader_open(argv[optind], in_fmt, &r, &err) < 0) {
		fprintf(stderr, "%s: Could not open '%s': %s\n", prog,
			argv[optind], err.msg);
		goto out;
	}
	if (fmt_writer_new(out_fmt, argv[optind + 1],
			   fmt_reader_virtual_size(r), opts, &w, &err) < 0) {
		fprintf(stderr,
			"%s: %s: error while creating output image: "
			"%s\n",
			prog, argv[optind + 1], err.msg);
		goto out;
	}
	fmt_writer_set_sync(w, strcmp(cache, "unsafe") != 0);
	if (pc.on)
		rf_progress_init(&pc.p, stdout);
	if (fmt_convert(r, w, show_progress, &pc, &err) < 0 ||
	    fmt_writer_finish(w, &err) < 0) {
		if (pc.on)
			rf_progress_done(&pc.p);
		fprintf(stderr, "%s: error while converting %s: %s\n", prog,
			out_fmt, err.msg);
		goto out;
	}
	if (pc.on) {
		rf_progress_update(&pc.p, true, "    (100.00/100%%)");
		rf_progress_done(&pc.p);
	}
	rc = 0;
out:
	fmt_writer_free(w);
	fmt_reader_free(r);
	rf_buf_free(&o);
	return rc;
}

static int cmd_info(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"output", required_argument, NULL, 'J'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *fmt = NULL, *output = "human";
	struct rf_error err = {0, ""};
	struct fmt_reader *r = NULL;
	const char *const *keys, *const *values;
	char human[32];
	struct stat st;
	uint64_t disk = 0;
	size_t n;
	int c, rc = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			fmt = optarg;
			break;
		case 'J':
			output = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return fail_usage("invalid option for info");
		}
	}
	if (strcmp(output, "human") != 0 && strcmp(output, "json") != 0) {
		fprintf(stderr,
			"%s: --output must be used with human or "
			"json as argument.\n",
			prog);
		return 1;
	}
	if (argc - optind != 1)
		return fail_usage("Expecting one image file name");
	if (fmt_reader_open(argv[optind], fmt, &r, &err) < 0) {
		fprintf(stderr, "%s: Could not open '%s': %s\n", prog,
			argv[optind], err.msg);
		goto out;
	}
	if (stat(argv[optind], &st) == 0)
		disk = (uint64_t)st.st_blocks * 512;
	n = fmt_reader_info(r, &keys, &values);
	if (!strcmp(output, "json")) {
		json_t *root = json_object(), *spec = json_object();
		char *text;

		json_object_set_new(root, "filename",
				    json_string(argv[optind]));
		json_object_set_new(root, "format",
				    json_string(fmt_reader_format(r)));
		json_object_set_new(
			root, "virtual-size",
			json_integer((json_int_t)fmt_reader_virtual_size(r)));
		json_object_set_new(root, "actual-size",
				    json_integer((json_int_t)disk));
		for (size_t i = 0; i < n; i++)
			json_object_set_new(spec, keys[i],
					    json_string(values[i]));
		json_object_set_new(root, "format-specific", spec);
		text = json_dumps(root, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
		if (text != NULL)
			printf("%s\n", text);
		free(text);
		json_decref(root);
	} else {
		printf("image: %s\nfile format: %s\n", argv[optind],
		       fmt_reader_format(r));
		printf("virtual size: %s (%llu bytes)\n",
		       rf_human_size(human, sizeof(human),
				     fmt_reader_virtual_size(r)),
		       (unsigned long long)fmt_reader_virtual_size(r));
		printf("disk size: %s\n",
		       rf_human_size(human, sizeof(human), disk));
		if (n > 0)
			printf("Format specific information:\n");
		for (size_t i = 0; i < n; i++)
			printf("    %s: %s\n", keys[i], values[i]);
	}
	rc = 0;
out:
	fmt_reader_free(r);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return fail_usage("Not enough arguments");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("%s (reforge) %s\n", prog, PACKAGE_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "convert"))
		return cmd_convert(argc - 1, argv + 1);
	if (!strcmp(argv[1], "info"))
		return cmd_info(argc - 1, argv + 1);
	fprintf(stderr,
		"%s: Command not found: %s\nTry '%s --help' for more "
		"information.\n",
		prog, argv[1], prog);
	return 1;
}
