// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "authz.h"
#include "caller.h"
#include "loader.h"
#include "log.h"
#include "parse.h"
#include "bpfguard.h" /* the skeleton names its types */
#include "bpfguard.skel.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif

void peer_probe_open(struct peer_probe *pp, struct bpfguard *skel)
{
	pp->skel = skel;
}

void peer_probe_close(struct peer_probe *pp)
{
	pp->skel = NULL;
}

int peer_pidfd(int sock, const struct ucred *cred, bool *exact)
{
	socklen_t len = sizeof(int);
	int fd = -1;

	*exact = true;
	if (!getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) && fd >= 0)
		return fd;
	*exact = false;
	if (cred->pid <= 0)
		return -ESRCH;
	fd = (int)syscall(SYS_pidfd_open, cred->pid, 0);
	return fd < 0 ? -errno : fd;
}

/* Run @prog's iterator once, with the link options @o: *heap (malloc'd)
 * gets what it wrote. */
static int read_iter(struct bpf_program *prog, const struct bpf_iter_attach_opts *o,
		     char **heap, size_t *len)
{
	struct bpf_link *link = bpf_program__attach_iter(prog, o);
	int err;

	if (!link)
		return -errno;
	err = loader_read_iter(link, heap, len);
	bpf_link__destroy(link);
	return err;
}


int peer_read(struct peer_probe *pp, int pidfd, struct bg_peer *out)
{
	union bpf_iter_link_info li = { .task.pid_fd = (__u32)pidfd };
	DECLARE_LIBBPF_OPTS(bpf_iter_attach_opts, o, .link_info = &li,
			    .link_info_len = sizeof(li));
	pid_t pid = -1;
	char *buf = NULL;
	size_t len = 0;
	int err;

	if (read_pidfd_pid(pidfd, &pid) || pid <= 0)
		return -ESRCH;
	err = read_iter(pp->skel->progs.bg_peer, &o, &buf, &len);
	if (err)
		return err == -ENOENT ? -ESRCH : err;
	/* A kernel that ignored the filter lists every process: take the one
	 * the pidfd names, and nothing else. */
	err = -ESRCH;
	for (size_t off = 0; off + sizeof(*out) <= len; off += sizeof(*out)) {
		struct bg_peer p;

		memcpy(&p, buf + off, sizeof(p));
		if ((int32_t)p.tgid == pid) {
			*out = p;
			err = 0;
			break;
		}
	}
	free(buf);
	return err;
}

static int view_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct bg_view *)a)->pid, y = ((const struct bg_view *)b)->pid;

	return x < y ? -1 : x > y;
}

/* peer.bpf.c's view request: its .bss parameters set for one run of
 * bg_view, and back to 0 after it. */
static int view_iter(struct peer_probe *pp, uint64_t ns, uint32_t level, char **buf, size_t *len)
{
	int err;

	pp->skel->bss->view_ns = ns;
	pp->skel->bss->view_level = level;
	err = read_iter(pp->skel->progs.bg_view, NULL, buf, len);
	pp->skel->bss->view_ns = 0;
	pp->skel->bss->view_level = 0;
	return err;
}

int peer_view(struct peer_probe *pp, uint64_t ns, uint32_t level, struct bg_view **out,
	      size_t *n)
{
	char *buf = NULL;
	size_t len = 0;
	int err;

	err = view_iter(pp, ns, level, &buf, &len);
	if (err)
		return err;
	*out = (struct bg_view *)buf;
	*n = len / sizeof(struct bg_view);
	qsort(*out, *n, sizeof(**out), view_cmp);
	return 0;
}

uint32_t view_nr(const struct bg_view *v, size_t n, uint32_t pid)
{
	struct bg_view key = { .pid = pid };
	const struct bg_view *hit;

	if (!n)
		return 0;
	hit = bsearch(&key, v, n, sizeof(*v), view_cmp);
	return hit ? hit->nr : 0;
}

bool pidfd_exited(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) != 0;
}

void caller_identify(struct peer_probe *pp, int sock, const struct ucred *cred,
		     struct caller *c)
{
	struct bg_peer p;
	bool exact;
	int fd;

	*c = (struct caller){ .uid = cred->uid, .ruid = cred->uid, .same_pidns = true };
	fd = peer_pidfd(sock, cred, &exact);
	if (fd < 0)
		return;
	/*
	 * Without SO_PEERPIDFD the pidfd names whoever holds SO_PEERCRED's pid
	 * now. It is the peer only if that process is still alive after the
	 * read (so the record is of the live holder of the pid) and is who the
	 * kernel vouched for at connect(): the same effective uid.
	 */
	if (!peer_read(pp, fd, &p) && !pidfd_exited(fd) && (exact || p.euid == cred->uid)) {
		c->known = true;
		c->pid = p.tgid;
		c->uid = p.euid;
		c->ruid = p.uid;
		c->start = p.start;
		c->pidns = p.pidns;
		c->pidns_level = p.pidns_level;
		c->same_pidns = p.flags & BG_PEER_SAME_PIDNS;
		c->priv = (p.flags & BG_PEER_SAME_USERNS) &&
			  (p.cap_eff & BG_PRIV_CAPS) == BG_PRIV_CAPS;
	}
	close(fd);
}
