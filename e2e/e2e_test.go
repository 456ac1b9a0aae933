// Package e2e runs the setlet binary as a user does: `setlet daemon` as a
// process of its own, driven by `setlet` commands, against the private
// containerd of internal/testenv, runc and the CNI plugins. It checks what
// the commands print and what survives killing the daemon.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/daemon/api"
	"github.com/setlet/setlet/internal/testenv"
)

// binary is the setlet binary this test binary built.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "setlet-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "setlet")
	build := exec.Command("go", "build", "-o", binary, "github.com/setlet/setlet")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building setlet: %v\n", err)
		os.Exit(1)
	}
	testenv.Main(m, func() { os.RemoveAll(dir) })
}

// env is one daemon process with its directories and network.
type env struct {
	t          testing.TB
	dir        string
	socket     string
	namespace  string
	bridge     string
	subnet     string
	containerd string
	environ    []string // added to the daemon's environment
	daemon     *exec.Cmd
	exited     chan struct{} // closed when the daemon has exited
	exitErr    error         // then, how (cmd.Wait's error)
	client     *api.Client
}

func newEnv(t testing.TB) *env {
	t.Helper()
	testenv.RequireBinary(t, "iptables", "iptables")
	n := testenv.FreeNetwork(t, "sle2e", 1, 250)
	dir := t.TempDir()
	e := &env{
		t: t, dir: dir,
		socket:     filepath.Join(dir, "run", "setlet.sock"),
		namespace:  fmt.Sprintf("e2e%d", n),
		bridge:     fmt.Sprintf("sle2e%d", n),
		subnet:     fmt.Sprintf("10.234.%d.0/24", n),
		containerd: testenv.Containerd(t),
	}
	e.client = api.NewClient(e.socket)
	e.start()
	t.Cleanup(e.cleanup)
	out := e.mustRun("image", "import", testenv.BusyboxImage(t))
	if strings.TrimSpace(out) != "setlet.local/busybox:1" {
		t.Fatalf("image import printed %q", out)
	}
	return e
}

// start starts `setlet daemon` and waits until it answers.
func (e *env) start() {
	e.t.Helper()
	e.launch()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := e.client.Version(context.Background()); err == nil {
			return
		}
		select {
		case <-e.exited:
			e.t.Fatalf("daemon exited: %v\n%s", e.exitErr, e.log())
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("daemon did not answer within 30s\n%s", e.log())
		}
		time.Sleep(20 * time.Millisecond) // a separate process: only its socket says it is up
	}
}

// launch starts `setlet daemon` and returns at once.
func (e *env) launch() {
	e.t.Helper()
	logf, err := os.OpenFile(filepath.Join(e.dir, "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(binary, "--socket", e.socket, "daemon",
		"--data-dir", filepath.Join(e.dir, "data"), "--run-dir", filepath.Join(e.dir, "run"),
		"--containerd", e.containerd, "--containerd-namespace", e.namespace,
		"--bridge", e.bridge, "--subnet", e.subnet, "--cni-conf-dir", filepath.Join(e.dir, "cni"),
		"--dns-upstream", "none", // tests never query the machine's resolvers
		"--manifest-dir", filepath.Join(e.dir, "manifests"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), e.environ...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	exited := make(chan struct{})
	e.daemon, e.exited = cmd, exited
	go func() {
		e.exitErr = cmd.Wait()
		logf.Close()
		close(exited)
	}()
}

func (e *env) log() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "daemon.log"))
	return string(b)
}

// kill kills the daemon with SIGKILL, as a crash would, failing the test
// if it had already exited by itself.
func (e *env) kill() {
	e.t.Helper()
	if err := e.killDaemon(); err != nil {
		e.t.Errorf("%v\n%s", err, e.log())
	}
}

// killDaemon kills the daemon with SIGKILL and waits for it to go; it
// returns an error when the daemon had exited by itself first.
func (e *env) killDaemon() error {
	_ = e.daemon.Process.Signal(syscall.SIGKILL)
	<-e.exited
	var ee *exec.ExitError
	if !errors.As(e.exitErr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		return fmt.Errorf("the daemon exited by itself before the kill: %v", e.exitErr)
	}
	return nil
}

// cleanup deletes every set, waits for the pods to go, stops the daemon
// and removes the test's bridge and mounts.
func (e *env) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if sets, err := e.client.StatefulSets(ctx, ""); err == nil {
		for _, s := range sets {
			_ = e.client.DeleteStatefulSet(ctx, s.Namespace, s.Name, true)
		}
		if err := e.awaitPods(ctx, func(p []corev1.Pod) bool { return len(p) == 0 }); err != nil {
			e.t.Errorf("cleanup: %v", err)
		}
	}
	_ = e.daemon.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(30 * time.Second):
		_ = e.killDaemon() // stuck after SIGTERM, or just gone: either way it is gone now
	}
	if link, err := netlink.LinkByName(e.bridge); err == nil {
		_ = netlink.LinkDel(link)
	}
	_ = unix.Unmount(filepath.Join(e.dir, "run", "netns"), unix.MNT_DETACH)
	if e.t.Failed() {
		e.t.Logf("daemon log:\n%s", e.log())
	}
}

// run runs `setlet --socket ... args...` and returns stdout, stderr and
// the exit code.
func (e *env) run(args ...string) (string, string, int) {
	e.t.Helper()
	cmd := exec.Command(binary, append([]string{"--socket", e.socket}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("running setlet %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

// mustRun runs a command that must succeed and returns its stdout.
func (e *env) mustRun(args ...string) string {
	e.t.Helper()
	out, errOut, code := e.run(args...)
	if code != 0 {
		e.t.Fatalf("setlet %v exited %d: %s%s", args, code, out, errOut)
	}
	return out
}

// waitPods waits, following the daemon's pod watch, until cond holds for
// the pods of namespace default.
func (e *env) waitPods(ctx context.Context, cond func([]corev1.Pod) bool) {
	e.t.Helper()
	if err := e.awaitPods(ctx, cond); err != nil {
		e.t.Fatal(err)
	}
}

// awaitPods is waitPods returning its failure, for cleanup, which must go
// on to stop the daemon. The watch starts with the pods as they are and a
// bookmark once they are all in: cond is asked from then on.
func (e *env) awaitPods(ctx context.Context, cond func([]corev1.Pod) bool) error {
	pods := map[string]corev1.Pod{}
	listed := false
	now := func() []corev1.Pod {
		out := make([]corev1.Pod, 0, len(pods))
		for _, p := range pods {
			out = append(out, p)
		}
		return out
	}
	done := fmt.Errorf("done")
	err := e.client.WatchBookmarked(ctx, "pods", "default", func(ev api.RawWatchEvent) error {
		if ev.Type == api.Bookmark {
			listed = true
		} else {
			var p corev1.Pod
			if err := json.Unmarshal(ev.Object, &p); err != nil {
				return err
			}
			if ev.Type == "DELETED" {
				delete(pods, p.Name)
			} else {
				pods[p.Name] = p
			}
		}
		if listed && cond(now()) {
			return done
		}
		return nil
	})
	if err != done {
		if err == nil {
			err = ctx.Err()
		}
		return fmt.Errorf("waiting for pods: %v (%d pods)", err, len(pods))
	}
	return nil
}

// readyPods says n pods exist and all are Running and Ready, none of them
// being deleted.
func readyPods(n int) func([]corev1.Pod) bool {
	return func(pods []corev1.Pod) bool {
		if len(pods) != n {
			return false
		}
		for _, p := range pods {
			if !isReady(p) || p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
				return false
			}
		}
		return true
	}
}

func deadline(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// demoManifest is the README's demo manifest.
func demoManifest(t *testing.T) string {
	p, err := filepath.Abs("../configs/examples/web.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}
