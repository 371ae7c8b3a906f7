// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

package bpfguard

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// GraceMax is the longest Grace accepted (1 h), as `bpfguard tag --grace`.
const GraceMax = time.Hour

// Client holds the options of its calls; the zero Client talks to the agent
// of DefaultPinDir and tags with SIGKILL and no grace. A Client keeps no
// connection (each call opens its own), so it may be used from any number
// of goroutines, and a restarted agent is simply found again.
type Client struct {
	PinDir string // the agent's pin dir; "": DefaultPinDir
	// Signal and Grace apply to Tag, TagPidfd and Command (the other
	// calls send none): descendants get Signal first (0: SIGKILL), then
	// SIGKILL Grace later if they still live (0: at once; at most GraceMax).
	Signal syscall.Signal
	Grace  time.Duration
	// AllowBreakaway applies to Tag and TagPidfd: members of the new
	// lineage may leave it (Release), whoever may signal them. Without
	// it only the owner, from outside the lineage, and root may release.
	AllowBreakaway bool
	// MaxProcs applies to Tag, TagPidfd and Command: the new lineage,
	// its root included, holds at most this many live processes; one
	// forked beyond it is killed at birth (0: no limit; at most
	// MaxProcsMax).
	MaxProcs uint32
}

// MaxProcsMax is the largest Client.MaxProcs (BPFGUARD_MAX_PROCS_MAX).
const MaxProcsMax = 1 << 24

// Error is a failed call, as libbpfguard reports it: the errno the C
// library returns negated, and one line, the agent's own when it refused
// ("pid 1 cannot be tagged") or what failed here ("no such process: 4242").
// errors.Is(err, syscall.ENOTCONN) tells that no agent runs for the pin dir;
// the codes a caller may want to tell apart:
//
//	EINVAL     a bad argument (checked before anything is sent)
//	ENOTCONN   no agent is running for this pin dir (or its socket is not
//	           root's, so not the agent's: nothing was sent to it)
//	ESRCH      no such process (or it exited meanwhile)
//	EPERM      the agent refused (pid 1, a kernel thread, the agent itself,
//	           a process the caller may not signal, unload by a user);
//	           EACCES: the socket is not the caller's to open
//	ENOENT     untag: the process is not tagged
//	ENOSPC     the agent's maps are full
//	ETIMEDOUT, EPIPE, EPROTO   the agent did not answer properly
type Error struct {
	Errno syscall.Errno
	Msg   string
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Errno }

func fail(errno syscall.Errno, format string, args ...interface{}) error {
	return &Error{Errno: errno, Msg: fmt.Sprintf(format, args...)}
}

// errnoOf: the errno of a system call's failure (EIO if it is none).
func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO
}

// call is one checked request: lbg_resolve's checks, then the exchange.
type call struct {
	pinDir   string
	signal   uint32
	grace    uint64
	flags    uint32 // sent with opTag only
	maxProcs uint32 // sent with opTag only, as Pid2
}

// resolve checks the options (lbg_resolve, user/libbpfguard.c); kill: the
// call takes Signal and Grace.
func (c *Client) resolve(kill bool) (*call, error) {
	pin := c.PinDir
	if pin == "" {
		pin = DefaultPinDir
	}
	if len(pin) > pinDirMax {
		return nil, fail(syscall.EINVAL, "invalid pin dir: longer than %d characters", pinDirMax)
	}
	norm, ok := normPinDir(pin)
	if !ok {
		return nil, fail(syscall.EINVAL, "invalid pin dir '%s': an absolute path on bpffs is needed", pin)
	}
	r := &call{pinDir: norm}
	if !kill {
		return r, nil
	}
	if c.Signal < 0 || c.Signal > 64 {
		return nil, fail(syscall.EINVAL, "invalid signal %d (1 to 64, or 0 for SIGKILL)", int(c.Signal))
	}
	if c.Grace < 0 || c.Grace > GraceMax {
		return nil, fail(syscall.EINVAL, "invalid grace of %v (0 to 1h)", c.Grace)
	}
	r.signal = uint32(c.Signal)
	r.grace = uint64(c.Grace.Nanoseconds())
	if c.MaxProcs > MaxProcsMax {
		return nil, fail(syscall.EINVAL, "invalid max_procs %d (at most %d, or 0 for none)", c.MaxProcs, MaxProcsMax)
	}
	if c.AllowBreakaway {
		r.flags = reqAllowBreakaway
	}
	r.maxProcs = c.MaxProcs
	return r, nil
}

// do sends one request with its pidfds: the agent's line and payload, or an
// *Error made as lbg_connect_error and lbg_status_error make theirs.
func (r *call) do(op uint16, pid, pid2 int, fds []int) (string, []byte, error) {
	path, err := socketPath(r.pinDir, "sock")
	if err != nil {
		return "", nil, fail(syscall.EINVAL, "invalid pin dir '%s': its socket path is too long", r.pinDir)
	}
	return r.doAt(path, op, pid, pid2, fds)
}

func (r *call) doAt(path string, op uint16, pid, pid2 int, fds []int) (string, []byte, error) {
	fd, err := dial(path)
	if err != nil {
		return "", nil, r.connectError(errnoOf(err))
	}
	defer syscall.Close(fd)
	req := wireReq{Magic: ctlMagic, Version: ctlVersion, Op: op, Pid: int32(pid),
		Pid2: int32(pid2), Signal: r.signal, GraceNs: r.grace}
	if op == opTag {
		req.Flags = r.flags
		req.Pid2 = int32(r.maxProcs)
	}
	rep, pl, err := exchange(fd, &req, fds)
	if err != nil {
		e := errnoOf(err)
		return "", nil, fail(e, "no answer from the agent: %s", e.Error())
	}
	msg := cstring(rep.Msg[:])
	if rep.Status != 0 {
		// a positive errno, or it is not the agent's answer
		if rep.Status < 0 || rep.Status >= 4096 {
			return "", nil, fail(syscall.EPROTO, "malformed answer from the agent (status %d)", rep.Status)
		}
		e := syscall.Errno(rep.Status)
		if msg == "" {
			msg = e.Error()
		}
		return "", nil, &Error{Errno: e, Msg: msg}
	}
	return msg, pl, nil
}

func (r *call) connectError(e syscall.Errno) error {
	switch e {
	case syscall.ENOENT, syscall.ECONNREFUSED: // no socket, or a dead agent's
		return fail(syscall.ENOTCONN, "no agent is running for %s (start one: bpfguard agent --pin-dir %s)",
			r.pinDir, r.pinDir)
	case syscall.EACCES, syscall.EPERM:
		return fail(e, "permission denied opening the agent's socket for %s", r.pinDir)
	case errNotRoot:
		return fail(syscall.ENOTCONN, "the socket for %s is not root's: not the agent, refusing to talk to it",
			r.pinDir)
	}
	return fail(e, "cannot reach the agent for %s: %s", r.pinDir, e.Error())
}

func pidfdOpen(pid int) (int, error) {
	fd, _, e := syscall.Syscall(434, uintptr(pid), 0, 0) // pidfd_open: O_CLOEXEC always
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// openPid: a pidfd of pid, or the *Error lbg_pidfd_error makes.
func openPid(pid int) (int, error) {
	fd, err := pidfdOpen(pid)
	if err == nil {
		return fd, nil
	}
	e := errnoOf(err)
	if e == syscall.ESRCH || e == syscall.EINVAL { // EINVAL: above pid_max
		return -1, fail(syscall.ESRCH, "no such process: %d", pid)
	}
	return -1, fail(e, "cannot open process %d: %s", pid, e.Error())
}

func checkPid(pid int) error {
	if pid <= 0 || pid > 1<<22 { // PID_MAX_LIMIT
		return fail(syscall.EINVAL, "invalid pid %d", pid)
	}
	return nil
}

func (c *Client) pidOp(op uint16, pid int) (string, error) {
	r, err := c.resolve(op == opTag)
	if err != nil {
		return "", err
	}
	if err := checkPid(pid); err != nil {
		return "", err
	}
	// the agent reads the host pid from the pidfd: a pid of our own PID
	// namespace names the right process, and reuse cannot redirect it
	fd, err := openPid(pid)
	if err != nil {
		return "", err
	}
	defer syscall.Close(fd)
	msg, _, err := r.do(op, pid, 0, []int{fd})
	return msg, err
}

// Tag guards the process pid (of the caller's PID namespace): when its
// whole thread group dies, every descendant, those it has and those it
// forks later, is killed. Tagging a tagged process again updates its
// signal and grace. It returns the agent's line ("tagged 4242 (tag 7)").
func (c *Client) Tag(pid int) (string, error) { return c.pidOp(opTag, pid) }

// Untag stops guarding pid.
func (c *Client) Untag(pid int) (string, error) { return c.pidOp(opUntag, pid) }

// Release takes pid (a member, not a root) and its descendants, present
// and future, out of its lineage (bpfguard_release): they no longer die
// with its root. Every tag it leaves must have been made with
// AllowBreakaway, unless the caller is privileged or the tag's owner from
// outside the lineage (EPERM, a message naming the flag). os.Getpid()
// releases the caller itself.
func (c *Client) Release(pid int) (string, error) { return c.pidOp(opRelease, pid) }

// TagPidfd tags the process of a pidfd (pidfd_open(2), CLONE_PIDFD), which
// no pid reuse can redirect. The pidfd stays the caller's.
func (c *Client) TagPidfd(pidfd int) (string, error) {
	r, err := c.resolve(true)
	if err != nil {
		return "", err
	}
	if pidfd < 0 {
		return "", fail(syscall.EINVAL, "invalid pidfd %d", pidfd)
	}
	pid := pidfdPid(pidfd)
	if pid < 0 {
		return "", fail(syscall.ESRCH, "the process of pidfd %d has exited", pidfd)
	}
	msg, _, err := r.do(opTag, pid, 0, []int{pidfd})
	return msg, err
}

// pidfdPid: the pid a pidfd names in our namespace (the Pid: line of its
// fdinfo), for messages: 0 if unknown, -1 once the process was reaped.
func pidfdPid(pidfd int) int {
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(pidfd))
	if err != nil {
		return 0
	}
	return parseFdinfoPid(string(b))
}

func parseFdinfoPid(s string) int {
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "Pid:") {
			n, err := strconv.Atoi(strings.TrimSpace(line[4:]))
			if err != nil || n < -1 || n > 1<<22 {
				return 0
			}
			return n
		}
	}
	return 0
}

// Adopt counts pid, and whatever it forks from now on, as a descendant of
// root (a tagged process or a member of a tagged lineage) that did not fork
// it: a process started on root's behalf by a daemon. pid's existing
// children are not included.
func (c *Client) Adopt(root, pid int) (string, error) {
	r, err := c.resolve(false)
	if err != nil {
		return "", err
	}
	for _, p := range []int{root, pid} {
		if err := checkPid(p); err != nil {
			return "", err
		}
	}
	// root's pidfd first, then pid's: the order the agent reads them in
	rfd, err := openPid(root)
	if err != nil {
		return "", err
	}
	defer syscall.Close(rfd)
	pfd, err := openPid(pid)
	if err != nil {
		return "", err
	}
	defer syscall.Close(pfd)
	msg, _, err := r.do(opAdopt, root, pid, []int{rfd, pfd})
	return msg, err
}

func (c *Client) request(op uint16) (string, []byte, error) {
	r, err := c.resolve(false)
	if err != nil {
		return "", nil, err
	}
	return r.do(op, 0, 0, nil)
}

// Status asks the agent for its state and counters.
func (c *Client) Status() (*Status, error) {
	_, pl, err := c.request(opStatus)
	if err != nil {
		return nil, err
	}
	s, err := decodeStatus(pl)
	if err != nil {
		return nil, fail(syscall.EPROTO, "status: malformed answer from the agent: %v", err)
	}
	return s, nil
}

// List asks the agent for the tags and processes the caller may see.
func (c *Client) List() (*List, error) {
	_, pl, err := c.request(opList)
	if err != nil {
		return nil, err
	}
	l, err := decodeList(pl)
	if err != nil {
		return nil, fail(syscall.EPROTO, "list: malformed answer from the agent: %v", err)
	}
	return l, nil
}

// Unload asks the agent to detach its programs, remove its pins and stop
// (root only): no process is guarded any more.
func (c *Client) Unload() (string, error) {
	msg, _, err := c.request(opUnload)
	return msg, err
}

var defaultClient Client

// Tag tags pid through the agent of DefaultPinDir, with SIGKILL, no grace.
func Tag(pid int) (string, error) { return defaultClient.Tag(pid) }

// Untag untags pid through the agent of DefaultPinDir.
func Untag(pid int) (string, error) { return defaultClient.Untag(pid) }

// TagPidfd tags a pidfd's process through the agent of DefaultPinDir.
func TagPidfd(pidfd int) (string, error) { return defaultClient.TagPidfd(pidfd) }

// Adopt adopts pid under root through the agent of DefaultPinDir.
func Adopt(root, pid int) (string, error) { return defaultClient.Adopt(root, pid) }
