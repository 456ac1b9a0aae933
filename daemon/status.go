package daemon

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// newStatus returns the status fields one pass sets before it counts pods,
// as Kubernetes' updateStatefulSet does: observed generation, the two
// revisions and the collision count.
func newStatus(set *appsv1.StatefulSet, current, update string, collisionCount int32) appsv1.StatefulSetStatus {
	return appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    current,
		UpdateRevision:     update,
		CollisionCount:     &collisionCount,
	}
}

// countPods sets the replica counts of status from pods the way Kubernetes'
// computeReplicaStatus does. nil entries (missing pods) are skipped.
//
//   - replicas: pods that exist (have a phase), terminating ones included;
//   - readyReplicas: Running and Ready pods;
//   - availableReplicas: those also Ready for more than minReadySeconds;
//   - currentReplicas, updatedReplicas: existing, not terminating pods
//     labelled with the current and the update revision.
func countPods(status *appsv1.StatefulSetStatus, minReadySeconds int32, now time.Time, lists ...[]*corev1.Pod) {
	status.Replicas = 0
	status.ReadyReplicas = 0
	status.AvailableReplicas = 0
	status.CurrentReplicas = 0
	status.UpdatedReplicas = 0
	for _, pods := range lists {
		for _, pod := range pods {
			if pod == nil {
				continue
			}
			if isCreated(pod) {
				status.Replicas++
			}
			if isRunningAndReady(pod) {
				status.ReadyReplicas++
				if isRunningAndAvailable(pod, minReadySeconds, now) {
					status.AvailableReplicas++
				}
			}
			if isCreated(pod) && !isTerminating(pod) {
				revision := getPodRevision(pod)
				if revision == status.CurrentRevision {
					status.CurrentReplicas++
				}
				if revision == status.UpdateRevision {
					status.UpdatedReplicas++
				}
			}
		}
	}
}

// completeRollingUpdate mirrors Kubernetes' completeRollingUpdate: once a
// RollingUpdate set has all its replicas created, Ready and at the update
// revision, the update revision becomes the current one.
func completeRollingUpdate(set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) {
	replicas := int32(replicaCount(set))
	if set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType &&
		status.UpdatedReplicas == replicas &&
		status.ReadyReplicas == replicas &&
		status.Replicas == replicas {
		status.CurrentReplicas = status.UpdatedReplicas
		status.CurrentRevision = status.UpdateRevision
	}
}

// nextAvailable returns the earliest instant after now at which one of pods
// that is Running and Ready but not yet available becomes available, or the
// zero time when there is none (or minReadySeconds is 0). Such an instant
// changes availableReplicas and may unblock the plan, so the daemon sets a
// timer for it instead of polling; Kubernetes requeues the set after
// minReadySeconds for the same reason.
func nextAvailable(minReadySeconds int32, now time.Time, lists ...[]*corev1.Pod) time.Time {
	if minReadySeconds <= 0 {
		return time.Time{}
	}
	var next time.Time
	for _, pods := range lists {
		for _, pod := range pods {
			if pod == nil {
				continue
			}
			at, ok := availableAt(pod, minReadySeconds)
			if !ok || !at.After(now) {
				continue
			}
			if next.IsZero() || at.Before(next) {
				next = at
			}
		}
	}
	return next
}
