package daemon_test

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/internal/testenv"
)

// TestMetrics: with metricsListen, GET /metrics on that address shows a
// set's pods by phase and readiness, its probe attempts, the controller's
// passes, the apply timed once to Ready, the DNS answers by code and
// containerd as up.
func TestMetrics(t *testing.T) {
	t.Parallel()
	testenv.RequireBinary(t, "dig", "dnsutils")
	addr := freeLoopbackAddr(t)
	h := startDaemonWith(t, func(cfg *configs.DaemonConfig) {
		cfg.MetricsListen = addr
		cfg.DNSListen = []string{"127.0.0.1:0"}
	})
	h.apply(webSet("web", 2, ""))
	h.waitPods(timeout(t, 60*time.Second), "default", allReady(names("web", 2)...))

	v, err := h.client.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	server := loopbackDNS(t, v.DNS)
	if r := testenv.Dig(t, server, "web-0.web.set.local", "A"); r.Status != "NOERROR" {
		t.Fatalf("%s: %s", r.Command, r.Output)
	}
	if r := testenv.Dig(t, server, "web-9.web.set.local", "A"); r.Status != "NXDOMAIN" {
		t.Fatalf("%s: %s", r.Command, r.Output)
	}

	// The apply is observed by the pass that stores the Ready status, just
	// after watchers hear of it: nothing to wait on but the scrape.
	m := scrapeMetrics(t, addr)
	for deadline := time.Now().Add(10 * time.Second); !m.has("setlet_apply_to_ready_seconds_count", "namespace", "default", "set", "web"); m = scrapeMetrics(t, addr) {
		if time.Now().After(deadline) {
			t.Fatalf("the apply was not timed to Ready:\n%s", m)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range []struct {
		name   string
		labels []string
		check  func(float64) bool
		want   string
	}{
		{"setlet_pods", []string{"namespace", "default", "set", "web", "phase", "Running", "ready", "true"}, eq(2), "2"},
		{"setlet_pods", []string{"namespace", "default", "set", "web", "phase", "Pending", "ready", "false"}, eq(0), "0"},
		{"setlet_container_restarts_total", []string{"namespace", "default", "set", "web", "pod", "web-1", "container", "web"}, eq(0), "0"},
		{"setlet_probe_results_total", []string{"type", "httpGet", "kind", "readiness", "result", "success"}, atLeast(2), ">= 2"},
		{"setlet_probe_duration_seconds_count", []string{"type", "httpGet", "kind", "readiness", "result", "success"}, atLeast(2), ">= 2"},
		{"setlet_reconcile_duration_seconds_count", []string{"result", "success"}, atLeast(1), "> 0"},
		{"setlet_apply_to_ready_seconds_count", []string{"namespace", "default", "set", "web"}, eq(1), "1"},
		{"setlet_apply_to_ready_seconds_sum", []string{"namespace", "default", "set", "web"}, func(v float64) bool { return v > 0 && v < 60 }, "in (0, 60)"},
		{"setlet_dns_queries_total", []string{"rcode", "NOERROR"}, atLeast(1), ">= 1"},
		{"setlet_dns_queries_total", []string{"rcode", "NXDOMAIN"}, atLeast(1), ">= 1"},
		{"setlet_containerd_up", nil, eq(1), "1"},
	} {
		if got := m.value(t, c.name, c.labels...); !c.check(got) {
			t.Errorf("%s%v = %v, want %s", c.name, c.labels, got, c.want)
		}
	}
}

// TestNoListenerWithoutMetrics: without metricsListen the daemon listens
// on the network for DNS only. Not parallel: it lists every socket of the
// test process, so no other test may hold one meanwhile.
func TestNoListenerWithoutMetrics(t *testing.T) {
	h := startBareDaemon(t, nil)
	v, err := h.client.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ownListeners(t) {
		if !slices.Contains(v.DNS, l.addr.String()) {
			t.Errorf("the daemon listens on %s %s; only DNS (%v) may listen without being asked", l.proto, l.addr, v.DNS)
		}
	}
}

func eq(want float64) func(float64) bool      { return func(v float64) bool { return v == want } }
func atLeast(want float64) func(float64) bool { return func(v float64) bool { return v >= want } }

// freeLoopbackAddr returns a 127.0.0.1 address with a TCP port nobody
// listens on (for a moment).
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// scrape is a /metrics page in the text format.
type scrape string

func (s scrape) String() string { return string(s) }

// scrapeMetrics GETs /metrics at addr.
func scrapeMetrics(t *testing.T, addr string) scrape {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v\n%s", resp.StatusCode, err, body)
	}
	return scrape(body)
}

// value returns the sample of name whose labels are exactly labels (name,
// value pairs, in any order), or fails t when there is none.
func (s scrape) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	v, ok, err := s.lookup(name, labels...)
	if err != nil || !ok {
		t.Fatalf("no %s%v in the scrape (%v):\n%s", name, labels, err, s)
	}
	return v
}

// has reports whether the scrape has a sample of name with labels.
func (s scrape) has(name string, labels ...string) bool {
	_, ok, _ := s.lookup(name, labels...)
	return ok
}

// lookup is value without a test to fail.
func (s scrape) lookup(name string, labels ...string) (float64, bool, error) {
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, line := range strings.Split(string(s), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		series, value := line[:sp], line[sp+1:]
		metric, rest, _ := strings.Cut(series, "{")
		if metric != name {
			continue
		}
		got := map[string]string{}
		for _, pair := range strings.Split(strings.TrimSuffix(rest, "}"), ",") {
			if k, v, ok := strings.Cut(pair, "="); ok {
				got[k] = strings.Trim(v, `"`)
			}
		}
		if len(got) != len(want) {
			continue
		}
		match := true
		for k, v := range want {
			match = match && got[k] == v
		}
		if match {
			f, err := strconv.ParseFloat(value, 64)
			return f, err == nil, err
		}
	}
	return 0, false, nil
}

// listener is a listening socket of this process.
type listener struct {
	proto string
	addr  netip.AddrPort
}

// ownListeners returns the sockets of this process that wait for peers in
// the host's network namespace: TCP ones in LISTEN state and UDP ones not
// connected.
func ownListeners(t *testing.T) []listener {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		link, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	// This thread's namespace is the host's: the test never enters a pod's.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var out []listener
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		data, err := os.ReadFile("/proc/thread-self/net/" + proto)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			f := strings.Fields(line)
			if len(f) < 10 || !inodes[f[9]] {
				continue
			}
			listening := f[3] == "0A" // TCP_LISTEN
			if strings.HasPrefix(proto, "udp") {
				_, port := procAddr(t, f[2])
				listening = port == 0
			}
			if listening {
				ip, port := procAddr(t, f[1])
				out = append(out, listener{proto: proto, addr: netip.AddrPortFrom(ip.Unmap(), port)})
			}
		}
	}
	return out
}

// procAddr decodes an address of /proc/net/{tcp,udp}{,6}: the IP as the
// kernel stores it (32-bit words in host order), a colon, the port in hex.
func procAddr(t *testing.T, s string) (netip.Addr, uint16) {
	t.Helper()
	ipHex, portHex, _ := strings.Cut(s, ":")
	raw, err := hex.DecodeString(ipHex)
	port, perr := strconv.ParseUint(portHex, 16, 16)
	if err != nil || perr != nil || (len(raw) != 4 && len(raw) != 16) {
		t.Fatalf("address %q in /proc/net", s)
	}
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(raw[i:], binary.NativeEndian.Uint32(raw[i:]))
	}
	ip, _ := netip.AddrFromSlice(raw)
	return ip, uint16(port)
}
