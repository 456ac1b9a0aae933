package dns

import (
	"fmt"
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"
)

// BenchmarkUDPAnswer is what a UDP reader does for a query besides its two
// system calls: handle answers it, and the answer is counted in the
// reader's counters. Compare with BenchmarkHandle/pod: the difference is
// what counting costs the read path.
func BenchmarkUDPAnswer(b *testing.B) {
	s, q := benchServer(b)
	from := netip.MustParseAddr("127.0.0.1")
	st := new(queryStats)
	out := make([]byte, 0, mdns.MaxMsgSize)
	b.ReportAllocs()
	for b.Loop() {
		resp, v, rcode := s.handle(q, from, false, out[:0])
		if v != verdictReply || len(resp) == 0 {
			b.Fatal("no answer")
		}
		st.add(rcode)
	}
}

// BenchmarkUDPAnswerParallel is BenchmarkUDPAnswer on every CPU at once,
// each with counters of its own, as the UDP readers run: compare with
// BenchmarkHandleParallel.
func BenchmarkUDPAnswerParallel(b *testing.B) {
	s, q := benchServer(b)
	from := netip.MustParseAddr("127.0.0.1")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		st := new(queryStats)
		out := make([]byte, 0, mdns.MaxMsgSize)
		for pb.Next() {
			_, v, rcode := s.handle(q, from, false, out[:0])
			if v != verdictReply {
				b.Error("no answer")
				return
			}
			st.add(rcode)
		}
	})
}

// benchServer returns a server with BenchmarkHandle's records (10
// services of 100 Ready pods) and its pod query.
func benchServer(b *testing.B) (*Server, []byte) {
	b.Helper()
	var svcs []Service
	var pods []Pod
	for k := range 10 {
		svcs = append(svcs, Service{Name: fmt.Sprintf("svc%d", k), Ports: []Port{{Name: "http", Port: 80}}})
		for n := range 100 {
			pods = append(pods, Pod{
				Name: fmt.Sprintf("svc%d-web-%d", k, n), Hostname: fmt.Sprintf("web-%d", n), Subdomain: fmt.Sprintf("svc%d", k),
				IP: netip.AddrFrom4([4]byte{10, 88, byte(k), byte(n + 1)}), Ready: true,
			})
		}
	}
	s := NewServer(Config{})
	s.Replace(svcs, pods)
	m := new(mdns.Msg)
	m.SetQuestion("web-42.svc3.set.local.", mdns.TypeA)
	q, err := m.Pack()
	if err != nil {
		b.Fatal(err)
	}
	return s, q
}
