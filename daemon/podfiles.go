package daemon

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// The files a pod's containers see besides their image and volumes:
// /etc/hosts, /etc/resolv.conf and /etc/hostname, generated per pod under
// <run-dir>/pods/<uid>/ and bind-mounted read-only.

// hostsFile returns the pod's /etc/hosts: localhost, the pod's own names on
// its IP (kubelet's layout, with setlet's short zone name too) and the
// pod's hostAliases.
func hostsFile(pod *corev1.Pod, podIP, clusterDomain, zone string) []byte {
	var b bytes.Buffer
	b.WriteString("# Kubernetes-managed hosts file (setlet).\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	hostname := pod.Spec.Hostname
	if hostname == "" {
		hostname = pod.Name
	}
	if podIP != "" {
		names := []string{}
		if sub := pod.Spec.Subdomain; sub != "" {
			names = append(names, fmt.Sprintf("%s.%s.%s.svc.%s", hostname, sub, pod.Namespace, clusterDomain))
			if zone != "" {
				names = append(names, fmt.Sprintf("%s.%s.%s", hostname, sub, zone))
			}
		}
		names = append(names, hostname)
		fmt.Fprintf(&b, "%s\t%s\n", podIP, strings.Join(names, "\t"))
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return b.Bytes()
}

// resolvConf is the content of a resolv.conf.
type resolvConf struct {
	Nameservers []string
	Searches    []string
	Options     []string
}

// parseResolvConf reads the nameserver, search/domain and options lines of
// a resolv.conf.
func parseResolvConf(data []byte) resolvConf {
	var rc resolvConf
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			rc.Nameservers = append(rc.Nameservers, f[1])
		case "search", "domain":
			rc.Searches = append([]string(nil), f[1:]...)
		case "options":
			rc.Options = append(rc.Options, f[1:]...)
		}
	}
	return rc
}

// withoutLoopback drops loopback nameservers (such as systemd-resolved's
// 127.0.0.53 stub), which a pod in its own network namespace cannot reach.
func (rc resolvConf) withoutLoopback() resolvConf {
	out := rc
	out.Nameservers = nil
	for _, ns := range rc.Nameservers {
		if ip := net.ParseIP(ns); ip != nil && !ip.IsLoopback() {
			out.Nameservers = append(out.Nameservers, ns)
		}
	}
	return out
}

// clusterDNS is the daemon's DNS service as pods see it.
type clusterDNS struct {
	Server        string // nameserver address (the bridge gateway); empty when there is none
	Zone          string // setlet's zone, "set.local"
	ClusterDomain string // the Kubernetes names' domain, "cluster.local"
}

// clusterNdots is the ndots option of a ClusterFirst pod: `web-1` and
// `web-1.nginx` go through the search list, a name with two dots or more
// is tried as it is first.
const clusterNdots = "ndots:2"

// podResolvConf returns the pod's /etc/resolv.conf for its dnsPolicy.
// ClusterFirst (the default) uses the daemon's DNS server with the search
// list <service>.<zone> <zone> <ns>.svc.<cluster-domain>
// svc.<cluster-domain> <cluster-domain>, so that `web-1`, `web-1.nginx`,
// the full setlet name and the Kubernetes short names (`nginx.default`)
// all resolve. Default uses the host's resolvers; None only dnsConfig.
// dnsConfig's nameservers, searches and options are merged in as kubelet
// does. Without a DNS server (a user network with no gateway), ClusterFirst
// falls back to the host's resolvers.
func podResolvConf(pod *corev1.Pod, host resolvConf, cluster clusterDNS) []byte {
	rc := host.withoutLoopback()
	switch pod.Spec.DNSPolicy {
	case corev1.DNSNone:
		rc = resolvConf{}
	case corev1.DNSDefault:
	default: // ClusterFirst, ClusterFirstWithHostNet
		if cluster.Server != "" {
			rc = resolvConf{Nameservers: []string{cluster.Server}, Options: []string{clusterNdots}}
			if sub := pod.Spec.Subdomain; sub != "" {
				rc.Searches = append(rc.Searches, sub+"."+cluster.Zone)
			}
			rc.Searches = append(rc.Searches, cluster.Zone,
				pod.Namespace+".svc."+cluster.ClusterDomain, "svc."+cluster.ClusterDomain, cluster.ClusterDomain)
		}
	}
	if c := pod.Spec.DNSConfig; c != nil {
		rc.Nameservers = append(rc.Nameservers, c.Nameservers...)
		rc.Searches = append(rc.Searches, c.Searches...)
		for _, o := range c.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			rc.Options = append(rc.Options, opt)
		}
	}
	var b bytes.Buffer
	for _, ns := range dedupe(rc.Nameservers) {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if s := dedupe(rc.Searches); len(s) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(s, " "))
	}
	if o := mergeOptions(rc.Options); len(o) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(o, " "))
	}
	return b.Bytes()
}

// mergeOptions keeps one of each resolver option, by name, the last given
// winning in the place of the first (dnsConfig's ndots:5 replaces the
// default ndots:2), as kubelet merges them.
func mergeOptions(opts []string) []string {
	index := map[string]int{}
	var out []string
	for _, o := range opts {
		name, _, _ := strings.Cut(o, ":")
		if i, ok := index[name]; ok {
			out[i] = o
			continue
		}
		index[name] = len(out)
		out = append(out, o)
	}
	return out
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// writeFileIfChanged writes data to path atomically (a temporary file is
// renamed over it) unless the file already holds exactly data. A running
// container that has the file's directory mounted sees either the old or
// the new content, never half of it.
func writeFileIfChanged(path string, data []byte, mode os.FileMode) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == mode.Perm() {
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// projectFiles makes dir hold exactly files (name -> content) with the
// given modes, removing files that are no longer wanted. Names may contain
// slashes (items' paths); validation made sure they stay inside dir.
func projectFiles(dir string, files map[string][]byte, modes map[string]os.FileMode) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := writeFileIfChanged(filepath.Join(dir, filepath.FromSlash(name)), files[name], modes[name]); err != nil {
			return err
		}
	}
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if _, ok := files[filepath.ToSlash(rel)]; !ok {
			return os.Remove(p)
		}
		return nil
	})
}
