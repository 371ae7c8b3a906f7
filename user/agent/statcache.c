// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "statcache.h"

void sc_invalidate(struct stat_cache *c)
{
	c->valid = false;
}

bool sc_fresh(const struct stat_cache *c, const uint64_t sig[SC_SIG_N], uint64_t now,
	      bool exact)
{
	if (!c->valid || now < c->at || now - c->at >= SC_MAX_AGE_NS)
		return false;
	return !exact || !memcmp(c->sig, sig, sizeof(c->sig));
}

void sc_store(struct stat_cache *c, const uint64_t sig[SC_SIG_N], uint64_t now, uint32_t tags,
	      uint32_t tracked)
{
	c->valid = true;
	c->at = now;
	memcpy(c->sig, sig, sizeof(c->sig));
	c->tags = tags;
	c->tracked = tracked;
}

void sc_owner_reset(struct stat_cache *c)
{
	c->nown = 0;
}

/* Owners are few (a uid per unprivileged user with a tag): a linear search,
 * newest first. */
const struct sc_owner *sc_owner_find(const struct stat_cache *c, uint32_t uid)
{
	for (size_t i = c->nown; i > 0; i--)
		if (c->own[i - 1].uid == uid)
			return &c->own[i - 1];
	return NULL;
}

int sc_owner_add(struct stat_cache *c, uint32_t uid, uint32_t tags, uint32_t tracked)
{
	struct sc_owner *o = (struct sc_owner *)sc_owner_find(c, uid);

	if (!o) {
		if (c->nown == c->owncap) {
			size_t cap = c->owncap ? c->owncap * 2 : 16;
			struct sc_owner *p = realloc(c->own, cap * sizeof(*p));

			if (!p)
				return -ENOMEM;
			c->own = p;
			c->owncap = cap;
		}
		o = &c->own[c->nown++];
		*o = (struct sc_owner){ .uid = uid };
	}
	o->tags += tags;
	o->tracked += tracked;
	return 0;
}

void sc_free(struct stat_cache *c)
{
	free(c->own);
	c->own = NULL;
	c->nown = c->owncap = 0;
}
