package network_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/setlet/setlet/network"
)

// TestCycles runs 50 Setup/Teardown cycles, five pods at a time, each
// cycle a new incarnation and every other one with a host port, and
// proves that they leave nothing behind: no IP allocation, no cached
// result, no namespace file or mount, no iptables rule. It is also the
// test of the Manager's concurrency (run it with -race).
func TestCycles(t *testing.T) {
	const pods, cycles = 5, 10
	e := newEnv(t)
	ports := make([]int32, pods)
	for p := range ports {
		ports[p] = freePort(t)
	}
	errs := make(chan error, pods*cycles)
	var wg sync.WaitGroup
	for p := range pods {
		wg.Go(func() {
			pod := fmt.Sprintf("web-%d", p)
			for c := range cycles {
				a := network.Attachment{ID: fmt.Sprintf("uid-%d-%s-%d", e.n, pod, c), Pod: pod, Namespace: "default"}
				if c%2 == 0 {
					a.Ports = []network.PortMapping{{HostPort: ports[p], ContainerPort: 80}}
				}
				r, err := e.m.Setup(context.Background(), a)
				if err != nil {
					errs <- fmt.Errorf("cycle %d: Setup(%s): %w", c, pod, err)
					// Teardown below cleans up what Setup left.
				} else if !e.subnet.Contains(r.IP) {
					errs <- fmt.Errorf("cycle %d: Setup(%s) gave %s, not in %s", c, pod, r.IP, e.subnet)
				}
				if err := e.m.Teardown(context.Background(), a); err != nil {
					errs <- fmt.Errorf("cycle %d: Teardown(%s): %w", c, pod, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	e.requireEmpty()
}
