// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_ctl_req: a request as the agent reads it from its control socket
 * (ctl_recv_req in user/control.c), from a client that may send anything:
 * any bytes, cut anywhere, with any number of descriptors attached.
 *
 * Input: byte 0: how many descriptors are sent (low 3 bits: 0..7; more than
 * 4 is more than the agent takes) and, bit 3, whether they ride on the
 * second send rather than the first; byte 1: where the stream is cut
 * between the two sends; the rest: the bytes. They go through a real Unix
 * stream socketpair whose other end is then shut, so that nothing waits on
 * the agent's 2 s receive timeout.
 *
 * Checked against what the protocol says must happen: the answer is 0 only
 * for a whole request with the right magic and version, whose bytes are the
 * first 32 sent; -EPROTO for a bad magic/version or too many descriptors,
 * -EPIPE for a short stream; on success the pidfd is the first descriptor
 * sent (close-on-exec) or -1 if none came, on failure -1; the peer's
 * credentials are ours; and no descriptor is left open, whatever was sent.
 * Descriptors sent after the first bytes reach the agent only if the kernel
 * joins both sends into its first read: then either answer is right.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control.h"
#include "fuzz.h"

#define MAX_FDS 7
#define AGENT_FDS 4 /* ctl_recv_req's control buffer holds 4 */

static int devnull = -1;

/* Which descriptors from the lowest free one on are open (libFuzzer and
 * the sanitizers hold some of their own): new ones take the lowest free
 * numbers, so whatever ctl_recv_req kept open would show up in this window. */
#define WINDOW 64
static int open_fds(bool open[WINDOW])
{
	int lo = dup(devnull);

	CHECK(lo >= 0);
	close(lo);
	for (int i = 0; i < WINDOW; i++)
		open[i] = fcntl(lo + i, F_GETFD) >= 0;
	return lo;
}

/* send() with @nfds copies of /dev/null attached. Returns bytes sent. */
static ssize_t send_with_fds(int sock, const void *buf, size_t len, int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * MAX_FDS)] = { 0 };
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (nfds) {
		msg.msg_control = cbuf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		for (int i = 0; i < nfds; i++)
			memcpy(CMSG_DATA(c) + i * sizeof(int), &devnull, sizeof(int));
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct bg_req req, sent = { 0 };
	struct ucred cred;
	int sv[2], nfds, pidfd[BG_CTL_MAX_FDS] = { -2, -2 }, lo, r, expect;
	bool late, ok, before[WINDOW], after[WINDOW];
	size_t cut;

	if (len < 2)
		return 0;
	if (devnull < 0) {
		devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		CHECK(devnull >= 0);
	}
	nfds = data[0] & 7;
	late = data[0] & 8;
	cut = data[1];
	data += 2;
	len -= 2;
	if (len > 4096) /* well under the socket's buffer: all of it is queued */
		len = 4096;
	if (cut > len)
		cut = len;
	/* Stream sockets deliver no descriptors without a byte to carry them. */
	if ((late && cut == len) || (!late && cut == 0))
		nfds = 0;

	lo = open_fds(before);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	if (cut)
		CHECK(send_with_fds(sv[1], data, cut, late ? 0 : nfds) == (ssize_t)cut);
	if (len > cut)
		CHECK(send_with_fds(sv[1], data + cut, len - cut, late ? nfds : 0) ==
		      (ssize_t)(len - cut));
	CHECK(shutdown(sv[1], SHUT_WR) == 0);

	memset(&req, 0xa5, sizeof(req));
	r = ctl_recv_req(sv[0], &req, pidfd, &cred);

	/* What the protocol says: checks in the order the agent makes them. */
	if (len >= sizeof(sent))
		memcpy(&sent, data, sizeof(sent));
	/* garbage is refused as soon as its magic (4 bytes), then its version
	 * (2 more) is in, before the rest arrives */
	{
		uint32_t magic = BG_CTL_MAGIC;
		uint16_t ver = BG_CTL_VERSION;
		bool bad = (len >= 4 && memcmp(data, &magic, 4)) ||
			   (len >= 6 && memcmp(data + 4, &ver, 2));

		if (nfds > AGENT_FDS && !late)
			expect = -EPROTO; /* MSG_CTRUNC: refused, and nothing leaks */
		else if (bad)
			expect = -EPROTO;
		else if (len < sizeof(req))
			expect = -EPIPE;
		else
			expect = 0;
	}
	ok = r == expect || (late && nfds > AGENT_FDS && r == -EPROTO);
	if (!ok)
		fprintf(stderr, "ctl_recv_req: %d, expected %d (nfds %d%s, cut %zu, len %zu)\n",
			r, expect, nfds, late ? " late" : "", cut, len);
	CHECK(ok);
	if (r == 0) {
		CHECK(!memcmp(&req, &sent, sizeof(req)));
		CHECK(cred.pid == getpid() && cred.uid == getuid());
		/* the first BG_CTL_MAX_FDS descriptors are kept, in order */
		for (int i = 0; i < BG_CTL_MAX_FDS; i++) {
			if (!late && i < nfds)
				CHECK(pidfd[i] >= 0);
			if (i >= nfds)
				CHECK(pidfd[i] == -1);
			if (pidfd[i] >= 0) {
				CHECK(fcntl(pidfd[i], F_GETFD) == FD_CLOEXEC);
				close(pidfd[i]);
			}
		}
	} else {
		for (int i = 0; i < BG_CTL_MAX_FDS; i++)
			CHECK(pidfd[i] == -1);
	}
	close(sv[0]);
	close(sv[1]);

	/* Every descriptor received was closed. */
	CHECK(open_fds(after) == lo);
	CHECK(!memcmp(before, after, sizeof(before)));
	return 0;
}
