/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One line per message on stderr, prefixed with a syslog level in angle
 * brackets: journald reads the level from it, `kubectl logs` shows it as is.
 */
#ifndef BG_LOG_H
#define BG_LOG_H

#include <stdio.h>

#define log_err(fmt, ...) fprintf(stderr, "<3>bpfguard: " fmt "\n", ##__VA_ARGS__)
#define log_warn(fmt, ...) fprintf(stderr, "<4>bpfguard: " fmt "\n", ##__VA_ARGS__)
#define log_notice(fmt, ...) fprintf(stderr, "<5>bpfguard: " fmt "\n", ##__VA_ARGS__)
#define log_info(fmt, ...) fprintf(stderr, "<6>bpfguard: " fmt "\n", ##__VA_ARGS__)
/* the agent writes these only with -v */
#define log_debug(fmt, ...) fprintf(stderr, "<7>bpfguard: " fmt "\n", ##__VA_ARGS__)

#endif /* BG_LOG_H */
