package runtime_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// TestStartAfterCutCreate: the shim of a task create cut short (the
// daemon stopped or killed while containerd created the task) can still be
// waiting to open the container's stdout FIFO for writing when the next
// attempt starts. Here a process stands in for it: it waits to open the
// FIFO, and closes it at once. A new task must get FIFOs of its own, not
// meet that writer (then see its EOF and leave the new shim without a
// reader): it starts, and its output reaches the log. And the old writer
// is let go.
func TestStartAfterCutCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("a")
	e.importBusybox(c)
	cfg := e.config("cut", "sh", "-c", "echo after the cut; sleep 600")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.CreateContainer(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.fifo, e.ns, cfg.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	stdout := filepath.Join(dir, "stdout")
	if err := syscall.Mkfifo(stdout, 0o700); err != nil {
		t.Fatal(err)
	}
	stale := exec.Command("sh", "-c", ": > "+stdout) // open for writing, then close
	if err := stale.Start(); err != nil {
		t.Fatal(err)
	}
	staleDone := make(chan error, 1)
	go func() { staleDone <- stale.Wait() }()
	defer stale.Process.Kill()

	// The shim gives up on a FIFO without a reader after 30 s: fail first.
	start, cancelStart := context.WithTimeout(ctx, 20*time.Second)
	defer cancelStart()
	if _, err := c.StartContainer(start, cfg.ID); err != nil {
		t.Fatalf("StartContainer after a cut create: %v", err)
	}
	waitLog(t, cfg.LogPath, regexp.MustCompile(`after the cut\n`))
	select {
	case <-staleDone: // its FIFO opened, or gone before it tried
	case <-start.Done():
		t.Errorf("the old writer still waits to open its FIFO")
	}
}
