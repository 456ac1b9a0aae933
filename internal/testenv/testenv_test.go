package testenv_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/setlet/setlet/internal/testenv"
)

func TestMain(m *testing.M) {
	if os.Getenv(fakeShimEnv) != "" {
		time.Sleep(time.Hour) // a leaked shim: killed by the test
		return
	}
	testenv.Main(m)
}

// fakeShimEnv makes the test binary stand in for a leaked containerd shim.
const fakeShimEnv = "SETLET_TESTENV_FAKE_SHIM"

// TestLeakedShimKilled: a private containerd's cleanup kills the shims
// containerd leaked for it (they serve no task, so deleting the tasks
// does not stop them), and only those.
func TestLeakedShimKilled(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fake := func(address string) *exec.Cmd {
		cmd := &exec.Cmd{
			Path: exe,
			Args: []string{"containerd-shim-runc-v2", "-namespace", "leak", "-id", "ghost", "-address", address},
			Env:  append(os.Environ(), fakeShimEnv+"=1"),
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	var leaked, other *exec.Cmd
	ok := t.Run("containerd", func(t *testing.T) {
		p := testenv.NewPrivateContainerd(t)
		c, err := containerd.New(p.Address)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.NamespaceService().Create(namespaces.WithNamespace(context.Background(), "leak"), "leak", nil); err != nil {
			t.Fatal(err)
		}
		leaked = fake(p.Address)
		other = fake("/run/another/containerd.sock")
	})
	if !ok {
		return
	}
	defer other.Process.Kill()
	defer leaked.Process.Kill()
	exited := make(chan error, 1)
	go func() { exited <- leaked.Wait() }()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("the leaked shim after cleanup: %v, want killed", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("the leaked shim still runs after the cleanup")
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the shim of another containerd: %v, want it left alone", err)
	}
}

// TestContainerdAndImage starts the private containerd and builds the image.
func TestContainerdAndImage(t *testing.T) {
	addr := testenv.Containerd(t)
	c, err := net.Dial("unix", addr)
	if err != nil {
		t.Fatalf("dialing %s: %v", addr, err)
	}
	c.Close()
	if again := testenv.Containerd(t); again != addr {
		t.Errorf("second call started another containerd: %s != %s", again, addr)
	}
	img := testenv.BusyboxImage(t)
	if fi, err := os.Stat(img); err != nil || fi.Size() < 1<<20 {
		t.Fatalf("image %s: %v", img, err)
	}
}
