// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_cli: the command line of every subcommand, through cli_parse()
 * (user/cli.c), the step each cmd_* runs before it acts.
 *
 * Input: byte 0 picks the command; the rest, split at NUL bytes, is its
 * arguments (each in its own buffer, so ASan sees a read past any of them).
 * stdout and stderr are captured for each parse.
 *
 * Checked: the answer is 0, CLI_HELP or EXIT_USAGE; argv is only permuted;
 * 0 prints nothing and every value is within what the command documents
 * (a valid pin dir, signal 1..64, grace at most 1h, pids that parse back,
 * options only where the command takes them); CLI_HELP prints the command's
 * usage on stdout alone; EXIT_USAGE prints one line on stderr alone, and
 * what it quotes is what the user typed (an argument, the value of a
 * "--name=value", the full name of a long option typed or abbreviated, or
 * one letter of a "-xy" group); an option it calls unknown is not one the
 * command takes. The same line parsed again, in fresh buffers, gives the
 * same answer: nothing is left over from the first parse (getopt's state).
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bpfguard.h"
#include "cli.h"
#include "fuzz.h"
#include "loader.h"
#include "metrics.h"
#include "parse.h"

#define MAX_ARGS 32

static const struct {
	const char *name;
	enum cli_cmd cmd;
	const char *opts[11]; /* its long options, NULL-terminated */
} cmds[] = {
	{ "agent", CLI_AGENT,
	  { "pin-dir", "mode", "max-procs", "max-tags", "metrics", "ring-size", "user-max-procs",
	    "user-max-tags", "verbose", "help" } },
	{ "tag", CLI_TAG, { "pin-dir", "signal", "grace", "help" } },
	{ "untag", CLI_UNTAG, { "pin-dir", "help" } },
	{ "adopt", CLI_ADOPT, { "pin-dir", "help" } },
	{ "exec", CLI_EXEC, { "pin-dir", "signal", "grace", "help" } },
	{ "list", CLI_LIST, { "pin-dir", "json", "help" } },
	{ "status", CLI_STATUS, { "pin-dir", "json", "help" } },
	{ "events", CLI_EVENTS, { "pin-dir", "help" } },
	{ "unload", CLI_UNLOAD, { "pin-dir", "help" } },
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

struct outcome {
	int rc;
	struct cli_args a;
	char *out, *err; /* what went to stdout, stderr */
	size_t out_len, err_len;
};

static void parse(size_t c, int argc, char **argv, struct outcome *o)
{
	FILE *real_out = stdout, *real_err = stderr;

	stdout = open_memstream(&o->out, &o->out_len);
	stderr = open_memstream(&o->err, &o->err_len);
	CHECK(stdout && stderr);
	o->rc = cli_parse(cmds[c].cmd, argc, argv, &o->a);
	fclose(stdout);
	fclose(stderr);
	stdout = real_out;
	stderr = real_err;
}

static void check_pin(const char *dir)
{
	char copy[256];

	CHECK(dir);
	if (!strcmp(dir, BG_PIN_DIR_DEFAULT))
		return;
	CHECK(strlen(dir) < sizeof(copy));
	strcpy(copy, dir);
	/* valid, and already in the form check_pin_dir leaves */
	CHECK(check_pin_dir(copy) == 0 && !strcmp(copy, dir));
	CHECK(dir[0] == '/' && strlen(dir) <= 200 && !strstr(dir, "//") && !strstr(dir, "/../"));
}

static void check_agent(const struct agent_opts *ao)
{
	long page = sysconf(_SC_PAGESIZE);
	struct sockaddr_storage ss;
	socklen_t sl;

	check_pin(ao->pin_dir);
	CHECK(ao->mode == BG_MODE_AUTO || ao->mode == BG_MODE_USER || ao->mode == BG_MODE_KERNEL);
	CHECK(ao->max_procs <= (1u << 24) && ao->max_tags <= (1u << 24));
	CHECK(ao->user_max_procs <= (1u << 24) && ao->user_max_tags <= (1u << 24));
	CHECK(ao->ring_size == 0 ||
	      (ao->ring_size >= (uint32_t)page && ao->ring_size <= (1u << 30) &&
	       !(ao->ring_size & (ao->ring_size - 1))));
	CHECK(!ao->metrics_addr || metrics_parse_addr(ao->metrics_addr, &ss, &sl) == 0);
}

/* @s parses as a pid and is @want */
static bool pid_is(const char *s, pid_t want)
{
	pid_t p;

	return parse_pid(s, &p) == 0 && p == want && want >= 1;
}

static void check_ok(size_t c, int argc, char **argv, const struct outcome *o)
{
	const struct cli_args *a = &o->a;
	enum cli_cmd cmd = cmds[c].cmd;

	CHECK(o->out_len == 0 && o->err_len == 0);
	if (cmd == CLI_AGENT) {
		check_agent(&a->agent);
		return;
	}
	check_pin(a->pin_dir);
	CHECK(a->json == 0 || (a->json == 1 && (cmd == CLI_LIST || cmd == CLI_STATUS)));
	CHECK(a->sig >= 0 && a->sig <= 64);
	CHECK(a->grace_ns <= BG_GRACE_MAX_NS);
	if (cmd != CLI_TAG && cmd != CLI_EXEC)
		CHECK(a->sig == 0 && a->grace_ns == 0);
	/* the operands come last, after the options */
	switch (cmd) {
	case CLI_TAG:
	case CLI_UNTAG:
		CHECK(pid_is(argv[argc - 1], a->pid[0]) && a->pid[1] == 0);
		break;
	case CLI_ADOPT:
		CHECK(argc >= 3 && pid_is(argv[argc - 2], a->pid[0]) &&
		      pid_is(argv[argc - 1], a->pid[1]));
		break;
	default:
		CHECK(a->pid[0] == 0 && a->pid[1] == 0);
	}
	if (cmd == CLI_EXEC)
		CHECK(a->cmd >= 1 && a->cmd < argc);
	else
		CHECK(a->cmd == 0);
}

/*
 * Is @q (@qlen bytes) what the user typed: one argument, the value of a
 * "--name=value", the full name of a long option typed as "--name",
 * "--name=value" or an abbreviation of either, or "-c" out of a "-xy" group?
 */
static bool typed(const char *q, size_t qlen, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq = strchr(arg, '=');
		size_t n = eq ? (size_t)(eq - arg) : strlen(arg);

		if (strlen(arg) == qlen && !memcmp(arg, q, qlen))
			return true;
		if (!strncmp(arg, "--", 2) && eq && strlen(eq + 1) == qlen &&
		    !memcmp(eq + 1, q, qlen))
			return true;
		/* "--name" from "--na" or "--name=..."; "--" from "--=x" */
		if (!strncmp(arg, "--", 2) && (n > 2 || n == qlen) && n <= qlen && !memcmp(arg, q, n))
			return true;
		if (qlen == 2 && q[0] == '-' && arg[0] == '-' && arg[1] != '-' &&
		    strchr(arg + 1, q[1]))
			return true;
	}
	return false;
}

static void check_usage(size_t c, int argc, char **argv, const struct outcome *o)
{
	static const char unknown[] = "unknown option '";
	const char *line = o->err, *q, *q_end;
	bool newline_typed = false;
	char known[32];

	CHECK(o->out_len == 0);
	CHECK(o->err_len > 10 && !strncmp(line, "bpfguard: ", 10));
	CHECK(line[o->err_len - 1] == '\n');
	for (int i = 1; i < argc; i++)
		if (strchr(argv[i], '\n'))
			newline_typed = true;
	if (!newline_typed)
		CHECK(memchr(line, '\n', o->err_len) == line + o->err_len - 1);
	/* a message quotes at most one thing, and that is what was typed */
	q = memchr(line, '\'', o->err_len);
	if (!q)
		return;
	q_end = line + o->err_len;
	while (*--q_end != '\'')
		;
	CHECK(q_end > q);
	CHECK(typed(q + 1, (size_t)(q_end - q - 1), argc, argv));
	if (q + 1 - line < (long)strlen(unknown) ||
	    strncmp(q + 1 - strlen(unknown), unknown, strlen(unknown)))
		return;
	/* an unknown option is an option, and not one the command takes */
	CHECK(q[1] == '-');
	for (const char *const *name = cmds[c].opts; *name; name++) {
		snprintf(known, sizeof(known), "--%s", *name);
		CHECK(!(q_end - q - 1 == (long)strlen(known) && !memcmp(q + 1, known, strlen(known))));
	}
}

static void check_help(size_t c, const struct outcome *o)
{
	char want[32];

	snprintf(want, sizeof(want), "Usage: bpfguard %s ", cmds[c].name);
	CHECK(o->err_len == 0);
	CHECK(o->out_len > strlen(want) && !strncmp(o->out, want, strlen(want)));
}

/* argv after a parse holds the same arguments, in any order. */
static void check_permutation(int argc, char **before, char **after)
{
	for (int i = 0; i < argc; i++) {
		int n_before = 0, n_after = 0;

		for (int j = 0; j < argc; j++) {
			n_before += before[j] == before[i];
			n_after += after[j] == before[i];
		}
		CHECK(n_before == n_after);
	}
}

static bool same_str(const char *x, const char *y)
{
	return (!x && !y) || (x && y && !strcmp(x, y));
}

static void same(const struct outcome *x, const struct outcome *y)
{
	const struct agent_opts *ax = &x->a.agent, *ay = &y->a.agent;

	CHECK(x->rc == y->rc);
	CHECK(x->out_len == y->out_len && !memcmp(x->out, y->out, x->out_len));
	CHECK(x->err_len == y->err_len && !memcmp(x->err, y->err, x->err_len));
	if (x->rc)
		return;
	CHECK(same_str(x->a.pin_dir, y->a.pin_dir) && same_str(ax->pin_dir, ay->pin_dir));
	CHECK(x->a.json == y->a.json && x->a.sig == y->a.sig && x->a.grace_ns == y->a.grace_ns);
	CHECK(x->a.pid[0] == y->a.pid[0] && x->a.pid[1] == y->a.pid[1] && x->a.cmd == y->a.cmd);
	CHECK(ax->mode == ay->mode && ax->verbose == ay->verbose);
	CHECK(ax->max_procs == ay->max_procs && ax->max_tags == ay->max_tags);
	CHECK(ax->user_max_procs == ay->user_max_procs && ax->user_max_tags == ay->user_max_tags);
	CHECK(ax->ring_size == ay->ring_size && same_str(ax->metrics_addr, ay->metrics_addr));
}

/* Split the input into argv[1..], each argument in a buffer of its own. */
static int make_argv(size_t c, const uint8_t *data, size_t len, char **argv)
{
	int argc = 1;
	size_t start = 0;

	argv[0] = strdup(cmds[c].name);
	CHECK(argv[0]);
	for (size_t i = 0; i <= len && argc < MAX_ARGS; i++) {
		if (i < len && data[i])
			continue;
		argv[argc++] = fuzz_str(data + start, i - start);
		start = i + 1;
	}
	argv[argc] = NULL;
	return argc;
}

static void free_argv(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		free(argv[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *argv[MAX_ARGS + 1], *orig[MAX_ARGS + 1], *again[MAX_ARGS + 1];
	struct outcome first = { 0 }, second = { 0 };
	size_t c;
	int argc;

	if (len < 1)
		return 0;
	c = data[0] % NCMDS;
	argc = make_argv(c, data + 1, len - 1, argv);
	memcpy(orig, argv, sizeof(argv));

	parse(c, argc, argv, &first);
	CHECK(first.rc == 0 || first.rc == CLI_HELP || first.rc == EXIT_USAGE);
	check_permutation(argc, orig, argv);
	if (first.rc == 0)
		check_ok(c, argc, argv, &first);
	else if (first.rc == CLI_HELP)
		check_help(c, &first);
	else
		check_usage(c, argc, argv, &first);

	/* The same line again, in fresh buffers: the same answer. */
	make_argv(c, data + 1, len - 1, again);
	parse(c, argc, again, &second);
	same(&first, &second);

	free(first.out);
	free(first.err);
	free(second.out);
	free(second.err);
	free_argv(argc, orig);
	free_argv(argc, again);
	return 0;
}
