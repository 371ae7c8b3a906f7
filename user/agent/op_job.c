// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `bpfguard kill`, `bpfguard wait` and the lineage signal: a lineage killed on request, root
 * included, through the same work list as a root's death (a death record
 * marked BG_DEATH_REQUESTED); and the wait for a lineage to be empty.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "agent_priv.h"
#include "log.h"

/*
 * The live tag (ACTIVE, or DOOMED: being killed) whose lineage @pid is in,
 * innermost first; false if none. *t: its record in a->tt.
 */
static bool lineage_of(struct agent *a, pid_t pid, uint32_t *id, struct bg_tag **t)
{
	struct bg_proc e;

	if (store_proc(&a->st, (uint32_t)pid, &e) || !entry_is_process(&e, pid))
		return false;
	*id = tt_resolve(&a->tt, e.tag);
	*t = *id ? tt_find(&a->tt, *id) : NULL;
	return *t != NULL;
}

/* Resolve the pidfd's process to its tag and check @op on it. Replies and
 * returns false when it cannot act. */
static bool target_tag(struct agent *a, struct request *rq, enum az_op op, uint32_t *id,
		       struct bg_tag **t)
{
	const struct bg_req *req = rq->req;
	int pidfd = rq->pidfd[0];
	struct az_target tf;
	struct az_tag at;
	pid_t pid;

	pid = request_target_tags(a, rq, req->pid, pidfd, &tf);
	if (pid < 0)
		return false;
	if (!lineage_of(a, pid, id, t)) {
		/* whether a process is tagged is not told to who may not signal it */
		if (!refuse(a, rq, az_check(AZ_TAG, rq->c, &tf, NULL), pidfd, req->pid, 0, NULL))
			reply(a, rq, ENOENT, NULL, 0, "pid %d is not tagged", req->pid);
		return false;
	}
	at = tag_facts(a, rq->c, *id, *t);
	return !refuse(a, rq, az_check(op, rq->c, &tf, &at), pidfd, req->pid, *id, *t);
}

/* The first answer to a waiter, and its place among them (the connection
 * is kept: true). An outcome already kept is the last answer at once. */
static bool start_wait(struct agent *a, struct request *rq, uint32_t id, const char *what)
{
	struct bg_wait w = { .tag = id };
	struct bg_ended e;
	int err;

	if (!store_ended(&a->st, id, &e)) {
		wait_answer(&e, id, &w);
		reply(a, rq, 0, &w, sizeof(w), "tag %u: %s", id,
		      (e.flags & BG_ENDED_UNTAGGED) ? "untagged" : "nothing of its lineage is left");
		return false;
	}
	err = waiters_may_add(a, rq->c);
	if (err) {
		reply(a, rq, EBUSY, NULL, 0, "too many waiters (at most %d, %d per unprivileged user)",
		      WAITERS_MAX, WAITERS_PER_UID);
		return false;
	}
	if (reply(a, rq, 0, &w, sizeof(w), "%swaiting for tag %u", what, id))
		return false;
	if (waiters_add(a, rq->fd, id, rq->c)) {
		log_warn("cannot keep a waiter of tag %u", id);
		return false;
	}
	return true;
}

bool op_kill(struct agent *a, struct request *rq)
{
	const struct bg_req *req = rq->req;
	const struct caller *c = rq->c;
	uint32_t id, sig = req->signal ? req->signal : SIGKILL;
	struct bg_tag *t, was;
	int err;

	/* The CLI validated these; a hand-made request is checked again. */
	if (req->signal > 64 || req->grace_ns > BG_GRACE_MAX_NS) {
		reply(a, rq, EINVAL, NULL, 0, "invalid signal or grace");
		return false;
	}
	if (!target_tag(a, rq, AZ_KILL, &id, &t))
		return false;
	if (t->state == BG_TAG_DOOMED) {
		if (req->flags & BG_REQ_F_WAIT)
			return start_wait(a, rq, id, "already being killed; ");
		reply(a, rq, 0, NULL, 0, "tag %u is already being killed", id);
		return false;
	}
	/* Doomed first: from now on its root's exit records no death of its
	 * own (the exit program adds its status to this one). Then the death:
	 * from then on the fork program kills newborns of the lineage. */
	was = *t;
	t->state = BG_TAG_DOOMED;
	t->signal = sig;
	t->grace_ns = req->grace_ns;
	if (store_put_tag(&a->st, id, t)) {
		*t = was;
		reply(a, rq, EIO, NULL, 0, "cannot write the tag record");
		return false;
	}
	err = store_death_add(&a->st, id, &(struct bg_death){ .ts = now_ns(), .tag = id,
							     .root_pid = t->root_pid,
							     .flags = BG_DEATH_REQUESTED });
	if (err && err != -EEXIST) { /* -EEXIST: the root died meanwhile */
		*t = was;
		store_put_tag(&a->st, id, t);
		reply(a, rq, err == -E2BIG ? ENOSPC : EIO, NULL, 0, "cannot record the kill: %s",
		      err == -E2BIG ? "deaths map full" : "map write failed");
		return false;
	}
	sc_invalidate(&a->sc);
	log_info("tag %u (root pid %u): killed on request of uid %u, SIG%s%s", id, t->root_pid,
		 c->uid, sigabbrev_np((int)sig) ? sigabbrev_np((int)sig) : "?",
		 req->grace_ns ? " then SIGKILL after the grace" : "");
	events_emit(&a->ev,
		    &(struct ev){ .type = EV_KILL_REQUEST, .tag = id, .pid = t->root_pid,
				  .uid = c->uid, .sig = (int)sig, .grace_ns = req->grace_ns },
		    audience(t));
	handle_deaths(a);
	if (req->flags & BG_REQ_F_WAIT)
		return start_wait(a, rq, id, "");
	reply(a, rq, 0, &(struct bg_wait){ .tag = id }, sizeof(struct bg_wait),
	      "killing tag %u (pid %d's lineage)", id, req->pid);
	return false;
}

bool op_wait(struct agent *a, struct request *rq)
{
	const struct bg_req *req = rq->req;
	struct bg_tag *t;
	struct bg_ended e;
	uint32_t id;

	if (!(req->flags & BG_REQ_F_BY_TAG))
		return target_tag(a, rq, AZ_WAIT, &id, &t) && start_wait(a, rq, id, "");
	/* By tag id: a waiter back after an agent restart, or a late one. A
	 * caller in another PID namespace learns only of a lineage it still
	 * sees there (pidns_sees_tag); to it, any other is as no tag at all. */
	id = (uint32_t)req->pid2;
	if (!read_tags(a, rq))
		return false;
	t = tt_find(&a->tt, id);
	if (t) {
		struct az_tag at = az_tag_of(t);

		if (t->state != BG_TAG_ACTIVE && t->state != BG_TAG_DOOMED) {
			job_ended(a, id, t, NULL, BG_ENDED_UNTAGGED);
		} else if (rq->c->priv || pidns_sees_tag(a, rq->c, id)) {
			at.holds_caller = false;
			if (refuse(a, rq, az_check(AZ_WAIT, rq->c, NULL, &at), -1, 0, id, t))
				return false;
			return start_wait(a, rq, id, "");
		} else {
			goto none;
		}
	}
	if ((rq->c->priv || rq->c->same_pidns) && !store_ended(&a->st, id, &e)) {
		struct az_tag at = { .priv = e.tag_flags & BG_TAG_F_PRIV, .owner_uid = e.owner_uid };

		if (refuse(a, rq, az_check(AZ_WAIT, rq->c, NULL, &at), -1, 0, id, NULL))
			return false;
		return start_wait(a, rq, id, "");
	}
none:
	reply(a, rq, ENOENT, NULL, 0, "no tag %u, and no outcome of it kept", id);
	return false;
}

/* A signal to every member of the lineage, root included, which goes on
 * as it was (`exec --init --forward-lineage`). Who may: as for kill. */
bool op_signal(struct agent *a, struct request *rq)
{
	const struct bg_req *req = rq->req;
	int sig = req->signal ? (int)req->signal : SIGTERM;
	size_t sent, refused;
	struct bg_tag *t;
	uint32_t id;
	int err;

	if (req->signal > 64 || req->grace_ns) {
		reply(a, rq, EINVAL, NULL, 0, "invalid signal, or a grace (a signal takes none)");
		return false;
	}
	if (!target_tag(a, rq, AZ_KILL, &id, &t))
		return false;
	err = signal_lineage(a, id, sig, &sent, &refused);
	if (err) {
		reply(a, rq, EIO, NULL, 0, "cannot list tag %u's lineage: %s", id, strerror(-err));
		return false;
	}
	reply(a, rq, 0, NULL, 0, "signalled %zu member(s) of tag %u%s", sent, id,
	      refused ? " (some its owner may not signal were not)" : "");
	return false;
}
