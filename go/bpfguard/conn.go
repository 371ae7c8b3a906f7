// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

package bpfguard

// One connection per call, as user/control.c: connect, check that the
// listener is root's, send one request with its pidfds, read one reply.
// Raw system calls, blocking, with the C client's 30 s socket timeouts: no
// poller, so this also works from init() (see Command).

import (
	"os"
	"strings"
	"syscall"
	"time"
)

// ctlTimeout bounds every send and receive (tagging a large tree takes
// milliseconds; an unload waits for the agent to detach; a hung agent).
const ctlTimeout = 30 * time.Second

// errNotRoot is the C client's -EBADE: the socket's listener is not root.
const errNotRoot = syscall.EBADE

func retry(f func() error) error {
	for {
		if err := f(); err != syscall.EINTR {
			return err
		}
	}
}

// initialUserNS: /proc/self/uid_map maps every uid to itself.
func initialUserNS() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return true // no /proc: the plain case, the strict check
	}
	return uidMapIsInitial(string(b))
}

func uidMapIsInitial(m string) bool {
	f := strings.Fields(m)
	return len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295"
}

// peerIsAgent: the agent runs as root; in a user namespace of its own the
// client sees root as the overflow uid (check_agent_peer, user/control.c).
func peerIsAgent(uid uint32, initial func() bool) bool {
	return uid == 0 || (uid == overflowUID && !initial())
}

// dial connects to the socket at path. Errors are errnos; errNotRoot when
// the listener is not root's, before anything was sent to it.
func dial(path string) (int, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	tv := syscall.NsecToTimeval(ctlTimeout.Nanoseconds())
	err = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	if err == nil {
		err = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv)
	}
	if err == nil {
		// EINTR from connect(2) leaves it going on: EALREADY/EISCONN next
		err = syscall.Connect(fd, &syscall.SockaddrUnix{Name: path})
		if err == syscall.EINTR {
			err = waitConnected(fd)
		}
	}
	if err == nil {
		var cr *syscall.Ucred

		cr, err = syscall.GetsockoptUcred(fd, syscall.SOL_SOCKET, syscall.SO_PEERCRED)
		if err == nil && !peerIsAgent(cr.Uid, initialUserNS) {
			err = errNotRoot
		}
	}
	if err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

// waitConnected: the connect interrupted by a signal completes by itself;
// poll for it (bounded like everything else) and read its result.
func waitConnected(fd int) error {
	end := time.Now().Add(ctlTimeout)
	for time.Now().Before(end) {
		e, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
		if err != nil {
			return err
		}
		if e != 0 {
			return syscall.Errno(e)
		}
		if _, err := syscall.Getpeername(fd); err == nil {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return syscall.ETIMEDOUT
}

// readFull reads exactly len(buf) bytes; a timeout or EOF is an error.
func readFull(fd int, buf []byte) error {
	for len(buf) > 0 {
		var n int

		err := retry(func() (e error) { n, e = syscall.Read(fd, buf); return })
		if err == syscall.EAGAIN {
			return syscall.ETIMEDOUT
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return syscall.EPIPE
		}
		buf = buf[n:]
	}
	return nil
}

// exchange is ctl_call_fds: the request with fds attached (in order), then
// the reply and its payload.
func exchange(fd int, req *wireReq, fds []int) (*wireRep, []byte, error) {
	var oob []byte
	var n int

	if len(fds) > 0 {
		oob = syscall.UnixRights(fds...)
	}
	b := encodeReq(req)
	err := retry(func() (e error) {
		n, e = syscall.SendmsgN(fd, b, oob, nil, syscall.MSG_NOSIGNAL)
		return
	})
	if err == syscall.EAGAIN {
		return nil, nil, syscall.ETIMEDOUT
	}
	if err != nil {
		return nil, nil, err
	}
	if n != len(b) {
		return nil, nil, syscall.EPROTO
	}
	rb := make([]byte, sizeRep)
	if err := readFull(fd, rb); err != nil {
		return nil, nil, err
	}
	rep, err := decodeRep(rb)
	if err != nil {
		return nil, nil, syscall.EPROTO
	}
	if rep.Len == 0 {
		return rep, nil, nil
	}
	pl := make([]byte, rep.Len)
	if err := readFull(fd, pl); err != nil {
		return nil, nil, err
	}
	return rep, pl, nil
}
