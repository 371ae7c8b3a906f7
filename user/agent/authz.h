/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Who may do what. Every rule of bpfguard's trust boundary is here, once, as
 * pure functions of facts the agent gathered (caller.c for the caller, /proc
 * and the tag table for the rest): no I/O, so that one table test covers
 * every operation against every kind of caller (tests/unit/test_authz.c).
 *
 * The principle: no caller gains through the agent a power kill(2) would not
 * give it. Privileged means holding CAP_KILL and CAP_BPF, effective, in the
 * agent's user namespace; uid 0 alone is not privileged, and capabilities
 * held in any other user namespace (`unshare -Ur`, a rootless container)
 * count for nothing. Everyone else follows the kill(2) uid rule, with uids
 * as the initial user namespace sees them.
 */
#ifndef BG_AUTHZ_H
#define BG_AUTHZ_H

#include <stdbool.h>
#include <stdint.h>

/* The capabilities that make a caller privileged. */
#define BG_CAP_KILL 5
#define BG_CAP_BPF 39
#define BG_PRIV_CAPS ((1ull << BG_CAP_KILL) | (1ull << BG_CAP_BPF))

/* Who sent a request (caller_identify fills it). */
struct caller {
	uint32_t pid;	/* host tgid, 0 if unknown */
	uint32_t uid;	/* effective uid (initial user namespace's view) */
	uint32_t ruid;	/* real uid, likewise */
	bool priv;	/* CAP_KILL + CAP_BPF in the agent's user namespace */
	bool known;	/* read from its own task; false: SO_PEERCRED's uid only */
	bool same_pidns; /* in the agent's PID namespace */
	uint32_t pidns_level;
	uint64_t pidns;	/* its PID namespace (bg_peer.pidns) */
	uint64_t start; /* its start time, to match its procs entry */
};

/* A process a request names. */
struct az_target {
	uint32_t ruid, suid; /* real and saved uid */
	bool init;	     /* pid 1 of the agent's PID namespace */
	bool kthread;
	bool agent;	     /* the agent itself */
};

/* The tag a request acts on. */
struct az_tag {
	bool priv;	      /* made by a privileged caller (BG_TAG_F_PRIV) */
	uint32_t owner_uid;   /* who made it */
	bool holds_caller;    /* the caller itself is in its lineage */
	bool breakaway;	      /* made with --allow-breakaway (BG_TAG_F_BREAKAWAY) */
};

enum az_op {
	AZ_STATUS,	/* answered to all; what it shows: az_sees_* */
	AZ_LIST,	/* likewise */
	AZ_SUBSCRIBE,	/* likewise (the event stream) */
	AZ_TAG,		/* a new tag on a process */
	AZ_RETAG,	/* change how an existing tag ends (signal, grace) */
	AZ_UNTAG,
	AZ_ADOPT,	/* asked once for each of the two processes */
	AZ_UNLOAD,
	AZ_KILL,	/* signal a tag's lineage now (bpfguard kill) */
	AZ_WAIT,	/* wait for a tag's lineage to be empty (@t may be NULL) */
	AZ_RELEASE,	/* take a member out of a tag's lineage (asked per tag it leaves) */
	AZ_OP_MAX,
};

enum az_verdict {
	AZ_OK,
	AZ_DENY_INIT,	  /* pid 1: its lineage is the whole machine */
	AZ_DENY_KTHREAD,
	AZ_DENY_AGENT,
	AZ_DENY_SIGNAL,	  /* the caller may not signal the process (kill(2) rule) */
	AZ_DENY_OWNER,	  /* the tag is another user's, or a privileged one */
	AZ_DENY_MEMBER,	  /* the caller is in the lineage it would shrink */
	AZ_DENY_UNKNOWN,  /* the caller could not be identified from its task */
	AZ_DENY_PRIV,	  /* for privileged callers only */
	AZ_DENY_BREAKAWAY, /* release: the tag does not allow it (--allow-breakaway) */
};

/* The kill(2) rule: the caller's real or effective uid is the process's real
 * or saved uid. */
bool az_may_signal(const struct caller *c, const struct az_target *t);

/* May @c do @op? @t: the process named (NULL when the op names none); @tag:
 * the tag acted on (RETAG, UNTAG, KILL, WAIT; NULL otherwise). */
enum az_verdict az_check(enum az_op op, const struct caller *c, const struct az_target *t,
			 const struct az_tag *tag);

/* What a refusal says, for the one-line reply ("permission denied: ..."). */
const char *az_reason(enum az_verdict v);
/* The errno a refusal answers with (EPERM). */
int az_errno(enum az_verdict v);

/* May @c see @tag, its processes and its events? Privileged callers see
 * every tag; others the unprivileged tags they made (not root's, even over
 * their own processes). */
bool az_sees_tag(const struct caller *c, const struct az_tag *tag);
/* May @c see machine-wide figures (loss counters, every tag's count)? */
bool az_sees_machine(const struct caller *c);

#endif /* BG_AUTHZ_H */
