// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ctlclient: a misbehaving (or plain) client of the agent's control socket,
 * for the bpfguard kernel tests.
 *
 *   ctlclient [--ready FILE] [--hold SECONDS] SOCKET MODE
 *
 * Modes:
 *   garbage  32 bytes that are no request (bad magic)
 *   huge     1 MiB of garbage, written until done or refused
 *   half     the first 16 bytes of a status request, then nothing
 *   silent   nothing at all
 *   fds      a status request carrying 4 extra descriptors (/dev/null)
 *   status   a well-formed status request
 *   waittag:ID  a wait on tag ID by its number (BG_REQ_F_BY_TAG), as the
 *            library sends it after an agent restart
 *   signal:PID:SIG  a lineage signal (BG_OP_SIGNAL) with a pidfd of PID
 * After connecting (and sending what the mode sends) it creates FILE, then
 * waits at most --hold seconds (default 30) for the agent's answer and
 * prints one line:
 *   reply STATUS MESSAGE   the agent answered (STATUS: 0 or an errno)
 *   closed                 the agent closed the connection without a word
 *   held                   neither within --hold seconds (exit 1)
 * Exit 0 on `reply` or `closed`, 1 on `held` or an error (a line on
 * stderr), 2 on a usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"
#include "../../../include/ctl.h"

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: ctlclient [--ready FILE] [--hold S] SOCKET "
			"garbage|huge|half|silent|fds|status|waittag:ID|signal:PID:SIG\n");
	exit(2);
}

static void __attribute__((noreturn)) die(const char *what)
{
	fprintf(stderr, "ctlclient: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* @req with @nfd descriptors attached: @pidfd, or (-1) /dev/null. */
static int send_req(int fd, struct bg_req req, int nfd, int pidfd)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)] = { 0 };
	struct iovec iov = { .iov_base = &req, .iov_len = sizeof(req) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[4];

	if (nfd) {
		struct cmsghdr *c;

		for (int i = 0; i < nfd; i++) {
			fds[i] = pidfd >= 0 ? dup(pidfd) : open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (fds[i] < 0)
				die("open /dev/null");
		}
		msg.msg_control = cbuf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfd);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfd);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfd);
	}
	if (sendmsg(fd, &msg, MSG_NOSIGNAL) != (ssize_t)sizeof(req))
		return -1;
	for (int i = 0; i < nfd; i++)
		close(fds[i]);
	return 0;
}

int main(int argc, char **argv)
{
	const char *ready = NULL, *path, *mode;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct bg_rep rep;
	size_t got = 0;
	long hold = 30, deadline;
	int fd, i = 1;

	while (i + 1 < argc && !strncmp(argv[i], "--", 2)) {
		if (!strcmp(argv[i], "--ready"))
			ready = argv[i + 1];
		else if (!strcmp(argv[i], "--hold"))
			hold = atol(argv[i + 1]);
		else
			usage();
		i += 2;
	}
	if (argc - i != 2 || hold <= 0)
		usage();
	path = argv[i];
	mode = argv[i + 1];
	if (strlen(path) >= sizeof(sa.sun_path))
		usage();
	strcpy(sa.sun_path, path);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("connect");

	if (!strcmp(mode, "garbage") || !strcmp(mode, "huge")) {
		size_t len = !strcmp(mode, "huge") ? 1u << 20 : sizeof(struct bg_req);
		char *junk = malloc(len);

		if (!junk)
			die("malloc");
		memset(junk, 0xa5, len);
		/* the agent may refuse it before the end: that is the point */
		send_all(fd, junk, len);
		free(junk);
	} else if (!strcmp(mode, "half")) {
		struct bg_req req = { .magic = BG_CTL_MAGIC, .version = BG_CTL_VERSION,
				      .op = BG_OP_STATUS };

		if (send_all(fd, &req, sizeof(req) / 2))
			die("send");
	} else if (!strcmp(mode, "fds") || !strcmp(mode, "status")) {
		struct bg_req req = { .magic = BG_CTL_MAGIC, .version = BG_CTL_VERSION,
				      .op = BG_OP_STATUS };

		if (send_req(fd, req, !strcmp(mode, "fds") ? 4 : 0, -1))
			die("sendmsg");
	} else if (!strncmp(mode, "signal:", 7)) {
		struct bg_req req = { .magic = BG_CTL_MAGIC, .version = BG_CTL_VERSION,
				      .op = BG_OP_SIGNAL };
		char *sig = strchr(mode + 7, ':');
		int pidfd;

		if (!sig)
			usage();
		req.pid = atoi(mode + 7);
		req.signal = (uint32_t)atoi(sig + 1);
		pidfd = (int)syscall(SYS_pidfd_open, req.pid, 0);
		if (pidfd < 0)
			die("pidfd_open");
		if (send_req(fd, req, 1, pidfd))
			die("sendmsg");
		close(pidfd);
	} else if (!strncmp(mode, "waittag:", 8)) {
		struct bg_req req = { .magic = BG_CTL_MAGIC, .version = BG_CTL_VERSION,
				      .op = BG_OP_WAIT, .flags = BG_REQ_F_BY_TAG,
				      .pid2 = atoi(mode + 8) };

		if (send_all(fd, &req, sizeof(req)))
			die("send");
	} else if (strcmp(mode, "silent")) {
		usage();
	}
	if (ready) {
		int r = open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		if (r < 0)
			die("create the ready file");
		close(r);
	}

	/* the answer, EOF, or --hold seconds */
	deadline = now_ms() + hold * 1000L;
	while (got < sizeof(rep)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0) {
			printf("held\n");
			return 1;
		}
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		n = recv(fd, (char *)&rep + got, sizeof(rep) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* a reset after the agent refused the rest of `huge` */
			if (got == 0 && (n == 0 || errno == ECONNRESET)) {
				printf("closed\n");
				return 0;
			}
			if (n < 0)
				die("recv");
			fprintf(stderr, "ctlclient: the answer was cut after %zu bytes\n", got);
			return 1;
		}
		got += (size_t)n;
	}
	if (rep.magic != BG_CTL_MAGIC) {
		fprintf(stderr, "ctlclient: the answer has a bad magic %#x\n", rep.magic);
		return 1;
	}
	rep.msg[sizeof(rep.msg) - 1] = '\0';
	printf("reply %d %s\n", rep.status, rep.msg);
	return 0;
}
