// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

package bpfguard

// The client without an agent: option checks, errors, the peer check and
// the exchange against fake listeners, and Command failing closed.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// a pin dir no agent serves
func noAgentDir() string { return fmt.Sprintf("/sys/fs/bpf/bpfguard-gotest-none-%d", os.Getpid()) }

func wantErrno(t *testing.T, what string, err error, want syscall.Errno, msg string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, want) {
		t.Errorf("%s: %v (%T), want errno %v", what, err, err, want)
		return
	}
	if msg != "" && !strings.Contains(e.Msg, msg) {
		t.Errorf("%s: message %q, want it to say %q", what, e.Msg, msg)
	}
	if strings.Contains(e.Msg, "\n") || e.Msg == "" {
		t.Errorf("%s: not one line: %q", what, e.Msg)
	}
}

func TestNoAgent(t *testing.T) {
	c := Client{PinDir: noAgentDir() + "/"}
	_, err := c.Tag(os.Getpid())
	wantErrno(t, "tag", err, syscall.ENOTCONN, "no agent is running for "+noAgentDir()+" ")
	_, err = c.Status()
	wantErrno(t, "status", err, syscall.ENOTCONN, "no agent is running")
	_, err = c.List()
	wantErrno(t, "list", err, syscall.ENOTCONN, "no agent is running")
}

func TestBadArguments(t *testing.T) {
	none := noAgentDir()
	self := os.Getpid()
	// EINVAL, not ENOTCONN: refused before anything is sent
	for _, c := range []struct {
		what string
		f    func() (string, error)
		msg  string
	}{
		{"signal 65", func() (string, error) { return (&Client{PinDir: none, Signal: 65}).Tag(self) }, "invalid signal 65"},
		{"signal -1", func() (string, error) { return (&Client{PinDir: none, Signal: -1}).Tag(self) }, "invalid signal"},
		{"grace 1h+1ns", func() (string, error) {
			return (&Client{PinDir: none, Grace: time.Hour + 1}).Tag(self)
		}, "invalid grace"},
		{"grace -1ns", func() (string, error) { return (&Client{PinDir: none, Grace: -1}).TagPidfd(0) }, "invalid grace"},
		{"relative pin dir", func() (string, error) { return (&Client{PinDir: "bpf/x"}).Tag(self) }, "invalid pin dir 'bpf/x'"},
		{"pin dir a//b", func() (string, error) { return (&Client{PinDir: "/sys/fs//x"}).Untag(self) }, "invalid pin dir"},
		{"pin dir ..", func() (string, error) { return (&Client{PinDir: "/sys/fs/bpf/.."}).Adopt(self, self) }, "invalid pin dir"},
		{"pin dir of 256 bytes", func() (string, error) {
			return (&Client{PinDir: "/" + strings.Repeat("a", 255)}).Tag(self)
		}, "longer than 255"},
		{"pid 0", func() (string, error) { return (&Client{PinDir: none}).Tag(0) }, "invalid pid 0"},
		{"pid -1", func() (string, error) { return (&Client{PinDir: none}).Untag(-1) }, "invalid pid -1"},
		{"pid 2^22+1", func() (string, error) { return (&Client{PinDir: none}).Tag(1<<22 + 1) }, "invalid pid"},
		{"adopt root 0", func() (string, error) { return (&Client{PinDir: none}).Adopt(0, self) }, "invalid pid 0"},
		{"adopt pid 0", func() (string, error) { return (&Client{PinDir: none}).Adopt(self, 0) }, "invalid pid 0"},
		{"pidfd -1", func() (string, error) { return (&Client{PinDir: none}).TagPidfd(-1) }, "invalid pidfd -1"},
	} {
		_, err := c.f()
		wantErrno(t, c.what, err, syscall.EINVAL, c.msg)
	}
	// a pin dir at the limits is fine: ENOTCONN (it got as far as connecting)
	_, err := (&Client{PinDir: "/" + strings.Repeat("a", 199) + strings.Repeat("/", 55)}).Tag(self)
	wantErrno(t, "a 255-byte pin dir", err, syscall.ENOTCONN, "")
	// untag and adopt take no signal: a Client's Signal does not refuse them
	_, err = (&Client{PinDir: none, Signal: syscall.SIGTERM, Grace: time.Second}).Untag(self)
	wantErrno(t, "untag with a signal set", err, syscall.ENOTCONN, "")
}

func TestNoSuchProcess(t *testing.T) {
	// a reaped child's pidfd: ESRCH, whatever its pid has become since
	cmd := selfCmd("exit")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	fd, err := pidfdOpen(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	cmd.Wait()
	_, err = (&Client{PinDir: noAgentDir()}).TagPidfd(fd)
	wantErrno(t, "tag the pidfd of a reaped child", err, syscall.ESRCH, "has exited")

	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	max, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || max >= 1<<22 || max < 2 {
		t.Logf("pid_max %d: no pid is sure not to exist", max)
		return
	}
	_, err = (&Client{PinDir: noAgentDir()}).Tag(max) // pids are below pid_max
	wantErrno(t, "tag pid_max", err, syscall.ESRCH, fmt.Sprintf("no such process: %d", max))
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (a listener of another uid; the peer check wants root's)")
	}
}

// A socket whose listener is not root's gets nothing: no request, no pidfd.
func TestPeerNotRoot(t *testing.T) {
	needRoot(t)
	dir, err := os.MkdirTemp("", "bpfguard-peer")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o777)
	// 65534 too: the overflow uid is root only from inside a user namespace
	for _, uid := range []uint32{4242, overflowUID} {
		sock := filepath.Join(dir, fmt.Sprintf("s%d", uid))
		l := selfCmd("listener", "BPFGUARD_TEST_SOCK="+sock)
		l.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, _ := l.StdoutPipe()
		l.Stderr = os.Stderr
		if err := l.Start(); err != nil {
			t.Fatal(err)
		}
		hold(t, l.Process.Pid)
		ch := lines(out)
		if first := <-ch; first != "ready" {
			t.Fatalf("listener as %d: %q", uid, first)
		}
		fd, err := pidfdOpen(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		r := &call{pinDir: "/fake"}
		_, _, err = r.doAt(sock, opTag, os.Getpid(), 0, []int{fd})
		syscall.Close(fd)
		wantErrno(t, fmt.Sprintf("a listener of uid %d", uid), err, syscall.ENOTCONN, "not root's")
		if got := <-ch; got != "got 0 bytes 0 fds" {
			t.Errorf("the listener of uid %d was sent something: %q", uid, got)
		}
		l.Wait()
	}
}

// fakeAgent listens (as root: this process) on a fresh socket, reads one
// request and its fds, and answers with reply(req, nfds).
func fakeAgent(t *testing.T, reply func(req []byte, nfd int) []byte) string {
	sock := filepath.Join(t.TempDir(), "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		uc := conn.(*net.UnixConn)
		uc.SetDeadline(time.Now().Add(10 * time.Second))
		buf, oob := make([]byte, 64), make([]byte, 128)
		n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		nfd := 0
		msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
		for _, m := range msgs {
			fds, _ := syscall.ParseUnixRights(&m)
			for _, f := range fds {
				syscall.Close(f)
			}
			nfd += len(fds)
		}
		uc.Write(reply(buf[:n], nfd))
	}()
	return sock
}

func TestExchangeFake(t *testing.T) {
	needRoot(t)
	var seen []byte
	var seenFds int
	ok := func(req []byte, nfd int) []byte {
		seen, seenFds = append([]byte{}, req...), nfd
		return append(rep(0, "tagged 9 (tag 1)", 3), 'a', 'b', 'c')
	}
	r := &call{pinDir: "/fake", signal: 15, grace: 5e9}
	fd1, _ := pidfdOpen(os.Getpid())
	fd2, _ := pidfdOpen(os.Getpid())
	defer syscall.Close(fd1)
	defer syscall.Close(fd2)
	msg, pl, err := r.doAt(fakeAgent(t, ok), opAdopt, 9, 10, []int{fd1, fd2})
	if err != nil || msg != "tagged 9 (tag 1)" || string(pl) != "abc" {
		t.Fatalf("exchange: %q %q %v", msg, pl, err)
	}
	want := encodeReq(&wireReq{Magic: ctlMagic, Version: ctlVersion, Op: opAdopt, Pid: 9, Pid2: 10,
		Signal: 15, GraceNs: 5e9})
	if !bytes.Equal(seen, want) || seenFds != 2 {
		t.Errorf("the agent got % x with %d fds, want % x with 2", seen, seenFds, want)
	}

	for _, c := range []struct {
		what  string
		reply []byte
		errno syscall.Errno
		msg   string
	}{
		{"a refusal", rep(int32(syscall.EPERM), "pid 1 cannot be tagged", 0), syscall.EPERM, "pid 1 cannot be tagged"},
		{"a refusal without a line", rep(int32(syscall.ENOENT), "", 0), syscall.ENOENT, "no such file"},
		{"a negative status", rep(-5, "x", 0), syscall.EPROTO, "malformed answer from the agent (status -5)"},
		{"a status of 4096", rep(4096, "x", 0), syscall.EPROTO, "malformed answer"},
		{"a bad magic", append([]byte{0}, rep(0, "", 0)[1:]...), syscall.EPROTO, "no answer from the agent"},
		{"a short reply", rep(0, "", 0)[:100], syscall.EPIPE, "no answer from the agent"},
		{"a short payload", append(rep(0, "", 10), 1, 2), syscall.EPIPE, "no answer from the agent"},
	} {
		reply := c.reply
		_, _, err := r.doAt(fakeAgent(t, func([]byte, int) []byte { return reply }), opStatus, 0, 0, nil)
		wantErrno(t, c.what, err, c.errno, c.msg)
	}
}

// Command with no agent: the command never runs, exit status 1, one line.
func TestCommandFailsClosed(t *testing.T) {
	mark := filepath.Join(t.TempDir(), "ran")
	c := Client{PinDir: noAgentDir()}
	cmd := c.Command("/proc/self/exe")
	// set after Command, as callers do: the marker is not in the environment
	cmd.Env = []string{roleEnv + "=touch", "BPFGUARD_TEST_FILE=" + mark}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != ExitTagFailed {
		t.Fatalf("Run: %v, want exit status %d", err, ExitTagFailed)
	}
	if _, err := os.Stat(mark); err == nil {
		t.Errorf("the command ran although tagging failed")
	}
	if s := stderr.String(); !strings.HasPrefix(s, "bpfguard: no agent is running for "+noAgentDir()) ||
		strings.Count(s, "\n") != 1 {
		t.Errorf("stderr: %q", s)
	}
	// bad options fail closed the same way
	cmd = (&Client{PinDir: "relative"}).Command("/proc/self/exe")
	cmd.Env = []string{roleEnv + "=touch", "BPFGUARD_TEST_FILE=" + mark}
	if err := cmd.Run(); !errors.As(err, &ee) || ee.ExitCode() != ExitTagFailed {
		t.Errorf("Run with a relative pin dir: %v, want exit status %d", err, ExitTagFailed)
	}
	if _, err := os.Stat(mark); err == nil {
		t.Errorf("the command ran although its options were bad")
	}
}

func TestCommandLookPath(t *testing.T) {
	cmd := Command("bpfguard-go-test-no-such-program")
	if err := cmd.Start(); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("Start of a command not in PATH: %v, want exec.ErrNotFound", err)
	}
	cmd = Command("sh", "-c", "exit 0")
	if !filepath.IsAbs(cmd.Args[9]) || filepath.Base(cmd.Args[9]) != "sh" || cmd.Args[10] != "sh" ||
		cmd.Path != "/proc/self/exe" || cmd.Args[0] != execMarker {
		t.Errorf("Command(sh): Path %q, Args %q", cmd.Path, cmd.Args)
	}
}

func TestParseExecArgs(t *testing.T) {
	x, err := parseExecArgs([]string{"2", "/p", "15", "5000000000", "4001", "5", "true", "64", "/bin/x", "x", "-v"})
	if err != nil || x.client != (Client{PinDir: "/p", Signal: 15, Grace: 5 * time.Second, AllowBreakaway: true, MaxProcs: 64}) ||
		x.sigign != 0x4001 || x.report != 5 || x.path != "/bin/x" || strings.Join(x.argv, " ") != "x -v" {
		t.Errorf("parseExecArgs: %+v, %v", x, err)
	}
	for _, a := range [][]string{
		{"1", "/p", "0", "0", "0", "-1", "false", "0", "/bin/x", "x"},
		{"2", "/p", "x", "0", "0", "-1", "false", "0", "/bin/x", "x"},
		{"2", "/p", "0", "1.5", "0", "-1", "false", "0", "/bin/x", "x"},
		{"2", "/p", "0", "0", "z", "-1", "false", "0", "/bin/x", "x"},
		{"2", "/p", "0", "0", "0", "-2", "false", "0", "/bin/x", "x"},
		{"2", "/p", "0", "0", "0", "-1", "maybe", "0", "/bin/x", "x"},
		{"2", "/p", "0", "0", "0", "-1", "false", "-1", "/bin/x", "x"},
		{"2", "/p", "0", "0", "0", "-1", "false", "0", "", "x"},
		{"2", "/p", "0", "0", "0", "-1", "false", "0", "/bin/x"},
		{"2", "/p", "0"},
	} {
		if _, err := parseExecArgs(a); err == nil {
			t.Errorf("parseExecArgs(%q) accepted", a)
		}
	}
}

// Start with no agent: the error, the command never ran, the child reaped.
func TestStartFailsClosed(t *testing.T) {
	mark := filepath.Join(t.TempDir(), "ran")
	c := Client{PinDir: noAgentDir()}
	cmd := c.Command("/proc/self/exe")
	cmd.Env = []string{roleEnv + "=touch", "BPFGUARD_TEST_FILE=" + mark}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	extra := len(cmd.ExtraFiles)
	_, err := c.Start(cmd)
	wantErrno(t, "Start with no agent", err, syscall.ENOTCONN, "no agent is running for "+noAgentDir())
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != ExitTagFailed {
		t.Errorf("Start with no agent: the child was not reaped with status 1: %v", cmd.ProcessState)
	}
	if _, err := os.Stat(mark); err == nil {
		t.Errorf("the command ran although tagging failed")
	}
	if stderr.Len() != 0 || len(cmd.ExtraFiles) != extra {
		t.Errorf("Start: stderr %q (the error is returned, not printed), ExtraFiles %d", stderr.String(), len(cmd.ExtraFiles))
	}
	if _, err := c.Start(exec.Command("/bin/true")); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Start of a Cmd not made by Command: %v", err)
	}
}

// From a user namespace of its own, root's listener shows as the overflow
// uid: the client accepts it there (and only there: TestPeerNotRoot).
func TestPeerOverflowInUserNS(t *testing.T) {
	needRoot(t)
	dir, err := os.MkdirTemp("", "bpfguard-peer")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o777)
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.Chmod(sock, 0o777)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, sizeReq)
		if _, err := io.ReadFull(conn, buf); err == nil {
			conn.Write(rep(0, "hello", 0))
		}
	}()
	d := selfCmd("dialer", "BPFGUARD_TEST_SOCK="+sock)
	d.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 4242, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 4242, Size: 1}},
	}
	out, err := d.Output()
	if err != nil && len(out) == 0 {
		t.Skipf("cannot start a process in a user namespace here: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != "ok (initial user namespace: false)" {
		t.Errorf("a client in a user namespace, root's listener: %q", got)
	}
}
