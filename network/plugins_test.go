package network_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startProcess starts `sleep secs` with the environment a CNI plugin gets
// for the namespace file netns, killed when the test ends.
func startProcess(t *testing.T, netns, secs string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", secs)
	cmd.Env = append(os.Environ(), "CNI_COMMAND=ADD", "CNI_CONTAINERID=uid", "CNI_IFNAME=eth0", "CNI_NETNS="+netns)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	return cmd
}

// exited reports whether process pid, a child of the test not yet
// reaped, has exited (it is a zombie).
func exited(t *testing.T, pid int) bool {
	t.Helper()
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if errors.Is(err, os.ErrNotExist) {
		return true // reaped already
	}
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return strings.HasPrefix(rest, "Z")
}

// TestWaitPlugins: WaitPlugins returns once the plugin left running for
// one of the Manager's namespaces has exited, and does not wait for one of
// another namespace directory; a context that ends first ends the wait.
func TestWaitPlugins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mine := startProcess(t, filepath.Join(e.cfg.NetnsDir, "web-0"), "0.3")
	other := startProcess(t, "/elsewhere/netns/web-0", "600")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := e.m.WaitPlugins(ctx)
	if err != nil || n != 1 {
		t.Fatalf("WaitPlugins = %d, %v; want 1, nil", n, err)
	}
	if !exited(t, mine.Process.Pid) {
		t.Errorf("WaitPlugins returned while the plugin of its namespace still runs")
	}
	if exited(t, other.Process.Pid) {
		t.Fatalf("the plugin of another namespace directory exited: the test proves nothing")
	}

	startProcess(t, filepath.Join(e.cfg.NetnsDir, "web-1"), "600")
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := e.m.WaitPlugins(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitPlugins with a plugin that does not exit = %v, want the context's deadline", err)
	}
}
