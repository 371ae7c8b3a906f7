/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * lineage_fixture.h: what the unit tests of user/lineage.c share: short names
 * for the tag states and add(), one tag record into a table.
 */
#ifndef TESTS_LINEAGE_FIXTURE_H
#define TESTS_LINEAGE_FIXTURE_H

#include "bpfguard.h"
#include "lineage.h"

enum { A = BG_TAG_ACTIVE, M = BG_TAG_MERGED, X = BG_TAG_DETACHED, D = BG_TAG_DOOMED };

static inline void add(struct tag_table *tt, uint32_t id, uint32_t state, uint32_t parent)
{
	struct bg_tag t = {
		.root_start = 1000 + id,
		.root_pid = 100 * id,
		.parent = parent,
		.state = state,
		.signal = 9,
	};

	assert_int_equal(tt_add(tt, id, &t), 0);
}

#endif /* TESTS_LINEAGE_FIXTURE_H */
