// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>

#include "bpfguard.h"
#include "lineage.h"
#include "quota.h"

void quota_resolve(struct quota_cfg *q, uint32_t max_procs, uint32_t max_tags,
		   uint32_t want_procs, uint32_t want_tags)
{
	uint32_t dflt = max_procs / BG_USER_PROCS_DIV;

	q->user_procs = want_procs ? want_procs : dflt ? dflt : 1;
	q->user_tags = want_tags ? want_tags : BG_USER_TAGS_DEFAULT;
	q->unpriv_procs = BG_UNPRIV_SHARE(max_procs);
	q->unpriv_tags = BG_UNPRIV_SHARE(max_tags);
}

void quota_count_tags(const struct tag_table *tt, uint32_t uid, uint32_t *own, uint32_t *all)
{
	*own = *all = 0;
	for (size_t i = 0; i < tt->n; i++) {
		const struct bg_tag *t = &tt->tags[i];

		if ((t->flags & BG_TAG_F_PRIV) || t->state == BG_TAG_DETACHED)
			continue;
		(*all)++;
		if (t->owner_uid == uid)
			(*own)++;
	}
}

enum quota_verdict quota_check(uint32_t own, uint32_t all, uint32_t limit_own, uint32_t limit_all)
{
	if (own >= limit_own)
		return QUOTA_USER;
	if (all >= limit_all)
		return QUOTA_SHARE;
	return QUOTA_OK;
}

void quota_msg(char *buf, size_t len, enum quota_verdict v, const struct quota_cfg *q,
	       uint32_t uid, int procs)
{
	const char *what = procs ? "processes" : "tags";

	if (v == QUOTA_USER)
		snprintf(buf, len, "quota of %u %s for uid %u reached (--user-max-%s)",
			 procs ? q->user_procs : q->user_tags, what, uid, procs ? "procs" : "tags");
	else
		snprintf(buf, len, "quota of %u %s for unprivileged users together reached "
			 "(--max-%s minus the 1/%d kept for privileged callers)",
			 procs ? q->unpriv_procs : q->unpriv_tags, what, procs ? "procs" : "tags",
			 BG_PRIV_RESERVE_DIV);
}
