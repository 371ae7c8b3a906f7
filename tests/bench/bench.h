/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * bench.h: one section of the bench. Each sec_*.c fills in one struct
 * bench_section; the runner (bench.c) lists them in its table and, for each
 * section BENCH_SECTIONS selects, calls setup (if any) before any section
 * runs, then run in the order of the table: run measures and prints its
 * part of the report.
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include "lib/ctx.h"

struct bench_section {
	int num;		/* what BENCH_SECTIONS names it by */
	const char *name;
	const char *desc;
	void (*setup)(struct bench_ctx *ctx); /* may be NULL */
	void (*run)(struct bench_ctx *ctx);
};

extern const struct bench_section sec_latency;	/* 1 */
extern const struct bench_section sec_hooks;	/* 2 */
extern const struct bench_section sec_memory;	/* 3 */
extern const struct bench_section sec_fanout;	/* 4 */
extern const struct bench_section sec_dispatch;	/* 5 */
extern const struct bench_section sec_scale;	/* 6 */

#endif /* BENCH_BENCH_H */
