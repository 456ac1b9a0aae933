package daemon

import (
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/setlet/setlet/storage"
)

// This file holds the pure predicates the planner is built from. Each one
// mirrors the function of the same name in Kubernetes'
// pkg/controller/statefulset/stateful_set_utils.go; time is an argument
// instead of a clock read.

// parentAndOrdinal splits a pod name the way Kubernetes' regular expression
// "(.*)-([0-9]+)$" does: the parent is everything before the last dash, the
// ordinal the decimal digits after it. A name without that shape, or whose
// ordinal does not fit in 32 bits, has ordinal -1; the parent is "" when the
// name has no such suffix at all.
func parentAndOrdinal(name string) (string, int) {
	dash := strings.LastIndexByte(name, '-')
	if dash < 0 || dash == len(name)-1 {
		return "", -1
	}
	digits := name[dash+1:]
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return "", -1
		}
	}
	ordinal, err := strconv.ParseInt(digits, 10, 32)
	if err != nil {
		return name[:dash], -1
	}
	return name[:dash], int(ordinal)
}

// getOrdinal returns pod's ordinal, or -1 when its name has none.
func getOrdinal(pod *corev1.Pod) int {
	_, ordinal := parentAndOrdinal(pod.Name)
	return ordinal
}

// isMemberOf reports whether pod's name says it belongs to set, the filter
// Kubernetes applies before it claims a pod for a set.
func isMemberOf(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, _ := parentAndOrdinal(pod.Name)
	return parent == set.Name
}

// podName returns the name of set's pod with the given ordinal.
func podName(set *appsv1.StatefulSet, ordinal int) string {
	return set.Name + "-" + strconv.Itoa(ordinal)
}

// startOrdinal returns spec.ordinals.start, or 0 when unset.
func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

// replicaCount returns spec.replicas, defaulting to 1 as the API server
// does; a negative count, which validation rejects, counts as 0.
func replicaCount(set *appsv1.StatefulSet) int {
	if set.Spec.Replicas != nil {
		return max(int(*set.Spec.Replicas), 0)
	}
	return 1
}

// partition returns the rolling update partition, 0 when unset.
func partition(set *appsv1.StatefulSet) int {
	ru := set.Spec.UpdateStrategy.RollingUpdate
	if ru != nil && ru.Partition != nil {
		return int(*ru.Partition)
	}
	return 0
}

// maxUnavailable mirrors getStatefulSetMaxUnavailable: the rolling update's
// maxUnavailable scaled against replicas (a percentage rounds down), 1 when
// unset, and never less than 1.
func maxUnavailable(set *appsv1.StatefulSet, replicas int) (int, error) {
	var value *intstr.IntOrString
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		value = ru.MaxUnavailable
	}
	one := intstr.FromInt32(1)
	n, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(value, one), replicas, false)
	if err != nil {
		return 0, err
	}
	return max(n, 1), nil
}

// allowsBurst reports whether set uses the Parallel pod management policy.
func allowsBurst(set *appsv1.StatefulSet) bool {
	return set.Spec.PodManagementPolicy == appsv1.ParallelPodManagement
}

// getPodRevision returns the value of pod's controller-revision-hash label,
// which is the full revision name.
func getPodRevision(pod *corev1.Pod) string {
	return pod.Labels[appsv1.StatefulSetRevisionLabel]
}

// isCreated reports whether pod has a phase, which Kubernetes takes to mean
// the pod exists.
func isCreated(pod *corev1.Pod) bool {
	return pod.Status.Phase != ""
}

// isFailed reports whether pod is in phase Failed.
func isFailed(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodFailed
}

// isSucceeded reports whether pod is in phase Succeeded.
func isSucceeded(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded
}

// isTerminating reports whether pod has a deletion timestamp.
func isTerminating(pod *corev1.Pod) bool {
	return pod.DeletionTimestamp != nil
}

// readyCondition returns pod's PodReady condition, or nil.
func readyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// isRunningAndReady reports whether pod is Running with a true PodReady
// condition.
func isRunningAndReady(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning {
		return false
	}
	c := readyCondition(pod)
	return c != nil && c.Status == corev1.ConditionTrue
}

// availableAt returns the first instant at which a Running and Ready pod
// counts as available, and false when it never will (not ready, or ready
// with no transition time while minReadySeconds > 0). Kubernetes' rule is
// readySince + minReadySeconds < now, strictly, so the instant is one
// nanosecond after that sum; with minReadySeconds 0 a ready pod is always
// available (the zero time is returned).
func availableAt(pod *corev1.Pod, minReadySeconds int32) (time.Time, bool) {
	if !isRunningAndReady(pod) {
		return time.Time{}, false
	}
	if minReadySeconds <= 0 {
		return time.Time{}, true
	}
	since := readyCondition(pod).LastTransitionTime
	if since.IsZero() {
		return time.Time{}, false
	}
	return since.Add(time.Duration(minReadySeconds)*time.Second + time.Nanosecond), true
}

// isRunningAndAvailable reports whether pod is Running and has been Ready
// for more than minReadySeconds as of now.
func isRunningAndAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	at, ok := availableAt(pod, minReadySeconds)
	return ok && !now.Before(at)
}

// isUnavailable reports whether pod counts against maxUnavailable: missing
// (nil), not available as of now, or terminating.
func isUnavailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	return pod == nil || !isRunningAndAvailable(pod, minReadySeconds, now) || isTerminating(pod)
}

// identityMatches mirrors Kubernetes' identityMatches: pod's name is the
// canonical name for its ordinal in set, it is in set's namespace, and it
// carries the pod-name label.
func identityMatches(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, ordinal := parentAndOrdinal(pod.Name)
	return ordinal >= 0 &&
		parent == set.Name &&
		pod.Name == podName(set, ordinal) &&
		pod.Namespace == set.Namespace &&
		pod.Labels[appsv1.StatefulSetPodNameLabel] == pod.Name
}

// storageMatches mirrors Kubernetes' storageMatches: for every volume claim
// template pod has a volume of the claim's name whose claim is the one for
// pod's ordinal.
func storageMatches(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	ordinal := getOrdinal(pod)
	if ordinal < 0 {
		return false
	}
	for i := range set.Spec.VolumeClaimTemplates {
		claim := set.Spec.VolumeClaimTemplates[i].Name
		if !hasClaimVolume(pod, claim, storage.VolumeName(claim, set.Name, ordinal)) {
			return false
		}
	}
	return true
}

// hasClaimVolume reports whether pod has a volume named name whose
// PersistentVolumeClaim source is claimName.
func hasClaimVolume(pod *corev1.Pod, name, claimName string) bool {
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.Name == name {
			return v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claimName
		}
	}
	return false
}
