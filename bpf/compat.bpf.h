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
	/* @p is a BTF pointer (a tp_btf argument or an iterator's task): a
	 * direct load, relocated by CO-RE, costs no helper call */
	return p->signal->live.counter == 0;
}

/*
 * Start time that identifies a thread group: the leader's start_boottime
 * (Linux >= 5.5; the same clock /proc/PID/stat field 22 is derived from).
 * de_thread() copies it to a non-leader thread that execs, so it stays
 * stable for the life of the process.
 */
static __always_inline __u64 bg_start_time(struct task_struct *p)
{
	return p->group_leader->start_boottime;
}

/*
 * In-kernel kill (--mode kernel). Declared weak: where the kernel lacks one,
 * libbpf resolves it to 0, the code guarded by bg_can_signal_in_kernel() is
 * dead, the verifier drops it, and the same object loads (6.1, 6.12 tested).
 *   bpf_send_signal_task           Linux 6.13
 *   bpf_task_acquire/release       Linux 6.2
 *   bpf_task_from_pid              Linux 6.2
 *   bpf_iter_task_new/next/destroy Linux 6.7 (open-coded task iterator)
 *   bpf_rcu_read_lock/unlock       Linux 6.2
 * Kernels without them get the agent's user-space kill (--mode user).
 */
extern int bpf_send_signal_task(struct task_struct *task, int sig, enum pid_type type,
				u64 value) __ksym __weak;
/* bpf_send_signal_task wants a referenced task; the iterator hands out RCU ones. */
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;
/* A referenced task by its (host) pid, Linux >= 6.2. */
extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym __weak;
/* Open-coded task iterator (Linux >= 6.7; every kernel with the kfunc above). */
extern int bpf_iter_task_new(struct bpf_iter_task *it, struct task_struct *task,
			     unsigned int flags) __ksym __weak;
extern struct task_struct *bpf_iter_task_next(struct bpf_iter_task *it) __ksym __weak;
extern void bpf_iter_task_destroy(struct bpf_iter_task *it) __ksym __weak;
/* An RCU read section in a sleepable program (the syscall sweep), Linux >= 6.2. */
extern void bpf_rcu_read_lock(void) __ksym __weak;
extern void bpf_rcu_read_unlock(void) __ksym __weak;

static __always_inline bool bg_can_signal_in_kernel(void)
{
	return bpf_send_signal_task && bpf_task_acquire && bpf_task_release && bpf_task_from_pid &&
	       bpf_iter_task_new && bpf_iter_task_next && bpf_iter_task_destroy;
}

#endif /* BPFGUARD_COMPAT_BPF_H */
