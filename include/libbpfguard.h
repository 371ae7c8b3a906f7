/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libbpfguard: the client side of bpfguard, for programs that tag processes
 * without running the `bpfguard` CLI (node agents, supervisors, Go through
 * cgo). It talks to a running agent over its control socket (include/ctl.h),
 * which decides what the caller may do as for the CLI (root: anything; other
 * users: the processes they could signal), and links nothing but libc.
 *
 * Conventions, for every function:
 *  - 0 (or a pid) on success, a negative errno on failure. The codes a
 *    caller may want to tell apart:
 *      -EINVAL     a bad argument (checked before anything is sent)
 *      -ENOTCONN   no agent is running for this pin dir
 *      -ESRCH      no such process (or it exited while being tagged)
 *      -EPERM      the agent refused (pid 1, a kernel thread, the agent
 *                  itself, a process the caller may not signal, unload
 *                  by a user); -EACCES: the socket is not the caller's
 *      -ENOENT     untag, kill, wait: the process is not tagged
 *      -ENOSPC     the agent's maps are full
 *      -ETIMEDOUT, -EPIPE, -EPROTO   the agent did not answer properly
 *    any other value is the errno of the failing system call.
 *  - opts may be NULL (all defaults). When opts->msg is set, it receives one
 *    NUL-terminated line, on success too: the agent's own message ("tagged
 *    4242 (tag 7)") or what failed ("no such process: 4242").
 *  - No global state, nothing printed, no exit(): every function is
 *    thread-safe. bpfguard_exec() forks; see there.
 */
#ifndef LIBBPFGUARD_H
#define LIBBPFGUARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ctl.h asserts its wire sizes in C11's spelling; C++ has its own */
#if defined(__cplusplus) && !defined(_Static_assert)
#define _Static_assert static_assert
#define LIBBPFGUARD_UNDEF_STATIC_ASSERT
#endif
#include "ctl.h"
#ifdef LIBBPFGUARD_UNDEF_STATIC_ASSERT
#undef _Static_assert
#undef LIBBPFGUARD_UNDEF_STATIC_ASSERT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility: only these are exported. */
#define BPFGUARD_API __attribute__((visibility("default")))

#define BPFGUARD_PIN_DIR_DEFAULT "/sys/fs/bpf/bpfguard"
/* Longest grace accepted (1 h), as `bpfguard tag --grace`. */
#define BPFGUARD_GRACE_MAX_NS (3600ull * 1000000000ull)

/*
 * Options of every call. sz must be sizeof(struct bpfguard_opts) as the
 * caller was compiled: fields are only ever appended, so an older caller
 * keeps working with a newer library, and a newer caller that sets a field
 * this library does not know gets -EINVAL instead of having it ignored.
 * BPFGUARD_OPTS() declares one with sz set.
 */
struct bpfguard_opts {
	size_t sz;
	const char *pin_dir;	/* the agent's pin dir; NULL: BPFGUARD_PIN_DIR_DEFAULT */
	int signal;		/* tag/exec: what descendants get first; 0: SIGKILL */
	int pad;
	uint64_t grace_ns;	/* tag/exec: SIGKILL survivors this long after the
				 * root's death; 0: none. At most BPFGUARD_GRACE_MAX_NS */
	char *msg;		/* optional: one line about the outcome */
	size_t msg_len;		/* msg's size in bytes */
	uint32_t flags;		/* tag/exec: BPFGUARD_ALLOW_BREAKAWAY */
	uint32_t max_procs;	/* tag/exec: the lineage, root included, holds at most
				 * this many live processes (one forked beyond it is
				 * killed at birth); 0: no limit. At most
				 * BPFGUARD_MAX_PROCS_MAX */
};

/* The largest opts->max_procs (2^24). */
#define BPFGUARD_MAX_PROCS_MAX (1u << 24)

/* opts->flags: members of the new tag's lineage may leave it
 * (bpfguard_release), whoever may signal them; without it only the tag's
 * owner, from outside the lineage, and privileged callers may release. */
#define BPFGUARD_ALLOW_BREAKAWAY 0x1

#define BPFGUARD_OPTS(name, ...) \
	struct bpfguard_opts name = { .sz = sizeof(struct bpfguard_opts), __VA_ARGS__ }

/*
 * Tag @pid (in the caller's PID namespace): when its whole thread group
 * dies, every descendant (its current tree and whatever is forked later) is
 * killed. Tagging a tagged process again updates its signal and grace.
 */
BPFGUARD_API int bpfguard_tag(pid_t pid, const struct bpfguard_opts *opts);

/* The same for a process named by a pidfd (pidfd_open(2), CLONE_PIDFD),
 * which no pid reuse can redirect. The pidfd stays the caller's. */
BPFGUARD_API int bpfguard_tag_pidfd(int pidfd, const struct bpfguard_opts *opts);

/* Stop guarding @pid. opts->signal and opts->grace_ns must be 0. */
BPFGUARD_API int bpfguard_untag(pid_t pid, const struct bpfguard_opts *opts);

/*
 * Count @pid, and whatever it forks from now on, as a descendant of @root (a
 * tagged process or a member of a tagged lineage) that did not fork it: a
 * process started on @root's behalf by a daemon. @pid's existing children
 * are not included. opts->signal and opts->grace_ns must be 0.
 */
BPFGUARD_API int bpfguard_adopt(pid_t root, pid_t pid, const struct bpfguard_opts *opts);

/*
 * Start @path (no PATH search) with @argv and @envp (NULL: the caller's
 * environment) in a child that is tagged before it runs a single instruction
 * of @path, so nothing it forks can escape. Returns the child's pid; the
 * caller reaps it (waitpid) as any child. When @pidfd is not NULL, *pidfd
 * receives a pidfd of the child (O_CLOEXEC; the caller closes it).
 *
 * If tagging fails, the child is killed and reaped and the tag's error is
 * returned; if execve fails, the child is reaped and its errno returned
 * (-ENOENT, -EACCES...). Between fork and execve the child makes only
 * async-signal-safe calls (it is safe from a multi-threaded program, Go
 * included) with every signal blocked; it gets the caller's signal mask
 * back, and default handlers where the caller had installed its own, just
 * before execve. The child's file descriptors are the caller's: mark those
 * it must not inherit O_CLOEXEC.
 */
BPFGUARD_API pid_t bpfguard_exec(const char *path, char *const argv[], char *const envp[],
				 const struct bpfguard_opts *opts, int *pidfd);

/*
 * Signal the lineage of @pid's innermost tag now, root included: every live
 * member gets opts->signal (0: SIGKILL); a process born into it meanwhile
 * gets it at birth; with opts->grace_ns, what still lives at the deadline
 * gets SIGKILL. The tag ends once its lineage is empty. Allowed to the
 * tag's owner and to privileged callers (-EPERM); -ENOENT: not tagged. An
 * unprivileged owner's kill signals only what it could kill(2).
 */
BPFGUARD_API int bpfguard_kill(pid_t pid, const struct bpfguard_opts *opts);

/*
 * Wait until nothing of the lineage of @pid's innermost tag is left: its
 * root and every member dead. 0 then, with *status (when not NULL) the
 * root's wait(2) status (WIFEXITED, WIFSIGNALED...), or -1 when it is not
 * known; -ETIMEDOUT after @timeout_ns (< 0: none); -ECANCELED when the tag
 * was untagged first. An agent restarted meanwhile does not end the wait:
 * it goes on with the next agent, as long as the pin dir exists (a caller in
 * another PID namespace, unprivileged, gets -ENOENT instead when the lineage
 * ended, or left its sight, during the restart). Allowed to who may see the
 * tag (its owner, privileged callers). opts->signal and
 * opts->grace_ns must be 0.
 */
BPFGUARD_API int bpfguard_wait(pid_t pid, int64_t timeout_ns, int *status,
			       const struct bpfguard_opts *opts);

/*
 * Send opts->signal (0: SIGTERM) to every live member of the lineage of
 * @pid's innermost tag, root included; the tag goes on as it was. Each
 * member is checked to be the process recorded; members the caller could not
 * kill(2) are left out. Allowed as bpfguard_kill() is; opts->grace_ns must
 * be 0 (-EINVAL).
 */
BPFGUARD_API int bpfguard_signal(pid_t pid, const struct bpfguard_opts *opts);

/*
 * Take @pid (a member, not a root: untag that) and its descendants, those it
 * has and those it forks later, out of its lineage: they are not killed with
 * it any more, and tags nested below @pid go on at the top level. Every tag
 * @pid leaves (its innermost and each enclosing one) must have been made with
 * BPFGUARD_ALLOW_BREAKAWAY, unless the caller is privileged, or the tag's
 * owner outside the lineage (-EPERM, the message names the flag). The caller
 * must be allowed to signal @pid. -ENOENT: @pid is in no lineage; -EINVAL:
 * @pid is a tag's root. opts->signal and opts->grace_ns must be 0. A
 * process may release itself (getpid()): `bpfguard exec --breakaway`.
 */
BPFGUARD_API int bpfguard_release(pid_t pid, const struct bpfguard_opts *opts);

/* bpfguard_kill(), then bpfguard_wait() on the same tag (one request: the
 * root may be gone by the time a second one would name it). */
BPFGUARD_API int bpfguard_kill_wait(pid_t pid, int64_t timeout_ns, int *status,
				    const struct bpfguard_opts *opts);

/*
 * One request of the raw protocol (include/ctl.h) that names no process:
 * BG_OP_STATUS (payload: struct bg_status), BG_OP_LIST (payload: see
 * struct bg_list_tag), BG_OP_UNLOAD. On success *payload is malloc'd (free()
 * it), or NULL when the reply has none, and *len is its size; @payload and
 * @len may be NULL when the caller does not want it.
 */
BPFGUARD_API int bpfguard_request(enum bg_op op, const struct bpfguard_opts *opts,
				  void **payload, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* LIBBPFGUARD_H */
