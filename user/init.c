// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `bpfguard exec --init -- CMD`: a container entrypoint. This process tags
 * itself, and stays CMD's parent and a child subreaper: CMD is forked,
 * tagged before it runs (the root of a tag nested in this one's), then
 * exec'd. Every process reparented here is
 * reaped; SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2 and SIGWINCH
 * are forwarded to CMD (with --forward-lineage, through the agent, to every
 * process of CMD's lineage; to CMD alone should the agent not answer). When CMD exits the agent kills its lineage (its
 * tag's rule), every orphan of which was reparented here: once this process
 * has no child left, nothing of CMD's lineage is, and it exits with CMD's
 * status as a shell reports it. Should the lineage outlive the grace by 10 s
 * (no agent to kill it), its children here are SIGKILLed, again each
 * second: they are unreaped children, so their pids cannot name anyone
 * else.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#include "cli.h"
#include "cli_priv.h"
#include "init.h"
#include "libbpfguard.h"
#include "parse.h"

static const int forwarded[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH };

/* How long past the grace an orphan may outlive CMD before this process
 * kills its own children. */
#define INIT_FALLBACK_NS (10ull * 1000000000ull)

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* SIGKILL every child of this process: only its unreaped children have it
 * as their parent, and nothing reaps them meanwhile (one thread), so no pid
 * read here can be another process's by the time it is signalled. */
static void kill_children(void)
{
	pid_t self = getpid();
	struct dirent *d;
	DIR *dir = opendir("/proc");

	if (!dir)
		return;
	while ((d = readdir(dir))) {
		struct proc_stat st;
		pid_t pid;

		if (parse_pid(d->d_name, &pid) || read_proc_stat(pid, &st) || st.ppid != self)
			continue;
		kill(pid, SIGKILL);
	}
	closedir(dir);
}

int init_status(int wstatus)
{
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 1;
}

/* The child: wait until the parent tagged it (one byte) or gave up (EOF),
 * then CMD with the caller's signal mask. */
static void __attribute__((noreturn)) child(int go, const sigset_t *old, char **cmd)
{
	char b;

	if (read(go, &b, 1) != 1)
		_exit(1);
	close(go);
	sigprocmask(SIG_SETMASK, old, NULL);
	execvp(cmd[0], cmd);
	err_line("exec: %s: %s", cmd[0], strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

/* A forwarded signal: to CMD's lineage through the agent, or to CMD. */
static void forward(const struct bpfguard_opts *o, pid_t c, int sig, bool lineage)
{
	struct bpfguard_opts so = *o;

	so.signal = sig;
	so.grace_ns = 0;
	if (lineage && !bpfguard_signal(c, &so))
		return;
	kill(c, sig); /* an unreaped child: its pid is ours */
}

int init_run(const struct bpfguard_opts *o, const char *msg, char **cmd, uint64_t grace_ns,
	     bool forward_lineage)
{
	uint64_t fallback = 0;
	sigset_t set, old;
	int go[2], sfd, status = 0, rc;
	bool done = false;
	pid_t c;

	/* this process too: if it dies first, nothing of CMD's outlives it */
	if (bpfguard_tag(getpid(), o)) {
		err_line("%s", msg);
		return EXIT_RUNTIME;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1)) {
		err_line("exec --init: cannot be a child subreaper: %s", strerror(errno));
		return EXIT_RUNTIME;
	}
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, &old) ||
	    (sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0 || pipe2(go, O_CLOEXEC)) {
		err_line("exec --init: %s", strerror(errno));
		return EXIT_RUNTIME;
	}
	c = fork();
	if (c < 0) {
		err_line("exec --init: fork: %s", strerror(errno));
		return EXIT_RUNTIME;
	}
	if (!c) {
		close(go[1]);
		child(go[0], &old, cmd);
	}
	close(go[0]);
	/* tagged before it runs an instruction of CMD: nothing escapes */
	rc = bpfguard_tag(c, o);
	if (rc) {
		err_line("%s", msg);
		close(go[1]); /* EOF: the child exits */
		waitpid(c, NULL, 0);
		return EXIT_RUNTIME;
	}
	if (write(go[1], "g", 1) != 1) {
		err_line("exec --init: cannot start CMD: %s", strerror(errno));
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
		return EXIT_RUNTIME;
	}
	close(go[1]);
	for (;;) {
		struct pollfd p = { .fd = sfd, .events = POLLIN };
		struct signalfd_siginfo si;
		pid_t r;
		int st;

		while ((r = waitpid(-1, &st, WNOHANG)) > 0) {
			if (r == c) {
				status = st;
				done = true;
				fallback = mono_ns() + grace_ns + INIT_FALLBACK_NS;
			}
		}
		if (r < 0 && errno == ECHILD)
			break; /* CMD and every orphan of its lineage are reaped */
		if (done && mono_ns() >= fallback) {
			/* no agent killed them: this process's own children */
			kill_children();
			fallback = mono_ns() + 1000000000ull;
		}
		if (poll(&p, 1, done ? 100 : 1000) <= 0)
			continue;
		while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			if (si.ssi_signo == SIGCHLD || done)
				continue;
			forward(o, c, (int)si.ssi_signo, forward_lineage);
		}
	}
	return init_status(status);
}
