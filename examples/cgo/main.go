// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

// bpfguard-cgo: libbpfguard (the C library) from Go, through cgo.
//
//	bpfguard-cgo [-pin-dir DIR] [-signal N] [-grace D] exec [--] PATH [ARGS...]
//	bpfguard-cgo [-pin-dir DIR] [-signal N] [-grace D] tag PID
//
// Go programs need not do this: go/bpfguard speaks the protocol itself
// (examples/go uses it). This one stays as the test of a claim of the C
// library: bpfguard_exec is safe from a multi-threaded program whose
// runtime it knows nothing of, the Go runtime here (the kernel test
// go_example runs both examples through the same checks).
//
// exec starts PATH (no PATH search) in a child that is tagged before it
// runs, prints "pid N: <the agent's line>", waits for it and exits with its
// status (128+N if signal N killed it). tag tags a running process and
// prints the agent's line. Errors: one line on stderr, exit 1 (2: usage).
//
// Build it with `make examples` (cgo against build/libbpfguard.a).
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -l:libbpfguard.a
#include <stdlib.h>
#include "libbpfguard.h"
*/
import "C"

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// Options of a call; the zero value is the library's defaults.
type Options struct {
	PinDir string         // "": /sys/fs/bpf/bpfguard
	Signal syscall.Signal // what descendants get first; 0: SIGKILL
	Grace  time.Duration  // then SIGKILL survivors this much later; 0: none
}

// Error is a failed call: the errno (errors.Is(err, syscall.ENOTCONN): no
// agent) and the library's one line about it.
type Error struct {
	Errno syscall.Errno
	Msg   string
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Errno }

const msgLen = 512

// call builds C options from o (C memory only: cgo forbids passing C a Go
// struct that points to Go memory), runs f and returns its result and the
// library's line. A negative result becomes an *Error.
func call(o Options, f func(*C.struct_bpfguard_opts) C.int) (int, string, error) {
	var co C.struct_bpfguard_opts

	co.sz = C.sizeof_struct_bpfguard_opts
	if o.PinDir != "" {
		co.pin_dir = C.CString(o.PinDir)
		defer C.free(unsafe.Pointer(co.pin_dir))
	}
	co.signal = C.int(o.Signal)
	co.grace_ns = C.uint64_t(o.Grace.Nanoseconds())
	co.msg = (*C.char)(C.calloc(1, msgLen))
	co.msg_len = msgLen
	defer C.free(unsafe.Pointer(co.msg))

	r := int(f(&co))
	msg := C.GoString(co.msg)
	if r < 0 {
		return 0, msg, &Error{Errno: syscall.Errno(-r), Msg: msg}
	}
	return r, msg, nil
}

// Tag guards a running process: when it dies, its descendants die.
func Tag(pid int, o Options) (string, error) {
	_, msg, err := call(o, func(co *C.struct_bpfguard_opts) C.int {
		return C.bpfguard_tag(C.pid_t(pid), co)
	})
	return msg, err
}

// Exec starts path with argv, tagged before it runs; the caller reaps the
// returned pid (syscall.Wait4).
func Exec(path string, argv []string, o Options) (int, string, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	cargv := make([]*C.char, len(argv)+1)
	for i, a := range argv {
		cargv[i] = C.CString(a)
		defer C.free(unsafe.Pointer(cargv[i]))
	}
	// the array of C strings must be C memory too
	arr := (**C.char)(C.calloc(C.size_t(len(cargv)), C.size_t(unsafe.Sizeof(cargv[0]))))
	defer C.free(unsafe.Pointer(arr))
	copy(unsafe.Slice(arr, len(cargv)), cargv)

	return call(o, func(co *C.struct_bpfguard_opts) C.int {
		return C.int(C.bpfguard_exec(cpath, arr, nil, co, nil))
	})
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: bpfguard-cgo [-pin-dir DIR] [-signal N] [-grace D] exec [--] PATH [ARGS...]\n"+
		"       bpfguard-cgo [-pin-dir DIR] [-signal N] [-grace D] tag PID\n")
	os.Exit(2)
}

func die(err error) {
	fmt.Fprintf(os.Stderr, "bpfguard-cgo: %v\n", err)
	os.Exit(1)
}

func main() {
	var o Options
	var sig int

	flag.Usage = usage
	flag.StringVar(&o.PinDir, "pin-dir", "", "the agent's pin dir (default /sys/fs/bpf/bpfguard)")
	flag.IntVar(&sig, "signal", 0, "what descendants get first (default SIGKILL)")
	flag.DurationVar(&o.Grace, "grace", 0, "SIGKILL survivors this long after the root's death")
	flag.Parse()
	o.Signal = syscall.Signal(sig)
	args := flag.Args()
	if len(args) < 2 {
		usage()
	}
	switch args[0] {
	case "tag":
		pid, err := strconv.Atoi(args[1])
		if err != nil || len(args) != 2 {
			usage()
		}
		msg, err := Tag(pid, o)
		if err != nil {
			die(err)
		}
		fmt.Println(msg)
	case "exec":
		args = args[1:]
		if args[0] == "--" {
			args = args[1:]
		}
		if len(args) == 0 {
			usage()
		}
		pid, msg, err := Exec(args[0], args, o)
		if errors.Is(err, syscall.ENOTCONN) {
			die(fmt.Errorf("%w (is the agent running?)", err))
		} else if err != nil {
			die(err)
		}
		fmt.Printf("pid %d: %s\n", pid, msg)
		var ws syscall.WaitStatus
		for {
			_, err = syscall.Wait4(pid, &ws, 0, nil)
			if err != syscall.EINTR {
				break
			}
		}
		if err != nil {
			die(fmt.Errorf("wait for %d: %w", pid, err))
		}
		if ws.Signaled() {
			os.Exit(128 + int(ws.Signal()))
		}
		os.Exit(ws.ExitStatus())
	default:
		usage()
	}
}
