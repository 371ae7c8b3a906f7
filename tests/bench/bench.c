// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bench: bpfguard's benchmark (`make bench`). Prints figures, asserts nothing
 * about time. Must run as root.
 *
 * This file is the runner: the environment knobs, set-up, the table of
 * sections, clean-up. Each section is one sec_*.c filling in one struct
 * bench_section (bench.h); what they share lives in lib/ (commands, the
 * agent, process trees, cgroups, ftrace, BPF objects, statistics), all of it
 * working on the one struct bench_ctx (lib/ctx.h) made here.
 *
 *   1. sec_latency.c: kill latency: root's SIGKILL -> last descendant dead,
 *      for trees of 1, 100 and 1000 descendants, bpfguard (kernel, user)
 *      against the floor (the harness kills everything itself),
 *      PR_SET_PDEATHSIG, cgroup.kill, a PID namespace with a PDEATHSIG'd
 *      init, and a kill(ppid, 0) poller
 *   2. sec_hooks.c: overhead on every process: BPF run time per fork/exit
 *      hook call, and the CPU time of fork and fork+exec loops, agent
 *      (holding 10,000 tracked processes) against no agent, alternating rounds
 *   3. sec_memory.c: memory: kernel bytes per procs entry, agent RSS idle and
 *      with 100,000 (synthetic) entries
 *   4. sec_fanout.c: scale: `bpfguard tag` of a root with 10,000
 *      descendants, and their kill
 *   5. sec_dispatch.c: dispatch: root's exit -> last SIGKILL generated, per
 *      descendant
 *   6. sec_scale.c: section 1's latency with 0, 10,000 and 30,000 unrelated
 *      idle processes on the machine, each mode against its reference with
 *      no agent loaded, in interleaved blocks; the exit program's run time
 *      per trial at each count
 *
 * Environment:
 *   BPFGUARD        the bpfguard binary (default: ../bpfguard next to this one)
 *   BENCH_VICTIM    the victim binary (default: victim next to this one)
 *   BENCH_QUICK=1   20/20/5 latency trials, fewer rounds: under 2 minutes
 *   BENCH_TRIALS_1, BENCH_TRIALS_100, BENCH_TRIALS_1000   latency trials
 *   BENCH_ROUNDS    A/B rounds of section 2 (default 7, quick 3)
 *   BENCH_BIG       the big tree of sections 2 and 4 (default 10000)
 *   BENCH_STAT_ITERS, BENCH_AB_FORK, BENCH_AB_EXEC   loop iterations of section 2
 *                   (default 20000, 10000, 3000)
 *   BENCH_FAN_TRIALS  section 4's kill trials per mode (default 3)
 *   BENCH_DISP_TRIALS_1/_100/_1000  section 5's traced trials (default 20/20/5)
 *   BENCH_SCALE     section 6's counts of unrelated processes (default
 *                   "0,10000,30000", quick "0,5000")
 *   BENCH_SCALE_TRIALS_1/_100/_1000  its trials per column and count
 *                   (default 60/24/8, quick 12/6/2), in BENCH_SCALE_BLOCKS
 *                   blocks (default 4, quick 2)
 *   BENCH_SECTIONS  e.g. "1,3": run only those sections
 *   BENCH_NO_FTRACE=1  section 5 without tracefs (the agent's log only)
 *   BENCH_KEEP=1    keep the temp dir (agent logs)
 *
 * Safety: every process signalled was created by this harness and is named
 * by a pidfd (never by a bare pid, never by name); the victims also live in a
 * private cgroup (/sys/fs/cgroup/unified/bpfguard-bench-PID), killed at the
 * end as a safety net; the agent uses a private pin dir
 * (/sys/fs/bpf/bpfguard-bench-PID). Everything is undone at the end, on
 * failure and on SIGINT/SIGTERM/SIGHUP; every wait is bounded. Victims also
 * die on their own after 30 minutes (alarm), should this harness be SIGKILLed.
 * Section 5 mounts tracefs on a private directory under the temp dir and uses
 * its own ftrace instance; both go at the end. kernel.bpf_stats_enabled is
 * set during sections 2a, 5 and 6 and restored; kernel.pid_max is raised for
 * section 6 if its processes would not fit, and restored.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "bench.h"
#include "lib/agent.h"
#include "lib/bpfobj.h"
#include "lib/cgroup.h"
#include "lib/ftrace.h"
#include "lib/pidmax.h"
#include "lib/util.h"

static const struct bench_section *const sections[] = {
	&sec_latency, &sec_hooks, &sec_memory, &sec_fanout, &sec_dispatch, &sec_scale,
};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

/*
 * The one context. File scope only because cleanup must also run from the
 * signal handler and from die(); everything else gets it as an argument.
 */
static struct bench_ctx the_ctx = {
	.stats_old = -1, .pid_max_old = -1, .agent.fd = -1, .cg_all_fd = -1, .devnull = -1,
};

static bool section_on(const struct bench_ctx *ctx, int s)
{
	char k[4] = { (char)('0' + s), 0 };

	return !ctx->k.sections[0] || strstr(ctx->k.sections, k);
}

static void read_knobs(struct bench_knobs *k)
{
	k->quick = env_int("BENCH_QUICK", 0) != 0;
	k->trials[0] = env_int("BENCH_TRIALS_1", k->quick ? 20 : 200);
	k->trials[1] = env_int("BENCH_TRIALS_100", k->quick ? 20 : 200);
	k->trials[2] = env_int("BENCH_TRIALS_1000", k->quick ? 5 : 50);
	k->rounds = env_int("BENCH_ROUNDS", k->quick ? 3 : 7);
	if (k->rounds > 64)
		k->rounds = 64;
	k->big = env_int("BENCH_BIG", 10000);
	k->stat_iters = env_int("BENCH_STAT_ITERS", k->quick ? 5000 : 20000);
	k->ab_fork = env_int("BENCH_AB_FORK", k->quick ? 3000 : 10000);
	k->ab_exec = env_int("BENCH_AB_EXEC", k->quick ? 1000 : 3000);
	k->fan_trials = env_int("BENCH_FAN_TRIALS", k->quick ? 1 : 3);
	if (k->fan_trials > 16)
		k->fan_trials = 16;
	k->disp_trials[0] = env_int("BENCH_DISP_TRIALS_1", k->quick ? 5 : 20);
	k->disp_trials[1] = env_int("BENCH_DISP_TRIALS_100", k->quick ? 5 : 20);
	k->disp_trials[2] = env_int("BENCH_DISP_TRIALS_1000", k->quick ? 2 : 5);
	snprintf(k->scale, sizeof(k->scale), "%s",
		 getenv("BENCH_SCALE") ? getenv("BENCH_SCALE") : k->quick ? "0,5000" : "0,10000,30000");
	k->scale_trials[0] = env_int("BENCH_SCALE_TRIALS_1", k->quick ? 12 : 60);
	k->scale_trials[1] = env_int("BENCH_SCALE_TRIALS_100", k->quick ? 6 : 24);
	k->scale_trials[2] = env_int("BENCH_SCALE_TRIALS_1000", k->quick ? 2 : 8);
	k->scale_blocks = env_int("BENCH_SCALE_BLOCKS", k->quick ? 2 : 4);
	snprintf(k->sections, sizeof(k->sections), "%s",
		 getenv("BENCH_SECTIONS") ? getenv("BENCH_SECTIONS") : "");
	k->no_ftrace = env_int("BENCH_NO_FTRACE", 0) != 0;
	k->keep = env_int("BENCH_KEEP", 0) != 0;
}

/* BPFGUARD and BENCH_VICTIM, or the binaries next to this one */
static void find_binaries(struct bench_ctx *ctx)
{
	char self[PATH_MAX - 64], *slash;
	char r1[PATH_MAX], r2[PATH_MAX];
	ssize_t n;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		die("readlink /proc/self/exe");
	self[n] = '\0';
	slash = strrchr(self, '/');
	*slash = '\0';
	if (getenv("BPFGUARD"))
		snprintf(ctx->bpfguard, sizeof(ctx->bpfguard), "%s", getenv("BPFGUARD"));
	else
		snprintf(ctx->bpfguard, sizeof(ctx->bpfguard), "%s/../bpfguard", self);
	if (getenv("BENCH_VICTIM"))
		snprintf(ctx->victim, sizeof(ctx->victim), "%s", getenv("BENCH_VICTIM"));
	else
		snprintf(ctx->victim, sizeof(ctx->victim), "%s/victim", self);
	if (!realpath(ctx->bpfguard, r1) || access(r1, X_OK))
		die("no bpfguard binary at %s (set BPFGUARD)", ctx->bpfguard);
	if (!realpath(ctx->victim, r2) || access(r2, X_OK))
		die("no victim binary at %s (set BENCH_VICTIM)", ctx->victim);
	snprintf(ctx->bpfguard, sizeof(ctx->bpfguard), "%s", r1);
	snprintf(ctx->victim, sizeof(ctx->victim), "%s", r2);
}

/* one pidfd per victim of the big tree, and a margin */
static void raise_nofile(struct bench_ctx *ctx)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	rl.rlim_cur = rl.rlim_max < MAXFD ? rl.rlim_max : MAXFD;
	setrlimit(RLIMIT_NOFILE, &rl);
	if ((long)rl.rlim_cur < ctx->k.big + 1000) {
		note("RLIMIT_NOFILE %ld is too small for %d pidfds: BENCH_BIG lowered",
		     (long)rl.rlim_cur, ctx->k.big);
		ctx->k.big = (int)rl.rlim_cur - 1000;
	}
}

static void make_paths(struct bench_ctx *ctx)
{
	pid_t me = getpid();

	snprintf(ctx->pin, sizeof(ctx->pin), "/sys/fs/bpf/bpfguard-bench-%d", me);
	snprintf(ctx->pin_procs, sizeof(ctx->pin_procs), "%s/procs", ctx->pin);
	snprintf(ctx->pin_stats, sizeof(ctx->pin_stats), "%s/stats", ctx->pin);
	snprintf(ctx->pin_link_fork, sizeof(ctx->pin_link_fork), "%s/link_fork", ctx->pin);
	snprintf(ctx->pin_link_exit, sizeof(ctx->pin_link_exit), "%s/link_exit", ctx->pin);
	snprintf(ctx->cg_base, sizeof(ctx->cg_base), "%s/bpfguard-bench-%d", CG_ROOT, me);
	snprintf(ctx->cg_base_kill, sizeof(ctx->cg_base_kill), "%s/cgroup.kill", ctx->cg_base);
	snprintf(ctx->cg_all, sizeof(ctx->cg_all), "%s/all", ctx->cg_base);
	snprintf(ctx->tmp, sizeof(ctx->tmp), "/tmp/bpfguard-bench-%d", me);
}

static void make_dirs(struct bench_ctx *ctx)
{
	if (mkdir(ctx->tmp, 0700))
		die("mkdir %s: %s", ctx->tmp, strerror(errno));
	if (pin_exists(ctx))
		die("%s exists already", ctx->pin);
	if (mkdir(ctx->cg_base, 0755))
		die("cannot create cgroup %s: %s (cgroup v2 at %s needed)", ctx->cg_base,
		    strerror(errno), CG_ROOT);
	ctx->cg_base_ok = 1;
	if (mkdir(ctx->cg_all, 0755))
		die("cannot create cgroup %s: %s", ctx->cg_all, strerror(errno));
	ctx->cg_all_fd = open(ctx->cg_all, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ctx->cg_all_fd < 0)
		die("open %s: %s", ctx->cg_all, strerror(errno));
}

static void rm_tree_files(const struct bench_ctx *ctx, const char *dir)
{
	char p[512];
	char seq[8];

	for (int i = 1; i <= ctx->agent.seq; i++) {
		static const char *const modes[] = { "kernel", "user" };

		fmt_int(seq, i);
		for (int k = 0; k < 2; k++) {
			snprintf(p, sizeof(p), "%s/agent-%s-%s.log", dir, seq, modes[k]);
			unlink(p);
		}
	}
}

/*
 * every child and every orphan reparented to us, until none is left
 * (ECHILD), at most 15 s: leave no zombie to PID 1
 */
static void reap_everyone(void)
{
	for (int slept = 0; slept < 15000;) {
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0)
			break; /* ECHILD: nobody left */
		if (si.si_pid == 0) {
			msleep(10);
			slept += 10;
		}
	}
}

/* Undo everything. Only syscalls and async-signal-safe helpers: also runs
 * from a signal handler. */
static void cleanup(struct bench_ctx *ctx)
{
	if (ctx->cleaning)
		return;
	ctx->cleaning = 1;
	/* 1. every process we created, by pidfd */
	for (int fd = 0; fd < MAXFD; fd++)
		if (ctx->ours[fd])
			pidfd_signal(fd, SIGKILL);
	/* 2. the safety net: whatever is left in our cgroups */
	if (ctx->cg_base_ok)
		write_str(ctx->cg_base_kill, "1");
	/* 3. the agent and the pins */
	agent_stop(ctx);
	/* 4. sysctl */
	bpf_stats_restore(ctx);
	pid_max_restore(ctx);
	/* 5. ftrace */
	trace_teardown(ctx);
	/* 6. reap, then the cgroups (empty once their processes are gone) */
	for (int fd = 0; fd < MAXFD; fd++)
		if (ctx->ours[fd]) {
			fd_readable(fd, 2000);
			close(fd);
			ctx->ours[fd] = 0;
		}
	reap_everyone();
	if (ctx->cg_all_fd >= 0)
		close(ctx->cg_all_fd);
	if (ctx->cg_trial[0])
		cg_rmdir_bounded(ctx, ctx->cg_trial);
	if (ctx->cg_base_ok) {
		cg_rmdir_bounded(ctx, ctx->cg_all);
		cg_rmdir_bounded(ctx, ctx->cg_base);
		ctx->cg_base_ok = 0;
	}
	/* 7. temp dir */
	if (!ctx->k.keep && ctx->tmp[0]) {
		rm_tree_files(ctx, ctx->tmp);
		rmdir(ctx->tmp);
	}
}

static void cleanup_on_die(void)
{
	cleanup(&the_ctx);
}

static void on_signal(int sig)
{
	static const char msg[] = "\nbench: interrupted: cleaning up\n";

	if (the_ctx.cleaning)
		return;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		(void)0;
	cleanup(&the_ctx);
	_exit(128 + sig);
}

static void catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigfillset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void setup(struct bench_ctx *ctx)
{
	if (geteuid() != 0) {
		fprintf(stderr, "bench: must run as root\n");
		exit(1);
	}
	die_hook(cleanup_on_die);
	find_binaries(ctx);
	read_knobs(&ctx->k);
	srandom((unsigned)getpid());

	ctx->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	ctx->ncpus = libbpf_num_possible_cpus();
	if (ctx->devnull < 0 || ctx->ncpus <= 0)
		die("set-up failed");
	raise_nofile(ctx);
	make_paths(ctx);
	catch_signals();
	make_dirs(ctx);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1))
		die("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
}

static void print_header(const struct bench_ctx *ctx)
{
	char k[128] = "", pm[32] = "", ld[128] = "";

	read_str("/proc/sys/kernel/osrelease", k, sizeof(k));
	read_str("/proc/sys/kernel/pid_max", pm, sizeof(pm));
	read_str("/proc/loadavg", ld, sizeof(ld));
	k[strcspn(k, "\n")] = 0;
	pm[strcspn(pm, "\n")] = 0;
	ld[strcspn(ld, "\n")] = 0;
	printf("bpfguard benchmark%s: Linux %s, %ld CPU(s) online, pid_max %s, loadavg %s\n",
	       ctx->k.quick ? " (BENCH_QUICK=1)" : "", k, sysconf(_SC_NPROCESSORS_ONLN), pm, ld);
	printf("binary %s, victims %s, pin dir %s\n", ctx->bpfguard, ctx->victim, ctx->pin);
	printf("trials: %d / %d / %d (1 / 100 / 1000 descendants), A/B rounds %d, big tree %d\n",
	       ctx->k.trials[0], ctx->k.trials[1], ctx->k.trials[2], ctx->k.rounds, ctx->k.big);
	if (ctx->other_progs)
		printf("NOTE: %d bg_fork/bg_exit BPF program(s) of another bpfguard agent (not ours) are\n"
		       "loaded: they run on every fork/exit throughout this benchmark.\n",
		       ctx->other_progs);
	printf("Figures only: nothing here is a pass/fail threshold. Shared VM: compare within\n"
	       "this run, not across runs.\n");
	fflush(stdout);
}

int main(void)
{
	struct bench_ctx *ctx = &the_ctx;
	uint64_t t0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	setup(ctx);
	t0 = now_ns();
	ctx->other_progs = count_other_bg_progs(); /* before any of ours exist */
	print_header(ctx);
	for (size_t i = 0; i < NSECTIONS; i++)
		if (sections[i]->setup && section_on(ctx, sections[i]->num))
			sections[i]->setup(ctx);
	for (size_t i = 0; i < NSECTIONS; i++)
		if (section_on(ctx, sections[i]->num))
			sections[i]->run(ctx);
	cleanup(ctx);
	printf("\ntotal time %.0f s; cleaned up: agent stopped, %s unloaded, cgroups removed, "
	       "bpf_stats_enabled restored\n", (double)(now_ns() - t0) / 1e9, ctx->pin);
	return 0;
}
