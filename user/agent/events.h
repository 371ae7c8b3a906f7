/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's event stream (`bpfguard events`): each event becomes one JSON
 * line, queued to every subscriber allowed to see it. Subscribers are control
 * connections that sent BG_OP_EVENTS; they stay in the agent's epoll set and
 * are written without blocking, each with a bounded backlog: one that does
 * not read is dropped (and counted), the agent never waits for it.
 */
#ifndef BG_EVENTS_H
#define BG_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct bg_acct;

enum ev_type {
	EV_SUBSCRIBED = 1, /* first line of every stream */
	EV_TAG,
	EV_UNTAG,
	EV_ADOPT,
	EV_ROOT_EXIT,	   /* the agent took up a tagged root's death */
	EV_KILL,	   /* the agent signalled one descendant */
	EV_LINEAGE_DEAD,   /* the lineage of a dead root is empty */
	EV_KILL_REFUSED,   /* a descendant the tag's owner may not signal */
	EV_REFUSED,	   /* a control request answered with an error */
	EV_DROP,	   /* a loss counter rose */
	EV_LIMIT,	   /* a child born beyond its owner's quota, killed at birth */
	EV_AGENT_STOP,	   /* last line of a stream the agent ends */
	EV_STUCK,	   /* a descendant still alive well after its SIGKILL */
	EV_KILL_REQUEST,   /* `bpfguard kill`: a lineage killed on request */
	EV_RELEASE,	   /* `bpfguard release`: a member left the lineage */
};

/* One event. Which fields each type writes: README.md, "Event stream". */
struct ev {
	enum ev_type type;
	uint64_t ts_us;	    /* CLOCK_REALTIME; 0: now */
	uint32_t tag;
	uint32_t pid;	    /* the process (or the dead root); refused: as typed */
	uint32_t nspid;	    /* pid's number in its own PID namespace, where it differs; 0 */
	uint32_t pid2;	    /* adopt: the root; refused: the second pid typed */
	uint32_t uid;	    /* who asked (tag, untag, adopt, refused), the owner otherwise
			     * (limit: whose quota was reached) */
	uint32_t parent_tag;
	int sig;
	bool priv;	    /* tag, subscribed: privileged */
	bool flag;	    /* tag: an update of an existing tag; kill: a newborn */
	uint64_t grace_ns;
	bool has_status;    /* root_exit: .status is the root's wait(2) status */
	uint32_t status;
	int64_t latency_ns; /* from the root's exit; < 0: unknown; stuck: since SIGKILL */
	uint64_t count;	    /* lineage_dead: killed; drop: increase; release: processes */
	uint64_t total;	    /* lineage_dead: sweeps; drop: counter value; release: tags */
	int err;	    /* refused: positive errno */
	const char *comm;   /* raw bytes, escaped on output */
	const char *op;	    /* refused: the request */
	const char *msg;    /* refused, kill_refused, agent_stop: why */
	const char *counter; /* drop: the counter's name */
	const struct bg_acct *acct; /* lineage_dead: the lineage's accounting, NULL: none */
};

/* Write @e as one JSON object and a newline. Returns 0 or -EIO. */
int ev_write_json(FILE *out, const struct ev *e);
/* The same into @buf (at most @len bytes). Returns the length or -ENOSPC. */
int ev_format(char *buf, size_t len, const struct ev *e);

/* Who may see an event: privileged subscribers always; an unprivileged one
 * only when the event's audience uid is its own. */
#define EV_AUDIENCE_PRIV UINT32_MAX	 /* (uid_t)-1 is no one's uid */
#define EV_AUDIENCE_ALL (UINT32_MAX - 1) /* every subscriber */

/* Bounds: a subscriber whose unread lines exceed EV_BACKLOG_MAX is dropped. */
#define EV_MAX_SUBS 32
#define EV_MAX_SUBS_PER_UID 4 /* unprivileged uids */
#define EV_BACKLOG_MAX (1u << 20)

struct ev_sub {
	int fd;
	uint32_t uid;
	bool priv;
	bool polling_out; /* EPOLLOUT requested */
	char *buf;	  /* unsent bytes: buf[off, len) */
	size_t off, len, cap;
};

struct events {
	int ep_fd;
	struct ev_sub subs[EV_MAX_SUBS];
	size_t n;
	uint64_t sent, dropped;
};

void events_init(struct events *e, int ep_fd);
/* Any subscriber? Callers skip gathering what only events need. */
static inline bool events_active(const struct events *e)
{
	return e->n > 0;
}
/*
 * Take @fd (a control connection whose request was BG_OP_EVENTS, already
 * answered) as a subscriber. Returns 0, or -EMFILE / -EUSERS over the limits
 * (the caller still owns @fd then), or -errno.
 */
int events_subscribe(struct events *e, int fd, uint32_t uid, bool priv);
/* Check the limits before answering (same errors as events_subscribe). */
int events_may_subscribe(const struct events *e, uint32_t uid, bool priv);
void events_emit(struct events *e, const struct ev *ev, uint32_t audience);
/* Epoll readiness on @fd: handled (true) if it is a subscriber's. */
bool events_handle(struct events *e, int fd, uint32_t epevents);
/* End every stream with an agent_stop line (best effort) and close it. */
void events_close_all(struct events *e, const char *reason);

/* @s as a JSON string literal in @buf (cut to fit): for one-line logs. */
void json_quote(char *buf, size_t len, const char *s);
/* /proc/PID/comm without its newline ("?" if gone). */
void read_comm(uint32_t pid, char comm[16]);

#endif /* BG_EVENTS_H */
