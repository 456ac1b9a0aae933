package dns_test

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"

	mdns "github.com/miekg/dns"
	"github.com/setlet/setlet/dns"
)

// TestUpdates: every change is served as soon as the call returns.
func TestUpdates(t *testing.T) {
	svcs, pods := fixture()
	s, addr := start(t, dns.Config{}, svcs, pods)
	web1 := pods[1]
	type check struct {
		qname  string
		qtype  uint16
		rcode  int
		answer []string
	}
	steps := []struct {
		name   string
		change func()
		checks []check
	}{
		{"web-1 turns NotReady: it leaves the service", func() {
			p := web1
			p.Ready = false
			s.SetPod(p)
		}, []check{
			{"nginx.set.local.", mdns.TypeA, 0, []string{"A 10.88.0.5"}},
			{"nginx.default.svc.cluster.local.", mdns.TypeA, 0, []string{"A 10.88.0.5"}},
			{"_http._tcp.nginx.set.local.", mdns.TypeSRV, 0, []string{"SRV 0 100 80 web-0.nginx.set.local."}},
			{"web-1.nginx.set.local.", mdns.TypeA, 0, []string{"A 10.88.0.6"}},
		}},
		{"web-1 Ready again: back in the service", func() { s.SetPod(web1) }, []check{
			{"nginx.set.local.", mdns.TypeA, 0, []string{"A 10.88.0.5", "A 10.88.0.6"}},
		}},
		{"web-1 moves to a new IP: the name follows", func() {
			p := web1
			p.IP = ip("10.88.0.66")
			s.SetPod(p)
		}, []check{
			{"web-1.nginx.set.local.", mdns.TypeA, 0, []string{"A 10.88.0.66"}},
			{"web-1.nginx.default.svc.cluster.local.", mdns.TypeA, 0, []string{"A 10.88.0.66"}},
			{"nginx.set.local.", mdns.TypeA, 0, []string{"A 10.88.0.5", "A 10.88.0.66"}},
			{"66.0.88.10.in-addr.arpa.", mdns.TypePTR, 0, []string{"PTR web-1.nginx.default.svc.cluster.local.", "PTR web-1.nginx.set.local."}},
			{"6.0.88.10.in-addr.arpa.", mdns.TypePTR, mdns.RcodeRefused, nil},
		}},
		{"web-1 loses its IP: no name", func() {
			p := web1
			p.IP = netip.Addr{}
			s.SetPod(p)
		}, []check{
			{"web-1.nginx.set.local.", mdns.TypeA, mdns.RcodeNameError, nil},
			{"nginx.set.local.", mdns.TypeA, 0, []string{"A 10.88.0.5"}},
		}},
		{"web-0 deleted: only web-2, not Ready, left: NXDOMAIN for the service", func() {
			s.DeletePod("default", "web-0")
		}, []check{
			{"web-0.nginx.set.local.", mdns.TypeA, mdns.RcodeNameError, nil},
			{"nginx.set.local.", mdns.TypeA, mdns.RcodeNameError, nil},
			{"_http._tcp.nginx.set.local.", mdns.TypeSRV, mdns.RcodeNameError, nil},
			{"web-2.nginx.set.local.", mdns.TypeA, 0, []string{"A 10.88.0.7"}},
		}},
		{"service publishes not-ready addresses", func() {
			svc := svcs[0]
			svc.PublishNotReady = true
			s.SetService(svc)
		}, []check{
			{"nginx.set.local.", mdns.TypeA, 0, []string{"A 10.88.0.7"}},
		}},
		{"default/nginx deleted: Z names go to namespace other", func() {
			s.DeleteService("", "nginx")
			for _, name := range []string{"web-1", "web-2", "web-3"} {
				s.DeletePod("default", name)
			}
		}, []check{
			{"nginx.set.local.", mdns.TypeA, 0, []string{"A 10.88.3.1"}},
			{"web-0.nginx.set.local.", mdns.TypeA, 0, []string{"A 10.88.3.1"}},
			{"nginx.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil},
			{"1.3.88.10.in-addr.arpa.", mdns.TypePTR, 0, []string{"PTR web-0.nginx.other.svc.cluster.local.", "PTR web-0.nginx.set.local."}},
		}},
		{"last of namespace other deleted: its ENT goes", func() {
			s.DeletePod("other", "web-0")
			s.DeleteService("other", "nginx")
		}, []check{
			{"other.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil},
			{"nginx.set.local.", mdns.TypeA, mdns.RcodeNameError, nil},
			{"default.svc.cluster.local.", mdns.TypeA, 0, nil},
		}},
		{"Replace", func() {
			s.Replace([]dns.Service{{Name: "x"}}, []dns.Pod{{Name: "x-0", Subdomain: "x", IP: ip("10.88.9.9"), Ready: true}})
		}, []check{
			{"x.set.local.", mdns.TypeA, 0, []string{"A 10.88.9.9"}},
			{"db.set.local.", mdns.TypeA, mdns.RcodeNameError, nil},
			{"db-0.db.set.local.", mdns.TypeA, mdns.RcodeNameError, nil},
			{"1.1.88.10.in-addr.arpa.", mdns.TypePTR, mdns.RcodeRefused, nil},
		}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			step.change()
			for _, c := range step.checks {
				r := ask(t, "udp", addr, c.qname, c.qtype, 0)
				if r.Rcode != c.rcode || !slices.Equal(sortedRRs(r.Answer), c.answer) {
					t.Errorf("%s %s: %s %q, want %s %q", c.qname, mdns.TypeToString[c.qtype],
						mdns.RcodeToString[r.Rcode], sortedRRs(r.Answer), mdns.RcodeToString[c.rcode], c.answer)
				}
			}
		})
	}
}

// TestUpdatesDuringQueries: queries keep being answered, from one snapshot
// or the next, while a writer churns (run with -race).
func TestUpdatesDuringQueries(t *testing.T) {
	s := dns.NewServer(dns.Config{})
	svcs, pods := bigRecords(3, 20)
	s.Replace(svcs, pods)
	queries := [][]byte{
		packQuery(t, "web-3.svc1.set.local.", mdns.TypeA, false),
		packQuery(t, "svc1.set.local.", mdns.TypeA, true),
		packQuery(t, "_http._tcp.svc2.default.svc.cluster.local.", mdns.TypeSRV, true),
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			out := make([]byte, 0, 4096)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, ok := s.Handle(queries[i%len(queries)], loopback, false, out[:0])
				if !ok {
					t.Error("no answer")
					return
				}
				var r mdns.Msg
				if err := r.Unpack(resp); err != nil || r.Rcode != mdns.RcodeSuccess || len(r.Answer) == 0 {
					t.Errorf("answer %v (%v)", &r, err)
					return
				}
			}
		})
	}
	for i := range 200 {
		p := pods[i%len(pods)]
		if p.Name == "svc1-web-3" {
			continue
		}
		p.Ready = i%3 != 0
		p.IP = netip.AddrFrom4([4]byte{10, 90, byte(i), 1})
		s.SetPod(p)
		if i%50 == 0 {
			s.SetService(dns.Service{Name: fmt.Sprintf("svc%d", i%3), PublishNotReady: i%100 == 0, Ports: svcs[0].Ports})
		}
	}
	close(stop)
	wg.Wait()
}

// TestRecords lists what is served and each pod's names.
func TestRecords(t *testing.T) {
	s := dns.NewServer(dns.Config{Zone: "Example.Test.", ClusterDomain: "k8s.local"})
	s.Replace(
		[]dns.Service{{Namespace: "prod", Name: "db", Ports: []dns.Port{{Name: "pg", Protocol: "TCP", Port: 5432}}}},
		[]dns.Pod{
			{Namespace: "prod", Name: "db-0", Subdomain: "db", IP: ip("10.88.0.5"), Ready: true},
			{Namespace: "prod", Name: "db-1", Subdomain: "db", IP: ip("10.88.0.6")},
			{Namespace: "prod", Name: "x", Hostname: "db-0", Subdomain: "db", IP: ip("10.88.0.7"), Ready: true},
		})
	want := []dns.Record{
		{"10.0.88.10.in-addr.arpa.", "PTR", "db-0.db.example.test.", "prod/db-0", ""},
		{"10.0.88.10.in-addr.arpa.", "PTR", "db-0.db.prod.svc.k8s.local.", "prod/db-0", ""},
		{"6.0.88.10.in-addr.arpa.", "PTR", "db-1.db.example.test.", "prod/db-1", ""},
		{"6.0.88.10.in-addr.arpa.", "PTR", "db-1.db.prod.svc.k8s.local.", "prod/db-1", ""},
		{"_pg._tcp.db.example.test.", "SRV", "0 100 5432 db-0.db.example.test.", "prod/db-0", "prod/db"},
		{"_pg._tcp.db.prod.svc.k8s.local.", "SRV", "0 100 5432 db-0.db.prod.svc.k8s.local.", "prod/db-0", "prod/db"},
		{"db-0.db.example.test.", "A", "10.88.0.5", "prod/db-0", ""},
		{"db-0.db.prod.svc.k8s.local.", "A", "10.88.0.5", "prod/db-0", ""},
		{"db-1.db.example.test.", "A", "10.88.0.6", "prod/db-1", ""},
		{"db-1.db.prod.svc.k8s.local.", "A", "10.88.0.6", "prod/db-1", ""},
		{"db.example.test.", "A", "10.88.0.5", "prod/db-0", "prod/db"},
		{"db.prod.svc.k8s.local.", "A", "10.88.0.5", "prod/db-0", "prod/db"},
	}
	want[0].Name, want[1].Name = "5.0.88.10.in-addr.arpa.", "5.0.88.10.in-addr.arpa."
	got := s.Records()
	if !slices.Equal(got, want) {
		t.Errorf("Records:\n%v\nwant\n%v", got, want)
	}
	if got, want := s.PodNames("prod", "db-1"), []string{"db-1.db.example.test", "db-1.db.prod.svc.k8s.local"}; !slices.Equal(got, want) {
		t.Errorf("PodNames(db-1) = %q, want %q", got, want)
	}
	if got := s.PodNames("prod", "x"); len(got) != 0 {
		t.Errorf("PodNames(x), whose hostname db-0 is taken, = %q, want none", got)
	}
	if got := s.PodNames("default", "db-0"); len(got) != 0 {
		t.Errorf("PodNames of an unknown pod = %q, want none", got)
	}
}

// TestHeap: 1000 pods' records take well under 10 MB of heap.
func TestHeap(t *testing.T) {
	heap := recordsHeap(bigRecords(10, 100))
	t.Logf("heap for 1000 pods: %.2f MB", float64(heap)/(1<<20))
	if heap > 10<<20 {
		t.Errorf("heap for 1000 pods: %d bytes, want < 10 MB", heap)
	}
}
