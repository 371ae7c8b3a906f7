// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for user/agent/ratelimit.c: per-uid connection counts, request
 * buckets, and the log line limiter. Every bound is pushed to twice itself. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/ratelimit.h"

#define SEC 1000000000ull
#define T0 (1000 * SEC) /* an arbitrary start: the monotonic clock is not 0 */

/* How many of @n requests from @uid at @now are let through. */
static int requests(struct ratelimit *r, uint32_t uid, uint64_t now, int n)
{
	int ok = 0;

	for (int i = 0; i < n; i++)
		ok += rl_request(r, uid, now);
	return ok;
}

static void test_conns_per_uid(void **state)
{
	struct ratelimit r;

	(void)state;
	rl_init(&r, 56);
	for (int i = 0; i < 2 * RL_CONNS_PER_UID; i++)
		assert_int_equal(rl_connect(&r, 1000, T0), i < RL_CONNS_PER_UID ? 0 : -EBUSY);
	/* another uid is not held up by the first */
	for (int i = 0; i < RL_CONNS_PER_UID; i++)
		assert_int_equal(rl_connect(&r, 1001, T0), 0);
	assert_int_equal(r.conns, 2 * RL_CONNS_PER_UID);
	/* a closed connection frees its slot, one for one */
	rl_disconnect(&r, 1000);
	assert_int_equal(rl_connect(&r, 1000, T0), 0);
	assert_int_equal(rl_connect(&r, 1000, T0), -EBUSY);
	/* closing what was never open changes nothing */
	rl_disconnect(&r, 4242);
	assert_int_equal(r.conns, 2 * RL_CONNS_PER_UID);
	for (int i = 0; i < 2 * RL_CONNS_PER_UID; i++)
		rl_disconnect(&r, 1000);
	assert_int_equal(r.conns, RL_CONNS_PER_UID);
}

/* The unprivileged pool: many uids together fill it, and no more. */
static void test_conns_pool(void **state)
{
	const uint32_t pool = 20;
	struct ratelimit r;
	int ok = 0;

	(void)state;
	rl_init(&r, pool);
	for (uint32_t uid = 1; uid <= 2 * pool; uid++)
		ok += rl_connect(&r, uid, T0) == 0;
	assert_int_equal(ok, pool);
	assert_int_equal(r.conns, pool);
	rl_disconnect(&r, 3);
	assert_int_equal(rl_connect(&r, 2 * pool + 1, T0), 0);
	assert_int_equal(rl_connect(&r, 2 * pool + 2, T0), -EBUSY);
}

static void test_bucket_burst_and_rate(void **state)
{
	struct ratelimit r;

	(void)state;
	rl_init(&r, 56);
	/* a burst of RL_BURST at once, not one more */
	assert_int_equal(requests(&r, 7, T0, 2 * RL_BURST), RL_BURST);
	/* then RL_RATE a second: over 2 s of asking 4 times too often */
	int ok = 0;

	for (uint64_t t = T0; t < T0 + 2 * SEC; t += SEC / (4 * RL_RATE))
		ok += requests(&r, 7, t, 1);
	assert_in_range(ok, 2 * RL_RATE - 1, 2 * RL_RATE + 1);
	/* other uids have buckets of their own */
	assert_int_equal(requests(&r, 8, T0 + 2 * SEC, 2 * RL_BURST), RL_BURST);
	/* after a quiet spell as long as two full refills, one burst only */
	assert_int_equal(requests(&r, 7, T0 + 6 * SEC, 2 * RL_BURST), RL_BURST);
}

/* An empty bucket refills at the rate: half a burst's time, half a burst. */
static void test_bucket_refill(void **state)
{
	struct ratelimit r;

	(void)state;
	rl_init(&r, 56);
	assert_int_equal(requests(&r, 7, T0, RL_BURST), RL_BURST);
	assert_false(rl_request(&r, 7, T0));
	uint64_t half = T0 + (uint64_t)RL_BURST * SEC / RL_RATE / 2;

	assert_int_equal(requests(&r, 7, half, 2 * RL_BURST), RL_BURST / 2);
}

/* The uid table: idle entries are reused, busy ones never. */
static void test_uid_table(void **state)
{
	struct ratelimit r;

	(void)state;
	rl_init(&r, 2 * RL_MAX_UIDS);
	/* RL_MAX_UIDS uids each holding a connection fill the table */
	for (uint32_t uid = 1; uid <= RL_MAX_UIDS; uid++)
		assert_int_equal(rl_connect(&r, uid, T0), 0);
	for (uint32_t uid = RL_MAX_UIDS + 1; uid <= 2 * RL_MAX_UIDS; uid++) {
		assert_int_equal(rl_connect(&r, uid, T0), -EBUSY);
		assert_false(rl_request(&r, uid, T0));
	}
	/* uid 1 leaves, with a used bucket: its entry stays until refilled */
	assert_true(rl_request(&r, 1, T0));
	rl_disconnect(&r, 1);
	assert_int_equal(rl_connect(&r, 500, T0), -EBUSY);
	uint64_t later = T0 + SEC;

	assert_int_equal(rl_connect(&r, 500, later), 0);
	/* and uid 1's bucket is gone with it: a new one, full */
	rl_disconnect(&r, 2);
	assert_int_equal(requests(&r, 1, later, 2 * RL_BURST), RL_BURST);
	/* a uid still connected keeps its (empty) bucket */
	assert_int_equal(requests(&r, 3, later, 2 * RL_BURST), RL_BURST);
	assert_false(rl_request(&r, 3, later + SEC / (2 * RL_RATE)));
}

static void test_log_limit(void **state)
{
	struct rl_log l = { 0 };
	int ok = 0;

	(void)state;
	assert_int_equal(rl_log_flush(&l, T0), 0); /* nothing yet */
	for (int i = 0; i < 2 * RL_LOG_LINES; i++)
		ok += rl_log_allow(&l, T0 + (uint64_t)i);
	assert_int_equal(ok, RL_LOG_LINES);
	/* the interval is not over: nothing to report yet */
	assert_int_equal(rl_log_flush(&l, T0 + RL_LOG_INTERVAL_NS - 1), 0);
	assert_false(rl_log_allow(&l, T0 + RL_LOG_INTERVAL_NS - 1));
	/* over: the count of the lines left out, once */
	assert_int_equal(rl_log_flush(&l, T0 + RL_LOG_INTERVAL_NS), RL_LOG_LINES + 1);
	assert_int_equal(rl_log_flush(&l, T0 + 5 * RL_LOG_INTERVAL_NS), 0);
	/* a new interval starts with the next line */
	ok = 0;
	for (int i = 0; i < 2 * RL_LOG_LINES; i++)
		ok += rl_log_allow(&l, T0 + 10 * RL_LOG_INTERVAL_NS);
	assert_int_equal(ok, RL_LOG_LINES);
	assert_int_equal(rl_log_flush(&l, T0 + 11 * RL_LOG_INTERVAL_NS), RL_LOG_LINES);
}

/* A quiet interval reports nothing, and a flood of many intervals at most
 * RL_LOG_LINES lines each. */
static void test_log_flood(void **state)
{
	struct rl_log l = { 0 };
	uint64_t lines = 0, reported = 0, asked = 0;

	(void)state;
	for (uint64_t t = T0; t < T0 + 20 * RL_LOG_INTERVAL_NS; t += RL_LOG_INTERVAL_NS / 1000) {
		reported += rl_log_flush(&l, t);
		lines += rl_log_allow(&l, t);
		asked++;
	}
	reported += rl_log_flush(&l, T0 + 30 * RL_LOG_INTERVAL_NS);
	assert_true(lines <= 20 * RL_LOG_LINES + RL_LOG_LINES);
	assert_true(lines >= 19 * RL_LOG_LINES);
	assert_int_equal(lines + reported, asked); /* every line logged or counted */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conns_per_uid),	  cmocka_unit_test(test_conns_pool),
		cmocka_unit_test(test_bucket_burst_and_rate), cmocka_unit_test(test_bucket_refill),
		cmocka_unit_test(test_uid_table),	  cmocka_unit_test(test_log_limit),
		cmocka_unit_test(test_log_flood),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
