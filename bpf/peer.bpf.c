// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Who is asking. The agent decides what a control-socket peer may do from
 * what the kernel holds for it, read here from its task: uids as the initial
 * user namespace sees them, effective capabilities and whether its user
 * namespace is the agent's own (capabilities held in any other one mean
 * nothing to the agent), and its PID namespace. /proc/PID/status cannot say
 * which user namespace its CapEff belongs to: `unshare -Ur` shows a full set.
 *
 * bg_peer runs on one process: the agent attaches it with the peer's pidfd
 * as the iterator's filter, so a pid that was reused cannot answer for it.
 * bg_view lists the processes visible in one PID namespace, with their pids
 * there, so that a caller in a container is shown only what it could see.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "peer.h"

/* Linked into bpfguard.bpf.o (the Makefile), whose license section is this
 * file's too. */

/* bg_view's request, set by the agent before it reads the iterator. */
__u64 view_ns;
__u32 view_level;

/*
 * The PID namespace at @level of @t's pid, or 0 if its pid lives higher up.
 * numbers[] is a flexible array indexed at run time: read it with its
 * offset taken from the running kernel's BTF.
 */
static __always_inline __u64 pidns_at(struct task_struct *t, __u32 level, int *nr)
{
	struct pid *p = BPF_CORE_READ(t, thread_pid);
	unsigned int top = BPF_CORE_READ(p, level);
	struct upid up = {};
	__u64 off;

	if (level > top || level > BG_PIDNS_LEVEL_MAX)
		return 0;
	off = bpf_core_field_offset(struct pid, numbers) + (__u64)level * sizeof(struct upid);
	if (bpf_probe_read_kernel(&up, sizeof(up), (void *)p + off))
		return 0;
	if (nr)
		*nr = up.nr;
	return (__u64)up.ns;
}

static __always_inline __u32 pidns_level(struct task_struct *t)
{
	return BPF_CORE_READ(t, thread_pid, level);
}

SEC("iter/task")
int bg_peer(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task, *me = bpf_get_current_task_btf();
	struct bg_peer p = {};
	__u64 ns, mine;

	/* The filter visits each thread of the one process: answer once. */
	if (!task || task->pid != task->tgid)
		return 0;
	p.tgid = task->tgid;
	p.start = BPF_CORE_READ(task, group_leader, start_boottime);
	p.uid = BPF_CORE_READ(task, cred, uid.val);
	p.euid = BPF_CORE_READ(task, cred, euid.val);
	p.suid = BPF_CORE_READ(task, cred, suid.val);
	/* kernel_cap_t was u32[2] before 6.3 and one u64 since: the same 8 bytes */
	bpf_core_read(&p.cap_eff, sizeof(p.cap_eff), &task->cred->cap_effective);
	if ((__u64)BPF_CORE_READ(task, cred, user_ns) == (__u64)BPF_CORE_READ(me, cred, user_ns))
		p.flags |= BG_PEER_SAME_USERNS;
	p.pidns_level = pidns_level(task);
	ns = pidns_at(task, p.pidns_level, NULL);
	mine = pidns_at(me, pidns_level(me), NULL);
	p.pidns = ns;
	if (ns && ns == mine)
		p.flags |= BG_PEER_SAME_PIDNS;
	bpf_seq_write(ctx->meta->seq, &p, sizeof(p));
	return 0;
}

SEC("iter/task")
int bg_view(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct bg_view v = {};
	int nr = 0;

	if (!task || task->pid != task->tgid || !view_ns)
		return 0;
	if (pidns_at(task, view_level, &nr) != view_ns || nr <= 0)
		return 0;
	v.pid = task->tgid;
	v.nr = (__u32)nr;
	bpf_seq_write(ctx->meta->seq, &v, sizeof(v));
	return 0;
}
