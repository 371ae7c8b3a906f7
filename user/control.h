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

/* Client: connect to the agent of @pin_dir. Returns an fd or -errno
 * (-ENOENT / -ECONNREFUSED: no agent). */
int ctl_connect(const char *pin_dir);

/* Client: send @req (with @pidfd attached when >= 0), wait for the reply.
 * *payload is malloc'd (caller frees) when rep->len > 0. Returns 0 or -errno. */
int ctl_call(int fd, const struct bg_req *req, int pidfd, struct bg_rep *rep,
	     void **payload);

/* Agent: set up an accepted connection: the peer's credentials, and a
 * bounded send timeout for the reply. Returns 0 or -errno. */
int ctl_accept_setup(int fd, struct ucred *cred);

/*
 * Agent: read what has arrived of a request into @req, from byte *got on,
 * without blocking (a slow or stalled client must not hold up the others).
 * The first fd passed becomes *pidfd (set it to -1 first), others are closed.
 * Returns 0 once the request is complete and well-formed, -EAGAIN while more
 * is to come, -EPROTO for a malformed one (as soon as its magic or version
 * is in), -EPIPE if the client closed early, or -errno.
 */
int ctl_recv_some(int fd, struct bg_req *req, uint32_t *got, int *pidfd);

/* Agent: send a reply: status is 0 or a positive errno. */
int ctl_send_rep(int fd, int status, const void *payload, uint32_t len,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif /* BG_CONTROL_H */
