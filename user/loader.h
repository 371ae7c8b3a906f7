/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The BPF side's life cycle: bpffs, open -> size -> load (maps pinned or
 * reused) -> attach (links pinned, replacing an older agent's links without
 * a gap) -> detach and unpin on `unload`.
 */
#ifndef BG_LOADER_H
#define BG_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quota.h"

#define BG_PIN_DIR_DEFAULT "/sys/fs/bpf/bpfguard"

struct bpfguard;
struct bpf_link;

struct loader {
	struct bpfguard *skel;
	struct bpf_link *enroll;  /* task iterator: enrol a root's descendants */
	struct bpf_link *members; /* task iterator: list a lineage's members */
	char pin_dir[256];
	uint32_t max_procs, max_tags;
	uint32_t ring_size; /* bytes */
	/* --user-max-procs/--user-max-tags (0: default), set before
	 * loader_load, which resolves them into @q for the sizes in force */
	uint32_t want_user_procs, want_user_tags;
	struct quota_cfg q;
};

/*
 * Probe what this kernel offers (enum bg_feature in include/ctl.h) and
 * describe it in @desc. Returns the feature mask.
 */
uint32_t loader_probe_features(char *desc, size_t len);
/* The features bpfguard cannot work without; a message names what is
 * missing. Returns 0 if all are there, else -EOPNOTSUPP. */
int loader_check_minimum(uint32_t features);

/* Mount bpffs at /sys/fs/bpf if @pin_dir is below it and it is not mounted,
 * then create @pin_dir. Returns 0 or -errno (message logged). */
int loader_prepare_dir(const char *pin_dir);

/* Open and load, reusing maps already pinned in the pin dir. Sizes of 0
 * keep the pinned (or default) sizes; a pinned map keeps its size. Returns
 * 0 or -errno. */
int loader_load(struct loader *l, const char *pin_dir, uint32_t max_procs,
		uint32_t max_tags, uint32_t ring_size, bool kernel_kill, bool verbose);
/* Attach fork/exit programs and pin their links (replacing older ones). */
int loader_attach(struct loader *l);
/* Leave everything pinned (enforcement goes on in the kernel), free memory. */
void loader_close(struct loader *l);

/* Remove every pin in @pin_dir and the dir: detaches whatever no process
 * holds open. Returns 0, or -errno (-ENOENT: nothing was there). */
int loader_unpin_all(const char *pin_dir);

/* Run a task iterator once; *buf (malloc'd, caller frees) receives all it
 * wrote, *len its size. Returns 0 or -errno. */
int loader_read_iter(struct bpf_link *link, char **buf, size_t *len);

#endif /* BG_LOADER_H */
