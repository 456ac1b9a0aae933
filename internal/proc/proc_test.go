package proc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestScan reads a process table made of files: every process with the
// file is seen once, with its contents; others and non-PIDs are not.
func TestScan(t *testing.T) {
	dir := t.TempDir()
	for name, cmdline := range map[string]string{"7": "a\x00", "12": "b\x00", "13": "", "self": "c\x00"} {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "cmdline"), []byte(cmdline), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "14"), 0o755); err != nil { // no cmdline: gone meanwhile
		t.Fatal(err)
	}
	got := map[int]string{}
	if err := Scan(dir, "cmdline", func(pid int, data []byte) { got[pid] = string(data) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[7] != "a\x00" || got[12] != "b\x00" {
		t.Fatalf("Scan saw %v, want 7 and 12", got)
	}
}

// TestWaitExit: it returns once the process exits, at once for one gone
// already, and with ctx's error when ctx ends first.
func TestWaitExit(t *testing.T) {
	short := exec.Command("sleep", "0.2")
	long := exec.Command("sleep", "600")
	for _, c := range []*exec.Cmd{short, long} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	defer func() { long.Process.Kill(); long.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := WaitExit(ctx, short.Process.Pid); err != nil {
		t.Fatalf("WaitExit of a process that exits: %v", err)
	}
	short.Wait() // reaped: gone
	if err := WaitExit(ctx, short.Process.Pid); err != nil {
		t.Fatalf("WaitExit of a process gone already: %v", err)
	}
	ended, cancelEnded := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelEnded()
	if err := WaitExit(ended, long.Process.Pid); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitExit of a process that does not exit = %v, want the context's deadline", err)
	}
}
