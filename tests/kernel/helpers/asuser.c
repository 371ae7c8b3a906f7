// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * asuser: run a command as another uid, for the multi-user kernel tests.
 *
 *   asuser UID CMD [ARGS...]         drop to UID (gid UID, no groups), exec CMD
 *   asuser UID --obj-get PATH        as UID, try to open a pinned BPF object
 *                                    for writing: prints "ok" (exit 0) or the
 *                                    errno name (exit 1)
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
#include <unistd.h>
#include <linux/bpf.h>

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

int main(int argc, char **argv)
{
	char *end;
	long uid;

	if (argc < 3) {
		fprintf(stderr, "usage: asuser UID CMD [ARGS...] | asuser UID --obj-get PATH\n");
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
	execvp(argv[2], argv + 2);
	fprintf(stderr, "asuser: cannot exec %s: %s\n", argv[2], strerror(errno));
	return 127;
}
