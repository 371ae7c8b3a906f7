// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <signal.h>

#include "deathrule.h"

enum death_step death_step(const struct death_facts *f, uint64_t *deadline)
{
	*deadline = f->death_ts + (f->tagged ? f->grace_ns : 0);
	if (!f->tagged)
		return DS_DONE;
	/* the lineage obeyed the signal: no need to wait for the deadline */
	if (f->in_grace && f->grace_empty)
		return DS_KILL;
	if (f->signal != SIGKILL && f->grace_ns && f->now < *deadline) {
		if (f->in_grace)
			return DS_GRACE_WAIT;
		return f->budget_left ? DS_GRACE_START : DS_BUDGET;
	}
	/* a signal with no grace: it goes first, SIGKILL right after */
	if (f->signal != SIGKILL && !f->grace_ns && !f->in_grace)
		return f->budget_left ? DS_SIGNAL_KILL : DS_BUDGET;
	return DS_KILL;
}

enum death_outcome death_outcome(int err)
{
	if (err == -EBUSY)
		return DO_BUDGET;
	if (err == -EINPROGRESS)
		return DO_KEPT;
	return err ? DO_RETRY : DO_DONE;
}

uint64_t kill_pace(size_t unwatched, int polls)
{
	uint64_t pace = UNWATCHED_PACE_NS;

	if (!unwatched)
		return TICK_NS;
	for (int i = 1; i < polls && pace < TICK_NS; i++)
		pace *= 2;
	return pace < TICK_NS ? pace : TICK_NS;
}

bool kill_waits(size_t live, int idle, uint64_t last_sweep, uint64_t pace, uint64_t now,
		uint64_t *next)
{
	uint64_t due = last_sweep + (idle >= 2 ? TICK_NS : pace);

	if (!((live || idle >= 2) && now < due))
		return false;
	if (due < *next)
		*next = due;
	return true;
}

uint64_t kill_again(size_t live, int idle, uint64_t pace, uint64_t now)
{
	if (idle >= 2)
		return now + TICK_NS;
	return live ? now + pace : now;
}
