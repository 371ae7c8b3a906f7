/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Structs shared by the BPF programs (bpf/) and the agent (user/).
 *
 * Every struct here lives in a pinned map or crosses the ring buffer, so it
 * outlives one agent binary: fields have fixed widths, padding is explicit,
 * and each size is asserted. Changing a layout is an on-disk format change
 * (bump BG_FORMAT and the agent refuses old pins with a clear message).
 */
#ifndef BPFGUARD_H
#define BPFGUARD_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/*
 * Bumped whenever a pinned map's layout changes. 6: bg_death carries the
 * root's exit status, and the `ended` map. 5: bg_proc.charge and the
 * quota map. An agent of format 4 on these pins would delete charged entries
 * without releasing their charge (its owner locked out for good) and record
 * children uncharged (a lineage growing past its quota), and the stats map
 * has one more slot: mixed versions must not share pins.
 */
#define BG_FORMAT 6

/* Default map sizes; `bpfguard agent --max-procs/--max-tags` override them. */
#define BG_MAX_PROCS_DEFAULT 131072
#define BG_MAX_TAGS_DEFAULT 4096
#define BG_RINGBUF_DEFAULT (256 * 1024)

/*
 * Quotas of unprivileged owners (`bpfguard agent --user-max-procs/--user-max-tags`):
 * each owner uid may hold BG_USER_PROCS_DIV-th of procs (default) and
 * BG_USER_TAGS_DEFAULT tags, and all of them together never more than the
 * map minus a reserve of 1/BG_PRIV_RESERVE_DIV, kept for privileged tags.
 */
#define BG_USER_PROCS_DIV 16
#define BG_USER_TAGS_DEFAULT 64
#define BG_PRIV_RESERVE_DIV 8
#define BG_UNPRIV_SHARE(max) ((max) - (max) / BG_PRIV_RESERVE_DIV)

/*
 * How far the enrolment iterator walks up real_parent looking for the root or
 * a process it already recorded. A deeper tree (whose pids run downwards, as
 * after a pid wrap, so the iterator meets the deep end first) takes more than
 * one pass: the agent runs passes until one records nothing new, at most
 * BG_ENROLL_MAX_PASSES (each reaches BG_MAX_DEPTH levels further); a tree
 * that has not settled by then is refused, never left half enrolled.
 */
#define BG_MAX_DEPTH 128
#define BG_ENROLL_MAX_PASSES 64

/*
 * Tag forwards. Untagging a nested root marks its tag MERGED with .parent the
 * enclosing live tag; untagging a top-level root deletes its record. Chains of
 * forwards stay short BY CONSTRUCTION, not by a loop bound: the agent (the
 * only writer of `tags`) ends a tag P in this order (user/lineage.c,
 * tt_plan_end):
 *   1. P itself: MERGED into Q, its enclosing live tag (or deleted at the top);
 *   2. every record whose .parent is P: MERGED ones forward to Q (deleted at
 *      the top), live tags nested right below P hang from Q (top level).
 * Before 1, every record forwards at most once; between 1 and 2 a record
 * merged into P forwards twice (to P, then Q); after 2, once again. So at
 * every instant any record resolves in at most BG_FORWARD_HOPS forwards, and
 * a live tag's .parent is a live tag or 0 (or P, one forward, during 2). An
 * agent killed between 1 and 2 leaves two-forward chains; the next agent
 * repoints them (tt_plan_repair) when it starts and before every tag change.
 * Lookups follow at most BG_MAX_FORWARD forwards, twice the invariant, as a
 * defence only: a record past it reads as "no tag".
 */
#define BG_FORWARD_HOPS 2
#define BG_MAX_FORWARD (2 * BG_FORWARD_HOPS)

/*
 * Nesting: a tag's depth is the number of live (ACTIVE or DOOMED) tags on its
 * chain up to the top, itself included (a top-level tag: 1). The agent
 * refuses a tag that would make any tag deeper than BG_MAX_NEST, also when
 * the new tag's root is an ancestor of tagged roots and their tags would be
 * pushed down below it. Every walk up the nesting (tag_within, doomed_by,
 * tt_within) goes BG_NEST_WALK steps, strictly more than any chain holds.
 */
#define BG_MAX_NEST 8
#define BG_NEST_WALK (BG_MAX_NEST + 1)

/*
 * pidmap: one bit per pid (host tgid), set while procs may hold an entry for
 * it. The fork and exit programs test it before they touch procs, so the 99%
 * of processes outside any lineage pay one array load instead of a hash
 * lookup of a cold bucket. Sized for every possible pid (PID_MAX_LIMIT on
 * 64-bit: 512 KiB). A set bit with no entry costs only a lookup; an entry
 * never lives without its bit (bits are set after the entry is written and
 * cleared only after it is deleted).
 */
#define BG_PID_LIMIT (4u * 1024 * 1024)
#define BG_PIDMAP_WORDS (BG_PID_LIMIT / 64)

/*
 * procs: one entry per tracked process, keyed by its host tgid.
 * Created by the fork program (child of a tracked process) or the enrolment
 * iterator (a process that descended from a root when it was tagged);
 * deleted by the exit program when the whole thread group is dead. The agent
 * never writes it, so the entry's existence plus start time identify the
 * process that was recorded: a reused pid never has the old entry.
 */
#define BG_PROC_ROOT 0x1    /* this process is the root of entry.tag */
#define BG_PROC_ADOPTED 0x2 /* registered by `bpfguard adopt`, not forked by the lineage */
/* Written by the enrolment iterator (or the exit hook during an enrolment):
 * the process was untracked before this tag, so a refused enrolment deletes
 * it again (bg_enroll's rollback). */
#define BG_PROC_ENROLLED 0x4

struct bg_proc {
	__u64 start;	/* task->group_leader->start_boottime, ns */
	__u32 tag;	/* innermost tag this process belongs to */
	__u32 ppid;	/* tgid of the process that forked it (or its parent at enrolment) */
	__u32 flags;	/* BG_PROC_* */
	/*
	 * Who pays for this entry: owner uid + 1 of the unprivileged tag it was
	 * recorded under (its count in `quota` was raised then and is lowered
	 * when the entry goes), 0 if nobody (a privileged tag, or a child born
	 * beyond the quota and killed at birth). Fixed at creation: a later
	 * merge or re-tag does not move the charge.
	 */
	__u32 charge;
};
_Static_assert(sizeof(struct bg_proc) == 24, "bg_proc is a pinned layout");

/*
 * tags: one record per tag id, written by the agent only. Tag ids are never
 * reused (the next id lives in the pinned meta map), so an entry that still
 * names a dead tag can never be mistaken for a member of a new one.
 */
enum bg_tag_state {
	BG_TAG_ACTIVE = 1,   /* enforcing: the root's exit kills the lineage */
	BG_TAG_MERGED = 2,   /* untagged nested tag: members count for .parent */
	BG_TAG_DETACHED = 3, /* untagged top-level tag: members are untracked */
	BG_TAG_DOOMED = 4,   /* root exited: lineage is being killed */
};

struct bg_tag {
	__u64 root_start; /* start time of the root, as in its bg_proc */
	__u32 root_pid;
	__u32 parent;	  /* enclosing tag, 0 if top level */
	__u32 state;	  /* enum bg_tag_state */
	__u32 signal;	  /* signal the lineage gets first (default SIGKILL) */
	__u64 grace_ns;	  /* then SIGKILL this long after the root's death */
	__u32 owner_uid;  /* effective uid of who tagged it (SO_PEERCRED) */
	__u32 owner_ruid; /* and their real uid */
	__u32 flags;	  /* BG_TAG_F_* */
	__u32 max_procs;  /* --max-procs: live processes the lineage may hold, 0: no limit */
};
_Static_assert(sizeof(struct bg_tag) == 48, "bg_tag is a pinned layout");

/*
 * acct: tag id -> what its lineage (the tag and the tags nested in it) did
 * since the tag was made. Created zeroed by the agent before the tag
 * enrols anything, deleted with the tag's record; in between only the BPF
 * programs write it, with atomic adds: a fork into the lineage, an exit
 * from it, a process moved in or out (a nested tag made, a release) walk
 * the chain of live tags from the process's own up. A tag made around
 * existing nested tags counts their members as its enrolment's first pass
 * finds them (those reparented away from below the root are not found).
 */
struct bg_acct {
	__u64 born;   /* processes forked into the lineage */
	__u64 exited; /* members whose thread group ended */
	__u64 live;   /* members alive now */
	__u64 peak;   /* the most live at once (a child killed at birth for
		       * --max-procs excluded) */
	__u64 cpu_ns; /* CPU time of the exited members, all their threads */
};
_Static_assert(sizeof(struct bg_acct) == 40, "bg_acct is a pinned layout");

/*
 * Tagged by root (or a holder of CAP_KILL + CAP_BPF): the root's death kills
 * every descendant. Without it the kill(2) rule applies at kill time: only
 * descendants whose real or saved uid is the owner's real or effective uid
 * are signalled; the others (e.g. one that ran a setuid-root binary) are
 * reported, not killed.
 */
#define BG_TAG_F_PRIV 0x1
/*
 * Made with --allow-breakaway: `bpfguard release` (and `exec --breakaway`)
 * may take a member and its descendants out of the lineage for any caller
 * who may signal that member, not only for the owner from outside.
 */
#define BG_TAG_F_BREAKAWAY 0x2
/*
 * The record of a release: DETACHED from its making, rooted at the process
 * that left, it holds that process and its descendants, which resolve to no
 * tag (untracked, as after an untag) while their entries live.
 */
#define BG_TAG_F_RELEASE 0x4

/* Longest --grace accepted. */
#define BG_GRACE_MAX_NS (3600ull * 1000000000ull)

/*
 * A tagged root's thread group died. Kept in the pinned `deaths` map (key:
 * tag id) until the agent has killed the lineage, so neither a full ring nor
 * a stopped agent loses a kill; its ts (CLOCK_MONOTONIC) anchors the grace
 * deadline across agent restarts.
 */
struct bg_death {
	__u64 ts;	/* bpf_ktime_get_ns() at the exit hook (or the kill request) */
	__u32 tag;
	__u32 root_pid;
	__u32 status;	/* the root's wait(2) status, once BG_DEATH_ROOT_EXITED */
	__u32 flags;	/* BG_DEATH_* */
};
_Static_assert(sizeof(struct bg_death) == 24, "bg_death is a pinned layout");

/* The root has exited; .status is its wait(2) status (the exit program). */
#define BG_DEATH_ROOT_EXITED 0x1
/* Recorded by the agent for `bpfguard kill`, the root still alive then. */
#define BG_DEATH_REQUESTED 0x2

/*
 * ended: tag id -> how its lineage ended, written by the agent when the
 * last member is gone, just before the tag's record goes; an LRU map, so
 * the oldest outcomes make room. It is what `bpfguard wait` answers a
 * waiter that comes back after the agent restarted, and one that asks by
 * tag id after the end.
 */
struct bg_ended {
	__u64 ts;	  /* CLOCK_MONOTONIC ns: the lineage found empty */
	__u32 status;	  /* as bg_death.status */
	__u32 flags;	  /* BG_DEATH_*; BG_ENDED_UNTAGGED */
	__u32 owner_uid;  /* the tag's owner (who may see it) */
	__u32 tag_flags;  /* its BG_TAG_F_* */
};
_Static_assert(sizeof(struct bg_ended) == 24, "bg_ended is a pinned layout");

/* The tag was untagged before its lineage died: nobody waits on it now. */
#define BG_ENDED_UNTAGGED 0x100
#define BG_ENDED_MAX 4096

/* Ring-buffer records: wake-ups for the agent. */
enum bg_event_type {
	BG_EV_DEATH = 1, /* a tagged root died (also in `deaths`) */
	BG_EV_BIRTH = 2, /* a process was born into a lineage being killed */
	BG_EV_LIMIT = 3, /* a process was born beyond its owner's quota */
	BG_EV_MAX_PROCS = 4, /* a process was born beyond its lineage's --max-procs */
};

struct bg_event {
	__u64 ts;	/* bpf_ktime_get_ns(); LIMIT: the newborn's start time (its identity) */
	__u32 type;	/* enum bg_event_type */
	__u32 tag;	/* DEATH, BIRTH: the dead root's tag; LIMIT: the newborn's */
	__u32 pid;	/* DEATH: the root; BIRTH, LIMIT: the newborn */
	__u32 uid;	/* LIMIT: the owner whose quota was reached; else 0 */
};
_Static_assert(sizeof(struct bg_event) == 24, "bg_event is a wire layout");

/* A live (or dying) member of a lineage, as the bg_members iterator reports it. */
struct bg_member {
	__u64 start;
	__u32 pid;
	__u32 flags; /* BG_MEMBER_* */
	char comm[16]; /* task->comm when listed (a dying one has no /proc left) */
};
/* Members the syscall sweep lists per run (in its .bss, 8 KiB). */
#define BG_SWEEP_OUT 256
/* The tag's owner may not signal it (kill(2) rule): report, do not kill. */
#define BG_MEMBER_REFUSED 0x1
/* The iterator sent it sweep_sig itself (bpf_send_signal_task)... */
#define BG_MEMBER_SIGNALLED 0x2
/* ...or tried and the kernel refused: the agent sends it through a pidfd. */
#define BG_MEMBER_SIGNAL_FAILED 0x4
/* Its every thread is exiting (its entry is still there): not signalled,
 * watched until it is gone, since it still holds memory and files. */
#define BG_MEMBER_DYING 0x8
_Static_assert(sizeof(struct bg_member) == 32, "bg_member is a wire layout");

/* Per-CPU counters in the pinned `stats` map. BPF-owned first. */
enum bg_stat {
	BG_STAT_FORK_TRACKED,	/* children recorded by the fork program */
	BG_STAT_EXIT_TRACKED,	/* tracked thread groups that died */
	BG_STAT_ROOT_EXIT,	/* tagged roots that died */
	BG_STAT_PROCS_FULL,	/* a process could not be recorded: map full */
	BG_STAT_DEATHS_FULL,	/* a root death could not be recorded in `deaths` */
	BG_STAT_RINGBUF_DROP,	/* ring buffer full: the agent finds it in `deaths` */
	BG_STAT_ENROLLED,	/* processes enrolled by the iterator */
	BG_STAT_KERNEL_KILLS,	/* signals queued in-kernel (--mode kernel) */
	BG_STAT_KERNEL_KILL_FAILED, /* in-kernel signal refused (-EBUSY...) */
	BG_STAT_LIMIT_KILLS,	/* children born beyond an owner's quota: killed at birth */
	/* agent-owned counters, written into CPU 0's slot by the agent only */
	BG_STAT_KILLS,		/* SIGKILLs delivered to descendants */
	BG_STAT_KILL_SKIPPED,	/* candidates skipped: identity no longer matched */
	BG_STAT_KILL_FAILED,	/* pidfd_open/pidfd_send_signal failed */
	BG_STAT_SELF_SPARED,	/* the agent found itself in a doomed lineage */
	BG_STAT_KILL_REFUSED,	/* descendants an unprivileged tag's owner may not signal */
	BG_STAT_KILLS_STUCK,	/* members still alive REAPER_STUCK_NS after SIGKILL */
	BG_STAT_MAX,
};

/*
 * quota: owner uid -> its charged procs entries (__u64), and under
 * BG_QUOTA_TOTAL ((uid_t)-1 is no one's uid) the sum over every unprivileged
 * owner. Only the agent creates keys (at load, and before it writes an
 * unprivileged owner's first tag record); the BPF programs only add to and
 * subtract from them, atomically, and a fork finding no key for its owner is
 * treated as beyond the quota (fail closed). Sized max_tags + 1: every owner
 * with a live count held a tag; the agent drops keys of count 0 whose owner
 * holds no tag record when it needs room.
 */
#define BG_QUOTA_TOTAL 0xffffffffu

/* Index 0 of the `meta` array map: agent-owned persistent state. */
struct bg_meta {
	__u32 format;	/* BG_FORMAT of whoever created the pins */
	__u32 next_tag;	/* next tag id to hand out (ids start at 1) */
	__u32 max_procs;
	__u32 max_tags;
};
_Static_assert(sizeof(struct bg_meta) == 16, "bg_meta is a pinned layout");

#endif /* BPFGUARD_H */
