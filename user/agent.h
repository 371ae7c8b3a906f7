/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef BG_AGENT_H
#define BG_AGENT_H

#include <stdbool.h>
#include <stdint.h>

struct agent_opts {
	const char *pin_dir;
	int mode; /* enum bg_mode */
	bool verbose;
	uint32_t max_procs, max_tags;
	const char *metrics_addr; /* --metrics ADDR:PORT (validated), NULL: none */
	uint32_t ring_size; /* bytes; 0: the pinned or default size */
	/* --user-max-procs, --user-max-tags: per unprivileged owner uid; 0:
	 * the defaults (quota.c) */
	uint32_t user_max_procs, user_max_tags;
};

/* Run the agent until SIGTERM/SIGINT or an unload request. Returns the
 * process exit code. */
int agent_run(const struct agent_opts *o);

#endif /* BG_AGENT_H */
