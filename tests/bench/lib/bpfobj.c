// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* bpfobj.c: see bpfobj.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bpfobj.h"
#include "util.h"

#define BPF_STATS_SYSCTL "/proc/sys/kernel/bpf_stats_enabled"

int read_stats(const struct bench_ctx *ctx, uint64_t out[BG_STAT_MAX])
{
	int fd = bpf_obj_get(ctx->pin_stats);
	uint64_t vals[512];

	memset(out, 0, sizeof(uint64_t) * BG_STAT_MAX);
	if (fd < 0 || ctx->ncpus > 512)
		return -1;
	for (uint32_t i = 0; i < BG_STAT_MAX; i++) {
		if (bpf_map_lookup_elem(fd, &i, vals))
			continue;
		for (int c = 0; c < ctx->ncpus; c++)
			out[i] += vals[c];
	}
	close(fd);
	return 0;
}

void map_info(const char *pin, uint64_t *memlock, uint32_t *max_entries, uint32_t *flags)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);
	char path[64], buf[2048], *p;
	int fd = bpf_obj_get(pin);

	*memlock = 0;
	*max_entries = 0;
	*flags = 0;
	if (fd < 0)
		return;
	memset(&info, 0, sizeof(info));
	if (!bpf_obj_get_info_by_fd(fd, &info, &len)) {
		*max_entries = info.max_entries;
		*flags = info.map_flags;
	}
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (read_str(path, buf, sizeof(buf)) > 0 && (p = strstr(buf, "memlock:")))
		*memlock = strtoull(p + 8, NULL, 10);
	close(fd);
}

int link_prog_fd(const char *pin)
{
	struct bpf_link_info li;
	uint32_t len = sizeof(li);
	int lfd = bpf_obj_get(pin), pfd;

	if (lfd < 0)
		return -1;
	memset(&li, 0, sizeof(li));
	if (bpf_obj_get_info_by_fd(lfd, &li, &len)) {
		close(lfd);
		return -1;
	}
	close(lfd);
	pfd = bpf_prog_get_fd_by_id(li.prog_id);
	return pfd;
}

int prog_run(int pfd, uint64_t *rt, uint64_t *cnt, uint32_t *id)
{
	struct bpf_prog_info pi;
	uint32_t len = sizeof(pi);

	memset(&pi, 0, sizeof(pi));
	if (bpf_obj_get_info_by_fd(pfd, &pi, &len))
		return -1;
	*rt = pi.run_time_ns;
	*cnt = pi.run_cnt;
	if (id)
		*id = pi.id;
	return 0;
}

int count_other_bg_progs(void)
{
	uint32_t id = 0;
	int n = 0;

	while (!bpf_prog_get_next_id(id, &id)) {
		int fd = bpf_prog_get_fd_by_id(id);
		struct bpf_prog_info pi;
		uint32_t len = sizeof(pi);

		if (fd < 0)
			continue;
		memset(&pi, 0, sizeof(pi));
		if (!bpf_obj_get_info_by_fd(fd, &pi, &len) &&
		    (!strcmp(pi.name, "bg_fork") || !strcmp(pi.name, "bg_exit")))
			n++;
		close(fd);
	}
	return n;
}

void bpf_stats_enable(struct bench_ctx *ctx)
{
	if (sysctl_set(BPF_STATS_SYSCTL, 1, &ctx->stats_old))
		die("cannot enable kernel.bpf_stats_enabled");
}

void bpf_stats_restore(struct bench_ctx *ctx)
{
	sysctl_restore(BPF_STATS_SYSCTL, &ctx->stats_old);
}
