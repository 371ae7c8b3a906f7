/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * mech.h: the kill mechanisms the bench compares and the three tree sizes
 * its latency and dispatch trials use (sections 1 and 5); both tables are
 * in trial.c.
 */
#ifndef BENCH_MECH_H
#define BENCH_MECH_H

enum mech { M_FLOOR, M_KERNEL, M_USER, M_PDEATH, M_CGROUP, M_PIDNS, M_POLL, M_MAX };

#define NSIZES 3

extern const char *const mech_name[M_MAX];
extern const int sizes[NSIZES]; /* 1, 100, 1000 descendants */

#endif /* BENCH_MECH_H */
