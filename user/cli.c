// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The subcommands: each takes a command line cli_parse() has checked
 * (cli_parse.c), then talks to the agent of the pin dir over its control
 * socket through libbpfguard (user/control.c), or runs the agent.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "agent.h"
#include "bpfguard.h"
#include "cli.h"
#include "cli_priv.h"
#include "control.h"
#include "init.h"
#include "libbpfguard.h"
#include "libbpfguard_priv.h"
#include "loader.h"
#include "metrics.h"
#include "parse.h"
#include "render.h"

/* The library's one line about a call: on stderr after a failure, else on
 * stdout unless @quiet. Returns the exit code. */
static int report(int err, const char *msg, bool quiet)
{
	if (err) {
		err_line("%s", msg);
		return EXIT_RUNTIME;
	}
	if (!quiet && msg[0])
		printf("%s\n", msg);
	return 0;
}

/* A request that names no process; *payload (may be NULL) receives the
 * reply's payload. Returns the exit code. */
static int call(const char *pin_dir, enum bg_op op, bool quiet, void **payload, size_t *len)
{
	char msg[BG_MSG_MAX];
	BPFGUARD_OPTS(o, .pin_dir = pin_dir, .msg = msg, .msg_len = sizeof(msg));

	return report(bpfguard_request(op, &o, payload, len), msg, quiet);
}

/* tag, untag: one PID */
static int pid_request(enum cli_cmd cmd, int argc, char **argv)
{
	char msg[BG_MSG_MAX];
	BPFGUARD_OPTS(o, .msg = msg, .msg_len = sizeof(msg));
	struct cli_args a;
	int rc;

	rc = cli_parse(cmd, argc, argv, &a);
	if (rc)
		return rc == CLI_HELP ? 0 : rc;
	o.pin_dir = a.pin_dir;
	o.signal = a.sig;
	o.grace_ns = a.grace_ns;
	o.flags = a.allow_breakaway ? BPFGUARD_ALLOW_BREAKAWAY : 0;
	o.max_procs = a.max_procs;
	rc = cmd == CLI_TAG	? bpfguard_tag(a.pid[0], &o)
	     : cmd == CLI_UNTAG ? bpfguard_untag(a.pid[0], &o)
				: bpfguard_release(a.pid[0], &o);
	return report(rc, msg, false);
}

int cmd_release(int argc, char **argv)
{
	return pid_request(CLI_RELEASE, argc, argv);
}

int cmd_tag(int argc, char **argv)
{
	return pid_request(CLI_TAG, argc, argv);
}

int cmd_untag(int argc, char **argv)
{
	return pid_request(CLI_UNTAG, argc, argv);
}

int cmd_adopt(int argc, char **argv)
{
	char msg[BG_MSG_MAX];
	BPFGUARD_OPTS(o, .msg = msg, .msg_len = sizeof(msg));
	struct cli_args a;
	int rc;

	rc = cli_parse(CLI_ADOPT, argc, argv, &a);
	if (rc)
		return rc == CLI_HELP ? 0 : rc;
	o.pin_dir = a.pin_dir;
	return report(bpfguard_adopt(a.pid[0], a.pid[1], &o), msg, false);
}

int cmd_exec(int argc, char **argv)
{
	char msg[BG_MSG_MAX];
	BPFGUARD_OPTS(o, .msg = msg, .msg_len = sizeof(msg));
	struct cli_args a;
	int rc;

	rc = cli_parse(CLI_EXEC, argc, argv, &a);
	if (rc)
		return rc == CLI_HELP ? 0 : rc;
	o.pin_dir = a.pin_dir;
	o.signal = a.sig;
	o.grace_ns = a.grace_ns;
	o.flags = a.allow_breakaway ? BPFGUARD_ALLOW_BREAKAWAY : 0;
	o.max_procs = a.max_procs;
	if (a.init)
		return init_run(&o, msg, argv + a.cmd, a.grace_ns, a.forward_lineage);
	/* not bpfguard_exec(): CMD replaces this process, keeping its pid;
	 * with --breakaway it leaves its lineage instead of starting one (in
	 * none: outside already) */
	if (a.breakaway) {
		rc = bpfguard_release(getpid(), &o);
		rc = report(rc == -ENOENT ? 0 : rc, msg, true);
	} else {
		rc = report(bpfguard_tag(getpid(), &o), msg, true);
	}
	if (rc)
		return rc;
	execvp(argv[a.cmd], argv + a.cmd);
	err_line("exec: %s: %s", argv[a.cmd], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}

int cmd_list(int argc, char **argv)
{
	struct list_view v;
	struct cli_args c;
	void *pl = NULL;
	size_t len = 0;
	int rc;

	rc = cli_parse(CLI_LIST, argc, argv, &c);
	if (rc)
		return rc == CLI_HELP ? 0 : rc;
	rc = call(c.pin_dir, BG_OP_LIST, true, &pl, &len);
	if (rc)
		return rc;
	if (list_view_parse(pl, len, &v)) {
		err_line("list: malformed answer from the agent");
		free(pl);
		return EXIT_RUNTIME;
	}
	rc = c.json ? render_json(stdout, &v) : render_tree(stdout, &v);
	free(pl);
	return rc ? EXIT_RUNTIME : 0;
}

int cmd_status(int argc, char **argv)
{
	struct bg_status st;
	struct cli_args c;
	void *pl = NULL;
	size_t len = 0;
	int rc;

	rc = cli_parse(CLI_STATUS, argc, argv, &c);
	if (rc)
		return rc == CLI_HELP ? 0 : rc;
	rc = call(c.pin_dir, BG_OP_STATUS, true, &pl, &len);
	if (rc)
		return rc;
	if (len != sizeof(st)) {
		err_line("status: malformed answer from the agent");
		free(pl);
		return EXIT_RUNTIME;
	}
	memcpy(&st, pl, sizeof(st));
	free(pl);
	st.kernel[sizeof(st.kernel) - 1] = '\0';
	if (c.json)
		return render_status_json(stdout, &st, c.pin_dir) ? EXIT_RUNTIME : 0;
	printf("agent:   enforcing (pid %u), mode %s, pin dir %s\n", st.agent_pid,
	       st.mode == BG_MODE_KERNEL ? "kernel" : "user", c.pin_dir);
	if (st.mode == BG_MODE_KERNEL)
		printf("kill:    %s\n", bg_exit_hook_kills(st.mode, st.features) ?
		       "the exit program signals a dying root's children, and each member's "
		       "as it dies; the agent sweeps behind" :
		       "the agent's task iterator signals in the kernel (the exit program "
		       "cannot before Linux 6.16)");
	printf("kernel:  %s, features:%s%s%s%s%s%s\n", st.kernel,
	       st.features & BG_FEAT_BTF ? " btf" : "",
	       st.features & BG_FEAT_RINGBUF ? " ringbuf" : "",
	       st.features & BG_FEAT_TASK_ITER ? " task_iter" : "",
	       st.features & BG_FEAT_TASK_FROM_PID ? " task_from_pid" : "",
	       st.features & BG_FEAT_SEND_SIGNAL_TASK ? " send_signal_task" : "",
	       st.features & BG_FEAT_GROUP_DEAD_ARG ? " exit_group_dead" : "");
	printf("tags:    %u active, %u tracked descendants%s\n", st.tags, st.tracked,
	       st.scope & BG_STATUS_OWN ? " (your own tags: the rest is for privileged callers)" : "");
	printf("limits:  %u processes, %u tags\n", st.max_procs, st.max_tags);
	printf("quotas:  each unprivileged uid %u processes, %u tags; all of them %u processes, "
	       "%u tags\n", st.user_max_procs, st.user_max_tags, st.unpriv_max_procs,
	       st.unpriv_max_tags);
	if (st.scope & BG_STATUS_OWN) {
		printf("yours:   %u processes, %u tags charged\n", st.used_procs, st.used_tags);
		return 0;
	}
	printf("charged: %u processes, %u tags to unprivileged uids\n", st.used_procs,
	       st.used_tags);
	printf("counters:");
	for (int i = 0; i < BG_STAT_MAX; i++)
		printf(" %s=%llu", bg_stat_desc[i].name, (unsigned long long)st.counters[i]);
	printf("\nagent counters:");
	for (int i = 0; i < BG_ASTAT_MAX; i++)
		printf(" %s=%llu", bg_astat_desc[i].name, (unsigned long long)st.agent_counters[i]);
	printf("\nkill latency: %llu lineage(s) measured", (unsigned long long)st.lat_count);
	if (st.lat_count)
		printf(", mean %.3f ms", (double)st.lat_sum_us / (double)st.lat_count / 1000.0);
	printf("; %u event subscriber(s)", st.subscribers);
	if (st.metrics_port)
		printf("; metrics on port %u", st.metrics_port);
	printf("\n");
	if (st.counters[BG_STAT_PROCS_FULL] || st.counters[BG_STAT_DEATHS_FULL])
		printf("WARNING: a map was full: some processes could not be tracked "
		       "(raise --max-procs / --max-tags)\n");
	return 0;
}

/* Copy whole lines from the agent to stdout until it closes the stream.
 * Returns the exit code: 0 if the last line was agent_stop. */
static int follow_events(int fd)
{
	static const char stop[] = "\"event\":\"agent_stop\"";
	static char buf[1 << 16];
	bool stopped = false;
	size_t len = 0;

	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);
		char *end;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		/* only whole lines: a reader of the output never sees half a line */
		end = memrchr(buf, '\n', len);
		if (!end) {
			if (len == sizeof(buf)) {
				err_line("events: a line longer than %zu bytes from the agent",
					 sizeof(buf));
				return EXIT_RUNTIME;
			}
			continue;
		}
		end++;
		if (fwrite(buf, 1, (size_t)(end - buf), stdout) != (size_t)(end - buf) ||
		    fflush(stdout))
			return EXIT_RUNTIME;
		stopped = memmem(buf, (size_t)(end - buf), stop, strlen(stop)) != NULL;
		len -= (size_t)(end - buf);
		memmove(buf, end, len);
	}
	if (stopped)
		return 0;
	err_line("events: the agent closed the stream (it stopped, or dropped this reader)");
	return EXIT_RUNTIME;
}

/* For the one command that keeps its connection (events): the library's
 * line about a failed connect. */
static int connect_agent(const char *pin_dir)
{
	char msg[BG_MSG_MAX] = "";
	struct lbg_call c = { .msg = msg, .msg_len = sizeof(msg) };
	int fd = ctl_connect(pin_dir);

	if (fd >= 0)
		return fd;
	snprintf(c.pin_dir, sizeof(c.pin_dir), "%s", pin_dir);
	lbg_connect_error(&c, fd);
	err_line("%s", msg);
	return -1;
}

int cmd_events(int argc, char **argv)
{
	struct bg_req req = { .magic = BG_CTL_MAGIC, .version = BG_CTL_VERSION,
			      .op = BG_OP_EVENTS };
	struct timeval none = { 0 };
	struct bg_rep rep;
	struct cli_args c;
	void *pl = NULL;
	int rc, fd, err;

	rc = cli_parse(CLI_EVENTS, argc, argv, &c);
	if (rc)
		return rc == CLI_HELP ? 0 : rc;
	fd = connect_agent(c.pin_dir);
	if (fd < 0)
		return EXIT_RUNTIME;
	err = ctl_call(fd, &req, -1, &rep, &pl);
	free(pl);
	if (err || rep.status) {
		err_line("events: %s", err ? strerror(-err) : rep.msg);
		close(fd);
		return EXIT_RUNTIME;
	}
	/* the stream may stay quiet for hours: no receive timeout from here */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	rc = follow_events(fd);
	close(fd);
	return rc;
}

int cmd_unload(int argc, char **argv)
{
	struct cli_args c;
	int rc, fd, err;

	rc = cli_parse(CLI_UNLOAD, argc, argv, &c);
	if (rc)
		return rc == CLI_HELP ? 0 : rc;
	fd = ctl_connect(c.pin_dir);
	if (fd >= 0) {
		close(fd);
		return call(c.pin_dir, BG_OP_UNLOAD, false, NULL, NULL);
	}
	err = loader_unpin_all(c.pin_dir);
	if (err == -ENOENT) {
		printf("nothing pinned at %s\n", c.pin_dir);
		return 0;
	}
	if (err) {
		err_line("unload: cannot remove %s: %s", c.pin_dir, strerror(-err));
		return EXIT_RUNTIME;
	}
	printf("unloaded %s\n", c.pin_dir);
	return 0;
}

int cmd_agent(int argc, char **argv)
{
	struct cli_args a;
	int rc = cli_parse(CLI_AGENT, argc, argv, &a);

	if (rc)
		return rc == CLI_HELP ? 0 : rc;
	return agent_run(&a.agent);
}
