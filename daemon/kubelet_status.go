package daemon

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// computeStatus derives the pod's phase and conditions from its container
// statuses and the probes' results, as kubelet does: Running once the init
// containers are done and a container runs; Ready when every container is
// ready. A condition's transition time changes only when its status does.
func (k *kubelet) computeStatus(pod *corev1.Pod, status *corev1.PodStatus, initDone bool) {
	podKey := key(pod.Namespace, pod.Name)
	var unready []string
	var reason string
	running := false
	for i := range status.ContainerStatuses {
		cs := &status.ContainerStatuses[i]
		if cs.State.Running == nil {
			cs.Ready = false
			unready = append(unready, cs.Name)
			continue
		}
		running = true
		ready, started, failure := k.probes.state(podKey, cs.Name)
		cs.Ready = ready && started
		cs.Started = &started
		if !cs.Ready {
			unready = append(unready, cs.Name)
			if failure.Message != "" && reason == "" {
				kind := "readiness"
				if !started {
					kind = "startup"
				}
				reason = fmt.Sprintf("%s probe failed: %s", kind, failure.Message)
			}
		}
	}
	if len(status.ContainerStatuses) < len(pod.Spec.Containers) {
		for _, c := range pod.Spec.Containers[len(status.ContainerStatuses):] {
			unready = append(unready, c.Name)
		}
	}

	switch {
	case initDone && running:
		status.Phase = corev1.PodRunning
	default:
		status.Phase = corev1.PodPending
	}

	now := metav1.NewTime(k.clock.Now())
	initialized := corev1.ConditionFalse
	initMsg := ""
	if initDone {
		initialized = corev1.ConditionTrue
	} else {
		initMsg = "containers with incomplete status: [" + strings.Join(pendingInit(pod, status), " ") + "]"
	}
	containersReady := corev1.ConditionTrue
	readyMsg := ""
	if len(unready) > 0 || !initDone {
		containersReady = corev1.ConditionFalse
		readyMsg = "containers with unready status: [" + strings.Join(unready, " ") + "]"
		if reason != "" {
			readyMsg = reason
		}
	}
	setCondition(status, corev1.PodScheduled, corev1.ConditionTrue, "", now)
	setCondition(status, corev1.PodInitialized, initialized, initMsg, now)
	setCondition(status, corev1.ContainersReady, containersReady, readyMsg, now)
	setCondition(status, corev1.PodReady, containersReady, readyMsg, now)
}

// pendingInit lists the init containers that have not completed.
func pendingInit(pod *corev1.Pod, status *corev1.PodStatus) []string {
	var out []string
	for _, c := range pod.Spec.InitContainers {
		done := false
		for _, cs := range status.InitContainerStatuses {
			if cs.Name == c.Name && cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0 {
				done = true
			}
		}
		if !done {
			out = append(out, c.Name)
		}
	}
	return out
}

// setCondition sets condition typ, keeping its transition time unless its
// status changes.
func setCondition(status *corev1.PodStatus, typ corev1.PodConditionType, value corev1.ConditionStatus, message string, now metav1.Time) {
	reason := ""
	if value == corev1.ConditionFalse {
		switch typ {
		case corev1.PodReady, corev1.ContainersReady:
			reason = "ContainersNotReady"
		case corev1.PodInitialized:
			reason = "ContainersNotInitialized"
		}
	}
	for i := range status.Conditions {
		c := &status.Conditions[i]
		if c.Type != typ {
			continue
		}
		if c.Status != value {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message = value, reason, message
		return
	}
	status.Conditions = append(status.Conditions, corev1.PodCondition{
		Type: typ, Status: value, Reason: reason, Message: message, LastTransitionTime: now,
	})
}

// podReady reports whether status has a true Ready condition.
func podReady(status corev1.PodStatus) bool {
	for _, c := range status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readyMessage returns the message of the Ready condition.
func readyMessage(status corev1.PodStatus) string {
	for _, c := range status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Message
		}
	}
	return ""
}
