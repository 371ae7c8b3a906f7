// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The agent: owns the pinned BPF state, answers the control socket, and kills
 * a tagged root's lineage when the exit program reports the root's death.
 *
 * One thread, one epoll: the ring buffer, the control socket and a signalfd.
 * The `deaths` map, not the ring buffer, is the list of work: the ring only
 * wakes us, so a dropped record or a death while no agent ran is still found.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/pidfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent.h"
#include "authz.h"
#include "bpfguard.h"
#include "bpfguard.skel.h"
#include "caller.h"
#include "control.h"
#include "events.h"
#include "lineage.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"
#include "parse.h"
#include "quota.h"
#include "ratelimit.h"
#include "reaper.h"
#include "render.h"
#include "statcache.h"

/* Without events the agent wakes this often to retry unfinished kills. */
#define TICK_MS 1000
#define TICK_NS (TICK_MS * 1000000ull)
/*
 * Work per wake-up of the kill path, so that clients and other deaths are
 * served between the sweeps of a large burst: at most this many sweeps (and
 * once this many members were signalled, no further sweep), and this many
 * deaths looked at, round-robin from where the last wake-up stopped.
 */
#define SWEEP_BUDGET 32
#define SWEEP_MEMBER_BUDGET 4096
#define DEATH_CHUNK 256
/* Deaths the ring announced, taken before the round-robin walk. */
#define FRESH_MAX 64
#define SCAN_CHUNK 4096
/*
 * Clients are read without blocking, each on its own deadline: one that
 * connects and stalls (half a request, or nothing) must not hold up the
 * others, nor a kill. The CLI sends its whole request right after connecting.
 */
#define CLIENT_TIMEOUT_MS 5000
#define MAX_CLIENTS 64
/* Client slots only privileged callers may take: a flood from unprivileged
 * uids (RL_CONNS_PER_UID each) never locks root out. */
#define PRIV_SLOTS 8
/*
 * Client work per wake-up of the loop, which handles deaths first every
 * time: a dying lineage waits for at most this much. A refused connection
 * costs a few syscalls, so 16 accepts drain the listen backlog (64) in four
 * wake-ups and root's connection is reached soon in a flood; a request can
 * cost milliseconds (a tag walks every task), so 8 (as many as one
 * epoll_wait reports) keep a wake-up short. What is left stays ready and
 * comes back at the next epoll_wait.
 */
#define ACCEPTS_PER_WAKE 16
#define SERVES_PER_WAKE 8

_Static_assert(BG_STAT_MAX <= sizeof(((struct bg_status *)0)->counters) / sizeof(uint64_t),
	       "status carries every counter");
_Static_assert(BG_ASTAT_MAX <= sizeof(((struct bg_status *)0)->agent_counters) / sizeof(uint64_t),
	       "status carries every agent counter");

struct grace {
	uint32_t tag;
	int sig;
	uint64_t deadline; /* CLOCK_MONOTONIC ns */
};

/* A connected client whose request is still arriving. */
struct client {
	int fd;
	int pidfd[BG_CTL_MAX_FDS];
	uint32_t got; /* bytes of req received */
	struct bg_req req;
	struct ucred cred;
	struct caller who; /* identified at accept (caller.c) */
	bool priv; /* who.priv: not counted in the per-uid limits */
	uint64_t deadline; /* CLOCK_MONOTONIC ns */
};

struct agent {
	struct loader l;
	struct client cl[MAX_CLIENTS];
	int ncl;
	struct grace *grace;
	size_t ngrace, grace_cap;
	int procs_fd, tags_fd, deaths_fd, stats_fd, meta_fd, quota_fd;
	int ncpus;
	int listen_fd, lock_fd, sig_fd, ep_fd;
	struct ring_buffer *rb;
	struct tag_table tt;
	pid_t self;
	int mode;
	uint32_t features;
	bool iter_kill; /* sweeps signal from the bg_members iterator (kfunc) */
	char kernel[64];
	bool stop;
	char sock_path[108], lock_path[108];
	/* observability (events.c, metrics.c): see the "events" section */
	bool verbose;
	struct events ev;
	struct metrics m;
	struct lat_hist lat;
	struct peer_probe pp; /* who is asking (caller.c) */
	uint64_t start_time, refused;
	uint64_t kill_ts;  /* death of the lineage being signalled (0: unknown) */
	bool kill_newborn; /* ... and the signal goes to a process born into it */
	uint64_t loss_seen[4];
	bool loss_primed;
	/* the kill path (see "killing"): pending kills, fair walk, budget */
	struct reaper rp;
	uint32_t cursor;  /* last deaths key visited that is still there */
	bool have_cursor; /* false: the walk starts at the map's first key */
	uint32_t fresh[FRESH_MAX];
	size_t nfresh;
	int budget;	   /* sweeps left in this wake-up */
	size_t budget_members;
	const struct bg_req *req; /* the request being answered, and by whom */
	struct ucred req_cred;
	bool req_priv;
	const char *req_what; /* what was refused when no request was read */
	int last_status;      /* of the last reply sent */
	/* what unprivileged clients may cost (ratelimit.h), and status's walks */
	struct ratelimit rl;
	struct rl_log refusals;
	struct stat_cache sc;
	int accepts_left, serves_left; /* this wake-up's client work */
	/* children killed for a quota since the last log line (one a second) */
	uint64_t limit_pending, limit_logged, quota_refused;
	uint32_t limit_pid, limit_uid, limit_tag;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- maps ------------------------------------------------------------- */

static int load_tags(struct agent *a)
{
	uint32_t key, next;
	struct bg_tag t;
	int err;

	tt_reset(&a->tt);
	for (err = bpf_map_get_next_key(a->tags_fd, NULL, &next); !err;
	     err = bpf_map_get_next_key(a->tags_fd, &key, &next)) {
		key = next;
		if (bpf_map_lookup_elem(a->tags_fd, &key, &t))
			continue; /* deleted meanwhile */
		if (tt_add(&a->tt, key, &t))
			return -ENOMEM;
	}
	return errno == ENOENT ? 0 : -errno;
}

static int put_tag(struct agent *a, uint32_t id, const struct bg_tag *t)
{
	if (bpf_map_update_elem(a->tags_fd, &id, t, BPF_ANY))
		return -errno;
	return 0;
}

typedef int (*proc_cb)(void *ctx, uint32_t pid, const struct bg_proc *p);

/*
 * Visit every entry of `procs`. Batched lookups cost one syscall per 4096
 * entries; a bucket larger than the batch (ENOSPC) falls back to walking
 * keys one by one. Entries change underneath: callers re-check what they act on.
 */
static int scan_procs(struct agent *a, proc_cb cb, void *ctx)
{
	static uint32_t keys[SCAN_CHUNK];
	static struct bg_proc vals[SCAN_CHUNK];
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint32_t in = 0, out = 0, count, key, next;
	bool first = true;
	int err, r;

	for (;;) {
		count = SCAN_CHUNK;
		err = bpf_map_lookup_batch(a->procs_fd, first ? NULL : &in, &out, keys, vals,
					   &count, &opts);
		if (err && errno != ENOENT)
			break;
		for (uint32_t i = 0; i < count; i++) {
			r = cb(ctx, keys[i], &vals[i]);
			if (r)
				return r;
		}
		if (err) /* ENOENT: that was the last batch */
			return 0;
		in = out;
		first = false;
	}
	if (errno != ENOSPC && errno != EINVAL && errno != 524 /* ENOTSUPP */ && errno != EOPNOTSUPP)
		return -errno;

	for (err = bpf_map_get_next_key(a->procs_fd, NULL, &next); !err;
	     err = bpf_map_get_next_key(a->procs_fd, &key, &next)) {
		struct bg_proc p;

		key = next;
		if (bpf_map_lookup_elem(a->procs_fd, &key, &p))
			continue;
		r = cb(ctx, key, &p);
		if (r)
			return r;
	}
	return 0;
}

/*
 * The per-CPU value buffers are zeroed first: the kernel fills all of them,
 * but valgrind's bpf() wrapper sizes a per-CPU value as one CPU's and would
 * see the others as uninitialised.
 */
static void stat_add(struct agent *a, uint32_t idx, uint64_t n)
{
	uint64_t vals[a->ncpus];

	memset(vals, 0, sizeof(vals));
	if (!n || bpf_map_lookup_elem(a->stats_fd, &idx, vals))
		return;
	vals[0] += n; /* agent-owned counters live in CPU 0's slot */
	bpf_map_update_elem(a->stats_fd, &idx, vals, BPF_ANY);
}

/* Counter @idx summed over the CPUs (0 if it cannot be read). */
static uint64_t stat_total(struct agent *a, uint32_t idx)
{
	uint64_t vals[a->ncpus], sum = 0;

	memset(vals, 0, sizeof(vals));
	if (!bpf_map_lookup_elem(a->stats_fd, &idx, vals))
		for (int c = 0; c < a->ncpus; c++)
			sum += vals[c];
	return sum;
}

static void stats_sum(struct agent *a, uint64_t *out, int n)
{
	for (uint32_t i = 0; i < (uint32_t)n && i < BG_STAT_MAX; i++)
		out[i] = stat_total(a, i);
}

/* Make room for one more element in a growing array. Returns 0 or -ENOMEM. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem, size_t first)
{
	size_t c = *cap ? *cap * 2 : first;
	void *p;

	if (n < *cap)
		return 0;
	p = realloc(*arr, c * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = c;
	return 0;
}

/* ---- events: hooks into the event stream and the logs ---------------- */

/* Events about a tag go to its unprivileged owner too, else to root only. */
static uint32_t audience(const struct bg_tag *t)
{
	return t && !(t->flags & BG_TAG_F_PRIV) ? t->owner_uid : EV_AUDIENCE_PRIV;
}

static int64_t since(uint64_t ts)
{
	return ts ? (int64_t)(now_ns() - ts) : -1;
}

/* A signal went to @pid of @tag's lineage (comm read before it was sent). */
/* @pid's number in its own PID namespace if it differs from the host's, else 0. */
static uint32_t ns_pid_of(uint32_t pid)
{
	struct proc_ids ids;

	if (read_proc_status((pid_t)pid, &ids) || !ids.nspid || (uint32_t)ids.nspid == pid)
		return 0;
	return (uint32_t)ids.nspid;
}

static void note_kill(struct agent *a, uint32_t tag, uint32_t pid, const char *comm, int sig)
{
	struct ev e = { .type = EV_KILL, .tag = tag, .pid = pid, .comm = comm, .sig = sig,
			.latency_ns = since(a->kill_ts), .flag = a->kill_newborn };

	if (!events_active(&a->ev) && !a->verbose)
		return; /* the kill path pays nothing more */
	if (a->verbose) {
		char q[96], name[16];

		json_quote(q, sizeof(q), comm);
		log_debug("tag %u: SIG%s to pid %u %s%s, %.3f ms after the root's exit", tag,
			  signal_name(sig, name, sizeof(name)), pid, q,
			  a->kill_newborn ? " (born into the dying lineage)" : "",
			  e.latency_ns >= 0 ? (double)e.latency_ns / 1e6 : -1.0);
	}
	e.nspid = ns_pid_of(pid);
	events_emit(&a->ev, &e, audience(tt_find(&a->tt, tag)));
}

/* The lineage of @tag's dead root is empty: a kill-latency sample (only
 * without a grace period: a grace would measure itself). */
static void note_lineage_dead(struct agent *a, uint32_t tag, uint64_t kills, int sweeps,
			      uint64_t death_ts)
{
	const struct bg_tag *t = tt_find(&a->tt, tag);
	struct ev e = { .type = EV_LINEAGE_DEAD, .tag = tag, .pid = t ? t->root_pid : 0,
			.count = kills, .total = (uint64_t)sweeps, .latency_ns = since(death_ts) };

	if (e.latency_ns >= 0 && t && !t->grace_ns)
		lat_add(&a->lat, (uint64_t)e.latency_ns / 1000);
	events_emit(&a->ev, &e, audience(t));
}

static const char *op_name(uint16_t op)
{
	static const char *const names[] = {
		[BG_OP_STATUS] = "status", [BG_OP_TAG] = "tag",	  [BG_OP_UNTAG] = "untag",
		[BG_OP_LIST] = "list",	   [BG_OP_UNLOAD] = "unload", [BG_OP_ADOPT] = "adopt",
		[BG_OP_EVENTS] = "events",
	};

	return op < sizeof(names) / sizeof(names[0]) && names[op] ? names[op] : "unknown";
}

/* Once a second at most: how many refusal lines were left out. */
static void flush_refusals(struct agent *a, uint64_t now)
{
	uint64_t n = rl_log_flush(&a->refusals, now);

	if (n)
		log_notice("refused requests: suppressed %llu similar lines (requests_refused "
			   "counts them all)", (unsigned long long)n);
}

/* Every error reply is a refused request: logged, counted, an event for
 * root and for the user who asked. */
static void on_reply(struct agent *a, int status, const char *msg)
{
	struct ev e = { .type = EV_REFUSED, .err = status, .msg = msg,
			.op = a->req_what ? a->req_what : "malformed" };

	a->last_status = status;
	if (!status)
		return;
	a->refused++;
	/* a flood of refusals must not become a flood of lines (nor events):
	 * counted always, told at most RL_LOG_LINES times a second unless
	 * the caller is privileged */
	flush_refusals(a, now_ns());
	if (!a->req_priv && !rl_log_allow(&a->refusals, now_ns()))
		return;
	e.uid = a->req_cred.uid;
	if (a->req) {
		e.op = op_name(a->req->op);
		e.pid = (uint32_t)a->req->pid;
		e.pid2 = (uint32_t)a->req->pid2;
	}
	log_notice("refused %s from uid %u (pid %d): %s", e.op, e.uid, a->req_cred.pid, msg);
	events_emit(&a->ev, &e, e.uid);
}

/* Every answer the agent sends goes through here, so that a refusal is
 * reported (on_reply) whoever sends it. */
static int __attribute__((format(printf, 6, 7)))
reply(struct agent *a, int fd, int status, const void *payload, uint32_t len, const char *fmt, ...)
{
	char msg[sizeof(((struct bg_rep *)0)->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	on_reply(a, status, msg);
	return ctl_send_rep(fd, status, payload, len, "%s", msg);
}

/* Loss counters that rose since the last look: a line each, and an event. */
static void check_losses(struct agent *a)
{
	static const uint32_t idx[] = { BG_STAT_RINGBUF_DROP, BG_STAT_PROCS_FULL,
					BG_STAT_DEATHS_FULL };
	uint64_t now[4];
	bool first = !a->loss_primed;

	for (size_t i = 0; i < 3; i++)
		now[i] = stat_total(a, idx[i]);
	now[3] = a->ev.dropped;
	for (size_t i = 0; i < 4; i++) {
		const char *name = i < 3 ? bg_stat_desc[idx[i]].name
					 : bg_astat_desc[BG_ASTAT_SUBS_DROPPED].name;
		struct ev e = { .type = EV_DROP, .counter = name, .total = now[i],
				.count = now[i] - a->loss_seen[i] };

		if (!first && now[i] > a->loss_seen[i]) {
			log_warn("%s rose by %llu to %llu", name, (unsigned long long)e.count,
				 (unsigned long long)now[i]);
			events_emit(&a->ev, &e, EV_AUDIENCE_PRIV);
		}
		a->loss_seen[i] = now[i];
	}
	a->loss_primed = true;
}

/* ---- who may do what: the facts authz.c decides on ----------------- */

/* The process @pid as authz.c needs it. Returns 0 or -ESRCH. */
static int target_facts(struct agent *a, pid_t pid, struct az_target *t)
{
	struct proc_stat st;
	struct proc_ids ids;

	*t = (struct az_target){ .init = pid == 1, .agent = pid == a->self };
	if (read_proc_stat(pid, &st) || read_proc_status(pid, &ids))
		return -ESRCH;
	t->kthread = st.flags & BG_PF_KTHREAD;
	t->ruid = ids.uid[0];
	t->suid = ids.uid[2];
	return 0;
}

/* Is the caller itself (its own entry, same start time) in @tag's lineage? */
static bool caller_inside(struct agent *a, const struct caller *c, uint32_t tag)
{
	struct bg_proc e;

	return c->known && c->pid &&
	       !bpf_map_lookup_elem(a->procs_fd, &c->pid, &e) && e.start == c->start &&
	       tt_within(&a->tt, e.tag, tag);
}

/* Tag @t as authz.c reads it, without the caller's place in it. */
static struct az_tag az_tag_of(const struct bg_tag *t)
{
	return (struct az_tag){ .priv = t && (t->flags & BG_TAG_F_PRIV),
				.owner_uid = t ? t->owner_uid : 0 };
}

/* ...and with it: is the caller in the lineage of @id? */
static struct az_tag tag_facts(struct agent *a, const struct caller *c, uint32_t id,
			       const struct bg_tag *t)
{
	struct az_tag at = az_tag_of(t);

	at.holds_caller = caller_inside(a, c, id);
	return at;
}

/* May the owner of tag @t signal @pid now? (the kill(2) rule, at kill time) */
static bool owner_may_signal(struct agent *a, const struct bg_tag *t, pid_t pid)
{
	struct caller owner = { .uid = t ? t->owner_uid : 0, .ruid = t ? t->owner_ruid : 0 };
	struct az_target tf;

	if (!t || (t->flags & BG_TAG_F_PRIV))
		return true;
	return !target_facts(a, pid, &tf) && az_may_signal(&owner, &tf);
}

/*
 * Answer a refusal, if @v is one, and return true. The facts were read
 * after the pidfd was opened: a process that died meanwhile may have left its
 * pid to another, so a verdict about it is thrown away ("has exited").
 */
static bool refuse(struct agent *a, int cfd, enum az_verdict v, int pidfd, int32_t typed,
		   const struct caller *c, uint32_t tag, const struct bg_tag *t)
{
	if (pidfd >= 0 && pidfd_exited(pidfd)) {
		reply(a, cfd, ESRCH, NULL, 0, "process %d has exited", typed);
		return true;
	}
	switch (v) {
	case AZ_OK:
		return false;
	case AZ_DENY_INIT:
		reply(a, cfd, EPERM, NULL, 0, "%s", az_reason(v));
		break;
	case AZ_DENY_KTHREAD:
		reply(a, cfd, EPERM, NULL, 0, "refusing pid %d: a kernel thread", typed);
		break;
	case AZ_DENY_AGENT:
		reply(a, cfd, EPERM, NULL, 0, "refusing the agent itself (pid %d)", typed);
		break;
	case AZ_DENY_SIGNAL:
		reply(a, cfd, EPERM, NULL, 0, "permission denied: uid %u may not signal pid %d",
			     c->uid, typed);
		break;
	case AZ_DENY_OWNER:
		reply(a, cfd, EPERM, NULL, 0, "permission denied: tag %u of pid %d belongs to %s",
			     tag, typed, t && (t->flags & BG_TAG_F_PRIV) ? "a privileged caller"
									: "another user");
		break;
	case AZ_DENY_MEMBER:
		reply(a, cfd, EPERM, NULL, 0, "permission denied: the caller (pid %u) is in the "
			     "lineage of tag %u: a member cannot untag or re-tag it", c->pid, tag);
		break;
	default:
		reply(a, cfd, az_errno(v), NULL, 0, "%s", az_reason(v));
	}
	return true;
}

/* ---- ended tags ------------------------------------------------------- */

/*
 * Tag ids are never reused, so the record of a tag that ended would stay in
 * the tags map for good, and after --max-tags tag/untag cycles every new tag
 * would be refused with no tag active. A record nobody needs goes:
 * - DETACHED (an untagged top-level tag): a missing record reads the same on
 *   both sides (resolve_tag, tt_resolve), so it can go at once;
 * - MERGED (an untagged nested tag): procs entries may still name it, to be
 *   forwarded to its parent (records are repointed past it when it merges,
 *   tt_plan_end; one an agent killed mid-untag left is, at the next start).
 *   Neither side ever writes a merged id anew (they record resolved tags),
 *   so once no entry and no surviving record names it, nothing will again.
 *   Those merged into a top-level tag go with it when it is untagged.
 * This scans every procs entry, so it runs only when the tags map is full.
 */
struct gc_rec {
	uint32_t id, parent, state;
	bool named, gone;
};

static int gc_cmp(const void *x, const void *y)
{
	uint32_t a = ((const struct gc_rec *)x)->id, b = ((const struct gc_rec *)y)->id;

	return a < b ? -1 : a > b;
}

struct gc {
	struct gc_rec *r;
	size_t n;
};

static struct gc_rec *gc_find(const struct gc *g, uint32_t id)
{
	struct gc_rec key = { .id = id };

	return id ? bsearch(&key, g->r, g->n, sizeof(*g->r), gc_cmp) : NULL;
}

static int gc_mark_entry(void *ctx, uint32_t pid, const struct bg_proc *p)
{
	struct gc_rec *r = gc_find(ctx, p->tag);

	(void)pid;
	if (r)
		r->named = true;
	return 0;
}

/* Returns how many records were dropped. */
static size_t gc_tags(struct agent *a)
{
	struct gc g = {};
	size_t dropped = 0;
	bool again = true;

	if (load_tags(a) || !a->tt.n)
		return 0;
	g.r = calloc(a->tt.n, sizeof(*g.r));
	if (!g.r)
		return 0;
	for (size_t i = 0; i < a->tt.n; i++)
		g.r[g.n++] = (struct gc_rec){ .id = a->tt.ids[i], .parent = a->tt.tags[i].parent,
					      .state = a->tt.tags[i].state };
	qsort(g.r, g.n, sizeof(*g.r), gc_cmp);
	if (scan_procs(a, gc_mark_entry, &g)) {
		free(g.r);
		return 0;
	}
	while (again) {
		bool *ref = calloc(g.n, sizeof(*ref));

		if (!ref)
			break;
		/* a merged record is needed while a surviving record names it */
		for (size_t i = 0; i < g.n; i++) {
			struct gc_rec *p = g.r[i].gone ? NULL : gc_find(&g, g.r[i].parent);

			if (p)
				ref[p - g.r] = true;
		}
		again = false;
		for (size_t i = 0; i < g.n; i++) {
			struct gc_rec *r = &g.r[i];

			if (r->gone || (r->state != BG_TAG_DETACHED &&
					(r->state != BG_TAG_MERGED || r->named || ref[i])))
				continue;
			if (!bpf_map_delete_elem(a->tags_fd, &r->id))
				dropped++;
			r->gone = again = true;
		}
		free(ref);
	}
	free(g.r);
	if (dropped)
		log_info("tags map full: dropped %zu record(s) of ended tags", dropped);
	return dropped;
}

/* Apply a plan's writes to the tags map, in its order (see bpfguard.h). */
static int apply_plan(struct agent *a, const struct tt_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct tt_write *w = &p->w[i];
		int err;

		if (w->del)
			err = bpf_map_delete_elem(a->tags_fd, &w->id) && errno != ENOENT ? -errno : 0;
		else
			err = put_tag(a, w->id, &w->rec);
		if (err) {
			log_err("tag %u: cannot write its record: %s", w->id, strerror(-err));
			return err;
		}
	}
	return 0;
}

/* Records forwarding twice (an agent died in the middle of end_tag's writes)
 * are repointed before anything forwards a third time. */
static void repair_tags(struct agent *a)
{
	struct tt_plan p = {};

	if (load_tags(a) == 0 && tt_plan_repair(&a->tt, &p) == 0 && p.n &&
	    apply_plan(a, &p) == 0)
		log_info("repointed %zu tag record(s) that forwarded through a merged tag", p.n);
	tt_plan_free(&p);
}

/*
 * An untagged (or never completed) tag: merged into its enclosing tag, or
 * gone at the top level; what named it is repointed (tt_plan_end). Reloads
 * a->tt: pointers into it are stale afterwards.
 */
static int end_tag(struct agent *a, uint32_t id)
{
	struct tt_plan p = {};
	int err = load_tags(a);

	if (!err)
		err = tt_plan_end(&a->tt, id, &p);
	if (!err)
		err = apply_plan(a, &p);
	tt_plan_free(&p);
	return err;
}

/* ---- quotas (the numbers and the tag rule: quota.c) ------------------- */

/* What is charged to @uid now (BG_QUOTA_TOTAL: every unprivileged owner). */
static uint64_t quota_used(struct agent *a, uint32_t uid)
{
	uint64_t v = 0;

	return bpf_map_lookup_elem(a->quota_fd, &uid, &v) ? 0 : v;
}

static bool holds_record(const struct agent *a, uint32_t uid, bool merged_only)
{
	for (size_t i = 0; i < a->tt.n; i++) {
		const struct bg_tag *t = &a->tt.tags[i];

		if (!(t->flags & BG_TAG_F_PRIV) && (uid == BG_QUOTA_TOTAL || t->owner_uid == uid) &&
		    (!merged_only || t->state == BG_TAG_MERGED))
			return true;
	}
	return false;
}

/*
 * Make room in the quota map: drop the keys of owners with nothing charged
 * and no tag record. Only the agent writes tag records, and the programs
 * charge an owner only for an entry under one of its tags, so nothing
 * charges such an owner until the agent writes it a record again (after
 * re-creating its key). Returns how many keys went.
 */
static size_t gc_quota(struct agent *a)
{
	uint32_t keys[256], key, next;
	size_t n = 0, dropped = 0;
	int err;

	if (load_tags(a))
		return 0;
	for (err = bpf_map_get_next_key(a->quota_fd, NULL, &next); !err && n < 256;
	     err = bpf_map_get_next_key(a->quota_fd, &key, &next)) {
		key = next;
		if (key != BG_QUOTA_TOTAL && !quota_used(a, key) && !holds_record(a, key, false))
			keys[n++] = key;
	}
	for (size_t i = 0; i < n; i++)
		if (!bpf_map_delete_elem(a->quota_fd, &keys[i]))
			dropped++;
	return dropped;
}

/* @uid's key in the quota map, before its first tag record: the programs
 * never create keys, and refuse a fork for an owner without one. */
static int quota_key(struct agent *a, uint32_t uid)
{
	uint64_t zero = 0;

	if (!bpf_map_update_elem(a->quota_fd, &uid, &zero, BPF_NOEXIST) || errno == EEXIST)
		return 0;
	if (errno == E2BIG && gc_quota(a) &&
	    (!bpf_map_update_elem(a->quota_fd, &uid, &zero, BPF_NOEXIST) || errno == EEXIST))
		return 0;
	return -errno;
}

static void quota_refusal(struct agent *a, int cfd, enum quota_verdict v, uint32_t uid, bool procs)
{
	char msg[200];

	quota_msg(msg, sizeof(msg), v, &a->l.q, uid, procs);
	a->quota_refused++;
	reply(a, cfd, EDQUOT, NULL, 0, "%s", msg);
}

/*
 * An unprivileged caller's new tag: within its own tag quota and the share
 * of the tags map, with its key in the quota map. Records of merged tags
 * count (they hold a slot while a member names them): when they are what
 * refuses, those nobody names are dropped and the count taken again.
 * Replies and returns true when refused.
 */
static bool quota_refuse_tag(struct agent *a, int cfd, const struct caller *c)
{
	enum quota_verdict v;
	uint32_t own, all;

	quota_count_tags(&a->tt, c->uid, &own, &all);
	v = quota_check(own, all, a->l.q.user_tags, a->l.q.unpriv_tags);
	if (v && holds_record(a, v == QUOTA_USER ? c->uid : BG_QUOTA_TOTAL, true) &&
	    gc_tags(a) && !load_tags(a)) {
		quota_count_tags(&a->tt, c->uid, &own, &all);
		v = quota_check(own, all, a->l.q.user_tags, a->l.q.unpriv_tags);
	}
	if (v) {
		quota_refusal(a, cfd, v, c->uid, false);
		return true;
	}
	if (quota_key(a, c->uid)) {
		reply(a, cfd, ENOSPC, NULL, 0, "quota map full (%u owners): no room for uid %u",
			     a->l.max_tags + 1, c->uid);
		return true;
	}
	return false;
}

/* Which process quota @uid was at, for the message (either, if neither now). */
static enum quota_verdict quota_procs_verdict(struct agent *a, uint32_t uid)
{
	enum quota_verdict v = quota_check((uint32_t)quota_used(a, uid),
					   (uint32_t)quota_used(a, BG_QUOTA_TOTAL),
					   a->l.q.user_procs, a->l.q.unpriv_procs);

	return v ? v : QUOTA_USER;
}

/* A refused enrolment of tag @id (already ended): delete the entries it
 * wrote anew, so nothing stays half-tagged or charged. */
static void unenrol(struct agent *a, uint32_t id)
{
	int err = loader_unenrol(&a->l, id);

	if (err)
		log_warn("tag %u: cannot undo the refused enrolment: %s", id, strerror(-err));
}

/* The log line for children killed for a quota: one a second at most. */
static void log_limits(struct agent *a)
{
	uint64_t now = now_ns();

	if (!a->limit_pending || now - a->limit_logged < 1000000000ull)
		return;
	log_warn("quota: %llu process(es) born beyond their owner's quota, killed at birth "
		 "(the last: pid %u of uid %u's tag %u)", (unsigned long long)a->limit_pending,
		 a->limit_pid, a->limit_uid, a->limit_tag);
	a->limit_pending = 0;
	a->limit_logged = now;
}

/* ---- killing ---------------------------------------------------------- */

struct victim {
	uint32_t pid;
	uint32_t flags; /* BG_MEMBER_SIGNALLED: the iterator sent the signal */
	uint64_t start;
	int fd;		/* its pidfd after the sweep signalled it, else -1 */
	bool unwatched; /* signalled, but no pidfd could be had (no fds left) */
	char comm[16];	/* as the iterator saw it */
};

struct sweep {
	struct agent *a;
	uint32_t tag;
	struct victim *v;
	size_t n, cap;
	uint32_t *refused; /* members the tag's owner may not signal (last sweep) */
	size_t nref, refcap;
	size_t sent;  /* signals sent by the last sweep */
	size_t fresh; /* ... to members the pending kill did not know yet */
	bool self_found;
};

/*
 * Signal one recorded descendant, only if it is still the process that was
 * recorded. The pidfd is opened first and the entry checked after: if the
 * pid had been reused, the recorded process passed its exit hook before its
 * pid was freed, which deleted the entry (or a new one has another start
 * time), so the check fails and the stranger is left alone.
 */
static int open_verified(struct agent *a, uint32_t tag, const struct victim *v)
{
	struct bg_proc now;
	int fd;

	fd = (int)pidfd_open((pid_t)v->pid, 0);
	if (fd < 0)
		return errno == ESRCH ? -ESRCH : -EMFILE; /* -EMFILE: alive, not watchable */
	if (bpf_map_lookup_elem(a->procs_fd, &v->pid, &now) || now.start != v->start ||
	    !tt_within(&a->tt, now.tag, tag)) {
		close(fd);
		return -ESRCH;
	}
	return fd;
}

static int kill_verified(struct agent *a, uint32_t tag, const struct victim *v, int sig)
{
	int fd;

	fd = open_verified(a, tag, v);
	if (fd < 0) {
		stat_add(a, BG_STAT_KILL_SKIPPED, 1);
		return fd;
	}
	if (pidfd_send_signal(fd, sig, NULL, 0)) {
		int err = -errno;

		close(fd);
		if (err != -ESRCH)
			stat_add(a, BG_STAT_KILL_FAILED, 1);
		return err;
	}
	note_kill(a, tag, v->pid, v->comm, sig);
	return fd;
}

/*
 * One sweep: send @sig to every verified member of @tag's lineage. The
 * bg_members iterator lists them (it walks the tasks, not the procs map's
 * buckets) and, where the kernel has bpf_send_signal_task, signals them
 * itself in the same read(): one syscall for the lineage instead of three
 * per member. Members it did not signal get @sig through a verified pidfd.
 * Each victim signalled keeps its pidfd (opened after the signal, to watch
 * its death) in .fd (the caller closes them: sweep_close). Members @known
 * already had it (a pending kill signalling again): no kill event, and not
 * counted in .fresh.
 */
static int signal_sweep(struct agent *a, struct sweep *s, int sig, struct pkill *known)
{
	const struct bg_tag *t = tt_find(&a->tt, s->tag);
	char *buf = NULL;
	size_t len = 0;
	int err;

	s->n = 0;
	s->nref = 0;
	s->sent = 0;
	s->fresh = 0;
	err = loader_sweep(&a->l, s->tag, a->iter_kill ? (uint32_t)sig : 0, &buf, &len);
	if (err)
		return err;
	for (size_t off = 0; off + sizeof(struct bg_member) <= len; off += sizeof(struct bg_member)) {
		struct bg_member m;

		memcpy(&m, buf + off, sizeof(m));
		/* the dead root: its entry lives until the end of its exit hook */
		if (t && t->root_pid == m.pid && t->root_start == m.start)
			continue;
		if ((pid_t)m.pid == a->self) {
			s->self_found = true;
			continue;
		}
		if (m.flags & BG_MEMBER_REFUSED) {
			if (grow((void **)&s->refused, &s->refcap, s->nref, sizeof(uint32_t), 16)) {
				free(buf);
				return -ENOMEM;
			}
			s->refused[s->nref++] = m.pid;
			continue;
		}
		if (grow((void **)&s->v, &s->cap, s->n, sizeof(*s->v), 256)) {
			free(buf);
			return -ENOMEM;
		}
		s->v[s->n] = (struct victim){ .pid = m.pid, .start = m.start, .fd = -1,
					      .flags = m.flags & BG_MEMBER_SIGNALLED };
		memcpy(s->v[s->n].comm, m.comm, sizeof(m.comm));
		s->v[s->n++].comm[sizeof(m.comm) - 1] = '\0';
	}
	free(buf);
	for (size_t i = 0; i < s->n; i++) {
		struct victim *v = &s->v[i];
		bool old = pk_find(known, v->pid, v->start);

		if (v->flags & BG_MEMBER_SIGNALLED) {
			if (!old)
				note_kill(a, s->tag, v->pid, v->comm, sig);
			v->fd = open_verified(a, s->tag, v); /* gone already: nothing to watch */
			v->unwatched = v->fd == -EMFILE;
		} else {
			v->fd = old ? open_verified(a, s->tag, v) : kill_verified(a, s->tag, v, sig);
			if (old && v->fd >= 0 && pidfd_send_signal(v->fd, sig, NULL, 0)) {
				close(v->fd);
				v->fd = -1;
			}
			if (v->fd < 0)
				continue;
		}
		s->sent++;
		if (!old)
			s->fresh++;
	}
	return 0;
}

static void sweep_close(struct sweep *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].fd >= 0)
			close(s->v[i].fd);
	s->n = 0;
}

static void sweep_free(struct sweep *s)
{
	sweep_close(s);
	free(s->v);
	free(s->refused);
}

/* Descendants an unprivileged tag's owner may not signal: reported once,
 * after the last sweep, and left alive. */
static void report_refused(struct agent *a, struct sweep *s)
{
	const struct bg_tag *t = tt_find(&a->tt, s->tag);

	stat_add(a, BG_STAT_KILL_REFUSED, s->nref);
	for (size_t i = 0; i < s->nref; i++) {
		struct ev e = { .type = EV_KILL_REFUSED, .tag = s->tag, .pid = s->refused[i],
				.uid = t ? t->owner_uid : 0,
				.msg = "the tag's owner may not signal it (kill(2) rule)" };
		char comm[16];

		log_warn("tag %u: pid %u not killed: the tag's owner (uid %u) may not signal it",
			 s->tag, s->refused[i], t ? t->owner_uid : 0);
		if (events_active(&a->ev)) {
			read_comm(s->refused[i], comm);
			e.comm = comm;
			events_emit(&a->ev, &e, audience(t));
		}
	}
}

static void report_self(struct agent *a, struct sweep *s)
{
	if (!s->self_found)
		return;
	stat_add(a, BG_STAT_SELF_SPARED, 1);
	log_warn("the agent itself descends from tag %u's root: spared", s->tag);
}

/*
 * A member still alive REAPER_STUCK_NS after its SIGKILL (uninterruptible
 * sleep: an unanswered FUSE request, a hung NFS server): reported once,
 * counted, and left to the pending kill, which signals it again each tick.
 */
static void report_stuck(struct agent *a, struct pkill *k, uint64_t now)
{
	const struct bg_tag *t = tt_find(&a->tt, k->tag);
	struct pk_member *m;
	size_t i = 0;

	while ((m = pk_next_stuck(k, &i, now))) {
		struct ev e = { .type = EV_STUCK, .tag = k->tag, .pid = m->pid, .comm = m->comm,
				.latency_ns = (int64_t)(now - m->first_sig) };
		struct bg_proc p;
		char q[96];

		/* no pidfd told of its death: its entry, deleted by its exit
		 * hook, does (a dead one is not stuck, and not reported again) */
		if (m->unwatched && (bpf_map_lookup_elem(a->procs_fd, &m->pid, &p) ||
				     p.start != m->start))
			continue;

		stat_add(a, BG_STAT_KILLS_STUCK, 1);
		json_quote(q, sizeof(q), m->comm);
		log_warn("tag %u: pid %u %s still alive %.1f s after SIGKILL (uninterruptible "
			 "sleep?): still watched and signalled again until it dies", k->tag, m->pid,
			 q, (double)(now - m->first_sig) / 1e9);
		e.nspid = ns_pid_of(m->pid);
		events_emit(&a->ev, &e, audience(t));
	}
}

/* The sweep found nobody left: the lineage is dead. (Its sweeps: those
 * that found someone to signal.) */
static void lineage_done(struct agent *a, struct sweep *s, struct pkill *k, uint64_t death_ts)
{
	uint64_t kills = k ? k->kills : 0;
	int sweeps = k ? k->sweeps : 0;

	report_self(a, s);
	report_refused(a, s);
	note_lineage_dead(a, s->tag, kills, sweeps, death_ts);
	log_info("tag %u: root died, killed %llu descendant(s) in %d sweep(s), "
		 "%.3f ms after the root's exit",
		 s->tag, (unsigned long long)kills, sweeps,
		 death_ts ? (double)(int64_t)(now_ns() - death_ts) / 1e6 : 0.0);
	reaper_drop(&a->rp, s->tag);
}

/* The sweep's signalled victims become @k's members (their identities
 * keep when they were first signalled); the previous members' pidfds go. */
static int pending_update(struct agent *a, struct pkill *k, struct sweep *s, uint64_t now)
{
	struct pkill old = *k;
	int err = 0;

	k->m = NULL;
	k->n = k->cap = k->live = 0;
	for (size_t i = 0; i < s->n; i++) {
		struct victim *v = &s->v[i];
		struct pk_member m = { .pid = v->pid, .start = v->start, .fd = v->fd,
				       .first_sig = now };

		if (v->fd < 0 && !v->unwatched)
			continue;
		m.unwatched = v->unwatched;
		v->fd = -1; /* k owns it now */
		memcpy(m.comm, v->comm, sizeof(m.comm));
		if (!err)
			err = pk_add(&a->rp, k, &m, &old);
		else if (m.fd >= 0)
			close(m.fd);
	}
	pk_clear(&old);
	free(old.m);
	return err;
}

/*
 * One step of killing every process recorded below @tag, never waiting. A
 * child can be born between a sweep and its parent's death (a fork already
 * past its fatal-signal check), so the lineage is swept again once the
 * members the last sweep signalled are dead, until a sweep finds nobody:
 * the cgroup.kill rule, done from the recorded lineage. While some live on
 * (dying, or stuck), it is swept again (signalled again) once per tick; and
 * after two sweeps in a row that found members but could watch none of them
 * die (pidfd_open or the signal refused), only once per tick too, rather
 * than in a busy loop.
 * Returns 0 when the lineage is empty, -EINPROGRESS while it is being
 * killed (*next: when to look again, if no pidfd wakes the loop first),
 * -EBUSY when this wake-up's sweep budget is spent, or an error.
 */
static int kill_step(struct agent *a, uint32_t tag, uint64_t death_ts, uint64_t *next)
{
	struct pkill *k = reaper_find(&a->rp, tag);
	struct sweep s = { .a = a, .tag = tag };
	uint64_t now = now_ns();
	int err;

	if (k) {
		uint64_t due = k->last_sweep + TICK_NS;

		report_stuck(a, k, now);
		if ((k->live || k->idle >= 2) && now < due) {
			if (due < *next)
				*next = due;
			return -EINPROGRESS;
		}
	}
	if (a->budget <= 0 || a->budget_members >= SWEEP_MEMBER_BUDGET)
		return -EBUSY;
	a->budget--;
	err = signal_sweep(a, &s, SIGKILL, k);
	a->budget_members += s.n;
	if (!err && !s.n) {
		lineage_done(a, &s, k, death_ts);
		sweep_free(&s);
		return 0;
	}
	k = err ? NULL : reaper_get(&a->rp, tag);
	if (!k) {
		sweep_free(&s);
		*next = now + TICK_NS < *next ? now + TICK_NS : *next;
		return err ? err : -ENOMEM;
	}
	stat_add(a, BG_STAT_KILLS, s.fresh);
	k->kills += s.fresh;
	k->sweeps++;
	k->last_sweep = now;
	err = pending_update(a, k, &s, now);
	sweep_free(&s);
	/* members listed but none signalled and watched (pidfd_open or the
	 * signal refused): twice in a row, and it is paced by the tick */
	k->idle = k->live ? 0 : k->idle + 1;
	if (k->idle == 2)
		log_warn("tag %u: lineage not empty yet, retrying each second", tag);
	/* all signalled ones dead already (or none watchable): sweep again
	 * on the next wake-up, which comes at once */
	if (!k->live && k->idle < 2)
		*next = now;
	else if (now + TICK_NS < *next)
		*next = now + TICK_NS;
	return err ? err : -EINPROGRESS;
}

/* A lineage in its grace period: signalled, SIGKILL due at .deadline. */
static struct grace *find_grace(struct agent *a, uint32_t tag)
{
	for (size_t i = 0; i < a->ngrace; i++)
		if (a->grace[i].tag == tag)
			return &a->grace[i];
	return NULL;
}

static void drop_grace(struct agent *a, uint32_t tag)
{
	struct grace *g = find_grace(a, tag);

	if (g)
		*g = a->grace[--a->ngrace];
}

/*
 * The root of @tag died and its tag asks for a signal and a grace period:
 * signal the lineage now (once per agent life: after a restart the lineage
 * is signalled again, since the previous agent may have died mid-sweep),
 * SIGKILL it at the deadline.
 */
static int start_grace(struct agent *a, uint32_t tag, const struct bg_tag *t, uint64_t deadline)
{
	struct sweep s = { .a = a, .tag = tag };
	struct grace *g;
	char name[16];
	int err;

	if (grow((void **)&a->grace, &a->grace_cap, a->ngrace, sizeof(*g), 16))
		return -ENOMEM;
	a->grace[a->ngrace++] = (struct grace){ .tag = tag, .sig = (int)t->signal,
						.deadline = deadline };
	a->budget--;
	err = signal_sweep(a, &s, (int)t->signal, NULL);
	a->budget_members += s.n;
	report_self(a, &s);
	log_info("tag %u: root died, SIG%s sent to %zu descendant(s), SIGKILL in %.3f s", tag,
		 signal_name((int)t->signal, name, sizeof(name)), s.sent,
		 (double)(int64_t)(deadline - now_ns()) / 1e9);
	sweep_free(&s);
	return err;
}

enum { H_KEPT, H_DELETED, H_GONE, H_BUDGET };

/*
 * One recorded death: kill at once, or signal and wait out the grace.
 * Never waits for a victim. *next: the time (CLOCK_MONOTONIC ns) it needs
 * looking at again, lowered only. Returns H_DELETED once the lineage is
 * dead (its tag and death deleted), H_GONE if there was no such death,
 * H_BUDGET if this wake-up's sweep budget is spent before it got its turn.
 */
static int handle_death(struct agent *a, uint32_t key, uint64_t *next)
{
	struct bg_tag *t = tt_find(&a->tt, key);
	struct grace *g = find_grace(a, key);
	bool budget_left = a->budget > 0 && a->budget_members < SWEEP_MEMBER_BUDGET;
	uint64_t deadline;
	struct bg_death d;
	int err;

	if (bpf_map_lookup_elem(a->deaths_fd, &key, &d))
		return H_GONE;
	if (t && t->state == BG_TAG_ACTIVE) {
		/* once per death, whichever agent takes it up */
		struct ev e = { .type = EV_ROOT_EXIT, .tag = key, .pid = d.root_pid,
				.sig = (int)t->signal, .grace_ns = t->grace_ns,
				.latency_ns = since(d.ts) };

		t->state = BG_TAG_DOOMED;
		put_tag(a, key, t);
		sc_invalidate(&a->sc); /* one active tag fewer */
		events_emit(&a->ev, &e, audience(t));
	}
	a->kill_ts = d.ts;
	deadline = d.ts + (t ? t->grace_ns : 0);
	if (t && t->signal != SIGKILL && t->grace_ns && now_ns() < deadline) {
		if (!g && !budget_left)
			return H_BUDGET;
		if (!g && start_grace(a, key, t, deadline))
			log_warn("tag %u: could not signal the whole lineage", key);
		if (deadline < *next)
			*next = deadline;
		return H_KEPT;
	}
	if (t && t->signal != SIGKILL && !t->grace_ns && !g) {
		/* a signal with no grace: it goes first, SIGKILL right after */
		if (!budget_left)
			return H_BUDGET;
		start_grace(a, key, t, deadline);
	}
	err = t ? kill_step(a, key, d.ts, next) : 0;
	if (err == -EBUSY)
		return H_BUDGET;
	if (err == -EINPROGRESS)
		return H_KEPT;
	if (err) {
		log_warn("tag %u: cannot sweep the lineage (%s), retrying", key, strerror(-err));
		if (now_ns() + TICK_NS < *next)
			*next = now_ns() + TICK_NS;
		return H_KEPT;
	}
	drop_grace(a, key);
	reaper_drop(&a->rp, key);
	/* Members left now (only the agent itself) become untracked. */
	bpf_map_delete_elem(a->tags_fd, &key);
	bpf_map_delete_elem(a->deaths_fd, &key);
	sc_invalidate(&a->sc);
	return H_DELETED;
}

/* Pending kills whose death is no longer recorded (unload, a tag that went):
 * nothing will look at them again. */
static void drop_orphans(struct agent *a)
{
	struct bg_death d;

	for (size_t i = a->rp.n; i-- > 0;) {
		uint32_t tag = a->rp.k[i].tag;

		if (bpf_map_lookup_elem(a->deaths_fd, &tag, &d))
			reaper_drop(&a->rp, tag);
	}
}

/*
 * Work through the recorded deaths, fairly and in bounded steps: first the
 * ones the ring just announced (a fresh death is signalled at once), then
 * up to DEATH_CHUNK of the deaths map from where the last call stopped: a
 * pass over the whole map takes as many wake-ups as it needs, back to back,
 * and the next pass starts at the beginning. The walk's cursor is the last
 * key visited that is still in the map (the next key of a deleted one would
 * be the map's first: restarting there would starve the keys behind it).
 * Returns the time
 * (CLOCK_MONOTONIC ns) to come back, UINT64_MAX if nothing is due: 0 if
 * the pass or the budget left work over (the loop serves its clients first).
 */
static uint64_t handle_deaths(struct agent *a)
{
	uint64_t next = UINT64_MAX;
	bool circled = false;
	uint32_t key;
	size_t visited = 0, f = 0;
	int r;

	a->budget = SWEEP_BUDGET;
	a->budget_members = 0;
	reaper_reap(&a->rp);
	if (bpf_map_get_next_key(a->deaths_fd, NULL, &key)) {
		drop_orphans(a);
		a->nfresh = 0;
		a->have_cursor = false;
		return next;
	}
	if (load_tags(a))
		return now_ns() + TICK_NS;

	for (; f < a->nfresh; f++)
		if (handle_death(a, a->fresh[f], &next) == H_BUDGET)
			break;
	a->nfresh -= f;
	memmove(a->fresh, a->fresh + f, a->nfresh * sizeof(a->fresh[0]));

	while (visited < DEATH_CHUNK) {
		if (bpf_map_get_next_key(a->deaths_fd, a->have_cursor ? &a->cursor : NULL, &key)) {
			/* the end of the map: this pass is over, the next one
			 * (on the next wake-up) starts at the beginning */
			a->have_cursor = false;
			circled = true;
			break;
		}
		visited++;
		r = handle_death(a, key, &next);
		if (r == H_BUDGET)
			break;
		if (r == H_KEPT) {
			a->cursor = key;
			a->have_cursor = true;
		}
	}
	if (!circled || a->nfresh)
		next = 0; /* more to do: straight after the clients */
	else
		drop_orphans(a);
	return next;
}

/*
 * A process born into a lineage being killed: give it what its lineage got
 * (SIGKILL, or the grace signal: the deadline is the lineage's). In kernel
 * mode the fork program did it already; this covers the -EBUSY case and the
 * kernels without the kfunc.
 */
static void on_birth(struct agent *a, const struct bg_event *ev)
{
	struct grace *g = find_grace(a, ev->tag);
	struct victim v = { .pid = ev->pid };
	struct bg_proc e;
	int fd;

	if (bpf_map_lookup_elem(a->procs_fd, &v.pid, &e))
		return; /* gone already */
	v.start = e.start;
	if (load_tags(a))
		return;
	if (!owner_may_signal(a, tt_find(&a->tt, ev->tag), (pid_t)v.pid))
		return; /* reported with the lineage's last sweep */
	if (events_active(&a->ev) || a->verbose) {
		struct bg_death d;

		a->kill_ts = bpf_map_lookup_elem(a->deaths_fd, &ev->tag, &d) ? 0 : d.ts;
	}
	a->kill_newborn = true;
	fd = kill_verified(a, ev->tag, &v, g ? g->sig : SIGKILL);
	a->kill_newborn = false;
	if (fd >= 0) {
		if (!g)
			stat_add(a, BG_STAT_KILLS, 1);
		close(fd);
	}
}

/*
 * A child born beyond its owner's quota: recorded, and killed at birth (in
 * kernel mode the fork program signalled it already). The record carries its
 * start time, so the pidfd is verified against the very process.
 */
static void on_limit(struct agent *a, const struct bg_event *ev)
{
	struct victim v = { .pid = ev->pid, .start = ev->ts };
	struct ev e = { .type = EV_LIMIT, .tag = ev->tag, .pid = ev->pid, .uid = ev->uid };
	const struct bg_tag *t;
	struct bg_proc p;
	char comm[16];
	int fd;

	a->limit_pending++;
	a->limit_pid = ev->pid;
	a->limit_uid = ev->uid;
	a->limit_tag = ev->tag;
	if (bpf_map_lookup_elem(a->procs_fd, &v.pid, &p) || p.start != v.start)
		return; /* dead already */
	/* the table is reloaded only for a tag it lacks: thousands of these
	 * may come in one burst */
	t = tt_find(&a->tt, ev->tag);
	if (!t && (load_tags(a) || !(t = tt_find(&a->tt, ev->tag))))
		return;
	if (events_active(&a->ev)) {
		read_comm(ev->pid, comm);
		e.comm = comm;
		events_emit(&a->ev, &e, audience(t));
	}
	if (!owner_may_signal(a, t, (pid_t)v.pid))
		return;
	fd = kill_verified(a, ev->tag, &v, SIGKILL);
	if (fd >= 0) {
		stat_add(a, BG_STAT_KILLS, 1);
		close(fd);
	}
}

/* A death the ring announced: taken first by the next handle_deaths. If
 * the list is full, the round-robin walk of the deaths map finds it. */
static void note_fresh(struct agent *a, uint32_t tag)
{
	for (size_t i = 0; i < a->nfresh; i++)
		if (a->fresh[i] == tag)
			return;
	if (a->nfresh < FRESH_MAX)
		a->fresh[a->nfresh++] = tag;
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct bg_event ev;

	if (len < sizeof(ev))
		return 0;
	memcpy(&ev, data, sizeof(ev));
	/* Deaths are handled from the deaths map once the ring is drained:
	 * the map, not the ring, is the work list. */
	if (ev.type == BG_EV_BIRTH)
		on_birth(ctx, &ev);
	else if (ev.type == BG_EV_DEATH)
		note_fresh(ctx, ev.tag);
	else if (ev.type == BG_EV_LIMIT)
		on_limit(ctx, &ev);
	return 0;
}

/* ---- requests --------------------------------------------------------- */

static pid_t pidfd_pid(int pidfd)
{
	pid_t pid = -1;

	return read_pidfd_pid(pidfd, &pid) ? -1 : pid;
}

/* Resolve the process a request names (@typed: the pid as the client typed
 * it, for messages) and gather what authz.c decides on. Replies on failure. */
static pid_t request_target(struct agent *a, int cfd, int32_t typed, int pidfd,
			    struct az_target *t)
{
	pid_t pid;

	if (pidfd < 0) {
		reply(a, cfd, EINVAL, NULL, 0, "request carries no pidfd");
		return -1;
	}
	pid = pidfd_pid(pidfd);
	if (pid <= 0 || pidfd_exited(pidfd) || target_facts(a, pid, t)) {
		reply(a, cfd, ESRCH, NULL, 0, "process %d has exited", typed);
		return -1;
	}
	return pid;
}

/* Coarse identity check of a procs entry against /proc (10 ms ticks). */
static bool entry_is_process(const struct bg_proc *e, pid_t pid)
{
	long hz = sysconf(_SC_CLK_TCK);
	struct proc_stat st;

	if (read_proc_stat(pid, &st) || hz <= 0)
		return false;
	return e->start / (1000000000ull / (uint64_t)hz) == st.starttime;
}

/* A tag was made (or, @updated, its signal and grace changed). */
static void note_tag(struct agent *a, uint32_t id, const struct bg_tag *t,
		     const struct caller *c, bool updated)
{
	struct ev e = { .type = EV_TAG, .tag = id, .pid = t->root_pid, .uid = c->uid,
			.priv = t->flags & BG_TAG_F_PRIV, .parent_tag = t->parent,
			.sig = (int)t->signal, .grace_ns = t->grace_ns, .flag = updated };
	char comm[16];

	if (updated)
		log_info("tag %u (pid %u) updated for uid %u: signal %u, grace %llu ms", id,
			 t->root_pid, c->uid, t->signal,
			 (unsigned long long)(t->grace_ns / 1000000ull));
	if (!events_active(&a->ev))
		return;
	read_comm(t->root_pid, comm);
	e.comm = comm;
	e.nspid = ns_pid_of(t->root_pid);
	events_emit(&a->ev, &e, audience(t));
}

static void op_tag(struct agent *a, int cfd, const struct bg_req *req, int pidfd,
		   const struct caller *c)
{
	struct bg_meta m;
	struct bg_proc e;
	struct bg_tag t = {};
	struct loader_enrol_req er;
	struct loader_enrolled res;
	uint32_t zero = 0, id, parent = 0, *out = NULL;
	size_t n = 0;
	int nested = 0, depth, err;
	struct az_target tf;
	bool full = false, unsettled = false, over;
	pid_t pid;

	/* The CLI validated these; a hand-made request is checked again. */
	if (req->signal > 64 || req->grace_ns > BG_GRACE_MAX_NS) {
		reply(a, cfd, EINVAL, NULL, 0, "invalid signal or grace");
		return;
	}
	pid = request_target(a, cfd, req->pid, pidfd, &tf);
	if (pid < 0)
		return;
	if (load_tags(a)) {
		reply(a, cfd, EIO, NULL, 0, "cannot read the tags map");
		return;
	}
	if (!bpf_map_lookup_elem(a->procs_fd, &pid, &e) && entry_is_process(&e, pid)) {
		uint32_t cur = tt_resolve(&a->tt, e.tag);
		struct bg_tag *own = tt_find(&a->tt, cur);

		if ((e.flags & BG_PROC_ROOT) && cur == e.tag && own && own->root_pid == (uint32_t)pid) {
			/* Tagging again updates how the lineage is ended: a
			 * change of the tag, for its owner to make, never from
			 * inside. The same values again change nothing: a
			 * member may repeat them. */
			uint32_t sig = req->signal ? req->signal : SIGKILL;
			bool same = sig == own->signal && req->grace_ns == own->grace_ns;
			struct az_tag at = tag_facts(a, c, cur, own);
			enum az_verdict v = az_check(AZ_RETAG, c, &tf, &at);

			if (same && v == AZ_DENY_MEMBER)
				v = AZ_OK;
			if (refuse(a, cfd, v, pidfd, req->pid, c, cur, own))
				return;
			own->signal = sig;
			own->grace_ns = req->grace_ns;
			put_tag(a, cur, own);
			note_tag(a, cur, own, c, true);
			reply(a, cfd, 0, NULL, 0, "pid %d is already tagged (tag %u)", req->pid, cur);
			return;
		}
		parent = cur;
	}
	if (refuse(a, cfd, az_check(AZ_TAG, c, &tf, NULL), pidfd, req->pid, c, 0, NULL))
		return;
	if (tt_depth(&a->tt, parent) + 1 > BG_MAX_NEST) {
		reply(a, cfd, ELOOP, NULL, 0, "tags nest at most %d deep: pid %d is in tag "
			     "%u, %d deep already", BG_MAX_NEST, req->pid, parent,
			     tt_depth(&a->tt, parent));
		return;
	}
	if (!c->priv && quota_refuse_tag(a, cfd, c))
		return;

	if (bpf_map_lookup_elem(a->meta_fd, &zero, &m)) {
		reply(a, cfd, EIO, NULL, 0, "cannot read the meta map");
		return;
	}
	id = m.next_tag++;
	if (!id || bpf_map_update_elem(a->meta_fd, &zero, &m, BPF_ANY)) {
		reply(a, cfd, EIO, NULL, 0, "cannot allocate a tag id");
		return;
	}
	t.root_pid = (uint32_t)pid;
	t.parent = parent;
	t.state = BG_TAG_ACTIVE;
	t.signal = req->signal ? req->signal : SIGKILL;
	t.grace_ns = req->grace_ns;
	t.owner_uid = c->uid;
	t.owner_ruid = c->ruid;
	t.flags = c->priv ? BG_TAG_F_PRIV : 0;
	err = put_tag(a, id, &t);
	if (err == -E2BIG && gc_tags(a))
		err = put_tag(a, id, &t);
	if (err) {
		reply(a, cfd, err == -E2BIG ? ENOSPC : -err, NULL, 0,
			     err == -E2BIG ? "tags map full (%u tags): raise --max-tags"
					   : "cannot write the tag record%.0u",
			     a->l.max_tags);
		if (err == -E2BIG)
			log_err("tags map full (%u): refused to tag pid %d", a->l.max_tags, pid);
		return;
	}

	/* the new entries are charged to an unprivileged caller */
	er = (struct loader_enrol_req){ .root = (uint32_t)pid, .tag = id, .parent = parent,
					.charge = c->priv ? 0 : c->uid + 1 };
	err = loader_enrol(&a->l, &er, &res);
	out = res.found;
	n = res.n;
	unsettled = res.unsettled;
	over = res.over;
	for (size_t i = 0; i < n; i++)
		if (!out[i])
			full = true;

	if (err || full || unsettled || over || bpf_map_lookup_elem(a->procs_fd, &pid, &e) ||
	    e.tag != id) {
		bool died = pidfd_exited(pidfd);

		if (died) {
			/* The root died while being tagged: its exit hook may have
			 * run before its entry existed. Kill what was enrolled. */
			struct bg_death d = { .ts = 0, .tag = id, .root_pid = (uint32_t)pid };

			bpf_map_update_elem(a->deaths_fd, &id, &d, BPF_NOEXIST);
			handle_deaths(a);
			reply(a, cfd, ESRCH, NULL, 0, "process %d exited while being tagged; "
				     "its descendants were killed", req->pid);
			free(out);
			return;
		}
		enum quota_verdict qv = over ? quota_procs_verdict(a, c->uid) : QUOTA_OK;

		end_tag(a, id);
		/* nothing half-tagged: what was recorded anew is untracked again */
		unenrol(a, id);
		if (over) {
			log_notice("uid %u's tag of pid %d refused: beyond its process quota",
				   c->uid, pid);
			quota_refusal(a, cfd, qv, c->uid, true);
		} else if (unsettled) {
			log_err("tag %u (pid %d): enrolment still recorded new processes after "
				"%d passes: refused", id, pid, BG_ENROLL_MAX_PASSES);
			reply(a, cfd, EAGAIN, NULL, 0, "enrolment of pid %d did not settle after "
				     "%d passes: tag refused", req->pid, BG_ENROLL_MAX_PASSES);
		} else if (full) {
			log_err("procs map full (%u): refused to tag pid %d", a->l.max_procs, pid);
			reply(a, cfd, ENOSPC, NULL, 0,
				     "procs map full (%u processes): raise --max-procs", a->l.max_procs);
		} else {
			reply(a, cfd, EIO, NULL, 0, "enrolment failed: %s",
				     strerror(err ? -err : EIO));
		}
		free(out);
		return;
	}

	/* Tags found nested below the new root now hang from it, unless that
	 * nests them too deep: then the new tag goes, as if never made. */
	if (load_tags(a) == 0) {
		for (size_t i = 0; i < n; i++)
			out[i] = tt_reparent_target(&a->tt, out[i], parent, id);
		depth = tt_depth_after_tag(&a->tt, parent, out, n);
		if (depth > BG_MAX_NEST) {
			end_tag(a, id);
			unenrol(a, id); /* and what it recorded, and charged */
			log_info("refused to tag pid %d: tags below it would nest %d deep", pid,
				 depth);
			reply(a, cfd, ELOOP, NULL, 0, "tags nest at most %d deep: tagging pid %d "
				     "would push tags below it %d deep", BG_MAX_NEST, req->pid, depth);
			free(out);
			return;
		}
		for (size_t i = 0; i < n; i++) {
			uint32_t x = out[i];
			struct bg_tag *tx = tt_find(&a->tt, x);

			if (x && tx && tx->parent != id) {
				tx->parent = id;
				put_tag(a, x, tx);
				nested++;
			}
		}
	}
	t.root_start = e.start;
	put_tag(a, id, &t);
	log_info("tagged pid %d as tag %u for uid %u%s%s, %d tag(s) below it re-parented", pid,
		 id, c->uid, c->priv ? "" : " (unprivileged)", parent ? " (nested)" : "", nested);
	note_tag(a, id, &t, c, false);
	reply(a, cfd, 0, NULL, 0, "tagged %d (tag %u%s)", req->pid, id,
		     parent ? ", nested" : "");
	free(out);
}

static void op_untag(struct agent *a, int cfd, const struct bg_req *req, int pidfd,
		     const struct caller *c)
{
	struct az_target tf;
	struct bg_proc e;
	struct az_tag at;
	struct bg_tag *t, was;
	uint32_t cur, into;
	pid_t pid;

	pid = request_target(a, cfd, req->pid, pidfd, &tf);
	if (pid < 0)
		return;
	if (load_tags(a)) {
		reply(a, cfd, EIO, NULL, 0, "cannot read the tags map");
		return;
	}
	if (bpf_map_lookup_elem(a->procs_fd, &pid, &e) || !(e.flags & BG_PROC_ROOT) ||
	    (cur = tt_resolve(&a->tt, e.tag)) != e.tag || !(t = tt_find(&a->tt, cur)) ||
	    t->root_pid != (uint32_t)pid || t->state != BG_TAG_ACTIVE) {
		/* whether a process is tagged is not told to who may not signal it */
		if (!refuse(a, cfd, az_check(AZ_TAG, c, &tf, NULL), pidfd, req->pid, c, 0, NULL))
			reply(a, cfd, ENOENT, NULL, 0, "pid %d is not tagged", req->pid);
		return;
	}
	at = tag_facts(a, c, cur, t);
	if (refuse(a, cfd, az_check(AZ_UNTAG, c, &tf, &at), pidfd, req->pid, c, cur, t))
		return;
	/* Members of a nested tag now count for the enclosing one; members of
	 * a top-level tag stop being tracked (their entries go at their exit). */
	into = tt_parent(&a->tt, cur);
	was = *t; /* end_tag reloads the table */
	if (end_tag(a, cur)) {
		reply(a, cfd, EIO, NULL, 0, "cannot write the tag record");
		return;
	}
	log_info("untagged pid %d (tag %u) for uid %u", pid, cur, c->uid);
	events_emit(&a->ev, &(struct ev){ .type = EV_UNTAG, .tag = cur, .pid = (uint32_t)pid,
					  .uid = c->uid, .parent_tag = into },
		    audience(&was));
	reply(a, cfd, 0, NULL, 0, "untagged %d", req->pid);
}

/*
 * `bpfguard adopt ROOT PID`: PID (and what it forks from now on) joins the
 * lineage of ROOT's innermost active tag, although ROOT did not fork it. The
 * exact start time is read by the enrolment iterator in its adopt mode, as
 * for tagged processes. PID's existing children are not included.
 */
static void op_adopt(struct agent *a, int cfd, const struct bg_req *req, const int *pidfd,
		     const struct caller *c)
{
	const struct bg_tag *tt_owner;
	struct az_target tf;
	struct bg_proc e;
	uint32_t tag, cur, charge;
	size_t len = 0;
	bool over;
	pid_t root, pid;
	int err;

	root = request_target(a, cfd, req->pid, pidfd[0], &tf);
	if (root < 0 || refuse(a, cfd, az_check(AZ_ADOPT, c, &tf, NULL), pidfd[0], req->pid, c, 0, NULL))
		return;
	pid = request_target(a, cfd, req->pid2, pidfd[1], &tf);
	if (pid < 0 || refuse(a, cfd, az_check(AZ_ADOPT, c, &tf, NULL), pidfd[1], req->pid2, c, 0, NULL))
		return;
	if (load_tags(a)) {
		reply(a, cfd, EIO, NULL, 0, "cannot read the tags map");
		return;
	}
	if (bpf_map_lookup_elem(a->procs_fd, &root, &e) || !entry_is_process(&e, root) ||
	    !(tag = tt_resolve(&a->tt, e.tag)) || tt_find(&a->tt, tag)->state != BG_TAG_ACTIVE) {
		reply(a, cfd, ENOENT, NULL, 0, "pid %d is not in a tagged lineage", req->pid);
		return;
	}
	if (!bpf_map_lookup_elem(a->procs_fd, &pid, &e) && entry_is_process(&e, pid) &&
	    (cur = tt_resolve(&a->tt, e.tag))) {
		if (tt_within(&a->tt, cur, tag)) {
			reply(a, cfd, 0, NULL, 0, "pid %d is already in tag %u's lineage",
				     req->pid2, tag);
		} else {
			reply(a, cfd, EEXIST, NULL, 0, "pid %d already belongs to tag %u",
				     req->pid2, cur);
		}
		return;
	}
	tt_owner = tt_find(&a->tt, tag);
	charge = tt_owner && !(tt_owner->flags & BG_TAG_F_PRIV) ? tt_owner->owner_uid + 1 : 0;
	/* the tag's owner pays */
	err = loader_adopt(&a->l, tag, (uint32_t)pid, charge, &over, &len);
	if (!err && over) {
		quota_refusal(a, cfd, quota_procs_verdict(a, charge - 1), charge - 1, true);
		return;
	}
	if (!err && len)
		err = -ENOSPC; /* the iterator writes only a map-full marker */
	if (!err && (bpf_map_lookup_elem(a->procs_fd, &pid, &e) || e.tag != tag))
		err = pidfd_exited(pidfd[1]) ? -ESRCH : -EIO;
	if (err) {
		reply(a, cfd, -err, NULL, 0, err == -ENOSPC ? "procs map full (%u processes): "
			     "raise --max-procs" : "cannot adopt pid %d%.0u",
			     err == -ENOSPC ? a->l.max_procs : (uint32_t)req->pid2, 0u);
		return;
	}
	log_info("adopted pid %d into tag %u (root pid %d) for uid %u", pid, tag, root, c->uid);
	if (events_active(&a->ev)) {
		struct ev e = { .type = EV_ADOPT, .tag = tag, .pid = (uint32_t)pid,
				.pid2 = (uint32_t)root, .uid = c->uid };
		char comm[16];

		read_comm((uint32_t)pid, comm);
		e.comm = comm;
		e.nspid = ns_pid_of((uint32_t)pid);
		events_emit(&a->ev, &e, audience(tt_find(&a->tt, tag)));
	}
	reply(a, cfd, 0, NULL, 0, "adopted %d into tag %u", req->pid2, tag);
}

struct counter {
	struct agent *a;
	uint32_t tracked;
};

static int count_member(void *ctx, uint32_t pid, const struct bg_proc *p)
{
	struct counter *c = ctx;
	uint32_t cur = tt_resolve(&c->a->tt, p->tag);
	struct bg_tag *t = tt_find(&c->a->tt, cur);

	if (!cur || (t && t->root_pid == pid && (p->flags & BG_PROC_ROOT)))
		return 0;
	c->tracked++;
	/* an unprivileged owner's status shows its own figures */
	if (t && !(t->flags & BG_TAG_F_PRIV))
		return sc_owner_add(&c->a->sc, t->owner_uid, 0, 1);
	return 0;
}

/*
 * Active tags and tracked descendants: a walk of the tags map and of every
 * bucket of procs, so not one per request (statcache.h). The counters of
 * what changes procs are read first: a change during the walk makes the
 * next exact answer walk again.
 */
static void status_figures(struct agent *a, struct bg_status *st, bool exact)
{
	const uint64_t sig[SC_SIG_N] = { st->counters[BG_STAT_FORK_TRACKED],
					 st->counters[BG_STAT_EXIT_TRACKED],
					 st->counters[BG_STAT_ENROLLED] };
	struct counter c = { .a = a };
	uint64_t now = now_ns();
	uint32_t tags = 0;

	if (!sc_fresh(&a->sc, sig, now, exact)) {
		load_tags(a);
		sc_owner_reset(&a->sc);
		for (size_t i = 0; i < a->tt.n; i++) {
			const struct bg_tag *t = &a->tt.tags[i];

			if (t->state != BG_TAG_ACTIVE)
				continue;
			tags++;
			if (!(t->flags & BG_TAG_F_PRIV))
				sc_owner_add(&a->sc, t->owner_uid, 1, 0);
		}
		scan_procs(a, count_member, &c);
		sc_store(&a->sc, sig, now, tags, c.tracked);
	}
	st->tags = a->sc.tags;
	st->tracked = a->sc.tracked;
}

/* The status snapshot: `status` and the metrics both show this. @exact:
 * tags and tracked as they are now, else up to SC_MAX_AGE_NS old. */
static void status_snapshot(struct agent *a, struct bg_status *st, bool exact)
{
	uint32_t own;

	memset(st, 0, sizeof(*st));
	st->mode = (uint32_t)a->mode;
	st->agent_pid = (uint32_t)a->self;
	st->features = a->features;
	memcpy(st->kernel, a->kernel, sizeof(st->kernel));
	stats_sum(a, st->counters, BG_STAT_MAX);
	status_figures(a, st, exact);
	st->max_procs = a->l.max_procs;
	st->max_tags = a->l.max_tags;
	st->agent_counters[BG_ASTAT_EVENTS] = a->ev.sent;
	st->agent_counters[BG_ASTAT_SUBS_DROPPED] = a->ev.dropped;
	st->agent_counters[BG_ASTAT_REFUSED] = a->refused;
	st->agent_counters[BG_ASTAT_METRICS_OK] = a->m.ok;
	st->agent_counters[BG_ASTAT_METRICS_BAD] = a->m.bad;
	st->start_time = a->start_time;
	st->subscribers = (uint32_t)a->ev.n;
	st->metrics_port = a->m.listen_fd >= 0 ? a->m.port : 0;
	st->lat_count = a->lat.count;
	st->lat_sum_us = a->lat.sum_us;
	memcpy(st->lat_buckets, a->lat.buckets, sizeof(st->lat_buckets));
	st->agent_counters[BG_ASTAT_QUOTA_REFUSED] = a->quota_refused;
	st->user_max_procs = a->l.q.user_procs;
	st->user_max_tags = a->l.q.user_tags;
	st->unpriv_max_procs = a->l.q.unpriv_procs;
	st->unpriv_max_tags = a->l.q.unpriv_tags;
	st->used_procs = (uint32_t)quota_used(a, BG_QUOTA_TOTAL);
	quota_count_tags(&a->tt, BG_QUOTA_TOTAL, &own, &st->used_tags);
}

/* For /metrics: anyone who reaches its port may scrape it. */
static void fill_status(void *ctx, struct bg_status *st)
{
	status_snapshot(ctx, st, false);
}

/*
 * A privileged caller gets the whole snapshot, exact. Anyone else gets the
 * agent's configuration and the figures of its own tags (from the same walk,
 * up to SC_MAX_AGE_NS old): no machine-wide counter, no other user's figure,
 * and the agent's pid only if it can see the agent.
 */
static void op_status(struct agent *a, int cfd, const struct caller *c)
{
	const struct sc_owner *own;
	struct bg_status st;
	uint32_t all;

	status_snapshot(a, &st, c->priv);
	if (!az_sees_machine(c)) {
		own = sc_owner_find(&a->sc, c->uid);
		st.scope = BG_STATUS_OWN;
		memset(st.counters, 0, sizeof(st.counters));
		memset(st.agent_counters, 0, sizeof(st.agent_counters));
		memset(st.lat_buckets, 0, sizeof(st.lat_buckets));
		st.lat_count = st.lat_sum_us = 0;
		st.subscribers = 0;
		if (!c->same_pidns)
			st.agent_pid = 0;
		st.tags = own ? own->tags : 0;
		st.tracked = own ? own->tracked : 0;
		/* the caller's own charges, not everyone's */
		st.used_procs = (uint32_t)quota_used(a, c->uid);
		quota_count_tags(&a->tt, c->uid, &st.used_tags, &all);
	}
	reply(a, cfd, 0, &st, sizeof(st), "enforcing");
}

/* Subscribe to the event stream: answer, then keep the connection (the
 * caller must not close it when this returns true). */
static bool op_events(struct agent *a, int cfd, const struct caller *c)
{
	int err = events_may_subscribe(&a->ev, c->uid, c->priv);

	if (err) {
		reply(a, cfd, EBUSY, NULL, 0, "too many event subscribers (at most %d, %d per "
			     "unprivileged user)", EV_MAX_SUBS, EV_MAX_SUBS_PER_UID);
		return false;
	}
	if (reply(a, cfd, 0, NULL, 0, "subscribed") ||
	    events_subscribe(&a->ev, cfd, c->uid, c->priv))
		return false;
	log_info("events: uid %u subscribed%s (%zu subscriber(s))", c->uid,
		 c->priv ? "" : " (its own tags only)", a->ev.n);
	return true;
}

/*
 * What `list` shows a caller: the tags it may see (az_sees_tag), and, for a
 * caller in another PID namespace, only the processes visible there, by
 * their pids there (@view, from peer_view). A tag whose root it cannot see is
 * left out with its processes.
 */
struct lister {
	struct agent *a;
	const struct caller *c;
	const struct bg_view *view;
	size_t nview;
	struct bg_list_proc *p;
	size_t n, cap;
};

/* @pid as the caller sees it: itself, or its number in the caller's PID
 * namespace (0: not visible there). */
static uint32_t seen_pid(const struct lister *l, uint32_t pid)
{
	return l->c->same_pidns ? pid : view_nr(l->view, l->nview, pid);
}

static bool lists_tag(const struct lister *l, uint32_t id)
{
	const struct bg_tag *t = tt_find(&l->a->tt, id);
	struct az_tag at = az_tag_of(t);

	return t && t->state == BG_TAG_ACTIVE && az_sees_tag(l->c, &at) &&
	       seen_pid(l, t->root_pid);
}

static int list_member(void *ctx, uint32_t pid, const struct bg_proc *e)
{
	struct lister *l = ctx;
	uint32_t cur = tt_resolve(&l->a->tt, e->tag), shown = seen_pid(l, pid);
	struct bg_list_proc *p;
	struct proc_ids ids;

	if (!cur || !shown || !lists_tag(l, cur))
		return 0;
	if (grow((void **)&l->p, &l->cap, l->n, sizeof(*p), 256))
		return -ENOMEM;
	p = &l->p[l->n++];
	memset(p, 0, sizeof(*p));
	p->pid = shown;
	p->ppid = seen_pid(l, e->ppid);
	p->tag = cur;
	p->flags = (e->flags & BG_PROC_ROOT) && cur == e->tag ? BG_PROC_ROOT : 0;
	p->flags |= e->flags & BG_PROC_ADOPTED;
	if (!read_proc_status((pid_t)pid, &ids) && ids.nspid && (uint32_t)ids.nspid != shown)
		p->nspid = (uint32_t)ids.nspid;
	read_comm(pid, p->comm);
	return 0;
}

static void op_list(struct agent *a, int cfd, const struct caller *c)
{
	struct lister l = { .a = a, .c = c };
	uint32_t hdr[2] = { 0, 0 };
	size_t ntag = 0, len;
	struct bg_view *view = NULL;
	char *buf;
	int err;

	if (load_tags(a)) {
		reply(a, cfd, EIO, NULL, 0, "cannot read the tags map");
		return;
	}
	if (!c->same_pidns) {
		if (!c->known || peer_view(&a->pp, c->pidns, c->pidns_level, &view, &l.nview)) {
			reply(a, cfd, EIO, NULL, 0, "cannot read what your PID namespace sees");
			return;
		}
		l.view = view;
	}
	err = scan_procs(a, list_member, &l);
	for (size_t i = 0; i < a->tt.n; i++)
		if (lists_tag(&l, a->tt.ids[i]))
			ntag++;
	len = sizeof(hdr) + ntag * sizeof(struct bg_list_tag) + l.n * sizeof(*l.p);
	buf = err ? NULL : malloc(len);
	if (!buf || len > BG_CTL_MAX_PAYLOAD) {
		reply(a, cfd, ENOMEM, NULL, 0, "cannot build the list");
		goto out;
	}
	hdr[0] = (uint32_t)ntag;
	hdr[1] = (uint32_t)l.n;
	memcpy(buf, hdr, sizeof(hdr));
	struct bg_list_tag *lt = (void *)(buf + sizeof(hdr));

	for (size_t i = 0; i < a->tt.n; i++) {
		uint32_t id = a->tt.ids[i], parent = tt_parent(&a->tt, id);

		if (!lists_tag(&l, id))
			continue;
		*lt++ = (struct bg_list_tag){
			.tag = id,
			.root_pid = seen_pid(&l, a->tt.tags[i].root_pid),
			.parent = lists_tag(&l, parent) ? parent : 0,
			.owner_uid = a->tt.tags[i].owner_uid,
			.flags = a->tt.tags[i].flags,
		};
	}
	if (l.n) /* l.p is NULL when nothing is tracked: memcpy(NULL) is UB */
		memcpy(lt, l.p, l.n * sizeof(*l.p));
	reply(a, cfd, 0, buf, (uint32_t)len, "ok");
out:
	free(buf);
	free(l.p);
	free(view);
}

/* Detach and unpin before answering, so `bpfguard unload` returns only once
 * nothing is attached any more. */
static void op_unload(struct agent *a, int cfd)
{
	int err;

	ring_buffer__free(a->rb);
	a->rb = NULL;
	loader_close(&a->l);
	err = loader_unpin_all(a->l.pin_dir);
	a->stop = true;
	if (err && err != -ENOENT) {
		log_err("unload: cannot remove %s: %s", a->l.pin_dir, strerror(-err));
		reply(a, cfd, -err, NULL, 0, "cannot remove %s: %s", a->l.pin_dir,
			     strerror(-err));
		return;
	}
	log_info("unloaded: detached and removed %s", a->l.pin_dir);
	reply(a, cfd, 0, NULL, 0, "unloaded %s", a->l.pin_dir);
}

/* Answer one complete, well-formed request. Returns true if the
 * connection was kept (an event subscriber), false if the caller closes it. */
static bool serve(struct agent *a, int cfd, struct bg_req *req, int *pidfd,
		  const struct ucred *cred, const struct caller *who)
{
	const struct caller c = *who;
	bool keep = false;

	a->req_cred = *cred; /* for on_reply() */
	a->req = req;
	if (req->flags) {
		reply(a, cfd, EINVAL, NULL, 0, "unknown request flags");
	} else {
		switch (req->op) {
		case BG_OP_STATUS:
			op_status(a, cfd, &c);
			break;
		case BG_OP_TAG:
			op_tag(a, cfd, req, pidfd[0], &c);
			break;
		case BG_OP_UNTAG:
			op_untag(a, cfd, req, pidfd[0], &c);
			break;
		case BG_OP_ADOPT:
			op_adopt(a, cfd, req, pidfd, &c);
			break;
		case BG_OP_LIST:
			op_list(a, cfd, &c);
			break;
		case BG_OP_UNLOAD:
			if (!refuse(a, cfd, az_check(AZ_UNLOAD, &c, NULL, NULL), -1, 0, &c, 0, NULL))
				op_unload(a, cfd);
			break;
		case BG_OP_EVENTS:
			keep = op_events(a, cfd, &c);
			break;
		default:
			reply(a, cfd, EINVAL, NULL, 0, "unknown request %u", req->op);
		}
	}
	/* the agent changed tags or entries: status must not answer from before */
	if ((req->op == BG_OP_TAG || req->op == BG_OP_UNTAG || req->op == BG_OP_ADOPT) &&
	    !a->last_status)
		sc_invalidate(&a->sc);
	a->req = NULL;
	return keep;
}

/* ---- set-up ----------------------------------------------------------- */

/*
 * The run directory holds the socket and the lock: it must be a directory
 * of the agent's own user that nobody else may write, or anyone could put
 * a socket of theirs where clients look for the agent (and collect their
 * pidfds) or the lock where the agent opens it.
 */
static int check_run_dir(const char *dir)
{
	struct stat st;

	if (lstat(dir, &st)) {
		log_err("cannot stat %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_err("%s is not a directory: refusing to use it", dir);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022)) {
		log_err("%s belongs to uid %u with mode %04o: it must be the agent's (uid %u) and "
			"writable by nobody else", dir, st.st_uid, st.st_mode & 07777, geteuid());
		return -EPERM;
	}
	return 0;
}

/* One agent per pin dir: an flock held for the agent's life. */
static int take_lock(struct agent *a, const char *pin_dir)
{
	int err = ctl_socket_path(pin_dir, "lock", a->lock_path, sizeof(a->lock_path));

	if (!err)
		err = ctl_socket_path(pin_dir, "sock", a->sock_path, sizeof(a->sock_path));
	if (err) {
		log_err("pin dir path too long: %s", pin_dir);
		return err;
	}
	if (mkdir("/run/bpfguard", 0755) && errno != EEXIST) {
		log_err("cannot create /run/bpfguard: %s", strerror(errno));
		return -errno;
	}
	err = check_run_dir("/run/bpfguard");
	if (err)
		return err;
	a->lock_fd = open(a->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (a->lock_fd < 0) {
		log_err("cannot open %s: %s", a->lock_path, strerror(errno));
		return -errno;
	}
	if (flock(a->lock_fd, LOCK_EX | LOCK_NB)) {
		log_err("another agent is already running for %s", pin_dir);
		return -EBUSY;
	}
	return 0;
}

static int open_socket(struct agent *a)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", a->sock_path);
	unlink(a->sock_path); /* stale: we hold the lock */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* Anyone may connect: each request is authorized from SO_PEERCRED.
	 * /run/bpfguard is root's (0755), so nobody else can replace it. */
	old = umask(0111);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 64)) {
		int err = -errno;

		umask(old);
		log_err("cannot listen on %s: %s", a->sock_path, strerror(errno));
		close(fd);
		return err;
	}
	umask(old);
	a->listen_fd = fd;
	return 0;
}

static int setup_signals(struct agent *a)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	a->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return a->sig_fd < 0 ? -errno : 0;
}

static int ep_add(struct agent *a, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(a->ep_fd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static void read_signals(struct agent *a)
{
	struct signalfd_siginfo si;

	while (read(a->sig_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			log_info("signal %u: stopping (tags stay enforced in the kernel)", si.ssi_signo);
			a->stop = true;
		}
	}
}

/* Event stream, refusal reports, loss watch, and (if asked) metrics. */
static int start_observers(struct agent *a, const struct agent_opts *o)
{
	int err;

	a->ev.ep_fd = a->m.ep_fd = a->ep_fd;
	check_losses(a); /* the baseline: only rises from now on are reported */
	if (!o->metrics_addr)
		return 0;
	err = metrics_open(&a->m, o->metrics_addr);
	if (err) {
		log_err("cannot serve metrics on %s: %s", o->metrics_addr, strerror(-err));
		return err;
	}
	log_info("metrics: serving http://%.*s:%u/metrics", (int)(strrchr(o->metrics_addr, ':') -
		 o->metrics_addr), o->metrics_addr, a->m.port);
	return 0;
}

/* ---- clients ---------------------------------------------------------- */

/* Forget a client; its connection is closed unless @keep_fd (a subscriber's
 * connection, which the event stream owns now). */
static void drop_client(struct agent *a, struct client *c, bool keep_fd)
{
	epoll_ctl(a->ep_fd, EPOLL_CTL_DEL, c->fd, NULL);
	if (!keep_fd)
		close(c->fd);
	for (int i = 0; i < BG_CTL_MAX_FDS; i++)
		if (c->pidfd[i] >= 0)
			close(c->pidfd[i]);
	if (!c->priv)
		rl_disconnect(&a->rl, c->cred.uid);
	*c = a->cl[--a->ncl];
}

/* A cheap answer to an unprivileged client over its limits, then gone:
 * nothing of its request is read. */
static void refuse_busy(struct agent *a, int fd, const struct ucred *cred, const char *what,
			const char *why)
{
	a->req_cred = *cred;
	a->req_priv = false;
	a->req_what = what;
	reply(a, fd, EBUSY, NULL, 0, "too many %s from uid %u", why, cred->uid);
	a->req_what = NULL;
}

/* The request is in (@err 0), malformed, late (-EAGAIN at the deadline) or
 * the client gone: answer what there is to answer, then drop the client. */
static void finish_client(struct agent *a, struct client *c, int err)
{
	bool keep = false;

	a->req_priv = c->priv;
	if ((!err || err == -EPROTO) && !c->priv && !rl_request(&a->rl, c->cred.uid, now_ns())) {
		/* the request rate of its uid (RL_RATE a second): refused unread */
		refuse_busy(a, c->fd, &c->cred, err ? "malformed" : op_name(c->req.op), "requests");
		drop_client(a, c, false);
		return;
	}
	if (!err) {
		a->serves_left--;
		/* an events request hands the fd to the stream, which adds it */
		epoll_ctl(a->ep_fd, EPOLL_CTL_DEL, c->fd, NULL);
		keep = serve(a, c->fd, &c->req, c->pidfd, &c->cred, &c->who);
	} else if (err == -EPROTO) {
		a->req_cred = c->cred;
		reply(a, c->fd, EPROTO, NULL, 0, "malformed request");
	} else if (err == -EAGAIN) {
		a->req_cred = c->cred;
		reply(a, c->fd, ETIMEDOUT, NULL, 0, "no complete request within %d ms",
			     CLIENT_TIMEOUT_MS);
	}
	drop_client(a, c, keep);
}

/* Read what the client sent; answer and drop it once the request is in,
 * malformed, or the client gone. */
static void client_readable(struct agent *a, struct client *c)
{
	int err;

	if (a->serves_left <= 0)
		return; /* this wake-up's share is done: it stays ready for the next */
	err = ctl_recv_some(c->fd, &c->req, &c->got, c->pidfd);

	if (err != -EAGAIN)
		finish_client(a, c, err);
}

/*
 * Drop the clients past their deadline. One whose request did arrive, but
 * whose turn had not come (a busy agent reads 8 events per wake-up), is
 * served, not refused: the deadline is for clients that do not send.
 */
static void expire_clients(struct agent *a, uint64_t now)
{
	for (int i = a->ncl - 1; i >= 0; i--) {
		struct client *c = &a->cl[i];

		if (now >= c->deadline)
			finish_client(a, c, ctl_recv_some(c->fd, &c->req, &c->got, c->pidfd));
	}
}

/* A privileged caller found every slot taken: the oldest unprivileged
 * client goes (there is one unless privileged callers hold them all). */
static void make_room(struct agent *a)
{
	struct client *old = NULL;

	for (int pass = 0; pass < 2 && !old; pass++)
		for (int i = 0; i < a->ncl; i++)
			if ((pass || !a->cl[i].priv) &&
			    (!old || a->cl[i].deadline < old->deadline))
				old = &a->cl[i];
	/* the oldest has had the longest to speak */
	a->req_cred = old->cred;
	a->req_priv = old->priv;
	reply(a, old->fd, EBUSY, NULL, 0, "too many clients: dropped");
	drop_client(a, old, false);
}

/* At most ACCEPTS_PER_WAKE at a time: the backlog's rest waits, ready. */
static void accept_clients(struct agent *a)
{
	int cfd;

	while (a->accepts_left > 0 &&
	       (cfd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = cfd };
		struct caller who;
		struct ucred cred;
		struct client *c;
		bool priv;

		a->accepts_left--;
		if (ctl_accept_setup(cfd, &cred)) {
			close(cfd);
			continue;
		}
		/* once per connection: its requests are answered for this caller */
		caller_identify(&a->pp, cfd, &cred, &who);
		priv = who.priv;
		if (!priv && (a->ncl == MAX_CLIENTS || rl_connect(&a->rl, cred.uid, now_ns()))) {
			refuse_busy(a, cfd, &cred, "connection", "connections");
			close(cfd);
			continue;
		}
		if (a->ncl == MAX_CLIENTS)
			make_room(a);
		c = &a->cl[a->ncl];
		*c = (struct client){ .fd = cfd, .pidfd = { -1, -1 }, .cred = cred, .who = who,
				      .priv = priv, .deadline = now_ns() + CLIENT_TIMEOUT_MS * 1000000ull };
		if (epoll_ctl(a->ep_fd, EPOLL_CTL_ADD, cfd, &ev)) {
			if (!priv)
				rl_disconnect(&a->rl, cred.uid);
			close(cfd);
			continue;
		}
		a->ncl++;
		/* the request usually came with the connection */
		client_readable(a, c);
	}
}

static struct client *find_client(struct agent *a, int fd)
{
	for (int i = 0; i < a->ncl; i++)
		if (a->cl[i].fd == fd)
			return &a->cl[i];
	return NULL;
}

/* epoll_wait's timeout: the next grace deadline, client deadline or tick. */
static int wait_ms(struct agent *a, uint64_t next_deadline)
{
	uint64_t now = now_ns(), t = now + TICK_MS * 1000000ull;

	if (next_deadline < t)
		t = next_deadline;
	for (int i = 0; i < a->ncl; i++)
		if (a->cl[i].deadline < t)
			t = a->cl[i].deadline;
	return t <= now ? 0 : (int)((t - now) / 1000000ull) + 1;
}

int agent_run(const struct agent_opts *o)
{
	struct agent a = { .listen_fd = -1, .lock_fd = -1, .sig_fd = -1, .ep_fd = -1 };
	uint64_t next_deadline;
	bool listening;
	int err, rc = 1;

	a.self = getpid();
	a.mode = o->mode;
	a.verbose = o->verbose;
	a.start_time = (uint64_t)time(NULL);
	events_init(&a.ev, -1);
	metrics_init(&a.m, -1);
	rl_init(&a.rl, MAX_CLIENTS - PRIV_SLOTS);
	reaper_init(&a.rp);
	a.ncpus = libbpf_num_possible_cpus();
	if (a.ncpus <= 0) {
		log_err("cannot count CPUs");
		return 1;
	}
	if (geteuid() != 0)
		log_warn("not running as root: loading BPF will likely fail");

	{
		struct utsname u;
		char desc[256];

		uname(&u);
		memcpy(a.kernel, u.release, sizeof(a.kernel) - 1);
		a.features = loader_probe_features(desc, sizeof(desc));
		log_info("kernel %s: %s", a.kernel, desc);
		if (loader_check_minimum(a.features))
			return 1;
		bool has_kfuncs = (a.features & BG_FEAT_SEND_SIGNAL_TASK) &&
				  (a.features & BG_FEAT_TASK_FROM_PID);

		if (o->mode == BG_MODE_KERNEL && !has_kfuncs) {
			log_err("--mode kernel needs the bpf_send_signal_task and bpf_task_from_pid "
				"kfuncs (Linux >= 6.13); this kernel lacks them: use --mode user");
			return 1;
		}
		/* auto: the kernel kills at the root's exit and the agent sweeps
		 * behind it; where the kfunc is missing the agent alone kills. */
		a.mode = o->mode == BG_MODE_AUTO ? (has_kfuncs ? BG_MODE_KERNEL : BG_MODE_USER)
						  : o->mode;
		/* either mode: the agent's sweeps signal from its task
		 * iterator where the kfunc exists, else through pidfds */
		a.iter_kill = a.features & BG_FEAT_SEND_SIGNAL_TASK;
		log_info("mode %s%s; the agent signals through %s", a.mode == BG_MODE_KERNEL ?
			 "kernel" : "user", o->mode == BG_MODE_AUTO ? " (auto)" : "",
			 a.iter_kill ? "its task iterator" : "pidfds");
	}
	err = take_lock(&a, o->pin_dir);
	if (err)
		goto out;
	err = loader_prepare_dir(o->pin_dir);
	if (err)
		goto out;
	err = loader_load(&a.l, &(struct loader_opts){
					.pin_dir = o->pin_dir,
					.max_procs = o->max_procs,
					.max_tags = o->max_tags,
					.ring_size = o->ring_size,
					.user_max_procs = o->user_max_procs,
					.user_max_tags = o->user_max_tags,
					.kernel_kill = a.mode == BG_MODE_KERNEL,
					.verbose = o->verbose,
				});
	if (err)
		goto out;
	a.procs_fd = bpf_map__fd(a.l.skel->maps.procs);
	a.tags_fd = bpf_map__fd(a.l.skel->maps.tags);
	a.deaths_fd = bpf_map__fd(a.l.skel->maps.deaths);
	a.stats_fd = bpf_map__fd(a.l.skel->maps.stats);
	a.meta_fd = bpf_map__fd(a.l.skel->maps.meta);
	a.quota_fd = bpf_map__fd(a.l.skel->maps.quota);
	err = loader_attach(&a.l);
	if (!err)
		err = peer_probe_open(&a.pp);
	if (err)
		goto out;
	repair_tags(&a);

	a.rb = ring_buffer__new(bpf_map__fd(a.l.skel->maps.events), on_event, &a, NULL);
	if (!a.rb) {
		err = -errno;
		log_err("cannot open the ring buffer: %s", strerror(errno));
		goto out;
	}
	err = setup_signals(&a);
	if (!err)
		err = open_socket(&a);
	if (err)
		goto out;
	a.ep_fd = epoll_create1(EPOLL_CLOEXEC);
	if (a.ep_fd < 0 || ep_add(&a, ring_buffer__epoll_fd(a.rb)) || ep_add(&a, a.listen_fd) ||
	    ep_add(&a, a.sig_fd) || reaper_open(&a.rp) < 0 || ep_add(&a, a.rp.ep_fd)) {
		err = -errno;
		log_err("epoll: %s", strerror(errno));
		goto out;
	}
	err = start_observers(&a, o);
	if (err)
		goto out;

	log_info("enforcing: pin dir %s, mode %s, max %u processes / %u tags, "
		 "ring buffer %u bytes, socket %s",
		 o->pin_dir, a.mode == BG_MODE_KERNEL ? "kernel" : "user", a.l.max_procs,
		 a.l.max_tags, a.l.ring_size, a.sock_path);
	log_info("quotas of each unprivileged uid: %u processes, %u tags; of all of them "
		 "together: %u processes, %u tags", a.l.q.user_procs, a.l.q.user_tags,
		 a.l.q.unpriv_procs, a.l.q.unpriv_tags);
	/* Roots that died while no agent ran. */
	ring_buffer__consume(a.rb);
	next_deadline = handle_deaths(&a);

	while (!a.stop) {
		struct epoll_event ev[8];
		int n;

		n = epoll_wait(a.ep_fd, ev, 8, wait_ms(&a, next_deadline));
		if (n < 0 && errno != EINTR) {
			log_err("epoll_wait: %s", strerror(errno));
			goto out;
		}
		/* Deaths first, whatever the clients send; then their share. */
		ring_buffer__consume(a.rb);
		next_deadline = handle_deaths(&a);
		a.accepts_left = ACCEPTS_PER_WAKE;
		a.serves_left = SERVES_PER_WAKE;
		listening = false;
		for (int i = 0; i < n && !a.stop; i++) {
			int fd = ev[i].data.fd;
			struct client *c;

			if (fd == a.sig_fd)
				read_signals(&a);
			else if (fd == a.rp.ep_fd)
				continue; /* a victim died: handle_deaths below */
			else if (fd == a.listen_fd)
				listening = true;
			else if ((c = find_client(&a, fd)))
				client_readable(&a, c);
			else if (!events_handle(&a.ev, fd, ev[i].events))
				metrics_handle(&a.m, fd, ev[i].events, now_ns(), fill_status, &a);
		}
		/* newcomers after the clients already in: they cannot crowd them out */
		if (listening && !a.stop)
			accept_clients(&a);
		expire_clients(&a, now_ns());
		if (a.stop)
			break;
		/* Always drain and check: a death found late is still a death. */
		ring_buffer__consume(a.rb);
		next_deadline = handle_deaths(&a);
		check_losses(&a);
		log_limits(&a);
		metrics_expire(&a.m, now_ns());
		flush_refusals(&a, now_ns());
	}
	rc = 0;
out:
	events_close_all(&a.ev, rc ? "agent failed" : "agent stopping");
	metrics_close(&a.m);
	while (a.ncl)
		drop_client(&a, &a.cl[0], false);
	if (a.listen_fd >= 0) {
		close(a.listen_fd);
		unlink(a.sock_path);
	}
	ring_buffer__free(a.rb);
	loader_close(&a.l);
	peer_probe_close(&a.pp);
	if (a.ep_fd >= 0)
		close(a.ep_fd);
	if (a.sig_fd >= 0)
		close(a.sig_fd);
	/* The lock file stays: unlinking it would let two agents each lock a
	 * different inode of the same name. */
	if (a.lock_fd >= 0)
		close(a.lock_fd);
	tt_free(&a.tt);
	sc_free(&a.sc);
	free(a.grace);
	reaper_close(&a.rp);
	return rc;
}
