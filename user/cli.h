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

enum cli_cmd {
	CLI_AGENT,
	CLI_TAG,
	CLI_UNTAG,
	CLI_ADOPT,
	CLI_EXEC,
	CLI_LIST,
	CLI_STATUS,
	CLI_EVENTS,
	CLI_UNLOAD,
	CLI_KILL,
	CLI_WAIT,
	CLI_RELEASE,
};

/* What a command line asks for, once cli_parse() has checked it. */
struct cli_args {
	char *pin_dir;		 /* --pin-dir, or the default */
	int json;		 /* list, status: --json */
	int sig;		 /* tag, exec: --signal; 0: default (SIGKILL) */
	uint64_t grace_ns;	 /* tag, exec: --grace; 0: none */
	pid_t pid[2];		 /* tag, untag: PID; adopt: ROOT, PID */
	int cmd;		 /* exec: the index in argv of CMD */
	int wait;		 /* kill: --wait */
	int init;		 /* exec: --init */
	int forward_lineage;	 /* exec --init: --forward-lineage */
	int allow_breakaway;	 /* tag, exec: --allow-breakaway */
	int breakaway;		 /* exec: --breakaway */
	uint32_t max_procs;	 /* tag, exec: --max-procs; 0: none */
	int64_t timeout_ns;	 /* kill --wait, wait: --timeout; -1: none */
	struct agent_opts agent; /* agent: all of its options */
};

/* cli_parse() printed the command's --help on stdout */
#define CLI_HELP (-1)

/*
 * Parse and check a command line (argv[0]: the command's name) without
 * acting on it: 0, CLI_HELP, or EXIT_USAGE after one line on stderr. argv
 * may be reordered (options first); nothing else is written.
 */
int cli_parse(enum cli_cmd cmd, int argc, char **argv, struct cli_args *a);

int cmd_agent(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_untag(int argc, char **argv);
int cmd_adopt(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_unload(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_wait(int argc, char **argv);
int cmd_release(int argc, char **argv);

/* wait's exit status when it timed out, and when it failed (timeout(1)'s) */
#define EXIT_WAIT_TIMEOUT 124
#define EXIT_WAIT_FAILED 125

#endif /* BG_CLI_H */
