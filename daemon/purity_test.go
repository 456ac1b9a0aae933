package daemon_test

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/setlet/setlet/daemon"
)

// deepCopyInput copies everything a PlanInput points to.
func deepCopyInput(in daemon.PlanInput) daemon.PlanInput {
	out := in
	out.Set = in.Set.DeepCopy()
	out.Pods = make([]*corev1.Pod, len(in.Pods))
	for i, pod := range in.Pods {
		out.Pods[i] = pod.DeepCopy()
	}
	return out
}

// requireUnchanged fails t if in differs from before, its deep copy taken
// before Plan ran.
func requireUnchanged(t *testing.T, before, in daemon.PlanInput) {
	t.Helper()
	if !apiequality.Semantic.DeepEqual(before.Set, in.Set) {
		t.Fatalf("Plan modified its set")
	}
	if !apiequality.Semantic.DeepEqual(before.Pods, in.Pods) {
		t.Fatalf("Plan modified its pods")
	}
}

// mixedInput is a busy input: a rollout with a condemned pod, a failed
// pod, a terminating pod, an unhealthy pod, a foreign pod, an unparsable
// name and two pods claiming one ordinal.
func mixedInput(opts ...setOpt) daemon.PlanInput {
	set := newSet(5, append([]setOpt{withMinReady(5), withMaxUnavailable(intstr.FromString("40%"))}, opts...)...)
	named := func(name string) podOpt { return func(pod *corev1.Pod) { pod.Name = name } }
	return daemon.PlanInput{
		Set:             set,
		CurrentRevision: revOld,
		UpdateRevision:  revNew,
		CollisionCount:  1,
		Now:             t0.Add(3 * time.Second),
		Pods: []*corev1.Pod{
			p(0, revOld, readySince(t0.Add(-time.Hour))),
			p(1, revOld, failed),
			p(1, revOld, named("web-01")),
			p(2, revOld, notReady),
			p(3, revNew),
			p(4, revOld, terminating),
			p(5, revOld),
			p(7, revOld, pending),
			p(0, revOld, named("web-x")),
			p(0, revOld, named("cache-0")),
		},
	}
}

func TestPlanIsDeterministic(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   daemon.PlanInput
	}{
		{"Determinism/OrderedReady gives the same plan for every order of the observed pods", mixedInput()},
		{"Determinism/Parallel gives the same plan for every order of the observed pods", mixedInput(parallel)},
		{"Determinism/OnDelete gives the same plan for every order of the observed pods", mixedInput(onDelete)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := daemon.Plan(tc.in)
			rng := rand.New(rand.NewPCG(1, 2))
			for range 200 {
				in := tc.in
				in.Pods = append([]*corev1.Pod(nil), tc.in.Pods...)
				rng.Shuffle(len(in.Pods), func(i, j int) { in.Pods[i], in.Pods[j] = in.Pods[j], in.Pods[i] })
				if got := daemon.Plan(in); !reflect.DeepEqual(want, got) {
					t.Fatalf("plan depends on pod order:\nwant %+v\ngot  %+v", want, got)
				}
			}
		})
	}
}

func TestPlanDoesNotMutateInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   daemon.PlanInput
	}{
		{"Purity/OrderedReady leaves set and pods untouched", mixedInput()},
		{"Purity/Parallel leaves set and pods untouched", mixedInput(parallel)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := deepCopyInput(tc.in)
			order := append([]*corev1.Pod(nil), tc.in.Pods...)
			daemon.Plan(tc.in)
			requireUnchanged(t, before, tc.in)
			for i := range order {
				if order[i] != tc.in.Pods[i] {
					t.Fatalf("Plan reordered its pods slice")
				}
			}
		})
	}
}

func TestPlanMixedInput(t *testing.T) {
	// One pass over the busy input, checked rule by rule.
	t.Run("OrderedReady/the failed pod at ordinal 1 is handled first and stops the pass", func(t *testing.T) {
		res := daemon.Plan(mixedInput())
		requireActions(t, res, "DeletePod web-1")
	})
	t.Run("Parallel/every rule applies in one pass: failed deleted, stuck replaced, condemned deleted, no update while over budget", func(t *testing.T) {
		res := daemon.Plan(mixedInput(parallel))
		requireActions(t, res, "DeletePod web-1", "DeletePod web-2", "DeletePod web-7", "DeletePod web-5")
		mustEqual(t, daemon.DeleteStuck, res.Actions[1].Cause, "web-2 is not Ready at the old revision and the new one is Ready on web-3")
		mustContain(t, res.Wait, "rolling update waiting")
		st := res.Status
		// Counted: web-0..web-5 and web-7 (web-01 loses ordinal 1 to
		// web-1; web-x and cache-0 are not members), less web-2, which
		// the stuck rule takes out of currentReplicas.
		mustEqual(t, [5]int32{7, 4, 1, 4, 1}, [5]int32{st.Replicas, st.ReadyReplicas, st.AvailableReplicas, st.CurrentReplicas, st.UpdatedReplicas})
		mustEqual(t, int32(1), *st.CollisionCount)
		mustEqual(t, t0.Add(5*time.Second+time.Nanosecond), res.RequeueAt)
	})
}
