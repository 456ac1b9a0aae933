package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/version"
)

// Manager attaches pods to one CNI network. It is safe for concurrent use
// by many pods at once: calls for the same pod name are serialised, calls
// for different pods run in parallel, plugins included. Nothing else needs
// a lock: host-local locks its own allocation directory, libcni keeps one
// cache file per attachment, and the plugins serialise their own iptables
// changes (TestCycles runs five pods at a time).
type Manager struct {
	cfg Config
	log *slog.Logger
	net *network
	cni *libcni.CNIConfig

	pods podLocks

	dirMu    sync.Mutex
	dirReady bool // NetnsDir exists and is a shared mount point
}

// New validates cfg, builds the default conflist or loads the user's from
// cfg.ConfDir, and checks that every plugin it names (IPAM included) is in
// cfg.BinDirs and speaks its CNI version. A missing plugin is an error of
// class NotFound naming it, the directories searched and the Debian package
// containernetworking-plugins; a plugin that does not speak the conflist's
// CNI version is FailedPrecondition; a bad config or conflist is
// InvalidArgument. New runs each plugin's VERSION command but creates
// nothing on the host: the netns directory, the bridge and the state
// directories appear with the first Setup. log may be nil.
func New(cfg Config, log *slog.Logger) (*Manager, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("network config: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n, err := loadNetwork(cfg)
	if err != nil {
		return nil, fmt.Errorf("network config: %w", err)
	}
	exec := &invoke.DefaultExec{
		RawExec:       &invoke.RawExec{Stderr: pluginStderr{log: log}},
		PluginDecoder: version.PluginDecoder{},
	}
	cni := libcni.NewCNIConfigWithCacheDir(cfg.BinDirs, filepath.Join(cfg.DataDir, "cache"), exec)
	if err := n.checkPlugins(cni); err != nil {
		return nil, err
	}
	log.Debug("CNI network ready", "network", n.list.Name, "conflist", n.describe(), "gateway", n.gateway)
	return &Manager{cfg: cfg, log: log, net: n, cni: cni}, nil
}

// NetworkName is the name of the conflist in use. The default one is
// "setlet-<bridge>", so two daemons with different bridges never share
// IPAM state or iptables chains.
func (m *Manager) NetworkName() string { return m.net.list.Name }

// Gateway is the pods' gateway address: for the default conflist the
// bridge's address, the first host of the subnet; for a user conflist the
// gateway its first IPv4 host-local range names (or that range's first
// host, host-local's default), or nil when it has no such range.
func (m *Manager) Gateway() net.IP { return slices.Clone(m.net.gateway) }

// Setup creates pod a.Pod's network namespace at <NetnsDir>/<a.Pod> if it
// is missing and attaches it to the network (CNI ADD), and returns its IP.
//
// Setup is idempotent and crash-safe. Called again for the same attachment
// (same ID), after a crash or by a second reconcile, it returns the
// address libcni cached at ADD without allocating another, once it has
// checked that the pod's eth0 still carries it and that the plugins' CHECK
// passes. An attachment that does not check out (eth0 deleted, rules
// flushed, a namespace recreated after a reboot) is detached and attached
// again, which may change its IP. What an ADD cut short left behind is
// deleted before ADD runs again, and a failed ADD is undone with DEL.
//
// A namespace file that belongs to a different ID (an earlier incarnation
// of the pod) is an error of class Conflict: the caller tears that
// attachment down first. An invalid a is InvalidArgument. Setup waits for
// other calls for the same pod, or until ctx ends.
func (m *Manager) Setup(ctx context.Context, a Attachment) (Result, error) {
	a, err := a.normalise(true, true)
	if err != nil {
		return Result{}, err
	}
	unlock, err := m.pods.lock(ctx, a.Pod)
	if err != nil {
		return Result{}, fmt.Errorf("pod %q: waiting for its other network changes: %w", a.Pod, err)
	}
	defer unlock()
	path, created, err := m.ensurePodNetns(a)
	if err != nil {
		return Result{}, fmt.Errorf("pod %q: %w", a.Pod, err)
	}
	r, err := m.attach(ctx, runtimeConf(a, path), created && !m.mayHaveAllocation(a.ID))
	if err != nil {
		return Result{}, fmt.Errorf("pod %q attachment %q: %w", a.Pod, a.ID, err)
	}
	ipc := sandboxIP(r, ifName)
	if ipc == nil {
		return Result{}, fmt.Errorf("pod %q attachment %q: network %q gave %s no address: %w",
			a.Pod, a.ID, m.net.list.Name, ifName, errdefs.ErrFailedPrecondition)
	}
	gw := ipc.Gateway
	if gw == nil {
		gw = m.Gateway()
	}
	return Result{NetNS: path, IP: canonicalIP(ipc.Address.IP), Gateway: canonicalIP(gw)}, nil
}

// ensurePodNetns makes sure a.Pod's namespace exists and is a's, and
// returns its path and whether this call created it.
func (m *Manager) ensurePodNetns(a Attachment) (string, bool, error) {
	if err := m.ensureNetnsDir(); err != nil {
		return "", false, err
	}
	st, err := m.inspect(a.Pod)
	if err != nil {
		return "", false, err
	}
	if st.mounted {
		switch st.owner {
		case a.ID:
			return st.path, false, nil
		case "":
			return "", false, fmt.Errorf("network namespace %s has no owner record (Teardown with an empty ID removes it): %w",
				st.path, errdefs.ErrConflict)
		default:
			return "", false, fmt.Errorf("network namespace %s belongs to attachment %q, an earlier incarnation: tear that one down first: %w",
				st.path, st.owner, errdefs.ErrConflict)
		}
	}
	if err := m.writeOwner(a.Pod, a.ID); err != nil {
		return "", false, err
	}
	if err := createNetns(st.path); err != nil {
		return "", false, err
	}
	m.log.Debug("created pod network namespace", "pod", a.Pod, "id", a.ID, "netns", st.path)
	return st.path, true, nil
}

// mayHaveAllocation reports whether an earlier ADD for id may have left an
// IP allocation behind: with host-local, whether one of its allocation
// files names id; with another IPAM, always (it cannot be checked).
func (m *Manager) mayHaveAllocation(id string) bool {
	if m.net.ipamDir == "" {
		return true
	}
	entries, err := os.ReadDir(m.net.ipamDir)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		return true
	}
	for _, e := range entries {
		if e.IsDir() || net.ParseIP(e.Name()) == nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(m.net.ipamDir, e.Name()))
		if err != nil {
			return true
		}
		if owner, _, _ := strings.Cut(string(data), "\n"); strings.TrimSpace(owner) == id {
			return true
		}
	}
	return false
}

// ensureNetnsDir prepares NetnsDir once per Manager.
func (m *Manager) ensureNetnsDir() error {
	m.dirMu.Lock()
	defer m.dirMu.Unlock()
	if m.dirReady {
		return nil
	}
	if err := ensureNetnsDir(m.cfg.NetnsDir); err != nil {
		return err
	}
	m.dirReady = true
	return nil
}

// Teardown detaches the attachment (CNI DEL, with the conflist and port
// mappings cached at ADD) and removes the pod's network namespace and its
// owner record.
//
// Teardown is idempotent and crash-safe: it succeeds when DEL was already
// done, when nothing exists at all, and when the namespace file is gone
// (after a reboot /run is empty): DEL still releases the host-local IP and
// the portmap rules, and, when the namespace vanished without a reboot,
// the bridge's masquerade rules too (see the package Caveats).
//
// A namespace that belongs to another attachment (a later incarnation) is
// left alone; only a.ID's own IP and rules are released. With a.Pod empty,
// the pod name cached at ADD is used, so Teardown(Attachment{ID: id})
// cleans up an attachment found by Attachments. With a.ID empty, Teardown
// tears down whichever attachment owns a.Pod's namespace and removes it,
// for namespaces found by Namespaces that the caller does not know. Ports
// and Namespace matter only when nothing is cached. Teardown waits for
// other calls for the same pod, or until ctx ends.
func (m *Manager) Teardown(ctx context.Context, a Attachment) error {
	a, err := a.normalise(false, false)
	if err != nil {
		return err
	}
	if a.ID == "" && a.Pod == "" {
		return fmt.Errorf("teardown needs an attachment ID or a pod name: %w", errdefs.ErrInvalidArgument)
	}
	if a.Pod == "" {
		a.Pod = m.cachedPod(a.ID)
	}
	var st podNetns
	if a.Pod != "" {
		unlock, err := m.pods.lock(ctx, a.Pod)
		if err != nil {
			return fmt.Errorf("pod %q: waiting for its other network changes: %w", a.Pod, err)
		}
		defer unlock()
		if st, err = m.inspect(a.Pod); err != nil {
			return fmt.Errorf("pod %q: %w", a.Pod, err)
		}
		if a.ID == "" {
			a.ID = st.owner
		}
	}
	// The namespace and its owner record are a's to remove when the record
	// names a, or when neither a nor the record names anyone.
	own := a.Pod != "" && st.owner == a.ID
	if a.ID != "" {
		nsPath := ""
		if own && st.mounted {
			nsPath = st.path
		}
		if err := m.detach(ctx, runtimeConf(a, nsPath)); err != nil {
			return fmt.Errorf("pod %q attachment %q: %w", a.Pod, a.ID, err)
		}
	}
	if !own {
		return nil
	}
	if err := removeNetns(st.path); err != nil {
		return fmt.Errorf("pod %q: %w", a.Pod, err)
	}
	if err := m.removeOwner(a.Pod); err != nil {
		return err
	}
	m.log.Debug("removed pod network namespace", "pod", a.Pod, "id", a.ID)
	return nil
}

// Namespaces lists, in name order, the pods that have a namespace file in
// NetnsDir, mounted or left empty by an interrupted Setup; the daemon
// tears down those it does not know (Teardown with an empty ID). Safe for
// concurrent use; it reads the directory only.
func (m *Manager) Namespaces() ([]string, error) {
	entries, err := os.ReadDir(m.cfg.NetnsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing network namespaces: %w", err)
	}
	var pods []string
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		pods = append(pods, e.Name())
	}
	return pods, nil
}

// Attachments lists, sorted, the CNI container IDs (attachment IDs) that
// have a cached ADD result for this network: those the caller does not
// know hold leaked IP allocations, which Teardown(Attachment{ID: id})
// releases. Safe for concurrent use; it reads libcni's cache only.
func (m *Manager) Attachments() ([]string, error) {
	atts, err := m.cni.GetCachedAttachments("")
	if err != nil {
		return nil, fmt.Errorf("listing cached CNI attachments: %w", err)
	}
	var ids []string
	for _, a := range atts {
		if a.Network == m.net.list.Name && !slices.Contains(ids, a.ContainerID) {
			ids = append(ids, a.ContainerID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Allocated lists, sorted, the IPs host-local has allocated in this
// network, read from its allocation directory. It is an error of class
// NotImplemented when the network's IPAM is not host-local. Safe for
// concurrent use; it reads the directory only.
func (m *Manager) Allocated() ([]net.IP, error) {
	if m.net.ipamDir == "" {
		return nil, fmt.Errorf("network %q does not use host-local IPAM: %w", m.net.list.Name, errdefs.ErrNotImplemented)
	}
	entries, err := os.ReadDir(m.net.ipamDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing host-local allocations: %w", err)
	}
	var ips []net.IP
	for _, e := range entries {
		if ip := net.ParseIP(e.Name()); ip != nil && !e.IsDir() {
			ips = append(ips, ip)
		}
	}
	slices.SortFunc(ips, func(a, b net.IP) int { return bytes.Compare(a.To16(), b.To16()) })
	return ips, nil
}

// canonicalIP returns IPv4 addresses in their 4-byte form.
func canonicalIP(ip net.IP) net.IP {
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip
}

// podLocks serialises the calls for one pod name, and lets a waiting call
// give up when its context ends.
type podLocks struct {
	mu    sync.Mutex
	locks map[string]*podLock
}

type podLock struct {
	held chan struct{} // holds one token while the pod is locked
	refs int           // calls holding or waiting for the lock
}

// lock locks pod, or returns ctx's error if it ends first. The returned
// function unlocks it.
func (l *podLocks) lock(ctx context.Context, pod string) (func(), error) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*podLock{}
	}
	pl := l.locks[pod]
	if pl == nil {
		pl = &podLock{held: make(chan struct{}, 1)}
		l.locks[pod] = pl
	}
	pl.refs++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		if pl.refs--; pl.refs == 0 {
			delete(l.locks, pod)
		}
		l.mu.Unlock()
	}
	select {
	case pl.held <- struct{}{}:
		return func() { <-pl.held; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
