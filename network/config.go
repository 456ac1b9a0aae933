package network

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/containernetworking/cni/pkg/utils"
)

// Config says where a Manager finds its CNI plugins and keeps its state,
// and shapes the default network. New validates it; the zero value of each
// optional field means its default.
type Config struct {
	// Bridge is the name of the Linux bridge of the default conflist, e.g.
	// "setlet0": 1 to 15 letters, digits, '.', '_' or '-', starting with a
	// letter or digit. It also names the default network ("setlet-<Bridge>"),
	// so two daemons with different bridges never share IPAM state or
	// iptables chains. Unused when ConfDir holds a conflist.
	Bridge string
	// Subnet is the IPv4 CIDR the default conflist allocates pod IPs from,
	// e.g. "10.88.0.0/16"; its first host is the bridge's gateway address.
	// Unused when ConfDir holds a conflist.
	Subnet string
	// BinDirs are the directories CNI plugins are searched in, in order.
	// Default: /usr/lib/cni (Debian's containernetworking-plugins), then
	// /opt/cni/bin (upstream releases).
	BinDirs []string
	// ConfDir, when set and holding a *.conflist file, replaces the default
	// conflist with the first such file in name order. A missing directory,
	// or one without a conflist, means the default network.
	ConfDir string
	// NetnsDir is where pod network namespaces are bind-mounted, one file
	// per pod: <NetnsDir>/<pod name>. Required; the daemon passes
	// <run-dir>/netns. The Manager owns the directory: it makes it a shared
	// mount point on first use and keeps its owner records in
	// <NetnsDir>/.owners.
	NetnsDir string
	// DataDir holds the per-daemon CNI state: host-local's allocations in
	// <DataDir>/ipam (default conflist only) and libcni's result cache in
	// <DataDir>/cache. Required.
	DataDir string
}

// PortMapping publishes a pod port on the host, as a container port's
// hostPort does in Kubernetes. The portmap plugin implements it with DNAT
// rules, for traffic arriving from outside and for traffic the host itself
// sends to one of its own addresses.
type PortMapping struct {
	HostPort      int32
	ContainerPort int32
	// Protocol is "tcp", "udp" or "sctp" (case-insensitive); empty means tcp.
	Protocol string
	// HostIP restricts the mapping to one host address; empty means all.
	HostIP string
}

// Attachment names one pod incarnation's attachment to the network.
type Attachment struct {
	// ID is unique per pod incarnation (the daemon passes the pod UID): the
	// CNI container ID. Letters, digits, '_', '.' and '-', at most 128 bytes.
	ID string
	// Pod is the pod name: the name of its network namespace file, and
	// K8S_POD_NAME in CNI_ARGS.
	Pod string
	// Namespace is K8S_POD_NAMESPACE in CNI_ARGS.
	Namespace string
	// Ports are the pod's host port mappings. They are fixed for the life
	// of an attachment: Teardown uses the ones cached at attach time.
	Ports []PortMapping
}

// Result is what Setup returns: where the pod's network namespace is and
// the address CNI gave it.
type Result struct {
	// NetNS is the path of the pod's network namespace file, to give to the
	// container runtime.
	NetNS string
	// IP is the pod's address on its eth0.
	IP net.IP
	// Gateway is the pod's default gateway: the bridge's address.
	Gateway net.IP
}

const (
	// ifName is the pod's interface, as in Kubernetes.
	ifName = "eth0"
	// maxIDLength keeps libcni's cache file names
	// (<network>-<ID>-<ifname>) under the 255-byte limit of a file name.
	maxIDLength = 128
	// maxPodNameLength is Kubernetes' limit for an object name.
	maxPodNameLength = 253
)

// bridgeName is what Config.Bridge may be: a Linux interface name that is
// also valid inside a CNI network name.
var bridgeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]{0,14}$`)

// withDefaults validates the fields every network needs and returns c with
// its defaults filled in; defaultSubnet checks the default network's own.
func (c Config) withDefaults() (Config, error) {
	if len(c.BinDirs) == 0 {
		c.BinDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
	} else {
		c.BinDirs = append([]string(nil), c.BinDirs...)
	}
	for _, d := range c.BinDirs {
		if !filepath.IsAbs(d) {
			return c, fmt.Errorf("plugin directory %q is not an absolute path: %w", d, errdefs.ErrInvalidArgument)
		}
	}
	for _, f := range []struct{ name, value string }{{"NetnsDir", c.NetnsDir}, {"DataDir", c.DataDir}} {
		if f.value == "" {
			return c, fmt.Errorf("%s is required: %w", f.name, errdefs.ErrInvalidArgument)
		}
		if !filepath.IsAbs(f.value) {
			return c, fmt.Errorf("%s %q is not an absolute path: %w", f.name, f.value, errdefs.ErrInvalidArgument)
		}
	}
	c.NetnsDir, c.DataDir = filepath.Clean(c.NetnsDir), filepath.Clean(c.DataDir)
	if c.ConfDir != "" && !filepath.IsAbs(c.ConfDir) {
		return c, fmt.Errorf("ConfDir %q is not an absolute path: %w", c.ConfDir, errdefs.ErrInvalidArgument)
	}
	return c, nil
}

// defaultSubnet validates the fields the default conflist needs and
// returns the parsed subnet.
func (c Config) defaultSubnet() (*net.IPNet, error) {
	if !bridgeName.MatchString(c.Bridge) {
		return nil, fmt.Errorf("bridge name %q: want 1 to 15 letters, digits, '.', '_' or '-', starting with a letter or digit: %w",
			c.Bridge, errdefs.ErrInvalidArgument)
	}
	ip, subnet, err := net.ParseCIDR(c.Subnet)
	if err != nil {
		return nil, fmt.Errorf("subnet %q: %w", c.Subnet, errdefs.ErrInvalidArgument)
	}
	if ip.To4() == nil {
		return nil, fmt.Errorf("subnet %q: the default network is IPv4 only: %w", c.Subnet, errdefs.ErrInvalidArgument)
	}
	if !ip.Equal(subnet.IP) {
		return nil, fmt.Errorf("subnet %q has host bits set (did you mean %s?): %w", c.Subnet, subnet, errdefs.ErrInvalidArgument)
	}
	if ones, _ := subnet.Mask.Size(); ones > 30 {
		return nil, fmt.Errorf("subnet %q is too small: it needs room for the gateway and at least one pod: %w", c.Subnet, errdefs.ErrInvalidArgument)
	}
	return subnet, nil
}

// normalise validates a for Setup (needPod) or Teardown and returns it
// with its port protocols lower-cased and defaulted.
func (a Attachment) normalise(needID, needPod bool) (Attachment, error) {
	if a.ID == "" && needID {
		return a, fmt.Errorf("attachment ID is required: %w", errdefs.ErrInvalidArgument)
	}
	if a.ID != "" {
		if len(a.ID) > maxIDLength {
			return a, fmt.Errorf("attachment ID %q is longer than %d bytes: %w", a.ID, maxIDLength, errdefs.ErrInvalidArgument)
		}
		if err := utils.ValidateContainerID(a.ID); err != nil {
			return a, fmt.Errorf("attachment ID %q: %s: %w", a.ID, err.Msg, errdefs.ErrInvalidArgument)
		}
	}
	if a.Pod == "" && needPod {
		return a, fmt.Errorf("attachment %q: pod name is required: %w", a.ID, errdefs.ErrInvalidArgument)
	}
	if a.Pod != "" {
		if err := validPodName(a.Pod); err != nil {
			return a, err
		}
	}
	if strings.ContainsAny(a.Namespace, ";=") {
		return a, fmt.Errorf("namespace %q: ';' and '=' cannot be passed in CNI_ARGS: %w", a.Namespace, errdefs.ErrInvalidArgument)
	}
	ports := make([]PortMapping, 0, len(a.Ports))
	seen := map[PortMapping]bool{}
	for _, p := range a.Ports {
		p.Protocol = strings.ToLower(p.Protocol)
		if p.Protocol == "" {
			p.Protocol = "tcp"
		}
		if err := p.validate(); err != nil {
			return a, fmt.Errorf("pod %q: %w", a.Pod, err)
		}
		key := PortMapping{HostPort: p.HostPort, Protocol: p.Protocol, HostIP: p.HostIP}
		if seen[key] {
			return a, fmt.Errorf("pod %q: host port %d/%s is mapped twice: %w", a.Pod, p.HostPort, p.Protocol, errdefs.ErrInvalidArgument)
		}
		seen[key] = true
		ports = append(ports, p)
	}
	a.Ports = ports
	return a, nil
}

// validPodName checks that pod can be a file name in NetnsDir that
// Namespaces lists, and a value in CNI_ARGS.
func validPodName(pod string) error {
	switch {
	case len(pod) > maxPodNameLength:
		return fmt.Errorf("pod name %q is longer than %d bytes: %w", pod, maxPodNameLength, errdefs.ErrInvalidArgument)
	case strings.HasPrefix(pod, "."):
		return fmt.Errorf("pod name %q starts with '.': %w", pod, errdefs.ErrInvalidArgument)
	case strings.ContainsAny(pod, "/;=\x00") || strings.ContainsFunc(pod, func(r rune) bool { return r <= ' ' }):
		return fmt.Errorf("pod name %q holds '/', ';', '=', a space or a control character: %w", pod, errdefs.ErrInvalidArgument)
	}
	return nil
}

// validate checks a port mapping whose protocol is already lower case.
func (p PortMapping) validate() error {
	if p.HostPort < 1 || p.HostPort > 65535 {
		return fmt.Errorf("host port %d is not in 1-65535: %w", p.HostPort, errdefs.ErrInvalidArgument)
	}
	if p.ContainerPort < 1 || p.ContainerPort > 65535 {
		return fmt.Errorf("container port %d is not in 1-65535: %w", p.ContainerPort, errdefs.ErrInvalidArgument)
	}
	switch p.Protocol {
	case "tcp", "udp", "sctp":
	default:
		return fmt.Errorf("port protocol %q: want tcp, udp or sctp: %w", p.Protocol, errdefs.ErrInvalidArgument)
	}
	if p.HostIP != "" && net.ParseIP(p.HostIP) == nil {
		return fmt.Errorf("host IP %q of port %d is not an IP address: %w", p.HostIP, p.HostPort, errdefs.ErrInvalidArgument)
	}
	return nil
}
