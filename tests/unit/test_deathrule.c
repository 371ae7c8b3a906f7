// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for user/agent/deathrule.c: what a recorded death leads to,
 * and the pace of a pending kill's sweeps. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/deathrule.h"

#define MS 1000000ull

static struct death_facts tagged(uint32_t sig, uint64_t grace_ns)
{
	return (struct death_facts){ .tagged = true, .signal = sig, .grace_ns = grace_ns,
				     .death_ts = 1000 * MS, .budget_left = true,
				     .now = 1001 * MS };
}

/* No record of the tag: nothing to kill, the death goes. */
static void test_untagged_done(void **state)
{
	struct death_facts f = { .death_ts = 5, .now = 10, .budget_left = false };
	uint64_t deadline;

	(void)state;
	assert_int_equal(death_step(&f, &deadline), DS_DONE);
	assert_int_equal(deadline, 5);
}

/* SIGKILL: the kill step, whatever the grace says. */
static void test_sigkill_kills(void **state)
{
	struct death_facts f = tagged(SIGKILL, 0);
	uint64_t deadline;

	(void)state;
	assert_int_equal(death_step(&f, &deadline), DS_KILL);
	f = tagged(SIGKILL, 5000 * MS);
	assert_int_equal(death_step(&f, &deadline), DS_KILL);
	/* no budget: the kill step itself says so (-EBUSY) */
	f.budget_left = false;
	assert_int_equal(death_step(&f, &deadline), DS_KILL);
}

/* A signal and a grace: signalled once, waited for, then the kill step. */
static void test_grace(void **state)
{
	struct death_facts f = tagged(SIGTERM, 500 * MS);
	uint64_t deadline;

	(void)state;
	assert_int_equal(death_step(&f, &deadline), DS_GRACE_START);
	assert_int_equal(deadline, 1500 * MS);
	f.budget_left = false;
	assert_int_equal(death_step(&f, &deadline), DS_BUDGET);
	f.in_grace = true; /* signalled already: no sweep needed */
	assert_int_equal(death_step(&f, &deadline), DS_GRACE_WAIT);
	f.budget_left = true;
	f.now = 1500 * MS; /* the deadline */
	assert_int_equal(death_step(&f, &deadline), DS_KILL);
	/* a grace already over when the death is taken up (an agent restart):
	 * straight to the kill step, the signal is not sent */
	f.in_grace = false;
	f.now = 9000 * MS;
	assert_int_equal(death_step(&f, &deadline), DS_KILL);
}

/* A lineage that obeyed the grace's signal ends before the deadline; an
 * empty look before the signal was sent (not in grace) changes nothing. */
static void test_grace_empty(void **state)
{
	struct death_facts f = tagged(SIGTERM, 500 * MS);
	uint64_t deadline;

	(void)state;
	f.grace_empty = true;
	assert_int_equal(death_step(&f, &deadline), DS_GRACE_START);
	f.in_grace = true;
	f.budget_left = false; /* the kill step says so itself (-EBUSY) */
	assert_int_equal(death_step(&f, &deadline), DS_KILL);
	f.grace_empty = false;
	assert_int_equal(death_step(&f, &deadline), DS_GRACE_WAIT);
	assert_int_equal(deadline, 1500 * MS);
}

/* A signal without grace: it first, SIGKILL right after; once only. */
static void test_signal_no_grace(void **state)
{
	struct death_facts f = tagged(SIGTERM, 0);
	uint64_t deadline;

	(void)state;
	assert_int_equal(death_step(&f, &deadline), DS_SIGNAL_KILL);
	f.budget_left = false;
	assert_int_equal(death_step(&f, &deadline), DS_BUDGET);
	f.in_grace = true;
	assert_int_equal(death_step(&f, &deadline), DS_KILL);
}

static void test_outcome(void **state)
{
	(void)state;
	assert_int_equal(death_outcome(0), DO_DONE);
	assert_int_equal(death_outcome(-EINPROGRESS), DO_KEPT);
	assert_int_equal(death_outcome(-EBUSY), DO_BUDGET);
	assert_int_equal(death_outcome(-ENOMEM), DO_RETRY);
	assert_int_equal(death_outcome(-EIO), DO_RETRY);
}

/* While members live on, or after two idle sweeps, once per tick. */
static void test_kill_pace(void **state)
{
	uint64_t next = UINT64_MAX;

	(void)state;
	assert_false(kill_waits(0, 0, 100 * MS, TICK_NS, 150 * MS, &next));
	assert_int_equal(next, UINT64_MAX);
	assert_false(kill_waits(0, 1, 100 * MS, TICK_NS, 150 * MS, &next));
	assert_true(kill_waits(3, 0, 100 * MS, TICK_NS, 150 * MS, &next));
	assert_int_equal(next, 100 * MS + TICK_NS);
	next = 120 * MS; /* lowered only */
	assert_true(kill_waits(0, 2, 100 * MS, TICK_NS, 150 * MS, &next));
	assert_int_equal(next, 120 * MS);
	/* the tick passed: sweep again */
	assert_false(kill_waits(3, 0, 100 * MS, TICK_NS, 100 * MS + TICK_NS, &next));
	/* unwatched members: the shorter pace; two idle sweeps: the tick */
	next = UINT64_MAX;
	assert_true(kill_waits(1, 0, 100 * MS, 10 * MS, 105 * MS, &next));
	assert_int_equal(next, 110 * MS);
	assert_false(kill_waits(1, 0, 100 * MS, 10 * MS, 110 * MS, &next));
	next = UINT64_MAX;
	assert_true(kill_waits(0, 2, 100 * MS, 10 * MS, 150 * MS, &next));
	assert_int_equal(next, 100 * MS + TICK_NS);

	assert_int_equal(kill_again(0, 0, TICK_NS, 7), 7);
	assert_int_equal(kill_again(0, 1, TICK_NS, 7), 7);
	assert_int_equal(kill_again(0, 2, 10 * MS, 7), 7 + TICK_NS);
	assert_int_equal(kill_again(1, 0, TICK_NS, 7), 7 + TICK_NS);
	assert_int_equal(kill_again(1, 0, 20 * MS, 7), 7 + 20 * MS);
}

/* Members no pidfd watches: swept again after 10 ms, doubling, up to a tick. */
static void test_unwatched_pace(void **state)
{
	(void)state;
	assert_int_equal(kill_pace(0, 0), TICK_NS);
	assert_int_equal(kill_pace(0, 9), TICK_NS);
	assert_int_equal(kill_pace(1, 0), UNWATCHED_PACE_NS);
	assert_int_equal(kill_pace(1, 1), UNWATCHED_PACE_NS);
	assert_int_equal(kill_pace(3, 2), 2 * UNWATCHED_PACE_NS);
	assert_int_equal(kill_pace(3, 4), 8 * UNWATCHED_PACE_NS);
	assert_int_equal(kill_pace(1, 7), 64 * UNWATCHED_PACE_NS);
	assert_int_equal(kill_pace(1, 8), TICK_NS); /* 1280 ms capped */
	assert_int_equal(kill_pace(1, 1000), TICK_NS);
}

static void test_budget(void **state)
{
	struct sweep_budget b = { .sweeps = SWEEP_BUDGET };

	(void)state;
	assert_true(budget_left(&b));
	b.members = SWEEP_MEMBER_BUDGET;
	assert_false(budget_left(&b));
	b = (struct sweep_budget){ .sweeps = 0 };
	assert_false(budget_left(&b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_untagged_done),
		cmocka_unit_test(test_sigkill_kills),
		cmocka_unit_test(test_grace),
		cmocka_unit_test(test_grace_empty),
		cmocka_unit_test(test_signal_no_grace),
		cmocka_unit_test(test_outcome),
		cmocka_unit_test(test_kill_pace),
		cmocka_unit_test(test_unwatched_pace),
		cmocka_unit_test(test_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
