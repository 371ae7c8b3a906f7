// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

// bpfguard-go: bpfguard from Go, without cgo (go/bpfguard).
//
//	bpfguard-go [-pin-dir DIR] [TAG OPTIONS] exec [--] CMD [ARGS...]
//	bpfguard-go [-pin-dir DIR] [TAG OPTIONS] tag PID
//	bpfguard-go [-pin-dir DIR] status
//	bpfguard-go [-pin-dir DIR] list
//	bpfguard-go [-pin-dir DIR] release PID
//	bpfguard-go [-pin-dir DIR] [-signal N] [-grace D] kill PID
//	bpfguard-go [-pin-dir DIR] [-timeout D] wait PID
//
// exec starts CMD (looked up in PATH, as exec.Command does) in a child that
// is tagged before it runs, prints "pid N: <the agent's line>", waits for
// it and exits with its status (128+N if signal N killed it; 127: not
// found, 126: not executable, as for `bpfguard exec`). tag tags a running
// process and prints the agent's line (TAG OPTIONS: -signal N, -grace D,
// -allow-breakaway, -max-procs N). status prints the agent's mode and
// counts; list prints each tag with its accounting; release takes a member
// out of its lineage. kill kills PID's tagged lineage now, root included, and waits
// until nothing of it is left; wait waits for that without killing and
// exits with the root's status (124 on -timeout). Errors: one line on
// stderr, exit 1 (2: usage).
//
// Build it with `make examples` (CGO_ENABLED=0: static, standard library
// and go/bpfguard only).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"bpfguard.local/bpfguard"
)

func usage() {
	fmt.Fprintf(os.Stderr, "usage: bpfguard-go [-pin-dir DIR] [TAG OPTIONS] exec [--] CMD [ARGS...]\n"+
		"       bpfguard-go [-pin-dir DIR] [TAG OPTIONS] tag PID\n"+
		"       bpfguard-go [-pin-dir DIR] status | list\n"+
		"       bpfguard-go [-pin-dir DIR] release PID\n"+
		"       bpfguard-go [-pin-dir DIR] [-signal N] [-grace D] kill PID\n"+
		"       bpfguard-go [-pin-dir DIR] [-timeout D] wait PID\n"+
		"       bpfguard-go [-pin-dir DIR] [-signal N] signal PID   (default SIGTERM)\n"+
		"TAG OPTIONS: -signal N, -grace D, -allow-breakaway, -max-procs N\n")
	os.Exit(2)
}

func die(err error) {
	fmt.Fprintf(os.Stderr, "bpfguard-go: %v\n", err)
	os.Exit(1)
}

// exitStatus: what a shell would say of the child.
func exitStatus(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func run(c *bpfguard.Client, args []string) {
	cmd := c.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	msg, err := c.Start(cmd)
	var e *bpfguard.Error
	switch {
	case errors.As(err, &e) && (e.Errno == syscall.ENOENT || e.Errno == syscall.EACCES || e.Errno == syscall.ENOEXEC) &&
		cmd.ProcessState != nil && cmd.ProcessState.ExitCode() >= bpfguard.ExitNotExec:
		// tagged, then the exec failed: the status says which way
		fmt.Fprintf(os.Stderr, "bpfguard-go: %v\n", err)
		os.Exit(cmd.ProcessState.ExitCode())
	case err != nil:
		die(err)
	}
	fmt.Printf("pid %d: %s\n", cmd.Process.Pid, msg)
	os.Stdout.Sync()
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
		os.Exit(exitStatus(ws))
	}
	die(fmt.Errorf("wait for %d: %w", cmd.Process.Pid, err))
}

// pidArg: the one PID operand of tag, kill and wait.
func pidArg(args []string) int {
	if len(args) != 2 {
		usage()
	}
	pid, err := strconv.Atoi(args[1])
	if err != nil {
		usage()
	}
	return pid
}

func main() {
	var c bpfguard.Client
	var sig int
	var timeout time.Duration

	flag.Usage = usage
	flag.StringVar(&c.PinDir, "pin-dir", "", "the agent's pin dir (default "+bpfguard.DefaultPinDir+")")
	flag.IntVar(&sig, "signal", 0, "what descendants get first (default SIGKILL)")
	flag.DurationVar(&c.Grace, "grace", 0, "SIGKILL survivors this long after the root's death")
	flag.DurationVar(&timeout, "timeout", -1, "wait: give up after this long (default: never)")
	flag.BoolVar(&c.AllowBreakaway, "allow-breakaway", false, "members may leave the lineage (release)")
	maxProcs := flag.Uint("max-procs", 0, "the lineage holds at most N live processes (default: no limit)")
	flag.Parse()
	c.Signal = syscall.Signal(sig)
	if *maxProcs > bpfguard.MaxProcsMax {
		die(fmt.Errorf("invalid -max-procs %d (at most %d)", *maxProcs, bpfguard.MaxProcsMax))
	}
	c.MaxProcs = uint32(*maxProcs)
	args := flag.Args()
	if len(args) < 1 {
		usage()
	}
	switch args[0] {
	case "tag":
		msg, err := c.Tag(pidArg(args))
		if err != nil {
			die(err)
		}
		fmt.Println(msg)
	case "release":
		msg, err := c.Release(pidArg(args))
		if err != nil {
			die(err)
		}
		fmt.Println(msg)
	case "list":
		if len(args) != 1 {
			usage()
		}
		l, err := c.List()
		if err != nil {
			die(err)
		}
		for _, t := range l.Tags {
			fmt.Printf("tag %d root %d", t.Tag, t.RootPid)
			if t.MaxProcs != 0 {
				fmt.Printf(" max-procs %d", t.MaxProcs)
			}
			if t.State&bpfguard.ListAcct != 0 {
				a := t.Acct
				fmt.Printf(": born %d, exited %d, live %d, peak %d, cpu of the exited %v",
					a.Born, a.Exited, a.Live, a.Peak, a.CPUExited)
			}
			fmt.Println()
		}
	case "kill":
		w, err := c.KillWait(pidArg(args), -1)
		if err != nil {
			die(err)
		}
		fmt.Println(w.Msg)
	case "signal":
		s := syscall.SIGTERM
		if sig != 0 {
			s = syscall.Signal(sig)
		}
		msg, err := c.SignalLineage(pidArg(args), s)
		if err != nil {
			die(err)
		}
		fmt.Println(msg)
	case "wait":
		w, err := c.Wait(pidArg(args), timeout)
		if errors.Is(err, syscall.ETIMEDOUT) {
			fmt.Fprintf(os.Stderr, "bpfguard-go: %v\n", err)
			os.Exit(124)
		}
		if err != nil {
			die(err)
		}
		os.Exit(w.ShellStatus())
	case "status":
		if len(args) != 1 {
			usage()
		}
		st, err := c.Status()
		if err != nil {
			die(err)
		}
		fmt.Printf("agent %d, mode %v, kernel %s: %d tags, %d tracked, %d killed\n",
			st.AgentPid, st.Mode, st.Kernel, st.Tags, st.Tracked, st.Counters[bpfguard.StatKills])
	case "exec":
		args = args[1:]
		if len(args) > 0 && args[0] == "--" {
			args = args[1:]
		}
		if len(args) == 0 {
			usage()
		}
		run(&c, args)
	default:
		usage()
	}
}
