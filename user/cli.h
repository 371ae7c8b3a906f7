/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The subcommands. Each takes argv starting at its own name and returns the
 * process exit code. */
#ifndef BG_CLI_H
#define BG_CLI_H

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

int cmd_agent(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_untag(int argc, char **argv);
int cmd_adopt(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_unload(int argc, char **argv);

#endif /* BG_CLI_H */
