// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * asuser: run a command as another uid, for the multi-user kernel tests.
 *
 *   asuser UID CMD [ARGS...]         drop to UID (gid UID, no groups), exec CMD
 *   asuser UID --obj-get PATH        as UID, try to open a pinned BPF object
 *                                    for writing: prints "ok" (exit 0) or the
 *                                    errno name (exit 1)
 *   asuser UID --userns CMD [ARGS]   as UID, then root of a new user namespace
 *                                    (uid and gid 0 mapped to UID, every
 *                                    capability there): `unshare -Ur`
 *   asuser 0 --no-caps CMD [ARGS]    stay uid 0 with no capability at all, also
 *                                    after exec (empty bounding set): a root
 *                                    container run with --cap-drop ALL
 *   asuser UID --pidns CMD [ARGS]    as --userns, then CMD as the init of a
 *                                    new PID namespace (asuser waits for it
 *                                    and exits with its status): a rootless
 *                                    container of the same uid
 *
 * A numeric uid needs no /etc/passwd entry, so this also works in the qemu
 * guests. Installed setuid-root, `asuser 0 CMD` becomes root entirely (real,
 * effective and saved uid), as su and sudo do: the descendant a user may no
 * longer signal.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* setresuid */
#endif
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <linux/bpf.h>
#include <linux/capability.h>

static int obj_get(const char *path)
{
	union bpf_attr attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.pathname = (unsigned long)path;
	attr.file_flags = 0; /* read-write */
	fd = (int)syscall(SYS_bpf, BPF_OBJ_GET, &attr, sizeof(attr));
	if (fd < 0) {
		int e = errno;

		printf("%s\n", e == EACCES ? "EACCES" : e == EPERM ? "EPERM" : strerror(e));
		return 1;
	}
	printf("ok\n");
	close(fd);
	return 0;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n = -1;

	if (fd >= 0) {
		n = write(fd, text, strlen(text));
		close(fd);
	}
	if (n != (ssize_t)strlen(text)) {
		fprintf(stderr, "asuser: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Root of a new user namespace, as `unshare -Ur` makes it. */
static int enter_userns(long uid)
{
	char map[64];

	/* a uid change made us undumpable: /proc/self/ would be root's */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	if (unshare(CLONE_NEWUSER)) {
		perror("asuser: unshare(CLONE_NEWUSER)");
		return -1;
	}
	snprintf(map, sizeof(map), "0 %ld 1\n", uid);
	if (write_file("/proc/self/setgroups", "deny") ||
	    write_file("/proc/self/uid_map", map) || write_file("/proc/self/gid_map", map))
		return -1;
	return 0;
}

/* No capability now or after exec: the bounding set emptied first (that
 * needs CAP_SETPCAP), then every set cleared. */
static int drop_caps(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	for (int c = 0; c <= 63; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EINVAL) {
			perror("asuser: PR_CAPBSET_DROP");
			return -1;
		}
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &h, d)) {
		perror("asuser: capset");
		return -1;
	}
	return 0;
}

/* CMD as pid 1 of a new PID namespace; returns its exit status. */
static int run_in_pidns(char **cmd)
{
	int st;
	pid_t p;

	if (unshare(CLONE_NEWPID)) {
		perror("asuser: unshare(CLONE_NEWPID)");
		return 2;
	}
	p = fork();
	if (p < 0) {
		perror("asuser: fork");
		return 2;
	}
	if (p == 0) {
		execvp(cmd[0], cmd);
		fprintf(stderr, "asuser: cannot exec %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(p, &st, 0) < 0)
		if (errno != EINTR)
			return 2;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv)
{
	char *end;
	long uid;

	if (argc < 3) {
		fprintf(stderr, "usage: asuser UID [--userns | --pidns | --no-caps] CMD [ARGS...] | asuser UID --obj-get PATH\n");
		return 2;
	}
	errno = 0;
	uid = strtol(argv[1], &end, 10);
	if (errno || *end || end == argv[1] || uid < 0 || uid > 0x7fffffff) {
		fprintf(stderr, "asuser: bad uid '%s'\n", argv[1]);
		return 2;
	}
	if (setgroups(0, NULL) && uid != 0) {
		perror("asuser: setgroups");
		return 2;
	}
	if (setresgid((gid_t)uid, (gid_t)uid, (gid_t)uid) ||
	    setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid)) {
		perror("asuser: setresuid");
		return 2;
	}
	if (!strcmp(argv[2], "--obj-get"))
		return argc == 4 ? obj_get(argv[3]) : 2;
	if (!strcmp(argv[2], "--pidns")) {
		if (argc < 4 || enter_userns(uid))
			return 2;
		return run_in_pidns(argv + 3);
	}
	if (!strcmp(argv[2], "--userns") || !strcmp(argv[2], "--no-caps")) {
		if (argc < 4)
			return 2;
		if (argv[2][2] == 'u' ? enter_userns(uid) : drop_caps())
			return 2;
		argv++;
	}
	execvp(argv[2], argv + 2);
	fprintf(stderr, "asuser: cannot exec %s: %s\n", argv[2], strerror(errno));
	return 127;
}
