/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The subcommands. Each takes argv starting at its own name and returns the
 * process exit code. */
#ifndef BG_CLI_H
#define BG_CLI_H

#include <stdint.h>
#include <sys/types.h>

#include "agent.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

int cmd_agent(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_untag(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_unload(int argc, char **argv);

enum cli_cmd { CLI_AGENT, CLI_TAG, CLI_UNTAG, CLI_EXEC, CLI_LIST, CLI_STATUS, CLI_UNLOAD };

/* A command line, parsed and validated, before anything is done with it. */
struct cli_args {
	char *pin_dir;		  /* client commands; the agent's is agent.pin_dir */
	int json;		  /* list */
	int sig;		  /* tag, exec: 0 is the default (SIGKILL) */
	uint64_t grace_ns;	  /* tag, exec: 0 is none */
	pid_t pid;		  /* tag, untag */
	int cmd;		  /* exec: argv index of CMD */
	struct agent_opts agent;  /* agent */
};

/* cli_parse() printed the help on stdout: the command exits 0. */
#define CLI_HELP (-1)

/*
 * Parse and validate the command line of @cmd (argv[0] is the command's
 * name) into @a, without acting on it: no agent is reached, nothing exits.
 * tag and untag reorder argv (options first); getopt may permute it.
 * Returns 0, CLI_HELP, or EXIT_USAGE after one line on stderr.
 */
int cli_parse(enum cli_cmd cmd, int argc, char **argv, struct cli_args *a);

/* Validate a --pin-dir value: absolute, no "..", short enough for the
 * socket name. Trailing slashes are dropped in place. Returns 0 or -EINVAL. */
int check_pin_dir(char *dir);

#endif /* BG_CLI_H */
