// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "bpfguard.h"
#include "parse.h"
#include "render.h"

int list_view_parse(void *buf, size_t len, struct list_view *v)
{
	uint32_t hdr[2];
	size_t need;

	memset(v, 0, sizeof(*v));
	if (len < sizeof(hdr))
		return -EPROTO;
	memcpy(hdr, buf, sizeof(hdr));
	need = sizeof(hdr) + (size_t)hdr[0] * sizeof(struct bg_list_tag) +
	       (size_t)hdr[1] * sizeof(struct bg_list_proc);
	if (need != len)
		return -EPROTO;
	v->ntags = hdr[0];
	v->nprocs = hdr[1];
	v->tags = (const void *)((const char *)buf + sizeof(hdr));
	v->procs = (const void *)(v->tags + v->ntags);
	/* comm is printed as a string: never trust the sender to end it */
	for (size_t i = 0; i < v->nprocs; i++)
		((struct bg_list_proc *)v->procs)[i].comm[sizeof(v->procs[i].comm) - 1] = '\0';
	return 0;
}

void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			/* comm is raw bytes: escape controls, and bytes >= 0x80
			 * too so that the output is valid UTF-8 whatever came in */
			if (*p < 0x20 || *p >= 0x7f)
				fprintf(out, "\\u%04x", *p);
			else
				fputc(*p, out);
		}
	}
	fputc('"', out);
}

void json_wait_status(FILE *out, uint32_t status)
{
	char buf[16];

	if (WIFSIGNALED(status)) {
		fputs("\"exit_signal\":", out);
		json_string(out, signal_name(WTERMSIG(status), buf, sizeof(buf)));
		fprintf(out, ",\"status\":%d", 128 + WTERMSIG(status));
	} else {
		fprintf(out, "\"exit_code\":%d,\"status\":%d", WEXITSTATUS(status),
			WEXITSTATUS(status));
	}
}

void json_acct(FILE *out, uint64_t born, uint64_t exited, uint64_t live, uint64_t peak,
	       uint64_t cpu_ns)
{
	fprintf(out, ",\"acct\":{\"born\":%llu,\"exited\":%llu,\"live\":%llu,\"peak\":%llu,"
		     "\"cpu_exited_ms\":%llu}",
		(unsigned long long)born, (unsigned long long)exited, (unsigned long long)live,
		(unsigned long long)peak, (unsigned long long)(cpu_ns / 1000000ull));
}

/* What a killed tag's root line says after it: " [killing]", and how its
 * root ended when it has. */
static void print_killing(FILE *out, const struct bg_list_tag *t)
{
	char buf[16];

	if (!(t->state & BG_LIST_KILLING))
		return;
	if (!(t->state & BG_LIST_ROOT_EXITED))
		fputs(" [killing]", out);
	else if (WIFSIGNALED(t->root_status))
		fprintf(out, " [killing; the root died of SIG%s]",
			signal_name(WTERMSIG(t->root_status), buf, sizeof(buf)));
	else
		fprintf(out, " [killing; the root exited %d]", WEXITSTATUS(t->root_status));
}

static const struct bg_list_tag *find_tag(const struct list_view *v, uint32_t tag)
{
	for (size_t i = 0; i < v->ntags; i++)
		if (v->tags[i].tag == tag)
			return &v->tags[i];
	return NULL;
}

/* Is a process of tag @tag inside tag @anc (itself or nested below)? */
static int tag_within(const struct list_view *v, uint32_t tag, uint32_t anc)
{
	for (size_t depth = 0; tag && depth <= v->ntags; depth++) {
		const struct bg_list_tag *t;

		if (tag == anc)
			return 1;
		t = find_tag(v, tag);
		tag = t ? t->parent : 0;
	}
	return 0;
}

static const struct bg_list_proc *find_proc(const struct list_view *v, uint32_t pid)
{
	for (size_t i = 0; i < v->nprocs; i++)
		if (v->procs[i].pid == pid)
			return &v->procs[i];
	return NULL;
}

static int is_root_of(const struct bg_list_proc *p, const struct bg_list_tag *t)
{
	return p->pid == t->root_pid && p->tag == t->tag;
}

int render_json(FILE *out, const struct list_view *v)
{
	fputc('[', out);
	for (size_t i = 0; i < v->ntags; i++) {
		const struct bg_list_tag *t = &v->tags[i];
		const struct bg_list_proc *root = find_proc(v, t->root_pid);
		int first = 1;

		fprintf(out, "%s{\"pid\":%u,\"tag\":%u,\"parent_tag\":%u,\"owner_uid\":%u,"
			"\"privileged\":%s,\"nspid\":%u,\"comm\":", i ? "," : "", t->root_pid, t->tag,
			t->parent, t->owner_uid, t->flags & BG_TAG_F_PRIV ? "true" : "false",
			root && root->nspid ? root->nspid : t->root_pid);
		json_string(out, root ? root->comm : "");
		/* descendants: host pids; adopted: those registered by `adopt`;
		 * nspids: "host pid": pid in its own namespace, where they differ */
		for (int part = 0; part < 3; part++) {
			fputs(part == 0 ? ",\"descendants\":[" : part == 1 ? "],\"adopted\":[" :
			      "],\"nspids\":{", out);
			first = 1;
			for (size_t j = 0; j < v->nprocs; j++) {
				const struct bg_list_proc *p = &v->procs[j];

				if (is_root_of(p, t) || !tag_within(v, p->tag, t->tag) ||
				    (part == 1 && !(p->flags & BG_PROC_ADOPTED)) ||
				    (part == 2 && !p->nspid))
					continue;
				if (part == 2)
					fprintf(out, "%s\"%u\":%u", first ? "" : ",", p->pid, p->nspid);
				else
					fprintf(out, "%s%u", first ? "" : ",", p->pid);
				first = 0;
			}
		}
		fprintf(out, "},\"state\":\"%s\"", t->state & BG_LIST_KILLING ? "killing" : "active");
		if (t->state & BG_LIST_ROOT_EXITED) {
			fputs(",\"root_exit\":{", out);
			json_wait_status(out, t->root_status);
			fputc('}', out);
		}
		fprintf(out, ",\"max_procs\":%u", t->max_procs);
		if (t->state & BG_LIST_ACCT)
			json_acct(out, t->born, t->exited, t->live, t->peak, t->cpu_exited_ns);
		fputc('}', out);
	}
	fputs("]\n", out);
	return ferror(out) ? -EIO : 0;
}

/*
 * The tree follows the parent recorded at fork, not today's parent: a
 * daemonized grandchild still shows under the process that forked it. A
 * process whose recorded parent is not in the lineage hangs under the root.
 */
struct node {
	uint32_t pid, parent; /* display parent */
	size_t idx;	      /* into v->procs */
};

static int by_pid(const void *a, const void *b)
{
	const struct node *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

static int by_parent(const void *a, const void *b)
{
	const struct node *x = a, *y = b;

	if (x->parent != y->parent)
		return (x->parent > y->parent) - (x->parent < y->parent);
	return (x->pid > y->pid) - (x->pid < y->pid);
}

struct tree_ctx {
	FILE *out;
	const struct list_view *v;
	struct node *kids; /* sorted by display parent */
	uint8_t *drawn;	   /* kids[i] is in the tree already */
	size_t n;
	char prefix[4 * 64 + 1];
};

static void print_node(struct tree_ctx *c, const struct bg_list_proc *p)
{
	const struct bg_list_tag *t = find_tag(c->v, p->tag);

	fprintf(c->out, "%u ", p->pid);
	/* comm is what the process named itself: a newline would draw lines
	 * of its own, an escape would talk to the terminal. '?', as ps does. */
	for (const unsigned char *s = (const unsigned char *)p->comm; *s; s++)
		fputc(*s < 0x20 || *s == 0x7f ? '?' : *s, c->out);
	if (p->nspid)
		fprintf(c->out, " (pid %u in its namespace)", p->nspid);
	if ((p->flags & BG_PROC_ROOT) && t && t->root_pid == p->pid) {
		fprintf(c->out, " [tag %u]", p->tag);
		if (!(t->flags & BG_TAG_F_PRIV))
			fprintf(c->out, " (uid %u)", t->owner_uid);
		print_killing(c->out, t);
	}
	if (p->flags & BG_PROC_ADOPTED)
		fputs(" [adopted]", c->out);
	fputc('\n', c->out);
}

static size_t first_child(const struct tree_ctx *c, uint32_t parent);

static void tree_children(struct tree_ctx *c, uint32_t parent, size_t depth)
{
	size_t len = strlen(c->prefix);

	if (depth > 4096) /* reattach_unreached() breaks loops; stay bounded anyway */
		return;
	for (size_t i = first_child(c, parent); i < c->n && c->kids[i].parent == parent; i++) {
		int last = i + 1 == c->n || c->kids[i + 1].parent != parent;

		/* Only a malformed answer lists a pid twice, but then its
		 * parents can loop where the root reaches: draw each once. */
		if (c->drawn[i])
			continue;
		c->drawn[i] = 1;
		fprintf(c->out, "%s%s", c->prefix, last ? "`-- " : "|-- ");
		print_node(c, &c->v->procs[c->kids[i].idx]);
		if (depth < 64)
			strcat(c->prefix, last ? "    " : "|   ");
		if (c->kids[i].pid != parent)
			tree_children(c, c->kids[i].pid, depth + 1);
		c->prefix[len] = '\0';
	}
}

static size_t first_child(const struct tree_ctx *c, uint32_t parent)
{
	struct node key = { .parent = parent, .pid = 0 };
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (by_parent(&c->kids[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Mark what a walk from @root reaches; hang the rest under @root. Returns
 * the number of nodes moved. */
static size_t reattach_unreached(struct tree_ctx *c, uint32_t root)
{
	uint8_t *seen = calloc(c->n + 1, 1);
	uint32_t *stack = malloc((c->n + 1) * sizeof(*stack));
	size_t top = 0, moved = 0;

	if (!seen || !stack) {
		free(seen);
		free(stack);
		return 0;
	}
	stack[top++] = root;
	while (top) {
		uint32_t pid = stack[--top];

		for (size_t i = first_child(c, pid); i < c->n && c->kids[i].parent == pid; i++) {
			if (seen[i])
				continue;
			seen[i] = 1;
			stack[top++] = c->kids[i].pid;
		}
	}
	for (size_t i = 0; i < c->n; i++) {
		if (!seen[i]) {
			c->kids[i].parent = root;
			moved++;
		}
	}
	free(seen);
	free(stack);
	return moved;
}

static int render_one(struct tree_ctx *c, const struct bg_list_tag *top, struct node *all)
{
	const struct list_view *v = c->v;
	struct node key, *hit;
	size_t n = 0;

	/* all[] holds every proc sorted by pid: members of this lineage go
	 * to kids[] with their display parent. */
	for (size_t i = 0; i < v->nprocs; i++) {
		const struct bg_list_proc *p = &v->procs[all[i].idx];

		if (is_root_of(p, top) || !tag_within(v, p->tag, top->tag))
			continue;
		key.pid = p->ppid;
		hit = bsearch(&key, all, v->nprocs, sizeof(*all), by_pid);
		c->kids[n].pid = p->pid;
		c->kids[n].idx = all[i].idx;
		c->kids[n].parent = top->root_pid;
		if (hit && p->ppid != p->pid &&
		    tag_within(v, v->procs[hit->idx].tag, top->tag))
			c->kids[n].parent = p->ppid;
		n++;
	}
	qsort(c->kids, n, sizeof(*c->kids), by_parent);
	c->n = n;
	/* Pid reuse can make recorded parents loop (A forks B, A exits, B's
	 * child gets A's pid): whatever the root does not reach hangs under it. */
	if (reattach_unreached(c, top->root_pid))
		qsort(c->kids, n, sizeof(*c->kids), by_parent);

	key.pid = top->root_pid;
	hit = bsearch(&key, all, v->nprocs, sizeof(*all), by_pid);
	if (hit)
		print_node(c, &v->procs[hit->idx]);
	else {
		fprintf(c->out, "%u ? [tag %u]", top->root_pid, top->tag);
		print_killing(c->out, top);
		fputc('\n', c->out);
	}
	c->prefix[0] = '\0';
	memset(c->drawn, 0, n);
	tree_children(c, top->root_pid, 0);
	return 0;
}

int render_tree(FILE *out, const struct list_view *v)
{
	struct tree_ctx c = { .out = out, .v = v };
	struct node *all;

	if (!v->ntags) {
		fputs("no tagged processes\n", out);
		return 0;
	}
	all = calloc(v->nprocs + 1, sizeof(*all));
	c.kids = calloc(v->nprocs + 1, sizeof(*c.kids));
	c.drawn = calloc(v->nprocs + 1, 1);
	if (!all || !c.kids || !c.drawn) {
		free(all);
		free(c.kids);
		free(c.drawn);
		return -ENOMEM;
	}
	for (size_t i = 0; i < v->nprocs; i++) {
		all[i].pid = v->procs[i].pid;
		all[i].idx = i;
	}
	qsort(all, v->nprocs, sizeof(*all), by_pid);
	for (size_t i = 0; i < v->ntags; i++)
		if (!v->tags[i].parent) /* nested tags are drawn inside */
			render_one(&c, &v->tags[i], all);
	free(all);
	free(c.kids);
	free(c.drawn);
	return ferror(out) ? -EIO : 0;
}

const struct counter_desc bg_stat_desc[BG_STAT_MAX] = {
	[BG_STAT_FORK_TRACKED] = { "forks_tracked", "Children recorded by the fork program." },
	[BG_STAT_EXIT_TRACKED] = { "exits_tracked", "Tracked processes that exited." },
	[BG_STAT_ROOT_EXIT] = { "root_exits", "Tagged roots that exited." },
	[BG_STAT_PROCS_FULL] = { "procs_map_full",
				 "Processes that could not be recorded: the procs map was full." },
	[BG_STAT_DEATHS_FULL] = { "deaths_map_full",
				  "Root deaths that could not be recorded: the deaths map was full." },
	[BG_STAT_RINGBUF_DROP] = { "ringbuf_drops",
				   "Ring-buffer records dropped (the deaths map still holds them)." },
	[BG_STAT_ENROLLED] = { "enrolled", "Processes enrolled when a tag was applied." },
	[BG_STAT_KERNEL_KILLS] = { "kernel_kills", "Signals sent in the kernel (mode kernel)." },
	[BG_STAT_KERNEL_KILL_FAILED] = { "kernel_kills_failed",
					 "Signals the kernel could not send in-kernel." },
	[BG_STAT_LIMIT_KILLS] = { "limit_kills",
				  "Children born beyond their owner's process quota, killed at birth." },
	[BG_STAT_KILLS] = { "kills", "Descendants SIGKILLed by the agent." },
	[BG_STAT_KILL_SKIPPED] = { "kills_skipped_identity",
				   "Kill candidates skipped: no longer the recorded process." },
	[BG_STAT_KILL_FAILED] = { "kills_failed", "Kills that failed (pidfd_open, pidfd_send_signal)." },
	[BG_STAT_SELF_SPARED] = { "agent_spared", "Times the agent found itself in a doomed lineage." },
	[BG_STAT_KILL_REFUSED] = { "kills_refused_uid",
				   "Descendants not killed: the unprivileged tag owner may not signal them." },
	[BG_STAT_KILLS_STUCK] = { "kills_stuck",
				  "Descendants still alive 2 s after SIGKILL (uninterruptible sleep), "
				  "watched until they die." },
};

const struct counter_desc bg_astat_desc[BG_ASTAT_MAX] = {
	[BG_ASTAT_EVENTS] = { "events_sent", "Event lines queued to subscribers." },
	[BG_ASTAT_SUBS_DROPPED] = { "event_subscribers_dropped",
				    "Event subscribers dropped because they did not read." },
	[BG_ASTAT_REFUSED] = { "requests_refused", "Control requests answered with an error." },
	[BG_ASTAT_METRICS_OK] = { "metrics_scrapes", "Metrics requests served." },
	[BG_ASTAT_METRICS_BAD] = { "metrics_errors",
				   "HTTP requests refused, timed out or over the connection limit." },
	[BG_ASTAT_QUOTA_REFUSED] = { "quota_refused",
				     "Tags, enrolments and adoptions refused for an unprivileged quota." },
};

const char *feature_name(uint32_t bit)
{
	switch (bit) {
	case BG_FEAT_BTF:
		return "btf";
	case BG_FEAT_RINGBUF:
		return "ringbuf";
	case BG_FEAT_TASK_ITER:
		return "task_iter";
	case BG_FEAT_TASK_FROM_PID:
		return "task_from_pid";
	case BG_FEAT_SEND_SIGNAL_TASK:
		return "send_signal_task";
	case BG_FEAT_GROUP_DEAD_ARG:
		return "exit_group_dead";
	}
	return NULL;
}

const char *mode_name(uint32_t mode)
{
	return mode == BG_MODE_KERNEL ? "kernel" : mode == BG_MODE_USER ? "user" : "unknown";
}

int render_status_json(FILE *out, const struct bg_status *st, const char *pin_dir)
{
	char kernel[sizeof(st->kernel) + 1];
	int first = 1;

	memcpy(kernel, st->kernel, sizeof(st->kernel));
	kernel[sizeof(st->kernel)] = '\0';
	fprintf(out, "{\"agent\":{\"pid\":%u,\"mode\":\"%s\",\"pin_dir\":", st->agent_pid,
		mode_name(st->mode));
	json_string(out, pin_dir);
	fprintf(out, ",\"start_time\":%llu,\"subscribers\":%u,\"metrics_port\":%u},",
		(unsigned long long)st->start_time, st->subscribers, st->metrics_port);
	fputs("\"kernel\":{\"release\":", out);
	json_string(out, kernel);
	fputs(",\"features\":[", out);
	for (uint32_t bit = 1; bit; bit <<= 1) {
		if (!(st->features & bit) || !feature_name(bit))
			continue;
		fprintf(out, "%s\"%s\"", first ? "" : ",", feature_name(bit));
		first = 0;
	}
	fprintf(out, "]},\"scope\":\"%s\",\"tags\":%u,\"tracked\":%u,\"limits\":{\"max_procs\":%u,"
		"\"max_tags\":%u},", st->scope & BG_STATUS_OWN ? "own" : "machine",
		st->tags, st->tracked, st->max_procs, st->max_tags);
	/* used: the caller's own with scope own, else every unprivileged uid's */
	fprintf(out, "\"quotas\":{\"user_max_procs\":%u,\"user_max_tags\":%u,"
		"\"unprivileged_max_procs\":%u,\"unprivileged_max_tags\":%u,\"used_procs\":%u,"
		"\"used_tags\":%u},\"counters\":{", st->user_max_procs, st->user_max_tags,
		st->unpriv_max_procs, st->unpriv_max_tags, st->used_procs, st->used_tags);
	for (int i = 0; i < BG_STAT_MAX; i++)
		fprintf(out, "%s\"%s\":%llu", i ? "," : "", bg_stat_desc[i].name,
			(unsigned long long)st->counters[i]);
	fputs("},\"agent_counters\":{", out);
	for (int i = 0; i < BG_ASTAT_MAX; i++)
		fprintf(out, "%s\"%s\":%llu", i ? "," : "", bg_astat_desc[i].name,
			(unsigned long long)st->agent_counters[i]);
	/* per bucket, not cumulative: count of latencies in (previous le, le] */
	fprintf(out, "},\"kill_latency_us\":{\"count\":%llu,\"sum\":%llu,\"buckets\":[",
		(unsigned long long)st->lat_count, (unsigned long long)st->lat_sum_us);
	for (int i = 0; i < BG_LAT_BUCKETS - 1; i++)
		fprintf(out, "%s{\"le\":%llu,\"count\":%llu}", i ? "," : "",
			BG_LAT_LE_US(i), (unsigned long long)st->lat_buckets[i]);
	fprintf(out, "],\"over\":%llu}}\n",
		(unsigned long long)st->lat_buckets[BG_LAT_BUCKETS - 1]);
	return ferror(out) ? -EIO : 0;
}
