// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
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
