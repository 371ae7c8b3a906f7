/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Who is asking, as the kernel knows it: the records the peer iterators
 * (bpf/peer.bpf.c) hand the agent (user/peer.c). Nothing here is pinned; the
 * layouts only cross one read() between a BPF program and the agent that
 * loaded it, but they are fixed-width and asserted like every shared struct.
 */
#ifndef BG_PEER_H
#define BG_PEER_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* The deepest PID namespace level the kernel allows (MAX_PID_NS_LEVEL). */
#define BG_PIDNS_LEVEL_MAX 32

/* The peer's credentials are in the agent's user namespace: only then can
 * its capabilities mean anything to the agent. */
#define BG_PEER_SAME_USERNS 0x1
/* The peer's active PID namespace is the agent's. */
#define BG_PEER_SAME_PIDNS 0x2

/* One process, read from its task and credentials (not from /proc). */
struct bg_peer {
	__u64 start;	  /* group leader's start_boottime, ns (as in bg_proc) */
	__u64 cap_eff;	  /* effective capabilities, in the peer's own user namespace */
	__u64 pidns;	  /* its active PID namespace: an opaque cookie, compared only */
	__u32 tgid;	  /* host pid */
	__u32 uid;	  /* real uid, as the initial user namespace sees it */
	__u32 euid;	  /* effective uid, likewise */
	__u32 suid;	  /* saved uid, likewise */
	__u32 pidns_level; /* 0: the initial PID namespace */
	__u32 flags;	  /* BG_PEER_* */
};
_Static_assert(sizeof(struct bg_peer) == 48, "bg_peer crosses the iterator");

/* bg_view's output: a process visible in the PID namespace asked about. */
struct bg_view {
	__u32 pid; /* host pid */
	__u32 nr;  /* its pid in that namespace */
};
_Static_assert(sizeof(struct bg_view) == 8, "bg_view crosses the iterator");

#endif /* BG_PEER_H */
