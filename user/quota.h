/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Quotas of unprivileged owners: how many processes and tags one owner uid,
 * and all of them together, may hold (README, "Quotas"). The process quota is
 * enforced by the BPF programs (bpf/bpfguard.bpf.c, the `quota` map), the tag
 * quota by the agent; this module holds the numbers and the tag rule.
 */
#ifndef BG_QUOTA_H
#define BG_QUOTA_H

#include <stddef.h>
#include <stdint.h>

struct tag_table;

struct quota_cfg {
	uint32_t user_procs;   /* per unprivileged owner uid (--user-max-procs) */
	uint32_t unpriv_procs; /* all unprivileged owners together */
	uint32_t user_tags;    /* per unprivileged owner uid (--user-max-tags) */
	uint32_t unpriv_tags;
};

/* The quotas for maps of @max_procs and @max_tags entries; @want_procs and
 * @want_tags are the flags, 0 when not given (the defaults). */
void quota_resolve(struct quota_cfg *q, uint32_t max_procs, uint32_t max_tags,
		   uint32_t want_procs, uint32_t want_tags);

/* Tag records of unprivileged owners that hold a place (any state but
 * DETACHED, which is dropped at once): @uid's in *own, everyone's in *all. */
void quota_count_tags(const struct tag_table *tt, uint32_t uid, uint32_t *own, uint32_t *all);

enum quota_verdict {
	QUOTA_OK,
	QUOTA_USER,  /* the owner's own quota */
	QUOTA_SHARE, /* the unprivileged share of the map */
};

/* May an unprivileged owner that holds @own, when unprivileged owners hold
 * @all, make one more? (@limit_own, @limit_all: the quotas.) */
enum quota_verdict quota_check(uint32_t own, uint32_t all, uint32_t limit_own, uint32_t limit_all);

/* One line for a refused tag (@procs false) or enrolment (@procs true) of
 * @uid: which quota, and the flag that sets it. */
void quota_msg(char *buf, size_t len, enum quota_verdict v, const struct quota_cfg *q,
	       uint32_t uid, int procs);

#endif /* BG_QUOTA_H */
