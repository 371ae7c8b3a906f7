// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

package bpfguard

import (
	"bytes"
	"strings"
	"testing"
)

func TestEncodeReq(t *testing.T) {
	b := encodeReq(&wireReq{Magic: ctlMagic, Version: ctlVersion, Op: opAdopt, Pid: 4242,
		Flags: 0, Signal: 15, Pid2: -7, GraceNs: 0x0102030405060708})
	want := []byte{
		0x67, 0x66, 0x70, 0x62, // "gfpb": the magic, little-endian
		7, 0, 6, 0, // version, op
		0x92, 0x10, 0, 0, // 4242
		0, 0, 0, 0,
		15, 0, 0, 0,
		0xf9, 0xff, 0xff, 0xff, // -7
		8, 7, 6, 5, 4, 3, 2, 1,
	}
	if native != nil && native.Uint16([]byte{1, 0}) != 1 {
		t.Skip("a big-endian machine: the expected bytes are little-endian")
	}
	if !bytes.Equal(b, want) {
		t.Errorf("encodeReq:\n got % x\nwant % x", b, want)
	}
}

func rep(status int32, msg string, plen uint32) []byte {
	r := wireRep{Magic: ctlMagic, Status: status, Len: plen}
	copy(r.Msg[:], msg)
	var b bytes.Buffer
	if err := writeWire(&b, &r); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func TestDecodeRep(t *testing.T) {
	r, err := decodeRep(rep(3, "no such process: 9", 0))
	if err != nil || r.Status != 3 || cstring(r.Msg[:]) != "no such process: 9" {
		t.Errorf("decodeRep: %+v, %v", r, err)
	}
	// a message that fills msg[240] without its NUL is cut, not overrun
	full := strings.Repeat("x", 300)
	r, err = decodeRep(rep(0, full, 0))
	if err != nil || cstring(r.Msg[:]) != full[:240] {
		t.Errorf("decodeRep of an unterminated message: %v", err)
	}
	bad := rep(0, "", 0)
	bad[0] ^= 1
	if _, err := decodeRep(bad); err == nil {
		t.Errorf("a reply with a bad magic is accepted")
	}
	if _, err := decodeRep(rep(0, "", ctlMaxPayload+1)); err == nil {
		t.Errorf("a payload length over the limit is accepted")
	}
	if _, err := decodeRep(rep(0, "", ctlMaxPayload)); err != nil {
		t.Errorf("a payload length at the limit is refused: %v", err)
	}
	if _, err := decodeRep(rep(0, "", 0)[:255]); err == nil {
		t.Errorf("a short reply is accepted")
	}
}

func TestDecodeStatus(t *testing.T) {
	w := wireStatus{Mode: 2, AgentPid: 77, Features: uint32(FeatBTF | FeatRingbuf), Scope: statusScopeOwn,
		Tags: 3, Tracked: 9, MaxProcs: 65536, MaxTags: 4096, StartTime: 1700000000,
		Subscribers: 1, MetricsPort: 9469, LatCount: 5, LatSumUs: 400,
		UserMaxProcs: 6, UserMaxTags: 5, UnprivProcs: 56, UnprivTags: 7, UsedProcs: 4, UsedTags: 2}
	copy(w.Kernel[:], "6.18.0-test")
	w.Counters[StatKills] = 11
	w.Counters[15] = 15
	w.AgentCounters[AgentStatRefused] = 4
	w.LatBuckets[LatBuckets-1] = 2
	var b bytes.Buffer
	writeWire(&b, &w)
	s, err := decodeStatus(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if s.Mode != ModeKernel || s.Mode.String() != "kernel" || s.AgentPid != 77 || !s.Own ||
		s.Features != FeatBTF|FeatRingbuf || s.Kernel != "6.18.0-test" || s.Tags != 3 ||
		s.Tracked != 9 || s.MaxProcs != 65536 || s.MaxTags != 4096 || s.StartTime != 1700000000 ||
		s.Subscribers != 1 || s.MetricsPort != 9469 || s.LatCount != 5 || s.LatSumUs != 400 ||
		s.Counters[StatKills] != 11 || s.Counters[15] != 15 ||
		s.AgentCounters[AgentStatRefused] != 4 || s.LatBuckets[LatBuckets-1] != 2 ||
		s.UserMaxProcs != 6 || s.UserMaxTags != 5 || s.UnprivMaxProcs != 56 || s.UnprivMaxTags != 7 ||
		s.UsedProcs != 4 || s.UsedTags != 2 {
		t.Errorf("decodeStatus: %+v", s)
	}
	for _, n := range []int{0, sizeStatus - 1, sizeStatus + 1, 2 * sizeStatus} {
		buf := make([]byte, n)
		copy(buf, b.Bytes())
		if _, err := decodeStatus(buf); err == nil {
			t.Errorf("a status of %d bytes is accepted", n)
		}
	}
}

func listBytes(tags []wireListTag, procs []wireListProc, ntags, nprocs uint32) []byte {
	var b bytes.Buffer
	writeWire(&b, [2]uint32{ntags, nprocs})
	for i := range tags {
		writeWire(&b, &tags[i])
	}
	for i := range procs {
		writeWire(&b, &procs[i])
	}
	return b.Bytes()
}

func TestDecodeList(t *testing.T) {
	tags := []wireListTag{{Tag: 7, RootPid: 100, OwnerUID: 1000, Flags: TagPriv},
		{Tag: 8, RootPid: 101, Parent: 7, State: ListKilling | ListRootExited, RootStatus: 15}}
	procs := []wireListProc{{Pid: 100, PPid: 1, Tag: 7, Flags: ProcRoot},
		{Pid: 101, PPid: 100, Tag: 8, Flags: ProcRoot, NSPid: 3},
		{Pid: 102, PPid: 9, Tag: 8, Flags: ProcAdopted}}
	copy(procs[0].Comm[:], "make")
	copy(procs[1].Comm[:], "sixteen-bytes-xx") // no NUL
	l, err := decodeList(listBytes(tags, procs, 2, 3))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Tags) != 2 || len(l.Procs) != 3 ||
		l.Tags[0] != (ListTag{Tag: 7, RootPid: 100, OwnerUID: 1000, Flags: TagPriv}) ||
		l.Tags[1] != (ListTag{Tag: 8, RootPid: 101, Parent: 7, State: ListKilling | ListRootExited, RootStatus: 15}) ||
		l.Procs[0] != (ListProc{Pid: 100, PPid: 1, Tag: 7, Flags: ProcRoot, Comm: "make"}) ||
		l.Procs[1] != (ListProc{Pid: 101, PPid: 100, Tag: 8, Flags: ProcRoot, Comm: "sixteen-bytes-xx", NSPid: 3}) ||
		l.Procs[2] != (ListProc{Pid: 102, PPid: 9, Tag: 8, Flags: ProcAdopted}) {
		t.Errorf("decodeList: %+v", l)
	}
	if l, err := decodeList(listBytes(nil, nil, 0, 0)); err != nil || len(l.Tags)+len(l.Procs) != 0 {
		t.Errorf("an empty list: %+v, %v", l, err)
	}
	good := listBytes(tags, procs, 2, 3)
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"short header", good[:7]},
		{"one byte short", good[:len(good)-1]},
		{"one byte over", append(append([]byte{}, good...), 0)},
		{"counts larger than the payload", listBytes(tags, procs, 3, 3)},
		{"counts smaller than the payload", listBytes(tags, procs, 2, 2)},
		// 2^32-1 tags: the size must not wrap around to the real length
		{"counts that would wrap", listBytes(tags, procs, 0xffffffff, 0xffffffff)},
	} {
		if _, err := decodeList(c.b); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

func TestParseFdinfoPid(t *testing.T) {
	for in, want := range map[string]int{
		"pos:\t0\nflags:\t02000002\nPid:\t4242\nNSpid:\t4242\n": 4242,
		"Pid:\t-1\n": -1, "Pid:\tx\n": 0, "flags: 0\n": 0, "Pid:\t99999999\n": 0, "": 0,
	} {
		if got := parseFdinfoPid(in); got != want {
			t.Errorf("parseFdinfoPid(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestPeerCheck(t *testing.T) {
	initial := func() bool { return true }
	inner := func() bool { return false }
	for _, c := range []struct {
		uid  uint32
		init bool
		ok   bool
	}{
		{0, true, true}, {0, false, true},
		{overflowUID, true, false}, // the overflow uid is a real user here
		{overflowUID, false, true}, // root, seen from a user namespace
		{1000, true, false}, {1000, false, false}, {overflowUID - 1, false, false},
	} {
		f := initial
		if !c.init {
			f = inner
		}
		if peerIsAgent(c.uid, f) != c.ok {
			t.Errorf("peer uid %d, initial user namespace %v: accepted %v, want %v", c.uid, c.init, !c.ok, c.ok)
		}
	}
	for m, want := range map[string]bool{
		"         0          0 4294967295\n": true,
		"         0       1000          1\n": false,
		"0 0 4294967294\n":                   false,
		"":                                   false,
	} {
		if uidMapIsInitial(m) != want {
			t.Errorf("uidMapIsInitial(%q) != %v", m, want)
		}
	}
}
