// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The measuring stick of `make bench` section 2a: tp_btf programs on the
 * same two tracepoints as bpfguard's, that do nothing. kernel.bpf_stats_enabled
 * charges every program call with its own accounting (two sched_clock()
 * reads), so what these cost per call is the floor any program on those
 * hooks is measured against, in the same run.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

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
