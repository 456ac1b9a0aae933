package dns_test

import (
	"slices"
	"testing"

	mdns "github.com/miekg/dns"
	"github.com/setlet/setlet/dns"
)

// TestAnswers asks the fixture's names over UDP and TCP.
func TestAnswers(t *testing.T) {
	svcs, pods := fixture()
	_, addr := start(t, dns.Config{}, svcs, pods)
	const (
		ok = mdns.RcodeSuccess
		nx = mdns.RcodeNameError
	)
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		answer []string // sorted
		soa    string   // zone of the SOA in the authority section
		extra  []string // sorted
	}{
		{"pod in Z", "web-0.nginx.set.local.", mdns.TypeA, ok, []string{"A 10.88.0.5"}, "", nil},
		{"pod in C", "web-0.nginx.default.svc.cluster.local.", mdns.TypeA, ok, []string{"A 10.88.0.5"}, "", nil},
		{"pod not Ready has its name", "web-2.nginx.set.local.", mdns.TypeA, ok, []string{"A 10.88.0.7"}, "", nil},
		{"pod without IP", "web-3.nginx.set.local.", mdns.TypeA, nx, nil, "set.local.", nil},
		{"service: Ready pods only", "nginx.set.local.", mdns.TypeA, ok, []string{"A 10.88.0.5", "A 10.88.0.6"}, "", nil},
		{"service in C", "nginx.default.svc.cluster.local.", mdns.TypeA, ok, []string{"A 10.88.0.5", "A 10.88.0.6"}, "", nil},
		{"publishNotReadyAddresses", "db.set.local.", mdns.TypeA, ok, []string{"A 10.88.1.1", "A 10.88.1.2"}, "", nil},
		{"service with nothing published", "empty.set.local.", mdns.TypeA, nx, nil, "set.local.", nil},
		{"service with nothing published in C", "empty.default.svc.cluster.local.", mdns.TypeA, nx, nil, "cluster.local.", nil},
		{"pod below an unpublished service", "empty-0.empty.set.local.", mdns.TypeA, ok, []string{"A 10.88.2.1"}, "", nil},
		{"subdomain without Service", "ghost.set.local.", mdns.TypeA, nx, nil, "set.local.", nil},
		{"pod of a subdomain without Service", "orphan-0.ghost.set.local.", mdns.TypeA, ok, []string{"A 10.88.4.1"}, "", nil},
		{"SRV", "_http._tcp.nginx.set.local.", mdns.TypeSRV, ok,
			[]string{"SRV 0 50 80 web-0.nginx.set.local.", "SRV 0 50 80 web-1.nginx.set.local."}, "",
			[]string{"A 10.88.0.5", "A 10.88.0.6"}},
		{"SRV udp in C", "_dns._udp.nginx.default.svc.cluster.local.", mdns.TypeSRV, ok,
			[]string{"SRV 0 50 53 web-0.nginx.default.svc.cluster.local.", "SRV 0 50 53 web-1.nginx.default.svc.cluster.local."}, "",
			[]string{"A 10.88.0.5", "A 10.88.0.6"}},
		{"SRV of an unknown port", "_grpc._tcp.nginx.set.local.", mdns.TypeSRV, nx, nil, "set.local.", nil},
		{"SRV proto label is an ENT", "_tcp.nginx.set.local.", mdns.TypeSRV, ok, nil, "set.local.", nil},
		{"PTR: Z name then C name", "5.0.88.10.in-addr.arpa.", mdns.TypePTR, ok,
			[]string{"PTR web-0.nginx.default.svc.cluster.local.", "PTR web-0.nginx.set.local."}, "", nil},
		{"PTR of a pod whose Z names are another namespace's", "1.3.88.10.in-addr.arpa.", mdns.TypePTR, ok,
			[]string{"PTR web-0.nginx.other.svc.cluster.local."}, "", nil},
		{"other namespace in C", "web-0.nginx.other.svc.cluster.local.", mdns.TypeA, ok, []string{"A 10.88.3.1"}, "", nil},
		{"other namespace's service in C", "nginx.other.svc.cluster.local.", mdns.TypeA, ok, []string{"A 10.88.3.1"}, "", nil},
		{"AAAA of an IPv4 name: NODATA", "web-0.nginx.set.local.", mdns.TypeAAAA, ok, nil, "set.local.", nil},
		{"MX of a service: NODATA", "nginx.default.svc.cluster.local.", mdns.TypeMX, ok, nil, "cluster.local.", nil},
		{"ANY answers A", "web-1.nginx.set.local.", mdns.TypeANY, ok, []string{"A 10.88.0.6"}, "", nil},
		{"ENT <ns>.svc.C", "default.svc.cluster.local.", mdns.TypeA, ok, nil, "cluster.local.", nil},
		{"ENT svc.C", "svc.cluster.local.", mdns.TypeA, ok, nil, "cluster.local.", nil},
		{"apex Z A: NODATA", "set.local.", mdns.TypeA, ok, nil, "set.local.", nil},
		{"apex C A: NODATA", "cluster.local.", mdns.TypeA, ok, nil, "cluster.local.", nil},
		{"apex SOA", "set.local.", mdns.TypeSOA, ok, []string{"SOA ns.dns.set.local. hostmaster.set.local. 2 7200 1800 86400 5"}, "", nil},
		{"apex NS", "cluster.local.", mdns.TypeNS, ok, []string{"NS ns.dns.cluster.local."}, "", nil},
		{"IPv6 pod: AAAA", "v6-0.v6.set.local.", mdns.TypeAAAA, ok, []string{"AAAA 2001:db8::5"}, "", nil},
		{"IPv6 pod: A is NODATA", "v6-0.v6.set.local.", mdns.TypeA, ok, nil, "set.local.", nil},
		{"IPv6 service", "v6.default.svc.cluster.local.", mdns.TypeAAAA, ok, []string{"AAAA 2001:db8::5"}, "", nil},
		{"IPv6 SRV", "_http._tcp.v6.set.local.", mdns.TypeSRV, ok, []string{"SRV 0 100 80 v6-0.v6.set.local."}, "", []string{"AAAA 2001:db8::5"}},
		{"IPv6 PTR", "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", mdns.TypePTR, ok,
			[]string{"PTR v6-0.v6.default.svc.cluster.local.", "PTR v6-0.v6.set.local."}, "", nil},
		{"no such name in Z", "nope.set.local.", mdns.TypeA, nx, nil, "set.local.", nil},
		{"no such pod", "web-9.nginx.set.local.", mdns.TypeA, nx, nil, "set.local.", nil},
		{"no such name in C", "kubernetes.default.svc.cluster.local.", mdns.TypeA, nx, nil, "cluster.local.", nil},
		{"no such namespace", "nope.svc.cluster.local.", mdns.TypeA, nx, nil, "cluster.local.", nil},
		{"out of zone, no upstreams", "example.com.", mdns.TypeA, mdns.RcodeRefused, nil, "", nil},
		{"PTR of an IP that is no pod's, no upstreams", "1.5.88.10.in-addr.arpa.", mdns.TypePTR, mdns.RcodeRefused, nil, "", nil},
		{"A of a reverse name is not ours", "5.0.88.10.in-addr.arpa.", mdns.TypeA, mdns.RcodeRefused, nil, "", nil},
		{"label boundary: xset.local is not in Z", "xset.local.", mdns.TypeA, mdns.RcodeRefused, nil, "", nil},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(network+"/"+tt.name, func(t *testing.T) {
				r := ask(t, network, addr, tt.qname, tt.qtype, 0)
				if r.Rcode != tt.rcode {
					t.Fatalf("rcode %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tt.rcode])
				}
				if got := sortedRRs(r.Answer); !slices.Equal(got, tt.answer) {
					t.Errorf("answer %q, want %q", got, tt.answer)
				}
				if got := soaOf(t, r); got != tt.soa {
					t.Errorf("SOA of %q in authority, want %q", got, tt.soa)
				}
				if got := sortedRRs(r.Extra); !slices.Equal(got, tt.extra) {
					t.Errorf("additional %q, want %q", got, tt.extra)
				}
				inZone := tt.rcode != mdns.RcodeRefused
				if r.Authoritative != inZone {
					t.Errorf("AA %v, want %v", r.Authoritative, inZone)
				}
				if !r.Response || r.Truncated || !r.RecursionDesired || r.RecursionAvailable {
					t.Errorf("flags qr %v tc %v rd %v ra %v, want qr rd", r.Response, r.Truncated, r.RecursionDesired, r.RecursionAvailable)
				}
				for _, rr := range append(r.Answer, r.Extra...) {
					if rr.Header().Ttl != 5 {
						t.Errorf("TTL of %s is %d, want 5", rr, rr.Header().Ttl)
					}
				}
				for _, rr := range r.Answer {
					if rr.Header().Name != tt.qname {
						t.Errorf("answer owner %q, want %q", rr.Header().Name, tt.qname)
					}
				}
			})
		}
	}
}
