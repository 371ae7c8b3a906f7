// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

package bpfguard

// Tests against a real agent, run by the kernel suite (tests/kernel/run.sh,
// go_client) with BPFGUARD_TEST_PIN_DIR set to its agent's pin dir. Without
// it they skip, unless BPFGUARD_TEST_REQUIRE=1 (the suite), where a skip
// would be a pass that tested nothing.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func agentClient(t *testing.T) *Client {
	t.Helper()
	pin := os.Getenv("BPFGUARD_TEST_PIN_DIR")
	if pin == "" {
		if os.Getenv("BPFGUARD_TEST_REQUIRE") == "1" {
			t.Fatal("BPFGUARD_TEST_PIN_DIR is not set: no agent to test against")
		}
		t.Skip("no agent: set BPFGUARD_TEST_PIN_DIR (the kernel suite's go_client does)")
	}
	return &Client{PinDir: pin}
}

// killBound: how long descendants may take to die, as the suite's BOUND_MS.
func killBound() time.Duration { return 5 * time.Second * bound() }

// startHeld starts a helper role and holds it by a pidfd.
func startHeld(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	p := hold(t, cmd.Process.Pid)
	go cmd.Wait() // reaped by us, or a zombie of ours: never a reused pid
	return p
}

func findProc(l *List, pid int) *ListProc {
	for i := range l.Procs {
		if l.Procs[i].Pid == pid {
			return &l.Procs[i]
		}
	}
	return nil
}

func findTag(l *List, tag uint32) *ListTag {
	for i := range l.Tags {
		if l.Tags[i].Tag == tag {
			return &l.Tags[i]
		}
	}
	return nil
}

func TestAgentTagListStatusUntag(t *testing.T) {
	c := agentClient(t)
	s := startHeld(t, selfCmd("sleep"))
	msg, err := c.Tag(s.pid)
	if err != nil || !strings.HasPrefix(msg, fmt.Sprintf("tagged %d ", s.pid)) {
		t.Fatalf("Tag(%d): %q, %v", s.pid, msg, err)
	}
	l, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	p := findProc(l, s.pid)
	if p == nil || p.Flags&ProcRoot == 0 || p.Comm == "" {
		t.Fatalf("List: %d is not a listed root: %+v", s.pid, p)
	}
	if tg := findTag(l, p.Tag); tg == nil || tg.RootPid != s.pid || tg.OwnerUID != uint32(os.Geteuid()) ||
		(os.Geteuid() == 0 && tg.Flags&TagPriv == 0) {
		t.Errorf("List: the tag of %d: %+v", s.pid, tg)
	}
	st, err := c.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Tags < 1 || st.AgentPid <= 0 || st.Kernel == "" || (st.Mode != ModeUser && st.Mode != ModeKernel) ||
		st.Features&FeatBTF == 0 || st.StartTime == 0 || st.MaxProcs == 0 {
		t.Errorf("Status: %+v", st)
	}
	if m := os.Getenv("BPFGUARD_TEST_MODE"); m != "" && m != "auto" && st.Mode.String() != m {
		t.Errorf("Status: mode %v, the suite started the agent with --mode %s", st.Mode, m)
	}
	// again, with a signal and a grace: updates the tag
	c2 := *c
	c2.Signal, c2.Grace = syscall.SIGTERM, 2*time.Second
	if _, err := c2.Tag(s.pid); err != nil {
		t.Errorf("Tag again with SIGTERM and a grace: %v", err)
	}
	if msg, err := c2.Untag(s.pid); err != nil || msg == "" {
		t.Errorf("Untag: %q, %v", msg, err)
	}
	_, err = c.Untag(s.pid)
	wantErrno(t, "untag an untagged process", err, syscall.ENOENT, "")
	if l, err = c.List(); err != nil || findProc(l, s.pid) != nil {
		t.Errorf("List after Untag still lists %d (%v)", s.pid, err)
	}
	// the agent itself may not be tagged: EPERM and the agent's line
	_, err = c.Tag(st.AgentPid)
	wantErrno(t, "tag the agent", err, syscall.EPERM, "")
	if st2, err := c.Status(); err != nil || st2.AgentCounters[AgentStatRefused] <= st.AgentCounters[AgentStatRefused] {
		t.Errorf("the refusals counted: %v -> %v (%v)", st.AgentCounters[AgentStatRefused],
			st2.AgentCounters[AgentStatRefused], err)
	}
}

// waitDead: every p has exited within d.
func waitDead(t *testing.T, d time.Duration, what string, ps ...*proc) {
	t.Helper()
	end := time.Now().Add(d)
	for _, p := range ps {
		if !pidfdExited(p.fd, time.Until(end)) {
			t.Errorf("%s: %d still alive %v after its root was killed", what, p.pid, d)
		}
	}
}

func TestAgentTagPidfd(t *testing.T) {
	c := agentClient(t)
	// the parent role: a tree with stubborn children; tagged by pidfd
	// from outside, after they exist (the agent enrols them)
	p, kids := startParent(t, c)
	if msg, err := c.TagPidfd(p.fd); err != nil || !strings.HasPrefix(msg, fmt.Sprintf("tagged %d ", p.pid)) {
		t.Fatalf("TagPidfd: %q, %v", msg, err)
	}
	pidfdSignal(p.fd, syscall.SIGKILL)
	waitDead(t, killBound(), "tagged by pidfd", kids...)
}

// SignalLineage reaches the root and every member and leaves the tag as it was:
// SIGSTOP stops them all, SIGCONT resumes them all, the root's death still
// kills the members. A signal out of range is refused, an untagged pid too.
func TestAgentSignalLineage(t *testing.T) {
	c := agentClient(t)
	p, kids := startParent(t, c)
	if _, err := c.Tag(p.pid); err != nil {
		t.Fatalf("Tag(%d): %v", p.pid, err)
	}
	all := append([]*proc{p}, kids...)
	for _, x := range []struct {
		sig     syscall.Signal
		stopped bool
	}{{syscall.SIGSTOP, true}, {syscall.SIGCONT, false}} {
		msg, err := c.SignalLineage(p.pid, x.sig)
		if err != nil || !strings.HasPrefix(msg, "signalled 3 member(s)") {
			t.Fatalf("SignalLineage(%d, %v): %q, %v", p.pid, x.sig, msg, err)
		}
		for _, q := range all {
			if !waitStopped(q.pid, x.stopped, killBound()) {
				t.Errorf("after SignalLineage(%v), %d is not %s", x.sig, q.pid, map[bool]string{true: "stopped", false: "running"}[x.stopped])
			}
		}
	}
	_, err := c.SignalLineage(p.pid, 65)
	wantErrno(t, "SignalLineage 65", err, syscall.EINVAL, "")
	_, err = c.SignalLineage(os.Getpid(), syscall.SIGCONT)
	wantErrno(t, "SignalLineage of an untagged process", err, syscall.ENOENT, "")
	pidfdSignal(p.fd, syscall.SIGKILL)
	waitDead(t, killBound(), "signalled, then the root killed", kids...)
}

// Release takes a member out of a lineage made with AllowBreakaway: it
// outlives the root, its sibling does not; the list shows the flag; the
// root itself cannot be released (EINVAL), an untagged pid is ENOENT.
func TestAgentRelease(t *testing.T) {
	c := agentClient(t)
	p, kids := startParent(t, c)
	rc := *c
	rc.AllowBreakaway = true
	msg, err := rc.Tag(p.pid)
	if err != nil {
		t.Fatalf("Tag(%d) with AllowBreakaway: %v", p.pid, err)
	}
	l, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	if r := findProc(l, p.pid); r == nil || findTag(l, r.Tag) == nil || findTag(l, r.Tag).Flags&TagBreakaway == 0 {
		t.Errorf("List: the tag of %d (%q) does not carry TagBreakaway", p.pid, msg)
	}
	if msg, err := c.Release(kids[0].pid); err != nil || !strings.HasPrefix(msg, fmt.Sprintf("released %d ", kids[0].pid)) {
		t.Fatalf("Release(%d): %q, %v", kids[0].pid, msg, err)
	}
	_, err = c.Release(p.pid)
	wantErrno(t, "Release of the root", err, syscall.EINVAL, "untag it instead")
	_, err = c.Release(os.Getpid())
	wantErrno(t, "Release of an untagged process", err, syscall.ENOENT, "")
	pidfdSignal(p.fd, syscall.SIGKILL)
	waitDead(t, killBound(), "the member left in the lineage", kids[1])
	if pidfdExited(kids[0].fd, 300*time.Millisecond) {
		t.Errorf("the released %d died with the root it left", kids[0].pid)
	}
}

// MaxProcs goes with the tag and comes back in List with the lineage's
// accounting: the parent helper and its two children, live when tagged
// (counted live, not born); a cap beyond MaxProcsMax is refused before any
// request; the root's death kills the children.
func TestAgentMaxProcs(t *testing.T) {
	c := agentClient(t)
	p, kids := startParent(t, c)
	mc := *c
	mc.MaxProcs = MaxProcsMax + 1
	_, err := mc.Tag(p.pid)
	wantErrno(t, "Tag with MaxProcs beyond MaxProcsMax", err, syscall.EINVAL, "max_procs")
	mc.MaxProcs = 7
	if _, err := mc.Tag(p.pid); err != nil {
		t.Fatalf("Tag(%d) with MaxProcs 7: %v", p.pid, err)
	}
	l, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	r := findProc(l, p.pid)
	if r == nil || findTag(l, r.Tag) == nil {
		t.Fatalf("List: no tag for %d", p.pid)
	}
	tg := findTag(l, r.Tag)
	want := uint64(1 + len(kids))
	if tg.MaxProcs != 7 || tg.State&ListAcct == 0 || tg.Acct.Live != want || tg.Acct.Born != 0 ||
		tg.Acct.Exited != 0 || tg.Acct.Peak < want {
		t.Errorf("List: tag %d has MaxProcs %d, State %#x, Acct %+v; want 7, ListAcct, %d live, none born or exited",
			tg.Tag, tg.MaxProcs, tg.State, tg.Acct, want)
	}
	pidfdSignal(p.fd, syscall.SIGKILL)
	waitDead(t, killBound(), "the root of a capped lineage killed", kids...)
}

// waitStopped: is pid's state (/proc/PID/stat) 'T' (stopped) or not, within bound?
func waitStopped(pid int, stopped bool, bound time.Duration) bool {
	end := time.Now().Add(bound)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return false
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 0 && (f[0] == "T") == stopped {
			return true
		}
		if !time.Now().Before(end) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

// startParent starts the parent role untagged (a tree with two stubborn
// children, "child" and "locked") and holds the three.
func startParent(t *testing.T, c *Client) (*proc, []*proc) {
	t.Helper()
	cmd := selfCmd("parent", "BPFGUARD_TEST_PIN_DIR="+c.PinDir, "BPFGUARD_TEST_SELFTAG=0")
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	p := startHeld(t, cmd)
	got := until(t, lines(out), 30*time.Second*bound())
	return p, holdKids(t, got, "child", "locked")
}

// holdKids holds the helper's reported children of these keys.
func holdKids(t *testing.T, got map[string]string, keys ...string) []*proc {
	t.Helper()
	var ps []*proc
	for _, k := range keys {
		pid, err := strconv.Atoi(got[k])
		if err != nil {
			t.Fatalf("the parent helper reported no %s: %v", k, got)
		}
		// our grandchildren, unreaped by their parent: the pid is theirs
		ps = append(ps, hold(t, pid))
	}
	return ps
}

func TestAgentAdopt(t *testing.T) {
	c := agentClient(t)
	root := startHeld(t, selfCmd("sleep"))
	other := startHeld(t, selfCmd("stubborn")) // not root's descendant
	if _, err := c.Tag(root.pid); err != nil {
		t.Fatal(err)
	}
	var e *Error
	if _, err := c.Adopt(other.pid, other.pid); !errors.As(err, &e) || e.Msg == "" {
		t.Errorf("adopt under an untagged root: %v, want the agent's refusal", err)
	}
	if msg, err := c.Adopt(root.pid, other.pid); err != nil {
		t.Fatalf("Adopt: %q, %v", msg, err)
	}
	l, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	if p := findProc(l, other.pid); p == nil || p.Flags&ProcAdopted == 0 {
		t.Errorf("List: %d is not listed as adopted: %+v", other.pid, p)
	}
	pidfdSignal(root.fd, syscall.SIGKILL)
	waitDead(t, killBound(), "adopted", other)
}

// The seed case: a Go parent started through Command (tagged before main)
// is SIGKILLed; its exec'd child, which ignores every catchable signal,
// dies; and a child it started from a locked OS thread that then exited
// (where PR_SET_PDEATHSIG kills too early) lived on until then.
func TestAgentCommandParentKilled(t *testing.T) {
	c := agentClient(t)
	cmd := c.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), roleEnv+"=parent", "BPFGUARD_TEST_PIN_DIR="+c.PinDir,
		"BPFGUARD_TEST_SELFTAG=0")
	parentKilled(t, c, cmd, true)
}

// The same Go parent, tagging itself first thing in main.
func TestAgentSelfTagParentKilled(t *testing.T) {
	c := agentClient(t)
	cmd := selfCmd("parent", "BPFGUARD_TEST_PIN_DIR="+c.PinDir, "BPFGUARD_TEST_SELFTAG=1")
	parentKilled(t, c, cmd, false)
}

func parentKilled(t *testing.T, c *Client, cmd *exec.Cmd, viaCommand bool) {
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := hold(t, cmd.Process.Pid)
	got := until(t, lines(out), 30*time.Second*bound())
	if viaCommand && got["tagged-at-start"] != "1" {
		t.Errorf("the parent started through Command was not a tagged root when its main ran (%v)", got)
	}
	kids := holdKids(t, got, "child", "locked")
	child, locked := kids[0], kids[1]
	// the kernel's parent-death signal fired: the thread is really gone
	if f := strings.Fields(got["pdeathsig"]); len(f) != 2 || f[1] != "9" {
		t.Fatalf("setup: the Pdeathsig child did not die by SIGKILL when its thread exited: %v", got)
	}
	l, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	root := findProc(l, p.pid)
	if root == nil || root.Flags&ProcRoot == 0 {
		t.Fatalf("the parent %d is not a listed root", p.pid)
	}
	for _, k := range kids {
		if m := findProc(l, k.pid); m == nil || m.Tag != root.Tag {
			t.Errorf("the child %d is not listed in its parent's lineage (tag %d): %+v", k.pid, root.Tag, m)
		}
	}
	// the child ignores what a supervisor would send: only SIGKILL works
	for _, s := range stubbornSignals {
		if err := pidfdSignal(child.fd, s); err != nil {
			t.Fatalf("signal the child: %v", err)
		}
	}
	// a second: the thread's exit is long past; the locked child lives on
	if pidfdExited(child.fd, time.Second) || pidfdExited(locked.fd, 0) {
		t.Fatalf("a child died while its parent lives (child: %v, started from the exited thread: %v)",
			pidfdExited(child.fd, 0), pidfdExited(locked.fd, 0))
	}
	if pidfdExited(p.fd, 0) {
		t.Fatal("setup: the parent died")
	}
	// the Go parent crashes
	if err := pidfdSignal(p.fd, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitDead(t, killBound(), "the Go parent's child", child)
	waitDead(t, killBound(), "the child started from the parent's exited locked thread", locked)
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the parent's Wait: %v", err)
	}
}

// Command's exit statuses: the program's own, 127 not found, 126 not
// executable, and a signal's death as a signal's.
func TestAgentCommandStatus(t *testing.T) {
	c := agentClient(t)
	cmd := c.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), roleEnv+"=exit", "BPFGUARD_TEST_CODE=7")
	if err := cmd.Run(); cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 7 {
		t.Errorf("Run of a command exiting 7: %v", err)
	}
	// Start: the agent's line, then the program's status
	cmd = c.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), roleEnv+"=exit", "BPFGUARD_TEST_CODE=7")
	msg, err := c.Start(cmd)
	if err != nil || !strings.HasPrefix(msg, fmt.Sprintf("tagged %d ", cmd.Process.Pid)) {
		t.Fatalf("Start: %q, %v", msg, err)
	}
	if err := cmd.Wait(); cmd.ProcessState.ExitCode() != 7 {
		t.Errorf("Wait after Start: %v, want exit status 7", err)
	}
	dir := t.TempDir()
	_, err = c.Start(c.Command(filepath.Join(dir, "missing")))
	wantErrno(t, "Start of a missing program", err, syscall.ENOENT, "exec: "+filepath.Join(dir, "missing"))
	noexec := filepath.Join(dir, "noexec")
	os.WriteFile(noexec, []byte("#!/bin/sh\nexit 0\n"), 0o644)
	for _, x := range []struct {
		path string
		code int
		msg  string
	}{
		{filepath.Join(dir, "missing"), ExitNotFound, "no such file"},
		{noexec, ExitNotExec, "permission denied"},
	} {
		var stderr bytes.Buffer
		cmd := c.Command(x.path)
		cmd.Stderr = &stderr
		err := cmd.Run()
		if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != x.code {
			t.Errorf("Run(%s): %v, want exit status %d", x.path, err, x.code)
		}
		if s := stderr.String(); !strings.HasPrefix(s, "bpfguard: exec: "+x.path+": "+x.msg) ||
			strings.Count(s, "\n") != 1 {
			t.Errorf("Run(%s): stderr %q", x.path, s)
		}
	}
	// the signals this process ignores stay ignored in the command
	sig := syscall.SIGUSR2
	if ignoredSignals()&(1<<(sig-1)) == 0 {
		ignoreForTest(t, sig)
	}
	// (a Go program would install its handlers over them: ask a shell's grep)
	cmd = c.Command("/bin/sh", "-c", "exec grep SigIgn: /proc/self/status")
	b, err := cmd.Output()
	v, perr := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(string(b), "SigIgn:")), 16, 64)
	if err != nil || perr != nil || v&(1<<(sig-1)) == 0 {
		t.Errorf("SIGUSR2 is ignored here, not in the command (SigIgn %q, %v)", b, err)
	}
}

// Kill and Wait: Wait on a live lineage times out and kills nothing; Kill
// with KillWait ends it, root included, with the root's status (SIGKILL).
func TestAgentKillWait(t *testing.T) {
	c := agentClient(t)
	s := startHeld(t, selfCmd("sleep"))
	if _, err := c.Tag(s.pid); err != nil {
		t.Fatalf("Tag(%d): %v", s.pid, err)
	}
	_, err := c.Wait(s.pid, 200*time.Millisecond)
	wantErrno(t, "Wait with a timeout on a live lineage", err, syscall.ETIMEDOUT, "")
	if pidfdExited(s.fd, 0) {
		t.Fatalf("Wait killed %d", s.pid)
	}
	w, err := c.KillWait(s.pid, killBound())
	if err != nil {
		t.Fatalf("KillWait(%d): %v", s.pid, err)
	}
	if !pidfdExited(s.fd, 0) {
		t.Errorf("KillWait returned while %d lives", s.pid)
	}
	if !w.StatusKnown || !w.Status.Signaled() || w.Status.Signal() != syscall.SIGKILL || w.ShellStatus() != 137 {
		t.Errorf("KillWait: %+v, expected the root's SIGKILL", w)
	}
	_, err = c.Kill(os.Getpid())
	wantErrno(t, "Kill of an untagged process", err, syscall.ENOENT, "")
}
