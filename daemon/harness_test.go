package daemon_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/daemon"
	"github.com/setlet/setlet/daemon/api"
	"github.com/setlet/setlet/internal/proc"
	"github.com/setlet/setlet/internal/testenv"
	"github.com/setlet/setlet/runtime"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// harness is one real daemon, run in-process against the private
// containerd, real CNI plugins and its own bridge, with a client.
type harness struct {
	t      *testing.T
	cfg    configs.DaemonConfig
	client *api.Client
	cancel context.CancelFunc
	done   chan error
	log    *syncBuffer
	// stopped says the daemon has stopped: checks read its state
	// themselves instead of asking it.
	stopped bool
}

// startDaemon starts a daemon for t, imports the busybox image into it and
// registers its cleanup: every set deleted and every pod gone, the daemon
// stopped, then no container, snapshot, network namespace or IP left.
func startDaemon(t *testing.T) *harness { t.Helper(); return startDaemonWith(t, nil) }

// startDaemonWith is startDaemon with the configuration changed by tweak
// (when not nil) before the daemon starts.
func startDaemonWith(t *testing.T, tweak func(*configs.DaemonConfig)) *harness {
	t.Helper()
	h := startBareDaemon(t, tweak)
	f, err := os.Open(testenv.BusyboxImage(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := h.client.ImportImages(context.Background(), f); err != nil {
		t.Fatalf("importing the busybox image: %v", err)
	}
	return h
}

// startBareDaemon is startDaemonWith without importing the busybox image.
func startBareDaemon(t *testing.T, tweak func(*configs.DaemonConfig)) *harness {
	t.Helper()
	testenv.RequireBinary(t, "iptables", "iptables")
	address := testenv.Containerd(t)
	n := testenv.FreeNetwork(t, "slit", 1, 250)
	dir := t.TempDir()
	cfg := configs.DefaultDaemonConfig()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.RunDir = filepath.Join(dir, "run")
	cfg.Socket = ""
	cfg.Containerd = address
	cfg.ContainerdNamespace = fmt.Sprintf("it%d", n)
	cfg.Bridge = fmt.Sprintf("slit%d", n)
	cfg.Subnet = fmt.Sprintf("10.233.%d.0/24", n)
	cfg.CNIConfDir = filepath.Join(dir, "cni")
	cfg.DNSUpstreams = []string{"none"} // tests never query the machine's resolvers
	cfg.ManifestDir = filepath.Join(dir, "manifests")
	if tweak != nil {
		tweak(&cfg)
	}
	cfg.Complete()

	h := &harness{t: t, cfg: cfg, client: api.NewClient(cfg.Socket), done: make(chan error, 1), log: &syncBuffer{}}
	h.run()
	t.Cleanup(h.stop)
	return h
}

// run starts the daemon of h.cfg in this process and waits until it is
// ready.
func (h *harness) run() {
	t := h.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	ready := make(chan struct{})
	logger := slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() { h.done <- daemon.Run(ctx, h.cfg, logger, daemon.WithReady(func() { close(ready) })) }()
	select {
	case <-ready:
	case err := <-h.done:
		t.Fatalf("daemon did not start: %v\n%s", err, h.log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon not ready after 30s\n%s", h.log.String())
	}
}

// stop deletes every set, waits for their pods to be gone, stops the
// daemon and checks that nothing is left behind.
func (h *harness) stop() {
	t := h.t
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sets, err := h.client.StatefulSets(ctx, "")
	if err == nil {
		for _, s := range sets {
			_ = h.client.DeleteStatefulSet(ctx, s.Namespace, s.Name, true)
		}
		if _, err := h.awaitPods(ctx, "", func(pods map[string]*corev1.Pod) bool { return len(pods) == 0 }); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("daemon stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("daemon did not stop")
	}
	h.stopped = true
	h.checkNoLeaks()
	if link, err := netlink.LinkByName(h.cfg.Bridge); err == nil {
		_ = netlink.LinkDel(link)
	}
	// The netns directory is a mount point of its own (as ip netns makes
	// it), which the daemon leaves in place.
	_ = unix.Unmount(filepath.Join(h.cfg.RunDir, "netns"), unix.MNT_DETACH)
	if t.Failed() {
		t.Logf("daemon log:\n%s", h.log.String())
	}
}

// checkNoLeaks fails the test when anything of the pods is left: a pod
// record, or whatever setlet doctor (asked of the daemon, or run on its
// state once it has stopped) finds (a container or snapshot in
// containerd, a network namespace file or mount, an IP allocation, even
// one only worth a warning), an iptables rule or a containerd shim.
func (h *harness) checkNoLeaks() {
	t := h.t
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	doctor := h.client.Doctor
	if h.stopped {
		doctor = func(ctx context.Context) (api.DoctorReport, error) { return daemon.Doctor(ctx, h.cfg) }
	}
	report, err := doctor(ctx)
	if err != nil {
		t.Errorf("checking for leaks: %v", err)
	}
	if report.Pods > 0 {
		t.Errorf("pods left in the state file: %d", report.Pods)
	}
	for _, c := range report.Checks {
		for _, p := range append(c.Problems, c.Warnings...) {
			t.Errorf("left behind (%s): %s", c.Name, p)
		}
	}
	for _, table := range []string{"nat", "filter"} {
		out, err := exec.Command("iptables", "-t", table, "-S").Output()
		if err != nil {
			t.Errorf("iptables -t %s -S: %v", table, err)
		}
		for _, rule := range lines(string(out)) {
			// Rules carry the network in a comment: "name: \"setlet-slit3\" id: ...".
			if strings.Contains(rule, `"setlet-`+h.cfg.Bridge+`\"`) {
				t.Errorf("iptables rule left: %s", rule)
			}
		}
	}
	if shims := shimsOf(t, h.cfg.Containerd, h.cfg.ContainerdNamespace, 10*time.Second); len(shims) > 0 {
		t.Errorf("containerd shims left for namespace %s: %+v", h.cfg.ContainerdNamespace, shims)
	}
}

// apply applies manifest (YAML) and fails the test on any problem.
func (h *harness) apply(manifest string) {
	h.t.Helper()
	if _, err := h.client.Apply(context.Background(), api.ApplyRequest{Sources: []api.Source{{Name: "test.yaml", Data: []byte(manifest)}}}); err != nil {
		h.t.Fatalf("apply: %v", err)
	}
}

// waitPods watches the pods of namespace ns until cond, given the pods as
// they now are by name, holds; it fails the test when ctx ends first. It
// returns every watch event seen, in order.
func (h *harness) waitPods(ctx context.Context, ns string, cond func(map[string]*corev1.Pod) bool) []podEvent {
	h.t.Helper()
	seen, err := h.awaitPods(ctx, ns, cond)
	if err != nil {
		h.t.Fatal(err)
	}
	return seen
}

// awaitPods is waitPods returning its failure, for stop, which must go on
// to stop the daemon and clean up.
func (h *harness) awaitPods(ctx context.Context, ns string, cond func(map[string]*corev1.Pod) bool) ([]podEvent, error) {
	var seen []podEvent
	pods := map[string]*corev1.Pod{}
	listed := false // the initial events are all in: cond may be asked
	errDone := fmt.Errorf("condition met")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := h.client.WatchBookmarked(ctx, "pods", ns, func(ev api.RawWatchEvent) error {
		if ev.Type == api.Bookmark {
			listed = true
			if cond(pods) {
				return errDone
			}
			return nil
		}
		var pod corev1.Pod
		if err := json.Unmarshal(ev.Object, &pod); err != nil {
			return err
		}
		seen = append(seen, podEvent{Type: ev.Type, Pod: pod, At: time.Now()})
		if ev.Type == "DELETED" {
			delete(pods, pod.Name)
		} else {
			p := pod
			pods[pod.Name] = &p
		}
		if listed && cond(pods) {
			return errDone
		}
		return nil
	})
	if err == errDone {
		return seen, nil
	}
	if err == nil {
		err = ctx.Err()
	}
	names := []string{}
	for name, p := range pods {
		names = append(names, fmt.Sprintf("%s(%s ready=%v restarts=%d deleting=%v)", name, p.Status.Phase, isReady(p), restarts(p), p.DeletionTimestamp != nil))
	}
	return seen, fmt.Errorf("waiting for pods: %w; pods now: %v", err, names)
}

// podEvent is one event of a pod watch.
type podEvent struct {
	Type string
	Pod  corev1.Pod
	At   time.Time
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	return n
}

// allReady says every pod of names is Running and Ready, and no other pod
// exists.
func allReady(names ...string) func(map[string]*corev1.Pod) bool {
	return func(pods map[string]*corev1.Pod) bool {
		if len(pods) != len(names) {
			return false
		}
		for _, n := range names {
			p, ok := pods[n]
			if !ok || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || !isReady(p) {
				return false
			}
		}
		return true
	}
}

// exec runs cmd in pod and returns its output and exit code.
func (h *harness) exec(pod string, cmd ...string) (string, int) {
	h.t.Helper()
	var out strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code, err := h.client.Exec(ctx, "default", pod, api.ExecOptions{Command: cmd}, nil, &out, &out, nil)
	if err != nil {
		h.t.Fatalf("exec %v in %s: %v", cmd, pod, err)
	}
	return out.String(), code
}

// events returns the events of namespace default, oldest first.
func (h *harness) events() []corev1.Event {
	h.t.Helper()
	evs, err := h.client.Events(context.Background(), "default", "", "")
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
}

// eventIndex returns the position of the first event whose message
// contains text, or -1.
func eventIndex(evs []corev1.Event, text string) int {
	for i, e := range evs {
		if strings.Contains(e.Message, text) {
			return i
		}
	}
	return -1
}

// syncBuffer is a goroutine-safe log buffer.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the non-empty lines of s.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// shimsOf returns the containerd shims of containerd at address and
// namespace ns that are still there after waiting up to wait for them to
// exit (a shim exits shortly after its last container is deleted).
func shimsOf(t *testing.T, address, ns string, wait time.Duration) []runtime.Shim {
	t.Helper()
	shims, err := runtime.ListShims(address, ns)
	if err != nil {
		t.Errorf("listing containerd shims: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var left []runtime.Shim
	for _, s := range shims {
		if proc.WaitExit(ctx, s.PID) != nil {
			left = append(left, s)
		}
	}
	return left
}

// loopbackDNS returns the address among addrs (the daemon's DNS listeners)
// on 127.0.0.1, where the tests query it.
func loopbackDNS(t *testing.T, addrs []string) string {
	t.Helper()
	for _, a := range addrs {
		if strings.HasPrefix(a, "127.0.0.1:") {
			return a
		}
	}
	t.Fatalf("DNS listens on %v, not on 127.0.0.1", addrs)
	return ""
}
