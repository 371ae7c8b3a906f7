// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfguard.h" /* the skeleton names its types */
#include "bpfguard.skel.h"
#include "store.h"

#define SCAN_CHUNK 4096

int store_open(struct store *s)
{
	struct bpfguard *skel = s->l.skel;

	s->procs_fd = bpf_map__fd(skel->maps.procs);
	s->tags_fd = bpf_map__fd(skel->maps.tags);
	s->deaths_fd = bpf_map__fd(skel->maps.deaths);
	s->stats_fd = bpf_map__fd(skel->maps.stats);
	s->meta_fd = bpf_map__fd(skel->maps.meta);
	s->quota_fd = bpf_map__fd(skel->maps.quota);
	s->events_fd = bpf_map__fd(skel->maps.events);
	s->ended_fd = bpf_map__fd(skel->maps.ended);
	s->acct_fd = bpf_map__fd(skel->maps.acct);
	return 0;
}

void store_close(struct store *s)
{
	loader_close(&s->l);
	free(s->scan_keys);
	free(s->scan_vals);
	s->scan_keys = NULL;
	s->scan_vals = NULL;
}

int store_load_tags(struct store *s, struct tag_table *tt)
{
	uint32_t key, next;
	struct bg_tag t;
	int err;

	tt_reset(tt);
	for (err = bpf_map_get_next_key(s->tags_fd, NULL, &next); !err;
	     err = bpf_map_get_next_key(s->tags_fd, &key, &next)) {
		key = next;
		if (bpf_map_lookup_elem(s->tags_fd, &key, &t))
			continue; /* deleted meanwhile */
		if (tt_add(tt, key, &t))
			return -ENOMEM;
	}
	return errno == ENOENT ? 0 : -errno;
}

int store_put_tag(struct store *s, uint32_t id, const struct bg_tag *t)
{
	if (bpf_map_update_elem(s->tags_fd, &id, t, BPF_ANY))
		return -errno;
	return 0;
}

int store_del_tag(struct store *s, uint32_t id)
{
	bpf_map_delete_elem(s->acct_fd, &id); /* the accounting goes with the record */
	return bpf_map_delete_elem(s->tags_fd, &id) ? -errno : 0;
}

int store_acct_create(struct store *s, uint32_t id)
{
	struct bg_acct zero = { 0 };

	/* written once, before anything counts into it (a record a crashed
	 * agent left for a reused id is reset): the BPF side adds */
	return bpf_map_update_elem(s->acct_fd, &id, &zero, BPF_ANY) ? -errno : 0;
}

int store_acct(struct store *s, uint32_t id, struct bg_acct *out)
{
	return bpf_map_lookup_elem(s->acct_fd, &id, out) ? -errno : 0;
}

/*
 * Batched lookups cost one syscall per 4096 entries; a bucket larger than
 * the batch (ENOSPC) falls back to walking keys one by one.
 */
int store_scan_procs(struct store *s, proc_cb cb, void *ctx)
{
	DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint32_t in = 0, out = 0, count, key, next;
	bool first = true;
	int err, r;

	/* calloc, once: valgrind (3.19) does not know that the kernel fills
	 * them in BPF_MAP_LOOKUP_BATCH, and reported every read of them */
	if (!s->scan_keys)
		s->scan_keys = calloc(SCAN_CHUNK, sizeof(*s->scan_keys));
	if (!s->scan_vals)
		s->scan_vals = calloc(SCAN_CHUNK, sizeof(*s->scan_vals));
	if (!s->scan_keys || !s->scan_vals)
		return -ENOMEM;
	for (;;) {
		count = SCAN_CHUNK;
		err = bpf_map_lookup_batch(s->procs_fd, first ? NULL : &in, &out, s->scan_keys,
					   s->scan_vals, &count, &opts);
		if (err && errno != ENOENT)
			break;
		for (uint32_t i = 0; i < count; i++) {
			r = cb(ctx, s->scan_keys[i], &s->scan_vals[i]);
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

	for (err = bpf_map_get_next_key(s->procs_fd, NULL, &next); !err;
	     err = bpf_map_get_next_key(s->procs_fd, &key, &next)) {
		struct bg_proc p;

		key = next;
		if (bpf_map_lookup_elem(s->procs_fd, &key, &p))
			continue;
		r = cb(ctx, key, &p);
		if (r)
			return r;
	}
	return 0;
}

int store_proc(struct store *s, uint32_t pid, struct bg_proc *e)
{
	return bpf_map_lookup_elem(s->procs_fd, &pid, e) ? -ENOENT : 0;
}

/*
 * The per-CPU value buffers are zeroed first: the kernel fills all of them,
 * but valgrind's bpf() wrapper sizes a per-CPU value as one CPU's and would
 * see the others as uninitialised.
 */
void store_stat_add(struct store *s, uint32_t idx, uint64_t n)
{
	uint64_t vals[s->ncpus];

	memset(vals, 0, sizeof(vals));
	if (!n || bpf_map_lookup_elem(s->stats_fd, &idx, vals))
		return;
	vals[0] += n; /* agent-owned counters live in CPU 0's slot */
	bpf_map_update_elem(s->stats_fd, &idx, vals, BPF_ANY);
}

uint64_t store_stat_total(struct store *s, uint32_t idx)
{
	uint64_t vals[s->ncpus], sum = 0;

	memset(vals, 0, sizeof(vals));
	if (!bpf_map_lookup_elem(s->stats_fd, &idx, vals))
		for (int c = 0; c < s->ncpus; c++)
			sum += vals[c];
	return sum;
}

void store_stats_sum(struct store *s, uint64_t *out, int n)
{
	for (uint32_t i = 0; i < (uint32_t)n && i < BG_STAT_MAX; i++)
		out[i] = store_stat_total(s, i);
}

uint64_t store_quota_used(struct store *s, uint32_t uid)
{
	uint64_t v = 0;

	return bpf_map_lookup_elem(s->quota_fd, &uid, &v) ? 0 : v;
}

int store_quota_create(struct store *s, uint32_t uid)
{
	uint64_t zero = 0;

	if (!bpf_map_update_elem(s->quota_fd, &uid, &zero, BPF_NOEXIST) || errno == EEXIST)
		return 0;
	return -errno;
}

size_t store_quota_select(struct store *s, bool (*pick)(void *ctx, uint32_t uid), void *ctx,
			  uint32_t *keys, size_t max)
{
	uint32_t key, next;
	size_t n = 0;
	int err;

	for (err = bpf_map_get_next_key(s->quota_fd, NULL, &next); !err && n < max;
	     err = bpf_map_get_next_key(s->quota_fd, &key, &next)) {
		key = next;
		if (pick(ctx, key))
			keys[n++] = key;
	}
	return n;
}

int store_quota_del(struct store *s, uint32_t uid)
{
	return bpf_map_delete_elem(s->quota_fd, &uid) ? -errno : 0;
}

int store_death(struct store *s, uint32_t tag, struct bg_death *d)
{
	return bpf_map_lookup_elem(s->deaths_fd, &tag, d) ? -ENOENT : 0;
}

int store_death_next(struct store *s, const uint32_t *prev, uint32_t *key)
{
	return bpf_map_get_next_key(s->deaths_fd, prev, key) ? -ENOENT : 0;
}

int store_death_add(struct store *s, uint32_t tag, const struct bg_death *d)
{
	return bpf_map_update_elem(s->deaths_fd, &tag, d, BPF_NOEXIST) ? -errno : 0;
}

void store_put_ended(struct store *s, uint32_t tag, const struct bg_ended *e)
{
	bpf_map_update_elem(s->ended_fd, &tag, e, BPF_ANY);
}

int store_ended(struct store *s, uint32_t tag, struct bg_ended *e)
{
	return bpf_map_lookup_elem(s->ended_fd, &tag, e) ? -errno : 0;
}

void store_death_del(struct store *s, uint32_t tag)
{
	bpf_map_delete_elem(s->deaths_fd, &tag);
}

int store_new_tag_id(struct store *s, uint32_t *id)
{
	uint32_t zero = 0;
	struct bg_meta m;

	if (bpf_map_lookup_elem(s->meta_fd, &zero, &m))
		return -ENOENT;
	*id = m.next_tag++;
	if (!*id || bpf_map_update_elem(s->meta_fd, &zero, &m, BPF_ANY))
		return -EIO;
	return 0;
}
