// Command dnsbench compares setlet's DNS server with dnsmasq, end to end,
// with dnsperf: the same 1000 pods' records in both, each server pinned to
// CPU 0 and dnsperf to CPU 1. tools/dnsbench.sh runs it; BENCHMARKS.md
// records its figures.
//
//	dnsbench gen -dir DIR             write DIR/hosts (dnsmasq) and DIR/queries (dnsperf)
//	dnsbench serve -addr A [-churn N] serve the records with dns.Server until SIGTERM
//	dnsbench run [-rounds 3] [-time 10s] [-qps 5000]
//	                                  start both servers and dnsperf, print medians and ratios
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/setlet/setlet/dns"
)

// The benchmark's records: services × podsPerService pods, web-N.svcK.set.local.
const (
	services       = 10
	podsPerService = 100
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dnsbench gen|serve|run [flags]")
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "gen":
		fs := flag.NewFlagSet("gen", flag.ExitOnError)
		dir := fs.String("dir", ".", "directory to write hosts and queries to")
		fs.Parse(args)
		err = gen(*dir)
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ExitOnError)
		addr := fs.String("addr", "127.0.0.1:5301", "UDP and TCP address to serve on")
		churn := fs.Int("churn", 0, "pod updates per second (readiness flips and IP changes)")
		fs.Parse(args)
		err = serve(*addr, *churn)
	case "run":
		fs := flag.NewFlagSet("run", flag.ExitOnError)
		var o runOpts
		fs.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every measurement once per server, alternating")
		fs.DurationVar(&o.time, "time", 10*time.Second, "length of one dnsperf run")
		fs.IntVar(&o.qps, "qps", 5000, "fixed rate of the latency and CPU runs")
		fs.StringVar(&o.dir, "dir", "", "work directory (default: a temporary one)")
		fs.Parse(args)
		err = run(o)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dnsbench:", err)
		os.Exit(1)
	}
}

// pod returns pod n of service k.
func pod(k, n int) dns.Pod {
	return dns.Pod{
		Name:      fmt.Sprintf("svc%d-web-%d", k, n),
		Hostname:  fmt.Sprintf("web-%d", n),
		Subdomain: fmt.Sprintf("svc%d", k),
		IP:        netip.AddrFrom4([4]byte{10, 88, byte(k), byte(n + 1)}),
		Ready:     true,
	}
}

// records returns the benchmark's services and pods.
func records() ([]dns.Service, []dns.Pod) {
	var svcs []dns.Service
	var pods []dns.Pod
	for k := range services {
		svcs = append(svcs, dns.Service{Name: fmt.Sprintf("svc%d", k),
			Ports: []dns.Port{{Name: "http", Protocol: "TCP", Port: 80}}})
		for n := range podsPerService {
			pods = append(pods, pod(k, n))
		}
	}
	return svcs, pods
}

// gen writes dir/hosts, the same A records for dnsmasq's --addn-hosts (a
// service name is one line per pod), and dir/queries, 100000 queries for
// dnsperf: 80% pod names, 15% service names, 5% names that do not exist.
func gen(dir string) error {
	svcs, pods := records()
	var hosts strings.Builder
	for _, p := range pods {
		fmt.Fprintf(&hosts, "%s %s.%s.set.local\n", p.IP, p.Hostname, p.Subdomain)
	}
	for _, p := range pods {
		fmt.Fprintf(&hosts, "%s %s.set.local\n", p.IP, p.Subdomain)
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(hosts.String()), 0o644); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var q strings.Builder
	for range 100000 {
		switch r := rng.IntN(100); {
		case r < 80:
			p := pods[rng.IntN(len(pods))]
			fmt.Fprintf(&q, "%s.%s.set.local A\n", p.Hostname, p.Subdomain)
		case r < 95:
			fmt.Fprintf(&q, "%s.set.local A\n", svcs[rng.IntN(len(svcs))].Name)
		default:
			fmt.Fprintf(&q, "nope-%d.svc%d.set.local A\n", rng.IntN(1000), rng.IntN(services))
		}
	}
	return os.WriteFile(filepath.Join(dir, "queries"), []byte(q.String()), 0o644)
}

// serve serves the benchmark's records on addr until SIGTERM or SIGINT.
// It prints "heap <bytes>" (the heap the records take, after a GC) and
// "ready" on stdout once it answers. With churn > 0 a goroutine updates
// churn pods a second: every other update flips readiness, the others move
// the pod to a new IP.
func serve(addr string, churn int) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := dns.NewServer(dns.Config{})
	s.Replace(records())
	runtime.GC()
	runtime.ReadMemStats(&after)
	if err := s.ListenAndServe(ctx, addr); err != nil {
		return err
	}
	defer s.Close()
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(w, "heap %d\nready\n", int64(after.HeapAlloc)-int64(before.HeapAlloc))
	w.Flush()
	if churn > 0 {
		go func() {
			t := time.NewTicker(time.Second / time.Duration(churn))
			defer t.Stop()
			rng := rand.New(rand.NewPCG(3, 4))
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				p := pod(rng.IntN(services), rng.IntN(podsPerService))
				if i%2 == 0 {
					p.Ready = rng.IntN(2) == 0
				} else {
					p.IP = netip.AddrFrom4([4]byte{10, 89, byte(rng.IntN(256)), byte(rng.IntN(256))})
				}
				s.SetPod(p)
			}
		}()
	}
	<-ctx.Done()
	return nil
}
