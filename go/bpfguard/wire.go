// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

package bpfguard

// The control protocol of include/ctl.h, and nothing else: every wire
// constant and layout this package depends on is in this file, so that a
// change of the protocol (a new BG_CTL_VERSION, fields appended to
// bg_status) is made here. TestWireMatchesC (cheader_test.go) compiles a
// small C program against include/ctl.h and include/bpfguard.h and fails
// when a size, an offset or a constant here differs from the headers.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"syscall"
	"time"
	"unsafe"
)

const (
	ctlMagic   = 0x62706667 // BG_CTL_MAGIC, "bpfg"
	ctlVersion = 7          // BG_CTL_VERSION

	// enum bg_op
	opStatus  = 1
	opTag     = 2 // one pidfd attached
	opUntag   = 3 // one pidfd attached
	opList    = 4
	opUnload  = 5
	opAdopt   = 6  // two pidfds: the root's, then the process's
	opKill    = 8  // one pidfd attached; reqWait: answered as opWait
	opWait    = 9  // one pidfd attached, or reqByTag: Pid2 is the tag id
	opSignal  = 10 // one pidfd attached: Signal to every member, root included
	opRelease = 11 // one pidfd attached: it and its descendants leave the lineage

	reqWait           = 0x1 // BG_REQ_F_WAIT
	reqByTag          = 0x2 // BG_REQ_F_BY_TAG
	reqAllowBreakaway = 0x4 // BG_REQ_F_ALLOW_BREAKAWAY

	// struct bg_wait's flags
	waitEnded      = 0x1 // BG_WAIT_ENDED
	waitRootExited = 0x2 // BG_WAIT_ROOT_EXITED
	waitUntagged   = 0x4 // BG_WAIT_UNTAGGED

	// BG_CTL_MAX_PAYLOAD (user/control.h): the largest payload believed.
	ctlMaxPayload = 64 << 20

	// BG_OVERFLOW_UID (user/control.h): root seen from a user namespace.
	overflowUID = 65534

	statusScopeOwn = 0x1 // BG_STATUS_OWN

	sizeReq      = 32
	sizeRep      = 256
	sizeStatus   = 616
	sizeListTag  = 72
	sizeListProc = 40
	sizeWait     = 16
)

// Mode is enum bg_mode: who kills a lineage.
type Mode uint32

const (
	ModeUser   Mode = 1 // BG_MODE_USER: the agent, from user space
	ModeKernel Mode = 2 // BG_MODE_KERNEL: BPF, in the exit hook
)

func (m Mode) String() string {
	switch m {
	case ModeUser:
		return "user"
	case ModeKernel:
		return "kernel"
	}
	return fmt.Sprintf("mode(%d)", uint32(m))
}

// Feature is enum bg_feature: a kernel feature the agent found.
type Feature uint32

const (
	FeatBTF            Feature = 1 << 0 // BG_FEAT_BTF
	FeatRingbuf        Feature = 1 << 1 // BG_FEAT_RINGBUF
	FeatTaskIter       Feature = 1 << 2 // BG_FEAT_TASK_ITER
	FeatTaskFromPid    Feature = 1 << 3 // BG_FEAT_TASK_FROM_PID
	FeatSendSignalTask Feature = 1 << 4 // BG_FEAT_SEND_SIGNAL_TASK
	FeatGroupDeadArg   Feature = 1 << 5 // BG_FEAT_GROUP_DEAD_ARG
)

// Indexes of Status.Counters: enum bg_stat (include/bpfguard.h).
const (
	StatForkTracked = iota
	StatExitTracked
	StatRootExit
	StatProcsFull
	StatDeathsFull
	StatRingbufDrop
	StatEnrolled
	StatKernelKills
	StatKernelKillFailed
	StatLimitKills // children born beyond an owner's quota, killed at birth
	StatKills
	StatKillSkipped
	StatKillFailed
	StatSelfSpared
	StatKillRefused
	StatKillsStuck // members still alive long after their SIGKILL
	StatMax        // BG_STAT_MAX
)

// Indexes of Status.AgentCounters: enum bg_agent_stat.
const (
	AgentStatEvents = iota
	AgentStatSubsDropped
	AgentStatRefused
	AgentStatMetricsOK
	AgentStatMetricsBad
	AgentStatQuotaRefused // tags, enrolments, adoptions refused for a quota
	AgentStatMax          // BG_ASTAT_MAX
)

// LatBuckets is BG_LAT_BUCKETS: Status.LatBuckets[i] counts kill latencies
// in (2^(i-1), 2^i] us, [0] those <= 1 us, the last those above 2^32 us.
const LatBuckets = 34

// Flags of ListTag and ListProc (include/bpfguard.h).
const (
	TagPriv      = 0x1 // BG_TAG_F_PRIV: tagged by root (or CAP_KILL+CAP_BPF)
	TagBreakaway = 0x2 // BG_TAG_F_BREAKAWAY: made with AllowBreakaway
	ProcRoot     = 0x1 // BG_PROC_ROOT: the root of its tag
	ProcAdopted  = 0x2 // BG_PROC_ADOPTED: registered by adopt, not forked
)

// ListTag.State bits (include/ctl.h).
const (
	ListKilling    = 0x1 // BG_LIST_KILLING: the lineage is being killed
	ListRootExited = 0x2 // BG_LIST_ROOT_EXITED: the root is gone, RootStatus says how
	ListAcct       = 0x4 // BG_LIST_ACCT: Acct holds the lineage's accounting
)

// The wire structs, field for field as in include/ctl.h. encoding/binary
// packs them without padding: the C structs carry explicit pad fields, so
// the two layouts agree (cheader_test.go checks every offset).
type wireReq struct {
	Magic   uint32
	Version uint16
	Op      uint16
	Pid     int32
	Flags   uint32
	Signal  uint32
	Pid2    int32
	GraceNs uint64
}

type wireRep struct {
	Magic  uint32
	Status int32
	Len    uint32
	Pad    uint32
	Msg    [240]byte
}

type wireStatus struct {
	Mode          uint32
	AgentPid      uint32
	Features      uint32
	Scope         uint32
	Kernel        [64]byte
	Tags          uint32
	Tracked       uint32
	MaxProcs      uint32
	MaxTags       uint32
	Counters      [16]uint64
	AgentCounters [8]uint64
	StartTime     uint64
	Subscribers   uint32
	MetricsPort   uint32
	LatCount      uint64
	LatSumUs      uint64
	LatBuckets    [LatBuckets]uint64
	UserMaxProcs  uint32
	UserMaxTags   uint32
	UnprivProcs   uint32
	UnprivTags    uint32
	UsedProcs     uint32
	UsedTags      uint32
}

type wireListTag struct {
	Tag        uint32
	RootPid    uint32
	Parent     uint32
	OwnerUID   uint32
	Flags      uint32
	State      uint32
	RootStatus uint32
	MaxProcs   uint32
	Born       uint64
	Exited     uint64
	Live       uint64
	Peak       uint64
	CPUExited  uint64
}

type wireListProc struct {
	Pid   uint32
	PPid  uint32
	Tag   uint32
	Flags uint32
	Comm  [16]byte
	NSPid uint32
	Pad   uint32
}

// wireWait is struct bg_wait: the payload of a wait's answers.
type wireWait struct {
	Tag    uint32
	Flags  uint32
	Status uint32
	Pad    uint32
}

// The agent and its clients share a machine: the wire is in its byte order.
var native binary.ByteOrder = func() binary.ByteOrder {
	x := uint16(1)
	if *(*byte)(unsafe.Pointer(&x)) == 1 {
		return binary.LittleEndian
	}
	return binary.BigEndian
}()

func writeWire(w io.Writer, v interface{}) error {
	return binary.Write(w, native, v)
}

func encodeReq(r *wireReq) []byte {
	var b bytes.Buffer

	writeWire(&b, r) // a fixed-size struct into memory: cannot fail
	return b.Bytes()
}

func decode(buf []byte, v interface{}) error {
	return binary.Read(bytes.NewReader(buf), native, v)
}

// cstring: a NUL-terminated C array as a Go string (never trusting the
// sender to have ended it).
func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func decodeRep(buf []byte) (*wireRep, error) {
	var r wireRep

	if len(buf) != sizeRep {
		return nil, fmt.Errorf("reply of %d bytes", len(buf))
	}
	if err := decode(buf, &r); err != nil {
		return nil, err
	}
	if r.Magic != ctlMagic || r.Len > ctlMaxPayload {
		return nil, fmt.Errorf("bad magic 0x%x or length %d", r.Magic, r.Len)
	}
	return &r, nil
}

// Status is the agent's answer to a status request (struct bg_status).
type Status struct {
	Mode     Mode    // the mode in force
	AgentPid int     // in the agent's PID namespace
	Features Feature // kernel features the agent found
	// Own: the caller is unprivileged and sees the figures of its own tags
	// only; the machine-wide counters are then 0.
	Own      bool
	Kernel   string // the agent's uname release
	Tags     uint32 // active tags
	Tracked  uint32 // tracked descendants (members that are not roots)
	MaxProcs uint32
	MaxTags  uint32
	// Counters, summed over CPUs, by Stat* index (StatMax used).
	Counters [16]uint64
	// AgentCounters: what the agent itself counted since it started, by
	// AgentStat* index (AgentStatMax used).
	AgentCounters [8]uint64
	StartTime     uint64 // the agent's start, CLOCK_REALTIME seconds
	Subscribers   uint32 // event stream subscribers now
	MetricsPort   uint32 // the --metrics port, 0 if not serving
	// Kill latency of lineages killed without a grace period (the root's
	// exit to its lineage found empty): count, sum, histogram (LatBuckets).
	LatCount   uint64
	LatSumUs   uint64
	LatBuckets [LatBuckets]uint64
	// Quotas of unprivileged uids (README "Quotas"): each uid's, and all
	// of them together; and what is charged now (Own: the caller's own,
	// else every unprivileged uid's).
	UserMaxProcs   uint32
	UserMaxTags    uint32
	UnprivMaxProcs uint32
	UnprivMaxTags  uint32
	UsedProcs      uint32
	UsedTags       uint32
}

func decodeStatus(buf []byte) (*Status, error) {
	var w wireStatus

	// exactly, as the CLI: another size is another protocol
	if len(buf) != sizeStatus {
		return nil, fmt.Errorf("status of %d bytes, expected %d", len(buf), sizeStatus)
	}
	if err := decode(buf, &w); err != nil {
		return nil, err
	}
	s := &Status{
		Mode:          Mode(w.Mode),
		AgentPid:      int(w.AgentPid),
		Features:      Feature(w.Features),
		Own:           w.Scope&statusScopeOwn != 0,
		Kernel:        cstring(w.Kernel[:]),
		Tags:          w.Tags,
		Tracked:       w.Tracked,
		MaxProcs:      w.MaxProcs,
		MaxTags:       w.MaxTags,
		StartTime:     w.StartTime,
		Subscribers:   w.Subscribers,
		MetricsPort:   w.MetricsPort,
		LatCount:      w.LatCount,
		LatSumUs:      w.LatSumUs,
		LatBuckets:    w.LatBuckets,
		Counters:      w.Counters,
		AgentCounters: w.AgentCounters,

		UserMaxProcs:   w.UserMaxProcs,
		UserMaxTags:    w.UserMaxTags,
		UnprivMaxProcs: w.UnprivProcs,
		UnprivMaxTags:  w.UnprivTags,
		UsedProcs:      w.UsedProcs,
		UsedTags:       w.UsedTags,
	}
	return s, nil
}

// ListTag is a tag (struct bg_list_tag): active, or being killed
// (State&ListKilling) until nothing of its lineage is left.
type ListTag struct {
	Tag      uint32
	RootPid  int    // in the agent's PID namespace
	Parent   uint32 // the enclosing listed tag, 0 at top level
	OwnerUID uint32 // who tagged it (effective uid)
	Flags    uint32 // TagPriv
	State    uint32 // ListKilling, ListRootExited
	// RootStatus is the root's wait(2) status when State&ListRootExited.
	RootStatus syscall.WaitStatus
	MaxProcs   uint32 // MaxProcs it was tagged with, 0: none
	Acct       Acct   // when State&ListAcct
}

// Acct is what a lineage did since its tag (struct bg_acct): the tag and
// the tags nested in it.
type Acct struct {
	Born      uint64        // processes forked into it
	Exited    uint64        // members whose thread group ended
	Live      uint64        // members alive now
	Peak      uint64        // the most alive at once
	CPUExited time.Duration // CPU time of the exited members, all threads
}

// ListProc is a guarded process (struct bg_list_proc).
type ListProc struct {
	Pid   int    // in the agent's PID namespace
	PPid  int    // recorded at fork (or at enrolment)
	Tag   uint32 // the innermost active tag
	Flags uint32 // ProcRoot, ProcAdopted
	Comm  string
	NSPid int // its pid in its own PID namespace, 0 if the same as Pid
}

// List is the agent's answer to a list request: every tag the caller may
// see, then their processes; each process's tag is among Tags.
type List struct {
	Tags  []ListTag
	Procs []ListProc
}

func decodeList(buf []byte) (*List, error) {
	var hdr [2]uint32

	if len(buf) < 8 {
		return nil, fmt.Errorf("list of %d bytes", len(buf))
	}
	hdr[0], hdr[1] = native.Uint32(buf), native.Uint32(buf[4:])
	// uint64: 2^32 tags times 32 bytes must not wrap
	need := 8 + uint64(hdr[0])*sizeListTag + uint64(hdr[1])*sizeListProc
	if need != uint64(len(buf)) {
		return nil, fmt.Errorf("list of %d bytes for %d tags and %d processes", len(buf), hdr[0], hdr[1])
	}
	l := &List{Tags: make([]ListTag, hdr[0]), Procs: make([]ListProc, hdr[1])}
	off := 8
	for i := range l.Tags {
		var w wireListTag

		if err := decode(buf[off:off+sizeListTag], &w); err != nil {
			return nil, err
		}
		l.Tags[i] = ListTag{Tag: w.Tag, RootPid: int(w.RootPid), Parent: w.Parent,
			OwnerUID: w.OwnerUID, Flags: w.Flags, State: w.State,
			RootStatus: syscall.WaitStatus(w.RootStatus), MaxProcs: w.MaxProcs,
			Acct: Acct{Born: w.Born, Exited: w.Exited, Live: w.Live, Peak: w.Peak,
				CPUExited: time.Duration(w.CPUExited)}}
		off += sizeListTag
	}
	for i := range l.Procs {
		var w wireListProc

		if err := decode(buf[off:off+sizeListProc], &w); err != nil {
			return nil, err
		}
		l.Procs[i] = ListProc{Pid: int(w.Pid), PPid: int(w.PPid), Tag: w.Tag, Flags: w.Flags,
			Comm: cstring(w.Comm[:]), NSPid: int(w.NSPid)}
		off += sizeListProc
	}
	return l, nil
}
