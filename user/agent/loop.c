// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The agent: owns the pinned BPF state, answers the control socket, and kills
 * a tagged root's lineage when the exit program reports the root's death.
 * This file sets it up and runs its loop; the rest of user/agent/ does the
 * work.
 *
 * One thread, one epoll: the ring buffer, the control socket and a signalfd.
 * The `deaths` map, not the ring buffer, is the list of work: the ring only
 * wakes us, so a dropped record or a death while no agent ran is still found.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "agent.h"
#include "agent_priv.h"
#include "control.h"
#include "loader.h"
#include "log.h"
#include "parse.h"

/*
 * Client work per wake-up of the loop, which handles deaths first every
 * time: a dying lineage waits for at most this much. A refused connection
 * costs a few syscalls, so 16 accepts drain the listen backlog (64) in four
 * wake-ups and root's connection is reached soon in a flood; a request can
 * cost milliseconds (a tag walks every task), so 8 (as many as one
 * epoll_wait reports) keep a wake-up short. What is left stays ready and
 * comes back at the next epoll_wait.
 */
#define ACCEPTS_PER_WAKE 16
#define SERVES_PER_WAKE 8

_Static_assert(BG_STAT_MAX <= sizeof(((struct bg_status *)0)->counters) / sizeof(uint64_t),
	       "status carries every counter");
_Static_assert(BG_ASTAT_MAX <= sizeof(((struct bg_status *)0)->agent_counters) / sizeof(uint64_t),
	       "status carries every agent counter");

/*
 * The run directory holds the socket and the lock: it must be a directory
 * of the agent's own user that nobody else may write, or anyone could put
 * a socket of theirs where clients look for the agent (and collect their
 * pidfds) or the lock where the agent opens it.
 */
static int check_run_dir(const char *dir)
{
	struct stat st;

	if (lstat(dir, &st)) {
		log_err("cannot stat %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_err("%s is not a directory: refusing to use it", dir);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022)) {
		log_err("%s belongs to uid %u with mode %04o: it must be the agent's (uid %u) and "
			"writable by nobody else", dir, st.st_uid, st.st_mode & 07777, geteuid());
		return -EPERM;
	}
	return 0;
}

/* One agent per pin dir: an flock held for the agent's life. */
static int take_lock(struct agent *a, const char *pin_dir)
{
	int err = ctl_socket_path(pin_dir, "lock", a->lock_path, sizeof(a->lock_path));

	if (!err)
		err = ctl_socket_path(pin_dir, "sock", a->sock_path, sizeof(a->sock_path));
	if (err) {
		log_err("pin dir path too long: %s", pin_dir);
		return err;
	}
	if (mkdir("/run/bpfguard", 0755) && errno != EEXIST) {
		log_err("cannot create /run/bpfguard: %s", strerror(errno));
		return -errno;
	}
	err = check_run_dir("/run/bpfguard");
	if (err)
		return err;
	a->lock_fd = open(a->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (a->lock_fd < 0) {
		log_err("cannot open %s: %s", a->lock_path, strerror(errno));
		return -errno;
	}
	if (flock(a->lock_fd, LOCK_EX | LOCK_NB)) {
		log_err("another agent is already running for %s", pin_dir);
		return -EBUSY;
	}
	return 0;
}

static int open_socket(struct agent *a)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", a->sock_path);
	unlink(a->sock_path); /* stale: we hold the lock */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* Anyone may connect: each request is authorized from SO_PEERCRED.
	 * /run/bpfguard is root's (0755), so nobody else can replace it. */
	old = umask(0111);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 64)) {
		int err = -errno;

		umask(old);
		log_err("cannot listen on %s: %s", a->sock_path, strerror(errno));
		close(fd);
		return err;
	}
	umask(old);
	a->listen_fd = fd;
	return 0;
}

static int setup_signals(struct agent *a)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	a->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return a->sig_fd < 0 ? -errno : 0;
}

static int ep_add(struct agent *a, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(a->ep_fd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static void read_signals(struct agent *a)
{
	struct signalfd_siginfo si;

	while (read(a->sig_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			log_info("signal %u: stopping (tags stay enforced in the kernel)", si.ssi_signo);
			a->stop = true;
		}
	}
}

/* Event stream, refusal reports, loss watch, and (if asked) metrics. */
static int start_observers(struct agent *a, const struct agent_opts *o)
{
	int err;

	a->ev.ep_fd = a->m.ep_fd = a->ep_fd;
	check_losses(a); /* the baseline: only rises from now on are reported */
	if (!o->metrics_addr)
		return 0;
	err = metrics_open(&a->m, o->metrics_addr);
	if (err) {
		log_err("cannot serve metrics on %s: %s", o->metrics_addr, strerror(-err));
		return err;
	}
	log_info("metrics: serving http://%.*s:%u/metrics", (int)(strrchr(o->metrics_addr, ':') -
		 o->metrics_addr), o->metrics_addr, a->m.port);
	return 0;
}

/* epoll_wait's timeout: the next grace deadline, client deadline or tick. */
static int wait_ms(struct agent *a, uint64_t next_deadline)
{
	uint64_t now = now_ns(), t = now + TICK_MS * 1000000ull;

	if (next_deadline < t)
		t = next_deadline;
	t = clients_deadline(a, t);
	return t <= now ? 0 : (int)((t - now) / 1000000ull) + 1;
}

/* What the kernel offers, and the mode that follows. Returns 0, or 1 (the
 * exit code) if bpfguard cannot run here. */
static int probe_kernel(struct agent *a, const struct agent_opts *o)
{
	struct utsname u;
	char desc[256];
	bool has_kfuncs;

	uname(&u);
	memcpy(a->kernel, u.release, sizeof(a->kernel) - 1);
	a->features = loader_probe_features(desc, sizeof(desc));
	log_info("kernel %s: %s", a->kernel, desc);
	if (loader_check_minimum(a->features))
		return 1;
	has_kfuncs = (a->features & BG_FEAT_SEND_SIGNAL_TASK) && (a->features & BG_FEAT_TASK_FROM_PID);
	if (o->mode == BG_MODE_KERNEL && !has_kfuncs) {
		log_err("--mode kernel needs the bpf_send_signal_task and bpf_task_from_pid "
			"kfuncs (Linux >= 6.13); this kernel lacks them: use --mode user");
		return 1;
	}
	/* auto: the kernel kills at the root's exit and the agent sweeps
	 * behind it; where the kfunc is missing the agent alone kills. */
	a->mode = o->mode == BG_MODE_AUTO ? (has_kfuncs ? BG_MODE_KERNEL : BG_MODE_USER) : o->mode;
	/* either mode: the agent's sweeps signal from its task
	 * iterator where the kfunc exists, else through pidfds */
	a->iter_kill = a->features & BG_FEAT_SEND_SIGNAL_TASK;
	log_info("mode %s%s; %sthe agent signals through %s",
		 a->mode == BG_MODE_KERNEL ? "kernel" : "user",
		 o->mode == BG_MODE_AUTO ? " (auto)" : "",
		 bg_exit_hook_kills(a->mode, a->features) ? "the exit program signals a dying "
		 "root's children, and each member's as it dies, " : a->mode == BG_MODE_KERNEL ? "the exit program cannot signal "
		 "on this kernel (its tracepoint runs after exit_mm() before Linux 6.16), " : "",
		 a->iter_kill ? "its sweep" : "pidfds");
	log_info("sweeps read %s", a->features & BG_FEAT_TASK_FROM_PID ?
		 "the tracked pids alone (a syscall program over pidmap)" :
		 "every task of the machine (no bpf_task_from_pid before Linux 6.2)");
	return 0;
}

int agent_run(const struct agent_opts *o)
{
	struct agent a = { .listen_fd = -1, .lock_fd = -1, .sig_fd = -1, .ep_fd = -1 };
	uint64_t next_deadline;
	bool listening;
	int err, rc = 1;

	a.self = getpid();
	a.mode = o->mode;
	a.verbose = o->verbose;
	a.start_time = (uint64_t)time(NULL);
	events_init(&a.ev, -1);
	metrics_init(&a.m, -1);
	rl_init(&a.rl, MAX_CLIENTS - PRIV_SLOTS);
	reaper_init(&a.rp);
	a.st.ncpus = libbpf_num_possible_cpus();
	if (a.st.ncpus <= 0) {
		log_err("cannot count CPUs");
		return 1;
	}
	if (geteuid() != 0)
		log_warn("not running as root: loading BPF will likely fail");
	if (probe_kernel(&a, o))
		return 1;
	err = take_lock(&a, o->pin_dir);
	if (err)
		goto out;
	err = loader_prepare_dir(o->pin_dir);
	if (err)
		goto out;
	err = loader_load(&a.st.l, &(struct loader_opts){
					.pin_dir = o->pin_dir,
					.max_procs = o->max_procs,
					.max_tags = o->max_tags,
					.ring_size = o->ring_size,
					.user_max_procs = o->user_max_procs,
					.user_max_tags = o->user_max_tags,
					.kernel_kill = a.mode == BG_MODE_KERNEL,
					.exit_kill = bg_exit_hook_kills(a.mode, a.features),
					.sweep_sys = a.features & BG_FEAT_TASK_FROM_PID,
					.verbose = o->verbose,
				});
	if (err)
		goto out;
	store_open(&a.st);
	err = loader_attach(&a.st.l);
	if (err)
		goto out;
	peer_probe_open(&a.pp, a.st.l.skel);
	repair_tags(&a);

	a.rb = ring_buffer__new(a.st.events_fd, on_event, &a, NULL);
	if (!a.rb) {
		err = -errno;
		log_err("cannot open the ring buffer: %s", strerror(errno));
		goto out;
	}
	err = setup_signals(&a);
	if (!err)
		err = open_socket(&a);
	if (err)
		goto out;
	a.ep_fd = epoll_create1(EPOLL_CLOEXEC);
	if (a.ep_fd < 0 || ep_add(&a, ring_buffer__epoll_fd(a.rb)) || ep_add(&a, a.listen_fd) ||
	    ep_add(&a, a.sig_fd) || reaper_open(&a.rp) < 0 || ep_add(&a, a.rp.ep_fd)) {
		err = -errno;
		log_err("epoll: %s", strerror(errno));
		goto out;
	}
	err = start_observers(&a, o);
	if (err)
		goto out;

	log_info("enforcing: pin dir %s, mode %s, max %u processes / %u tags, "
		 "ring buffer %u bytes, socket %s",
		 o->pin_dir, a.mode == BG_MODE_KERNEL ? "kernel" : "user", a.st.l.max_procs,
		 a.st.l.max_tags, a.st.l.ring_size, a.sock_path);
	log_info("quotas of each unprivileged uid: %u processes, %u tags; of all of them "
		 "together: %u processes, %u tags", a.st.l.q.user_procs, a.st.l.q.user_tags,
		 a.st.l.q.unpriv_procs, a.st.l.q.unpriv_tags);
	/* Roots that died while no agent ran. */
	ring_buffer__consume(a.rb);
	next_deadline = handle_deaths(&a);

	while (!a.stop) {
		struct client_budget cb = { .accepts = ACCEPTS_PER_WAKE, .serves = SERVES_PER_WAKE };
		struct epoll_event ev[8];
		int n;

		n = epoll_wait(a.ep_fd, ev, 8, wait_ms(&a, next_deadline));
		if (n < 0 && errno != EINTR) {
			log_err("epoll_wait: %s", strerror(errno));
			goto out;
		}
		/* Deaths first, whatever the clients send; then their share. */
		ring_buffer__consume(a.rb);
		next_deadline = handle_deaths(&a);
		listening = false;
		for (int i = 0; i < n && !a.stop; i++) {
			int fd = ev[i].data.fd;

			if (fd == a.sig_fd)
				read_signals(&a);
			else if (fd == a.rp.ep_fd)
				continue; /* a victim died: handle_deaths below */
			else if (fd == a.listen_fd)
				listening = true;
			else if (clients_readable(&a, fd, &cb))
				continue;
			else if (waiters_handle(&a, fd))
				continue;
			else if (!events_handle(&a.ev, fd, ev[i].events))
				metrics_handle(&a.m, fd, ev[i].events, now_ns(), fill_status, &a);
		}
		/* newcomers after the clients already in: they cannot crowd them out */
		if (listening && !a.stop)
			clients_accept(&a, &cb);
		clients_expire(&a, &cb, now_ns());
		if (a.stop)
			break;
		/* Always drain and check: a death found late is still a death. */
		ring_buffer__consume(a.rb);
		next_deadline = handle_deaths(&a);
		check_losses(&a);
		log_limits(&a);
		metrics_expire(&a.m, now_ns());
		flush_refusals(&a, now_ns());
	}
	rc = 0;
out:
	events_close_all(&a.ev, rc ? "agent failed" : "agent stopping");
	metrics_close(&a.m);
	waiters_close_all(&a);
	clients_drop_all(&a);
	if (a.listen_fd >= 0) {
		close(a.listen_fd);
		unlink(a.sock_path);
	}
	ring_buffer__free(a.rb);
	store_close(&a.st);
	peer_probe_close(&a.pp);
	if (a.ep_fd >= 0)
		close(a.ep_fd);
	if (a.sig_fd >= 0)
		close(a.sig_fd);
	/* The lock file stays: unlinking it would let two agents each lock a
	 * different inode of the same name. */
	if (a.lock_fd >= 0)
		close(a.lock_fd);
	tt_free(&a.tt);
	sc_free(&a.sc);
	while (a.ngrace)
		drop_grace(&a, a.grace[0].tag);
	free(a.grace);
	reaper_close(&a.rp);
	return rc;
}
