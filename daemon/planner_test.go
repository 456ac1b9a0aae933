package daemon_test

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/daemon"
)

// planCase is one row of the Plan tables. Its name states the rule it
// checks.
type planCase struct {
	name    string
	set     *appsv1.StatefulSet
	current string // default revOld
	update  string // default revOld
	collide int32  // PlanInput.CollisionCount
	pods    []*corev1.Pod
	now     time.Time // default t0 + 1h
	want    []string  // rendered by actionStrings
	wait    string    // substring of Wait; "" requires an empty Wait
	check   func(t *testing.T, res daemon.PlanResult)
}

func (c planCase) input() daemon.PlanInput {
	in := daemon.PlanInput{
		Set:             c.set,
		CurrentRevision: c.current,
		UpdateRevision:  c.update,
		CollisionCount:  c.collide,
		Pods:            c.pods,
		Now:             c.now,
	}
	if in.CurrentRevision == "" {
		in.CurrentRevision = revOld
	}
	if in.UpdateRevision == "" {
		in.UpdateRevision = revOld
	}
	if in.Now.IsZero() {
		in.Now = t0.Add(time.Hour)
	}
	return in
}

func runPlanCases(t *testing.T, cases []planCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.input()
			before := deepCopyInput(in)
			res := daemon.Plan(in)
			requireUnchanged(t, before, in)
			requireActions(t, res, tc.want...)
			if tc.wait == "" {
				mustEqual(t, "", res.Wait)
			} else {
				mustContain(t, res.Wait, tc.wait)
			}
			if tc.check != nil {
				tc.check(t, res)
			}
		})
	}
}

// base builds the pods of the tables; NewPod only uses its name, namespace,
// template and claim templates, which every test set shares.
var base = newSet(1)

func p(ordinal int, rev string, opts ...podOpt) *corev1.Pod {
	return newPod(base, ordinal, rev, opts...)
}

func TestPlanOrderedReady(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name: "OrderedReady/creates ordinal 0 first when no pod exists",
			set:  newSet(3),
			want: []string{"CreatePod web-0@web-old"},
		},
		{
			name: "OrderedReady/creates one pod per pass, the lowest missing ordinal",
			set:  newSet(3),
			pods: []*corev1.Pod{p(0, revOld)},
			want: []string{"CreatePod web-1@web-old"},
		},
		{
			name: "OrderedReady/does not create ordinal 1 while ordinal 0 is Pending",
			set:  newSet(3),
			pods: []*corev1.Pod{p(0, revOld, pending)},
			wait: "waiting for web-0 to be Running and Ready",
		},
		{
			name: "OrderedReady/does not create ordinal 1 while ordinal 0 is Running but not Ready",
			set:  newSet(3),
			pods: []*corev1.Pod{p(0, revOld, notReady)},
			wait: "waiting for web-0 to be Running and Ready",
		},
		{
			name: "OrderedReady/does not create ordinal 1 while ordinal 0 is terminating",
			set:  newSet(3),
			pods: []*corev1.Pod{p(0, revOld, terminating)},
			wait: "waiting for web-0 to terminate",
		},
		{
			name: "OrderedReady/recreates a missing lower ordinal before anything above it",
			set:  newSet(3),
			pods: []*corev1.Pod{p(0, revOld), p(2, revOld)},
			want: []string{"CreatePod web-1@web-old"},
		},
		{
			name: "OrderedReady/a pod without a phase is not created yet and is created again",
			set:  newSet(2),
			pods: []*corev1.Pod{p(0, revOld, func(pod *corev1.Pod) { pod.Status = corev1.PodStatus{} })},
			want: []string{"CreatePod web-0@web-old"},
		},
		{
			name: "OrderedReady/after a host restart starts the held pods again from ordinal 0",
			set:  newSet(3),
			pods: []*corev1.Pod{p(0, revOld, held), p(1, revOld, held), p(2, revOld, held)},
			want: []string{"CreatePod web-0@web-old"},
		},
		{
			name: "OrderedReady/after a host restart waits for a started pod to be Ready before the next held one",
			set:  newSet(3),
			pods: []*corev1.Pod{p(0, revOld, notReady), p(1, revOld, held), p(2, revOld, held)},
			wait: "waiting for web-0 to be Running and Ready",
		},
		{
			name: "OrderedReady/after a host restart starts the next held pod once the one before is Ready",
			set:  newSet(3),
			pods: []*corev1.Pod{p(0, revOld), p(1, revOld, held), p(2, revOld, held)},
			want: []string{"CreatePod web-1@web-old"},
		},
		{
			name: "OrderedReady/does nothing when every replica is healthy",
			set:  newSet(3),
			pods: pods(base, 3, revOld),
		},
	})
}

func TestPlanParallel(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name: "Parallel/creates every missing ordinal in one pass",
			set:  newSet(3, parallel),
			want: []string{"CreatePod web-0@web-old", "CreatePod web-1@web-old", "CreatePod web-2@web-old"},
		},
		{
			name: "Parallel/creates missing ordinals while a lower ordinal is not Ready",
			set:  newSet(3, parallel),
			pods: []*corev1.Pod{p(0, revOld, notReady)},
			want: []string{"CreatePod web-1@web-old", "CreatePod web-2@web-old"},
		},
		{
			name: "Parallel/creates missing ordinals while a lower ordinal is terminating",
			set:  newSet(3, parallel),
			pods: []*corev1.Pod{p(0, revOld, terminating)},
			want: []string{"CreatePod web-1@web-old", "CreatePod web-2@web-old"},
		},
		{
			name: "Parallel/after a host restart starts every held pod again in one pass",
			set:  newSet(3, parallel),
			pods: []*corev1.Pod{p(0, revOld, held), p(1, revOld, held), p(2, revOld, held)},
			want: []string{"CreatePod web-0@web-old", "CreatePod web-1@web-old", "CreatePod web-2@web-old"},
		},
	})
}

func TestPlanOrdinalsStart(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name: "ordinals.start/creates the first ordinal at start",
			set:  newSet(3, withStart(5)),
			want: []string{"CreatePod web-5@web-old"},
		},
		{
			name: "ordinals.start/Parallel creates ordinals start to start+replicas-1",
			set:  newSet(2, withStart(5), parallel),
			want: []string{"CreatePod web-5@web-old", "CreatePod web-6@web-old"},
		},
		{
			name: "ordinals.start/pods below start are condemned, highest first",
			set:  newSet(2, withStart(2)),
			pods: []*corev1.Pod{p(0, revOld), p(1, revOld), p(2, revOld), p(3, revOld)},
			want: []string{"DeletePod web-1"},
		},
		{
			name:   "ordinals.start/the partition counts from start: a missing ordinal below start+partition gets the current revision",
			set:    newSet(3, withStart(3), withPartition(1)),
			update: revNew,
			pods:   []*corev1.Pod{p(4, revNew), p(5, revNew)},
			want:   []string{"CreatePod web-3@web-old"},
		},
		{
			name:   "ordinals.start/the partition counts from start: a missing ordinal at start+partition gets the update revision",
			set:    newSet(3, withStart(3), withPartition(1)),
			update: revNew,
			pods:   []*corev1.Pod{p(3, revOld), p(5, revNew)},
			want:   []string{"CreatePod web-4@web-new"},
		},
		{
			name:   "ordinals.start/the rolling update stops at start+partition",
			set:    newSet(3, withStart(3), withPartition(1)),
			update: revNew,
			pods:   []*corev1.Pod{p(3, revOld), p(4, revNew), p(5, revNew)},
		},
	})
}

func TestPlanFailedPods(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name: "Failed/deletes a failed pod; its replacement waits until it is gone",
			set:  newSet(3),
			pods: []*corev1.Pod{p(0, revOld), p(1, revOld, failed), p(2, revOld)},
			want: []string{"DeletePod web-1"},
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, "recreate failed pod", res.Actions[0].Reason)
			},
		},
		{
			name: "Failed/OrderedReady waits while the deleted failed pod terminates",
			set:  newSet(3),
			pods: []*corev1.Pod{p(0, revOld), p(1, revOld, failed, terminating), p(2, revOld)},
			wait: "waiting for web-1 to terminate",
		},
		{
			name: "Failed/the ordinal of a failed pod that is gone is recreated",
			set:  newSet(3),
			pods: []*corev1.Pod{p(0, revOld), p(2, revOld)},
			want: []string{"CreatePod web-1@web-old"},
		},
		{
			name: "Failed/OrderedReady handles the lowest failed ordinal first, one per pass",
			set:  newSet(3),
			pods: []*corev1.Pod{p(0, revOld, failed), p(1, revOld, failed), p(2, revOld)},
			want: []string{"DeletePod web-0"},
		},
		{
			name: "Failed/Parallel deletes every failed pod and keeps creating",
			set:  newSet(3, parallel),
			pods: []*corev1.Pod{p(0, revOld, failed), p(1, revOld, failed, terminating)},
			want: []string{"DeletePod web-0", "CreatePod web-2@web-old"},
		},
		{
			name: "Succeeded/deletes a succeeded pod so that it is recreated",
			set:  newSet(2),
			pods: []*corev1.Pod{p(0, revOld, succeeded), p(1, revOld)},
			want: []string{"DeletePod web-0"},
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, "recreate succeeded pod", res.Actions[0].Reason)
			},
		},
	})
}

func TestPlanScaleDown(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name: "ScaleDown/OrderedReady deletes the highest condemned ordinal first, one per pass",
			set:  newSet(3),
			pods: pods(base, 5, revOld),
			want: []string{"DeletePod web-4"},
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, "scale down", res.Actions[0].Reason)
				mustEqual(t, 4, res.Actions[0].Ordinal)
			},
		},
		{
			name: "ScaleDown/OrderedReady waits for the terminating condemned pod to be gone",
			set:  newSet(3),
			pods: []*corev1.Pod{p(0, revOld), p(1, revOld), p(2, revOld), p(3, revOld), p(4, revOld, terminating)},
			wait: "waiting for web-4 to terminate before scaling down",
		},
		{
			name: "ScaleDown/OrderedReady does not scale down while a replica is unhealthy",
			set:  newSet(3),
			pods: []*corev1.Pod{p(0, revOld), p(1, revOld, notReady), p(2, revOld), p(3, revOld), p(4, revOld)},
			wait: "waiting for web-1 to be Running and Ready",
		},
		{
			name: "ScaleDown/OrderedReady recreates a missing replica before scaling down",
			set:  newSet(3),
			pods: []*corev1.Pod{p(0, revOld), p(2, revOld), p(3, revOld)},
			want: []string{"CreatePod web-1@web-old"},
		},
		{
			name: "ScaleDown/OrderedReady deletes the first unhealthy condemned pod itself",
			set:  newSet(3),
			pods: []*corev1.Pod{p(0, revOld), p(1, revOld), p(2, revOld), p(3, revOld), p(4, revOld, notReady)},
			want: []string{"DeletePod web-4"},
		},
		{
			name: "ScaleDown/OrderedReady blocks on an unhealthy condemned pod that is not the first unhealthy one",
			set:  newSet(3),
			pods: []*corev1.Pod{p(0, revOld), p(1, revOld), p(2, revOld), p(3, revOld, notReady), p(4, revOld, pending)},
			wait: "waiting for web-3 to be Running and Ready before scaling down",
		},
		{
			name: "ScaleDown/OrderedReady deletes a healthy highest condemned pod even when a lower condemned pod is unhealthy",
			set:  newSet(3),
			pods: []*corev1.Pod{p(0, revOld), p(1, revOld), p(2, revOld), p(3, revOld, notReady), p(4, revOld)},
			want: []string{"DeletePod web-4"},
		},
		{
			name: "ScaleDown/OrderedReady waits for condemned pods to be available (minReadySeconds)",
			set:  newSet(1, withMinReady(30)),
			now:  t0.Add(10 * time.Second),
			pods: []*corev1.Pod{p(0, revOld, readySince(t0.Add(-time.Hour))), p(1, revOld), p(2, revOld)},
			wait: "waiting for web-1 to be available before scaling down",
		},
		{
			name: "ScaleDown/OrderedReady deletes a held condemned pod without waiting for a lower one",
			set:  newSet(1),
			pods: []*corev1.Pod{p(0, revOld), p(1, revOld, held), p(2, revOld, held)},
			want: []string{"DeletePod web-2"},
		},
		{
			name: "ScaleDown/OrderedReady still waits for a held replica before scaling down",
			set:  newSet(2),
			pods: []*corev1.Pod{p(0, revOld), p(1, revOld, held), p(2, revOld, held)},
			want: []string{"CreatePod web-1@web-old"},
		},
		{
			name: "ScaleDown/Parallel deletes every condemned pod in one pass, highest first",
			set:  newSet(2, parallel),
			pods: []*corev1.Pod{p(0, revOld), p(1, revOld, notReady), p(2, revOld), p(3, revOld, pending), p(4, revOld)},
			want: []string{"DeletePod web-4", "DeletePod web-3", "DeletePod web-2"},
		},
		{
			name: "ScaleDown/Parallel skips condemned pods already terminating",
			set:  newSet(2, parallel),
			pods: []*corev1.Pod{p(0, revOld), p(1, revOld), p(2, revOld), p(3, revOld, terminating), p(4, revOld)},
			want: []string{"DeletePod web-4", "DeletePod web-2"},
		},
		{
			name:   "ScaleDown/scaling takes precedence over updates",
			set:    newSet(3),
			update: revNew,
			pods:   pods(base, 4, revOld),
			want:   []string{"DeletePod web-3"},
		},
		{
			name: "ScaleDown/scale to zero deletes the highest ordinal first",
			set:  newSet(0),
			pods: pods(base, 2, revOld),
			want: []string{"DeletePod web-1"},
		},
	})
}

func TestPlanIdentity(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name: "Identity/a pod without the pod-name label is repaired in place",
			set:  newSet(2),
			pods: []*corev1.Pod{p(0, revOld, func(pod *corev1.Pod) {
				delete(pod.Labels, appsv1.StatefulSetPodNameLabel)
			}), p(1, revOld)},
			want: []string{"UpdatePodIdentity web-0"},
			check: func(t *testing.T, res daemon.PlanResult) {
				mustContain(t, res.Actions[0].Reason, "identity")
			},
		},
		{
			name: "Identity/a pod in another namespace is repaired in place",
			set:  newSet(1),
			pods: []*corev1.Pod{p(0, revOld, func(pod *corev1.Pod) { pod.Namespace = "other" })},
			want: []string{"UpdatePodIdentity web-0"},
		},
		{
			name: "Identity/a pod whose volume points at another ordinal's claim is repaired in place",
			set:  newSet(2),
			pods: []*corev1.Pod{p(0, revOld), p(1, revOld, func(pod *corev1.Pod) {
				pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName = "www-web-0"
			})},
			want: []string{"UpdatePodIdentity web-1"},
			check: func(t *testing.T, res daemon.PlanResult) {
				mustContain(t, res.Actions[0].Reason, "volumes")
			},
		},
		{
			name: "Identity/a pod missing a claim volume is repaired in place",
			set:  newSet(1),
			pods: []*corev1.Pod{p(0, revOld, func(pod *corev1.Pod) { pod.Spec.Volumes = nil })},
			want: []string{"UpdatePodIdentity web-0"},
		},
		{
			name: "Identity/repair does not block OrderedReady progress",
			set:  newSet(2),
			pods: []*corev1.Pod{p(0, revOld, func(pod *corev1.Pod) {
				delete(pod.Labels, appsv1.StatefulSetPodNameLabel)
			})},
			want: []string{"UpdatePodIdentity web-0", "CreatePod web-1@web-old"},
		},
		{
			name: "Identity/OrderedReady does not look past an unhealthy ordinal",
			set:  newSet(2),
			pods: []*corev1.Pod{p(0, revOld, pending), p(1, revOld, func(pod *corev1.Pod) {
				delete(pod.Labels, appsv1.StatefulSetPodNameLabel)
			})},
			wait: "waiting for web-0",
		},
	})
}

func TestPlanIgnoredPods(t *testing.T) {
	named := func(name string) podOpt { return func(pod *corev1.Pod) { pod.Name = name } }
	runPlanCases(t, []planCase{
		{
			name: "Ignored/a pod whose name has no ordinal is ignored",
			set:  newSet(1),
			pods: []*corev1.Pod{p(0, revOld), p(0, revOld, named("web-abc")), p(0, revOld, named("web-")), p(0, revOld, named("web"))},
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, int32(1), res.Status.Replicas)
			},
		},
		{
			name: "Ignored/a pod whose ordinal does not fit in 32 bits is ignored",
			set:  newSet(1),
			pods: []*corev1.Pod{p(0, revOld), p(0, revOld, named("web-99999999999"))},
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, int32(1), res.Status.Replicas)
			},
		},
		{
			name: "Ignored/a pod of another set is ignored",
			set:  newSet(1),
			pods: []*corev1.Pod{p(0, revOld), p(0, revOld, named("web-canary-0")), p(0, revOld, named("db-0")), nil},
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, int32(1), res.Status.Replicas)
			},
		},
	})
}

func TestPlanMinReadySeconds(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name: "minReadySeconds/does not create ordinal 1 while ordinal 0 has been Ready for less than minReadySeconds",
			set:  newSet(2, withMinReady(10)),
			now:  t0.Add(4 * time.Second),
			pods: []*corev1.Pod{p(0, revOld)},
			wait: "waiting for web-0 to be available (Ready for 10s)",
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, t0.Add(10*time.Second+time.Nanosecond), res.RequeueAt)
				mustEqual(t, int32(1), res.Status.ReadyReplicas)
				mustEqual(t, int32(0), res.Status.AvailableReplicas)
			},
		},
		{
			name: "minReadySeconds/a pod Ready for exactly minReadySeconds is not available yet",
			set:  newSet(2, withMinReady(10)),
			now:  t0.Add(10 * time.Second),
			pods: []*corev1.Pod{p(0, revOld)},
			wait: "to be available",
		},
		{
			name: "minReadySeconds/creates ordinal 1 once ordinal 0 has been Ready for more than minReadySeconds",
			set:  newSet(2, withMinReady(10)),
			now:  t0.Add(10*time.Second + time.Nanosecond),
			pods: []*corev1.Pod{p(0, revOld)},
			want: []string{"CreatePod web-1@web-old"},
			check: func(t *testing.T, res daemon.PlanResult) {
				mustTrue(t, res.RequeueAt.IsZero())
				mustEqual(t, int32(1), res.Status.AvailableReplicas)
			},
		},
		{
			name: "minReadySeconds/RequeueAt is the earliest instant a Ready pod becomes available",
			set:  newSet(3, withMinReady(10), parallel),
			now:  t0.Add(5 * time.Second),
			pods: []*corev1.Pod{p(0, revOld, readySince(t0.Add(3*time.Second))), p(1, revOld), p(2, revOld, notReady)},
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, t0.Add(10*time.Second+time.Nanosecond), res.RequeueAt)
			},
		},
		{
			name: "minReadySeconds/a Ready pod without a transition time never becomes available",
			set:  newSet(2, withMinReady(10)),
			pods: []*corev1.Pod{p(0, revOld, func(pod *corev1.Pod) { pod.Status.Conditions[0].LastTransitionTime.Reset() })},
			wait: "to be available",
			check: func(t *testing.T, res daemon.PlanResult) {
				mustTrue(t, res.RequeueAt.IsZero())
			},
		},
		{
			name:   "minReadySeconds/the rolling update waits for the updated pod to be available",
			set:    newSet(2, withMinReady(10)),
			update: revNew,
			now:    t0.Add(time.Second),
			pods:   []*corev1.Pod{p(0, revOld, readySince(t0.Add(-time.Hour))), p(1, revNew)},
			wait:   "waiting for web-1 to be available",
		},
		{
			name:   "minReadySeconds/Parallel counts a Ready but not yet available pod as unavailable",
			set:    newSet(2, withMinReady(10), parallel),
			update: revNew,
			now:    t0.Add(time.Second),
			pods:   []*corev1.Pod{p(0, revOld, readySince(t0.Add(-time.Hour))), p(1, revNew)},
			wait:   "rolling update waiting",
		},
		{
			name: "minReadySeconds/no RequeueAt without minReadySeconds",
			set:  newSet(1),
			now:  t0,
			pods: []*corev1.Pod{p(0, revOld)},
			check: func(t *testing.T, res daemon.PlanResult) {
				mustTrue(t, res.RequeueAt.IsZero())
			},
		},
	})
}

func TestPlanActionFields(t *testing.T) {
	set := newSet(3, parallel, withStart(2), withPartition(1))
	res := daemon.Plan(daemon.PlanInput{Set: set, CurrentRevision: revOld, UpdateRevision: revNew, Now: t0})
	mustEqual(t, []daemon.Action{
		{Type: daemon.ActionCreatePod, Ordinal: 2, Pod: "web-2", Revision: revOld, Reason: "create missing pod"},
		{Type: daemon.ActionCreatePod, Ordinal: 3, Pod: "web-3", Revision: revNew, Reason: "create missing pod"},
		{Type: daemon.ActionCreatePod, Ordinal: 4, Pod: "web-4", Revision: revNew, Reason: "create missing pod"},
	}, res.Actions)
}

func TestPlanWaitNamesTheBlocker(t *testing.T) {
	// Every Wait is a full sentence naming a pod or the rollout, never
	// an empty or generic "blocked".
	res := daemon.Plan(planCase{set: newSet(3), pods: []*corev1.Pod{p(0, revOld), p(1, revOld, pending)}}.input())
	mustTrue(t, strings.HasPrefix(res.Wait, "waiting for web-1 "), res.Wait)
}
