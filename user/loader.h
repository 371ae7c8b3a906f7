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
	bool sweep_sys;		  /* ... or the syscall sweep (bg_sweep) instead */
	char pin_dir[256];
	uint32_t max_procs, max_tags;
	uint32_t ring_size; /* bytes */
	struct quota_cfg q; /* resolved by loader_load for the sizes in force */
};

/* What loader_load is asked for. Sizes of 0 keep the pinned (or default)
 * sizes; a pinned map keeps its size. */
struct loader_opts {
	const char *pin_dir;
	uint32_t max_procs, max_tags;
	uint32_t ring_size; /* bytes */
	/* --user-max-procs/--user-max-tags (0: the defaults, quota.c) */
	uint32_t user_max_procs, user_max_tags;
	bool kernel_kill; /* the fork program signals in-kernel (mode kernel) */
	bool exit_kill;	  /* and the exit program signals the lineage itself */
	/* the sweep reads the tracked pids (bg_sweep: bpf_task_from_pid,
	 * 6.2), not every task of the machine (bg_members) */
	bool sweep_sys;
	bool verbose;	  /* libbpf's messages, the verifier log on failure */
};

/*
 * The agent's requests to the programs. Each sets the .bss parameters it
 * needs, runs a task iterator, and sets every one of them back to 0 before
 * it returns, so that no request sees another's parameters.
 */
struct loader_enrol_req {
	uint32_t root;	 /* host tgid of the process being tagged */
	uint32_t tag;	 /* the new tag */
	uint32_t parent; /* the active tag the root belonged to, or 0 */
	uint32_t charge; /* owner uid + 1 who pays for the new entries, 0: nobody */
};

struct loader_enrolled {
	uint32_t *found; /* the iterator's records (malloc'd): 0 for a map full */
	size_t n;
	bool over;	/* a new entry was beyond the owner's quota */
	bool unsettled; /* BG_ENROLL_MAX_PASSES passes still recorded more */
	uint32_t added;	/* processes recorded or moved into the tag */
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

/* Open and load, reusing maps already pinned in the pin dir. Returns 0 or
 * -errno. */
int loader_load(struct loader *l, const struct loader_opts *o);
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

/* Enrol @r->root's descendants under @r->tag: passes until one records
 * nothing new (two at least). @res->found is the caller's to free, also
 * on error. Returns 0 or -errno. */
int loader_enrol(struct loader *l, const struct loader_enrol_req *r, struct loader_enrolled *res);
/* Register @pid alone under @tag, charged to @charge (uid + 1, 0: nobody).
 * *over: beyond the quota; *len: bytes the iterator wrote (only a map-full
 * marker). Returns 0 or -errno. */
int loader_adopt(struct loader *l, uint32_t tag, uint32_t pid, uint32_t charge, bool *over,
		 size_t *len);
/* Undo a refused enrolment of @tag: the entries it wrote anew go. */
int loader_unenrol(struct loader *l, uint32_t tag);
/* List the live members of @tag's lineage (struct bg_member records into
 * *buf, malloc'd), signalling each with @sig first if @sig is not 0, but
 * the root when @spare_root. */
int loader_sweep(struct loader *l, uint32_t tag, uint32_t sig, bool spare_root, char **buf,
		 size_t *len);

#endif /* BG_LOADER_H */
