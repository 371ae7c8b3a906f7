/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* `bpfguard list` output: a pstree-like tree for people, JSON for programs. */
#ifndef BG_RENDER_H
#define BG_RENDER_H

#include <stddef.h>
#include <stdint.h>
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

/* A wait(2) status as a shell reports it: "exit_code":N (exit(3)'s value)
 * or "exit_signal":"NAME" (the fatal signal), then "status":N (the code,
 * or 128 + the signal). Members of an object, no comma before. */
void json_wait_status(FILE *out, uint32_t status);

/* ,"acct":{"born":N,"exited":N,"live":N,"peak":N,"cpu_exited_ms":N}: a
 * lineage's accounting (bg_acct), comma first. */
void json_acct(FILE *out, uint64_t born, uint64_t exited, uint64_t live, uint64_t peak,
	       uint64_t cpu_ns);

int render_json(FILE *out, const struct list_view *v);
int render_tree(FILE *out, const struct list_view *v);

/* A counter's name (status, JSON, metrics: bpfguard_<name>_total) and a
 * one-line description (the metrics' HELP). */
struct counter_desc {
	const char *name;
	const char *help;
};
extern const struct counter_desc bg_stat_desc[];  /* enum bg_stat */
extern const struct counter_desc bg_astat_desc[]; /* enum bg_agent_stat */

/* Name of one BG_FEAT_* bit, NULL for an unknown one. */
const char *feature_name(uint32_t bit);
const char *mode_name(uint32_t mode);

/* `bpfguard status --json`: one object (schema in README.md). */
int render_status_json(FILE *out, const struct bg_status *st, const char *pin_dir);

#endif /* BG_RENDER_H */
