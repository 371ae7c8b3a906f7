// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `bpfguard untag`: the tag ends, its lineage merges into the enclosing one. */
#include <errno.h>

#include "agent_priv.h"
#include "log.h"

bool op_untag(struct agent *a, struct request *rq)
{
	const struct bg_req *req = rq->req;
	const struct caller *c = rq->c;
	int pidfd = rq->pidfd[0];
	struct az_target tf;
	struct bg_proc e;
	struct az_tag at;
	struct bg_tag *t, was;
	uint32_t cur, into;
	pid_t pid;

	pid = request_target_tags(a, rq, req->pid, pidfd, &tf);
	if (pid < 0)
		return false;
	if (store_proc(&a->st, pid, &e) || !(e.flags & BG_PROC_ROOT) ||
	    (cur = tt_resolve(&a->tt, e.tag)) != e.tag || !(t = tt_find(&a->tt, cur)) ||
	    t->root_pid != (uint32_t)pid || t->state != BG_TAG_ACTIVE) {
		/* whether a process is tagged is not told to who may not signal it */
		if (!refuse(a, rq, az_check(AZ_TAG, c, &tf, NULL), pidfd, req->pid, 0, NULL))
			reply(a, rq, ENOENT, NULL, 0, "pid %d is not tagged", req->pid);
		return false;
	}
	at = tag_facts(a, c, cur, t);
	if (refuse(a, rq, az_check(AZ_UNTAG, c, &tf, &at), pidfd, req->pid, cur, t))
		return false;
	/* Members of a nested tag now count for the enclosing one; members of
	 * a top-level tag stop being tracked (their entries go at their exit). */
	into = tt_parent(&a->tt, cur);
	was = *t; /* end_tag reloads the table */
	if (end_tag(a, cur)) {
		reply(a, rq, EIO, NULL, 0, "cannot write the tag record");
		return false;
	}
	job_ended(a, cur, &was, NULL, BG_ENDED_UNTAGGED);
	log_info("untagged pid %d (tag %u) for uid %u", pid, cur, c->uid);
	events_emit(&a->ev, &(struct ev){ .type = EV_UNTAG, .tag = cur, .pid = (uint32_t)pid,
					  .uid = c->uid, .parent_tag = into },
		    audience(&was));
	reply(a, rq, 0, NULL, 0, "untagged %d", req->pid);
	return false;
}
