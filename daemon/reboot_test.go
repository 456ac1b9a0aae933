package daemon

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSandboxLost(t *testing.T) {
	deleted := metav1.NewTime(probeEpoch)
	for _, tc := range []struct {
		name               string
		phase              corev1.PodPhase
		deleting           bool
		netnsGone, running bool
		want               bool
	}{
		{"SandboxLost/a Running pod without namespace or running container lost it", corev1.PodRunning, false, true, false, true},
		{"SandboxLost/so did a Pending pod", corev1.PodPending, false, true, false, true},
		{"SandboxLost/a pod whose namespace is there did not", corev1.PodRunning, false, false, false, false},
		{"SandboxLost/a pod with a running container did not", corev1.PodRunning, false, true, true, false},
		{"SandboxLost/a terminating pod is left to terminate", corev1.PodRunning, true, true, false, false},
		{"SandboxLost/a Failed pod is left to the controller", corev1.PodFailed, false, true, false, false},
		{"SandboxLost/a pod held already is not held again", "", false, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Status: corev1.PodStatus{Phase: tc.phase}}
			if tc.deleting {
				pod.DeletionTimestamp = &deleted
			}
			if got := sandboxLost(pod, tc.netnsGone, tc.running); got != tc.want {
				t.Fatalf("sandboxLost = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestLostSandboxStatus: a pod whose sandbox was lost is not created, has
// no IP and is not Ready; a container that ran counts a restart whose last
// state is the lost run, a completed init container runs again, and a
// container waiting in back-off keeps its state.
func TestLostSandboxStatus(t *testing.T) {
	started, before, now := metav1.NewTime(probeEpoch), metav1.NewTime(probeEpoch.Add(time.Minute)), probeEpoch.Add(time.Hour)
	completed := &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: started, FinishedAt: started}
	crashed := &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", StartedAt: started, FinishedAt: before}
	yes := true
	pod := &corev1.Pod{
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init"}},
			Containers:     []corev1.Container{{Name: "web"}, {Name: "crashy"}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: "10.88.0.5", PodIPs: []corev1.PodIP{{IP: "10.88.0.5"}}, HostIP: "10.88.0.1",
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: started},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: started},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: started},
			},
			InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "init", State: corev1.ContainerState{Terminated: completed}, ContainerID: "containerd://init_0"},
			},
			ContainerStatuses: []corev1.ContainerStatus{
				{
					Name: "web", RestartCount: 2, Ready: true, Started: &yes, ContainerID: "containerd://web_2",
					State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: before}},
					LastTerminationState: corev1.ContainerState{Terminated: crashed},
				},
				{
					Name: "crashy", RestartCount: 5, ContainerID: "containerd://crashy_4",
					State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
					LastTerminationState: corev1.ContainerState{Terminated: crashed},
				},
			},
		},
	}
	orig := pod.DeepCopy()

	got := lostSandboxStatus(pod, now)
	if !apiequality.Semantic.DeepEqual(pod, orig) {
		t.Fatal("lostSandboxStatus modified its pod")
	}
	if got.Phase != "" || got.Reason != reasonHostRestarted || got.Message == "" || got.PodIP != "" || got.PodIPs != nil || got.HostIP != "10.88.0.1" {
		t.Errorf("pod status: phase %q reason %q message %q IP %q %v host IP %q; want no phase or IP, reason %s",
			got.Phase, got.Reason, got.Message, got.PodIP, got.PodIPs, got.HostIP, reasonHostRestarted)
	}
	for _, c := range got.Conditions {
		if c.Status != corev1.ConditionFalse || !c.LastTransitionTime.Equal(&metav1.Time{Time: now}) {
			t.Errorf("condition %s: %s since %v, want False since %v", c.Type, c.Status, c.LastTransitionTime, now)
		}
	}
	if podReady(got) {
		t.Error("the pod is Ready")
	}

	web := got.ContainerStatuses[0]
	wantLast := &corev1.ContainerStateTerminated{
		ExitCode: exitCodeLostRun, Reason: reasonLostRun, Message: "the host restarted while the container ran",
		StartedAt: before, FinishedAt: metav1.NewTime(now), ContainerID: "containerd://web_2",
	}
	if web.RestartCount != 3 || web.Ready || *web.Started || web.State.Waiting == nil ||
		!apiequality.Semantic.DeepEqual(web.LastTerminationState.Terminated, wantLast) {
		t.Errorf("the container that ran: %+v; want restart count 3, waiting, last state %+v", web, wantLast)
	}
	init := got.InitContainerStatuses[0]
	if init.RestartCount != 1 || init.State.Waiting == nil || !apiequality.Semantic.DeepEqual(init.LastTerminationState.Terminated, completed) {
		t.Errorf("the completed init container: %+v; want it to run again, restart count 1", init)
	}
	if crashy := got.ContainerStatuses[1]; !apiequality.Semantic.DeepEqual(crashy, orig.Status.ContainerStatuses[1]) {
		t.Errorf("the container in back-off: %+v; want it unchanged", crashy)
	}

	// Held again (a second restart before the pod started): nothing more
	// is counted, as the pod did not run in between.
	pod.Status = got
	if again := lostSandboxStatus(pod, now.Add(time.Minute)); again.ContainerStatuses[0].RestartCount != 3 || again.InitContainerStatuses[0].RestartCount != 1 {
		t.Errorf("held twice: restart counts %d and %d, want 3 and 1", again.ContainerStatuses[0].RestartCount, again.InitContainerStatuses[0].RestartCount)
	}
}

// TestBackoffAfterHostRestart: a run the host's restart ended starts no
// back-off, while a crash with the same history waits.
func TestBackoffAfterHostRestart(t *testing.T) {
	now := probeEpoch.Add(time.Hour)
	k := &kubelet{clock: newFakeClock(now)}
	for _, tc := range []struct {
		reason string
		want   bool // waits
	}{{reasonLostRun, false}, {"Error", true}} {
		cs := &corev1.ContainerStatus{RestartCount: 4, LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			Reason: tc.reason, ExitCode: 255, StartedAt: metav1.NewTime(now.Add(-time.Second)), FinishedAt: metav1.NewTime(now),
		}}}
		if got := k.backoffLeft(cs); (got > 0) != tc.want {
			t.Errorf("last state %s: back-off left %v", tc.reason, got)
		}
	}
}
