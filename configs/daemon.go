package configs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// DefaultDaemonConfigFile is where the daemon reads its configuration from
// when no --config is given; a missing default file is not an error.
const DefaultDaemonConfigFile = "/etc/setlet/config.yaml"

// DaemonConfig is the configuration of `setlet daemon`: the YAML file
// (keys as in the json tags) and the command-line flags of the same names,
// which win over the file.
type DaemonConfig struct {
	// DataDir holds state.db, volumes/, logs/ and CNI state (--data-dir).
	DataDir string `json:"dataDir,omitempty"`
	// RunDir holds the API socket, network namespaces, FIFOs and generated
	// pod files; it is expected to be a tmpfs emptied at boot (--run-dir).
	RunDir string `json:"runDir,omitempty"`
	// Socket is the API socket, mode 0600 (--socket; default
	// <RunDir>/setlet.sock).
	Socket string `json:"socket,omitempty"`
	// Containerd is containerd's socket (--containerd).
	Containerd string `json:"containerd,omitempty"`
	// ContainerdNamespace is the containerd namespace of setlet's images and
	// containers (--containerd-namespace).
	ContainerdNamespace string `json:"containerdNamespace,omitempty"`
	// Bridge is the name of the default CNI bridge (--bridge).
	Bridge string `json:"bridge,omitempty"`
	// Subnet is the pod subnet of the default CNI network (--subnet).
	Subnet string `json:"subnet,omitempty"`
	// CNIBinDirs are searched for CNI plugins, in order (--cni-bin-dir,
	// repeatable).
	CNIBinDirs []string `json:"cniBinDirs,omitempty"`
	// CNIConfDir may hold a user's conflist that replaces the default
	// network (--cni-conf-dir).
	CNIConfDir string `json:"cniConfDir,omitempty"`

	// ClusterDomain is the zone of setlet's own DNS names,
	// <pod>.<service>.<zone> (--cluster-domain). The Kubernetes names
	// <pod>.<service>.<namespace>.svc.cluster.local are served as well.
	ClusterDomain string `json:"clusterDomain,omitempty"`
	// DNSListen are extra ADDR:PORT the DNS server listens on, UDP and TCP,
	// besides the bridge gateway's port 53 (--dns-listen, repeatable; none
	// by default), e.g. 127.0.0.1:1053 for the host.
	DNSListen []string `json:"dnsListen,omitempty"`
	// DNSUpstreams receive the queries for names outside setlet's zones
	// (--dns-upstream, repeatable, ADDR[:PORT]); by default the host's
	// resolv.conf nameservers. The single value "none" turns forwarding off
	// (such queries are REFUSED).
	DNSUpstreams []string `json:"dnsUpstreams,omitempty"`
	// DNSTTL is the TTL of every record the DNS server answers with
	// (--dns-ttl), e.g. "5s".
	DNSTTL Duration `json:"dnsTTL,omitempty"`
	// ManifestDir holds manifests the daemon applies at start and whenever
	// a file there is added, changed or removed (--manifest-dir); "none"
	// turns this off.
	ManifestDir string `json:"manifestDir,omitempty"`
	// ImageDir holds image archives (OCI or docker save tarballs) the
	// daemon imports at start and whenever one is added or changed
	// (--image-dir; default <DataDir>/images); "none" turns this off.
	ImageDir string `json:"imageDir,omitempty"`
	// MetricsListen is the HOST:PORT where the daemon serves Prometheus
	// metrics on GET /metrics (--metrics-listen), e.g. 127.0.0.1:9464; an
	// empty host means every address. Empty (the default): no metrics, and
	// nothing listens.
	MetricsListen string `json:"metricsListen,omitempty"`
}

// NoManifestDir is the ManifestDir (or ImageDir) that turns the manifest
// directory (or the image directory) off.
const NoManifestDir = "none"

// DirOn reports whether dir, a ManifestDir or ImageDir, names a directory
// to watch: it is neither NoManifestDir nor empty.
func DirOn(dir string) bool { return dir != NoManifestDir && dir != "" }

// Duration is a time.Duration written as a Go duration string ("5s") in
// the config file.
type Duration struct{ time.Duration }

// UnmarshalJSON reads a duration string such as "5s" or "1m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string such as \"5s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// DefaultDaemonConfig returns the configuration DESIGN.md gives as default.
func DefaultDaemonConfig() DaemonConfig {
	return DaemonConfig{
		DataDir:             "/var/lib/setlet",
		RunDir:              "/run/setlet",
		Containerd:          "/run/containerd/containerd.sock",
		ContainerdNamespace: "setlet",
		Bridge:              "setlet0",
		Subnet:              "10.88.0.0/16",
		CNIBinDirs:          []string{"/usr/lib/cni", "/opt/cni/bin"},
		CNIConfDir:          "/etc/setlet/cni",
		ClusterDomain:       "set.local",
		DNSTTL:              Duration{5 * time.Second},
		ManifestDir:         "/etc/setlet/manifests",
	}
}

// LoadDaemonConfig reads the YAML file at path, strictly: an unknown key is
// an error naming it. Fields the file leaves out keep the values of base.
func LoadDaemonConfig(path string, base DaemonConfig) (DaemonConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return base, fmt.Errorf("reading daemon config: %w", err)
	}
	cfg := base
	if len(bytes.TrimSpace(data)) == 0 {
		return cfg, nil
	}
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return base, fmt.Errorf("daemon config %s: %s", path, oneLine(err.Error()))
	}
	return cfg, nil
}

// Complete fills in what derives from other fields (the socket from the
// run directory) and cleans the paths.
func (c *DaemonConfig) Complete() {
	if c.Socket == "" && c.RunDir != "" {
		c.Socket = filepath.Join(c.RunDir, "setlet.sock")
	}
	if c.ImageDir == "" && c.DataDir != "" {
		c.ImageDir = filepath.Join(c.DataDir, "images")
	}
	for _, p := range []*string{&c.DataDir, &c.RunDir, &c.Socket, &c.Containerd, &c.CNIConfDir, &c.ManifestDir, &c.ImageDir} {
		if *p != "" {
			*p = filepath.Clean(*p)
		}
	}
}

// Validate reports every problem of the configuration at once, naming the
// setting; nil means the daemon can start with it.
func (c DaemonConfig) Validate() error {
	var errs []error
	for _, p := range []struct{ name, value string }{
		{"dataDir", c.DataDir}, {"runDir", c.RunDir}, {"socket", c.Socket}, {"containerd", c.Containerd},
	} {
		switch {
		case p.value == "":
			errs = append(errs, fmt.Errorf("%s: required", p.name))
		case !filepath.IsAbs(p.value):
			errs = append(errs, fmt.Errorf("%s: %q must be an absolute path", p.name, p.value))
		}
	}
	if DirOn(c.ManifestDir) && !filepath.IsAbs(c.ManifestDir) {
		errs = append(errs, fmt.Errorf("manifestDir: %q must be an absolute path or none", c.ManifestDir))
	}
	if DirOn(c.ImageDir) && !filepath.IsAbs(c.ImageDir) && filepath.IsAbs(c.DataDir) { // else dataDir says it
		errs = append(errs, fmt.Errorf("imageDir: %q must be an absolute path or none", c.ImageDir))
	}
	if c.CNIConfDir != "" && !filepath.IsAbs(c.CNIConfDir) {
		errs = append(errs, fmt.Errorf("cniConfDir: %q must be an absolute path", c.CNIConfDir))
	}
	if len(c.CNIBinDirs) == 0 {
		errs = append(errs, errors.New("cniBinDirs: at least one directory is required"))
	}
	for _, d := range c.CNIBinDirs {
		if !filepath.IsAbs(d) {
			errs = append(errs, fmt.Errorf("cniBinDirs: %q must be an absolute path", d))
		}
	}
	if c.ContainerdNamespace == "" {
		errs = append(errs, errors.New("containerdNamespace: required"))
	}
	if len(c.Bridge) == 0 || len(c.Bridge) > 15 || strings.ContainsAny(c.Bridge, "/ \t\n:") {
		errs = append(errs, fmt.Errorf("bridge: %q must be a network interface name of 1 to 15 characters", c.Bridge))
	}
	if c.ClusterDomain == "" {
		errs = append(errs, errors.New("clusterDomain: required"))
	} else if msgs := validation.IsDNS1123Subdomain(strings.TrimSuffix(c.ClusterDomain, ".")); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("clusterDomain: %q %s", c.ClusterDomain, strings.Join(msgs, "; ")))
	}
	for _, a := range c.DNSListen {
		if _, err := netip.ParseAddrPort(a); err != nil {
			errs = append(errs, fmt.Errorf("dnsListen: %q must be an IP address and port such as 127.0.0.1:1053", a))
		}
	}
	for _, u := range c.DNSUpstreams {
		if u == "none" && len(c.DNSUpstreams) == 1 {
			continue
		}
		if _, err := netip.ParseAddrPort(u); err != nil {
			if _, err := netip.ParseAddr(u); err != nil {
				errs = append(errs, fmt.Errorf("dnsUpstreams: %q must be an IP address with an optional port, or the single value none", u))
			}
		}
	}
	if c.DNSTTL.Duration < time.Second || c.DNSTTL.Duration%time.Second != 0 {
		errs = append(errs, fmt.Errorf("dnsTTL: %q must be a whole number of seconds, at least 1s", c.DNSTTL.String()))
	}
	if c.MetricsListen != "" && !validListenAddr(c.MetricsListen) {
		errs = append(errs, fmt.Errorf("metricsListen: %q must be HOST:PORT such as 127.0.0.1:9464 (an IP address or host name, or empty for every address)", c.MetricsListen))
	}
	if ip, n, err := net.ParseCIDR(c.Subnet); err != nil || ip.To4() == nil {
		errs = append(errs, fmt.Errorf("subnet: %q must be an IPv4 CIDR such as 10.88.0.0/16", c.Subnet))
	} else if ones, _ := n.Mask.Size(); ones > 30 {
		errs = append(errs, fmt.Errorf("subnet: %q leaves no room for pods: use /30 or larger", c.Subnet))
	}
	return errors.Join(errs...)
}

// validListenAddr reports whether addr is HOST:PORT that net.Listen
// takes: a port number (0 picks one), and an IP address, a host name or
// nothing (every address) before it.
func validListenAddr(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return false
	}
	if host == "" {
		return true
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return len(validation.IsDNS1123Subdomain(strings.ToLower(host))) == 0
}
