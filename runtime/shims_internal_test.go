package runtime

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestShimFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args string
		want map[string]string
	}{
		{"ShimFlags/containerd 1.6", "-namespace setlet -id web-0 -address /run/containerd/containerd.sock",
			map[string]string{"namespace": "setlet", "id": "web-0", "address": "/run/containerd/containerd.sock"}},
		{"ShimFlags/with = and two dashes", "--namespace=setlet -id=web-0 -debug -address /a.sock",
			map[string]string{"namespace": "setlet", "id": "web-0", "debug": "", "address": "/a.sock"}},
		{"ShimFlags/a flag without value at the end", "-id web-0 -debug",
			map[string]string{"id": "web-0", "debug": ""}},
		{"ShimFlags/words that are no flags are skipped", "start -id web-0",
			map[string]string{"id": "web-0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := shimFlags(strings.Fields(tc.args)); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("shimFlags(%q) = %v, want %v", tc.args, got, tc.want)
			}
		})
	}
}

// TestListShims reads a process table made of files: only the shims of
// the given containerd and namespace are listed, sorted by PID.
func TestListShims(t *testing.T) {
	proc := t.TempDir()
	for pid, cmdline := range map[string]string{
		"10":   "/usr/bin/containerd-shim-runc-v2\x00-namespace\x00setlet\x00-id\x00web-1\x00-address\x00/run/containerd/containerd.sock\x00",
		"9":    "containerd-shim-runc-v2\x00-namespace\x00setlet\x00-id\x00web-0\x00-address\x00/run/containerd/containerd.sock\x00",
		"11":   "/usr/bin/containerd-shim-runc-v2\x00-namespace\x00other\x00-id\x00web-0\x00-address\x00/run/containerd/containerd.sock\x00",
		"12":   "/usr/bin/containerd-shim-runc-v2\x00-namespace\x00setlet\x00-id\x00web-0\x00-address\x00/tmp/another.sock\x00",
		"13":   "/usr/bin/sleep\x00-namespace\x00setlet\x00-id\x00web-0\x00-address\x00/run/containerd/containerd.sock\x00",
		"14":   "", // a zombie: no command line
		"self": "not a pid",
	} {
		if err := os.MkdirAll(filepath.Join(proc, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, pid, "cmdline"), []byte(cmdline), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := listShims(proc, "/run/containerd/containerd.sock", "setlet")
	if err != nil {
		t.Fatal(err)
	}
	want := []Shim{{PID: 9, Container: "web-0"}, {PID: 10, Container: "web-1"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("listShims = %+v, want %+v", got, want)
	}
}
