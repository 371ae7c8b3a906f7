// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

// Package bpfguard is a client of the bpfguard agent in pure Go (no cgo):
// it tags processes whose descendants are killed when they die, however
// those daemonize, setsid, exec or reparent.
//
// It speaks the agent's control protocol (include/ctl.h) itself, as the C
// library libbpfguard does, with the same checks and errors: one Unix
// socket connection per call, named after the agent's pin dir
// (/run/bpfguard/NAME-HASH.sock), whose listener must be root's before
// anything is sent to it; processes are named by pidfds passed with
// SCM_RIGHTS, so that a pid reused meanwhile cannot be tagged in their
// place. A Client holds the options; the package-level functions use the
// agent of DefaultPinDir. Errors are *Error: the errno libbpfguard would
// return and the agent's one line.
//
// Command starts a program tagged before its first instruction; it works
// through this package's init(), so the program calling it runs a copy of
// itself first (see Command).
//
// The wire layout lives in wire.go alone; `go test` checks it against the
// C headers when a C compiler and the source tree are at hand.
package bpfguard
