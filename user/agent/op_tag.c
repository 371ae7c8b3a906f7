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

bool op_tag(struct agent *a, struct request *rq)
{
	const struct bg_req *req = rq->req;
	const struct caller *c = rq->c;
	int pidfd = rq->pidfd[0];
	struct bg_proc e;
	struct bg_tag t = {};
	struct loader_enrol_req er;
	struct loader_enrolled res;
	uint32_t id, parent = 0, *out = NULL;
	size_t n = 0;
	int nested = 0, depth, err;
	struct az_target tf;
	bool full = false, unsettled = false, over;
	pid_t pid;

	/* The CLI validated these; a hand-made request is checked again. */
	if (req->signal > 64 || req->grace_ns > BG_GRACE_MAX_NS) {
		reply(a, rq, EINVAL, NULL, 0, "invalid signal or grace");
		return false;
	}
	pid = request_target_tags(a, rq, req->pid, pidfd, &tf);
	if (pid < 0)
		return false;
	if (!store_proc(&a->st, pid, &e) && entry_is_process(&e, pid)) {
		uint32_t cur = tt_resolve(&a->tt, e.tag);
		struct bg_tag *own = tt_find(&a->tt, cur);

		if ((e.flags & BG_PROC_ROOT) && cur == e.tag && own && own->root_pid == (uint32_t)pid) {
			/* Tagging again updates how the lineage is ended: a
			 * change of the tag, for its owner to make, never from
			 * inside. The same values again change nothing: a
			 * member may repeat them. */
			uint32_t sig = req->signal ? req->signal : SIGKILL;
			bool same = sig == own->signal && req->grace_ns == own->grace_ns;
			struct az_tag at = tag_facts(a, c, cur, own);
			enum az_verdict v = az_check(AZ_RETAG, c, &tf, &at);

			if (same && v == AZ_DENY_MEMBER)
				v = AZ_OK;
			if (refuse(a, rq, v, pidfd, req->pid, cur, own))
				return false;
			own->signal = sig;
			own->grace_ns = req->grace_ns;
			store_put_tag(&a->st, cur, own);
			note_tag(a, cur, own, c, true);
			reply(a, rq, 0, NULL, 0, "pid %d is already tagged (tag %u)", req->pid, cur);
			return false;
		}
		parent = cur;
	}
	if (refuse(a, rq, az_check(AZ_TAG, c, &tf, NULL), pidfd, req->pid, 0, NULL))
		return false;
	if (tt_depth(&a->tt, parent) + 1 > BG_MAX_NEST) {
		reply(a, rq, ELOOP, NULL, 0, "tags nest at most %d deep: pid %d is in tag "
			     "%u, %d deep already", BG_MAX_NEST, req->pid, parent,
			     tt_depth(&a->tt, parent));
		return false;
	}
	if (!c->priv && quota_refuse_tag(a, rq))
		return false;

	err = store_new_tag_id(&a->st, &id);
	if (err == -ENOENT) {
		reply(a, rq, EIO, NULL, 0, "cannot read the meta map");
		return false;
	}
	if (err) {
		reply(a, rq, EIO, NULL, 0, "cannot allocate a tag id");
		return false;
	}
	t.root_pid = (uint32_t)pid;
	t.parent = parent;
	t.state = BG_TAG_ACTIVE;
	t.signal = req->signal ? req->signal : SIGKILL;
	t.grace_ns = req->grace_ns;
	t.owner_uid = c->uid;
	t.owner_ruid = c->ruid;
	t.flags = c->priv ? BG_TAG_F_PRIV : 0;
	err = store_put_tag(&a->st, id, &t);
	if (err == -E2BIG && gc_tags(a))
		err = store_put_tag(&a->st, id, &t);
	if (err) {
		reply(a, rq, err == -E2BIG ? ENOSPC : -err, NULL, 0,
			     err == -E2BIG ? "tags map full (%u tags): raise --max-tags"
					   : "cannot write the tag record%.0u",
			     a->st.l.max_tags);
		if (err == -E2BIG)
			log_err("tags map full (%u): refused to tag pid %d", a->st.l.max_tags, pid);
		return false;
	}

	/* the new entries are charged to an unprivileged caller */
	er = (struct loader_enrol_req){ .root = (uint32_t)pid, .tag = id, .parent = parent,
					.charge = c->priv ? 0 : c->uid + 1 };
	err = loader_enrol(&a->st.l, &er, &res);
	out = res.found;
	n = res.n;
	unsettled = res.unsettled;
	over = res.over;
	for (size_t i = 0; i < n; i++)
		if (!out[i])
			full = true;

	if (err || full || unsettled || over || store_proc(&a->st, pid, &e) ||
	    e.tag != id) {
		bool died = pidfd_exited(pidfd);

		if (died) {
			/* The root died while being tagged: its exit hook may have
			 * run before its entry existed. Kill what was enrolled. */
			struct bg_death d = { .ts = 0, .tag = id, .root_pid = (uint32_t)pid };

			store_death_add(&a->st, id, &d);
			handle_deaths(a);
			reply(a, rq, ESRCH, NULL, 0, "process %d exited while being tagged; "
				     "its descendants were killed", req->pid);
			free(out);
			return false;
		}
		enum quota_verdict qv = over ? quota_procs_verdict(a, c->uid) : QUOTA_OK;

		end_tag(a, id);
		/* nothing half-tagged: what was recorded anew is untracked again */
		unenrol(a, id);
		if (over) {
			log_notice("uid %u's tag of pid %d refused: beyond its process quota",
				   c->uid, pid);
			quota_refusal(a, rq, qv, c->uid, true);
		} else if (unsettled) {
			log_err("tag %u (pid %d): enrolment still recorded new processes after "
				"%d passes: refused", id, pid, BG_ENROLL_MAX_PASSES);
			reply(a, rq, EAGAIN, NULL, 0, "enrolment of pid %d did not settle after "
				     "%d passes: tag refused", req->pid, BG_ENROLL_MAX_PASSES);
		} else if (full) {
			log_err("procs map full (%u): refused to tag pid %d", a->st.l.max_procs, pid);
			reply(a, rq, ENOSPC, NULL, 0,
				     "procs map full (%u processes): raise --max-procs", a->st.l.max_procs);
		} else {
			reply(a, rq, EIO, NULL, 0, "enrolment failed: %s",
				     strerror(err ? -err : EIO));
		}
		free(out);
		return false;
	}

	/* Tags found nested below the new root now hang from it, unless that
	 * nests them too deep: then the new tag goes, as if never made. */
	if (store_load_tags(&a->st, &a->tt) == 0) {
		for (size_t i = 0; i < n; i++)
			out[i] = tt_reparent_target(&a->tt, out[i], parent, id);
		depth = tt_depth_after_tag(&a->tt, parent, out, n);
		if (depth > BG_MAX_NEST) {
			end_tag(a, id);
			unenrol(a, id); /* and what it recorded, and charged */
			log_info("refused to tag pid %d: tags below it would nest %d deep", pid,
				 depth);
			reply(a, rq, ELOOP, NULL, 0, "tags nest at most %d deep: tagging pid %d "
				     "would push tags below it %d deep", BG_MAX_NEST, req->pid, depth);
			free(out);
			return false;
		}
		for (size_t i = 0; i < n; i++) {
			uint32_t x = out[i];
			struct bg_tag *tx = tt_find(&a->tt, x);

			if (x && tx && tx->parent != id) {
				tx->parent = id;
				store_put_tag(&a->st, x, tx);
				nested++;
			}
		}
	}
	t.root_start = e.start;
	store_put_tag(&a->st, id, &t);
	log_info("tagged pid %d as tag %u for uid %u%s%s, %d tag(s) below it re-parented", pid,
		 id, c->uid, c->priv ? "" : " (unprivileged)", parent ? " (nested)" : "", nested);
	note_tag(a, id, &t, c, false);
	reply(a, rq, 0, NULL, 0, "tagged %d (tag %u%s)", req->pid, id,
		     parent ? ", nested" : "");
	free(out);
	return false;
}
