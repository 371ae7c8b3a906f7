/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* `bpfguard exec --init`: stay CMD's parent, a subreaper, until its lineage is gone. */
#ifndef BG_INIT_H
#define BG_INIT_H

#include <stdbool.h>
#include <stdint.h>

#include "libbpfguard.h"

/* Run @cmd (argv, PATH searched) tagged with @o (whose msg receives the
 * tag's line), as described in init.c. Returns the exit status: CMD's as a
 * shell reports it, EXIT_RUNTIME if it could not be started. */
int init_run(const struct bpfguard_opts *o, const char *msg, char **cmd, uint64_t grace_ns,
	     bool forward_lineage);
/* A wait(2) status as a shell reports it: the exit code, or 128 + the signal. */
int init_status(int wstatus);

#endif /* BG_INIT_H */
