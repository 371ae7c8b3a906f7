// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

package bpfguard

// Job control, as user/libbpfguard_job.c: kill a lineage now, wait for it
// to be empty. A wait is one connection answered twice (the tag, then the
// end); if the agent goes away in between (a restart), the wait goes on by
// tag id on a new connection for as long as the pin dir exists.

import (
	"os"
	"syscall"
	"time"
)

// reconnectEvery: how often a waiter whose agent went away tries again.
const reconnectEvery = 100 * time.Millisecond

// WaitResult is how a lineage ended.
type WaitResult struct {
	Tag uint32
	// Status is the root's wait(2) status; StatusKnown is false when the
	// agent could not tell it (then Status is 0).
	Status      syscall.WaitStatus
	StatusKnown bool
	Msg         string // the agent's line
}

// ShellStatus is the root's status as a shell reports it: its exit code,
// or 128 + the signal that killed it (0 when unknown).
func (w WaitResult) ShellStatus() int {
	switch {
	case !w.StatusKnown:
		return 0
	case w.Status.Signaled():
		return 128 + int(w.Status.Signal())
	}
	return w.Status.ExitStatus()
}

type waitAnswer struct{ tag, flags, status uint32 }

func decodeWait(pl []byte) (waitAnswer, bool) {
	if len(pl) != sizeWait {
		return waitAnswer{}, false
	}
	return waitAnswer{native.Uint32(pl[0:]), native.Uint32(pl[4:]), native.Uint32(pl[8:])}, true
}

func (a waitAnswer) result(msg string) (WaitResult, error) {
	w := WaitResult{Tag: a.tag, Msg: msg}
	if a.flags&waitRootExited != 0 {
		w.Status, w.StatusKnown = syscall.WaitStatus(a.status), true
	}
	if a.flags&waitUntagged != 0 {
		return w, fail(syscall.ECANCELED, "tag %d was untagged before its lineage was empty", a.tag)
	}
	return w, nil
}

// first sends req on a new connection and reads its first answer. The
// connection stays open (fd >= 0) when the answer is not the end.
func (r *call) first(op uint16, pid int, flags uint32, pid2 int, fds []int) (int, waitAnswer, string, error) {
	path, err := socketPath(r.pinDir, "sock")
	if err != nil {
		return -1, waitAnswer{}, "", fail(syscall.EINVAL, "invalid pin dir '%s': its socket path is too long", r.pinDir)
	}
	fd, err := dial(path)
	if err != nil {
		return -1, waitAnswer{}, "", r.connectError(errnoOf(err))
	}
	req := wireReq{Magic: ctlMagic, Version: ctlVersion, Op: op, Pid: int32(pid), Flags: flags,
		Pid2: int32(pid2), Signal: r.signal, GraceNs: r.grace}
	rep, pl, err := exchange(fd, &req, fds)
	if err == nil && rep.Status != 0 {
		err = repError(rep)
	}
	var a waitAnswer
	ok := false
	if err == nil {
		if a, ok = decodeWait(pl); !ok {
			err = fail(syscall.EPROTO, "malformed answer from the agent")
		}
	}
	if err != nil || a.flags&waitEnded != 0 || flags&reqWait == 0 && op == opKill {
		syscall.Close(fd)
		fd = -1
	}
	if err != nil {
		if _, isErr := err.(*Error); !isErr {
			e := errnoOf(err)
			err = fail(e, "no answer from the agent: %s", e.Error())
		}
		return -1, a, "", err
	}
	return fd, a, cstring(rep.Msg[:]), nil
}

// repError: the agent's refusal, as doAt makes it.
func repError(rep *wireRep) error {
	msg := cstring(rep.Msg[:])
	if rep.Status < 0 || rep.Status >= 4096 {
		return fail(syscall.EPROTO, "malformed answer from the agent (status %d)", rep.Status)
	}
	e := syscall.Errno(rep.Status)
	if msg == "" {
		msg = e.Error()
	}
	return &Error{Errno: e, Msg: msg}
}

// end reads the last answer on fd (then closed), going on by tag id through
// a restarted agent, until the deadline (zero: none).
func (r *call) end(fd int, tag uint32, deadline time.Time) (WaitResult, error) {
	for {
		if fd >= 0 {
			left := ctlTimeout
			if !deadline.IsZero() {
				if left = time.Until(deadline); left <= 0 {
					syscall.Close(fd)
					return WaitResult{Tag: tag}, fail(syscall.ETIMEDOUT, "timed out waiting for tag %d", tag)
				}
				if left > ctlTimeout {
					left = ctlTimeout
				}
			}
			tv := syscall.NsecToTimeval(left.Nanoseconds())
			syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
			rb := make([]byte, sizeRep)
			err := readFull(fd, rb)
			if err == syscall.ETIMEDOUT {
				continue // the deadline is checked above
			}
			var rep *wireRep
			var pl []byte
			if err == nil {
				if rep, err = decodeRep(rb); err == nil && rep.Len > 0 && rep.Len <= ctlMaxPayload {
					pl = make([]byte, rep.Len)
					err = readFull(fd, pl)
				}
			}
			syscall.Close(fd)
			fd = -1
			if err == nil {
				if rep.Status != 0 {
					return WaitResult{Tag: tag}, repError(rep)
				}
				a, ok := decodeWait(pl)
				if !ok || a.flags&waitEnded == 0 {
					return WaitResult{Tag: tag}, fail(syscall.EPROTO, "malformed answer from the agent")
				}
				return a.result(cstring(rep.Msg[:]))
			}
			// the agent went away: wait on through the next one
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return WaitResult{Tag: tag}, fail(syscall.ETIMEDOUT, "timed out waiting for tag %d", tag)
		}
		time.Sleep(reconnectEvery)
		var a waitAnswer
		var msg string
		var err error
		fd, a, msg, err = r.first(opWait, 0, reqByTag, int(tag), nil)
		if err == nil && a.flags&waitEnded != 0 {
			return a.result(msg)
		}
		if err != nil {
			if st, e := os.Stat(r.pinDir); errnoOf(err) == syscall.ENOTCONN && e == nil && st.IsDir() {
				continue // no agent yet: it is being restarted
			}
			return WaitResult{Tag: tag}, err
		}
	}
}

func (c *Client) job(op uint16, flags uint32, pid int, timeout time.Duration) (WaitResult, error) {
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	r, err := c.resolve(op == opKill)
	if err != nil {
		return WaitResult{}, err
	}
	if err := checkPid(pid); err != nil {
		return WaitResult{}, err
	}
	pfd, err := openPid(pid)
	if err != nil {
		return WaitResult{}, err
	}
	fd, a, msg, err := r.first(op, pid, flags, 0, []int{pfd})
	syscall.Close(pfd)
	if err != nil {
		return WaitResult{}, err
	}
	if fd < 0 {
		if a.flags&waitEnded != 0 {
			return a.result(msg)
		}
		return WaitResult{Tag: a.tag, Msg: msg}, nil // kill without wait
	}
	return r.end(fd, a.tag, deadline)
}

// Kill signals the lineage of pid's innermost tag now, root included: every
// live member gets c.Signal (0: SIGKILL), a process born into it meanwhile
// gets it at birth, and with c.Grace what still lives at the deadline gets
// SIGKILL (without a grace, SIGKILL follows at once). Allowed to the tag's
// owner and to privileged callers. It returns the agent's line.
func (c *Client) Kill(pid int) (string, error) {
	w, err := c.job(opKill, 0, pid, -1)
	return w.Msg, err
}

// Wait blocks until nothing of the lineage of pid's innermost tag is left,
// or timeout (< 0: none) has passed (an *Error of ETIMEDOUT). A tag
// untagged first gives ECANCELED. An agent restarted meanwhile does not end
// the wait.
func (c *Client) Wait(pid int, timeout time.Duration) (WaitResult, error) {
	return c.job(opWait, 0, pid, timeout)
}

// KillWait is Kill, then Wait on the same tag, in one request.
func (c *Client) KillWait(pid int, timeout time.Duration) (WaitResult, error) {
	return c.job(opKill, reqWait, pid, timeout)
}

// SignalLineage sends sig to every live member of the lineage of pid's
// innermost tag, root included (bpfguard_signal): the tag goes on, and
// nothing follows the signal. Allowed as Kill is; members the tag's owner
// may not signal are left out. It returns the agent's line ("signalled 3
// member(s) of tag 7").
func (c *Client) SignalLineage(pid int, sig syscall.Signal) (string, error) {
	r, err := c.resolve(false)
	if err != nil {
		return "", err
	}
	if sig < 1 || sig > 64 {
		return "", fail(syscall.EINVAL, "invalid signal %d (1 to 64)", int(sig))
	}
	if err := checkPid(pid); err != nil {
		return "", err
	}
	fd, err := openPid(pid)
	if err != nil {
		return "", err
	}
	defer syscall.Close(fd)
	r.signal = uint32(sig)
	msg, _, err := r.do(opSignal, pid, 0, []int{fd})
	return msg, err
}

// SignalLineage is Client.SignalLineage with the default client.
func SignalLineage(pid int, sig syscall.Signal) (string, error) {
	return defaultClient.SignalLineage(pid, sig)
}

// Kill is Client.Kill with the default client.
func Kill(pid int) (string, error) { return defaultClient.Kill(pid) }

// Wait is Client.Wait with the default client.
func Wait(pid int, timeout time.Duration) (WaitResult, error) {
	return defaultClient.Wait(pid, timeout)
}
