/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libbpfguard's internals that hold no resources (option checks, the
 * mapping of failures to codes and messages), exposed here for the unit
 * tests only. Built into the library with hidden visibility: not its API.
 */
#ifndef BG_LIBBPFGUARD_PRIV_H
#define BG_LIBBPFGUARD_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "libbpfguard.h"

/* A pin dir as check_pin_dir() accepts it, with room for trailing slashes. */
#define LBG_PIN_DIR_MAX 255

/* The largest opts.sz believed: beyond, sz is taken for garbage. */
#define LBG_OPTS_MAX 4096

/* One call's options, checked and filled with the defaults. */
struct lbg_call {
	char pin_dir[LBG_PIN_DIR_MAX + 1];
	int signal;
	uint64_t grace_ns;
	uint32_t req_flags; /* BG_REQ_F_ALLOW_BREAKAWAY, from opts->flags */
	uint32_t max_procs; /* opts->max_procs: sent as a tag's req.pid2 */
	char *msg;
	size_t msg_len;
	int fd; /* lbg_request_on(keep): the connection kept, else -1 */
};

/* lbg_resolve() @allow: the call takes signal and grace (tag, exec, kill,
 * signal), and opts->flags (tag, exec). */
#define LBG_ALLOW_KILL_OPTS 0x1
#define LBG_ALLOW_TAG_FLAGS 0x2

/*
 * Check @opts (NULL: defaults) into @c. Returns 0 or -EINVAL, with the
 * reason in opts->msg when it could be read.
 */
int lbg_resolve(const struct bpfguard_opts *opts, unsigned int allow, struct lbg_call *c);

/* Write one line into c->msg (when set), truncated to fit. */
void lbg_msg(struct lbg_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ctl_connect() failed with @err (< 0): the code to return, with its line. */
int lbg_connect_error(struct lbg_call *c, int err);

/* The agent answered @status (a positive errno) and @agent_msg. */
int lbg_status_error(struct lbg_call *c, int status, const char *agent_msg);

/* pidfd_open(@pid) failed with errno @err. */
int lbg_pidfd_error(struct lbg_call *c, pid_t pid, int err);

/* What the library's calls share across its files (libbpfguard.c,
 * libbpfguard_job.c). */
struct bg_req;
/* One request, one reply, @nfd pidfds attached. On success c->msg holds
 * the agent's line and *payload (when asked for) the reply's payload. */
int lbg_request(struct lbg_call *c, struct bg_req *req, const int *fds, int nfd, void **payload,
		size_t *len);
/* The same; with @keep, a connection answered with success stays open in
 * c->fd for more answers (the caller closes it). */
int lbg_request_on(struct lbg_call *c, bool keep, struct bg_req *req, const int *fds, int nfd,
		   void **payload, size_t *len);
/* pidfd_open(2) of @pid, or -1 with errno set. */
int lbg_pidfd_open(pid_t pid);
/* A call about @pid: @opts checked into @c (lbg_resolve, @allow), then a
 * pidfd of @pid. Returns the pidfd, or -errno with its line in c->msg. */
int lbg_open_pid(const struct bpfguard_opts *opts, unsigned int allow, pid_t pid,
		 struct lbg_call *c);

#endif /* BG_LIBBPFGUARD_PRIV_H */
