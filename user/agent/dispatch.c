// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Which handler answers which op, after which authorization. */
#include <errno.h>
#include <stddef.h>

#include "agent_priv.h"

struct op_entry {
	const char *name;
	bool (*handler)(struct agent *a, struct request *rq);
	/* what authz.c is asked; the handlers that name processes ask it
	 * themselves, once the processes are resolved (AZ_TAG, AZ_UNTAG...) */
	enum az_op az;
	bool gate;    /* az_check(az) on the caller alone before the handler */
	bool changes; /* a success changes tags or entries: status walks again */
	uint32_t flags; /* the BG_REQ_F_* it takes */
};

static const struct op_entry ops[] = {
	[BG_OP_STATUS] = { .name = "status", .handler = op_status, .az = AZ_STATUS },
	[BG_OP_TAG] = { .name = "tag", .handler = op_tag, .az = AZ_TAG, .changes = true,
			.flags = BG_REQ_F_ALLOW_BREAKAWAY },
	[BG_OP_UNTAG] = { .name = "untag", .handler = op_untag, .az = AZ_UNTAG, .changes = true },
	[BG_OP_LIST] = { .name = "list", .handler = op_list, .az = AZ_LIST },
	[BG_OP_UNLOAD] = { .name = "unload", .handler = op_unload, .az = AZ_UNLOAD, .gate = true },
	[BG_OP_ADOPT] = { .name = "adopt", .handler = op_adopt, .az = AZ_ADOPT, .changes = true },
	[BG_OP_EVENTS] = { .name = "events", .handler = op_events, .az = AZ_SUBSCRIBE },
	[BG_OP_KILL] = { .name = "kill", .handler = op_kill, .az = AZ_KILL, .changes = true,
			 .flags = BG_REQ_F_WAIT },
	[BG_OP_WAIT] = { .name = "wait", .handler = op_wait, .az = AZ_WAIT,
			 .flags = BG_REQ_F_BY_TAG },
	[BG_OP_SIGNAL] = { .name = "signal", .handler = op_signal, .az = AZ_KILL },
	[BG_OP_RELEASE] = { .name = "release", .handler = op_release, .az = AZ_RELEASE,
			    .changes = true },
};

static const struct op_entry *op_find(uint16_t op)
{
	return op < sizeof(ops) / sizeof(ops[0]) && ops[op].handler ? &ops[op] : NULL;
}

const char *op_name(uint16_t op)
{
	const struct op_entry *e = op_find(op);

	return e ? e->name : "unknown";
}

/* Answer one complete, well-formed request. Returns true if the
 * connection was kept (an event subscriber, a waiter), false if the caller
 * closes it. */
bool serve(struct agent *a, struct request *rq)
{
	const struct op_entry *e = op_find(rq->req->op);
	bool keep = false;

	if (!e)
		reply(a, rq, EINVAL, NULL, 0, "unknown request %u", rq->req->op);
	else if (rq->req->flags & ~e->flags)
		reply(a, rq, EINVAL, NULL, 0, "unknown request flags");
	else if (!e->gate || !refuse(a, rq, az_check(e->az, rq->c, NULL, NULL), -1, 0, 0, NULL))
		keep = e->handler(a, rq);
	/* the agent changed tags or entries: status must not answer from before */
	if (e && e->changes && !rq->status)
		sc_invalidate(&a->sc);
	return keep;
}
