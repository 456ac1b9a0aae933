package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"

	"github.com/setlet/setlet/daemon/api"
)

// restartPods is how many pods the restart benchmarks run.
const restartPods = 100

// BenchmarkDaemonRestart100: with 100 pods Running and Ready (a Parallel
// set), the daemon is killed with SIGKILL and started again; timed from
// the start of `setlet daemon` until it reports itself reconciled (every
// pod found at the start synced once: adopted as it runs). Checked after
// each round, outside the timer: no container restarted (same task pids,
// restart counts 0). Its target (the edge-host issue) is under 1 s.
func BenchmarkDaemonRestart100(b *testing.B) {
	e := newEnv(b)
	if _, err := e.client.Apply(context.Background(), api.ApplyRequest{Sources: []api.Source{{Name: "r.yaml", Data: []byte(benchSet("idle", restartPods, "Parallel", httpdCommand))}}}); err != nil {
		b.Fatal(err)
	}
	e.waitPods(benchDeadline(b), readyPods(restartPods))
	before := e.tasks()
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		e.kill()
		b.StartTimer()
		start := time.Now()
		e.launch()
		st := e.waitReconciled(b)
		b.StopTimer()
		total += st.Reconciled.Sub(start)
		if after := e.tasks(); len(after) != len(before) {
			b.Fatalf("%d tasks after the restart, %d before", len(after), len(before))
		} else {
			for id, pid := range before {
				if after[id] != pid {
					b.Fatalf("container %s restarted: pid %d, then %d", id, pid, after[id])
				}
			}
		}
		pods, err := e.client.Pods(context.Background(), "default")
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range pods {
			if cs := p.Status.ContainerStatuses; len(cs) != 1 || cs[0].RestartCount != 0 {
				b.Fatalf("%s after the restart: container statuses %+v, want one never restarted", p.Name, cs)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/restart")
}

// waitReconciled polls the daemon's status every 5 ms (the daemon is a
// separate process that has just started: its socket is all there is)
// until it says it is reconciled, and returns that status.
func (e *env) waitReconciled(b *testing.B) api.Status {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if st, err := e.client.Status(context.Background()); err == nil && st.Reconciled != nil {
			return st
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatalf("the daemon did not reconcile within a minute\n%s", e.log())
	return api.Status{}
}

// BenchmarkRawRestart100 is the raw baseline of BenchmarkDaemonRestart100:
// what finding out that 100 containers still run costs at the least, a
// new containerd client listing the namespace's containers and asking
// each for its task's status.
func BenchmarkRawRestart100(b *testing.B) {
	e := newEnv(b)
	if _, err := e.client.Apply(context.Background(), api.ApplyRequest{Sources: []api.Source{{Name: "r.yaml", Data: []byte(benchSet("idle", restartPods, "Parallel", httpdCommand))}}}); err != nil {
		b.Fatal(err)
	}
	e.waitPods(benchDeadline(b), readyPods(restartPods))
	ctx := namespaces.WithNamespace(context.Background(), e.namespace)
	for b.Loop() {
		c, err := containerd.New(e.containerd)
		if err != nil {
			b.Fatal(err)
		}
		ctrs, err := c.Containers(ctx)
		if err != nil {
			b.Fatal(err)
		}
		running := 0
		for _, ctr := range ctrs {
			task, err := ctr.Task(ctx, nil)
			if err != nil {
				continue
			}
			if st, err := task.Status(ctx); err == nil && st.Status == containerd.Running {
				running++
			}
		}
		c.Close()
		if running != restartPods {
			b.Fatalf("%d running, want %d", running, restartPods)
		}
	}
}
