package dns

import (
	"net/netip"
	"strings"
	"time"
)

// Defaults applied by NewServer to zero fields of Config.
const (
	DefaultZone           = "set.local"
	DefaultClusterDomain  = "cluster.local"
	DefaultTTL            = 5 * time.Second
	DefaultForwardTimeout = 2 * time.Second
)

// Config configures a Server. The zero value serves set.local and
// cluster.local with a 5 s TTL and forwards nothing.
type Config struct {
	// Zone is setlet's own zone, "set.local" when empty.
	Zone string
	// ClusterDomain is the suffix of Kubernetes names, "cluster.local" when empty.
	ClusterDomain string
	// TTL is the TTL of every record and the SOA's negative TTL, in whole
	// seconds (at least 1), 5 s when zero.
	TTL time.Duration
	// Upstreams are the resolvers out-of-zone names are forwarded to, as
	// "ip:port" or "ip" (port 53), tried in order. Empty turns forwarding
	// off: out-of-zone names get REFUSED.
	Upstreams []string
	// ForwardTimeout bounds one attempt at one upstream, 2 s when zero.
	ForwardTimeout time.Duration
	// MayForward says whether a client at addr may have out-of-zone names
	// forwarded (the daemon allows loopback, the pod subnet and the host's
	// own addresses); nil allows everyone. Clients not allowed get REFUSED
	// for out-of-zone names; in-zone names are answered for everyone. It is
	// called concurrently.
	MayForward func(netip.Addr) bool
	// Logf, if set, receives one line per noteworthy event (a skipped
	// record, a failed upstream). It is called concurrently.
	Logf func(format string, args ...any)
}

// settings is Config with defaults applied and names in wire form.
type settings struct {
	zoneWire   string // Zone in wire form, e.g. "\x03set\x05local\x00"
	clusterW   string // ClusterDomain in wire form
	ttl        uint32
	upstreams  []string
	fwdTimeout time.Duration
	mayForward func(netip.Addr) bool
	logf       func(format string, args ...any)
}

func newSettings(cfg Config) settings {
	st := settings{
		ttl:        uint32(DefaultTTL / time.Second),
		fwdTimeout: cfg.ForwardTimeout,
		mayForward: cfg.MayForward,
		logf:       cfg.Logf,
	}
	if st.logf == nil {
		st.logf = func(string, ...any) {}
	}
	if cfg.TTL > 0 {
		st.ttl = max(1, uint32(cfg.TTL/time.Second)) // whole seconds, at least one
	}
	if st.fwdTimeout <= 0 {
		st.fwdTimeout = DefaultForwardTimeout
	}
	st.zoneWire = zoneName(cfg.Zone, DefaultZone, st.logf)
	st.clusterW = zoneName(cfg.ClusterDomain, DefaultClusterDomain, st.logf)
	for _, u := range cfg.Upstreams {
		if ap, ok := upstreamAddr(u); ok {
			st.upstreams = append(st.upstreams, ap)
		} else {
			st.logf("dns: ignoring upstream %q: not ip or ip:port", u)
		}
	}
	return st
}

// zoneName returns the wire form of a configured zone name, lower-cased;
// an empty or invalid name falls back to def.
func zoneName(name, def string, logf func(string, ...any)) string {
	name = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
	if name == "" {
		name = def
	}
	w, ok := wireName(strings.Split(name, ".")...)
	if !ok {
		logf("dns: invalid zone %q, using %q", name, def)
		w, _ = wireName(strings.Split(def, ".")...)
	}
	return w
}

// upstreamAddr normalizes "ip", "ip:port" or "[ip]:port" to "ip:port".
func upstreamAddr(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String(), true
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 53).String(), true
	}
	return "", false
}
