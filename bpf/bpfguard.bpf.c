// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bpfguard's kernel side: record lineage at fork, notice a tagged root's
 * death at exit, and enrol a root's existing descendants on demand.
 *
 * The fork and exit programs run for every process on the machine, so their
 * untracked path is one bit test in pidmap and nothing else.
 *
 * One file past this tree's rule of about 800 lines, on purpose: it is one
 * BPF object, whose programs share their maps and globals and are loaded
 * and pinned together through one skeleton (user/loader.c); the pieces they
 * share with user space are in include/ (the layouts, the tag rules). In
 * order: the maps and globals, small helpers, the fork program, the death
 * record and the in-kernel kill, the exit program, then the iterators
 * (enrol, unenrol, adopt) and the sweep (a syscall program; a task iterator
 * where the kernel has no bpf_task_from_pid).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "compat.bpf.h"
#include "bpfguard.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define EEXIST 17 /* errno values are not in vmlinux.h */

/* Sizes are placeholders: the agent sets them before load. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BG_MAX_PROCS_DEFAULT);
	__type(key, __u32);
	__type(value, struct bg_proc);
} procs SEC(".maps");

/* One bit per pid: may procs hold an entry for it? (see bpfguard.h) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BG_PIDMAP_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} pidmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BG_MAX_TAGS_DEFAULT);
	__type(key, __u32);
	__type(value, struct bg_tag);
} tags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BG_MAX_TAGS_DEFAULT);
	__type(key, __u32);
	__type(value, struct bg_death);
} deaths SEC(".maps");

/* written by the agent only (include/bpfguard.h) */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BG_ENDED_MAX);
	__type(key, __u32);
	__type(value, struct bg_ended);
} ended SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, BG_RINGBUF_DEFAULT);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BG_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bg_meta);
} meta SEC(".maps");

/* Charged entries per unprivileged owner uid (see bpfguard.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BG_MAX_TAGS_DEFAULT + 1);
	__type(key, __u32);
	__type(value, __u64);
} quota SEC(".maps");

/* Per tag: what its lineage did (see bpfguard.h); sized as tags. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BG_MAX_TAGS_DEFAULT);
	__type(key, __u32);
	__type(value, struct bg_acct);
} acct SEC(".maps");

/* Scratch word for full_fence(); per CPU, so it is never contended. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} fence SEC(".maps");

/* Set by the agent before load: the fork program signals in-kernel, and
 * the exit program does too (not before Linux 6.16: bg_exit_hook_kills()). */
const volatile bool kernel_kill = false;
const volatile bool exit_kill = false;
const volatile __u32 agent_tgid = 0;
/* Processes one unprivileged owner, and all of them together, may have
 * recorded (--user-max-procs, and procs minus the privileged reserve). */
const volatile __u32 quota_user_procs = 0;
const volatile __u32 quota_unpriv_procs = 0;

/* Sweep request (bg_members), set by the agent before it runs the iterator:
 * the lineage, the signal to send its members from the iterator (0: only
 * list them), and whether its root is spared the signal (a root's death:
 * it is exiting; not a requested kill, where it lives and is a victim). */
__u32 sweep_tag;
__u32 sweep_sig;
__u32 sweep_spare_root;
/* The syscall sweep (bg_sweep) reads pidmap words [sweep_cursor,
 * sweep_words) and lists the members it found in sweep_out[0, sweep_n). */
__u32 sweep_words;
__u32 sweep_cursor;
__u32 sweep_n;
struct bg_member sweep_out[BG_SWEEP_OUT];
/* Every pid ever given a pidmap bit, OR-ed together: at least the highest
 * tracked pid, so the sweep reads no word above it. Only ever grows; the
 * agent seeds it from the pinned pidmap when it attaches. */
__u64 pid_hi;

/* Enrolment request, set by the agent before it runs the iterator. */
__u32 enroll_root;   /* host tgid of the process being tagged */
__u32 enroll_tag;    /* the new tag */
__u32 enroll_parent; /* active tag the root already belonged to, or 0 */
__u32 adopt_pid;     /* adoption: register this tgid alone under enroll_tag */
__u32 enroll_charge; /* owner uid + 1 who pays for the new entries, 0: nobody */
__u32 enroll_over;   /* set when a new entry was refused: beyond the quota */
__u32 unenroll_tag;  /* rollback: delete the BG_PROC_ENROLLED entries of this tag */
__u32 enroll_pass;   /* which pass of the enrolment this is (0: the first) */

/*
 * A full memory barrier: atomics that fetch are fully ordered (the BPF
 * memory model; a locked instruction on x86). It keeps a lineage that is
 * being killed from growing behind the in-kernel kill, a store-buffering
 * pair: the fork program writes the child's entry, then reads `deaths`; the
 * exit program writes the death, then walks the tasks and reads their
 * entries. With a fence between the write and the read on both sides,
 * either the fork program sees the death (and kills the child at birth) or
 * the walk sees the child's entry (and kills it).
 */
static __always_inline void full_fence(void)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&fence, &zero);

	if (v && __sync_fetch_and_add(v, 1) == ~0ULL)
		*v = 0; /* uses the fetched value: the fetching form is emitted */
}

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += 1;
}

/*
 * Quota accounting. Add first, then compare what was there: two CPUs racing
 * for the last unit cannot both get it (one sees the other's increment and
 * gives its own back). The counts are exact at all times but for those
 * instants, when they may read one high.
 */
static __always_inline void count_sub(__u64 *v)
{
	/* never below 0, whatever a bug elsewhere did */
	if (__sync_fetch_and_add(v, (__u64)-1) == 0)
		__sync_fetch_and_add(v, 1);
}

/* Take one entry of @uid's quota. Returns the charge to record in the
 * entry (uid + 1), or 0: the owner, or the unprivileged owners together,
 * are at their quota (or the agent gave the owner no key: fail closed).
 *
 * charge_take and charge_release are global functions, verified once by
 * themselves: inlined into enroll_children's loop (1024 children) their
 * branches made the exit program's jump history longer than the 8192 that
 * kernels before 6.18 allow ("the sequence of 8193 jumps is too complex"). */
__noinline __u32 charge_take(__u32 uid)
{
	__u32 all = BG_QUOTA_TOTAL;
	__u64 *u = bpf_map_lookup_elem(&quota, &uid);
	__u64 *t = bpf_map_lookup_elem(&quota, &all);

	if (!u || !t || uid == BG_QUOTA_TOTAL)
		return 0;
	if (__sync_fetch_and_add(u, 1) >= quota_user_procs) {
		count_sub(u);
		return 0;
	}
	if (__sync_fetch_and_add(t, 1) >= quota_unpriv_procs) {
		count_sub(t);
		count_sub(u);
		return 0;
	}
	return uid + 1;
}

/* The entry that carried @charge is gone (or was never written). */
__noinline int charge_release(__u32 charge)
{
	__u32 uid = charge - 1, all = BG_QUOTA_TOTAL;
	__u64 *v;

	if (!charge)
		return 0;
	v = bpf_map_lookup_elem(&quota, &uid);
	if (v)
		count_sub(v);
	v = bpf_map_lookup_elem(&quota, &all);
	if (v)
		count_sub(v);
	return 0;
}

/*
 * pidmap: the verifier inlines an array lookup into a bounds check and an
 * add, so the untracked path of the hooks is a few instructions and one load
 * from a bitmap that stays in cache (4 KiB for pid_max 32768).
 */
static __always_inline __u64 *pid_word(__u32 pid)
{
	__u32 w = pid / 64;

	return bpf_map_lookup_elem(&pidmap, &w);
}

/* May procs hold an entry for @pid? (false: certainly not) */
static __always_inline bool pid_maybe_tracked(__u32 pid)
{
	__u64 *b = pid_word(pid);

	return !b || (*b & (1ULL << (pid % 64)));
}

/* After the entry is written: from now on the hooks look it up. */
static __always_inline void pid_set(__u32 pid)
{
	__u64 *b = pid_word(pid);

	if (b)
		__sync_fetch_and_or(b, 1ULL << (pid % 64));
	if ((pid_hi | pid) != pid_hi)
		__sync_fetch_and_or(&pid_hi, pid);
}

/* After the entry is deleted, in the process's own exit hook (the pid
 * cannot be reused before that hook returns). */
static __always_inline void pid_clear(__u32 pid)
{
	__u64 *b = pid_word(pid);

	if (b)
		__sync_fetch_and_and(b, ~(1ULL << (pid % 64)));
}

/* @pid's procs entry, looked up only if its bit says it may exist. */
static __always_inline struct bg_proc *find_proc(__u32 pid)
{
	return pid_maybe_tracked(pid) ? bpf_map_lookup_elem(&procs, &pid) : NULL;
}

/* Record @pid's entry (procs) and its bit, in that order. */
static __always_inline long record_proc(__u32 pid, const struct bg_proc *e, __u64 flags)
{
	long err = bpf_map_update_elem(&procs, &pid, e, flags);

	if (!err)
		pid_set(pid);
	return err;
}

static __always_inline const struct bg_tag *tag_lookup(__u32 id)
{
	return bpf_map_lookup_elem(&tags, &id);
}

/* The rules user space applies too (include/tagrules.h), over the map. */
#define BG_TAG_LOOKUP(ctx, id) tag_lookup(id)
#include "tagrules.h"

/*
 * The active tag a recorded tag id stands for: untagging a nested root merges
 * its tag into the enclosing one, untagging a top-level root detaches it.
 */
static __always_inline __u32 resolve_tag(__u32 tag)
{
	return bg_resolve(NULL, tag);
}

/*
 * Accounting (struct bg_acct). Global functions, each verified once: they
 * are called from enroll_children's loop too.
 *
 * A process entered the lineage of live tag @tag, and of the tags that
 * enclose it up to @levels of them (1: @tag's own, where the enclosing
 * ones count it already): forked into it when @born. Returns a tag whose
 * --max-procs it is beyond, 0 if none.
 */
__noinline __u32 acct_enter(__u32 tag, __u32 levels, __u32 born)
{
	__u32 over = 0;

	for (int i = 0; i < BG_NEST_WALK && tag && (__u32)i < levels; i++) {
		struct bg_acct *a = bpf_map_lookup_elem(&acct, &tag);
		const struct bg_tag *t = tag_lookup(tag);

		if (a) {
			__u64 live = __sync_fetch_and_add(&a->live, 1) + 1;

			if (born)
				__sync_fetch_and_add(&a->born, 1);
			if (t && t->max_procs && live > t->max_procs)
				over = over ? over : tag;
			else if (live > a->peak)
				a->peak = live; /* racy by design: the most seen */
		}
		tag = bg_nest_parent(NULL, tag);
	}
	return over;
}

/* A process left the lineage of live tag @tag and of every enclosing one:
 * it exited (@exited, with @cpu_ns of CPU time), or it was released. */
__noinline int acct_leave(__u32 tag, __u64 cpu_ns, __u32 exited)
{
	for (int i = 0; i < BG_NEST_WALK && tag; i++) {
		struct bg_acct *a = bpf_map_lookup_elem(&acct, &tag);

		if (a) {
			if (__sync_fetch_and_add(&a->live, (__u64)-1) == 0)
				__sync_fetch_and_add(&a->live, 1); /* never below 0 */
			if (exited) {
				__sync_fetch_and_add(&a->exited, 1);
				__sync_fetch_and_add(&a->cpu_ns, cpu_ns);
			}
		}
		tag = bg_nest_parent(NULL, tag);
	}
	return 0;
}

/* A process the enrolment of @to records or moves, from resolved tag @from
 * (0: it was untracked). A live @to is cut from @from (nested in it): only
 * @to gains it, unless it was untracked; a detached @to is a release: the
 * process leaves @from and all that encloses it. */
__noinline int acct_move(__u32 from, __u32 to)
{
	const struct bg_tag *t = tag_lookup(to);

	if (t && (t->state == BG_TAG_ACTIVE || t->state == BG_TAG_DOOMED))
		acct_enter(to, from ? 1 : BG_NEST_WALK, 0);
	else if (from)
		acct_leave(from, 0, 0);
	return 0;
}

/* Enrolment passes count what they record (the agent runs them until one
 * records nothing): the iterator's records and enroll_children()'s. */
__u32 enroll_added;

static __always_inline void enroll_count(void)
{
	__sync_fetch_and_add(&enroll_added, 1);
}

/*
 * During an enrolment: is @task below the root being tagged, either by its
 * real_parent chain or through an ancestor already recorded under the new
 * tag? The second covers a process whose parent died during the walk and was
 * reparented away: the exit program recorded it (enroll_children), and its
 * own children follow it. Used only while enroll_root is set.
 */
static __always_inline bool enrol_descends(struct task_struct *task)
{
	__u32 root = enroll_root, tag = enroll_tag;
	struct task_struct *a = task;

	for (int i = 0; i < BG_MAX_DEPTH && a; i++) {
		__u32 tg = BPF_CORE_READ(a, tgid);
		struct bg_proc *e;

		if (tg == root)
			return true;
		if (tg <= 1)
			return false;
		e = bpf_map_lookup_elem(&procs, &tg);
		if (e && e->tag == tag && e->start == BPF_CORE_READ(a, start_boottime))
			return true;
		a = BPF_CORE_READ(a, real_parent);
	}
	return false;
}

/* Is the recorded tag @tag (resolved) @anc or nested below it? */
static __always_inline bool tag_within(__u32 tag, __u32 anc)
{
	return bg_within(NULL, tag, anc);
}

/* The dead tag whose lineage @tag (resolved) belongs to, or 0. */
static __always_inline __u32 doomed_by(__u32 tag)
{
	for (int i = 0; i < BG_NEST_WALK && tag; i++) {
		if (bpf_map_lookup_elem(&deaths, &tag))
			return tag;
		tag = bg_nest_parent(NULL, tag);
	}
	return 0;
}

/* @task's entry if it is the recorded process (same start time) and a
 * member of @tag's lineage, else NULL. */
static __always_inline struct bg_proc *live_member(struct task_struct *task, __u32 tag)
{
	/* the walks visit every process: most are not tracked */
	struct bg_proc *e = find_proc(task->tgid);

	if (!e || e->start != task->start_boottime || bg_group_dead(task) ||
	    !tag_within(e->tag, tag))
		return NULL;
	return e;
}

/*
 * May @t's owner signal @task? A privileged tag kills every descendant; an
 * unprivileged one follows kill(2): the owner's real or effective uid must be
 * the target's real or saved uid (its objective credentials).
 */
static __always_inline bool owner_may_signal(const struct bg_tag *t, struct task_struct *task)
{
	__u32 uid, suid;

	if (!t || (t->flags & BG_TAG_F_PRIV))
		return true;
	uid = BPF_CORE_READ(task, real_cred, uid.val);
	suid = BPF_CORE_READ(task, real_cred, suid.val);
	return uid == t->owner_uid || uid == t->owner_ruid || suid == t->owner_uid ||
	       suid == t->owner_ruid;
}

static __always_inline bool can_kill_in_kernel(void)
{
	return kernel_kill && bg_can_signal_in_kernel();
}

/*
 * From the exit and fork hooks the signal is not sent on the spot: the
 * kernel queues it through a per-CPU irq_work with a single slot, so a
 * call can fail with -EBUSY. Count it; the agent's sweep kills what is left.
 */
static __always_inline void send_kernel(struct task_struct *t, __u32 sig)
{
	if (bpf_send_signal_task(t, (int)sig, PIDTYPE_TGID, 0))
		stat_inc(BG_STAT_KERNEL_KILL_FAILED);
	else
		stat_inc(BG_STAT_KERNEL_KILLS);
}

#define PF_EXITING 0x00000004 /* a #define in the kernel: not in vmlinux.h */

/*
 * Signal the process @t leads. bpf_send_signal_task refuses an exiting task
 * (-EPERM), and the leader of a process whose main thread has exited while
 * other threads run is one: send it through a live thread instead (with
 * PIDTYPE_TGID the signal is the process's either way). 0 or -errno.
 */
static __always_inline int signal_group(struct task_struct *t, __u32 sig)
{
	struct bpf_iter_task it;
	struct task_struct *th;
	int err = -1;

	if (!(t->flags & PF_EXITING))
		return bpf_send_signal_task(t, (int)sig, PIDTYPE_TGID, 0);
	bpf_iter_task_new(&it, t, BPF_TASK_ITER_PROC_THREADS);
	while ((th = bpf_iter_task_next(&it))) {
		if (th->flags & PF_EXITING)
			continue;
		th = bpf_task_acquire(th);
		if (!th)
			continue;
		err = bpf_send_signal_task(th, (int)sig, PIDTYPE_TGID, 0);
		bpf_task_release(th);
		break;
	}
	bpf_iter_task_destroy(&it);
	return err;
}

/*
 * A child born beyond its owner's quota (BG_EV_LIMIT), or beyond its
 * lineage's --max-procs (BG_EV_MAX_PROCS): it is recorded (it never leaves
 * the lineage) and dies at birth, the Job Object rule for an active-process
 * limit. The kernel kills it here where it can; the agent hears of it in
 * any mode and kills it through a verified pidfd.
 */
static __always_inline void limit_child(struct task_struct *child, const struct bg_tag *t,
					__u32 tag, __u32 pid, __u32 uid, __u32 type)
{
	struct bg_event ev = {
		.ts = child->start_boottime, /* its identity, for the agent's pidfd */
		.type = type,
		.tag = tag,
		.pid = pid,
		.uid = uid,
	};

	stat_inc(BG_STAT_LIMIT_KILLS);
	if (can_kill_in_kernel() && owner_may_signal(t, child))
		send_kernel(child, 9 /* SIGKILL */);
	if (bpf_ringbuf_output(&events, &ev, sizeof(ev), 0))
		stat_inc(BG_STAT_RINGBUF_DROP);
}

/*
 * sched_process_fork fires in the parent after the child is hashed and
 * visible, for processes and threads alike. Recording here, rather than at
 * exec or on first schedule, means no child of a tracked process ever exists
 * unrecorded: a tag-time walk that lists children after the root's entry is
 * written cannot miss a concurrent fork.
 *
 * This is the fork of a process that may be tracked (@pp: its entry, NULL
 * while an enrolment runs), out of line, so that the untracked fork's path
 * in bg_fork below stays a few instructions in a few cache lines.
 */
static __noinline int fork_tracked(struct task_struct *parent, struct task_struct *child,
				   struct bg_proc *pp)
{
	__u32 ptgid = parent->tgid, ctgid, tag, doomed, owner = 0, capped = 0;
	struct bg_proc c = {};
	struct bg_tag *t;
	bool over = false;
	long err;

	if (!pp) {
		/* While a tag is being enrolled, a descendant the iterator has
		 * not reached yet may fork and exit before the iterator's next
		 * pass: its child would be reparented away unseen. Record such a
		 * child now. Costs nothing outside the few ms of an enrolment. */
		if (!enrol_descends(parent))
			return 0;
		tag = enroll_tag;
		goto record;
	}

	tag = resolve_tag(pp->tag);
	if (!tag || pp->start != bg_start_time(parent))
		return 0;
record:

	ctgid = child->tgid;
	c.start = child->start_boottime;
	c.tag = tag;
	c.ppid = ptgid;
	/* Who pays: the owner of an unprivileged tag. A privileged lineage
	 * pays this one lookup (of a record resolve_tag just read). */
	t = bpf_map_lookup_elem(&tags, &tag);
	if (t && !(t->flags & BG_TAG_F_PRIV)) {
		owner = t->owner_uid;
		c.charge = charge_take(owner);
		over = !c.charge;
		/* born below an entry of the enrolment in progress: a refused
		 * enrolment deletes it too (it was never tracked before) */
		if (enroll_root && tag == enroll_tag && (!pp || (pp->flags & BG_PROC_ENROLLED)))
			c.flags = BG_PROC_ENROLLED;
	}
	/* NOEXIST: two attached copies of this program (during an agent
	 * upgrade) both run; the second must not count as a failure. */
	err = record_proc(ctgid, &c, BPF_NOEXIST);
	if (err == -EEXIST) {
		/* Another copy of this program recorded it (same start), or the
		 * entry is stale: a process that never passed an exit hook
		 * while tracked left it, and its pid came round again. */
		struct bg_proc *old = bpf_map_lookup_elem(&procs, &ctgid);

		if (old && old->start != c.start) {
			__u32 stale = old->charge;

			err = record_proc(ctgid, &c, BPF_ANY);
			if (!err)
				charge_release(stale);
		}
	}
	if (!err) {
		stat_inc(BG_STAT_FORK_TRACKED);
		capped = acct_enter(tag, BG_NEST_WALK, 1);
	} else {
		charge_release(c.charge); /* not recorded by us: nothing to pay */
		if (err != -EEXIST)
			stat_inc(BG_STAT_PROCS_FULL);
	}

	/* The cgroup.kill rule: a lineage being killed cannot grow. The
	 * child has not run an instruction yet; it dies on its way out of
	 * the kernel (or gets the grace signal at birth). The agent hears of
	 * it too, and kills it itself where the kfunc is missing. */
	full_fence(); /* the entry, then deaths: see full_fence() */
	doomed = doomed_by(tag);
	if (doomed) {
		struct bg_tag *t = bpf_map_lookup_elem(&tags, &doomed);
		struct bg_event ev = {
			.ts = bpf_ktime_get_ns(),
			.type = BG_EV_BIRTH,
			.tag = doomed,
			.pid = ctgid,
		};

		if (can_kill_in_kernel() && owner_may_signal(t, child))
			send_kernel(child, t && t->signal ? t->signal : 9 /* SIGKILL */);
		if (bpf_ringbuf_output(&events, &ev, sizeof(ev), 0))
			stat_inc(BG_STAT_RINGBUF_DROP);
	} else if (over && err != -EEXIST) {
		limit_child(child, t, tag, ctgid, owner, BG_EV_LIMIT);
	} else if (capped) {
		const struct bg_tag *ct = tag_lookup(capped);

		if (ct) /* the tag whose cap it is beyond, just read by acct_enter */
			limit_child(child, ct, capped, ctgid, ct->owner_uid, BG_EV_MAX_PROCS);
	}
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(bg_fork, struct task_struct *parent, struct task_struct *child)
{
	struct bg_proc *pp;

	/* A new thread joins its creator's thread group: not a descendant. */
	if (child->pid != child->tgid)
		return 0;
	pp = find_proc(parent->tgid);
	/* outside the few ms of an enrolment: one global read */
	if (!pp && !enroll_root)
		return 0;
	return fork_tracked(parent, child, pp);
}

/* SIGNAL_GROUP_EXIT (linux/sched/signal.h): group_exit_code holds the status */
#define BG_SIGNAL_GROUP_EXIT 0x4

/*
 * The wait(2) status of a thread group whose last thread is exiting: the
 * group's, when exit_group() or a fatal signal ended it, else this thread's
 * (do_exit() has set exit_code before the tracepoint fires).
 */
static __always_inline __u32 group_status(struct task_struct *p)
{
	struct signal_struct *sig = BPF_CORE_READ(p, signal);

	if (BPF_CORE_READ(sig, flags) & BG_SIGNAL_GROUP_EXIT)
		return (__u32)BPF_CORE_READ(sig, group_exit_code);
	return (__u32)BPF_CORE_READ(p, exit_code);
}

/* The CPU time of a thread group whose last thread is exiting: its dead
 * threads' (signal->sum_sched_runtime) and this one's. */
static __always_inline __u64 group_cpu_ns(struct task_struct *p)
{
	return BPF_CORE_READ(p, signal, sum_sched_runtime) + BPF_CORE_READ(p, se.sum_exec_runtime);
}

/*
 * The durable record of a root's death (from now on the fork hook kills
 * newborns of the lineage). Returns its timestamp, or 0 when a second
 * exiting thread that also saw live == 0 finds it already recorded.
 */
static __always_inline __u64 record_death(__u32 tag, struct task_struct *p)
{
	struct bg_death d = {
		.ts = bpf_ktime_get_ns(),
		.tag = tag,
		.root_pid = p->tgid,
		.status = group_status(p),
		.flags = BG_DEATH_ROOT_EXITED,
	};
	long err;

	err = bpf_map_update_elem(&deaths, &tag, &d, BPF_NOEXIST);
	if (err == -EEXIST)
		return 0;
	if (err)
		stat_inc(BG_STAT_DEATHS_FULL);
	stat_inc(BG_STAT_ROOT_EXIT);
	return d.ts;
}

/* The root of a lineage being killed on request (`bpfguard kill`) exits:
 * its status joins the death the agent recorded. */
static __always_inline void note_root_exit(__u32 tag, struct task_struct *p)
{
	struct bg_death *d = bpf_map_lookup_elem(&deaths, &tag);

	if (!d || (d->flags & BG_DEATH_ROOT_EXITED))
		return;
	d->status = group_status(p);
	d->flags |= BG_DEATH_ROOT_EXITED; /* the agent writes a death once, whole */
	stat_inc(BG_STAT_ROOT_EXIT);
}

/* The agent's wake-up (the deaths entry is what it trusts). */
static __always_inline void wake_agent(__u32 tag, __u32 root_pid, __u64 ts)
{
	struct bg_event ev = {
		.ts = ts,
		.type = BG_EV_DEATH,
		.tag = tag,
		.pid = root_pid,
	};

	if (bpf_ringbuf_output(&events, &ev, sizeof(ev), 0))
		stat_inc(BG_STAT_RINGBUF_DROP);
}

/* Children of one dying process recorded at most (the rest: the second pass). */
#define BG_MAX_CHILDREN_WALK 1024

/*
 * During an enrolment, a child of an exiting process that has an entry
 * already (recorded in the lineage the new tag is cut from: a nested tag,
 * or a release) moves with it, as the iterator would have moved it. A
 * global function, verified once, for enroll_children's loop.
 */
__noinline int enrol_move(__u32 tgid, __u64 start)
{
	struct bg_proc *e = bpf_map_lookup_elem(&procs, &tgid);
	__u32 cur;

	if (!e || e->start != start || e->tag == enroll_tag)
		return 0;
	cur = resolve_tag(e->tag);
	if (cur != enroll_parent && cur != 0)
		return 0;
	e->tag = enroll_tag;
	e->flags &= ~(BG_PROC_ROOT | BG_PROC_ENROLLED);
	enroll_count();
	acct_move(cur, enroll_tag);
	return 1;
}

/*
 * A thread of a descendant of the root being enrolled is exiting: its
 * children may be about to be reparented (to init or a subreaper) out of the
 * real_parent chain the iterator follows. Record them now, under the new tag,
 * while they are still its children. Every exiting thread, not only the
 * last: a thread's children go to a live sibling thread only if one is not
 * exiting yet, and under exit_group() all of them may be, so those of an
 * earlier thread leave before the last one gets here. Runs only while an
 * enrolment is in progress.
 */
/* One child (@pos: its sibling list node) of exiting @ptgid during an
 * enrolment: recorded under the new tag, or moved to it (enrol_move).
 * Returns the next node. */
__noinline __u64 enrol_child(__u64 pos, __u32 ptgid)
{
	struct task_struct *c =
		(void *)(pos - bpf_core_field_offset(struct task_struct, sibling));
	struct bg_proc n = {
		.start = BPF_CORE_READ(c, start_boottime),
		.tag = enroll_tag,
		.ppid = ptgid,
		.flags = BG_PROC_ENROLLED,
	};
	__u32 ctgid = BPF_CORE_READ(c, tgid);
	__u64 next = 0;

	if (bpf_probe_read_kernel(&next, sizeof(next), (void *)pos))
		next = 0;
	if (enroll_charge) {
		n.charge = charge_take(enroll_charge - 1);
		if (!n.charge) {
			enroll_over = 1; /* the agent refuses the tag */
			return next;
		}
	}
	if (record_proc(ctgid, &n, BPF_NOEXIST) == 0) {
		stat_inc(BG_STAT_ENROLLED);
		enroll_count();
		acct_move(0, enroll_tag);
	} else {
		charge_release(n.charge);
		enrol_move(ctgid, n.start);
	}
	return next;
}

/*
 * A thread of a descendant of the root being enrolled is exiting: its
 * children may be about to be reparented (to init or a subreaper) out of the
 * real_parent chain the iterator follows. Record them now, under the new tag,
 * while they are still its children. Every exiting thread, not only the
 * last: a thread's children go to a live sibling thread only if one is not
 * exiting yet, and under exit_group() all of them may be, so those of an
 * earlier thread leave before the last one gets here. Runs only while an
 * enrolment is in progress. @head: the address of the thread's children
 * list; scalars, and each child's work in enrol_child(), so that the
 * verifier walks the loop once, not once per call site and child.
 */
__noinline int enroll_children(__u64 head, __u32 ptgid)
{
	__u64 pos = 0;

	if (bpf_probe_read_kernel(&pos, sizeof(pos), (void *)head))
		return 0;
	for (int i = 0; i < BG_MAX_CHILDREN_WALK && pos && pos != head; i++)
		pos = enrol_child(pos, ptgid);
	return 0;
}

/* Signals one exiting thread sends at most (see kill_children()). */
#define BG_HOOK_SIGNALS 64

/*
 * One child of an exiting process, by pid: signal it if it is the process
 * recorded (start time), a live member of @tag's lineage, and one @tag's
 * owner may signal, as the agent checks. 1 if a signal was sent. A global
 * function, verified once, for kill_children()'s loop.
 */
__noinline int kill_child(__u32 pid, __u32 tag, __u32 sig)
{
	const struct bg_tag *tg;
	struct task_struct *t;
	int sent = 0;

	if (!bg_can_signal_in_kernel() || pid == agent_tgid || !find_proc(pid))
		return 0;
	t = bpf_task_from_pid((s32)pid);
	if (!t)
		return 0;
	tg = tag_lookup(tag);
	if (live_member(t, tag) && owner_may_signal(tg, t)) {
		if (signal_group(t, sig)) {
			stat_inc(BG_STAT_KERNEL_KILL_FAILED);
		} else {
			stat_inc(BG_STAT_KERNEL_KILLS);
			sent = 1;
		}
	}
	bpf_task_release(t);
	return sent;
}

/*
 * Signal the live members of @tag's lineage among the children of an
 * exiting thread (@head: the address of its children list): from a dying
 * root's exit hook, then from each member's as it dies of the signal, so the
 * kill spreads down the tree level by level, PR_SET_PDEATHSIG-like but for
 * the whole lineage. The work is what the thread's children are, never what
 * the machine runs: with preemption off (a tracepoint) one exiting thread
 * walks at most BG_MAX_CHILDREN_WALK children and sends at most
 * BG_HOOK_SIGNALS signals (one irq_work each, ~15 us apiece in a VM). What
 * that leaves, and members reparented away from the tree (a daemon), are
 * the agent's sweep's: it signals them from process context when the ring
 * buffer wakes it. Scalars only, so this is verified once too.
 */
__noinline int kill_children(__u64 head, __u32 tag, __u32 sig)
{
	__u64 pos = 0, sib = bpf_core_field_offset(struct task_struct, sibling),
	      tgid = bpf_core_field_offset(struct task_struct, tgid);
	int sent = 0;
	__u32 pid;

	if (bpf_probe_read_kernel(&pos, sizeof(pos), (void *)head))
		return 0;
	for (int i = 0; i < BG_MAX_CHILDREN_WALK && pos && pos != head; i++) {
		if (bpf_probe_read_kernel(&pid, sizeof(pid), (void *)(pos - sib + tgid)))
			break;
		sent += kill_child(pid, tag, sig);
		if (sent >= BG_HOOK_SIGNALS ||
		    bpf_probe_read_kernel(&pos, sizeof(pos), (void *)pos))
			break;
	}
	return sent;
}

/* The address of @p's children list, as a scalar (for kill_children()):
 * read through the list, since a BTF pointer cannot be passed as one. */
static __always_inline __u64 children_head(struct task_struct *p)
{
	return (__u64)BPF_CORE_READ(p, children.next, prev);
}

/* A thread of member @e of a lineage being killed exits: the kill goes on to
 * its children (the death's tag and signal, as the fork program uses). */
static __always_inline void pass_kill_on(struct task_struct *p, const struct bg_proc *e)
{
	__u32 doomed = doomed_by(resolve_tag(e->tag));
	const struct bg_tag *t;

	if (!doomed)
		return;
	t = tag_lookup(doomed);
	full_fence(); /* their entries, after the death this read saw */
	kill_children(children_head(p), doomed, t && t->signal ? t->signal : 9 /* SIGKILL */);
}

/*
 * sched_process_exit fires for every exiting thread. The process is gone
 * only when its last thread exits (see bg_group_dead), which is why a
 * pthread_exit() of the main thread kills nothing. It fires before
 * exit_notify() reparents the children and before the pid is freed, so the
 * entry is gone before the pid can be reused.
 */
static __noinline int exit_tracked(struct task_struct *p, struct bg_proc *e)
{
	__u32 tgid = p->tgid;
	struct bg_tag *t;

	if (!e) {
		if (enrol_descends(p))
			enroll_children(children_head(p), tgid);
		return 0;
	}
	if (enroll_root && e->tag == enroll_tag)
		enroll_children(children_head(p), tgid);
	/* any thread that has children: each thread has its own */
	if (exit_kill && can_kill_in_kernel() && p->children.next != &p->children)
		pass_kill_on(p, e);
	if (!bg_group_dead(p))
		return 0;

	if ((e->flags & BG_PROC_ROOT) && e->start == bg_start_time(p)) {
		__u32 tag = e->tag;

		t = bpf_map_lookup_elem(&tags, &tag);
		if (t && t->state == BG_TAG_DOOMED)
			note_root_exit(tag, p);
		if (t && t->state == BG_TAG_ACTIVE) {
			__u32 sig = t->signal ? t->signal : 9 /* SIGKILL */;
			/* deaths first: from now on the fork hook kills newborns */
			__u64 ts = record_death(tag, p);

			/* then the signals, then the agent's wake-up: both go
			 * through irq_work, and the victims' should not wait
			 * behind the agent's */
			if (ts) {
				if (exit_kill && can_kill_in_kernel()) {
					full_fence(); /* the death, then the entries */
					kill_children(children_head(p), tag, sig);
				}
				wake_agent(tag, tgid, ts);
			}
		}
	}
	{
		__u32 charge = e->charge, tag = e->tag;

		/* two exiting threads may both get here: one delete wins, and
		 * only it resolves the tag to count the exit in */
		if (!bpf_map_delete_elem(&procs, &tgid)) {
			charge_release(charge);
			tag = resolve_tag(tag);
			if (tag)
				acct_leave(tag, group_cpu_ns(p), 1);
		}
	}
	pid_clear(tgid);
	stat_inc(BG_STAT_EXIT_TRACKED);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(bg_exit, struct task_struct *p)
{
	struct bg_proc *e = find_proc(p->tgid);

	/* untracked, outside the few ms of an enrolment: one global read;
	 * the rest is out of line (exit_tracked), so that this path stays a
	 * few instructions in a few cache lines */
	if (!e && !enroll_root)
		return 0;
	return exit_tracked(p, e);
}

/*
 * Enrolment: run by the agent through a task iterator once the root's tag
 * record exists. Every process whose real_parent chain reaches the root is
 * recorded with start times read from the task itself, so user space never
 * has to guess them from /proc's 10 ms clock ticks. Entries are updated in
 * place, never deleted, so a concurrent fork or exit stays consistent.
 *
 * Output (seq_file): one __u32 per active tag found nested below the root
 * (the agent re-parents it under the new tag), and a 0 when the map was full.
 * Every process recorded (or moved into the new tag) adds one to
 * enroll_added: the agent runs passes until one adds nothing, since a
 * process more than BG_MAX_DEPTH levels below anything recorded yet is
 * reached only by a later pass.
 */
SEC("iter/task")
int bg_enroll(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	__u32 root = enroll_root, tag = enroll_tag, tgid, cur, zero = 0, stale;
	struct bg_proc *e, n = {};
	__u64 start;

	/* A process whose threads have all exited (a zombie, or one on its way
	 * out) has passed, or is about to pass, its exit hook: an entry written
	 * now might never be deleted. */
	if (!task || task->pid != task->tgid || bg_group_dead(task))
		return 0;
	tgid = task->tgid;
	start = task->start_boottime;

	if (unenroll_tag) {
		/* a refused enrolment: what it recorded anew is untracked again */
		__u32 charge;

		e = bpf_map_lookup_elem(&procs, &tgid);
		if (!e || e->tag != unenroll_tag || !(e->flags & BG_PROC_ENROLLED))
			return 0;
		charge = e->charge;
		if (!bpf_map_delete_elem(&procs, &tgid)) {
			charge_release(charge);
			/* it entered what unenroll_tag resolves to now (its
			 * parent, the tag being merged into it; 0: none) */
			acct_leave(resolve_tag(unenroll_tag), 0, 0);
		}
		return 0;
	}

	if (adopt_pid) {
		/* `bpfguard adopt`: one process, not its existing children */
		if (tgid != adopt_pid || !tag)
			return 0;
		n.start = start;
		n.tag = tag;
		n.ppid = BPF_CORE_READ(task, real_parent, tgid);
		n.flags = BG_PROC_ADOPTED;
		if (enroll_charge) {
			n.charge = charge_take(enroll_charge - 1);
			if (!n.charge) {
				enroll_over = 1;
				return 0;
			}
		}
		e = bpf_map_lookup_elem(&procs, &tgid);
		stale = e ? e->charge : 0;
		cur = e && e->start == start ? resolve_tag(e->tag) : 0;
		if (record_proc(tgid, &n, BPF_ANY)) {
			charge_release(n.charge);
			stat_inc(BG_STAT_PROCS_FULL);
			bpf_seq_write(seq, &zero, sizeof(zero));
		} else {
			charge_release(stale);
			if (cur != tag) {
				if (cur)
					acct_leave(cur, 0, 0);
				acct_enter(tag, BG_NEST_WALK, 0);
			}
		}
		return 0;
	}

	if (!root || !enrol_descends(task))
		return 0;

	e = bpf_map_lookup_elem(&procs, &tgid);
	if (e && e->start == start) {
		/* moved by an earlier pass: a release's tag resolves to none */
		if (e->tag == tag)
			return 0;
		cur = resolve_tag(e->tag);
		if (cur == tag)
			return 0;
		/* re-tagged, not new: a rollback must leave it (ENROLLED off) */
		if (tgid == root) {
			e->tag = tag;
			e->flags = (e->flags | BG_PROC_ROOT) & ~BG_PROC_ENROLLED;
			enroll_count();
			acct_move(cur, tag);
		} else if (cur == enroll_parent || cur == 0) {
			e->tag = tag;
			e->flags &= ~(BG_PROC_ROOT | BG_PROC_ENROLLED);
			enroll_count();
			acct_move(cur, tag);
		} else {
			/* in a tag nested below the root: it will hang from
			 * this one, so its members count here (once: the
			 * first pass) */
			if (enroll_pass == 0)
				acct_move(enroll_parent, tag);
			bpf_seq_write(seq, &cur, sizeof(cur));
		}
		return 0;
	}

	n.start = start;
	n.tag = tag;
	n.ppid = BPF_CORE_READ(task, real_parent, tgid);
	n.flags = (tgid == root ? BG_PROC_ROOT : 0) | BG_PROC_ENROLLED;
	if (enroll_charge) {
		n.charge = charge_take(enroll_charge - 1);
		if (!n.charge) {
			enroll_over = 1; /* the agent refuses the tag, and rolls back */
			return 0;
		}
	}
	stale = e ? e->charge : 0; /* a dead process's entry, its pid reused */
	if (record_proc(tgid, &n, BPF_ANY)) {
		charge_release(n.charge);
		stat_inc(BG_STAT_PROCS_FULL);
		bpf_seq_write(seq, &zero, sizeof(zero));
		return 0;
	}
	charge_release(stale);
	stat_inc(BG_STAT_ENROLLED);
	enroll_count();
	acct_move(0, tag);
	return 0;
}

/*
 * The agent's sweep: list the live members of sweep_tag's lineage, as
 * struct bg_member records. Walking the tasks costs what the machine runs (a
 * few hundred processes); walking the procs map from user space costs every
 * preallocated bucket (131072 by default), whatever the lineage holds.
 *
 * With sweep_sig set, where the kernel has bpf_send_signal_task, the
 * iterator also signals each member it lists: one read() signals the whole
 * lineage, with the task in hand (no pid to reuse), in the agent's process
 * context where the signal is sent on the spot (no irq_work, unlike the
 * hooks). The agent pidfd-signals what the record says was not signalled.
 */
/*
 * The sweep's work on one recorded process @task (entry @e): is it the
 * recorded process and a member of sweep_tag's lineage? Then it is listed
 * (@m) and, where asked and allowed, signalled.
 */
static __always_inline bool sweep_one(struct task_struct *task, const struct bg_proc *e,
				      struct bg_member *m)
{
	struct bg_tag *t;

	if (e->start != task->start_boottime || !tag_within(e->tag, sweep_tag))
		return false;
	m->pid = task->tgid;
	m->start = e->start;
	m->flags = 0;
	bpf_probe_read_kernel_str(m->comm, sizeof(m->comm), task->comm);
	if (bg_group_dead(task)) {
		/* exiting: nothing to signal, but not gone yet */
		m->flags = BG_MEMBER_DYING;
		return true;
	}
	t = bpf_map_lookup_elem(&tags, &sweep_tag);
	if (!owner_may_signal(t, task))
		m->flags = BG_MEMBER_REFUSED;
	else if (sweep_sig && bg_can_signal_in_kernel() && m->pid != agent_tgid &&
		 !(sweep_spare_root && t && t->root_pid == m->pid && t->root_start == m->start)) {
		if (signal_group(task, sweep_sig))
			m->flags = BG_MEMBER_SIGNAL_FAILED;
		else
			m->flags = BG_MEMBER_SIGNALLED;
	}
	return true;
}

/*
 * The sweep where the kernel has bpf_task_from_pid (Linux >= 6.2): a
 * BPF_PROG_TYPE_SYSCALL program the agent runs (BPF_PROG_TEST_RUN), in its
 * own context, so bpf_send_signal_task signals on the spot. It reads the
 * pidmap words [sweep_cursor, sweep_words), one bit per tracked pid, and
 * looks up only the pids whose bit is set: its cost is the tracked processes
 * plus one word load per 64 pids up to the highest tracked pid (pid_hi),
 * never the machine's untracked processes. Members go to sweep_out; when it
 * could not hold another word's worth, the program stops and the agent runs
 * it again from sweep_cursor (loader_sweep).
 */
__noinline int sweep_pid(__u32 pid)
{
	struct bg_member *m;
	struct task_struct *task;
	struct bg_proc *v, e;
	__u32 n = sweep_n;
	bool listed = false;

	if (n >= BG_SWEEP_OUT || !bpf_task_from_pid || !bpf_task_release || !bpf_rcu_read_lock ||
	    !bpf_rcu_read_unlock)
		return 0;
	v = bpf_map_lookup_elem(&procs, &pid);
	if (!v)
		return 0;
	e = *v;
	if (!tag_within(e.tag, sweep_tag))
		return 0;
	task = bpf_task_from_pid((s32)pid);
	if (!task)
		return 0;
	m = &sweep_out[n];
	bpf_rcu_read_lock(); /* signal_group's open-coded iterator wants it */
	if (task->pid == task->tgid)
		listed = sweep_one(task, &e, m);
	bpf_rcu_read_unlock();
	bpf_task_release(task);
	if (listed)
		sweep_n = n + 1;
	return 0;
}

static long sweep_word(__u64 i, void *unused)
{
	__u32 w = sweep_cursor;
	__u64 *b, bits;

	if (w >= sweep_words || w >= BG_PIDMAP_WORDS || sweep_n + 64 > BG_SWEEP_OUT)
		return 1;
	sweep_cursor = w + 1;
	b = bpf_map_lookup_elem(&pidmap, &w);
	if (!b || !(bits = *b))
		return 0;
	for (int j = 0; j < 64; j++)
		if (bits & (1ULL << j))
			sweep_pid(w * 64 + j);
	return 0;
}

SEC("syscall")
int bg_sweep(void *ctx)
{
	if (sweep_tag)
		bpf_loop(BG_PIDMAP_WORDS, sweep_word, NULL, 0);
	return 0;
}

/* The same sweep as a task iterator over every task, where the kernel has
 * no bpf_task_from_pid (6.1): it costs what the machine runs. */
SEC("iter/task")
int bg_members(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct bg_member m = {};
	struct bg_proc *e;

	if (!task || !sweep_tag || task->pid != task->tgid)
		return 0;
	e = find_proc(task->tgid);
	if (e && sweep_one(task, e, &m))
		bpf_seq_write(ctx->meta->seq, &m, sizeof(m));
	return 0;
}
