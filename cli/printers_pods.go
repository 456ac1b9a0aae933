package cli

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// printOptions change how rows are printed.
type printOptions struct {
	// Wide adds the columns of kubectl's -o wide.
	Wide bool
	// Node is shown as a pod's NODE when its spec.nodeName is empty: the
	// host the daemon runs on (the CLI talks to it over a local socket).
	Node string
}

func podColumns(wide bool) []string {
	cols := []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}
	if wide {
		cols = append(cols, "IP", "NODE", "NOMINATED NODE", "READINESS GATES")
	}
	return cols
}

func podRow(obj object, now time.Time, opts printOptions) []string {
	pod := obj.(*corev1.Pod)
	s := summarizePod(pod, now)
	row := []string{pod.Name, s.Ready, s.Status, s.Restarts, age(pod.CreationTimestamp, now)}
	if !opts.Wide {
		return row
	}
	ip := pod.Status.PodIP
	if len(pod.Status.PodIPs) > 0 {
		ip = pod.Status.PodIPs[0].IP
	}
	node := pod.Spec.NodeName
	if node == "" {
		node = opts.Node
	}
	gates := "<none>"
	if len(pod.Spec.ReadinessGates) > 0 {
		trueConditions := 0
		for _, g := range pod.Spec.ReadinessGates {
			for _, c := range pod.Status.Conditions {
				if c.Type == g.ConditionType {
					if c.Status == corev1.ConditionTrue {
						trueConditions++
					}
					break
				}
			}
		}
		gates = fmt.Sprintf("%d/%d", trueConditions, len(pod.Spec.ReadinessGates))
	}
	return append(row, orNone(ip), orNone(node), orNone(pod.Status.NominatedNodeName), gates)
}

// podSummary is what a pod's row says about it.
type podSummary struct {
	Ready    string // "1/1"
	Status   string // "Running", "CrashLoopBackOff", "Init:0/1", "Terminating", ...
	Restarts string // "5 (2m ago)"
}

// summarizePod computes READY, STATUS and RESTARTS exactly as kubectl's
// printPod does (k8s.io/kubernetes/pkg/printers/internalversion), so that
// the words users and scripts look for are the same.
func summarizePod(pod *corev1.Pod, now time.Time) podSummary {
	restarts := 0
	restartableInitRestarts := 0
	totalContainers := len(pod.Spec.Containers)
	readyContainers := 0
	var lastRestart, lastRestartableInitRestart time.Time

	reason := string(pod.Status.Phase)
	if pod.Status.Reason != "" {
		reason = pod.Status.Reason
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			reason = corev1.PodReasonSchedulingGated
		}
	}

	initContainers := make(map[string]*corev1.Container, len(pod.Spec.InitContainers))
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		initContainers[c.Name] = c
		if isRestartableInit(c) {
			totalContainers++
		}
	}

	initializing := false
	for i, st := range pod.Status.InitContainerStatuses {
		restarts += int(st.RestartCount)
		if t := st.LastTerminationState.Terminated; t != nil && t.FinishedAt.After(lastRestart) {
			lastRestart = t.FinishedAt.Time
		}
		if isRestartableInit(initContainers[st.Name]) {
			restartableInitRestarts += int(st.RestartCount)
			if t := st.LastTerminationState.Terminated; t != nil && t.FinishedAt.After(lastRestartableInitRestart) {
				lastRestartableInitRestart = t.FinishedAt.Time
			}
		}
		switch {
		case st.State.Terminated != nil && st.State.Terminated.ExitCode == 0:
			continue
		case isRestartableInit(initContainers[st.Name]) && st.Started != nil && *st.Started:
			if st.Ready {
				readyContainers++
			}
			continue
		case st.State.Terminated != nil:
			t := st.State.Terminated
			switch {
			case t.Reason != "":
				reason = "Init:" + t.Reason
			case t.Signal != 0:
				reason = fmt.Sprintf("Init:Signal:%d", t.Signal)
			default:
				reason = fmt.Sprintf("Init:ExitCode:%d", t.ExitCode)
			}
		case st.State.Waiting != nil && st.State.Waiting.Reason != "" && st.State.Waiting.Reason != "PodInitializing":
			reason = "Init:" + st.State.Waiting.Reason
		default:
			reason = fmt.Sprintf("Init:%d/%d", i, len(pod.Spec.InitContainers))
		}
		initializing = true
		break
	}

	if !initializing || podConditionTrue(pod.Status.Conditions, corev1.PodInitialized) {
		restarts = restartableInitRestarts
		lastRestart = lastRestartableInitRestart
		hasRunning := false
		for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
			st := pod.Status.ContainerStatuses[i]
			restarts += int(st.RestartCount)
			if t := st.LastTerminationState.Terminated; t != nil && t.FinishedAt.After(lastRestart) {
				lastRestart = t.FinishedAt.Time
			}
			switch {
			case st.State.Waiting != nil && st.State.Waiting.Reason != "":
				reason = st.State.Waiting.Reason
			case st.State.Terminated != nil && st.State.Terminated.Reason != "":
				reason = st.State.Terminated.Reason
			case st.State.Terminated != nil && st.State.Terminated.Signal != 0:
				reason = fmt.Sprintf("Signal:%d", st.State.Terminated.Signal)
			case st.State.Terminated != nil:
				reason = fmt.Sprintf("ExitCode:%d", st.State.Terminated.ExitCode)
			case st.Ready && st.State.Running != nil:
				hasRunning = true
				readyContainers++
			}
		}
		// A pod with a container still running is not Completed.
		if reason == "Completed" && hasRunning {
			if podConditionTrue(pod.Status.Conditions, corev1.PodReady) {
				reason = "Running"
			} else {
				reason = "NotReady"
			}
		}
	}

	terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	switch {
	case pod.DeletionTimestamp != nil && pod.Status.Reason == "NodeLost":
		reason = "Unknown"
	case pod.DeletionTimestamp != nil && !terminal:
		reason = "Terminating"
	}

	restartsText := strconv.Itoa(restarts)
	if restarts != 0 && !lastRestart.IsZero() {
		restartsText = fmt.Sprintf("%d (%s ago)", restarts, age(metav1.NewTime(lastRestart), now))
	}
	return podSummary{
		Ready:    fmt.Sprintf("%d/%d", readyContainers, totalContainers),
		Status:   reason,
		Restarts: restartsText,
	}
}

// isRestartableInit reports whether c is a sidecar: an init container with
// restartPolicy Always.
func isRestartableInit(c *corev1.Container) bool {
	return c != nil && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// podConditionTrue reports whether the condition of type t is True.
func podConditionTrue(conds []corev1.PodCondition, t corev1.PodConditionType) bool {
	for _, c := range conds {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
