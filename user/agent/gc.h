/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which records of ended tags may leave the tags map (pure: tags.c reads
 * the maps and deletes what this picks).
 *
 * Tag ids are never reused, so the record of a tag that ended would stay in
 * the tags map for good, and after --max-tags tag/untag cycles every new tag
 * would be refused with no tag active. A record nobody needs goes:
 * - DETACHED (an untagged top-level tag): a missing record reads the same on
 *   both sides (resolve_tag, tt_resolve), so it can go at once;
 * - MERGED (an untagged nested tag): procs entries may still name it, to be
 *   forwarded to its parent (records are repointed past it when it merges,
 *   tt_plan_end; one an agent killed mid-untag left is, at the next start).
 *   Neither side ever writes a merged id anew (they record resolved tags),
 *   so once no entry and no surviving record names it, nothing will again.
 *   Those merged into a top-level tag go with it when it is untagged.
 */
#ifndef BG_AGENT_GC_H
#define BG_AGENT_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lineage.h"

struct gc_rec {
	uint32_t id, parent, state;
	bool named, gone;
};

struct gc {
	struct gc_rec *r; /* sorted by id */
	size_t n;
};

/* The records of @tt. Returns 0 or -ENOMEM. */
int gc_init(struct gc *g, const struct tag_table *tt);
void gc_free(struct gc *g);
/* A procs entry names @tag (0: none). */
void gc_mark(struct gc *g, uint32_t tag);
/* The ids of the records that may go, into @out (room for g->n), in the
 * order to delete them: a merged record only after those that named it.
 * Returns how many. */
size_t gc_collect(struct gc *g, uint32_t *out);

#endif /* BG_AGENT_GC_H */
