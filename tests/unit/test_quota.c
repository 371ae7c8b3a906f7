// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for user/quota.c: the quotas' numbers and the tag rule. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "bpfguard.h"
#include "lineage.h"
#include "quota.h"

static void add(struct tag_table *tt, uint32_t id, uint32_t state, uint32_t uid, bool priv)
{
	struct bg_tag t = { .root_pid = 100 * id, .state = state, .signal = 9, .owner_uid = uid,
			    .owner_ruid = uid, .flags = priv ? BG_TAG_F_PRIV : 0 };

	assert_int_equal(tt_add(tt, id, &t), 0);
}

static void test_defaults(void **state)
{
	struct quota_cfg q;

	(void)state;
	quota_resolve(&q, BG_MAX_PROCS_DEFAULT, BG_MAX_TAGS_DEFAULT, 0, 0);
	assert_int_equal(q.user_procs, 131072 / 16);
	assert_int_equal(q.user_tags, 64);
	assert_int_equal(q.unpriv_procs, 131072 - 131072 / 8);
	assert_int_equal(q.unpriv_tags, 4096 - 4096 / 8);
	/* a map too small for 1/16: one process each, never none */
	quota_resolve(&q, 8, 4, 0, 0);
	assert_int_equal(q.user_procs, 1);
	assert_int_equal(q.unpriv_procs, 7);
	assert_int_equal(q.unpriv_tags, 4);
	/* the flags win, even above the share (the share still holds) */
	quota_resolve(&q, 64, 8, 100, 9);
	assert_int_equal(q.user_procs, 100);
	assert_int_equal(q.user_tags, 9);
	assert_int_equal(q.unpriv_procs, 56);
	assert_int_equal(q.unpriv_tags, 7);
}

static void test_check_bounds(void **state)
{
	(void)state;
	assert_int_equal(quota_check(0, 0, 1, 1), QUOTA_OK);
	assert_int_equal(quota_check(4, 10, 5, 20), QUOTA_OK);
	assert_int_equal(quota_check(5, 10, 5, 20), QUOTA_USER);
	assert_int_equal(quota_check(10, 10, 5, 20), QUOTA_USER); /* twice the bound */
	assert_int_equal(quota_check(1, 20, 5, 20), QUOTA_SHARE);
	assert_int_equal(quota_check(1, 40, 5, 20), QUOTA_SHARE);
	/* the owner's own quota is named first */
	assert_int_equal(quota_check(5, 20, 5, 20), QUOTA_USER);
}

/* Privileged records never count; detached ones hold no place; merged and
 * doomed ones do. */
static void test_count_tags(void **state)
{
	struct tag_table tt = { 0 };
	uint32_t own, all;

	(void)state;
	add(&tt, 1, BG_TAG_ACTIVE, 1000, false);
	add(&tt, 2, BG_TAG_MERGED, 1000, false);
	add(&tt, 3, BG_TAG_DOOMED, 1000, false);
	add(&tt, 4, BG_TAG_DETACHED, 1000, false);
	add(&tt, 5, BG_TAG_ACTIVE, 1001, false);
	add(&tt, 6, BG_TAG_ACTIVE, 0, true);
	add(&tt, 7, BG_TAG_ACTIVE, 1000, true); /* uid 1000 as root would: privileged */
	add(&tt, 8, BG_TAG_ACTIVE, 0, false);	/* a capless uid 0: unprivileged */
	quota_count_tags(&tt, 1000, &own, &all);
	assert_int_equal(own, 3);
	assert_int_equal(all, 5);
	quota_count_tags(&tt, 0, &own, &all);
	assert_int_equal(own, 1);
	assert_int_equal(all, 5);
	quota_count_tags(&tt, 4242, &own, &all);
	assert_int_equal(own, 0);
	assert_int_equal(all, 5);
	tt_free(&tt);
}

static void test_messages(void **state)
{
	struct quota_cfg q;
	char m[200];

	(void)state;
	quota_resolve(&q, 64, 8, 6, 5);
	quota_msg(m, sizeof(m), QUOTA_USER, &q, 1000, 1);
	assert_string_equal(m, "quota of 6 processes for uid 1000 reached (--user-max-procs)");
	quota_msg(m, sizeof(m), QUOTA_USER, &q, 1000, 0);
	assert_string_equal(m, "quota of 5 tags for uid 1000 reached (--user-max-tags)");
	quota_msg(m, sizeof(m), QUOTA_SHARE, &q, 1000, 0);
	assert_non_null(strstr(m, "quota of 7 tags for unprivileged users together reached"));
	assert_non_null(strstr(m, "--max-tags"));
	quota_msg(m, sizeof(m), QUOTA_SHARE, &q, 1000, 1);
	assert_non_null(strstr(m, "quota of 56 processes"));
	assert_non_null(strstr(m, "--max-procs"));
	/* a short buffer truncates, never overflows */
	quota_msg(m, 8, QUOTA_USER, &q, 1000, 1);
	assert_int_equal(strlen(m), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_check_bounds),
		cmocka_unit_test(test_count_tags),
		cmocka_unit_test(test_messages),
	};

	return cmocka_run_group_tests_name("quota", tests, NULL, NULL);
}
