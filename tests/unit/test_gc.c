// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for user/agent/gc.c: which records of ended tags may go. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "bpfguard.h"
#include "lineage.h"
#include "agent/gc.h"

static void add(struct tag_table *tt, uint32_t id, uint32_t state, uint32_t parent)
{
	struct bg_tag t = { .root_pid = 100 * id, .state = state, .parent = parent, .signal = 9 };

	assert_int_equal(tt_add(tt, id, &t), 0);
}

/* Collect from @tt with procs entries naming @named: the ids, in order. */
static size_t collect(const struct tag_table *tt, const uint32_t *named, size_t nnamed,
		      uint32_t *out)
{
	struct gc g;
	size_t n;

	assert_int_equal(gc_init(&g, tt), 0);
	for (size_t i = 0; i < nnamed; i++)
		gc_mark(&g, named[i]);
	n = gc_collect(&g, out);
	gc_free(&g);
	return n;
}

/* Live tags stay; a detached one goes at once, named or not. */
static void test_detached_goes(void **state)
{
	struct tag_table tt = {};
	uint32_t named[] = { 2 }, out[8];

	(void)state;
	add(&tt, 1, BG_TAG_ACTIVE, 0);
	add(&tt, 2, BG_TAG_DETACHED, 0);
	add(&tt, 3, BG_TAG_DOOMED, 0);
	add(&tt, 4, BG_TAG_DETACHED, 0);
	assert_int_equal(collect(&tt, named, 1, out), 2);
	assert_int_equal(out[0], 2);
	assert_int_equal(out[1], 4);
	tt_free(&tt);
}

/* A merged record stays while an entry names it, else it goes. */
static void test_merged_named_stays(void **state)
{
	struct tag_table tt = {};
	uint32_t named[] = { 5, 0, 77 }, out[8];

	(void)state;
	add(&tt, 1, BG_TAG_ACTIVE, 0);
	add(&tt, 5, BG_TAG_MERGED, 1);
	add(&tt, 6, BG_TAG_MERGED, 1);
	assert_int_equal(collect(&tt, named, 3, out), 1);
	assert_int_equal(out[0], 6);
	tt_free(&tt);
}

/* A merged record another record names stays while that one does; when
 * that one goes, it goes in a later round, after it. */
static void test_merged_chain(void **state)
{
	struct tag_table tt = {};
	uint32_t out[8];

	(void)state;
	/* 3 merged into 2, 2 merged into 1, 1 untagged at the top */
	add(&tt, 1, BG_TAG_DETACHED, 0);
	add(&tt, 2, BG_TAG_MERGED, 1);
	add(&tt, 3, BG_TAG_MERGED, 2);
	assert_int_equal(collect(&tt, NULL, 0, out), 3);
	/* 1 and 3 are named by no surviving record; 2 was named by 3 */
	assert_int_equal(out[0], 1);
	assert_int_equal(out[1], 3);
	assert_int_equal(out[2], 2);
	tt_free(&tt);
}

/* A merged record named by a live tag's record stays; one named only by an
 * entry-named merged record stays too. */
static void test_merged_held(void **state)
{
	struct tag_table tt = {};
	uint32_t named[] = { 4 }, out[8];

	(void)state;
	add(&tt, 1, BG_TAG_ACTIVE, 0);
	add(&tt, 2, BG_TAG_MERGED, 1);
	add(&tt, 3, BG_TAG_ACTIVE, 2); /* an active tag's record still names 2 */
	add(&tt, 4, BG_TAG_MERGED, 5);
	add(&tt, 5, BG_TAG_MERGED, 1); /* named by 4, which an entry names */
	assert_int_equal(collect(&tt, named, 1, out), 0);
	tt_free(&tt);
}

static void test_empty(void **state)
{
	struct tag_table tt = {};
	uint32_t out[1];

	(void)state;
	assert_int_equal(collect(&tt, NULL, 0, out), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detached_goes),
		cmocka_unit_test(test_merged_named_stays),
		cmocka_unit_test(test_merged_chain),
		cmocka_unit_test(test_merged_held),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
