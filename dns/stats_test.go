package dns_test

import (
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"net"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/setlet/setlet/dns"
)

// counts returns ResponseCounts by name, the zeros left out.
func counts(s *dns.Server) map[string]uint64 {
	out := map[string]uint64{}
	for _, c := range s.ResponseCounts() {
		if c.Count > 0 {
			out[c.Name] = c.Count
		}
	}
	return out
}

// rawExchange sends pkt on conn, a connection of network ("udp" or "tcp")
// to the server, and returns the answer, or nil when the server closed a
// TCP connection instead.
func rawExchange(t *testing.T, network string, conn net.Conn, pkt []byte) []byte {
	t.Helper()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if network == "tcp" {
		pkt = append(binary.BigEndian.AppendUint16(nil, uint16(len(pkt))), pkt...)
	}
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	if network == "udp" {
		buf := make([]byte, 65535)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return buf[:n]
	}
	var l [2]byte
	if _, err := io.ReadFull(conn, l[:]); errors.Is(err, io.EOF) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(conn, buf); err != nil {
		t.Fatal(err)
	}
	return buf
}

// TestResponseCounts: the listeners count every response once, before
// they send it, under the code a client reads from it (BADVERS included,
// which the header alone does not tell), over UDP and TCP; a dropped
// packet is not counted; the codes the server uses itself are listed from
// the start.
func TestResponseCounts(t *testing.T) {
	svcs, pods := fixture()
	fresh, _ := start(t, dns.Config{}, svcs, pods)
	var names []string
	for _, c := range fresh.ResponseCounts() {
		names = append(names, c.Name)
		if c.Count != 0 {
			t.Errorf("%s counted %d before any query", c.Name, c.Count)
		}
	}
	if want := []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "BADVERS"}; !slices.Equal(names, want) {
		t.Errorf("a new server lists %q, want %q", names, want)
	}

	name := []byte("\x05web-0\x05nginx\x03set\x05local\x00")
	a := []byte{0, 1, 0, 1}
	badvers := packQuery(t, "web-0.nginx.set.local.", mdns.TypeA, true)
	badvers[len(badvers)-5] = 1 // EDNS version 1
	queries := []struct {
		name string
		pkt  []byte
		want string
	}{
		{"pod", packQuery(t, "web-0.nginx.set.local.", mdns.TypeA, false), "NOERROR"},
		{"nodata with EDNS", packQuery(t, "web-0.nginx.set.local.", mdns.TypeAAAA, true), "NOERROR"},
		{"nxdomain", packQuery(t, "nope.nginx.set.local.", mdns.TypeA, false), "NXDOMAIN"},
		{"out of zone without upstreams", packQuery(t, "example.com.", mdns.TypeA, false), "REFUSED"},
		{"no question", header(7, 0x0100, 0, 0, 0, 0), "FORMERR"},
		{"opcode STATUS", cat(header(7, 2<<11, 1, 0, 0, 0), name, a), "NOTIMP"},
		{"EDNS version 1", badvers, "BADVERS"},
	}
	want := map[string]uint64{"NOERROR": 2, "NXDOMAIN": 1, "REFUSED": 1, "FORMERR": 1, "NOTIMP": 1, "BADVERS": 1}
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			s, addr := start(t, dns.Config{}, svcs, pods)
			conn, err := net.Dial(network, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			for _, q := range queries {
				r := unpack(t, rawExchange(t, network, conn, q.pkt))
				if got := mdns.RcodeToString[r.Rcode]; got != q.want && !(r.Rcode == mdns.RcodeBadVers && q.want == "BADVERS") {
					t.Fatalf("%s: answered %s, want %s", q.name, got, q.want)
				}
			}
			if network == "tcp" {
				// A response is no query: the server drops it and the
				// connection, in order, after the answers above.
				if resp := rawExchange(t, network, conn, cat(header(7, 0x8000, 1, 0, 0, 0), name, a)); resp != nil {
					t.Fatalf("a response was answered: % x", resp)
				}
			}
			if got := counts(s); !maps.Equal(got, want) {
				t.Errorf("counted %v, want %v", got, want)
			}
		})
	}
}

// TestResponseCountsForwarded: the listeners count forwarded answers by
// the upstream's code, and the SERVFAIL of a forward no upstream answered.
func TestResponseCountsForwarded(t *testing.T) {
	up := startUpstream(t)
	svcs, pods := fixture()
	s, addr := start(t, dns.Config{Upstreams: []string{up.addr}}, svcs, pods)
	ask(t, "udp", addr, "www.example.", mdns.TypeA, 0)
	ask(t, "tcp", addr, "www.example.", mdns.TypeA, 0)
	ask(t, "udp", addr, "fail.example.", mdns.TypeA, 0)
	ask(t, "udp", addr, "web-0.nginx.set.local.", mdns.TypeA, 0)
	if got, want := counts(s), map[string]uint64{"NOERROR": 3, "SERVFAIL": 1}; !maps.Equal(got, want) {
		t.Errorf("counted %v, want %v", got, want)
	}

	dead, addr2 := start(t, dns.Config{Upstreams: []string{deadAddr(t)}, ForwardTimeout: 200 * time.Millisecond}, svcs, pods)
	if r := ask(t, "udp", addr2, "www.example.", mdns.TypeA, 0); r.Rcode != mdns.RcodeServerFailure {
		t.Fatalf("no upstream: %s", mdns.RcodeToString[r.Rcode])
	}
	if got, want := counts(dead), map[string]uint64{"SERVFAIL": 1}; !maps.Equal(got, want) {
		t.Errorf("counted %v, want %v", got, want)
	}
}

// TestHandleCountsNothing: Handle's responses are the caller's to send
// and to count.
func TestHandleCountsNothing(t *testing.T) {
	s := fixtureServer(t, dns.Config{})
	if _, ok := s.Handle(packQuery(t, "web-0.nginx.set.local.", mdns.TypeA, false), loopback, false, nil); !ok {
		t.Fatal("no answer")
	}
	if got := counts(s); len(got) != 0 {
		t.Errorf("Handle counted %v", got)
	}
}
