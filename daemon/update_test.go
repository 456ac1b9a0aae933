package daemon_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/setlet/setlet/daemon"
)

// The update tables: RollingUpdate (with partition and maxUnavailable) and
// OnDelete.

func TestPlanRollingUpdate(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name:   "RollingUpdate/deletes the highest ordinal not at the update revision",
			set:    newSet(3),
			update: revNew,
			pods:   pods(base, 3, revOld),
			want:   []string{"DeletePod web-2"},
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, "update to revision web-new", res.Actions[0].Reason)
				mustEqual(t, int32(2), res.Status.CurrentReplicas, "an update deletion decrements currentReplicas")
			},
		},
		{
			name:   "RollingUpdate/recreates the deleted ordinal at the update revision",
			set:    newSet(3),
			update: revNew,
			pods:   []*corev1.Pod{p(0, revOld), p(1, revOld)},
			want:   []string{"CreatePod web-2@web-new"},
		},
		{
			name:   "RollingUpdate/waits for the updated pod to be Running and Ready before the next",
			set:    newSet(3),
			update: revNew,
			pods:   []*corev1.Pod{p(0, revOld), p(1, revOld), p(2, revNew, pending)},
			wait:   "waiting for web-2 to be Running and Ready",
		},
		{
			name:   "RollingUpdate/waits for the old pod to terminate before recreating it",
			set:    newSet(3),
			update: revNew,
			pods:   []*corev1.Pod{p(0, revOld), p(1, revOld), p(2, revOld, terminating)},
			wait:   "waiting for web-2 to terminate",
		},
		{
			name:   "RollingUpdate/moves to the next lower ordinal once the updated pod is Ready",
			set:    newSet(3),
			update: revNew,
			pods:   []*corev1.Pod{p(0, revOld), p(1, revOld), p(2, revNew)},
			want:   []string{"DeletePod web-1"},
		},
		{
			name:   "RollingUpdate/updates pods at any revision other than the update revision",
			set:    newSet(2),
			update: revNew,
			pods:   []*corev1.Pod{p(0, revNew), p(1, "web-ancient")},
			want:   []string{"DeletePod web-1"},
		},
		{
			name:   "Partition/does not update ordinals below the partition",
			set:    newSet(3, withPartition(2)),
			update: revNew,
			pods:   []*corev1.Pod{p(0, revOld), p(1, revOld), p(2, revNew)},
		},
		{
			name:   "Partition/a partition equal to replicas updates nothing",
			set:    newSet(3, withPartition(3)),
			update: revNew,
			pods:   pods(base, 3, revOld),
		},
		{
			name:   "Partition/a missing ordinal below the partition is recreated at the current revision",
			set:    newSet(3, withPartition(2)),
			update: revNew,
			pods:   []*corev1.Pod{p(1, revOld), p(2, revNew)},
			want:   []string{"CreatePod web-0@web-old"},
		},
		{
			name:   "Partition/a missing ordinal at the partition is recreated at the update revision",
			set:    newSet(3, withPartition(2), parallel),
			update: revNew,
			pods:   []*corev1.Pod{p(0, revOld)},
			want:   []string{"CreatePod web-1@web-old", "CreatePod web-2@web-new"},
		},
	})
}

func TestPlanMaxUnavailable(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name:   "MaxUnavailable/1 deletes one pod at a time",
			set:    newSet(5),
			update: revNew,
			pods:   pods(base, 5, revOld),
			want:   []string{"DeletePod web-4"},
		},
		{
			name:   "MaxUnavailable/2 deletes the two highest pods at once (OrderedReady)",
			set:    newSet(5, withMaxUnavailable(intstr.FromInt32(2))),
			update: revNew,
			pods:   pods(base, 5, revOld),
			want:   []string{"DeletePod web-4", "DeletePod web-3"},
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, int32(3), res.Status.CurrentReplicas)
			},
		},
		{
			name:   "MaxUnavailable/50% of 5 replicas rounds down to 2",
			set:    newSet(5, withMaxUnavailable(intstr.FromString("50%"))),
			update: revNew,
			pods:   pods(base, 5, revOld),
			want:   []string{"DeletePod web-4", "DeletePod web-3"},
		},
		{
			name:   "MaxUnavailable/10% of 5 replicas is at least 1",
			set:    newSet(5, withMaxUnavailable(intstr.FromString("10%"))),
			update: revNew,
			pods:   pods(base, 5, revOld),
			want:   []string{"DeletePod web-4"},
		},
		{
			name:   "MaxUnavailable/never deletes below the partition even with budget left",
			set:    newSet(4, withMaxUnavailable(intstr.FromInt32(3)), withPartition(3)),
			update: revNew,
			pods:   pods(base, 4, revOld),
			want:   []string{"DeletePod web-3"},
		},
		{
			name:   "MaxUnavailable/Parallel counts unavailable replicas against the budget",
			set:    newSet(4, parallel, withMaxUnavailable(intstr.FromInt32(2))),
			update: revNew,
			pods:   []*corev1.Pod{p(0, revOld), p(1, revOld, notReady), p(2, revOld), p(3, revOld)},
			want:   []string{"DeletePod web-3"},
		},
		{
			name:   "MaxUnavailable/Parallel deletes nothing while unavailable replicas use the whole budget",
			set:    newSet(3, parallel),
			update: revNew,
			pods:   []*corev1.Pod{p(0, revOld, notReady), p(1, revOld), p(2, revOld)},
			wait:   "rolling update waiting: 1 of 3 replicas unavailable (maxUnavailable 1), 3 pods left to update",
		},
		{
			name:   "MaxUnavailable/Parallel counts terminating replicas as unavailable and skips them",
			set:    newSet(4, parallel, withMaxUnavailable(intstr.FromInt32(2))),
			update: revNew,
			pods:   []*corev1.Pod{p(0, revOld), p(1, revOld), p(2, revOld), p(3, revOld, terminating)},
			want:   []string{"DeletePod web-2"},
		},
		{
			name:   "MaxUnavailable/Parallel counts a missing replica as unavailable",
			set:    newSet(3, parallel),
			update: revNew,
			pods:   []*corev1.Pod{p(0, revOld), p(1, revOld)},
			want:   []string{"CreatePod web-2@web-new"},
			wait:   "rolling update waiting",
		},
		{
			name:   "MaxUnavailable/Parallel updates a pod while an updated higher pod is not Ready, within the budget",
			set:    newSet(6, parallel, withPartition(3), withMaxUnavailable(intstr.FromInt32(2))),
			update: revNew,
			pods: []*corev1.Pod{
				p(0, revOld), p(1, revOld), p(2, revOld), p(3, revOld), p(4, revNew), p(5, revNew, notReady),
			},
			want: []string{"DeletePod web-3"},
		},
		{
			name:   "MaxUnavailable/an invalid value blocks the update",
			set:    newSet(3, withMaxUnavailable(intstr.FromString("many"))),
			update: revNew,
			pods:   pods(base, 3, revOld),
			wait:   "invalid maxUnavailable",
		},
	})
}

func TestPlanOnDelete(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name:   "OnDelete/does not delete pods at an old revision",
			set:    newSet(3, onDelete),
			update: revNew,
			pods:   pods(base, 3, revOld),
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, int32(3), res.Status.CurrentReplicas)
				mustEqual(t, int32(0), res.Status.UpdatedReplicas)
				mustEqual(t, revOld, res.Status.CurrentRevision)
				mustEqual(t, revNew, res.Status.UpdateRevision)
			},
		},
		{
			name:   "OnDelete/recreates a deleted pod at the update revision",
			set:    newSet(3, onDelete),
			update: revNew,
			pods:   []*corev1.Pod{p(0, revOld), p(2, revOld)},
			want:   []string{"CreatePod web-1@web-new"},
		},
		{
			name:   "OnDelete/still scales down",
			set:    newSet(1, onDelete),
			update: revNew,
			pods:   pods(base, 2, revOld),
			want:   []string{"DeletePod web-1"},
		},
		{
			name:   "OnDelete/never completes the rolling update in status",
			set:    newSet(2, onDelete),
			update: revNew,
			pods:   pods(base, 2, revNew),
			check: func(t *testing.T, res daemon.PlanResult) {
				mustEqual(t, revOld, res.Status.CurrentRevision)
				mustEqual(t, int32(0), res.Status.CurrentReplicas)
				mustEqual(t, int32(2), res.Status.UpdatedReplicas)
			},
		},
	})
}

// The stuck-rollout rule (see daemon.Plan): a replica that is not Ready at a
// revision its ordinal would not get is replaced when the revision it
// would get is known to work.
func TestPlanStuckRollout(t *testing.T) {
	stuck := func(t *testing.T, res daemon.PlanResult) {
		mustEqual(t, daemon.DeleteStuck, res.Actions[0].Cause)
	}
	runPlanCases(t, []planCase{
		{
			name:   "Stuck/a pod not Ready at the old revision goes when the update revision is Ready on another replica",
			set:    newSet(3),
			update: revNew,
			pods:   []*corev1.Pod{p(0, revOld), p(1, revNew), p(2, "web-broken", notReady)},
			want:   []string{"DeletePod web-2"},
			check: func(t *testing.T, res daemon.PlanResult) {
				stuck(t, res)
				mustEqual(t, "not Ready at revision web-broken while revision web-new is Ready on web-1", res.Actions[0].Reason)
			},
		},
		{
			name: "Stuck/the current revision is known to work: undo replaces the broken pod",
			set:  newSet(3),
			pods: []*corev1.Pod{p(0, revOld), p(1, revOld), p(2, revNew, pending)},
			want: []string{"DeletePod web-2"},
			check: func(t *testing.T, res daemon.PlanResult) {
				stuck(t, res)
				mustEqual(t, "not Ready at revision web-new while revision web-old is the current revision", res.Actions[0].Reason)
				mustEqual(t, int32(2), res.Status.CurrentReplicas, "the stuck pod was not at the current revision")
			},
		},
		{
			name:   "Stuck/a new untried template still waits for the broken pod, as Kubernetes does",
			set:    newSet(3),
			update: "web-fix",
			pods:   []*corev1.Pod{p(0, revOld), p(1, revOld), p(2, revNew, notReady)},
			wait:   "waiting for web-2 to be Running and Ready",
		},
		{
			name:   "Stuck/a pod at the update revision is waited for",
			set:    newSet(3),
			update: revNew,
			pods:   []*corev1.Pod{p(0, revOld), p(1, revNew), p(2, revNew, notReady)},
			wait:   "waiting for web-2 to be Running and Ready",
		},
		{
			name: "Stuck/a terminating pod is waited for, not deleted again",
			set:  newSet(3),
			pods: []*corev1.Pod{p(0, revOld), p(1, revOld), p(2, revNew, notReady, terminating)},
			wait: "waiting for web-2 to terminate",
		},
		{
			name: "Stuck/OnDelete leaves the broken pod to the user",
			set:  newSet(3, onDelete),
			pods: []*corev1.Pod{p(0, revOld), p(1, revOld), p(2, revNew, notReady)},
			wait: "waiting for web-2 to be Running and Ready",
		},
		{
			name:   "Stuck/below the partition the broken pod goes back to the current revision",
			set:    newSet(3, withPartition(2)),
			update: revNew,
			pods:   []*corev1.Pod{p(0, revNew, notReady), p(1, revOld), p(2, revNew)},
			want:   []string{"DeletePod web-0"},
			check:  stuck,
		},
		{
			name:   "Stuck/Parallel replaces the broken pod without spending the maxUnavailable budget",
			set:    newSet(3, parallel),
			update: revNew,
			pods:   []*corev1.Pod{p(0, revOld), p(1, revNew), p(2, "web-broken", notReady)},
			want:   []string{"DeletePod web-2"},
			wait:   "rolling update waiting: 1 of 3 replicas unavailable (maxUnavailable 1), 1 pods left to update",
			check:  stuck,
		},
	})
}
