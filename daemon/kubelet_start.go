package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/network"
	"github.com/setlet/setlet/runtime"
)

// ensureRunning takes the next steps to get pod running: network, files,
// init containers in order, then the containers, with restarts.
func (k *kubelet) ensureRunning(ctx context.Context, pod *corev1.Pod) error {
	status := *pod.Status.DeepCopy()

	if err := k.ensureNetwork(ctx, pod, &status); err != nil {
		status.Reason = "NetworkNotReady"
		status.Message = err.Error()
		_ = k.writeStatus(pod, status)
		k.events.event("Pod", pod.Namespace, pod.Name, eventTypeWarning, reasonNetworkFailed, "Failed to create pod network: %v", err)
		return err
	}
	if err := k.writePodFiles(pod, status.PodIP); err != nil {
		status.Message = err.Error()
		_ = k.writeStatus(pod, status)
		k.events.event("Pod", pod.Namespace, pod.Name, eventTypeWarning, "FailedMount", "%v", err)
		return err
	}

	initDone, err := k.runInitContainers(ctx, pod, &status)
	if err == nil && initDone {
		err = k.runContainers(ctx, pod, &status)
	}
	k.computeStatus(pod, &status, initDone)
	if werr := k.writeStatus(pod, status); werr != nil {
		return werr
	}
	if errors.Is(err, errWait) {
		return nil
	}
	return err
}

// ensureNetwork gives the pod its network namespace and IP, once: the IP is
// recorded before any container is created. A recorded IP whose namespace
// is gone (the host rebooted) is released and a new one set up, and so is
// the attachment recovery found left from before the host restarted.
func (k *kubelet) ensureNetwork(ctx context.Context, pod *corev1.Pod, status *corev1.PodStatus) error {
	if err := k.releaseLostNetwork(ctx, pod); err != nil {
		return err
	}
	a := attachment(pod)
	if status.PodIP != "" {
		if live, err := network.IsNetns(k.netnsPath(pod)); err != nil || live {
			return err
		}
		if err := k.net.Teardown(ctx, a); err != nil {
			return fmt.Errorf("releasing the network of the previous boot: %w", err)
		}
		status.PodIP, status.PodIPs = "", nil
	}
	res, err := k.net.Setup(ctx, a)
	if err != nil {
		return err
	}
	status.PodIP = res.IP.String()
	status.PodIPs = []corev1.PodIP{{IP: status.PodIP}}
	if gw := k.net.Gateway(); gw != nil {
		status.HostIP = gw.String()
		status.HostIPs = []corev1.HostIP{{IP: gw.String()}}
	}
	now := metav1.NewTime(k.clock.Now())
	if status.StartTime == nil {
		status.StartTime = &now
	}
	status.Reason, status.Message = "", ""
	return k.writeStatus(pod, *status)
}

// writePodFiles writes /etc/hosts, /etc/resolv.conf and /etc/hostname for
// the pod and projects its ConfigMap, Secret and downward API volumes.
func (k *kubelet) writePodFiles(pod *corev1.Pod, podIP string) error {
	dir := k.podRunDir(pod)
	host, _ := os.ReadFile(k.cfg.HostResolvConf)
	hostname := pod.Spec.Hostname
	if hostname == "" {
		hostname = pod.Name
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"hosts", hostsFile(pod, podIP, k.cfg.ClusterDomain, k.cfg.Zone)},
		{"resolv.conf", podResolvConf(pod, parseResolvConf(host), clusterDNS{Server: k.cfg.DNSServer, Zone: k.cfg.Zone, ClusterDomain: k.cfg.ClusterDomain})},
		{"hostname", []byte(hostname + "\n")},
	} {
		if err := writeFileIfChanged(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return fmt.Errorf("writing %s of pod %s: %w", f.name, pod.Name, err)
		}
	}
	return k.projectVolumes(pod)
}

// runInitContainers runs the init containers one after the other, each to
// success, and reports whether all have completed. A failed one is
// restarted with back-off (restartPolicy Always).
func (k *kubelet) runInitContainers(ctx context.Context, pod *corev1.Pod, status *corev1.PodStatus) (bool, error) {
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := containerStatusFor(&status.InitContainerStatuses, c)
		if t := cs.State.Terminated; t != nil && t.ExitCode == 0 {
			continue
		}
		done, err := k.stepContainer(ctx, pod, c, cs, true)
		if err != nil || !done {
			return false, err
		}
	}
	return true, nil
}

// runContainers makes every container run, restarting exited ones after
// their back-off and killing one whose liveness probe failed.
func (k *kubelet) runContainers(ctx context.Context, pod *corev1.Pod, status *corev1.PodStatus) error {
	var errs []error
	waiting := false
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs := containerStatusFor(&status.ContainerStatuses, c)
		if _, err := k.stepContainer(ctx, pod, c, cs, false); errors.Is(err, errWait) {
			waiting = true
		} else if err != nil {
			errs = append(errs, fmt.Errorf("container %s: %w", c.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if waiting {
		return errWait
	}
	return nil
}

// containerStatusFor returns the status entry of c in list, adding one.
func containerStatusFor(list *[]corev1.ContainerStatus, c *corev1.Container) *corev1.ContainerStatus {
	for i := range *list {
		if (*list)[i].Name == c.Name {
			return &(*list)[i]
		}
	}
	*list = append(*list, corev1.ContainerStatus{
		Name: c.Name, Image: c.Image,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
	})
	return &(*list)[len(*list)-1]
}

// stepContainer takes the next step for the current attempt of container
// c. For an init container it reports whether it has completed.
func (k *kubelet) stepContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, cs *corev1.ContainerStatus, init bool) (bool, error) {
	podKey := key(pod.Namespace, pod.Name)
	id := containerID(pod, c.Name, cs.RestartCount)
	st, err := k.ctrs.ContainerStatus(ctx, id)
	switch {
	case errdefs.IsNotFound(err):
		if cs.State.Running != nil {
			// It ran and is gone without an exit we saw: the host rebooted
			// or containerd lost it. Count a restart, as kubelet does.
			k.recordExit(cs, runtime.ContainerStatus{ID: id, ExitCode: 255, Reason: "ContainerStatusUnknown", FinishedAt: k.clock.Now()}, "the container could not be located when the pod was synced")
			cs.RestartCount++
			return false, k.startAttempt(ctx, pod, c, cs, init)
		}
		if delay := k.backoffLeft(cs); delay > 0 {
			k.waitBackOff(pod, c, cs, delay)
			return false, errWait
		}
		return false, k.startAttempt(ctx, pod, c, cs, init)
	case err != nil:
		return false, err
	}

	k.mu.Lock()
	k.owners[id] = podKey
	k.mu.Unlock()

	switch st.State {
	case runtime.StateCreated:
		// Created but not started: a crash between the two steps.
		return false, k.startAttempt(ctx, pod, c, cs, init)
	case runtime.StateRunning:
		k.adopt(ctx, pod, c, cs, st, init)
		if !init {
			if outcome, failed := k.takeLivenessFailure(id); failed {
				k.events.event("Pod", pod.Namespace, pod.Name, eventTypeNormal, reasonKilling, "Container %s failed %s probe, will be restarted", c.Name, outcome)
				k.probes.remove(podKey, c.Name)
				if err := k.ctrs.StopContainer(ctx, id, livenessGrace(pod, c)); err != nil {
					return false, err
				}
				return false, errWait // the exit event brings the pod back
			}
		}
		return false, errWait
	case runtime.StateExited:
		k.probes.remove(podKey, c.Name)
		k.recordExit(cs, st, "")
		if init && st.ExitCode == 0 {
			cs.State = corev1.ContainerState{Terminated: cs.LastTerminationState.Terminated}
			cs.LastTerminationState = corev1.ContainerState{}
			if err := k.persistContainerStatus(pod, cs, init); err != nil {
				return false, err
			}
			if err := k.ctrs.RemoveContainer(ctx, id); err != nil {
				return false, err
			}
			k.forget(id)
			return true, nil
		}
		cs.RestartCount++
		// Record the exit and the new attempt number before removing the
		// old container: a crash in between then starts the new attempt.
		if err := k.persistContainerStatus(pod, cs, init); err != nil {
			return false, err
		}
		if err := k.ctrs.RemoveContainer(ctx, id); err != nil {
			return false, err
		}
		k.forget(id)
		if delay := k.backoffLeft(cs); delay > 0 {
			k.waitBackOff(pod, c, cs, delay)
			return false, errWait
		}
		return false, k.startAttempt(ctx, pod, c, cs, init)
	}
	return false, fmt.Errorf("container %s is in state %q", id, st.State)
}

// recordExit moves the exit of st into cs.LastTerminationState.
func (k *kubelet) recordExit(cs *corev1.ContainerStatus, st runtime.ContainerStatus, message string) {
	started := st.StartedAt
	if started.IsZero() && cs.State.Running != nil {
		started = cs.State.Running.StartedAt.Time
	}
	reason := st.Reason
	if reason == "" {
		reason = "Error"
		if st.ExitCode == 0 {
			reason = "Completed"
		}
	}
	cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: int32(st.ExitCode), Reason: reason, Message: message,
		StartedAt: metav1.NewTime(started), FinishedAt: metav1.NewTime(st.FinishedAt),
		ContainerID: "containerd://" + st.ID,
	}}
	cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
	cs.Ready = false
	f := false
	cs.Started = &f
}

// persistContainerStatus writes cs into the stored status of pod.
func (k *kubelet) persistContainerStatus(pod *corev1.Pod, cs *corev1.ContainerStatus, init bool) error {
	status := *pod.Status.DeepCopy()
	list := &status.ContainerStatuses
	if init {
		list = &status.InitContainerStatuses
	}
	replaced := false
	for i := range *list {
		if (*list)[i].Name == cs.Name {
			(*list)[i] = *cs.DeepCopy()
			replaced = true
		}
	}
	if !replaced {
		*list = append(*list, *cs.DeepCopy())
	}
	return k.writeStatus(pod, status)
}

// backoffLeft returns how long the restart of cs must still wait. A run
// the host's restart ended is no crash: its restart waits for nothing, as
// the kubelet's back-off does not outlive a reboot.
func (k *kubelet) backoffLeft(cs *corev1.ContainerStatus) time.Duration {
	t := cs.LastTerminationState.Terminated
	if t == nil || cs.RestartCount == 0 || t.Reason == reasonLostRun {
		return 0
	}
	delay, _ := restartDelay(restartBackoff{}, cs.RestartCount, t.StartedAt.Time, t.FinishedAt.Time)
	return t.FinishedAt.Add(delay).Sub(k.clock.Now())
}

// waitBackOff marks cs as CrashLoopBackOff and schedules the restart.
func (k *kubelet) waitBackOff(pod *corev1.Pod, c *corev1.Container, cs *corev1.ContainerStatus, delay time.Duration) {
	msg := fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", delay.Round(time.Second), c.Name, pod.Name)
	if w := cs.State.Waiting; w == nil || w.Reason != "CrashLoopBackOff" {
		k.events.event("Pod", pod.Namespace, pod.Name, eventTypeWarning, reasonBackOff, "Back-off restarting failed container %s in pod %s", c.Name, pod.Name)
	}
	cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: msg}}
	k.queue.addAt(key(pod.Namespace, pod.Name), k.clock.Now().Add(delay))
}

// startAttempt pulls the image if needed, creates and starts attempt
// cs.RestartCount of container c, and starts probing it.
func (k *kubelet) startAttempt(ctx context.Context, pod *corev1.Pod, c *corev1.Container, cs *corev1.ContainerStatus, init bool) error {
	if err := k.ensureImage(ctx, pod, c, cs); err != nil {
		return err
	}
	cfg, err := k.containerConfig(pod, c, cs.RestartCount, init)
	if err != nil {
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}}
		k.events.event("Pod", pod.Namespace, pod.Name, eventTypeWarning, reasonFailed, "Error: %v", err)
		return err
	}
	if err := k.ctrs.CreateContainer(ctx, cfg); err != nil && !errdefs.IsAlreadyExists(err) {
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerError", Message: err.Error()}}
		k.events.event("Pod", pod.Namespace, pod.Name, eventTypeWarning, reasonFailed, "Error: %v", err)
		return err
	} else if err == nil {
		k.events.event("Pod", pod.Namespace, pod.Name, eventTypeNormal, reasonCreated, "Created container %s", c.Name)
	}
	k.mu.Lock()
	k.owners[cfg.ID] = key(pod.Namespace, pod.Name)
	k.mu.Unlock()
	if _, err := k.ctrs.StartContainer(ctx, cfg.ID); err != nil {
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "RunContainerError", Message: err.Error()}}
		k.events.event("Pod", pod.Namespace, pod.Name, eventTypeWarning, reasonFailed, "Error: %v", err)
		return err
	}
	now := k.clock.Now()
	k.events.event("Pod", pod.Namespace, pod.Name, eventTypeNormal, reasonStarted, "Started container %s", c.Name)
	cs.ContainerID = "containerd://" + cfg.ID
	cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(now)}}
	cs.Ready = false
	started := !init && c.StartupProbe == nil
	cs.Started = &started
	if err := k.persistContainerStatus(pod, cs, init); err != nil {
		return err
	}
	if !init {
		k.startProbing(pod, c, cfg.ID, now, false)
	}
	k.mu.Lock()
	k.adopted[cfg.ID] = true
	k.mu.Unlock()
	return errWait
}

// ensureImage applies the container's imagePullPolicy.
func (k *kubelet) ensureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container, cs *corev1.ContainerStatus) error {
	_, pulled, err := k.images.EnsureImage(ctx, c.Image, c.ImagePullPolicy)
	if err != nil {
		reason := "ErrImagePull"
		if c.ImagePullPolicy == corev1.PullNever {
			reason = "ErrImageNeverPull"
		}
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: err.Error()}}
		k.events.event("Pod", pod.Namespace, pod.Name, eventTypeWarning, reasonFailed, "Failed to pull image %q: %v", c.Image, err)
		return err
	}
	if pulled {
		k.events.event("Pod", pod.Namespace, pod.Name, eventTypeNormal, reasonPulled, "Successfully pulled image %q", c.Image)
	}
	return nil
}

// adopt makes sure a running container is attached (its log copied) and
// probed by this process; after a daemon restart this is all that happens
// to it: it is not restarted.
func (k *kubelet) adopt(ctx context.Context, pod *corev1.Pod, c *corev1.Container, cs *corev1.ContainerStatus, st runtime.ContainerStatus, init bool) {
	k.mu.Lock()
	done := k.adopted[st.ID]
	k.adopted[st.ID] = true
	k.mu.Unlock()
	if done {
		return
	}
	if err := k.ctrs.Attach(ctx, st.ID); err != nil {
		k.log.Warn("re-attaching container log", "container", st.ID, "err", err)
	}
	if cs.State.Running == nil {
		cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(st.StartedAt)}}
	}
	cs.ContainerID = "containerd://" + st.ID
	if !init {
		k.startProbing(pod, c, st.ID, cs.State.Running.StartedAt.Time, cs.Ready)
	}
}

// startProbing registers the probes of a running container.
func (k *kubelet) startProbing(pod *corev1.Pod, c *corev1.Container, id string, startedAt time.Time, ready bool) {
	target := probeTarget{PodIP: pod.Status.PodIP, ContainerID: id, Ports: c.Ports}
	k.probes.add(key(pod.Namespace, pod.Name), c.Name, id, c, target, startedAt, ready)
}

// takeLivenessFailure returns and clears a pending liveness (or startup)
// failure of container id: the kind of probe that failed.
func (k *kubelet) takeLivenessFailure(id string) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	o, ok := k.liveness[id]
	delete(k.liveness, id)
	return o, ok
}

// forget drops what the kubelet remembers of a removed container.
func (k *kubelet) forget(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.owners, id)
	delete(k.adopted, id)
	delete(k.liveness, id)
}

// livenessGrace is the grace period of a container killed by its liveness
// probe: the probe's own, else the pod's.
func livenessGrace(pod *corev1.Pod, c *corev1.Container) time.Duration {
	if p := c.LivenessProbe; p != nil && p.TerminationGracePeriodSeconds != nil {
		return time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// projectVolumes writes the files of the pod's ConfigMap, Secret, downward
// API and projected volumes, and creates its emptyDir directories. A
// missing ConfigMap or Secret that is not optional stops the pod from
// starting until it is applied.
func (k *kubelet) projectVolumes(pod *corev1.Pod) error {
	for _, v := range pod.Spec.Volumes {
		dir, err := k.volumeSource(pod, v.Name)
		if err != nil {
			return err
		}
		switch {
		case v.EmptyDir != nil:
			if err := os.MkdirAll(dir, 0o777); err != nil {
				return err
			}
			if err := os.Chmod(dir, 0o777); err != nil { // as kubelet: any user of the pod may write
				return err
			}
		case v.HostPath != nil:
			if err := ensureHostPath(v.HostPath); err != nil {
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
		case v.ConfigMap != nil, v.Secret != nil, v.DownwardAPI != nil, v.Projected != nil:
			files, modes, err := k.volumeFiles(pod, v)
			if err != nil {
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
			if err := projectFiles(dir, files, modes); err != nil {
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
		}
	}
	return nil
}

// ensureHostPath checks (and for the *OrCreate types creates) a hostPath.
func ensureHostPath(h *corev1.HostPathVolumeSource) error {
	typ := corev1.HostPathUnset
	if h.Type != nil {
		typ = *h.Type
	}
	fi, err := os.Stat(h.Path)
	switch typ {
	case corev1.HostPathDirectoryOrCreate:
		if os.IsNotExist(err) {
			return os.MkdirAll(h.Path, 0o755)
		}
	case corev1.HostPathFileOrCreate:
		if os.IsNotExist(err) {
			if err := os.MkdirAll(filepath.Dir(h.Path), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(h.Path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
	case corev1.HostPathDirectory:
		if err != nil || !fi.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", h.Path)
		}
	case corev1.HostPathFile:
		if err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", h.Path)
		}
	case corev1.HostPathSocket:
		if err != nil || fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a socket file", h.Path)
		}
	}
	return nil
}

// volumeFiles returns the files of a ConfigMap, Secret, downward API or
// projected volume, with their modes.
func (k *kubelet) volumeFiles(pod *corev1.Pod, v corev1.Volume) (map[string][]byte, map[string]os.FileMode, error) {
	files := map[string][]byte{}
	modes := map[string]os.FileMode{}
	add := func(data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32, optional bool, what string) error {
		mode := os.FileMode(0o644)
		if defaultMode != nil {
			mode = os.FileMode(*defaultMode)
		}
		if len(items) == 0 {
			for name, content := range data {
				files[name], modes[name] = content, mode
			}
			return nil
		}
		for _, it := range items {
			content, ok := data[it.Key]
			if !ok {
				if optional {
					continue
				}
				return fmt.Errorf("%s has no key %q: %w", what, it.Key, errdefs.ErrNotFound)
			}
			m := mode
			if it.Mode != nil {
				m = os.FileMode(*it.Mode)
			}
			files[it.Path], modes[it.Path] = content, m
		}
		return nil
	}
	configMap := func(name string, items []corev1.KeyToPath, mode *int32, optional *bool) error {
		cm, err := k.store.ConfigMap(pod.Namespace, name)
		if err != nil {
			if isTrue(optional) && errdefs.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("configmap %q: %w", name, err)
		}
		data := map[string][]byte{}
		for key, s := range cm.Data {
			data[key] = []byte(s)
		}
		for key, b := range cm.BinaryData {
			data[key] = b
		}
		return add(data, items, mode, isTrue(optional), fmt.Sprintf("configmap %q", name))
	}
	secret := func(name string, items []corev1.KeyToPath, mode *int32, optional *bool) error {
		s, err := k.store.Secret(pod.Namespace, name)
		if err != nil {
			if isTrue(optional) && errdefs.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("secret %q: %w", name, err)
		}
		return add(s.Data, items, mode, isTrue(optional), fmt.Sprintf("secret %q", name))
	}
	downward := func(items []corev1.DownwardAPIVolumeFile, defaultMode *int32) error {
		for _, it := range items {
			var value string
			var err error
			switch {
			case it.FieldRef != nil:
				value, err = podField(pod, it.FieldRef.FieldPath, k.nodeName)
			case it.ResourceFieldRef != nil:
				value, err = resourceField(containerNamed(pod, it.ResourceFieldRef.ContainerName), it.ResourceFieldRef)
			}
			if err != nil {
				return err
			}
			mode := os.FileMode(0o644)
			if defaultMode != nil {
				mode = os.FileMode(*defaultMode)
			}
			if it.Mode != nil {
				mode = os.FileMode(*it.Mode)
			}
			files[it.Path], modes[it.Path] = []byte(value), mode
		}
		return nil
	}
	var err error
	switch {
	case v.ConfigMap != nil:
		err = configMap(v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.DefaultMode, v.ConfigMap.Optional)
	case v.Secret != nil:
		err = secret(v.Secret.SecretName, v.Secret.Items, v.Secret.DefaultMode, v.Secret.Optional)
	case v.DownwardAPI != nil:
		err = downward(v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
	case v.Projected != nil:
		for _, src := range v.Projected.Sources {
			switch {
			case src.ConfigMap != nil:
				err = configMap(src.ConfigMap.Name, src.ConfigMap.Items, v.Projected.DefaultMode, src.ConfigMap.Optional)
			case src.Secret != nil:
				err = secret(src.Secret.Name, src.Secret.Items, v.Projected.DefaultMode, src.Secret.Optional)
			case src.DownwardAPI != nil:
				err = downward(src.DownwardAPI.Items, v.Projected.DefaultMode)
			}
			if err != nil {
				break
			}
		}
	}
	return files, modes, err
}

// containerNamed returns the container of pod with the given name (the
// first one for ""), or an empty container.
func containerNamed(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if name == "" || pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	return &corev1.Container{}
}
