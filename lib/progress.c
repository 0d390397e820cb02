/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "progress.h"

uint64_t rf_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void rf_progress_init(struct rf_progress *p, FILE *out)
{
	struct winsize ws;

	memset(p, 0, sizeof(*p));
	p->out = out;
	p->enabled = isatty(fileno(out));
	p->width = 80;
	if (p->enabled && ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 &&
	    ws.ws_col > 10)
		p->width = ws.ws_col;
	p->start_ns = rf_now_ns();
}

void rf_progress_update(struct rf_progress *p, bool force, const char *fmt, ...)
{
	char line[512];
	uint64_t now;
	va_list ap;
	int n;

	if (!p->enabled)
		return;
	now = rf_now_ns();
	if (!force && now - p->last_ns < 200000000u)
		return;
	p->last_ns = now;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n >= p->width)
		line[p->width - 1] = '\0';
	fprintf(p->out, "\r\033[K%s", line);
	fflush(p->out);
}

void rf_progress_done(struct rf_progress *p)
{
	if (!p->enabled || p->last_ns == 0)
		return;
	fputs("\r\033[K", p->out);
	fflush(p->out);
}

const char *rf_human_size(char *buf, size_t size, uint64_t bytes)
{
	static const char *const units[] = {"B",   "KiB", "MiB", "GiB",
					    "TiB", "PiB", "EiB"};
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
	return buf;
}
