// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Section 6, scale: section 1's kill latency (the tagged root's SIGKILL ->
 * its last descendant seen dead, 1, 100 and 1000 descendants) with unrelated
 * idle processes on the machine: 0, 10,000 and 30,000 by default. bpfguard
 * in each mode against its reference (PR_SET_PDEATHSIG for one descendant,
 * cgroup.kill for 100 and 1000), the reference measured with no agent
 * loaded. At each count the trials run in blocks, the reference's block, the
 * kernel agent's, the user agent's, in turn, so that the drift of a shared
 * machine falls on all three alike; the spread of the blocks' medians is
 * printed beside each figure, as the noise to read the ratios against.
 *
 * Also the exit program's run time per trial (kernel.bpf_stats_enabled): all
 * of its runs during the block (the root's death, its descendants' exits,
 * whatever else exited on the machine), divided by the block's trials.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "lib/agent.h"
#include "lib/bpfobj.h"
#include "lib/pidmax.h"
#include "lib/stats.h"
#include "lib/trial.h"
#include "lib/util.h"

#define MAX_COUNTS 4
#define MAX_BLOCKS 8

enum col { C_REF, C_KERNEL, C_USER, C_MAX };

static const enum mech col_mech[C_MAX] = { M_PDEATH /* or M_CGROUP */, M_KERNEL, M_USER };

struct cell {
	struct samples lat;	/* every trial's latency, ms */
	double block_p50[MAX_BLOCKS];
	int nblocks;
	int timeouts, failed;
	long survivors;
	uint64_t exit_rt_ns, exit_runs, exit_trials; /* the exit program (modes) */
};

struct scale {
	int counts[MAX_COUNTS], ncounts;
	int trials[NSIZES], blocks;
	int bg_real[MAX_COUNTS];	  /* processes on the machine during the count */
	struct cell c[MAX_COUNTS][NSIZES][C_MAX];
	struct tree bg[MAX_COUNTS];	  /* the idle processes, one tree per step */
	int nbg;
};

static enum mech mech_of(enum col col, int si)
{
	return col == C_REF ? (si == 0 ? M_PDEATH : M_CGROUP) : col_mech[col];
}

/* BENCH_SCALE "0,10000,30000": the counts, ascending */
static void read_counts(struct scale *S, const char *e)
{
	char buf[sizeof(((struct bench_knobs *)0)->scale)], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", e);
	for (char *tok = strtok_r(buf, ",", &save); tok && S->ncounts < MAX_COUNTS;
	     tok = strtok_r(NULL, ",", &save)) {
		int v = atoi(tok);

		if (v < 0 || (S->ncounts && v <= S->counts[S->ncounts - 1]))
			die("BENCH_SCALE: counts must be ascending and >= 0: %s", e);
		S->counts[S->ncounts++] = v;
	}
	if (!S->ncounts)
		die("BENCH_SCALE: no count in '%s'", e);
}

static int procs_now(void)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] >= '1' && de->d_name[0] <= '9')
			n++;
	closedir(d);
	return n;
}

/* grow the idle processes to @want (they stay until the section ends) */
static void grow_bg(struct bench_ctx *ctx, struct scale *S, int want, int have)
{
	const char *args[] = { "idle", NULL, NULL };
	char a_n[16];
	double ms;
	uint64_t t0 = now_ns();
	struct tree *t;

	if (want <= have)
		return;
	if (S->nbg >= MAX_COUNTS)
		die("scale: too many background steps");
	t = &S->bg[S->nbg++];
	fmt_int(a_n, want - have);
	args[1] = a_n;
	tree_spawn(ctx, t, args, 1, ctx->cg_all_fd);
	if (tree_go(ctx, t, 600000))
		die("scale: could not start %d idle processes", want - have);
	ms = (double)(now_ns() - t0) / 1e6;
	note("6: %d idle processes started in %.0f ms", want - have, ms);
}

static void run_block(struct bench_ctx *ctx, struct scale *S, int ci, enum col col, int b)
{
	int efd = -1;

	if (col != C_REF) {
		agent_start(ctx, col == C_KERNEL ? "kernel" : "user", 0);
		efd = link_prog_fd(ctx->pin_link_exit);
	}
	for (int si = 0; si < NSIZES; si++) {
		struct cell *c = &S->c[ci][si][col];
		enum mech m = mech_of(col, si);
		int n = S->trials[si] / S->blocks + (b < S->trials[si] % S->blocks), first = c->lat.n;
		uint64_t rt0 = 0, rc0 = 0, rt1 = 0, rc1 = 0;

		if (efd >= 0)
			prog_run(efd, &rt0, &rc0, NULL);
		for (int i = 0; i < n; i++) {
			struct measure r;
			int rc = trial(ctx, m, si, &r, NULL, NULL);

			if (rc) {
				c->failed++;
				continue;
			}
			if (r.timeout)
				c->timeouts++;
			c->survivors += r.survivors;
			if (!r.timeout)
				samples_add(&c->lat, r.lat_ms);
			if (col != C_REF && !agent_alive(ctx))
				die("the agent died during the trials (log: %s)", ctx->agent.log);
		}
		if (efd >= 0 && !prog_run(efd, &rt1, &rc1, NULL)) {
			c->exit_rt_ns += rt1 - rt0;
			c->exit_runs += rc1 - rc0;
			c->exit_trials += (uint64_t)n;
		}
		if (c->lat.n > first && c->nblocks < MAX_BLOCKS)
			c->block_p50[c->nblocks++] = median_of(c->lat.v + first, c->lat.n - first);
	}
	if (efd >= 0)
		close(efd);
	if (col != C_REF)
		agent_stop(ctx);
}

static void measure(struct bench_ctx *ctx, struct scale *S)
{
	int have = 0, base = procs_now(), top = S->counts[S->ncounts - 1], room;

	/* room for the idle ones, the trials' 1000 and what else may start */
	if (pid_max_now() < base + top + 8000 && pid_max_raise(ctx, base + top + 8000))
		note("6: cannot raise kernel.pid_max to %d", base + top + 8000);
	room = pid_max_now() - base - 4000;
	for (int ci = 0; ci < S->ncounts; ci++) {
		int want = S->counts[ci];

		if (want > room) {
			note("6: %d idle processes do not fit under kernel.pid_max %d (%d "
			     "processes now): %d instead", want, pid_max_now(), base, room);
			want = S->counts[ci] = room;
		}
		grow_bg(ctx, S, want, have);
		have = want;
		S->bg_real[ci] = procs_now();
		note("6: %d unrelated processes (%d on the machine): %d blocks of %d/%d/%d trials",
		     want, S->bg_real[ci], S->blocks, S->trials[0], S->trials[1], S->trials[2]);
		for (int b = 0; b < S->blocks; b++)
			for (int col = 0; col < C_MAX; col++)
				run_block(ctx, S, ci, (enum col)col, b);
	}
}

static void print_what(const struct bench_ctx *ctx, const struct scale *S)
{
	printf("\n== 6. Scale: kill latency with unrelated idle processes on the machine ==\n");
	printf("What: section 1's trials (same victims, same clock: root's SIGKILL -> last\n"
	       "descendant's pidfd readable) with N unrelated processes that pause() (children of\n"
	       "one `victim idle N`, started before the count's trials and kept to the end).\n"
	       "At each N, %d blocks of: the reference (PR_SET_PDEATHSIG for 1 descendant,\n"
	       "cgroup.kill for 100 and 1000) with no agent loaded, then `bpfguard agent\n"
	       "--pin-dir %s --mode kernel`, then --mode user; each agent\n"
	       "started and unloaded for its block. Trials per size and column: %d/%d/%d.\n"
	       "blocks: the lowest and highest of the blocks' p50s. xN0: the figure over the\n"
	       "same column's at the first N. /ref: over the reference's at the same N.\n"
	       "exit us/trial: the exit program's run time over the block (kernel.bpf_stats_\n"
	       "enabled=1), the root's death and its descendants' exits included, per trial.\n",
	       S->blocks, ctx->pin, S->trials[0], S->trials[1], S->trials[2]);
}

static void print_size(const struct scale *S, int si)
{
	printf("\n %d descendant%s (ref: %s)\n", sizes[si], si ? "s" : "",
	       si == 0 ? "PR_SET_PDEATHSIG" : "cgroup.kill");
	printf("  %-30s %7s %6s %8s %8s %15s %6s %6s %6s %6s %9s  %s\n", "column", "N", "trials",
	       "p50 ms", "p99 ms", "blocks p50", "p50xN0", "p99xN0", "p50/ref", "p99/ref",
	       "exit us", "notes");
	for (int col = 0; col < C_MAX; col++) {
		const struct cell *c0 = &S->c[0][si][col];
		double a50 = pct_of(c0->lat.v, c0->lat.n, 0.5), a99 = pct_of(c0->lat.v, c0->lat.n, 0.99);

		for (int ci = 0; ci < S->ncounts; ci++) {
			const struct cell *c = &S->c[ci][si][col], *r = &S->c[ci][si][C_REF];
			double p50 = pct_of(c->lat.v, c->lat.n, 0.5), p99 = pct_of(c->lat.v, c->lat.n, 0.99);
			double r50 = pct_of(r->lat.v, r->lat.n, 0.5), r99 = pct_of(r->lat.v, r->lat.n, 0.99);
			double lo = pct_of(c->block_p50, c->nblocks, 0.0),
			       hi = pct_of(c->block_p50, c->nblocks, 1.0);
			char notes[160] = "", blocks[32], exit_us[16] = "-";

			snprintf(blocks, sizeof(blocks), "%.3f-%.3f", lo, hi);
			if (c->exit_trials)
				snprintf(exit_us, sizeof(exit_us), "%.1f",
					 (double)c->exit_rt_ns / 1e3 / (double)c->exit_trials);
			if (c->timeouts || c->failed || c->survivors)
				snprintf(notes, sizeof(notes), "%d timeout(s), %d failed, %ld survivor(s)",
					 c->timeouts, c->failed, c->survivors);
			printf("  %-30s %7d %6d %8.3f %8.3f %15s %6.2f %6.2f %6.2f %6.2f %9s  %s\n",
			       mech_name[mech_of((enum col)col, si)], S->counts[ci], c->lat.n, p50, p99,
			       blocks, p50 / a50, p99 / a99, p50 / r50, p99 / r99, exit_us, notes);
		}
	}
}

static void run_scale(struct bench_ctx *ctx)
{
	struct scale *S = zalloc(1, sizeof(*S));

	read_counts(S, ctx->k.scale);
	memcpy(S->trials, ctx->k.scale_trials, sizeof(S->trials));
	S->blocks = ctx->k.scale_blocks < 1 ? 1 : ctx->k.scale_blocks;
	if (S->blocks > MAX_BLOCKS)
		S->blocks = MAX_BLOCKS;
	bpf_stats_enable(ctx);
	measure(ctx, S);
	bpf_stats_restore(ctx);
	print_what(ctx, S);
	for (int si = 0; si < NSIZES; si++)
		print_size(S, si);
	fflush(stdout);
	for (int i = 0; i < S->nbg; i++)
		tree_finish(ctx, &S->bg[i]);
	pid_max_restore(ctx);
	for (int ci = 0; ci < MAX_COUNTS; ci++)
		for (int si = 0; si < NSIZES; si++)
			for (int col = 0; col < C_MAX; col++)
				free(S->c[ci][si][col].lat.v);
	free(S);
}

const struct bench_section sec_scale = {
	.num = 6,
	.name = "scale",
	.desc = "scale: kill latency with 0, 10,000 and 30,000 unrelated processes on the machine",
	.run = run_scale,
};
