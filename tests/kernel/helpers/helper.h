/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * helper.h: what the kernel suite's helper programs share. Each helper is
 * one .c file built on its own (here and, static, for the qemu guests), so
 * this header is all of it: static inline functions, no object to link.
 *
 * - now_ms(), msleep(): a monotonic clock in ms, a sleep that survives
 *   signals;
 * - exit_at(): sleep until a CLOCK_MONOTONIC deadline, then _exit(0), so a
 *   helper's processes never outlive the test that started them;
 * - write_text(): write a report file atomically (PATH.tmp, then rename):
 *   the suite waits for PATH to exist, then reads it, and must never see it
 *   half written;
 * - wait_file(): wait (bounded) for a file to exist;
 * - helper_opts(): the --go and --life options of the tree helpers;
 * - pidfd_of(), pidfd_signal(), pidfd_dead(), pidfd_pid(): a process named
 *   by a pidfd, never by a bare pid (the helpers and the bench alike).
 */
#ifndef BPFGUARD_TEST_HELPER_H
#define BPFGUARD_TEST_HELPER_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static inline long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static inline void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static inline void __attribute__((noreturn)) exit_at(long end_ms)
{
	long left;

	while ((left = end_ms - now_ms()) > 0)
		msleep(left > 1000 ? 1000 : left);
	_exit(0);
}

/* 0, or -1 with errno set. */
static inline int write_text(const char *path, const char *text)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fputs(text, f);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

/* 0 once @path exists, -1 after @ms. */
static inline int wait_file(const char *path, long ms)
{
	long deadline = now_ms() + ms;
	struct stat st;

	while (stat(path, &st) != 0) {
		if (now_ms() >= deadline)
			return -1;
		msleep(10);
	}
	return 0;
}

/*
 * The options the tree helpers share, [--go FILE] [--life SECONDS], read
 * from argv[*i] on (*i is left at the first operand): 0, or -1 on a bad
 * option or value (the caller prints its usage).
 */
static inline int helper_opts(int argc, char **argv, int *i, const char **go, long *life_s)
{
	char *end;

	while (*i < argc && strncmp(argv[*i], "--", 2) == 0) {
		if (strcmp(argv[*i], "--go") == 0 && *i + 1 < argc) {
			*go = argv[*i + 1];
		} else if (strcmp(argv[*i], "--life") == 0 && *i + 1 < argc) {
			*life_s = strtol(argv[*i + 1], &end, 10);
			if (!*argv[*i + 1] || *end || *life_s < 1 || *life_s > 86400)
				return -1;
		} else {
			return -1;
		}
		*i += 2;
	}
	return 0;
}

/* A pidfd of @pid (close-on-exec by the kernel's rule), or -1. */
static inline int pidfd_of(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* 0, or -1 with errno (ESRCH once the process is gone). */
static inline int pidfd_signal(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* A pidfd is readable once its whole thread group has exited. */
static inline bool pidfd_dead(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

/* The host pid a pidfd names (its fdinfo), or -1 if it has exited. */
static inline pid_t pidfd_pid(int pidfd)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strstr(buf, "\nPid:");
	return p ? (pid_t)strtol(p + 5, NULL, 10) : -1;
}

#endif /* BPFGUARD_TEST_HELPER_H */
