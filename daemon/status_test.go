package daemon_test

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/daemon"
)

// counts returns replicas, ready, available, current and updated.
func counts(st appsv1.StatefulSetStatus) [5]int32 {
	return [5]int32{st.Replicas, st.ReadyReplicas, st.AvailableReplicas, st.CurrentReplicas, st.UpdatedReplicas}
}

func TestPlanStatus(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name:   "Status/counts replicas, ready, available, current and updated pods",
			set:    newSet(4, parallel, withMinReady(10)),
			update: revNew,
			now:    t0.Add(5 * time.Second),
			pods: []*corev1.Pod{
				p(0, revOld, readySince(t0.Add(-time.Hour))), p(1, revNew), p(2, revNew, pending), p(3, revOld, notReady),
			},
			// web-3 is replaced by the stuck-rollout rule (revNew is Ready
			// on web-1), which takes it out of currentReplicas.
			want: []string{"DeletePod web-3"},
			wait: "rolling update waiting",
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, [5]int32{4, 2, 1, 1, 2}, counts(res.Status))
			},
		},
		{
			name:   "Status/terminating pods count as replicas and ready but not as current or updated",
			set:    newSet(2, parallel),
			update: revNew,
			pods:   []*corev1.Pod{p(0, revOld), p(1, revNew, terminating)},
			wait:   "rolling update waiting",
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, [5]int32{2, 2, 2, 1, 0}, counts(res.Status))
			},
		},
		{
			name: "Status/condemned pods are counted until they are gone",
			set:  newSet(1),
			pods: pods(base, 3, revOld),
			want: []string{"DeletePod web-2"},
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, [5]int32{3, 3, 3, 3, 3}, counts(res.Status))
			},
		},
		{
			name: "Status/a pod being created is not counted until it is observed",
			set:  newSet(2),
			pods: []*corev1.Pod{p(0, revOld)},
			want: []string{"CreatePod web-1@web-old"},
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, [5]int32{1, 1, 1, 1, 1}, counts(res.Status))
			},
		},
		{
			name:   "Status/completeRollingUpdate promotes the update revision once every replica is updated and Ready",
			set:    newSet(3),
			update: revNew,
			pods:   pods(base, 3, revNew),
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, revNew, res.Status.CurrentRevision)
				mustEqual(t, revNew, res.Status.UpdateRevision)
				mustEqual(t, [5]int32{3, 3, 3, 3, 3}, counts(res.Status))
			},
		},
		{
			name:   "Status/completeRollingUpdate waits for every replica to be Ready",
			set:    newSet(3),
			update: revNew,
			pods:   []*corev1.Pod{p(0, revNew), p(1, revNew), p(2, revNew, notReady)},
			wait:   "waiting for web-2",
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, revOld, res.Status.CurrentRevision)
				mustEqual(t, int32(0), res.Status.CurrentReplicas)
			},
		},
		{
			name:   "Status/completeRollingUpdate waits for condemned pods to be gone",
			set:    newSet(2),
			update: revNew,
			pods:   pods(base, 3, revNew),
			want:   []string{"DeletePod web-2"},
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, revOld, res.Status.CurrentRevision)
			},
		},
		{
			name:   "Status/completeRollingUpdate ignores the partition, as Kubernetes does",
			set:    newSet(2, withPartition(2)),
			update: revNew,
			pods:   pods(base, 2, revNew),
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, revNew, res.Status.CurrentRevision)
			},
		},
		{
			name:    "Status/observedGeneration and collisionCount come from the input",
			set:     func() *appsv1.StatefulSet { s := newSet(1); s.Generation = 7; return s }(),
			collide: 3,
			pods:    []*corev1.Pod{p(0, revOld)},
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, int64(7), res.Status.ObservedGeneration)
				mustEqual(t, int32(3), *res.Status.CollisionCount)
				mustEqual(t, []appsv1.StatefulSetCondition(nil), res.Status.Conditions)
			},
		},
		{
			name: "Status/a set being deleted only gets its status refreshed",
			set: func() *appsv1.StatefulSet {
				s := newSet(3, withMinReady(10))
				ts := metav1.NewTime(t0)
				s.DeletionTimestamp = &ts
				return s
			}(),
			now:  t0.Add(time.Second),
			pods: []*corev1.Pod{p(0, revOld), p(4, revOld, failed)},
			wait: "set is being deleted",
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, [5]int32{2, 1, 0, 2, 2}, counts(res.Status))
				mustEqual(t, t0.Add(10*time.Second+time.Nanosecond), res.RequeueAt)
			},
		},
	})
}

func TestPlanDefaults(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name: "Defaults/a set without replicas has one replica",
			set:  func() *appsv1.StatefulSet { s := newSet(1); s.Spec.Replicas = nil; return s }(),
			pods: pods(base, 2, revOld),
			want: []string{"DeletePod web-1"},
		},
		{
			name: "Defaults/a negative replica count, which validation rejects, condemns every pod",
			set:  newSet(-1),
			pods: pods(base, 2, revOld),
			want: []string{"DeletePod web-1"},
		},
		{
			name: "Defaults/a rolling update without a partition or maxUnavailable updates one pod from the top",
			set: func() *appsv1.StatefulSet {
				s := newSet(3)
				s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
				return s
			}(),
			update: revNew,
			pods:   pods(base, 3, revOld),
			want:   []string{"DeletePod web-2"},
		},
		{
			name: "Defaults/a RollingUpdate set without rollingUpdate parameters uses status.currentReplicas as the partition for new pods",
			set: func() *appsv1.StatefulSet {
				s := newSet(3)
				s.Spec.UpdateStrategy.RollingUpdate = nil
				s.Status.CurrentReplicas = 2
				return s
			}(),
			update: revNew,
			pods:   []*corev1.Pod{p(0, revOld)},
			want:   []string{"CreatePod web-1@web-old"},
		},
	})
}

func TestPlanEmptyCurrentRevision(t *testing.T) {
	t.Run("Status/an empty current revision means the update revision", func(t *testing.T) {
		// OnDelete, so that completeRollingUpdate cannot be what sets it.
		res := daemon.Plan(daemon.PlanInput{
			Set:            newSet(2, onDelete),
			UpdateRevision: revNew,
			Pods:           []*corev1.Pod{p(0, revNew), p(1, revOld)},
			Now:            t0,
		})
		mustEqual(t, revNew, res.Status.CurrentRevision)
		mustEqual(t, revNew, res.Status.UpdateRevision)
		mustEqual(t, [2]int32{1, 1}, [2]int32{res.Status.CurrentReplicas, res.Status.UpdatedReplicas})
	})
}
