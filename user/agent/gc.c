// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>

#include "bpfguard.h"
#include "gc.h"

static int gc_cmp(const void *x, const void *y)
{
	uint32_t a = ((const struct gc_rec *)x)->id, b = ((const struct gc_rec *)y)->id;

	return a < b ? -1 : a > b;
}

static struct gc_rec *gc_find(const struct gc *g, uint32_t id)
{
	struct gc_rec key = { .id = id };

	return id && g->n ? bsearch(&key, g->r, g->n, sizeof(*g->r), gc_cmp) : NULL;
}

int gc_init(struct gc *g, const struct tag_table *tt)
{
	*g = (struct gc){};
	if (!tt->n)
		return 0;
	g->r = calloc(tt->n, sizeof(*g->r));
	if (!g->r)
		return -ENOMEM;
	for (size_t i = 0; i < tt->n; i++)
		g->r[g->n++] = (struct gc_rec){ .id = tt->ids[i], .parent = tt->tags[i].parent,
						.state = tt->tags[i].state };
	qsort(g->r, g->n, sizeof(*g->r), gc_cmp);
	return 0;
}

void gc_free(struct gc *g)
{
	free(g->r);
	*g = (struct gc){};
}

void gc_mark(struct gc *g, uint32_t tag)
{
	struct gc_rec *r = gc_find(g, tag);

	if (r)
		r->named = true;
}

/* Rounds until one drops nothing: a merged record is needed while a
 * surviving record names it, and stops being needed when that one goes. */
size_t gc_collect(struct gc *g, uint32_t *out)
{
	size_t n = 0;
	bool again = true;

	while (again) {
		bool *ref = calloc(g->n ? g->n : 1, sizeof(*ref));

		if (!ref)
			break;
		for (size_t i = 0; i < g->n; i++) {
			struct gc_rec *p = g->r[i].gone ? NULL : gc_find(g, g->r[i].parent);

			if (p)
				ref[p - g->r] = true;
		}
		again = false;
		for (size_t i = 0; i < g->n; i++) {
			struct gc_rec *r = &g->r[i];

			if (r->gone || (r->state != BG_TAG_DETACHED &&
					(r->state != BG_TAG_MERGED || r->named || ref[i])))
				continue;
			out[n++] = r->id;
			r->gone = again = true;
		}
		free(ref);
	}
	return n;
}
