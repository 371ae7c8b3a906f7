/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The control protocol between the CLI and the agent: a Unix stream socket.
 *
 * The client sends one fixed-size struct bg_req. For requests about a
 * process it attaches a pidfd (SCM_RIGHTS) that it opened itself in its own
 * PID namespace: the agent learns the host pid from the pidfd, so a pid typed
 * inside a container names the right process, and a pidfd cannot be redirected
 * to another process by pid reuse. The agent learns who is asking from
 * SO_PEERCRED, never from the request. The agent answers with one
 * struct bg_rep, followed by rep.len bytes of payload.
 */
#ifndef BPFGUARD_CTL_H
#define BPFGUARD_CTL_H

#include <stdint.h>

#define BG_CTL_MAGIC 0x62706667u /* "bpfg" */
#define BG_CTL_VERSION 7 /* 3: BG_OP_EVENTS, struct bg_status grew; 4: quotas in bg_status;
			  * 5: BG_OP_KILL, BG_OP_WAIT, bg_req.flags;
			  * 6: bg_list_tag.state and .root_status (killed tags listed),
			  * BG_OP_SIGNAL; 7: BG_OP_RELEASE, BG_REQ_F_ALLOW_BREAKAWAY,
			  * tag's req.pid2 (--max-procs), bg_list_tag's accounting */

enum bg_op {
	BG_OP_STATUS = 1,
	BG_OP_TAG = 2,	  /* pidfd attached */
	BG_OP_UNTAG = 3,  /* pidfd attached */
	BG_OP_LIST = 4,
	BG_OP_UNLOAD = 5, /* detach, remove the pins, stop */
	BG_OP_ADOPT = 6,  /* two pidfds: the tagged ROOT (req.pid), then PID (req.pid2) */
	BG_OP_EVENTS = 7, /* subscribe: after the reply, the connection carries
			   * JSON lines (one per event) until either side closes */
	BG_OP_KILL = 8,	  /* pidfd attached: signal the lineage of its innermost
			   * tag now, root included (req.signal, req.grace_ns);
			   * BG_REQ_F_WAIT: then answer as BG_OP_WAIT does */
	BG_OP_WAIT = 9,	  /* pidfd attached, or BG_REQ_F_BY_TAG: two answers,
			   * the first at once (payload struct bg_wait: the tag),
			   * the last when its lineage is empty (struct bg_wait,
			   * BG_WAIT_ENDED) */
	BG_OP_SIGNAL = 10, /* pidfd attached: req.signal (0: SIGTERM) to every
			    * member of its innermost tag's lineage, root
			    * included; the tag goes on */
	BG_OP_RELEASE = 11, /* pidfd attached: take it and its descendants,
			     * present and future, out of its lineage (a
			     * member, not a root); every tag it leaves must
			     * allow it (BG_TAG_F_BREAKAWAY) unless the caller
			     * is privileged, or the owner from outside */
};

/* bg_req.flags */
#define BG_REQ_F_WAIT 0x1   /* kill: and wait for the lineage to be empty */
#define BG_REQ_F_BY_TAG 0x2 /* wait: no pidfd; req.pid2 is the tag id */
#define BG_REQ_F_ALLOW_BREAKAWAY 0x4 /* tag: its members may be released (BG_TAG_F_BREAKAWAY) */

/* Largest --max-procs of a tag (2^24, the most a procs map holds). */
#define BG_TAG_MAX_PROCS (1 << 24)

/* The payload of BG_OP_WAIT's answers (and BG_OP_KILL's with BG_REQ_F_WAIT). */
struct bg_wait {
	uint32_t tag;
	uint32_t flags;	 /* BG_WAIT_* */
	uint32_t status; /* the root's wait(2) status, with BG_WAIT_ROOT_EXITED */
	uint32_t pad;
};
_Static_assert(sizeof(struct bg_wait) == 16, "bg_wait is a wire layout");

#define BG_WAIT_ENDED 0x1	/* the last answer: nothing of the lineage is left */
#define BG_WAIT_ROOT_EXITED 0x2 /* .status is the root's */
#define BG_WAIT_UNTAGGED 0x4	/* ended by untag: the lineage was let go, not emptied */

struct bg_req {
	uint32_t magic;
	uint16_t version;
	uint16_t op;	 /* enum bg_op */
	int32_t pid;	 /* the pid the user typed, in the client's namespace (for messages) */
	uint32_t flags;	 /* BG_REQ_F_*, as the op allows; others must be 0 */
	uint32_t signal; /* 0: default (SIGKILL) */
	int32_t pid2;	 /* adopt: the pid to register, as typed (for messages);
			  * wait with BG_REQ_F_BY_TAG: the tag id;
			  * tag: --max-procs (0: none, at most BG_TAG_MAX_PROCS) */
	uint64_t grace_ns; /* 0: none */
};
_Static_assert(sizeof(struct bg_req) == 32, "bg_req is a wire layout");

/*
 * rep.status is 0 on success or a positive errno. rep.msg is a one-line
 * human message (NUL-terminated) that the CLI prints: on stderr for errors.
 */
struct bg_rep {
	uint32_t magic;
	int32_t status;
	uint32_t len; /* payload bytes that follow */
	uint32_t pad;
	char msg[240];
};
_Static_assert(sizeof(struct bg_rep) == 256, "bg_rep is a wire layout");

/* Payload of BG_OP_STATUS. */
enum bg_mode {
	BG_MODE_USER = 1,
	BG_MODE_KERNEL = 2,
	BG_MODE_AUTO = 3, /* only as an agent option: resolved at start */
};

/* Kernel features the agent found (struct bg_status.features). */
enum bg_feature {
	BG_FEAT_BTF = 1u << 0,		  /* /sys/kernel/btf/vmlinux */
	BG_FEAT_RINGBUF = 1u << 1,	  /* BPF_MAP_TYPE_RINGBUF, 5.8 */
	BG_FEAT_TASK_ITER = 1u << 2,	  /* iter/task, 5.8 */
	BG_FEAT_TASK_FROM_PID = 1u << 3,  /* bpf_task_from_pid kfunc, 6.2 */
	BG_FEAT_SEND_SIGNAL_TASK = 1u << 4, /* bpf_send_signal_task kfunc, 6.13 */
	BG_FEAT_GROUP_DEAD_ARG = 1u << 5, /* sched_process_exit has group_dead */
};

/*
 * Does the exit program signal a dying root's lineage itself? In kernel mode,
 * where sched_process_exit fires before exit_mm(): Linux 6.16 moved it there
 * and gave it group_dead, so the argument tells. Before, bpf_send_signal_task
 * refuses (-EPERM) from that hook (nmi_uaccess_okay() fails for a task that
 * has dropped its mm), and the agent's sweep signals the lineage in-kernel
 * from its task iterator instead, in process context.
 */
static inline int bg_exit_hook_kills(uint32_t mode, uint32_t features)
{
	return mode == BG_MODE_KERNEL && (features & BG_FEAT_SEND_SIGNAL_TASK) &&
	       (features & BG_FEAT_GROUP_DEAD_ARG);
}

struct bg_status {
	uint32_t mode;	     /* enum bg_mode in force */
	uint32_t agent_pid;
	uint32_t features;   /* enum bg_feature */
	uint32_t scope;	     /* BG_STATUS_OWN: the figures are the caller's own */
	char kernel[64];     /* uname release */
	uint32_t tags;	     /* active tags */
	uint32_t tracked;    /* tracked descendants (members that are not roots) */
	uint32_t max_procs;
	uint32_t max_tags;
	uint64_t counters[16]; /* enum bg_stat, summed over CPUs */
	/* since version 3: what the agent itself counted (reset when it restarts) */
	uint64_t agent_counters[8]; /* enum bg_agent_stat */
	uint64_t start_time;	    /* the agent's start, CLOCK_REALTIME seconds */
	uint32_t subscribers;	    /* event stream subscribers now */
	uint32_t metrics_port;	    /* --metrics port, 0 if not serving */
	/*
	 * Kill latency, the root's exit (as the kernel stamped it) to the
	 * agent finding its lineage empty, of lineages killed without a grace
	 * period: lat_buckets[i] counts latencies in (2^(i-1), 2^i] us
	 * (lat_buckets[0]: <= 1 us), the last bucket those above 2^32 us.
	 */
	uint64_t lat_count;
	uint64_t lat_sum_us;
	uint64_t lat_buckets[34]; /* BG_LAT_BUCKETS */
	/* since version 4: the quotas of unprivileged owners (README, "Quotas") */
	uint32_t user_max_procs;   /* --user-max-procs: per owner uid */
	uint32_t user_max_tags;	   /* --user-max-tags: per owner uid */
	uint32_t unpriv_max_procs; /* every unprivileged owner together */
	uint32_t unpriv_max_tags;
	/* what is charged now: scope own, the caller's; else every
	 * unprivileged owner's together */
	uint32_t used_procs;
	uint32_t used_tags;
};
_Static_assert(sizeof(struct bg_status) == 32 + 64 + 128 + 64 + 16 + 16 + 34 * 8 + 24,
	       "bg_status is a wire layout");

/*
 * bg_status.scope: an unprivileged caller is shown its own tags' figures
 * only, and no machine-wide counter (they stay 0); see user/authz.h.
 */
#define BG_STATUS_OWN 0x1

#define BG_LAT_BUCKETS 34
/* Upper bound of lat_buckets[i] in us, for i < BG_LAT_BUCKETS - 1. */
#define BG_LAT_LE_US(i) (1ull << (i))

/* Counters the agent keeps in memory (struct bg_status.agent_counters). */
enum bg_agent_stat {
	BG_ASTAT_EVENTS,	/* event lines queued to subscribers */
	BG_ASTAT_SUBS_DROPPED,	/* subscribers dropped: did not read (backlog full) */
	BG_ASTAT_REFUSED,	/* control requests answered with an error */
	BG_ASTAT_METRICS_OK,	/* /metrics scrapes served */
	BG_ASTAT_METRICS_BAD,	/* HTTP requests refused, timed out or over the limit */
	BG_ASTAT_QUOTA_REFUSED,	/* tags, enrolments, adoptions refused for a quota */
	BG_ASTAT_MAX,
};

/*
 * Payload of BG_OP_LIST: uint32_t ntags, uint32_t nprocs, then ntags
 * struct bg_list_tag, then nprocs struct bg_list_proc. Every proc's tag is
 * a tag listed before it; roots carry BG_PROC_ROOT. A tag is listed while
 * it is active, and while its lineage is being killed (BG_LIST_KILLING: its
 * root died, or `bpfguard kill`) until nothing of it is left.
 */
struct bg_list_tag {
	uint32_t tag;
	uint32_t root_pid;
	uint32_t parent; /* listed enclosing tag, 0 if top level */
	uint32_t owner_uid; /* who tagged it (effective uid) */
	uint32_t flags;	    /* BG_TAG_F_* */
	uint32_t state;	    /* BG_LIST_* */
	uint32_t root_status; /* the root's wait(2) status, with BG_LIST_ROOT_EXITED */
	uint32_t max_procs; /* --max-procs, 0: none */
	/* with BG_LIST_ACCT, what the lineage did since the tag (bg_acct) */
	uint64_t born, exited, live, peak;
	uint64_t cpu_exited_ns; /* the exited members' CPU time */
};
_Static_assert(sizeof(struct bg_list_tag) == 72, "bg_list_tag is a wire layout");

#define BG_LIST_KILLING 0x1	/* the lineage is being killed */
#define BG_LIST_ROOT_EXITED 0x2 /* its root is gone: root_status holds how */
#define BG_LIST_ACCT 0x4	/* born..cpu_exited_ns hold its accounting */

struct bg_list_proc {
	uint32_t pid;	/* host pid (the agent's namespace) */
	uint32_t ppid;	/* recorded at fork (or at enrolment) */
	uint32_t tag;	/* innermost active tag */
	uint32_t flags; /* BG_PROC_ROOT, BG_PROC_ADOPTED */
	char comm[16];
	uint32_t nspid; /* pid in its own PID namespace, 0 if the same as .pid */
	uint32_t pad;
};
_Static_assert(sizeof(struct bg_list_proc) == 40, "bg_list_proc is a wire layout");

#endif /* BPFGUARD_CTL_H */
