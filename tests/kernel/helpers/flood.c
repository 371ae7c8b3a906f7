// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * flood: a hostile client of the agent's control socket, for the kernel
 * test client_flood. It stops by itself.
 *
 *   flood [--procs N] [--ready FILE] [--stop FILE] SOCKET SECONDS REPORT
 *
 * N processes (default 2) loop for SECONDS, or until the --stop FILE
 * exists (checked each round): connect, then, round after
 * round, a status request whose answer is read, 32 bytes of garbage, a
 * status request, garbage again; all but the first close at once without
 * reading, so that the next connection follows at once. Each connection and each wait is
 * bounded by what is left of SECONDS (plus 2 s), so a stuck agent cannot
 * hold it. FILE is created once the first round is done. At the end REPORT
 * gets one line (written atomically):
 *   rounds R ok O busy B other X closed C errors E
 * ok: answered 0; busy: answered EBUSY; other: another error answer;
 * closed: no answer read (the rounds that do not wait for one, or the agent
 * closed the connection without a word); errors:
 * connect or send failed (a full backlog, or a timeout).
 * Exit 0, or 1 on a setup error, 2 on a usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"
#include "../../../include/ctl.h"

#define MAX_PROCS 64

struct tally {
	unsigned long rounds, ok, busy, other, closed, errors;
};

static struct sockaddr_un sa = { .sun_family = AF_UNIX };

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: flood [--procs N] [--ready FILE] [--stop FILE] SOCKET SECONDS REPORT\n");
	exit(2);
}

/* A connected socket whose connect and sends give up after @ms. */
static int dial(long ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read one reply header within @ms: its status, or -1 if none came. */
static int read_reply(int fd, long ms)
{
	long deadline = now_ms() + ms;
	struct bg_rep rep;
	size_t got = 0;

	while (got < sizeof(rep)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return -1;
		n = recv(fd, (char *)&rep + got, sizeof(rep) - got, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return rep.magic == BG_CTL_MAGIC ? rep.status : -1;
}

static void one_round(struct tally *t, unsigned long round, long end)
{
	struct bg_req req = { .magic = BG_CTL_MAGIC, .version = BG_CTL_VERSION,
			      .op = BG_OP_STATUS };
	char junk[sizeof(req)];
	long left = end - now_ms() + 2000;
	int fd, st;

	fd = dial(left);
	t->rounds++;
	if (fd < 0) {
		t->errors++;
		return;
	}
	if (round % 4) {
		/* garbage or a request, and gone before the agent answers */
		memset(junk, 0xa5, sizeof(junk));
		if (send(fd, round % 2 ? junk : (char *)&req, sizeof(req), MSG_NOSIGNAL) !=
		    (ssize_t)sizeof(req))
			t->errors++;
		else
			t->closed++;
		close(fd);
		return;
	}
	if (send(fd, &req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req)) {
		t->errors++;
		close(fd);
		return;
	}
	st = read_reply(fd, left);
	if (st < 0)
		t->closed++;
	else if (st == 0)
		t->ok++;
	else if (st == EBUSY)
		t->busy++;
	else
		t->other++;
	close(fd);
}

int main(int argc, char **argv)
{
	const char *ready = NULL, *stop = NULL, *report;
	struct tally *all, sum = { 0 };
	long secs, end, procs = 2;
	char line[256];
	int i = 1;

	while (i + 1 < argc && !strncmp(argv[i], "--", 2)) {
		if (!strcmp(argv[i], "--procs"))
			procs = atol(argv[i + 1]);
		else if (!strcmp(argv[i], "--ready"))
			ready = argv[i + 1];
		else if (!strcmp(argv[i], "--stop"))
			stop = argv[i + 1];
		else
			usage();
		i += 2;
	}
	if (argc - i != 3 || procs < 1 || procs > MAX_PROCS)
		usage();
	secs = atol(argv[i + 1]);
	report = argv[i + 2];
	if (secs < 1 || secs > 600 || strlen(argv[i]) >= sizeof(sa.sun_path))
		usage();
	strcpy(sa.sun_path, argv[i]);
	signal(SIGPIPE, SIG_IGN);
	all = mmap(NULL, sizeof(*all) * MAX_PROCS, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (all == MAP_FAILED) {
		perror("flood: mmap");
		return 1;
	}
	memset(all, 0, sizeof(*all) * MAX_PROCS);
	end = now_ms() + secs * 1000L;
	for (long p = 0; p < procs; p++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("flood: fork");
			return 1;
		}
		if (pid == 0) {
			/* never outlive the test: the parent may be gone */
			alarm((unsigned)secs + 10);
			for (unsigned long r = 0; now_ms() < end && !(stop && !access(stop, F_OK)); r++) {
				one_round(&all[p], r + (unsigned long)p, end);
				if (r == 0 && p == 0 && ready)
					write_text(ready, "ready\n");
			}
			_exit(0);
		}
	}
	while (wait(NULL) > 0 || errno == EINTR)
		;
	for (long p = 0; p < procs; p++) {
		sum.rounds += all[p].rounds;
		sum.ok += all[p].ok;
		sum.busy += all[p].busy;
		sum.other += all[p].other;
		sum.closed += all[p].closed;
		sum.errors += all[p].errors;
	}
	snprintf(line, sizeof(line), "rounds %lu ok %lu busy %lu other %lu closed %lu errors %lu\n",
		 sum.rounds, sum.ok, sum.busy, sum.other, sum.closed, sum.errors);
	if (write_text(report, line)) {
		perror("flood: report");
		return 1;
	}
	return 0;
}
