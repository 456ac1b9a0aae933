package network_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/setlet/setlet/internal/testenv"
	"github.com/setlet/setlet/network"
)

// These are integration tests: they run the real CNI plugins of Debian's
// containernetworking-plugins as root. Each test has its own bridge
// ("sltn..."), its own /24 in 10.231.0.0/16, its own netns and data
// directories, and leaves the host as it found it: t.Cleanup tears down
// every attachment, deletes the bridge and checks that no iptables rule or
// chain of the test remains. The tests of this package do not run in
// parallel with each other, so that the iptables comparison is exact; the
// concurrency of the Manager is tested inside TestCycles.

// TestMain removes, after all tests, the chains portmap shares between
// all its networks and never deletes itself (CNI-HOSTPORT-*), when they
// were not there before and nothing uses them any more.
func TestMain(m *testing.M) {
	var before []string
	if os.Geteuid() == 0 {
		before, _ = iptablesRules()
	}
	code := m.Run()
	if os.Geteuid() == 0 {
		if err := removeSharedPortmapChains(before); err != nil {
			fmt.Fprintln(os.Stderr, "removing portmap's shared chains:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// envCount numbers the environments of this test binary.
var envCount atomic.Int32

// env is one test's network: a Manager with its own bridge, subnet and
// directories.
type env struct {
	t      *testing.T
	m      *network.Manager
	cfg    network.Config
	subnet *net.IPNet
	n      int32
	atts   []network.Attachment // torn down in t.Cleanup
}

// newEnv returns a Manager on a fresh bridge and subnet. edit may change
// the config before New.
func newEnv(t *testing.T, edit ...func(*network.Config)) *env {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "iptables", "iptables")
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/cni", p)); err != nil {
			t.Fatalf("CNI plugin %s missing: install Debian's containernetworking-plugins (.ci/run does)", p)
		}
	}
	n := envCount.Add(1)
	e := &env{t: t, n: n}
	octet := (os.Getpid()*16+int(n))%254 + 1
	_, e.subnet, _ = net.ParseCIDR(fmt.Sprintf("10.231.%d.0/24", octet))
	dir := t.TempDir()
	e.cfg = network.Config{
		Bridge:   fmt.Sprintf("sltn%dx%d", os.Getpid()%10000, n),
		Subnet:   e.subnet.String(),
		NetnsDir: filepath.Join(dir, "netns"),
		DataDir:  filepath.Join(dir, "data"),
	}
	for _, f := range edit {
		f(&e.cfg)
	}
	if _, err := netlink.LinkByName(e.cfg.Bridge); err == nil {
		t.Fatalf("bridge %s already exists: a previous run leaked it; delete it with `ip link del %s`", e.cfg.Bridge, e.cfg.Bridge)
	}
	if routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: e.subnet}, netlink.RT_FILTER_DST); err == nil && len(routes) > 0 {
		t.Fatalf("subnet %s is already routed on this host: a previous run leaked a bridge", e.subnet)
	}
	rulesBefore, err := iptablesRules()
	if err != nil {
		t.Fatal(err)
	}
	m, err := network.New(e.cfg, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.m = m
	t.Cleanup(func() { e.cleanup(rulesBefore) })
	return e
}

// cleanup tears everything of e down and fails the test when something
// the test created is still on the host.
func (e *env) cleanup(rulesBefore []string) {
	t := e.t
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, a := range e.atts {
		if err := e.m.Teardown(ctx, a); err != nil {
			t.Errorf("cleanup: Teardown(%s): %v", a.ID, err)
		}
	}
	if link, err := netlink.LinkByName(e.cfg.Bridge); err == nil {
		if err := netlink.LinkDel(link); err != nil {
			t.Errorf("cleanup: deleting bridge %s: %v", e.cfg.Bridge, err)
		}
	}
	if mounts := mountsUnder(t, e.cfg.NetnsDir); len(mounts) > 0 {
		t.Errorf("cleanup: namespace files still mounted: %v", mounts)
		for _, p := range mounts {
			_ = unix.Unmount(p, unix.MNT_DETACH)
		}
	}
	// The Manager made NetnsDir a mount point; unmount it so that
	// t.TempDir can be removed.
	_ = unix.Unmount(e.cfg.NetnsDir, unix.MNT_DETACH)
	e.requireNoRules(rulesBefore)
}

// requireNoRules fails the test when an iptables rule or chain of this
// test's network that was not in before is there now (portmap's shared
// chains excepted). Rules of other networks are not this test's: other
// test binaries (the daemon's) create and remove theirs at the same time.
func (e *env) requireNoRules(before []string) {
	e.t.Helper()
	after, err := iptablesRules()
	if err != nil {
		e.t.Error(err)
		return
	}
	name := `"` + e.m.NetworkName() + `\"`
	chains := map[string]bool{}
	for _, r := range after {
		if strings.Contains(r, name) {
			for _, f := range strings.Fields(r) {
				if strings.HasPrefix(f, "CNI-") {
					chains[f] = true
				}
			}
		}
	}
	for _, r := range after {
		if slices.Contains(before, r) || sharedPortmapRule(r) {
			continue
		}
		f := strings.Fields(r)
		declared := len(f) >= 3 && f[1] == "-N" && chains[f[2]]
		if strings.Contains(r, name) || declared {
			e.t.Errorf("iptables rule left behind: %s", r)
		}
	}
}

// attachment returns a new attachment (a new incarnation) of pod.
func (e *env) attachment(pod string, ports ...network.PortMapping) network.Attachment {
	return network.Attachment{
		ID:        fmt.Sprintf("uid-%d-%s-%d", e.n, pod, len(e.atts)),
		Pod:       pod,
		Namespace: "default",
		Ports:     ports,
	}
}

// setup runs Setup and registers a for the cleanup's Teardown.
func (e *env) setup(a network.Attachment) network.Result {
	e.t.Helper()
	e.track(a)
	r, err := e.m.Setup(context.Background(), a)
	if err != nil {
		e.t.Fatalf("Setup(%s): %v", a.Pod, err)
	}
	if !e.subnet.Contains(r.IP) {
		e.t.Fatalf("Setup(%s) gave %s, not in %s", a.Pod, r.IP, e.subnet)
	}
	return r
}

func (e *env) track(a network.Attachment) {
	if !slices.ContainsFunc(e.atts, func(b network.Attachment) bool { return b.ID == a.ID }) {
		e.atts = append(e.atts, a)
	}
}

func (e *env) teardown(a network.Attachment) {
	e.t.Helper()
	if err := e.m.Teardown(context.Background(), a); err != nil {
		e.t.Fatalf("Teardown(%s %s): %v", a.Pod, a.ID, err)
	}
}

// requireAllocated fails unless host-local has exactly want allocated.
func (e *env) requireAllocated(want ...net.IP) {
	e.t.Helper()
	got, err := e.m.Allocated()
	if err != nil {
		e.t.Fatalf("Allocated: %v", err)
	}
	if !slices.EqualFunc(got, sortedIPs(want), net.IP.Equal) {
		e.t.Fatalf("Allocated() = %v, want %v", got, want)
	}
}

// requireEmpty fails unless nothing of any attachment is left: no IP,
// no cached result, no namespace file or mount, no rule of this network.
func (e *env) requireEmpty() {
	e.t.Helper()
	e.requireAllocated()
	if ids, err := e.m.Attachments(); err != nil || len(ids) > 0 {
		e.t.Fatalf("Attachments() = %v, %v; want none", ids, err)
	}
	if pods, err := e.m.Namespaces(); err != nil || len(pods) > 0 {
		e.t.Fatalf("Namespaces() = %v, %v; want none", pods, err)
	}
	if mounts := mountsUnder(e.t, e.cfg.NetnsDir); len(mounts) > 0 {
		e.t.Fatalf("namespace files still mounted: %v", mounts)
	}
	e.requireNoNetworkRules()
}

// requireNoNetworkRules fails when an iptables rule names this network
// (the bridge's masquerade rules and portmap's DNAT rules all do, in
// their comments).
func (e *env) requireNoNetworkRules() {
	e.t.Helper()
	rules, err := iptablesRules()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range rules {
		if strings.Contains(r, fmt.Sprintf("%q", e.m.NetworkName())) || strings.Contains(r, `\"`+e.m.NetworkName()+`\"`) {
			e.t.Fatalf("rule of network %s left behind: %s", e.m.NetworkName(), r)
		}
	}
}

func sortedIPs(ips []net.IP) []net.IP {
	out := slices.Clone(ips)
	slices.SortFunc(out, func(a, b net.IP) int { return slices.Compare(a.To16(), b.To16()) })
	return out
}

// inNetns runs fn in the network namespace at path, on a locked thread
// that is put back (or left locked to die) afterwards.
func inNetns(t *testing.T, path string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(path)
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			done <- errors.Join(ferr, err)
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	if err := <-done; err != nil {
		t.Fatalf("in network namespace %s: %v", path, err)
	}
}

// serve answers every connection on ln with greeting until the test ends.
func serve(t *testing.T, ln net.Listener, greeting string) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, greeting)
			c.Close()
		}
	}()
}

// listenIn listens on TCP addr inside the namespace at path and serves
// greeting.
func listenIn(t *testing.T, path, addr, greeting string) {
	t.Helper()
	var ln net.Listener
	inNetns(t, path, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	serve(t, ln, greeting)
}

// fetch connects to TCP addr and returns what the other side sends.
func fetch(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

// mountsUnder lists the mount points below dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// isNetnsFile reports whether a network namespace is mounted at path.
func isNetnsFile(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// iptablesRules lists the rules and chains of the nat and filter tables,
// each prefixed with its table.
func iptablesRules() ([]string, error) {
	var out []string
	for _, table := range []string{"nat", "filter"} {
		b, err := exec.Command("iptables", "-w", "-t", table, "-S").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("iptables -t %s -S: %v: %s", table, err, b)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			out = append(out, table+" "+l)
		}
	}
	return out, nil
}

// sharedPortmapRule reports whether rule is part of the chains portmap
// shares between all networks and never removes: CNI-HOSTPORT-SETMARK,
// CNI-HOSTPORT-MASQ, an empty CNI-HOSTPORT-DNAT, and the jumps to them.
func sharedPortmapRule(rule string) bool {
	f := strings.Fields(rule)
	if len(f) < 3 || f[0] != "nat" {
		return false
	}
	switch {
	case f[1] == "-N" && strings.HasPrefix(f[2], "CNI-HOSTPORT-"):
		return true
	case f[1] == "-A" && (f[2] == "CNI-HOSTPORT-SETMARK" || f[2] == "CNI-HOSTPORT-MASQ"):
		return true
	case f[1] == "-A" && (f[2] == "PREROUTING" || f[2] == "OUTPUT" || f[2] == "POSTROUTING"):
		last := f[len(f)-1]
		return last == "CNI-HOSTPORT-DNAT" || last == "CNI-HOSTPORT-MASQ"
	}
	return false
}

// removeSharedPortmapChains deletes portmap's shared chains when they were
// not in before and CNI-HOSTPORT-DNAT is empty.
func removeSharedPortmapChains(before []string) error {
	if slices.Contains(before, "nat -N CNI-HOSTPORT-DNAT") {
		return nil
	}
	rules, err := iptablesRules()
	if err != nil {
		return err
	}
	for _, r := range rules {
		if strings.HasPrefix(r, "nat -A CNI-HOSTPORT-DNAT ") {
			return nil // in use by someone else
		}
	}
	var chains []string
	for _, r := range rules {
		if !sharedPortmapRule(r) || slices.Contains(before, r) {
			continue
		}
		f := splitRule(strings.TrimPrefix(r, "nat "))
		switch {
		case f[0] == "-N":
			chains = append(chains, f[1])
		case f[1] == "PREROUTING" || f[1] == "OUTPUT" || f[1] == "POSTROUTING":
			f[0] = "-D"
			if b, err := exec.Command("iptables", append([]string{"-w", "-t", "nat"}, f...)...).CombinedOutput(); err != nil {
				return fmt.Errorf("iptables %v: %v: %s", f, err, b)
			}
		}
	}
	for _, args := range [][]string{{"-F"}, {"-X"}} {
		for _, c := range chains {
			if b, err := exec.Command("iptables", "-w", "-t", "nat", args[0], c).CombinedOutput(); err != nil {
				return fmt.Errorf("iptables %s %s: %v: %s", args[0], c, err, b)
			}
		}
	}
	return nil
}

// splitRule splits a rule as `iptables -S` prints it into arguments,
// honouring its double quotes and backslash escapes.
func splitRule(s string) []string {
	var (
		out    []string
		cur    strings.Builder
		quoted bool
		inWord bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == '"':
			quoted = !quoted
			inWord = true
		case c == ' ' && !quoted:
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

// testLogger logs to t at debug level.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
