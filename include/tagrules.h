/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * How a tag id recorded in `procs` is read against the `tags` map: written
 * once, for both sides. The BPF programs include it over the map
 * (bpf/bpfguard.bpf.c), user space over a snapshot (user/lineage.c), so the
 * two can never disagree on which lineage a process belongs to.
 *
 * The includer defines BG_TAG_LOOKUP(ctx, id): the record of tag @id (a
 * const struct bg_tag *), or NULL when there is none. The bounds and the
 * invariant that makes them enough are in bpfguard.h.
 */
#ifndef BPFGUARD_TAGRULES_H
#define BPFGUARD_TAGRULES_H

#include "bpfguard.h"

#ifndef __VMLINUX_H__
#include <stdbool.h>
#endif
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/*
 * The live tag (ACTIVE or DOOMED) a recorded id stands for, following MERGED
 * forwards; 0 for none (DETACHED, no record, or past BG_MAX_FORWARD). DOOMED
 * still counts: a child born into a lineage being killed must be recorded so
 * the next sweep finds it.
 */
static __always_inline __u32 bg_resolve(const void *ctx, __u32 id)
{
	(void)ctx;
	for (int i = 0; i <= BG_MAX_FORWARD && id; i++) {
		const struct bg_tag *t = BG_TAG_LOOKUP(ctx, id);

		if (!t || t->state == BG_TAG_DETACHED)
			return 0;
		if (t->state != BG_TAG_MERGED)
			return id;
		id = t->parent;
	}
	return 0;
}

/* The live tag enclosing live tag @id, or 0 at the top. */
static __always_inline __u32 bg_nest_parent(const void *ctx, __u32 id)
{
	const struct bg_tag *t = BG_TAG_LOOKUP(ctx, id);

	(void)ctx;
	return t ? bg_resolve(ctx, t->parent) : 0;
}

/* Is the recorded tag @id (resolved) @anc or nested below it? */
static __always_inline bool bg_within(const void *ctx, __u32 id, __u32 anc)
{
	id = bg_resolve(ctx, id);
	for (int i = 0; i < BG_NEST_WALK && id; i++) {
		if (id == anc)
			return true;
		id = bg_nest_parent(ctx, id);
	}
	return false;
}

#endif /* BPFGUARD_TAGRULES_H */
