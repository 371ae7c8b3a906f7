// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for user/agent/authz.c: every operation against every kind of caller,
 * as one table. Each row is what an attacker (or an honest user) would try.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "agent/authz.h"

#define USER 1000
#define OTHER 1001

/*
 * The kinds of caller. What caller_identify makes of each: uids as the
 * initial user namespace sees them, priv only for CAP_KILL + CAP_BPF in the
 * agent's own user namespace.
 */
enum kind {
	ROOT,	     /* uid 0 with CAP_KILL and CAP_BPF */
	CAPLESS0,    /* uid 0 with no capability (a root container, --cap-drop ALL) */
	PLAIN,	     /* uid 1000 */
	USERNS,	     /* uid 1000 inside `unshare -Ur`: root there, nothing here */
	PIDNS,	     /* uid 1000 in a PID namespace of its own */
	MEMBER,	     /* uid 1000, a member of the lineage of the tag in question */
	OTHER_MEMBER, /* uid 1000, a member of uid 1001's lineage */
	UNKNOWN,     /* uid 1000 from SO_PEERCRED, its task could not be read */
	NKINDS,
};

static struct caller who(enum kind k)
{
	struct caller c = { .pid = 4000, .uid = USER, .ruid = USER, .known = true,
			    .same_pidns = true };

	switch (k) {
	case ROOT:
		c.uid = c.ruid = 0;
		c.priv = true;
		break;
	case CAPLESS0:
		c.uid = c.ruid = 0;
		break;
	case PIDNS:
		c.same_pidns = false;
		c.pidns_level = 1;
		break;
	case UNKNOWN:
		c.known = false;
		c.pid = 0;
		break;
	default:
		break;
	}
	return c;
}

/* The processes a request can name. */
enum target { T_OWN, T_ROOTS, T_OTHERS, T_INIT, T_KTHREAD, T_AGENT, T_SETUID, T_NONE };

static struct az_target target(enum target t)
{
	switch (t) {
	case T_OWN:
		return (struct az_target){ .ruid = USER, .suid = USER };
	case T_ROOTS:
		return (struct az_target){ .ruid = 0, .suid = 0 };
	case T_OTHERS:
		return (struct az_target){ .ruid = OTHER, .suid = OTHER };
	case T_INIT:
		return (struct az_target){ .init = true };
	case T_KTHREAD:
		return (struct az_target){ .kthread = true };
	case T_AGENT:
		return (struct az_target){ .agent = true };
	case T_SETUID: /* ran a setuid-root binary: euid 0, real uid still ours */
		return (struct az_target){ .ruid = USER, .suid = 0 };
	default:
		return (struct az_target){ 0 };
	}
}

/* The tag a change is about. */
enum tagk { G_NONE, G_MINE, G_ROOTS, G_OTHERS, G_MINE_BA, G_ROOTS_BA, G_OTHERS_BA };

static struct az_tag tagof(enum tagk g, enum kind k, uint32_t uid)
{
	struct az_tag t = { .owner_uid = uid };

	switch (g) {
	case G_MINE:
		t.owner_uid = uid;
		break;
	case G_ROOTS:
		t.priv = true;
		t.owner_uid = 0;
		break;
	case G_OTHERS:
		t.owner_uid = OTHER;
		break;
	case G_MINE_BA: /* made with --allow-breakaway */
		t.breakaway = true;
		break;
	case G_ROOTS_BA:
		t.priv = t.breakaway = true;
		t.owner_uid = 0;
		break;
	case G_OTHERS_BA:
		t.breakaway = true;
		t.owner_uid = OTHER;
		break;
	default:
		break;
	}
	/* the member kinds are inside the lineage of the tag in question */
	t.holds_caller = k == MEMBER || (k == OTHER_MEMBER && (g == G_OTHERS || g == G_OTHERS_BA));
	return t;
}

struct row {
	enum kind k;
	enum az_op op;
	enum target t;
	enum tagk g;
	enum az_verdict want;
};

#define OK AZ_OK
static const struct row rows[] = {
	/* anyone may ask for status, a list and events: what they show is az_sees_* */
	{ PLAIN, AZ_STATUS, T_NONE, G_NONE, OK },
	{ USERNS, AZ_LIST, T_NONE, G_NONE, OK },
	{ UNKNOWN, AZ_SUBSCRIBE, T_NONE, G_NONE, OK },

	/* root tags anything but pid 1, kernel threads and the agent */
	{ ROOT, AZ_TAG, T_OTHERS, G_NONE, OK },
	{ ROOT, AZ_TAG, T_INIT, G_NONE, AZ_DENY_INIT },
	{ ROOT, AZ_TAG, T_KTHREAD, G_NONE, AZ_DENY_KTHREAD },
	{ ROOT, AZ_TAG, T_AGENT, G_NONE, AZ_DENY_AGENT },
	{ ROOT, AZ_UNTAG, T_OTHERS, G_OTHERS, OK },
	{ ROOT, AZ_RETAG, T_OWN, G_MINE, OK },
	{ ROOT, AZ_UNLOAD, T_NONE, G_NONE, OK },
	{ ROOT, AZ_ADOPT, T_OTHERS, G_NONE, OK },

	/* uid 0 without capabilities: the kill(2) rule, like anyone */
	{ CAPLESS0, AZ_TAG, T_ROOTS, G_NONE, OK },
	{ CAPLESS0, AZ_TAG, T_OWN, G_NONE, AZ_DENY_SIGNAL },
	{ CAPLESS0, AZ_ADOPT, T_OTHERS, G_NONE, AZ_DENY_SIGNAL },
	{ CAPLESS0, AZ_UNTAG, T_ROOTS, G_ROOTS, AZ_DENY_OWNER },
	{ CAPLESS0, AZ_UNLOAD, T_NONE, G_NONE, AZ_DENY_PRIV },
	{ CAPLESS0, AZ_TAG, T_INIT, G_NONE, AZ_DENY_INIT },

	/* a plain user: its own processes and tags */
	{ PLAIN, AZ_TAG, T_OWN, G_NONE, OK },
	{ PLAIN, AZ_TAG, T_SETUID, G_NONE, OK },
	{ PLAIN, AZ_TAG, T_ROOTS, G_NONE, AZ_DENY_SIGNAL },
	{ PLAIN, AZ_TAG, T_OTHERS, G_NONE, AZ_DENY_SIGNAL },
	{ PLAIN, AZ_TAG, T_INIT, G_NONE, AZ_DENY_INIT },
	{ PLAIN, AZ_RETAG, T_OWN, G_MINE, OK },
	{ PLAIN, AZ_RETAG, T_OWN, G_ROOTS, AZ_DENY_OWNER },
	{ PLAIN, AZ_UNTAG, T_OWN, G_MINE, OK },
	{ PLAIN, AZ_UNTAG, T_OWN, G_ROOTS, AZ_DENY_OWNER },
	{ PLAIN, AZ_UNTAG, T_OWN, G_OTHERS, AZ_DENY_OWNER },
	{ PLAIN, AZ_UNTAG, T_OTHERS, G_OTHERS, AZ_DENY_SIGNAL },
	{ PLAIN, AZ_ADOPT, T_OWN, G_NONE, OK },
	{ PLAIN, AZ_ADOPT, T_ROOTS, G_NONE, AZ_DENY_SIGNAL },
	{ PLAIN, AZ_UNLOAD, T_NONE, G_NONE, AZ_DENY_PRIV },

	/* root of a user namespace: still uid 1000 here, with no capability */
	{ USERNS, AZ_TAG, T_OWN, G_NONE, OK },
	{ USERNS, AZ_TAG, T_ROOTS, G_NONE, AZ_DENY_SIGNAL },
	{ USERNS, AZ_ADOPT, T_ROOTS, G_NONE, AZ_DENY_SIGNAL },
	{ USERNS, AZ_UNTAG, T_ROOTS, G_ROOTS, AZ_DENY_SIGNAL },
	{ USERNS, AZ_UNTAG, T_OWN, G_ROOTS, AZ_DENY_OWNER },
	{ USERNS, AZ_UNLOAD, T_NONE, G_NONE, AZ_DENY_PRIV },

	/* in a PID namespace: the same rules (it names processes by pidfds it
	 * opened there, so only ones it can see) */
	{ PIDNS, AZ_TAG, T_OWN, G_NONE, OK },
	{ PIDNS, AZ_TAG, T_OTHERS, G_NONE, AZ_DENY_SIGNAL },
	{ PIDNS, AZ_UNTAG, T_OWN, G_MINE, OK },
	{ PIDNS, AZ_UNLOAD, T_NONE, G_NONE, AZ_DENY_PRIV },

	/* a member of the lineage cannot free itself, even from its own tag */
	{ MEMBER, AZ_UNTAG, T_OWN, G_MINE, AZ_DENY_MEMBER },
	{ MEMBER, AZ_RETAG, T_OWN, G_MINE, AZ_DENY_MEMBER },
	{ MEMBER, AZ_UNTAG, T_OWN, G_ROOTS, AZ_DENY_OWNER },
	{ MEMBER, AZ_TAG, T_OWN, G_NONE, OK },	 /* a nested tag shrinks nothing */
	{ MEMBER, AZ_ADOPT, T_OWN, G_NONE, OK }, /* neither does adding one */

	/* a member of another user's lineage: that user's tag is not its own */
	{ OTHER_MEMBER, AZ_UNTAG, T_OWN, G_OTHERS, AZ_DENY_OWNER },
	{ OTHER_MEMBER, AZ_UNTAG, T_OWN, G_MINE, OK },
	{ OTHER_MEMBER, AZ_RETAG, T_OTHERS, G_OTHERS, AZ_DENY_SIGNAL },

	/* a caller the agent could not read from its task may add, not remove */
	{ UNKNOWN, AZ_TAG, T_OWN, G_NONE, OK },
	{ UNKNOWN, AZ_UNTAG, T_OWN, G_MINE, AZ_DENY_UNKNOWN },
	{ UNKNOWN, AZ_RETAG, T_OWN, G_MINE, AZ_DENY_UNKNOWN },
	{ UNKNOWN, AZ_UNLOAD, T_NONE, G_NONE, AZ_DENY_PRIV },

	/* kill on request: the owner or root; a member may (it frees nothing) */
	{ ROOT, AZ_KILL, T_OTHERS, G_OTHERS, OK },
	{ ROOT, AZ_KILL, T_INIT, G_NONE, AZ_DENY_INIT },
	{ PLAIN, AZ_KILL, T_OWN, G_MINE, OK },
	{ PLAIN, AZ_KILL, T_OWN, G_ROOTS, AZ_DENY_OWNER },   /* root's tag over its process */
	{ PLAIN, AZ_KILL, T_OWN, G_OTHERS, AZ_DENY_OWNER },  /* another's tag over its process */
	{ PLAIN, AZ_KILL, T_OTHERS, G_OTHERS, AZ_DENY_SIGNAL },
	{ PLAIN, AZ_KILL, T_OWN, G_NONE, AZ_DENY_OWNER },    /* no tag facts: refused */
	{ CAPLESS0, AZ_KILL, T_ROOTS, G_ROOTS, AZ_DENY_OWNER },
	{ USERNS, AZ_KILL, T_ROOTS, G_ROOTS, AZ_DENY_SIGNAL },
	{ MEMBER, AZ_KILL, T_OWN, G_MINE, OK },
	{ UNKNOWN, AZ_KILL, T_OWN, G_MINE, OK },
	{ OTHER_MEMBER, AZ_KILL, T_OWN, G_OTHERS, AZ_DENY_OWNER },

	/* wait: who may see the tag (it tells when and how the lineage ended) */
	{ ROOT, AZ_WAIT, T_NONE, G_OTHERS, OK },
	{ PLAIN, AZ_WAIT, T_NONE, G_MINE, OK },
	{ PLAIN, AZ_WAIT, T_OWN, G_ROOTS, AZ_DENY_OWNER },
	{ PLAIN, AZ_WAIT, T_NONE, G_OTHERS, AZ_DENY_OWNER },
	{ CAPLESS0, AZ_WAIT, T_NONE, G_ROOTS, AZ_DENY_OWNER },
	{ MEMBER, AZ_WAIT, T_OWN, G_MINE, OK },
	{ USERNS, AZ_WAIT, T_NONE, G_NONE, AZ_DENY_OWNER },

	/* release: a tag made with --allow-breakaway lets whoever may signal
	 * the member take it out; without, only its owner from outside, or
	 * root. A member never frees itself from a tag that does not allow it */
	{ ROOT, AZ_RELEASE, T_OTHERS, G_OTHERS, OK },
	{ ROOT, AZ_RELEASE, T_INIT, G_ROOTS_BA, AZ_DENY_INIT },
	{ PLAIN, AZ_RELEASE, T_OWN, G_MINE, OK },
	{ PLAIN, AZ_RELEASE, T_OWN, G_ROOTS, AZ_DENY_BREAKAWAY },
	{ PLAIN, AZ_RELEASE, T_OWN, G_ROOTS_BA, OK },
	{ PLAIN, AZ_RELEASE, T_OWN, G_OTHERS, AZ_DENY_BREAKAWAY },
	{ PLAIN, AZ_RELEASE, T_OTHERS, G_OTHERS_BA, AZ_DENY_SIGNAL },
	{ MEMBER, AZ_RELEASE, T_OWN, G_MINE, AZ_DENY_BREAKAWAY },
	{ MEMBER, AZ_RELEASE, T_OWN, G_ROOTS, AZ_DENY_BREAKAWAY },
	{ MEMBER, AZ_RELEASE, T_OWN, G_MINE_BA, OK },
	{ MEMBER, AZ_RELEASE, T_OWN, G_ROOTS_BA, OK },
	{ MEMBER, AZ_RELEASE, T_ROOTS, G_ROOTS_BA, AZ_DENY_SIGNAL },
	{ CAPLESS0, AZ_RELEASE, T_ROOTS, G_ROOTS, AZ_DENY_BREAKAWAY },
	{ USERNS, AZ_RELEASE, T_ROOTS, G_ROOTS_BA, AZ_DENY_SIGNAL },
	{ UNKNOWN, AZ_RELEASE, T_OWN, G_MINE, AZ_DENY_BREAKAWAY },
	{ UNKNOWN, AZ_RELEASE, T_OWN, G_MINE_BA, OK },
	{ PLAIN, AZ_RELEASE, T_OWN, G_NONE, AZ_DENY_BREAKAWAY }, /* no tag facts: refused */
};

static const char *const kinds[] = { "root", "capless uid 0", "user", "user in a userns",
				     "user in a pidns", "lineage member",
				     "member of another's lineage", "unidentified" };

static void test_table(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct caller c = who(r->k);
		struct az_target t = target(r->t);
		struct az_tag g = tagof(r->g, r->k, c.uid);
		enum az_verdict v = az_check(r->op, &c, r->t == T_NONE ? NULL : &t,
					     r->g == G_NONE ? NULL : &g);

		if (v != r->want) {
			fprintf(stderr, "row %zu: %s, op %d: verdict %d, want %d\n", i, kinds[r->k],
				r->op, v, r->want);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* Every kind of caller against every op that names a process, so that no
 * combination is left to chance: only the privileged caller acts on a
 * process it may not signal. */
static void test_every_kind_needs_kill_rule(void **state)
{
	static const enum az_op ops[] = { AZ_TAG, AZ_RETAG, AZ_UNTAG, AZ_ADOPT, AZ_RELEASE };

	(void)state;
	for (int k = 0; k < NKINDS; k++) {
		struct caller c = who((enum kind)k);
		struct az_target t = target(c.uid ? T_ROOTS : T_OTHERS);
		struct az_tag g = { .owner_uid = c.uid };

		for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
			enum az_verdict v = az_check(ops[o], &c, &t, &g);

			if (k == ROOT)
				assert_int_equal(v, AZ_OK);
			else
				assert_int_equal(v, AZ_DENY_SIGNAL);
		}
		assert_int_equal(az_check(AZ_UNLOAD, &c, NULL, NULL),
				 k == ROOT ? AZ_OK : AZ_DENY_PRIV);
	}
}

/* The kill(2) uid rule, each of its four ways to match and none else. */
static void test_may_signal(void **state)
{
	struct caller c = { .uid = 10, .ruid = 20 };
	struct az_target t;

	(void)state;
	t = (struct az_target){ .ruid = 10, .suid = 99 };
	assert_true(az_may_signal(&c, &t));
	t = (struct az_target){ .ruid = 20, .suid = 99 };
	assert_true(az_may_signal(&c, &t));
	t = (struct az_target){ .ruid = 99, .suid = 10 };
	assert_true(az_may_signal(&c, &t));
	t = (struct az_target){ .ruid = 99, .suid = 20 };
	assert_true(az_may_signal(&c, &t));
	t = (struct az_target){ .ruid = 99, .suid = 98 };
	assert_false(az_may_signal(&c, &t));
	/* a privileged caller is not a uid match: az_check decides that */
	c.priv = true;
	assert_false(az_may_signal(&c, &t));
}

/* Who sees what: privileged callers everything; others the unprivileged
 * tags they made, never root's (even over their own processes). */
static void test_sees(void **state)
{
	struct az_tag mine = { .owner_uid = USER }, roots = { .priv = true, .owner_uid = USER },
		      others = { .owner_uid = OTHER };

	(void)state;
	for (int k = 0; k < NKINDS; k++) {
		struct caller c = who((enum kind)k);

		assert_true(az_sees_tag(&c, &others) == (k == ROOT));
		assert_true(az_sees_tag(&c, &roots) == (k == ROOT));
		assert_true(az_sees_machine(&c) == (k == ROOT));
		assert_true(az_sees_tag(&c, &mine) == (k == ROOT || c.uid == USER));
	}
	assert_false(az_sees_tag(&(struct caller){ .uid = USER }, NULL));
}

/* Every refusal has a reason and answers EPERM. */
static void test_reasons(void **state)
{
	(void)state;
	for (int v = AZ_DENY_INIT; v <= AZ_DENY_PRIV; v++) {
		assert_int_equal(az_errno((enum az_verdict)v), 1 /* EPERM */);
		assert_true(strlen(az_reason((enum az_verdict)v)) > 10);
	}
	assert_int_equal(az_errno(AZ_OK), 0);
	assert_int_equal(az_check(AZ_OP_MAX, &(struct caller){ .priv = true }, NULL, NULL),
			 AZ_DENY_PRIV);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_every_kind_needs_kill_rule),
		cmocka_unit_test(test_may_signal),
		cmocka_unit_test(test_sees),
		cmocka_unit_test(test_reasons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
