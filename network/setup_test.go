package network_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"

	"github.com/setlet/setlet/network"
)

// TestSetupAttachesPod proves that Setup gives a pod a working network: an
// IP in the subnet on eth0 of a mounted namespace with lo up, reachable
// from the host, and a route out through the gateway.
func TestSetupAttachesPod(t *testing.T) {
	e := newEnv(t)
	a := e.attachment("web-0")
	r := e.setup(a)

	gw := e.m.Gateway()
	if want := net.ParseIP(e.subnet.IP.String()).To4(); want != nil {
		want[3] = 1
		if !gw.Equal(want) {
			t.Fatalf("Gateway() = %s, want %s", gw, want)
		}
	}
	if !r.Gateway.Equal(gw) {
		t.Errorf("Result.Gateway = %s, want %s", r.Gateway, gw)
	}
	if want := filepath.Join(e.cfg.NetnsDir, "web-0"); r.NetNS != want {
		t.Errorf("Result.NetNS = %s, want %s", r.NetNS, want)
	}
	if !isNetnsFile(r.NetNS) {
		t.Fatalf("%s is not a mounted network namespace", r.NetNS)
	}
	if got, want := e.m.NetworkName(), "setlet-"+e.cfg.Bridge; got != want {
		t.Errorf("NetworkName() = %s, want %s", got, want)
	}

	inNetns(t, r.NetNS, func() error {
		lo, err := net.InterfaceByName("lo")
		if err != nil {
			return err
		}
		if lo.Flags&net.FlagUp == 0 {
			t.Errorf("lo is down in the pod")
		}
		eth0, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		addrs, err := eth0.Addrs()
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(addrs, func(a net.Addr) bool { return a.(*net.IPNet).IP.Equal(r.IP) }) {
			t.Errorf("eth0 in the pod has %v, want %s", addrs, r.IP)
		}
		return nil
	})

	// The host reaches a listener in the pod on the pod's IP.
	listenIn(t, r.NetNS, net.JoinHostPort(r.IP.String(), "8080"), "hello from the pod")
	if got, err := fetch(net.JoinHostPort(r.IP.String(), "8080")); err != nil || got != "hello from the pod" {
		t.Fatalf("host to pod: got %q, %v", got, err)
	}

	// The pod reaches the host through its gateway.
	ln, err := net.Listen("tcp", net.JoinHostPort(gw.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	serve(t, ln, "hello from the host")
	var got string
	inNetns(t, r.NetNS, func() (err error) {
		got, err = fetch(ln.Addr().String())
		return err
	})
	if got != "hello from the host" {
		t.Fatalf("pod to gateway: got %q", got)
	}

	if pods, err := e.m.Namespaces(); err != nil || !slices.Equal(pods, []string{"web-0"}) {
		t.Errorf("Namespaces() = %v, %v; want [web-0]", pods, err)
	}
	if ids, err := e.m.Attachments(); err != nil || !slices.Equal(ids, []string{a.ID}) {
		t.Errorf("Attachments() = %v, %v; want [%s]", ids, err, a.ID)
	}
	e.requireAllocated(r.IP)
}

// TestSetupIsIdempotent proves that Setup of the same attachment, again,
// concurrently, or from a new Manager (a restarted daemon), returns the
// same IP and allocates one IP only; and that two pods get two IPs.
func TestSetupIsIdempotent(t *testing.T) {
	e := newEnv(t)
	a := e.attachment("web-0")
	first := e.setup(a)
	again := e.setup(a)
	if !again.IP.Equal(first.IP) {
		t.Fatalf("second Setup gave %s, first %s", again.IP, first.IP)
	}

	var wg sync.WaitGroup
	results := make([]network.Result, 4)
	errs := make([]error, 4)
	for i := range results {
		wg.Go(func() { results[i], errs[i] = e.m.Setup(context.Background(), a) })
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil || !results[i].IP.Equal(first.IP) {
			t.Fatalf("concurrent Setup %d: %s, %v; want %s", i, results[i].IP, errs[i], first.IP)
		}
	}

	restarted, err := network.New(e.cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	r, err := restarted.Setup(context.Background(), a)
	if err != nil || !r.IP.Equal(first.IP) {
		t.Fatalf("Setup by a new Manager: %s, %v; want %s", r.IP, err, first.IP)
	}
	e.requireAllocated(first.IP)

	b := e.attachment("web-1")
	other := e.setup(b)
	if other.IP.Equal(first.IP) {
		t.Fatalf("two pods got the same IP %s", first.IP)
	}
	e.requireAllocated(first.IP, other.IP)
}

// TestSetupRecoversFromCrashMidAdd proves that Setup after an ADD whose
// result libcni never cached (the daemon died between the plugins and the
// cache write) cleans up before attaching again: one IP, one eth0.
func TestSetupRecoversFromCrashMidAdd(t *testing.T) {
	e := newEnv(t)
	a := e.attachment("web-0")
	e.setup(a)
	cache := filepath.Join(e.cfg.DataDir, "cache", "results", e.m.NetworkName()+"-"+a.ID+"-eth0")
	if err := os.Remove(cache); err != nil {
		t.Fatalf("removing libcni's cached result: %v", err)
	}
	r := e.setup(a)
	e.requireAllocated(r.IP)
	requireEth0(t, r)
}

// TestSetupRepairsBrokenAttachment proves that Setup of an attachment
// that no longer checks out attaches it again without leaking the old IP
// or its rules: when eth0 was deleted (seen in the namespace), and when
// host-local lost the allocation (seen only by the plugins' CHECK).
func TestSetupRepairsBrokenAttachment(t *testing.T) {
	tests := []struct {
		name   string
		damage func(e *env, r network.Result)
	}{
		{"eth0 deleted", func(e *env, r network.Result) {
			inNetns(e.t, r.NetNS, func() error {
				link, err := netlink.LinkByName("eth0")
				if err != nil {
					return err
				}
				return netlink.LinkDel(link)
			})
		}},
		{"allocation lost", func(e *env, r network.Result) {
			if err := os.Remove(filepath.Join(e.cfg.DataDir, "ipam", e.m.NetworkName(), r.IP.String())); err != nil {
				e.t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			a := e.attachment("web-0", network.PortMapping{HostPort: freePort(t), ContainerPort: 80})
			tt.damage(e, e.setup(a))
			r := e.setup(a)
			e.requireAllocated(r.IP)
			requireEth0(t, r)
			e.teardown(a)
			e.requireEmpty()
		})
	}
}

// TestUnownedNamespace proves that a namespace file without an owner
// record is a Conflict for Setup, is left alone by Teardown of an ID, and
// is removed by Teardown with the pod name only; the attachment it held is
// then found by Attachments and released by Teardown with its ID.
func TestUnownedNamespace(t *testing.T) {
	e := newEnv(t)
	a := e.attachment("web-0")
	r := e.setup(a)
	if err := os.Remove(filepath.Join(e.cfg.NetnsDir, ".owners", "web-0")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Setup(context.Background(), a); !errdefs.IsConflict(err) {
		t.Fatalf("Setup over an unowned namespace: %v, want a Conflict", err)
	}
	e.teardown(a)
	if !isNetnsFile(r.NetNS) {
		t.Fatal("Teardown with an ID removed a namespace that is not its own")
	}
	e.teardown(network.Attachment{Pod: "web-0"})
	if pods, _ := e.m.Namespaces(); len(pods) > 0 {
		t.Fatalf("Namespaces() = %v after Teardown by pod name", pods)
	}
	// a's DEL above ran without the namespace (not a's): IP released.
	e.requireEmpty()
}

// TestSetupConflictsWithEarlierIncarnation proves that a namespace left by
// another attachment ID is a Conflict, that tearing down the new ID does
// not touch the old one's namespace or IP, and that after Teardown of the
// old one the new one attaches.
func TestSetupConflictsWithEarlierIncarnation(t *testing.T) {
	e := newEnv(t)
	old := e.attachment("web-0")
	r := e.setup(old)
	next := e.attachment("web-0")
	e.track(next)
	if _, err := e.m.Setup(context.Background(), next); !errdefs.IsConflict(err) {
		t.Fatalf("Setup of a new incarnation over the old one's namespace: %v, want a Conflict", err)
	}
	e.teardown(next)
	if !isNetnsFile(r.NetNS) {
		t.Fatal("Teardown of the new incarnation removed the old one's namespace")
	}
	requireEth0(t, r)
	e.requireAllocated(r.IP)

	e.teardown(old)
	n := e.setup(next)
	requireEth0(t, n)
	e.requireAllocated(n.IP)
}

// TestSetupRejectsBadAttachments proves that invalid attachments are
// InvalidArgument errors.
func TestSetupRejectsBadAttachments(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		a    network.Attachment
	}{
		{"no ID", network.Attachment{Pod: "web-0"}},
		{"bad ID", network.Attachment{ID: "a/b", Pod: "web-0"}},
		{"no pod", network.Attachment{ID: "uid"}},
		{"pod with slash", network.Attachment{ID: "uid", Pod: "a/b"}},
		{"hidden pod", network.Attachment{ID: "uid", Pod: ".owners"}},
		{"namespace with ;", network.Attachment{ID: "uid", Pod: "web-0", Namespace: "a;b"}},
		{"host port 0", network.Attachment{ID: "uid", Pod: "web-0", Ports: []network.PortMapping{{ContainerPort: 80}}}},
		{"bad protocol", network.Attachment{ID: "uid", Pod: "web-0", Ports: []network.PortMapping{{HostPort: 80, ContainerPort: 80, Protocol: "icmp"}}}},
		{"bad host IP", network.Attachment{ID: "uid", Pod: "web-0", Ports: []network.PortMapping{{HostPort: 80, ContainerPort: 80, HostIP: "x"}}}},
		{"duplicate port", network.Attachment{ID: "uid", Pod: "web-0", Ports: []network.PortMapping{
			{HostPort: 80, ContainerPort: 80}, {HostPort: 80, ContainerPort: 81, Protocol: "TCP"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.m.Setup(context.Background(), tt.a); !errdefs.IsInvalidArgument(err) {
				t.Fatalf("Setup: %v, want InvalidArgument", err)
			}
		})
	}
	if err := e.m.Teardown(context.Background(), network.Attachment{}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Teardown of an empty attachment: %v, want InvalidArgument", err)
	}
	e.requireEmpty()
}

// requireEth0 fails unless eth0 in r's namespace carries r.IP.
func requireEth0(t *testing.T, r network.Result) {
	t.Helper()
	inNetns(t, r.NetNS, func() error {
		eth0, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		addrs, err := eth0.Addrs()
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(addrs, func(a net.Addr) bool { return a.(*net.IPNet).IP.Equal(r.IP) }) {
			t.Errorf("eth0 has %v, want %s", addrs, r.IP)
		}
		return nil
	})
}
