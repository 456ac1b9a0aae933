package dns_test

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/setlet/setlet/dns"
)

// upstream is a resolver on 127.0.0.1 for forwarding tests. It answers
// every name with A 192.0.2.1, except big.example. (100 A records,
// truncated to the client's size over UDP), huge.example. (the same, never
// truncated), slow.example. (after a second) and fail.example. (SERVFAIL).
type upstream struct {
	addr string
	slow chan struct{} // a value each time slow.example. arrives (buffered: 200)
	mu   sync.Mutex
	seen []string // "udp web.Example." for each query
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	var pc net.PacketConn
	var l net.Listener
	// The TCP port of the UDP port we got may be taken (by a client's
	// connection): try another.
	for i := 0; l == nil; i++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err != nil {
			pc.Close()
			if i == 10 {
				t.Fatal(err)
			}
		}
	}
	u := &upstream{addr: pc.LocalAddr().String(), slow: make(chan struct{}, 200)}
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		q := r.Question[0]
		u.mu.Lock()
		u.seen = append(u.seen, w.RemoteAddr().Network()+" "+q.Name)
		u.mu.Unlock()
		m := new(mdns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		switch q.Name {
		case "slow.example.":
			u.slow <- struct{}{}
			time.Sleep(time.Second) // the upstream is slow: the point of the test
		case "fail.example.":
			m.Rcode = mdns.RcodeServerFailure
			w.WriteMsg(m)
			return
		}
		n := 1
		if q.Name == "big.example." || q.Name == "huge.example." {
			n = 100
		}
		for i := range n {
			m.Answer = append(m.Answer, &mdns.A{
				Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60},
				A:   net.IPv4(192, 0, 2, byte(i+1)),
			})
		}
		if w.RemoteAddr().Network() == "udp" && q.Name != "huge.example." {
			size := 512
			if opt := r.IsEdns0(); opt != nil {
				size = int(opt.UDPSize())
			}
			m.Truncate(size)
		}
		w.WriteMsg(m)
	})
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return u
}

func (u *upstream) queries() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.seen)
}

// deadAddr returns a 127.0.0.1 UDP and TCP address nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestForward(t *testing.T) {
	up := startUpstream(t)
	svcs, pods := fixture()
	_, addr := start(t, dns.Config{Upstreams: []string{up.addr}}, svcs, pods)

	t.Run("relayed with the client's ID and question case", func(t *testing.T) {
		r := ask(t, "udp", addr, "WWW.Example.COM.", mdns.TypeA, 0)
		if r.Rcode != mdns.RcodeSuccess || !slices.Equal(rrs(r.Answer), []string{"A 192.0.2.1"}) {
			t.Fatalf("answer %v", r)
		}
		if r.Question[0].Name != "WWW.Example.COM." || r.Answer[0].Header().Name != "WWW.Example.COM." {
			t.Errorf("question %s, owner %s: case changed", r.Question[0].Name, r.Answer[0].Header().Name)
		}
		if q := up.queries(); q[len(q)-1] != "udp WWW.Example.COM." {
			t.Errorf("upstream saw %q", q)
		}
	})
	t.Run("TCP forwards over TCP", func(t *testing.T) {
		r := ask(t, "tcp", addr, "tcp.example.", mdns.TypeA, 0)
		if len(r.Answer) != 1 {
			t.Fatalf("answer %v", r)
		}
		if q := up.queries(); q[len(q)-1] != "tcp tcp.example." {
			t.Errorf("upstream saw %q", q)
		}
	})
	t.Run("truncated upstream answer relayed truncated, then TCP", func(t *testing.T) {
		r := ask(t, "udp", addr, "big.example.", mdns.TypeA, 0)
		if !r.Truncated {
			t.Fatalf("UDP answer not truncated: %d answers", len(r.Answer))
		}
		r = ask(t, "tcp", addr, "big.example.", mdns.TypeA, 0)
		if r.Truncated || len(r.Answer) != 100 {
			t.Fatalf("TCP: tc %v, %d answers, want 100", r.Truncated, len(r.Answer))
		}
	})
	t.Run("upstream answer larger than the client takes: truncated", func(t *testing.T) {
		r := ask(t, "udp", addr, "huge.example.", mdns.TypeA, 0)
		r.Compress = true // as sent
		if !r.Truncated || r.Len() > 512 {
			t.Fatalf("tc %v, %d bytes, want TC within 512", r.Truncated, r.Len())
		}
	})
	t.Run("EDNS size passed on", func(t *testing.T) {
		r := ask(t, "udp", addr, "big.example.", mdns.TypeA, 4096)
		if r.Truncated || len(r.Answer) != 100 {
			t.Fatalf("tc %v, %d answers, want 100", r.Truncated, len(r.Answer))
		}
	})
	t.Run("upstream's SERVFAIL relayed", func(t *testing.T) {
		if r := ask(t, "udp", addr, "fail.example.", mdns.TypeA, 0); r.Rcode != mdns.RcodeServerFailure {
			t.Fatalf("rcode %s", mdns.RcodeToString[r.Rcode])
		}
	})
	t.Run("PTR of an IP that is no pod's", func(t *testing.T) {
		r := ask(t, "udp", addr, "1.5.88.10.in-addr.arpa.", mdns.TypePTR, 0)
		if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("answer %v", r)
		}
	})
	t.Run("in-zone names are not forwarded", func(t *testing.T) {
		n := len(up.queries())
		if r := ask(t, "udp", addr, "nope.set.local.", mdns.TypeA, 0); r.Rcode != mdns.RcodeNameError || !r.RecursionAvailable {
			t.Fatalf("rcode %s ra %v, want NXDOMAIN with RA", mdns.RcodeToString[r.Rcode], r.RecursionAvailable)
		}
		if len(up.queries()) != n {
			t.Error("in-zone name forwarded")
		}
	})
	t.Run("a slow upstream does not hold other queries", func(t *testing.T) {
		done := make(chan *mdns.Msg)
		go func() {
			m := new(mdns.Msg)
			m.SetQuestion("slow.example.", mdns.TypeA)
			r, _, _ := (&mdns.Client{Timeout: 5 * time.Second}).Exchange(m, addr)
			done <- r
		}()
		<-up.slow
		t0 := time.Now()
		ask(t, "udp", addr, "web-0.nginx.set.local.", mdns.TypeA, 0)
		ask(t, "udp", addr, "other.example.", mdns.TypeA, 0)
		if d := time.Since(t0); d > 500*time.Millisecond {
			t.Errorf("answers took %v while a forward was pending", d)
		}
		if r := <-done; r == nil || len(r.Answer) != 1 {
			t.Errorf("slow answer %v", r)
		}
	})
}

func TestForwardFailures(t *testing.T) {
	up := startUpstream(t)
	svcs, pods := fixture()
	tests := []struct {
		name  string
		cfg   dns.Config
		rcode int
	}{
		{"upstreams tried in order", dns.Config{Upstreams: []string{deadAddr(t), up.addr}, ForwardTimeout: 300 * time.Millisecond}, mdns.RcodeSuccess},
		{"every upstream dead: SERVFAIL", dns.Config{Upstreams: []string{deadAddr(t), deadAddr(t)}, ForwardTimeout: 300 * time.Millisecond}, mdns.RcodeServerFailure},
		{"no upstreams: REFUSED", dns.Config{}, mdns.RcodeRefused},
		{"bad upstreams ignored: REFUSED", dns.Config{Upstreams: []string{"resolver.example"}}, mdns.RcodeRefused},
		{"client not allowed: REFUSED", dns.Config{Upstreams: []string{up.addr},
			MayForward: func(a netip.Addr) bool { return !a.IsLoopback() }}, mdns.RcodeRefused},
		{"client allowed", dns.Config{Upstreams: []string{up.addr},
			MayForward: func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.1") }}, mdns.RcodeSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, addr := start(t, tt.cfg, svcs, pods)
			for _, network := range []string{"udp", "tcp"} {
				if r := ask(t, network, addr, "example.com.", mdns.TypeA, 1232); r.Rcode != tt.rcode {
					t.Errorf("%s: rcode %s, want %s", network, mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tt.rcode])
				}
				// In-zone names are answered for every client.
				if r := ask(t, network, addr, "web-0.nginx.set.local.", mdns.TypeA, 0); len(r.Answer) != 1 {
					t.Errorf("%s: in-zone answer %v", network, r)
				}
			}
		})
	}
}

// TestCloseDuringForward: Close does not wait for a slow upstream.
func TestCloseDuringForward(t *testing.T) {
	up := startUpstream(t)
	s, addr := start(t, dns.Config{Upstreams: []string{up.addr}, ForwardTimeout: 5 * time.Second}, nil, nil)
	m := new(mdns.Msg)
	m.SetQuestion("slow.example.", mdns.TypeA)
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q, _ := m.Pack()
	c.Write(q)
	<-up.slow
	t0 := time.Now()
	s.Close()
	if d := time.Since(t0); d > 700*time.Millisecond {
		t.Errorf("Close took %v with a forward in flight", d)
	}
}

// TestForwardLimit: beyond 100 forwards in flight, SERVFAIL at once.
func TestForwardLimit(t *testing.T) {
	up := startUpstream(t)
	_, addr := start(t, dns.Config{Upstreams: []string{up.addr}}, nil, nil)
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := new(mdns.Msg)
	m.SetQuestion("slow.example.", mdns.TypeA)
	q, _ := m.Pack()
	for range 100 {
		if _, err := c.Write(q); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		<-up.slow
	}
	t0 := time.Now()
	r := ask(t, "udp", addr, "one-more.example.", mdns.TypeA, 0)
	if r.Rcode != mdns.RcodeServerFailure || time.Since(t0) > 500*time.Millisecond {
		t.Fatalf("rcode %s after %v, want SERVFAIL at once", mdns.RcodeToString[r.Rcode], time.Since(t0))
	}
	if r := ask(t, "tcp", addr, "one-more.example.", mdns.TypeA, 0); r.Rcode != mdns.RcodeServerFailure {
		t.Fatalf("TCP: rcode %s, want SERVFAIL", mdns.RcodeToString[r.Rcode])
	}
}
