// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The tag records the agent writes: an ended tag merged or gone, records
 * repaired at start, those of ended tags collected when the map is full
 * (gc.c decides which), and the quota gate of a new tag.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_priv.h"
#include "gc.h"
#include "log.h"

static int gc_mark_entry(void *ctx, uint32_t pid, const struct bg_proc *p)
{
	(void)pid;
	gc_mark(ctx, p->tag);
	return 0;
}

/* The records of ended tags nobody needs leave the tags map (gc.h says
 * which). This scans every procs entry, so it runs only when the tags map
 * is full. Returns how many records were dropped. */
size_t gc_tags(struct agent *a)
{
	struct gc g;
	uint32_t *ids;
	size_t n, dropped = 0;

	if (store_load_tags(&a->st, &a->tt) || !a->tt.n || gc_init(&g, &a->tt))
		return 0;
	ids = calloc(g.n, sizeof(*ids));
	if (!ids || store_scan_procs(&a->st, gc_mark_entry, &g)) {
		free(ids);
		gc_free(&g);
		return 0;
	}
	n = gc_collect(&g, ids);
	for (size_t i = 0; i < n; i++)
		if (!store_del_tag(&a->st, ids[i]))
			dropped++;
	free(ids);
	gc_free(&g);
	if (dropped)
		log_info("tags map full: dropped %zu record(s) of ended tags", dropped);
	return dropped;
}

/* Apply a plan's writes to the tags map, in its order (see bpfguard.h). */
static int apply_plan(struct agent *a, const struct tt_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct tt_write *w = &p->w[i];
		int err;

		if (w->del) {
			err = store_del_tag(&a->st, w->id);
			if (err == -ENOENT)
				err = 0;
		} else {
			err = store_put_tag(&a->st, w->id, &w->rec);
		}
		if (err) {
			log_err("tag %u: cannot write its record: %s", w->id, strerror(-err));
			return err;
		}
	}
	return 0;
}

/* Records forwarding twice (an agent died in the middle of end_tag's writes)
 * are repointed before anything forwards a third time. */
void repair_tags(struct agent *a)
{
	struct tt_plan p = {};

	if (store_load_tags(&a->st, &a->tt) == 0 && tt_plan_repair(&a->tt, &p) == 0 && p.n &&
	    apply_plan(a, &p) == 0)
		log_info("repointed %zu tag record(s) that forwarded through a merged tag", p.n);
	tt_plan_free(&p);
}

/*
 * The tags an enrolment found below its root (@targets: each the topmost
 * below the tag it was cut from, tt_reparent_target; 0: none) now hang from
 * tag @id. Returns how many moved.
 */
int hang_tags_from(struct agent *a, const uint32_t *targets, size_t n, uint32_t id)
{
	int moved = 0;

	for (size_t i = 0; i < n; i++) {
		struct bg_tag *tx = targets[i] ? tt_find(&a->tt, targets[i]) : NULL;

		if (tx && tx->parent != id) {
			tx->parent = id;
			store_put_tag(&a->st, targets[i], tx);
			moved++;
		}
	}
	return moved;
}

/*
 * An untagged (or never completed) tag: merged into its enclosing tag, or
 * gone at the top level; what named it is repointed (tt_plan_end). Reloads
 * a->tt: pointers into it are stale afterwards.
 */
int end_tag(struct agent *a, uint32_t id)
{
	struct tt_plan p = {};
	int err = store_load_tags(&a->st, &a->tt);

	if (!err)
		err = tt_plan_end(&a->tt, id, &p);
	if (!err)
		err = apply_plan(a, &p);
	tt_plan_free(&p);
	return err;
}

/* ---- quotas (the numbers and the tag rule: quota.c) ------------------- */

static bool holds_record(const struct agent *a, uint32_t uid, bool merged_only)
{
	for (size_t i = 0; i < a->tt.n; i++) {
		const struct bg_tag *t = &a->tt.tags[i];

		if (!(t->flags & BG_TAG_F_PRIV) && (uid == BG_QUOTA_TOTAL || t->owner_uid == uid) &&
		    (!merged_only || t->state == BG_TAG_MERGED))
			return true;
	}
	return false;
}

/*
 * Make room in the quota map: drop the keys of owners with nothing charged
 * and no tag record. Only the agent writes tag records, and the programs
 * charge an owner only for an entry under one of its tags, so nothing
 * charges such an owner until the agent writes it a record again (after
 * re-creating its key). Returns how many keys went.
 */
static bool quota_idle(void *ctx, uint32_t uid)
{
	struct agent *a = ctx;

	return uid != BG_QUOTA_TOTAL && !store_quota_used(&a->st, uid) &&
	       !holds_record(a, uid, false);
}

static size_t gc_quota(struct agent *a)
{
	uint32_t keys[256];
	size_t n, dropped = 0;

	if (store_load_tags(&a->st, &a->tt))
		return 0;
	n = store_quota_select(&a->st, quota_idle, a, keys, 256);
	for (size_t i = 0; i < n; i++)
		if (!store_quota_del(&a->st, keys[i]))
			dropped++;
	return dropped;
}

/* @uid's key in the quota map, before its first tag record: the programs
 * never create keys, and refuse a fork for an owner without one. */
static int quota_key(struct agent *a, uint32_t uid)
{
	int err = store_quota_create(&a->st, uid);

	if (err == -E2BIG && gc_quota(a))
		err = store_quota_create(&a->st, uid);
	return err;
}

void quota_refusal(struct agent *a, struct request *rq, enum quota_verdict v, uint32_t uid,
		   bool procs)
{
	char msg[200];

	quota_msg(msg, sizeof(msg), v, &a->st.l.q, uid, procs);
	a->quota_refused++;
	reply(a, rq, EDQUOT, NULL, 0, "%s", msg);
}

/*
 * An unprivileged caller's new tag: within its own tag quota and the share
 * of the tags map, with its key in the quota map. Records of merged tags
 * count (they hold a slot while a member names them): when they are what
 * refuses, those nobody names are dropped and the count taken again.
 * Replies and returns true when refused.
 */
bool quota_refuse_tag(struct agent *a, struct request *rq)
{
	const struct caller *c = rq->c;
	enum quota_verdict v;
	uint32_t own, all;

	quota_count_tags(&a->tt, c->uid, &own, &all);
	v = quota_check(own, all, a->st.l.q.user_tags, a->st.l.q.unpriv_tags);
	if (v && holds_record(a, v == QUOTA_USER ? c->uid : BG_QUOTA_TOTAL, true) &&
	    gc_tags(a) && !store_load_tags(&a->st, &a->tt)) {
		quota_count_tags(&a->tt, c->uid, &own, &all);
		v = quota_check(own, all, a->st.l.q.user_tags, a->st.l.q.unpriv_tags);
	}
	if (v) {
		quota_refusal(a, rq, v, c->uid, false);
		return true;
	}
	if (quota_key(a, c->uid)) {
		reply(a, rq, ENOSPC, NULL, 0, "quota map full (%u owners): no room for uid %u",
			     a->st.l.max_tags + 1, c->uid);
		return true;
	}
	return false;
}

/* Which process quota @uid was at, for the message (either, if neither now). */
enum quota_verdict quota_procs_verdict(struct agent *a, uint32_t uid)
{
	enum quota_verdict v = quota_check((uint32_t)store_quota_used(&a->st, uid),
					   (uint32_t)store_quota_used(&a->st, BG_QUOTA_TOTAL),
					   a->st.l.q.user_procs, a->st.l.q.unpriv_procs);

	return v ? v : QUOTA_USER;
}

/* A refused enrolment of tag @id (already ended): delete the entries it
 * wrote anew, so nothing stays half-tagged or charged. */
void unenrol(struct agent *a, uint32_t id)
{
	int err = loader_unenrol(&a->st.l, id);

	if (err)
		log_warn("tag %u: cannot undo the refused enrolment: %s", id, strerror(-err));
}
