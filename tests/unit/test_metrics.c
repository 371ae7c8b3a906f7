// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for user/metrics.c: latency buckets, listen addresses, the
 * exposition text and the HTTP request judge. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bpfguard.h"
#include "metrics.h"
#include "render.h"

static void test_bucket_bounds(void **state)
{
	(void)state;
	assert_int_equal(lat_bucket(0), 0);
	assert_int_equal(lat_bucket(1), 0);
	assert_int_equal(lat_bucket(2), 1);
	assert_int_equal(lat_bucket(3), 2);
	assert_int_equal(lat_bucket(4), 2);
	assert_int_equal(lat_bucket(5), 3);
	assert_int_equal(lat_bucket(1000), 10);	  /* 512 < 1000 <= 1024 */
	assert_int_equal(lat_bucket(1024), 10);
	assert_int_equal(lat_bucket(1025), 11);
	assert_int_equal(lat_bucket(1ull << 32), BG_LAT_BUCKETS - 2);
	assert_int_equal(lat_bucket((1ull << 32) + 1), BG_LAT_BUCKETS - 1);
	assert_int_equal(lat_bucket(UINT64_MAX), BG_LAT_BUCKETS - 1);
	/* every bound falls in its own bucket, one more in the next */
	for (unsigned i = 0; i < BG_LAT_BUCKETS - 1; i++) {
		assert_int_equal(lat_bucket(BG_LAT_LE_US(i)), i);
		assert_int_equal(lat_bucket(BG_LAT_LE_US(i) + 1), i + 1);
	}
}

static void test_hist_add(void **state)
{
	struct lat_hist h = { 0 };

	(void)state;
	lat_add(&h, 100);
	lat_add(&h, 100);
	lat_add(&h, 5000000000ull);
	assert_int_equal(h.count, 3);
	assert_int_equal(h.sum_us, 5000000200ull);
	assert_int_equal(h.buckets[7], 2); /* 64 < 100 <= 128 */
	assert_int_equal(h.buckets[BG_LAT_BUCKETS - 1], 1);
}

static void test_parse_addr(void **state)
{
	static const char *const bad[] = {
		"", "9469", ":9469", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
		"127.0.0.1:-1", "127.0.0.1:94a", "127.0.0.1:+80", "localhost:9469", "127.1:9469",
		"::1:9469", "[::1]", "[::1]9469", "[::1]:", "[nothost]:1", "1.2.3.4.5:1",
		"127.0.0.1:000009469", "[]:1", "127.0.0.1: 80",
	};
	struct sockaddr_storage ss;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;

	(void)state;
	assert_int_equal(metrics_parse_addr("127.0.0.1:9469", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(*in4));
	assert_int_equal(ntohs(in4->sin_port), 9469);
	assert_int_equal(ntohl(in4->sin_addr.s_addr), 0x7f000001);
	assert_int_equal(metrics_parse_addr("0.0.0.0:0", &ss, &len), 0);
	assert_int_equal(ntohs(in4->sin_port), 0);
	assert_int_equal(metrics_parse_addr("[::1]:65535", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(*in6));
	assert_int_equal(ntohs(in6->sin6_port), 65535);
	assert_int_equal(in6->sin6_addr.s6_addr[15], 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (metrics_parse_addr(bad[i], &ss, &len) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
	}
	assert_int_equal(metrics_parse_addr(NULL, &ss, &len), -EINVAL);
}

static char *render(const struct bg_status *st)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(metrics_render(f, st), 0);
	fclose(f);
	return buf;
}

static void sample_status(struct bg_status *st)
{
	memset(st, 0, sizeof(*st));
	st->mode = BG_MODE_KERNEL;
	st->features = BG_FEAT_BTF | BG_FEAT_RINGBUF;
	strcpy(st->kernel, "6.1.0-\"odd\\\n");
	st->tags = 3;
	st->tracked = 12;
	st->max_procs = 131072;
	st->counters[BG_STAT_KILLS] = 42;
	st->counters[BG_STAT_RINGBUF_DROP] = 7;
	st->agent_counters[BG_ASTAT_METRICS_OK] = 5;
	st->lat_buckets[0] = 1;		/* <= 1 us */
	st->lat_buckets[7] = 2;		/* <= 128 us */
	st->lat_buckets[20] = 1;	/* <= 1.048576 s */
	st->lat_buckets[BG_LAT_BUCKETS - 1] = 1; /* > 2^32 us */
	st->lat_count = 5;
	st->lat_sum_us = 1500250;
	st->user_max_procs = 8192;
	st->user_max_tags = 64;
	st->unpriv_max_procs = 114688;
	st->unpriv_max_tags = 3584;
	st->used_procs = 17;
	st->used_tags = 2;
	st->counters[BG_STAT_LIMIT_KILLS] = 9;
}

static void test_render_lines(void **state)
{
	struct bg_status st;
	char *t;

	(void)state;
	sample_status(&st);
	t = render(&st);
	assert_non_null(strstr(t, "# HELP bpfguard_kills_total Descendants SIGKILLed by the agent.\n"
				  "# TYPE bpfguard_kills_total counter\n"
				  "bpfguard_kills_total 42\n"));
	assert_non_null(strstr(t, "\nbpfguard_ringbuf_drops_total 7\n"));
	assert_non_null(strstr(t, "\nbpfguard_metrics_scrapes_total 5\n"));
	assert_non_null(strstr(t, "\nbpfguard_limit_kills_total 9\n"));
	assert_non_null(strstr(t, "# TYPE bpfguard_user_max_processes gauge\n"
				  "bpfguard_user_max_processes 8192\n"));
	assert_non_null(strstr(t, "\nbpfguard_user_max_tags 64\n"));
	assert_non_null(strstr(t, "\nbpfguard_unprivileged_max_processes 114688\n"));
	assert_non_null(strstr(t, "\nbpfguard_unprivileged_max_tags 3584\n"));
	assert_non_null(strstr(t, "\nbpfguard_unprivileged_processes 17\n"));
	assert_non_null(strstr(t, "\nbpfguard_unprivileged_tags 2\n"));
	assert_non_null(strstr(t, "# TYPE bpfguard_tags gauge\nbpfguard_tags 3\n"));
	assert_non_null(strstr(t, "# TYPE bpfguard_tracked_processes gauge\n"
				  "bpfguard_tracked_processes 12\n"));
	/* label values escaped: quote, backslash, newline */
	assert_non_null(strstr(t, "bpfguard_info{mode=\"kernel\",kernel=\"6.1.0-\\\"odd\\\\\\n\","
				  "features=\"btf,ringbuf\"} 1\n"));
	/* cumulative buckets, exact decimal seconds */
	assert_non_null(strstr(t, "# TYPE bpfguard_kill_latency_seconds histogram\n"
				  "bpfguard_kill_latency_seconds_bucket{le=\"0.000001\"} 1\n"
				  "bpfguard_kill_latency_seconds_bucket{le=\"0.000002\"} 1\n"));
	assert_non_null(strstr(t, "{le=\"0.000064\"} 1\n"
				  "bpfguard_kill_latency_seconds_bucket{le=\"0.000128\"} 3\n"));
	assert_non_null(strstr(t, "{le=\"0.524288\"} 3\n"
				  "bpfguard_kill_latency_seconds_bucket{le=\"1.048576\"} 4\n"));
	assert_non_null(strstr(t, "{le=\"4294.967296\"} 4\n"
				  "bpfguard_kill_latency_seconds_bucket{le=\"+Inf\"} 5\n"
				  "bpfguard_kill_latency_seconds_sum 1.50025\n"
				  "bpfguard_kill_latency_seconds_count 5\n"));
	free(t);
}

/* Every sample line names a metric whose HELP and TYPE came before it, and
 * every line is a comment or "name[{labels}] value". */
static void test_render_well_formed(void **state)
{
	struct bg_status st;
	char *t, *save = NULL, seen[64][96];
	size_t nseen = 0, samples = 0;

	(void)state;
	sample_status(&st);
	t = render(&st);
	assert_int_equal(t[strlen(t) - 1], '\n');
	for (char *l = strtok_r(t, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char name[96];
		size_t n;

		if (!strncmp(l, "# HELP ", 7))
			continue;
		if (!strncmp(l, "# TYPE ", 7)) {
			assert_true(nseen < 64);
			assert_int_equal(sscanf(l + 7, "%95s", seen[nseen]), 1);
			nseen++;
			continue;
		}
		n = strspn(l, "abcdefghijklmnopqrstuvwxyz_");
		assert_true(n > 0 && n < sizeof(name));
		memcpy(name, l, n);
		name[n] = '\0';
		assert_true(l[n] == ' ' || l[n] == '{');
		samples++;
		bool found = false;

		for (size_t i = 0; i < nseen && !found; i++) {
			size_t k = strlen(seen[i]);

			found = !strcmp(name, seen[i]) ||
				(!strncmp(name, seen[i], k) &&
				 (!strcmp(name + k, "_bucket") || !strcmp(name + k, "_sum") ||
				  !strcmp(name + k, "_count")));
		}
		if (!found)
			fail_msg("sample %s before its TYPE line", name);
	}
	assert_int_equal(nseen, BG_STAT_MAX + BG_ASTAT_MAX + 12 + 1 + 1);
	assert_int_equal(samples, BG_STAT_MAX + BG_ASTAT_MAX + 12 + 1 + BG_LAT_BUCKETS + 2);
	free(t);
}

static int judge(const char *req, bool *head)
{
	return http_judge(req, strlen(req), head);
}

static void test_http_judge(void **state)
{
	char big[METRICS_REQ_MAX];
	bool head;

	(void)state;
	assert_int_equal(judge("GET /metrics HTTP/1.0\r\n\r\n", &head), 200);
	assert_false(head);
	assert_int_equal(judge("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", &head), 200);
	assert_int_equal(judge("GET /metrics?x=1 HTTP/1.1\n\n", &head), 200);
	assert_int_equal(judge("HEAD /metrics HTTP/1.0\r\n\r\n", &head), 200);
	assert_true(head);
	/* incomplete: wait */
	assert_int_equal(judge("", &head), 0);
	assert_int_equal(judge("GET /metr", &head), 0);
	assert_int_equal(judge("GET /metrics HTTP/1.0\r\n", &head), 0);
	assert_int_equal(judge("GET /metrics HTTP/1.0\r\nHost: x\r\n", &head), 0);
	/* wrong path, wrong method */
	assert_int_equal(judge("GET / HTTP/1.0\r\n\r\n", &head), 404);
	assert_int_equal(judge("GET /metricsx HTTP/1.0\r\n\r\n", &head), 404);
	assert_int_equal(judge("POST /metrics HTTP/1.0\r\n\r\n", &head), 405);
	/* garbage is refused as soon as its first line is in */
	assert_int_equal(judge("BLAH\r\n", &head), 400);
	assert_int_equal(judge("GET /metrics\r\n\r\n", &head), 400);
	assert_int_equal(judge("GET /metrics HTTP/2.0\r\n\r\n", &head), 400);
	assert_int_equal(judge("GET metrics HTTP/1.0\r\n\r\n", &head), 400);
	assert_int_equal(judge("GET  /metrics HTTP/1.0\r\n\r\n", &head), 400);
	assert_int_equal(judge("GET /met\x01rics HTTP/1.0\r\n\r\n", &head), 400);
	assert_int_equal(http_judge("GET /\0 HTTP/1.0\r\n\r\n", 19, &head), 400);
	/* too long without its end */
	memset(big, 'A', sizeof(big));
	assert_int_equal(http_judge(big, sizeof(big), &head), 400);
	memcpy(big, "GET /metrics HTTP/1.0\r\nX: ", 26);
	assert_int_equal(http_judge(big, sizeof(big) - 1, &head), 0);
	assert_int_equal(http_judge(big, sizeof(big), &head), 400);
}

static void test_status_json(void **state)
{
	struct bg_status st;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	sample_status(&st);
	st.agent_pid = 77;
	st.subscribers = 2;
	assert_int_equal(render_status_json(f, &st, "/sys/fs/bpf/x\"y"), 0);
	fclose(f);
	assert_non_null(strstr(buf, "{\"agent\":{\"pid\":77,\"mode\":\"kernel\","
				    "\"pin_dir\":\"/sys/fs/bpf/x\\\"y\",\"start_time\":0,"
				    "\"subscribers\":2,\"metrics_port\":0},"));
	assert_non_null(strstr(buf, "\"kernel\":{\"release\":\"6.1.0-\\\"odd\\\\\\n\","
				    "\"features\":[\"btf\",\"ringbuf\"]},\"scope\":\"machine\","
				    "\"tags\":3,\"tracked\":12,"));
	assert_non_null(strstr(buf, "\"kills\":42,"));
	assert_non_null(strstr(buf, "\"agent_counters\":{\"events_sent\":0,"));
	assert_non_null(strstr(buf, "\"kill_latency_us\":{\"count\":5,\"sum\":1500250,"
				    "\"buckets\":[{\"le\":1,\"count\":1},{\"le\":2,\"count\":0},"));
	assert_non_null(strstr(buf, "{\"le\":4294967296,\"count\":0}],\"over\":1}}\n"));
	free(buf);
	/* an unprivileged caller's status says its figures are its own */
	f = open_memstream(&buf, &len);
	st.scope = BG_STATUS_OWN;
	assert_int_equal(render_status_json(f, &st, "/p"), 0);
	fclose(f);
	assert_non_null(strstr(buf, "},\"scope\":\"own\",\"tags\":3,"));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_bounds),
		cmocka_unit_test(test_hist_add),
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_render_lines),
		cmocka_unit_test(test_render_well_formed),
		cmocka_unit_test(test_http_judge),
		cmocka_unit_test(test_status_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
