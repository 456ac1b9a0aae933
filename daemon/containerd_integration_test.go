package daemon_test

import (
	"context"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/internal/testenv"
)

// TestContainerdRestart: while containerd is stopped the daemon says so
// (an event, status) and keeps serving the API and DNS, and takes changes;
// once containerd is back it resyncs: the running pods are adopted as they
// are (same pods, no restart), the change made meanwhile is carried out
// once, and nothing is duplicated in containerd.
func TestContainerdRestart(t *testing.T) {
	t.Parallel()
	testenv.RequireBinary(t, "dig", "dnsutils")
	cd := testenv.NewPrivateContainerd(t)
	h := startDaemonWith(t, func(cfg *configs.DaemonConfig) {
		cfg.Containerd = cd.Address
		cfg.DNSListen = []string{"127.0.0.1:0"}
	})
	ctx := context.Background()
	h.apply(webSet("web", 2, ""))
	h.waitPods(timeout(t, 60*time.Second), "default", allReady(names("web", 2)...))
	before := h.podUIDs()

	cd.Stop()
	h.waitEvent(t, "ContainerdUnavailable")
	st, err := h.client.Status(ctx)
	if err != nil || st.Containerd.Up || st.Containerd.Error == "" {
		t.Fatalf("status with containerd stopped: %+v, %v", st.Containerd, err)
	}
	server := loopbackDNS(t, st.DNS)
	if r := testenv.Dig(t, server, "web-1.web.set.local", "A"); r.Status != "NOERROR" || len(r.Answer) != 1 {
		t.Errorf("DNS with containerd stopped: %s %v", r.Status, r.Answer)
	}
	if err := h.client.Scale(ctx, "default", "web", 3, false); err != nil {
		t.Fatalf("scale with containerd stopped: %v", err)
	}

	cd.Start()
	h.waitEvent(t, "ContainerdAvailable")
	h.waitPods(timeout(t, 60*time.Second), "default", allReady(names("web", 3)...))
	if now := h.podUIDs(); !sameUIDs(before, now, "web-0", "web-1") {
		t.Errorf("pods replaced across the containerd restart: %v, then %v", before, now)
	}
	pods, err := h.client.Pods(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if r := restarts(&p); r != 0 {
			t.Errorf("%s restarted %d times across the containerd restart", p.Name, r)
		}
	}
	if st, err := h.client.Status(ctx); err != nil || !st.Containerd.Up {
		t.Errorf("status once containerd is back: %+v, %v", st.Containerd, err)
	}
	c, err := containerd.New(cd.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctrs, err := c.Containers(namespaces.WithNamespace(ctx, h.cfg.ContainerdNamespace))
	if err != nil || len(ctrs) != 3 {
		t.Errorf("containers in containerd: %d, %v; want one per pod", len(ctrs), err)
	}
	// Nor anything else duplicated or left: snapshots, namespaces, IPs.
	h.wantChecks(h.doctor(), "after the containerd restart", nil, nil)
}
