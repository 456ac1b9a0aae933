package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/setlet/setlet/network"
	"github.com/setlet/setlet/runtime"
	"github.com/setlet/setlet/storage"
)

// terminate stops a pod marked for deletion and removes everything of it
// but its volumes: preStop hooks and SIGTERM within the grace period
// (counted from now, as the kubelet counts it from the start of the kill:
// the deletion timestamp is stored to the second only), SIGKILL after it,
// then the containers, the
// network (CNI DEL, netns), its files and logs, and last the record. The
// controller then sees the ordinal free. Repeating it after a crash
// finishes it.
func (k *kubelet) terminate(ctx context.Context, pod *corev1.Pod) error {
	podKey := key(pod.Namespace, pod.Name)
	k.probes.removePod(podKey)
	grace := time.Duration(corev1.DefaultTerminationGracePeriodSeconds) * time.Second
	if g := pod.DeletionGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	deadline := k.clock.Now().Add(grace)

	containers, err := k.podContainers(ctx, pod)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(containers))
	for i, st := range containers {
		if st.State != runtime.StateRunning {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = k.stopContainer(ctx, pod, st, deadline)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, st := range containers {
		if err := k.ctrs.RemoveContainer(ctx, st.ID); err != nil {
			return err
		}
		k.forget(st.ID)
	}
	if err := k.net.Teardown(ctx, attachment(pod)); err != nil {
		return fmt.Errorf("tearing down the network of %s: %w", pod.Name, err)
	}
	k.mu.Lock()
	delete(k.lostNets, string(pod.UID)) // released with the rest
	k.mu.Unlock()
	for _, dir := range []string{k.podRunDir(pod), k.podDataDir(pod), filepath.Join(k.cfg.DataDir, "logs", pod.Name)} {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	err = k.store.Update(func(tx *storage.Tx) error {
		cur, err := tx.Pod(pod.Namespace, pod.Name)
		if errdefs.IsNotFound(err) || (err == nil && cur.UID != pod.UID) {
			return nil
		}
		if err != nil {
			return err
		}
		return tx.DeletePod(pod.Namespace, pod.Name)
	})
	if err != nil {
		return err
	}
	k.hub.publish(change{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name})
	if set := controllerOf(pod); set != "" {
		k.sets.enqueue(pod.Namespace, set)
	}
	return nil
}

// podContainers returns the containers of pod's incarnation in containerd.
func (k *kubelet) podContainers(ctx context.Context, pod *corev1.Pod) ([]runtime.ContainerStatus, error) {
	all, err := k.ctrs.Containers(ctx)
	if err != nil {
		return nil, err
	}
	var out []runtime.ContainerStatus
	for _, st := range all {
		if st.Labels[labelPodUID] == string(pod.UID) {
			out = append(out, st)
		}
	}
	return out, nil
}

// stopContainer runs the preStop hook of a running container, then stops
// it with what is left of the grace period.
func (k *kubelet) stopContainer(ctx context.Context, pod *corev1.Pod, st runtime.ContainerStatus, deadline time.Time) error {
	name := st.Labels[labelContainer]
	c := containerNamed(pod, name)
	k.events.event("Pod", pod.Namespace, pod.Name, eventTypeNormal, reasonKilling, "Stopping container %s", name)
	if st.Labels[labelInit] != "true" && c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		hookCtx, cancel := context.WithDeadline(ctx, deadline)
		if err := k.runHook(hookCtx, pod, c, st.ID, c.Lifecycle.PreStop); err != nil {
			k.events.event("Pod", pod.Namespace, pod.Name, eventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %v", err)
		}
		cancel()
	}
	left := deadline.Sub(k.clock.Now())
	if left < 0 {
		left = 0
	}
	return k.ctrs.StopContainer(ctx, st.ID, left)
}

// runHook runs a lifecycle handler: exec in the container, an HTTP GET to
// the pod, or a sleep; bounded by ctx.
func (k *kubelet) runHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, h *corev1.LifecycleHandler) error {
	switch {
	case h.Exec != nil:
		// Both streams write to one buffer from their own goroutines.
		out := &limitedBuffer{max: 10 << 10}
		code, err := k.execs.Exec(ctx, id, runtime.ExecConfig{Cmd: h.Exec.Command, Stdout: out, Stderr: out})
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("command %q exited with %d: %s", h.Exec.Command, code, bytes.TrimSpace(out.Bytes()))
		}
	case h.HTTPGet != nil:
		port, err := resolvePort(h.HTTPGet.Port, c)
		if err != nil {
			return err
		}
		host := h.HTTPGet.Host
		if host == "" {
			host = pod.Status.PodIP
		}
		u := fmt.Sprintf("%s://%s%s", toLowerScheme(h.HTTPGet.Scheme), net.JoinHostPort(host, strconv.Itoa(port)), h.HTTPGet.Path)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP %d from %s", resp.StatusCode, u)
		}
	case h.Sleep != nil:
		done := make(chan struct{})
		t := k.clock.AfterFunc(time.Duration(h.Sleep.Seconds)*time.Second, func() { close(done) })
		select {
		case <-done:
		case <-ctx.Done():
			t.Stop()
		}
	case h.TCPSocket != nil:
		// Deprecated in Kubernetes and never run by kubelet.
	}
	return nil
}

func toLowerScheme(s corev1.URIScheme) string {
	if s == corev1.URISchemeHTTPS {
		return "https"
	}
	return "http"
}

// resolvePort returns a handler's port number, looking a named port up in
// the container's ports.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("container %s has no port named %q: %w", c.Name, p.StrVal, errdefs.ErrNotFound)
}

// cleanupOrphan removes what is left of pod ns/name when its record is
// gone: containers of any incarnation and its network (uid, when known,
// is the incarnation's CNI ID).
func (k *kubelet) cleanupOrphan(ctx context.Context, ns, name, uid string) error {
	all, err := k.ctrs.Containers(ctx)
	if err != nil {
		return err
	}
	var errs []error
	uids := map[string]bool{}
	if uid != "" {
		uids[uid] = true
	}
	for _, st := range all {
		if st.Labels[labelNamespace] != ns || st.Labels[labelPod] != name {
			continue
		}
		uids[st.Labels[labelPodUID]] = true
		if err := k.ctrs.RemoveContainer(ctx, st.ID); err != nil {
			errs = append(errs, err)
		}
		k.forget(st.ID)
	}
	k.probes.removePod(key(ns, name))
	for id := range uids {
		if err := k.net.Teardown(ctx, network.Attachment{ID: id, Pod: name, Namespace: ns}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
