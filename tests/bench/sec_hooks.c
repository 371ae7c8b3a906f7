// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Section 2, overhead on every process: BPF run time per fork/exit hook
 * call (against empty and reference programs, tests/bench/floor.bpf.c), and
 * the CPU time of fork and fork+exec loops, agent (holding a big tracked
 * tree) against no agent, alternating rounds.
 *
 * Leaves the big tree's tag times for section 4 (ctx->shared).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "bench.h"
#include "floor.skel.h"
#include "lib/agent.h"
#include "lib/bpfobj.h"
#include "lib/cmd.h"
#include "lib/stats.h"
#include "lib/tree.h"
#include "lib/util.h"

#define MAX_ROUNDS 64

struct hookcost {
	double fork_ns, exit_ns;
	uint64_t fork_cnt, exit_cnt;
	/* the empty programs' cost per call over the same loop, attached
	 * beside the measured ones (bpfguard's rows), NAN where not */
	double floor_fork_ns, floor_exit_ns;
};

struct hooks {
	struct hookcost hc[2], hc_floor, hc_bit, hc_ref, hc_tls; /* hc[0] untracked, hc[1] tracked */
	uint64_t forks_tracked;
	/* [fork loop, exec loop][B, A][round] */
	double ratio[2][MAX_ROUNDS], cpu[2][2][MAX_ROUNDS], wall[2][2][MAX_ROUNDS];
	int rounds;
	double big_build_ms;
	char big_status[512];
};

/*
 * Run `victim forkloop|execloop N` (tagged first if @tag); CPU and wall.
 * @loop_pid: if not NULL, the loop process's pid is stored there before it
 * starts (the reference programs count its children only).
 */
static int run_loop(struct bench_ctx *ctx, const char *kind, int iters, bool tag,
		    uint32_t *loop_pid, struct vloop *out)
{
	char a_n[16];
	const char *args[] = { kind, a_n, NULL };
	struct tree t;
	uint64_t end;
	size_t got = 0;
	int err = 0;

	fmt_int(a_n, iters);
	tree_spawn(ctx, &t, args, 0, ctx->cg_all_fd);
	if (tag && tree_tag(ctx, &t))
		err = -1;
	if (loop_pid)
		*loop_pid = (uint32_t)t.root;
	if (write(t.go_w, "g", 1) != 1)
		err = -1;
	close(t.go_w);
	t.go_w = -1;
	end = now_ns() + 300ull * 1000000000ull;
	while (!err && got < sizeof(*out)) {
		uint64_t now = now_ns();
		ssize_t n;

		if (now >= end || !fd_readable(t.rep_r, (int)((end - now) / 1000000ull) + 1)) {
			err = -1;
			break;
		}
		n = read(t.rep_r, (char *)out + got, sizeof(*out) - got);
		if (n <= 0) {
			err = -1;
			break;
		}
		got += (size_t)n;
	}
	if (!fd_readable(t.root_fd, 10000))
		note("loop process did not exit");
	tree_reap_root(&t);
	tree_finish(ctx, &t);
	if (!err && out->fails)
		note("%s: %llu of %d iterations failed", kind, (unsigned long long)out->fails, iters);
	return err;
}

/* ns per call of @fd's program between two prog_run() readings */
static double per_call(int fd, uint64_t r0, uint64_t c0, uint64_t *calls)
{
	uint64_t r1, c1;

	prog_run(fd, &r1, &c1, NULL);
	*calls = c1 - c0;
	return *calls ? (double)(r1 - r0) / (double)*calls : NAN;
}

/* BPF run time per call of the programs @ffd, @efd over one fork loop;
 * with @fl, of its empty programs too, attached beside them meanwhile */
static void measure_progs(struct bench_ctx *ctx, int ffd, int efd, bool tracked, int iters,
			  uint32_t *loop_pid, struct floor *fl, struct hookcost *h)
{
	uint64_t fr0, fc0, er0, ec0, zr0[2], zc0[2], n;
	int zfd[2] = { -1, -1 };
	struct bpf_link *zl[2] = { NULL, NULL };
	struct vloop lp;

	memset(h, 0, sizeof(*h));
	h->floor_fork_ns = h->floor_exit_ns = NAN;
	if (fl) {
		zl[0] = bpf_program__attach(fl->progs.floor_fork);
		zl[1] = bpf_program__attach(fl->progs.floor_exit);
		if (zl[0] && zl[1]) {
			zfd[0] = bpf_program__fd(fl->progs.floor_fork);
			zfd[1] = bpf_program__fd(fl->progs.floor_exit);
			for (int i = 0; i < 2; i++)
				prog_run(zfd[i], &zr0[i], &zc0[i], NULL);
		} else {
			note("2: the empty programs could not be attached beside bpfguard's");
		}
	}
	prog_run(ffd, &fr0, &fc0, NULL);
	prog_run(efd, &er0, &ec0, NULL);
	if (run_loop(ctx, "forkloop", iters, tracked, loop_pid, &lp))
		note("fork loop failed");
	h->fork_ns = per_call(ffd, fr0, fc0, &h->fork_cnt);
	h->exit_ns = per_call(efd, er0, ec0, &h->exit_cnt);
	if (zfd[0] >= 0) {
		h->floor_fork_ns = per_call(zfd[0], zr0[0], zc0[0], &n);
		h->floor_exit_ns = per_call(zfd[1], zr0[1], zc0[1], &n);
	}
	bpf_link__destroy(zl[0]);
	bpf_link__destroy(zl[1]);
}

/* bpfguard's programs, behind the agent's pinned links, with the empty
 * programs beside them (the floor of the same calls) */
static void measure_hooks(struct bench_ctx *ctx, bool tracked, int iters, struct hookcost *h)
{
	int ffd = link_prog_fd(ctx->pin_link_fork), efd = link_prog_fd(ctx->pin_link_exit);
	struct floor *fl = floor__open_and_load();

	if (ffd < 0 || efd < 0)
		die("cannot open the programs behind %s, %s", ctx->pin_link_fork,
		    ctx->pin_link_exit);
	if (!fl)
		note("2: the empty programs could not be loaded beside bpfguard's");
	measure_progs(ctx, ffd, efd, tracked, iters, NULL, fl, h);
	floor__destroy(fl);
	close(ffd);
	close(efd);
}

enum floor_kind { FLOOR_EMPTY, FLOOR_BIT, FLOOR_HASH, FLOOR_TLS };

/*
 * The references (tests/bench/floor.bpf.c), alone on the same two
 * tracepoints (no agent), over the same loop: empty programs (what
 * bpf_stats charges a program that does nothing), or the least bookkeeping
 * of a tracked process (one insert per fork of the loop process, one
 * lookup + delete per exit), in a hash map like procs or in task local
 * storage.
 */
static void measure_floor(struct bench_ctx *ctx, enum floor_kind kind, int iters,
			  struct hookcost *h)
{
	struct floor *fl = floor__open_and_load();
	struct bpf_program *pf, *pe;
	struct bpf_link *lf = NULL, *le = NULL;

	memset(h, 0, sizeof(*h));
	h->fork_ns = h->exit_ns = NAN;
	if (!fl) {
		note("2: the reference programs could not be loaded: no floor figures");
		return;
	}
	pf = kind == FLOOR_HASH ? fl->progs.ref_fork :
	     kind == FLOOR_TLS	? fl->progs.tls_fork :
	     kind == FLOOR_BIT	? fl->progs.bit_fork :
				  fl->progs.floor_fork;
	pe = kind == FLOOR_HASH ? fl->progs.ref_exit :
	     kind == FLOOR_TLS	? fl->progs.tls_exit :
	     kind == FLOOR_BIT	? fl->progs.bit_exit :
				  fl->progs.floor_exit;
	lf = bpf_program__attach(pf);
	le = bpf_program__attach(pe);
	if (!lf || !le)
		note("2: the reference programs could not be attached: no floor figures");
	else
		measure_progs(ctx, bpf_program__fd(pf), bpf_program__fd(pe), false, iters,
			      kind == FLOOR_EMPTY ? NULL : &fl->bss->loop_tgid, NULL, h);
	bpf_link__destroy(lf);
	bpf_link__destroy(le);
	floor__destroy(fl);
}

/* 2a: BPF run time per hook call */
static void measure_runtime(struct bench_ctx *ctx, struct hooks *H)
{
	uint64_t st0[BG_STAT_MAX], st1[BG_STAT_MAX];
	int iters = ctx->k.stat_iters;

	bpf_stats_enable(ctx);
	note("2: BPF run time per call: empty programs, then bpfguard's, untracked then "
	     "tracked fork loop (%d iterations)", iters);
	measure_floor(ctx, FLOOR_EMPTY, iters, &H->hc_floor);
	measure_floor(ctx, FLOOR_BIT, iters, &H->hc_bit);
	measure_floor(ctx, FLOOR_HASH, iters, &H->hc_ref);
	measure_floor(ctx, FLOOR_TLS, iters, &H->hc_tls);
	agent_start(ctx, "kernel", 0);
	measure_hooks(ctx, false, iters, &H->hc[0]);
	read_stats(ctx, st0);
	measure_hooks(ctx, true, iters, &H->hc[1]);
	read_stats(ctx, st1);
	H->forks_tracked = st1[BG_STAT_FORK_TRACKED] - st0[BG_STAT_FORK_TRACKED];
	bpf_stats_restore(ctx);
	agent_stop(ctx);
}

/* one half of an A/B round: @a, with the agent holding @big tagged */
static void ab_half(struct bench_ctx *ctx, struct hooks *H, struct tree *big, int r, int a)
{
	struct bench_shared *sh = &ctx->shared;
	struct vloop f, e;

	if (a) {
		agent_start(ctx, "kernel", 0);
		if (tree_tag(ctx, big))
			die("cannot tag the big tree's root");
		if (sh->ntag_big < 64)
			sh->tag_big[sh->ntag_big++] = (double)big->tag_ns / 1e6;
		if (r == 0)
			bg_cmd(ctx, "status", NULL, H->big_status, sizeof(H->big_status), 60000, NULL);
	}
	if (run_loop(ctx, "forkloop", ctx->k.ab_fork, false, NULL, &f) ||
	    run_loop(ctx, "execloop", ctx->k.ab_exec, false, NULL, &e))
		die("a CPU loop failed");
	H->cpu[0][a][r] = (double)f.cpu_ns / (double)f.iters;
	H->cpu[1][a][r] = (double)e.cpu_ns / (double)e.iters;
	H->wall[0][a][r] = (double)f.wall_ns / (double)f.iters;
	H->wall[1][a][r] = (double)e.wall_ns / (double)e.iters;
	if (a)
		agent_stop(ctx); /* unload: tags dropped, the victims live on */
}

/* 2b: CPU time, A (agent + the big tracked tree) vs B (no agent) */
static void measure_cpu(struct bench_ctx *ctx, struct hooks *H)
{
	struct tree big;
	struct measure m;

	note("2: building a tree of %d sleeping victims", ctx->k.big);
	build_big(ctx, &big, ctx->k.big, &H->big_build_ms);
	for (int r = 0; r < ctx->k.rounds; r++) {
		const char *order = r % 2 ? "BA" : "AB";

		note("2: A/B round %d of %d (%s)", r + 1, ctx->k.rounds, order);
		for (int k = 0; k < 2; k++)
			ab_half(ctx, H, &big, r, order[k] == 'A');
		H->ratio[0][r] = H->cpu[0][1][r] / H->cpu[0][0][r];
		H->ratio[1][r] = H->cpu[1][1][r] / H->cpu[1][0][r];
		H->rounds = r + 1;
	}
	/* no agent now: the floor kill */
	tree_kill(&big, M_FLOOR, -1, false, 0, 60000, &m);
	tree_finish(ctx, &big);
}

static void print_runtime(const struct bench_ctx *ctx, const struct hooks *H)
{
	const struct hookcost *row[6] = { &H->hc_floor, &H->hc_bit, &H->hc_ref, &H->hc_tls,
					  &H->hc[0], &H->hc[1] };
	static const char *const name[6] = {
		"floor: empty programs",
		"a pidmap bit alone (untracked path)",
		"reference: insert / lookup+delete",
		"task local storage: create / get+del",
		"bpfguard, untracked (pidmap miss)",
		"bpfguard, tracked (insert / delete)",
	};

	printf("\n== 2. Overhead on every process ==\n");
	printf("What (a): `bpfguard agent --pin-dir %s --mode kernel`; with\n"
	       "kernel.bpf_stats_enabled=1 (restored afterwards), run_time_ns/run_cnt of the\n"
	       "programs behind the pinned links link_fork and link_exit (bpf_obj_get ->\n"
	       "link info -> prog id -> bpf_prog_get_fd_by_id), read before and after\n"
	       "`victim forkloop %d` (fork, _exit, waitpid), first untagged, then tagged (each\n"
	       "child is recorded at fork and deleted at exit). run_cnt counts every process on\n"
	       "the machine, not only the loop.\n",
	       ctx->pin, ctx->k.stat_iters);
	printf("The references, measured first over the same loop with no agent, alone on the\n"
	       "same two tracepoints (tests/bench/floor.bpf.c): empty programs (bpf_stats charges\n"
	       "every call its own accounting: what a program that does nothing costs; net =\n"
	       "measured - that floor), and the least bookkeeping of a tracked process: one\n"
	       "insert into a preallocated hash map like procs per fork of the loop, one lookup\n"
	       "and delete per exit, nothing else; and the same in BPF task local storage\n"
	       "(created on the child, read and deleted at its exit).\n");
	printf("bpfguard's rows: the empty programs run beside bpfguard's during the same loop\n"
	       "(the floor column, per call), and net = bpfguard's - that floor: the two are\n"
	       "measured at the same moment, so the VM's drift between phases cancels.\n");
	printf("  %-36s %9s %7s %7s %10s %9s %7s %7s %10s\n", "", "fork ns", "floor", "net", "calls",
	       "exit ns", "floor", "net", "calls");
	for (int i = 0; i < 6; i++) {
		double zf = i < 4 ? H->hc_floor.fork_ns : row[i]->floor_fork_ns;
		double ze = i < 4 ? H->hc_floor.exit_ns : row[i]->floor_exit_ns;

		printf("  %-36s %9.0f %7.0f %7.0f %10llu %9.0f %7.0f %7.0f %10llu\n", name[i],
		       row[i]->fork_ns, zf, row[i]->fork_ns - zf,
		       (unsigned long long)row[i]->fork_cnt, row[i]->exit_ns, ze,
		       row[i]->exit_ns - ze, (unsigned long long)row[i]->exit_cnt);
	}
	printf("  (forks_tracked grew by %llu during the tracked loop)\n",
	       (unsigned long long)H->forks_tracked);
}

static void print_cpu(const struct bench_ctx *ctx, const struct hooks *H)
{
	const char *l;
	int len, n = H->rounds;

	printf("\nWhat (b): CPU time (user+sys of the loop process and its waited children, from\n"
	       "getrusage) per iteration of `victim forkloop %d` (fork+_exit) and\n"
	       "`victim execloop %d` (fork+execve(`victim exit`)), both untracked.\n"
	       "A: a `--mode kernel` agent loaded, holding a tagged root with %d sleeping victims\n"
	       "(tagged afresh each A round); B: our agent stopped and unloaded. %d rounds,\n"
	       "alternating AB / BA. Ratio = A/B per round, median over rounds.\n",
	       ctx->k.ab_fork, ctx->k.ab_exec, ctx->k.big, n);
	if (H->big_status[0] && (len = line_at(H->big_status, "tags:", &l)) >= 0)
		printf("  (agent status in round 1: %.*s)\n", len, l);
	for (int k = 0; k < 2; k++) {
		printf("  %-28s A %7.1f us/iter  B %7.1f us/iter  median A/B %.3f  (rounds:",
		       k ? "fork+execve+exit loop" : "fork+exit loop",
		       median_of(H->cpu[k][1], n) / 1e3, median_of(H->cpu[k][0], n) / 1e3,
		       median_of(H->ratio[k], n));
		for (int i = 0; i < n; i++)
			printf(" %.3f", H->ratio[k][i]);
		printf(")\n");
	}
	printf("  the %d-victim tree took %.0f ms to build (fork+exec of small static victims)\n",
	       ctx->k.big, H->big_build_ms);
	if (ctx->other_progs)
		printf("  NOTE: %d bg_fork/bg_exit program(s) of another bpfguard agent (not ours) were\n"
		       "  loaded on this machine when the benchmark started: they run for every fork\n"
		       "  and exit, in A and in B alike, so B is \"no agent of ours\", not \"no BPF\".\n",
		       ctx->other_progs);
	fflush(stdout);
}

static void run_hooks(struct bench_ctx *ctx)
{
	struct hooks *H = zalloc(1, sizeof(*H));

	measure_runtime(ctx, H);
	measure_cpu(ctx, H);
	print_runtime(ctx, H);
	print_cpu(ctx, H);
	free(H);
}

const struct bench_section sec_hooks = {
	.num = 2,
	.name = "hooks",
	.desc = "overhead on every process: BPF run time per fork/exit hook call, CPU time of "
		"fork and fork+exec loops with and without the agent",
	.run = run_hooks,
};
