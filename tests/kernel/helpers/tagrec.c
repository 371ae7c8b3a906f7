// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tagrec: read or rewrite the parent of one record in a pinned bpfguard
 * `tags` map, for the kernel test that plays what an agent killed in the
 * middle of an untag leaves (a record forwarding through a merged one), or
 * an older agent's long chains of merges.
 *
 *   tagrec PINDIR ID            print "STATE PARENT" of tag ID
 *   tagrec PINDIR ID PARENT     set its parent, the rest of the record kept
 *
 * Raw bpf(2), no libbpf: it runs in the qemu guests too. Exit status 0, 1 if
 * the map or the record cannot be read or written, 2 on a usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpfguard.h"

static long bpf(int cmd, union bpf_attr *a)
{
	return syscall(__NR_bpf, cmd, a, sizeof(*a));
}

static int num(const char *s, uint32_t *v)
{
	char *end;
	unsigned long x;

	errno = 0;
	x = strtoul(s, &end, 10);
	if (!*s || *end || errno || x > UINT32_MAX)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

int main(int argc, char **argv)
{
	char path[4096];
	union bpf_attr a;
	struct bg_tag t;
	uint32_t id, parent;
	int fd;

	if ((argc != 3 && argc != 4) || num(argv[2], &id) || (argc == 4 && num(argv[3], &parent))) {
		fprintf(stderr, "usage: tagrec PINDIR ID [PARENT]\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/tags", argv[1]);
	memset(&a, 0, sizeof(a));
	a.pathname = (uint64_t)(uintptr_t)path;
	fd = (int)bpf(BPF_OBJ_GET, &a);
	if (fd < 0) {
		fprintf(stderr, "tagrec: %s: %s\n", path, strerror(errno));
		return 1;
	}
	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)fd;
	a.key = (uint64_t)(uintptr_t)&id;
	a.value = (uint64_t)(uintptr_t)&t;
	if (bpf(BPF_MAP_LOOKUP_ELEM, &a)) {
		fprintf(stderr, "tagrec: tag %u: %s\n", id, strerror(errno));
		return 1;
	}
	if (argc == 3) {
		printf("%u %u\n", t.state, t.parent);
		return 0;
	}
	t.parent = parent;
	a.flags = BPF_EXIST;
	if (bpf(BPF_MAP_UPDATE_ELEM, &a)) {
		fprintf(stderr, "tagrec: tag %u: %s\n", id, strerror(errno));
		return 1;
	}
	return 0;
}
