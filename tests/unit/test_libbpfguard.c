// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for libbpfguard (user/libbpfguard.c): option checks, the
 * mapping of failures to codes and one-line messages, and the arguments the
 * public calls refuse before they talk to an agent or fork. The calls that
 * reach an agent are tested by the kernel suite (`library`, `go_example`).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "libbpfguard.h"
#include "libbpfguard_priv.h"
#include "loader.h"

/* A pin dir no agent serves: connecting to it must fail as "no agent". */
static char nobody_pin[64];

static void test_defaults(void **state)
{
	struct lbg_call c;

	(void)state;
	assert_int_equal(lbg_resolve(NULL, LBG_ALLOW_KILL_OPTS, &c), 0);
	assert_string_equal(c.pin_dir, BPFGUARD_PIN_DIR_DEFAULT);
	/* the CLI's default and the library's are one pin dir */
	assert_string_equal(BPFGUARD_PIN_DIR_DEFAULT, BG_PIN_DIR_DEFAULT);
	assert_int_equal(c.signal, 0);
	assert_true(c.grace_ns == 0);
	assert_null(c.msg);
}

static void test_opts_copied(void **state)
{
	char msg[64] = "stale";
	BPFGUARD_OPTS(o, .pin_dir = "/sys/fs/bpf/x//", .signal = SIGTERM,
		      .grace_ns = 2000000000ull, .msg = msg, .msg_len = sizeof(msg));
	struct lbg_call c;

	(void)state;
	assert_int_equal(lbg_resolve(&o, LBG_ALLOW_KILL_OPTS, &c), 0);
	/* normalized as check_pin_dir does: one agent per pin dir */
	assert_string_equal(c.pin_dir, "/sys/fs/bpf/x");
	assert_string_equal(o.pin_dir, "/sys/fs/bpf/x//"); /* the caller's is untouched */
	assert_int_equal(c.signal, SIGTERM);
	assert_true(c.grace_ns == 2000000000ull);
	assert_ptr_equal(c.msg, msg);
	assert_string_equal(msg, ""); /* cleared: no stale line on success */
}

static void test_sz(void **state)
{
	char msg[128];
	unsigned char big[sizeof(struct bpfguard_opts) + 16] = { 0 };
	struct bpfguard_opts *b = (struct bpfguard_opts *)big;
	struct bpfguard_opts o = { 0 };
	struct lbg_call c;

	(void)state;
	/* sz unset: refused, as libbpf refuses unsized opts */
	assert_int_equal(lbg_resolve(&o, 0, &c), -EINVAL);
	o.sz = 3;
	assert_int_equal(lbg_resolve(&o, 0, &c), -EINVAL);
	/* garbage: not read past the struct */
	o.sz = (size_t)-1;
	assert_int_equal(lbg_resolve(&o, 0, &c), -EINVAL);
	o.sz = LBG_OPTS_MAX + 1;
	assert_int_equal(lbg_resolve(&o, 0, &c), -EINVAL);

	/* an older caller's shorter struct: the missing fields are defaults */
	o = (struct bpfguard_opts){ .sz = offsetof(struct bpfguard_opts, signal),
				    .pin_dir = "/sys/fs/bpf/old", .signal = 9, .msg = msg };
	assert_int_equal(lbg_resolve(&o, LBG_ALLOW_KILL_OPTS, &c), 0);
	assert_string_equal(c.pin_dir, "/sys/fs/bpf/old");
	assert_int_equal(c.signal, 0);
	assert_null(c.msg);

	/* a newer caller's longer struct: fine while the unknown part is 0 */
	b->sz = sizeof(big);
	b->pin_dir = "/sys/fs/bpf/new";
	b->msg = msg;
	b->msg_len = sizeof(msg);
	assert_int_equal(lbg_resolve(b, 0, &c), 0);
	assert_string_equal(c.pin_dir, "/sys/fs/bpf/new");
	/* ... and refused when it sets a field this library cannot honour */
	big[sizeof(big) - 1] = 1;
	assert_int_equal(lbg_resolve(b, 0, &c), -EINVAL);
	assert_non_null(strstr(msg, "does not know"));
}

static void expect_bad(struct bpfguard_opts *o, unsigned int allow, const char *why)
{
	char msg[256];
	struct lbg_call c;

	o->sz = sizeof(*o);
	o->msg = msg;
	o->msg_len = sizeof(msg);
	assert_int_equal(lbg_resolve(o, allow, &c), -EINVAL);
	if (!strstr(msg, why))
		print_message("message '%s' lacks '%s'\n", msg, why);
	assert_non_null(strstr(msg, why));
}

static void test_bad_opts(void **state)
{
	char longdir[400];

	(void)state;
	expect_bad(&(struct bpfguard_opts){ .pin_dir = "relative" }, 0, "invalid pin dir 'relative'");
	expect_bad(&(struct bpfguard_opts){ .pin_dir = "/a/../b" }, 0, "invalid pin dir");
	expect_bad(&(struct bpfguard_opts){ .pin_dir = "/" }, 0, "invalid pin dir");
	longdir[0] = '/';
	memset(longdir + 1, 'a', sizeof(longdir) - 2);
	longdir[sizeof(longdir) - 1] = '\0';
	expect_bad(&(struct bpfguard_opts){ .pin_dir = longdir }, 0, "longer than 255");
	longdir[201] = '\0'; /* fits the buffer, not check_pin_dir's 200 */
	expect_bad(&(struct bpfguard_opts){ .pin_dir = longdir }, 0, "invalid pin dir");

	expect_bad(&(struct bpfguard_opts){ .signal = -1 }, LBG_ALLOW_KILL_OPTS, "invalid signal -1");
	expect_bad(&(struct bpfguard_opts){ .signal = 65 }, LBG_ALLOW_KILL_OPTS, "invalid signal 65");
	expect_bad(&(struct bpfguard_opts){ .grace_ns = BPFGUARD_GRACE_MAX_NS + 1 },
		   LBG_ALLOW_KILL_OPTS, "at most 1h");
	/* untag and the raw requests take no signal or grace */
	expect_bad(&(struct bpfguard_opts){ .signal = SIGTERM }, 0, "tagging only");
	expect_bad(&(struct bpfguard_opts){ .grace_ns = 1 }, 0, "tagging only");
	/* the breakaway flag is a tag's: not a kill's, nor an untag's */
	expect_bad(&(struct bpfguard_opts){ .flags = BPFGUARD_ALLOW_BREAKAWAY }, LBG_ALLOW_KILL_OPTS,
		   "tagging only");
	expect_bad(&(struct bpfguard_opts){ .flags = 0x2 },
		   LBG_ALLOW_KILL_OPTS | LBG_ALLOW_TAG_FLAGS, "unknown flags 0x2");
	/* and so is --max-procs, up to 2^24 */
	expect_bad(&(struct bpfguard_opts){ .max_procs = 5 }, LBG_ALLOW_KILL_OPTS, "tagging only");
	expect_bad(&(struct bpfguard_opts){ .max_procs = BPFGUARD_MAX_PROCS_MAX + 1 },
		   LBG_ALLOW_KILL_OPTS | LBG_ALLOW_TAG_FLAGS, "invalid max_procs 16777217");
}

static void test_good_edges(void **state)
{
	BPFGUARD_OPTS(o, .signal = 64, .grace_ns = BPFGUARD_GRACE_MAX_NS);
	struct lbg_call c;

	(void)state;
	assert_int_equal(lbg_resolve(&o, LBG_ALLOW_KILL_OPTS, &c), 0);
	assert_int_equal(c.req_flags, 0);
	o.signal = 1;
	assert_int_equal(lbg_resolve(&o, LBG_ALLOW_KILL_OPTS, &c), 0);
	o.flags = BPFGUARD_ALLOW_BREAKAWAY;
	assert_int_equal(lbg_resolve(&o, LBG_ALLOW_KILL_OPTS | LBG_ALLOW_TAG_FLAGS, &c), 0);
	assert_int_equal(c.req_flags, BG_REQ_F_ALLOW_BREAKAWAY);
	o.max_procs = BPFGUARD_MAX_PROCS_MAX;
	assert_int_equal(lbg_resolve(&o, LBG_ALLOW_KILL_OPTS | LBG_ALLOW_TAG_FLAGS, &c), 0);
	assert_int_equal(c.max_procs, BG_TAG_MAX_PROCS);
}

static void test_msg_truncated(void **state)
{
	char msg[8];
	struct lbg_call c = { .msg = msg, .msg_len = sizeof(msg) };

	(void)state;
	memset(msg, 'x', sizeof(msg));
	lbg_msg(&c, "%s", "a line longer than eight bytes");
	assert_string_equal(msg, "a line ");
	/* no buffer, or an empty one: nothing written, no crash */
	c.msg_len = 0;
	lbg_msg(&c, "zzz");
	assert_string_equal(msg, "a line ");
	c.msg = NULL;
	c.msg_len = 8;
	lbg_msg(&c, "zzz");
}

static void test_connect_errors(void **state)
{
	char msg[512];
	struct lbg_call c = { .pin_dir = "/sys/fs/bpf/p", .msg = msg, .msg_len = sizeof(msg) };

	(void)state;
	/* no socket, or a dead agent's: one code, the CLI's line */
	assert_int_equal(lbg_connect_error(&c, -ENOENT), -ENOTCONN);
	assert_string_equal(msg, "no agent is running for /sys/fs/bpf/p "
				 "(start one: bpfguard agent --pin-dir /sys/fs/bpf/p)");
	assert_int_equal(lbg_connect_error(&c, -ECONNREFUSED), -ENOTCONN);
	assert_int_equal(lbg_connect_error(&c, -EACCES), -EACCES);
	assert_string_equal(msg, "permission denied opening the agent's socket for /sys/fs/bpf/p");
	assert_int_equal(lbg_connect_error(&c, -EPERM), -EPERM);
	assert_int_equal(lbg_connect_error(&c, -ENAMETOOLONG), -ENAMETOOLONG);
	assert_string_equal(msg, "cannot reach the agent for /sys/fs/bpf/p: File name too long");
}

static void test_status_errors(void **state)
{
	char msg[512];
	struct lbg_call c = { .msg = msg, .msg_len = sizeof(msg) };

	(void)state;
	/* the agent's line wins; its errno becomes the code */
	assert_int_equal(lbg_status_error(&c, ENOENT, "pid 7 is not tagged"), -ENOENT);
	assert_string_equal(msg, "pid 7 is not tagged");
	assert_int_equal(lbg_status_error(&c, EPERM, ""), -EPERM);
	assert_string_equal(msg, "Operation not permitted");
	/* not an errno: not the agent's answer */
	assert_int_equal(lbg_status_error(&c, -3, "x"), -EPROTO);
	assert_int_equal(lbg_status_error(&c, 70000, "x"), -EPROTO);
	assert_non_null(strstr(msg, "malformed"));
}

static void test_pidfd_errors(void **state)
{
	char msg[512];
	struct lbg_call c = { .msg = msg, .msg_len = sizeof(msg) };

	(void)state;
	assert_int_equal(lbg_pidfd_error(&c, 42, ESRCH), -ESRCH);
	assert_string_equal(msg, "no such process: 42");
	/* above pid_max */
	assert_int_equal(lbg_pidfd_error(&c, 99999999, EINVAL), -ESRCH);
	assert_string_equal(msg, "no such process: 99999999");
	assert_int_equal(lbg_pidfd_error(&c, 42, EMFILE), -EMFILE);
	assert_string_equal(msg, "cannot open process 42: Too many open files");
}

/* The public calls: arguments refused before anything is sent or forked. */
static void test_public_args(void **state)
{
	char msg[256];
	BPFGUARD_OPTS(o, .pin_dir = nobody_pin, .msg = msg, .msg_len = sizeof(msg));
	BPFGUARD_OPTS(bad, .pin_dir = "nope");
	char *argv[] = { "true", NULL };
	void *pl = (void *)1;
	size_t len = 7;
	int fd = 1234;

	(void)state;
	assert_int_equal(bpfguard_tag(0, &o), -EINVAL);
	assert_string_equal(msg, "invalid pid 0");
	assert_int_equal(bpfguard_tag(-5, &o), -EINVAL);
	assert_int_equal(bpfguard_untag(0, &o), -EINVAL);
	assert_int_equal(bpfguard_adopt(0, getpid(), &o), -EINVAL);
	assert_int_equal(bpfguard_adopt(getpid(), -1, &o), -EINVAL);
	assert_string_equal(msg, "invalid pid -1");
	assert_int_equal(bpfguard_tag(getpid(), &bad), -EINVAL);
	assert_int_equal(bpfguard_tag_pidfd(-1, &o), -EINVAL);
	assert_int_equal(bpfguard_request(BG_OP_TAG, &o, &pl, &len), -EINVAL);
	assert_null(pl); /* outputs reset even on a refusal */
	assert_int_equal(len, 0);
	assert_int_equal(bpfguard_request((enum bg_op)99, &o, NULL, NULL), -EINVAL);
	o.signal = SIGTERM;
	assert_int_equal(bpfguard_untag(getpid(), &o), -EINVAL);
	assert_int_equal(bpfguard_adopt(getpid(), getpid(), &o), -EINVAL);
	assert_int_equal(bpfguard_request(BG_OP_STATUS, &o, NULL, NULL), -EINVAL);
	o.signal = 0;

	/* exec: refused before any fork, *pidfd reset */
	assert_int_equal(bpfguard_exec(NULL, argv, NULL, &o, &fd), -EINVAL);
	assert_int_equal(fd, -1);
	assert_int_equal(bpfguard_exec("/bin/true", NULL, NULL, &o, NULL), -EINVAL);
	assert_int_equal(bpfguard_exec("/bin/true", argv, NULL, &bad, NULL), -EINVAL);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/* No agent for the pin dir: every call says so with -ENOTCONN, and exec
 * leaves no child behind. */
static void test_no_agent(void **state)
{
	char msg[512], want[512];
	BPFGUARD_OPTS(o, .pin_dir = nobody_pin, .msg = msg, .msg_len = sizeof(msg));
	char *argv[] = { "true", NULL };
	void *pl = (void *)1;
	int fd = 1234;

	(void)state;
	snprintf(want, sizeof(want), "no agent is running for %s (start one: bpfguard agent "
		 "--pin-dir %s)", nobody_pin, nobody_pin);
	assert_int_equal(bpfguard_request(BG_OP_STATUS, &o, &pl, NULL), -ENOTCONN);
	assert_string_equal(msg, want);
	assert_null(pl);
	assert_int_equal(bpfguard_tag(getpid(), &o), -ENOTCONN);
	assert_string_equal(msg, want);
	assert_int_equal(bpfguard_untag(getpid(), &o), -ENOTCONN);
	assert_int_equal(bpfguard_adopt(getpid(), getppid(), &o), -ENOTCONN);
	assert_int_equal(bpfguard_exec("/bin/true", argv, NULL, &o, &fd), -ENOTCONN);
	assert_string_equal(msg, want);
	assert_int_equal(fd, -1);
	/* the child that waited for its tag was killed and reaped */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_opts_copied),
		cmocka_unit_test(test_sz),
		cmocka_unit_test(test_bad_opts),
		cmocka_unit_test(test_good_edges),
		cmocka_unit_test(test_msg_truncated),
		cmocka_unit_test(test_connect_errors),
		cmocka_unit_test(test_status_errors),
		cmocka_unit_test(test_pidfd_errors),
		cmocka_unit_test(test_public_args),
		cmocka_unit_test(test_no_agent),
	};

	snprintf(nobody_pin, sizeof(nobody_pin), "/sys/fs/bpf/bpfguard-unit-none-%d", (int)getpid());
	return cmocka_run_group_tests(tests, NULL, NULL);
}
