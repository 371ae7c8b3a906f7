// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `bpfguard kill` and `bpfguard wait`: a lineage killed now, waited for. */
#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>

#include "cli.h"
#include "cli_priv.h"
#include "libbpfguard.h"

/* A wait(2) status as a shell reports it ($?): the exit code, or 128 + the
 * signal; -1 (unknown) as 0. */
static int shell_status(int status)
{
	if (status < 0)
		return 0;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int cmd_kill(int argc, char **argv)
{
	char msg[BG_MSG_MAX];
	BPFGUARD_OPTS(o, .msg = msg, .msg_len = sizeof(msg));
	struct cli_args a;
	int rc, status;

	rc = cli_parse(CLI_KILL, argc, argv, &a);
	if (rc)
		return rc == CLI_HELP ? 0 : rc;
	o.pin_dir = a.pin_dir;
	o.signal = a.sig;
	o.grace_ns = a.grace_ns;
	rc = a.wait ? bpfguard_kill_wait(a.pid[0], a.timeout_ns, &status, &o)
		    : bpfguard_kill(a.pid[0], &o);
	if (rc == -ETIMEDOUT && a.wait) {
		err_line("%s", msg);
		return EXIT_WAIT_TIMEOUT;
	}
	if (rc) {
		err_line("%s", msg);
		return EXIT_RUNTIME;
	}
	if (msg[0])
		printf("%s\n", msg);
	return 0;
}

int cmd_wait(int argc, char **argv)
{
	char msg[BG_MSG_MAX];
	BPFGUARD_OPTS(o, .msg = msg, .msg_len = sizeof(msg));
	struct cli_args a;
	int rc, status;

	rc = cli_parse(CLI_WAIT, argc, argv, &a);
	if (rc)
		return rc == CLI_HELP ? 0 : EXIT_WAIT_FAILED; /* timeout(1)'s 125 */
	o.pin_dir = a.pin_dir;
	rc = bpfguard_wait(a.pid[0], a.timeout_ns, &status, &o);
	if (rc) {
		err_line("%s", msg);
		return rc == -ETIMEDOUT ? EXIT_WAIT_TIMEOUT : EXIT_WAIT_FAILED;
	}
	return shell_status(status);
}
