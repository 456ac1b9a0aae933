package runtime_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/setlet/setlet/internal/busybox"
	"github.com/setlet/setlet/internal/testenv"
	"github.com/setlet/setlet/runtime"
)

func TestMain(m *testing.M) {
	if d := os.Getenv(fakeShimEnv); d != "" {
		beFakeShim(d)
		return
	}
	testenv.Main(m)
}

// timeout bounds every integration test's work against containerd.
const timeout = 2 * time.Minute

// env is one test's view of the private containerd: a namespace of its
// own, a raw containerd client to check what runtime did, and runtime
// clients.
type env struct {
	t    *testing.T
	addr string
	ns   string
	fifo string
	logs string
	cd   *containerd.Client
}

// newEnv gives the test its own containerd namespace, emptied (containers,
// tasks, images, snapshots) when the test ends.
func newEnv(t *testing.T) *env {
	t.Helper()
	addr := testenv.Containerd(t)
	cd, err := containerd.New(addr)
	if err != nil {
		t.Fatalf("connecting to the test containerd: %v", err)
	}
	e := &env{t: t, addr: addr, ns: nsName(t), fifo: t.TempDir(), logs: t.TempDir(), cd: cd}
	t.Cleanup(func() {
		e.cleanup()
		cd.Close()
	})
	return e
}

// nsName derives a containerd namespace from the test's name.
func nsName(t *testing.T) string {
	name := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-"))
	name = strings.Trim("test-"+name, "-")
	if len(name) > 60 {
		name = name[:60]
	}
	return name
}

func (e *env) ctx() context.Context { return namespaces.WithNamespace(context.Background(), e.ns) }

// client returns a runtime client of instance in the test's namespace,
// closed when the test ends.
func (e *env) client(instance string) *runtime.Client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := runtime.New(ctx, e.addr, runtime.WithNamespace(e.ns), runtime.WithInstance(instance), runtime.WithFIFODir(e.fifo))
	if err != nil {
		e.t.Fatalf("runtime.New: %v", err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// importBusybox imports the busybox test image through c.
func (e *env) importBusybox(c *runtime.Client) []runtime.Image {
	e.t.Helper()
	f, err := os.Open(testenv.BusyboxImage(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	imgs, err := c.ImportImages(ctx, f)
	if err != nil {
		e.t.Fatalf("ImportImages: %v", err)
	}
	return imgs
}

// cleanup removes everything of the test's namespace, whoever made it, and
// the namespace.
func (e *env) cleanup() {
	ctx, cancel := context.WithTimeout(e.ctx(), timeout)
	defer cancel()
	ctrs, err := e.cd.Containers(ctx)
	if err != nil {
		e.t.Errorf("cleanup: listing containers: %v", err)
	}
	for _, c := range ctrs {
		if task, err := c.Task(ctx, nil); err == nil {
			if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil {
				e.t.Errorf("cleanup: deleting task %s: %v", c.ID(), err)
			}
		}
		if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
			e.t.Errorf("cleanup: deleting container %s: %v", c.ID(), err)
		}
	}
	imgs, _ := e.cd.ImageService().List(ctx)
	for i, img := range imgs {
		var opts []images.DeleteOpt
		if i == len(imgs)-1 {
			opts = append(opts, images.SynchronousDelete()) // collect garbage once
		}
		if err := e.cd.ImageService().Delete(ctx, img.Name, opts...); err != nil {
			e.t.Errorf("cleanup: deleting image %s: %v", img.Name, err)
		}
	}
	if err := e.cd.NamespaceService().Delete(ctx, e.ns); err != nil && !errdefs.IsNotFound(err) {
		e.t.Logf("cleanup: deleting namespace %s: %v", e.ns, err)
	}
}

// config returns the config of a busybox container running cmd, logging
// to a file in the test's log directory.
func (e *env) config(id string, cmd ...string) runtime.ContainerConfig {
	return runtime.ContainerConfig{
		ID:      id,
		Image:   busybox.DefaultName,
		Labels:  map[string]string{"test": e.ns},
		Command: cmd,
		LogPath: filepath.Join(e.logs, id, "0.log"),
	}
}

// run creates and starts a container and returns its pid.
func (e *env) run(c *runtime.Client, cfg runtime.ContainerConfig) uint32 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.CreateContainer(ctx, cfg); err != nil {
		e.t.Fatalf("CreateContainer %s: %v", cfg.ID, err)
	}
	pid, err := c.StartContainer(ctx, cfg.ID)
	if err != nil {
		e.t.Fatalf("StartContainer %s: %v", cfg.ID, err)
	}
	if pid == 0 {
		e.t.Fatalf("StartContainer %s: pid 0", cfg.ID)
	}
	return pid
}

// subscribe subscribes to c's events until the test ends.
func subscribe(t *testing.T, c *runtime.Client) *events {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, errc := c.Subscribe(ctx)
	return &events{t: t, ch: ch, errc: errc}
}

type events struct {
	t    *testing.T
	ch   <-chan runtime.Event
	errc <-chan error
}

// next returns the next event, failing the test after a minute.
func (ev *events) next() runtime.Event {
	ev.t.Helper()
	select {
	case e, ok := <-ev.ch:
		if !ok {
			ev.t.Fatalf("event subscription ended: %v", <-ev.errc)
		}
		return e
	case <-time.After(time.Minute):
		ev.t.Fatal("no event within a minute")
	}
	return runtime.Event{}
}

// waitFor returns the first event of type typ for container id, skipping
// others.
func (ev *events) waitFor(id string, typ runtime.EventType) runtime.Event {
	ev.t.Helper()
	for {
		if e := ev.next(); e.ContainerID == id && e.Type == typ {
			return e
		}
	}
}

// notifyBuffer is a concurrency-safe buffer that tells when it changes.
type notifyBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newNotifyBuffer() *notifyBuffer { return &notifyBuffer{changed: make(chan struct{}, 1)} }

func (n *notifyBuffer) Write(p []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.b.Write(p)
	select {
	case n.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (n *notifyBuffer) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.b.String()
}

// waitLog follows the CRI log at path with ReadLogs until its text
// matches re, and returns the text.
func waitLog(t *testing.T, path string, re *regexp.Regexp) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	buf := newNotifyBuffer()
	errc := make(chan error, 1)
	go func() { errc <- runtime.ReadLogs(ctx, path, runtime.LogOptions{Tail: -1, Follow: true}, buf, nil) }()
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	for {
		if s := buf.String(); re.MatchString(s) {
			return s
		}
		select {
		case <-buf.changed:
		case err := <-errc:
			t.Fatalf("ReadLogs %s: %v", path, err)
		case <-deadline.C:
			t.Fatalf("log %s does not match %s after a minute: %q", path, re, buf.String())
		}
	}
}

// readLog returns the text of the CRI log at path.
func readLog(t *testing.T, path string) string {
	t.Helper()
	var b bytes.Buffer
	if err := runtime.ReadLogs(context.Background(), path, runtime.LogOptions{Tail: -1}, &b, nil); err != nil {
		t.Fatalf("ReadLogs %s: %v", path, err)
	}
	return b.String()
}

func ptr[T any](v T) *T { return &v }

func itoa(i int) string { return strconv.Itoa(i) }

func resourceQuantity(s string) resource.Quantity { return resource.MustParse(s) }

func chainID(diffIDs []digest.Digest) string { return identity.ChainID(diffIDs).String() }

func fmtStatus(s runtime.ContainerStatus) string {
	return fmt.Sprintf("%s state=%s pid=%d exit=%d reason=%q", s.ID, s.State, s.Pid, s.ExitCode, s.Reason)
}
