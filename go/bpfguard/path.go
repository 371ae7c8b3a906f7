// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

package bpfguard

import (
	"fmt"
	"strings"
	"syscall"
)

// DefaultPinDir is the pin dir of the agent a zero Client talks to.
const DefaultPinDir = "/sys/fs/bpf/bpfguard"

// runDir holds the agents' sockets (user/parse.c ctl_socket_path).
const runDir = "/run/bpfguard"

// pinDirMax is LBG_PIN_DIR_MAX: the longest pin dir, trailing slashes included.
const pinDirMax = 255

// normPinDir is check_pin_dir (user/parse.c): trailing slashes dropped, an
// absolute path of 2 to 200 bytes with no "//" and no ".." component. The
// agent names its socket after the normalized form, so "/x/" and "/x" are
// one agent.
func normPinDir(dir string) (string, bool) {
	for len(dir) > 1 && dir[len(dir)-1] == '/' {
		dir = dir[:len(dir)-1]
	}
	n := len(dir)
	if n < 2 || n > 200 || dir[0] != '/' || strings.Contains(dir, "/../") ||
		strings.HasSuffix(dir, "/..") || strings.Contains(dir, "//") ||
		strings.IndexByte(dir, 0) >= 0 { // a C string would end there
		return "", false
	}
	return dir, true
}

func fnv1a(s string) uint32 {
	h := uint32(2166136261)

	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

// socketPath is ctl_socket_path (user/parse.c), byte for byte: at most 40
// bytes of the pin dir made safe for a file name ("/" becomes "-", without
// a leading, doubled or trailing one; anything but [A-Za-z0-9._] becomes
// "_"), then the FNV-1a hash of the whole pin dir.
func socketPath(pinDir, suffix string) (string, error) {
	name := make([]byte, 0, 40)

	for i := 0; i < len(pinDir) && len(name) < 40; i++ {
		c := pinDir[i]
		switch {
		case c == '/':
			if len(name) == 0 || name[len(name)-1] == '-' {
				continue
			}
			c = '-'
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_':
		default:
			c = '_'
		}
		name = append(name, c)
	}
	for len(name) > 0 && name[len(name)-1] == '-' {
		name = name[:len(name)-1]
	}
	p := fmt.Sprintf("%s/%s-%08x.%s", runDir, name, fnv1a(pinDir), suffix)
	if len(p) >= 108 { // sun_path, its NUL included
		return "", syscall.ENAMETOOLONG
	}
	return p, nil
}
