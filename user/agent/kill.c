// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Killing a lineage: sweeps that signal its verified members, and the
 * pending kill that watches them die (reaper.c) until a sweep finds nobody.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/pidfd.h>

#include "agent_priv.h"
#include "deathrule.h"
#include "log.h"
#include "parse.h"
#include "render.h"

struct sweep {
	uint32_t tag;
	uint64_t death_ts; /* the root's exit (0: unknown), for the kill events */
	struct victim *v;
	size_t n, cap;
	uint32_t *refused; /* members the tag's owner may not signal (last sweep) */
	size_t nref, refcap;
	size_t sent;  /* signals sent by the last sweep */
	size_t fresh; /* ... to members the pending kill did not know yet */
	bool self_found;
};

/* Was @tag's lineage killed on request (`bpfguard kill`), not by its root's death? */
static bool requested(struct agent *a, uint32_t tag)
{
	struct bg_death d;

	return !store_death(&a->st, tag, &d) && (d.flags & BG_DEATH_REQUESTED);
}

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
	if (store_proc(&a->st, v->pid, &now) || now.start != v->start ||
	    !tt_within(&a->tt, now.tag, tag)) {
		close(fd);
		return -ESRCH;
	}
	return fd;
}

/* @death_ts: the root's exit (0: unknown); @newborn: @v was born into the
 * dying lineage (for the kill event). */
int kill_verified(struct agent *a, uint32_t tag, const struct victim *v, int sig,
		  uint64_t death_ts, bool newborn)
{
	int fd;

	fd = open_verified(a, tag, v);
	if (fd < 0) {
		store_stat_add(&a->st, BG_STAT_KILL_SKIPPED, 1);
		return fd;
	}
	if (pidfd_send_signal(fd, sig, NULL, 0)) {
		int err = -errno;

		close(fd);
		if (err != -ESRCH)
			store_stat_add(&a->st, BG_STAT_KILL_FAILED, 1);
		return err;
	}
	note_kill(a, tag, v->pid, v->comm, sig, death_ts, newborn);
	return fd;
}

/* The verified members of the lineage, in s->v (their pidfds not opened
 * yet), the refused ones in s->refused, the root left out when
 * @root_spared; with @sig (not 0) the iterator signals those it can. */
static int list_members(struct agent *a, struct sweep *s, int sig, bool root_spared)
{
	const struct bg_tag *t = tt_find(&a->tt, s->tag);
	char *buf = NULL;
	size_t len = 0;
	int err;

	s->n = 0;
	s->nref = 0;
	s->sent = 0;
	s->fresh = 0;
	err = loader_sweep(&a->st.l, s->tag, a->iter_kill ? (uint32_t)sig : 0, root_spared, &buf,
			   &len);
	if (err)
		return err;
	for (size_t off = 0; off + sizeof(struct bg_member) <= len; off += sizeof(struct bg_member)) {
		struct bg_member m;

		memcpy(&m, buf + off, sizeof(m));
		/* the dead root: its entry lives until the end of its exit hook
		 * (exiting, it is watched to its end all the same) */
		if (root_spared && !(m.flags & BG_MEMBER_DYING) && t && t->root_pid == m.pid &&
		    t->root_start == m.start)
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
					      .flags = m.flags & (BG_MEMBER_SIGNALLED | BG_MEMBER_DYING) };
		memcpy(s->v[s->n].comm, m.comm, sizeof(m.comm));
		s->v[s->n++].comm[sizeof(m.comm) - 1] = '\0';
	}
	free(buf);
	return 0;
}

/*
 * A pidfd to watch @v die by, never to signal it through: the recorded
 * process (open_verified), or one past its exit hook (which deleted its
 * entry) that has not exited yet, as its start time in /proc shows (a pid
 * reused since has another). Such a process runs no more user code but
 * still holds its memory and files: its lineage is empty only once it is
 * gone, which its pidfd tells.
 */
static int open_watch(struct agent *a, uint32_t tag, const struct victim *v)
{
	static long hz;
	struct proc_stat st;
	int fd = open_verified(a, tag, v);

	if (fd != -ESRCH)
		return fd;
	fd = (int)pidfd_open((pid_t)v->pid, 0);
	if (fd < 0)
		return errno == ESRCH ? -ESRCH : -EMFILE;
	if (!hz)
		hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0 || read_proc_stat((pid_t)v->pid, &st) ||
	    st.starttime != v->start / (1000000000ull / (unsigned long long)hz)) {
		close(fd);
		return -ESRCH;
	}
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
	/* the root is a victim too when the kill was asked for (it lives) */
	int err = list_members(a, s, sig, !requested(a, s->tag));

	if (err)
		return err;
	for (size_t i = 0; i < s->n; i++) {
		struct victim *v = &s->v[i];
		bool old = pk_find(known, v->pid, v->start);

		if (v->flags & BG_MEMBER_DYING) {
			v->fd = open_watch(a, s->tag, v); /* watched, never signalled */
			continue;
		}
		if (v->flags & BG_MEMBER_SIGNALLED) {
			if (!old)
				note_kill(a, s->tag, v->pid, v->comm, sig, s->death_ts, false);
			v->fd = open_watch(a, s->tag, v); /* gone already (-ESRCH): nothing to watch */
			v->unwatched = v->fd == -EMFILE;
		} else {
			v->fd = old ? open_verified(a, s->tag, v)
				    : kill_verified(a, s->tag, v, sig, s->death_ts, false);
			if (old && v->fd >= 0 && pidfd_send_signal(v->fd, sig, NULL, 0)) {
				close(v->fd);
				v->fd = -1;
			}
			if (v->fd == -ESRCH) {
				/* exiting already: watched to its end, not signalled */
				v->fd = open_watch(a, s->tag, v);
				continue;
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

	store_stat_add(&a->st, BG_STAT_KILL_REFUSED, s->nref);
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
	store_stat_add(&a->st, BG_STAT_SELF_SPARED, 1);
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
		if (m->unwatched && (store_proc(&a->st, m->pid, &p) ||
				     p.start != m->start))
			continue;

		store_stat_add(&a->st, BG_STAT_KILLS_STUCK, 1);
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
	int sweeps = k ? k->sweeps : 0, fresh = k ? k->fresh_sweeps : 0;

	report_self(a, s);
	report_refused(a, s);
	note_lineage_dead(a, s->tag, kills, sweeps, death_ts);
	log_info("tag %u: %s, killed %llu descendant(s) in %d sweep(s) (%d found new ones), "
		 "%.3f ms after %s",
		 s->tag, requested(a, s->tag) ? "killed on request" : "root died",
		 (unsigned long long)kills, sweeps, fresh,
		 death_ts ? (double)(int64_t)(now_ns() - death_ts) / 1e6 : 0.0,
		 requested(a, s->tag) ? "the request" : "the root's exit");
	reaper_drop(&a->rp, s->tag);
}

/* The sweep's signalled victims become @k's members (their identities
 * keep when they were first signalled); the previous members' pidfds go. */
static int pending_update(struct agent *a, struct pkill *k, struct sweep *s, uint64_t now)
{
	struct pkill old = *k;
	int err = 0;

	k->m = NULL;
	k->n = k->cap = k->live = k->unwatched = 0;
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
 * than in a busy loop. A sweep that finds nobody while a member it watched
 * is still exiting (past its exit hook, so unlisted) does not end it.
 * Returns 0 when the lineage is empty, -EINPROGRESS while it is being
 * killed (*next: when to look again, if no pidfd wakes the loop first),
 * -EBUSY when this wake-up's sweep budget is spent, or an error.
 */
int kill_step(struct agent *a, struct sweep_budget *b, uint32_t tag, uint64_t death_ts,
	      uint64_t *next)
{
	struct pkill *k = reaper_find(&a->rp, tag);
	struct sweep s = { .tag = tag, .death_ts = death_ts };
	uint64_t now = now_ns(), again;
	int err;

	if (k) {
		report_stuck(a, k, now);
		if (kill_waits(k->live, k->idle, k->last_sweep, kill_pace(k->unwatched, k->polls),
			       now, next))
			return -EINPROGRESS;
	}
	if (!budget_left(b))
		return -EBUSY;
	b->sweeps--;
	err = signal_sweep(a, &s, SIGKILL, k);
	b->members += s.n;
	if (!err && !s.n && k && pk_exiting(k)) {
		/* nobody listed, yet a member signalled before has not exited:
		 * past its exit hook (its entry is gone, no sweep sees it) and
		 * still in its exit, holding memory and files. Its pidfd tells
		 * when it is gone; the tick looks again meanwhile. */
		sweep_free(&s);
		k->last_sweep = now;
		if (now + TICK_NS < *next)
			*next = now + TICK_NS;
		return -EINPROGRESS;
	}
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
	store_stat_add(&a->st, BG_STAT_KILLS, s.fresh);
	k->kills += s.fresh;
	k->sweeps++;
	k->fresh_sweeps += s.fresh > 0;
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
	k->polls = k->unwatched ? k->polls + 1 : 0;
	again = kill_again(k->live, k->idle, kill_pace(k->unwatched, k->polls), now);
	if (again < *next)
		*next = again;
	return err ? err : -EINPROGRESS;
}

/*
 * Send @sig to every live member of @tag's lineage, root included, and
 * nothing more: the tag stays as it is (`exec --init --forward-lineage`).
 * Each member is signalled only if it is still the process recorded (the
 * iterator with the task in hand, or a verified pidfd); members the tag's
 * owner may not signal are left out. *sent: how many got it. Returns 0 or
 * -errno.
 */
int signal_lineage(struct agent *a, uint32_t tag, int sig, size_t *sent, size_t *refused)
{
	struct sweep s = { .tag = tag };
	int err = list_members(a, &s, a->iter_kill ? sig : 0, false);

	*sent = 0;
	*refused = s.nref;
	for (size_t i = 0; !err && i < s.n; i++) {
		struct victim *v = &s.v[i];
		int fd;

		if (v->flags & BG_MEMBER_SIGNALLED) {
			(*sent)++;
			continue;
		}
		if (v->flags & BG_MEMBER_DYING)
			continue;
		fd = open_verified(a, tag, v);
		if (fd < 0)
			continue;
		if (!pidfd_send_signal(fd, sig, NULL, 0))
			(*sent)++;
		close(fd);
	}
	sweep_free(&s);
	return err;
}

/* A lineage in its grace period: signalled, SIGKILL due at .deadline. */
struct grace *find_grace(struct agent *a, uint32_t tag)
{
	for (size_t i = 0; i < a->ngrace; i++)
		if (a->grace[i].tag == tag)
			return &a->grace[i];
	return NULL;
}

static void grace_unwatch(struct grace *g)
{
	for (size_t i = 0; i < g->nwatch; i++)
		close(g->watch[i].fd);
	free(g->watch);
	g->watch = NULL;
	g->nwatch = 0;
}

void drop_grace(struct agent *a, uint32_t tag)
{
	struct grace *g = find_grace(a, tag);

	if (g) {
		grace_unwatch(g);
		*g = a->grace[--a->ngrace];
	}
}

/* Watch the members @s opened pidfds for (they move from @s to @g). */
static int grace_watch(struct grace *g, struct sweep *s)
{
	size_t n = 0;
	struct pollfd *w;

	for (size_t i = 0; i < s->n; i++)
		n += s->v[i].fd >= 0;
	w = realloc(g->watch, (g->nwatch + n + 1) * sizeof(*w));
	if (!w)
		return -ENOMEM;
	g->watch = w;
	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i].fd < 0)
			continue;
		w[g->nwatch++] = (struct pollfd){ .fd = s->v[i].fd, .events = POLLIN };
		s->v[i].fd = -1;
	}
	return 0;
}

/*
 * Is nothing of @g's lineage left, before its deadline? The watched pidfds
 * are polled (one poll(2) for all: a pidfd is readable once its process is
 * gone) and the dead ones dropped; when none is left, one sweep, sending
 * nothing, looks for members not watched yet (born since, or not opened):
 * the lineage is empty when it finds none (members the owner may not
 * signal count as members). Costs O(members) per look, and one walk of the
 * tasks each time every watched member is gone.
 */
bool grace_empty(struct agent *a, struct grace *g)
{
	struct sweep s = { .tag = g->tag };
	size_t j = 0;
	bool empty;

	if (g->nwatch) {
		if (poll(g->watch, g->nwatch, 0) < 0)
			return false;
		for (size_t i = 0; i < g->nwatch; i++) {
			if (g->watch[i].revents)
				close(g->watch[i].fd);
			else
				g->watch[j++] = (struct pollfd){ .fd = g->watch[i].fd, .events = POLLIN };
		}
		g->nwatch = j;
		if (g->nwatch)
			return false;
	}
	if (list_members(a, &s, 0, !requested(a, g->tag)))
		return false;
	for (size_t i = 0; i < s.n; i++)
		s.v[i].fd = open_watch(a, g->tag, &s.v[i]);
	empty = !s.nref && grace_watch(g, &s) == 0 && !g->nwatch;
	/* listed but none could be opened (gone meanwhile, or out of fds):
	 * empty only if a second look finds nobody either */
	if (empty && s.n) {
		sweep_free(&s);
		s = (struct sweep){ .tag = g->tag };
		empty = !list_members(a, &s, 0, !requested(a, g->tag)) && !s.n && !s.nref;
	}
	sweep_free(&s);
	return empty;
}

/*
 * The root of @tag died and its tag asks for a signal and a grace period:
 * signal the lineage now (once per agent life: after a restart the lineage
 * is signalled again, since the previous agent may have died mid-sweep),
 * SIGKILL it at the deadline.
 */
int start_grace(struct agent *a, struct sweep_budget *b, uint32_t tag, const struct bg_tag *t,
		uint64_t deadline, uint64_t death_ts)
{
	struct sweep s = { .tag = tag, .death_ts = death_ts };
	struct grace *g;
	char name[16];
	int err;

	if (grow((void **)&a->grace, &a->grace_cap, a->ngrace, sizeof(*g), 16))
		return -ENOMEM;
	a->grace[a->ngrace++] = (struct grace){ .tag = tag, .sig = (int)t->signal,
						.deadline = deadline };
	b->sweeps--;
	err = signal_sweep(a, &s, (int)t->signal, NULL);
	b->members += s.n;
	report_self(a, &s);
	log_info("tag %u: %s, SIG%s sent to %zu member(s), SIGKILL in %.3f s", tag,
		 requested(a, tag) ? "killed on request" : "root died",
		 signal_name((int)t->signal, name, sizeof(name)), s.sent,
		 (double)(int64_t)(deadline - now_ns()) / 1e9);
	if (!err && grace_watch(&a->grace[a->ngrace - 1], &s))
		log_warn("tag %u: cannot watch the lineage: it is killed at the deadline", tag);
	sweep_free(&s);
	return err;
}
