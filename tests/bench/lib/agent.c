// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* agent.c: see agent.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "cmd.h"
#include "util.h"

bool agent_alive(const struct bench_ctx *ctx)
{
	return ctx->agent.pid && !ctx->agent.reaped && !fd_readable(ctx->agent.fd, 0);
}

bool pin_exists(const struct bench_ctx *ctx)
{
	struct stat st;

	return !stat(ctx->pin, &st);
}

void agent_stop(struct bench_ctx *ctx)
{
	char *unload[] = { ctx->bpfguard, "unload", "--pin-dir", ctx->pin, NULL };
	struct bench_agent *a = &ctx->agent;

	if (a->pid) {
		if (agent_alive(ctx))
			wait_bounded(spawn_raw(ctx, unload, -1), 15000);
		for (int i = 0; i < 100 && agent_alive(ctx); i++)
			msleep(50);
		if (agent_alive(ctx)) {
			pidfd_signal(a->fd, SIGTERM);
			for (int i = 0; i < 60 && agent_alive(ctx); i++)
				msleep(50);
		}
		if (agent_alive(ctx))
			pidfd_signal(a->fd, SIGKILL);
		if (!a->reaped) {
			siginfo_t si;

			if (fd_readable(a->fd, 5000))
				waitid(P_PIDFD, (id_t)a->fd, &si, WEXITED);
		}
		close(a->fd);
		a->fd = -1;
		a->pid = 0;
		a->reaped = 0;
	}
	if (pin_exists(ctx)) /* no agent: unload removes the pins itself */
		wait_bounded(spawn_raw(ctx, unload, -1), 15000);
}

void agent_start(struct bench_ctx *ctx, const char *mode, uint32_t max_procs)
{
	char maxp[16], seq[8];
	char *argv[10] = { ctx->bpfguard, "agent", "--pin-dir", ctx->pin, "--mode", (char *)mode };
	struct bench_agent *a = &ctx->agent;
	int argc = 6, fd;

	if (max_procs) {
		fmt_int(maxp, max_procs);
		argv[argc++] = "--max-procs";
		argv[argc++] = maxp;
	}
	argv[argc] = NULL;
	fmt_int(seq, ++a->seq);
	snprintf(a->log, sizeof(a->log), "%s/agent-%s-%s.log", ctx->tmp, seq, mode);
	fd = open(a->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("cannot create %s: %s", a->log, strerror(errno));
	a->reaped = 0;
	a->pid = spawn_raw(ctx, argv, fd);
	close(fd);
	if (a->pid < 0)
		die("cannot start the agent");
	a->fd = pidfd_of(a->pid);
	if (a->fd < 0)
		die("pidfd_open(agent): %s", strerror(errno));
	for (int i = 0; i < 400; i++) {
		if (!agent_alive(ctx)) {
			char log[2048] = "";

			read_str(a->log, log, sizeof(log));
			die("the agent (--mode %s) exited at start:\n%s", mode, log);
		}
		if (bg_cmd(ctx, "status", NULL, NULL, 0, 5000, NULL) == 0)
			return;
		msleep(50);
	}
	die("the agent did not become ready within 20 s (log: %s)", a->log);
}

long proc_status_kb(pid_t pid, const char *field)
{
	char path[64], buf[4096], *p;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (read_str(path, buf, sizeof(buf)) < 0)
		return -1;
	p = strstr(buf, field);
	return p ? strtol(p + strlen(field), NULL, 10) : -1;
}

int parse_agent_log(const char *path, struct logkill *out, int cap)
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
				"sweep(s) (%*d found new ones), %lf ms", &tag, &k, &s, &ms) == 4)
			out[n++] = (struct logkill){ .tag = tag, .k = k, .sweeps = s, .ms = ms };
	}
	fclose(f);
	return n;
}
