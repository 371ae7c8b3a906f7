/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The figures of `status` that cost a walk of the maps (active tags, and
 * tracked descendants: every bucket of `procs`), kept between requests.
 * Pure logic: time (CLOCK_MONOTONIC ns) and the signature passed in.
 *
 * The signature is what changes whenever `procs` does behind the agent's
 * back: the BPF counters of recorded forks, tracked exits and enrolments.
 * The agent's own changes to tags and entries (tag, untag, adopt, a death
 * handled) call sc_invalidate(). So a figure whose signature still matches
 * is exact; it is reused for at most SC_MAX_AGE_NS all the same, in case a
 * change escaped both. An exact answer (a privileged caller) needs the
 * signature to match; any other (unprivileged callers, /metrics) takes a
 * figure up to SC_MAX_AGE_NS old: the walk then runs at most once in that
 * time, however many ask.
 */
#ifndef BG_STATCACHE_H
#define BG_STATCACHE_H

#include <stdbool.h>
#include <stdint.h>

#define SC_MAX_AGE_NS 1000000000ull
#define SC_SIG_N 3

/* The same figures for one unprivileged owner: what its own status shows. */
struct sc_owner {
	uint32_t uid, tags, tracked;
};

struct stat_cache {
	bool valid;
	uint64_t at;
	uint64_t sig[SC_SIG_N];
	uint32_t tags, tracked;
	struct sc_owner *own; /* built by the same walk (sc_owner_add) */
	size_t nown, owncap;
};

void sc_invalidate(struct stat_cache *c);
/* May the figures stored be answered at @now, for the state @sig? */
bool sc_fresh(const struct stat_cache *c, const uint64_t sig[SC_SIG_N], uint64_t now,
	      bool exact);
void sc_store(struct stat_cache *c, const uint64_t sig[SC_SIG_N], uint64_t now, uint32_t tags,
	      uint32_t tracked);

/* Start the owners' table anew, for a walk. */
void sc_owner_reset(struct stat_cache *c);
/* Add @tags tags and @tracked descendants to @uid's figures. 0 or -ENOMEM. */
int sc_owner_add(struct stat_cache *c, uint32_t uid, uint32_t tags, uint32_t tracked);
/* @uid's figures, or NULL: it owns no active unprivileged tag. */
const struct sc_owner *sc_owner_find(const struct stat_cache *c, uint32_t uid);
void sc_free(struct stat_cache *c);

#endif /* BG_STATCACHE_H */
