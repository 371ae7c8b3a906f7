// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * forest: many tagged lineages at once, for the tests that kill hundreds of
 * roots together (many_deaths). One process does what the suite would do
 * with three programs per lineage (a tree helper, `bpfguard tag`, the go
 * file), which costs a fraction of a second per lineage in a qemu guest
 * under TCG.
 *
 *   forest [--life S] OUT N PINDIR
 *
 * For each of N lineages: fork a root (which waits), tag it through
 * libbpfguard on PINDIR's agent, then let it fork its one child (a sleeper
 * born after the tag, recorded by the fork program). Once all exist, OUT
 * gets one "ROOT CHILD" line per lineage (written to OUT.tmp, renamed).
 * This process stays the roots' parent and reaps them as they die; it and
 * every process it made exit by themselves after --life seconds (default
 * 300). Exit status 1 (after SIGKILLing the roots it made) if a fork, a tag
 * or a root's report fails, 2 on a usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <sys/wait.h>

#include "helper.h"
#include "libbpfguard.h"

#define REPORT_MS 30000 /* a root's report of its child, at most */

static pid_t *roots;
static int nroots;

static void __attribute__((noreturn)) give_up(const char *what, int err)
{
	fprintf(stderr, "forest: %s: %s\n", what, strerror(err));
	for (int i = 0; i < nroots; i++)
		kill(roots[i], SIGKILL);
	exit(1);
}

/* A root: waits for its go byte, forks its child, reports both pids. */
static void __attribute__((noreturn)) root(int go, int report, long end_ms)
{
	char c, line[48];
	pid_t child;
	int n;

	if (read(go, &c, 1) != 1)
		_exit(1);
	child = fork();
	if (child < 0)
		_exit(1);
	if (child == 0)
		exit_at(end_ms);
	n = snprintf(line, sizeof(line), "%d %d\n", (int)getpid(), (int)child);
	if (write(report, line, (size_t)n) != n) /* < PIPE_BUF: one piece */
		_exit(1);
	exit_at(end_ms);
}

/* One line from @fd (each root writes its line whole), within REPORT_MS. */
static int read_line(int fd, char *buf, size_t cap)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t n = 0;

	while (n + 1 < cap) {
		if (poll(&p, 1, REPORT_MS) != 1 || read(fd, buf + n, 1) != 1)
			return -1;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	return 0;
}

int main(int argc, char **argv)
{
	const char *go = NULL, *out, *pin;
	long life_s = 300, end_ms;
	char *text, msg[256];
	size_t len = 0, cap;
	int i = 1, n, report[2];

	if (helper_opts(argc, argv, &i, &go, &life_s) || argc - i != 3 || go) {
		fprintf(stderr, "usage: forest [--life S] OUT N PINDIR\n");
		return 2;
	}
	out = argv[i];
	n = atoi(argv[i + 1]);
	pin = argv[i + 2];
	if (n <= 0 || n > 100000) {
		fprintf(stderr, "forest: not a lineage count: '%s'\n", argv[i + 1]);
		return 2;
	}
	end_ms = now_ms() + life_s * 1000L;
	cap = (size_t)n * 24 + 1;
	roots = calloc((size_t)n, sizeof(*roots));
	text = malloc(cap);
	if (!roots || !text || pipe2(report, O_CLOEXEC))
		give_up("setup", errno ? errno : ENOMEM);

	for (int k = 0; k < n; k++) {
		BPFGUARD_OPTS(opts, .pin_dir = pin, .msg = msg, .msg_len = sizeof(msg));
		int gp[2], err;
		pid_t r;

		if (pipe2(gp, O_CLOEXEC))
			give_up("pipe", errno);
		r = fork();
		if (r < 0)
			give_up("fork", errno);
		if (r == 0) {
			close(gp[1]);
			root(gp[0], report[1], end_ms);
		}
		roots[nroots++] = r;
		close(gp[0]);
		msg[0] = '\0';
		err = bpfguard_tag(r, &opts);
		if (err < 0) {
			fprintf(stderr, "forest: tag %d: %s\n", (int)r, msg);
			give_up("tag", -err);
		}
		if (write(gp[1], "g", 1) != 1)
			give_up("go", errno);
		close(gp[1]);
		errno = 0;
		if (read_line(report[0], text + len, cap - len))
			give_up("a root's report", errno ? errno : ETIMEDOUT);
		len += strlen(text + len);
	}
	if (write_text(out, text))
		give_up(out, errno);

	/* the roots' parent to the end: each one the test kills is reaped;
	 * SIGALRM (its default action) ends this process at --life */
	alarm((unsigned)((end_ms - now_ms()) / 1000 + 1));
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
	return 0;
}
