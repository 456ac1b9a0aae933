package e2e

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSystemdNotify: under a service manager (a fake NOTIFY_SOCKET, as
// systemd's Type=notify provides) the daemon sends READY=1 only once its
// API answers, WATCHDOG=1 while its loops run, RELOADING=1 then READY=1
// on SIGHUP, and STOPPING=1 on SIGTERM, then exits 0.
func TestSystemdNotify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustRun("apply", "-f", demoManifest(t))
	e.kill()

	path := filepath.Join(e.dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	e.environ = []string{"NOTIFY_SOCKET=" + path, "WATCHDOG_USEC=200000"}
	e.launch()
	e.environ = nil

	next := func(want string) {
		t.Helper()
		buf := make([]byte, 4096)
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %s: %v", want, err)
			}
			got := strings.Split(strings.TrimSpace(string(buf[:n])), "\n")
			for _, line := range got {
				if line == want {
					return
				}
			}
			if want != "WATCHDOG=1" && !contains(got, "WATCHDOG=1") {
				t.Fatalf("got %q while waiting for %s", got, want)
			}
		}
	}
	next("READY=1")
	if _, err := e.client.Version(context.Background()); err != nil {
		t.Fatalf("the API right after READY=1: %v", err)
	}
	next("WATCHDOG=1")
	next("WATCHDOG=1")

	if err := e.daemon.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	next("RELOADING=1")
	next("READY=1")
	if !strings.Contains(e.log(), "reload: the configuration is unchanged") {
		t.Errorf("the reload left no line in the log")
	}

	if err := e.daemon.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	next("STOPPING=1")
	<-e.exited
	if err := e.exitErr; err != nil {
		t.Errorf("the daemon exited with %v after SIGTERM", err)
	}
	e.start() // for the cleanup, which stops it again
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
