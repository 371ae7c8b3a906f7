// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* cmd.c: see cmd.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "util.h"

char *const bench_env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };

void reap_all(struct bench_ctx *ctx)
{
	for (;;) {
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
			return;
		if (ctx->agent.pid && si.si_pid == ctx->agent.pid)
			ctx->agent.reaped = 1;
	}
}

void child_stdio(const struct bench_ctx *ctx, int out)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	dup2(ctx->devnull, 0);
	dup2(out >= 0 ? out : ctx->devnull, 1);
	dup2(out >= 0 ? out : ctx->devnull, 2);
}

pid_t spawn_raw(const struct bench_ctx *ctx, char *const argv[], int out)
{
	pid_t pid = fork();

	if (pid == 0) {
		child_stdio(ctx, out);
		execve(argv[0], argv, bench_env);
		_exit(127);
	}
	return pid;
}

int wait_bounded(pid_t pid, int ms)
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
			int fd = pidfd_of(pid);

			if (fd >= 0) {
				pidfd_signal(fd, SIGKILL);
				close(fd);
			}
			waitpid(pid, &st, 0);
			return -1;
		}
		msleep(waited < 20 ? 1 : 5);
		waited += waited < 20 ? 1 : 5;
	}
}

/* posix_spawn @argv, stdin /dev/null, stdout+stderr into @out_w */
static int spawn_piped(const struct bench_ctx *ctx, char *const argv[], int out_w, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	int err;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, ctx->devnull, 0);
	posix_spawn_file_actions_adddup2(&fa, out_w, 1);
	posix_spawn_file_actions_adddup2(&fa, out_w, 2);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	err = posix_spawn(pid, argv[0], &fa, &at, argv, bench_env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return err;
}

int run_cmd(const struct bench_ctx *ctx, char *const argv[], char *out, size_t outlen,
	    int timeout_ms, uint64_t *wall_ns)
{
	int pfd[2], rc;
	size_t got = 0;
	uint64_t t0, end;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC))
		return -1;
	t0 = now_ns();
	if (spawn_piped(ctx, argv, pfd[1], &pid)) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
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
	return rc;
}

int bg_cmd(const struct bench_ctx *ctx, const char *sub, const char *arg, char *out,
	   size_t outlen, int timeout_ms, uint64_t *wall_ns)
{
	char *argv[] = { (char *)ctx->bpfguard, (char *)sub, "--pin-dir", (char *)ctx->pin,
			 (char *)arg, NULL };

	return run_cmd(ctx, argv, out, outlen, timeout_ms, wall_ns);
}
