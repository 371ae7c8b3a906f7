// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bench: bpfguard's benchmark (`make bench`). Prints figures, asserts nothing
 * about time. Must run as root.
 *
 *   1. kill latency: root's SIGKILL -> last descendant dead, for trees of 1,
 *      100 and 1000 descendants, bpfguard (kernel, user) against the floor
 *      (the harness kills everything itself), PR_SET_PDEATHSIG, cgroup.kill,
 *      a PID namespace with a PDEATHSIG'd init, and a kill(ppid, 0) poller
 *   2. overhead on every process: BPF run time per fork/exit hook call, and
 *      the CPU time of fork and fork+exec loops, agent (holding 10,000 tracked
 *      processes) against no agent, alternating rounds
 *   3. memory: kernel bytes per procs entry, agent RSS idle and with 100,000
 *      (synthetic) entries
 *   4. scale: `bpfguard tag` of a root with 10,000 descendants, and their kill
 *   5. dispatch: root's exit -> last SIGKILL generated, per descendant
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
 * set during sections 2a and 5 and restored.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/sched.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfguard.h"
#include "floor.skel.h"

#define MAXFD 65536
#define CG_ROOT "/sys/fs/cgroup/unified"
#define SYNTH_KEY_BASE 4194305u /* above PID_MAX_LIMIT (4194304): no real process */
#define SYNTH_TAG 0xfffffff0u	/* a tag id no agent hands out */

/* must match victim.c */
#define VF_DAEMON 0x1
#define VF_NSINIT 0x2
#define VF_ERROR 0x80
struct vreport {
	int32_t pid;
	int32_t flags;
};
struct vloop {
	uint64_t cpu_ns;
	uint64_t wall_ns;
	uint64_t iters;
	uint64_t fails;
};

enum mech { M_FLOOR, M_KERNEL, M_USER, M_PDEATH, M_CGROUP, M_PIDNS, M_POLL, M_MAX };
static const char *const mech_name[M_MAX] = {
	[M_FLOOR] = "(a) floor: harness kills all",
	[M_KERNEL] = "(b) bpfguard --mode kernel",
	[M_USER] = "(c) bpfguard --mode user",
	[M_PDEATH] = "(d) PR_SET_PDEATHSIG(SIGKILL)",
	[M_CGROUP] = "(e) cgroup.kill by supervisor",
	[M_PIDNS] = "(f) pidns, init PDEATHSIG",
	[M_POLL] = "(g) child polls kill(ppid,0)",
};

/* ---- global state (also what cleanup undoes) --------------------------- */

static struct {
	char bpfguard[PATH_MAX], victim[PATH_MAX];
	char pin[128], pin_procs[160], pin_stats[160], pin_link_fork[160], pin_link_exit[160];
	char tmp[128];
	char cg_base[160], cg_base_kill[192], cg_all[192], cg_trial[224];
	int cg_base_ok, cg_all_fd;
	char trace_mnt[192], trace_inst[256];
	int trace_mounted, trace_inst_ok;
	int stats_old; /* kernel.bpf_stats_enabled before we touched it, -1: untouched */
	pid_t agent;
	int agent_fd, agent_reaped, agent_seq;
	char agent_log[256];
	int devnull;
	int ncpus;
	int keep;
} G = { .stats_old = -1, .agent_fd = -1, .cg_all_fd = -1, .devnull = -1 };

static unsigned char g_ours[MAXFD]; /* pidfds of processes we created */
static int other_progs;		     /* bg_fork/bg_exit programs not ours */
static volatile sig_atomic_t g_cleaning;
static char *const g_env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };

static struct {
	bool quick;
	int trials[3]; /* for 1, 100, 1000 */
	int rounds, big, stat_iters, ab_fork, ab_exec, fan_trials, disp_trials[3];
	char sections[32];
} C;

/* ---- small helpers ----------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static void cleanup_all(void);

static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	fprintf(stderr, "bench: FATAL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	cleanup_all();
	exit(1);
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	int err = n < 0 ? -errno : 0;

	close(fd);
	return err;
}

static ssize_t read_str(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

static bool section_on(int s)
{
	char k[4] = { (char)('0' + s), 0 };

	return !C.sections[0] || strstr(C.sections, k);
}

static int env_int(const char *name, int def)
{
	const char *v = getenv(name);

	return v && *v ? atoi(v) : def;
}

static void fmt_int(char *out, long x)
{
	char tmp[24];
	int n = 0;

	if (x < 0) {
		*out++ = '-';
		x = -x;
	}
	do {
		tmp[n++] = (char)('0' + x % 10);
		x /= 10;
	} while (x && n < 22);
	for (int j = 0; j < n; j++)
		out[j] = tmp[n - 1 - j];
	out[n] = '\0';
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* nearest-rank percentile of v[0..n) (sorts v) */
static double pct(double *v, int n, double q)
{
	int i;

	if (n <= 0)
		return NAN;
	qsort(v, (size_t)n, sizeof(*v), cmp_dbl);
	i = (int)ceil(q * n) - 1;
	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return v[i];
}

static double median(double *v, int n)
{
	if (n <= 0)
		return NAN;
	qsort(v, (size_t)n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void own_fd(int fd)
{
	if (fd >= 0 && fd < MAXFD)
		g_ours[fd] = 1;
}

static void close_own(int fd)
{
	if (fd < 0)
		return;
	if (fd < MAXFD)
		g_ours[fd] = 0;
	close(fd);
}

static bool fd_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) > 0;
}

/* Reap every zombie child (the harness is a subreaper: orphaned victims come
 * here). Notices the agent's death too. */
static void reap_all(void)
{
	for (;;) {
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
			return;
		if (G.agent && si.si_pid == G.agent)
			G.agent_reaped = 1;
	}
}

/* ---- running commands ---------------------------------------------------- */

/* fork+execve with stdin from /dev/null and stdout/stderr to @out (or
 * /dev/null). Async-signal-safe: cleanup uses it. */
static pid_t spawn_raw(char *const argv[], int out)
{
	pid_t pid = fork();

	if (pid == 0) {
		sigset_t all;

		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		dup2(G.devnull, 0);
		dup2(out >= 0 ? out : G.devnull, 1);
		dup2(out >= 0 ? out : G.devnull, 2);
		execve(argv[0], argv, g_env);
		_exit(127);
	}
	return pid;
}

/* Wait for @pid, at most @ms; SIGKILL it (it is our child) after that.
 * Returns the exit code, 128+signal, or -1 if it had to be killed. */
static int wait_bounded(pid_t pid, int ms)
{
	int st, waited = 0;

	if (pid <= 0)
		return -1;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (r < 0 && errno != EINTR)
			return -1;
		if (waited >= ms) {
			int fd = (int)pidfd_open(pid, 0);

			if (fd >= 0) {
				pidfd_send_signal(fd, SIGKILL, NULL, 0);
				close(fd);
			}
			waitpid(pid, &st, 0);
			return -1;
		}
		msleep(waited < 20 ? 1 : 5);
		waited += waited < 20 ? 1 : 5;
	}
}

/* Run a command; its stdout+stderr land in @out (NUL-terminated, may be
 * NULL). Returns the exit code (-1: timed out, killed); *wall_ns is the
 * time from spawn to reaped. */
static int run_cmd(char *const argv[], char *out, size_t outlen, int timeout_ms, uint64_t *wall_ns)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	int pfd[2], rc = -1, st;
	size_t got = 0;
	uint64_t t0, end;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC))
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, G.devnull, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	t0 = now_ns();
	if (posix_spawn(&pid, argv[0], &fa, &at, argv, g_env)) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(pfd[1]);
	end = t0 + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		char buf[4096];
		uint64_t t = now_ns();
		ssize_t n;

		if (t >= end || !fd_readable(pfd[0], (int)((end - t) / 1000000ull) + 1))
			break;
		n = read(pfd[0], buf, sizeof(buf));
		if (n <= 0)
			break;
		if (out && got + 1 < outlen) {
			size_t k = (size_t)n < outlen - 1 - got ? (size_t)n : outlen - 1 - got;

			memcpy(out + got, buf, k);
			got += k;
		}
	}
	close(pfd[0]);
	if (out && outlen)
		out[got] = '\0';
	{
		uint64_t t = now_ns();
		int left = t >= end ? 0 : (int)((end - t) / 1000000ull);

		rc = wait_bounded(pid, left);
	}
	if (wall_ns)
		*wall_ns = now_ns() - t0;
	(void)st;
	return rc;
}

static int bg_cmd(const char *sub, const char *arg, char *out, size_t outlen, int timeout_ms,
		  uint64_t *wall_ns)
{
	char *argv[] = { G.bpfguard, (char *)sub, "--pin-dir", G.pin, (char *)arg, NULL };

	return run_cmd(argv, out, outlen, timeout_ms, wall_ns);
}

/* ---- the agent ------------------------------------------------------------ */

static bool agent_alive(void)
{
	return G.agent && !G.agent_reaped && !fd_readable(G.agent_fd, 0);
}

static bool pin_exists(void)
{
	struct stat st;

	return !stat(G.pin, &st);
}

/* Stop our agent (bpfguard unload: detach, unpin, exit) and make sure the
 * pin dir is gone. Async-signal-safe (cleanup calls it from a handler). */
static void agent_stop(void)
{
	char *unload[] = { G.bpfguard, "unload", "--pin-dir", G.pin, NULL };

	if (G.agent) {
		if (agent_alive())
			wait_bounded(spawn_raw(unload, -1), 15000);
		for (int i = 0; i < 100 && agent_alive(); i++)
			msleep(50);
		if (agent_alive()) {
			pidfd_send_signal(G.agent_fd, SIGTERM, NULL, 0);
			for (int i = 0; i < 60 && agent_alive(); i++)
				msleep(50);
		}
		if (agent_alive())
			pidfd_send_signal(G.agent_fd, SIGKILL, NULL, 0);
		if (!G.agent_reaped) {
			siginfo_t si;

			if (fd_readable(G.agent_fd, 5000))
				waitid(P_PIDFD, (id_t)G.agent_fd, &si, WEXITED);
		}
		close(G.agent_fd);
		G.agent_fd = -1;
		G.agent = 0;
		G.agent_reaped = 0;
	}
	if (pin_exists()) /* no agent: unload removes the pins itself */
		wait_bounded(spawn_raw(unload, -1), 15000);
}

static uint64_t g_agent_start_ns;

static void agent_start(const char *mode, uint32_t max_procs)
{
	char maxp[16], seq[8];
	char *argv[10] = { G.bpfguard, "agent", "--pin-dir", G.pin, "--mode", (char *)mode };
	int argc = 6, fd;
	uint64_t t0 = now_ns();

	if (max_procs) {
		fmt_int(maxp, max_procs);
		argv[argc++] = "--max-procs";
		argv[argc++] = maxp;
	}
	argv[argc] = NULL;
	fmt_int(seq, ++G.agent_seq);
	snprintf(G.agent_log, sizeof(G.agent_log), "%s/agent-%s-%s.log", G.tmp, seq, mode);
	fd = open(G.agent_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("cannot create %s: %s", G.agent_log, strerror(errno));
	G.agent_reaped = 0;
	G.agent = spawn_raw(argv, fd);
	close(fd);
	if (G.agent < 0)
		die("cannot start the agent");
	G.agent_fd = (int)pidfd_open(G.agent, 0);
	if (G.agent_fd < 0)
		die("pidfd_open(agent): %s", strerror(errno));
	for (int i = 0; i < 400; i++) {
		if (!agent_alive()) {
			char log[2048] = "";

			read_str(G.agent_log, log, sizeof(log));
			die("the agent (--mode %s) exited at start:\n%s", mode, log);
		}
		if (bg_cmd("status", NULL, NULL, 0, 5000, NULL) == 0) {
			g_agent_start_ns = now_ns() - t0;
			return;
		}
		msleep(50);
	}
	die("the agent did not become ready within 20 s (log: %s)", G.agent_log);
}

static long proc_status_kb(pid_t pid, const char *field)
{
	char path[64], buf[4096], *p;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (read_str(path, buf, sizeof(buf)) < 0)
		return -1;
	p = strstr(buf, field);
	return p ? strtol(p + strlen(field), NULL, 10) : -1;
}

/* BPF counters in the pinned per-CPU `stats` map, summed. */
static int read_stats(uint64_t out[BG_STAT_MAX])
{
	int fd = bpf_obj_get(G.pin_stats);
	uint64_t vals[512];

	memset(out, 0, sizeof(uint64_t) * BG_STAT_MAX);
	if (fd < 0 || G.ncpus > 512)
		return -1;
	for (uint32_t i = 0; i < BG_STAT_MAX; i++) {
		if (bpf_map_lookup_elem(fd, &i, vals))
			continue;
		for (int c = 0; c < G.ncpus; c++)
			out[i] += vals[c];
	}
	close(fd);
	return 0;
}

/* ---- process trees --------------------------------------------------------- */

struct tree {
	int want, n;
	pid_t root;
	int root_fd, root_reaped;
	int go_w, rep_r;
	pid_t *pid;
	int *fd, *flags;
	unsigned char *dead;
	uint32_t tag;
	uint64_t tag_ns;
};

static pid_t clone_into(int cg_fd, int *pidfd)
{
	struct clone_args ca;

	memset(&ca, 0, sizeof(ca));
	ca.flags = CLONE_PIDFD | (cg_fd >= 0 ? CLONE_INTO_CGROUP : 0);
	ca.pidfd = (uint64_t)(uintptr_t)pidfd;
	ca.exit_signal = SIGCHLD;
	ca.cgroup = cg_fd >= 0 ? (uint64_t)cg_fd : 0;
	return (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
}

/*
 * Start `victim MODE ARGS... GOFD RFD` in cgroup @cg_fd; it waits for the go
 * byte. @want: how many reports to expect once it goes.
 */
static void tree_spawn(struct tree *t, const char *const args[], int want, int cg_fd)
{
	char a_go[16], a_rep[16];
	char *argv[16];
	int go[2], rep[2], argc = 0, pidfd = -1;
	pid_t pid;

	memset(t, 0, sizeof(*t));
	t->want = want;
	t->root_fd = -1;
	if (pipe2(go, O_CLOEXEC) || pipe2(rep, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	fmt_int(a_go, go[0]);
	fmt_int(a_rep, rep[1]);
	argv[argc++] = "victim";
	for (int i = 0; args[i]; i++)
		argv[argc++] = (char *)args[i];
	argv[argc++] = a_go;
	argv[argc++] = a_rep;
	argv[argc] = NULL;

	pid = clone_into(cg_fd, &pidfd);
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		dup2(G.devnull, 0);
		dup2(G.devnull, 1);
		dup2(G.devnull, 2);
		fcntl(go[0], F_SETFD, 0);
		fcntl(rep[1], F_SETFD, 0);
		execve(G.victim, argv, g_env);
		_exit(127);
	}
	if (pid < 0)
		die("clone3: %s", strerror(errno));
	close(go[0]);
	close(rep[1]);
	t->root = pid;
	t->root_fd = pidfd;
	own_fd(pidfd);
	t->go_w = go[1];
	t->rep_r = rep[0];
	t->pid = calloc((size_t)want + 1, sizeof(*t->pid));
	t->fd = calloc((size_t)want + 1, sizeof(*t->fd));
	t->flags = calloc((size_t)want + 1, sizeof(*t->flags));
	t->dead = calloc((size_t)want + 1, 1);
	if (!t->pid || !t->fd || !t->flags || !t->dead)
		die("out of memory");
}

/* Tag the tree's root with the agent (before it forks anything). */
static int tree_tag(struct tree *t)
{
	char pid[16], out[512];
	int rc;

	fmt_int(pid, t->root);
	rc = bg_cmd("tag", pid, out, sizeof(out), 60000, &t->tag_ns);
	if (rc) {
		note("bpfguard tag %d failed (rc %d): %s", t->root, rc, out);
		return -1;
	}
	char *p = strstr(out, "(tag ");

	t->tag = p ? (uint32_t)strtoul(p + 5, NULL, 10) : 0;
	return 0;
}

/* Let the root go and collect every victim's report; open a pidfd each. */
static int tree_go(struct tree *t, int timeout_ms)
{
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct vreport r[512];
	size_t partial = 0;
	char *buf = (char *)r;
	int err = 0;

	if (write(t->go_w, "g", 1) != 1)
		err = -1;
	close(t->go_w);
	t->go_w = -1;
	while (!err && t->n < t->want) {
		uint64_t now = now_ns();
		ssize_t n;

		if (now >= end || !fd_readable(t->rep_r, (int)((end - now) / 1000000ull) + 1)) {
			note("tree: only %d of %d victims reported in time", t->n, t->want);
			return -1;
		}
		n = read(t->rep_r, buf + partial, sizeof(r) - partial);
		if (n <= 0) {
			note("tree: report pipe closed after %d of %d victims", t->n, t->want);
			return -1;
		}
		partial += (size_t)n;
		for (size_t i = 0; i + 1 <= partial / sizeof(r[0]); i++) {
			if (r[i].flags & VF_ERROR) {
				note("tree: a victim could not be forked: %s", strerror(-r[i].pid));
				err = -1;
				continue;
			}
			if (t->n >= t->want)
				continue;
			int fd = (int)pidfd_open(r[i].pid, 0);

			if (fd < 0) {
				note("tree: pidfd_open(%d): %s", r[i].pid, strerror(errno));
				err = -1;
				continue;
			}
			own_fd(fd);
			t->pid[t->n] = r[i].pid;
			t->fd[t->n] = fd;
			t->flags[t->n] = r[i].flags;
			t->n++;
		}
		size_t used = partial / sizeof(r[0]) * sizeof(r[0]);

		memmove(buf, buf + used, partial - used);
		partial -= used;
	}
	return err;
}

static void tree_reap_root(struct tree *t)
{
	siginfo_t si;

	if (t->root_reaped || t->root_fd < 0)
		return;
	int r;

	memset(&si, 0, sizeof(si));
	r = waitid(P_PIDFD, (id_t)t->root_fd, &si, WEXITED | WNOHANG);
	if ((r == 0 && si.si_pid) || (r < 0 && errno == ECHILD))
		t->root_reaped = 1;
}

struct measure {
	double lat_ms;	   /* t0 -> last target seen dead */
	int survivors;	   /* victims alive at the end of the wait */
	bool timeout;
	uint64_t t0;
};

/*
 * t0, SIGKILL the root (the floor: every victim too), then wait on the
 * pidfds until every target is dead. Targets: all victims, or (@only_nd)
 * those that are not daemons, after which deaths are awaited @extra_ms more.
 * @cgkill_fd >= 0: the supervisor writes 1 to it when the root's pidfd fires.
 */
static void tree_kill(struct tree *t, enum mech m, int cgkill_fd, bool only_nd, int extra_ms,
		      int timeout_ms, struct measure *res)
{
	struct epoll_event ev, evs[512];
	int ep = epoll_create1(EPOLL_CLOEXEC), left = 0, alive = t->n;
	uint64_t t0, last = 0, end;

	memset(res, 0, sizeof(*res));
	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.u64 = UINT64_MAX;
	epoll_ctl(ep, EPOLL_CTL_ADD, t->root_fd, &ev);
	for (int i = 0; i < t->n; i++) {
		ev.data.u64 = (uint64_t)i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, t->fd[i], &ev))
			die("epoll_ctl: %s", strerror(errno));
		if (!only_nd || !(t->flags[i] & VF_DAEMON))
			left++;
	}
	t0 = now_ns();
	pidfd_send_signal(t->root_fd, SIGKILL, NULL, 0);
	if (m == M_FLOOR)
		for (int i = 0; i < t->n; i++)
			pidfd_send_signal(t->fd[i], SIGKILL, NULL, 0);
	end = t0 + (uint64_t)timeout_ms * 1000000ull;
	last = t0;
	for (int phase = 0; phase < 2; phase++) {
		while ((phase == 0 ? left : alive) > 0) {
			uint64_t now = now_ns();
			int n;

			if (now >= end)
				break;
			n = epoll_wait(ep, evs, 512, (int)((end - now) / 1000000ull) + 1);
			now = now_ns();
			for (int k = 0; k < n; k++) {
				uint64_t i = evs[k].data.u64;

				if (i == UINT64_MAX) {
					if (cgkill_fd >= 0 && write(cgkill_fd, "1", 1) != 1)
						note("cgroup.kill: %s", strerror(errno));
					tree_reap_root(t);
					continue;
				}
				t->dead[i] = 1;
				alive--;
				if (!only_nd || !(t->flags[i] & VF_DAEMON)) {
					left--;
					last = now;
				}
			}
		}
		if (phase == 0) {
			res->timeout = left > 0;
			res->lat_ms = (double)(last - t0) / 1e6;
			if (!only_nd || res->timeout)
				break;
			end = now_ns() + (uint64_t)extra_ms * 1000000ull;
		}
	}
	res->survivors = alive;
	res->t0 = t0;
	close(ep);
}

/* Kill what is left (by pidfd), wait for it, reap, free. */
static void tree_finish(struct tree *t)
{
	for (int i = 0; i < t->n; i++)
		if (!t->dead[i])
			pidfd_send_signal(t->fd[i], SIGKILL, NULL, 0);
	if (t->root_fd >= 0 && !t->root_reaped)
		pidfd_send_signal(t->root_fd, SIGKILL, NULL, 0);
	for (int i = 0; i < t->n; i++) {
		if (!t->dead[i] && !fd_readable(t->fd[i], 10000))
			note("victim %d still alive 10 s after SIGKILL", t->pid[i]);
		close_own(t->fd[i]);
	}
	if (t->root_fd >= 0) {
		if (!t->root_reaped && fd_readable(t->root_fd, 10000))
			tree_reap_root(t);
		close_own(t->root_fd);
	}
	if (t->go_w >= 0)
		close(t->go_w);
	close(t->rep_r);
	reap_all();
	free(t->pid);
	free(t->fd);
	free(t->flags);
	free(t->dead);
	memset(t, 0, sizeof(*t));
	t->root_fd = t->go_w = t->rep_r = -1;
}

/* ---- cgroups ----------------------------------------------------------------- */

static int cg_seq;

static int cg_make_trial(int *dirfd, int *killfd)
{
	snprintf(G.cg_trial, sizeof(G.cg_trial), "%s/kill%d", G.cg_base, ++cg_seq);
	if (mkdir(G.cg_trial, 0755))
		return -errno;
	*dirfd = open(G.cg_trial, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char p[256];

	snprintf(p, sizeof(p), "%s/cgroup.kill", G.cg_trial);
	*killfd = open(p, O_WRONLY | O_CLOEXEC);
	if (*dirfd < 0 || *killfd < 0)
		return -errno;
	return 0;
}

static void cg_rmdir_bounded(const char *path)
{
	for (int i = 0; i < 200; i++) {
		if (!rmdir(path) || errno == ENOENT)
			return;
		msleep(10);
	}
	if (!g_cleaning)
		note("cannot remove cgroup %s: %s", path, strerror(errno));
}

static void cg_drop_trial(int dirfd, int killfd)
{
	if (dirfd >= 0)
		close(dirfd);
	if (killfd >= 0)
		close(killfd);
	cg_rmdir_bounded(G.cg_trial);
	G.cg_trial[0] = '\0';
}

/* ---- ftrace (section 5) ---------------------------------------------------- */

static int trace_w(const char *rel, const char *val)
{
	char p[384];

	snprintf(p, sizeof(p), "%s/%s", G.trace_inst, rel);
	return write_str(p, val);
}

static bool trace_setup(void)
{
	snprintf(G.trace_mnt, sizeof(G.trace_mnt), "%s/tracefs", G.tmp);
	if (mkdir(G.trace_mnt, 0700) && errno != EEXIST)
		return false;
	if (mount("nodev", G.trace_mnt, "tracefs", 0, NULL)) {
		note("cannot mount tracefs (%s): section 5 uses the agent's log only",
		     strerror(errno));
		rmdir(G.trace_mnt);
		return false;
	}
	G.trace_mounted = 1;
	snprintf(G.trace_inst, sizeof(G.trace_inst), "%s/instances/bpfguard_bench_%d",
		 G.trace_mnt, getpid());
	if (mkdir(G.trace_inst, 0700)) {
		note("cannot create a tracefs instance (%s)", strerror(errno));
		return false;
	}
	G.trace_inst_ok = 1;
	if (trace_w("trace_clock", "mono") || trace_w("buffer_size_kb", "8192") ||
	    trace_w("events/signal/signal_generate/filter", "sig == 9") ||
	    trace_w("events/sched/sched_process_exit/filter", "pid == 0")) {
		note("cannot configure the tracefs instance");
		return false;
	}
	return true;
}

static void trace_enable(bool on)
{
	trace_w("events/signal/signal_generate/enable", on ? "1" : "0");
	trace_w("events/sched/sched_process_exit/enable", on ? "1" : "0");
}

static void trace_clear(void)
{
	char p[384];
	int fd;

	snprintf(p, sizeof(p), "%s/trace", G.trace_inst);
	fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
}

static char *trace_read(size_t *len)
{
	char p[384];
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	int fd;

	snprintf(p, sizeof(p), "%s/trace", G.trace_inst);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	for (;;) {
		ssize_t r;

		if (cap - n < 65536) {
			char *nb = realloc(buf, cap * 2);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int cmp_i32(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

struct dispatch {
	bool ok;
	double first_ms, last_ms; /* root exit -> first / last victim's first delivered SIGKILL */
	double t0_to_gen_us;	  /* harness t0 -> kernel's generation of the root's SIGKILL */
	int signalled, by_agent, by_other, extra;
};

/* Parse the instance's trace for one trial of tree @t. */
static void trace_parse(struct tree *t, uint64_t t0, struct dispatch *d)
{
	size_t len;
	char *buf = trace_read(&len), *line, *save = NULL;
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
		char *ev, *tsp, *br;
		double ts;
		int sender = -1;

		if (line[0] == '#')
			continue;
		bool is_sig = (ev = strstr(line, ": signal_generate: ")) != NULL;

		if (!is_sig && !(ev = strstr(line, ": sched_process_exit: ")))
			continue;
		tsp = ev;
		while (tsp > line && tsp[-1] != ' ')
			tsp--;
		ts = strtod(tsp, NULL) * 1e3; /* ms */
		br = strstr(line, " [");
		if (br) {
			char *dash = br;

			while (dash > line && *dash != '-')
				dash--;
			sender = atoi(dash + 1);
		}
		if (!is_sig) {
			char *p = strstr(ev, " pid=");

			if (p && atoi(p + 5) == t->root && strstr(ev, "group_dead=true"))
				exit_ts = ts;
			continue;
		}
		char *pp = strstr(ev, " pid="), *rp = strstr(ev, " res=");
		int pid = pp ? atoi(pp + 5) : 0, r = rp ? atoi(rp + 5) : -1;

		if (pid == t->root) {
			if (root_gen < 0)
				root_gen = ts;
			continue;
		}
		int *hit = bsearch(&pid, sorted, (size_t)t->n, sizeof(int), cmp_i32);

		if (!hit || r != 0)
			continue;
		/* first delivery is kept per slot of the sorted pid array */
		size_t k = (size_t)(hit - sorted);

		if (first[k] < 0) {
			first[k] = ts;
			d->signalled++;
			if (sender == G.agent)
				d->by_agent++;
			else
				d->by_other++;
		} else {
			d->extra++;
		}
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

/* ---- section 1: kill latency --------------------------------------------- */

static const int sizes[3] = { 1, 100, 1000 };

struct series {
	double *v;
	int n, cap;
	long survivors; /* summed over trials */
	int timeouts, trials, failed;
	double *cov; /* (d) 100/1000: latency of the covered ones */
	int ncov;
};

static struct series S1[M_MAX][3];
/* the size's reference mechanism, run trial by trial between the trials of
 * bpfguard's mode m while its agent ran: the paired comparison */
static struct series S1P[M_MAX][3];
static double tagfresh[4096];
static int ntagfresh;

static void series_add(struct series *s, double v)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = realloc(s->v, sizeof(double) * (size_t)s->cap);
		if (!s->v)
			die("out of memory");
	}
	s->v[s->n++] = v;
}

struct logkill {
	uint32_t tag;
	double k, sweeps, ms;
};

/*
 * One latency trial of mechanism @m with @size descendants. Returns 0, or -1
 * if the tree could not be built or tagged (the trial is not counted).
 */
static int trial(enum mech m, int si, struct measure *res, struct tree *keep_for_trace,
		 uint32_t *tag_out)
{
	int size = sizes[si], dpct = size >= 100 ? 10 : 0, cg_fd = G.cg_all_fd;
	int cg_dir = -1, cg_kill = -1, err = 0;
	char a_n[16], a_d[16];
	struct tree t;
	const char *args[8];

	fmt_int(a_n, m == M_PIDNS ? size - 1 : size);
	fmt_int(a_d, dpct);
	if (m == M_PIDNS) {
		args[0] = "pidns", args[1] = a_n, args[2] = a_d, args[3] = NULL;
	} else {
		args[0] = "root", args[1] = a_n, args[2] = a_d;
		args[3] = m == M_PDEATH ? "pdeathsig" : m == M_POLL ? "poll" : "plain";
		args[4] = NULL;
	}
	if (m == M_CGROUP) {
		if (cg_make_trial(&cg_dir, &cg_kill))
			die("cannot create a cgroup under %s: %s", G.cg_base, strerror(errno));
		cg_fd = cg_dir;
	}
	tree_spawn(&t, args, size, cg_fd);
	if ((m == M_KERNEL || m == M_USER) && tree_tag(&t))
		err = -1;
	if (!err && (m == M_KERNEL || m == M_USER) && ntagfresh < 4096)
		tagfresh[ntagfresh++] = (double)t.tag_ns / 1e6;
	if (tag_out)
		*tag_out = t.tag;
	if (!err && tree_go(&t, 20000 + size * 20))
		err = -1;
	if (!err && m == M_POLL)
		msleep((int)(random() % 100)); /* random phase against the 100 ms poll */
	if (!err) {
		bool pd_multi = m == M_PDEATH && size > 1;

		if (keep_for_trace) {
			char f[32];

			snprintf(f, sizeof(f), "pid == %d", t.root);
			trace_w("events/sched/sched_process_exit/filter", f);
			trace_clear();
		}
		tree_kill(&t, m, cg_kill, pd_multi, 200, m == M_POLL ? 3000 : 10000 + size * 10,
			  res);
		if (keep_for_trace) {
			/* give the agent time to finish its sweeps before parsing */
			msleep(m == M_USER || m == M_KERNEL ? 20 : 0);
			*keep_for_trace = t;
			/* caller parses the trace, then finishes the tree */
			if (m == M_CGROUP)
				cg_drop_trial(cg_dir, cg_kill);
			return 0;
		}
	}
	tree_finish(&t);
	if (m == M_CGROUP)
		cg_drop_trial(cg_dir, cg_kill);
	return err;
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
		series_add(s, r->lat_ms);
}

static void record(enum mech m, int si, int rc, const struct measure *r)
{
	record_in(&S1[m][si], m, si, rc, r);
}

static int ntrials(int si, enum mech m)
{
	int n = C.trials[si];

	/* PDEATHSIG cannot kill a whole tree: a few trials show the survivors */
	if (m == M_PDEATH && si > 0)
		n = n < (C.quick ? 3 : 10) ? n : (C.quick ? 3 : 10);
	return n;
}

/* Parse the agent's "tag N: root died, killed K descendant(s) in S sweep(s),
 * X ms after the root's exit" lines. */
static int parse_agent_log(const char *path, struct logkill *out, int cap)
{
	FILE *f = fopen(path, "re");
	char line[512];
	int n = 0;

	if (!f)
		return 0;
	while (n < cap && fgets(line, sizeof(line), f)) {
		unsigned tag;
		double k, s, ms;
		char *p = strstr(line, "bpfguard: tag ");

		if (p && sscanf(p, "bpfguard: tag %u: root died, killed %lf descendant(s) in %lf "
				"sweep(s), %lf ms", &tag, &k, &s, &ms) == 4)
			out[n++] = (struct logkill){ .tag = tag, .k = k, .sweeps = s, .ms = ms };
	}
	fclose(f);
	return n;
}

struct logsum {
	double per_desc_ms, total_ms, sweeps;
	int n;
};

static struct logsum LOGK[M_MAX][3];
static struct dispatch_sum {
	double first_ms, last_ms, per_desc_us, t0gen_us, exitprog_us, exitprog_cnt, lat_ms;
	double spread_us; /* (last - first) / N: the senders' pace alone */
	int trials, ok, signalled, by_agent, by_other, negative;
} DISP[M_MAX][3];
static int prog_run(int pfd, uint64_t *rt, uint64_t *cnt, uint32_t *id);
static int link_prog_fd(const char *pin);
static bool g_trace_ok;
static uint64_t kstats_before[3][BG_STAT_MAX], kstats_after[3][BG_STAT_MAX];
static uint64_t g_procs_memlock_default;
static uint64_t g_pidmap_memlock; /* the fixed bitmap beside procs */
static uint32_t g_procs_max_default;
static uint32_t g_procs_flags_default;

static void summarize_log(enum mech m, uint32_t *tags, int ntags, int si)
{
	struct logkill *lk = calloc(65536, sizeof(*lk));
	double *per = calloc((size_t)ntags + 1, sizeof(double));
	double *tot = calloc((size_t)ntags + 1, sizeof(double));
	double *sw = calloc((size_t)ntags + 1, sizeof(double));
	int n = lk ? parse_agent_log(G.agent_log, lk, 65536) : 0, k = 0;

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
	LOGK[m][si].n = k;
	LOGK[m][si].per_desc_ms = median(per, k);
	LOGK[m][si].total_ms = median(tot, k);
	LOGK[m][si].sweeps = median(sw, k);
	free(lk);
	free(per);
	free(tot);
	free(sw);
}

/* Dispatch trials with ftrace on (section 5). */
static void dispatch_trials(enum mech m, int si, int n)
{
	struct dispatch_sum *ds = &DISP[m][si];
	double *v[8];
	int k = 0, efd = m == M_FLOOR ? -1 : link_prog_fd(G.pin_link_exit);

	for (int j = 0; j < 8; j++) {
		v[j] = calloc((size_t)n + 1, sizeof(double));
		if (!v[j])
			die("out of memory");
	}
	for (int i = 0; i < n; i++) {
		struct measure r;
		struct tree t;
		struct dispatch d;
		uint64_t rt0 = 0, c0 = 0, rt1 = 0, c1 = 0;

		ds->trials++;
		if (efd >= 0)
			prog_run(efd, &rt0, &c0, NULL);
		if (trial(m, si, &r, &t, NULL))
			continue;
		if (efd >= 0)
			prog_run(efd, &rt1, &c1, NULL);
		trace_parse(&t, r.t0, &d);
		tree_finish(&t);
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

/*
 * Section 5: own agents, started AFTER the trace events are enabled, so the
 * ftrace probe on sched_process_exit runs before the agent's BPF exit
 * program (probes run in registration order): its timestamp is the exit
 * hook's start, not its end.
 */
static void section5(void)
{
	char old[16] = "";

	if (!g_trace_ok)
		return;
	if (read_str("/proc/sys/kernel/bpf_stats_enabled", old, sizeof(old)) < 0)
		die("cannot read kernel.bpf_stats_enabled");
	G.stats_old = atoi(old);
	if (write_str("/proc/sys/kernel/bpf_stats_enabled", "1"))
		die("cannot enable kernel.bpf_stats_enabled");
	/* the reference: the harness signals every victim itself, no agent */
	trace_w("events/sched/sched_process_exit/filter", "pid == 0");
	trace_enable(true);
	for (int si = 0; si < 3; si++) {
		note("5: dispatch with ftrace, %s, %d descendant(s): %d trials", mech_name[M_FLOOR],
		     sizes[si], C.disp_trials[si]);
		dispatch_trials(M_FLOOR, si, C.disp_trials[si]);
	}
	trace_enable(false);
	for (int m = M_KERNEL; m <= M_USER; m++) {
		trace_w("events/sched/sched_process_exit/filter", "pid == 0");
		trace_enable(true);
		agent_start(m == M_KERNEL ? "kernel" : "user", 0);
		for (int si = 0; si < 3; si++) {
			note("5: dispatch with ftrace, %s, %d descendant(s): %d trials", mech_name[m],
			     sizes[si], C.disp_trials[si]);
			dispatch_trials((enum mech)m, si, C.disp_trials[si]);
		}
		agent_stop();
		trace_enable(false);
	}
	{
		char v[16];

		fmt_int(v, G.stats_old);
		write_str("/proc/sys/kernel/bpf_stats_enabled", v);
		G.stats_old = -1;
	}
}

static void map_info(const char *pin, uint64_t *memlock, uint32_t *max_entries, uint32_t *flags)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);
	char path[64], buf[2048], *p;
	int fd = bpf_obj_get(pin);

	*memlock = 0;
	*max_entries = 0;
	*flags = 0;
	if (fd < 0)
		return;
	memset(&info, 0, sizeof(info));
	if (!bpf_obj_get_info_by_fd(fd, &info, &len)) {
		*max_entries = info.max_entries;
		*flags = info.map_flags;
	}
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (read_str(path, buf, sizeof(buf)) > 0 && (p = strstr(buf, "memlock:")))
		*memlock = strtoull(p + 8, NULL, 10);
	close(fd);
}

static void procs_map_info(uint64_t *memlock, uint32_t *max_entries, uint32_t *flags)
{
	map_info(G.pin_procs, memlock, max_entries, flags);
}

static void section1_agent_block(enum mech m)
{
	uint32_t *tags = calloc(8192, sizeof(uint32_t));

	if (!tags)
		die("out of memory");
	agent_start(m == M_KERNEL ? "kernel" : "user", 0);
	if (m == M_KERNEL) {
		char pin[192];
		uint32_t max, flags;

		procs_map_info(&g_procs_memlock_default, &g_procs_max_default,
			       &g_procs_flags_default);
		snprintf(pin, sizeof(pin), "%s/pidmap", G.pin);
		map_info(pin, &g_pidmap_memlock, &max, &flags);
	}
	for (int si = 0; si < 3; si++) {
		int n = ntrials(si, m), ntag = 0;

		note("1: %s, %d descendant(s): %d trials", mech_name[m], sizes[si], n);
		if (m == M_KERNEL)
			read_stats(kstats_before[si]);
		for (int i = 0; i < n; i++) {
			enum mech ref = si == 0 ? M_PDEATH : M_CGROUP;
			struct measure r;
			uint32_t tag = 0;
			int rc = trial(m, si, &r, NULL, &tag);

			record(m, si, rc, &r);
			if (tag && ntag < 8192)
				tags[ntag++] = tag;
			if (!agent_alive())
				die("the agent died during the trials (log: %s)", G.agent_log);
			/* the paired reference trial, right after, same agent loaded */
			rc = trial(ref, si, &r, NULL, NULL);
			record_in(&S1P[m][si], ref, si, rc, &r);
		}
		if (m == M_KERNEL)
			read_stats(kstats_after[si]);
		msleep(50); /* let the agent log its last kill */
		summarize_log(m, tags, ntag, si);
	}
	agent_stop();
	free(tags);
}

static void print_row_hdr(void)
{
	printf("  %-32s %6s %9s %9s %9s  %8s %8s %10s  %s\n", "mechanism", "trials", "p50 ms",
	       "p99 ms", "max ms", "p50/ref", "p99/ref", "p50/floor", "notes");
}

static void section1(void)
{
	enum mech plain[] = { M_FLOOR, M_PDEATH, M_CGROUP, M_PIDNS, M_POLL };

	/* mechanisms without an agent, interleaved trial by trial */
	for (int si = 0; si < 3; si++) {
		int most = 0;

		for (size_t k = 0; k < sizeof(plain) / sizeof(plain[0]); k++)
			most = ntrials(si, plain[k]) > most ? ntrials(si, plain[k]) : most;
		note("1: floor, PDEATHSIG, cgroup.kill, pidns, poll: %d descendant(s), %d trials "
		     "each, interleaved", sizes[si], C.trials[si]);
		for (int i = 0; i < most; i++) {
			for (size_t k = 0; k < sizeof(plain) / sizeof(plain[0]); k++) {
				enum mech m = plain[k];
				struct measure r;

				if (m == M_POLL && si > 0)
					continue;
				if (i >= ntrials(si, m))
					continue;
				record(m, si, trial(m, si, &r, NULL, NULL), &r);
			}
		}
	}
	section1_agent_block(M_KERNEL);
	section1_agent_block(M_USER);
}

static void print_section1(void)
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
	       G.pin);
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
	       G.pin, G.cg_base);
	for (int si = 0; si < 3; si++) {
		enum mech ref = si == 0 ? M_PDEATH : M_CGROUP;
		double r50, r99, f50;

		{
			struct series *rs = &S1[ref][si];
			double *tmp = malloc(sizeof(double) * (size_t)(rs->n + 1));

			memcpy(tmp, rs->v, sizeof(double) * (size_t)rs->n);
			r50 = pct(tmp, rs->n, 0.50);
			r99 = pct(tmp, rs->n, 0.99);
			free(tmp);
			rs = &S1[M_FLOOR][si];
			tmp = malloc(sizeof(double) * (size_t)(rs->n + 1));
			memcpy(tmp, rs->v, sizeof(double) * (size_t)rs->n);
			f50 = pct(tmp, rs->n, 0.50);
			free(tmp);
		}
		printf("\n %d descendant%s (ref: %s)\n", sizes[si], si ? "s" : "",
		       si == 0 ? "PR_SET_PDEATHSIG" : "cgroup.kill");
		print_row_hdr();
		for (int m = 0; m < M_MAX; m++) {
			struct series *s = &S1[m][si];
			char notes[256] = "";

			if (!s->trials)
				continue;
			if (m == M_PDEATH && si > 0) {
				double *c = s->cov;
				int nc = s->ncov;

				snprintf(notes, sizeof(notes),
					 "%.1f of %d survive per trial (daemons: not covered); "
					 "covered ones dead after p50 %.2f ms",
					 (double)s->survivors / (s->trials - s->failed ? s->trials - s->failed : 1),
					 sizes[si], nc ? median(c, nc) : NAN);
				printf("  %-32s %6d %9s %9s %9s  %8s %8s %10s  %s\n", mech_name[m],
				       s->trials, "-", "-", "-", "-", "-", "-", notes);
				continue;
			}
			double *tmp = malloc(sizeof(double) * (size_t)(s->n + 1));

			memcpy(tmp, s->v, sizeof(double) * (size_t)s->n);
			double p50 = pct(tmp, s->n, 0.5), p99 = pct(tmp, s->n, 0.99),
			       mx = pct(tmp, s->n, 1.0);

			free(tmp);
			if (s->timeouts || s->failed || s->survivors)
				snprintf(notes, sizeof(notes), "%d timeout(s), %d failed, %ld survivor(s)",
					 s->timeouts, s->failed, s->survivors);
			if (m == M_KERNEL) {
				uint64_t ok = kstats_after[si][BG_STAT_KERNEL_KILLS] -
					      kstats_before[si][BG_STAT_KERNEL_KILLS];
				uint64_t bad = kstats_after[si][BG_STAT_KERNEL_KILL_FAILED] -
					       kstats_before[si][BG_STAT_KERNEL_KILL_FAILED];
				size_t l = strlen(notes);

				snprintf(notes + l, sizeof(notes) - l,
					 "%sin-kernel signals queued %llu, refused %llu", l ? "; " : "",
					 (unsigned long long)ok, (unsigned long long)bad);
			}
			if (m == M_KERNEL || m == M_USER) {
				/* against the reference trials paired with these */
				struct series *ps = &S1P[m][si];
				double *pt = malloc(sizeof(double) * (size_t)(ps->n + 1));
				double q50, q99;
				size_t l = strlen(notes);

				memcpy(pt, ps->v, sizeof(double) * (size_t)ps->n);
				q50 = pct(pt, ps->n, 0.5);
				q99 = pct(pt, ps->n, 0.99);
				free(pt);
				snprintf(notes + l, sizeof(notes) - l,
					 "%spaired ref p50 %.3f p99 %.3f ms (%d)", l ? "; " : "", q50,
					 q99, ps->n);
				printf("  %-32s %6d %9.3f %9.3f %9.3f  %8.2f %8.2f %10.2f  %s\n",
				       mech_name[m], s->n, p50, p99, mx, p50 / q50, p99 / q99, p50 / f50,
				       notes);
				continue;
			}
			printf("  %-32s %6d %9.3f %9.3f %9.3f  %8.2f %8.2f %10.2f  %s\n", mech_name[m],
			       s->n, p50, p99, mx, p50 / r50, p99 / r99, p50 / f50, notes);
		}
	}
	printf("\n Fresh-root tag time (`bpfguard tag`, 0 descendants, CLI wall time): median %.2f ms "
	       "over %d\n", median(tagfresh, ntagfresh), ntagfresh);
	fflush(stdout);
}

/* ---- section 2: overhead --------------------------------------------------- */

static int link_prog_fd(const char *pin)
{
	struct bpf_link_info li;
	uint32_t len = sizeof(li);
	int lfd = bpf_obj_get(pin), pfd;

	if (lfd < 0)
		return -1;
	memset(&li, 0, sizeof(li));
	if (bpf_obj_get_info_by_fd(lfd, &li, &len)) {
		close(lfd);
		return -1;
	}
	close(lfd);
	pfd = bpf_prog_get_fd_by_id(li.prog_id);
	return pfd;
}

static int prog_run(int pfd, uint64_t *rt, uint64_t *cnt, uint32_t *id)
{
	struct bpf_prog_info pi;
	uint32_t len = sizeof(pi);

	memset(&pi, 0, sizeof(pi));
	if (bpf_obj_get_info_by_fd(pfd, &pi, &len))
		return -1;
	*rt = pi.run_time_ns;
	*cnt = pi.run_cnt;
	if (id)
		*id = pi.id;
	return 0;
}

/* Run `victim forkloop|execloop N` (tagged first if @tag); CPU and wall. */
/* when set, run_loop() stores the loop process's pid there before it starts */
static uint32_t *g_loop_pid;

static int run_loop(const char *kind, int iters, bool tag, struct vloop *out)
{
	char a_n[16];
	const char *args[] = { kind, a_n, NULL };
	struct tree t;
	uint64_t end;
	size_t got = 0;
	int err = 0;

	fmt_int(a_n, iters);
	tree_spawn(&t, args, 0, G.cg_all_fd);
	if (tag && tree_tag(&t))
		err = -1;
	if (g_loop_pid)
		*g_loop_pid = (uint32_t)t.root;
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
	tree_finish(&t);
	if (!err && out->fails)
		note("%s: %llu of %d iterations failed", kind, (unsigned long long)out->fails, iters);
	return err;
}

struct hookcost {
	double fork_ns, exit_ns;
	uint64_t fork_cnt, exit_cnt;
};

/* ns per call of @fd's program between two prog_run() readings */
static double per_call(int fd, uint64_t r0, uint64_t c0, uint64_t *calls)
{
	uint64_t r1, c1;

	prog_run(fd, &r1, &c1, NULL);
	*calls = c1 - c0;
	return *calls ? (double)(r1 - r0) / (double)*calls : NAN;
}

/* BPF run time per call of the programs @ffd, @efd over one fork loop */
static void measure_progs(int ffd, int efd, bool tracked, int iters, struct hookcost *h)
{
	uint64_t fr0, fc0, er0, ec0;
	struct vloop lp;

	memset(h, 0, sizeof(*h));
	prog_run(ffd, &fr0, &fc0, NULL);
	prog_run(efd, &er0, &ec0, NULL);
	if (run_loop("forkloop", iters, tracked, &lp))
		note("fork loop failed");
	h->fork_ns = per_call(ffd, fr0, fc0, &h->fork_cnt);
	h->exit_ns = per_call(efd, er0, ec0, &h->exit_cnt);
}

/* bpfguard's programs, behind the agent's pinned links */
static void measure_hooks(bool tracked, int iters, struct hookcost *h)
{
	int ffd = link_prog_fd(G.pin_link_fork), efd = link_prog_fd(G.pin_link_exit);

	if (ffd < 0 || efd < 0)
		die("cannot open the programs behind %s, %s", G.pin_link_fork, G.pin_link_exit);
	measure_progs(ffd, efd, tracked, iters, h);
	close(ffd);
	close(efd);
}

/*
 * The references (tests/bench/floor.bpf.c), alone on the same two
 * tracepoints (no agent), over the same loop: empty programs (@ref false:
 * what bpf_stats charges a program that does nothing), or the least
 * bookkeeping of a tracked process (@ref true: one insert per fork of the
 * loop process, one lookup + delete per exit).
 */
static void measure_floor(bool ref, int iters, struct hookcost *h)
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
	pf = ref ? fl->progs.ref_fork : fl->progs.floor_fork;
	pe = ref ? fl->progs.ref_exit : fl->progs.floor_exit;
	lf = bpf_program__attach(pf);
	le = bpf_program__attach(pe);
	if (!lf || !le) {
		note("2: the reference programs could not be attached: no floor figures");
	} else {
		g_loop_pid = ref ? &fl->bss->loop_tgid : NULL;
		measure_progs(bpf_program__fd(pf), bpf_program__fd(pe), false, iters, h);
		g_loop_pid = NULL;
	}
	bpf_link__destroy(lf);
	bpf_link__destroy(le);
	floor__destroy(fl);
}

static double tag_big[64];
static int ntag_big;
static struct hookcost HC[2], HC_FLOOR, HC_REF;
static uint64_t hc_forks_tracked;
static double ab_ratio[2][64], ab_cpu[2][2][64], ab_wall[2][2][64];
static int ab_n;
static double big_build_ms;
static char big_status[512];

/* Build a flat tree of @n victims (no daemons: they would not be descendants
 * of a root tagged afterwards), untagged. */
static void build_big(struct tree *t, int n, bool tag_first)
{
	char a_n[16];
	const char *args[] = { "root", a_n, "0", "plain", NULL };
	uint64_t t0;

	fmt_int(a_n, n);
	tree_spawn(t, args, n, G.cg_all_fd);
	if (tag_first && tree_tag(t))
		die("cannot tag the big tree's root");
	t0 = now_ns();
	if (tree_go(t, 300000))
		die("could not build a tree of %d victims", n);
	big_build_ms = (double)(now_ns() - t0) / 1e6;
}

static int count_other_bg_progs(void)
{
	uint32_t id = 0;
	int n = 0;

	while (!bpf_prog_get_next_id(id, &id)) {
		int fd = bpf_prog_get_fd_by_id(id);
		struct bpf_prog_info pi;
		uint32_t len = sizeof(pi);

		if (fd < 0)
			continue;
		memset(&pi, 0, sizeof(pi));
		if (!bpf_obj_get_info_by_fd(fd, &pi, &len) &&
		    (!strcmp(pi.name, "bg_fork") || !strcmp(pi.name, "bg_exit")))
			n++;
		close(fd);
	}
	return n;
}

static void section2(void)
{
	char old[16] = "";
	struct tree big;
	uint64_t st0[BG_STAT_MAX], st1[BG_STAT_MAX];

	/* 2a: BPF run time per hook call */
	if (read_str("/proc/sys/kernel/bpf_stats_enabled", old, sizeof(old)) < 0)
		die("cannot read kernel.bpf_stats_enabled");
	G.stats_old = atoi(old);
	if (write_str("/proc/sys/kernel/bpf_stats_enabled", "1"))
		die("cannot enable kernel.bpf_stats_enabled");
	note("2: BPF run time per call: empty programs, then bpfguard's, untracked then "
	     "tracked fork loop (%d iterations)", C.stat_iters);
	measure_floor(false, C.stat_iters, &HC_FLOOR);
	measure_floor(true, C.stat_iters, &HC_REF);
	agent_start("kernel", 0);
	measure_hooks(false, C.stat_iters, &HC[0]);
	read_stats(st0);
	measure_hooks(true, C.stat_iters, &HC[1]);
	read_stats(st1);
	hc_forks_tracked = st1[BG_STAT_FORK_TRACKED] - st0[BG_STAT_FORK_TRACKED];
	{
		char v[16];

		fmt_int(v, G.stats_old);
		write_str("/proc/sys/kernel/bpf_stats_enabled", v);
		G.stats_old = -1;
	}
	agent_stop();

	/* 2b: CPU time, A (agent + 10,000 tracked) vs B (no agent) */
	note("2: building a tree of %d sleeping victims", C.big);
	build_big(&big, C.big, false);
	for (int r = 0; r < C.rounds; r++) {
		const char *order = r % 2 ? "BA" : "AB";

		note("2: A/B round %d of %d (%s)", r + 1, C.rounds, order);
		for (int k = 0; k < 2; k++) {
			int a = order[k] == 'A';
			struct vloop f, e;

			if (a) {
				agent_start("kernel", 0);
				if (tree_tag(&big))
					die("cannot tag the big tree's root");
				if (ntag_big < 64)
					tag_big[ntag_big++] = (double)big.tag_ns / 1e6;
				if (r == 0) {
					bg_cmd("status", NULL, big_status, sizeof(big_status), 60000,
					       NULL);
				}
			}
			if (run_loop("forkloop", C.ab_fork, false, &f) ||
			    run_loop("execloop", C.ab_exec, false, &e))
				die("a CPU loop failed");
			ab_cpu[0][a][r] = (double)f.cpu_ns / (double)f.iters;
			ab_cpu[1][a][r] = (double)e.cpu_ns / (double)e.iters;
			ab_wall[0][a][r] = (double)f.wall_ns / (double)f.iters;
			ab_wall[1][a][r] = (double)e.wall_ns / (double)e.iters;
			if (a)
				agent_stop(); /* unload: tags dropped, the victims live on */
		}
		ab_ratio[0][r] = ab_cpu[0][1][r] / ab_cpu[0][0][r];
		ab_ratio[1][r] = ab_cpu[1][1][r] / ab_cpu[1][0][r];
		ab_n = r + 1;
	}
	/* no agent now: the floor kill */
	{
		struct measure m;

		tree_kill(&big, M_FLOOR, -1, false, 0, 60000, &m);
		tree_finish(&big);
	}
}

static void print_section2(void)
{
	double r[64];

	printf("\n== 2. Overhead on every process ==\n");
	printf("What (a): `bpfguard agent --pin-dir %s --mode kernel`; with\n"
	       "kernel.bpf_stats_enabled=1 (restored afterwards), run_time_ns/run_cnt of the\n"
	       "programs behind the pinned links link_fork and link_exit (bpf_obj_get ->\n"
	       "link info -> prog id -> bpf_prog_get_fd_by_id), read before and after\n"
	       "`victim forkloop %d` (fork, _exit, waitpid), first untagged, then tagged (each\n"
	       "child is recorded at fork and deleted at exit). run_cnt counts every process on\n"
	       "the machine, not only the loop.\n",
	       G.pin, C.stat_iters);
	printf("The references, measured first over the same loop with no agent, alone on the\n"
	       "same two tracepoints (tests/bench/floor.bpf.c): empty programs (bpf_stats charges\n"
	       "every call its own accounting: what a program that does nothing costs; net =\n"
	       "measured - that floor), and the least bookkeeping of a tracked process: one\n"
	       "insert into a preallocated hash map like procs per fork of the loop, one lookup\n"
	       "and delete per exit, nothing else.\n");
	printf("  %-36s %9s %7s %10s %9s %7s %10s\n", "", "fork ns", "net", "calls", "exit ns",
	       "net", "calls");
	{
		const struct hookcost *row[4] = { &HC_FLOOR, &HC_REF, &HC[0], &HC[1] };
		static const char *const name[4] = {
			"floor: empty programs",
			"reference: insert / lookup+delete",
			"bpfguard, untracked (pidmap miss)",
			"bpfguard, tracked (insert / delete)",
		};

		for (int i = 0; i < 4; i++)
			printf("  %-36s %9.0f %7.0f %10llu %9.0f %7.0f %10llu\n", name[i],
			       row[i]->fork_ns, row[i]->fork_ns - HC_FLOOR.fork_ns,
			       (unsigned long long)row[i]->fork_cnt, row[i]->exit_ns,
			       row[i]->exit_ns - HC_FLOOR.exit_ns, (unsigned long long)row[i]->exit_cnt);
	}
	printf("  (forks_tracked grew by %llu during the tracked loop)\n",
	       (unsigned long long)hc_forks_tracked);

	printf("\nWhat (b): CPU time (user+sys of the loop process and its waited children, from\n"
	       "getrusage) per iteration of `victim forkloop %d` (fork+_exit) and\n"
	       "`victim execloop %d` (fork+execve(`victim exit`)), both untracked.\n"
	       "A: a `--mode kernel` agent loaded, holding a tagged root with %d sleeping victims\n"
	       "(tagged afresh each A round); B: our agent stopped and unloaded. %d rounds,\n"
	       "alternating AB / BA. Ratio = A/B per round, median over rounds.\n",
	       C.ab_fork, C.ab_exec, C.big, ab_n);
	if (big_status[0]) {
		char *l = strstr(big_status, "tags:");

		if (l) {
			char *e = strchr(l, '\n');

			printf("  (agent status in round 1: %.*s)\n", e ? (int)(e - l) : (int)strlen(l), l);
		}
	}
	for (int k = 0; k < 2; k++) {
		double a[64], b[64];

		memcpy(r, ab_ratio[k], sizeof(double) * (size_t)ab_n);
		memcpy(a, ab_cpu[k][1], sizeof(double) * (size_t)ab_n);
		memcpy(b, ab_cpu[k][0], sizeof(double) * (size_t)ab_n);
		printf("  %-28s A %7.1f us/iter  B %7.1f us/iter  median A/B %.3f  (rounds:",
		       k ? "fork+execve+exit loop" : "fork+exit loop", median(a, ab_n) / 1e3,
		       median(b, ab_n) / 1e3, median(r, ab_n));
		for (int i = 0; i < ab_n; i++)
			printf(" %.3f", ab_ratio[k][i]);
		printf(")\n");
	}
	printf("  the %d-victim tree took %.0f ms to build (fork+exec of small static victims)\n",
	       C.big, big_build_ms);
	if (other_progs)
		printf("  NOTE: %d bg_fork/bg_exit program(s) of another bpfguard agent (not ours) were\n"
		       "  loaded on this machine when the benchmark started: they run for every fork\n"
		       "  and exit, in A and in B alike, so B is \"no agent of ours\", not \"no BPF\".\n",
		       other_progs);
	fflush(stdout);
}

/* ---- section 3: memory -------------------------------------------------- */

static struct {
	uint64_t memlock;
	uint32_t max, flags, key, val;
	long rss_idle, rss_filled, rss_scanned, hwm;
	double fill_ms, status_ms, list_ms;
	int filled;
	char status[512];
	size_t list_len;
	long hwm_idle;
} M3;

static void section3(void)
{
	uint32_t *keys;
	struct bg_proc *vals;
	uint32_t n = 100000, count;
	int fd;
	uint64_t t0, wall;
	char *out = malloc(1 << 20);
	struct bpf_map_info info;
	uint32_t len = sizeof(info);

	note("3: memory, agent with --max-procs 262144 and 100,000 synthetic entries");
	agent_start("kernel", 262144);
	msleep(200);
	M3.rss_idle = proc_status_kb(G.agent, "VmRSS:");
	M3.hwm_idle = proc_status_kb(G.agent, "VmHWM:");
	procs_map_info(&M3.memlock, &M3.max, &M3.flags);
	fd = bpf_obj_get(G.pin_procs);
	if (fd < 0)
		die("cannot open %s", G.pin_procs);
	memset(&info, 0, sizeof(info));
	bpf_obj_get_info_by_fd(fd, &info, &len);
	M3.key = info.key_size;
	M3.val = info.value_size;
	keys = calloc(n, sizeof(*keys));
	vals = calloc(n, sizeof(*vals));
	if (!keys || !vals || !out)
		die("out of memory");
	for (uint32_t i = 0; i < n; i++) {
		keys[i] = SYNTH_KEY_BASE + i;
		vals[i] = (struct bg_proc){ .start = 1, .tag = SYNTH_TAG, .ppid = 0, .flags = 0 };
	}
	t0 = now_ns();
	count = n;
	if (bpf_map_update_batch(fd, keys, vals, &count, NULL)) {
		/* older kernels / errors: one by one */
		count = 0;
		for (uint32_t i = 0; i < n; i++)
			if (!bpf_map_update_elem(fd, &keys[i], &vals[i], BPF_NOEXIST))
				count++;
	}
	M3.fill_ms = (double)(now_ns() - t0) / 1e6;
	M3.filled = (int)count;
	M3.rss_filled = proc_status_kb(G.agent, "VmRSS:");
	if (bg_cmd("status", NULL, M3.status, sizeof(M3.status), 60000, &wall) == 0)
		M3.status_ms = (double)wall / 1e6;
	{
		char *argv[] = { G.bpfguard, "list", "--json", "--pin-dir", G.pin, NULL };

		if (run_cmd(argv, out, 1 << 20, 60000, &wall) == 0) {
			M3.list_ms = (double)wall / 1e6;
			M3.list_len = strlen(out);
		}
	}
	M3.rss_scanned = proc_status_kb(G.agent, "VmRSS:");
	M3.hwm = proc_status_kb(G.agent, "VmHWM:");
	/* the synthetic entries go with the map at unload; delete them anyway */
	count = n;
	bpf_map_delete_batch(fd, keys, &count, NULL);
	close(fd);
	agent_stop();
	free(keys);
	free(vals);
	free(out);
}

static void print_section3(void)
{
	printf("\n== 3. Memory ==\n");
	printf("What: kernel memory of the pinned procs map, from \"memlock:\" in\n"
	       "/proc/self/fdinfo/<fd of bpf_obj_get(%s)>, divided by its\n"
	       "max_entries (bpf_obj_get_info_by_fd).\n", G.pin_procs);
	if (g_procs_max_default)
		printf("  default agent: max_entries %llu, memlock %llu bytes = %.1f bytes per tracked "
		       "process slot\n",
		       (unsigned long long)g_procs_max_default,
		       (unsigned long long)g_procs_memlock_default,
		       (double)g_procs_memlock_default / (double)g_procs_max_default);
	if (g_procs_max_default && g_pidmap_memlock)
		printf("  pidmap (one bit per possible pid, fixed size): memlock %llu bytes = %.1f "
		       "bytes per default slot;\n  procs + pidmap: %.1f bytes per tracked process "
		       "slot\n",
		       (unsigned long long)g_pidmap_memlock,
		       (double)g_pidmap_memlock / (double)g_procs_max_default,
		       (double)(g_procs_memlock_default + g_pidmap_memlock) /
			       (double)g_procs_max_default);
	if (M3.max)
		printf("  --max-procs 262144: max_entries %u, memlock %llu bytes = %.1f bytes per "
		       "slot (key %u B, value %u B)\n",
		       M3.max, (unsigned long long)M3.memlock, (double)M3.memlock / M3.max, M3.key,
		       M3.val);
	printf("  The map is a BPF_MAP_TYPE_HASH %s: all max_entries elements are allocated\n"
	       "  when the agent creates it, so this memory is spent whether 0 or max_entries\n"
	       "  processes are tracked.\n",
	       (M3.flags & BPF_F_NO_PREALLOC) ? "WITH BPF_F_NO_PREALLOC (not preallocated!)"
					      : "without BPF_F_NO_PREALLOC, i.e. preallocated");
	printf("\nWhat: agent RSS (VmRSS of /proc/AGENT/status) for `bpfguard agent --max-procs "
	       "262144 --mode kernel`.\n"
	       "The 100,000 entries are SYNTHETIC: pid_max here is %s, so 100,000 real processes\n"
	       "cannot exist; the harness wrote them straight into the pinned procs map\n"
	       "(bpf_map_update_batch), keys %u.. (above the kernel's PID_MAX_LIMIT 4194304,\n"
	       "so no real process can match one) and values struct bg_proc with tag %u, a tag\n"
	       "id that does not exist. `bpfguard status` and `bpfguard list --json` then made\n"
	       "the agent scan the whole map (status counts members, list lists them: both\n"
	       "skip entries of unknown tags, so they report none of them).\n",
	       "32768", SYNTH_KEY_BASE, SYNTH_TAG);
	printf("  idle (after start)            VmRSS %6ld kB\n", M3.rss_idle);
	printf("  with %d entries written  VmRSS %6ld kB   (written in %.1f ms)\n", M3.filled,
	       M3.rss_filled, M3.fill_ms);
	printf("  after status + list --json    VmRSS %6ld kB   VmHWM %ld kB (idle VmHWM %ld kB)\n",
	       M3.rss_scanned, M3.hwm, M3.hwm_idle);
	printf("  status took %.1f ms, list --json %.1f ms (%zu bytes of output) with 100,000 "
	       "entries\n", M3.status_ms, M3.list_ms, M3.list_len);
	{
		char *l = strstr(M3.status, "tags:");

		if (l) {
			char *e = strchr(l, '\n');

			printf("  status said: %.*s\n", e ? (int)(e - l) : (int)strlen(l), l);
		}
	}
	fflush(stdout);
}

/* ---- section 4: scale ------------------------------------------------- */

static double fan_ms[2][16], fan_agent_ms[2][16], fan_k[2][16], fan_sweeps[2][16];
static int nfan[2], fan_timeouts[2];
static uint64_t fan_kok[16], fan_kbad[16];

static void section4(void)
{
	for (int mi = 0; mi < 2; mi++) {
		const char *mode = mi ? "user" : "kernel";

		agent_start(mode, 0);
		for (int i = 0; i < C.fan_trials; i++) {
			struct tree t;
			struct measure r;
			uint64_t s0[BG_STAT_MAX], s1[BG_STAT_MAX];

			note("4: %s mode: tree of %d, tag, kill (%d/%d)", mode, C.big, i + 1,
			     C.fan_trials);
			build_big(&t, C.big, false);
			if (tree_tag(&t))
				die("cannot tag the big tree's root");
			if (ntag_big < 64)
				tag_big[ntag_big++] = (double)t.tag_ns / 1e6;
			read_stats(s0);
			tree_kill(&t, mi ? M_USER : M_KERNEL, -1, false, 0, 120000, &r);
			msleep(100);
			read_stats(s1);
			if (r.timeout)
				fan_timeouts[mi]++;
			else
				fan_ms[mi][nfan[mi]] = r.lat_ms;
			if (!mi) {
				fan_kok[nfan[mi]] = s1[BG_STAT_KERNEL_KILLS] - s0[BG_STAT_KERNEL_KILLS];
				fan_kbad[nfan[mi]] = s1[BG_STAT_KERNEL_KILL_FAILED] -
						     s0[BG_STAT_KERNEL_KILL_FAILED];
			}
			{
				struct logkill lk[4096];
				int n = parse_agent_log(G.agent_log, lk, 4096);

				for (int j = 0; j < n; j++) {
					if (lk[j].tag != t.tag)
						continue;
					fan_agent_ms[mi][nfan[mi]] = lk[j].ms;
					fan_k[mi][nfan[mi]] = lk[j].k;
					fan_sweeps[mi][nfan[mi]] = lk[j].sweeps;
				}
			}
			if (!r.timeout)
				nfan[mi]++;
			tree_finish(&t);
		}
		agent_stop();
	}
}

static void print_section4(void)
{
	double tmp[64];

	printf("\n== 4. Scale: a root with %d descendants ==\n", C.big);
	printf("What: a root with %d sleeping victims (flat, no daemons: processes orphaned\n"
	       "before the tag are not descendants), built first and then tagged. Wall time of\n"
	       "`bpfguard tag ROOT --pin-dir %s` (CLI spawn to exit: enrolment by the\n"
	       "task iterator, two passes over every task on the machine). Samples: every A round\n"
	       "of section 2 and every trial below.\n", C.big, G.pin);
	memcpy(tmp, tag_big, sizeof(double) * (size_t)ntag_big);
	{
		double med = median(tmp, ntag_big); /* sorts tmp */

		printf("  tag time: median %.1f ms over %d (min %.1f, max %.1f)\n", med, ntag_big,
		       ntag_big ? tmp[0] : NAN, ntag_big ? tmp[ntag_big - 1] : NAN);
	}
	printf("What: kill fan-out, root's SIGKILL -> all %d seen dead (pidfds), as in section 1.\n",
	       C.big);
	for (int mi = 0; mi < 2; mi++) {
		printf("  --mode %-6s trials:", mi ? "user" : "kernel");
		for (int i = 0; i < nfan[mi]; i++)
			printf(" %.1f ms", fan_ms[mi][i]);
		memcpy(tmp, fan_ms[mi], sizeof(double) * (size_t)nfan[mi]);
		printf("  (median %.1f ms%s)\n", median(tmp, nfan[mi]),
		       fan_timeouts[mi] ? ", TIMEOUTS" : "");
		for (int i = 0; i < nfan[mi]; i++) {
			printf("      trial %d: agent log: killed %.0f in %.0f sweep(s), %.1f ms after the "
			       "root's exit",
			       i + 1, fan_k[mi][i], fan_sweeps[mi][i], fan_agent_ms[mi][i]);
			if (!mi)
				printf("; in-kernel signals queued %llu, refused %llu",
				       (unsigned long long)fan_kok[i], (unsigned long long)fan_kbad[i]);
			printf("\n");
		}
	}
	fflush(stdout);
}

/* ---- section 5: dispatch ---------------------------------------------------- */

static void print_section5(void)
{
	printf("\n== 5. Dispatch: the root's exit hook -> the last descendant's SIGKILL sent ==\n");
	if (g_trace_ok) {
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
		printf("  %-27s %5s %6s %9s %9s %11s %9s %9s %12s %6s %9s  %s\n", "mode", "N",
		       "trials", "first ms", "last ms", "per desc us", "spread us", "kill p50",
		       "exit-prog us", "calls", "t0->kill", "SIGKILLs by agent / other");
		for (int m = M_FLOOR; m <= M_USER; m++) {
			for (int si = 0; si < 3; si++) {
				struct dispatch_sum *d = &DISP[m][si];

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
	} else {
		printf("(ftrace not used (BENCH_NO_FTRACE=1, or tracefs unavailable): exact dispatch\n"
		       "not measured)\n");
	}
	printf("\nWhat: the agent's own log line `tag N: root died, killed K descendant(s) in S\n"
	       "sweep(s), X ms after the root's exit`, for section 1's trials: X / K. X runs from\n"
	       "the exit hook's bpf_ktime_get_ns() to after the last sweep, so it includes waking\n"
	       "the agent, reading deaths and tags, every sweep (each a task iterator pass that\n"
	       "signals the members where the kernel has bpf_send_signal_task; else pidfd_open\n"
	       "+ map re-check + pidfd_send_signal per victim), a pidfd per victim to wait on,\n"
	       "waiting (poll) for every victim to die, and the final empty sweep: an upper bound\n"
	       "on dispatch, not dispatch. In kernel mode K is what the agent's sweep still found\n"
	       "recorded: victims the kernel had signalled but that were not dead yet, and the\n"
	       "dying root itself (its entry lives until the end of its exit program's walk).\n");
	printf("  %-28s %5s %6s %12s %12s %8s\n", "mode", "N", "lines", "median X ms", "X/K us",
	       "sweeps");
	for (int m = M_KERNEL; m <= M_USER; m++)
		for (int si = 0; si < 3; si++) {
			struct logsum *l = &LOGK[m][si];

			if (!l->n)
				continue;
			printf("  %-28s %5d %6d %12.3f %12.2f %8.0f\n", mech_name[m], sizes[si], l->n,
			       l->total_ms, l->per_desc_ms * 1e3, l->sweeps);
		}
	fflush(stdout);
}

/* ---- set-up and clean-up -------------------------------------------------- */

static void rm_tree_files(const char *dir)
{
	char p[512];
	char seq[8];

	for (int i = 1; i <= G.agent_seq; i++) {
		static const char *const modes[] = { "kernel", "user" };

		fmt_int(seq, i);
		for (int k = 0; k < 2; k++) {
			snprintf(p, sizeof(p), "%s/agent-%s-%s.log", dir, seq, modes[k]);
			unlink(p);
		}
	}
}

/* Undo everything. Only syscalls and the async-signal-safe helpers above:
 * also runs from a signal handler. */
static void cleanup_all(void)
{
	if (g_cleaning)
		return;
	g_cleaning = 1;
	/* 1. every process we created, by pidfd */
	for (int fd = 0; fd < MAXFD; fd++)
		if (g_ours[fd])
			pidfd_send_signal(fd, SIGKILL, NULL, 0);
	/* 2. the safety net: whatever is left in our cgroups */
	if (G.cg_base_ok)
		write_str(G.cg_base_kill, "1");
	/* 3. the agent and the pins */
	agent_stop();
	/* 4. sysctl */
	if (G.stats_old >= 0) {
		char v[16];

		fmt_int(v, G.stats_old);
		write_str("/proc/sys/kernel/bpf_stats_enabled", v);
		G.stats_old = -1;
	}
	/* 5. ftrace */
	if (G.trace_inst_ok) {
		trace_enable(false);
		for (int i = 0; i < 100 && rmdir(G.trace_inst) && errno == EBUSY; i++)
			msleep(10);
		G.trace_inst_ok = 0;
	}
	if (G.trace_mounted) {
		if (umount2(G.trace_mnt, 0))
			umount2(G.trace_mnt, MNT_DETACH);
		rmdir(G.trace_mnt);
		G.trace_mounted = 0;
	}
	/* 6. reap, then the cgroups (empty once their processes are gone) */
	for (int fd = 0; fd < MAXFD; fd++)
		if (g_ours[fd]) {
			fd_readable(fd, 2000);
			close(fd);
			g_ours[fd] = 0;
		}
	/* every child and every orphan reparented to us, until none is left
	 * (ECHILD), at most 15 s: leave no zombie to PID 1 */
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
	if (G.cg_all_fd >= 0)
		close(G.cg_all_fd);
	if (G.cg_trial[0])
		cg_rmdir_bounded(G.cg_trial);
	if (G.cg_base_ok) {
		cg_rmdir_bounded(G.cg_all);
		cg_rmdir_bounded(G.cg_base);
		G.cg_base_ok = 0;
	}
	/* 7. temp dir */
	if (!G.keep && G.tmp[0]) {
		rm_tree_files(G.tmp);
		rmdir(G.tmp);
	}
}

static void on_signal(int sig)
{
	static const char msg[] = "\nbench: interrupted: cleaning up\n";

	if (g_cleaning)
		return;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		(void)0;
	cleanup_all();
	_exit(128 + sig);
}

static void setup(void)
{
	char self[PATH_MAX - 64], *slash;
	ssize_t n;
	struct rlimit rl;
	struct sigaction sa;

	if (geteuid() != 0) {
		fprintf(stderr, "bench: must run as root\n");
		exit(1);
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		die("readlink /proc/self/exe");
	self[n] = '\0';
	slash = strrchr(self, '/');
	*slash = '\0';
	if (getenv("BPFGUARD"))
		snprintf(G.bpfguard, sizeof(G.bpfguard), "%s", getenv("BPFGUARD"));
	else
		snprintf(G.bpfguard, sizeof(G.bpfguard), "%s/../bpfguard", self);
	if (getenv("BENCH_VICTIM"))
		snprintf(G.victim, sizeof(G.victim), "%s", getenv("BENCH_VICTIM"));
	else
		snprintf(G.victim, sizeof(G.victim), "%s/victim", self);
	{
		char r1[PATH_MAX], r2[PATH_MAX];

		if (!realpath(G.bpfguard, r1) || access(r1, X_OK))
			die("no bpfguard binary at %s (set BPFGUARD)", G.bpfguard);
		if (!realpath(G.victim, r2) || access(r2, X_OK))
			die("no victim binary at %s (set BENCH_VICTIM)", G.victim);
		snprintf(G.bpfguard, sizeof(G.bpfguard), "%s", r1);
		snprintf(G.victim, sizeof(G.victim), "%s", r2);
	}

	C.quick = env_int("BENCH_QUICK", 0) != 0;
	C.trials[0] = env_int("BENCH_TRIALS_1", C.quick ? 20 : 200);
	C.trials[1] = env_int("BENCH_TRIALS_100", C.quick ? 20 : 200);
	C.trials[2] = env_int("BENCH_TRIALS_1000", C.quick ? 5 : 50);
	C.rounds = env_int("BENCH_ROUNDS", C.quick ? 3 : 7);
	if (C.rounds > 64)
		C.rounds = 64;
	C.big = env_int("BENCH_BIG", 10000);
	C.stat_iters = env_int("BENCH_STAT_ITERS", C.quick ? 5000 : 20000);
	C.ab_fork = env_int("BENCH_AB_FORK", C.quick ? 3000 : 10000);
	C.ab_exec = env_int("BENCH_AB_EXEC", C.quick ? 1000 : 3000);
	C.fan_trials = env_int("BENCH_FAN_TRIALS", C.quick ? 1 : 3);
	if (C.fan_trials > 16)
		C.fan_trials = 16;
	C.disp_trials[0] = env_int("BENCH_DISP_TRIALS_1", C.quick ? 5 : 20);
	C.disp_trials[1] = env_int("BENCH_DISP_TRIALS_100", C.quick ? 5 : 20);
	C.disp_trials[2] = env_int("BENCH_DISP_TRIALS_1000", C.quick ? 2 : 5);
	snprintf(C.sections, sizeof(C.sections), "%s",
		 getenv("BENCH_SECTIONS") ? getenv("BENCH_SECTIONS") : "");
	G.keep = env_int("BENCH_KEEP", 0) != 0;
	srandom((unsigned)getpid());

	G.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	G.ncpus = libbpf_num_possible_cpus();
	if (G.devnull < 0 || G.ncpus <= 0)
		die("set-up failed");
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max < MAXFD ? rl.rlim_max : MAXFD;
		setrlimit(RLIMIT_NOFILE, &rl);
		if ((long)rl.rlim_cur < C.big + 1000) {
			note("RLIMIT_NOFILE %ld is too small for %d pidfds: BENCH_BIG lowered",
			     (long)rl.rlim_cur, C.big);
			C.big = (int)rl.rlim_cur - 1000;
		}
	}
	snprintf(G.pin, sizeof(G.pin), "/sys/fs/bpf/bpfguard-bench-%d", getpid());
	snprintf(G.pin_procs, sizeof(G.pin_procs), "%s/procs", G.pin);
	snprintf(G.pin_stats, sizeof(G.pin_stats), "%s/stats", G.pin);
	snprintf(G.pin_link_fork, sizeof(G.pin_link_fork), "%s/link_fork", G.pin);
	snprintf(G.pin_link_exit, sizeof(G.pin_link_exit), "%s/link_exit", G.pin);
	snprintf(G.cg_base, sizeof(G.cg_base), "%s/bpfguard-bench-%d", CG_ROOT, getpid());
	snprintf(G.cg_base_kill, sizeof(G.cg_base_kill), "%s/cgroup.kill", G.cg_base);
	snprintf(G.cg_all, sizeof(G.cg_all), "%s/all", G.cg_base);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigfillset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	snprintf(G.tmp, sizeof(G.tmp), "/tmp/bpfguard-bench-%d", getpid());
	if (mkdir(G.tmp, 0700))
		die("mkdir %s: %s", G.tmp, strerror(errno));
	if (pin_exists())
		die("%s exists already", G.pin);
	if (mkdir(G.cg_base, 0755))
		die("cannot create cgroup %s: %s (cgroup v2 at %s needed)", G.cg_base,
		    strerror(errno), CG_ROOT);
	G.cg_base_ok = 1;
	if (mkdir(G.cg_all, 0755))
		die("cannot create cgroup %s: %s", G.cg_all, strerror(errno));
	G.cg_all_fd = open(G.cg_all, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (G.cg_all_fd < 0)
		die("open %s: %s", G.cg_all, strerror(errno));
	if (prctl(PR_SET_CHILD_SUBREAPER, 1))
		die("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
}

static void print_header(void)
{
	char k[128] = "", pm[32] = "", ld[128] = "";

	read_str("/proc/sys/kernel/osrelease", k, sizeof(k));
	read_str("/proc/sys/kernel/pid_max", pm, sizeof(pm));
	read_str("/proc/loadavg", ld, sizeof(ld));
	k[strcspn(k, "\n")] = 0;
	pm[strcspn(pm, "\n")] = 0;
	ld[strcspn(ld, "\n")] = 0;
	printf("bpfguard benchmark%s: Linux %s, %ld CPU(s) online, pid_max %s, loadavg %s\n",
	       C.quick ? " (BENCH_QUICK=1)" : "", k, sysconf(_SC_NPROCESSORS_ONLN), pm, ld);
	printf("binary %s, victims %s, pin dir %s\n", G.bpfguard, G.victim, G.pin);
	printf("trials: %d / %d / %d (1 / 100 / 1000 descendants), A/B rounds %d, big tree %d\n",
	       C.trials[0], C.trials[1], C.trials[2], C.rounds, C.big);
	if (other_progs)
		printf("NOTE: %d bg_fork/bg_exit BPF program(s) of another bpfguard agent (not ours) are\n"
		       "loaded: they run on every fork/exit throughout this benchmark.\n", other_progs);
	printf("Figures only: nothing here is a pass/fail threshold. Shared VM: compare within\n"
	       "this run, not across runs.\n");
	fflush(stdout);
}

int main(void)
{
	uint64_t t0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	setup();
	t0 = now_ns();
	other_progs = count_other_bg_progs(); /* before any of ours exist */
	print_header();
	if (section_on(5) && !env_int("BENCH_NO_FTRACE", 0))
		g_trace_ok = trace_setup();
	if (section_on(1)) {
		section1();
		print_section1();
	}
	if (section_on(2)) {
		section2();
		print_section2();
	}
	if (section_on(3)) {
		section3();
		print_section3();
	}
	if (section_on(4)) {
		section4();
		print_section4();
	}
	if (section_on(5)) {
		section5();
		print_section5();
	}
	cleanup_all();
	printf("\ntotal time %.0f s; cleaned up: agent stopped, %s unloaded, cgroups removed, "
	       "bpf_stats_enabled restored\n", (double)(now_ns() - t0) / 1e9, G.pin);
	return 0;
}
