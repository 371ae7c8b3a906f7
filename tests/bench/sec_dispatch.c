// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Section 5, dispatch: root's exit -> last SIGKILL generated, per
 * descendant, from a private ftrace instance; then the agents' own kill log
 * lines of section 1's trials (ctx->shared), when it ran.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "lib/agent.h"
#include "lib/bpfobj.h"
#include "lib/ftrace.h"
#include "lib/stats.h"
#include "lib/trial.h"
#include "lib/util.h"

/* one trial's trace */
struct dispatch {
	bool ok;
	double first_ms, last_ms; /* root exit -> first / last victim's first delivered SIGKILL */
	double t0_to_gen_us;	  /* harness t0 -> kernel's generation of the root's SIGKILL */
	int signalled, by_agent, by_other, extra;
};

/* medians over one mechanism's and size's trials */
struct dispatch_sum {
	double first_ms, last_ms, per_desc_us, t0gen_us, exitprog_us, exitprog_cnt, lat_ms;
	double spread_us; /* (last - first) / N: the senders' pace alone */
	int trials, ok, signalled, by_agent, by_other, negative;
};

static int cmp_i32(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* the timestamp (ms) and sender pid of a trace line whose event starts at @ev */
static double line_ts(char *line, char *ev, int *sender)
{
	char *tsp = ev, *br;

	while (tsp > line && tsp[-1] != ' ')
		tsp--;
	br = strstr(line, " [");
	*sender = -1;
	if (br) {
		char *dash = br;

		while (dash > line && *dash != '-')
			dash--;
		*sender = atoi(dash + 1);
	}
	return strtod(tsp, NULL) * 1e3;
}

/* a victim's SIGKILL: the first delivery is kept per slot of @sorted */
static void count_signal(const struct bench_ctx *ctx, const struct tree *t, const int *sorted,
			 double *first, char *ev, double ts, int sender, struct dispatch *d)
{
	char *pp = strstr(ev, " pid="), *rp = strstr(ev, " res=");
	int pid = pp ? atoi(pp + 5) : 0, r = rp ? atoi(rp + 5) : -1;
	const int *hit = bsearch(&pid, sorted, (size_t)t->n, sizeof(int), cmp_i32);
	size_t k;

	if (!hit || r != 0)
		return;
	k = (size_t)(hit - sorted);
	if (first[k] < 0) {
		first[k] = ts;
		d->signalled++;
		if (sender == ctx->agent.pid)
			d->by_agent++;
		else
			d->by_other++;
	} else {
		d->extra++;
	}
}

/* Parse the instance's trace for one trial of tree @t. */
static void trace_parse(const struct bench_ctx *ctx, struct tree *t, uint64_t t0,
			struct dispatch *d)
{
	size_t len;
	char *buf = trace_read(ctx, &len), *line, *save = NULL;
	int *sorted = malloc(sizeof(int) * (size_t)(t->n + 1));
	double *first = malloc(sizeof(double) * (size_t)(t->n + 1));
	double exit_ts = -1, root_gen = -1;

	memset(d, 0, sizeof(*d));
	if (!buf || !sorted || !first)
		goto out;
	/* sorted pids -> index, for the lookup of each event's target */
	for (int i = 0; i < t->n; i++)
		sorted[i] = t->pid[i];
	qsort(sorted, (size_t)t->n, sizeof(int), cmp_i32);
	for (int i = 0; i < t->n; i++)
		first[i] = -1;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *ev, *pp;
		double ts;
		int sender;

		if (line[0] == '#')
			continue;
		bool is_sig = (ev = strstr(line, ": signal_generate: ")) != NULL;

		if (!is_sig && !(ev = strstr(line, ": sched_process_exit: ")))
			continue;
		ts = line_ts(line, ev, &sender);
		pp = strstr(ev, " pid=");
		if (!is_sig) {
			if (pp && atoi(pp + 5) == t->root && strstr(ev, "group_dead=true"))
				exit_ts = ts;
			continue;
		}
		if ((pp ? atoi(pp + 5) : 0) == t->root) {
			if (root_gen < 0)
				root_gen = ts;
			continue;
		}
		count_signal(ctx, t, sorted, first, ev, ts, sender, d);
	}
	if (exit_ts < 0 || !d->signalled)
		goto out;
	d->first_ms = 1e300;
	d->last_ms = -1e300;
	for (int i = 0; i < t->n; i++) {
		if (first[i] < 0)
			continue;
		if (first[i] - exit_ts < d->first_ms)
			d->first_ms = first[i] - exit_ts;
		if (first[i] - exit_ts > d->last_ms)
			d->last_ms = first[i] - exit_ts;
	}
	d->t0_to_gen_us = root_gen >= 0 ? (root_gen - (double)t0 / 1e6) * 1e3 : NAN;
	d->ok = true;
out:
	free(buf);
	free(sorted);
	free(first);
}

/* Dispatch trials with ftrace on. */
static void dispatch_trials(struct bench_ctx *ctx, struct dispatch_sum *ds, enum mech m, int si,
			    int n)
{
	double *v[8];
	int k = 0, efd = m == M_FLOOR ? -1 : link_prog_fd(ctx->pin_link_exit);

	for (int j = 0; j < 8; j++)
		v[j] = zalloc((size_t)n + 1, sizeof(double));
	for (int i = 0; i < n; i++) {
		struct measure r;
		struct tree t;
		struct dispatch d;
		uint64_t rt0 = 0, c0 = 0, rt1 = 0, c1 = 0;

		ds->trials++;
		if (efd >= 0)
			prog_run(efd, &rt0, &c0, NULL);
		if (trial(ctx, m, si, &r, &t, NULL))
			continue;
		if (efd >= 0)
			prog_run(efd, &rt1, &c1, NULL);
		trace_parse(ctx, &t, r.t0, &d);
		tree_finish(ctx, &t);
		if (!d.ok || r.timeout)
			continue;
		if (d.first_ms < 0)
			ds->negative++;
		v[0][k] = d.first_ms;
		v[1][k] = d.last_ms;
		v[2][k] = d.last_ms * 1e3 / sizes[si];
		v[3][k] = d.t0_to_gen_us;
		v[4][k] = (double)(rt1 - rt0) / 1e3;
		v[5][k] = (double)(c1 - c0);
		v[6][k] = r.lat_ms;
		v[7][k] = (d.last_ms - d.first_ms) * 1e3 / sizes[si];
		ds->signalled += d.signalled;
		ds->by_agent += d.by_agent;
		ds->by_other += d.by_other;
		k++;
	}
	if (efd >= 0)
		close(efd);
	ds->ok = k;
	ds->first_ms = median(v[0], k);
	ds->last_ms = median(v[1], k);
	ds->per_desc_us = median(v[2], k);
	ds->t0gen_us = median(v[3], k);
	ds->exitprog_us = median(v[4], k);
	ds->exitprog_cnt = median(v[5], k);
	ds->lat_ms = median(v[6], k);
	ds->spread_us = median(v[7], k);
	for (int j = 0; j < 8; j++)
		free(v[j]);
}

static void dispatch_sizes(struct bench_ctx *ctx, struct dispatch_sum disp[M_MAX][NSIZES],
			   enum mech m)
{
	for (int si = 0; si < NSIZES; si++) {
		note("5: dispatch with ftrace, %s, %d descendant(s): %d trials", mech_name[m],
		     sizes[si], ctx->k.disp_trials[si]);
		dispatch_trials(ctx, &disp[m][si], m, si, ctx->k.disp_trials[si]);
	}
}

/*
 * Own agents, started AFTER the trace events are enabled, so the ftrace
 * probe on sched_process_exit runs before the agent's BPF exit program
 * (probes run in registration order): its timestamp is the exit hook's
 * start, not its end.
 */
static void measure_dispatch(struct bench_ctx *ctx, struct dispatch_sum disp[M_MAX][NSIZES])
{
	if (!ctx->trace_ok)
		return;
	bpf_stats_enable(ctx);
	/* the reference: the harness signals every victim itself, no agent */
	trace_w(ctx, "events/sched/sched_process_exit/filter", "pid == 0");
	trace_enable(ctx, true);
	dispatch_sizes(ctx, disp, M_FLOOR);
	trace_enable(ctx, false);
	for (int m = M_KERNEL; m <= M_USER; m++) {
		trace_w(ctx, "events/sched/sched_process_exit/filter", "pid == 0");
		trace_enable(ctx, true);
		agent_start(ctx, m == M_KERNEL ? "kernel" : "user", 0);
		dispatch_sizes(ctx, disp, (enum mech)m);
		agent_stop(ctx);
		trace_enable(ctx, false);
	}
	bpf_stats_restore(ctx);
}

static void print_traced(struct dispatch_sum disp[M_MAX][NSIZES])
{
	printf("What: separate trials, same trees as section 1, with their own agents (one at a\n"
	       "time). A private ftrace instance (tracefs mounted under the harness's temp dir,\n"
	       "trace_clock mono = CLOCK_MONOTONIC, like bpf_ktime_get_ns) records\n"
	       "sched:sched_process_exit of the root (group_dead) and signal:signal_generate\n"
	       "(sig 9). The events are enabled BEFORE the agent attaches, so the trace probe\n"
	       "on sched_process_exit runs just before bpfguard's exit program (tracepoint\n"
	       "probes run in attach order): its timestamp is the exit hook's start. For each\n"
	       "victim, its first SIGKILL with res=0 (queued, not already pending); first/last =\n"
	       "the earliest/latest of those minus the root's exit. Per descendant = last / N.\n"
	       "Sender: the agent (its task iterator's bpf_send_signal_task, or pidfd_send_signal)\n"
	       "or another context (the exit hook's bpf_send_signal_task, whose irq_work runs\n"
	       "on the dying root's CPU). kernel.bpf_stats_enabled=1 during these\n"
	       "trials: exit-prog us = run_time_ns of bpfguard's exit program over the trial (all\n"
	       "its calls: the root's, and one lookup+delete per victim; calls = run_cnt).\n");
	printf("spread us = (last - first) / N, the senders' own pace once they started; the\n"
	       "floor row is the harness's loop of pidfd_send_signal over the victims, right\n"
	       "after the root's (its first/last are relative to the root's exit, so may be\n"
	       "negative): no mechanism that signals each victim can pace faster than that.\n");
	printf("  %-27s %5s %6s %9s %9s %11s %9s %9s %12s %6s %9s  %s\n", "mode", "N", "trials",
	       "first ms", "last ms", "per desc us", "spread us", "kill p50", "exit-prog us",
	       "calls", "t0->kill", "SIGKILLs by agent / other");
	for (int m = M_FLOOR; m <= M_USER; m++) {
		for (int si = 0; si < NSIZES; si++) {
			struct dispatch_sum *d = &disp[m][si];

			if (!d->trials)
				continue;
			printf("  %-27s %5d %3d/%-2d %9.3f %9.3f %11.2f %9.2f %9.3f %12.1f %6.0f "
			       "%7.1fus  %d / %d%s\n",
			       mech_name[m], sizes[si], d->ok, d->trials, d->first_ms, d->last_ms,
			       d->per_desc_us, d->spread_us, d->lat_ms, d->exitprog_us,
			       d->exitprog_cnt, d->t0gen_us, d->by_agent, d->by_other,
			       d->negative && m != M_FLOOR ? " (some signals BEFORE the exit event)"
							   : "");
		}
	}
	printf("  (kill p50: section 1's latency for these traced trials, tracing on; t0->kill:\n"
	       "  harness t0 to the kernel's signal_generate of the root's SIGKILL, a check that\n"
	       "  both clocks agree. Medians over the trials.)\n");
}

static void print_agent_log(const struct bench_ctx *ctx)
{
	printf("\nWhat: the agent's own log line `tag N: root died, killed K descendant(s) in S\n"
	       "sweep(s) (F found new ones), X ms after the root's exit`, for section 1's trials:\n"
	       "X / K. X runs from the exit hook's bpf_ktime_get_ns() to after the last sweep, so\n"
	       "it includes waking the agent, reading deaths and tags, every sweep (each a pass of\n"
	       "the sweep program, or of the task iterator on 6.1, that\n"
	       "signals the members where the kernel has bpf_send_signal_task; else pidfd_open\n"
	       "+ map re-check + pidfd_send_signal per victim), a pidfd per victim to wait on,\n"
	       "waiting (poll) for every victim to die, and the final empty sweep: an upper bound\n"
	       "on dispatch, not dispatch. In kernel mode K is what the agent's sweep still found\n"
	       "recorded: victims the kernel had signalled but that were not dead yet, and the\n"
	       "dying root itself (its entry lives until the end of its exit program's walk).\n");
	printf("  %-28s %5s %6s %12s %12s %8s\n", "mode", "N", "lines", "median X ms", "X/K us",
	       "sweeps");
	for (int m = M_KERNEL; m <= M_USER; m++)
		for (int si = 0; si < NSIZES; si++) {
			const struct logsum *l = &ctx->shared.logk[m][si];

			if (!l->n)
				continue;
			printf("  %-28s %5d %6d %12.3f %12.2f %8.0f\n", mech_name[m], sizes[si], l->n,
			       l->total_ms, l->per_desc_ms * 1e3, l->sweeps);
		}
	fflush(stdout);
}

static void setup_dispatch(struct bench_ctx *ctx)
{
	if (!ctx->k.no_ftrace)
		ctx->trace_ok = trace_setup(ctx);
}

static void run_dispatch(struct bench_ctx *ctx)
{
	struct dispatch_sum disp[M_MAX][NSIZES];

	memset(disp, 0, sizeof(disp));
	measure_dispatch(ctx, disp);
	printf("\n== 5. Dispatch: the root's exit hook -> the last descendant's SIGKILL sent ==\n");
	if (ctx->trace_ok)
		print_traced(disp);
	else
		printf("(ftrace not used (BENCH_NO_FTRACE=1, or tracefs unavailable): exact dispatch\n"
		       "not measured)\n");
	print_agent_log(ctx);
}

const struct bench_section sec_dispatch = {
	.num = 5,
	.name = "dispatch",
	.desc = "dispatch: the root's exit hook -> the last descendant's SIGKILL sent, per "
		"descendant (ftrace)",
	.setup = setup_dispatch,
	.run = run_dispatch,
};
