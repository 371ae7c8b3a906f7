/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Framing of the control protocol (include/ctl.h) over a Unix socket. */
#ifndef BG_CONTROL_H
#define BG_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ctl.h"

/* Largest payload either side accepts (a list of ~1M processes). */
#define BG_CTL_MAX_PAYLOAD (64u << 20)

/* The uid an unmapped uid shows as (the kernel's default overflowuid). */
#define BG_OVERFLOW_UID 65534

/* Client: connect to the agent of @pin_dir. Returns an fd or -errno
 * (-ENOENT / -ECONNREFUSED: no agent; -EBADE: the socket is not root's, so
 * not the agent's: nothing is sent to it). */
int ctl_connect(const char *pin_dir);

/* Pidfds a request may carry (adopt names two processes). */
#define BG_CTL_MAX_FDS 2

/* Client: send @req (with @pidfd attached when >= 0), wait for the reply.
 * *payload is malloc'd (caller frees) when rep->len > 0. Returns 0 or -errno. */
int ctl_call(int fd, const struct bg_req *req, int pidfd, struct bg_rep *rep,
	     void **payload);
/* The same with @nfd (0..BG_CTL_MAX_FDS) pidfds attached, in order. */
int ctl_call_fds(int fd, const struct bg_req *req, const int *fds, int nfd,
		 struct bg_rep *rep, void **payload);

/* Client: read one more reply on @fd (a request answered twice: wait).
 * Returns 0 or -errno (-EPIPE: the agent closed the connection). */
int ctl_recv_rep(int fd, struct bg_rep *rep, void **payload);

/* Agent: set up an accepted connection: the peer's credentials, and a
 * bounded send timeout for the reply. Returns 0 or -errno. */
int ctl_accept_setup(int fd, struct ucred *cred);

/*
 * Agent: read what has arrived of a request into @req, from byte *got on,
 * without blocking (a slow or stalled client must not hold up the others).
 * The fds passed fill the free (-1) slots of @pidfd in order (set them to -1
 * first); any beyond BG_CTL_MAX_FDS are closed.
 * Returns 0 once the request is complete and well-formed, -EAGAIN while more
 * is to come, -EPROTO for a malformed one (as soon as its magic or version
 * is in), -EPIPE if the client closed early, or -errno.
 */
int ctl_recv_some(int fd, struct bg_req *req, uint32_t *got, int pidfd[BG_CTL_MAX_FDS]);

/* Read one whole request, blocking up to 2 s for each part (ctl_accept_setup
 * then ctl_recv_some; for tools and tests: the agent reads without blocking).
 * Its pidfds (-1 where none: the first
 * BG_CTL_MAX_FDS passed, the rest closed) and the peer's credentials.
 * Returns 0 or -errno (-EPROTO for a malformed one). */
int ctl_recv_req(int fd, struct bg_req *req, int pidfd[BG_CTL_MAX_FDS], struct ucred *cred);

/* Agent: send a reply: status is 0 or a positive errno. */
int ctl_send_rep(int fd, int status, const void *payload, uint32_t len,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif /* BG_CONTROL_H */
