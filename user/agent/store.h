/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's side of the BPF maps: every bpf_map_* call of the agent is
 * made here, so that the rest of user/agent/ reads as rules over tags,
 * entries and deaths. The requests that go through the programs' globals
 * are loader.c's (loader_enrol, loader_adopt, loader_unenrol, loader_sweep),
 * on the loader kept here (st.l).
 */
#ifndef BG_AGENT_STORE_H
#define BG_AGENT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpfguard.h"
#include "lineage.h"
#include "loader.h"

struct store {
	struct loader l;
	int procs_fd, tags_fd, deaths_fd, stats_fd, meta_fd, quota_fd, events_fd, ended_fd, acct_fd;
	int ncpus;
	/* store_scan_procs's batch, allocated at its first call */
	uint32_t *scan_keys;
	struct bg_proc *scan_vals;
};

/* After loader_load: the maps' fds. Returns 0 or -errno. */
int store_open(struct store *s);
/* Leave everything pinned, free memory (loader_close). */
void store_close(struct store *s);

/* The tags map into @tt (tt_reset first). Returns 0 or -errno. */
int store_load_tags(struct store *s, struct tag_table *tt);
int store_put_tag(struct store *s, uint32_t id, const struct bg_tag *t);
/* Returns 0 or -errno (-ENOENT: there was no such record). Its
 * accounting goes with it. */
int store_del_tag(struct store *s, uint32_t id);
/* A zeroed accounting record for new tag @id (bg_acct), before it enrols
 * anything; @id's as it is now. Return 0 or -errno. */
int store_acct_create(struct store *s, uint32_t id);
int store_acct(struct store *s, uint32_t id, struct bg_acct *out);

typedef int (*proc_cb)(void *ctx, uint32_t pid, const struct bg_proc *p);
/* Visit every entry of `procs`; stops at the first non-zero @cb return,
 * which it returns. Entries change underneath: callers re-check what they
 * act on. */
int store_scan_procs(struct store *s, proc_cb cb, void *ctx);
/* @pid's entry. Returns 0, or -ENOENT if it has none. */
int store_proc(struct store *s, uint32_t pid, struct bg_proc *e);

/* Agent-owned counter @idx += @n; counter @idx summed over the CPUs (0
 * if it cannot be read); the first @n counters. */
void store_stat_add(struct store *s, uint32_t idx, uint64_t n);
uint64_t store_stat_total(struct store *s, uint32_t idx);
void store_stats_sum(struct store *s, uint64_t *out, int n);

/* What is charged to @uid now (BG_QUOTA_TOTAL: every unprivileged owner). */
uint64_t store_quota_used(struct store *s, uint32_t uid);
/* @uid's key, created if missing. Returns 0 or -errno (-E2BIG: map full). */
int store_quota_create(struct store *s, uint32_t uid);
/* Up to @max keys of the quota map that @pick accepts, into @keys.
 * Returns how many. */
size_t store_quota_select(struct store *s, bool (*pick)(void *ctx, uint32_t uid), void *ctx,
			  uint32_t *keys, size_t max);
/* Returns 0 or -errno. */
int store_quota_del(struct store *s, uint32_t uid);

/* The recorded death of @tag. Returns 0, or -ENOENT if none. */
int store_death(struct store *s, uint32_t tag, struct bg_death *d);
/* The deaths map's key after @prev (NULL: its first). Returns 0, or
 * -ENOENT at the end. */
int store_death_next(struct store *s, const uint32_t *prev, uint32_t *key);
/* Record @d unless a death of @tag is recorded already. Returns 0 or
 * -errno (-EEXIST: one is). */
int store_death_add(struct store *s, uint32_t tag, const struct bg_death *d);
void store_death_del(struct store *s, uint32_t tag);

/* How @tag's lineage ended (the LRU `ended` map), kept for its waiters. */
void store_put_ended(struct store *s, uint32_t tag, const struct bg_ended *e);
/* Returns 0, or -ENOENT if no outcome of @tag is kept. */
int store_ended(struct store *s, uint32_t tag, struct bg_ended *e);
/* A new tag id from the meta map. Returns 0, -ENOENT if the map cannot be
 * read, -EIO if no id could be allocated. */
int store_new_tag_id(struct store *s, uint32_t *id);

#endif /* BG_AGENT_STORE_H */
