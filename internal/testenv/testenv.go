// Package testenv gives setlet's integration tests the real things they run
// against: root, a private containerd started from the Debian package, and
// the busybox test image. It never skips: a missing prerequisite fails the
// test with a message naming what to install, in CI and everywhere else.
//
// A test binary that uses Containerd must run its tests through Main, which
// stops the containerd it started:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/setlet/setlet/internal/busybox"
	"github.com/setlet/setlet/runtime"
)

// env is the state shared by the tests of one test binary.
type env struct {
	mu         sync.Mutex
	dir        string    // private containerd's root, state and socket
	containerd *exec.Cmd // nil until started
	exited     chan error
	address    string
	startErr   error
	image      string // path of the busybox image archive
	imageErr   error
	reserved   map[string]bool // network names FreeNetwork handed out
	netLocks   []*os.File      // their lock files, locked until the binary exits
}

// shared is the one env of this test binary. Test binaries are processes
// of their own, so this is the one place package state is the right tool.
var shared env

// Main runs the tests of a test binary and then stops the containerd that
// Containerd started, if any, and removes its directory, then runs
// cleanups.
func Main(m *testing.M, cleanups ...func()) {
	code := m.Run()
	shared.stop()
	for _, c := range cleanups { // os.Exit runs no deferred call
		c()
	}
	os.Exit(code)
}

// RequireRoot fails t unless the test runs as root, which network
// namespaces, bridges, mounts and containerd need.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this integration test needs root (network namespaces, bridges, containerd); run `sudo make test`")
	}
}

// RequireBinary fails t when a program the test needs is not installed.
func RequireBinary(t testing.TB, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install Debian's %s (.ci/run does)", name, debianPackage)
	}
	return p
}

// Containerd returns the socket address of a containerd private to this
// test binary, started on first use from the installed containerd with its
// own root, state and socket in a temporary directory, so that tests never
// touch the host's containerd or each other's.
func Containerd(t testing.TB) string {
	t.Helper()
	RequireRoot(t)
	RequireBinary(t, "containerd", "containerd")
	RequireBinary(t, "runc", "runc")
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.containerd == nil && shared.startErr == nil {
		shared.startErr = shared.start()
	}
	if shared.startErr != nil {
		t.Fatalf("starting containerd: %v", shared.startErr)
	}
	return shared.address
}

func (e *env) start() error {
	dir, err := os.MkdirTemp("", "setlet-containerd-")
	if err != nil {
		return err
	}
	e.dir = dir
	e.address, e.containerd, e.exited, err = launchContainerd(dir)
	return err
}

// launchContainerd starts a containerd whose root, state, socket and log
// are in dir, and waits until it serves. A second launch in the same dir
// is a restart: it finds the images, containers and running tasks (their
// shims outlive containerd) of the first.
func launchContainerd(dir string) (address string, cmd *exec.Cmd, exited chan error, err error) {
	address = filepath.Join(dir, "containerd.sock")
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  level = "warn"
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), address, address+".ttrpc")
	configPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		return "", nil, nil, err
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "containerd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return "", nil, nil, err
	}
	cmd = exec.Command("containerd", "--config", configPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so that a test interrupted by a signal does not
	// take containerd down halfway through its cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return "", nil, nil, err
	}
	exited = make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := waitForSocket(ctx, address, exited); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
		return "", nil, nil, fmt.Errorf("%w\ncontainerd log:\n%s", err, log)
	}
	return address, cmd, exited, nil
}

// PrivateContainerd is a containerd of one test, which the test may stop
// and start again (Stop, Start); Address is its socket.
type PrivateContainerd struct {
	t       testing.TB
	dir     string
	Address string
	cmd     *exec.Cmd
	exited  chan error
}

// NewPrivateContainerd starts a containerd for t alone and registers its
// cleanup: its containers removed, the process stopped, its directory
// unmounted and removed.
func NewPrivateContainerd(t testing.TB) *PrivateContainerd {
	t.Helper()
	RequireRoot(t)
	RequireBinary(t, "containerd", "containerd")
	RequireBinary(t, "runc", "runc")
	dir, err := os.MkdirTemp("", "setlet-containerd-")
	if err != nil {
		t.Fatal(err)
	}
	p := &PrivateContainerd{t: t, dir: dir}
	t.Cleanup(func() {
		if p.cmd == nil {
			// Left stopped by the test: start it again, or the shims of its
			// containers would outlive it.
			var err error
			if p.Address, p.cmd, p.exited, err = launchContainerd(p.dir); err != nil {
				t.Errorf("starting the private containerd again to clean up: %v", err)
			}
		}
		if p.cmd != nil {
			if err := removeAllContainers(p.Address); err != nil {
				t.Errorf("removing the private containerd's containers: %v", err)
			}
			p.Stop()
		}
		unmountUnder(dir)
		_ = os.RemoveAll(dir)
	})
	p.Start()
	return p
}

// Start starts the containerd (again) and waits until it serves.
func (p *PrivateContainerd) Start() {
	p.t.Helper()
	var err error
	if p.Address, p.cmd, p.exited, err = launchContainerd(p.dir); err != nil {
		p.t.Fatalf("starting a private containerd: %v", err)
	}
}

// Stop stops the containerd with SIGTERM, as systemd stops it; running
// containers keep running under their shims.
func (p *PrivateContainerd) Stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

// waitForSocket waits until something accepts connections on the unix
// socket at address, or the process exits, or ctx ends.
func waitForSocket(ctx context.Context, address string, exited <-chan error) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := net.Dial("unix", address); err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("containerd exited before serving %s: %v", address, err)
		case <-ctx.Done():
			return fmt.Errorf("containerd did not serve %s: %w", address, ctx.Err())
		case <-tick.C:
		}
	}
}

func (e *env) stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.containerd != nil {
		// A test that failed halfway may have left containers: their
		// shims would outlive containerd. Kill and delete them first.
		if err := removeAllContainers(e.address); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: removing leftover containers: %v\n", err)
		}
		_ = e.containerd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.exited:
		case <-time.After(10 * time.Second):
			_ = e.containerd.Process.Kill()
			<-e.exited
		}
	}
	if e.dir != "" {
		// Snapshots stay mounted if a test leaked a container: unmount what
		// is under the directory before removing it.
		unmountUnder(e.dir)
		_ = os.RemoveAll(e.dir)
	}
	if e.image != "" {
		_ = os.RemoveAll(filepath.Dir(e.image))
	}
	for _, f := range e.netLocks {
		f.Close()
	}
}

// unmountUnder lazily unmounts every mount point below dir, deepest first.
func unmountUnder(dir string) {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return
	}
	var points []string
	for _, m := range mounts {
		if m.Mountpoint != dir {
			points = append(points, m.Mountpoint)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		_ = unix.Unmount(p, unix.MNT_DETACH)
	}
}

// BusyboxImage returns the path of the busybox test image archive, built
// once per test binary from the host's busybox-static.
func BusyboxImage(t testing.TB) string {
	t.Helper()
	RequireBinary(t, "busybox", "busybox-static")
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.image == "" && shared.imageErr == nil {
		dir, err := os.MkdirTemp("", "setlet-image-")
		if err != nil {
			shared.imageErr = err
		} else {
			shared.image = filepath.Join(dir, "busybox.tar")
			_, shared.imageErr = busybox.Build(shared.image, busybox.DefaultName, busybox.DefaultBinary)
		}
	}
	if shared.imageErr != nil {
		t.Fatalf("building the busybox image: %v", shared.imageErr)
	}
	return shared.image
}

// removeAllContainers kills and deletes every task, container and snapshot
// of every namespace of the containerd at address.
func removeAllContainers(address string) error {
	c, err := containerd.New(address, containerd.WithTimeout(5*time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	defer func() {
		// containerd leaks the shim of a task whose deletion was cut short
		// (containerd/containerd#11392): no task to delete, so kill it.
		for _, ns := range nss {
			shims, _ := runtime.ListShims(address, ns)
			for _, s := range shims {
				_ = syscall.Kill(s.PID, syscall.SIGKILL)
			}
		}
	}()
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		ctrs, err := c.Containers(nctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, ctr := range ctrs {
			if task, err := ctr.Task(nctx, nil); err == nil {
				if _, err := task.Delete(nctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
					errs = append(errs, err)
				}
			}
			if err := ctr.Delete(nctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// FreeNetwork reserves, for the rest of this test binary, the first number
// n from start on that no other test of the binary holds and for which no
// network interface named prefix+n exists and no iptables rule names the
// CNI network "setlet-"+prefix+n: a bridge and subnet number no earlier
// test run left anything on, so that a leftover is never blamed on the test
// that happens to reuse its number. It is safe for parallel tests, and for
// test binaries running at once: each reservation also holds a lock file
// (lockNetwork), so another binary never takes a number whose bridge does
// not exist yet, or no longer does (a test that simulates a reboot deletes
// it).
func FreeNetwork(t testing.TB, prefix string, start, limit int) int {
	t.Helper()
	rules := ""
	for _, table := range []string{"nat", "filter"} {
		out, err := exec.Command("iptables", "-w", "-t", table, "-S").Output()
		if err != nil {
			t.Fatalf("iptables -t %s -S: %v", table, err)
		}
		rules += string(out)
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.reserved == nil {
		shared.reserved = map[string]bool{}
	}
	for n := start; n < limit; n++ {
		name := fmt.Sprintf("%s%d", prefix, n)
		if shared.reserved[name] {
			continue
		}
		if _, err := net.InterfaceByName(name); err == nil {
			continue
		}
		if strings.Contains(rules, `"setlet-`+name+`\"`) {
			continue
		}
		lock, err := lockNetwork(name)
		if err != nil {
			t.Fatalf("reserving test network %s: %v", name, err)
		}
		if lock == nil {
			continue // another test binary holds it
		}
		shared.reserved[name] = true
		shared.netLocks = append(shared.netLocks, lock)
		return n
	}
	t.Fatalf("no free test network %s%d..%s%d: earlier runs left them all behind", prefix, start, prefix, limit-1)
	return 0
}

// networkLockDir holds a lock file per test network name, shared by every
// test binary on the host.
var networkLockDir = filepath.Join(os.TempDir(), "setlet-testenv-networks")

// lockNetwork takes the exclusive lock of network name without waiting: it
// returns the locked file, to keep open while the network is in use, or
// nil when another open file (another test binary) holds the lock. The
// kernel drops the lock when the process exits, however it exits.
func lockNetwork(name string) (*os.File, error) {
	if err := os.MkdirAll(networkLockDir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(networkLockDir, name+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return f, nil
}
