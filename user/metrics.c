// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Prometheus metrics over a tiny HTTP/1.0 responder (metrics.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bpfguard.h"
#include "log.h"
#include "metrics.h"
#include "render.h"

/* ---- histogram --------------------------------------------------------- */

unsigned lat_bucket(uint64_t us)
{
	unsigned i = 0;

	while (i < BG_LAT_BUCKETS - 1 && us > BG_LAT_LE_US(i))
		i++;
	return i;
}

void lat_add(struct lat_hist *h, uint64_t us)
{
	h->count++;
	h->sum_us += us;
	h->buckets[lat_bucket(us)]++;
}

/* ---- address ----------------------------------------------------------- */

int metrics_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *h = s;
	size_t hlen;
	unsigned long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - s);
	}
	if (!hlen || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (colon[1] < '0' || colon[1] > '9')
		return -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port > 65535 || strlen(colon + 1) > 5)
		return -EINVAL;
	if (s[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -EINVAL;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		/* inet_pton takes only the dotted quad: no names, no shorthands */
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -EINVAL;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof(*a);
	}
	return 0;
}

/* ---- exposition -------------------------------------------------------- */

/* A whole number of microseconds as seconds, exactly ("0.000128"). */
static void put_seconds(FILE *out, uint64_t us)
{
	char frac[8];
	int n;

	n = snprintf(frac, sizeof(frac), "%06llu", (unsigned long long)(us % 1000000ull));
	while (n > 0 && frac[n - 1] == '0')
		frac[--n] = '\0';
	fprintf(out, "%llu%s%s", (unsigned long long)(us / 1000000ull), n ? "." : "", frac);
}

/* A label value: backslash, double quote and newline escaped. */
static void put_label(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', out);
		if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

static void head(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP bpfguard_%s %s\n# TYPE bpfguard_%s %s\n", name, help, name, type);
}

static void counter(FILE *out, const struct counter_desc *d, uint64_t v)
{
	char name[96];

	snprintf(name, sizeof(name), "%s_total", d->name);
	head(out, name, "counter", d->help);
	fprintf(out, "bpfguard_%s %llu\n", name, (unsigned long long)v);
}

static void gauge(FILE *out, const char *name, const char *help, uint64_t v)
{
	head(out, name, "gauge", help);
	fprintf(out, "bpfguard_%s %llu\n", name, (unsigned long long)v);
}

int metrics_render(FILE *out, const struct bg_status *st)
{
	char kernel[sizeof(st->kernel) + 1], feats[160] = "";
	uint64_t cum = 0;
	size_t o = 0;

	for (int i = 0; i < BG_STAT_MAX; i++)
		counter(out, &bg_stat_desc[i], st->counters[i]);
	for (int i = 0; i < BG_ASTAT_MAX; i++)
		counter(out, &bg_astat_desc[i], st->agent_counters[i]);
	gauge(out, "tags", "Active tags.", st->tags);
	gauge(out, "tracked_processes", "Tracked descendants of active tags (roots not counted).",
	      st->tracked);
	gauge(out, "max_processes", "Capacity of the procs map.", st->max_procs);
	gauge(out, "max_tags", "Capacity of the tags map.", st->max_tags);
	gauge(out, "user_max_processes", "Process quota of each unprivileged uid (--user-max-procs).",
	      st->user_max_procs);
	gauge(out, "user_max_tags", "Tag quota of each unprivileged uid (--user-max-tags).",
	      st->user_max_tags);
	gauge(out, "unprivileged_max_processes",
	      "Processes all unprivileged uids together may hold (the rest is kept for privileged tags).",
	      st->unpriv_max_procs);
	gauge(out, "unprivileged_max_tags",
	      "Tags all unprivileged uids together may hold (the rest is kept for privileged callers).",
	      st->unpriv_max_tags);
	gauge(out, "unprivileged_processes", "Processes charged to unprivileged uids now.",
	      st->used_procs);
	gauge(out, "unprivileged_tags", "Tag records unprivileged uids hold now.", st->used_tags);
	gauge(out, "event_subscribers", "Event stream subscribers.", st->subscribers);
	gauge(out, "agent_start_time_seconds", "When the agent started, seconds since the epoch.",
	      st->start_time);

	memcpy(kernel, st->kernel, sizeof(st->kernel));
	kernel[sizeof(st->kernel)] = '\0';
	for (uint32_t bit = 1; bit; bit <<= 1)
		if ((st->features & bit) && feature_name(bit) && o < sizeof(feats) - 24)
			o += (size_t)snprintf(feats + o, sizeof(feats) - o, "%s%s", o ? "," : "",
					      feature_name(bit));
	head(out, "info", "gauge", "The agent's mode in force, kernel release and BPF features (1).");
	fprintf(out, "bpfguard_info{mode=\"%s\",kernel=", mode_name(st->mode));
	put_label(out, kernel);
	fputs(",features=", out);
	put_label(out, feats);
	fputs("} 1\n", out);

	head(out, "kill_latency_seconds", "histogram",
	     "A tagged root's exit to its lineage found empty (lineages without a grace period).");
	for (int i = 0; i < BG_LAT_BUCKETS - 1; i++) {
		cum += st->lat_buckets[i];
		fputs("bpfguard_kill_latency_seconds_bucket{le=\"", out);
		put_seconds(out, BG_LAT_LE_US(i));
		fprintf(out, "\"} %llu\n", (unsigned long long)cum);
	}
	cum += st->lat_buckets[BG_LAT_BUCKETS - 1];
	fprintf(out, "bpfguard_kill_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
		(unsigned long long)cum);
	fputs("bpfguard_kill_latency_seconds_sum ", out);
	put_seconds(out, st->lat_sum_us);
	fprintf(out, "\nbpfguard_kill_latency_seconds_count %llu\n", (unsigned long long)st->lat_count);
	return ferror(out) ? -EIO : 0;
}

/* ---- HTTP -------------------------------------------------------------- */

/* The request line "METHOD TARGET HTTP/1.x" ([line, line + n)). */
static int judge_line(const char *line, size_t n, bool *head)
{
	const char *sp1 = memchr(line, ' ', n), *sp2, *target;
	size_t tlen;

	if (!sp1)
		return 400;
	sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - line));
	if (!sp2)
		return 400;
	target = sp1 + 1;
	tlen = (size_t)(sp2 - target);
	if (n - (size_t)(sp2 + 1 - line) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) ||
	    sp2[8] < '0' || sp2[8] > '9' || !tlen || target[0] != '/')
		return 400;
	for (const char *p = line; p < line + n; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			return 400;
	*head = sp1 - line == 4 && !memcmp(line, "HEAD", 4);
	if (!*head && !(sp1 - line == 3 && !memcmp(line, "GET", 3)))
		return 405;
	if ((tlen == 8 || (tlen > 8 && target[8] == '?')) && !memcmp(target, "/metrics", 8))
		return 200;
	return 404;
}

int http_judge(const char *buf, size_t len, bool *head)
{
	const char *nl = memchr(buf, '\n', len);
	size_t n;
	int st;

	*head = false;
	if (memchr(buf, '\0', len))
		return 400;
	if (!nl)
		return len >= METRICS_REQ_MAX ? 400 : 0;
	n = (size_t)(nl - buf);
	if (n && buf[n - 1] == '\r')
		n--;
	/* judge the request line at once: garbage gets its 400 without waiting */
	st = judge_line(buf, n, head);
	if (st == 400)
		return 400;
	/* the headers (ignored) end with an empty line */
	for (size_t i = n; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if ((i + 1 < len && buf[i + 1] == '\n') ||
		    (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n'))
			return st;
	}
	return len >= METRICS_REQ_MAX ? 400 : 0;
}

/* ---- server ------------------------------------------------------------ */

void metrics_init(struct metrics *m, int ep_fd)
{
	memset(m, 0, sizeof(*m));
	m->listen_fd = -1;
	m->ep_fd = ep_fd;
}

int metrics_open(struct metrics *m, const char *addr)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct sockaddr_storage ss, bound;
	socklen_t len, blen = sizeof(bound);
	int one = 1, fd, err;

	if (metrics_parse_addr(addr, &ss, &len))
		return -EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)&bound, &blen)) {
		err = -errno;
		close(fd);
		return err;
	}
	m->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
						    : ((struct sockaddr_in *)&bound)->sin_port);
	ev.data.fd = fd;
	if (epoll_ctl(m->ep_fd, EPOLL_CTL_ADD, fd, &ev)) {
		err = -errno;
		close(fd);
		return err;
	}
	m->listen_fd = fd;
	return 0;
}

static void conn_close(struct metrics *m, struct metrics_conn *c)
{
	epoll_ctl(m->ep_fd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->out);
	*c = m->conn[--m->n];
}

static void conn_watch(struct metrics *m, struct metrics_conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = c->fd };

	epoll_ctl(m->ep_fd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void accept_one(struct metrics *m, uint64_t now_ns)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	int fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct metrics_conn *c;

	if (fd < 0)
		return;
	/* over the limit: close at once (leaving it queued would keep the
	 * listening socket readable and the loop spinning) */
	if (m->n >= METRICS_MAX_CONN) {
		m->bad++;
		close(fd);
		return;
	}
	ev.data.fd = fd;
	if (epoll_ctl(m->ep_fd, EPOLL_CTL_ADD, fd, &ev)) {
		close(fd);
		return;
	}
	c = &m->conn[m->n++];
	c->fd = fd;
	c->state = MC_READ;
	c->deadline = now_ns + METRICS_TIMEOUT_MS * 1000000ull;
	c->inlen = 0;
	c->out = NULL;
	c->outlen = c->outoff = 0;
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	}
	return "Bad Request";
}

/* Build the whole response in c->out. */
static int respond(struct metrics_conn *c, int status, bool head, metrics_fill_fn fill, void *ctx)
{
	char *body = NULL, *all = NULL;
	size_t blen = 0, alen = 0;
	FILE *f;
	int err = 0;

	f = open_memstream(&body, &blen);
	if (!f)
		return -ENOMEM;
	if (status == 200) {
		struct bg_status st;

		memset(&st, 0, sizeof(st));
		fill(ctx, &st);
		err = metrics_render(f, &st);
	} else {
		fprintf(f, "%d %s\n", status, reason(status));
	}
	if (fclose(f) || err) {
		free(body);
		return -ENOMEM;
	}
	f = open_memstream(&all, &alen);
	if (!f) {
		free(body);
		return -ENOMEM;
	}
	fprintf(f, "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		   "Connection: close\r\n%s\r\n", status, reason(status),
		status == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8",
		blen, status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (!head)
		fwrite(body, 1, blen, f);
	free(body);
	if (fclose(f)) {
		free(all);
		return -ENOMEM;
	}
	c->out = all;
	c->outlen = alen;
	c->outoff = 0;
	return 0;
}

/* Send what is left; after the last byte, half-close and wait for the
 * client's EOF before closing (closing with unread input would reset the
 * connection and could cut the response short). Returns false to close. */
static bool conn_write(struct metrics *m, struct metrics_conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			conn_watch(m, c, EPOLLOUT);
			return true;
		}
		if (n <= 0)
			return false;
		c->outoff += (size_t)n;
	}
	shutdown(c->fd, SHUT_WR);
	c->state = MC_DRAIN;
	conn_watch(m, c, EPOLLIN | EPOLLRDHUP);
	return true;
}

static bool conn_read(struct metrics *m, struct metrics_conn *c, metrics_fill_fn fill, void *ctx)
{
	bool head;
	ssize_t n;
	int st;

	if (c->state == MC_DRAIN) {
		char junk[512];

		n = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT);
		return n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR));
	}
	n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0) { /* EOF before a whole request */
		if (c->inlen)
			m->bad++;
		return false;
	}
	c->inlen += (size_t)n;
	st = http_judge(c->in, c->inlen, &head);
	if (!st)
		return true;
	if (st == 200)
		m->ok++;
	else
		m->bad++;
	if (respond(c, st, head, fill, ctx))
		return false;
	c->state = MC_WRITE;
	return conn_write(m, c);
}

bool metrics_handle(struct metrics *m, int fd, uint32_t epevents, uint64_t now_ns,
		    metrics_fill_fn fill, void *ctx)
{
	struct metrics_conn *c = NULL;

	if (fd < 0)
		return false;
	if (fd == m->listen_fd) {
		accept_one(m, now_ns);
		return true;
	}
	for (size_t i = 0; i < m->n && !c; i++)
		if (m->conn[i].fd == fd)
			c = &m->conn[i];
	if (!c)
		return false;
	if (epevents & EPOLLERR) {
		conn_close(m, c);
		return true;
	}
	if (c->state == MC_WRITE ? !conn_write(m, c)
				 : (epevents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) &&
					   !conn_read(m, c, fill, ctx))
		conn_close(m, c);
	return true;
}

void metrics_expire(struct metrics *m, uint64_t now_ns)
{
	for (size_t i = 0; i < m->n;) {
		struct metrics_conn *c = &m->conn[i];

		if (now_ns < c->deadline) {
			i++;
			continue;
		}
		if (c->state == MC_READ)
			m->bad++; /* a request too slow to come */
		conn_close(m, c);
	}
}

void metrics_close(struct metrics *m)
{
	while (m->n)
		conn_close(m, &m->conn[m->n - 1]);
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	m->listen_fd = -1;
}
