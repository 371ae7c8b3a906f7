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
	"io"
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
const execLayout = "2"

// Exit statuses of a command that did not run, those of `bpfguard exec`:
// the command's own status otherwise.
const (
	ExitTagFailed   = 1   // tagging failed: the command was not started
	ExitNotExec     = 126 // the command could not be executed
	ExitNotFound    = 127 // the command does not exist
	execArgsBefore  = 10  // marker, layout, pin dir, signal, grace, sigign, report fd, breakaway, max procs, path
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
// this process when Command (or Start) is called stay ignored in name, as
// they would through exec.Command; SysProcAttr.Chroot is not supported (the
// copy is found as /proc/self/exe).
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
		strconv.FormatInt(int64(c.Grace), 10), strconv.FormatUint(ignoredSignals(), 16), "-1",
		strconv.FormatBool(c.AllowBreakaway), strconv.FormatUint(uint64(c.MaxProcs), 10), cmd.Path}
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
	report int // the fd Start reads the outcome from, -1: none
	path   string
	argv   []string
}

// indexes in the copy's os.Args[1:] (and in a Cmd's Args, one more)
const (
	argSigign = 4
	argReport = 5
)

func parseExecArgs(a []string) (*execArgs, error) {
	if len(a) < execArgsBefore || a[0] != execLayout {
		return nil, fmt.Errorf("bad arguments from the parent (%d, layout %q)", len(a), a)
	}
	sig, err1 := strconv.Atoi(a[2])
	grace, err2 := strconv.ParseInt(a[3], 10, 64)
	ign, err3 := strconv.ParseUint(a[argSigign], 16, 64)
	rep, err4 := strconv.Atoi(a[argReport])
	brk, err5 := strconv.ParseBool(a[6])
	maxp, err6 := strconv.ParseUint(a[7], 10, 32)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil || err6 != nil ||
		rep < -1 || a[8] == "" {
		return nil, fmt.Errorf("bad arguments from the parent: %q", a[:9])
	}
	return &execArgs{
		client: Client{PinDir: a[1], Signal: syscall.Signal(sig), Grace: time.Duration(grace),
			AllowBreakaway: brk, MaxProcs: uint32(maxp)},
		sigign: ign, report: rep, path: a[8], argv: a[9:],
	}, nil
}

// tell reports to Start (when it is listening) or on stderr.
func (x *execArgs) tell(kind string, errno syscall.Errno, msg string) {
	if x.report < 0 {
		if kind != "tagged" {
			fmt.Fprintf(os.Stderr, "bpfguard: %s\n", msg)
		}
		return
	}
	line := fmt.Sprintf("%s %d %s\n", kind, int(errno), strings.ReplaceAll(msg, "\n", " "))
	syscall.Write(x.report, []byte(line))
}

// execTagged is the copy's whole life: tag, then exec, or an exit status.
func execTagged(a []string) int {
	x, err := parseExecArgs(a)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bpfguard: exec: %v\n", err)
		return ExitTagFailed
	}
	if x.report >= 0 {
		// the program must not inherit it: EOF tells Start it runs
		syscall.CloseOnExec(x.report)
	}
	msg, err := x.client.Tag(os.Getpid())
	if err != nil {
		x.tell("fail", errnoOf(err), err.Error())
		return ExitTagFailed
	}
	x.tell("tagged", 0, msg)
	// Go installed its handlers over the signals the parent ignored
	// (but SIGHUP and SIGINT): ignore them again, as exec.Command's child
	// would have them. The handlers themselves are reset by execve.
	for s := 1; s <= 64; s++ {
		if x.sigign&(1<<(s-1)) != 0 && !signal.Ignored(syscall.Signal(s)) {
			signal.Ignore(syscall.Signal(s))
		}
	}
	err = syscall.Exec(x.path, x.argv, os.Environ())
	x.tell("exec", errnoOf(err), fmt.Sprintf("exec: %s: %v", x.path, err))
	if err == syscall.ENOENT {
		return ExitNotFound
	}
	return ExitNotExec
}

// Start starts a Cmd made by Command and waits until its process is tagged:
// it returns the agent's line ("tagged 4242 (tag 7)") once the program
// runs, as the C bpfguard_exec does. If tagging fails, or the program
// cannot be executed, the process has exited (and is reaped: do not Wait)
// and the error says why: an *Error (ENOTCONN no agent, EPERM...), its
// errno ENOENT or EACCES... for the exec. Otherwise the caller Waits as
// for any Cmd. cmd.Start would do too; Start adds the agent's answer, and
// an error instead of the exit status 1 that tells of a failed tag.
//
// The outcome comes through a pipe appended to cmd.ExtraFiles for the
// start only; the program does not inherit it.
func (c *Client) Start(cmd *exec.Cmd) (string, error) {
	if cmd.Path != procSelfExe || len(cmd.Args) <= execArgsBefore || cmd.Args[0] != execMarker {
		return "", fail(syscall.EINVAL, "Start: not a Cmd made by Command (or its Path or Args were replaced)")
	}
	r, w, err := os.Pipe()
	if err != nil {
		return "", err
	}
	extra := cmd.ExtraFiles
	cmd.ExtraFiles = append(extra[:len(extra):len(extra)], w)
	cmd.Args[1+argReport] = strconv.Itoa(3 + len(extra)) // ExtraFiles[i] is fd 3+i
	cmd.Args[1+argSigign] = strconv.FormatUint(ignoredSignals(), 16)
	err = cmd.Start()
	cmd.ExtraFiles = extra
	w.Close()
	if err != nil {
		r.Close()
		return "", err
	}
	// EOF: the program runs (the pipe closed on exec) or the copy exited.
	// Bounded by the copy's own: its calls to the agent time out.
	b, _ := io.ReadAll(r)
	r.Close()
	var tagged string
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		f := strings.SplitN(line, " ", 3)
		if len(f) != 3 {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "tagged":
			tagged = f[2]
		case "fail", "exec":
			cmd.Wait()
			return "", &Error{Errno: syscall.Errno(n), Msg: f[2]}
		}
	}
	if tagged == "" && len(b) == 0 {
		cmd.Wait()
		return "", fail(syscall.ESRCH, "exec: the child died before it could run %s", cmd.Args[execArgsBefore-1])
	}
	return tagged, nil
}

// Start is Start through the agent of DefaultPinDir.
func Start(cmd *exec.Cmd) (string, error) { return defaultClient.Start(cmd) }
