// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fakeagent: a socket where a client looks for the agent, held by someone
 * else, for the kernel test of the client's check (a socket that is not
 * root's must be handed nothing).
 *
 *   fakeagent UID SOCKET READY SECONDS
 *
 * Binds SOCKET as root, drops to UID (the listening credentials are what a
 * client sees through SO_PEERCRED), listens, creates READY, and waits at
 * most SECONDS for one client. Prints one line: "nothing" when the client
 * closed without sending a byte, "sent N bytes, M fds" otherwise, or
 * "no client". Removes SOCKET before it exits.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "helper.h"

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[512], cbuf[CMSG_SPACE(sizeof(int) * 8)];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	int lfd, cfd, nfd = 0, rc = 1;
	long uid, secs;
	ssize_t n, total = 0;

	if (argc != 5 || (uid = strtol(argv[1], NULL, 10)) <= 0 ||
	    (secs = strtol(argv[4], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: fakeagent UID SOCKET READY SECONDS\n");
		return 2;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[2]);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("fakeagent: bind");
		return 1;
	}
	if (setgroups(0, NULL) || setresgid((gid_t)uid, (gid_t)uid, (gid_t)uid) ||
	    setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) || listen(lfd, 4) ||
	    write_text(argv[3], "ready\n")) {
		perror("fakeagent: listen as uid");
		goto out;
	}
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	if (poll(&p, 1, (int)secs * 1000) <= 0) {
		printf("no client\n");
		goto out;
	}
	cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (cfd < 0)
		goto out;
	p.fd = cfd;
	while (poll(&p, 1, (int)secs * 1000) > 0) {
		m.msg_control = cbuf;
		m.msg_controllen = sizeof(cbuf);
		n = recvmsg(cfd, &m, MSG_CMSG_CLOEXEC);
		if (n <= 0)
			break;
		total += n;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
			if (c->cmsg_type == SCM_RIGHTS)
				nfd += (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
	}
	if (total || nfd)
		printf("sent %zd bytes, %d fds\n", total, nfd);
	else
		printf("nothing\n");
	rc = 0;
out:
	unlink(argv[2]); /* fails as UID: the test removes it too */
	return rc;
}
