// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>

#include "lineage.h"

/* Tag chains are short in practice; the bound only stops a corrupt cycle. */
#define TT_MAX_CHAIN 64

void tt_reset(struct tag_table *tt)
{
	tt->n = 0;
}

void tt_free(struct tag_table *tt)
{
	free(tt->ids);
	free(tt->tags);
	tt->ids = NULL;
	tt->tags = NULL;
	tt->n = tt->cap = 0;
}

int tt_add(struct tag_table *tt, uint32_t id, const struct bg_tag *t)
{
	if (tt->n == tt->cap) {
		size_t cap = tt->cap ? tt->cap * 2 : 64;
		uint32_t *ids = realloc(tt->ids, cap * sizeof(*ids));
		struct bg_tag *tags;

		if (!ids)
			return -ENOMEM;
		tt->ids = ids;
		tags = realloc(tt->tags, cap * sizeof(*tags));
		if (!tags)
			return -ENOMEM;
		tt->tags = tags;
		tt->cap = cap;
	}
	tt->ids[tt->n] = id;
	tt->tags[tt->n] = *t;
	tt->n++;
	return 0;
}

struct bg_tag *tt_find(const struct tag_table *tt, uint32_t id)
{
	/* Linear: a node has few tags and this is not on a per-process path
	 * that matters next to the syscalls around it. */
	for (size_t i = 0; id && i < tt->n; i++)
		if (tt->ids[i] == id)
			return &tt->tags[i];
	return NULL;
}

uint32_t tt_resolve(const struct tag_table *tt, uint32_t id)
{
	for (int i = 0; i < BG_MAX_FORWARD && id; i++) {
		const struct bg_tag *t = tt_find(tt, id);

		if (!t || t->state == BG_TAG_DETACHED)
			return 0;
		if (t->state != BG_TAG_MERGED)
			return id;
		id = t->parent;
	}
	return 0;
}

uint32_t tt_parent(const struct tag_table *tt, uint32_t id)
{
	const struct bg_tag *t = tt_find(tt, id);

	return t ? tt_resolve(tt, t->parent) : 0;
}

bool tt_within(const struct tag_table *tt, uint32_t id, uint32_t anc)
{
	id = tt_resolve(tt, id);
	for (int i = 0; i < TT_MAX_CHAIN && id; i++) {
		if (id == anc)
			return true;
		id = tt_parent(tt, id);
	}
	return false;
}

uint32_t tt_reparent_target(const struct tag_table *tt, uint32_t found, uint32_t outer,
			    uint32_t new_tag)
{
	uint32_t x = tt_resolve(tt, found);

	for (int i = 0; i < TT_MAX_CHAIN && x; i++) {
		uint32_t p;

		if (x == new_tag)
			return 0;
		p = tt_parent(tt, x);
		if (p == outer)
			return x;
		x = p;
	}
	return 0;
}
