// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What the agent tells: events to subscribers, log lines, refusal reports,
 * loss counters, the quota kill line. Every reply goes through reply().
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_priv.h"
#include "control.h"
#include "log.h"
#include "parse.h"
#include "render.h"

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int grow(void **arr, size_t *cap, size_t n, size_t elem, size_t first)
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

/* Events about a tag go to its unprivileged owner too, else to root only. */
uint32_t audience(const struct bg_tag *t)
{
	return t && !(t->flags & BG_TAG_F_PRIV) ? t->owner_uid : EV_AUDIENCE_PRIV;
}

int64_t since(uint64_t ts)
{
	return ts ? (int64_t)(now_ns() - ts) : -1;
}

/* @pid's number in its own PID namespace if it differs from the host's, else 0. */
uint32_t ns_pid_of(uint32_t pid)
{
	struct proc_ids ids;

	if (read_proc_status((pid_t)pid, &ids) || !ids.nspid || (uint32_t)ids.nspid == pid)
		return 0;
	return (uint32_t)ids.nspid;
}

/* A signal went to @pid of @tag's lineage (comm read before it was sent),
 * whose root died at @death_ts (0: unknown); @newborn: born into it. */
void note_kill(struct agent *a, uint32_t tag, uint32_t pid, const char *comm, int sig,
	       uint64_t death_ts, bool newborn)
{
	struct ev e = { .type = EV_KILL, .tag = tag, .pid = pid, .comm = comm, .sig = sig,
			.latency_ns = since(death_ts), .flag = newborn };

	if (!events_active(&a->ev) && !a->verbose)
		return; /* the kill path pays nothing more */
	if (a->verbose) {
		char q[96], name[16];

		json_quote(q, sizeof(q), comm);
		log_debug("tag %u: SIG%s to pid %u %s%s, %.3f ms after the root's exit", tag,
			  signal_name(sig, name, sizeof(name)), pid, q,
			  newborn ? " (born into the dying lineage)" : "",
			  e.latency_ns >= 0 ? (double)e.latency_ns / 1e6 : -1.0);
	}
	e.nspid = ns_pid_of(pid);
	events_emit(&a->ev, &e, audience(tt_find(&a->tt, tag)));
}

/* The lineage of @tag's dead root is empty: a kill-latency sample (only
 * without a grace period: a grace would measure itself). */
void note_lineage_dead(struct agent *a, uint32_t tag, uint64_t kills, int sweeps,
		       uint64_t death_ts)
{
	const struct bg_tag *t = tt_find(&a->tt, tag);
	struct ev e = { .type = EV_LINEAGE_DEAD, .tag = tag, .pid = t ? t->root_pid : 0,
			.count = kills, .total = (uint64_t)sweeps, .latency_ns = since(death_ts) };
	struct bg_acct ac;

	if (!store_acct(&a->st, tag, &ac))
		e.acct = &ac;
	if (e.latency_ns >= 0 && t && !t->grace_ns)
		lat_add(&a->lat, (uint64_t)e.latency_ns / 1000);
	events_emit(&a->ev, &e, audience(t));
}

/* Once a second at most: how many refusal lines were left out. */
void flush_refusals(struct agent *a, uint64_t now)
{
	uint64_t n = rl_log_flush(&a->refusals, now);

	if (n)
		log_notice("refused requests: suppressed %llu similar lines (requests_refused "
			   "counts them all)", (unsigned long long)n);
}

/* Every error reply is a refused request: logged, counted, an event for
 * root and for the user who asked. */
static void on_reply(struct agent *a, struct request *rq, int status, const char *msg)
{
	struct ev e = { .type = EV_REFUSED, .err = status, .msg = msg,
			.op = rq->what ? rq->what : "malformed" };

	rq->status = status;
	if (!status)
		return;
	a->refused++;
	/* a flood of refusals must not become a flood of lines (nor events):
	 * counted always, told at most RL_LOG_LINES times a second unless
	 * the caller is privileged */
	flush_refusals(a, now_ns());
	if (!rq->priv && !rl_log_allow(&a->refusals, now_ns()))
		return;
	e.uid = rq->cred.uid;
	if (rq->req) {
		e.op = op_name(rq->req->op);
		e.pid = (uint32_t)rq->req->pid;
		e.pid2 = (uint32_t)rq->req->pid2;
	}
	log_notice("refused %s from uid %u (pid %d): %s", e.op, e.uid, rq->cred.pid, msg);
	events_emit(&a->ev, &e, e.uid);
}

/* Every answer the agent sends goes through here, so that a refusal is
 * reported (on_reply) whoever sends it. */
int reply(struct agent *a, struct request *rq, int status, const void *payload, uint32_t len,
	  const char *fmt, ...)
{
	char msg[sizeof(((struct bg_rep *)0)->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	on_reply(a, rq, status, msg);
	return ctl_send_rep(rq->fd, status, payload, len, "%s", msg);
}

/* Loss counters that rose since the last look: a line each, and an event. */
void check_losses(struct agent *a)
{
	static const uint32_t idx[] = { BG_STAT_RINGBUF_DROP, BG_STAT_PROCS_FULL,
					BG_STAT_DEATHS_FULL };
	uint64_t now[4];
	bool first = !a->loss_primed;

	for (size_t i = 0; i < 3; i++)
		now[i] = store_stat_total(&a->st, idx[i]);
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

/* A tag was made (or, @updated, its signal and grace changed). */
void note_tag(struct agent *a, uint32_t id, const struct bg_tag *t, const struct caller *c,
	      bool updated)
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

/* The log lines for children killed at birth: one a second at most, per
 * reason. */
void log_limits(struct agent *a)
{
	uint64_t now = now_ns();

	for (int i = 0; i < 2; i++) {
		struct limit_log *l = &a->limits[i];

		if (!l->pending || now - l->logged < 1000000000ull)
			continue;
		if (i == 0)
			log_warn("quota: %llu process(es) born beyond their owner's quota, killed at "
				 "birth (the last: pid %u of uid %u's tag %u)",
				 (unsigned long long)l->pending, l->pid, l->uid, l->tag);
		else
			log_warn("max-procs: %llu process(es) born beyond their lineage's --max-procs, "
				 "killed at birth (the last: pid %u in uid %u's tag %u, --max-procs %u)",
				 (unsigned long long)l->pending, l->pid, l->uid, l->tag, l->max);
		l->pending = 0;
		l->logged = now;
	}
}
