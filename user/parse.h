/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Input validation at the edge: CLI arguments and /proc files. Pure logic. */
#ifndef BG_PARSE_H
#define BG_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Largest value that is syntactically a pid (pid_t is an int). Whether such
 * a process exists is for the kernel to say: that is a runtime error. */
#define BG_PID_MAX_LIMIT 2147483647

/*
 * Parse a decimal pid: digits only, no sign, no spaces, 1..BG_PID_MAX_LIMIT.
 * Returns 0, or -EINVAL (not a number) / -ERANGE (0, or above the limit).
 */
int parse_pid(const char *s, pid_t *out);

/*
 * A signal as TERM, SIGTERM or 15 (case-sensitive names, as kill(1) takes
 * them; 1..SIGRTMAX). Returns 0 or -EINVAL.
 */
int parse_signal(const char *s, int *sig);
/* The name of a signal for messages ("TERM", or the number). */
const char *signal_name(int sig, char *buf, size_t len);

/*
 * A duration as <digits><unit>, unit one of ms, s, m, h ("500ms", "2s",
 * "1m"); "0" alone is zero. At most @max_ns. Returns 0, -EINVAL (syntax) or
 * -ERANGE (above @max_ns).
 */
int parse_duration(const char *s, uint64_t max_ns, uint64_t *ns);

/* The fields of /proc/PID/stat that bpfguard reads. */
struct proc_stat {
	pid_t pid;
	char comm[16];
	char state;
	pid_t ppid;
	unsigned long flags;		/* PF_* */
	unsigned long long starttime;	/* clock ticks since boot */
};

#define BG_PF_KTHREAD 0x00200000UL

/*
 * Parse the text of /proc/PID/stat. comm may hold spaces and parentheses,
 * so it ends at the LAST ')'. Returns 0 or -EINVAL.
 */
int parse_proc_stat(const char *buf, struct proc_stat *st);

/* Read and parse /proc/<pid>/stat. Returns 0 or -errno. */
int read_proc_stat(pid_t pid, struct proc_stat *st);

/* The fields of /proc/PID/status that bpfguard reads. */
struct proc_ids {
	uint32_t uid[4];  /* real, effective, saved, filesystem */
	uint64_t cap_eff; /* CapEff bit mask */
	pid_t nspid;	  /* pid in the process's own (innermost) PID namespace */
};

/*
 * Parse the text of /proc/PID/status: the Uid:, CapEff: and NSpid: lines
 * (NSpid is absent before Linux 4.1: then nspid is 0). Returns 0 or -EINVAL
 * when Uid: or CapEff: is missing or malformed.
 */
int parse_proc_status(const char *buf, struct proc_ids *ids);

/* Read and parse /proc/<pid>/status. Returns 0 or -errno. */
int read_proc_status(pid_t pid, struct proc_ids *ids);

/* The "Pid:" line of /proc/self/fdinfo/<pidfd>: the pid in our namespace,
 * 0 when not visible there, -1 when the process has been reaped. Returns 0
 * or -EINVAL when the text has no Pid: line. */
int parse_fdinfo_pid(const char *buf, pid_t *out);
/* Read that line for @pidfd. Returns 0 (*out as above) or -errno. */
int read_pidfd_pid(int pidfd, pid_t *out);

/* Validate a --pin-dir value: absolute, no "..", short enough for the
 * socket name. Trailing slashes are dropped in place. Returns 0 or -EINVAL. */
int check_pin_dir(char *dir);

/*
 * Where the agent of @pin_dir listens: /run/bpfguard/<name>-<hash>.<suffix>,
 * <name> being the start of the pin dir with '/' turned into '-' (for people
 * reading `ls /run/bpfguard`), <hash> a hash of the whole pin dir (so that
 * dirs that escape alike stay apart). Callers pass a dir normalized by
 * check_pin_dir(). Returns 0 or -ENAMETOOLONG.
 */
int ctl_socket_path(const char *pin_dir, const char *suffix, char *out, size_t len);

#endif /* BG_PARSE_H */
