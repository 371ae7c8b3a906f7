// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Who may do what: the facts authz.c decides on, and the refusals. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/pidfd.h>

#include "agent_priv.h"
#include "parse.h"

/* The process @pid as authz.c needs it. Returns 0 or -ESRCH. */
int target_facts(struct agent *a, pid_t pid, struct az_target *t)
{
	struct proc_stat st;
	struct proc_ids ids;

	*t = (struct az_target){ .init = pid == 1, .agent = pid == a->self };
	if (read_proc_stat(pid, &st) || read_proc_status(pid, &ids))
		return -ESRCH;
	t->kthread = st.flags & BG_PF_KTHREAD;
	t->ruid = ids.uid[0];
	t->suid = ids.uid[2];
	return 0;
}

/* Is the caller itself (its own entry, same start time) in @tag's lineage? */
static bool caller_inside(struct agent *a, const struct caller *c, uint32_t tag)
{
	struct bg_proc e;

	return c->known && c->pid &&
	       !store_proc(&a->st, c->pid, &e) && e.start == c->start &&
	       tt_within(&a->tt, e.tag, tag);
}

/* Tag @t as authz.c reads it, without the caller's place in it. */
struct az_tag az_tag_of(const struct bg_tag *t)
{
	return (struct az_tag){ .priv = t && (t->flags & BG_TAG_F_PRIV),
				.owner_uid = t ? t->owner_uid : 0,
				.breakaway = t && (t->flags & BG_TAG_F_BREAKAWAY) };
}

/* ...and with it: is the caller in the lineage of @id? */
struct az_tag tag_facts(struct agent *a, const struct caller *c, uint32_t id,
			       const struct bg_tag *t)
{
	struct az_tag at = az_tag_of(t);

	at.holds_caller = caller_inside(a, c, id);
	return at;
}

struct in_view {
	struct agent *a;
	uint32_t id;
	const struct bg_view *view;
	size_t n;
};

static int member_in_view(void *ctx, uint32_t pid, const struct bg_proc *e)
{
	struct in_view *iv = ctx;

	return tt_resolve(&iv->a->tt, e->tag) == iv->id && entry_is_process(e, (pid_t)pid) &&
	       view_nr(iv->view, iv->n, pid);
}

/*
 * Does the caller's PID namespace show any live process of tag @id's
 * lineage (its root, or a member once the root is dead)? A caller there may
 * learn of the tag, as `list` shows it; an ended lineage, or one wholly out
 * of its sight, is no business of a caller in another namespace. Callers in
 * the agent's namespace see every pid.
 */
bool pidns_sees_tag(struct agent *a, const struct caller *c, uint32_t id)
{
	struct in_view iv = { .a = a, .id = id };
	struct bg_view *view = NULL;
	int r;

	if (c->same_pidns)
		return true;
	if (!c->known || peer_view(&a->pp, c->pidns, c->pidns_level, &view, &iv.n))
		return false;
	iv.view = view;
	r = store_scan_procs(&a->st, member_in_view, &iv);
	free(view);
	return r > 0;
}

/* May the owner of tag @t signal @pid now? (the kill(2) rule, at kill time) */
bool owner_may_signal(struct agent *a, const struct bg_tag *t, pid_t pid)
{
	struct caller owner = { .uid = t ? t->owner_uid : 0, .ruid = t ? t->owner_ruid : 0 };
	struct az_target tf;

	if (!t || (t->flags & BG_TAG_F_PRIV))
		return true;
	return !target_facts(a, pid, &tf) && az_may_signal(&owner, &tf);
}

/*
 * Answer a refusal, if @v is one, and return true. The facts were read
 * after the pidfd was opened: a process that died meanwhile may have left its
 * pid to another, so a verdict about it is thrown away ("has exited").
 */
bool refuse(struct agent *a, struct request *rq, enum az_verdict v, int pidfd, int32_t typed,
	    uint32_t tag, const struct bg_tag *t)
{
	const struct caller *c = rq->c;

	if (pidfd >= 0 && pidfd_exited(pidfd)) {
		reply(a, rq, ESRCH, NULL, 0, "process %d has exited", typed);
		return true;
	}
	switch (v) {
	case AZ_OK:
		return false;
	case AZ_DENY_INIT:
		reply(a, rq, EPERM, NULL, 0, "%s", az_reason(v));
		break;
	case AZ_DENY_KTHREAD:
		reply(a, rq, EPERM, NULL, 0, "refusing pid %d: a kernel thread", typed);
		break;
	case AZ_DENY_AGENT:
		reply(a, rq, EPERM, NULL, 0, "refusing the agent itself (pid %d)", typed);
		break;
	case AZ_DENY_SIGNAL:
		reply(a, rq, EPERM, NULL, 0, "permission denied: uid %u may not signal pid %d",
			     c->uid, typed);
		break;
	case AZ_DENY_OWNER:
		reply(a, rq, EPERM, NULL, 0, "permission denied: tag %u of pid %d belongs to %s",
			     tag, typed, t && (t->flags & BG_TAG_F_PRIV) ? "a privileged caller"
									: "another user");
		break;
	case AZ_DENY_MEMBER:
		reply(a, rq, EPERM, NULL, 0, "permission denied: the caller (pid %u) is in the "
			     "lineage of tag %u: a member cannot untag or re-tag it", c->pid, tag);
		break;
	default:
		reply(a, rq, az_errno(v), NULL, 0, "%s", az_reason(v));
	}
	return true;
}

static pid_t pidfd_pid(int pidfd)
{
	pid_t pid = -1;

	return read_pidfd_pid(pidfd, &pid) ? -1 : pid;
}

/* Resolve the process a request names (@typed: the pid as the client typed
 * it, for messages) and gather what authz.c decides on. Replies on failure. */
pid_t request_target(struct agent *a, struct request *rq, int32_t typed, int pidfd,
			    struct az_target *t)
{
	pid_t pid;

	if (pidfd < 0) {
		reply(a, rq, EINVAL, NULL, 0, "request carries no pidfd");
		return -1;
	}
	pid = pidfd_pid(pidfd);
	if (pid <= 0 || pidfd_exited(pidfd) || target_facts(a, pid, t)) {
		reply(a, rq, ESRCH, NULL, 0, "process %d has exited", typed);
		return -1;
	}
	return pid;
}

bool read_tags(struct agent *a, struct request *rq)
{
	if (!store_load_tags(&a->st, &a->tt))
		return true;
	reply(a, rq, EIO, NULL, 0, "cannot read the tags map");
	return false;
}

pid_t request_target_tags(struct agent *a, struct request *rq, int32_t typed, int pidfd,
			  struct az_target *t)
{
	pid_t pid = request_target(a, rq, typed, pidfd, t);

	return pid < 0 || !read_tags(a, rq) ? -1 : pid;
}

/* Coarse identity check of a procs entry against /proc (10 ms ticks). */
bool entry_is_process(const struct bg_proc *e, pid_t pid)
{
	long hz = sysconf(_SC_CLK_TCK);
	struct proc_stat st;

	if (read_proc_stat(pid, &st) || hz <= 0)
		return false;
	return e->start / (1000000000ull / (uint64_t)hz) == st.starttime;
}
