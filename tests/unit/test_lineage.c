// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for user/lineage.c: the tag tree over a snapshot of `tags`.
 * One file per module tested, as for the others, though past this tree's
 * rule of about 800 lines: most of it is cases (nestings, merges, untags in
 * every order), each a few lines of data and one assertion.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "bpfguard.h"
#include "lineage.h"

enum { A = BG_TAG_ACTIVE, M = BG_TAG_MERGED, X = BG_TAG_DETACHED, D = BG_TAG_DOOMED };

static void add(struct tag_table *tt, uint32_t id, uint32_t state, uint32_t parent)
{
	struct bg_tag t = {
		.root_start = 1000 + id,
		.root_pid = 100 * id,
		.parent = parent,
		.state = state,
		.signal = 9,
	};

	assert_int_equal(tt_add(tt, id, &t), 0);
}

/* ---- tt_add / tt_find ---------------------------------------------------- */

static void test_add_find(void **state)
{
	struct tag_table tt = { 0 };
	struct bg_tag *t;

	(void)state;
	add(&tt, 7, A, 0);
	add(&tt, 9, M, 7);
	assert_int_equal(tt.n, 2);
	t = tt_find(&tt, 9);
	assert_non_null(t);
	assert_int_equal(t->state, BG_TAG_MERGED);
	assert_int_equal(t->parent, 7);
	assert_int_equal(t->root_pid, 900);
	assert_int_equal(t->root_start, 1009);
	assert_non_null(tt_find(&tt, 7));
	assert_null(tt_find(&tt, 8));
	assert_null(tt_find(&tt, 0)); /* 0 means "no tag", never a record */
	tt_free(&tt);
	assert_int_equal(tt.n, 0);
	assert_null(tt.ids);
}

/* Past the first allocation (64) the table grows and keeps every record. */
static void test_add_grows(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	for (uint32_t id = 1; id <= 300; id++)
		add(&tt, id, id % 2 ? A : M, id - 1);
	assert_int_equal(tt.n, 300);
	assert_true(tt.cap >= 300);
	for (uint32_t id = 1; id <= 300; id++) {
		struct bg_tag *t = tt_find(&tt, id);

		assert_non_null(t);
		assert_int_equal(t->parent, id - 1);
		assert_int_equal(t->root_pid, 100 * id);
	}
	tt_reset(&tt);
	assert_int_equal(tt.n, 0);
	assert_null(tt_find(&tt, 1));
	tt_free(&tt);
}

/* ---- tt_resolve ---------------------------------------------------------- */

static void test_resolve_live(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	add(&tt, 1, A, 0);
	add(&tt, 2, D, 0);
	add(&tt, 3, A, 1); /* nested active tag: itself, not its parent */
	assert_int_equal(tt_resolve(&tt, 1), 1);
	assert_int_equal(tt_resolve(&tt, 2), 2);
	assert_int_equal(tt_resolve(&tt, 3), 3);
	tt_free(&tt);
}

static void test_resolve_merged(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	add(&tt, 1, A, 0);
	add(&tt, 2, M, 1);
	add(&tt, 3, M, 2); /* merged into a merged tag: follow the chain */
	add(&tt, 4, D, 0);
	add(&tt, 5, M, 4); /* merged into a doomed tag */
	assert_int_equal(tt_resolve(&tt, 2), 1);
	assert_int_equal(tt_resolve(&tt, 3), 1);
	assert_int_equal(tt_resolve(&tt, 5), 4);
	tt_free(&tt);
}

static void test_resolve_dead(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	add(&tt, 1, X, 0);
	add(&tt, 2, M, 1);  /* merged into detached */
	add(&tt, 3, M, 2);  /* ... two hops away */
	add(&tt, 4, M, 99); /* merged into a tag that has no record */
	add(&tt, 5, M, 0);  /* merged with no parent (corrupt) */
	assert_int_equal(tt_resolve(&tt, 1), 0);
	assert_int_equal(tt_resolve(&tt, 2), 0);
	assert_int_equal(tt_resolve(&tt, 3), 0);
	assert_int_equal(tt_resolve(&tt, 4), 0);
	assert_int_equal(tt_resolve(&tt, 5), 0);
	assert_int_equal(tt_resolve(&tt, 42), 0); /* missing */
	assert_int_equal(tt_resolve(&tt, 0), 0);
	tt_free(&tt);
}

static void test_resolve_cycle(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	add(&tt, 1, A, 0);
	add(&tt, 5, M, 6);
	add(&tt, 6, M, 5); /* 5 -> 6 -> 5 ... */
	add(&tt, 7, M, 7); /* self loop */
	add(&tt, 8, M, 5); /* leads into the cycle */
	assert_int_equal(tt_resolve(&tt, 5), 0);
	assert_int_equal(tt_resolve(&tt, 6), 0);
	assert_int_equal(tt_resolve(&tt, 7), 0);
	assert_int_equal(tt_resolve(&tt, 8), 0);
	assert_int_equal(tt_resolve(&tt, 1), 1);
	tt_free(&tt);
}

/* Lookups follow BG_MAX_FORWARD forwards, as bg_resolve() does in BPF (the
 * same code, include/tagrules.h): twice what the agent ever leaves. */
static void test_resolve_forward_bound(void **state)
{
	struct tag_table tt = { 0 };
	uint32_t last;

	(void)state;
	assert_true(BG_MAX_FORWARD >= 2 * BG_FORWARD_HOPS);
	add(&tt, 100, A, 0);
	last = 100;
	for (uint32_t i = 1; i <= BG_MAX_FORWARD; i++) {
		add(&tt, 100 + i, M, last);
		last = 100 + i;
	}
	assert_int_equal(tt_resolve(&tt, last), 100);
	/* one forward more than BPF follows: user space must agree, 0 */
	add(&tt, 200, M, last);
	assert_int_equal(tt_resolve(&tt, 200), 0);
	tt_free(&tt);
}

/* ---- tt_parent ----------------------------------------------------------- */

static void test_parent(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	add(&tt, 1, A, 0);
	add(&tt, 2, A, 1);
	add(&tt, 3, M, 1);
	add(&tt, 4, A, 3);  /* enclosing tag was untagged: its parent is live 1 */
	add(&tt, 5, A, 77); /* parent has no record */
	add(&tt, 6, X, 0);
	add(&tt, 7, A, 6);  /* enclosing tag detached (corrupt but possible) */
	add(&tt, 8, D, 1);
	assert_int_equal(tt_parent(&tt, 1), 0);
	assert_int_equal(tt_parent(&tt, 2), 1);
	assert_int_equal(tt_parent(&tt, 4), 1);
	assert_int_equal(tt_parent(&tt, 5), 0);
	assert_int_equal(tt_parent(&tt, 7), 0);
	assert_int_equal(tt_parent(&tt, 8), 1);
	assert_int_equal(tt_parent(&tt, 99), 0);
	assert_int_equal(tt_parent(&tt, 0), 0);
	tt_free(&tt);
}

/* ---- tt_within ----------------------------------------------------------- */

/*
 *   1 ── 2 ── 3        (3 deep)
 *   │    └─ 4          (sibling of 3)
 *   └─ 5 (MERGED into 1)
 *        └─ 6          (active, parent is the merged 5)
 *   10                 (unrelated top-level tag)
 */
static void build_tree(struct tag_table *tt)
{
	add(tt, 1, A, 0);
	add(tt, 2, A, 1);
	add(tt, 3, A, 2);
	add(tt, 4, A, 2);
	add(tt, 5, M, 1);
	add(tt, 6, A, 5);
	add(tt, 10, A, 0);
}

static void test_within_nested(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	build_tree(&tt);
	assert_true(tt_within(&tt, 3, 3));
	assert_true(tt_within(&tt, 3, 2));
	assert_true(tt_within(&tt, 3, 1));
	assert_true(tt_within(&tt, 2, 1));
	assert_true(tt_within(&tt, 1, 1));
	/* not the other way round */
	assert_false(tt_within(&tt, 1, 2));
	assert_false(tt_within(&tt, 1, 3));
	assert_false(tt_within(&tt, 2, 3));
	/* unrelated trees */
	assert_false(tt_within(&tt, 3, 10));
	assert_false(tt_within(&tt, 10, 1));
	tt_free(&tt);
}

static void test_within_siblings(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	build_tree(&tt);
	assert_false(tt_within(&tt, 3, 4));
	assert_false(tt_within(&tt, 4, 3));
	assert_true(tt_within(&tt, 4, 2));
	assert_true(tt_within(&tt, 4, 1));
	tt_free(&tt);
}

static void test_within_merged(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	build_tree(&tt);
	/* members recorded with the merged tag 5 count for its parent 1 */
	assert_true(tt_within(&tt, 5, 1));
	assert_false(tt_within(&tt, 5, 2));
	assert_false(tt_within(&tt, 5, 10));
	/* a live tag under the merged one is under 1 */
	assert_true(tt_within(&tt, 6, 1));
	assert_true(tt_within(&tt, 6, 6));
	assert_false(tt_within(&tt, 6, 2));
	tt_free(&tt);
}

static void test_within_dead(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	build_tree(&tt);
	add(&tt, 20, X, 0);
	add(&tt, 21, M, 20);
	assert_false(tt_within(&tt, 20, 20)); /* detached is nothing */
	assert_false(tt_within(&tt, 21, 20));
	assert_false(tt_within(&tt, 99, 1)); /* missing */
	assert_false(tt_within(&tt, 0, 0));  /* "no tag" is within nothing */
	assert_false(tt_within(&tt, 3, 0));
	tt_free(&tt);
}

/* Parent links that loop (corrupt map) must not hang the agent. */
static void test_within_parent_cycle(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	add(&tt, 1, A, 2);
	add(&tt, 2, A, 1);
	add(&tt, 3, A, 0);
	assert_true(tt_within(&tt, 1, 2));
	assert_true(tt_within(&tt, 2, 1));
	assert_false(tt_within(&tt, 1, 3));
	tt_free(&tt);
}

/* ---- tt_reparent_target -------------------------------------------------- */

/* New top-level tag 9 (outer 0) found a top-level tag below its root: that
 * tag now hangs from 9. */
static void test_reparent_top_level_found(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	add(&tt, 1, A, 0);
	add(&tt, 9, A, 0);
	assert_int_equal(tt_reparent_target(&tt, 1, 0, 9), 1);
	tt_free(&tt);
}

/* found is nested (3 in 2 in 1, all top-level under outer 0): the topmost
 * tag on its chain is what moves, not found itself. */
static void test_reparent_topmost(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	add(&tt, 1, A, 0);
	add(&tt, 2, A, 1);
	add(&tt, 3, A, 2);
	add(&tt, 9, A, 0);
	assert_int_equal(tt_reparent_target(&tt, 3, 0, 9), 1);
	assert_int_equal(tt_reparent_target(&tt, 2, 0, 9), 1);
	tt_free(&tt);
}

/* New tag 9 inside outer 1: found 3 (in 2 in 1) -> 2 is the one just
 * below outer; found 2 (child of outer) -> 2. */
static void test_reparent_below_outer(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	add(&tt, 1, A, 0);
	add(&tt, 2, A, 1);
	add(&tt, 3, A, 2);
	add(&tt, 9, A, 1);
	assert_int_equal(tt_reparent_target(&tt, 3, 1, 9), 2);
	assert_int_equal(tt_reparent_target(&tt, 2, 1, 9), 2);
	tt_free(&tt);
}

/* Enrolment mostly finds members of outer itself, or of an ancestor of
 * outer: nothing changes. */
static void test_reparent_outer_itself(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	add(&tt, 1, A, 0);
	add(&tt, 2, A, 1);
	add(&tt, 9, A, 2);
	assert_int_equal(tt_reparent_target(&tt, 2, 2, 9), 0);
	assert_int_equal(tt_reparent_target(&tt, 1, 2, 9), 0);
	tt_free(&tt);
}

/* found is the new tag, or already under it (directly or deeper): 0. */
static void test_reparent_already_below(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	add(&tt, 1, A, 0);
	add(&tt, 9, A, 1);
	add(&tt, 4, A, 9);
	add(&tt, 5, A, 4);
	assert_int_equal(tt_reparent_target(&tt, 9, 1, 9), 0);
	assert_int_equal(tt_reparent_target(&tt, 4, 1, 9), 0);
	assert_int_equal(tt_reparent_target(&tt, 5, 1, 9), 0);
	/* same with a top-level new tag */
	add(&tt, 20, A, 0);
	add(&tt, 21, A, 20);
	assert_int_equal(tt_reparent_target(&tt, 21, 0, 20), 0);
	assert_int_equal(tt_reparent_target(&tt, 20, 0, 20), 0);
	tt_free(&tt);
}

/* found is recorded by a merged id: it is resolved first; dead ids are 0. */
static void test_reparent_resolves_found(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	add(&tt, 1, A, 0);
	add(&tt, 2, A, 1);
	add(&tt, 3, M, 2);  /* untagged, counts for 2 */
	add(&tt, 6, X, 0);  /* detached */
	add(&tt, 7, M, 6);  /* merged into detached */
	add(&tt, 9, A, 1);
	assert_int_equal(tt_reparent_target(&tt, 3, 1, 9), 2);
	assert_int_equal(tt_reparent_target(&tt, 6, 1, 9), 0);
	assert_int_equal(tt_reparent_target(&tt, 7, 1, 9), 0);
	assert_int_equal(tt_reparent_target(&tt, 55, 1, 9), 0);
	assert_int_equal(tt_reparent_target(&tt, 0, 1, 9), 0);
	/* a merged tag whose parent is outer counts for outer: nothing moves,
	 * least of all the merged record itself */
	add(&tt, 8, M, 1);
	assert_int_equal(tt_reparent_target(&tt, 8, 1, 9), 0);
	/* a detached top-level tag is not a live tag to hang below 20 */
	add(&tt, 20, A, 0);
	assert_int_equal(tt_reparent_target(&tt, 6, 0, 20), 0);
	assert_int_equal(tt_reparent_target(&tt, 7, 0, 20), 0);
	tt_free(&tt);
}

/* A merged tag between found and outer is skipped: the live tag below it
 * is just below outer. */
static void test_reparent_through_merged(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	add(&tt, 1, A, 0);
	add(&tt, 2, M, 1);
	add(&tt, 3, A, 2); /* live parent of 3 is 1 */
	add(&tt, 9, A, 1);
	assert_int_equal(tt_reparent_target(&tt, 3, 1, 9), 3);
	tt_free(&tt);
}

/* found's chain never meets outer (another tree): 0, nothing to change. */
static void test_reparent_unrelated(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	add(&tt, 1, A, 0);
	add(&tt, 9, A, 1);
	add(&tt, 30, A, 0);
	add(&tt, 31, A, 30);
	assert_int_equal(tt_reparent_target(&tt, 31, 1, 9), 0);
	assert_int_equal(tt_reparent_target(&tt, 30, 1, 9), 0);
	tt_free(&tt);
}

/* A doomed tag is still live: it can be moved. */
static void test_reparent_doomed(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	add(&tt, 1, A, 0);
	add(&tt, 2, D, 1);
	add(&tt, 9, A, 1);
	assert_int_equal(tt_reparent_target(&tt, 2, 1, 9), 2);
	tt_free(&tt);
}

/* A parent cycle that never reaches outer terminates with 0. */
static void test_reparent_cycle(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	add(&tt, 1, A, 2);
	add(&tt, 2, A, 1);
	add(&tt, 9, A, 0);
	assert_int_equal(tt_reparent_target(&tt, 1, 50, 9), 0);
	tt_free(&tt);
}

/* ---- nesting depth and height -------------------------------------------- */

/*
 *   1 ── 2 ── 3 ── 6 (DOOMED: still a level)
 *   │    └ 5 (MERGED into 2)
 *   └─ 4
 */
static void build_depth_tree(struct tag_table *tt)
{
	add(tt, 1, A, 0);
	add(tt, 2, A, 1);
	add(tt, 3, A, 2);
	add(tt, 4, A, 1);
	add(tt, 5, M, 2);
	add(tt, 6, D, 3);
}

static void test_depth_height(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	build_depth_tree(&tt);
	assert_int_equal(tt_depth(&tt, 0), 0);
	assert_int_equal(tt_depth(&tt, 1), 1);
	assert_int_equal(tt_depth(&tt, 3), 3);
	assert_int_equal(tt_depth(&tt, 6), 4);
	assert_int_equal(tt_depth(&tt, 5), 2); /* a merged id: its live tag's */
	assert_int_equal(tt_depth(&tt, 99), 0);
	assert_int_equal(tt_height(&tt, 1), 4);
	assert_int_equal(tt_height(&tt, 2), 3);
	assert_int_equal(tt_height(&tt, 4), 1);
	assert_int_equal(tt_height(&tt, 6), 1);
	assert_int_equal(tt_height(&tt, 5), 0); /* not live */
	assert_int_equal(tt_height(&tt, 0), 0);
	assert_int_equal(tt_height(&tt, 99), 0);
	tt_free(&tt);
}

/* A new tag below @parent, with tags moved below it: depth above + 1 +
 * the tallest moved subtree (repeats count once). */
static void test_depth_after_tag(void **state)
{
	struct tag_table tt = { 0 };
	uint32_t moved[] = { 2, 2, 4, 2 };

	(void)state;
	build_depth_tree(&tt);
	assert_int_equal(tt_depth_after_tag(&tt, 0, NULL, 0), 1);
	assert_int_equal(tt_depth_after_tag(&tt, 6, NULL, 0), 5);
	assert_int_equal(tt_depth_after_tag(&tt, 1, moved, 4), 1 + 1 + 3);
	assert_int_equal(tt_depth_after_tag(&tt, 1, moved + 2, 1), 1 + 1 + 1);
	assert_int_equal(tt_depth_after_tag(&tt, 0, (uint32_t[]){ 1 }, 1), 5);
	assert_int_equal(tt_depth_after_tag(&tt, 0, (uint32_t[]){ 0 }, 1), 1);
	tt_free(&tt);
}

/* BG_MAX_NEST levels are "within" the top (BG_NEST_WALK covers them, as in
 * BPF); a corrupt chain twice as deep is not, and user space still counts
 * its depth, so the agent refuses to nest below it. */
static void test_depth_bound(void **state)
{
	struct tag_table tt = { 0 };

	(void)state;
	add(&tt, 1, A, 0);
	for (uint32_t id = 2; id <= 2 * BG_MAX_NEST; id++)
		add(&tt, id, A, id - 1);
	assert_int_equal(tt_depth(&tt, BG_MAX_NEST), BG_MAX_NEST);
	assert_true(tt_within(&tt, BG_MAX_NEST, 1));
	assert_false(tt_within(&tt, 2 * BG_MAX_NEST, 1));
	assert_int_equal(tt_depth(&tt, 2 * BG_MAX_NEST), 2 * BG_MAX_NEST);
	assert_int_equal(tt_height(&tt, 1), 2 * BG_MAX_NEST);
	tt_free(&tt);
}

/* ---- the writes that end a tag ------------------------------------------- */

static void copy_table(struct tag_table *dst, const struct tag_table *src)
{
	tt_reset(dst);
	for (size_t i = 0; i < src->n; i++)
		assert_int_equal(tt_add(dst, src->ids[i], &src->tags[i]), 0);
}

/* Forwards from @id to the first record that is not MERGED, unbounded (but
 * for cycles: a big number). */
static int hops(const struct tag_table *tt, uint32_t id)
{
	int h = 0;

	for (const struct bg_tag *t = tt_find(tt, id); t && t->state == BG_TAG_MERGED;
	     t = tt_find(tt, t->parent)) {
		if (++h > 1000)
			break;
	}
	return h;
}

/* Every record resolves within the invariant's forwards. */
static void assert_hops_bounded(const struct tag_table *tt)
{
	for (size_t i = 0; i < tt->n; i++) {
		if (hops(tt, tt->ids[i]) > BG_FORWARD_HOPS)
			fail_msg("tag %u forwards %d times", tt->ids[i], hops(tt, tt->ids[i]));
		if (tt->tags[i].state == BG_TAG_ACTIVE || tt->tags[i].state == BG_TAG_DOOMED) {
			/* a live tag's parent: live, or one forward during step 2 */
			if (hops(tt, tt->tags[i].parent) > 1)
				fail_msg("tag %u's parent forwards %d times", tt->ids[i],
					 hops(tt, tt->tags[i].parent));
		}
	}
}

/* Once a plan is through: one forward at most, live tags hang from live tags
 * (or from nothing). */
static void assert_steady(const struct tag_table *tt)
{
	for (size_t i = 0; i < tt->n; i++) {
		if (hops(tt, tt->ids[i]) > 1)
			fail_msg("tag %u forwards %d times after the plan", tt->ids[i],
				 hops(tt, tt->ids[i]));
		if ((tt->tags[i].state == BG_TAG_ACTIVE || tt->tags[i].state == BG_TAG_DOOMED) &&
		    hops(tt, tt->tags[i].parent))
			fail_msg("live tag %u hangs from merged %u after the plan", tt->ids[i],
				 tt->tags[i].parent);
	}
}

/* No record drops out of a tag that is still live: whatever was within a
 * live tag before the plan is within it in @mid, while it is live there. */
static void assert_nobody_escapes(const struct tag_table *before, const struct tag_table *mid)
{
	for (size_t i = 0; i < before->n; i++) {
		for (size_t j = 0; j < mid->n; j++) {
			uint32_t x = before->ids[i], anc = mid->ids[j];

			if (tt_resolve(mid, anc) != anc || !tt_within(before, x, anc))
				continue;
			if (!tt_within(mid, x, anc))
				fail_msg("tag %u left live tag %u mid-plan", x, anc);
		}
	}
}

static void apply_write(struct tag_table *tt, const struct tt_write *w)
{
	struct bg_tag *t = tt_find(tt, w->id);

	if (w->del) {
		assert_non_null(t); /* a plan deletes only what exists */
		*t = tt->tags[tt->n - 1];
		tt->ids[t - tt->tags] = tt->ids[tt->n - 1];
		tt->n--;
	} else if (t) {
		*t = w->rec;
	} else {
		assert_int_equal(tt_add(tt, w->id, &w->rec), 0);
	}
}

/*
 * End @id in @tt through tt_plan_end, and check it against what an untag
 * means, write by write: applied in order to a copy of the table, no write
 * ever leaves a record more than BG_FORWARD_HOPS forwards away; at the end
 * the snapshot tt_plan_end updated is the copy, every record that counted
 * for @id counts for its enclosing tag (nothing at the top), every other
 * keeps its tag, and the nesting is the same with @id taken out.
 */
static void end_and_check(struct tag_table *tt, uint32_t id)
{
	struct tag_table before = { 0 }, w = { 0 };
	struct tt_plan p = { 0 };
	uint32_t into;

	copy_table(&before, tt);
	copy_table(&w, tt);
	into = tt_parent(tt, id);
	assert_int_equal(tt_plan_end(tt, id, &p), 0);
	assert_true(p.n >= 1);
	for (size_t i = 0; i < p.n; i++) {
		apply_write(&w, &p.w[i]);
		assert_hops_bounded(&w);
		assert_nobody_escapes(&before, &w);
	}
	assert_steady(&w);
	assert_int_equal(w.n, tt->n);
	for (size_t i = 0; i < w.n; i++) {
		struct bg_tag *t = tt_find(tt, w.ids[i]);

		assert_non_null(t);
		assert_memory_equal(t, &w.tags[i], sizeof(*t));
	}
	for (size_t i = 0; i < before.n; i++) {
		uint32_t x = before.ids[i], was = tt_resolve(&before, x);
		struct bg_tag *bt = &before.tags[i];

		if (tt_find(tt, x)) {
			assert_int_equal(tt_resolve(tt, x), was == id ? into : was);
		} else {
			/* only the ended tag or what forwarded to it at the top goes */
			assert_true(x == id || (!into && was == id));
		}
		if (x != id && (bt->state == BG_TAG_ACTIVE || bt->state == BG_TAG_DOOMED)) {
			uint32_t par = tt_parent(&before, x);

			assert_int_equal(tt_parent(tt, x), par == id ? into : par);
		}
	}
	tt_plan_free(&p);
	tt_free(&before);
	tt_free(&w);
}

/*
 *   1 ── 2 ── 3
 *   │    └ 4 (MERGED into 2)
 *   └─ 5
 * Untag 2: 2 merges into 1 first, then 3 and 4 hang from 1 directly.
 */
static void test_plan_merge(void **state)
{
	struct tag_table tt = { 0 };
	struct tt_plan p = { 0 };

	(void)state;
	add(&tt, 1, A, 0);
	add(&tt, 2, A, 1);
	add(&tt, 3, A, 2);
	add(&tt, 4, M, 2);
	add(&tt, 5, A, 1);
	assert_int_equal(tt_plan_end(&tt, 2, &p), 0);
	assert_int_equal(p.n, 3);
	assert_int_equal(p.w[0].id, 2);
	assert_false(p.w[0].del);
	assert_int_equal(p.w[0].rec.state, BG_TAG_MERGED);
	assert_int_equal(p.w[0].rec.parent, 1);
	assert_int_equal(p.w[0].rec.root_pid, 200); /* the rest of the record kept */
	for (size_t i = 1; i < p.n; i++) {
		assert_true(p.w[i].id == 3 || p.w[i].id == 4);
		assert_false(p.w[i].del);
		assert_int_equal(p.w[i].rec.parent, 1);
		assert_int_equal(p.w[i].rec.state, p.w[i].id == 3 ? BG_TAG_ACTIVE : BG_TAG_MERGED);
	}
	assert_int_equal(tt_find(&tt, 3)->parent, 1);
	assert_int_equal(tt_find(&tt, 5)->parent, 1);
	tt_plan_free(&p);
	tt_free(&tt);
}

/* Untag a top-level tag: it goes first; what merged into it goes (it
 * counted for nothing any more), tags nested right below become top level. */
static void test_plan_detach(void **state)
{
	struct tag_table tt = { 0 };
	struct tt_plan p = { 0 };

	(void)state;
	add(&tt, 1, A, 0);
	add(&tt, 2, M, 1);
	add(&tt, 3, A, 1);
	add(&tt, 4, A, 3);
	add(&tt, 9, A, 0);
	assert_int_equal(tt_plan_end(&tt, 1, &p), 0);
	assert_int_equal(p.n, 3);
	assert_int_equal(p.w[0].id, 1);
	assert_true(p.w[0].del);
	for (size_t i = 1; i < p.n; i++) {
		if (p.w[i].id == 2) {
			assert_true(p.w[i].del);
		} else {
			assert_int_equal(p.w[i].id, 3);
			assert_false(p.w[i].del);
			assert_int_equal(p.w[i].rec.parent, 0);
		}
	}
	assert_null(tt_find(&tt, 1));
	assert_null(tt_find(&tt, 2));
	assert_int_equal(tt_parent(&tt, 3), 0);
	assert_true(tt_within(&tt, 4, 3));
	assert_int_equal(tt.n, 3);
	tt_plan_free(&p);
	tt_free(&tt);
	assert_int_equal(tt_plan_end(&tt, 1, &p), -ENOENT);
	tt_plan_free(&p);
}

/* What an agent killed between the steps leaves (records forwarding twice,
 * a live tag hanging from a merged one), and cycles, are repointed first. */
static void test_plan_repair(void **state)
{
	struct tag_table tt = { 0 };
	struct tt_plan p = { 0 };

	(void)state;
	add(&tt, 1, A, 0);
	add(&tt, 2, M, 1);
	add(&tt, 3, M, 2);
	add(&tt, 4, A, 2);
	add(&tt, 5, M, 5);
	add(&tt, 6, M, 7);
	add(&tt, 7, M, 6);
	add(&tt, 8, M, 99); /* forwards to nothing: left alone (one lookup) */
	assert_int_equal(tt_plan_repair(&tt, &p), 0);
	assert_int_equal(tt_find(&tt, 3)->parent, 1);
	assert_int_equal(tt_find(&tt, 4)->parent, 1);
	assert_int_equal(tt_find(&tt, 5)->parent, 0);
	assert_int_equal(tt_find(&tt, 6)->parent, 0);
	assert_int_equal(tt_find(&tt, 8)->parent, 99);
	assert_int_equal(tt_resolve(&tt, 3), 1);
	for (size_t i = 0; i < p.n; i++)
		assert_true(p.w[i].id >= 3 && p.w[i].id <= 7);
	assert_hops_bounded(&tt);
	tt_plan_free(&p);
	/* a repaired table needs nothing more */
	assert_int_equal(tt_plan_repair(&tt, &p), 0);
	assert_int_equal(p.n, 0);
	/* and an untag starts with the repairs */
	add(&tt, 10, M, 3);  /* 10 -> 3 -> 1: left by a dead agent */
	add(&tt, 11, A, 4);
	add(&tt, 13, M, 4);  /* merged into 4 ... */
	add(&tt, 12, M, 13); /* ... and 12 not repointed yet: 12 -> 13 -> 4 */
	end_and_check(&tt, 4); /* 4 merged first would make that three */
	tt_plan_free(&p);
	tt_free(&tt);
}

/* An old agent's chain of 3x BG_MAX_FORWARD forwards: repaired to one. */
static void test_plan_repair_long(void **state)
{
	struct tag_table tt = { 0 };
	struct tt_plan p = { 0 };

	(void)state;
	add(&tt, 1, A, 0);
	for (uint32_t id = 2; id <= 3 * BG_MAX_FORWARD; id++)
		add(&tt, id, M, id - 1);
	assert_int_equal(tt_resolve(&tt, 3 * BG_MAX_FORWARD), 0);
	assert_int_equal(tt_plan_repair(&tt, &p), 0);
	for (uint32_t id = 2; id <= 3 * BG_MAX_FORWARD; id++)
		assert_int_equal(tt_resolve(&tt, id), 1);
	tt_plan_free(&p);
	tt_free(&tt);
}

/* The accidental case: a chain of tags twice the forward bound... and the
 * nesting bound, untagged innermost first: one forward each, always. */
static void test_plan_chain_innermost_first(void **state)
{
	struct tag_table tt = { 0 };
	const uint32_t n = 2 * BG_MAX_FORWARD * BG_MAX_NEST;

	(void)state;
	add(&tt, 1, A, 0);
	for (uint32_t id = 2; id <= n; id++)
		add(&tt, id, A, id - 1);
	for (uint32_t id = n; id >= 2; id--)
		end_and_check(&tt, id);
	for (uint32_t id = 1; id <= n; id++)
		assert_int_equal(tt_resolve(&tt, id), 1);
	tt_free(&tt);
}

/* Random tags and untags, many times the bounds: after every write of every
 * plan the forwards stay within the invariant, and untags mean what they
 * should (end_and_check). */
static void test_plan_random(void **state)
{
	struct tag_table tt = { 0 };
	uint32_t next = 1, rng = 12345;

	(void)state;
	for (int step = 0; step < 3000; step++) {
		uint32_t live[512], nl = 0;

		rng = rng * 1103515245u + 12345u;
		for (size_t i = 0; i < tt.n && nl < 512; i++)
			if (tt.tags[i].state == BG_TAG_ACTIVE)
				live[nl++] = tt.ids[i];
		if (nl < 4 || (rng >> 16) % 3 == 0) {
			/* a new tag: top level or nested in a random live one,
			 * within the nesting bound as the agent keeps it */
			uint32_t par = nl && (rng >> 8) % 4 ? live[(rng >> 4) % nl] : 0;

			if (tt_depth(&tt, par) + 1 <= BG_MAX_NEST)
				add(&tt, next++, A, par);
		} else {
			end_and_check(&tt, live[(rng >> 4) % nl]);
		}
	}
	assert_true(next > 500);
	tt_free(&tt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_find),
		cmocka_unit_test(test_add_grows),
		cmocka_unit_test(test_resolve_live),
		cmocka_unit_test(test_resolve_merged),
		cmocka_unit_test(test_resolve_dead),
		cmocka_unit_test(test_resolve_cycle),
		cmocka_unit_test(test_resolve_forward_bound),
		cmocka_unit_test(test_parent),
		cmocka_unit_test(test_within_nested),
		cmocka_unit_test(test_within_siblings),
		cmocka_unit_test(test_within_merged),
		cmocka_unit_test(test_within_dead),
		cmocka_unit_test(test_within_parent_cycle),
		cmocka_unit_test(test_reparent_top_level_found),
		cmocka_unit_test(test_reparent_topmost),
		cmocka_unit_test(test_reparent_below_outer),
		cmocka_unit_test(test_reparent_outer_itself),
		cmocka_unit_test(test_reparent_already_below),
		cmocka_unit_test(test_reparent_resolves_found),
		cmocka_unit_test(test_reparent_through_merged),
		cmocka_unit_test(test_reparent_unrelated),
		cmocka_unit_test(test_reparent_doomed),
		cmocka_unit_test(test_reparent_cycle),
		cmocka_unit_test(test_depth_height),
		cmocka_unit_test(test_depth_after_tag),
		cmocka_unit_test(test_depth_bound),
		cmocka_unit_test(test_plan_merge),
		cmocka_unit_test(test_plan_detach),
		cmocka_unit_test(test_plan_repair),
		cmocka_unit_test(test_plan_repair_long),
		cmocka_unit_test(test_plan_chain_innermost_first),
		cmocka_unit_test(test_plan_random),
	};

	return cmocka_run_group_tests_name("lineage", tests, NULL, NULL);
}
