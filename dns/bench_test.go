package dns_test

import (
	"fmt"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/setlet/setlet/dns"
)

// bigRecords returns services × perService pods, web-N.svcK.set.local, all
// Ready, like tools/dnsbench.
func bigRecords(services, perService int) ([]dns.Service, []dns.Pod) {
	var svcs []dns.Service
	var pods []dns.Pod
	for k := range services {
		svcs = append(svcs, dns.Service{Name: fmt.Sprintf("svc%d", k), Ports: []dns.Port{{Name: "http", Port: 80}}})
		for n := range perService {
			pods = append(pods, dns.Pod{
				Name:      fmt.Sprintf("svc%d-web-%d", k, n),
				Hostname:  fmt.Sprintf("web-%d", n),
				Subdomain: fmt.Sprintf("svc%d", k),
				IP:        netip.AddrFrom4([4]byte{10, 88, byte(k), byte(n + 1)}),
				Ready:     true,
			})
		}
	}
	return svcs, pods
}

func packQuery(tb testing.TB, name string, qtype uint16, edns bool) []byte {
	tb.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	if edns {
		m.SetEdns0(1232, false)
	}
	b, err := m.Pack()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkHandle answers queries from a snapshot of 1000 pods in place.
func BenchmarkHandle(b *testing.B) {
	s := dns.NewServer(dns.Config{})
	s.Replace(bigRecords(10, 100))
	from := netip.MustParseAddr("127.0.0.1")
	for _, c := range []struct {
		name  string
		qname string
		qtype uint16
		edns  bool
	}{
		{"pod", "web-42.svc3.set.local.", mdns.TypeA, false},
		{"pod-cluster-edns", "web-42.svc3.default.svc.cluster.local.", mdns.TypeA, true},
		{"service-truncated", "svc3.set.local.", mdns.TypeA, false},
		{"srv-edns", "_http._tcp.svc3.set.local.", mdns.TypeSRV, true},
		{"nxdomain", "nope.svc3.set.local.", mdns.TypeA, false},
		{"nodata", "web-42.svc3.set.local.", mdns.TypeAAAA, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			q := packQuery(b, c.qname, c.qtype, c.edns)
			out := make([]byte, 0, 65535)
			b.ReportAllocs()
			cpu := cpuTime(b)
			for b.Loop() {
				if _, ok := s.Handle(q, from, false, out[:0]); !ok {
					b.Fatal("no answer")
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkSetPod is one update (a readiness flip) with 1000 pods served:
// the time a writer needs to publish a new snapshot.
func BenchmarkSetPod(b *testing.B) {
	s := dns.NewServer(dns.Config{})
	svcs, pods := bigRecords(10, 100)
	s.Replace(svcs, pods)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := pods[i%len(pods)]
		p.Ready = i/len(pods)%2 == 0
		s.SetPod(p)
		i++
	}
}

// BenchmarkReplace publishes 1000 pods at once and reports the heap the
// records take.
func BenchmarkReplace(b *testing.B) {
	svcs, pods := bigRecords(10, 100)
	b.ReportAllocs()
	for b.Loop() {
		s := dns.NewServer(dns.Config{})
		s.Replace(svcs, pods)
	}
	b.ReportMetric(float64(recordsHeap(svcs, pods)), "heap-B")
}

// recordsHeap returns the heap a Server holding the records takes.
func recordsHeap(svcs []dns.Service, pods []dns.Pod) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := dns.NewServer(dns.Config{})
	s.Replace(svcs, pods)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(s)
	return int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

// BenchmarkHandleParallel is BenchmarkHandle's pod query answered by every
// CPU at once, as the UDP readers do: it shows what the answers share
// (the snapshot, the response counters) costs under contention.
func BenchmarkHandleParallel(b *testing.B) {
	s := dns.NewServer(dns.Config{})
	s.Replace(bigRecords(10, 100))
	from := netip.MustParseAddr("127.0.0.1")
	q := packQuery(b, "web-42.svc3.set.local.", mdns.TypeA, false)
	b.ReportAllocs()
	cpu := cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		out := make([]byte, 0, 65535)
		for pb.Next() {
			if _, ok := s.Handle(q, from, false, out[:0]); !ok {
				b.Error("no answer")
				return
			}
		}
	})
	reportCPU(b, cpu)
}

// cpuTime returns the CPU time the process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation since start (cpuTime), as
// cpu-ns/op: unlike ns/op it does not grow while other processes hold the
// CPUs, so runs on a busy machine compare.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}
