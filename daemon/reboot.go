package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/network"
	"github.com/setlet/setlet/runtime"
	"github.com/setlet/setlet/storage"
)

// After a host restart a pod's record is most of what is left of it. Its
// sandbox is gone: the network namespace (under the run directory, a
// tmpfs), the interface that carried its IP, its masquerade rules and its
// containers' tasks. What is on disk stays: its volumes, its logs, its IP
// allocation and cached CNI attachment, and its containers' records and
// snapshots in containerd.
//
// The kubelet would start every such pod again at once, each in a new
// sandbox. setlet starts them as an OrderedReady set starts: in ordinal
// order, each once the pods before it are Running and Ready (a Parallel
// set all at once). So recovery puts every pod whose sandbox is lost back
// to "not created" (lostSandboxStatus: no phase, the way Kubernetes'
// isCreated reads a pod), and the kubelet leaves such a pod alone. The
// planner then creates it in its turn, and the executor, finding the
// record, releases it to the kubelet (phase Pending) instead of making a
// new one. The pod keeps its UID, volumes and container statuses: it is
// the same pod, restarted. Until it is released the pod has no IP, so DNS
// does not name it, and the set does not count it among its replicas.
//
// Each container that ran counts a restart, as the kubelet counts the
// containers it starts in a new sandbox: the lost run becomes the last
// state (terminated, reason Unknown, exit code 255, as the kubelet
// reports a container whose runtime lost it in a reboot), so `logs`
// shows the run after the restart and `logs --previous` the run before
// it. Completed init containers run again, as they do in a new sandbox.
// The restart is not a crash: it starts no back-off.
//
// What the lost sandbox held on disk is released too: the containers of
// the lost runs by recovery (they are no longer the current attempts),
// the IP allocations and cached attachments in the background, lowest
// ordinal first, while the first pods start (releaseLostNetworks).

// The reasons of a pod whose sandbox was lost.
const (
	// reasonHostRestarted is the status reason of a pod put back to not
	// created: kubectl's STATUS column shows it.
	reasonHostRestarted = "HostRestarted"
	// reasonLostRun is the reason of the last state of a container whose
	// run the host's restart ended, as the kubelet reports it.
	reasonLostRun = "Unknown"
	// exitCodeLostRun is the exit code the kubelet reports with it.
	exitCodeLostRun = 255
	// reasonSandboxChanged is the kubelet's event reason for a pod whose
	// sandbox is re-created.
	reasonSandboxChanged = "SandboxChanged"
)

// sandboxLost reports whether pod lost its sandbox to a host restart: it
// is (or is to be) running, none of its containers runs, and its network
// namespace is gone. netnsGone says whether the namespace file is missing
// or no longer a namespace (a run directory on disk keeps the file);
// running whether one of the pod's containers has a running task.
func sandboxLost(pod *corev1.Pod, netnsGone, running bool) bool {
	switch pod.Status.Phase {
	case corev1.PodPending, corev1.PodRunning:
		return pod.DeletionTimestamp == nil && netnsGone && !running
	}
	return false
}

// lostSandboxStatus returns the status of pod once its sandbox is lost
// (see above): not created, no IP, not Ready, every container that ran
// ended with the host and counts a restart, completed init containers to
// run again. It is pure; pod is not modified.
func lostSandboxStatus(pod *corev1.Pod, now time.Time) corev1.PodStatus {
	s := *pod.Status.DeepCopy()
	s.Phase = ""
	s.Reason = reasonHostRestarted
	s.Message = "The pod's sandbox was gone when setlet started, as after a host restart: " +
		"it starts again once the pods before it are Running and Ready"
	s.PodIP, s.PodIPs = "", nil
	t := metav1.NewTime(now)
	for i := range s.InitContainerStatuses {
		loseRun(&s.InitContainerStatuses[i], t, true)
	}
	var names []string
	for i := range s.ContainerStatuses {
		loseRun(&s.ContainerStatuses[i], t, false)
		names = append(names, s.ContainerStatuses[i].Name)
	}
	if len(pod.Spec.InitContainers) > 0 {
		var init []string
		for _, c := range pod.Spec.InitContainers {
			init = append(init, c.Name)
		}
		setCondition(&s, corev1.PodInitialized, corev1.ConditionFalse, "containers with incomplete status: ["+strings.Join(init, " ")+"]", t)
	}
	msg := "containers with unready status: [" + strings.Join(names, " ") + "]"
	setCondition(&s, corev1.ContainersReady, corev1.ConditionFalse, msg, t)
	setCondition(&s, corev1.PodReady, corev1.ConditionFalse, msg, t)
	return s
}

// loseRun ends the run of cs that the host's restart ended, if it ran,
// and for an init container that completed, asks for it to run again.
func loseRun(cs *corev1.ContainerStatus, now metav1.Time, init bool) {
	switch {
	case cs.State.Running != nil:
		cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: exitCodeLostRun, Reason: reasonLostRun, Message: "the host restarted while the container ran",
			StartedAt: cs.State.Running.StartedAt, FinishedAt: now, ContainerID: cs.ContainerID,
		}}
		cs.RestartCount++
	case init && cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
		cs.LastTerminationState = corev1.ContainerState{Terminated: cs.State.Terminated}
		cs.RestartCount++
	case cs.State.Waiting != nil:
		cs.Ready = false
		return // waiting already (a back-off): it starts when the pod does
	}
	cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}
	cs.Ready = false
	f := false
	cs.Started = &f
}

// holdLostPods puts every pod of pods whose sandbox was lost back to not
// created (see above), in one transaction, and returns pods as they now
// are. containers are the daemon's containers in containerd.
func (d *Daemon) holdLostPods(pods []*corev1.Pod, containers []runtime.ContainerStatus) ([]*corev1.Pod, error) {
	running := map[string]bool{}
	for _, st := range containers {
		if st.State == runtime.StateRunning {
			running[st.Labels[labelPodUID]] = true
		}
	}
	now := d.clock.Now()
	var lost []*corev1.Pod
	for _, pod := range pods {
		live, err := network.IsNetns(d.kubelet.netnsPath(pod))
		if err != nil {
			return nil, err
		}
		if sandboxLost(pod, !live, running[string(pod.UID)]) {
			lost = append(lost, pod)
		}
	}
	if len(lost) == 0 {
		return pods, nil
	}
	held := map[string]*corev1.Pod{}
	var evs []storage.Event
	err := d.store.Update(func(tx *storage.Tx) error {
		for _, pod := range lost {
			cur, err := tx.Pod(pod.Namespace, pod.Name)
			if errdefs.IsNotFound(err) || err == nil && cur.UID != pod.UID {
				continue
			}
			if err != nil {
				return err
			}
			cur.Status = lostSandboxStatus(cur, now)
			if err := tx.PutPod(cur); err != nil {
				return err
			}
			held[string(cur.UID)] = cur
			evs = append(evs, storage.Event{
				Time: now, Type: eventTypeNormal, Reason: reasonSandboxChanged,
				Kind: "Pod", Namespace: cur.Namespace, Name: cur.Name,
				Message: "Pod sandbox lost (the host restarted), it will be re-created when the pods before it are Ready",
			})
		}
		// The events in the same commit: one for every pod, not one each.
		return tx.AddEvents(evs...)
	})
	if err != nil {
		return nil, fmt.Errorf("holding the pods whose sandbox was lost: %w", err)
	}
	out := make([]*corev1.Pod, len(pods))
	for i, pod := range pods {
		out[i] = pod
		if h, ok := held[string(pod.UID)]; ok {
			out[i] = h
		}
	}
	d.log.Info("pods lost their sandbox; they start again in ordinal order", "pods", len(held))
	return out, nil
}

// isHeld reports whether pod waits, put back to not created after a host
// restart, for the controller to start it again.
func isHeld(pod *corev1.Pod) bool { return pod.Status.Phase == "" }

// releasePod returns pod, held, as the controller releases it to the
// kubelet: Pending, as a pod it creates.
func releasePod(pod *corev1.Pod) *corev1.Pod {
	out := pod.DeepCopy()
	out.Status.Phase = corev1.PodPending
	out.Status.Reason, out.Status.Message = "", ""
	return out
}

// lostNetwork is an attachment left from before the host restarted, to
// release.
type lostNetwork struct {
	a       network.Attachment // a.ID is the pod's UID
	claimed bool               // being released
	done    chan struct{}      // closed when a release ends
}

// markLostNetwork records that attachment a is left from before the host
// restarted: releaseLostNetworks releases it.
func (k *kubelet) markLostNetwork(a network.Attachment) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.lostNets[a.ID] = &lostNetwork{a: a, done: make(chan struct{})}
}

// nextLostNetwork claims the lost attachment of the lowest ordinal (then
// pod name) that nobody releases yet: the pods that start first come
// first.
func (k *kubelet) nextLostNetwork() (*lostNetwork, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var next *lostNetwork
	for _, ln := range k.lostNets {
		if !ln.claimed && (next == nil || lostBefore(ln.a, next.a)) {
			next = ln
		}
	}
	if next == nil {
		return nil, false
	}
	next.claimed = true
	return next, true
}

// lostBefore orders lost attachments by their pods' ordinals, then names.
func lostBefore(a, b network.Attachment) bool {
	_, oa := parentAndOrdinal(a.Pod)
	_, ob := parentAndOrdinal(b.Pod)
	if oa != ob {
		return oa < ob
	}
	return a.Namespace+"/"+a.Pod < b.Namespace+"/"+b.Pod
}

// endLostRelease ends the release of ln: done, it is forgotten; not done,
// someone may claim it again.
func (k *kubelet) endLostRelease(ln *lostNetwork, done bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	close(ln.done)
	if done {
		delete(k.lostNets, ln.a.ID)
		return
	}
	ln.claimed, ln.done = false, make(chan struct{})
}

// releaseLostNetworks releases the lost attachments one after the other,
// lowest ordinal first, until none is left or ctx ends. It runs beside the
// pods that start meanwhile, one at a time so as to leave them the CPU and
// the iptables lock: releasing them all at once delayed the first pod by
// a quarter of a second on two cores. A release that fails is left to
// the pod's own start (Setup detaches what it finds) and to the next
// daemon start.
func (k *kubelet) releaseLostNetworks(ctx context.Context) {
	for ctx.Err() == nil {
		ln, ok := k.nextLostNetwork()
		if !ok {
			return
		}
		err := k.net.Teardown(ctx, ln.a)
		if err != nil && ctx.Err() == nil {
			k.log.Warn("releasing the network of the previous boot", "pod", key(ln.a.Namespace, ln.a.Pod), "err", err)
		}
		k.endLostRelease(ln, ctx.Err() == nil)
	}
}

// releaseLostNetwork makes sure pod's lost attachment, if it has one, is
// released before the pod sets up its network: it releases it, or waits
// for releaseLostNetworks to end its release. (Setup would detach what it
// finds anyway, but a release running after it would take the new
// attachment with it.)
func (k *kubelet) releaseLostNetwork(ctx context.Context, pod *corev1.Pod) error {
	for {
		k.mu.Lock()
		ln := k.lostNets[string(pod.UID)]
		if ln == nil {
			k.mu.Unlock()
			return nil
		}
		if !ln.claimed {
			ln.claimed = true
			k.mu.Unlock()
			err := k.net.Teardown(ctx, ln.a)
			k.endLostRelease(ln, err == nil)
			if err != nil {
				return fmt.Errorf("releasing the network of the previous boot: %w", err)
			}
			return nil
		}
		done := ln.done
		k.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
