// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `bpfguard unload`: detach, unpin, stop. */
#include <errno.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "agent_priv.h"
#include "log.h"

/* Detach and unpin before answering, so `bpfguard unload` returns only once
 * nothing is attached any more. */
bool op_unload(struct agent *a, struct request *rq)
{
	int err;

	ring_buffer__free(a->rb);
	a->rb = NULL;
	store_close(&a->st);
	err = loader_unpin_all(a->st.l.pin_dir);
	a->stop = true;
	if (err && err != -ENOENT) {
		log_err("unload: cannot remove %s: %s", a->st.l.pin_dir, strerror(-err));
		reply(a, rq, -err, NULL, 0, "cannot remove %s: %s", a->st.l.pin_dir,
		      strerror(-err));
		return false;
	}
	log_info("unloaded: detached and removed %s", a->st.l.pin_dir);
	reply(a, rq, 0, NULL, 0, "unloaded %s", a->st.l.pin_dir);
	return false;
}
