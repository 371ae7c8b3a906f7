/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Prometheus metrics (`bpfguard agent --metrics ADDR:PORT`): the text
 * exposition format 0.0.4 on GET /metrics, served from the agent's own epoll
 * loop by a deliberately tiny HTTP/1.0 responder: bounded request size, a
 * deadline per connection, non-blocking sockets, a few connections at most.
 * Also the kill-latency histogram the agent keeps.
 */
#ifndef BG_METRICS_H
#define BG_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "ctl.h"

/* ---- kill-latency histogram (log2 buckets in us) ----------------------- */

struct lat_hist {
	uint64_t count, sum_us;
	uint64_t buckets[BG_LAT_BUCKETS]; /* as struct bg_status.lat_buckets */
};

/* The bucket of a latency: the smallest i with us <= 2^i, or the last
 * (overflow) bucket above 2^(BG_LAT_BUCKETS - 2) us. */
unsigned lat_bucket(uint64_t us);
void lat_add(struct lat_hist *h, uint64_t us);

/* ---- pure pieces ------------------------------------------------------- */

/*
 * A listen address: IPv4 "A.B.C.D:PORT" or IPv6 "[ADDR]:PORT", numeric only
 * (the agent resolves no names); PORT 0 to 65535 (0: any free port).
 * Returns 0 or -EINVAL.
 */
int metrics_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);

/* The exposition of a status snapshot. Returns 0 or -EIO. */
int metrics_render(FILE *out, const struct bg_status *st);

#define METRICS_REQ_MAX 2048

/*
 * Judge the request received so far: 0 while it may still be incomplete;
 * else the HTTP status to answer: 200 (GET or HEAD of /metrics, *head set
 * for HEAD), 400 (malformed, or METRICS_REQ_MAX bytes without its end),
 * 404 (another path), 405 (another method).
 */
int http_judge(const char *buf, size_t len, bool *head);

/* ---- the server -------------------------------------------------------- */

#define METRICS_MAX_CONN 8
#define METRICS_TIMEOUT_MS 5000

enum mconn_state { MC_READ, MC_WRITE, MC_DRAIN };

struct metrics_conn {
	int fd;
	enum mconn_state state;
	uint64_t deadline; /* CLOCK_MONOTONIC ns */
	size_t inlen;
	char in[METRICS_REQ_MAX];
	char *out;
	size_t outlen, outoff;
};

struct metrics {
	int listen_fd, ep_fd;
	uint16_t port; /* bound port */
	struct metrics_conn conn[METRICS_MAX_CONN];
	size_t n;
	uint64_t ok, bad;
};

typedef void (*metrics_fill_fn)(void *ctx, struct bg_status *st);

void metrics_init(struct metrics *m, int ep_fd);
/* Listen on @addr (already validated) and add it to epoll. Returns 0 or -errno. */
int metrics_open(struct metrics *m, const char *addr);
/* Epoll readiness on @fd: handled (true) if it is the server's. */
bool metrics_handle(struct metrics *m, int fd, uint32_t epevents, uint64_t now_ns,
		    metrics_fill_fn fill, void *ctx);
/* Close connections past their deadline. */
void metrics_expire(struct metrics *m, uint64_t now_ns);
void metrics_close(struct metrics *m);

#endif /* BG_METRICS_H */
