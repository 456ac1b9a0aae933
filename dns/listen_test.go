package dns_test

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/setlet/setlet/dns"
)

// TestTruncatedThenTCP: a service of 100 pods does not fit in 512 bytes;
// the client sees TC over UDP and gets everything over TCP.
func TestTruncatedThenTCP(t *testing.T) {
	svcs, pods := bigRecords(1, 100)
	_, addr := start(t, dns.Config{}, svcs, pods)
	r := ask(t, "udp", addr, "svc0.set.local.", mdns.TypeA, 0)
	if !r.Truncated || len(r.Answer) != 0 || len(r.Question) != 1 {
		t.Fatalf("UDP: tc %v, %d answers, want TC and none", r.Truncated, len(r.Answer))
	}
	r = ask(t, "tcp", addr, "svc0.set.local.", mdns.TypeA, 0)
	if r.Truncated || len(r.Answer) != 100 {
		t.Fatalf("TCP: tc %v, %d answers, want 100", r.Truncated, len(r.Answer))
	}
}

// TestTCPConnection: one connection carries several queries, answered in
// order; garbage ends it.
func TestTCPConnection(t *testing.T) {
	svcs, pods := fixture()
	_, addr := start(t, dns.Config{}, svcs, pods)
	co, err := mdns.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	co.SetDeadline(time.Now().Add(10 * time.Second))
	names := []string{"web-0.nginx.set.local.", "web-1.nginx.set.local.", "db-1.db.set.local."}
	for _, name := range names {
		m := new(mdns.Msg)
		m.SetQuestion(name, mdns.TypeA)
		if err := co.WriteMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names {
		r, err := co.ReadMsg()
		if err != nil {
			t.Fatal(err)
		}
		if r.Question[0].Name != name || len(r.Answer) != 1 {
			t.Errorf("answer to %s: %v", name, r)
		}
	}
	// A response instead of a query: the server hangs up.
	if _, err := co.Conn.Write([]byte{0, 12, 0, 1, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	if _, err := co.ReadMsg(); err == nil {
		t.Error("connection still answering after garbage")
	}
}

// TestTCPConnectionLimit: beyond 256 connections, new ones are closed at once.
func TestTCPConnectionLimit(t *testing.T) {
	svcs, pods := fixture()
	_, addr := start(t, dns.Config{}, svcs, pods)
	var conns []*mdns.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	m := new(mdns.Msg)
	m.SetQuestion("web-0.nginx.set.local.", mdns.TypeA)
	for i := range 256 {
		co, err := mdns.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, co)
		co.SetDeadline(time.Now().Add(10 * time.Second))
		// A query answered proves the server holds the connection.
		if err := co.WriteMsg(m); err != nil {
			t.Fatal(err)
		}
		if _, err := co.ReadMsg(); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	co, err := mdns.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	co.SetDeadline(time.Now().Add(10 * time.Second))
	co.WriteMsg(m)
	if _, err := co.ReadMsg(); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("connection 257: %v, want it closed", err)
	}
	// One connection goes: a new one is served again.
	conns[0].Close()
	conns = conns[1:]
	deadline := time.Now().Add(5 * time.Second)
	for {
		co, err := mdns.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		co.SetDeadline(time.Now().Add(5 * time.Second))
		co.WriteMsg(m)
		_, err = co.ReadMsg()
		co.Close()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection served after one closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // the server notices the close asynchronously
	}
}

// TestListenAndServeStops: ending the context closes the listeners; Close
// is idempotent and Serve fails after it.
func TestListenAndServeStops(t *testing.T) {
	s := dns.NewServer(dns.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.ListenAndServe(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs()[0].String()
	r := ask(t, "udp", addr, "set.local.", mdns.TypeSOA, 0)
	if len(r.Answer) != 1 {
		t.Fatalf("SOA: %v", r)
	}
	co, err := mdns.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	co.SetDeadline(time.Now().Add(5 * time.Second))
	m := new(mdns.Msg)
	m.SetQuestion("set.local.", mdns.TypeSOA)
	if err := co.WriteMsg(m); err != nil {
		t.Fatal(err)
	}
	if _, err := co.ReadMsg(); err != nil {
		t.Fatal(err)
	}
	cancel()
	// The open connection is closed too, well before its idle timeout.
	if _, err := co.ReadMsg(); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("TCP connection after the context ended: %v, want it closed", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break // the TCP listener is gone
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("TCP listener still accepting after the context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.ListenAndServe(context.Background(), "127.0.0.1:0"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ListenAndServe after Close: %v, want net.ErrClosed", err)
	}
}

// TestListenAndServeError: an address taken fails with an error.
func TestListenAndServeError(t *testing.T) {
	s, addr := start(t, dns.Config{}, nil, nil)
	if err := s.ListenAndServe(context.Background(), addr); err == nil {
		t.Fatal("listening twice on the same address succeeded")
	}
	if err := s.ListenAndServe(context.Background(), "not an address"); err == nil {
		t.Fatal("listening on a bad address succeeded")
	}
}
