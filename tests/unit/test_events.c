// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for user/agent/events.c: event lines, and the fan-out to subscribers
 * (real socket pairs and a real epoll set, no agent). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "bpfguard.h"
#include "agent/events.h"

#define TS 1700000000123456ull /* 2023-11-14T22:13:20.123456Z */

static char *fmt(const struct ev *e)
{
	static char buf[4096];
	int n = ev_format(buf, sizeof(buf), e);

	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(buf));
	assert_int_equal(buf[n - 1], '\n');
	buf[n - 1] = '\0'; /* compare without the newline */
	return buf;
}

static void test_tag_line(void **state)
{
	struct ev e = { .type = EV_TAG, .ts_us = TS, .tag = 7, .pid = 4242, .comm = "make",
			.uid = 1000, .priv = false, .parent_tag = 3, .sig = 15,
			.grace_ns = 2500000000ull };

	(void)state;
	assert_string_equal(fmt(&e), "{\"ts\":1700000000.123456,\"event\":\"tag\",\"tag\":7,"
				     "\"pid\":4242,\"comm\":\"make\",\"uid\":1000,"
				     "\"privileged\":false,\"parent_tag\":3,\"signal\":\"TERM\","
				     "\"grace_ms\":2500,\"updated\":false}");
	e.flag = true;
	e.priv = true;
	e.sig = 9;
	e.grace_ns = 0;
	assert_non_null(strstr(fmt(&e), "\"privileged\":true,\"parent_tag\":3,\"signal\":\"KILL\","
					"\"grace_ms\":0,\"updated\":true}"));
}

/* A comm is raw bytes: quote, backslash, controls and high bytes escaped. */
static void test_comm_escaped(void **state)
{
	struct ev e = { .type = EV_KILL, .ts_us = TS, .tag = 1, .pid = 9, .sig = 9,
			.comm = "q\"b\\s\n\x01\xff", .latency_ns = 1234567 };

	(void)state;
	assert_string_equal(fmt(&e), "{\"ts\":1700000000.123456,\"event\":\"kill\",\"tag\":1,"
				     "\"pid\":9,\"comm\":\"q\\\"b\\\\s\\n\\u0001\\u00ff\","
				     "\"signal\":\"KILL\",\"latency_us\":1234,\"newborn\":false}");
}

/* A process numbered differently in its own PID namespace carries that
 * number too; one that is not, nothing more. */
static void test_kill_nspid(void **state)
{
	struct ev e = { .type = EV_KILL, .ts_us = TS, .tag = 1, .pid = 31337, .sig = 9,
			.comm = "sh", .latency_ns = 1000, .nspid = 7 };

	(void)state;
	assert_non_null(strstr(fmt(&e), "\"pid\":31337,"));
	assert_non_null(strstr(fmt(&e), ",\"newborn\":false,\"nspid\":7}"));
	e.nspid = 0;
	assert_null(strstr(fmt(&e), "nspid"));
}

static void test_kill_latency_unknown(void **state)
{
	struct ev e = { .type = EV_KILL, .ts_us = TS, .tag = 1, .pid = 9, .sig = 9,
			.comm = "x", .latency_ns = -1, .flag = true };

	(void)state;
	assert_null(strstr(fmt(&e), "latency"));
	assert_non_null(strstr(fmt(&e), "\"newborn\":true}"));
}

static void test_other_lines(void **state)
{
	struct ev untag = { .type = EV_UNTAG, .ts_us = TS, .tag = 4, .pid = 10, .uid = 0,
			    .parent_tag = 2 };
	struct ev adopt = { .type = EV_ADOPT, .ts_us = TS, .tag = 4, .pid = 11, .pid2 = 10,
			    .uid = 5, .comm = "w" };
	struct ev rexit = { .type = EV_ROOT_EXIT, .ts_us = TS, .tag = 4, .pid = 10, .sig = 9,
			    .latency_ns = 80000 };
	struct ev dead = { .type = EV_LINEAGE_DEAD, .ts_us = TS, .tag = 4, .pid = 10, .count = 3,
			   .total = 2, .latency_ns = 999999 };
	struct ev kref = { .type = EV_KILL_REFUSED, .ts_us = TS, .tag = 4, .pid = 12, .uid = 5,
			   .comm = "su", .msg = "not yours" };
	struct ev ref = { .type = EV_REFUSED, .ts_us = TS, .op = "untag", .uid = 5, .pid = 1,
			  .err = EPERM, .msg = "permission \"denied\"" };
	struct ev drop = { .type = EV_DROP, .ts_us = TS, .counter = "ringbuf_drops", .count = 2,
			   .total = 7 };
	struct ev stop = { .type = EV_AGENT_STOP, .ts_us = TS, .msg = "agent stopping" };
	struct ev hello = { .type = EV_SUBSCRIBED, .ts_us = TS, .uid = 5 };
	struct ev stuck = { .type = EV_STUCK, .ts_us = TS, .tag = 4, .pid = 13, .comm = "fuse",
			    .latency_ns = 2500999999, .nspid = 2 };
	/* the types after stuck were once all "unknown" */
	struct ev kreq = { .type = EV_KILL_REQUEST, .ts_us = TS, .tag = 4, .pid = 10, .uid = 5 };
	struct ev rel = { .type = EV_RELEASE, .ts_us = TS, .tag = 4, .pid = 14, .uid = 5,
			  .comm = "d", .count = 3, .total = 1 };
	struct ev beyond = { .type = (enum ev_type)(EV_RELEASE + 1), .ts_us = TS };

	(void)state;
	assert_string_equal(fmt(&untag), "{\"ts\":1700000000.123456,\"event\":\"untag\",\"tag\":4,"
					 "\"pid\":10,\"uid\":0,\"parent_tag\":2}");
	assert_string_equal(fmt(&adopt), "{\"ts\":1700000000.123456,\"event\":\"adopt\",\"tag\":4,"
					 "\"root_pid\":10,\"pid\":11,\"comm\":\"w\",\"uid\":5}");
	assert_string_equal(fmt(&rexit), "{\"ts\":1700000000.123456,\"event\":\"root_exit\","
					 "\"tag\":4,\"pid\":10,\"signal\":\"KILL\",\"grace_ms\":0,"
					 "\"latency_us\":80}");
	assert_string_equal(fmt(&dead), "{\"ts\":1700000000.123456,\"event\":\"lineage_dead\","
					"\"tag\":4,\"pid\":10,\"killed\":3,\"sweeps\":2,"
					"\"latency_us\":999}");
	assert_string_equal(fmt(&kref), "{\"ts\":1700000000.123456,\"event\":\"kill_refused\","
					"\"tag\":4,\"pid\":12,\"comm\":\"su\",\"owner_uid\":5,"
					"\"reason\":\"not yours\"}");
	assert_string_equal(fmt(&ref), "{\"ts\":1700000000.123456,\"event\":\"refused\","
				       "\"op\":\"untag\",\"uid\":5,\"pid\":1,\"pid2\":0,"
				       "\"errno\":\"EPERM\",\"reason\":\"permission \\\"denied\\\"\"}");
	assert_string_equal(fmt(&drop), "{\"ts\":1700000000.123456,\"event\":\"drop\","
					"\"counter\":\"ringbuf_drops\",\"delta\":2,\"total\":7}");
	assert_string_equal(fmt(&stop), "{\"ts\":1700000000.123456,\"event\":\"agent_stop\","
					"\"reason\":\"agent stopping\"}");
	assert_string_equal(fmt(&hello), "{\"ts\":1700000000.123456,\"event\":\"subscribed\","
					 "\"uid\":5,\"privileged\":false}");
	assert_string_equal(fmt(&stuck), "{\"ts\":1700000000.123456,\"event\":\"stuck\","
					 "\"tag\":4,\"pid\":13,\"comm\":\"fuse\",\"stuck_ms\":2500,"
					 "\"nspid\":2}");
	assert_non_null(strstr(fmt(&kreq), "\"event\":\"kill_request\",\"tag\":4,\"pid\":10,"));
	assert_string_equal(fmt(&rel), "{\"ts\":1700000000.123456,\"event\":\"release\","
				       "\"tag\":4,\"pid\":14,\"comm\":\"d\",\"uid\":5,"
				       "\"processes\":3,\"tags\":1}");
	assert_string_equal(fmt(&beyond), "{\"ts\":1700000000.123456,\"event\":\"unknown\"}");
}

/* A child killed at birth, for its owner's quota or its lineage's
 * --max-procs; a lineage_dead with its accounting. */
static void test_limit_and_acct(void **state)
{
	struct bg_acct ac = { .born = 7, .exited = 8, .live = 0, .peak = 4, .cpu_ns = 1500000 };
	struct ev quota = { .type = EV_LIMIT, .ts_us = TS, .tag = 4, .pid = 15, .uid = 5,
			    .comm = "f", .msg = "quota" };
	struct ev cap = { .type = EV_LIMIT, .ts_us = TS, .tag = 4, .pid = 16, .uid = 5,
			  .comm = "f", .msg = "max_procs", .count = 3 };
	struct ev dead = { .type = EV_LINEAGE_DEAD, .ts_us = TS, .tag = 4, .pid = 10, .count = 1,
			   .total = 1, .latency_ns = 2000, .acct = &ac };

	(void)state;
	assert_string_equal(fmt(&quota), "{\"ts\":1700000000.123456,\"event\":\"limit\","
					 "\"tag\":4,\"pid\":15,\"comm\":\"f\",\"owner_uid\":5,"
					 "\"reason\":\"quota\"}");
	assert_string_equal(fmt(&cap), "{\"ts\":1700000000.123456,\"event\":\"limit\","
				       "\"tag\":4,\"pid\":16,\"comm\":\"f\",\"owner_uid\":5,"
				       "\"reason\":\"max_procs\",\"max_procs\":3}");
	assert_string_equal(fmt(&dead), "{\"ts\":1700000000.123456,\"event\":\"lineage_dead\","
					"\"tag\":4,\"pid\":10,\"killed\":1,\"sweeps\":1,"
					"\"latency_us\":2,\"acct\":{\"born\":7,\"exited\":8,"
					"\"live\":0,\"peak\":4,\"cpu_exited_ms\":1}}");
}

/* A message full of characters that need escaping still fits one line. */
static void test_long_reason_fits(void **state)
{
	char msg[241];
	char buf[2048];
	struct ev e = { .type = EV_REFUSED, .op = "tag", .err = EINVAL, .msg = msg };

	(void)state;
	memset(msg, 0x01, sizeof(msg) - 1); /* each becomes \u0001: 6 bytes */
	msg[sizeof(msg) - 1] = '\0';
	assert_true(ev_format(buf, sizeof(buf), &e) > 240 * 6);
	assert_int_equal(ev_format(buf, 64, &e), -ENOSPC);
}

static void test_zero_ts_is_now(void **state)
{
	struct ev e = { .type = EV_AGENT_STOP, .msg = "x" };
	unsigned long long sec = 0;

	(void)state;
	assert_int_equal(sscanf(fmt(&e), "{\"ts\":%llu.", &sec), 1);
	assert_true(sec > 1600000000ull);
}

static void test_json_quote(void **state)
{
	char b[8];

	(void)state;
	json_quote(b, sizeof(b), "a\"b");
	assert_string_equal(b, "\"a\\\"b\"");
	json_quote(b, sizeof(b), "abcdefghij"); /* cut, NUL-terminated, no newline */
	assert_int_equal(strlen(b), sizeof(b) - 1);
	assert_null(strchr(b, '\n'));
}

/* ---- fan-out ----------------------------------------------------------- */

struct pair {
	int agent, client;
};

static struct pair sub_pair(struct events *e, uint32_t uid, bool priv, int expect)
{
	int sv[2];
	char line[256];
	ssize_t n;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(events_subscribe(e, sv[0], uid, priv), expect);
	if (expect) {
		close(sv[0]);
		close(sv[1]);
		return (struct pair){ -1, -1 };
	}
	n = read(sv[1], line, sizeof(line) - 1);
	assert_true(n > 0);
	line[n] = '\0';
	assert_non_null(strstr(line, "\"event\":\"subscribed\""));
	return (struct pair){ sv[0], sv[1] };
}

/* What arrived on @fd so far (non-blocking). */
static char *drain(int fd)
{
	static char buf[1 << 16];
	size_t len = 0;
	ssize_t n;

	while ((n = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_DONTWAIT)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return buf;
}

static void test_audience(void **state)
{
	struct events e;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct pair root, alice, bob;
	struct ev tag = { .type = EV_TAG, .tag = 1, .pid = 5, .comm = "x", .sig = 9 };
	char *got;

	(void)state;
	events_init(&e, ep);
	root = sub_pair(&e, 0, true, 0);
	alice = sub_pair(&e, 1000, false, 0);
	bob = sub_pair(&e, 1001, false, 0);
	events_emit(&e, &tag, 1000);		   /* alice's tag */
	tag.tag = 2;
	events_emit(&e, &tag, EV_AUDIENCE_PRIV); /* root's tag */
	got = drain(root.client);
	assert_non_null(strstr(got, "\"tag\":1,"));
	assert_non_null(strstr(got, "\"tag\":2,"));
	got = drain(alice.client);
	assert_non_null(strstr(got, "\"tag\":1,"));
	assert_null(strstr(got, "\"tag\":2,"));
	assert_string_equal(drain(bob.client), "");
	events_close_all(&e, "bye");
	assert_non_null(strstr(drain(bob.client), "\"event\":\"agent_stop\""));
	assert_int_equal(e.n, 0);
	close(root.client);
	close(alice.client);
	close(bob.client);
	close(ep);
}

static void test_limits(void **state)
{
	struct events e;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct pair p[EV_MAX_SUBS];
	size_t n = 0;

	(void)state;
	events_init(&e, ep);
	for (int i = 0; i < EV_MAX_SUBS_PER_UID; i++)
		p[n++] = sub_pair(&e, 1000, false, 0);
	sub_pair(&e, 1000, false, -EUSERS); /* one uid cannot take every slot */
	while (n < EV_MAX_SUBS)
		p[n++] = sub_pair(&e, 0, true, 0);
	sub_pair(&e, 0, true, -EMFILE);
	assert_int_equal(events_may_subscribe(&e, 0, true), -EMFILE);
	events_close_all(&e, "bye");
	for (size_t i = 0; i < n; i++)
		close(p[i].client);
	close(ep);
}

/* A subscriber that never reads is dropped once its backlog passes the
 * bound; emitting never blocks, and a reading subscriber gets every line. */
static void test_slow_reader_dropped(void **state)
{
	struct events e;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct pair slow, fast;
	struct ev k = { .type = EV_KILL, .tag = 1, .pid = 5, .comm = "victim", .sig = 9,
			.latency_ns = -1 };
	size_t lines = 0, got = 0, emitted = 0;
	char buf[1 << 15];
	ssize_t n;

	(void)state;
	events_init(&e, ep);
	slow = sub_pair(&e, 0, true, 0);
	fast = sub_pair(&e, 0, true, 0);
	while (e.n == 2 && emitted < 100000) {
		events_emit(&e, &k, EV_AUDIENCE_PRIV);
		emitted++;
		/* the fast one reads as it goes */
		while ((n = recv(fast.client, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			for (ssize_t i = 0; i < n; i++)
				lines += buf[i] == '\n';
	}
	assert_int_equal(e.n, 1);
	assert_int_equal(e.dropped, 1);
	assert_int_equal(e.subs[0].fd, fast.agent);
	/* the slow one gets EOF after what fitted */
	while ((n = read(slow.client, buf, sizeof(buf))) > 0)
		got += (size_t)n;
	assert_int_equal(n, 0);
	assert_true(got > 0 && got < EV_BACKLOG_MAX + (1u << 22));
	/* flush the rest to the fast one through epoll, as the agent does */
	for (int round = 0; round < 1000 && e.subs[0].len; round++) {
		struct epoll_event ev;

		if (epoll_wait(ep, &ev, 1, 100) == 1)
			events_handle(&e, ev.data.fd, ev.events);
		while ((n = recv(fast.client, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			for (ssize_t i = 0; i < n; i++)
				lines += buf[i] == '\n';
	}
	assert_int_equal(lines, emitted);
	/* a subscriber that hangs up is dropped when epoll reports it */
	close(fast.client);
	{
		struct epoll_event ev;

		assert_int_equal(epoll_wait(ep, &ev, 1, 1000), 1);
		assert_true(events_handle(&e, ev.data.fd, ev.events));
	}
	assert_int_equal(e.n, 0);
	assert_false(events_handle(&e, 12345, EPOLLIN));
	close(slow.client);
	close(ep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tag_line),
		cmocka_unit_test(test_comm_escaped),
		cmocka_unit_test(test_kill_nspid),
		cmocka_unit_test(test_kill_latency_unknown),
		cmocka_unit_test(test_other_lines),
		cmocka_unit_test(test_limit_and_acct),
		cmocka_unit_test(test_long_reason_fits),
		cmocka_unit_test(test_zero_ts_is_now),
		cmocka_unit_test(test_json_quote),
		cmocka_unit_test(test_audience),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_slow_reader_dropped),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
