// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>

#include "lineage.h"

/* The rules the BPF side applies too (include/tagrules.h), over a snapshot. */
#define BG_TAG_LOOKUP(ctx, id) tt_find((const struct tag_table *)(ctx), (id))
#include "tagrules.h"

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
	return bg_resolve(tt, id);
}

uint32_t tt_parent(const struct tag_table *tt, uint32_t id)
{
	return bg_nest_parent(tt, id);
}

bool tt_within(const struct tag_table *tt, uint32_t id, uint32_t anc)
{
	return bg_within(tt, id, anc);
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

/* ---- nesting depth ------------------------------------------------------ */

static bool tt_live(const struct bg_tag *t)
{
	return t->state == BG_TAG_ACTIVE || t->state == BG_TAG_DOOMED;
}

int tt_depth(const struct tag_table *tt, uint32_t id)
{
	int d = 0;

	for (id = tt_resolve(tt, id); id && d <= TT_MAX_CHAIN; d++)
		id = tt_parent(tt, id);
	return d;
}

/* Steps up from live tag @from to @anc (0: it is @anc), or -1 if @anc is
 * not on its chain. */
static int tt_steps_up(const struct tag_table *tt, uint32_t from, uint32_t anc)
{
	for (int k = 0; k <= TT_MAX_CHAIN && from; k++) {
		if (from == anc)
			return k;
		from = tt_parent(tt, from);
	}
	return -1;
}

int tt_height(const struct tag_table *tt, uint32_t id)
{
	int h = 0;

	if (!id || tt_resolve(tt, id) != id)
		return 0;
	for (size_t i = 0; i < tt->n; i++) {
		int k;

		if (!tt_live(&tt->tags[i]))
			continue;
		k = tt_steps_up(tt, tt->ids[i], id);
		if (k >= 0 && k + 1 > h)
			h = k + 1;
	}
	return h;
}

int tt_depth_after_tag(const struct tag_table *tt, uint32_t parent, const uint32_t *moved,
		       size_t n)
{
	/* the enrolment reports a nested tag once per member found: a few
	 * distinct tags in a long list, each measured once */
	uint32_t *seen = calloc(n ? n : 1, sizeof(*seen));
	size_t ns = 0;
	int h = 0;

	for (size_t i = 0; i < n; i++) {
		bool dup = !moved[i];
		int x;

		for (size_t j = 0; seen && j < ns && !dup; j++)
			dup = seen[j] == moved[i];
		if (dup)
			continue;
		if (seen)
			seen[ns++] = moved[i];
		x = tt_height(tt, moved[i]);
		if (x > h)
			h = x;
	}
	free(seen);
	return tt_depth(tt, parent) + 1 + h;
}

/* ---- the writes that end a tag ----------------------------------------- */

void tt_plan_free(struct tt_plan *p)
{
	free(p->w);
	p->w = NULL;
	p->n = p->cap = 0;
}

static void tt_remove(struct tag_table *tt, uint32_t id)
{
	for (size_t i = 0; i < tt->n; i++) {
		if (tt->ids[i] != id)
			continue;
		tt->n--;
		tt->ids[i] = tt->ids[tt->n];
		tt->tags[i] = tt->tags[tt->n];
		return;
	}
}

/* Append one write to @p (@rec NULL: a delete) and apply it to @tt. A delete
 * moves the table's last record into the hole: callers walk downwards. */
static int plan_write(struct tag_table *tt, struct tt_plan *p, uint32_t id,
		      const struct bg_tag *rec)
{
	struct bg_tag *t;

	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct tt_write *w = realloc(p->w, cap * sizeof(*w));

		if (!w)
			return -ENOMEM;
		p->w = w;
		p->cap = cap;
	}
	p->w[p->n++] = (struct tt_write){ .id = id, .del = !rec, .rec = rec ? *rec : (struct bg_tag){} };
	if (!rec) {
		tt_remove(tt, id);
		return 0;
	}
	t = tt_find(tt, id);
	if (t) {
		*t = *rec;
		return 0;
	}
	return tt_add(tt, id, rec);
}

/* The first id on @id's chain of forwards that is not a MERGED record (a
 * live, DETACHED or missing one), or 0 on a cycle. Unbounded but for the
 * table's size: this is the repair of chains longer than the lookups follow. */
static uint32_t chain_end(const struct tag_table *tt, uint32_t id)
{
	for (size_t k = 0; k <= tt->n && id; k++) {
		const struct bg_tag *t = tt_find(tt, id);

		if (!t || t->state != BG_TAG_MERGED)
			return id;
		id = t->parent;
	}
	return 0;
}

int tt_plan_repair(struct tag_table *tt, struct tt_plan *p)
{
	for (size_t i = 0; i < tt->n; i++) {
		const struct bg_tag *par = tt_find(tt, tt->tags[i].parent);
		struct bg_tag rec = tt->tags[i];

		if (!par || par->state != BG_TAG_MERGED || rec.state == BG_TAG_DETACHED)
			continue;
		rec.parent = chain_end(tt, rec.parent);
		if (plan_write(tt, p, tt->ids[i], &rec))
			return -ENOMEM;
	}
	return 0;
}

int tt_plan_end(struct tag_table *tt, uint32_t id, struct tt_plan *p)
{
	struct bg_tag *t, rec;
	uint32_t into;

	if (tt_plan_repair(tt, p))
		return -ENOMEM;
	t = tt_find(tt, id);
	if (!t)
		return -ENOENT;
	into = tt_parent(tt, id);
	rec = *t;
	rec.state = BG_TAG_MERGED;
	rec.parent = into;
	/* 1: the tag itself; records merged into it now forward twice */
	if (plan_write(tt, p, id, into ? &rec : NULL))
		return -ENOMEM;
	/* 2: what named it, once again one forward (or none) */
	for (size_t i = tt->n; i-- > 0;) {
		rec = tt->tags[i];
		if (rec.parent != id || tt->ids[i] == id || rec.state == BG_TAG_DETACHED)
			continue;
		rec.parent = into;
		if (plan_write(tt, p, tt->ids[i], !into && rec.state == BG_TAG_MERGED ? NULL : &rec))
			return -ENOMEM;
	}
	return 0;
}
