// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `bpfguard adopt`: a process joins a lineage it was not born into. */
#include <errno.h>
#include <sys/pidfd.h>

#include "agent_priv.h"
#include "log.h"
#include "parse.h"

/*
 * `bpfguard adopt ROOT PID`: PID (and what it forks from now on) joins the
 * lineage of ROOT's innermost active tag, although ROOT did not fork it. The
 * exact start time is read by the enrolment iterator in its adopt mode, as
 * for tagged processes. PID's existing children are not included.
 */
bool op_adopt(struct agent *a, struct request *rq)
{
	const struct bg_req *req = rq->req;
	const struct caller *c = rq->c;
	const int *pidfd = rq->pidfd;
	const struct bg_tag *tt_owner;
	struct az_target tf;
	struct bg_proc e;
	uint32_t tag, cur, charge;
	size_t len = 0;
	bool over;
	pid_t root, pid;
	int err;

	root = request_target(a, rq, req->pid, pidfd[0], &tf);
	if (root < 0 || refuse(a, rq, az_check(AZ_ADOPT, c, &tf, NULL), pidfd[0], req->pid, 0, NULL))
		return false;
	pid = request_target(a, rq, req->pid2, pidfd[1], &tf);
	if (pid < 0 || refuse(a, rq, az_check(AZ_ADOPT, c, &tf, NULL), pidfd[1], req->pid2, 0, NULL))
		return false;
	if (!read_tags(a, rq))
		return false;
	if (store_proc(&a->st, root, &e) || !entry_is_process(&e, root) ||
	    !(tag = tt_resolve(&a->tt, e.tag)) || tt_find(&a->tt, tag)->state != BG_TAG_ACTIVE) {
		reply(a, rq, ENOENT, NULL, 0, "pid %d is not in a tagged lineage", req->pid);
		return false;
	}
	if (!store_proc(&a->st, pid, &e) && entry_is_process(&e, pid) &&
	    (cur = tt_resolve(&a->tt, e.tag))) {
		if (tt_within(&a->tt, cur, tag)) {
			reply(a, rq, 0, NULL, 0, "pid %d is already in tag %u's lineage",
				     req->pid2, tag);
		} else {
			reply(a, rq, EEXIST, NULL, 0, "pid %d already belongs to tag %u",
				     req->pid2, cur);
		}
		return false;
	}
	tt_owner = tt_find(&a->tt, tag);
	charge = tt_owner && !(tt_owner->flags & BG_TAG_F_PRIV) ? tt_owner->owner_uid + 1 : 0;
	/* the tag's owner pays */
	err = loader_adopt(&a->st.l, tag, (uint32_t)pid, charge, &over, &len);
	if (!err && over) {
		quota_refusal(a, rq, quota_procs_verdict(a, charge - 1), charge - 1, true);
		return false;
	}
	if (!err && len)
		err = -ENOSPC; /* the iterator writes only a map-full marker */
	if (!err && (store_proc(&a->st, pid, &e) || e.tag != tag))
		err = pidfd_exited(pidfd[1]) ? -ESRCH : -EIO;
	if (err) {
		reply(a, rq, -err, NULL, 0, err == -ENOSPC ? "procs map full (%u processes): "
			     "raise --max-procs" : "cannot adopt pid %d%.0u",
			     err == -ENOSPC ? a->st.l.max_procs : (uint32_t)req->pid2, 0u);
		return false;
	}
	log_info("adopted pid %d into tag %u (root pid %d) for uid %u", pid, tag, root, c->uid);
	if (events_active(&a->ev)) {
		struct ev e = { .type = EV_ADOPT, .tag = tag, .pid = (uint32_t)pid,
				.pid2 = (uint32_t)root, .uid = c->uid };
		char comm[16];

		read_comm((uint32_t)pid, comm);
		e.comm = comm;
		e.nspid = ns_pid_of((uint32_t)pid);
		events_emit(&a->ev, &e, audience(tt_find(&a->tt, tag)));
	}
	reply(a, rq, 0, NULL, 0, "adopted %d into tag %u", req->pid2, tag);
	return false;
}
