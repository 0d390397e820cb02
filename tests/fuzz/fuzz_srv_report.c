/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * reforge-server's report ingest on arbitrary bytes (plain, gzip or zstd,
 * chosen by the input's own first bytes, as the server does), into a
 * scratch store made once per process.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "srv.h"

static struct srv_store *st;
static sqlite3 *db;

static void cleanup(void)
{
	char cmd[256];

	sqlite3_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", st->dir);
	srv_store_free(st);
	if (system(cmd) != 0)
		fputs("cannot remove the scratch store\n", stderr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct srv_ingest_result res;
	struct rf_error err;
	int fd;

	if (st == NULL) {
		char dir[] = "/tmp/fuzz-srv.XXXXXX";

		if (mkdtemp(dir) == NULL || srv_store_open(dir, &st, &err) < 0)
			abort();
		st->nosync = true;
		if (srv_db_open(st, &db, &err) < 0)
			abort();
		atexit(cleanup);
	}
	fd = memfd_create("report", 0);
	if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size))
		abort();
	rf_error_clear(&err);
	if (srv_ingest_report(db, fd, "m", 1, "00", &res, &err) < 0 &&
	    err.msg[0] == '\0')
		abort(); /* every refusal says why */
	close(fd);
	return 0;
}
