/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What cli.c and cli_parse.c share, and nothing else includes. */
#ifndef BG_CLI_PRIV_H
#define BG_CLI_PRIV_H

#include <stdio.h>

#define err_line(fmt, ...) fprintf(stderr, "bpfguard: " fmt "\n", ##__VA_ARGS__)

/* room for the longest line the library writes (two pin dirs) */
#define BG_MSG_MAX 512

#endif /* BG_CLI_PRIV_H */
