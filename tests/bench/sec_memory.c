// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Section 3, memory: kernel bytes per procs entry, agent RSS idle and with
 * 100,000 (synthetic) entries. The default agent's sizes come from section
 * 1 (ctx->shared), when it ran.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bench.h"
#include "lib/agent.h"
#include "lib/bpfobj.h"
#include "lib/cmd.h"
#include "lib/util.h"

#define SYNTH_KEY_BASE 4194305u /* above PID_MAX_LIMIT (4194304): no real process */
#define SYNTH_TAG 0xfffffff0u	/* a tag id no agent hands out */
#define SYNTH_N 100000u
#define MEM_MAX_PROCS 262144

struct memory {
	uint64_t memlock;
	uint32_t max, flags, key, val;
	long rss_idle, rss_filled, rss_scanned, hwm;
	double fill_ms, status_ms, list_ms;
	int filled;
	char status[512];
	size_t list_len;
	long hwm_idle;
};

/* write @n synthetic entries into the map @fd: how many went in */
static uint32_t fill(int fd, const uint32_t *keys, const struct bg_proc *vals, uint32_t n)
{
	uint32_t count = n;

	if (bpf_map_update_batch(fd, keys, vals, &count, NULL)) {
		/* older kernels / errors: one by one */
		count = 0;
		for (uint32_t i = 0; i < n; i++)
			if (!bpf_map_update_elem(fd, &keys[i], &vals[i], BPF_NOEXIST))
				count++;
	}
	return count;
}

/* status and list --json make the agent scan the whole map */
static void scan(struct bench_ctx *ctx, struct memory *M, char *out)
{
	char *argv[] = { ctx->bpfguard, "list", "--json", "--pin-dir", ctx->pin, NULL };
	uint64_t wall;

	if (bg_cmd(ctx, "status", NULL, M->status, sizeof(M->status), 60000, &wall) == 0)
		M->status_ms = (double)wall / 1e6;
	if (run_cmd(ctx, argv, out, 1 << 20, 60000, &wall) == 0) {
		M->list_ms = (double)wall / 1e6;
		M->list_len = strlen(out);
	}
}

static void measure_memory(struct bench_ctx *ctx, struct memory *M)
{
	uint32_t *keys, count;
	struct bg_proc *vals;
	char *out = zalloc(1, 1 << 20);
	struct bpf_map_info info;
	uint32_t len = sizeof(info);
	uint64_t t0;
	int fd;

	note("3: memory, agent with --max-procs 262144 and 100,000 synthetic entries");
	agent_start(ctx, "kernel", MEM_MAX_PROCS);
	msleep(200);
	M->rss_idle = proc_status_kb(ctx->agent.pid, "VmRSS:");
	M->hwm_idle = proc_status_kb(ctx->agent.pid, "VmHWM:");
	map_info(ctx->pin_procs, &M->memlock, &M->max, &M->flags);
	fd = bpf_obj_get(ctx->pin_procs);
	if (fd < 0)
		die("cannot open %s", ctx->pin_procs);
	memset(&info, 0, sizeof(info));
	bpf_obj_get_info_by_fd(fd, &info, &len);
	M->key = info.key_size;
	M->val = info.value_size;
	keys = zalloc(SYNTH_N, sizeof(*keys));
	vals = zalloc(SYNTH_N, sizeof(*vals));
	for (uint32_t i = 0; i < SYNTH_N; i++) {
		keys[i] = SYNTH_KEY_BASE + i;
		vals[i] = (struct bg_proc){ .start = 1, .tag = SYNTH_TAG, .ppid = 0, .flags = 0 };
	}
	t0 = now_ns();
	M->filled = (int)fill(fd, keys, vals, SYNTH_N);
	M->fill_ms = (double)(now_ns() - t0) / 1e6;
	M->rss_filled = proc_status_kb(ctx->agent.pid, "VmRSS:");
	scan(ctx, M, out);
	M->rss_scanned = proc_status_kb(ctx->agent.pid, "VmRSS:");
	M->hwm = proc_status_kb(ctx->agent.pid, "VmHWM:");
	/* the synthetic entries go with the map at unload; delete them anyway */
	count = SYNTH_N;
	bpf_map_delete_batch(fd, keys, &count, NULL);
	close(fd);
	agent_stop(ctx);
	free(keys);
	free(vals);
	free(out);
}

/* the kernel memory of the maps: section 1's default agent, then ours */
static void print_map_memory(const struct bench_ctx *ctx, const struct memory *M)
{
	const struct bench_shared *sh = &ctx->shared;

	printf("\n== 3. Memory ==\n");
	printf("What: kernel memory of the pinned procs map, from \"memlock:\" in\n"
	       "/proc/self/fdinfo/<fd of bpf_obj_get(%s)>, divided by its\n"
	       "max_entries (bpf_obj_get_info_by_fd).\n", ctx->pin_procs);
	if (sh->procs_max_default)
		printf("  default agent: max_entries %llu, memlock %llu bytes = %.1f bytes per tracked "
		       "process slot\n",
		       (unsigned long long)sh->procs_max_default,
		       (unsigned long long)sh->procs_memlock_default,
		       (double)sh->procs_memlock_default / (double)sh->procs_max_default);
	if (sh->procs_max_default && sh->pidmap_memlock)
		printf("  pidmap (one bit per possible pid, fixed size): memlock %llu bytes = %.1f "
		       "bytes per default slot;\n  procs + pidmap: %.1f bytes per tracked process "
		       "slot\n",
		       (unsigned long long)sh->pidmap_memlock,
		       (double)sh->pidmap_memlock / (double)sh->procs_max_default,
		       (double)(sh->procs_memlock_default + sh->pidmap_memlock) /
			       (double)sh->procs_max_default);
	if (M->max)
		printf("  --max-procs 262144: max_entries %u, memlock %llu bytes = %.1f bytes per "
		       "slot (key %u B, value %u B)\n",
		       M->max, (unsigned long long)M->memlock, (double)M->memlock / M->max, M->key,
		       M->val);
	printf("  The map is a BPF_MAP_TYPE_HASH %s: all max_entries elements are allocated\n"
	       "  when the agent creates it, so this memory is spent whether 0 or max_entries\n"
	       "  processes are tracked.\n",
	       (M->flags & BPF_F_NO_PREALLOC) ? "WITH BPF_F_NO_PREALLOC (not preallocated!)"
					      : "without BPF_F_NO_PREALLOC, i.e. preallocated");
}

static void print_rss(const struct memory *M)
{
	const char *l;
	int len;

	printf("\nWhat: agent RSS (VmRSS of /proc/AGENT/status) for `bpfguard agent --max-procs "
	       "262144 --mode kernel`.\n"
	       "The 100,000 entries are SYNTHETIC: pid_max here is %s, so 100,000 real processes\n"
	       "cannot exist; the harness wrote them straight into the pinned procs map\n"
	       "(bpf_map_update_batch), keys %u.. (above the kernel's PID_MAX_LIMIT 4194304,\n"
	       "so no real process can match one) and values struct bg_proc with tag %u, a tag\n"
	       "id that does not exist. `bpfguard status` and `bpfguard list --json` then made\n"
	       "the agent scan the whole map (status counts members, list lists them: both\n"
	       "skip entries of unknown tags, so they report none of them).\n",
	       "32768", SYNTH_KEY_BASE, SYNTH_TAG);
	printf("  idle (after start)            VmRSS %6ld kB\n", M->rss_idle);
	printf("  with %d entries written  VmRSS %6ld kB   (written in %.1f ms)\n", M->filled,
	       M->rss_filled, M->fill_ms);
	printf("  after status + list --json    VmRSS %6ld kB   VmHWM %ld kB (idle VmHWM %ld kB)\n",
	       M->rss_scanned, M->hwm, M->hwm_idle);
	printf("  status took %.1f ms, list --json %.1f ms (%zu bytes of output) with 100,000 "
	       "entries\n", M->status_ms, M->list_ms, M->list_len);
	if ((len = line_at(M->status, "tags:", &l)) >= 0)
		printf("  status said: %.*s\n", len, l);
	fflush(stdout);
}

static void run_memory(struct bench_ctx *ctx)
{
	struct memory M;

	memset(&M, 0, sizeof(M));
	measure_memory(ctx, &M);
	print_map_memory(ctx, &M);
	print_rss(&M);
}

const struct bench_section sec_memory = {
	.num = 3,
	.name = "memory",
	.desc = "memory: kernel bytes per procs entry, agent RSS idle and with 100,000 "
		"(synthetic) entries",
	.run = run_memory,
};
