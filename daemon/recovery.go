package daemon

import (
	"context"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/network"
)

// pluginWait bounds the wait for the CNI plugins a killed daemon left
// running: a plugin's ADD or DEL takes milliseconds.
const pluginWait = 30 * time.Second

// recoverState rebuilds the daemon's view at start from the state file and
// containerd, before any loop runs: pods whose sandbox the host's restart
// took are put back to not created, for the controller to start again in
// ordinal order (reboot.go); containers of pods that no longer exist (or
// of a previous incarnation, or a stale attempt that is not running) are
// removed, network namespaces and CNI attachments no pod owns are torn
// down, those of the pods put back are left for the kubelet to release,
// and then every set is enqueued (the pods are, by watchEvents). Running
// containers of known pods are left alone; the kubelet adopts them. It
// first waits for the CNI plugins a killed daemon left running
// (network.WaitPlugins).
func (d *Daemon) recoverState(ctx context.Context) error {
	// A CNI plugin that a killed daemon left running must not interleave
	// with this one's DEL or ADD for the same pod. One that hangs (a
	// plugin waits on the xtables lock, for instance) must not keep the
	// daemon from starting: after pluginWait, it starts anyway.
	waitCtx, cancel := context.WithTimeout(ctx, pluginWait)
	_, err := d.net.WaitPlugins(waitCtx)
	cancel()
	if err != nil && ctx.Err() == nil {
		d.log.Warn("a CNI plugin a previous daemon left running has not exited; starting anyway", "err", err)
	}
	pods, err := d.store.AllPods()
	if err != nil {
		return err
	}
	containers, err := d.rt.Containers(ctx)
	if err != nil {
		return err
	}
	if pods, err = d.holdLostPods(pods, containers); err != nil {
		return err
	}
	byUID := map[string]*corev1.Pod{}
	byName := map[string]*corev1.Pod{}
	for _, p := range pods {
		byUID[string(p.UID)] = p
		byName[p.Name] = p
	}
	removed := 0
	for _, st := range containers {
		pod, ok := byUID[st.Labels[labelPodUID]]
		if ok && (st.State == "running" || isCurrentAttempt(pod, st.Labels[labelContainer], st.Labels[labelAttempt])) {
			continue
		}
		if err := d.rt.RemoveContainer(ctx, st.ID); err != nil {
			d.log.Warn("removing leftover container", "container", st.ID, "err", err)
			continue
		}
		removed++
	}
	namespaces, err := d.net.Namespaces()
	if err != nil {
		return err
	}
	for _, name := range namespaces {
		if _, ok := byName[name]; ok {
			continue
		}
		if err := d.net.Teardown(ctx, network.Attachment{Pod: name}); err != nil {
			d.log.Warn("removing leftover network namespace", "netns", name, "err", err)
		}
	}
	ids, err := d.net.Attachments()
	if err != nil {
		return err
	}
	for _, id := range ids {
		if pod, ok := byUID[id]; ok {
			if isHeld(pod) {
				d.kubelet.markLostNetwork(attachment(pod))
			}
			continue
		}
		if err := d.net.Teardown(ctx, network.Attachment{ID: id}); err != nil {
			d.log.Warn("releasing leftover network attachment", "id", id, "err", err)
		}
	}
	d.log.Info("state recovered", "pods", len(pods), "containers", len(containers), "removed", removed)
	keys := make([]string, len(pods))
	for i, p := range pods {
		keys[i] = key(p.Namespace, p.Name)
	}
	// The kubelet side syncs every pod once containerd's event stream is
	// up (watchEvents): from then on no task event is missed.
	d.kubelet.first.expect(keys, d.clock.Now())
	return d.controller.enqueueAll(pods)
}

// isCurrentAttempt reports whether attempt (a label value) is the current
// attempt of container name of pod.
func isCurrentAttempt(pod *corev1.Pod, name, attempt string) bool {
	n, err := strconv.Atoi(attempt)
	if err != nil {
		return false
	}
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for _, cs := range list {
			if cs.Name == name {
				return int32(n) == cs.RestartCount
			}
		}
	}
	return n == 0
}
