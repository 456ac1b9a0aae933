package runtime_test

import (
	"context"
	"os"
	"os/exec"
	"reflect"
	"testing"
	"time"

	"github.com/setlet/setlet/runtime"
)

// fakeShimEnv, set to a duration, makes the test binary a fake containerd
// shim that lives that long (see startFakeShim).
const fakeShimEnv = "SETLET_TEST_FAKE_SHIM"

// beFakeShim is the whole life of a fake shim: it waits for d, or for
// ever when d is no duration, and exits.
func beFakeShim(d string) {
	life, err := time.ParseDuration(d)
	if err != nil {
		life = time.Hour
	}
	time.Sleep(life)
}

// startFakeShim starts the test binary as a process whose command line is
// a shim's, `containerd-shim-runc-v2 -namespace NS -id ID -address ADDR`,
// serving no task: what containerd leaves when it leaks a shim. It lives
// for life and is killed when the test ends.
func (e *env) startFakeShim(ns, id string, life time.Duration) *exec.Cmd {
	e.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := &exec.Cmd{
		Path: exe,
		Args: []string{"containerd-shim-runc-v2", "-namespace", ns, "-id", id, "-address", e.addr},
		Env:  append(os.Environ(), fakeShimEnv+"="+life.String()),
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	e.t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	return cmd
}

// TestStraysLeakedShims: a shim process of the client's containerd and
// namespace that serves no task is reported with its PID; the shim of a
// running container is not, nor a shim of another namespace, nor one that
// exits within the grace a deleted task's shim gets.
func TestStraysLeakedShims(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("a")
	e.importBusybox(c)
	e.run(c, e.config("running", "sleep", "600"))
	// A grace the leaving shim needs well under, however slow this test
	// binary (the fake shim) is to start: it runs with the race detector,
	// beside other tests.
	checker, err := runtime.New(context.Background(), e.addr, runtime.WithNamespace(e.ns), runtime.WithInstance("a"),
		runtime.WithFIFODir(e.fifo), runtime.WithShimExitGrace(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer checker.Close()
	leaked := e.startFakeShim(e.ns, "ghost", time.Hour)
	e.startFakeShim("another-namespace", "ghost", time.Hour)
	e.startFakeShim(e.ns, "leaving", 100*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	strays, err := checker.Strays(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []runtime.Shim{{PID: leaked.Process.Pid, Container: "ghost"}}
	if !reflect.DeepEqual(strays.LeakedShims, want) {
		t.Fatalf("leaked shims: %+v, want %+v", strays.LeakedShims, want)
	}
}
