// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

package bpfguard

// The C headers are the protocol's definition: this test compiles a small C
// program against include/ctl.h and include/bpfguard.h (and user/parse.c for
// the socket path), runs it, and compares every size, offset and constant
// wire.go relies on. Skipped, saying so, without a C compiler or outside
// the source tree (the kernel suite's copy of this test binary).

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

const srcTop = "../.."

// the C names of the wire structs' fields, in order
var cLayouts = []struct {
	name   string
	v      interface{}
	size   int
	fields []string
}{
	{"bg_req", wireReq{}, sizeReq, []string{"magic", "version", "op", "pid", "flags", "signal", "pid2", "grace_ns"}},
	{"bg_rep", wireRep{}, sizeRep, []string{"magic", "status", "len", "pad", "msg"}},
	{"bg_status", wireStatus{}, sizeStatus, []string{"mode", "agent_pid", "features", "scope", "kernel", "tags",
		"tracked", "max_procs", "max_tags", "counters", "agent_counters", "start_time", "subscribers",
		"metrics_port", "lat_count", "lat_sum_us", "lat_buckets", "user_max_procs", "user_max_tags",
		"unpriv_max_procs", "unpriv_max_tags", "used_procs", "used_tags"}},
	{"bg_list_tag", wireListTag{}, sizeListTag, []string{"tag", "root_pid", "parent", "owner_uid", "flags", "state", "root_status",
		"max_procs", "born", "exited", "live", "peak", "cpu_exited_ns"}},
	{"bg_list_proc", wireListProc{}, sizeListProc, []string{"pid", "ppid", "tag", "flags", "comm", "nspid", "pad"}},
	{"bg_wait", wireWait{}, sizeWait, []string{"tag", "flags", "status", "pad"}},
}

// the C constants and what wire.go says they are
var cConsts = map[string]uint64{
	"BG_CTL_MAGIC": ctlMagic, "BG_CTL_VERSION": ctlVersion,
	"BG_OP_STATUS": opStatus, "BG_OP_TAG": opTag, "BG_OP_UNTAG": opUntag, "BG_OP_LIST": opList,
	"BG_OP_UNLOAD": opUnload, "BG_OP_ADOPT": opAdopt, "BG_OP_KILL": opKill, "BG_OP_WAIT": opWait, "BG_OP_SIGNAL": opSignal, "BG_OP_RELEASE": opRelease,
	"BG_REQ_F_WAIT": reqWait, "BG_REQ_F_BY_TAG": reqByTag, "BG_WAIT_ENDED": waitEnded,
	"BG_REQ_F_ALLOW_BREAKAWAY": reqAllowBreakaway, "BG_TAG_F_BREAKAWAY": TagBreakaway,
	"BG_WAIT_ROOT_EXITED": waitRootExited, "BG_WAIT_UNTAGGED": waitUntagged,
	"BG_LIST_KILLING": ListKilling, "BG_LIST_ROOT_EXITED": ListRootExited, "BG_LIST_ACCT": ListAcct,
	"BG_TAG_MAX_PROCS":   MaxProcsMax,
	"BG_CTL_MAX_PAYLOAD": ctlMaxPayload, "BG_OVERFLOW_UID": overflowUID, "BG_STATUS_OWN": statusScopeOwn,
	"BG_MODE_USER": uint64(ModeUser), "BG_MODE_KERNEL": uint64(ModeKernel),
	"BG_FEAT_BTF": uint64(FeatBTF), "BG_FEAT_RINGBUF": uint64(FeatRingbuf),
	"BG_FEAT_TASK_ITER": uint64(FeatTaskIter), "BG_FEAT_TASK_FROM_PID": uint64(FeatTaskFromPid),
	"BG_FEAT_SEND_SIGNAL_TASK": uint64(FeatSendSignalTask), "BG_FEAT_GROUP_DEAD_ARG": uint64(FeatGroupDeadArg),
	"BG_STAT_MAX": StatMax, "BG_STAT_KILLS": StatKills, "BG_STAT_ROOT_EXIT": StatRootExit,
	"BG_STAT_KILL_REFUSED": StatKillRefused, "BG_ASTAT_MAX": AgentStatMax,
	"BG_STAT_LIMIT_KILLS": StatLimitKills, "BG_STAT_KILLS_STUCK": StatKillsStuck, "BG_ASTAT_QUOTA_REFUSED": AgentStatQuotaRefused,
	"BG_ASTAT_REFUSED": AgentStatRefused, "BG_ASTAT_METRICS_BAD": AgentStatMetricsBad,
	"BG_LAT_BUCKETS": LatBuckets, "BG_TAG_F_PRIV": TagPriv, "BG_PROC_ROOT": ProcRoot,
	"BG_PROC_ADOPTED": ProcAdopted, "BG_CTL_MAX_FDS": 2, "LBG_PIN_DIR_MAX": pinDirMax,
	"counters_len": 16, "agent_counters_len": 8,
}

// buildC compiles the C program; "" and a reason when it cannot.
func buildC(t *testing.T) string {
	cc, err := exec.LookPath("cc")
	if err != nil {
		return ""
	}
	if _, err := os.Stat(filepath.Join(srcTop, "include/ctl.h")); err != nil {
		return ""
	}
	var src strings.Builder
	src.WriteString("#include <stddef.h>\n#include <stdio.h>\n#include <string.h>\n" +
		"#include \"bpfguard.h\"\n#include \"control.h\"\n#include \"libbpfguard_priv.h\"\n#include \"parse.h\"\n" +
		"int main(int argc, char **argv)\n{\n")
	for _, l := range cLayouts {
		fmt.Fprintf(&src, "\tprintf(\"size %s %%zu\\n\", sizeof(struct %s));\n", l.name, l.name)
		for _, f := range l.fields {
			fmt.Fprintf(&src, "\tprintf(\"off %s.%s %%zu\\n\", offsetof(struct %s, %s));\n", l.name, f, l.name, f)
		}
	}
	for name := range cConsts {
		expr := name
		switch name {
		case "counters_len":
			expr = "sizeof(((struct bg_status *)0)->counters) / 8"
		case "agent_counters_len":
			expr = "sizeof(((struct bg_status *)0)->agent_counters) / 8"
		}
		fmt.Fprintf(&src, "\tprintf(\"const %s %%llu\\n\", (unsigned long long)(%s));\n", name, expr)
	}
	// then one pin dir a line on stdin: check_pin_dir, ctl_socket_path
	src.WriteString(`	char line[512], out[128];
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = '\0';
		int bad = check_pin_dir(line);
		int r = ctl_socket_path(line, "sock", out, sizeof(out));
		printf("path %d %s|%s\n", bad, r ? "ERR" : out, line);
	}
	(void)argc; (void)argv;
	return 0;
}
`)
	dir := t.TempDir()
	c := filepath.Join(dir, "layout.c")
	bin := filepath.Join(dir, "layout")
	if err := os.WriteFile(c, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(cc, "-std=gnu11", "-D_GNU_SOURCE", "-I"+filepath.Join(srcTop, "include"),
		"-I"+filepath.Join(srcTop, "user"), c, filepath.Join(srcTop, "user/parse.c"), "-o", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("cannot compile the layout program against the headers: %v\n%s", err, out)
	}
	return bin
}

func runC(t *testing.T, input string) []string {
	bin := buildC(t)
	if bin == "" {
		t.Skip("no C compiler (cc) or no include/ctl.h at " + srcTop + ": the layout is not checked against C")
	}
	cmd := exec.Command(bin)
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the layout program: %v", err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// packed offsets of a struct's fields as encoding/binary lays them out
func packedOffsets(v interface{}) []int {
	rt := reflect.TypeOf(v)
	var offs []int
	off := 0
	for i := 0; i < rt.NumField(); i++ {
		offs = append(offs, off)
		off += binary.Size(reflect.Zero(rt.Field(i).Type).Interface())
	}
	return offs
}

func TestWireMatchesC(t *testing.T) {
	got := map[string]uint64{}
	for _, l := range runC(t, "") {
		f := strings.Fields(l)
		if len(f) == 3 {
			v, err := strconv.ParseUint(f[2], 10, 64)
			if err != nil {
				t.Fatalf("bad line from the layout program: %q", l)
			}
			got[f[0]+" "+f[1]] = v
		}
	}
	for _, l := range cLayouts {
		if n := binary.Size(l.v); n != l.size || uint64(n) != got["size "+l.name] {
			t.Errorf("struct %s: %d bytes in Go, const %d, %d in C", l.name, n, l.size, got["size "+l.name])
		}
		offs := packedOffsets(l.v)
		if len(offs) != len(l.fields) {
			t.Errorf("struct %s: %d fields in Go, %d named", l.name, len(offs), len(l.fields))
			continue
		}
		for i, f := range l.fields {
			if c, ok := got["off "+l.name+"."+f]; !ok || c != uint64(offs[i]) {
				t.Errorf("%s.%s: offset %d in Go, %d in C", l.name, f, offs[i], c)
			}
		}
	}
	for name, v := range cConsts {
		if c, ok := got["const "+name]; !ok || c != v {
			t.Errorf("%s: %d in Go, %d in C", name, v, c)
		}
	}
}

func TestSocketPathMatchesC(t *testing.T) {
	var in []string
	for _, c := range pinDirCases {
		in = append(in, c.in)
	}
	// every byte value in every position class, and names near 40 bytes
	for b := 1; b < 256; b++ {
		if b != '\n' {
			in = append(in, "/sys/fs/bpf/"+string([]byte{byte(b)})+"x/"+string([]byte{byte(b)}))
		}
	}
	for n := 30; n <= 80; n++ {
		in = append(in, "/"+strings.Repeat("ab/", n/3)+strings.Repeat("c", n%3))
	}
	lines := runC(t, strings.Join(in, "\n")+"\n")
	k := 0
	for _, l := range lines {
		if !strings.HasPrefix(l, "path ") {
			continue
		}
		if k >= len(in) {
			t.Fatalf("more path lines than inputs")
		}
		rest := strings.SplitN(l[len("path "):], " ", 2)
		bad := rest[0] != "0"
		cpath := strings.SplitN(rest[1], "|", 2)[0]
		norm, ok := normPinDir(in[k])
		if ok == bad {
			t.Errorf("pin dir %q: C check_pin_dir refuses it: %v, Go: %v", in[k], bad, !ok)
		}
		dir := norm
		if !ok { // C names the socket of what check_pin_dir left of it
			dir = strings.SplitN(rest[1], "|", 2)[1]
		}
		gpath, err := socketPath(dir, "sock")
		if err != nil {
			gpath = "ERR"
		}
		if gpath != cpath {
			t.Errorf("pin dir %q: C socket %q, Go %q", in[k], cpath, gpath)
		}
		k++
	}
	if k != len(in) {
		t.Errorf("the C program answered %d of %d pin dirs", k, len(in))
	}
}
