// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fusehang: a process SIGKILL cannot end until the test says so, for the
 * stuck_member test. A FUSE request the server has read but not answered
 * waits for the answer in uninterruptible sleep once a fatal signal is
 * pending (fs/fuse/dev.c, request_wait_answer): any user can make one of
 * these in a user namespace, so the agent must not wait for such a process.
 *
 *   fusehang serve [--life S] DIR REPORT
 *       In a private mount namespace (nothing is mounted where other
 *       processes look), mount a FUSE file system on DIR and serve it:
 *       write REPORT ("PID\n") once mounted. A LOOKUP of a name starting
 *       with 'x' (DIR/x, DIR/x2...) is held, never answered, and REPORT.got
 *       says how many are held ("N\n"); SIGUSR1 answers them all (ENOENT).
 *       A name starting with 'f' is a file that opens; its FLUSH (on its
 *       last close: at exit, after the exit hook) is held the same way and
 *       SIGUSR1 answers it (0). Every other request gets ENOSYS. Exits on SIGTERM, or after
 *       --life seconds (default 300); the namespace and its mount go with it
 *       (closing /dev/fuse aborts the connection: nothing stays stuck).
 *
 *   fusehang tree [--go FILE] [--life S] OUT PATH NORMAL
 *       The lineage: the root (this process) waits for --go FILE, then forks
 *       NORMAL sleepers and one child that stat()s PATH (the served DIR/x,
 *       through /proc/SERVER/root) and so blocks; PATH "-": no such child.
 *       A PATH whose name starts with 'f' is opened instead: the child
 *       holds it open, and blocks only in its exit, closing it. OUT gets
 *       "PID ROLE" lines: root, normal..., stuck. Every process exits after
 *       --life seconds.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"

static void usage(void)
{
	fprintf(stderr, "usage: fusehang serve [--life S] DIR REPORT\n"
			"       fusehang tree [--go FILE] [--life S] OUT PATH NORMAL\n");
	exit(2);
}

static int reply(int fd, uint64_t unique, int err, const void *body, size_t len)
{
	struct fuse_out_header h = { .len = (uint32_t)(sizeof(h) + len), .error = -err,
				     .unique = unique };
	char buf[sizeof(h) + 256];

	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), body, len);
	return write(fd, buf, h.len) == (ssize_t)h.len ? 0 : -1;
}

/* Opcodes the kernel expects no answer to. */
static bool no_reply(uint32_t op)
{
	return op == FUSE_FORGET || op == FUSE_BATCH_FORGET || op == FUSE_INTERRUPT;
}

static int serve(const char *dir, const char *report, long life_s)
{
	static char buf[FUSE_MIN_READ_BUFFER + 65536];
	char opts[128], path[4096], line[32];
	uint64_t held[64];
	bool flush[64];
	size_t nheld = 0;
	long end = now_ms() + life_s * 1000;
	sigset_t set;
	int fd, sfd;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0 || unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
		perror("fusehang: private mount namespace");
		return 1;
	}
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		perror("fusehang: /dev/fuse");
		return 1;
	}
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0", fd);
	if (mount("fusehang", dir, "fuse", MS_NOSUID | MS_NODEV, opts)) {
		perror("fusehang: mount");
		return 1;
	}
	snprintf(line, sizeof(line), "%d\n", getpid());
	if (write_text(report, line)) {
		perror("fusehang: report");
		return 1;
	}
	while (now_ms() < end) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
		struct fuse_in_header *in = (void *)buf;
		ssize_t n;

		if (poll(p, 2, 1000) <= 0)
			continue;
		if (p[1].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGTERM)
				break;
			for (size_t i = 0; i < nheld; i++) /* SIGUSR1: let them go */
				reply(fd, held[i], flush[i] ? 0 : ENOENT, NULL, 0);
			nheld = 0;
			continue;
		}
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == ENOENT || errno == EAGAIN))
			continue;
		if (n < (ssize_t)sizeof(*in))
			break; /* unmounted (ENODEV) */
		if (in->opcode == FUSE_INIT) {
			const struct fuse_init_in *ii = (const void *)(buf + sizeof(*in));
			/* parallel lookups: else a second one waits for the
			 * first on a mutex, held too, and uncounted */
			struct fuse_init_out o = { .major = FUSE_KERNEL_VERSION,
						   .minor = FUSE_KERNEL_MINOR_VERSION,
						   .max_write = 65536, .max_readahead = 65536,
						   .flags = ii->flags & FUSE_PARALLEL_DIROPS };

			reply(fd, in->unique, 0, &o, sizeof(o));
		} else if ((in->opcode == FUSE_LOOKUP && buf[sizeof(*in)] == 'x') ||
			   in->opcode == FUSE_FLUSH) {
			if (nheld == 64) {
				reply(fd, in->unique, EBUSY, NULL, 0);
				continue;
			}
			flush[nheld] = in->opcode == FUSE_FLUSH;
			held[nheld++] = in->unique;
			snprintf(path, sizeof(path), "%s.got", report);
			snprintf(line, sizeof(line), "%zu\n", nheld);
			write_text(path, line);
		} else if (in->opcode == FUSE_LOOKUP && buf[sizeof(*in)] == 'f') {
			struct fuse_entry_out e = { .nodeid = 2, .generation = 1,
						    .entry_valid = 3600, .attr_valid = 3600,
						    .attr = { .ino = 2, .mode = S_IFREG | 0644,
							      .nlink = 1 } };

			reply(fd, in->unique, 0, &e, sizeof(e));
		} else if (in->opcode == FUSE_GETATTR) {
			struct fuse_attr_out o = { .attr_valid = 3600,
						   .attr = { .ino = in->nodeid, .nlink = 1,
							     .mode = in->nodeid == 2 ? S_IFREG | 0644
										 : S_IFDIR | 0755 } };

			reply(fd, in->unique, 0, &o, sizeof(o));
		} else if (in->opcode == FUSE_OPEN) {
			struct fuse_open_out o = { .fh = 1 };

			reply(fd, in->unique, 0, &o, sizeof(o));
		} else if (in->opcode == FUSE_RELEASE) {
			reply(fd, in->unique, 0, NULL, 0);
		} else if (!no_reply(in->opcode)) {
			reply(fd, in->unique, in->opcode == FUSE_LOOKUP ? ENOENT : ENOSYS, NULL, 0);
		}
	}
	return 0;
}

static int tree(const char *go, long life_s, const char *out, const char *path, long normal)
{
	long end = now_ms() + life_s * 1000;
	char text[4096];
	size_t len;
	pid_t pid;

	if (go && wait_file(go, life_s * 1000))
		return 1;
	len = (size_t)snprintf(text, sizeof(text), "%d root\n", getpid());
	for (long i = 0; i < normal; i++) {
		pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0)
			exit_at(end);
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%d normal\n", pid);
	}
	pid = strcmp(path, "-") ? fork() : 0;
	if (pid < 0)
		return 1;
	if (pid == 0 && strcmp(path, "-")) {
		const char *name = strrchr(path, '/');
		struct stat st;

		if (name && name[1] == 'f') {
			/* open, and closed only by the exit: its FLUSH blocks there */
			if (open(path, O_RDONLY) < 0) {
				perror("fusehang: open");
				_exit(1);
			}
		} else {
			stat(path, &st); /* blocks until the server answers */
		}
		exit_at(end);
	}
	if (pid)
		snprintf(text + len, sizeof(text) - len, "%d stuck\n", pid);
	if (write_text(out, text))
		return 1;
	exit_at(end);
}

int main(int argc, char **argv)
{
	const char *go = NULL;
	long life_s = 300, normal;
	char *end;
	int i = 2;

	if (argc < 2 || helper_opts(argc, argv, &i, &go, &life_s))
		usage();
	if (strcmp(argv[1], "serve") == 0 && argc - i == 2 && !go)
		return serve(argv[i], argv[i + 1], life_s);
	if (strcmp(argv[1], "tree") == 0 && argc - i == 3) {
		normal = strtol(argv[i + 2], &end, 10);
		if (*end || normal < 0 || normal > 64)
			usage();
		return tree(go, life_s, argv[i], argv[i + 1], normal);
	}
	usage();
}
