// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for user/parse.c: CLI pids, /proc texts, the socket name. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "parse.h"

/* ---- parse_pid ----------------------------------------------------------- */

static void expect_pid(const char *s, pid_t want)
{
	pid_t got = -12345;

	assert_int_equal(parse_pid(s, &got), 0);
	assert_int_equal(got, want);
}

static void expect_pid_err(const char *s, int err)
{
	pid_t got = -12345;

	assert_int_equal(parse_pid(s, &got), err);
	assert_int_equal(got, -12345); /* untouched on error */
}

static void test_pid_valid(void **state)
{
	(void)state;
	expect_pid("1", 1);
	expect_pid("4242", 4242);
	expect_pid("2147483647", 2147483647);
}

static void test_pid_invalid(void **state)
{
	static const char *const bad[] = {
		"", "abc", "-5", "+5", " 5", "5 ", "12a", "0x10", "5\n", "1.0", "-0",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pid_t got = -12345;
		int r = parse_pid(bad[i], &got);

		if (r != -EINVAL)
			print_message("parse_pid(\"%s\") = %d\n", bad[i], r);
		assert_int_equal(r, -EINVAL);
		assert_int_equal(got, -12345);
	}
	expect_pid_err(NULL, -EINVAL);
}

static void test_pid_range(void **state)
{
	(void)state;
	expect_pid_err("0", -ERANGE);
	expect_pid_err("000", -ERANGE);
	expect_pid_err("2147483648", -ERANGE);
	expect_pid_err("4294967296", -ERANGE);	     /* 2^32: must not wrap to 0 */
	expect_pid_err("4294967297", -ERANGE);	     /* 2^32 + 1: must not wrap to 1 */
	expect_pid_err("99999999999999999999", -ERANGE); /* beyond 2^64 */
	/* junk after a too-large number is still junk */
	expect_pid_err("99999999999999999999x", -EINVAL);
}

/* ---- parse_proc_stat ----------------------------------------------------- */

/* A real line from a shell on a pty (fields 1..52). */
static const char stat_bash[] =
	"4551 (bash) S 4540 4551 4551 34816 9326 4194304 12345 67890 12 3 150 42 "
	"7 9 20 0 1 0 85841 9437184 1311 18446744073709551615 94492198785024 "
	"94492198804905 140733497538432 0 0 0 65536 3686404 1266761467 1 0 0 17 "
	"3 0 0 0 0 0 94492198820912 94492198822528 94493034979328 140733497543296 "
	"140733497543316 140733497543316 140733497544683 0\n";

static void test_stat_basic(void **state)
{
	struct proc_stat st;

	(void)state;
	assert_int_equal(parse_proc_stat(stat_bash, &st), 0);
	assert_int_equal(st.pid, 4551);
	assert_string_equal(st.comm, "bash");
	assert_int_equal(st.state, 'S');
	assert_int_equal(st.ppid, 4540);	    /* field 4 */
	assert_int_equal(st.flags, 4194304);	    /* field 9 */
	assert_true(st.starttime == 85841ULL);	    /* field 22 */
	assert_false(st.flags & BG_PF_KTHREAD);
}

/* comm may hold spaces and parentheses: it ends at the LAST ')'. */
static void test_stat_comm_parens(void **state)
{
	struct proc_stat st;
	const char *line =
		"777 ((a) b)) R 12 777 777 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 "
		"123456789 1 2 18446744073709551615 0 0 0\n";

	(void)state;
	assert_int_equal(parse_proc_stat(line, &st), 0);
	assert_int_equal(st.pid, 777);
	assert_string_equal(st.comm, "(a) b)");
	assert_int_equal(st.state, 'R');
	assert_int_equal(st.ppid, 12);
	assert_int_equal(st.flags, 4194560);
	assert_true(st.starttime == 123456789ULL);
}

static void test_stat_comm_spaces_and_digits(void **state)
{
	struct proc_stat st;
	/* a comm that looks like the fields that follow it */
	const char *line = "31 (x) S 5 6 7 ) Z) S 30 31 31 0 -1 64 0 0 0 0 0 0 0 0 "
			   "20 0 1 0 4242 0 0\n";

	(void)state;
	assert_int_equal(parse_proc_stat(line, &st), 0);
	assert_int_equal(st.pid, 31);
	assert_string_equal(st.comm, "x) S 5 6 7 ) Z");
	assert_int_equal(st.state, 'S');
	assert_int_equal(st.ppid, 30);
	assert_int_equal(st.flags, 64);
	assert_true(st.starttime == 4242ULL);
}

static void test_stat_empty_and_long_comm(void **state)
{
	struct proc_stat st;

	(void)state;
	assert_int_equal(parse_proc_stat("8 () S 1 8 8 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0\n",
					 &st), 0);
	assert_string_equal(st.comm, "");
	assert_true(st.starttime == 99ULL);
	/* never more than 15 bytes + NUL, whatever the text says */
	assert_int_equal(parse_proc_stat("8 (0123456789abcdefXYZ) S 1 8 8 0 -1 0 0 0 0 0 0 0 0 0 "
					 "20 0 1 0 99 0 0\n", &st), 0);
	assert_string_equal(st.comm, "0123456789abcde");
	assert_int_equal(st.ppid, 1);
}

/* Negative fields: tty_nr (7), tpgid (8), priority (18), nice (19). */
static void test_stat_negative_fields(void **state)
{
	struct proc_stat st;
	const char *line = "1200 (rt worker) S 1 1200 1200 -34816 -1 1077936192 0 0 0 0 "
			   "3 4 -5 -6 -51 -20 4 0 555666777888 0 0 18446744073709551615\n";

	(void)state;
	assert_int_equal(parse_proc_stat(line, &st), 0);
	assert_int_equal(st.pid, 1200);
	assert_string_equal(st.comm, "rt worker");
	assert_int_equal(st.ppid, 1);
	assert_int_equal(st.flags, 1077936192UL);
	assert_true(st.starttime == 555666777888ULL);
}

static void test_stat_kthread(void **state)
{
	struct proc_stat st;
	const char *line = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 14 0 0 "
			   "18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 0 0 0 0 0 0 "
			   "0 0 0 0 0 0 0 0 0\n";
	const char *kworker = "57 (kworker/u8:3-events_unbound) I 2 0 0 0 -1 69238880 0 0 0 0 "
			      "0 31 0 0 20 0 1 0 310 0 0 18446744073709551615\n";

	(void)state;
	assert_int_equal(parse_proc_stat(line, &st), 0);
	assert_int_equal(st.pid, 2);
	assert_string_equal(st.comm, "kthreadd");
	assert_int_equal(st.ppid, 0);
	assert_int_equal(st.flags, 2129984);
	assert_true(st.flags & BG_PF_KTHREAD);
	assert_true(st.starttime == 14ULL);

	assert_int_equal(parse_proc_stat(kworker, &st), 0);
	assert_string_equal(st.comm, "kworker/u8:3-ev");
	assert_int_equal(st.state, 'I');
	assert_int_equal(st.ppid, 2);
	assert_true(st.flags & BG_PF_KTHREAD);
	assert_true(st.starttime == 310ULL);
}

/* The line may end right after starttime, with or without a newline. */
static void test_stat_ends_at_starttime(void **state)
{
	struct proc_stat st;

	(void)state;
	assert_int_equal(parse_proc_stat("9 (a) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 1919",
					 &st), 0);
	assert_int_equal(st.ppid, 1);
	assert_int_equal(st.flags, 6);
	assert_true(st.starttime == 1919ULL);
	assert_int_equal(parse_proc_stat("9 (a) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 77\n",
					 &st), 0);
	assert_true(st.starttime == 77ULL);
}

static void test_stat_garbage(void **state)
{
	static const char *const bad[] = {
		"",
		"garbage",
		"\n",
		"1234",
		"1234 (bash)",
		"1234 (bash) ",
		"1234 (bash) S",
		"1234 (bash) S ",
		"1234 (bash) S 1 2 3",					/* truncated */
		"1234 (bash) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18",	/* no starttime */
		"1234 (bash) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 ",
		"1234 (bash)S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",	/* no space */
		"1234 (bash) SS 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",
		"1234 bash) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",	/* no '(' */
		"1234 (bash S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",	/* no ')' */
		"1234 )bash( S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",
		"abc (bash) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",	/* pid */
		"(bash) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",
		"0 (bash) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",
		"-7 (bash) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",
		"12x (bash) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",
		"1234 (bash) S 1 2 3 4 5 x 7 8 9 10 11 12 13 14 15 16 17 18 19",	/* flags */
		"1234 (bash) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19z",
		"1234 (bash) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 -",
		"1234 (bash) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 "
		"99999999999999999999999",					/* overflow */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct proc_stat st;
		int r = parse_proc_stat(bad[i], &st);

		if (r != -EINVAL)
			print_message("parse_proc_stat(\"%s\") = %d\n", bad[i], r);
		assert_int_equal(r, -EINVAL);
	}
}

/* ---- read_proc_stat ------------------------------------------------------ */

static void test_read_self(void **state)
{
	struct proc_stat self, parent;
	char want[16];

	(void)state;
	assert_int_equal(read_proc_stat(getpid(), &self), 0);
	assert_int_equal(self.pid, getpid());
	assert_int_equal(self.ppid, getppid());
	assert_int_equal(self.state, 'R'); /* we are running while reading it */
	assert_false(self.flags & BG_PF_KTHREAD);
	snprintf(want, sizeof(want), "%s", program_invocation_short_name);
	assert_string_equal(self.comm, want);
	assert_true(self.starttime > 0);

	/* our parent started no later than we did */
	assert_int_equal(read_proc_stat(getppid(), &parent), 0);
	assert_int_equal(parent.pid, getppid());
	assert_true(parent.starttime <= self.starttime);
}

static void test_read_missing(void **state)
{
	struct proc_stat st;

	(void)state;
	/* above the kernel's PID_MAX_LIMIT (4M): never a process */
	assert_int_equal(read_proc_stat(2147483647, &st), -ENOENT);
}

/* ---- parse_fdinfo_pid ---------------------------------------------------- */

static void test_fdinfo_pid(void **state)
{
	pid_t pid = 0;

	(void)state;
	assert_int_equal(parse_fdinfo_pid("pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\n"
					  "Pid:\t4242\nNSpid:\t4242\n", &pid), 0);
	assert_int_equal(pid, 4242);

	/* a nested namespace: Pid is ours, NSpid lists the inner ones */
	pid = 0;
	assert_int_equal(parse_fdinfo_pid("pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\n"
					  "Pid:\t98765\nNSpid:\t98765\t12\n", &pid), 0);
	assert_int_equal(pid, 98765);

	/* Pid first, no trailing newline */
	pid = 0;
	assert_int_equal(parse_fdinfo_pid("Pid:\t7", &pid), 0);
	assert_int_equal(pid, 7);
}

static void test_fdinfo_reaped_and_invisible(void **state)
{
	pid_t pid = 0;

	(void)state;
	assert_int_equal(parse_fdinfo_pid("pos:\t0\nflags:\t02000002\nPid:\t-1\nNSpid:\t-1\n",
					  &pid), 0);
	assert_int_equal(pid, -1);
	pid = 5;
	assert_int_equal(parse_fdinfo_pid("pos:\t0\nPid:\t0\n", &pid), 0);
	assert_int_equal(pid, 0);
}

static void test_fdinfo_no_pid(void **state)
{
	pid_t pid = 31337;

	(void)state;
	assert_int_equal(parse_fdinfo_pid("pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\n",
					  &pid), -EINVAL);
	/* NSpid is not Pid */
	assert_int_equal(parse_fdinfo_pid("pos:\t0\nNSpid:\t4242\n", &pid), -EINVAL);
	/* "Pid:" not at the start of a line */
	assert_int_equal(parse_fdinfo_pid("pos:\t0 Pid:\t4242\n", &pid), -EINVAL);
	assert_int_equal(parse_fdinfo_pid("", &pid), -EINVAL);
	assert_int_equal(parse_fdinfo_pid("Pid:\tabc\n", &pid), -EINVAL);
	assert_int_equal(parse_fdinfo_pid("Pid:\t\n", &pid), -EINVAL);
	assert_int_equal(parse_fdinfo_pid("Pid:\t-2\n", &pid), -EINVAL);
	assert_int_equal(pid, 31337);
}

/* ---- ctl_socket_path ----------------------------------------------------- */

#define RUN_DIR "/run/bpfguard/"

static int ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), m = strlen(tail);

	return n >= m && !strcmp(s + n - m, tail);
}

static int is_hex8(const char *s)
{
	for (int i = 0; i < 8; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* The part between "/run/bpfguard/" and ".<suffix>" holds only [A-Za-z0-9._-]. */
static void assert_safe_name(const char *path)
{
	const char *p = path + strlen(RUN_DIR);

	assert_memory_equal(path, RUN_DIR, strlen(RUN_DIR));
	assert_null(strchr(p, '/'));
	for (; *p; p++)
		assert_true((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-');
}

static void sock(const char *dir, char out[108])
{
	memset(out, 'Z', 108);
	assert_int_equal(ctl_socket_path(dir, "sock", out, 108), 0);
	assert_true(strlen(out) < 108);
	assert_true(ends_with(out, ".sock"));
	assert_safe_name(out);
}

static void test_sock_default_dir(void **state)
{
	char out[108];
	const char *stem = RUN_DIR "sys-fs-bpf-bpfguard-";

	(void)state;
	sock("/sys/fs/bpf/bpfguard", out);
	/* /run/bpfguard/sys-fs-bpf-bpfguard-XXXXXXXX.sock */
	assert_int_equal(strlen(out), strlen(stem) + 8 + strlen(".sock"));
	assert_memory_equal(out, stem, strlen(stem));
	assert_true(is_hex8(out + strlen(stem)));
}

static void test_sock_deterministic(void **state)
{
	char a[108], b[108];

	(void)state;
	sock("/sys/fs/bpf/bpfguard", a);
	sock("/sys/fs/bpf/bpfguard", b);
	assert_string_equal(a, b);
}

static void test_sock_distinct(void **state)
{
	/* these escape to the same or similar names: the hash tells them apart */
	static const char *const dirs[] = {
		"/sys/fs/bpf/bpfguard", "/sys/fs/bpf/bpfguard2", "/sys/fs/bpf/a",
		"/sys/fs/bpf/b",	"/sys/fs/bpf/a/b",	 "/sys/fs/bpf/a-b",
		"/sys/fs/bpf/a_b",	"/sys/fs/bpf/a.b",	 "/sys/fs/bpf/a b",
	};
	char out[sizeof(dirs) / sizeof(dirs[0])][108];
	size_t n = sizeof(dirs) / sizeof(dirs[0]);

	(void)state;
	for (size_t i = 0; i < n; i++)
		sock(dirs[i], out[i]);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			assert_string_not_equal(out[i], out[j]);
}

/* Agent and client derive the lock and the socket from one pin dir. */
static void test_sock_suffix(void **state)
{
	char s[108], l[108];

	(void)state;
	sock("/sys/fs/bpf/bpfguard", s);
	assert_int_equal(ctl_socket_path("/sys/fs/bpf/bpfguard", "lock", l, sizeof(l)), 0);
	assert_true(ends_with(l, ".lock"));
	assert_int_equal(strlen(s), strlen(l));
	assert_memory_equal(s, l, strlen(s) - strlen("sock"));
}

static void test_sock_long_dir(void **state)
{
	char dir1[201], dir2[201], a[108], b[108];

	(void)state;
	/* 200 chars: "/sys/fs/bpf/" then x's, with a '/' every 20 */
	for (int i = 0; i < 200; i++)
		dir1[i] = i % 20 == 0 ? '/' : 'x';
	dir1[200] = '\0';
	memcpy(dir1, "/sys/fs/bpf/", 12);
	memcpy(dir2, dir1, sizeof(dir1));
	dir2[199] = 'y'; /* differs only far past what the name keeps */
	assert_int_equal(strlen(dir1), 200);

	sock(dir1, a);
	sock(dir2, b);
	assert_true(strlen(a) < 108);
	assert_memory_equal(a, RUN_DIR "sys-fs-bpf-", strlen(RUN_DIR "sys-fs-bpf-"));
	assert_string_not_equal(a, b);
}

static void test_sock_trailing_dash(void **state)
{
	char a[108], b[108], dir[64];
	const char *stem = RUN_DIR "sys-fs-bpf-x-";

	(void)state;
	/* a trailing '/' makes no trailing '-' in the name: one '-' before the hash */
	sock("/sys/fs/bpf/x/", a);
	assert_null(strstr(a, "--"));
	assert_memory_equal(a, stem, strlen(stem));
	assert_true(is_hex8(a + strlen(stem)));
	assert_string_equal(a + strlen(stem) + 8, ".sock");

	/* runs of '/' collapse, leading ones vanish */
	sock("//sys//fs/bpf///x", b);
	assert_null(strstr(b, "--"));
	assert_memory_equal(b, stem, strlen(stem));

	/* the name is cut where a '/' became its last '-' */
	dir[0] = '/';
	memset(dir + 1, 'a', 39);
	strcpy(dir + 40, "/bbbb");
	sock(dir, a);
	assert_null(strstr(a, "--"));
	assert_int_equal(a[strlen(RUN_DIR) + 39], '-');
	assert_true(is_hex8(a + strlen(RUN_DIR) + 40));
}

static void test_sock_too_small(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(ctl_socket_path("/sys/fs/bpf/bpfguard", "sock", out, sizeof(out)),
			 -ENAMETOOLONG);
}

/* ---- parse_signal / parse_duration --------------------------------------- */

static void test_signal_valid(void **state)
{
	int sig = 0;

	(void)state;
	assert_int_equal(parse_signal("TERM", &sig), 0);
	assert_int_equal(sig, SIGTERM);
	assert_int_equal(parse_signal("SIGTERM", &sig), 0);
	assert_int_equal(sig, SIGTERM);
	assert_int_equal(parse_signal("15", &sig), 0);
	assert_int_equal(sig, 15);
	assert_int_equal(parse_signal("KILL", &sig), 0);
	assert_int_equal(sig, SIGKILL);
	assert_int_equal(parse_signal("SIGUSR1", &sig), 0);
	assert_int_equal(sig, SIGUSR1);
	assert_int_equal(parse_signal("64", &sig), 0);
	assert_int_equal(sig, 64);
}

static void test_signal_invalid(void **state)
{
	static const char *bad[] = { "", "0", "65", "-1", "BOGUS", "SIG", "term", "SIGTERMX",
				     "15x", "+15", " 15", "99999999999" };
	int sig = -7;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse_signal(bad[i], &sig), -EINVAL);
		assert_int_equal(sig, -7);
	}
	assert_int_equal(parse_signal(NULL, &sig), -EINVAL);
}

static void test_signal_name(void **state)
{
	char buf[16];

	(void)state;
	assert_string_equal(signal_name(SIGTERM, buf, sizeof(buf)), "TERM");
	assert_string_equal(signal_name(SIGKILL, buf, sizeof(buf)), "KILL");
	assert_string_equal(signal_name(40, buf, sizeof(buf)), "40");
}

#define MAXG (3600ull * 1000000000ull)

static void test_duration_valid(void **state)
{
	uint64_t ns = 1;

	(void)state;
	assert_int_equal(parse_duration("500ms", MAXG, &ns), 0);
	assert_true(ns == 500000000ull);
	assert_int_equal(parse_duration("2s", MAXG, &ns), 0);
	assert_true(ns == 2000000000ull);
	assert_int_equal(parse_duration("1m", MAXG, &ns), 0);
	assert_true(ns == 60000000000ull);
	assert_int_equal(parse_duration("1h", MAXG, &ns), 0);
	assert_true(ns == MAXG);
	assert_int_equal(parse_duration("0", MAXG, &ns), 0);
	assert_true(ns == 0);
	assert_int_equal(parse_duration("0s", MAXG, &ns), 0);
	assert_true(ns == 0);
}

static void test_duration_invalid(void **state)
{
	static const char *bad[] = { "", "-1s", "10x", "s", "2", "1.5s", "2 s", "2S", "ms", "+2s",
				     "2sec" };
	uint64_t ns = 7;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse_duration(bad[i], MAXG, &ns), -EINVAL);
		assert_true(ns == 7);
	}
	assert_int_equal(parse_duration("61m", MAXG, &ns), -ERANGE);
	assert_int_equal(parse_duration("3601s", MAXG, &ns), -ERANGE);
	assert_int_equal(parse_duration("2h", MAXG, &ns), -ERANGE);
	assert_int_equal(parse_duration("99999999999999999999999h", MAXG, &ns), -ERANGE);
	assert_true(ns == 7);
}

/* ---- /proc/PID/status ---------------------------------------------------- */

static void test_status_basic(void **state)
{
	const char *txt = "Name:\tsleep\nUmask:\t0022\nState:\tS (sleeping)\n"
			  "Uid:\t1000\t1001\t1002\t1003\nGid:\t100\t100\t100\t100\n"
			  "NSpid:\t4242\t17\t3\nCapInh:\t0000000000000000\n"
			  "CapEff:\t000001fffeffffff\nCapBnd:\t000001ffffffffff\n";
	struct proc_ids ids;

	(void)state;
	assert_int_equal(parse_proc_status(txt, &ids), 0);
	assert_int_equal(ids.uid[0], 1000);
	assert_int_equal(ids.uid[1], 1001);
	assert_int_equal(ids.uid[2], 1002);
	assert_int_equal(ids.uid[3], 1003);
	assert_true(ids.cap_eff == 0x1fffeffffffull);
	assert_int_equal(ids.nspid, 3); /* the innermost level */
}

/* Before Linux 4.1 there is no NSpid: line; "Uid" must not match "Uidx". */
static void test_status_no_nspid_and_prefixes(void **state)
{
	struct proc_ids ids;

	(void)state;
	assert_int_equal(parse_proc_status("Uidx:\t5\t5\t5\t5\nUid:\t0\t0\t0\t0\n"
					   "CapEff:\t0000000000000000\n", &ids), 0);
	assert_int_equal(ids.uid[0], 0);
	assert_int_equal(ids.nspid, 0);
	assert_true(ids.cap_eff == 0);
}

static void test_status_garbage(void **state)
{
	static const char *bad[] = {
		"",
		"CapEff:\t0\n",				 /* no Uid */
		"Uid:\t1\t2\t3\nCapEff:\t0\n",		 /* three uids */
		"Uid:\t1\t2\t3\t-4\nCapEff:\t0\n",	 /* negative */
		"Uid:\t1\t2\t3\t99999999999\nCapEff:\t0\n", /* above u32 */
		"Uid:\t1\t2\t3\t4\n",			 /* no CapEff */
		"Uid:\t1\t2\t3\t4\nCapEff:\tzz\n",
		"Uid:\t1\t2\t3\t4\nCapEff:\t0\nNSpid:\tx\n",
		"Uid:\t1\t2\t3\t4\nCapEff:\t0\nNSpid:\t-1\n",
	};
	struct proc_ids ids;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_proc_status(bad[i], &ids), -EINVAL);
}

static void test_status_self(void **state)
{
	struct proc_ids ids;

	(void)state;
	assert_int_equal(read_proc_status(getpid(), &ids), 0);
	assert_int_equal(ids.uid[0], getuid());
	assert_int_equal(ids.uid[1], geteuid());
	assert_int_equal(read_proc_status(0x7ffffff0, &ids), -ENOENT);
}

/* Found by tests/fuzz/fuzz_args: with a bound near UINT64_MAX the digits
 * wrapped, so that 4 followed by 120 zeros read as 0, and 2^64 ms as 0 ms. */
static void test_duration_wide_bound(void **state)
{
	char many[128];
	uint64_t ns = 7;

	(void)state;
	many[0] = '4';
	memset(many + 1, '0', 120);
	many[121] = '\0';
	assert_int_equal(parse_duration(many, UINT64_MAX, &ns), -EINVAL);
	strcpy(many + 121, "ms");
	assert_int_equal(parse_duration(many, UINT64_MAX, &ns), -ERANGE);
	assert_int_equal(parse_duration("18446744073709551616ms", UINT64_MAX, &ns), -ERANGE);
	assert_int_equal(parse_duration("18446744073709551616", UINT64_MAX, &ns), -EINVAL);
	assert_true(ns == 7);
	/* the largest that fits */
	assert_int_equal(parse_duration("18446744073709ms", UINT64_MAX, &ns), 0);
	assert_true(ns == 18446744073709000000ull);
	assert_int_equal(parse_duration("18446744073710ms", UINT64_MAX, &ns), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pid_valid),
		cmocka_unit_test(test_pid_invalid),
		cmocka_unit_test(test_pid_range),
		cmocka_unit_test(test_stat_basic),
		cmocka_unit_test(test_stat_comm_parens),
		cmocka_unit_test(test_stat_comm_spaces_and_digits),
		cmocka_unit_test(test_stat_empty_and_long_comm),
		cmocka_unit_test(test_stat_negative_fields),
		cmocka_unit_test(test_stat_kthread),
		cmocka_unit_test(test_stat_ends_at_starttime),
		cmocka_unit_test(test_stat_garbage),
		cmocka_unit_test(test_read_self),
		cmocka_unit_test(test_read_missing),
		cmocka_unit_test(test_fdinfo_pid),
		cmocka_unit_test(test_fdinfo_reaped_and_invisible),
		cmocka_unit_test(test_fdinfo_no_pid),
		cmocka_unit_test(test_sock_default_dir),
		cmocka_unit_test(test_sock_deterministic),
		cmocka_unit_test(test_sock_distinct),
		cmocka_unit_test(test_sock_suffix),
		cmocka_unit_test(test_sock_long_dir),
		cmocka_unit_test(test_sock_trailing_dash),
		cmocka_unit_test(test_sock_too_small),
		cmocka_unit_test(test_signal_valid),
		cmocka_unit_test(test_signal_invalid),
		cmocka_unit_test(test_signal_name),
		cmocka_unit_test(test_duration_valid),
		cmocka_unit_test(test_duration_invalid),
		cmocka_unit_test(test_status_basic),
		cmocka_unit_test(test_status_no_nspid_and_prefixes),
		cmocka_unit_test(test_status_garbage),
		cmocka_unit_test(test_status_self),
		cmocka_unit_test(test_duration_wide_bound),
	};

	return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
