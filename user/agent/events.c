// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The event stream: JSON lines, fanned out without blocking (events.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bpfguard.h"
#include "events.h"
#include "log.h"
#include "parse.h"
#include "render.h"

static const char *const type_names[] = {
	[EV_SUBSCRIBED] = "subscribed",
	[EV_TAG] = "tag",
	[EV_UNTAG] = "untag",
	[EV_ADOPT] = "adopt",
	[EV_ROOT_EXIT] = "root_exit",
	[EV_KILL] = "kill",
	[EV_LINEAGE_DEAD] = "lineage_dead",
	[EV_KILL_REFUSED] = "kill_refused",
	[EV_REFUSED] = "refused",
	[EV_DROP] = "drop",
	[EV_LIMIT] = "limit",
	[EV_AGENT_STOP] = "agent_stop",
	[EV_STUCK] = "stuck",
	[EV_KILL_REQUEST] = "kill_request",
	[EV_RELEASE] = "release",
};

static void put_str(FILE *out, const char *key, const char *s)
{
	fprintf(out, ",\"%s\":", key);
	json_string(out, s ? s : "");
}

static void put_sig(FILE *out, int sig)
{
	char buf[16];

	put_str(out, "signal", signal_name(sig, buf, sizeof(buf)));
}

static void put_latency(FILE *out, int64_t ns)
{
	if (ns >= 0)
		fprintf(out, ",\"latency_us\":%lld", (long long)(ns / 1000));
}

int ev_write_json(FILE *out, const struct ev *e)
{
	uint64_t ts = e->ts_us;
	const char *name = e->type > 0 && (size_t)e->type < sizeof(type_names) / sizeof(type_names[0]) &&
				   type_names[e->type]
			       ? type_names[e->type]
			       : "unknown";

	if (!ts) {
		struct timespec t;

		clock_gettime(CLOCK_REALTIME, &t);
		ts = (uint64_t)t.tv_sec * 1000000ull + (uint64_t)t.tv_nsec / 1000ull;
	}
	fprintf(out, "{\"ts\":%llu.%06llu,\"event\":\"%s\"", (unsigned long long)(ts / 1000000ull),
		(unsigned long long)(ts % 1000000ull), name);
	switch (e->type) {
	case EV_SUBSCRIBED:
		fprintf(out, ",\"uid\":%u,\"privileged\":%s", e->uid, e->priv ? "true" : "false");
		break;
	case EV_TAG:
		fprintf(out, ",\"tag\":%u,\"pid\":%u", e->tag, e->pid);
		put_str(out, "comm", e->comm);
		fprintf(out, ",\"uid\":%u,\"privileged\":%s,\"parent_tag\":%u", e->uid,
			e->priv ? "true" : "false", e->parent_tag);
		put_sig(out, e->sig);
		fprintf(out, ",\"grace_ms\":%llu,\"updated\":%s",
			(unsigned long long)(e->grace_ns / 1000000ull), e->flag ? "true" : "false");
		break;
	case EV_UNTAG:
		fprintf(out, ",\"tag\":%u,\"pid\":%u,\"uid\":%u,\"parent_tag\":%u", e->tag, e->pid,
			e->uid, e->parent_tag);
		break;
	case EV_ADOPT:
		fprintf(out, ",\"tag\":%u,\"root_pid\":%u,\"pid\":%u", e->tag, e->pid2, e->pid);
		put_str(out, "comm", e->comm);
		fprintf(out, ",\"uid\":%u", e->uid);
		break;
	case EV_ROOT_EXIT:
		fprintf(out, ",\"tag\":%u,\"pid\":%u", e->tag, e->pid);
		put_sig(out, e->sig);
		fprintf(out, ",\"grace_ms\":%llu", (unsigned long long)(e->grace_ns / 1000000ull));
		put_latency(out, e->latency_ns);
		if (e->has_status) {
			fputc(',', out);
			json_wait_status(out, e->status);
		}
		break;
	case EV_RELEASE:
		fprintf(out, ",\"tag\":%u,\"pid\":%u", e->tag, e->pid);
		put_str(out, "comm", e->comm);
		fprintf(out, ",\"uid\":%u,\"processes\":%llu,\"tags\":%llu", e->uid,
			(unsigned long long)e->count, (unsigned long long)e->total);
		break;
	case EV_KILL_REQUEST:
		fprintf(out, ",\"tag\":%u,\"pid\":%u,\"uid\":%u", e->tag, e->pid, e->uid);
		put_sig(out, e->sig);
		fprintf(out, ",\"grace_ms\":%llu", (unsigned long long)(e->grace_ns / 1000000ull));
		break;
	case EV_KILL:
		fprintf(out, ",\"tag\":%u,\"pid\":%u", e->tag, e->pid);
		put_str(out, "comm", e->comm);
		put_sig(out, e->sig);
		put_latency(out, e->latency_ns);
		fprintf(out, ",\"newborn\":%s", e->flag ? "true" : "false");
		break;
	case EV_LINEAGE_DEAD:
		fprintf(out, ",\"tag\":%u,\"pid\":%u,\"killed\":%llu,\"sweeps\":%llu", e->tag, e->pid,
			(unsigned long long)e->count, (unsigned long long)e->total);
		put_latency(out, e->latency_ns);
		if (e->acct)
			json_acct(out, e->acct->born, e->acct->exited, e->acct->live, e->acct->peak,
				  e->acct->cpu_ns);
		break;
	case EV_KILL_REFUSED:
		fprintf(out, ",\"tag\":%u,\"pid\":%u", e->tag, e->pid);
		put_str(out, "comm", e->comm);
		fprintf(out, ",\"owner_uid\":%u", e->uid);
		put_str(out, "reason", e->msg);
		break;
	case EV_REFUSED: {
		const char *en = e->err > 0 ? strerrorname_np(e->err) : NULL;

		put_str(out, "op", e->op);
		fprintf(out, ",\"uid\":%u,\"pid\":%u,\"pid2\":%u", e->uid, e->pid, e->pid2);
		if (en)
			put_str(out, "errno", en);
		else
			fprintf(out, ",\"errno\":\"%d\"", e->err);
		put_str(out, "reason", e->msg);
		break;
	}
	case EV_DROP:
		put_str(out, "counter", e->counter);
		fprintf(out, ",\"delta\":%llu,\"total\":%llu", (unsigned long long)e->count,
			(unsigned long long)e->total);
		break;
	case EV_LIMIT:
		fprintf(out, ",\"tag\":%u,\"pid\":%u", e->tag, e->pid);
		put_str(out, "comm", e->comm);
		fprintf(out, ",\"owner_uid\":%u", e->uid);
		put_str(out, "reason", e->msg ? e->msg : "quota");
		if (e->count)
			fprintf(out, ",\"max_procs\":%llu", (unsigned long long)e->count);
		break;
	case EV_AGENT_STOP:
		put_str(out, "reason", e->msg);
		break;
	case EV_STUCK:
		fprintf(out, ",\"tag\":%u,\"pid\":%u", e->tag, e->pid);
		put_str(out, "comm", e->comm);
		fprintf(out, ",\"stuck_ms\":%lld",
			(long long)(e->latency_ns > 0 ? e->latency_ns / 1000000 : 0));
		break;
	}
	if (e->nspid)
		fprintf(out, ",\"nspid\":%u", e->nspid);
	fputs("}\n", out);
	return ferror(out) ? -EIO : 0;
}

int ev_format(char *buf, size_t len, const struct ev *e)
{
	FILE *f = fmemopen(buf, len, "w");
	long n;
	int err;

	if (!f)
		return -errno;
	err = ev_write_json(f, e);
	n = ftell(f);
	/* a full buffer: fmemopen stops writing, and the line lacks its end */
	if (fclose(f) || err || n <= 0 || (size_t)n >= len || buf[n - 1] != '\n')
		return -ENOSPC;
	return (int)n;
}

void json_quote(char *buf, size_t len, const char *s)
{
	FILE *f = fmemopen(buf, len, "w");

	if (!f || len < 3) {
		if (f)
			fclose(f);
		if (len)
			buf[0] = '\0';
		return;
	}
	json_string(f, s);
	/* fmemopen NUL-terminates; a string too long is cut, still one line */
	fclose(f);
	buf[len - 1] = '\0';
}

void read_comm(uint32_t pid, char comm[16])
{
	char path[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, comm, 15) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0 && comm[n - 1] == '\n')
		n--;
	if (n <= 0) {
		strcpy(comm, "?");
		return;
	}
	comm[n] = '\0';
}

/* ---- subscribers ------------------------------------------------------- */

void events_init(struct events *e, int ep_fd)
{
	memset(e, 0, sizeof(*e));
	e->ep_fd = ep_fd;
}

static struct ev_sub *find_sub(struct events *e, int fd)
{
	for (size_t i = 0; i < e->n; i++)
		if (e->subs[i].fd == fd)
			return &e->subs[i];
	return NULL;
}

static void drop_sub(struct events *e, struct ev_sub *s)
{
	epoll_ctl(e->ep_fd, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	free(s->buf);
	*s = e->subs[--e->n];
}

int events_may_subscribe(const struct events *e, uint32_t uid, bool priv)
{
	size_t mine = 0;

	if (e->n >= EV_MAX_SUBS)
		return -EMFILE;
	for (size_t i = 0; i < e->n; i++)
		if (!e->subs[i].priv && e->subs[i].uid == uid)
			mine++;
	/* an unprivileged user must not exhaust the slots root needs */
	if (!priv && mine >= EV_MAX_SUBS_PER_UID)
		return -EUSERS;
	return 0;
}

static void set_out(struct events *e, struct ev_sub *s, bool want)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0),
				  .data.fd = s->fd };

	if (s->polling_out == want)
		return;
	if (!epoll_ctl(e->ep_fd, EPOLL_CTL_MOD, s->fd, &ev))
		s->polling_out = want;
}

/* Send what is queued, without blocking. Returns false if the subscriber is
 * gone (the caller drops it). */
static bool flush_sub(struct events *e, struct ev_sub *s)
{
	while (s->off < s->len) {
		ssize_t n = send(s->fd, s->buf + s->off, s->len - s->off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			return false;
		s->off += (size_t)n;
	}
	if (s->off == s->len)
		s->off = s->len = 0;
	set_out(e, s, s->len > 0);
	return true;
}

static bool queue(struct ev_sub *s, const char *line, size_t n)
{
	if (s->off && s->off == s->len)
		s->off = s->len = 0;
	if (s->len - s->off + n > EV_BACKLOG_MAX)
		return false;
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		char *p;

		if (s->off) { /* compact before growing */
			memmove(s->buf, s->buf + s->off, s->len - s->off);
			s->len -= s->off;
			s->off = 0;
		}
		while (cap < s->len + n)
			cap *= 2;
		if (cap != s->cap) {
			p = realloc(s->buf, cap);
			if (!p)
				return false;
			s->buf = p;
			s->cap = cap;
		}
	}
	memcpy(s->buf + s->len, line, n);
	s->len += n;
	return true;
}

int events_subscribe(struct events *e, int fd, uint32_t uid, bool priv)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = fd };
	struct ev hello = { .type = EV_SUBSCRIBED, .uid = uid, .priv = priv };
	char line[256];
	int err = events_may_subscribe(e, uid, priv), n;

	if (err)
		return err;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) ||
	    epoll_ctl(e->ep_fd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	e->subs[e->n++] = (struct ev_sub){ .fd = fd, .uid = uid, .priv = priv };
	n = ev_format(line, sizeof(line), &hello);
	if (n > 0 && queue(&e->subs[e->n - 1], line, (size_t)n) &&
	    flush_sub(e, &e->subs[e->n - 1]))
		e->sent++;
	return 0;
}

void events_emit(struct events *e, const struct ev *ev, uint32_t audience)
{
	char line[2048];
	int n = 0;

	for (size_t i = 0; i < e->n;) {
		struct ev_sub *s = &e->subs[i];

		if (!s->priv && audience != EV_AUDIENCE_ALL && audience != s->uid) {
			i++;
			continue;
		}
		if (!n) { /* formatted once, for the first subscriber that sees it */
			n = ev_format(line, sizeof(line), ev);
			if (n < 0) {
				log_warn("events: an event of type %d did not fit a line", ev->type);
				return;
			}
		}
		if (!queue(s, line, (size_t)n)) {
			log_warn("events: dropped a subscriber (uid %u) that did not read: "
				 "%zu bytes unread", s->uid, s->len - s->off);
			e->dropped++;
			drop_sub(e, s);
			continue; /* subs[i] is now the last one, moved */
		}
		e->sent++;
		if (!flush_sub(e, s)) {
			drop_sub(e, s);
			continue;
		}
		i++;
	}
}

bool events_handle(struct events *e, int fd, uint32_t epevents)
{
	struct ev_sub *s = find_sub(e, fd);
	char junk[256];
	ssize_t n;

	if (!s)
		return false;
	if (epevents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		/* a subscriber has nothing to say: read (bounded) and drop it at EOF */
		n = recv(fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ||
		    (epevents & (EPOLLHUP | EPOLLERR))) {
			drop_sub(e, s);
			return true;
		}
	}
	if ((epevents & EPOLLOUT) && !flush_sub(e, s))
		drop_sub(e, s);
	return true;
}

void events_close_all(struct events *e, const char *reason)
{
	struct ev stop = { .type = EV_AGENT_STOP, .msg = reason };

	/* best effort: a subscriber with a full backlog misses it */
	events_emit(e, &stop, EV_AUDIENCE_ALL);
	while (e->n)
		drop_sub(e, &e->subs[e->n - 1]);
}
