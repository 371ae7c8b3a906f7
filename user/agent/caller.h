/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Who is asking: a control-socket peer identified from its own task, never
 * from what it sends. The agent asks the kernel (bpf/peer.bpf.c) through a
 * pidfd for the peer itself, so no pid can be reused in between.
 */
#ifndef BG_CALLER_H
#define BG_CALLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "peer.h"

struct bpfguard;

/* The peer iterators (bpf/peer.bpf.c), loaded with the agent's programs. */
struct peer_probe {
	struct bpfguard *skel;
};

/* Use the iterators of the loaded skeleton @skel. */
void peer_probe_open(struct peer_probe *pp, struct bpfguard *skel);
void peer_probe_close(struct peer_probe *pp);

/*
 * A pidfd for the process at the other end of @sock: SO_PEERPIDFD (Linux
 * 6.5), which names the very process that connected; before 6.5, a pidfd
 * of SO_PEERCRED's pid, which caller_identify re-verifies. -errno if none.
 */
int peer_pidfd(int sock, const struct ucred *cred, bool *exact);

/* The process @pidfd names, read from its task. Returns 0, -ESRCH when it
 * has exited, or -errno. */
int peer_read(struct peer_probe *pp, int pidfd, struct bg_peer *out);

/*
 * The processes visible in the PID namespace @ns (a bg_peer.pidns cookie) at
 * @level: *out (malloc'd, caller frees) gets *n records sorted by host pid.
 * Returns 0 or -errno.
 */
int peer_view(struct peer_probe *pp, uint64_t ns, uint32_t level, struct bg_view **out,
	      size_t *n);
/* @pid's number in a view from peer_view, 0 if it is not visible there. */
uint32_t view_nr(const struct bg_view *v, size_t n, uint32_t pid);

/* Has the process @pidfd names exited? (a pidfd is readable from then on) */
bool pidfd_exited(int pidfd);

/* What the agent knows of a caller (struct caller, as authz.h reads it). */
struct caller;
/*
 * Fill @c for the peer of @sock, whose SO_PEERCRED is @cred: uids from the
 * task, privilege only from capabilities in the agent's user namespace. A
 * peer that cannot be read (it exited, or the iterator failed) is known by
 * SO_PEERCRED's uid alone, unprivileged and with .known false.
 */
void caller_identify(struct peer_probe *pp, int sock, const struct ucred *cred,
		     struct caller *c);

#endif /* BG_CALLER_H */
