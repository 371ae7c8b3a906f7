// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_proc: the /proc texts the agent reads (user/parse.c):
 * parse_proc_stat (/proc/PID/stat, read by read_proc_stat) and
 * parse_fdinfo_pid (/proc/self/fdinfo/PIDFD, read by the agent for every
 * request's pidfd). Both readers only read a buffer and hand it over, so
 * the pure parsers are the whole surface. Every input goes through both.
 *
 * Checked: comm is what lies between the first '(' and the last ')', cut to
 * 15 bytes; state the byte after it; what parsed is formatted back as the
 * kernel writes it and parses to the same fields. The Pid: line matches a
 * reference reading of it, lies in -1..INT_MAX, and round-trips.
 */
#include <errno.h>
#include <limits.h>

#include "fuzz.h"
#include "parse.h"

static void check_stat(const char *s)
{
	struct proc_stat st, again;
	const char *open, *close;
	char line[256];
	size_t n;
	int r = parse_proc_stat(s, &st);

	CHECK(r == 0 || r == -EINVAL);
	if (r)
		return;
	open = strchr(s, '(');
	close = strrchr(s, ')');
	CHECK(open && close && open < close);
	CHECK(st.pid > 0);
	n = (size_t)(close - open - 1);
	if (n > sizeof(st.comm) - 1)
		n = sizeof(st.comm) - 1;
	CHECK(memchr(st.comm, '\0', sizeof(st.comm)) == st.comm + n);
	CHECK(!memcmp(st.comm, open + 1, n));
	CHECK(st.state == close[2]);

	/* 4 ppid .. 9 flags .. 22 starttime, the rest as the kernel has it */
	snprintf(line, sizeof(line),
		 "%d (%s) %c %d 0 0 0 -1 %lu 0 0 0 0 0 0 0 0 20 0 1 0 %llu 0 0 0\n", (int)st.pid,
		 st.comm, st.state, (int)st.ppid, st.flags, st.starttime);
	CHECK(parse_proc_stat(line, &again) == 0);
	CHECK(again.pid == st.pid && again.ppid == st.ppid && again.state == st.state);
	CHECK(again.flags == st.flags && again.starttime == st.starttime);
	CHECK(!strcmp(again.comm, st.comm));
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* What parse_fdinfo_pid must answer: the first line that starts with
 * "Pid:" holds [spaces][sign]digits, then the end of the line or text,
 * and a value in -1..INT_MAX. */
static int ref_fdinfo(const char *s, pid_t *out)
{
	const char *p = s;
	__int128 v = 0;
	int neg = 0, digits = 0;

	while (strncmp(p, "Pid:", 4)) {
		p = strchr(p, '\n');
		if (!p)
			return -EINVAL;
		p++;
	}
	for (p += 4; is_space(*p); p++)
		;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	for (; *p >= '0' && *p <= '9'; p++, digits++)
		if (v <= (__int128)INT_MAX + 1)
			v = v * 10 + (*p - '0');
	if (!digits || (*p && *p != '\n'))
		return -EINVAL;
	if (neg)
		v = -v;
	if (v < -1 || v > INT_MAX)
		return -EINVAL;
	*out = (pid_t)v;
	return 0;
}

static void check_fdinfo(const char *s)
{
	pid_t pid = -12345, want = 0, again = 0;
	char line[32];
	int r = parse_fdinfo_pid(s, &pid);

	CHECK(r == ref_fdinfo(s, &want));
	if (r) {
		CHECK(pid == -12345);
		return;
	}
	CHECK(pid == want && pid >= -1);
	snprintf(line, sizeof(line), "pos:\t0\nPid:\t%d\n", (int)pid);
	CHECK(parse_fdinfo_pid(line, &again) == 0 && again == pid);
}

/* /proc/PID/status (the agent reads the caller's and the target's): on
 * success the innermost NSpid is a valid pid or 0; on failure nothing is
 * left half-filled that a caller could mistake for a uid. */
static void check_status(const char *s)
{
	struct proc_ids ids;

	memset(&ids, 0x5a, sizeof(ids));
	if (parse_proc_status(s, &ids) == 0) {
		CHECK(ids.nspid >= 0 && ids.nspid <= BG_PID_MAX_LIMIT);
		CHECK(strstr(s, "Uid:") && strstr(s, "CapEff:"));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *s = fuzz_str(data, len);

	check_stat(s);
	check_fdinfo(s);
	check_status(s);
	free(s);
	return 0;
}
