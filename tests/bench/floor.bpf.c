// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The measuring sticks of `make bench` section 2a, on the same two
 * tracepoints as bpfguard's programs, measured over the same fork loops:
 *
 * floor_*: programs that do nothing. kernel.bpf_stats_enabled charges every
 *   program call with its own accounting (two sched_clock() reads), so what
 *   these cost per call is the floor of any program on those hooks.
 * ref_*: the least bookkeeping a lineage record keyed by pid can do: one
 *   insert into a preallocated hash map (bpfguard's procs layout and size)
 *   per fork of the loop process, one lookup and delete per exit. No tags,
 *   no identity check, no ordering: the floor of a tracked fork and exit.
 * bit_*: the untracked path alone: one bit of a pid bitmap like bpfguard's
 *   pidmap (an array of 65536 words) tested, one global read.
 * tls_*: the same bookkeeping in BPF task local storage instead of the hash
 *   (created on the child at fork, read and deleted at exit), the other way
 *   bpfguard could keep its records.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct ref_proc {
	__u64 start;
	__u32 a, b, c, d; /* the size of struct bg_proc (24 bytes) */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072); /* BG_MAX_PROCS_DEFAULT */
	__type(key, __u32);
	__type(value, struct ref_proc);
} ref_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ref_proc);
} ref_tls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} ref_bits SEC(".maps");

__u32 loop_tgid; /* set by the harness: the fork loop's process */
__u32 ref_global;

static __always_inline int bit_test(__u32 pid)
{
	__u32 w = pid / 64;
	__u64 *b = bpf_map_lookup_elem(&ref_bits, &w);

	if (b && (*b & (1ULL << (pid % 64))))
		return 1;
	return ref_global ? 2 : 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(bit_fork, struct task_struct *parent, struct task_struct *child)
{
	return bit_test(parent->tgid);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(bit_exit, struct task_struct *p)
{
	return bit_test(p->tgid);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(floor_fork, struct task_struct *parent, struct task_struct *child)
{
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(floor_exit, struct task_struct *p)
{
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(ref_fork, struct task_struct *parent, struct task_struct *child)
{
	struct ref_proc v = {};
	__u32 pid;

	if (child->pid != child->tgid || (__u32)parent->tgid != loop_tgid)
		return 0;
	pid = child->tgid;
	v.start = child->start_boottime;
	bpf_map_update_elem(&ref_procs, &pid, &v, BPF_NOEXIST);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(ref_exit, struct task_struct *p)
{
	__u32 pid = p->tgid;

	if (bpf_map_lookup_elem(&ref_procs, &pid))
		bpf_map_delete_elem(&ref_procs, &pid);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(tls_fork, struct task_struct *parent, struct task_struct *child)
{
	struct ref_proc *v;

	if (child->pid != child->tgid || (__u32)parent->tgid != loop_tgid)
		return 0;
	v = bpf_task_storage_get(&ref_tls, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (v)
		v->start = child->start_boottime;
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tls_exit, struct task_struct *p)
{
	if (bpf_task_storage_get(&ref_tls, p, 0, 0))
		bpf_task_storage_delete(&ref_tls, p);
	return 0;
}
