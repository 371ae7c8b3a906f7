/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Every kernel-version difference the BPF side depends on lives here.
 * Supported: Linux >= 5.15 with BTF (tp_btf, ring buffer, iter/task).
 */
#ifndef BPFGUARD_COMPAT_BPF_H
#define BPFGUARD_COMPAT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

/*
 * Is the thread group of @p dead, seen from its sched_process_exit hook?
 *
 * Since Linux 6.x the tracepoint carries a `group_dead` argument, but older
 * kernels (6.1, 5.15) have only the task, and a tp_btf program that reads an
 * argument the tracepoint lacks is rejected at load. do_exit() does
 * `group_dead = atomic_dec_and_test(&tsk->signal->live)` before it fires the
 * tracepoint on every kernel we support, so reading signal->live == 0 gives
 * the same answer everywhere with one object. The one difference: two threads
 * exiting at the same moment can both read 0; callers must be idempotent.
 */
static __always_inline bool bg_group_dead(struct task_struct *p)
{
	return BPF_CORE_READ(p, signal, live.counter) == 0;
}

/*
 * Start time that identifies a thread group: the leader's start_boottime
 * (Linux >= 5.5; the same clock /proc/PID/stat field 22 is derived from).
 * de_thread() copies it to a non-leader thread that execs, so it stays
 * stable for the life of the process.
 */
static __always_inline __u64 bg_start_time(struct task_struct *p)
{
	return BPF_CORE_READ(p, group_leader, start_boottime);
}

#endif /* BPFGUARD_COMPAT_BPF_H */
