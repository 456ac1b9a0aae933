package dns_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"
	"github.com/setlet/setlet/dns"
)

var loopback = netip.MustParseAddr("127.0.0.1")

func fixtureServer(t *testing.T, cfg dns.Config) *dns.Server {
	t.Helper()
	s := dns.NewServer(cfg)
	s.Replace(fixture())
	return s
}

func unpack(t *testing.T, resp []byte) *mdns.Msg {
	t.Helper()
	r := new(mdns.Msg)
	if err := r.Unpack(resp); err != nil {
		t.Fatalf("response does not parse: %v\n% x", err, resp)
	}
	return r
}

// TestEchoesQuestion: lookups ignore case, the response carries the
// question byte for byte as asked, and answers owned by the question name
// point at it (0xC00C).
func TestEchoesQuestion(t *testing.T) {
	s := fixtureServer(t, dns.Config{})
	for _, name := range []string{"WEB-0.Nginx.SET.local.", "web-0.nginx.default.SVC.Cluster.LOCAL."} {
		t.Run(name, func(t *testing.T) {
			q := packQuery(t, name, mdns.TypeA, false)
			resp, ok := s.Handle(q, loopback, false, nil)
			if !ok {
				t.Fatal("no answer")
			}
			qlen := len(q) - 12
			if !bytes.Equal(resp[12:12+qlen], q[12:]) {
				t.Errorf("question %q, want %q", resp[12:12+qlen], q[12:])
			}
			if ptr := resp[12+qlen : 12+qlen+2]; !bytes.Equal(ptr, []byte{0xC0, 0x0C}) {
				t.Errorf("answer owner % x, want a pointer to the question (c0 0c)", ptr)
			}
			r := unpack(t, resp)
			if len(r.Answer) != 1 || r.Answer[0].Header().Name != name {
				t.Errorf("answer %v, want one record owned by %s", r.Answer, name)
			}
		})
	}
}

// TestEDNS: an OPT in the query gets an OPT back (1232, version 0, no DO),
// and raises the UDP limit; version > 0 gets BADVERS.
func TestEDNS(t *testing.T) {
	s := fixtureServer(t, dns.Config{})
	t.Run("no OPT, no OPT back", func(t *testing.T) {
		resp, _ := s.Handle(packQuery(t, "web-0.nginx.set.local.", mdns.TypeA, false), loopback, false, nil)
		if r := unpack(t, resp); r.IsEdns0() != nil {
			t.Errorf("OPT in the response to a query without one")
		}
	})
	for _, qtype := range []uint16{mdns.TypeA, mdns.TypeAAAA, mdns.TypeSRV} {
		t.Run("OPT back for "+mdns.TypeToString[qtype], func(t *testing.T) {
			m := new(mdns.Msg)
			m.SetQuestion("web-0.nginx.set.local.", qtype)
			m.SetEdns0(4096, true)
			q, _ := m.Pack()
			resp, _ := s.Handle(q, loopback, false, nil)
			r := unpack(t, resp)
			opt := r.IsEdns0()
			if opt == nil {
				t.Fatal("no OPT in the response")
			}
			if opt.UDPSize() != 1232 || opt.Version() != 0 || opt.Do() || r.Rcode == mdns.RcodeBadVers {
				t.Errorf("OPT size %d version %d do %v rcode %d, want 1232 0 false 0", opt.UDPSize(), opt.Version(), opt.Do(), r.Rcode)
			}
			if r.Extra[len(r.Extra)-1] != mdns.RR(opt) {
				t.Errorf("OPT is not the last additional record")
			}
		})
	}
	t.Run("version 1: BADVERS", func(t *testing.T) {
		m := new(mdns.Msg)
		m.SetQuestion("web-0.nginx.set.local.", mdns.TypeA)
		m.SetEdns0(1232, false)
		m.IsEdns0().SetVersion(1)
		q, _ := m.Pack()
		resp, ok := s.Handle(q, loopback, false, nil)
		if !ok {
			t.Fatal("no answer")
		}
		r := unpack(t, resp)
		if r.Rcode != mdns.RcodeBadVers || len(r.Answer) != 0 || r.IsEdns0() == nil || r.IsEdns0().Version() != 0 {
			t.Errorf("rcode %s, answer %v, OPT %v; want BADVERS, none, version 0", mdns.RcodeToString[r.Rcode], r.Answer, r.IsEdns0())
		}
	})
}

// TestTruncation: a UDP answer larger than the client takes loses its
// additional section first, then everything (TC); TCP gets it all.
func TestTruncation(t *testing.T) {
	s := dns.NewServer(dns.Config{})
	svcs, pods := bigRecords(1, 100)
	svcs2, pods2 := bigRecords(2, 10) // svc1 has 10 pods
	s.Replace(append(svcs, svcs2[1]), append(pods, pods2[10:]...))
	tests := []struct {
		name                string
		qname               string
		qtype               uint16
		edns                uint16
		tcp                 bool
		tc                  bool
		answers, additional int
	}{
		{"100 A over UDP", "svc0.set.local.", mdns.TypeA, 0, false, true, 0, 0},
		{"100 A over UDP, EDNS 1232", "svc0.set.local.", mdns.TypeA, 1232, false, true, 0, 1},
		{"100 A over UDP, EDNS 4096", "svc0.set.local.", mdns.TypeA, 4096, false, false, 100, 1},
		{"100 A over TCP", "svc0.set.local.", mdns.TypeA, 0, true, false, 100, 0},
		{"10 SRV over UDP: additional left out", "_http._tcp.svc1.set.local.", mdns.TypeSRV, 0, false, false, 10, 0},
		{"10 SRV over UDP, EDNS 1232: all", "_http._tcp.svc1.set.local.", mdns.TypeSRV, 1232, false, false, 10, 11},
		{"100 SRV over UDP, EDNS 1232", "_http._tcp.svc0.set.local.", mdns.TypeSRV, 1232, false, true, 0, 1},
		{"100 SRV over TCP", "_http._tcp.svc0.set.local.", mdns.TypeSRV, 0, true, false, 100, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := new(mdns.Msg)
			m.SetQuestion(tt.qname, tt.qtype)
			if tt.edns > 0 {
				m.SetEdns0(tt.edns, false)
			}
			q, _ := m.Pack()
			resp, ok := s.Handle(q, loopback, tt.tcp, nil)
			if !ok {
				t.Fatal("no answer")
			}
			limit := 512
			switch {
			case tt.tcp:
				limit = 65535
			case tt.edns > 512:
				limit = int(tt.edns)
			}
			if len(resp) > limit {
				t.Errorf("%d bytes, limit %d", len(resp), limit)
			}
			r := unpack(t, resp)
			if r.Truncated != tt.tc || len(r.Answer) != tt.answers || len(r.Extra) != tt.additional || len(r.Question) != 1 {
				t.Errorf("tc %v, %d answers, %d additional, %d questions; want %v, %d, %d, 1",
					r.Truncated, len(r.Answer), len(r.Extra), len(r.Question), tt.tc, tt.answers, tt.additional)
			}
		})
	}
}

// header returns a 12-byte header.
func header(id, flags, qd, an, ns, ar uint16) []byte {
	b := make([]byte, 12)
	for i, v := range []uint16{id, flags, qd, an, ns, ar} {
		binary.BigEndian.PutUint16(b[2*i:], v)
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestMalformed: packets that are no proper query never crash Handle; a
// readable header gets FORMERR, NOTIMP or REFUSED, the rest is dropped.
func TestMalformed(t *testing.T) {
	s := fixtureServer(t, dns.Config{})
	name := []byte("\x05web-0\x05nginx\x03set\x05local\x00")
	a := []byte{0, 1, 0, 1}
	opt := []byte{0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0}
	const drop = -1
	tests := []struct {
		name  string
		pkt   []byte
		rcode int
	}{
		{"empty", nil, drop},
		{"short header", []byte{1, 2, 3, 4, 5}, drop},
		{"a response", cat(header(7, 0x8000, 1, 0, 0, 0), name, a), drop},
		{"no question", header(7, 0x0100, 0, 0, 0, 0), mdns.RcodeFormatError},
		{"two questions", cat(header(7, 0x0100, 2, 0, 0, 0), name, a, name, a), mdns.RcodeFormatError},
		{"opcode STATUS", cat(header(7, 2<<11, 1, 0, 0, 0), name, a), mdns.RcodeNotImplemented},
		{"opcode UPDATE", cat(header(7, 5<<11, 1, 0, 0, 0), name, a), mdns.RcodeNotImplemented},
		{"name cut short", cat(header(7, 0, 1, 0, 0, 0), name[:9]), mdns.RcodeFormatError},
		{"no type and class", cat(header(7, 0, 1, 0, 0, 0), name), mdns.RcodeFormatError},
		{"class cut short", cat(header(7, 0, 1, 0, 0, 0), name, a[:3]), mdns.RcodeFormatError},
		{"label of 64 bytes", cat(header(7, 0, 1, 0, 0, 0), []byte{64}, bytes.Repeat([]byte("a"), 64), []byte{0}, a), mdns.RcodeFormatError},
		{"name over 255 bytes", cat(header(7, 0, 1, 0, 0, 0), bytes.Repeat(append([]byte{63}, bytes.Repeat([]byte("a"), 63)...), 4), []byte{0}, a), mdns.RcodeFormatError},
		{"compression pointer in the question", cat(header(7, 0, 1, 0, 0, 0), []byte{0xC0, 0x0C}, a), mdns.RcodeFormatError},
		{"pointer loop after a label", cat(header(7, 0, 1, 0, 0, 0), []byte{1, 'x', 0xC0, 12}, a), mdns.RcodeFormatError},
		{"answer count but no answer", cat(header(7, 0, 1, 1, 0, 0), name, a), mdns.RcodeFormatError},
		{"additional count but nothing", cat(header(7, 0, 1, 0, 0, 1), name, a), mdns.RcodeFormatError},
		{"OPT cut short", cat(header(7, 0, 1, 0, 0, 1), name, a, opt[:7]), mdns.RcodeFormatError},
		{"OPT rdata longer than the packet", cat(header(7, 0, 1, 0, 0, 1), name, a, opt[:9], []byte{0, 9}), mdns.RcodeFormatError},
		{"two OPTs", cat(header(7, 0, 1, 0, 0, 2), name, a, opt, opt), mdns.RcodeFormatError},
		{"OPT with a name", cat(header(7, 0, 1, 0, 0, 1), name, a, name, opt[1:]), mdns.RcodeFormatError},
		{"class CHAOS", cat(header(7, 0, 1, 0, 0, 0), name, []byte{0, 16, 0, 3}), mdns.RcodeRefused},
		{"AXFR", cat(header(7, 0, 1, 0, 0, 0), []byte("\x03set\x05local\x00"), []byte{0, 252, 0, 1}), mdns.RcodeRefused},
		{"trailing garbage is ignored", cat(header(7, 0, 1, 0, 0, 0), name, a, []byte{1, 2, 3}), mdns.RcodeSuccess},
		{"OPT after an answer record: full unpack", cat(header(7, 0, 1, 1, 0, 1), name, a, []byte{0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 1}, opt), mdns.RcodeSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, ok := s.Handle(tt.pkt, loopback, false, nil)
			if tt.rcode == drop {
				if ok {
					t.Fatalf("answered % x, want nothing", resp)
				}
				return
			}
			if !ok {
				t.Fatal("no answer")
			}
			r := unpack(t, resp)
			if r.Id != 7 || r.Rcode != tt.rcode || !r.Response {
				t.Errorf("id %d rcode %s qr %v, want 7 %s true", r.Id, mdns.RcodeToString[r.Rcode], r.Response, mdns.RcodeToString[tt.rcode])
			}
		})
	}
}

// TestZeroAllocs: answering from the snapshot allocates nothing.
func TestZeroAllocs(t *testing.T) {
	s := fixtureServer(t, dns.Config{Upstreams: []string{"192.0.2.1"}})
	out := make([]byte, 0, 65535)
	for _, c := range []struct {
		name  string
		qtype uint16
		edns  bool
		tcp   bool
	}{
		{"web-0.nginx.set.local.", mdns.TypeA, false, false},
		{"WEB-0.Nginx.Default.svc.cluster.local.", mdns.TypeA, true, false},
		{"nginx.set.local.", mdns.TypeA, false, true},
		{"_http._tcp.nginx.set.local.", mdns.TypeSRV, true, false},
		{"5.0.88.10.in-addr.arpa.", mdns.TypePTR, false, false},
		{"nope.nginx.set.local.", mdns.TypeA, false, false},
		{"web-0.nginx.set.local.", mdns.TypeAAAA, true, false},
		{"empty.set.local.", mdns.TypeA, false, false},
		{"set.local.", mdns.TypeSOA, false, false},
		{"default.svc.cluster.local.", mdns.TypeA, false, false},
	} {
		t.Run(fmt.Sprintf("%s %s edns=%v tcp=%v", c.name, mdns.TypeToString[c.qtype], c.edns, c.tcp), func(t *testing.T) {
			q := packQuery(t, c.name, c.qtype, c.edns)
			allocs := testing.AllocsPerRun(1000, func() {
				if _, ok := s.Handle(q, loopback, c.tcp, out[:0]); !ok {
					t.Fatal("no answer")
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per query, want 0", allocs)
			}
		})
	}
}
