/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Limits on what unprivileged control clients may cost the agent, and on
 * how many refusal lines reach the log. Pure logic: the time (CLOCK_MONOTONIC
 * ns) is passed in, nothing here does I/O. Privileged callers are never
 * counted: the agent does not call this for them.
 *
 * - Connections: at most RL_CONNS_PER_UID open at once per uid, and all the
 *   unprivileged ones together within the pool given to rl_init() (the
 *   agent keeps the rest of its client slots for privileged callers).
 * - Requests: a token bucket per uid, RL_RATE a second, bursts of RL_BURST
 *   (kept as a theoretical arrival time: no floating point, no refill loop).
 * - Uids are remembered in a table of RL_MAX_UIDS; an entry is reused once
 *   its uid has no connection left and a full bucket (at most
 *   RL_BURST / RL_RATE seconds after its last request). With the table full
 *   of busy uids a new uid is refused until one is idle.
 * - Log lines: at most RL_LOG_LINES per RL_LOG_INTERVAL_NS; the caller is
 *   told how many it left out so that it can say so in one line.
 */
#ifndef BG_RATELIMIT_H
#define BG_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define RL_CONNS_PER_UID 8
#define RL_RATE 20  /* requests a second, per uid, sustained */
#define RL_BURST 40 /* requests at once, per uid, after a quiet spell */
#define RL_MAX_UIDS 64
#define RL_LOG_LINES 10
#define RL_LOG_INTERVAL_NS 1000000000ull

struct rl_uid {
	uint32_t uid;
	uint32_t conns;
	uint64_t tat; /* the bucket is full from this time on */
	bool used;
};

struct ratelimit {
	struct rl_uid u[RL_MAX_UIDS];
	uint32_t conns, pool; /* unprivileged connections open, and allowed */
};

struct rl_log {
	uint64_t start;	     /* of the current interval */
	uint32_t n;	     /* lines allowed in it */
	uint64_t suppressed; /* lines left out since the last flush */
};

void rl_init(struct ratelimit *r, uint32_t pool);
/* A connection from unprivileged @uid: 0 (counted until rl_disconnect) or
 * -EBUSY (its uid, or all unprivileged uids together, have too many). */
int rl_connect(struct ratelimit *r, uint32_t uid, uint64_t now);
void rl_disconnect(struct ratelimit *r, uint32_t uid);
/* A request from unprivileged @uid: true if a token was left (and taken). */
bool rl_request(struct ratelimit *r, uint32_t uid, uint64_t now);

/* May a line be logged now? Counts it as suppressed if not. */
bool rl_log_allow(struct rl_log *l, uint64_t now);
/* Once the interval is over: how many lines were left out (0 if none, or
 * if the interval is still running), and a new interval begins. Call it
 * before rl_log_allow, and now and then. */
uint64_t rl_log_flush(struct rl_log *l, uint64_t now);

#endif /* BG_RATELIMIT_H */
