// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <linux/membarrier.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "bpfguard.h"
#include "btfscan.h"
#include "ctl.h"
#include "bpfguard.skel.h"
#include "loader.h"
#include "log.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

static const char *const link_pins[] = { "link_fork", "link_exit" };

static bool btf_has(const struct btf *btf, const char *name, int kind)
{
	return btf && btf__find_by_name_kind(btf, name, kind) > 0;
}

/* The arguments of the exit tracepoint's hook (3 where it carries
 * `group_dead`, Linux 6.x): its btf_trace_ typedef points to a function
 * prototype. -1 where it is not found. */
static int exit_tp_params(const struct btf *btf)
{
	const struct btf_type *t;
	int id;

	id = btf__find_by_name_kind(btf, "btf_trace_sched_process_exit", BTF_KIND_TYPEDEF);
	if (id <= 0)
		return -1;
	t = btf__type_by_id(btf, btf__type_by_id(btf, id)->type); /* pointer */
	if (!t || !btf_is_ptr(t))
		return -1;
	t = btf__type_by_id(btf, t->type);
	return t && btf_is_func_proto(t) ? btf_vlen(t) : -1;
}

/* Everything @fd reads until its end, in a malloc'd buffer that starts at
 * @cap bytes (at least 4 KiB) and doubles: 0 or -errno. Each read() asks
 * for READ_CHUNK at most: sysfs and iterators hand out a page per call
 * anyway, and a tool that checks the whole span a read() may write
 * (valgrind) would otherwise check megabytes per page read, 11 s of the
 * agent's start under memcheck for the kernel's BTF. */
#define READ_CHUNK (64u << 10)
static int read_all(int fd, size_t cap, char **buf, size_t *len)
{
	size_t n = 0;
	char *p = malloc(cap);
	ssize_t r;

	if (!p)
		return -ENOMEM;
	for (;;) {
		if (cap - n < 4096) {
			char *q = realloc(p, cap * 2);

			if (!q) {
				free(p);
				return -ENOMEM;
			}
			p = q;
			cap *= 2;
		}
		r = read(fd, p + n, cap - n < READ_CHUNK ? cap - n : READ_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			r = -errno;
			free(p);
			return (int)r;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*buf = p;
	*len = n;
	return 0;
}

/* The kernel's raw BTF, read whole (a few MiB): NULL where it cannot be. */
static void *read_vmlinux_btf(size_t *len)
{
	char *buf = NULL;
	int fd = open("/sys/kernel/btf/vmlinux", O_RDONLY | O_CLOEXEC), err;

	if (fd < 0)
		return NULL;
	err = read_all(fd, 8u << 20, &buf, len);
	close(fd);
	return err ? NULL : buf;
}

/* The probe's facts from the raw BTF (btfscan.c); from libbpf's parse where
 * the scanner does not read it. False: no kernel BTF. */
static bool probe_btf(struct btf_facts *bf)
{
	size_t len = 0;
	void *raw = read_vmlinux_btf(&len);
	struct btf *btf;
	bool ok = raw && !btfscan(raw, len, bf);

	free(raw);
	if (ok)
		return true;
	btf = btf__load_vmlinux_btf();
	if (!btf)
		return false;
	bf->iter_task = btf_has(btf, "bpf_iter_task", BTF_KIND_FUNC) ||
			btf_has(btf, "bpf_iter__task", BTF_KIND_STRUCT);
	bf->task_from_pid = btf_has(btf, "bpf_task_from_pid", BTF_KIND_FUNC);
	bf->send_signal_task = btf_has(btf, "bpf_send_signal_task", BTF_KIND_FUNC);
	bf->exit_tp_params = exit_tp_params(btf);
	btf__free(btf);
	return true;
}

uint32_t loader_probe_features(char *desc, size_t len)
{
	struct btf_facts bf = { .exit_tp_params = -1 };
	uint32_t f = 0;

	if (!access("/sys/kernel/btf/vmlinux", R_OK) && probe_btf(&bf))
		f |= BG_FEAT_BTF;
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 1)
		f |= BG_FEAT_RINGBUF;
	if (bf.iter_task)
		f |= BG_FEAT_TASK_ITER;
	if (bf.task_from_pid)
		f |= BG_FEAT_TASK_FROM_PID;
	if (bf.send_signal_task)
		f |= BG_FEAT_SEND_SIGNAL_TASK;
	/* the hook's context, the task, group_dead */
	if (bf.exit_tp_params >= 3)
		f |= BG_FEAT_GROUP_DEAD_ARG;
	snprintf(desc, len, "BTF %s, ring buffer %s, task iterator %s, bpf_task_from_pid %s, "
		 "bpf_send_signal_task %s, exit group_dead arg %s",
		 f & BG_FEAT_BTF ? "yes" : "NO", f & BG_FEAT_RINGBUF ? "yes" : "NO",
		 f & BG_FEAT_TASK_ITER ? "yes" : "NO", f & BG_FEAT_TASK_FROM_PID ? "yes" : "no",
		 f & BG_FEAT_SEND_SIGNAL_TASK ? "yes" : "no",
		 f & BG_FEAT_GROUP_DEAD_ARG ? "yes" : "no (derived from signal->live)");
	return f;
}

int loader_check_minimum(uint32_t f)
{
	static const struct {
		uint32_t bit;
		const char *what;
	} need[] = {
		{ BG_FEAT_BTF, "kernel BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF=y)" },
		{ BG_FEAT_RINGBUF, "BPF ring buffers (Linux 5.8)" },
		{ BG_FEAT_TASK_ITER, "BPF task iterators (Linux 5.8)" },
	};
	int err = 0, r;

	/* A probe refused outright is no missing feature: bpf(2) itself is
	 * (a seccomp profile that allows it only with CAP_SYS_ADMIN, as
	 * podman's default does, or no CAP_BPF). */
	if (!(f & BG_FEAT_RINGBUF)) {
		r = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);
		if (r >= 0) {
			close(r);
		} else if (errno == EPERM || errno == EACCES) {
			r = -errno;
			log_err("bpf(2) is not permitted here (%s): a seccomp filter, or no CAP_BPF",
				strerror(-r));
			return r;
		}
	}
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (f & need[i].bit)
			continue;
		log_err("this kernel lacks %s: bpfguard needs Linux >= 5.15 with BTF", need[i].what);
		err = -EOPNOTSUPP;
	}
	return err;
}

static bool on_bpffs(const char *path)
{
	struct statfs sf;

	return !statfs(path, &sf) && sf.f_type == BPF_FS_MAGIC;
}

int loader_prepare_dir(const char *pin_dir)
{
	char parent[256];
	char *slash;

	if (snprintf(parent, sizeof(parent), "%s", pin_dir) >= (int)sizeof(parent))
		return -ENAMETOOLONG;
	slash = strrchr(parent, '/');
	if (!slash || slash == parent)
		return -EINVAL;
	*slash = '\0';

	/* bpftool's rule: mount the conventional bpffs when it is missing */
	if (!on_bpffs(parent) && !strncmp(pin_dir, "/sys/fs/bpf/", 12)) {
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
			int err = errno;

			/* a container without CAP_SYS_ADMIN: the host mounts it */
			log_err("cannot mount bpffs on /sys/fs/bpf: %s%s", strerror(err),
				err == EPERM ? " (mount it on the host, as systemd does at boot, "
					       "and give this process the host's /sys/fs/bpf)" : "");
			errno = err;
			return -errno;
		}
		log_info("mounted bpffs on /sys/fs/bpf");
	}
	if (!on_bpffs(parent)) {
		log_err("%s is not on a BPF filesystem (mount -t bpf bpf DIR)", parent);
		return -EINVAL;
	}
	if (strchr(slash + 1 - parent + pin_dir, '.')) {
		/* bpffs refuses dots in names (they are kept for its own files) */
		log_err("invalid pin dir %s: names on bpffs cannot contain '.'", pin_dir);
		return -EINVAL;
	}
	if (mkdir(pin_dir, 0700) && errno != EEXIST) {
		log_err("cannot create %s: %s", pin_dir, strerror(errno));
		return -errno;
	}
	return 0;
}

/*
 * libbpf's messages, one log line each with its syslog level (the verifier
 * log arrives as one multi-line message: every line gets the prefix, so
 * journald keeps the level and nothing reads as a line of its own).
 */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	int prio = level == LIBBPF_WARN ? 4 : level == LIBBPF_INFO ? 6 : 7;
	char *buf = NULL, *line, *save = NULL;
	int n = vasprintf(&buf, fmt, ap);

	if (n < 0)
		return n;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		fprintf(stderr, "<%d>bpfguard: libbpf: %s\n", prio, line);
	free(buf);
	return n;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level != LIBBPF_WARN)
		return 0;
	return libbpf_log(level, fmt, ap);
}

/* Size of an already pinned map, 0 if none: pinned sizes win over flags,
 * since a pinned map cannot be resized and holds the live tags. */
static uint32_t pinned_max_entries(const char *path)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.max_entries = 0;
	close(fd);
	return info.max_entries;
}

static int size_map(struct loader *l, struct bpf_map *map, uint32_t want, uint32_t *got)
{
	char path[320];
	uint32_t pinned;

	snprintf(path, sizeof(path), "%s/%s", l->pin_dir, bpf_map__name(map));
	pinned = pinned_max_entries(path);
	if (pinned) {
		if (want && want != pinned)
			log_warn("%s keeps its pinned size %u (asked %u): `unload` to resize",
				 bpf_map__name(map), pinned, want);
		want = pinned;
	}
	if (want && bpf_map__set_max_entries(map, want))
		return -EINVAL;
	*got = bpf_map__max_entries(map);
	return 0;
}

int loader_load(struct loader *l, const struct loader_opts *o)
{
	const char *pin_dir = o->pin_dir;
	struct bpf_map *map;
	struct bg_meta m = {};
	uint32_t zero = 0, dummy;
	char path[320];
	int err;

	libbpf_set_print(o->verbose ? libbpf_log : libbpf_quiet);
	snprintf(l->pin_dir, sizeof(l->pin_dir), "%s", pin_dir);
	l->sweep_sys = o->sweep_sys;

	l->skel = bpfguard__open();
	if (!l->skel) {
		err = -errno;
		log_err("cannot open the BPF object: %s", strerror(errno));
		return err;
	}
	bpf_object__for_each_map(map, l->skel->obj) {
		if (bpf_map__type(map) == BPF_MAP_TYPE_ARRAY && strchr(bpf_map__name(map), '.'))
			continue; /* .bss: per agent, not pinned */
		snprintf(path, sizeof(path), "%s/%s", pin_dir, bpf_map__name(map));
		if (bpf_map__set_pin_path(map, path))
			return -EINVAL;
	}
	err = size_map(l, l->skel->maps.procs, o->max_procs, &l->max_procs);
	if (!err)
		err = size_map(l, l->skel->maps.tags, o->max_tags, &l->max_tags);
	if (!err)
		err = size_map(l, l->skel->maps.deaths, l->max_tags, &dummy);
	if (!err)
		err = size_map(l, l->skel->maps.acct, l->max_tags, &dummy);
	/* every owner with a live count held a tag: see bpfguard.h */
	if (!err)
		err = size_map(l, l->skel->maps.quota, l->max_tags + 1, &dummy);
	/* a ring buffer's max_entries is its size in bytes */
	if (!err)
		err = size_map(l, l->skel->maps.events, o->ring_size, &l->ring_size);
	if (err)
		return err;

	l->skel->rodata->kernel_kill = o->kernel_kill;
	l->skel->rodata->exit_kill = o->kernel_kill && o->exit_kill;
	l->skel->rodata->agent_tgid = (uint32_t)getpid();
	quota_resolve(&l->q, l->max_procs, l->max_tags, o->user_max_procs, o->user_max_tags);
	l->skel->rodata->quota_user_procs = l->q.user_procs;
	l->skel->rodata->quota_unpriv_procs = l->q.unpriv_procs;

	/* one sweep of the two is loaded: the syscall program (it uses
	 * bpf_loop, Linux 5.17) or, without bpf_task_from_pid, the task
	 * iterator */
	bpf_program__set_autoload(l->skel->progs.bg_sweep, l->sweep_sys);
	bpf_program__set_autoload(l->skel->progs.bg_members, !l->sweep_sys);
	err = bpfguard__load(l->skel);
	if (err) {
		log_err("cannot load the BPF programs: %s%s", strerror(-err),
			o->verbose ? "" : " (run with -v for the verifier log)");
		return err;
	}

	if (bpf_map_lookup_elem(bpf_map__fd(l->skel->maps.meta), &zero, &m))
		return -errno;
	if (m.format == 0) {
		m.format = BG_FORMAT;
		m.next_tag = 1;
	} else if (m.format != BG_FORMAT) {
		log_err("%s holds pins of format %u, this agent speaks %u: "
			"`bpfguard unload` first (it drops the tags)", pin_dir, m.format, BG_FORMAT);
		return -EPROTO;
	}
	m.max_procs = l->max_procs;
	m.max_tags = l->max_tags;
	if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.meta), &zero, &m, BPF_ANY))
		return -errno;
	/* the unprivileged total: without it every unprivileged fork is refused */
	{
		uint32_t all = BG_QUOTA_TOTAL;
		uint64_t none = 0;

		if (bpf_map_update_elem(bpf_map__fd(l->skel->maps.quota), &all, &none,
					BPF_NOEXIST) && errno != EEXIST)
			return -errno;
	}
	return 0;
}

/*
 * Attach first, then swap the pin: an older agent's link stays attached
 * until ours is, so no fork or exit goes unseen during an upgrade. For that
 * instant both run; the programs tolerate it (NOEXIST insert, idempotent
 * delete and death record).
 */
static int attach_one(struct loader *l, struct bpf_program *prog, const char *name)
{
	struct bpf_link *link;
	char path[320];
	int old, err;

	link = bpf_program__attach(prog);
	if (!link) {
		err = -errno;
		log_err("cannot attach %s: %s", bpf_program__name(prog), strerror(errno));
		return err;
	}
	snprintf(path, sizeof(path), "%s/%s", l->pin_dir, name);
	old = bpf_obj_get(path);
	if (old >= 0)
		unlink(path);
	err = bpf_link__pin(link, path);
	if (old >= 0)
		close(old);
	if (err) {
		log_err("cannot pin %s: %s", path, strerror(-err));
		bpf_link__destroy(link);
		return err;
	}
	/* the pin keeps it attached after we exit */
	bpf_link__disconnect(link);
	bpf_link__destroy(link);
	return 0;
}

/*
 * The syscall sweep reads pidmap up to pid_hi, which this object's programs
 * raise for the bits they set: raise it over the bits already set (by an
 * older agent's programs, in the pinned map). After the attach, and after an
 * RCU grace period (membarrier's global command waits for one), so that an
 * older program still running when its link went has set its bit by the time
 * the map is read. Where the map cannot be read, every word.
 */
static void seed_pid_hi(struct loader *l)
{
	/* zeroed: valgrind does not know what the batch lookup writes */
	uint32_t *keys = calloc(BG_PIDMAP_WORDS, sizeof(*keys)), count = BG_PIDMAP_WORDS, next = 0;
	uint64_t *words = calloc(BG_PIDMAP_WORDS, sizeof(*words));
	uint64_t hi = BG_PID_LIMIT - 1;
	LIBBPF_OPTS(bpf_map_batch_opts, bo);

	if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
		log_warn("membarrier: %s (an exit program of the previous agent may still be running)",
			 strerror(errno));
	if (keys && words && (!bpf_map_lookup_batch(bpf_map__fd(l->skel->maps.pidmap), NULL, &next,
						     keys, words, &count, &bo) ||
			      errno == ENOENT)) {
		hi = 0;
		for (uint32_t i = 0; i < count; i++)
			if (words[i])
				hi = (uint64_t)keys[i] * 64 + 63;
	}
	__atomic_fetch_or(&l->skel->bss->pid_hi, hi, __ATOMIC_SEQ_CST);
	free(keys);
	free(words);
}

int loader_attach(struct loader *l)
{
	int err;

	err = attach_one(l, l->skel->progs.bg_fork, link_pins[0]);
	if (!err)
		err = attach_one(l, l->skel->progs.bg_exit, link_pins[1]);
	if (err)
		return err;
	l->enroll = bpf_program__attach_iter(l->skel->progs.bg_enroll, NULL);
	if (!l->sweep_sys)
		l->members = bpf_program__attach_iter(l->skel->progs.bg_members, NULL);
	if (!l->enroll || (!l->sweep_sys && !l->members)) {
		err = -errno;
		log_err("cannot create the task iterator: %s", strerror(errno));
		return err;
	}
	if (l->sweep_sys)
		seed_pid_hi(l);
	return 0;
}

int loader_read_iter(struct bpf_link *link, char **buf, size_t *len)
{
	int fd = bpf_iter_create(bpf_link__fd(link)), err;

	if (fd < 0)
		return -errno;
	err = read_all(fd, 4096, buf, len);
	close(fd);
	return err;
}

void loader_close(struct loader *l)
{
	bpf_link__destroy(l->enroll);
	bpf_link__destroy(l->members);
	l->enroll = l->members = NULL;
	bpfguard__destroy(l->skel);
	l->skel = NULL;
}

int loader_unpin_all(const char *pin_dir)
{
	struct dirent *de;
	char path[320];
	int err = 0;
	DIR *d;

	d = opendir(pin_dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_dir, de->d_name);
		if (unlink(path) && !err)
			err = -errno;
	}
	closedir(d);
	if (rmdir(pin_dir) && !err)
		err = -errno;
	return err;
}

/* One enrolment pass's records, appended to @res (all of them count: a 0,
 * map full, must never be dropped). */
static int enrol_records(struct loader_enrolled *res, const char *buf, size_t len)
{
	size_t need = res->n + len / 4;
	uint32_t *p;

	if (len < 4)
		return 0;
	p = realloc(res->found, need * sizeof(*p));
	if (!p)
		return -ENOMEM;
	res->found = p;
	memcpy(p + res->n, buf, (len / 4) * 4);
	res->n = need;
	return 0;
}

/*
 * The first pass records the root, after which the fork program records
 * every child a recorded process makes. The second catches children that a
 * not-yet-recorded descendant forked while the first pass ran (a pid below
 * the iterator's position). More are needed only where a descendant is more
 * than BG_MAX_DEPTH levels below anything recorded when the iterator meets
 * it (pids that run downwards).
 */
int loader_enrol(struct loader *l, const struct loader_enrol_req *r, struct loader_enrolled *res)
{
	struct bpfguard__bss *bss = l->skel->bss;
	uint32_t first = __atomic_load_n(&bss->enroll_added, __ATOMIC_ACQUIRE);
	int err = 0;

	*res = (struct loader_enrolled){};
	bss->enroll_root = r->root;
	bss->enroll_tag = r->tag;
	bss->enroll_parent = r->parent;
	bss->enroll_charge = r->charge;
	bss->enroll_over = 0;
	for (int pass = 0;; pass++) {
		uint32_t before = __atomic_load_n(&bss->enroll_added, __ATOMIC_ACQUIRE);
		char *buf = NULL;
		size_t len = 0;

		if (pass == BG_ENROLL_MAX_PASSES) {
			res->unsettled = true;
			break;
		}
		bss->enroll_pass = (uint32_t)pass;
		err = loader_read_iter(l->enroll, &buf, &len);
		if (!err)
			err = enrol_records(res, buf, len);
		free(buf);
		/* beyond the quota: refused whatever more passes would find */
		if (err || bss->enroll_over ||
		    (pass >= 1 && __atomic_load_n(&bss->enroll_added, __ATOMIC_ACQUIRE) == before))
			break;
	}
	res->over = bss->enroll_over;
	res->added = __atomic_load_n(&bss->enroll_added, __ATOMIC_ACQUIRE) - first;
	bss->enroll_root = 0;
	bss->enroll_pass = 0;
	bss->enroll_tag = 0;
	bss->enroll_parent = 0;
	bss->enroll_charge = 0;
	bss->enroll_over = 0;
	return err;
}

int loader_adopt(struct loader *l, uint32_t tag, uint32_t pid, uint32_t charge, bool *over,
		 size_t *len)
{
	struct bpfguard__bss *bss = l->skel->bss;
	char *buf = NULL;
	int err;

	*len = 0;
	bss->enroll_tag = tag;
	bss->adopt_pid = pid;
	bss->enroll_charge = charge;
	bss->enroll_over = 0;
	err = loader_read_iter(l->enroll, &buf, len);
	*over = bss->enroll_over;
	bss->adopt_pid = 0;
	bss->enroll_tag = 0;
	bss->enroll_charge = 0;
	bss->enroll_over = 0;
	free(buf);
	return err;
}

int loader_unenrol(struct loader *l, uint32_t tag)
{
	char *buf = NULL;
	size_t len = 0;
	int err;

	l->skel->bss->unenroll_tag = tag;
	err = loader_read_iter(l->enroll, &buf, &len);
	l->skel->bss->unenroll_tag = 0;
	free(buf);
	return err;
}

/* The syscall sweep, run until it has read every word up to pid_hi; what
 * it lists, appended to a buffer as the task iterator's read() gives it. */
static int run_sweep(struct loader *l, char **buf, size_t *len)
{
	struct bpfguard__bss *b = l->skel->bss;
	int fd = bpf_program__fd(l->skel->progs.bg_sweep), err = 0;
	uint64_t hi = __atomic_load_n(&b->pid_hi, __ATOMIC_SEQ_CST);
	size_t n = 0, cap = 0;
	char *p = NULL;

	b->sweep_words = hi / 64 + 1 < BG_PIDMAP_WORDS ? hi / 64 + 1 : BG_PIDMAP_WORDS;
	b->sweep_cursor = 0;
	do {
		LIBBPF_OPTS(bpf_test_run_opts, ro);
		uint32_t from = b->sweep_cursor;
		size_t add;

		b->sweep_n = 0;
		if (bpf_prog_test_run_opts(fd, &ro)) {
			err = -errno;
			break;
		}
		if (b->sweep_cursor <= from) {
			err = -EIO; /* no word read: never loop on it */
			break;
		}
		add = (size_t)(b->sweep_n < BG_SWEEP_OUT ? b->sweep_n : BG_SWEEP_OUT) *
		      sizeof(struct bg_member);
		if (!add)
			continue;
		if (n + add > cap) {
			char *q = realloc(p, (cap = 2 * (n + add)));

			if (!q) {
				err = -ENOMEM;
				break;
			}
			p = q;
		}
		memcpy(p + n, b->sweep_out, add);
		n += add;
	} while (b->sweep_cursor < b->sweep_words);
	b->sweep_words = b->sweep_cursor = b->sweep_n = 0;
	if (err) {
		free(p);
		return err;
	}
	*buf = p;
	*len = n;
	return 0;
}

int loader_sweep(struct loader *l, uint32_t tag, uint32_t sig, bool spare_root, char **buf,
		 size_t *len)
{
	int err;

	l->skel->bss->sweep_tag = tag;
	l->skel->bss->sweep_sig = sig;
	l->skel->bss->sweep_spare_root = spare_root;
	err = l->sweep_sys ? run_sweep(l, buf, len) : loader_read_iter(l->members, buf, len);
	l->skel->bss->sweep_tag = 0;
	l->skel->bss->sweep_sig = 0;
	l->skel->bss->sweep_spare_root = 0;
	return err;
}
