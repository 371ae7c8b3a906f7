// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for user/agent/reaper.c: pending kills, with real pidfds of children. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/reaper.h"

#define S 1000000000ull

static pid_t kids[2];

/* Two children that sleep until killed (both forked before any pidfd is
 * opened: a child would hold a copy of it, and a closed pidfd would stay in
 * the epoll set); *fa, *fb their pidfds. */
static void children(pid_t *a, pid_t *b, int *fa, int *fb)
{
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			pause();
			_exit(0);
		}
	}
	*a = kids[0];
	*b = kids[1];
	*fa = (int)pidfd_open(*a, 0);
	*fb = (int)pidfd_open(*b, 0);
	assert_true(*fa >= 0 && *fb >= 0);
}

/* Only our own unreaped children: a reaped pid may be someone's now. */
static void reap_child(pid_t pid)
{
	for (int i = 0; i < 2; i++) {
		if (kids[i] == pid && pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			kids[i] = 0;
		}
	}
}

/* A failed test leaves no child behind. */
static int kill_kids(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++)
		reap_child(kids[i]);
	return 0;
}

static struct pk_member member(uint32_t pid, uint64_t start, int fd, uint64_t first_sig)
{
	return (struct pk_member){ .pid = pid, .start = start, .fd = fd, .first_sig = first_sig,
				   .comm = "victim" };
}

static int ep_ready(int ep)
{
	struct epoll_event ev;

	return epoll_wait(ep, &ev, 1, 0);
}

static void test_get_find_drop(void **state)
{
	struct reaper r;
	struct pkill *k;

	(void)state;
	reaper_init(&r);
	assert_null(reaper_find(&r, 3));
	/* twice the first allocation: pointers move, records do not */
	for (uint32_t t = 1; t <= 40; t++) {
		k = reaper_get(&r, t);
		assert_non_null(k);
		k->sweeps = (int)t;
	}
	assert_int_equal(r.n, 40);
	assert_ptr_equal(reaper_get(&r, 7), reaper_find(&r, 7));
	assert_int_equal(reaper_find(&r, 7)->sweeps, 7);
	reaper_drop(&r, 7);
	reaper_drop(&r, 99); /* not there: nothing happens */
	assert_null(reaper_find(&r, 7));
	assert_int_equal(r.n, 39);
	for (uint32_t t = 1; t <= 40; t++)
		if (t != 7)
			assert_int_equal(reaper_find(&r, t)->sweeps, (int)t);
	reaper_close(&r);
	assert_int_equal(r.n, 0);
}

/* A death wakes the epoll set; reaping closes the pidfd, so it stops. */
static void test_reap_dead(void **state)
{
	struct reaper r;
	struct pkill *k;
	struct pk_member m;
	int fa, fb, ep;
	pid_t a, b;

	(void)state;
	reaper_init(&r);
	ep = reaper_open(&r);
	assert_true(ep >= 0);
	children(&a, &b, &fa, &fb);
	k = reaper_get(&r, 1);
	m = member((uint32_t)a, 10, fa, 0);
	assert_int_equal(pk_add(&r, k, &m, NULL), 0);
	m = member((uint32_t)b, 11, fb, 0);
	assert_int_equal(pk_add(&r, k, &m, NULL), 0);
	assert_int_equal(k->live, 2);
	pk_reap(k);
	assert_int_equal(k->live, 2);
	assert_int_equal(ep_ready(ep), 0);

	reap_child(a);
	assert_int_equal(ep_ready(ep), 1);
	reaper_reap(&r);
	assert_int_equal(k->live, 1);
	assert_int_equal(k->m[0].fd, -1);
	assert_int_equal(ep_ready(ep), 0); /* no busy loop on a death already seen */
	reap_child(b);
	pk_reap(k);
	assert_int_equal(k->live, 0);
	assert_int_equal(k->n, 2); /* members stay known until the next sweep */
	reaper_close(&r);
}

/* Stuck: alive REAPER_STUCK_NS after the first signal, reported once; a
 * re-sweep keeps the first signal's time and the report. */
static void test_stuck_once(void **state)
{
	struct reaper r;
	struct pkill *k, old;
	struct pk_member m, *s;
	size_t i = 0;
	int fa, fb, fa2;
	pid_t a, b;

	(void)state;
	reaper_init(&r);
	children(&a, &b, &fa, &fb);
	k = reaper_get(&r, 1);
	m = member((uint32_t)a, 10, fa, 100 * S);
	assert_int_equal(pk_add(&r, k, &m, NULL), 0);
	m = member((uint32_t)b, 11, fb, 101 * S);
	assert_int_equal(pk_add(&r, k, &m, NULL), 0);

	assert_null(pk_next_stuck(k, &i, 100 * S + REAPER_STUCK_NS - 1));
	i = 0;
	s = pk_next_stuck(k, &i, 100 * S + REAPER_STUCK_NS);
	assert_non_null(s);
	assert_int_equal(s->pid, (uint32_t)a);
	assert_null(pk_next_stuck(k, &i, 100 * S + REAPER_STUCK_NS));
	i = 0;
	assert_null(pk_next_stuck(k, &i, 100 * S + REAPER_STUCK_NS)); /* once */

	/* a re-sweep: a is found again (same identity), b's pid with another
	 * start time is another process: it starts afresh */
	old = *k;
	k->m = NULL;
	k->n = k->cap = k->live = 0;
	fa2 = (int)pidfd_open(a, 0);
	assert_true(fa2 >= 0);
	m = member((uint32_t)a, 10, fa2, 103 * S);
	assert_int_equal(pk_add(&r, k, &m, &old), 0);
	m = member((uint32_t)b, 12, (int)pidfd_open(b, 0), 103 * S);
	assert_int_equal(pk_add(&r, k, &m, &old), 0);
	pk_clear(&old);
	free(old.m);
	assert_int_equal(pk_find(k, (uint32_t)a, 10)->first_sig, 100 * S);
	assert_true(pk_find(k, (uint32_t)a, 10)->stuck);
	assert_int_equal(pk_find(k, (uint32_t)b, 12)->first_sig, 103 * S);
	assert_null(pk_find(k, (uint32_t)b, 11));
	i = 0;
	s = pk_next_stuck(k, &i, 103 * S + REAPER_STUCK_NS);
	assert_non_null(s);
	assert_int_equal(s->pid, (uint32_t)b);
	assert_null(pk_next_stuck(k, &i, 200 * S));

	/* a dead member is never reported */
	reap_child(a);
	reap_child(b);
	k->m[0].stuck = k->m[1].stuck = false;
	pk_reap(k);
	i = 0;
	assert_null(pk_next_stuck(k, &i, 300 * S));
	reaper_close(&r);
}

/* A member no pidfd could be had for (no fds left) is live until a sweep
 * misses it, never in the epoll set, and reported stuck like the others. */
static void test_unwatched(void **state)
{
	struct reaper r;
	struct pkill *k;
	struct pk_member m = { .pid = 4242, .start = 7, .fd = -1, .unwatched = true,
			       .first_sig = 50 * S }, *s;
	size_t i = 0;

	(void)state;
	reaper_init(&r);
	assert_true(reaper_open(&r) >= 0);
	k = reaper_get(&r, 3);
	assert_int_equal(pk_add(&r, k, &m, NULL), 0);
	pk_reap(k);
	assert_int_equal(k->live, 1);
	assert_null(pk_next_stuck(k, &i, 50 * S + REAPER_STUCK_NS - 1));
	i = 0;
	s = pk_next_stuck(k, &i, 50 * S + REAPER_STUCK_NS);
	assert_non_null(s);
	assert_int_equal(s->pid, 4242);
	pk_clear(k); /* nothing to close */
	reaper_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_find_drop),
		cmocka_unit_test_teardown(test_reap_dead, kill_kids),
		cmocka_unit_test_teardown(test_stuck_once, kill_kids),
		cmocka_unit_test(test_unwatched),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
