package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/utils"
)

const (
	// cniVersion is the spec version of the default conflist: the newest
	// that Debian 12's containernetworking-plugins (1.1.1) support.
	cniVersion = "1.0.0"
	// hostLocalDefaultDataDir is where host-local keeps its allocations
	// when its configuration names no dataDir.
	hostLocalDefaultDataDir = "/var/lib/cni/networks"
	// pluginsPackage is the Debian package that installs the CNI plugins.
	pluginsPackage = "containernetworking-plugins"
	// versionTimeout bounds the VERSION calls New makes to every plugin.
	versionTimeout = 10 * time.Second
)

// network is the conflist a Manager attaches pods with, and what it reads
// out of it.
type network struct {
	list *libcni.NetworkConfigList
	// source is the user conflist's path, or "" for the default one.
	source string
	// gateway is the pods' gateway, or nil when the IPAM does not say.
	gateway net.IP
	// ipamDir is host-local's directory of this network's allocations, or
	// "" when the IPAM is not host-local.
	ipamDir string
}

// hostLocal is the part of a host-local IPAM configuration the Manager
// reads, in both of its formats (ranges, or the older subnet and gateway).
type hostLocal struct {
	Type    string      `json:"type"`
	DataDir string      `json:"dataDir,omitempty"`
	Subnet  string      `json:"subnet,omitempty"`
	Gateway string      `json:"gateway,omitempty"`
	Ranges  [][]ipRange `json:"ranges,omitempty"`
	Routes  []route     `json:"routes,omitempty"`
}

type ipRange struct {
	Subnet  string `json:"subnet"`
	Gateway string `json:"gateway,omitempty"`
}

type route struct {
	Dst string `json:"dst"`
}

// loadNetwork returns the user's conflist when cfg.ConfDir holds one, and
// otherwise the default one built from cfg.
func loadNetwork(cfg Config) (*network, error) {
	if cfg.ConfDir != "" {
		files, err := libcni.ConfFiles(cfg.ConfDir, []string{".conflist"})
		if err != nil {
			return nil, fmt.Errorf("reading CNI configuration directory %s: %w", cfg.ConfDir, err)
		}
		slices.Sort(files)
		if len(files) > 0 {
			return loadUserNetwork(files[0])
		}
	}
	return defaultNetwork(cfg)
}

// defaultNetwork builds the default conflist: a bridge with host-local
// IPAM in cfg.DataDir, then portmap for host ports.
func defaultNetwork(cfg Config) (*network, error) {
	subnet, err := cfg.defaultSubnet()
	if err != nil {
		return nil, err
	}
	gateway := firstHost(subnet)
	type bridgePlugin struct {
		Type        string    `json:"type"`
		Bridge      string    `json:"bridge"`
		IsGateway   bool      `json:"isGateway"`
		IPMasq      bool      `json:"ipMasq"`
		HairpinMode bool      `json:"hairpinMode"`
		IPAM        hostLocal `json:"ipam"`
	}
	type portmapPlugin struct {
		Type         string          `json:"type"`
		Capabilities map[string]bool `json:"capabilities"`
	}
	ipam := hostLocal{
		Type:    "host-local",
		DataDir: filepath.Join(cfg.DataDir, "ipam"),
		Ranges:  [][]ipRange{{{Subnet: subnet.String(), Gateway: gateway.String()}}},
		Routes:  []route{{Dst: "0.0.0.0/0"}},
	}
	conf := struct {
		CNIVersion string `json:"cniVersion"`
		Name       string `json:"name"`
		Plugins    []any  `json:"plugins"`
	}{
		CNIVersion: cniVersion,
		Name:       "setlet-" + cfg.Bridge,
		Plugins: []any{
			bridgePlugin{Type: "bridge", Bridge: cfg.Bridge, IsGateway: true, IPMasq: true, HairpinMode: true, IPAM: ipam},
			portmapPlugin{Type: "portmap", Capabilities: map[string]bool{"portMappings": true}},
		},
	}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the default conflist: %w", err)
	}
	list, err := libcni.NetworkConfFromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("parsing the default conflist: %w", err)
	}
	return &network{
		list:    list,
		gateway: gateway,
		ipamDir: filepath.Join(ipam.DataDir, list.Name),
	}, nil
}

// loadUserNetwork reads and checks the user conflist at path.
func loadUserNetwork(path string) (*network, error) {
	list, err := libcni.NetworkConfFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("CNI conflist %s: %w: %w", path, err, errdefs.ErrInvalidArgument)
	}
	if err := utils.ValidateNetworkName(list.Name); err != nil {
		return nil, fmt.Errorf("CNI conflist %s: network name %q: %s: %w", path, list.Name, err.Msg, errdefs.ErrInvalidArgument)
	}
	if list.CNIVersion == "" {
		return nil, fmt.Errorf("CNI conflist %s has no cniVersion: %w", path, errdefs.ErrInvalidArgument)
	}
	if len(list.Plugins) == 0 {
		return nil, fmt.Errorf("CNI conflist %s has no plugins: %w", path, errdefs.ErrInvalidArgument)
	}
	n := &network{list: list, source: path}
	for _, p := range list.Plugins {
		if p.Network.IPAM.Type != "host-local" {
			continue
		}
		var conf struct {
			IPAM hostLocal `json:"ipam"`
		}
		if err := json.Unmarshal(p.Bytes, &conf); err != nil {
			return nil, fmt.Errorf("CNI conflist %s: host-local configuration of plugin %q: %w: %w", path, p.Network.Type, err, errdefs.ErrInvalidArgument)
		}
		dataDir := conf.IPAM.DataDir
		if dataDir == "" {
			dataDir = hostLocalDefaultDataDir
		}
		n.ipamDir = filepath.Join(dataDir, list.Name)
		n.gateway = conf.IPAM.gateway()
		break
	}
	return n, nil
}

// gateway is what host-local gives pods as their gateway: the one its
// first IPv4 range names, or that range's first host (host-local's
// default). It is nil when no IPv4 range parses.
func (h hostLocal) gateway() net.IP {
	type candidate struct{ subnet, gateway string }
	var all []candidate
	for _, set := range h.Ranges {
		for _, r := range set {
			all = append(all, candidate{r.Subnet, r.Gateway})
		}
	}
	if h.Subnet != "" {
		all = append(all, candidate{h.Subnet, h.Gateway})
	}
	for _, c := range all {
		_, subnet, err := net.ParseCIDR(c.subnet)
		if err != nil || subnet.IP.To4() == nil {
			continue
		}
		if gw := net.ParseIP(c.gateway); gw != nil {
			return gw.To4()
		}
		return firstHost(subnet)
	}
	return nil
}

// firstHost is the first address after subnet's network address.
func firstHost(subnet *net.IPNet) net.IP {
	ip := slices.Clone(subnet.IP.To4())
	if ip == nil {
		ip = slices.Clone(subnet.IP)
	}
	for i := len(ip) - 1; i >= 0; i-- {
		ip[i]++
		if ip[i] != 0 {
			break
		}
	}
	return ip
}

// pluginTypes lists every plugin list names, IPAM plugins included, each
// once, in order.
func pluginTypes(list *libcni.NetworkConfigList) []string {
	var types []string
	for _, p := range list.Plugins {
		for _, t := range []string{p.Network.Type, p.Network.IPAM.Type} {
			if t != "" && !slices.Contains(types, t) {
				types = append(types, t)
			}
		}
	}
	return types
}

// checkPlugins makes sure that every plugin n names is installed in one of
// cni's directories and speaks n's CNI version, so that a missing or too
// old plugin is reported when the daemon starts rather than when its first
// pod does. It runs each plugin's VERSION command, which changes nothing.
func (n *network) checkPlugins(cni *libcni.CNIConfig) error {
	var missing []string
	for _, t := range pluginTypes(n.list) {
		if _, err := invoke.FindInPath(t, cni.Path); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("CNI plugin %s, named by %s, not found in %s: install Debian's %s: %w",
			quoteAll(missing), n.describe(), strings.Join(cni.Path, ", "), pluginsPackage, errdefs.ErrNotFound)
	}
	ctx, cancel := context.WithTimeout(context.Background(), versionTimeout)
	defer cancel()
	var errs []error
	for _, t := range pluginTypes(n.list) {
		info, err := cni.GetVersionInfo(ctx, t)
		if err != nil {
			errs = append(errs, fmt.Errorf("asking CNI plugin %q its version: %w", t, err))
			continue
		}
		if !slices.Contains(info.SupportedVersions(), n.list.CNIVersion) {
			errs = append(errs, fmt.Errorf("CNI plugin %q speaks CNI %s, not %s as %s asks", t,
				strings.Join(info.SupportedVersions(), ", "), n.list.CNIVersion, n.describe()))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", err, errdefs.ErrFailedPrecondition)
	}
	return nil
}

// describe names the conflist in messages.
func (n *network) describe() string {
	if n.source != "" {
		return "conflist " + n.source
	}
	return "the default conflist"
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
