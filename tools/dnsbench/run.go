package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

type runOpts struct {
	rounds int
	time   time.Duration
	qps    int
	dir    string
}

// Ports of the servers run starts.
const (
	portSetlet  = 5301
	portChurn   = 5302
	portDnsmasq = 5303
)

// server is one DNS server process under test.
type server struct {
	name string
	port int
	cmd  *exec.Cmd
}

// cpuTicks returns the process's user plus system time in clock ticks
// (1/100 s) from /proc/<pid>/stat.
func (s *server) cpuTicks() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesized command name: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", s.cmd.Process.Pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat", s.cmd.Process.Pid)
	}
	return u + st, nil
}

func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
	}
}

// waitAnswers waits until the server on port answers web-0.svc0.set.local.
func waitAnswers(port int) error {
	m := new(mdns.Msg)
	m.SetQuestion("web-0.svc0.set.local.", mdns.TypeA)
	c := &mdns.Client{Timeout: 200 * time.Millisecond}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for range 50 {
		if r, _, err := c.Exchange(m, addr); err == nil && len(r.Answer) == 1 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no answer from %s", addr)
}

// startSetlet starts `dnsbench serve` on CPU 0 and returns it with the heap
// its records take.
func startSetlet(name string, port, churn int) (*server, int64, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, 0, err
	}
	cmd := exec.Command("taskset", "-c", "0", self, "serve",
		"-addr", fmt.Sprintf("127.0.0.1:%d", port), "-churn", strconv.Itoa(churn))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, 0, err
	}
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	s := &server{name: name, port: port, cmd: cmd}
	var heap int64
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if h, ok := strings.CutPrefix(sc.Text(), "heap "); ok {
			heap, _ = strconv.ParseInt(h, 10, 64)
		}
		if sc.Text() == "ready" {
			break
		}
	}
	go io.Copy(io.Discard, out)
	if err := waitAnswers(port); err != nil {
		s.stop()
		return nil, 0, err
	}
	return s, heap, nil
}

// startDnsmasq starts dnsmasq on CPU 0 serving dir/hosts.
func startDnsmasq(dir string, port int) (*server, error) {
	cmd := exec.Command("taskset", "-c", "0", "/usr/sbin/dnsmasq",
		"--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces",
		"--listen-address=127.0.0.1", fmt.Sprintf("--port=%d", port),
		"--addn-hosts="+filepath.Join(dir, "hosts"), "--local=/set.local/",
		"--cache-size=10000", "--pid-file=", "--user=root", "--group=root",
		"--log-facility=/dev/null")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{name: "dnsmasq", port: port, cmd: cmd}
	if err := waitAnswers(port); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// perf is the outcome of one dnsperf run.
type perf struct {
	qps       float64
	completed float64
	avgLat    float64 // seconds
	maxLat    float64
	cpu       float64 // server CPU seconds over the run
	perfCPU   float64 // dnsperf's CPU seconds
	lost      float64
}

var (
	reQPS  = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	reDone = regexp.MustCompile(`Queries completed:\s+([0-9]+)`)
	reLost = regexp.MustCompile(`Queries lost:\s+([0-9]+)`)
	reLat  = regexp.MustCompile(`Average Latency \(s\):\s+([0-9.]+)\s+\(min [0-9.]+, max ([0-9.]+)\)`)
)

// dnsperf runs dnsperf on CPU 1 against s; qps 0 means as fast as it goes.
func dnsperf(s *server, queries string, d time.Duration, qps int) (perf, error) {
	args := []string{"-c", "1", "dnsperf", "-s", "127.0.0.1", "-p", strconv.Itoa(s.port),
		"-d", queries, "-l", strconv.Itoa(int(d.Seconds())), "-c", "10", "-T", "1"}
	if qps > 0 {
		args = append(args, "-Q", strconv.Itoa(qps), "-q", "100")
	} else {
		args = append(args, "-q", "100")
	}
	t0, err := s.cpuTicks()
	if err != nil {
		return perf{}, err
	}
	cmd := exec.Command("taskset", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return perf{}, fmt.Errorf("dnsperf: %v: %s", err, out)
	}
	t1, err := s.cpuTicks()
	if err != nil {
		return perf{}, err
	}
	var p perf
	num := func(re *regexp.Regexp, i int) float64 {
		m := re.FindSubmatch(out)
		if m == nil {
			return 0
		}
		v, _ := strconv.ParseFloat(string(m[i]), 64)
		return v
	}
	p.qps, p.completed, p.lost = num(reQPS, 1), num(reDone, 1), num(reLost, 1)
	p.avgLat, p.maxLat = num(reLat, 1), num(reLat, 2)
	p.cpu = float64(t1-t0) / 100
	p.perfCPU = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	if p.qps == 0 {
		return p, fmt.Errorf("dnsperf printed no rate: %s", out)
	}
	return p, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// run starts setlet (plain and churning) and dnsmasq, runs dnsperf against
// them in alternating order for o.rounds rounds, and prints the medians.
func run(o runOpts) error {
	for _, bin := range []string{"taskset", "dnsperf", "/usr/sbin/dnsmasq"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found (apt-get install -y dnsperf dnsmasq-base util-linux)", bin)
		}
	}
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "dnsbench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if err := gen(dir); err != nil {
		return err
	}
	queries := filepath.Join(dir, "queries")

	setlet, heap, err := startSetlet("setlet", portSetlet, 0)
	if err != nil {
		return err
	}
	defer setlet.stop()
	churn, _, err := startSetlet("setlet+churn", portChurn, 10)
	if err != nil {
		return err
	}
	defer churn.stop()
	dnsmasq, err := startDnsmasq(dir, portDnsmasq)
	if err != nil {
		return err
	}
	defer dnsmasq.stop()

	type key struct{ server, kind string }
	res := map[key][]perf{}
	measure := func(s *server, kind string, qps int) error {
		p, err := dnsperf(s, queries, o.time, qps)
		if err != nil {
			return fmt.Errorf("%s %s: %w", s.name, kind, err)
		}
		fmt.Fprintf(os.Stderr, "  %-13s %-5s qps %8.0f  avg %6.0f µs  max %6.0f µs  cpu %5.2f s  dnsperf cpu %5.2f s  lost %.0f\n",
			s.name, kind, p.qps, p.avgLat*1e6, p.maxLat*1e6, p.cpu, p.perfCPU, p.lost)
		res[key{s.name, kind}] = append(res[key{s.name, kind}], p)
		return nil
	}
	for r := range o.rounds {
		fmt.Fprintf(os.Stderr, "round %d/%d\n", r+1, o.rounds)
		maxOrder := []*server{setlet, dnsmasq, churn}
		fixedOrder := []*server{setlet, dnsmasq}
		if r%2 == 1 {
			slices.Reverse(maxOrder)
			slices.Reverse(fixedOrder)
		}
		for _, s := range maxOrder {
			if err := measure(s, "max", 0); err != nil {
				return err
			}
		}
		for _, s := range fixedOrder {
			if err := measure(s, "fixed", o.qps); err != nil {
				return err
			}
		}
	}

	med := func(name, kind string, f func(perf) float64) float64 {
		var v []float64
		for _, p := range res[key{name, kind}] {
			v = append(v, f(p))
		}
		return median(v)
	}
	qps := func(p perf) float64 { return p.qps }
	avg := func(p perf) float64 { return p.avgLat * 1e6 }
	mx := func(p perf) float64 { return p.maxLat * 1e6 }
	cpuPerQ := func(p perf) float64 { return p.cpu / p.completed * 1e6 }
	cpuLoad := func(p perf) float64 { return p.cpu / o.time.Seconds() * 100 }
	perfLoad := func(p perf) float64 { return p.perfCPU / o.time.Seconds() * 100 }
	perCPU := func(p perf) float64 { return p.completed / p.cpu }

	fmt.Printf("dnsbench: %d rounds of %s per run, %d services x %d pods, medians\n\n",
		o.rounds, o.time, services, podsPerService)
	fmt.Printf("| measure | setlet | dnsmasq | setlet/dnsmasq |\n|---|---|---|---|\n")
	row := func(what, kind string, f func(perf) float64, format string) {
		a, b := med("setlet", kind, f), med("dnsmasq", kind, f)
		fmt.Printf("| %s | "+format+" | "+format+" | %.2f |\n", what, a, b, a/b)
	}
	row("max qps (dnsperf -c 10 -q 100)", "max", qps, "%.0f")
	row("server CPU at max qps (% of one core)", "max", cpuLoad, "%.0f%%")
	row("dnsperf CPU at max qps (% of one core)", "max", perfLoad, "%.0f%%")
	row("queries per server CPU-second at max qps", "max", perCPU, "%.0f")
	row(fmt.Sprintf("average latency at %d qps (µs)", o.qps), "fixed", avg, "%.0f")
	row(fmt.Sprintf("max latency at %d qps (µs)", o.qps), "fixed", mx, "%.0f")
	row(fmt.Sprintf("server CPU per query at %d qps (µs)", o.qps), "fixed", cpuPerQ, "%.1f")
	c, p := med("setlet+churn", "max", qps), med("setlet", "max", qps)
	fmt.Printf("| max qps with 10 pod updates/s (setlet) | %.0f | | %.2f of setlet without churn |\n", c, c/p)
	c, p = med("setlet+churn", "max", perCPU), med("setlet", "max", perCPU)
	fmt.Printf("| queries per CPU-second with 10 pod updates/s (setlet) | %.0f | | %.2f of setlet without churn |\n", c, c/p)
	fmt.Printf("\nsetlet heap for %d pods' records: %.2f MB\n", services*podsPerService, float64(heap)/(1<<20))
	return nil
}
