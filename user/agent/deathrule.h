/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What a recorded death leads to, and when a pending kill sweeps again:
 * pure rules, deaths.c and kill.c act on them.
 */
#ifndef BG_AGENT_DEATHRULE_H
#define BG_AGENT_DEATHRULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Without events the agent wakes this often to retry unfinished kills. */
#define TICK_MS 1000
#define TICK_NS (TICK_MS * 1000000ull)
/*
 * Work per wake-up of the kill path, so that clients and other deaths are
 * served between the sweeps of a large burst: at most this many sweeps (and
 * once this many members were signalled, no further sweep), and this many
 * deaths looked at, round-robin from where the last wake-up stopped.
 */
#define SWEEP_BUDGET 32
#define SWEEP_MEMBER_BUDGET 4096
#define DEATH_CHUNK 256
/* How often a grace looks whether its lineage is empty already (a poll of
 * the signalled members' pidfds): `kill --grace --wait` returns once the
 * lineage obeyed the signal, not at the deadline. */
#define GRACE_WATCH_NS (50 * 1000000ull)

/* The kill path's work in one wake-up: so that clients and other deaths
 * are served between the sweeps of a large burst. */
struct sweep_budget {
	int sweeps;	/* sweeps left */
	size_t members; /* members listed so far */
};

static inline bool budget_left(const struct sweep_budget *b)
{
	return b->sweeps > 0 && b->members < SWEEP_MEMBER_BUDGET;
}

enum death_step {
	DS_BUDGET,	/* it needs a sweep now and this wake-up has none left */
	DS_GRACE_START, /* signal the lineage now, SIGKILL at the deadline */
	DS_GRACE_WAIT,	/* signalled already: look again (at the deadline at last) */
	DS_SIGNAL_KILL, /* a signal without grace: it first, the kill step after */
	DS_KILL,	/* the kill step: SIGKILL sweeps until the lineage is empty */
	DS_DONE,	/* no tag record: nothing to kill, the death goes */
};

struct death_facts {
	bool tagged;	   /* the tag's record is there */
	uint32_t signal;   /* the tag's signal */
	uint64_t grace_ns; /* and grace */
	uint64_t death_ts; /* the root's exit, CLOCK_MONOTONIC ns (0: unknown) */
	bool in_grace;	   /* this agent signalled it already */
	bool grace_empty;  /* ...and nothing of the lineage is left since */
	bool budget_left;  /* a sweep is left in this wake-up */
	uint64_t now;
};

/* The next step for a death; *deadline: when its grace ends. */
enum death_step death_step(const struct death_facts *f, uint64_t *deadline);

/* What the kill step's result @err makes of the death. */
enum death_outcome {
	DO_KEPT,   /* being killed: looked at again */
	DO_BUDGET, /* its sweep waits for the next wake-up */
	DO_RETRY,  /* the sweep failed: again at the next tick */
	DO_DONE,   /* the lineage is empty: its tag and death go */
};

enum death_outcome death_outcome(int err);

/* The first re-sweep for members no pidfd watches, and the tick it doubles up to. */
#define UNWATCHED_PACE_NS (10 * 1000000ull)

/*
 * How long a pending kill waits between sweeps while members live on: a
 * tick when pidfds watch them all (their deaths wake the loop; the tick
 * only backs them up); while @unwatched live with no pidfd (pidfd_open
 * refused: the agent at its descriptor limit, or under a valgrind without
 * it), only a sweep tells that they died: 10 ms, doubled for each of the
 * @polls sweeps in a row that left such members, up to a tick (a member
 * stuck in D state costs a sweep per second, not a busy loop).
 */
uint64_t kill_pace(size_t unwatched, int polls);
/*
 * Should a pending kill (@live members not yet dead, @idle sweeps in a row
 * that could watch nobody, last swept at @last_sweep) wait before its next
 * sweep? While some live on, it sweeps once per @pace (kill_pace); after
 * two idle sweeps, once per tick. Lowers *next to when it is due, if it
 * waits.
 */
bool kill_waits(size_t live, int idle, uint64_t last_sweep, uint64_t pace, uint64_t now,
		uint64_t *next);
/* After a sweep: when to look again. All signalled ones dead already (or
 * none watchable yet): at once; otherwise after @pace; after two idle
 * sweeps, at the next tick. */
uint64_t kill_again(size_t live, int idle, uint64_t pace, uint64_t now);

#endif /* BG_AGENT_DEATHRULE_H */
