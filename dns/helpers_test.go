package dns_test

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/setlet/setlet/dns"
)

var ip = netip.MustParseAddr

// fixture is the records most tests serve:
//
//	default/nginx  ports http/TCP 80, dns/UDP 53, an unnamed 8080
//	  web-0 Ready 10.88.0.5, web-1 Ready 10.88.0.6, web-2 not Ready 10.88.0.7, web-3 no IP
//	default/db     publishNotReadyAddresses: db-0 not Ready 10.88.1.1, db-1 Ready 10.88.1.2
//	default/empty  empty-0 not Ready 10.88.2.1
//	other/nginx    web-0 Ready 10.88.3.1 (the Z names stay default's)
//	orphan-0       subdomain ghost, no Service, 10.88.4.1
//	lonely         no subdomain, 10.88.5.1
//	default/v6     v6-0 Ready 2001:db8::5
func fixture() ([]dns.Service, []dns.Pod) {
	svcs := []dns.Service{
		{Name: "nginx", Ports: []dns.Port{
			{Name: "http", Protocol: "TCP", Port: 80},
			{Name: "dns", Protocol: "UDP", Port: 53},
			{Port: 8080},
		}},
		{Namespace: "default", Name: "db", PublishNotReady: true},
		{Name: "empty"},
		{Namespace: "other", Name: "nginx", Ports: []dns.Port{{Name: "http", Port: 80}}},
		{Name: "v6", Ports: []dns.Port{{Name: "http", Port: 80}}},
	}
	pods := []dns.Pod{
		{Name: "web-0", Subdomain: "nginx", IP: ip("10.88.0.5"), Ready: true},
		{Name: "web-1", Subdomain: "nginx", IP: ip("10.88.0.6"), Ready: true},
		{Name: "web-2", Subdomain: "nginx", IP: ip("10.88.0.7")},
		{Name: "web-3", Subdomain: "nginx", Ready: true},
		{Name: "db-0", Subdomain: "db", IP: ip("10.88.1.1")},
		{Name: "db-1", Subdomain: "db", IP: ip("10.88.1.2"), Ready: true},
		{Name: "empty-0", Subdomain: "empty", IP: ip("10.88.2.1")},
		{Namespace: "other", Name: "web-0", Subdomain: "nginx", IP: ip("10.88.3.1"), Ready: true},
		{Name: "orphan-0", Subdomain: "ghost", IP: ip("10.88.4.1"), Ready: true},
		{Name: "lonely", IP: ip("10.88.5.1"), Ready: true},
		{Name: "v6-0", Subdomain: "v6", IP: ip("2001:db8::5"), Ready: true},
	}
	return svcs, pods
}

// start serves svcs and pods with cfg on 127.0.0.1 (UDP and TCP, one
// ephemeral port) until the test ends, and returns the server and address.
func start(t *testing.T, cfg dns.Config, svcs []dns.Service, pods []dns.Pod) (*dns.Server, string) {
	t.Helper()
	s := dns.NewServer(cfg)
	s.Replace(svcs, pods)
	if err := s.ListenAndServe(context.Background(), "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, s.Addrs()[0].String()
}

// ask sends one query with miekg's client over network ("udp" or "tcp").
func ask(t *testing.T, network, addr, name string, qtype uint16, edns uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &mdns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, mdns.TypeToString[qtype], err)
	}
	if r.Id != m.Id {
		t.Fatalf("answer id %d, query id %d", r.Id, m.Id)
	}
	return r
}

// rrs returns "TYPE data" for each record, e.g. "A 10.88.0.5".
func rrs(list []mdns.RR) []string {
	var out []string
	for _, rr := range list {
		if rr.Header().Rrtype == mdns.TypeOPT {
			continue
		}
		data := strings.TrimPrefix(rr.String(), rr.Header().String())
		out = append(out, mdns.TypeToString[rr.Header().Rrtype]+" "+data)
	}
	return out
}

// sortedRRs is rrs, sorted.
func sortedRRs(list []mdns.RR) []string {
	out := rrs(list)
	slices.Sort(out)
	return out
}

// soaOf returns the zone of the SOA in the authority section, or "".
func soaOf(t *testing.T, r *mdns.Msg) string {
	t.Helper()
	if len(r.Ns) == 0 {
		return ""
	}
	soa, ok := r.Ns[0].(*mdns.SOA)
	if !ok || len(r.Ns) != 1 {
		t.Fatalf("authority section %v, want one SOA", r.Ns)
	}
	if soa.Minttl != 5 || soa.Hdr.Ttl != 5 {
		t.Errorf("SOA TTL %d, negative TTL %d, want 5 and 5", soa.Hdr.Ttl, soa.Minttl)
	}
	return soa.Hdr.Name
}
