// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `bpfguard release`: a member of a lineage and its descendants, present and
 * future, leave it. The enrolment that makes a tag moves them into a record
 * of their own (BG_TAG_F_RELEASE) that is DETACHED from the start: from the
 * first entry it moves, that process resolves to no tag, so what it forks is
 * not recorded, and the passes of the enrolment find what it forked before.
 * Tags nested below the process hang from that record afterwards: they go
 * on, at the top level.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_priv.h"
#include "log.h"

/* May the caller take @pid out of @cur and every tag enclosing it? A
 * release from a nested tag leaves the enclosing ones too. Replies if not. */
static bool may_release(struct agent *a, struct request *rq, const struct az_target *tf,
			uint32_t cur)
{
	uint32_t id = cur;

	for (int i = 0; id && i <= BG_MAX_NEST; i++) {
		struct bg_tag *t = tt_find(&a->tt, id);
		struct az_tag at = tag_facts(a, rq->c, id, t);

		if (refuse(a, rq, az_check(AZ_RELEASE, rq->c, tf, &at), rq->pidfd[0], rq->req->pid,
			   id, t))
			return false;
		/* a kill under way takes what the lineage holds: nothing leaves it */
		if (t && t->state == BG_TAG_DOOMED) {
			reply(a, rq, EBUSY, NULL, 0, "tag %u is being killed: pid %d cannot leave it now",
			      id, rq->req->pid);
			return false;
		}
		id = tt_parent(&a->tt, id);
	}
	return true;
}

/* The release's record, detached before anything moves into it. */
static bool new_release(struct agent *a, struct request *rq, pid_t pid, uint32_t cur,
			uint32_t *id, struct bg_tag *t)
{
	int err = store_new_tag_id(&a->st, id);

	if (err) {
		reply(a, rq, EIO, NULL, 0, "cannot allocate a tag id");
		return false;
	}
	*t = (struct bg_tag){
		.root_pid = (uint32_t)pid,
		.parent = cur,
		.state = BG_TAG_DETACHED,
		.owner_uid = rq->c->uid,
		.owner_ruid = rq->c->ruid,
		.flags = BG_TAG_F_RELEASE | (rq->c->priv ? BG_TAG_F_PRIV : 0),
	};
	err = store_put_tag(&a->st, *id, t);
	if (err == -E2BIG && gc_tags(a))
		err = store_put_tag(&a->st, *id, t);
	if (err) {
		reply(a, rq, err == -E2BIG ? ENOSPC : -err, NULL, 0,
		      err == -E2BIG ? "tags map full: raise --max-tags" : "cannot write the tag record");
		return false;
	}
	return true;
}

/* Tags found below the released process now hang from its record. */
static int reparent_found(struct agent *a, uint32_t cur, uint32_t id, uint32_t *found, size_t n)
{
	if (store_load_tags(&a->st, &a->tt))
		return 0;
	for (size_t i = 0; i < n; i++)
		found[i] = tt_reparent_target(&a->tt, found[i], cur, id);
	return hang_tags_from(a, found, n, id);
}

bool op_release(struct agent *a, struct request *rq)
{
	const struct bg_req *req = rq->req;
	const struct caller *c = rq->c;
	struct loader_enrolled res = {};
	struct az_target tf;
	struct bg_tag t, *ct, was;
	struct bg_proc e;
	uint32_t id, cur = 0;
	char comm[16] = "";
	bool full = false;
	int err, nested;
	pid_t pid;

	pid = request_target_tags(a, rq, req->pid, rq->pidfd[0], &tf);
	if (pid < 0)
		return false;
	if (!store_proc(&a->st, pid, &e) && entry_is_process(&e, pid))
		cur = tt_resolve(&a->tt, e.tag);
	ct = cur ? tt_find(&a->tt, cur) : NULL;
	if (!ct) {
		/* whether a process is tagged is not told to who may not signal it */
		if (!refuse(a, rq, az_check(AZ_TAG, c, &tf, NULL), rq->pidfd[0], req->pid, 0, NULL))
			reply(a, rq, ENOENT, NULL, 0, "pid %d is not in a tagged lineage", req->pid);
		return false;
	}
	if (!may_release(a, rq, &tf, cur))
		return false;
	was = *ct; /* the table is reloaded below */
	if (was.root_pid == (uint32_t)pid && was.root_start == e.start) {
		reply(a, rq, EINVAL, NULL, 0, "pid %d is the root of tag %u: untag it instead "
			     "(bpfguard untag)", req->pid, cur);
		return false;
	}
	if (!new_release(a, rq, pid, cur, &id, &t))
		return false;
	err = loader_enrol(&a->st.l,
			   &(struct loader_enrol_req){ .root = (uint32_t)pid, .tag = id, .parent = cur },
			   &res);
	for (size_t i = 0; i < res.n; i++)
		if (!res.found[i])
			full = true;
	if (err || full || res.unsettled) {
		const char *why = err ? strerror(-err) : full ? "procs map full"
							 : "forks outran the enrolment";

		/* back into the lineage: the record forwards to it */
		t.state = BG_TAG_MERGED;
		store_put_tag(&a->st, id, &t);
		log_err("release of pid %d from tag %u failed: %s", pid, cur, why);
		reply(a, rq, full ? ENOSPC : err ? EIO : EAGAIN, NULL, 0,
		      "release of pid %d failed (%s): it stays in tag %u; what it forked "
		      "meanwhile may have left", req->pid, why, cur);
		free(res.found);
		return false;
	}
	nested = reparent_found(a, cur, id, res.found, res.n);

	free(res.found);
	if (!store_proc(&a->st, pid, &e) && e.tag == id) {
		t.root_start = e.start;
		store_put_tag(&a->st, id, &t);
	}
	log_info("uid %u released pid %d from tag %u: %u process(es) left the lineage, %d "
		 "tag(s) below it now top-level", c->uid, pid, cur, res.added, nested);
	read_comm((uint32_t)pid, comm);
	events_emit(&a->ev, &(struct ev){ .type = EV_RELEASE, .tag = cur, .pid = (uint32_t)pid,
					  .uid = c->uid, .count = res.added, .total = (uint64_t)nested,
					  .comm = comm },
		    audience(&was));
	reply(a, rq, 0, NULL, 0, "released %d from tag %u (%u process(es), %d nested tag(s))",
	      req->pid, cur, res.added, nested);
	return false;
}
