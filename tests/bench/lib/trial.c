// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* trial.c: see trial.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "ftrace.h"
#include "trial.h"
#include "util.h"

const char *const mech_name[M_MAX] = {
	[M_FLOOR] = "(a) floor: harness kills all",
	[M_KERNEL] = "(b) bpfguard --mode kernel",
	[M_USER] = "(c) bpfguard --mode user",
	[M_PDEATH] = "(d) PR_SET_PDEATHSIG(SIGKILL)",
	[M_CGROUP] = "(e) cgroup.kill by supervisor",
	[M_PIDNS] = "(f) pidns, init PDEATHSIG",
	[M_POLL] = "(g) child polls kill(ppid,0)",
};

const int sizes[NSIZES] = { 1, 100, 1000 };

/* the victim command line of mechanism @m: `pidns N D` or `root N D KIND` */
static void trial_args(enum mech m, const char *a_n, const char *a_d, const char *args[5])
{
	if (m == M_PIDNS) {
		args[0] = "pidns", args[1] = a_n, args[2] = a_d, args[3] = NULL;
	} else {
		args[0] = "root", args[1] = a_n, args[2] = a_d;
		args[3] = m == M_PDEATH ? "pdeathsig" : m == M_POLL ? "poll" : "plain";
		args[4] = NULL;
	}
}

int trial(struct bench_ctx *ctx, enum mech m, int si, struct measure *res, struct tree *traced,
	  struct trial_tag *tag)
{
	int size = sizes[si], dpct = size >= 100 ? 10 : 0, cg_fd = ctx->cg_all_fd;
	int cg_dir = -1, cg_kill = -1, err = 0;
	bool tagged = m == M_KERNEL || m == M_USER;
	char a_n[16], a_d[16];
	struct tree t;
	const char *args[5];

	fmt_int(a_n, m == M_PIDNS ? size - 1 : size);
	fmt_int(a_d, dpct);
	trial_args(m, a_n, a_d, args);
	if (m == M_CGROUP) {
		if (cg_make_trial(ctx, &cg_dir, &cg_kill))
			die("cannot create a cgroup under %s: %s", ctx->cg_base, strerror(errno));
		cg_fd = cg_dir;
	}
	tree_spawn(ctx, &t, args, size, cg_fd);
	if (tagged && tree_tag(ctx, &t))
		err = -1;
	if (tag)
		*tag = (struct trial_tag){ .ok = tagged && !err, .id = t.tag, .ns = t.tag_ns };
	if (!err && tree_go(ctx, &t, 20000 + size * 20))
		err = -1;
	if (!err && m == M_POLL)
		msleep((int)(random() % 100)); /* random phase against the 100 ms poll */
	if (!err) {
		bool pd_multi = m == M_PDEATH && size > 1;

		if (traced) {
			char f[32];

			snprintf(f, sizeof(f), "pid == %d", t.root);
			trace_w(ctx, "events/sched/sched_process_exit/filter", f);
			trace_clear(ctx);
		}
		tree_kill(&t, m, cg_kill, pd_multi, 200, m == M_POLL ? 3000 : 10000 + size * 10,
			  res);
		if (traced) {
			/* give the agent time to finish its sweeps before parsing */
			msleep(tagged ? 20 : 0);
			*traced = t;
			if (m == M_CGROUP)
				cg_drop_trial(ctx, cg_dir, cg_kill);
			return 0;
		}
	}
	tree_finish(ctx, &t);
	if (m == M_CGROUP)
		cg_drop_trial(ctx, cg_dir, cg_kill);
	return err;
}
