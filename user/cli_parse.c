// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The command lines: each command's --help, its options, and cli_parse(),
 * which checks a command line once, before cli.c acts on it. Nothing here
 * talks to an agent.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "bpfguard.h"
#include "cli.h"
#include "cli_priv.h"
#include "libbpfguard.h"
#include "loader.h"
#include "metrics.h"
#include "parse.h"

/* Longest --timeout accepted: 1000 h. */
#define BG_TIMEOUT_MAX_NS (1000ull * 3600ull * 1000000000ull)


enum {
	OPT_PIN_DIR = 0x100,
	OPT_JSON,
	OPT_MODE,
	OPT_MAX_PROCS,
	OPT_MAX_TAGS,
	OPT_RING_SIZE,
	OPT_SIGNAL,
	OPT_GRACE,
	OPT_METRICS,
	OPT_USER_MAX_PROCS,
	OPT_USER_MAX_TAGS,
	OPT_WAIT,
	OPT_TIMEOUT,
	OPT_INIT,
	OPT_FORWARD_LINEAGE,
	OPT_ALLOW_BREAKAWAY,
	OPT_BREAKAWAY,
};

/* What each command accepts beyond --pin-dir and --help. */
#define ALLOW_JSON 0x1
#define ALLOW_GRACE 0x2
#define ALLOW_WAIT 0x8	 /* --wait (kill) */
#define ALLOW_TIMEOUT 0x10 /* --timeout (kill --wait, wait) */
#define ALLOW_INIT 0x20	   /* --init, --forward-lineage (exec) */
#define TAKES_PIDS 0x4 /* "-55" is a pid that is not one, not an option */
#define ALLOW_BREAKAWAY 0x40 /* --allow-breakaway (tag, exec) */
#define ALLOW_LEAVE 0x80     /* --breakaway (exec) */
#define ALLOW_MAX_PROCS 0x100 /* --max-procs (tag, exec) */

/* ---- each command's --help ------------------------------------------------ */

static const char agent_help[] =
	"Usage: bpfguard agent [--pin-dir DIR] [--mode auto|kernel|user] [-v]\n"
	"                      [--max-procs N] [--max-tags N] [--ring-size BYTES]\n"
	"                      [--user-max-procs N] [--user-max-tags N] [--metrics ADDR:PORT]\n\n"
	"Load and attach the BPF programs, pin their maps and links in DIR, and kill\n"
	"the lineage of every tagged process that dies. Runs in the foreground until\n"
	"SIGTERM/SIGINT; the pins stay, so tags survive a restart (`unload` drops them).\n\n"
	"  --pin-dir DIR    pin dir on bpffs (default " BG_PIN_DIR_DEFAULT "); bpffs is\n"
	"                   mounted on /sys/fs/bpf when missing\n"
	"  --mode MODE      kernel: the exit program kills the lineage in the kernel\n"
	"                   and the fork program kills what is born into it (Linux >=\n"
	"                   6.13); the agent sweeps behind it. user: the agent alone\n"
	"                   kills, from user space. auto (default): kernel where the\n"
	"                   kernel can, else user\n"
	"  --max-procs N    tracked processes the kernel map holds (default 131072)\n"
	"  --max-tags N     tags (default 4096)\n"
	"  --user-max-procs N  tracked processes each unprivileged uid's tags may\n"
	"                   hold (default max-procs/16); a child forked beyond it is\n"
	"                   killed at birth. All unprivileged uids together never\n"
	"                   hold more than max-procs minus 1/8, kept for root\n"
	"  --user-max-tags N  tags each unprivileged uid may hold (default 64); all\n"
	"                   of them together at most max-tags minus 1/8\n"
	"  --ring-size BYTES  the ring buffer that wakes the agent: a power of two,\n"
	"                   at least the page size (default 262144). A full ring\n"
	"                   loses no kill (the deaths map is the work list); it\n"
	"                   counts ringbuf_drops. Pinned sizes stay until `unload`\n"
	"  --metrics ADDR:PORT  serve Prometheus metrics on http://ADDR:PORT/metrics\n"
	"                   (a numeric address: 127.0.0.1:9469, [::1]:9469; port 0\n"
	"                   picks a free one, logged). Off unless given\n"
	"  -v, --verbose    libbpf's own messages (verifier log on failure) and a\n"
	"                   debug line per signal sent\n";

static const char tag_help[] =
	"Usage: bpfguard tag PID [--signal SIG --grace DURATION] [--allow-breakaway]\n"
	"                    [--max-procs N] [--pin-dir DIR]\n\n"
	"Guard PID: when its whole thread group dies, for any reason, every descendant\n"
	"(what it forked after the tag, what already descended from it, recursively,\n"
	"however they daemonize, setsid, exec or reparent) is killed with SIGKILL.\n"
	"Tagging a descendant of a tagged process nests: its death kills only its subtree.\n\n"
	"  --signal SIG     what descendants get first (TERM, SIGTERM or 15; default KILL)\n"
	"  --grace DURATION SIGKILL whatever still lives this long after the root's death\n"
	"                   (500ms, 2s, 1m; at most 1h; default 0). Processes born into\n"
	"                   the lineage meanwhile get SIG at birth and the same deadline;\n"
	"                   the deadline survives an agent restart\n"
	"  --allow-breakaway  members may leave the lineage (`bpfguard release`,\n"
	"                   `bpfguard exec --breakaway`), whoever may signal them;\n"
	"                   without it only the owner, from outside, or root may\n"
	"  --max-procs N    the lineage, PID included, holds at most N live processes:\n"
	"                   one forked beyond that is killed at birth (limit_kills)\n"
	"  --pin-dir DIR    the agent's pin dir (default " BG_PIN_DIR_DEFAULT ")\n\n"
	"Refused (exit 1): pid 1, kernel threads, the agent itself.\n"
	"Example: bpfguard tag 4242 && kill -9 4242   # 4242's tree dies with it\n";

static const char kill_help[] =
	"Usage: bpfguard kill PID [--signal SIG] [--grace DURATION] [--wait [--timeout DURATION]]\n"
	"                    [--pin-dir DIR]\n\n"
	"Kill the lineage of PID's innermost tag now, its root included: PID is the\n"
	"tagged root or any member. Every live member gets SIG (default KILL); a process\n"
	"born into the lineage meanwhile gets SIG at birth; with --grace, what still lives\n"
	"at the deadline gets SIGKILL. The tag ends once its lineage is empty.\n\n"
	"  --signal SIG       what the members get first (TERM, SIGTERM or 15)\n"
	"  --grace DURATION   SIGKILL what still lives this long after (500ms, 2s; at most\n"
	"                     1h; without it, SIGKILL follows SIG at once)\n"
	"  --wait             return once nothing of the lineage is left\n"
	"  --timeout DURATION with --wait: give up waiting after this long (exit 124)\n"
	"  --pin-dir DIR      the agent's pin dir (default " BG_PIN_DIR_DEFAULT ")\n\n"
	"Allowed to the tag's owner and to privileged callers; an unprivileged owner's\n"
	"kill signals only the members it could kill(2). Exit 0 once the kill is under\n"
	"way (with --wait: once the lineage is empty), 124 when --timeout ran out first,\n"
	"1 when not tagged, refused or no agent answers, 2 on a usage error.\n"
	"Example: bpfguard kill 4242 --signal TERM --grace 5s --wait\n";

static const char wait_help[] =
	"Usage: bpfguard wait PID [--timeout DURATION] [--pin-dir DIR]\n\n"
	"Block until nothing of the lineage of PID's innermost tag is left: its root\n"
	"and every member dead, reparented daemons included. PID is the tagged root or\n"
	"any member (after the root's death, name a member that still lives). An agent\n"
	"restarted meanwhile does not end the wait.\n\n"
	"  --timeout DURATION give up after this long (500ms, 2s, 1m, 1h)\n"
	"  --pin-dir DIR      the agent's pin dir (default " BG_PIN_DIR_DEFAULT ")\n\n"
	"Exit status, as timeout(1) gives it: the root's, as a shell reports it (its\n"
	"exit code, or 128 + the signal that killed it), 124 when --timeout ran out,\n"
	"125 when wait itself failed (not tagged, refused, no agent, usage, untagged\n"
	"meanwhile), with one line on stderr.\n"
	"Example: bpfguard exec -- ./job & sleep 1; bpfguard wait $!; echo $?\n";

static const char untag_help[] =
	"Usage: bpfguard untag PID [--pin-dir DIR]\n\n"
	"Stop guarding PID. Its descendants are no longer killed when it dies (if PID was\n"
	"nested in another tag, they still belong to the enclosing one).\n\n"
	"  --pin-dir DIR  the agent's pin dir (default " BG_PIN_DIR_DEFAULT ")\n";

static const char release_help[] =
	"Usage: bpfguard release PID [--pin-dir DIR]\n\n"
	"Take PID and its descendants, those it has and those it forks later, out of\n"
	"their lineage: the root's death no longer kills them; tags nested below PID go\n"
	"on at the top level. PID is a member, not a root (untag that). Every tag PID\n"
	"leaves must have been made with --allow-breakaway, unless you are its owner\n"
	"outside the lineage, or root; you must be allowed to signal PID.\n\n"
	"  --pin-dir DIR  the agent's pin dir (default " BG_PIN_DIR_DEFAULT ")\n\n"
	"Exit 0 once released, 1 when not in a lineage, refused or no agent, 2 on a\n"
	"usage error. Each release is an event and a log line naming who released what.\n"
	"Example: bpfguard exec --allow-breakaway -- ./ci-job   # ./ci-job may then run\n"
	"         bpfguard exec --breakaway -- ./daemon        # which outlives the job\n";

static const char adopt_help[] =
	"Usage: bpfguard adopt ROOT PID [--pin-dir DIR]\n\n"
	"Register PID, and everything it forks from now on, as a descendant of ROOT, a\n"
	"tagged process (or a member of a tagged lineage) that did not fork it: a process\n"
	"a tagged program had started on its behalf (by a daemon, systemd-run, docker\n"
	"exec, a job server). PID's existing children are not included. You must be\n"
	"allowed to signal both. `list` shows PID as adopted.\n\n"
	"  --pin-dir DIR  the agent's pin dir (default " BG_PIN_DIR_DEFAULT ")\n";

static const char exec_help[] =
	"Usage: bpfguard exec [--init [--forward-lineage]] [--signal SIG --grace DURATION]\n"
	"                     [--allow-breakaway] [--max-procs N] [--pin-dir DIR]\n"
	"                     -- CMD [ARGS...]\n"
	"       bpfguard exec --breakaway [--pin-dir DIR] -- CMD [ARGS...]\n\n"
	"Tag this process, then exec CMD in it: CMD is the tagged root, so nothing it\n"
	"starts can outlive it. The exit status is CMD's (127: not found, 126: not\n"
	"executable); 1 if tagging failed, 2 on a usage error.\n\n"
	"  --signal SIG, --grace DURATION, --allow-breakaway, --max-procs N\n"
	"                 as for `bpfguard tag`\n"
	"  --breakaway    run inside a lineage: leave it (`bpfguard release` of this\n"
	"                 process), then exec CMD untagged, outside it. Refused (exit\n"
	"                 1) unless the lineage's tags allow it (--allow-breakaway)\n"
	"  --init         a container entrypoint: stay CMD's parent and a subreaper,\n"
	"                 reap every process reparented here, forward HUP, INT, QUIT,\n"
	"                 TERM, USR1, USR2 and WINCH to CMD; when CMD exits, its\n"
	"                 lineage is killed and this exits with CMD's status (128 + N\n"
	"                 for signal N) once nothing of it is left\n"
	"  --forward-lineage  with --init: forward those signals to every process of\n"
	"                 CMD's lineage (each checked by the agent), not CMD alone\n"
	"  --pin-dir DIR  the agent's pin dir (default " BG_PIN_DIR_DEFAULT ")\n\n"
	"Example: bpfguard exec -- make -j8 test\n";

static const char list_help[] =
	"Usage: bpfguard list [--json] [--pin-dir DIR]\n\n"
	"Show each tagged process and its tracked descendants as a tree (the parent\n"
	"shown is the process that forked it, even after it was reparented).\n\n"
	"  --json         an array of {\"pid\", \"tag\", \"parent_tag\", \"comm\",\n"
	"                 \"descendants\": [pids]}, one object per tag (nested too)\n"
	"  --pin-dir DIR  the agent's pin dir (default " BG_PIN_DIR_DEFAULT ")\n";

static const char status_help[] =
	"Usage: bpfguard status [--json] [--pin-dir DIR]\n\n"
	"Exit 0 if an agent is attached and enforcing for DIR, 1 if not. Prints the\n"
	"mode, the tag and process counts, and the counters of what was done and of\n"
	"what could not be done (full maps, ring-buffer drops).\n\n"
	"  --json         one JSON object: agent, kernel, tags, tracked, limits, every\n"
	"                 counter, and the kill-latency histogram (README.md has the schema)\n"
	"  --pin-dir DIR  the agent's pin dir (default " BG_PIN_DIR_DEFAULT ")\n";

static const char events_help[] =
	"Usage: bpfguard events [--pin-dir DIR]\n\n"
	"Follow the agent's events as they happen: one JSON object per line on stdout\n"
	"(tag, untag, adopt, root_exit, kill, lineage_dead, kill_refused, stuck, refused,\n"
	"drop; the first line is \"subscribed\", the last \"agent_stop\" if the agent\n"
	"stops).\n"
	"root sees every event; another user sees those of the tags it owns and the\n"
	"refusals of its own requests. A reader that falls more than 1 MiB behind is\n"
	"dropped by the agent (exit 1). README.md has the schema of each event.\n\n"
	"  --pin-dir DIR  the agent's pin dir (default " BG_PIN_DIR_DEFAULT ")\n";

static const char unload_help[] =
	"Usage: bpfguard unload [--pin-dir DIR]\n\n"
	"Detach the BPF programs, drop every tag and remove DIR. A running agent for\n"
	"DIR does it and exits; without one the pins are removed directly.\n\n"
	"  --pin-dir DIR  the agent's pin dir (default " BG_PIN_DIR_DEFAULT ")\n";

/* ---- parsing -------------------------------------------------------------- */

/*
 * The long option of @opts whose value is @val, when getopt_long() just read
 * it from @a ("--name" or "--name=value", or a prefix of its name): NULL
 * when @a was something else (a short option in a "-xy" group).
 */
static const struct option *long_option(const struct option *opts, int val, const char *a)
{
	size_t n = strcspn(a, "=");

	for (; opts->name; opts++)
		if (opts->val == val && (val >= 0x100 || (!strncmp(a, "--", 2) && n > 2 &&
							 !strncmp(opts->name, a + 2, n - 2))))
			return opts;
	return NULL;
}

/*
 * The option getopt_long() refused, or that a command does not take, as the
 * user typed it: @val is what getopt_long() returned (or its optopt after
 * '?' or ':'). A long option is quoted by its name ("--signal", not the
 * "TERM" after it), an unknown one as typed up to any '=', a short one as
 * its one letter ("-x", not the argument before a "-xy" group). Sets *text
 * (in argv or @buf) and returns its length, for a "%.*s".
 */
static int typed_option(const struct option *opts, int val, char **argv, char *buf, size_t len,
			const char **text)
{
	const char *a = argv[optind - 1];
	const struct option *lo = val ? long_option(opts, val, a) : NULL;

	if (val == 0) { /* an unknown long option: getopt has stepped past it */
		*text = a;
		return (int)strcspn(a, "=");
	}
	if (lo)
		snprintf(buf, len, "--%s", lo->name);
	else
		snprintf(buf, len, "-%c", val);
	*text = buf;
	return (int)strlen(buf);
}

/* After '?': was it "--name=value" for a known option that takes none? */
static bool takes_no_value(const struct option *opts, char **argv)
{
	const char *a = argv[optind - 1];

	return optopt && strchr(a, '=') && long_option(opts, optopt, a);
}

/* The element of a "-55" that getopt read as options, from @optopt, its
 * first digit: the one just passed, or the one still being read. */
static const char *negative_number(int argc, char **argv)
{
	const char *prev = argv[optind - 1], *cur = optind < argc ? argv[optind] : "";

	if (optopt < '0' || optopt > '9')
		return NULL;
	if (prev[0] == '-' && prev[1] >= '0' && prev[1] <= '9' && prev[strlen(prev) - 1] == optopt)
		return prev;
	if (cur[0] == '-' && cur[1] >= '0' && cur[1] <= '9')
		return cur;
	return NULL;
}

/* A count option: 1 to 2^24 (the most a procs map holds). Returns 0 or
 * EXIT_USAGE after one line. */
static int parse_count(const char *cmd, const char *opt, const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < 1 || v > (1u << 24)) {
		err_line("%s: invalid %s '%s' (1 to %u)", cmd, opt, s, 1u << 24);
		return EXIT_USAGE;
	}
	*out = (uint32_t)v;
	return 0;
}

/* The options of the client commands (each takes those its allow bits say). */
static const struct option client_opts[] = {
	{ "pin-dir", required_argument, NULL, OPT_PIN_DIR },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "signal", required_argument, NULL, OPT_SIGNAL },
	{ "grace", required_argument, NULL, OPT_GRACE },
	{ "wait", no_argument, NULL, OPT_WAIT },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "init", no_argument, NULL, OPT_INIT },
	{ "forward-lineage", no_argument, NULL, OPT_FORWARD_LINEAGE },
	{ "allow-breakaway", no_argument, NULL, OPT_ALLOW_BREAKAWAY },
	{ "breakaway", no_argument, NULL, OPT_BREAKAWAY },
	{ "max-procs", required_argument, NULL, OPT_MAX_PROCS },
	{ "help", no_argument, NULL, 'h' },
	{},
};

/*
 * Parse the options every client command shares. Returns 0, CLI_HELP when
 * --help was printed, or EXIT_USAGE after printing one line.
 */
static int parse_common(int argc, char **argv, const char *help, int allow,
			const char *optstring, struct cli_args *c)
{
	const struct option *opts = client_opts;
	const char *neg, *t;
	char opt[64];
	int o, err, n;

	memset(c, 0, sizeof(*c));
	c->pin_dir = BG_PIN_DIR_DEFAULT;
	c->timeout_ns = -1;
	opterr = 0;
	optind = 0; /* 0, not 1: glibc forgets a half-read "-xy" group of a previous parse */
	while ((o = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
		switch (o) {
		case OPT_PIN_DIR:
			c->pin_dir = optarg;
			if (check_pin_dir(c->pin_dir)) {
				err_line("invalid --pin-dir '%s': an absolute path on bpffs is needed",
					 optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_JSON:
			if (!(allow & ALLOW_JSON))
				goto unknown;
			c->json = 1;
			break;
		case OPT_SIGNAL:
			if (!(allow & ALLOW_GRACE))
				goto unknown;
			if (parse_signal(optarg, &c->sig)) {
				err_line("%s: invalid --signal '%s' (a name like TERM or SIGTERM, "
					 "or a number from 1 to 64)", argv[0], optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_GRACE:
			if (!(allow & ALLOW_GRACE))
				goto unknown;
			err = parse_duration(optarg, BG_GRACE_MAX_NS, &c->grace_ns);
			if (err) {
				err_line("%s: invalid --grace '%s' (%s)", argv[0], optarg,
					 err == -ERANGE ? "at most 1h"
							: "a number with a unit: 500ms, 2s, 1m, 1h");
				return EXIT_USAGE;
			}
			break;
		case OPT_WAIT:
			if (!(allow & ALLOW_WAIT))
				goto unknown;
			c->wait = 1;
			break;
		case OPT_INIT:
			if (!(allow & ALLOW_INIT))
				goto unknown;
			c->init = 1;
			break;
		case OPT_FORWARD_LINEAGE:
			if (!(allow & ALLOW_INIT))
				goto unknown;
			c->forward_lineage = 1;
			break;
		case OPT_ALLOW_BREAKAWAY:
			if (!(allow & ALLOW_BREAKAWAY))
				goto unknown;
			c->allow_breakaway = 1;
			break;
		case OPT_BREAKAWAY:
			if (!(allow & ALLOW_LEAVE))
				goto unknown;
			c->breakaway = 1;
			break;
		case OPT_MAX_PROCS:
			if (!(allow & ALLOW_MAX_PROCS))
				goto unknown;
			if (parse_count(argv[0], "--max-procs", optarg, &c->max_procs))
				return EXIT_USAGE;
			break;
		case OPT_TIMEOUT: {
			uint64_t ns;

			if (!(allow & ALLOW_TIMEOUT))
				goto unknown;
			err = parse_duration(optarg, BG_TIMEOUT_MAX_NS, &ns);
			if (err) {
				err_line("%s: invalid --timeout '%s' (%s)", argv[0], optarg,
					 err == -ERANGE ? "at most 1000h"
							: "a number with a unit: 500ms, 2s, 1m, 1h");
				return EXIT_USAGE;
			}
			c->timeout_ns = (int64_t)ns;
			break;
		}
		case 'h':
			fputs(help, stdout);
			return CLI_HELP;
		case ':':
			n = typed_option(opts, optopt, argv, opt, sizeof(opt), &t);
			err_line("%s: option '%.*s' needs an argument", argv[0], n, t);
			return EXIT_USAGE;
		case '?':
			neg = allow & TAKES_PIDS ? negative_number(argc, argv) : NULL;
			if (neg) {
				err_line("%s: not a pid: '%s'", argv[0], neg);
				return EXIT_USAGE;
			}
			if (takes_no_value(opts, argv)) {
				n = typed_option(opts, optopt, argv, opt, sizeof(opt), &t);
				err_line("%s: option '%.*s' takes no value", argv[0], n, t);
				return EXIT_USAGE;
			}
			o = optopt;
			/* fall through */
		default:
unknown:
			n = typed_option(opts, o, argv, opt, sizeof(opt), &t);
			err_line("%s: unknown option '%.*s' (try `bpfguard %s --help`)", argv[0], n, t,
				 argv[0]);
			return EXIT_USAGE;
		}
	}
	return 0;
}

/* A PID operand of command @cmd. Returns 0 or EXIT_USAGE after one line. */
static int pid_operand(const char *cmd, const char *s, pid_t *pid)
{
	int err = parse_pid(s, pid);

	if (err)
		err_line("%s: %s: '%s'", cmd, err == -ERANGE ? "pid out of range" : "not a pid", s);
	return err ? EXIT_USAGE : 0;
}

/* Exactly one PID operand. Returns 0 or EXIT_USAGE after one line. */
static int one_pid(int argc, char **argv, pid_t *pid)
{
	if (optind >= argc) {
		err_line("%s: missing PID (try `bpfguard %s --help`)", argv[0], argv[0]);
		return EXIT_USAGE;
	}
	if (argc - optind > 1) {
		err_line("%s: one PID expected, got '%s' too", argv[0], argv[optind + 1]);
		return EXIT_USAGE;
	}
	return pid_operand(argv[0], argv[optind], pid);
}

/* Is @arg, as typed, a client option that takes its value from the next
 * argument ("--pin-dir", not "--pin-dir=D")? */
static bool takes_value(const char *arg)
{
	for (const struct option *o = client_opts; o->name; o++)
		if (o->has_arg == required_argument && !strcmp(arg + 2, o->name))
			return true;
	return false;
}

/* Options must come before PID for tag/untag too: reorder argv so that
 * `tag 4242 --pin-dir D` works like `tag --pin-dir D 4242`. Returns 0, or
 * EXIT_USAGE after one line when the last argument is an option that
 * needs a value (`tag 4242 --signal` would read 4242 as the signal). */
static int options_first(int argc, char **argv)
{
	char *tmp[argc];
	int n = 1, i;

	tmp[0] = argv[0];
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (argv[i][0] == '-' && argv[i][1] == '-') {
			tmp[n++] = argv[i];
			if (takes_value(argv[i])) {
				if (i + 1 >= argc) {
					err_line("%s: option '%s' needs an argument", argv[0], argv[i]);
					return EXIT_USAGE;
				}
				tmp[n++] = argv[++i];
			}
		}
	}
	for (int j = 1; j < argc; j++) {
		bool moved = false;

		for (int k = 1; k < n; k++)
			if (tmp[k] == argv[j])
				moved = true;
		if (!moved)
			tmp[n++] = argv[j];
	}
	memcpy(argv, tmp, sizeof(tmp));
	return 0;
}

/* The kernel wants a ring buffer of a power-of-two number of pages. */
static int parse_ring_size(const char *s, uint32_t *out)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned long v, max = 1ul << 30;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (page <= 0)
		page = 4096;
	if (errno || s[0] < '0' || s[0] > '9' || *end || v < (unsigned long)page || v > max ||
	    (v & (v - 1))) {
		err_line("agent: invalid --ring-size '%s' (bytes: a power of two from %ld to %lu)",
			 s, page, max);
		return EXIT_USAGE;
	}
	*out = (uint32_t)v;
	return 0;
}

/* The agent's command line into @ao: 0, CLI_HELP or EXIT_USAGE. */
static int parse_agent(int argc, char **argv, struct agent_opts *ao)
{
	static const struct option opts[] = {
		{ "pin-dir", required_argument, NULL, OPT_PIN_DIR },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "max-procs", required_argument, NULL, OPT_MAX_PROCS },
		{ "max-tags", required_argument, NULL, OPT_MAX_TAGS },
		{ "metrics", required_argument, NULL, OPT_METRICS },
		{ "ring-size", required_argument, NULL, OPT_RING_SIZE },
		{ "user-max-procs", required_argument, NULL, OPT_USER_MAX_PROCS },
		{ "user-max-tags", required_argument, NULL, OPT_USER_MAX_TAGS },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	char *pin = NULL, opt[64];
	const char *t;
	int o, n;

	*ao = (struct agent_opts){ .pin_dir = BG_PIN_DIR_DEFAULT, .mode = BG_MODE_AUTO };

	opterr = 0;
	optind = 0; /* 0, not 1: glibc forgets a half-read "-xy" group of a previous parse */
	while ((o = getopt_long(argc, argv, ":vh", opts, NULL)) != -1) {
		switch (o) {
		case OPT_PIN_DIR:
			pin = optarg;
			if (check_pin_dir(pin)) {
				err_line("agent: invalid --pin-dir '%s': an absolute path is needed",
					 optarg);
				return EXIT_USAGE;
			}
			ao->pin_dir = pin;
			break;
		case OPT_MODE:
			if (!strcmp(optarg, "auto")) {
				ao->mode = BG_MODE_AUTO;
			} else if (!strcmp(optarg, "user")) {
				ao->mode = BG_MODE_USER;
			} else if (!strcmp(optarg, "kernel")) {
				ao->mode = BG_MODE_KERNEL;
			} else {
				err_line("agent: invalid --mode '%s' (auto, kernel or user)", optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_MAX_PROCS:
			if (parse_count("agent", "--max-procs", optarg, &ao->max_procs))
				return EXIT_USAGE;
			break;
		case OPT_MAX_TAGS:
			if (parse_count("agent", "--max-tags", optarg, &ao->max_tags))
				return EXIT_USAGE;
			break;
		case OPT_USER_MAX_PROCS:
			if (parse_count("agent", "--user-max-procs", optarg, &ao->user_max_procs))
				return EXIT_USAGE;
			break;
		case OPT_USER_MAX_TAGS:
			if (parse_count("agent", "--user-max-tags", optarg, &ao->user_max_tags))
				return EXIT_USAGE;
			break;
		case OPT_METRICS: {
			struct sockaddr_storage ss;
			socklen_t sl;

			if (metrics_parse_addr(optarg, &ss, &sl)) {
				err_line("agent: invalid --metrics '%s' (a numeric ADDR:PORT, e.g. "
					 "127.0.0.1:9469 or [::1]:9469)", optarg);
				return EXIT_USAGE;
			}
			ao->metrics_addr = optarg;
			break;
		}
		case OPT_RING_SIZE:
			if (parse_ring_size(optarg, &ao->ring_size))
				return EXIT_USAGE;
			break;
		case 'v':
			ao->verbose = true;
			break;
		case 'h':
			fputs(agent_help, stdout);
			return CLI_HELP;
		case ':':
			n = typed_option(opts, optopt, argv, opt, sizeof(opt), &t);
			err_line("agent: option '%.*s' needs an argument", n, t);
			return EXIT_USAGE;
		default:
			if (takes_no_value(opts, argv)) {
				n = typed_option(opts, optopt, argv, opt, sizeof(opt), &t);
				err_line("agent: option '%.*s' takes no value", n, t);
				return EXIT_USAGE;
			}
			n = typed_option(opts, optopt, argv, opt, sizeof(opt), &t);
			err_line("agent: unknown option '%.*s' (try `bpfguard agent --help`)", n, t);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		err_line("agent: unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	return 0;
}

/* What each client command takes: its help, options, and getopt's mode
 * ("+": stop at the first operand, so that "-55" is not read as options). */
static const struct {
	const char *help;
	int allow;
	const char *optstring;
} client_cmds[] = {
	[CLI_TAG] = { tag_help, TAKES_PIDS | ALLOW_GRACE | ALLOW_BREAKAWAY | ALLOW_MAX_PROCS, "+:h" },
	[CLI_UNTAG] = { untag_help, TAKES_PIDS, "+:h" },
	[CLI_ADOPT] = { adopt_help, TAKES_PIDS, "+:h" },
	[CLI_EXEC] = { exec_help,
		       ALLOW_GRACE | ALLOW_INIT | ALLOW_BREAKAWAY | ALLOW_LEAVE | ALLOW_MAX_PROCS,
		       "+:h" },
	[CLI_LIST] = { list_help, ALLOW_JSON, ":h" },
	[CLI_STATUS] = { status_help, ALLOW_JSON, ":h" },
	[CLI_EVENTS] = { events_help, 0, ":h" },
	[CLI_UNLOAD] = { unload_help, 0, ":h" },
	[CLI_KILL] = { kill_help, TAKES_PIDS | ALLOW_GRACE | ALLOW_WAIT | ALLOW_TIMEOUT, "+:h" },
	[CLI_WAIT] = { wait_help, TAKES_PIDS | ALLOW_TIMEOUT, "+:h" },
	[CLI_RELEASE] = { release_help, TAKES_PIDS, "+:h" },
};

int cli_parse(enum cli_cmd cmd, int argc, char **argv, struct cli_args *a)
{
	int rc;

	memset(a, 0, sizeof(*a));
	if (cmd == CLI_AGENT)
		return parse_agent(argc, argv, &a->agent);
	if ((unsigned)cmd >= sizeof(client_cmds) / sizeof(client_cmds[0]) || !client_cmds[cmd].help)
		return EXIT_USAGE;
	/* tag 4242 --pin-dir D: the options first, for the commands that
	 * stop at their first operand */
	if ((client_cmds[cmd].allow & TAKES_PIDS) && options_first(argc, argv))
		return EXIT_USAGE;
	rc = parse_common(argc, argv, client_cmds[cmd].help, client_cmds[cmd].allow,
			  client_cmds[cmd].optstring, a);
	if (rc)
		return rc;
	switch (cmd) {
	case CLI_KILL:
		if (a->timeout_ns >= 0 && !a->wait) {
			err_line("kill: --timeout needs --wait");
			return EXIT_USAGE;
		}
		/* fall through */
	case CLI_TAG:
	case CLI_UNTAG:
	case CLI_WAIT:
	case CLI_RELEASE:
		return one_pid(argc, argv, &a->pid[0]);
	case CLI_ADOPT:
		if (argc - optind != 2) {
			err_line("adopt: two PIDs expected: ROOT PID (try `bpfguard adopt --help`)");
			return EXIT_USAGE;
		}
		for (int i = 0; i < 2; i++)
			if (pid_operand("adopt", argv[optind + i], &a->pid[i]))
				return EXIT_USAGE;
		return 0;
	case CLI_EXEC:
		if (a->forward_lineage && !a->init) {
			err_line("exec: --forward-lineage needs --init");
			return EXIT_USAGE;
		}
		if (a->breakaway &&
		    (a->init || a->sig || a->grace_ns || a->allow_breakaway || a->max_procs)) {
			err_line("exec: --breakaway runs CMD untagged: it takes no --init, "
				 "--signal, --grace, --allow-breakaway or --max-procs");
			return EXIT_USAGE;
		}
		if (optind >= argc) {
			err_line("exec: missing command (bpfguard exec -- CMD [ARGS...])");
			return EXIT_USAGE;
		}
		a->cmd = optind;
		return 0;
	default:
		if (optind < argc) {
			err_line("%s: unexpected argument '%s'", argv[0], argv[optind]);
			return EXIT_USAGE;
		}
		return 0;
	}
}
