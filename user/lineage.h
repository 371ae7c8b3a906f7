/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The tag tree, as user space reasons about it: which active tag a recorded
 * tag id stands for, and which tags lie below another. Pure logic over a
 * snapshot of the `tags` map; the BPF side applies the same rules in
 * resolve_tag() (bpf/bpfguard.bpf.c).
 */
#ifndef BG_LINEAGE_H
#define BG_LINEAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpfguard.h"

/* Bound on user-space walks over a snapshot: stops a corrupt cycle only. */
#define TT_MAX_CHAIN 64

struct tag_table {
	uint32_t *ids;
	struct bg_tag *tags;
	size_t n, cap;
};

void tt_free(struct tag_table *tt);
void tt_reset(struct tag_table *tt);
/* Append a record (used when loading the map). Returns 0 or -ENOMEM. */
int tt_add(struct tag_table *tt, uint32_t id, const struct bg_tag *t);
struct bg_tag *tt_find(const struct tag_table *tt, uint32_t id);

/* The live tag (ACTIVE or DOOMED) a recorded id counts for; 0 if none. */
uint32_t tt_resolve(const struct tag_table *tt, uint32_t id);
/* The live tag enclosing live tag @id, or 0 at the top. */
uint32_t tt_parent(const struct tag_table *tt, uint32_t id);
/* Is the recorded tag @id (resolved) @anc or nested below it? */
bool tt_within(const struct tag_table *tt, uint32_t id, uint32_t anc);

/*
 * A new tag @new_tag was made below @outer (0 for none), and enrolment found
 * live tag @found nested under the new root. Returns the tag whose parent
 * must become @new_tag (the topmost live tag on @found's chain just below
 * @outer), or 0 if nothing is to change.
 */
uint32_t tt_reparent_target(const struct tag_table *tt, uint32_t found, uint32_t outer,
			    uint32_t new_tag);

/*
 * Nesting (see BG_MAX_NEST): the depth of live tag @id, counting the live
 * tags on its chain to the top, itself included (0 for @id 0); the height of
 * the live tags hanging below @id, itself included (1 for a leaf). Both stop
 * counting past TT_MAX_CHAIN (a corrupt table).
 */
int tt_depth(const struct tag_table *tt, uint32_t id);
int tt_height(const struct tag_table *tt, uint32_t id);
/*
 * The deepest nesting if a new tag went below live tag @parent (0: at the
 * top) and the @n live tags @moved (tt_reparent_target's answers, repeats
 * allowed) were moved below it: depth(parent) + 1 + the tallest height.
 */
int tt_depth_after_tag(const struct tag_table *tt, uint32_t parent, const uint32_t *moved,
		       size_t n);

/* One write to the tags map, in the order the agent must apply them. */
struct tt_write {
	uint32_t id;
	bool del;	    /* delete the record, else write .rec */
	struct bg_tag rec;
};

struct tt_plan {
	struct tt_write *w;
	size_t n, cap;
};

void tt_plan_free(struct tt_plan *p);

/*
 * The writes that leave no record forwarding to a MERGED record, which only
 * an agent killed in the middle of tt_plan_end's writes (or an older agent)
 * leaves: each such record is pointed at the end of its chain (the first
 * record that is not MERGED, or 0 on a cycle). Each write only shortens
 * chains, so any order keeps the bound. Appends to @p and applies the writes
 * to @tt too. Returns 0 or -ENOMEM.
 */
int tt_plan_repair(struct tag_table *tt, struct tt_plan *p);

/*
 * The writes that end (untag) live tag @id, in order (see bpfguard.h): first
 * the repairs above, then @id itself (MERGED into its enclosing live tag, or
 * deleted at the top), then every record whose .parent is @id (repointed to
 * that enclosing tag; at the top MERGED ones are deleted and live ones become
 * top level). Appends to @p and applies the writes to @tt. Returns 0,
 * -ENOENT if @id has no record, or -ENOMEM.
 */
int tt_plan_end(struct tag_table *tt, uint32_t id, struct tt_plan *p);

#endif /* BG_LINEAGE_H */
