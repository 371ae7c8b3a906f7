/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * util.h: the bench's small helpers: clock, messages, one-line files,
 * environment numbers, integer formatting that is async-signal-safe.
 * msleep() comes from the kernel suite's helper.h.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "helper.h"

uint64_t now_ns(void);
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * "bench: FATAL: ...", then the cleanup registered with die_hook() (the
 * runner's: undo everything), then exit(1).
 */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void die_hook(void (*cleanup)(void));
/* write @s to an existing file (sysfs, cgroupfs, tracefs): 0 or -errno */
int write_str(const char *path, const char *s);
/*
 * Write @v to the sysctl file @path, its value before kept in *@old unless
 * *@old holds one already (>= 0): 0, or -1 if it could not be read or set.
 */
int sysctl_set(const char *path, long v, int *old);
/* put *@old back if sysctl_set() changed it, then *@old = -1. Async-signal-safe. */
void sysctl_restore(const char *path, int *old);
/* read at most @len - 1 bytes, NUL-terminated: the length, or -1 */
ssize_t read_str(const char *path, char *buf, size_t len);
/* calloc(@n, @size), or die "out of memory" */
void *zalloc(size_t n, size_t size);
int env_int(const char *name, int def);
void fmt_int(char *out, long x);
bool fd_readable(int fd, int ms);
/* the line of @text that starts at @key: its length (*start set), or -1 */
int line_at(const char *text, const char *key, const char **start);

#endif /* BENCH_UTIL_H */
