// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stddef.h>

#include "authz.h"

bool az_may_signal(const struct caller *c, const struct az_target *t)
{
	return t->ruid == c->uid || t->ruid == c->ruid || t->suid == c->uid ||
	       t->suid == c->ruid;
}

/* The processes no request may name, whoever asks. */
static enum az_verdict never(const struct az_target *t)
{
	if (t->init)
		return AZ_DENY_INIT;
	if (t->kthread)
		return AZ_DENY_KTHREAD;
	if (t->agent)
		return AZ_DENY_AGENT;
	return AZ_OK;
}

/*
 * Changing or ending a tag: its owner or a privileged caller, and never a
 * member of its lineage (unless privileged): a process under a tag must not
 * be able to free itself, or its descendants, by asking. A caller that could
 * not be identified from its task might be such a member: refused.
 */
static enum az_verdict may_change(const struct caller *c, const struct az_tag *tag)
{
	if (c->priv)
		return AZ_OK;
	if (!tag || tag->priv || tag->owner_uid != c->uid)
		return AZ_DENY_OWNER;
	if (!c->known)
		return AZ_DENY_UNKNOWN;
	if (tag->holds_caller)
		return AZ_DENY_MEMBER;
	return AZ_OK;
}

enum az_verdict az_check(enum az_op op, const struct caller *c, const struct az_target *t,
			 const struct az_tag *tag)
{
	enum az_verdict v;

	switch (op) {
	case AZ_STATUS:
	case AZ_LIST:
	case AZ_SUBSCRIBE:
		return AZ_OK;
	case AZ_UNLOAD:
		return c->priv ? AZ_OK : AZ_DENY_PRIV;
	case AZ_WAIT:
		/* it tells when a lineage ends, and how: who may see the tag */
		return az_sees_tag(c, tag) ? AZ_OK : AZ_DENY_OWNER;
	case AZ_KILL:
	case AZ_TAG:
	case AZ_ADOPT:
	case AZ_RETAG:
	case AZ_UNTAG:
	case AZ_RELEASE:
		break;
	default:
		return AZ_DENY_PRIV;
	}
	if (!t)
		return AZ_DENY_SIGNAL;
	v = never(t);
	if (v)
		return v;
	if (!c->priv && !az_may_signal(c, t))
		return AZ_DENY_SIGNAL;
	if (op == AZ_RETAG || op == AZ_UNTAG)
		return may_change(c, tag);
	/* Leaving a lineage frees the process: what the tag allows to all
	 * who may signal it, else a change of the tag (its owner, from
	 * outside, or a privileged caller). */
	if (op == AZ_RELEASE)
		return tag && tag->breakaway ? AZ_OK : may_change(c, tag) ? AZ_DENY_BREAKAWAY : AZ_OK;
	/* Killing a lineage frees nothing: a member may kill its own, as
	 * kill(2) of its process group would. The owner, or a privileged
	 * caller; the sweep then signals only what the owner may (kill(2)). */
	if (op == AZ_KILL && !c->priv && (!tag || tag->priv || tag->owner_uid != c->uid))
		return AZ_DENY_OWNER;
	return AZ_OK;
}

const char *az_reason(enum az_verdict v)
{
	switch (v) {
	case AZ_OK:
		return "allowed";
	case AZ_DENY_INIT:
		return "refusing pid 1 (init): its lineage is the whole machine";
	case AZ_DENY_KTHREAD:
		return "refusing a kernel thread";
	case AZ_DENY_AGENT:
		return "refusing the agent itself";
	case AZ_DENY_SIGNAL:
		return "permission denied: the caller may not signal it (kill(2) rule)";
	case AZ_DENY_OWNER:
		return "permission denied: the tag belongs to another user";
	case AZ_DENY_MEMBER:
		return "permission denied: the caller is inside the tag's lineage";
	case AZ_DENY_UNKNOWN:
		return "permission denied: the caller could not be identified";
	case AZ_DENY_PRIV:
		return "permission denied: only a privileged caller (CAP_KILL and CAP_BPF) may do that";
	case AZ_DENY_BREAKAWAY:
		return "permission denied: the tag was not made with --allow-breakaway (only its "
		       "owner, from outside the lineage, or a privileged caller may release)";
	}
	return "permission denied";
}

int az_errno(enum az_verdict v)
{
	return v == AZ_OK ? 0 : EPERM;
}

bool az_sees_tag(const struct caller *c, const struct az_tag *tag)
{
	return c->priv || (tag && !tag->priv && tag->owner_uid == c->uid);
}

bool az_sees_machine(const struct caller *c)
{
	return c->priv;
}
