// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

package bpfguard

// Command: an *exec.Cmd whose process is tagged before it runs a single
// instruction of its program.
//
// Go runs no code of ours between fork and exec, so the Cmd runs
// /proc/self/exe, this very program, with a marker as its argv[0]: this
// package's init() sees it, tags its own process through the agent, and
// syscall.Exec's the real program in place, keeping the pid, which the
// tag follows. The marker and the options travel in argv, not in the
// environment: a caller that sets cmd.Env (the usual thing to do with a
// Cmd) would otherwise drop them, and the copy would run this program's
// main instead of the command.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// execMarker is the intermediate's argv[0]: no program is called this.
const execMarker = "bpfguard.local/bpfguard:exec"

// execLayout numbers the argument layout below, for a parent and a child of
// different builds (impossible through /proc/self/exe, but cheap to check).
const execLayout = "1"

// Exit statuses of a command that did not run, those of `bpfguard exec`:
// the command's own status otherwise.
const (
	ExitTagFailed   = 1   // tagging failed: the command was not started
	ExitNotExec     = 126 // the command could not be executed
	ExitNotFound    = 127 // the command does not exist
	execArgsBefore  = 7   // marker, layout, pin dir, signal, grace, sigign, path
	procSelfExe     = "/proc/self/exe"
	statusSigIgnKey = "SigIgn:"
)

// Command returns an *exec.Cmd like exec.Command(name, arg...), whose
// process is tagged (with c's options) before it runs name: nothing it
// forks can outlive it. If tagging fails the command never runs; Wait
// reports exit status 1 (ExitTagFailed) and one line on its stderr (a Cmd
// whose Stderr is nil discards it). 127 and 126 mean, as for `bpfguard
// exec`, that name was not found or could not be executed. name is looked
// up in PATH now, as exec.Command does (a failed lookup fails Start).
//
// The program calling Command must import this package (it does, to call
// Command): the Cmd runs a copy of it, /proc/self/exe, whose init() tags
// itself and then execs name. Until then that copy is this program, started
// anew: the init functions of the packages initialized before this one run
// in it, untagged (keep them free of side effects such as starting
// processes). The process keeps its pid from start to name, so
// cmd.Process, Wait and signals are name's.
//
// Set Env, Dir, Stdin/Stdout/Stderr, ExtraFiles and SysProcAttr freely; do
// not replace Path or Args (appending to Args is fine). Signals ignored in
// this process when Command is called stay ignored in name, as they would
// through exec.Command; SysProcAttr.Chroot is not supported (the copy is
// found as /proc/self/exe).
func (c *Client) Command(name string, arg ...string) *exec.Cmd {
	return c.wrap(exec.Command(name, arg...))
}

// CommandContext is Command with exec.CommandContext's ctx: the process is
// killed when ctx is done before it exits.
func (c *Client) CommandContext(ctx context.Context, name string, arg ...string) *exec.Cmd {
	return c.wrap(exec.CommandContext(ctx, name, arg...))
}

// Command is Command through the agent of DefaultPinDir, with SIGKILL.
func Command(name string, arg ...string) *exec.Cmd { return defaultClient.Command(name, arg...) }

// wrap keeps what exec.Command made of name (its Path, or the failed
// lookup that makes Start fail) and runs it through the marker.
func (c *Client) wrap(cmd *exec.Cmd) *exec.Cmd {
	args := []string{execMarker, execLayout, c.PinDir, strconv.Itoa(int(c.Signal)),
		strconv.FormatInt(int64(c.Grace), 10), strconv.FormatUint(ignoredSignals(), 16), cmd.Path}
	cmd.Args = append(args, cmd.Args...)
	cmd.Path = procSelfExe
	return cmd
}

// ignoredSignals: the signals this process ignores (SigIgn of
// /proc/self/status), bit n-1 for signal n; 0 if unknown.
func ignoredSignals() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, statusSigIgnKey) {
			v, err := strconv.ParseUint(strings.TrimSpace(line[len(statusSigIgnKey):]), 16, 64)
			if err == nil {
				return v
			}
		}
	}
	return 0
}

func init() {
	if len(os.Args) > execArgsBefore && os.Args[0] == execMarker {
		os.Exit(execTagged(os.Args[1:]))
	}
}

type execArgs struct {
	client Client
	sigign uint64
	path   string
	argv   []string
}

func parseExecArgs(a []string) (*execArgs, error) {
	if len(a) < execArgsBefore || a[0] != execLayout {
		return nil, fmt.Errorf("bad arguments from the parent (%d, layout %q)", len(a), a)
	}
	sig, err1 := strconv.Atoi(a[2])
	grace, err2 := strconv.ParseInt(a[3], 10, 64)
	ign, err3 := strconv.ParseUint(a[4], 16, 64)
	if err1 != nil || err2 != nil || err3 != nil || a[5] == "" {
		return nil, fmt.Errorf("bad arguments from the parent: %q", a[:6])
	}
	return &execArgs{
		client: Client{PinDir: a[1], Signal: syscall.Signal(sig), Grace: time.Duration(grace)},
		sigign: ign, path: a[5], argv: a[6:],
	}, nil
}

// execTagged is the copy's whole life: tag, then exec, or an exit status.
func execTagged(a []string) int {
	x, err := parseExecArgs(a)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bpfguard: exec: %v\n", err)
		return ExitTagFailed
	}
	if _, err := x.client.Tag(os.Getpid()); err != nil {
		fmt.Fprintf(os.Stderr, "bpfguard: %v\n", err)
		return ExitTagFailed
	}
	// Go installed its handlers over the signals the parent ignored
	// (but SIGHUP and SIGINT): ignore them again, as exec.Command's child
	// would have them. The handlers themselves are reset by execve.
	for s := 1; s <= 64; s++ {
		if x.sigign&(1<<(s-1)) != 0 && !signal.Ignored(syscall.Signal(s)) {
			signal.Ignore(syscall.Signal(s))
		}
	}
	err = syscall.Exec(x.path, x.argv, os.Environ())
	fmt.Fprintf(os.Stderr, "bpfguard: exec: %s: %v\n", x.path, err)
	if err == syscall.ENOENT {
		return ExitNotFound
	}
	return ExitNotExec
}
