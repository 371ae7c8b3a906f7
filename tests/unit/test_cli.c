// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for check_pin_dir() in user/parse.c (the --pin-dir check). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "parse.h"

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
	};

	return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
