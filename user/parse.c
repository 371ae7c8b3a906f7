// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parse.h"

int parse_pid(const char *s, pid_t *out)
{
	unsigned long v = 0;

	if (!s || !*s)
		return -EINVAL;
	/* strtol would accept "+5", " 5" and "5 "; a pid is digits only. */
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		if (v > BG_PID_MAX_LIMIT)
			continue; /* keep scanning for junk, stop growing */
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v == 0 || v > BG_PID_MAX_LIMIT)
		return -ERANGE;
	*out = (pid_t)v;
	return 0;
}

static const struct {
	const char *name;
	int sig;
} signames[] = {
	{ "HUP", SIGHUP },   { "INT", SIGINT },	    { "QUIT", SIGQUIT }, { "ILL", SIGILL },
	{ "TRAP", SIGTRAP }, { "ABRT", SIGABRT },   { "BUS", SIGBUS },	 { "FPE", SIGFPE },
	{ "KILL", SIGKILL }, { "USR1", SIGUSR1 },   { "SEGV", SIGSEGV }, { "USR2", SIGUSR2 },
	{ "PIPE", SIGPIPE }, { "ALRM", SIGALRM },   { "TERM", SIGTERM }, { "CHLD", SIGCHLD },
	{ "CONT", SIGCONT }, { "STOP", SIGSTOP },   { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN },
	{ "TTOU", SIGTTOU }, { "URG", SIGURG },	    { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
	{ "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH }, { "IO", SIGIO },
	{ "PWR", SIGPWR },   { "SYS", SIGSYS },
};

int parse_signal(const char *s, int *sig)
{
	unsigned long v = 0;

	if (!s || !*s)
		return -EINVAL;
	if (*s >= '0' && *s <= '9') {
		for (const char *p = s; *p; p++) {
			if (*p < '0' || *p > '9' || v > 1000)
				return -EINVAL;
			v = v * 10 + (unsigned long)(*p - '0');
		}
		/* SIGRTMAX is a glibc function; the kernel's limit is 64 */
		if (v < 1 || v > 64)
			return -EINVAL;
		*sig = (int)v;
		return 0;
	}
	if (!strncmp(s, "SIG", 3))
		s += 3;
	for (size_t i = 0; i < sizeof(signames) / sizeof(signames[0]); i++) {
		if (!strcmp(s, signames[i].name)) {
			*sig = signames[i].sig;
			return 0;
		}
	}
	return -EINVAL;
}

const char *signal_name(int sig, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(signames) / sizeof(signames[0]); i++)
		if (signames[i].sig == sig)
			return signames[i].name;
	snprintf(buf, len, "%d", sig);
	return buf;
}

int parse_duration(const char *s, uint64_t max_ns, uint64_t *ns)
{
	static const struct {
		const char *unit;
		uint64_t ns;
	} units[] = {
		{ "ms", 1000000ull }, { "s", 1000000000ull }, { "m", 60000000000ull },
		{ "h", 3600000000000ull },
	};
	uint64_t v = 0;
	const char *p = s;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		/* Above max_ns / 1 ms (units[0], the smallest) every unit is out
		 * of range: keep scanning the syntax, stop growing, so that v
		 * never wraps (back to 0 even) whatever max_ns is. */
		if (v > max_ns / units[0].ns)
			continue;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (!*p) {
		if (v != 0)
			return -EINVAL; /* a unit is required: 2 what? */
		*ns = 0;
		return 0;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].unit))
			continue;
		if (v > max_ns / units[i].ns)
			return -ERANGE;
		*ns = v * units[i].ns;
		return *ns > max_ns ? -ERANGE : 0;
	}
	return -EINVAL;
}

int parse_proc_stat(const char *buf, struct proc_stat *st)
{
	const char *open, *close, *p;
	unsigned long long v[20];
	char *end;
	size_t n;
	int i;

	memset(st, 0, sizeof(*st));
	open = strchr(buf, '(');
	close = strrchr(buf, ')');
	if (!open || !close || close < open || close[1] != ' ')
		return -EINVAL;
	errno = 0;
	st->pid = (pid_t)strtol(buf, &end, 10);
	if (errno || end == buf || *end != ' ' || st->pid <= 0)
		return -EINVAL;
	n = (size_t)(close - open - 1);
	if (n >= sizeof(st->comm))
		n = sizeof(st->comm) - 1;
	memcpy(st->comm, open + 1, n);
	st->comm[n] = '\0';

	p = close + 2;
	if (!*p || p[1] != ' ')
		return -EINVAL;
	st->state = *p;
	p += 2;
	/* fields 4 (ppid) .. 22 (starttime): 19 numbers; tty_nr may be negative */
	for (i = 0; i < 19; i++) {
		errno = 0;
		if (*p == '-')
			v[i] = (unsigned long long)strtoll(p, &end, 10);
		else
			v[i] = strtoull(p, &end, 10);
		if (errno || end == p || (*end != ' ' && *end != '\n' && *end))
			return -EINVAL;
		p = end;
		while (*p == ' ')
			p++;
	}
	st->ppid = (pid_t)v[0];
	st->flags = (unsigned long)v[5];
	st->starttime = v[18];
	return 0;
}

/*
 * /proc/@pid/@name into @buf (@size bytes, NUL-terminated): 0 or -errno.
 * One read: procfs hands out these small files whole.
 */
static int read_proc_file(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd, err;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	return 0;
}

int read_proc_stat(pid_t pid, struct proc_stat *st)
{
	char buf[1024];
	int err = read_proc_file(pid, "stat", buf, sizeof(buf));

	return err ? err : parse_proc_stat(buf, st);
}

/* The text after "@key:\t" at the start of a line of @buf, or NULL. */
static const char *status_field(const char *buf, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (!strncmp(p, key, klen) && p[klen] == ':')
			return p + klen + 1;
	return NULL;
}

int parse_proc_status(const char *buf, struct proc_ids *ids)
{
	const char *p = status_field(buf, "Uid");
	char *end;

	memset(ids, 0, sizeof(*ids));
	if (!p)
		return -EINVAL;
	for (int i = 0; i < 4; i++) {
		unsigned long v;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		errno = 0;
		v = strtoul(p, &end, 10);
		if (errno || v > UINT32_MAX)
			return -EINVAL;
		ids->uid[i] = (uint32_t)v;
		p = end;
	}
	p = status_field(buf, "CapEff");
	if (!p)
		return -EINVAL;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!isxdigit((unsigned char)*p))
		return -EINVAL;
	errno = 0;
	ids->cap_eff = strtoull(p, &end, 16);
	if (errno || (*end != '\n' && *end))
		return -EINVAL;
	/* NSpid: one pid per namespace level, outermost first */
	p = status_field(buf, "NSpid");
	while (p && *p && *p != '\n') {
		long v;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\n' || !*p)
			break;
		errno = 0;
		v = strtol(p, &end, 10);
		if (errno || end == p || v < 0 || v > BG_PID_MAX_LIMIT)
			return -EINVAL;
		ids->nspid = (pid_t)v;
		p = end;
	}
	return 0;
}

int read_proc_status(pid_t pid, struct proc_ids *ids)
{
	char buf[4096];
	int err = read_proc_file(pid, "status", buf, sizeof(buf));

	return err ? err : parse_proc_status(buf, ids);
}

int parse_fdinfo_pid(const char *buf, pid_t *out)
{
	const char *p = buf;
	char *end;
	long v;

	while (p && *p) {
		if (!strncmp(p, "Pid:", 4)) {
			errno = 0;
			v = strtol(p + 4, &end, 10);
			if (errno || end == p + 4 || v < -1 || v > BG_PID_MAX_LIMIT ||
			    (*end != '\n' && *end))
				return -EINVAL;
			*out = (pid_t)v;
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -EINVAL;
}

int read_pidfd_pid(int pidfd, pid_t *out)
{
	char path[64], buf[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EINVAL;
	buf[n] = '\0';
	return parse_fdinfo_pid(buf, out);
}

int check_pin_dir(char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = '\0';
	if (dir[0] != '/' || n < 2 || n > 200 || strstr(dir, "/../") ||
	    (n >= 3 && !strcmp(dir + n - 3, "/..")) || strstr(dir, "//"))
		return -EINVAL;
	return 0;
}

static unsigned int fnv1a(const char *s)
{
	unsigned int h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

int ctl_socket_path(const char *pin_dir, const char *suffix, char *out, size_t len)
{
	/* 108 is sun_path's size: keep the whole path under it. */
	char name[64];
	size_t n = 0;
	int r;

	for (const char *p = pin_dir; *p && n < 40; p++) {
		char c = *p;

		if (c == '/') {
			if (n == 0 || name[n - 1] == '-')
				continue;
			c = '-';
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == '.' || c == '_')) {
			c = '_';
		}
		name[n++] = c;
	}
	while (n && name[n - 1] == '-')
		n--;
	name[n] = '\0';
	r = snprintf(out, len, "/run/bpfguard/%s-%08x.%s", name, fnv1a(pin_dir), suffix);
	if (r < 0 || (size_t)r >= len || r >= 108)
		return -ENAMETOOLONG;
	return 0;
}
