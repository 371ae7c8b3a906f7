// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

// gothread: the Go Pdeathsig case, for the go_thread_child kernel test of
// bpfguard.
//
//	gothread [--go GOFILE] [--life SECONDS] OUT
//
// The process started is the root (the one the tests tag). With --go it
// first waits (at most 60 s) until GOFILE exists. Then a goroutine locked to
// its OS thread (runtime.LockOSThread) starts two children, this program
// again with --child, and returns without unlocking: the Go runtime ends
// that OS thread. The children:
//
//	child     nothing special: it must live as long as this process lives
//	pdeathsig started with SysProcAttr.Pdeathsig = SIGKILL: the kernel
//	          kills it when the thread that forked it exits, although the
//	          process lives on (the famous Go bug); it proves the thread is gone
//
// Once /proc/self/task/TID is gone and the pdeathsig child has died, it
// writes OUT atomically (OUT.tmp, then rename):
//
//	PID main
//	TID thread           (the exited thread)
//	PID child
//	PID pdeathsig        (dead, reaped)
//	SIG pdeathsig-signal (the signal that killed it, 0 if none)
//
// and sleeps. Everything exits by itself after --life seconds (default
// 300). Exit status 1 (a line on stderr) if the setup failed, 2 on a usage
// error. Built with CGO_ENABLED=0: static, it runs in the qemu guests too.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

func init() {
	// The main goroutine keeps the main thread, which the runtime never
	// ends: the goroutine below then runs on another OS thread, which it
	// ends when the goroutine returns locked.
	runtime.LockOSThread()
}

func fatal(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "gothread: "+format+"\n", args...)
	os.Exit(1)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gothread [--go FILE] [--life S] OUT")
	os.Exit(2)
}

func waitFile(path string, d time.Duration) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if _, err := os.Stat(path); err == nil {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func writeOut(path, text string) error {
	if err := os.WriteFile(path+".tmp", []byte(text), 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

type started struct {
	tid           int
	child, pdeath *exec.Cmd
	err           error
}

// spawn runs in a goroutine locked to its OS thread and returns locked.
func spawn(life time.Duration, ch chan<- started) {
	runtime.LockOSThread() // never unlocked: the thread ends with us
	s := started{tid: syscall.Gettid()}
	secs := strconv.FormatInt(int64(life/time.Second)+1, 10)
	s.child = exec.Command("/proc/self/exe", "--child", secs)
	s.pdeath = exec.Command("/proc/self/exe", "--child", secs)
	s.pdeath.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if s.err = s.child.Start(); s.err == nil {
		if s.err = s.pdeath.Start(); s.err != nil {
			s.child.Process.Kill()
		}
	}
	ch <- s
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "--child" {
		n, _ := strconv.Atoi(os.Args[2])
		time.Sleep(time.Duration(n) * time.Second)
		return
	}
	var gofile string
	life := 300 * time.Second
	args := os.Args[1:]
	for len(args) > 1 && len(args[0]) > 2 && args[0][:2] == "--" {
		switch args[0] {
		case "--go":
			gofile = args[1]
		case "--life":
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 1 || n > 86400 {
				usage()
			}
			life = time.Duration(n) * time.Second
		default:
			usage()
		}
		args = args[2:]
	}
	if len(args) != 1 {
		usage()
	}
	out := args[0]
	end := time.Now().Add(life)
	if gofile != "" && !waitFile(gofile, 60*time.Second) {
		fatal("timed out waiting for the go file")
	}

	ch := make(chan started)
	go spawn(life, ch)
	s := <-ch
	if s.err != nil {
		fatal("cannot start the children: %v", s.err)
	}
	pid := os.Getpid()
	if s.tid == pid {
		fatal("the locked goroutine ran on the main thread")
	}
	done := make(chan int, 1)
	go func() { // reap the pdeathsig child: which signal killed it?
		s.pdeath.Wait()
		ws, ok := s.pdeath.ProcessState.Sys().(syscall.WaitStatus)
		if ok && ws.Signaled() {
			done <- int(ws.Signal())
			return
		}
		done <- 0
	}()
	go s.child.Wait()

	task := fmt.Sprintf("/proc/self/task/%d", s.tid)
	limit := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(task); os.IsNotExist(err) {
			break
		}
		if time.Now().After(limit) {
			s.child.Process.Kill()
			s.pdeath.Process.Kill()
			fatal("thread %d still exists 10 s after its locked goroutine returned", s.tid)
		}
		time.Sleep(time.Millisecond)
	}
	var how int
	select {
	case how = <-done:
	case <-time.After(10 * time.Second):
		s.child.Process.Kill()
		s.pdeath.Process.Kill()
		fatal("the Pdeathsig child still lives 10 s after its thread exited")
	}
	text := fmt.Sprintf("%d main\n%d thread\n%d child\n%d pdeathsig\n%d pdeathsig-signal\n",
		pid, s.tid, s.child.Process.Pid, s.pdeath.Process.Pid, how)
	if err := writeOut(out, text); err != nil {
		s.child.Process.Kill()
		fatal("cannot write %s: %v", out, err)
	}
	time.Sleep(time.Until(end))
}
