package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/daemon/api"
	"github.com/setlet/setlet/dns"
	"github.com/setlet/setlet/network"
	"github.com/setlet/setlet/runtime"
	"github.com/setlet/setlet/storage"
)

// kubernetesClusterDomain is the domain of the Kubernetes names the DNS
// server also serves (<pod>.<service>.<ns>.svc.cluster.local), kubelet's
// default, so that software written for a cluster finds its peers.
const kubernetesClusterDomain = "cluster.local"

// hostResolvConf is the host's resolver configuration: the upstreams of
// the DNS server and the resolvers of dnsPolicy Default pods.
const hostResolvConf = "/etc/resolv.conf"

// Version is the daemon's version, set at build time like cli.Version.
var Version = "dev"

// Compile-time checks that the real components fit the daemon's
// boundaries.
var (
	_ imageService     = (*runtime.Client)(nil)
	_ containerService = (*runtime.Client)(nil)
	_ execService      = (*runtime.Client)(nil)
	_ eventSource      = (*runtime.Client)(nil)
	_ podNetwork       = (*network.Manager)(nil)
)

// Daemon is a running setlet daemon: the state file, the controller, the
// kubelet side and the API server, wired together.
type Daemon struct {
	cfg        configs.DaemonConfig
	log        *slog.Logger
	clock      clock
	store      *storage.Store
	rt         *runtime.Client
	net        *network.Manager
	images     imageService
	hub        *hub
	events     *recorder
	controller *controller
	kubelet    *kubelet
	probes     *probeManager
	dns        *dns.Server
	metrics    *metrics // nil without --metrics-listen
	health     *daemonHealth
	started    time.Time

	ctx  context.Context
	done chan struct{}
}

// instanceID names this daemon's containers in containerd: a hash of its
// data directory, so that two daemons sharing a containerd namespace never
// touch each other's containers, and a restarted daemon finds its own.
func instanceID(dataDir string) string {
	sum := sha256.Sum256([]byte(filepath.Clean(dataDir)))
	return hex.EncodeToString(sum[:6])
}

// Option changes how Run runs the daemon.
type Option func(*options)

type options struct {
	ready    func()
	reload   *Reload
	notify   func(state string) // nil: systemd's $NOTIFY_SOCKET
	watchdog time.Duration      // with notify: the watchdog interval
}

// WithReady has Run call ready once the state is recovered and the API
// serves, when it also sends systemd READY=1 (tests wait for it).
func WithReady(ready func()) Option { return func(o *options) { o.ready = ready } }

// Run starts the daemon with cfg and serves until ctx ends, then stops the
// API and the loops. Containers keep running when the daemon stops: the
// next start adopts them. Run returns an error when the daemon cannot start
// (state file held by another daemon, containerd unreachable, a network
// plugin missing, the socket in use) or stops abnormally.
func Run(ctx context.Context, cfg configs.DaemonConfig, log *slog.Logger, opts ...Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	cfg.Complete()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	for _, dir := range []string{cfg.DataDir, cfg.RunDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	store, err := storage.Open(stateFile(cfg), storage.WithVolumeDir(volumeDir(cfg)))
	if err != nil {
		return err
	}
	defer store.Close()

	rt, err := runtime.New(ctx, cfg.Containerd, append(runtimeOpts(cfg), runtime.WithLogger(log.With("component", "runtime")))...)
	if err != nil {
		return err
	}
	defer rt.Close()

	pnet, err := network.New(networkConfig(cfg), log.With("component", "network"))
	if err != nil {
		return err
	}

	d := &Daemon{
		cfg: cfg, log: log, clock: realClock{}, store: store, rt: rt, net: pnet, images: rt,
		hub: newHub(), done: make(chan struct{}), started: time.Now(),
	}
	d.events = &recorder{store: store, clock: d.clock, hub: d.hub, log: log}

	// The DNS server: on the bridge gateway's port 53 for the pods, and on
	// each --dns-listen address.
	dnsAddrs := slices.Clone(cfg.DNSListen)
	var dnsServer string
	if gw, ok := netip.AddrFromSlice(pnet.Gateway()); ok {
		dnsServer = gw.Unmap().String()
		dnsAddrs = append([]string{netip.AddrPortFrom(gw.Unmap(), 53).String()}, dnsAddrs...)
	}
	var own []netip.Addr
	for _, a := range dnsAddrs {
		if ap, err := netip.ParseAddrPort(a); err == nil {
			own = append(own, ap.Addr())
		}
	}
	subnet, _ := netip.ParsePrefix(cfg.Subnet)
	dnsLog := log.With("component", "dns")
	d.dns = dns.NewServer(dns.Config{
		Zone: cfg.ClusterDomain, ClusterDomain: kubernetesClusterDomain, TTL: cfg.DNSTTL.Duration,
		Upstreams:  dnsUpstreams(cfg, hostResolvConf, own),
		MayForward: mayForward(subnet.Masked()),
		Logf:       func(format string, args ...any) { dnsLog.Warn(fmt.Sprintf(format, args...)) },
	})
	defer d.dns.Close()

	d.kubelet = newKubelet(kubeletConfig{
		RunDir: cfg.RunDir, DataDir: cfg.DataDir, ClusterDomain: kubernetesClusterDomain, Zone: cfg.ClusterDomain,
		HostResolvConf: hostResolvConf, DNSServer: dnsServer, Workers: 8,
	}, store, d.clock, log.With("component", "kubelet"), d.events, d.hub, rt, rt, rt, pnet)
	d.probes = newProbeManager(d.clock, probeExec{rt}, d.kubelet.onProbe, 8)
	d.kubelet.probes = d.probes
	d.health = newHealth(d.clock, log.With("component", "health"), d.events)
	d.kubelet.health = d.health
	d.kubelet.first = &firstPass{log: log}
	d.controller = newController(store, d.clock, log.With("component", "controller"), d.events, d.hub, d.kubelet)
	d.kubelet.sets = d.controller

	// Metrics only with --metrics-listen: nothing listens otherwise. The
	// hooks are in place before recovery starts probes and passes.
	stopMetrics, err := d.startMetrics(cfg.MetricsListen, func() bool { up, _, _ := d.health.containerdUp(); return up })
	if err != nil {
		return err
	}
	defer stopMetrics()

	// DNS records follow the state: the hook is in place before anything
	// is published, and the full sync after recovery covers what was.
	records := newDNSSync(store, d.dns, d.events, dnsLog)
	d.hub.hook(records.onChange)
	settle := &quiet{clock: d.clock, after: 30 * time.Second, fn: releaseStartupCode}
	d.hub.hook(func(c change) {
		if c.Kind == "Pod" || c.Kind == configs.KindStatefulSet {
			settle.poke()
		}
	})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.ctx = ctx

	if err := d.recoverState(ctx); err != nil {
		return fmt.Errorf("recovering state: %w", err)
	}
	if err := records.resync(); err != nil {
		return fmt.Errorf("loading DNS records: %w", err)
	}
	// Images first: the manifests' pods may need them.
	if configs.DirOn(cfg.ImageDir) {
		dir := &imageDir{seen: map[string]fileStamp{}}
		if _, err := d.watchDir(ctx, "image directory", cfg.ImageDir, imageArchive, imageDebounce, func() error { return d.syncImages(dir) }); err != nil {
			return err
		}
	}
	rescan := func() {}
	if configs.DirOn(cfg.ManifestDir) {
		if rescan, err = d.watchManifests(ctx); err != nil {
			return err
		}
	}
	for _, a := range dnsAddrs {
		if err := d.dns.ListenAndServe(ctx, a); err != nil {
			return fmt.Errorf("DNS server on %s: %w", a, err)
		}
	}

	l, err := listen(cfg.Socket)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: d.routes(), ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()

	loops := make(chan struct{})
	go func() {
		defer close(loops)
		go d.kubelet.watchEvents(ctx, rt)
		go d.controller.run(ctx)
		d.kubelet.run(ctx)
	}()
	log.Info("setlet daemon ready", "socket", cfg.Socket, "dns", d.dns.Addrs(), "containerd", cfg.Containerd, "network", pnet.NetworkName(), "version", Version)
	notify, watchdog := o.notify, o.watchdog
	if notify == nil {
		notify = sdNotify(log)
		if watchdog, err = sd.SdWatchdogEnabled(false); err != nil {
			log.Warn("systemd watchdog settings", "err", err)
		}
	}
	notify(sd.SdNotifyReady)
	if watchdog > 0 {
		go runWatchdog(ctx, watchdog, notify, d.controller.queue, d.kubelet.queue)
	}
	if o.reload != nil {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-o.reload.Signals:
					notify(sd.SdNotifyReloading)
					d.reload(o.reload.Load)
					rescan()
					notify(sd.SdNotifyReady)
				}
			}
		}()
	}
	if o.ready != nil {
		o.ready()
	}
	// Give back the code pages start-up touched, now and once the work
	// that follows (adopting or starting pods) has been quiet for 30 s.
	releaseStartupCode()
	settle.poke()
	defer settle.stop()

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("API server: %w", err)
	}
	notify(sd.SdNotifyStopping)
	close(d.done)
	shutdown, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	_ = srv.Shutdown(shutdown)
	cancel()
	<-loops
	d.probes.close()
	_ = os.Remove(cfg.Socket)
	log.Info("setlet daemon stopped; containers keep running")
	if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	return runErr
}

// The parts of the daemon cfg configures, as Run opens them and Doctor
// opens them again while no daemon runs.

func stateFile(cfg configs.DaemonConfig) string { return filepath.Join(cfg.DataDir, "state.db") }

func volumeDir(cfg configs.DaemonConfig) string { return filepath.Join(cfg.DataDir, "volumes") }

func runtimeOpts(cfg configs.DaemonConfig) []runtime.Opt {
	return []runtime.Opt{
		runtime.WithNamespace(cfg.ContainerdNamespace),
		runtime.WithInstance(instanceID(cfg.DataDir)),
		runtime.WithFIFODir(filepath.Join(cfg.RunDir, "fifo")),
	}
}

func networkConfig(cfg configs.DaemonConfig) network.Config {
	return network.Config{
		Bridge: cfg.Bridge, Subnet: cfg.Subnet, BinDirs: cfg.CNIBinDirs, ConfDir: cfg.CNIConfDir,
		NetnsDir: filepath.Join(cfg.RunDir, "netns"), DataDir: filepath.Join(cfg.DataDir, "cni"),
	}
}

// quiet calls fn once nothing has poked it for after: each poke
// restarts the wait.
type quiet struct {
	clock clock
	after time.Duration
	fn    func()

	mu      sync.Mutex
	pending timer
	stopped bool
}

func (q *quiet) poke() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return
	}
	if q.pending != nil {
		q.pending.Stop()
	}
	q.pending = q.clock.AfterFunc(q.after, q.fn)
}

func (q *quiet) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped = true
	if q.pending != nil {
		q.pending.Stop()
	}
}

// versionInfo answers GET /v1/version.
func (d *Daemon) versionInfo(ctx context.Context) api.VersionInfo {
	v := api.VersionInfo{Version: Version, Namespace: d.cfg.ContainerdNamespace, Network: d.net.NetworkName()}
	for _, a := range d.dns.Addrs() {
		v.DNS = append(v.DNS, a.String())
	}
	if cv, err := d.rt.Version(ctx); err == nil {
		v.Containerd = cv
	}
	return v
}
