// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for user/agent/statcache.c: when status may reuse its costly figures. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/statcache.h"

#define T0 (1000 * SC_MAX_AGE_NS)

static const uint64_t S1[SC_SIG_N] = { 10, 20, 30 };

static void test_empty(void **state)
{
	struct stat_cache c = { 0 };

	(void)state;
	assert_false(sc_fresh(&c, S1, T0, false));
	assert_false(sc_fresh(&c, S1, T0, true));
}

static void test_same_signature(void **state)
{
	struct stat_cache c = { 0 };

	(void)state;
	sc_store(&c, S1, T0, 3, 12);
	assert_int_equal(c.tags, 3);
	assert_int_equal(c.tracked, 12);
	assert_true(sc_fresh(&c, S1, T0, true));
	assert_true(sc_fresh(&c, S1, T0 + SC_MAX_AGE_NS - 1, true));
	/* at the age limit, and at twice it: a new walk, exact or not */
	assert_false(sc_fresh(&c, S1, T0 + SC_MAX_AGE_NS, true));
	assert_false(sc_fresh(&c, S1, T0 + 2 * SC_MAX_AGE_NS, false));
	/* a clock that went back is no proof of freshness */
	assert_false(sc_fresh(&c, S1, T0 - 1, false));
}

/* Any counter that moved: exact callers walk again, others wait. */
static void test_signature_moved(void **state)
{
	struct stat_cache c = { 0 };

	(void)state;
	sc_store(&c, S1, T0, 3, 12);
	for (int i = 0; i < SC_SIG_N; i++) {
		uint64_t s[SC_SIG_N] = { S1[0], S1[1], S1[2] };

		s[i]++;
		assert_false(sc_fresh(&c, s, T0 + 1, true));
		assert_true(sc_fresh(&c, s, T0 + 1, false));
		assert_false(sc_fresh(&c, s, T0 + SC_MAX_AGE_NS, false));
	}
}

static void test_invalidate(void **state)
{
	struct stat_cache c = { 0 };

	(void)state;
	sc_store(&c, S1, T0, 3, 12);
	sc_invalidate(&c);
	assert_false(sc_fresh(&c, S1, T0, false));
	assert_false(sc_fresh(&c, S1, T0, true));
	sc_store(&c, S1, T0 + 5, 4, 13);
	assert_true(sc_fresh(&c, S1, T0 + 5, true));
	assert_int_equal(c.tracked, 13);
}

/* Per-owner figures: added up per uid, found again, started anew per walk;
 * past the first allocation (16) nothing is lost. */
static void test_owners(void **state)
{
	struct stat_cache c = { 0 };
	const struct sc_owner *o;

	(void)state;
	assert_null(sc_owner_find(&c, 1000));
	assert_int_equal(sc_owner_add(&c, 1000, 1, 0), 0);
	assert_int_equal(sc_owner_add(&c, 1001, 1, 0), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(sc_owner_add(&c, 1000, 0, 1), 0);
	o = sc_owner_find(&c, 1000);
	assert_non_null(o);
	assert_int_equal(o->tags, 1);
	assert_int_equal(o->tracked, 5);
	o = sc_owner_find(&c, 1001);
	assert_non_null(o);
	assert_int_equal(o->tracked, 0);
	for (uint32_t u = 2000; u < 2040; u++)
		assert_int_equal(sc_owner_add(&c, u, 1, u), 0);
	assert_int_equal(c.nown, 42);
	for (uint32_t u = 2000; u < 2040; u++)
		assert_int_equal(sc_owner_find(&c, u)->tracked, u);
	assert_int_equal(sc_owner_find(&c, 1000)->tracked, 5);
	sc_owner_reset(&c);
	assert_null(sc_owner_find(&c, 1000));
	sc_free(&c);
	assert_null(c.own);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_same_signature),
		cmocka_unit_test(test_signature_moved),
		cmocka_unit_test(test_invalidate),
		cmocka_unit_test(test_owners),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
