package daemon_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/daemon"
)

// BenchmarkPlan measures one planner pass over a 100-replica set in the
// middle of a rolling update: ordinals 50-99 updated and Ready, 0-49 at
// the old revision, so the pass walks every pod and deletes web-49.
func BenchmarkPlan(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []setOpt
	}{
		{"OrderedReady", nil},
		{"Parallel", []setOpt{parallel}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			set := newSet(100, append([]setOpt{withMinReady(10)}, bc.opts...)...)
			observed := make([]*corev1.Pod, 0, 100)
			for i := range 100 {
				rev := revOld
				if i >= 50 {
					rev = revNew
				}
				observed = append(observed, newPod(set, i, rev))
			}
			in := daemon.PlanInput{
				Set:             set,
				CurrentRevision: revOld,
				UpdateRevision:  revNew,
				Pods:            observed,
				Now:             t0.Add(time.Hour),
			}
			if res := daemon.Plan(in); len(res.Actions) != 1 || res.Actions[0].Pod != "web-49" {
				b.Fatalf("unexpected plan %v (wait %q)", actionStrings(res.Actions), res.Wait)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				daemon.Plan(in)
			}
		})
	}
}

// BenchmarkPlanRevisions measures revision planning for a set with a full
// history of ten revisions and 100 pods.
func BenchmarkPlanRevisions(b *testing.B) {
	set := newSet(100)
	history := chain(b, 11)
	observed := make([]*corev1.Pod, 0, 100)
	for i := range 100 {
		observed = append(observed, newPod(set, i, revOld))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := daemon.PlanRevisions(set, history, observed); err != nil {
			b.Fatal(err)
		}
	}
}
