// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Unit tests for user/render.c: the LIST payload, its tree and its JSON. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bpfguard.h"
#include "ctl.h"
#include "render.h"

/* ---- building payloads --------------------------------------------------- */

struct payload {
	struct bg_list_tag tags[8];
	struct bg_list_proc procs[160];
	uint32_t nt, np;
	void *buf;
	size_t len;
	struct list_view v;
};

static void tag(struct payload *p, uint32_t id, uint32_t root_pid, uint32_t parent)
{
	assert_true(p->nt < sizeof(p->tags) / sizeof(p->tags[0]));
	p->tags[p->nt++] = (struct bg_list_tag){ .tag = id, .root_pid = root_pid, .parent = parent,
						 .flags = BG_TAG_F_PRIV };
}

static void proc(struct payload *p, uint32_t pid, uint32_t ppid, uint32_t t, int root,
		 const char *comm)
{
	struct bg_list_proc *x;

	assert_true(p->np < sizeof(p->procs) / sizeof(p->procs[0]));
	x = &p->procs[p->np++];
	memset(x, 0, sizeof(*x));
	x->pid = pid;
	x->ppid = ppid;
	x->tag = t;
	x->flags = root ? BG_PROC_ROOT : 0;
	assert_true(strlen(comm) < sizeof(x->comm));
	memcpy(x->comm, comm, strlen(comm));
}

/* Serialize as the agent sends it, then parse it back into p->v. */
static void seal(struct payload *p)
{
	uint32_t hdr[2] = { p->nt, p->np };
	char *b;

	p->len = sizeof(hdr) + p->nt * sizeof(struct bg_list_tag) +
		 p->np * sizeof(struct bg_list_proc);
	b = malloc(p->len);
	assert_non_null(b);
	memcpy(b, hdr, sizeof(hdr));
	memcpy(b + sizeof(hdr), p->tags, p->nt * sizeof(struct bg_list_tag));
	memcpy(b + sizeof(hdr) + p->nt * sizeof(struct bg_list_tag), p->procs,
	       p->np * sizeof(struct bg_list_proc));
	p->buf = b;
	assert_int_equal(list_view_parse(p->buf, p->len, &p->v), 0);
}

static char *render(struct payload *p, int json)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);

	assert_non_null(f);
	if (json)
		assert_int_equal(render_json(f, &p->v), 0);
	else
		assert_int_equal(render_tree(f, &p->v), 0);
	assert_int_equal(fclose(f), 0);
	assert_non_null(s);
	free(p->buf);
	p->buf = NULL;
	return s;
}

static void expect_output(struct payload *p, int json, const char *want)
{
	char *got = render(p, json);

	assert_string_equal(got, want);
	free(got);
}

static char *json_of(const char *s)
{
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);

	assert_non_null(f);
	json_string(f, s);
	assert_int_equal(fclose(f), 0);
	return out;
}

static void expect_json_string(const char *in, const char *want)
{
	char *got = json_of(in);

	assert_string_equal(got, want);
	free(got);
}

/* ---- list_view_parse ----------------------------------------------------- */

static void test_parse_empty(void **state)
{
	uint32_t hdr[2] = { 0, 0 };
	struct list_view v;

	(void)state;
	memset(&v, 0xaa, sizeof(v));
	assert_int_equal(list_view_parse(hdr, sizeof(hdr), &v), 0);
	assert_int_equal(v.ntags, 0);
	assert_int_equal(v.nprocs, 0);
}

static void test_parse_exact(void **state)
{
	struct payload p = { 0 };

	(void)state;
	tag(&p, 1, 100, 0);
	tag(&p, 2, 102, 1);
	proc(&p, 100, 1, 1, 1, "bash");
	proc(&p, 101, 100, 1, 0, "make");
	proc(&p, 102, 101, 2, 1, "cc");
	seal(&p);
	assert_int_equal(p.len, 8 + 2 * 72 + 3 * 40);
	assert_int_equal(p.v.ntags, 2);
	assert_int_equal(p.v.nprocs, 3);
	assert_ptr_equal(p.v.tags, (char *)p.buf + 8);
	assert_ptr_equal(p.v.procs, (char *)p.buf + 8 + 2 * 72);
	assert_int_equal(p.v.tags[1].tag, 2);
	assert_int_equal(p.v.tags[1].parent, 1);
	assert_int_equal(p.v.procs[2].pid, 102);
	assert_string_equal(p.v.procs[1].comm, "make");
	free(p.buf);
}

static void test_parse_bad_sizes(void **state)
{
	struct payload p = { 0 };
	struct list_view v;
	uint32_t hdr[2];
	/* the payload below (2 tags, 3 procs) and room for one record too many */
	char big[8 + sizeof(struct bg_list_tag) * 3 + sizeof(struct bg_list_proc) * 4];

	(void)state;
	tag(&p, 1, 100, 0);
	tag(&p, 2, 102, 1);
	proc(&p, 100, 1, 1, 1, "bash");
	proc(&p, 101, 100, 1, 0, "make");
	proc(&p, 102, 101, 2, 1, "cc");
	seal(&p);
	memset(big, 0, sizeof(big));
	assert_true(p.len + sizeof(struct bg_list_proc) <= sizeof(big));
	memcpy(big, p.buf, p.len);

	/* shorter than the header */
	assert_int_equal(list_view_parse(big, 0, &v), -EPROTO);
	assert_int_equal(list_view_parse(big, 4, &v), -EPROTO);
	assert_int_equal(list_view_parse(big, 7, &v), -EPROTO);
	/* one byte short, one record short, one byte long, one record long */
	assert_int_equal(list_view_parse(big, p.len - 1, &v), -EPROTO);
	assert_int_equal(list_view_parse(big, p.len - sizeof(struct bg_list_proc), &v), -EPROTO);
	assert_int_equal(list_view_parse(big, p.len + 1, &v), -EPROTO);
	assert_int_equal(list_view_parse(big, p.len + sizeof(struct bg_list_proc), &v), -EPROTO);
	/* a failed parse leaves an empty view, never a half-filled one */
	assert_int_equal(v.ntags, 0);
	assert_int_equal(v.nprocs, 0);
	/* header alone, claiming records */
	assert_int_equal(list_view_parse(big, 8, &v), -EPROTO);
	/* counts swapped: 3 tags + 2 procs is another size */
	hdr[0] = 3;
	hdr[1] = 2;
	memcpy(big, hdr, sizeof(hdr));
	assert_int_equal(list_view_parse(big, p.len, &v), -EPROTO);
	/* huge counts must not wrap into a small size */
	hdr[0] = 0xffffffffu;
	hdr[1] = 0xffffffffu;
	memcpy(big, hdr, sizeof(hdr));
	assert_int_equal(list_view_parse(big, p.len, &v), -EPROTO);
	assert_int_equal(list_view_parse(big, 8, &v), -EPROTO);
	free(p.buf);
}

/* ---- json_string --------------------------------------------------------- */

static void test_json_string_plain(void **state)
{
	(void)state;
	expect_json_string("", "\"\"");
	expect_json_string("bash", "\"bash\"");
	expect_json_string("kworker/0:1 x~", "\"kworker/0:1 x~\"");
}

static void test_json_string_escapes(void **state)
{
	(void)state;
	expect_json_string("\"", "\"\\\"\"");
	expect_json_string("\\", "\"\\\\\"");
	expect_json_string("\n", "\"\\n\"");
	expect_json_string("\t", "\"\\t\"");
	expect_json_string("\r", "\"\\u000d\"");
	expect_json_string("\x01", "\"\\u0001\"");
	expect_json_string("\x1b[0m", "\"\\u001b[0m\"");
	expect_json_string("\x1f", "\"\\u001f\"");
	expect_json_string("\x7f", "\"\\u007f\"");
	/* bytes >= 0x80: escaped, so the output is ASCII whatever came in */
	expect_json_string("\x80", "\"\\u0080\"");
	expect_json_string("\xe9t\xe9", "\"\\u00e9t\\u00e9\"");
	expect_json_string("\xff", "\"\\u00ff\"");
	expect_json_string("a\"b\\c\nd\x01\xfe", "\"a\\\"b\\\\c\\nd\\u0001\\u00fe\"");
}

/* Every byte 1..255 comes out as printable ASCII, never a raw control. */
static void test_json_string_all_bytes(void **state)
{
	char in[256];
	char *out;

	(void)state;
	for (int i = 1; i < 256; i++)
		in[i - 1] = (char)i;
	in[255] = '\0';
	out = json_of(in);
	assert_int_equal(out[0], '"');
	assert_int_equal(out[strlen(out) - 1], '"');
	for (const unsigned char *q = (const unsigned char *)out; *q; q++)
		assert_true(*q >= 0x20 && *q < 0x7f);
	/* 0x20..0x7e minus '"' and '\\' stay as they are (93 bytes); '"', '\\',
	 * '\n', '\t' take 2; the 31 - 2 other controls and 129 bytes >= 0x7f
	 * take 6 each: 93 + 4 * 2 + (29 + 129) * 6 + 2 quotes */
	assert_int_equal(strlen(out), 93 + 8 + 158 * 6 + 2);
	free(out);
}

/* ---- render_json --------------------------------------------------------- */

static void test_json_empty(void **state)
{
	struct payload p = { 0 };

	(void)state;
	seal(&p);
	expect_output(&p, 1, "[]\n");
}

static void test_json_one_tag(void **state)
{
	struct payload p = { 0 };

	(void)state;
	tag(&p, 1, 100, 0);
	proc(&p, 100, 1, 1, 1, "bash");
	proc(&p, 101, 100, 1, 0, "make");
	proc(&p, 102, 101, 1, 0, "cc");
	proc(&p, 103, 100, 1, 0, "sleep");
	seal(&p);
	expect_output(&p, 1,
		      "[{\"pid\":100,\"tag\":1,\"parent_tag\":0,\"owner_uid\":0,\"privileged\":true,\"nspid\":100,\"comm\":\"bash\","
		      "\"descendants\":[101,102,103],\"adopted\":[],\"nspids\":{},\"state\":\"active\",\"max_procs\":0}]\n");
}

/*
 * tag 1 (root 100) holds tag 2 (root 102); tag 3 (root 200) is another tree.
 * Tag 1's descendants include 102 and tag 2's member 103; tag 2 lists 103
 * only; neither includes tag 3's processes.
 */
static void build_nested(struct payload *p)
{
	tag(p, 1, 100, 0);
	tag(p, 2, 102, 1);
	tag(p, 3, 200, 0);
	proc(p, 100, 1, 1, 1, "sh");
	proc(p, 101, 100, 1, 0, "a");
	proc(p, 102, 101, 2, 1, "inner");
	proc(p, 103, 102, 2, 0, "b");
	proc(p, 104, 100, 1, 0, "d");
	proc(p, 200, 1, 3, 1, "other");
	proc(p, 201, 100, 3, 0, "c");
}

static void test_json_nested(void **state)
{
	struct payload p = { 0 };

	(void)state;
	build_nested(&p);
	seal(&p);
	expect_output(&p, 1,
		      "[{\"pid\":100,\"tag\":1,\"parent_tag\":0,\"owner_uid\":0,\"privileged\":true,\"nspid\":100,\"comm\":\"sh\","
		      "\"descendants\":[101,102,103,104],\"adopted\":[],\"nspids\":{},\"state\":\"active\",\"max_procs\":0},"
		      "{\"pid\":102,\"tag\":2,\"parent_tag\":1,\"owner_uid\":0,\"privileged\":true,\"nspid\":102,\"comm\":\"inner\","
		      "\"descendants\":[103],\"adopted\":[],\"nspids\":{},\"state\":\"active\",\"max_procs\":0},"
		      "{\"pid\":200,\"tag\":3,\"parent_tag\":0,\"owner_uid\":0,\"privileged\":true,\"nspid\":200,\"comm\":\"other\","
		      "\"descendants\":[201],\"adopted\":[],\"nspids\":{},\"state\":\"active\",\"max_procs\":0}]\n");
}

static void test_json_three_deep(void **state)
{
	struct payload p = { 0 };

	(void)state;
	tag(&p, 1, 10, 0);
	tag(&p, 2, 20, 1);
	tag(&p, 3, 30, 2);
	proc(&p, 10, 1, 1, 1, "l1");
	proc(&p, 20, 10, 2, 1, "l2");
	proc(&p, 30, 20, 3, 1, "l3");
	proc(&p, 31, 30, 3, 0, "m");
	seal(&p);
	expect_output(&p, 1,
		      "[{\"pid\":10,\"tag\":1,\"parent_tag\":0,\"owner_uid\":0,\"privileged\":true,\"nspid\":10,\"comm\":\"l1\","
		      "\"descendants\":[20,30,31],\"adopted\":[],\"nspids\":{},\"state\":\"active\",\"max_procs\":0},"
		      "{\"pid\":20,\"tag\":2,\"parent_tag\":1,\"owner_uid\":0,\"privileged\":true,\"nspid\":20,\"comm\":\"l2\","
		      "\"descendants\":[30,31],\"adopted\":[],\"nspids\":{},\"state\":\"active\",\"max_procs\":0},"
		      "{\"pid\":30,\"tag\":3,\"parent_tag\":2,\"owner_uid\":0,\"privileged\":true,\"nspid\":30,\"comm\":\"l3\","
		      "\"descendants\":[31],\"adopted\":[],\"nspids\":{},\"state\":\"active\",\"max_procs\":0}]\n");
}

static void test_json_escaped_comm(void **state)
{
	struct payload p = { 0 };

	(void)state;
	tag(&p, 4, 400, 0);
	proc(&p, 400, 1, 4, 1, "q\"b\\n\nc\x01\xc3");
	seal(&p);
	expect_output(&p, 1,
		      "[{\"pid\":400,\"tag\":4,\"parent_tag\":0,\"owner_uid\":0,\"privileged\":true,"
		      "\"nspid\":400,\"comm\":\"q\\\"b\\\\n\\nc\\u0001\\u00c3\","
		      "\"descendants\":[],\"adopted\":[],\"nspids\":{},\"state\":\"active\",\"max_procs\":0}]\n");
}

/* The root's record is missing (it raced with its exit): comm is "". */
static void test_json_root_missing(void **state)
{
	struct payload p = { 0 };

	(void)state;
	tag(&p, 5, 500, 0);
	proc(&p, 501, 500, 5, 0, "x");
	seal(&p);
	expect_output(&p, 1,
		      "[{\"pid\":500,\"tag\":5,\"parent_tag\":0,\"owner_uid\":0,\"privileged\":true,\"nspid\":500,\"comm\":\"\","
		      "\"descendants\":[501],\"adopted\":[],\"nspids\":{},\"state\":\"active\",\"max_procs\":0}]\n");
}

/* An unprivileged tag with an adopted member and members in another PID
 * namespace: owner, adoption and namespace pids show in both renderings. */
static void build_user_tag(struct payload *p)
{
	tag(p, 7, 700, 0);
	p->tags[p->nt - 1].flags = 0;
	p->tags[p->nt - 1].owner_uid = 1000;
	proc(p, 700, 1, 7, 1, "job");
	p->procs[p->np - 1].nspid = 1;
	proc(p, 701, 700, 7, 0, "worker");
	p->procs[p->np - 1].nspid = 2;
	proc(p, 650, 1, 7, 0, "spawned");
	p->procs[p->np - 1].flags = BG_PROC_ADOPTED;
}

static void test_json_user_adopted_ns(void **state)
{
	struct payload p = { 0 };

	(void)state;
	build_user_tag(&p);
	seal(&p);
	expect_output(&p, 1,
		      "[{\"pid\":700,\"tag\":7,\"parent_tag\":0,\"owner_uid\":1000,\"privileged\":false,"
		      "\"nspid\":1,\"comm\":\"job\",\"descendants\":[701,650],\"adopted\":[650],"
		      "\"nspids\":{\"701\":2},\"state\":\"active\",\"max_procs\":0}]\n");
}

static void test_tree_user_adopted_ns(void **state)
{
	struct payload p = { 0 };

	(void)state;
	build_user_tag(&p);
	seal(&p);
	expect_output(&p, 0,
		      "700 job (pid 1 in its namespace) [tag 7] (uid 1000)\n"
		      "|-- 650 spawned [adopted]\n"
		      "`-- 701 worker (pid 2 in its namespace)\n");
}

/* ---- render_tree --------------------------------------------------------- */

static void test_tree_empty(void **state)
{
	struct payload p = { 0 };

	(void)state;
	seal(&p);
	expect_output(&p, 0, "no tagged processes\n");
}

static void test_tree_small(void **state)
{
	struct payload p = { 0 };

	(void)state;
	tag(&p, 1, 100, 0);
	/* out of order on purpose: the tree sorts by pid */
	proc(&p, 104, 999, 1, 0, "daemon"); /* recorded parent not in the lineage */
	proc(&p, 102, 101, 1, 0, "cc");
	proc(&p, 100, 1, 1, 1, "bash");
	proc(&p, 105, 102, 1, 0, "as");
	proc(&p, 101, 100, 1, 0, "make");
	proc(&p, 103, 101, 1, 0, "ld");
	seal(&p);
	expect_output(&p, 0,
		      "100 bash [tag 1]\n"
		      "|-- 101 make\n"
		      "|   |-- 102 cc\n"
		      "|   |   `-- 105 as\n"
		      "|   `-- 103 ld\n"
		      "`-- 104 daemon\n");
}

/* Nested tag drawn inside its parent; a member whose recorded parent
 * belongs to another lineage hangs under its own root. */
static void test_tree_nested(void **state)
{
	struct payload p = { 0 };

	(void)state;
	build_nested(&p);
	seal(&p);
	expect_output(&p, 0,
		      "100 sh [tag 1]\n"
		      "|-- 101 a\n"
		      "|   `-- 102 inner [tag 2]\n"
		      "|       `-- 103 b\n"
		      "`-- 104 d\n"
		      "200 other [tag 3]\n"
		      "`-- 201 c\n");
}

static void test_tree_root_missing(void **state)
{
	struct payload p = { 0 };

	(void)state;
	tag(&p, 7, 700, 0);
	proc(&p, 702, 701, 7, 0, "y");
	proc(&p, 701, 700, 7, 0, "x");
	proc(&p, 703, 703, 7, 0, "self"); /* its own parent: under the root */
	seal(&p);
	expect_output(&p, 0,
		      "700 ? [tag 7]\n"
		      "|-- 701 x\n"
		      "|   `-- 702 y\n"
		      "`-- 703 self\n");
}

/* A lineage being killed: its root gone (killed by SIGTERM, or exited 3),
 * or alive (a `bpfguard kill` under way): both renderings say so. */
static void test_killing(void **state)
{
	struct payload p = { 0 };

	(void)state;
	tag(&p, 8, 800, 0);
	p.tags[0].state = BG_LIST_KILLING | BG_LIST_ROOT_EXITED;
	p.tags[0].root_status = 15; /* WIFSIGNALED, SIGTERM */
	proc(&p, 801, 800, 8, 0, "w");
	tag(&p, 9, 900, 0);
	p.tags[1].state = BG_LIST_KILLING | BG_LIST_ROOT_EXITED;
	p.tags[1].root_status = 3 << 8; /* exit(3) */
	tag(&p, 10, 1000, 0);
	p.tags[2].state = BG_LIST_KILLING;
	proc(&p, 1000, 1, 10, 1, "r");
	seal(&p);
	expect_output(&p, 0,
		      "800 ? [tag 8] [killing; the root died of SIGTERM]\n"
		      "`-- 801 w\n"
		      "900 ? [tag 9] [killing; the root exited 3]\n"
		      "1000 r [tag 10] [killing]\n");
	seal(&p);
	expect_output(&p, 1,
		      "[{\"pid\":800,\"tag\":8,\"parent_tag\":0,\"owner_uid\":0,\"privileged\":true,\"nspid\":800,\"comm\":\"\","
		      "\"descendants\":[801],\"adopted\":[],\"nspids\":{},\"state\":\"killing\","
		      "\"root_exit\":{\"exit_signal\":\"TERM\",\"status\":143},\"max_procs\":0},"
		      "{\"pid\":900,\"tag\":9,\"parent_tag\":0,\"owner_uid\":0,\"privileged\":true,\"nspid\":900,\"comm\":\"\","
		      "\"descendants\":[],\"adopted\":[],\"nspids\":{},\"state\":\"killing\","
		      "\"root_exit\":{\"exit_code\":3,\"status\":3},\"max_procs\":0},"
		      "{\"pid\":1000,\"tag\":10,\"parent_tag\":0,\"owner_uid\":0,\"privileged\":true,\"nspid\":1000,\"comm\":\"r\","
		      "\"descendants\":[],\"adopted\":[],\"nspids\":{},\"state\":\"killing\",\"max_procs\":0}]\n");
}

/* A tag with --max-procs and its accounting: both in the JSON, after the
 * state; the text tree is unchanged. */
static void test_json_acct(void **state)
{
	struct payload p = { 0 };

	(void)state;
	tag(&p, 4, 400, 0);
	p.tags[0].max_procs = 8;
	p.tags[0].state = BG_LIST_ACCT;
	p.tags[0].born = 12;
	p.tags[0].exited = 10;
	p.tags[0].live = 3;
	p.tags[0].peak = 8;
	p.tags[0].cpu_exited_ns = 2999999999ull; /* truncated to ms */
	proc(&p, 400, 1, 4, 1, "job");
	seal(&p);
	expect_output(&p, 0, "400 job [tag 4]\n");
	seal(&p);
	expect_output(&p, 1,
		      "[{\"pid\":400,\"tag\":4,\"parent_tag\":0,\"owner_uid\":0,\"privileged\":true,\"nspid\":400,\"comm\":\"job\","
		      "\"descendants\":[],\"adopted\":[],\"nspids\":{},\"state\":\"active\",\"max_procs\":8,"
		      "\"acct\":{\"born\":12,\"exited\":10,\"live\":3,\"peak\":8,\"cpu_exited_ms\":2999}}]\n");
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* A chain deeper than the indentation buffer still lists everyone. */
static void test_tree_deep(void **state)
{
	struct payload p = { 0 };
	char *out, want[32];

	(void)state;
	tag(&p, 1, 1000, 0);
	proc(&p, 1000, 1, 1, 1, "r");
	for (uint32_t i = 1; i <= 150; i++)
		proc(&p, 1000 + i, 1000 + i - 1, 1, 0, "k");
	seal(&p);
	out = render(&p, 0);
	assert_int_equal(count_lines(out), 151);
	assert_memory_equal(out, "1000 r [tag 1]\n`-- 1001 k\n    `-- 1002 k\n",
			    strlen("1000 r [tag 1]\n`-- 1001 k\n    `-- 1002 k\n"));
	snprintf(want, sizeof(want), "`-- %u k\n", 1150);
	assert_non_null(strstr(out, want));
	free(out);
}

/*
 * Recorded parents can form a loop after pid reuse: 200 was forked by a
 * process with pid 300 that exited, and pid 300 was then reused by a child
 * of 200 in the same lineage. Every member must still be listed, once.
 */
static void test_tree_ppid_loop(void **state)
{
	struct payload p = { 0 };
	int has_root, has_b, has_c, lines;
	char *out;

	(void)state;
	tag(&p, 1, 100, 0);
	proc(&p, 100, 1, 1, 1, "root");
	proc(&p, 200, 300, 1, 0, "b");
	proc(&p, 300, 200, 1, 0, "c");
	seal(&p);
	out = render(&p, 0);
	has_root = strstr(out, "100 root [tag 1]\n") != NULL;
	has_b = strstr(out, " 200 b\n") != NULL;
	has_c = strstr(out, " 300 c\n") != NULL;
	lines = count_lines(out);
	print_message("%s", out);
	free(out);
	assert_true(has_root);
	assert_true(has_b);
	assert_true(has_c);
	assert_int_equal(lines, 3);
}

/*
 * Found with tests/fuzz/fuzz_ctl_rep: a malformed answer that lists a pid
 * twice (the agent's map cannot: pids are its keys) made the recorded
 * parents loop inside the part the root reaches, and the tree went round
 * them to its depth bound, doubling at every fork: `bpfguard list` never
 * ended. Each process is now drawn once, whatever the answer holds.
 */
static void test_tree_duplicate_pids(void **state)
{
	struct payload p = { 0 };
	char *out;

	(void)state;
	tag(&p, 1, 100, 0);
	proc(&p, 100, 1, 1, 1, "root");
	proc(&p, 5, 100, 1, 0, "a");
	proc(&p, 6, 5, 1, 0, "b");
	proc(&p, 7, 5, 1, 0, "c");
	proc(&p, 5, 6, 1, 0, "a2");
	proc(&p, 5, 7, 1, 0, "a3");
	seal(&p);
	out = render(&p, 0);
	assert_true(count_lines(out) <= 6);
	assert_non_null(strstr(out, "100 root [tag 1]\n"));
	free(out);
}

/*
 * Found with tests/fuzz/fuzz_ctl_rep: comm is whatever a process names
 * itself (PR_SET_NAME), and the tree printed it raw, so that a member could
 * draw lines of its own ("\n`-- 1 init") or send escape sequences to the
 * terminal of whoever lists. Control bytes show as '?', as ps shows them.
 */
static void test_tree_comm_controls(void **state)
{
	struct payload p = { 0 };

	(void)state;
	tag(&p, 1, 100, 0);
	proc(&p, 100, 1, 1, 1, "r");
	proc(&p, 101, 100, 1, 0, "x\n`-- 1 init");
	proc(&p, 102, 100, 1, 0, "\x1b[2J\t\x7f\xc3\xa9");
	seal(&p);
	expect_output(&p, 0, "100 r [tag 1]\n|-- 101 x?`-- 1 init\n`-- 102 ?[2J??\xc3\xa9\n");
}

/* Process flags: BG_PROC_ROOT shows [tag N] only on the tag's own root. */
static void test_tree_root_flag(void **state)
{
	struct payload p = { 0 };

	(void)state;
	tag(&p, 1, 100, 0);
	proc(&p, 100, 1, 1, 1, "r");
	proc(&p, 101, 100, 1, 1, "stale"); /* flag without being the root */
	seal(&p);
	expect_output(&p, 0, "100 r [tag 1]\n`-- 101 stale\n");
}

/* status --json carries the quotas, and "used" as the scope says. */
static void test_status_json_quotas(void **state)
{
	struct bg_status st = { .mode = BG_MODE_USER, .scope = BG_STATUS_OWN, .max_procs = 64,
				.max_tags = 8, .user_max_procs = 6, .user_max_tags = 5,
				.unpriv_max_procs = 56, .unpriv_max_tags = 7, .used_procs = 4,
				.used_tags = 2 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	st.counters[BG_STAT_LIMIT_KILLS] = 3;
	assert_non_null(f);
	assert_int_equal(render_status_json(f, &st, "/sys/fs/bpf/x"), 0);
	fclose(f);
	assert_non_null(strstr(buf, "\"scope\":\"own\""));
	assert_non_null(strstr(buf, "\"limits\":{\"max_procs\":64,\"max_tags\":8},\"quotas\":{"
				    "\"user_max_procs\":6,\"user_max_tags\":5,"
				    "\"unprivileged_max_procs\":56,\"unprivileged_max_tags\":7,"
				    "\"used_procs\":4,\"used_tags\":2},\"counters\":{"));
	assert_non_null(strstr(buf, "\"limit_kills\":3,"));
	assert_non_null(strstr(buf, "\"quota_refused\":0"));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_json_quotas),
		cmocka_unit_test(test_parse_empty),
		cmocka_unit_test(test_parse_exact),
		cmocka_unit_test(test_parse_bad_sizes),
		cmocka_unit_test(test_json_string_plain),
		cmocka_unit_test(test_json_string_escapes),
		cmocka_unit_test(test_json_string_all_bytes),
		cmocka_unit_test(test_json_empty),
		cmocka_unit_test(test_json_one_tag),
		cmocka_unit_test(test_json_nested),
		cmocka_unit_test(test_json_three_deep),
		cmocka_unit_test(test_json_escaped_comm),
		cmocka_unit_test(test_json_root_missing),
		cmocka_unit_test(test_killing),
		cmocka_unit_test(test_json_acct),
		cmocka_unit_test(test_tree_empty),
		cmocka_unit_test(test_json_user_adopted_ns),
		cmocka_unit_test(test_tree_user_adopted_ns),
		cmocka_unit_test(test_tree_small),
		cmocka_unit_test(test_tree_nested),
		cmocka_unit_test(test_tree_root_missing),
		cmocka_unit_test(test_tree_deep),
		cmocka_unit_test(test_tree_ppid_loop),
		cmocka_unit_test(test_tree_root_flag),
		cmocka_unit_test(test_tree_duplicate_pids),
		cmocka_unit_test(test_tree_comm_controls),
	};

	return cmocka_run_group_tests_name("render", tests, NULL, NULL);
}
