/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The few facts of the kernel's BTF that the agent's feature probe needs,
 * read from the raw BTF blob (/sys/kernel/btf/vmlinux) in one pass over its
 * types. libbpf parses the same blob into its tables for CO-RE when the
 * programs load; that costs seconds under valgrind, so the probe does not
 * parse it a second time. Pure: a buffer in, the facts out.
 */
#ifndef BPFGUARD_BTFSCAN_H
#define BPFGUARD_BTFSCAN_H

#include <stdbool.h>
#include <stddef.h>

struct btf_facts {
	bool iter_task;	       /* FUNC bpf_iter_task or STRUCT bpf_iter__task */
	bool task_from_pid;    /* FUNC bpf_task_from_pid */
	bool send_signal_task; /* FUNC bpf_send_signal_task */
	int exit_tp_params;    /* sched_process_exit's arguments, -1: not found */
};

/* 0, or -1 when @data is not BTF this scanner reads (bad header, a section
 * out of bounds, a type kind it does not know): the caller asks libbpf. */
int btfscan(const void *data, size_t len, struct btf_facts *out);

#endif /* BPFGUARD_BTFSCAN_H */
