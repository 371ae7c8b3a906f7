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

#endif /* BG_LINEAGE_H */
