// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

package bpfguard

import (
	"strings"
	"testing"
)

// Computed with the C code (user/parse.c check_pin_dir and ctl_socket_path,
// 2026-12-02); TestSocketPathMatchesC compares with it live when a C
// compiler is at hand.
var pinDirCases = []struct {
	in, norm string // norm "": check_pin_dir refuses it
	sock     string // ctl_socket_path of in as normalized (or as is if refused)
}{
	{"/sys/fs/bpf/bpfguard", "/sys/fs/bpf/bpfguard", "/run/bpfguard/sys-fs-bpf-bpfguard-56036f94.sock"},
	{"/sys/fs/bpf/bpfguard/", "/sys/fs/bpf/bpfguard", "/run/bpfguard/sys-fs-bpf-bpfguard-56036f94.sock"},
	{"/sys/fs/bpf/bpfguard-test-1234", "/sys/fs/bpf/bpfguard-test-1234",
		"/run/bpfguard/sys-fs-bpf-bpfguard_test_1234-d9ed8ac2.sock"},
	{"/sys/fs/bpf/a b", "/sys/fs/bpf/a b", "/run/bpfguard/sys-fs-bpf-a_b-711affa6.sock"},
	{"/sys/fs/bpf/x.y_z-w", "/sys/fs/bpf/x.y_z-w", "/run/bpfguard/sys-fs-bpf-x.y_z_w-44bf510b.sock"},
	{"/x", "/x", "/run/bpfguard/x-57d1f0d2.sock"},
	{"/sys/fs/bpf/\xc3\xa9", "/sys/fs/bpf/\xc3\xa9", "/run/bpfguard/sys-fs-bpf-__-627f33fd.sock"},
	// 40 bytes of name at most
	{"/sys/fs/bpf/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"/sys/fs/bpf/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"/run/bpfguard/sys-fs-bpf-aaaaaaaaaaaaaaaaaaaaaaaaaaaaa-09ffa026.sock"},
	{"/sys/fs/bpf/a/b/c///", "/sys/fs/bpf/a/b/c", "/run/bpfguard/sys-fs-bpf-a-b-c-94ff7fbf.sock"},
	{"/sys/fs/bpf/a//b", "", "/run/bpfguard/sys-fs-bpf-a-b-5383ea9c.sock"},
	{"/sys/fs/bpf/..", "", "/run/bpfguard/sys-fs-bpf-..-7f2c9889.sock"},
	{"/sys/fs/bpf/../x", "", "/run/bpfguard/sys-fs-bpf-..-x-1755791e.sock"},
	{"relative", "", "/run/bpfguard/relative-fc82911d.sock"},
	{"/", "", "/run/bpfguard/-2a0c975e.sock"},
	{"//", "", "/run/bpfguard/-2a0c975e.sock"},
}

func TestSocketPathKnown(t *testing.T) {
	for _, c := range pinDirCases {
		norm, ok := normPinDir(c.in)
		if ok != (c.norm != "") || norm != c.norm {
			t.Errorf("normPinDir(%q) = %q, %v; want %q", c.in, norm, ok, c.norm)
		}
		dir := c.in
		if ok {
			dir = norm
		} else if dir == "//" {
			dir = "/" // check_pin_dir strips the slash before refusing it
		}
		got, err := socketPath(dir, "sock")
		if err != nil || got != c.sock {
			t.Errorf("socketPath(%q) = %q, %v; want %q", dir, got, err, c.sock)
		}
	}
}

func TestPinDirLimits(t *testing.T) {
	long := "/" + strings.Repeat("a", 199)
	if _, ok := normPinDir(long); !ok {
		t.Errorf("a pin dir of 200 bytes is refused")
	}
	if _, ok := normPinDir(long + "a"); ok {
		t.Errorf("a pin dir of 201 bytes is accepted")
	}
	if _, ok := normPinDir("/a\x00b"); ok {
		t.Errorf("a pin dir with a NUL byte is accepted")
	}
	// twice the 40-byte name bound: still 40
	p, _ := socketPath("/"+strings.Repeat("b", 80), "sock")
	if n := len(p) - len("/run/bpfguard/") - len("-01234567.sock"); n != 40 {
		t.Errorf("socketPath of an 81-byte pin dir has a %d-byte name, want 40: %s", n, p)
	}
}

func TestFnv1a(t *testing.T) {
	// FNV-1a 32 reference values
	for s, want := range map[string]uint32{"": 0x811c9dc5, "a": 0xe40c292c, "foobar": 0xbf9cf968} {
		if got := fnv1a(s); got != want {
			t.Errorf("fnv1a(%q) = %08x, want %08x", s, got, want)
		}
	}
}
