package runtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	containerd "github.com/containerd/containerd"
	cerrdefs "github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/identifiers"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// DefaultNamespace is the containerd namespace a Client works in unless
// WithNamespace says otherwise.
const DefaultNamespace = "setlet"

// LabelInstance is the container label that names the setlet instance
// (WithInstance) a container belongs to.
const LabelInstance = "setlet.io/instance"

// Labels under labelPrefix belong to runtime itself: it writes them on the
// containers it creates and hides them from ContainerStatus.Labels. The
// daemon must not use this prefix.
const labelPrefix = "runtime.setlet.io/"

const (
	labelLogPath   = labelPrefix + "log-path"   // ContainerConfig.LogPath
	labelStartedAt = labelPrefix + "started-at" // RFC 3339 time of the last start request
	labelTTY       = labelPrefix + "tty"        // "true" when the container has a terminal
	labelStdin     = labelPrefix + "stdin"      // "true" when the container keeps stdin open
)

// connectTimeout bounds how long New waits for containerd to answer.
const connectTimeout = 5 * time.Second

// Client is setlet's connection to containerd, scoped to one containerd
// namespace and one setlet instance. It is safe for concurrent use; Close
// releases it.
type Client struct {
	cd       *containerd.Client
	address  string
	ns       string
	instance string
	fifoDir  string
	log      *slog.Logger
	// shimGrace is how long Strays lets a shim without a task exit.
	shimGrace time.Duration
	host      hostInfo

	locks keyedMutex // serializes task changes per container ID

	mu       sync.Mutex
	attached map[string]*attachment // container ID -> log copying of its task
	closed   bool
}

// Opt configures a Client in New.
type Opt func(*options)

type options struct {
	namespace string
	instance  string
	fifoDir   string
	logger    *slog.Logger
	shimGrace time.Duration
}

// WithNamespace sets the containerd namespace (default DefaultNamespace).
func WithNamespace(ns string) Opt { return func(o *options) { o.namespace = ns } }

// WithInstance sets the setlet instance ID that the Client writes as label
// LabelInstance on every container it creates; Containers, Subscribe and
// every per-container method only see containers carrying this value, so
// two daemons can share a namespace. Required.
func WithInstance(id string) Opt { return func(o *options) { o.instance = id } }

// WithFIFODir sets the directory that holds the stdio FIFOs of tasks and
// exec processes. It must survive a daemon restart (the daemon passes
// <run-dir>/fifo) so that Attach finds the FIFOs again. Required.
func WithFIFODir(dir string) Opt { return func(o *options) { o.fifoDir = dir } }

// WithLogger sets the logger for problems the Client cannot return, such as
// a failed write to a container log (default: discard).
func WithLogger(l *slog.Logger) Opt { return func(o *options) { o.logger = l } }

// WithShimExitGrace sets how long Strays gives a shim that serves no task
// to exit before it reports it leaked (default DefaultShimExitGrace).
func WithShimExitGrace(d time.Duration) Opt { return func(o *options) { o.shimGrace = d } }

// New connects to containerd at address (a unix socket path, with or
// without "unix://"). It fails with an errdefs.ErrUnavailable-wrapped error
// naming the socket when containerd does not answer within a few seconds,
// and with an errdefs.ErrInvalidArgument-wrapped error when a required
// option is missing.
func New(ctx context.Context, address string, opts ...Opt) (*Client, error) {
	o := options{namespace: DefaultNamespace, shimGrace: DefaultShimExitGrace}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.instance == "":
		return nil, fmt.Errorf("runtime client: no instance ID (WithInstance): %w", errdefs.ErrInvalidArgument)
	case o.fifoDir == "":
		return nil, fmt.Errorf("runtime client: no FIFO directory (WithFIFODir): %w", errdefs.ErrInvalidArgument)
	case o.namespace == "":
		return nil, fmt.Errorf("runtime client: empty containerd namespace: %w", errdefs.ErrInvalidArgument)
	}
	if err := identifiers.Validate(o.namespace); err != nil {
		return nil, fmt.Errorf("runtime client: namespace %q: %w", o.namespace, err)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	fifoDir, err := filepath.Abs(o.fifoDir)
	if err != nil {
		return nil, fmt.Errorf("runtime client: FIFO directory %q: %w", o.fifoDir, errdefs.ErrInvalidArgument)
	}
	if _, err := os.Stat(strings.TrimPrefix(address, "unix://")); err != nil {
		return nil, fmt.Errorf("containerd is not reachable at %s (is it running?): %w: %w", address, errdefs.ErrUnavailable, err)
	}
	cd, err := containerd.New(address, containerd.WithTimeout(connectTimeout))
	if err != nil {
		return nil, fmt.Errorf("containerd is not reachable at %s: %w: %w", address, errdefs.ErrUnavailable, err)
	}
	c := &Client{
		cd:        cd,
		address:   address,
		ns:        o.namespace,
		instance:  o.instance,
		fifoDir:   fifoDir,
		shimGrace: o.shimGrace,
		log:       o.logger,
		host:      detectHost(),
		attached:  make(map[string]*attachment),
	}
	vctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if _, err := c.Version(vctx); err != nil {
		cd.Close()
		return nil, fmt.Errorf("containerd is not reachable at %s: %w: %w", address, errdefs.ErrUnavailable, err)
	}
	return c, nil
}

// Close stops copying the logs of every task this Client attached to
// (leaving the tasks running and their FIFOs in place for a later Attach)
// and closes the connection to containerd. It is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	atts := make([]*attachment, 0, len(c.attached))
	for _, a := range c.attached {
		atts = append(atts, a)
	}
	c.mu.Unlock()
	for _, a := range atts {
		a.stop(0)
	}
	if err := c.cd.Close(); err != nil {
		return fmt.Errorf("closing the containerd connection: %w", err)
	}
	return nil
}

// Version returns the version of the containerd server, such as
// "1.6.20~ds1".
func (c *Client) Version(ctx context.Context) (string, error) {
	v, err := c.cd.Version(c.nsCtx(ctx))
	if err != nil {
		return "", fmt.Errorf("asking containerd at %s for its version: %w", c.address, cerrdefs.FromGRPC(err))
	}
	return v.Version, nil
}

// nsCtx returns ctx scoped to the Client's containerd namespace.
func (c *Client) nsCtx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, c.ns)
}

// containerFIFODir is the directory of the FIFOs of container id's task and
// exec processes.
func (c *Client) containerFIFODir(id string) string {
	return filepath.Join(c.fifoDir, c.ns, id)
}

// errClosed is returned by methods called after Close.
var errClosed = fmt.Errorf("runtime client is closed: %w", errdefs.ErrUnavailable)

// hostInfo holds the facts about the host that the OCI spec depends on,
// read once in New so that building a spec stays a pure function.
type hostInfo struct {
	cgroup2 bool // the unified cgroup hierarchy is mounted at /sys/fs/cgroup
	swap    bool // cgroup v1 memory+swap accounting is available
}

func detectHost() hostInfo {
	var h hostInfo
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		h.cgroup2 = true
	}
	if !h.cgroup2 {
		_, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
		h.swap = err == nil
	}
	return h
}

// keyedMutex is a set of mutexes, one per key, created on demand.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

// lock locks key and returns the function that unlocks it.
func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyedEntry)
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
