/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * bpfobj.h: what the bench reads from BPF objects: the agent's pinned stats
 * map, a map's size, the run time of the programs behind pinned links, and
 * the kernel.bpf_stats_enabled switch that makes run times count.
 */
#ifndef BENCH_BPFOBJ_H
#define BENCH_BPFOBJ_H

#include <stdint.h>

#include "bpfguard.h"
#include "ctx.h"

/* the pinned per-CPU `stats` map, summed over CPUs: 0, or -1 */
int read_stats(const struct bench_ctx *ctx, uint64_t out[BG_STAT_MAX]);
/* "memlock:" of its fdinfo, max_entries and map_flags of the map pinned at @pin */
void map_info(const char *pin, uint64_t *memlock, uint32_t *max_entries, uint32_t *flags);
/* a fd of the program behind the link pinned at @pin, or -1 */
int link_prog_fd(const char *pin);
/* the program's run_time_ns and run_cnt (and id, if @id): 0, or -1 */
int prog_run(int pfd, uint64_t *rt, uint64_t *cnt, uint32_t *id);
/* bg_fork/bg_exit programs loaded now (by any agent) */
int count_other_bg_progs(void);
/* kernel.bpf_stats_enabled=1, the old value kept for the restore (dies on failure) */
void bpf_stats_enable(struct bench_ctx *ctx);
/* put the old value back, if bpf_stats_enable() changed it. Async-signal-safe. */
void bpf_stats_restore(struct bench_ctx *ctx);

#endif /* BENCH_BPFOBJ_H */
