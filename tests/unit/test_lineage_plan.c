// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for user/lineage.c, the writes that end a tag (tt_plan_end):
 * merges, detaches, repairs, in every order, each checked for bounded
 * forwards and for no member escaping its lineage midway.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lineage_fixture.h"

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
		cmocka_unit_test(test_plan_merge),
		cmocka_unit_test(test_plan_detach),
		cmocka_unit_test(test_plan_repair),
		cmocka_unit_test(test_plan_repair_long),
		cmocka_unit_test(test_plan_chain_innermost_first),
		cmocka_unit_test(test_plan_random),
	};

	return cmocka_run_group_tests_name("lineage_plan", tests, NULL, NULL);
}
