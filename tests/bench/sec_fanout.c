// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Section 4, scale: `bpfguard tag` of a root with BENCH_BIG (10,000)
 * descendants, and their kill, in both modes. The tag times include
 * section 2's (ctx->shared), when it ran.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "lib/agent.h"
#include "lib/bpfobj.h"
#include "lib/stats.h"
#include "lib/tree.h"
#include "lib/util.h"

#define MAX_FAN 16 /* BENCH_FAN_TRIALS is capped to it */

struct fanout {
	/* [kernel, user][trial] */
	double ms[2][MAX_FAN], agent_ms[2][MAX_FAN], k[2][MAX_FAN], sweeps[2][MAX_FAN];
	int n[2], timeouts[2];
	uint64_t kok[MAX_FAN], kbad[MAX_FAN]; /* kernel mode's in-kernel signals */
};

/* the agent's log line for tag @tag (the last, if several) */
static void from_log(const struct bench_ctx *ctx, struct fanout *F, int mi, uint32_t tag)
{
	struct logkill lk[4096];
	int n = parse_agent_log(ctx->agent.log, lk, 4096);

	for (int j = 0; j < n; j++) {
		if (lk[j].tag != tag)
			continue;
		F->agent_ms[mi][F->n[mi]] = lk[j].ms;
		F->k[mi][F->n[mi]] = lk[j].k;
		F->sweeps[mi][F->n[mi]] = lk[j].sweeps;
	}
}

static void fan_trial(struct bench_ctx *ctx, struct fanout *F, int mi)
{
	struct bench_shared *sh = &ctx->shared;
	uint64_t s0[BG_STAT_MAX], s1[BG_STAT_MAX];
	struct tree t;
	struct measure r;
	double build_ms;

	build_big(ctx, &t, ctx->k.big, &build_ms);
	if (tree_tag(ctx, &t))
		die("cannot tag the big tree's root");
	if (sh->ntag_big < 64)
		sh->tag_big[sh->ntag_big++] = (double)t.tag_ns / 1e6;
	read_stats(ctx, s0);
	tree_kill(&t, mi ? M_USER : M_KERNEL, -1, false, 0, 120000, &r);
	msleep(100);
	read_stats(ctx, s1);
	if (r.timeout)
		F->timeouts[mi]++;
	else
		F->ms[mi][F->n[mi]] = r.lat_ms;
	if (!mi) {
		F->kok[F->n[mi]] = s1[BG_STAT_KERNEL_KILLS] - s0[BG_STAT_KERNEL_KILLS];
		F->kbad[F->n[mi]] = s1[BG_STAT_KERNEL_KILL_FAILED] - s0[BG_STAT_KERNEL_KILL_FAILED];
	}
	from_log(ctx, F, mi, t.tag);
	if (!r.timeout)
		F->n[mi]++;
	tree_finish(ctx, &t);
}

static void measure_fanout(struct bench_ctx *ctx, struct fanout *F)
{
	for (int mi = 0; mi < 2; mi++) {
		const char *mode = mi ? "user" : "kernel";

		agent_start(ctx, mode, 0);
		for (int i = 0; i < ctx->k.fan_trials; i++) {
			note("4: %s mode: tree of %d, tag, kill (%d/%d)", mode, ctx->k.big, i + 1,
			     ctx->k.fan_trials);
			fan_trial(ctx, F, mi);
		}
		agent_stop(ctx);
	}
}

static void print_fanout(const struct bench_ctx *ctx, const struct fanout *F)
{
	const struct bench_shared *sh = &ctx->shared;
	double tmp[64];

	printf("\n== 4. Scale: a root with %d descendants ==\n", ctx->k.big);
	printf("What: a root with %d sleeping victims (flat, no daemons: processes orphaned\n"
	       "before the tag are not descendants), built first and then tagged. Wall time of\n"
	       "`bpfguard tag ROOT --pin-dir %s` (CLI spawn to exit: enrolment by the\n"
	       "task iterator, two passes over every task on the machine). Samples: every A round\n"
	       "of section 2 and every trial below.\n", ctx->k.big, ctx->pin);
	memcpy(tmp, sh->tag_big, sizeof(double) * (size_t)sh->ntag_big);
	{
		double med = median(tmp, sh->ntag_big); /* sorts tmp */

		printf("  tag time: median %.1f ms over %d (min %.1f, max %.1f)\n", med, sh->ntag_big,
		       sh->ntag_big ? tmp[0] : NAN, sh->ntag_big ? tmp[sh->ntag_big - 1] : NAN);
	}
	printf("What: kill fan-out, root's SIGKILL -> all %d seen dead (pidfds), as in section 1.\n",
	       ctx->k.big);
	for (int mi = 0; mi < 2; mi++) {
		printf("  --mode %-6s trials:", mi ? "user" : "kernel");
		for (int i = 0; i < F->n[mi]; i++)
			printf(" %.1f ms", F->ms[mi][i]);
		printf("  (median %.1f ms%s)\n", median_of(F->ms[mi], F->n[mi]),
		       F->timeouts[mi] ? ", TIMEOUTS" : "");
		for (int i = 0; i < F->n[mi]; i++) {
			printf("      trial %d: agent log: killed %.0f in %.0f sweep(s), %.1f ms after the "
			       "root's exit",
			       i + 1, F->k[mi][i], F->sweeps[mi][i], F->agent_ms[mi][i]);
			if (!mi)
				printf("; in-kernel signals queued %llu, refused %llu",
				       (unsigned long long)F->kok[i], (unsigned long long)F->kbad[i]);
			printf("\n");
		}
	}
	fflush(stdout);
}

static void run_fanout(struct bench_ctx *ctx)
{
	struct fanout F;

	memset(&F, 0, sizeof(F));
	measure_fanout(ctx, &F);
	print_fanout(ctx, &F);
}

const struct bench_section sec_fanout = {
	.num = 4,
	.name = "fanout",
	.desc = "scale: `bpfguard tag` of a root with BENCH_BIG descendants, and their kill",
	.run = run_fanout,
};
