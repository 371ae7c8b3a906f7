// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for user/cli.c: check_pin_dir() and cli_parse(). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli.h"

/* check_pin_dir edits in place: work on a copy. */
static void expect_ok(const char *in, const char *want)
{
	char buf[512];

	assert_true(strlen(in) < sizeof(buf));
	strcpy(buf, in);
	assert_int_equal(check_pin_dir(buf), 0);
	assert_string_equal(buf, want);
}

static void expect_einval(const char *in)
{
	char buf[512];
	int r;

	assert_true(strlen(in) < sizeof(buf));
	strcpy(buf, in);
	r = check_pin_dir(buf);
	if (r != -EINVAL)
		print_message("check_pin_dir(\"%s\") = %d\n", in, r);
	assert_int_equal(r, -EINVAL);
}

static void test_valid(void **state)
{
	(void)state;
	expect_ok("/sys/fs/bpf/x", "/sys/fs/bpf/x");
	expect_ok("/sys/fs/bpf/bpfguard", "/sys/fs/bpf/bpfguard");
	expect_ok("/a", "/a");
	/* names that merely contain dots are not ".." */
	expect_ok("/sys/fs/bpf/..x", "/sys/fs/bpf/..x");
	expect_ok("/sys/fs/bpf/x..", "/sys/fs/bpf/x..");
	expect_ok("/sys/fs/bpf/...", "/sys/fs/bpf/...");
	expect_ok("/sys/fs/bpf/a..b/c", "/sys/fs/bpf/a..b/c");
}

static void test_trailing_slash(void **state)
{
	(void)state;
	expect_ok("/sys/fs/bpf/x/", "/sys/fs/bpf/x");
	expect_ok("/sys/fs/bpf/x///", "/sys/fs/bpf/x");
	expect_ok("/a/", "/a");
}

static void test_relative(void **state)
{
	(void)state;
	expect_einval("relative");
	expect_einval("sys/fs/bpf/x");
	expect_einval("./x");
	expect_einval("../x");
	expect_einval("");
	expect_einval(" /sys/fs/bpf/x");
}

static void test_dotdot(void **state)
{
	(void)state;
	expect_einval("/a/../b");
	expect_einval("/sys/fs/bpf/../../etc");
	expect_einval("/..");
	expect_einval("/../a");
	expect_einval("/a/..");
	expect_einval("/a/../"); /* ".." left at the end once the '/' goes */
	expect_einval("/a/..//");
}

static void test_double_slash(void **state)
{
	(void)state;
	expect_einval("/a//b");
	expect_einval("//a");
	expect_einval("/sys/fs//bpf/x/");
}

static void test_root_only(void **state)
{
	(void)state;
	expect_einval("/");
	expect_einval("//");
}

static void test_length(void **state)
{
	char dir[256];

	(void)state;
	/* 201 characters: too long */
	dir[0] = '/';
	memset(dir + 1, 'a', 200);
	dir[201] = '\0';
	assert_int_equal(strlen(dir), 201);
	expect_einval(dir);

	/* 200 characters: the longest accepted */
	dir[200] = '\0';
	expect_ok(dir, dir);

	/* 200 + a trailing slash: fine once the slash is dropped */
	dir[200] = '/';
	dir[201] = '\0';
	{
		char want[256];

		memcpy(want, dir, 200);
		want[200] = '\0';
		expect_ok(dir, want);
	}
}

/* ---- cli_parse ----------------------------------------------------------- */

/* Parse "ARG ARG ..." (space-separated) for @cmd; what went to stderr is
 * left in @err. Returns cli_parse's answer. */
static int parse_line(enum cli_cmd cmd, const char *line, struct cli_args *a, char *err,
		      size_t errlen)
{
	char buf[256], *argv[16], *tok, *save = NULL, *msg = NULL;
	FILE *real_err = stderr;
	size_t len = 0;
	int argc = 0, rc;

	assert_true(strlen(line) < sizeof(buf));
	strcpy(buf, line);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		assert_true(argc < 15);
		argv[argc++] = tok;
	}
	argv[argc] = NULL;
	stderr = open_memstream(&msg, &len);
	assert_non_null(stderr);
	rc = cli_parse(cmd, argc, argv, a);
	fclose(stderr);
	stderr = real_err;
	snprintf(err, errlen, "%s", msg);
	free(msg);
	return rc;
}

static void expect_usage(enum cli_cmd cmd, const char *line, const char *want)
{
	struct cli_args a;
	char err[256];

	assert_int_equal(parse_line(cmd, line, &a, err, sizeof(err)), EXIT_USAGE);
	assert_string_equal(err, want);
}

static void test_parse_values(void **state)
{
	struct cli_args a;
	char err[256];

	(void)state;
	assert_int_equal(parse_line(CLI_TAG, "tag 4242 --signal TERM --grace 2s "
				    "--pin-dir /sys/fs/bpf/t/", &a, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(a.pid, 4242);
	assert_int_equal(a.sig, 15);
	assert_true(a.grace_ns == 2000000000ull);
	assert_string_equal(a.pin_dir, "/sys/fs/bpf/t");

	assert_int_equal(parse_line(CLI_EXEC, "exec --signal=INT -- sh -c true", &a, err,
				    sizeof(err)), 0);
	assert_int_equal(a.sig, 2);
	assert_int_equal(a.cmd, 3); /* "sh", after "--" */

	assert_int_equal(parse_line(CLI_AGENT, "agent --mode user --max-tags 8 -v", &a, err,
				    sizeof(err)), 0);
	assert_int_equal(a.agent.mode, 1); /* BG_MODE_USER */
	assert_int_equal(a.agent.max_tags, 8);
	assert_true(a.agent.verbose);
}

/*
 * Found by tests/fuzz/fuzz_cli: the option named in a usage error was the
 * argument before it ("tag -55" said unknown option 'tag', "untag --signal
 * TERM" said 'TERM'), and a missing argument was an unknown option.
 */
static void test_usage_names_what_was_typed(void **state)
{
	(void)state;
	expect_usage(CLI_TAG, "tag -55", "bpfguard: tag: not a pid: '-55'\n");
	expect_usage(CLI_TAG, "tag -5", "bpfguard: tag: not a pid: '-5'\n");
	expect_usage(CLI_TAG, "tag -xh",
		     "bpfguard: tag: unknown option '-x' (try `bpfguard tag --help`)\n");
	expect_usage(CLI_AGENT, "agent -vx",
		     "bpfguard: agent: unknown option '-x' (try `bpfguard agent --help`)\n");
	expect_usage(CLI_UNTAG, "untag --signal TERM 5",
		     "bpfguard: untag: unknown option '--signal' (try `bpfguard untag --help`)\n");
	expect_usage(CLI_LIST, "list --json=1",
		     "bpfguard: list: unknown option '--json=1' (try `bpfguard list --help`)\n");
	expect_usage(CLI_TAG, "tag --pin-dir",
		     "bpfguard: tag: option '--pin-dir' needs an argument\n");
	expect_usage(CLI_STATUS, "status --pin-dir",
		     "bpfguard: status: option '--pin-dir' needs an argument\n");
	expect_usage(CLI_AGENT, "agent --mode",
		     "bpfguard: agent: option '--mode' needs an argument\n");
}

/* A parse leaves nothing behind for the next one: before getopt restarted
 * from optind 0, the 'h' left over from "-xh" printed the next one's help. */
static void test_parse_twice(void **state)
{
	struct cli_args a;
	char err[256];

	(void)state;
	expect_usage(CLI_TAG, "tag -xh",
		     "bpfguard: tag: unknown option '-x' (try `bpfguard tag --help`)\n");
	assert_int_equal(parse_line(CLI_LIST, "list --json", &a, err, sizeof(err)), 0);
	assert_int_equal(a.json, 1);
	/* and a "+" (tag: stop at the pid) does not stay for the next */
	assert_int_equal(parse_line(CLI_TAG, "tag 7", &a, err, sizeof(err)), 0);
	assert_int_equal(parse_line(CLI_LIST, "list x --json", &a, err, sizeof(err)),
			 EXIT_USAGE);
	assert_string_equal(err, "bpfguard: list: unexpected argument 'x'\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_trailing_slash),
		cmocka_unit_test(test_relative),
		cmocka_unit_test(test_dotdot),
		cmocka_unit_test(test_double_slash),
		cmocka_unit_test(test_root_only),
		cmocka_unit_test(test_length),
		cmocka_unit_test(test_parse_values),
		cmocka_unit_test(test_usage_names_what_was_typed),
		cmocka_unit_test(test_parse_twice),
	};

	return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
