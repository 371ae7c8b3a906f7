// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include "control.h"
#include "parse.h"

static int set_timeouts(int fd, int seconds)
{
	struct timeval tv = { .tv_sec = seconds };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -errno;
	return 0;
}

/* Read or write exactly @len bytes; a timeout or EOF is an error. */
static int xfer_all(int fd, void *buf, size_t len, int writing)
{
	char *p = buf;

	while (len) {
		ssize_t n = writing ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Are we in the initial user namespace? (its uid_map maps every uid to itself) */
static bool initial_userns(void)
{
	unsigned long in = 1, out = 1, count = 0;
	FILE *f = fopen("/proc/self/uid_map", "re");
	int n;

	if (!f)
		return true; /* no /proc: assume the plain case, the strict check */
	n = fscanf(f, "%lu %lu %lu", &in, &out, &count);
	fclose(f);
	return n == 3 && in == 0 && out == 0 && count == 4294967295ul;
}

/*
 * The listening end must be root's: the agent runs as root, and a socket at
 * its path held by anyone else is not the agent, to be handed no pidfd. In
 * a user namespace of its own the client sees root as the overflow uid.
 */
static int check_agent_peer(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len))
		return -errno;
	if (cr.uid == 0 || (cr.uid == BG_OVERFLOW_UID && !initial_userns()))
		return 0;
	return -EBADE;
}

int ctl_connect(const char *pin_dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	err = ctl_socket_path(pin_dir, "sock", sa.sun_path, sizeof(sa.sun_path));
	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Tagging a process with a large tree takes milliseconds; an
	 * unload waits for the agent to detach. 30 s bounds a hung agent. */
	err = set_timeouts(fd, 30);
	if (!err && connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		err = -errno;
	if (!err)
		err = check_agent_peer(fd);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int ctl_call(int fd, const struct bg_req *req, int pidfd, struct bg_rep *rep,
	     void **payload)
{
	return ctl_call_fds(fd, req, &pidfd, pidfd >= 0 ? 1 : 0, rep, payload);
}

int ctl_call_fds(int fd, const struct bg_req *req, const int *fds, int nfd,
		 struct bg_rep *rep, void **payload)
{
	char cbuf[CMSG_SPACE(sizeof(int) * BG_CTL_MAX_FDS)] = { 0 };
	struct iovec iov = { .iov_base = (void *)req, .iov_len = sizeof(*req) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	*payload = NULL;
	if (nfd < 0 || nfd > BG_CTL_MAX_FDS)
		return -EINVAL;
	if (nfd > 0) {
		struct cmsghdr *c;

		msg.msg_control = cbuf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfd);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfd);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfd);
	}
	do {
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(*req))
		return -EPROTO;
	return ctl_recv_rep(fd, rep, payload);
}

int ctl_recv_rep(int fd, struct bg_rep *rep, void **payload)
{
	int err;

	*payload = NULL;
	err = xfer_all(fd, rep, sizeof(*rep), 0);
	if (err)
		return err;
	if (rep->magic != BG_CTL_MAGIC || rep->len > BG_CTL_MAX_PAYLOAD)
		return -EPROTO;
	rep->msg[sizeof(rep->msg) - 1] = '\0';
	if (!rep->len)
		return 0;
	*payload = malloc(rep->len);
	if (!*payload)
		return -ENOMEM;
	err = xfer_all(fd, *payload, rep->len, 0);
	if (err) {
		free(*payload);
		*payload = NULL;
	}
	return err;
}

int ctl_accept_setup(int fd, struct ucred *cred)
{
	socklen_t clen = sizeof(*cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &clen))
		return -errno;
	/* the reply is sent blocking, bounded: a client that does not read
	 * a large answer costs the agent at most this */
	return set_timeouts(fd, 2);
}

/* Take ownership of every fd passed, even in a malformed message, so a
 * hostile client cannot make the agent leak descriptors: the first
 * BG_CTL_MAX_FDS fill the request's free pidfd slots, the others are closed. */
static void take_fds(struct msghdr *msg, int pidfd[BG_CTL_MAX_FDS])
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		size_t nfd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			int k = 0;

			while (k < BG_CTL_MAX_FDS && pidfd[k] >= 0)
				k++;
			if (k < BG_CTL_MAX_FDS)
				pidfd[k] = f;
			else
				close(f);
		}
	}
}

int ctl_recv_some(int fd, struct bg_req *req, uint32_t *got, int pidfd[BG_CTL_MAX_FDS])
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { .iov_base = (char *)req + *got, .iov_len = sizeof(*req) - *got };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	ssize_t n;

	do {
		n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (n == 0)
		return -EPIPE;
	take_fds(&msg, pidfd);
	if (msg.msg_flags & MSG_CTRUNC)
		return -EPROTO;
	*got += (uint32_t)n;
	/* refuse garbage as soon as the magic or version is in */
	if (*got >= sizeof(req->magic) && req->magic != BG_CTL_MAGIC)
		return -EPROTO;
	if (*got >= offsetof(struct bg_req, op) && req->version != BG_CTL_VERSION)
		return -EPROTO;
	return *got < sizeof(*req) ? -EAGAIN : 0;
}

int ctl_recv_req(int fd, struct bg_req *req, int pidfd[BG_CTL_MAX_FDS], struct ucred *cred)
{
	uint32_t got = 0;
	int err;

	for (int i = 0; i < BG_CTL_MAX_FDS; i++)
		pidfd[i] = -1;
	err = ctl_accept_setup(fd, cred);
	while (!err) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		err = ctl_recv_some(fd, req, &got, pidfd);
		if (err != -EAGAIN)
			break;
		err = poll(&p, 1, 2000) > 0 ? 0 : -ETIMEDOUT;
	}
	for (int i = 0; err && i < BG_CTL_MAX_FDS; i++) {
		if (pidfd[i] >= 0)
			close(pidfd[i]);
		pidfd[i] = -1;
	}
	return err;
}

int ctl_send_rep(int fd, int status, const void *payload, uint32_t len,
		 const char *fmt, ...)
{
	struct bg_rep rep = { .magic = BG_CTL_MAGIC, .status = status, .len = len };
	va_list ap;
	int err;

	va_start(ap, fmt);
	vsnprintf(rep.msg, sizeof(rep.msg), fmt, ap);
	va_end(ap);
	err = xfer_all(fd, &rep, sizeof(rep), 1);
	if (!err && len)
		err = xfer_all(fd, (void *)payload, len, 1);
	return err;
}
