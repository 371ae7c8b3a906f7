/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The agent's state, shared by the files of user/agent/ (README.md,
 * "Layout", says which does what). Nothing in struct agent is a parameter
 * of one call: the request being answered travels as a struct request, the
 * work one wake-up may do as a struct sweep_budget or struct client_budget,
 * the death a signal belongs to as an argument.
 */
#ifndef BG_AGENT_PRIV_H
#define BG_AGENT_PRIV_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "bpfguard.h"
#include "ctl.h"
#include "authz.h"
#include "caller.h"
#include "control.h"
#include "deathrule.h"
#include "events.h"
#include "lineage.h"
#include "metrics.h"
#include "quota.h"
#include "ratelimit.h"
#include "reaper.h"
#include "statcache.h"
#include "store.h"

/* Deaths the ring announced, taken before the round-robin walk. */
#define FRESH_MAX 64
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

/* `bpfguard wait`: at most this many waiting connections, and this many for
 * one unprivileged uid (each holds a client's fd for as long as it waits). */
#define WAITERS_MAX 256
#define WAITERS_PER_UID 16

struct waiter {
	int fd;
	uint32_t tag;
	uint32_t uid;
};

struct grace {
	uint32_t tag;
	int sig;
	uint64_t deadline; /* CLOCK_MONOTONIC ns */
	struct pollfd *watch; /* pidfds of the members signalled, still alive */
	size_t nwatch;
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
	struct store st;      /* the maps and programs (store.c) */
	struct tag_table tt;  /* the tags map as last read (store_load_tags) */
	struct stat_cache sc; /* status's walks (statcache.c) */
	struct peer_probe pp; /* who is asking (caller.c) */
	pid_t self;
	int mode;
	uint32_t features;
	bool iter_kill; /* sweeps signal in-kernel, as they list (kfunc) */
	char kernel[64];
	uint64_t start_time;
	bool stop;
	/* loop.c */
	int listen_fd, lock_fd, sig_fd, ep_fd;
	struct ring_buffer *rb;
	char sock_path[108], lock_path[108];
	/* clients.c */
	struct client cl[MAX_CLIENTS];
	int ncl;
	struct ratelimit rl; /* what unprivileged clients may cost */
	/* deaths.c, kill.c: pending kills, grace periods, the fair walk */
	struct reaper rp;
	struct grace *grace;
	size_t ngrace, grace_cap;
	uint32_t cursor;  /* last deaths key visited that is still there */
	bool have_cursor; /* false: the walk starts at the map's first key */
	uint32_t fresh[FRESH_MAX];
	size_t nfresh;
	/* observe.c: events, metrics, logs, counters */
	bool verbose;
	struct events ev;
	struct metrics m;
	struct lat_hist lat;
	uint64_t refused, quota_refused;
	struct rl_log refusals;
	uint64_t loss_seen[4];
	bool loss_primed;
	/* children killed at birth since the last log line (one a second):
	 * [0] beyond an owner's quota, [1] beyond a lineage's --max-procs */
	struct limit_log {
		uint64_t pending, logged;
		uint32_t pid, uid, tag, max;
	} limits[2];
	/* jobs.c: connections waiting for a lineage to be empty */
	struct waiter *wt;
	size_t nwt, wt_cap;
};

/* The request being answered, and by whom: every reply reports through it. */
struct request {
	int fd; /* the client's connection */
	const struct bg_req *req; /* NULL: refused before one was read */
	int *pidfd;		  /* the pidfds it carried (BG_CTL_MAX_FDS) */
	const struct caller *c;	  /* NULL: refused before one was read */
	struct ucred cred;
	bool priv;
	const char *what; /* what was refused when no request was read */
	int status;	  /* of the last reply sent */
};

/* The client work in one wake-up of the loop (clients.c). */
struct client_budget {
	int accepts, serves; /* left */
};

uint64_t now_ns(void);
/* Make room for one more element in a growing array. Returns 0 or -ENOMEM. */
int grow(void **arr, size_t *cap, size_t n, size_t elem, size_t first);

/* observe.c */
uint32_t audience(const struct bg_tag *t);
int64_t since(uint64_t ts);
uint32_t ns_pid_of(uint32_t pid);
void note_kill(struct agent *a, uint32_t tag, uint32_t pid, const char *comm, int sig,
	       uint64_t death_ts, bool newborn);
void note_lineage_dead(struct agent *a, uint32_t tag, uint64_t kills, int sweeps,
		       uint64_t death_ts);
void note_tag(struct agent *a, uint32_t id, const struct bg_tag *t, const struct caller *c,
	      bool updated);
void flush_refusals(struct agent *a, uint64_t now);
int reply(struct agent *a, struct request *rq, int status, const void *payload, uint32_t len,
	  const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void check_losses(struct agent *a);
void log_limits(struct agent *a);

/* facts.c */
int target_facts(struct agent *a, pid_t pid, struct az_target *t);
struct az_tag az_tag_of(const struct bg_tag *t);
struct az_tag tag_facts(struct agent *a, const struct caller *c, uint32_t id,
			const struct bg_tag *t);
bool owner_may_signal(struct agent *a, const struct bg_tag *t, pid_t pid);
bool pidns_sees_tag(struct agent *a, const struct caller *c, uint32_t id);
bool refuse(struct agent *a, struct request *rq, enum az_verdict v, int pidfd, int32_t typed,
	    uint32_t tag, const struct bg_tag *t);
pid_t request_target(struct agent *a, struct request *rq, int32_t typed, int pidfd,
		     struct az_target *t);
/* The tags map into a->tt. Replies and returns false if it cannot be read. */
bool read_tags(struct agent *a, struct request *rq);
/* request_target, then read_tags. Replies on failure (-1). */
pid_t request_target_tags(struct agent *a, struct request *rq, int32_t typed, int pidfd,
			  struct az_target *t);
bool entry_is_process(const struct bg_proc *e, pid_t pid);

/* tags.c */
size_t gc_tags(struct agent *a);
void repair_tags(struct agent *a);
int end_tag(struct agent *a, uint32_t id);
int hang_tags_from(struct agent *a, const uint32_t *targets, size_t n, uint32_t id);
void unenrol(struct agent *a, uint32_t id);
void quota_refusal(struct agent *a, struct request *rq, enum quota_verdict v, uint32_t uid,
		   bool procs);
bool quota_refuse_tag(struct agent *a, struct request *rq);
enum quota_verdict quota_procs_verdict(struct agent *a, uint32_t uid);

/* kill.c */
struct victim {
	uint32_t pid;
	uint32_t flags; /* BG_MEMBER_SIGNALLED: the iterator sent the signal; _DYING */
	uint64_t start;
	int fd;		/* its pidfd after the sweep signalled it, else -1 */
	bool unwatched; /* signalled, but no pidfd could be had (no fds left) */
	char comm[16];	/* as the iterator saw it */
};

int kill_verified(struct agent *a, uint32_t tag, const struct victim *v, int sig,
		  uint64_t death_ts, bool newborn);
int kill_step(struct agent *a, struct sweep_budget *b, uint32_t tag, uint64_t death_ts,
	      uint64_t *next);
int start_grace(struct agent *a, struct sweep_budget *b, uint32_t tag, const struct bg_tag *t,
		uint64_t deadline, uint64_t death_ts);
/* A lineage in its grace period: signalled, SIGKILL due at .deadline. */
struct grace *find_grace(struct agent *a, uint32_t tag);
void drop_grace(struct agent *a, uint32_t tag);
bool grace_empty(struct agent *a, struct grace *g);
int signal_lineage(struct agent *a, uint32_t tag, int sig, size_t *sent, size_t *refused);

/* deaths.c */
uint64_t handle_deaths(struct agent *a);
int on_event(void *ctx, void *data, size_t len);

/* jobs.c */
int waiters_may_add(const struct agent *a, const struct caller *c);
/* Keep @fd (answered once already) until @tag ends. 0, or -EMFILE/-EUSERS
 * over the limits, -ENOMEM. */
int waiters_add(struct agent *a, int fd, uint32_t tag, const struct caller *c);
/* Epoll readiness on @fd: handled (true) if it is a waiter's (dropped). */
bool waiters_handle(struct agent *a, int fd);
void wait_answer(const struct bg_ended *e, uint32_t tag, struct bg_wait *w);
/* @tag's lineage is empty (@d: its death, NULL if none), or it was let go
 * (@flags BG_ENDED_UNTAGGED): keep the outcome, answer its waiters. */
void job_ended(struct agent *a, uint32_t tag, const struct bg_tag *t, const struct bg_death *d,
	       uint32_t flags);
void waiters_close_all(struct agent *a);

/* dispatch.c */
const char *op_name(uint16_t op);
bool serve(struct agent *a, struct request *rq);

/* the handlers (op_*.c): true if the connection was kept */
bool op_tag(struct agent *a, struct request *rq);
bool op_untag(struct agent *a, struct request *rq);
bool op_adopt(struct agent *a, struct request *rq);
bool op_status(struct agent *a, struct request *rq);
bool op_list(struct agent *a, struct request *rq);
bool op_events(struct agent *a, struct request *rq);
bool op_unload(struct agent *a, struct request *rq);
bool op_kill(struct agent *a, struct request *rq);
bool op_wait(struct agent *a, struct request *rq);
bool op_signal(struct agent *a, struct request *rq);
bool op_release(struct agent *a, struct request *rq);
/* op_query.c: the status snapshot, for /metrics too */
void fill_status(void *ctx, struct bg_status *st);

/* clients.c */
void clients_accept(struct agent *a, struct client_budget *b);
bool clients_readable(struct agent *a, int fd, struct client_budget *b);
void clients_expire(struct agent *a, struct client_budget *b, uint64_t now);
uint64_t clients_deadline(const struct agent *a, uint64_t t);
void clients_drop_all(struct agent *a);

#endif /* BG_AGENT_PRIV_H */
