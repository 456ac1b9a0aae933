package network

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// cleanupTimeout bounds the DEL that undoes a failed ADD, which runs even
// when the caller's context has ended.
const cleanupTimeout = time.Minute

// needsStandIn reports whether a main plugin's DEL finds the pod's
// addresses on its interface, to remove the masquerade rules it added at
// ADD: when the pod's namespace is gone, its DEL runs in a stand-in one.
func needsStandIn(pluginType string) bool {
	return pluginType == "bridge" || pluginType == "ptp"
}

// portMapEntry is one entry of the portMappings capability, as portmap
// reads it from runtimeConfig: a PortMapping with JSON names.
type portMapEntry struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// runtimeConf is the libcni invocation for a, whose namespace is at nsPath
// ("" when it is gone or is not a's).
func runtimeConf(a Attachment, nsPath string) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{
		ContainerID: a.ID,
		NetNS:       nsPath,
		IfName:      ifName,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", a.Namespace},
			{"K8S_POD_NAME", a.Pod},
			{"K8S_POD_INFRA_CONTAINER_ID", a.ID},
		},
	}
	if len(a.Ports) > 0 {
		maps := make([]portMapEntry, len(a.Ports))
		for i, p := range a.Ports {
			maps[i] = portMapEntry(p)
		}
		rt.CapabilityArgs = map[string]any{"portMappings": maps}
	}
	return rt
}

// attach makes sure rt's attachment exists and works, and returns its
// result. A cached result that still checks out is returned as is, so a
// repeated call allocates nothing. Otherwise whatever an earlier attempt
// left (an ADD cut short before libcni cached its result, or an attachment
// that no longer checks out) is deleted first, so that ADD neither fails on
// an existing eth0 nor gets host-local to allocate this ID a second IP.
//
// fresh says that nothing of an earlier ADD of rt can exist (the namespace
// was just created, and the IPAM holds nothing for this ID): then the DEL
// that clears what a half-done ADD left is skipped, which saves a run of
// every plugin on each pod start.
func (m *Manager) attach(ctx context.Context, rt *libcni.RuntimeConf, fresh bool) (*types100.Result, error) {
	cached, err := m.cachedResult(m.net.list, rt)
	if err != nil {
		m.log.Warn("ignoring an unreadable cached CNI result", "id", rt.ContainerID, "err", err)
	}
	if cached != nil {
		err := m.verify(ctx, rt, cached)
		if err == nil {
			return cached, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("checking the cached attachment: %w", err)
		}
		m.log.Warn("pod network attachment does not check out; attaching it again", "id", rt.ContainerID, "netns", rt.NetNS, "err", err)
	}
	if cached != nil || !fresh {
		if err := m.detach(ctx, rt); err != nil {
			return nil, fmt.Errorf("removing what an earlier attachment left: %w", err)
		}
	}
	res, err := m.cni.AddNetworkList(ctx, m.net.list, rt)
	if err != nil {
		// CNI asks runtimes to DEL after a failed ADD: plugins that ran
		// may have allocated an IP or added rules.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if derr := m.detach(cctx, rt); derr != nil {
			return nil, fmt.Errorf("CNI ADD: %w; undoing it: %w", err, derr)
		}
		return nil, fmt.Errorf("CNI ADD: %w", err)
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("converting the CNI ADD result: %w", err)
	}
	m.log.Debug("attached pod network", "id", rt.ContainerID, "netns", rt.NetNS, "network", m.net.list.Name)
	return r, nil
}

// verify checks that the attachment cached is still in place: eth0 in the
// pod's namespace carries the cached address, and the plugins' CHECK
// passes.
func (m *Manager) verify(ctx context.Context, rt *libcni.RuntimeConf, cached *types100.Result) error {
	ipc := sandboxIP(cached, rt.IfName)
	if ipc == nil {
		return fmt.Errorf("the cached result gives %s no address: %w", rt.IfName, errdefs.ErrNotFound)
	}
	addrs, err := interfaceAddrs(rt.NetNS, rt.IfName)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(addrs, func(a net.IPNet) bool { return a.IP.Equal(ipc.Address.IP) }) {
		return fmt.Errorf("%s in %s does not carry %s: %w", rt.IfName, rt.NetNS, ipc.Address.IP, errdefs.ErrNotFound)
	}
	if err := m.cni.CheckNetworkList(ctx, m.net.list, rt); err != nil {
		return fmt.Errorf("CNI CHECK: %w", err)
	}
	return nil
}

// detach runs CNI DEL for rt's container ID, with the conflist and the
// arguments (port mappings included) cached at ADD when libcni has them,
// and with m's conflist and rt otherwise. rt.NetNS is the pod's namespace,
// or "" when it is gone or belongs to another attachment. Idempotent.
//
// When the pod's interface is gone (with its namespace, after a reboot or
// by hand) but the cached result says which addresses it had, the DEL of
// the plugins needsStandIn names would release the IP but not find their
// masquerade rules; so DEL runs first in a stand-in namespace whose eth0
// carries those addresses. After a reboot those rules are gone too, and
// Debian's bridge 1.1.1 fails to delete the missing chain (iptables-nft
// exits 2, which its go-iptables does not recognise as "does not exist");
// DEL then runs again without the stand-in, which succeeds.
func (m *Manager) detach(ctx context.Context, rt *libcni.RuntimeConf) error {
	list, rt := m.delConfig(rt)
	if addrs := m.standInAddrs(list, rt); len(addrs) > 0 {
		err := m.delThroughStandIn(ctx, list, rt, addrs)
		if err == nil {
			m.log.Debug("detached pod network through a stand-in namespace", "id", rt.ContainerID)
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("CNI DEL: %w", err)
		}
		m.log.Debug("CNI DEL through a stand-in namespace failed; deleting without it", "id", rt.ContainerID, "err", err)
	}
	if err := m.cni.DelNetworkList(ctx, list, rt); err != nil {
		return fmt.Errorf("CNI DEL: %w", err)
	}
	m.log.Debug("detached pod network", "id", rt.ContainerID, "netns", rt.NetNS)
	return nil
}

// delConfig returns the conflist and runtime arguments DEL should use for
// rt: the ones cached at ADD when there are, m's otherwise.
func (m *Manager) delConfig(rt *libcni.RuntimeConf) (*libcni.NetworkConfigList, *libcni.RuntimeConf) {
	data, cachedRt, err := m.cni.GetNetworkListCachedConfig(m.net.list, rt)
	if err != nil {
		m.log.Warn("ignoring an unreadable cached CNI config", "id", rt.ContainerID, "err", err)
		return m.net.list, rt
	}
	if data == nil || cachedRt == nil {
		return m.net.list, rt
	}
	list, err := libcni.NetworkConfFromBytes(data)
	if err != nil || list.Name != m.net.list.Name {
		m.log.Warn("ignoring an unusable cached CNI config", "id", rt.ContainerID, "err", err)
		return m.net.list, rt
	}
	return list, cachedRt
}

// standInAddrs returns the addresses a stand-in namespace must carry for
// DEL of rt to find them, or nil when DEL can run as it is: the main
// plugin does not need them, nothing is cached, or the pod's interface is
// still there.
func (m *Manager) standInAddrs(list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) []net.IPNet {
	if len(list.Plugins) == 0 || !needsStandIn(list.Plugins[0].Network.Type) {
		return nil
	}
	cached, err := m.cachedResult(list, rt)
	if err != nil || cached == nil {
		return nil
	}
	var addrs []net.IPNet
	for _, ipc := range sandboxIPs(cached, rt.IfName) {
		addrs = append(addrs, ipc.Address)
	}
	if len(addrs) == 0 {
		return nil
	}
	if rt.NetNS != "" {
		if _, err := interfaceAddrs(rt.NetNS, rt.IfName); !errdefs.IsNotFound(err) {
			return nil // the interface is there (or we cannot tell): plain DEL
		}
	}
	return addrs
}

// delThroughStandIn runs DEL of rt with a stand-in namespace carrying
// addrs on rt.IfName.
func (m *Manager) delThroughStandIn(ctx context.Context, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf, addrs []net.IPNet) error {
	ns, err := newStandIn(rt.IfName, addrs)
	if err != nil {
		return err
	}
	defer ns.Close()
	srt := *rt
	srt.NetNS = procPath(ns)
	return m.cni.DelNetworkList(ctx, list, &srt)
}

// cachedResult is libcni's cached ADD result for rt in list, or nil.
func (m *Manager) cachedResult(list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) (*types100.Result, error) {
	res, err := m.cni.GetNetworkListCachedResult(list, rt)
	if err != nil || res == nil {
		return nil, err
	}
	return types100.NewResultFromResult(res)
}

// cachedPod is the pod name cached for attachment id (K8S_POD_NAME of its
// ADD), or "" when libcni has no valid one.
func (m *Manager) cachedPod(id string) string {
	_, rt, err := m.cni.GetNetworkListCachedConfig(m.net.list, &libcni.RuntimeConf{ContainerID: id, IfName: ifName})
	if err != nil || rt == nil {
		return ""
	}
	for _, kv := range rt.Args {
		if kv[0] == "K8S_POD_NAME" && validPodName(kv[1]) == nil {
			return kv[1]
		}
	}
	return ""
}

// sandboxIPs are the addresses r gives the interface named ifName inside
// the pod's namespace (every address, when r lists no such interface).
func sandboxIPs(r *types100.Result, ifName string) []*types100.IPConfig {
	idx := -1
	for i, iface := range r.Interfaces {
		if iface != nil && iface.Sandbox != "" && iface.Name == ifName {
			idx = i
		}
	}
	var out []*types100.IPConfig
	for _, ipc := range r.IPs {
		if ipc == nil || (idx >= 0 && ipc.Interface != nil && *ipc.Interface != idx) {
			continue
		}
		out = append(out, ipc)
	}
	return out
}

// sandboxIP is the pod's address in r: its first IPv4 address on ifName,
// else its first address, else nil.
func sandboxIP(r *types100.Result, ifName string) *types100.IPConfig {
	ips := sandboxIPs(r, ifName)
	for _, ipc := range ips {
		if ipc.Address.IP.To4() != nil {
			return ipc
		}
	}
	if len(ips) > 0 {
		return ips[0]
	}
	return nil
}

// pluginStderr logs what CNI plugins write to their standard error.
type pluginStderr struct{ log *slog.Logger }

func (w pluginStderr) Write(p []byte) (int, error) {
	if s := strings.TrimSpace(string(p)); s != "" {
		w.log.Warn("CNI plugin wrote to stderr", "output", s)
	}
	return len(p), nil
}
