// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

package bpfguard

// The test binary is its own helper: with BPFGUARD_TEST_ROLE set it plays a
// role (below) instead of running the tests. Every process a test starts
// is held by a pidfd, so that it is signalled, waited for and killed at
// the end by identity, never by a pid that may have been reused.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

const roleEnv = "BPFGUARD_TEST_ROLE"

func init() {
	if os.Getenv(roleEnv) == "parent" {
		// The main goroutine keeps the main thread, which the runtime
		// never ends: the locked goroutine of roleParent then runs on
		// another thread, which ends when that goroutine returns.
		runtime.LockOSThread()
	}
}

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	os.Exit(m.Run())
}

// life: how long a helper lives at most (it ends by itself).
func life() time.Duration {
	n, err := strconv.Atoi(os.Getenv("BPFGUARD_TEST_LIFE"))
	if err != nil || n <= 0 {
		n = 300
	}
	return time.Duration(n) * time.Second
}

// bound: the factor of the kernel suite's BOUND for waits on the agent.
func bound() time.Duration {
	n, err := strconv.Atoi(os.Getenv("BPFGUARD_TEST_BOUND"))
	if err != nil || n < 1 {
		n = 1
	}
	return time.Duration(n)
}

func roleFail(format string, args ...interface{}) int {
	fmt.Fprintf(os.Stderr, "helper %s: %s\n", os.Getenv(roleEnv), fmt.Sprintf(format, args...))
	return 3
}

func runRole(role string) int {
	switch role {
	case "sleep":
		time.Sleep(life())
	case "stubborn":
		// every catchable signal ignored; stdin is not read
		signal.Ignore()
		fmt.Println("ignoring")
		time.Sleep(life())
	case "exit":
		n, _ := strconv.Atoi(os.Getenv("BPFGUARD_TEST_CODE"))
		return n
	case "touch":
		if err := os.WriteFile(os.Getenv("BPFGUARD_TEST_FILE"), nil, 0o644); err != nil {
			return roleFail("%v", err)
		}
	case "parent":
		return roleParent()
	case "listener":
		return roleListener()
	case "dialer":
		// one status request to BPFGUARD_TEST_SOCK: "ok MSG" or "err ERRNO MSG"
		_, _, err := (&call{pinDir: "/fake"}).doAt(os.Getenv("BPFGUARD_TEST_SOCK"), opStatus, 0, 0, nil)
		if err != nil {
			fmt.Printf("err %d %v (initial user namespace: %v)\n", int(errnoOf(err)), err, initialUserNS())
		} else {
			fmt.Printf("ok (initial user namespace: %v)\n", initialUserNS())
		}
	default:
		return roleFail("unknown role")
	}
	return 0
}

func selfCmd(role string, extra ...string) *exec.Cmd {
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(append(os.Environ(), roleEnv+"="+role), extra...)
	return cmd
}

// roleParent is the Go parent: tagged before its first instruction (started
// through Command) or tagging itself (BPFGUARD_TEST_SELFTAG=1), it starts
// a stubborn child from its main goroutine, and another, with a Pdeathsig
// one beside it, from a goroutine locked to its OS thread that returns
// locked, so that the runtime ends the thread. It reports on stdout:
//
//	tagged-at-start 0|1   (Command: was it tagged when main ran?)
//	child PID
//	thread TID            (gone when this is printed)
//	locked PID            (started from that thread; must live on)
//	pdeathsig PID SIG     (killed by SIG when the thread ended; reaped)
//	ready
func roleParent() int {
	c := Client{PinDir: os.Getenv("BPFGUARD_TEST_PIN_DIR")}
	self := os.Getpid()
	if os.Getenv("BPFGUARD_TEST_SELFTAG") == "1" {
		if _, err := c.Tag(self); err != nil {
			return roleFail("tag itself: %v", err)
		}
	} else {
		l, err := c.List()
		if err != nil {
			return roleFail("list: %v", err)
		}
		at := 0
		for _, p := range l.Procs {
			if p.Pid == self && p.Flags&ProcRoot != 0 {
				at = 1
			}
		}
		fmt.Printf("tagged-at-start %d\n", at)
	}
	child := selfCmd("stubborn")
	if err := child.Start(); err != nil {
		return roleFail("start the child: %v", err)
	}
	if err := waitIgnoring(child.Process.Pid); err != nil {
		return roleFail("%v", err)
	}
	fmt.Printf("child %d\n", child.Process.Pid)

	type started struct {
		tid           int
		locked, death *exec.Cmd
		err           error
	}
	ch := make(chan started)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		s := started{tid: syscall.Gettid(), locked: selfCmd("stubborn"), death: selfCmd("sleep")}
		s.death.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if s.err = s.locked.Start(); s.err == nil {
			s.err = s.death.Start()
		}
		ch <- s
	}()
	s := <-ch
	if s.err != nil {
		return roleFail("start from the locked thread: %v", s.err)
	}
	if s.tid == self {
		return roleFail("the locked goroutine ran on the main thread")
	}
	if err := waitIgnoring(s.locked.Process.Pid); err != nil {
		return roleFail("%v", err)
	}
	fmt.Printf("locked %d\n", s.locked.Process.Pid)
	task := fmt.Sprintf("/proc/self/task/%d", s.tid)
	for end := time.Now().Add(10 * time.Second * bound()); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(task); os.IsNotExist(err) {
			break
		}
		if time.Now().After(end) {
			return roleFail("thread %d still exists after its locked goroutine returned", s.tid)
		}
	}
	fmt.Printf("thread %d\n", s.tid)
	// the kernel's parent-death signal fired: the thread really is gone
	s.death.Wait()
	sig := 0
	if ws, ok := s.death.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		sig = int(ws.Signal())
	}
	fmt.Printf("pdeathsig %d %d\nready\n", s.death.Process.Pid, sig)
	time.Sleep(life())
	return 0
}

// stubbornSignals: what the tests send a stubborn child, which ignores them.
var stubbornSignals = []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGPIPE}

// waitIgnoring waits until a stubborn child (ours, unreaped: its pid is its
// own) ignores stubbornSignals: until then they would kill it.
func waitIgnoring(pid int) error {
	var want uint64
	for _, s := range stubbornSignals {
		want |= 1 << (s - 1)
	}
	end := time.Now().Add(20 * time.Second * bound())
	for time.Now().Before(end) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, statusSigIgnKey) {
				v, _ := strconv.ParseUint(strings.TrimSpace(line[len(statusSigIgnKey):]), 16, 64)
				if v&want == want {
					return nil
				}
			}
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("the stubborn child %d does not ignore %v", pid, stubbornSignals)
}

// roleListener listens on BPFGUARD_TEST_SOCK (as whoever the test made it),
// then reports what its one client sent: "got N bytes M fds".
func roleListener() int {
	l, err := net.Listen("unix", os.Getenv("BPFGUARD_TEST_SOCK"))
	if err != nil {
		return roleFail("%v", err)
	}
	fmt.Println("ready")
	l.(*net.UnixListener).SetDeadline(time.Now().Add(20 * time.Second))
	conn, err := l.Accept()
	if err != nil {
		return roleFail("accept: %v", err)
	}
	uc := conn.(*net.UnixConn)
	uc.SetDeadline(time.Now().Add(2 * time.Second))
	nb, nfd := 0, 0
	buf, oob := make([]byte, 512), make([]byte, 256)
	for {
		n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
		nb += n
		if oobn > 0 {
			msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
			for _, m := range msgs {
				fds, _ := syscall.ParseUnixRights(&m)
				nfd += len(fds)
			}
		}
		if err != nil || n == 0 {
			break
		}
	}
	fmt.Printf("got %d bytes %d fds\n", nb, nfd)
	return 0
}

// ---- processes held by pidfds ----

type proc struct {
	pid, fd int
}

func pidfdSignal(fd int, sig syscall.Signal) error {
	_, _, e := syscall.Syscall6(424, uintptr(fd), uintptr(sig), 0, 0, 0, 0) // pidfd_send_signal
	if e != 0 {
		return e
	}
	return nil
}

// exited: the pidfd is readable once the process has exited (zombie or reaped).
func pidfdExited(fd int, wait time.Duration) bool {
	type pollfd struct {
		fd             int32
		events, revent int16
	}
	p := pollfd{fd: int32(fd), events: 0x1} // POLLIN
	ts := syscall.NsecToTimespec(wait.Nanoseconds())
	for {
		n, _, e := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&p)), 1,
			uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		return e == 0 && n == 1
	}
}

// hold opens a pidfd of pid, records it for the kernel suite, and has it
// killed at the end of the test.
func hold(t *testing.T, pid int) *proc {
	t.Helper()
	fd, err := pidfdOpen(pid)
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", pid, err)
	}
	p := &proc{pid: pid, fd: fd}
	record(t, p)
	t.Cleanup(func() {
		if !pidfdExited(fd, 0) {
			pidfdSignal(fd, syscall.SIGKILL)
			if !pidfdExited(fd, 5*time.Second) {
				t.Errorf("cleanup: %d survives SIGKILL", pid)
			}
		}
		syscall.Close(fd)
	})
	return p
}

// record appends "PID STARTTIME" to BPFGUARD_TEST_PIDS: the kernel suite
// checks, by its own means, that none of them outlives the tests.
func record(t *testing.T, p *proc) {
	path := os.Getenv("BPFGUARD_TEST_PIDS")
	if path == "" {
		return
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if pidfdExited(p.fd, 0) || err != nil {
		return // gone already: nothing to outlive anything
	}
	// alive after the read: the stat read was this process's
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 20 {
		return
	}
	w, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Errorf("record: %v", err)
		return
	}
	fmt.Fprintf(w, "%d %s\n", p.pid, f[19])
	w.Close()
}

// lines reads a helper's stdout into a channel, one line at a time.
func lines(r io.Reader) <-chan string {
	ch := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
		close(ch)
	}()
	return ch
}

// until reads lines until one starts with "ready" (bounded); key -> rest.
func until(t *testing.T, ch <-chan string, d time.Duration) map[string]string {
	t.Helper()
	got := map[string]string{}
	tm := time.NewTimer(d)
	defer tm.Stop()
	for {
		select {
		case l, ok := <-ch:
			if !ok {
				t.Fatalf("the helper ended before it was ready (it said %v)", got)
			}
			k, v, _ := strings.Cut(l, " ")
			got[k] = v
			if k == "ready" {
				return got
			}
		case <-tm.C:
			t.Fatalf("the helper was not ready within %v (it said %v)", d, got)
		}
	}
}

// ignoreForTest ignores sig until the test ends.
func ignoreForTest(t *testing.T, sig syscall.Signal) {
	signal.Ignore(sig)
	t.Cleanup(func() { signal.Reset(sig) })
}
