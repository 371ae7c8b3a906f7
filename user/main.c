// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bpfguard: kill a process's whole lineage when it dies.
 *
 * One binary: `bpfguard agent` is the root daemon that owns the BPF programs;
 * every other subcommand is a client of its control socket (user/cli.c).
 * Exit codes: 0 success, 1 runtime failure, 2 usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} cmds[] = {
	{ "agent", cmd_agent, "run the enforcing agent (root, foreground)" },
	{ "tag", cmd_tag, "kill PID's descendants when PID dies" },
	{ "untag", cmd_untag, "stop guarding PID" },
	{ "adopt", cmd_adopt, "count PID as a descendant of tagged ROOT" },
	{ "exec", cmd_exec, "run CMD tagged: its tree cannot outlive it" },
	{ "list", cmd_list, "show tagged processes and their descendants" },
	{ "status", cmd_status, "is an agent enforcing? (exit 0 if so)" },
	{ "events", cmd_events, "follow what the agent does, as JSON lines" },
	{ "kill", cmd_kill, "kill PID's tagged lineage now, root included" },
	{ "wait", cmd_wait, "wait until PID's tagged lineage is gone; its root's status" },
	{ "release", cmd_release, "take PID and its descendants out of their lineage" },
	{ "unload", cmd_unload, "detach everything and remove the pins" },
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: bpfguard COMMAND [OPTIONS]\n\n"
		     "Kill every descendant of a tagged process the moment it dies.\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(out, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(out, "\n`bpfguard COMMAND --help` describes each command.\n"
		     "Exit codes: 0 success, 1 runtime failure, 2 usage error.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "bpfguard: missing command (try `bpfguard --help`)\n");
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "bpfguard: unknown command '%s' (try `bpfguard --help`)\n", argv[1]);
	return 2;
}
