/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Pending kills: the lineages the agent has signalled and is watching die.
 *
 * The agent never waits for a victim. A sweep signals a lineage and records
 * the pidfds of the members it signalled here; the pidfds sit in the
 * reaper's own epoll set (itself in the agent's), so a death wakes the loop,
 * which sweeps the lineage again once all of them are dead (a child forked
 * during the kill is found then), or at the next tick while some live on.
 * A member still alive REAPER_STUCK_NS after its first SIGKILL is reported
 * once (uninterruptible sleep: an unanswered FUSE request...) and watched,
 * and signalled again each tick, until it dies.
 */
#ifndef BG_REAPER_H
#define BG_REAPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Alive this long after SIGKILL: a stuck member (reported once). */
#define REAPER_STUCK_NS (2ull * 1000000000ull)

struct pk_member {
	uint32_t pid;
	uint64_t start;	    /* its bg_proc start time: identity across sweeps */
	int fd;		    /* pidfd, readable once it died; -1: seen dead, or unwatched */
	bool unwatched;	    /* signalled, alive at the sweep, without a pidfd (none
			     * could be opened): live until a sweep misses it */
	uint64_t first_sig; /* CLOCK_MONOTONIC ns of its first SIGKILL */
	bool stuck;	    /* reported as stuck */
	char comm[16];
};

/* One lineage being killed. */
struct pkill {
	uint32_t tag;
	struct pk_member *m;
	size_t n, cap;
	uint64_t kills;	     /* first signals sent (re-signals not counted) */
	int sweeps;
	int fresh_sweeps;    /* ... of them, those that found members not signalled before */
	int idle;	     /* sweeps in a row that could signal nobody */
	uint64_t last_sweep; /* CLOCK_MONOTONIC ns */
	size_t live;	     /* members whose pidfd did not report death */
	size_t unwatched;    /* ... of them, those with no pidfd (live until a sweep misses them) */
	int polls;	     /* sweeps in a row that left unwatched members */
};

struct reaper {
	struct pkill *k;
	size_t n, cap;
	int ep_fd; /* pidfds of every pending kill; -1 until reaper_open */
};

void reaper_init(struct reaper *r);
/* Create the epoll set of pidfds. Returns its fd (for the agent's own
 * epoll set) or -errno. */
int reaper_open(struct reaper *r);
void reaper_close(struct reaper *r);

struct pkill *reaper_find(struct reaper *r, uint32_t tag);
/* The record of @tag, made if missing (NULL: out of memory). Pointers
 * returned earlier may move. */
struct pkill *reaper_get(struct reaper *r, uint32_t tag);
/* Forget @tag's record, closing its pidfds. */
void reaper_drop(struct reaper *r, uint32_t tag);

/* A member of @k, by identity, or NULL. */
struct pk_member *pk_find(struct pkill *k, uint32_t pid, uint64_t start);
/* Add a member signalled at @now (its pidfd @fd is owned by @k from now on:
 * closed on failure too). The identity's first_sig and stuck carry over
 * from @old if it was a member there. Returns 0 or -ENOMEM. */
int pk_add(struct reaper *r, struct pkill *k, const struct pk_member *m, const struct pkill *old);
/* Close and forget every member (the record stays). */
void pk_clear(struct pkill *k);
/* Close the pidfds that report death; k->live = members still alive. */
void pk_reap(struct pkill *k);
/* Is a member @k watches still not gone (its pidfd silent)? Reaps first. */
bool pk_exiting(struct pkill *k);
/* Reap every record. */
void reaper_reap(struct reaper *r);
/* The next live member of @k not yet reported and alive REAPER_STUCK_NS
 * after its first signal, from *@i on (it is marked stuck); NULL if none. */
struct pk_member *pk_next_stuck(struct pkill *k, size_t *i, uint64_t now);

#endif /* BG_REAPER_H */
