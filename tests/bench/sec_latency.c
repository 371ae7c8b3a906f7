// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Section 1, kill latency: root's SIGKILL -> last descendant dead, for trees
 * of 1, 100 and 1000 descendants, bpfguard (kernel, user) against the floor
 * (the harness kills everything itself), PR_SET_PDEATHSIG, cgroup.kill, a
 * PID namespace with a PDEATHSIG'd init, and a kill(ppid, 0) poller.
 *
 * Leaves for section 3 the default agent's procs and pidmap sizes, and for
 * section 5 the summary of the agents' kill log lines (ctx->shared).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "lib/agent.h"
#include "lib/bpfobj.h"
#include "lib/stats.h"
#include "lib/trial.h"
#include "lib/util.h"

#define MAX_TAGS 8192
#define MAX_FRESH 4096

struct series {
	struct samples lat; /* ms, the trials that did not time out */
	long survivors; /* summed over trials */
	int timeouts, trials, failed;
	double *cov; /* (d) 100/1000: latency of the covered ones */
	int ncov;
};

struct latency {
	struct series s[M_MAX][NSIZES];
	/* the size's reference mechanism, run trial by trial between the
	 * trials of bpfguard's mode m while its agent ran: the paired comparison */
	struct series paired[M_MAX][NSIZES];
	double tagfresh[MAX_FRESH];
	int ntagfresh;
	uint64_t kstats_before[NSIZES][BG_STAT_MAX], kstats_after[NSIZES][BG_STAT_MAX];
};

static void series_free(struct series *s)
{
	free(s->lat.v);
	free(s->cov);
}

static void record_in(struct series *s, enum mech m, int si, int rc, const struct measure *r)
{
	s->trials++;
	if (rc) {
		s->failed++;
		return;
	}
	if (r->timeout)
		s->timeouts++;
	s->survivors += r->survivors;
	if (m == M_PDEATH && sizes[si] > 1) {
		if (!s->cov)
			s->cov = calloc(4096, sizeof(double));
		if (s->cov && s->ncov < 4096)
			s->cov[s->ncov++] = r->lat_ms;
		return;
	}
	if (!r->timeout)
		samples_add(&s->lat, r->lat_ms);
}

static int ntrials(const struct bench_ctx *ctx, int si, enum mech m)
{
	int n = ctx->k.trials[si];

	/* PDEATHSIG cannot kill a whole tree: a few trials show the survivors */
	if (m == M_PDEATH && si > 0)
		n = n < (ctx->k.quick ? 3 : 10) ? n : (ctx->k.quick ? 3 : 10);
	return n;
}

/* the agent's kill lines for the trials' @tags, as medians */
static void summarize_log(struct bench_ctx *ctx, enum mech m, uint32_t *tags, int ntags, int si)
{
	struct logkill *lk = calloc(65536, sizeof(*lk));
	double *per = calloc((size_t)ntags + 1, sizeof(double));
	double *tot = calloc((size_t)ntags + 1, sizeof(double));
	double *sw = calloc((size_t)ntags + 1, sizeof(double));
	int n = lk ? parse_agent_log(ctx->agent.log, lk, 65536) : 0, k = 0;
	struct logsum *ls = &ctx->shared.logk[m][si];

	for (int i = 0; per && tot && sw && i < ntags; i++) {
		for (int j = 0; j < n; j++) {
			if (lk[j].tag != tags[i] || lk[j].k <= 0)
				continue;
			per[k] = lk[j].ms / lk[j].k;
			tot[k] = lk[j].ms;
			sw[k] = lk[j].sweeps;
			k++;
			break;
		}
	}
	ls->n = k;
	ls->per_desc_ms = median(per, k);
	ls->total_ms = median(tot, k);
	ls->sweeps = median(sw, k);
	free(lk);
	free(per);
	free(tot);
	free(sw);
}

/* the default kernel agent's map sizes, for section 3 */
static void keep_map_sizes(struct bench_ctx *ctx)
{
	struct bench_shared *sh = &ctx->shared;
	char pin[192];
	uint32_t max, flags;

	map_info(ctx->pin_procs, &sh->procs_memlock_default, &sh->procs_max_default,
		 &sh->procs_flags_default);
	snprintf(pin, sizeof(pin), "%s/pidmap", ctx->pin);
	map_info(pin, &sh->pidmap_memlock, &max, &flags);
}

static void agent_block(struct bench_ctx *ctx, struct latency *L, enum mech m)
{
	uint32_t *tags = zalloc(MAX_TAGS, sizeof(uint32_t));

	agent_start(ctx, m == M_KERNEL ? "kernel" : "user", 0);
	if (m == M_KERNEL)
		keep_map_sizes(ctx);
	for (int si = 0; si < NSIZES; si++) {
		int n = ntrials(ctx, si, m), ntag = 0;

		note("1: %s, %d descendant(s): %d trials", mech_name[m], sizes[si], n);
		if (m == M_KERNEL)
			read_stats(ctx, L->kstats_before[si]);
		for (int i = 0; i < n; i++) {
			enum mech ref = si == 0 ? M_PDEATH : M_CGROUP;
			struct measure r;
			struct trial_tag tag;
			int rc = trial(ctx, m, si, &r, NULL, &tag);

			if (tag.ok && L->ntagfresh < MAX_FRESH)
				L->tagfresh[L->ntagfresh++] = (double)tag.ns / 1e6;
			record_in(&L->s[m][si], m, si, rc, &r);
			if (tag.id && ntag < MAX_TAGS)
				tags[ntag++] = tag.id;
			if (!agent_alive(ctx))
				die("the agent died during the trials (log: %s)", ctx->agent.log);
			/* the paired reference trial, right after, same agent loaded */
			rc = trial(ctx, ref, si, &r, NULL, NULL);
			record_in(&L->paired[m][si], ref, si, rc, &r);
		}
		if (m == M_KERNEL)
			read_stats(ctx, L->kstats_after[si]);
		msleep(50); /* let the agent log its last kill */
		summarize_log(ctx, m, tags, ntag, si);
	}
	agent_stop(ctx);
	free(tags);
}

static void measure_latency(struct bench_ctx *ctx, struct latency *L)
{
	static const enum mech plain[] = { M_FLOOR, M_PDEATH, M_CGROUP, M_PIDNS, M_POLL };
	const size_t nplain = sizeof(plain) / sizeof(plain[0]);

	/* mechanisms without an agent, interleaved trial by trial */
	for (int si = 0; si < NSIZES; si++) {
		int most = 0;

		for (size_t k = 0; k < nplain; k++)
			most = ntrials(ctx, si, plain[k]) > most ? ntrials(ctx, si, plain[k]) : most;
		note("1: floor, PDEATHSIG, cgroup.kill, pidns, poll: %d descendant(s), %d trials "
		     "each, interleaved", sizes[si], ctx->k.trials[si]);
		for (int i = 0; i < most; i++) {
			for (size_t k = 0; k < nplain; k++) {
				enum mech m = plain[k];
				struct measure r;

				if (m == M_POLL && si > 0)
					continue;
				if (i >= ntrials(ctx, si, m))
					continue;
				record_in(&L->s[m][si], m, si, trial(ctx, m, si, &r, NULL, NULL), &r);
			}
		}
	}
	agent_block(ctx, L, M_KERNEL);
	agent_block(ctx, L, M_USER);
}

static void print_what(const struct bench_ctx *ctx)
{
	printf("\n== 1. Kill latency: the tagged root's SIGKILL -> its last descendant seen dead ==\n");
	printf("What: per trial the harness starts a root (`victim root N 10 KIND`: a small static\n"
	       "binary, tests/bench/victim.c) that forks N victims, each exec'ing `victim sleep`\n"
	       "(small exec'd processes); for N >= 100, 10%% of them daemonize first (fork, setsid,\n"
	       "fork: reparented away from the root). Roots for bpfguard are tagged before they\n"
	       "fork (`bpfguard tag ROOT --pin-dir %s`). t0 is taken right before\n"
	       "pidfd_send_signal(root, SIGKILL); the end is the moment epoll on one pidfd per\n"
	       "victim reports the last one readable (dead). p99 is nearest-rank (= max when\n"
	       "trials < 100). The harness is a child subreaper: orphans reparent to it, not to\n"
	       "PID 1, so it reaps every zombie; it reaps the root as soon as its pidfd fires.\n",
	       ctx->pin);
	printf("Mechanisms: (a) the harness pidfd_send_signal(SIGKILL)s every victim itself at t0;\n"
	       "(b)/(c) `bpfguard agent --pin-dir %s --mode kernel|user`, one\n"
	       "agent at a time; (d) each child of the root sets PR_SET_PDEATHSIG(SIGKILL) before\n"
	       "exec (a daemon's pdeathsig is cleared by its forks); (e) the root is cloned into a\n"
	       "fresh cgroup v2 (CLONE_INTO_CGROUP) under %s, and the harness,\n"
	       "as supervisor, writes 1 to its cgroup.kill when the root's pidfd fires; (f) the\n"
	       "root unshare(CLONE_NEWPID)s and forks the namespace's init with PDEATHSIG SIGKILL\n"
	       "(= unshare --pid --fork --kill-child); init is one of the N descendants and forks\n"
	       "the other N-1; (g) the one child polls kill(ppid, 0) every 100 ms (it succeeds on\n"
	       "a zombie: it sees the death only once the harness reaped the root); t0 comes a\n"
	       "random 0-99 ms after the tree is ready, so the poll phase is random.\n"
	       "Non-agent mechanisms ran interleaved trial by trial, then the kernel agent's\n"
	       "trials, then the user agent's. ref: PR_SET_PDEATHSIG for 1 child, cgroup.kill for\n"
	       "100 and 1000. A shared VM drifts between those blocks, so each bpfguard trial is\n"
	       "followed by a trial of the reference while the same agent runs, and bpfguard's\n"
	       "p50/ref and p99/ref are against those paired trials (in its notes); the other\n"
	       "rows' ratios are against the reference's own row.\n",
	       ctx->pin, ctx->cg_base);
}

static void print_row_hdr(void)
{
	printf("  %-32s %6s %9s %9s %9s  %8s %8s %10s  %s\n", "mechanism", "trials", "p50 ms",
	       "p99 ms", "max ms", "p50/ref", "p99/ref", "p50/floor", "notes");
}

static void print_row(enum mech m, const struct series *s, double ref50, double ref99,
		      double floor50, const char *notes)
{
	double p50 = pct_of(s->lat.v, s->lat.n, 0.5), p99 = pct_of(s->lat.v, s->lat.n, 0.99),
	       mx = pct_of(s->lat.v, s->lat.n, 1.0);

	printf("  %-32s %6d %9.3f %9.3f %9.3f  %8.2f %8.2f %10.2f  %s\n", mech_name[m], s->lat.n, p50,
	       p99, mx, p50 / ref50, p99 / ref99, p50 / floor50, notes);
}

/* PR_SET_PDEATHSIG of a tree: no latency, its survivors */
static void print_pdeath_row(const struct series *s, int si)
{
	char notes[256];
	int done = s->trials - s->failed;

	snprintf(notes, sizeof(notes),
		 "%.1f of %d survive per trial (daemons: not covered); "
		 "covered ones dead after p50 %.2f ms",
		 (double)s->survivors / (done ? done : 1), sizes[si],
		 s->ncov ? median(s->cov, s->ncov) : NAN);
	printf("  %-32s %6d %9s %9s %9s  %8s %8s %10s  %s\n", mech_name[M_PDEATH], s->trials, "-",
	       "-", "-", "-", "-", "-", notes);
}

static void append(char *notes, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void append(char *notes, size_t len, const char *fmt, ...)
{
	size_t l = strlen(notes);
	va_list ap;

	if (l)
		snprintf(notes + l, len - l, "; ");
	l = strlen(notes);
	va_start(ap, fmt);
	vsnprintf(notes + l, len - l, fmt, ap);
	va_end(ap);
}

static void print_size(const struct latency *L, int si)
{
	enum mech ref = si == 0 ? M_PDEATH : M_CGROUP;
	const struct series *rs = &L->s[ref][si], *fs = &L->s[M_FLOOR][si];
	double r50 = pct_of(rs->lat.v, rs->lat.n, 0.50), r99 = pct_of(rs->lat.v, rs->lat.n, 0.99);
	double f50 = pct_of(fs->lat.v, fs->lat.n, 0.50);

	printf("\n %d descendant%s (ref: %s)\n", sizes[si], si ? "s" : "",
	       si == 0 ? "PR_SET_PDEATHSIG" : "cgroup.kill");
	print_row_hdr();
	for (int m = 0; m < M_MAX; m++) {
		const struct series *s = &L->s[m][si];
		char notes[256] = "";

		if (!s->trials)
			continue;
		if (m == M_PDEATH && si > 0) {
			print_pdeath_row(s, si);
			continue;
		}
		if (s->timeouts || s->failed || s->survivors)
			snprintf(notes, sizeof(notes), "%d timeout(s), %d failed, %ld survivor(s)",
				 s->timeouts, s->failed, s->survivors);
		if (m == M_KERNEL) {
			uint64_t ok = L->kstats_after[si][BG_STAT_KERNEL_KILLS] -
				      L->kstats_before[si][BG_STAT_KERNEL_KILLS];
			uint64_t bad = L->kstats_after[si][BG_STAT_KERNEL_KILL_FAILED] -
				       L->kstats_before[si][BG_STAT_KERNEL_KILL_FAILED];

			append(notes, sizeof(notes), "in-kernel signals queued %llu, refused %llu",
			       (unsigned long long)ok, (unsigned long long)bad);
		}
		if (m == M_KERNEL || m == M_USER) {
			/* against the reference trials paired with these */
			const struct series *ps = &L->paired[m][si];
			double q50 = pct_of(ps->lat.v, ps->lat.n, 0.5), q99 = pct_of(ps->lat.v, ps->lat.n, 0.99);

			append(notes, sizeof(notes), "paired ref p50 %.3f p99 %.3f ms (%d)", q50, q99,
			       ps->lat.n);
			print_row((enum mech)m, s, q50, q99, f50, notes);
			continue;
		}
		print_row((enum mech)m, s, r50, r99, f50, notes);
	}
}

static void print_latency(const struct bench_ctx *ctx, struct latency *L)
{
	print_what(ctx);
	for (int si = 0; si < NSIZES; si++)
		print_size(L, si);
	printf("\n Fresh-root tag time (`bpfguard tag`, 0 descendants, CLI wall time): median %.2f ms "
	       "over %d\n", median(L->tagfresh, L->ntagfresh), L->ntagfresh);
	fflush(stdout);
}

static void run_latency(struct bench_ctx *ctx)
{
	struct latency *L = zalloc(1, sizeof(*L));

	measure_latency(ctx, L);
	print_latency(ctx, L);
	for (int m = 0; m < M_MAX; m++)
		for (int si = 0; si < NSIZES; si++) {
			series_free(&L->s[m][si]);
			series_free(&L->paired[m][si]);
		}
	free(L);
}

const struct bench_section sec_latency = {
	.num = 1,
	.name = "latency",
	.desc = "kill latency: the tagged root's SIGKILL -> its last descendant seen dead",
	.run = run_latency,
};
