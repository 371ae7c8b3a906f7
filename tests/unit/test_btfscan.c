// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for user/btfscan.c: the probe's facts from hand-built BTF. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "btfscan.h"

/* A BTF blob under construction: header, types, strings. */
struct blob {
	unsigned char buf[4096];
	uint32_t types[512], nt; /* type section, in 32-bit words */
	char strs[1024];
	uint32_t ns;
	uint32_t ids;
};

static uint32_t str(struct blob *b, const char *s)
{
	uint32_t off = b->ns;

	if (!*s)
		return 0;
	strcpy(b->strs + b->ns, s);
	b->ns += (uint32_t)strlen(s) + 1;
	return off;
}

/* One type: name, kind, vlen, its size/type word, then @n extra words. */
static uint32_t type(struct blob *b, const char *name, uint32_t kind, uint32_t vlen, uint32_t st,
		     int n, ...)
{
	va_list ap;

	b->types[b->nt++] = str(b, name);
	b->types[b->nt++] = kind << 24 | vlen;
	b->types[b->nt++] = st;
	va_start(ap, n);
	while (n--)
		b->types[b->nt++] = va_arg(ap, uint32_t);
	va_end(ap);
	return ++b->ids;
}

/* The blob's bytes: header (24 bytes), types, strings; its length. */
static size_t finish(struct blob *b)
{
	uint32_t tl = b->nt * 4, h[6] = { 0xeB9F | 1u << 16, 24, 0, tl, tl, b->ns };

	memcpy(b->buf, h, sizeof(h));
	memcpy(b->buf + 24, b->types, tl);
	memcpy(b->buf + 24 + tl, b->strs, b->ns);
	return 24 + tl + b->ns;
}

static void init(struct blob *b)
{
	memset(b, 0, sizeof(*b));
	b->ns = 1; /* offset 0: the empty name */
}

/* A kernel-like blob: int, task_struct, the exit tracepoint's typedef with
 * @params arguments, and the kfuncs asked for. */
static size_t kernelish(struct blob *b, uint32_t params, bool kfuncs)
{
	uint32_t i, task, ptask, proto, ptr;

	init(b);
	i = type(b, "int", 1, 0, 4, 1, 32u);
	task = type(b, "task_struct", 4, 1, 8, 3, str(b, "pid"), i, 0u);
	ptask = type(b, "", 2, 0, task, 0);
	type(b, "pid_type", 6, 2, 4, 4, str(b, "PIDTYPE_PID"), 0u, str(b, "PIDTYPE_TGID"), 1u);
	proto = type(b, "", 13, params, 0, 0);
	for (uint32_t k = 0; k < params; k++) { /* unnamed parameters */
		b->types[b->nt++] = 0;
		b->types[b->nt++] = k ? ptask : i;
	}
	ptr = type(b, "", 2, 0, proto, 0);
	type(b, "btf_trace_sched_process_exit", 8, 0, ptr, 0);
	type(b, "bpf_iter__task", 4, 0, 8, 0);
	if (kfuncs) {
		type(b, "bpf_task_from_pid", 12, 0, proto, 0);
		type(b, "bpf_send_signal_task", 12, 0, proto, 0);
	}
	type(b, ".data", 15, 1, 8, 3, 1u, 0u, 4u);
	return finish(b);
}

static void test_facts(void **state)
{
	struct blob b;
	struct btf_facts f;
	size_t n;

	(void)state;
	n = kernelish(&b, 3, true);
	assert_int_equal(btfscan(b.buf, n, &f), 0);
	assert_true(f.iter_task);
	assert_true(f.task_from_pid);
	assert_true(f.send_signal_task);
	assert_int_equal(f.exit_tp_params, 3);

	/* an older kernel: no kfuncs, no group_dead */
	n = kernelish(&b, 2, false);
	assert_int_equal(btfscan(b.buf, n, &f), 0);
	assert_true(f.iter_task);
	assert_false(f.task_from_pid);
	assert_false(f.send_signal_task);
	assert_int_equal(f.exit_tp_params, 2);
}

/* A name is matched whole: a longer or a shorter one is another name. */
static void test_names_whole(void **state)
{
	struct blob b;
	struct btf_facts f;

	(void)state;
	init(&b);
	type(&b, "bpf_task_from_pid_x", 12, 0, 0, 0);
	type(&b, "bpf_send_signal", 12, 0, 0, 0);
	type(&b, "bpf_iter_task", 4, 0, 8, 0); /* a struct, not the FUNC */
	assert_int_equal(btfscan(b.buf, finish(&b), &f), 0);
	assert_false(f.task_from_pid);
	assert_false(f.send_signal_task);
	assert_false(f.iter_task);
	assert_int_equal(f.exit_tp_params, -1);
}

/* The typedef must lead to a pointer to a prototype: anything else, or an
 * id past the last type, is "not found", not a crash. */
static void test_typedef_chain(void **state)
{
	struct blob b;
	struct btf_facts f;

	(void)state;
	init(&b);
	type(&b, "int", 1, 0, 4, 1, 32u);
	type(&b, "btf_trace_sched_process_exit", 8, 0, 1, 0); /* to an int */
	assert_int_equal(btfscan(b.buf, finish(&b), &f), 0);
	assert_int_equal(f.exit_tp_params, -1);

	init(&b);
	type(&b, "btf_trace_sched_process_exit", 8, 0, 77, 0); /* no type 77 */
	assert_int_equal(btfscan(b.buf, finish(&b), &f), 0);
	assert_int_equal(f.exit_tp_params, -1);
}

/* What the scanner does not read is refused, for libbpf to read. */
static void test_refused(void **state)
{
	struct blob b;
	struct btf_facts f;
	size_t n;

	(void)state;
	n = kernelish(&b, 3, true);
	assert_int_equal(btfscan(b.buf, 10, &f), -1); /* shorter than a header */
	assert_int_equal(btfscan(b.buf, n - b.ns - 1, &f), -1); /* sections past the end */
	assert_false(f.task_from_pid);
	b.buf[0] ^= 0xff; /* magic */
	assert_int_equal(btfscan(b.buf, n, &f), -1);
	b.buf[0] ^= 0xff;
	b.buf[2] = 2; /* version */
	assert_int_equal(btfscan(b.buf, n, &f), -1);

	init(&b);
	type(&b, "future", 30, 0, 0, 0); /* a kind it does not know */
	assert_int_equal(btfscan(b.buf, finish(&b), &f), -1);

	init(&b);
	type(&b, "s", 4, 1000, 8, 0); /* members past the type section */
	assert_int_equal(btfscan(b.buf, finish(&b), &f), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_facts),
		cmocka_unit_test(test_names_whole),
		cmocka_unit_test(test_typedef_chain),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
