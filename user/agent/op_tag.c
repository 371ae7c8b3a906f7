// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `bpfguard tag`: a new tag on a process, or new values for its tag. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/pidfd.h>

#include "agent_priv.h"
#include "log.h"

/* Tagging the root of a tag again updates how its lineage is ended: a
 * change of the tag, for its owner to make, never from inside. The same
 * values again change nothing: a member may repeat them. */
static void retag(struct agent *a, struct request *rq, const struct az_target *tf,
		  uint32_t cur, struct bg_tag *own)
{
	const struct bg_req *req = rq->req;
	uint32_t sig = req->signal ? req->signal : SIGKILL;
	uint32_t flags = (own->flags & ~BG_TAG_F_BREAKAWAY) |
			 (req->flags & BG_REQ_F_ALLOW_BREAKAWAY ? BG_TAG_F_BREAKAWAY : 0);
	bool same = sig == own->signal && req->grace_ns == own->grace_ns && flags == own->flags &&
		    (uint32_t)req->pid2 == own->max_procs;
	struct az_tag at = tag_facts(a, rq->c, cur, own);
	enum az_verdict v = az_check(AZ_RETAG, rq->c, tf, &at);

	if (same && v == AZ_DENY_MEMBER)
		v = AZ_OK;
	if (refuse(a, rq, v, rq->pidfd[0], req->pid, cur, own))
		return;
	own->signal = sig;
	own->grace_ns = req->grace_ns;
	own->flags = flags;
	own->max_procs = (uint32_t)req->pid2;
	store_put_tag(&a->st, cur, own);
	note_tag(a, cur, own, rq->c, true);
	reply(a, rq, 0, NULL, 0, "pid %d is already tagged (tag %u)", req->pid, cur);
}

/* May this caller make a tag on pid, nested in parent? Replies if not. */
static bool may_tag(struct agent *a, struct request *rq, const struct az_target *tf,
		    uint32_t parent)
{
	const struct caller *c = rq->c;

	if (refuse(a, rq, az_check(AZ_TAG, c, tf, NULL), rq->pidfd[0], rq->req->pid, 0, NULL))
		return false;
	if (tt_depth(&a->tt, parent) + 1 > BG_MAX_NEST) {
		reply(a, rq, ELOOP, NULL, 0, "tags nest at most %d deep: pid %d is in tag "
			     "%u, %d deep already", BG_MAX_NEST, rq->req->pid, parent,
			     tt_depth(&a->tt, parent));
		return false;
	}
	return c->priv || !quota_refuse_tag(a, rq);
}

/* A new tag id and its record, active before anything is enrolled in it.
 * Replies and returns false when there is none. */
static bool new_tag(struct agent *a, struct request *rq, pid_t pid, uint32_t parent,
		    uint32_t *id, struct bg_tag *t)
{
	const struct caller *c = rq->c;
	int err = store_new_tag_id(&a->st, id);

	if (err) {
		reply(a, rq, EIO, NULL, 0, err == -ENOENT ? "cannot read the meta map"
							 : "cannot allocate a tag id");
		return false;
	}
	*t = (struct bg_tag){
		.root_pid = (uint32_t)pid,
		.parent = parent,
		.state = BG_TAG_ACTIVE,
		.signal = rq->req->signal ? rq->req->signal : SIGKILL,
		.grace_ns = rq->req->grace_ns,
		.owner_uid = c->uid,
		.owner_ruid = c->ruid,
		.flags = (c->priv ? BG_TAG_F_PRIV : 0) |
			 (rq->req->flags & BG_REQ_F_ALLOW_BREAKAWAY ? BG_TAG_F_BREAKAWAY : 0),
		.max_procs = (uint32_t)rq->req->pid2,
	};
	err = store_put_tag(&a->st, *id, t);
	if (err == -E2BIG && gc_tags(a))
		err = store_put_tag(&a->st, *id, t);
	/* counted from its first member on (a failure leaves it uncounted) */
	if (!err && store_acct_create(&a->st, *id))
		log_warn("tag %u: no accounting record (acct map full)", *id);
	if (err == -E2BIG) {
		log_err("tags map full (%u): refused to tag pid %d", a->st.l.max_tags, pid);
		reply(a, rq, ENOSPC, NULL, 0, "tags map full (%u tags): raise --max-tags",
		      a->st.l.max_tags);
		return false;
	}
	if (err) {
		reply(a, rq, -err, NULL, 0, "cannot write the tag record");
		return false;
	}
	return true;
}

/* The enrolment of tag id did not complete: nothing stays half-tagged.
 * A root that died meanwhile has its enrolled lineage killed (its exit
 * hook may have run before its entry existed); otherwise the tag ends and
 * what it recorded anew is untracked again. */
static void enrol_failed(struct agent *a, struct request *rq, pid_t pid, uint32_t id,
			 const struct loader_enrolled *res, bool full, int err)
{
	const struct caller *c = rq->c;

	if (pidfd_exited(rq->pidfd[0])) {
		struct bg_death d = { .ts = 0, .tag = id, .root_pid = (uint32_t)pid };

		store_death_add(&a->st, id, &d);
		handle_deaths(a);
		reply(a, rq, ESRCH, NULL, 0, "process %d exited while being tagged; "
			     "its descendants were killed", rq->req->pid);
		return;
	}
	enum quota_verdict qv = res->over ? quota_procs_verdict(a, c->uid) : QUOTA_OK;

	end_tag(a, id);
	unenrol(a, id);
	if (res->over) {
		log_notice("uid %u's tag of pid %d refused: beyond its process quota", c->uid, pid);
		quota_refusal(a, rq, qv, c->uid, true);
	} else if (res->unsettled) {
		log_err("tag %u (pid %d): enrolment still recorded new processes after "
			"%d passes: refused", id, pid, BG_ENROLL_MAX_PASSES);
		reply(a, rq, EAGAIN, NULL, 0, "enrolment of pid %d did not settle after "
			     "%d passes: tag refused", rq->req->pid, BG_ENROLL_MAX_PASSES);
	} else if (full) {
		log_err("procs map full (%u): refused to tag pid %d", a->st.l.max_procs, pid);
		reply(a, rq, ENOSPC, NULL, 0, "procs map full (%u processes): raise --max-procs",
		      a->st.l.max_procs);
	} else {
		reply(a, rq, EIO, NULL, 0, "enrolment failed: %s", strerror(err ? -err : EIO));
	}
}

/* Tags found nested below the new root (found[], one per enrolled
 * process, 0 for none) now hang from tag id, unless that nests them too
 * deep: then the new tag goes, as if never made (false, replied). Counts
 * the re-parented tags in *nested. */
static bool adopt_nested(struct agent *a, struct request *rq, pid_t pid, uint32_t id,
			 uint32_t parent, uint32_t *found, size_t n, int *nested)
{
	int depth;

	if (store_load_tags(&a->st, &a->tt))
		return true;
	for (size_t i = 0; i < n; i++)
		found[i] = tt_reparent_target(&a->tt, found[i], parent, id);
	depth = tt_depth_after_tag(&a->tt, parent, found, n);
	if (depth > BG_MAX_NEST) {
		end_tag(a, id);
		unenrol(a, id); /* and what it recorded, and charged */
		log_info("refused to tag pid %d: tags below it would nest %d deep", pid, depth);
		reply(a, rq, ELOOP, NULL, 0, "tags nest at most %d deep: tagging pid %d "
			     "would push tags below it %d deep", BG_MAX_NEST, rq->req->pid, depth);
		return false;
	}
	*nested += hang_tags_from(a, found, n, id);
	return true;
}

bool op_tag(struct agent *a, struct request *rq)
{
	const struct bg_req *req = rq->req;
	const struct caller *c = rq->c;
	struct loader_enrolled res = {};
	struct az_target tf;
	struct bg_proc e;
	struct bg_tag t;
	uint32_t id, parent = 0;
	int nested = 0, err;
	bool full = false;
	pid_t pid;

	/* The CLI validated these; a hand-made request is checked again. */
	if (req->signal > 64 || req->grace_ns > BG_GRACE_MAX_NS || req->pid2 < 0 ||
	    req->pid2 > BG_TAG_MAX_PROCS) {
		reply(a, rq, EINVAL, NULL, 0, "invalid signal, grace or max-procs");
		return false;
	}
	pid = request_target_tags(a, rq, req->pid, rq->pidfd[0], &tf);
	if (pid < 0)
		return false;
	if (!store_proc(&a->st, pid, &e) && entry_is_process(&e, pid)) {
		uint32_t cur = tt_resolve(&a->tt, e.tag);
		struct bg_tag *own = tt_find(&a->tt, cur);

		if ((e.flags & BG_PROC_ROOT) && cur == e.tag && own && own->root_pid == (uint32_t)pid) {
			retag(a, rq, &tf, cur, own);
			return false;
		}
		parent = cur;
	}
	if (!may_tag(a, rq, &tf, parent) || !new_tag(a, rq, pid, parent, &id, &t))
		return false;

	/* the new entries are charged to an unprivileged caller */
	err = loader_enrol(&a->st.l,
			   &(struct loader_enrol_req){ .root = (uint32_t)pid, .tag = id,
						       .parent = parent,
						       .charge = c->priv ? 0 : c->uid + 1 },
			   &res);
	for (size_t i = 0; i < res.n; i++)
		if (!res.found[i])
			full = true;
	if (err || full || res.unsettled || res.over || store_proc(&a->st, pid, &e) ||
	    e.tag != id) {
		enrol_failed(a, rq, pid, id, &res, full, err);
		goto out;
	}
	if (!adopt_nested(a, rq, pid, id, parent, res.found, res.n, &nested))
		goto out;
	t.root_start = e.start;
	store_put_tag(&a->st, id, &t);
	log_info("tagged pid %d as tag %u for uid %u%s%s, %d tag(s) below it re-parented", pid,
		 id, c->uid, c->priv ? "" : " (unprivileged)", parent ? " (nested)" : "", nested);
	note_tag(a, id, &t, c, false);
	reply(a, rq, 0, NULL, 0, "tagged %d (tag %u%s)", req->pid, id, parent ? ", nested" : "");
out:
	free(res.found);
	return false;
}
