package dns_test

import (
	"encoding/binary"
	"testing"

	mdns "github.com/miekg/dns"
	"github.com/setlet/setlet/dns"
)

// FuzzHandle: Handle never panics, and every response it returns parses
// with miekg's Unpack, carries the query's ID and respects the UDP limit of
// a query without EDNS0.
func FuzzHandle(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"web-0.nginx.set.local.", mdns.TypeA},
		{"WEB-0.nginx.default.svc.cluster.local.", mdns.TypeA},
		{"nginx.set.local.", mdns.TypeA},
		{"_http._tcp.nginx.set.local.", mdns.TypeSRV},
		{"5.0.88.10.in-addr.arpa.", mdns.TypePTR},
		{"web-0.nginx.set.local.", mdns.TypeAAAA},
		{"set.local.", mdns.TypeSOA},
		{"cluster.local.", mdns.TypeNS},
		{"default.svc.cluster.local.", mdns.TypeANY},
		{"nope.set.local.", mdns.TypeA},
		{"example.com.", mdns.TypeMX},
	} {
		for _, edns := range []bool{false, true} {
			b := packQuery(f, q.name, q.qtype, edns)
			f.Add(b, false)
			f.Add(b, true)
			f.Add(b[:len(b)-3], false) // cut short
		}
	}
	m := new(mdns.Msg)
	m.SetQuestion("web-0.nginx.set.local.", mdns.TypeA)
	m.SetEdns0(1232, true)
	m.IsEdns0().SetVersion(1)
	b, _ := m.Pack()
	f.Add(b, false)
	f.Add([]byte{}, false)
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1}, false)
	f.Add([]byte{0, 1, 0x28, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1}, true)

	s := dns.NewServer(dns.Config{})
	s.Replace(fixture())
	f.Fuzz(func(t *testing.T, query []byte, tcp bool) {
		resp, ok := s.Handle(query, loopback, tcp, nil)
		if !ok {
			return
		}
		var r mdns.Msg
		if err := r.Unpack(resp); err != nil {
			t.Fatalf("response does not parse: %v\nquery % x\nresponse % x", err, query, resp)
		}
		if len(query) < 2 || r.Id != binary.BigEndian.Uint16(query) {
			t.Fatalf("response id %d for query % x", r.Id, query)
		}
		if !r.Response {
			t.Fatalf("response without QR")
		}
		if len(resp) > 65535 || !tcp && binary.BigEndian.Uint16(query[10:]) == 0 && len(resp) > 512 {
			t.Fatalf("response of %d bytes to % x (tcp %v)", len(resp), query, tcp)
		}
	})
}
