/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* `bpfguard list` output: a pstree-like tree for people, JSON for programs. */
#ifndef BG_RENDER_H
#define BG_RENDER_H

#include <stddef.h>
#include <stdio.h>

#include "ctl.h"

struct list_view {
	const struct bg_list_tag *tags;
	size_t ntags;
	const struct bg_list_proc *procs;
	size_t nprocs;
};

/* Split a BG_OP_LIST payload into a view (NUL-terminating every comm in
 * place). Returns 0 or -EPROTO. */
int list_view_parse(void *buf, size_t len, struct list_view *v);

/* Write @s as a JSON string literal (quotes included). */
void json_string(FILE *out, const char *s);

int render_json(FILE *out, const struct list_view *v);
int render_tree(FILE *out, const struct list_view *v);

#endif /* BG_RENDER_H */
