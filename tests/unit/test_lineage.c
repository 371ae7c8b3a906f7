// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for user/lineage.c: the tag tree over a snapshot of `tags`
 * (lookups, forwards, nesting, reparenting, depth). The writes that end a
 * tag are in test_lineage_plan.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lineage_fixture.h"

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
	};

	return cmocka_run_group_tests_name("lineage", tests, NULL, NULL);
}
