package dns_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/setlet/setlet/dns"
)

// TestConfig: zones are normalized, a bad one falls back to the default
// (logged), and the TTL is whole seconds.
func TestConfig(t *testing.T) {
	tests := []struct {
		name  string
		cfg   dns.Config
		qname string
		ttl   uint32
		log   string
	}{
		{"defaults", dns.Config{}, "web-0.nginx.set.local.", 5, ""},
		{"zone upper case with dot", dns.Config{Zone: "Pods.Example."}, "web-0.nginx.pods.example.", 5, ""},
		{"bad zone", dns.Config{Zone: "bad zone!"}, "web-0.nginx.set.local.", 5, "invalid zone"},
		{"cluster domain", dns.Config{ClusterDomain: "k8s.internal"}, "web-0.nginx.default.svc.k8s.internal.", 5, ""},
		{"TTL 30 s", dns.Config{TTL: 30 * time.Second}, "web-0.nginx.set.local.", 30, ""},
		{"TTL under a second", dns.Config{TTL: 300 * time.Millisecond}, "web-0.nginx.set.local.", 1, ""},
		{"bad upstream", dns.Config{Upstreams: []string{"dns.example"}}, "web-0.nginx.set.local.", 5, "ignoring upstream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var logs []string
			tt.cfg.Logf = func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				logs = append(logs, fmt.Sprintf(format, args...))
			}
			s := dns.NewServer(tt.cfg)
			s.Replace(fixture())
			resp, ok := s.Handle(packQuery(t, tt.qname, mdns.TypeA, false), loopback, false, nil)
			if !ok {
				t.Fatal("no answer")
			}
			r := unpack(t, resp)
			if len(r.Answer) != 1 || r.Answer[0].Header().Ttl != tt.ttl {
				t.Errorf("answer %v, want one record with TTL %d", r.Answer, tt.ttl)
			}
			mu.Lock()
			defer mu.Unlock()
			if got := strings.Join(logs, "\n"); tt.log != "" && !strings.Contains(got, tt.log) {
				t.Errorf("log %q, want it to mention %q", got, tt.log)
			}
		})
	}
}

// TestInvalidNames: names that are no DNS labels get no records, and say so.
func TestInvalidNames(t *testing.T) {
	var logs []string
	s := dns.NewServer(dns.Config{Logf: func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }})
	s.Replace([]dns.Service{{Name: "bad.name"}, {Name: "ok", Ports: []dns.Port{{Name: "bad port", Port: 1}, {Name: "x", Protocol: "ICMP", Port: 2}}}},
		[]dns.Pod{
			{Name: "p", Hostname: "under_score!", Subdomain: "ok", IP: ip("10.0.0.1"), Ready: true},
			{Name: "q", Subdomain: "ok", IP: ip("10.0.0.2"), Ready: true},
		})
	want := []string{"10.0.0.2"}
	var got []string
	for _, r := range s.Records() {
		if r.Type == "A" && r.Name == "ok.set.local." {
			got = append(got, r.Data)
		}
		if r.Type == "SRV" {
			t.Errorf("SRV for an invalid port: %v", r)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("ok.set.local A %q, want %q", got, want)
	}
	if len(logs) != 2 {
		t.Errorf("logs %q, want one line for the service and one for the pod", logs)
	}
}
