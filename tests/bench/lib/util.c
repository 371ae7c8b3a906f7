// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* util.c: see util.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static void (*fatal_cleanup)(void);

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

void die_hook(void (*cleanup)(void))
{
	fatal_cleanup = cleanup;
}

void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	fprintf(stderr, "bench: FATAL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	if (fatal_cleanup)
		fatal_cleanup();
	exit(1);
}

int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	int err = n < 0 ? -errno : 0;

	close(fd);
	return err;
}

ssize_t read_str(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

void *zalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p)
		die("out of memory");
	return p;
}

int env_int(const char *name, int def)
{
	const char *v = getenv(name);

	return v && *v ? atoi(v) : def;
}

/* no snprintf: cleanup formats numbers from a signal handler */
int sysctl_set(const char *path, long v, int *old)
{
	char b[24];

	if (read_str(path, b, sizeof(b)) < 0)
		return -1;
	if (*old < 0)
		*old = atoi(b);
	fmt_int(b, v);
	return write_str(path, b) ? -1 : 0;
}

void sysctl_restore(const char *path, int *old)
{
	char b[24];

	if (*old < 0)
		return;
	fmt_int(b, *old);
	write_str(path, b);
	*old = -1;
}

void fmt_int(char *out, long x)
{
	char tmp[24];
	int n = 0;

	if (x < 0) {
		*out++ = '-';
		x = -x;
	}
	do {
		tmp[n++] = (char)('0' + x % 10);
		x /= 10;
	} while (x && n < 22);
	for (int j = 0; j < n; j++)
		out[j] = tmp[n - 1 - j];
	out[n] = '\0';
}

bool fd_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) > 0;
}

int line_at(const char *text, const char *key, const char **start)
{
	const char *l = strstr(text, key), *e;

	if (!l)
		return -1;
	e = strchr(l, '\n');
	*start = l;
	return e ? (int)(e - l) : (int)strlen(l);
}
