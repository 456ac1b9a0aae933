package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/setlet/setlet/network"
	"github.com/setlet/setlet/runtime"
	"github.com/setlet/setlet/storage"
)

// setNotifier is told that a pod of a set changed (created, readiness,
// gone), so the controller takes its next step.
type setNotifier interface {
	enqueue(ns, name string)
}

// kubeletConfig says where the kubelet side keeps pod files.
type kubeletConfig struct {
	RunDir         string // <run-dir>: pods/<uid>/ (hosts, resolv.conf, projected volumes, memory emptyDirs) and netns/
	DataDir        string // <data-dir>: pods/<uid>/volumes (emptyDirs) and logs/
	ClusterDomain  string // "cluster.local"
	Zone           string // "set.local"
	HostResolvConf string // "/etc/resolv.conf"
	DNSServer      string // the daemon's DNS server for pods (the bridge gateway); empty: the host's resolvers
	Workers        int
}

// kubelet makes pod records real: for each pod it sets up the network
// namespace, the files and volumes, pulls images, runs the init containers
// in order and then the containers, restarts them with back-off, runs
// their probes, and writes the pod's status; for a pod marked for deletion
// it runs preStop, stops the containers within the grace period, and tears
// everything down except the volumes.
//
// Like the controller it is level-triggered: every event (a record
// changed, a task exited, a probe result changed, a timer) only enqueues
// the pod, and a sync looks at the record and at containerd and does the
// next step. Every step is idempotent, so a sync after a crash finishes
// what the crash interrupted, and containers that are running are adopted,
// never restarted.
type kubelet struct {
	cfg      kubeletConfig
	store    *storage.Store
	clock    clock
	log      *slog.Logger
	events   *recorder
	hub      *hub
	sets     setNotifier
	images   imageService
	ctrs     containerService
	execs    execService
	net      podNetwork
	probes   *probeManager
	health   *daemonHealth // containerd's state, from the event stream
	first    *firstPass    // the pods not synced since the start
	nodeName string
	queue    *queue

	mu       sync.Mutex
	owners   map[string]string       // container ID -> pod key, for task events
	adopted  map[string]bool         // container IDs attached and probed by this process
	liveness map[string]string       // container ID -> the kind of probe (liveness, startup) whose failure asks for a restart
	lostNets map[string]*lostNetwork // by pod UID: attachments left from before the host restarted (reboot.go)
}

func newKubelet(cfg kubeletConfig, store *storage.Store, c clock, log *slog.Logger, events *recorder, h *hub,
	images imageService, ctrs containerService, execs execService, pnet podNetwork) *kubelet {
	k := &kubelet{
		cfg: cfg, store: store, clock: c, log: log, events: events, hub: h,
		images: images, ctrs: ctrs, execs: execs, net: pnet,
		queue:    newQueue(c),
		owners:   map[string]string{},
		adopted:  map[string]bool{},
		liveness: map[string]string{},
		lostNets: map[string]*lostNetwork{},
	}
	k.nodeName, _ = os.Hostname()
	return k
}

// podChanged asks for a sync of pod key.
func (k *kubelet) podChanged(key string) { k.queue.add(key) }

// run works the pod queue with cfg.Workers workers until ctx ends, and
// releases in the background what recovery found left of the pods'
// networks from before the host restarted.
func (k *kubelet) run(ctx context.Context) {
	go func() {
		<-ctx.Done()
		k.queue.close()
	}()
	workers := max(k.cfg.Workers, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		k.releaseLostNetworks(ctx)
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				key, ok := k.queue.get()
				if !ok {
					return
				}
				if err := k.syncPod(ctx, key); err != nil && ctx.Err() == nil {
					k.log.Warn("pod sync failed; retrying", "pod", key, "err", err)
					k.queue.addAt(key, k.clock.Now().Add(retryDelay))
				} else {
					k.first.synced(key, k.clock.Now())
				}
				k.queue.done(key)
			}
		}()
	}
	wg.Wait()
}

// watchEvents turns containerd's task events into pod syncs until ctx
// ends, subscribing again (and resyncing every pod, since events may have
// been missed) when containerd goes away and comes back. A broken stream
// marks containerd down in k.health until it serves again.
func (k *kubelet) watchEvents(ctx context.Context, src eventSource) {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		subscribed := k.clock.Now()
		if err := src.WaitServing(ctx); err == nil {
			k.streamEvents(ctx, src)
		} else if ctx.Err() == nil {
			k.health.setContainerd(false, err)
		}
		if k.clock.Now().Sub(subscribed) > time.Minute {
			delay = 100 * time.Millisecond
		}
		done := make(chan struct{})
		t := k.clock.AfterFunc(delay, func() { close(done) })
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-done:
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// streamEvents marks containerd up, resyncs every pod and handles the task
// events until the stream ends (containerd down) or ctx does.
func (k *kubelet) streamEvents(ctx context.Context, src eventSource) {
	k.health.setContainerd(true, nil)
	evs, errs := src.Subscribe(ctx)
	k.resyncAll()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-evs:
			if !ok {
				return
			}
			k.onTaskEvent(ctx, ev)
		case err, ok := <-errs:
			if ok && err != nil && ctx.Err() == nil {
				k.log.Warn("containerd event stream ended", "err", err)
				k.health.setContainerd(false, err)
			}
			return
		}
	}
}

// onTaskEvent enqueues the pod whose container an event is about.
func (k *kubelet) onTaskEvent(ctx context.Context, ev runtime.Event) {
	k.mu.Lock()
	owner, ok := k.owners[ev.ContainerID]
	k.mu.Unlock()
	if !ok {
		st, err := k.ctrs.ContainerStatus(ctx, ev.ContainerID)
		if err != nil {
			return
		}
		owner = key(st.Labels[labelNamespace], st.Labels[labelPod])
	}
	if ev.Type == runtime.EventOOM {
		k.log.Info("container killed for memory", "pod", owner, "container", ev.ContainerID)
	}
	k.queue.add(owner)
}

// resyncAll enqueues every pod record.
func (k *kubelet) resyncAll() {
	pods, err := k.store.AllPods()
	if err != nil {
		k.log.Warn("listing pods", "err", err)
		return
	}
	for _, p := range pods {
		k.queue.add(key(p.Namespace, p.Name))
	}
}

// onProbe is the probe manager's callback: it only records and enqueues
// (it must not block the probe workers).
func (k *kubelet) onProbe(u probeUpdate) {
	ns, name := splitKey(u.Pod)
	if !u.Result {
		k.events.event("Pod", ns, name, eventTypeWarning, reasonUnhealthy, "%s probe failed: %s", capitalize(string(u.Kind)), u.Outcome.Message)
	}
	// A failed liveness or startup probe restarts the container.
	if (u.Kind == probeLiveness || u.Kind == probeStartup) && !u.Result {
		k.mu.Lock()
		k.liveness[u.ContainerID] = string(u.Kind)
		k.mu.Unlock()
	}
	k.queue.add(u.Pod)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// syncPod takes the next steps for pod key.
func (k *kubelet) syncPod(ctx context.Context, podKey string) error {
	ns, name := splitKey(podKey)
	pod, err := k.store.Pod(ns, name)
	if errdefs.IsNotFound(err) {
		return k.cleanupOrphan(ctx, ns, name, "")
	}
	if err != nil {
		return err
	}
	if pod.DeletionTimestamp != nil {
		return k.terminate(ctx, pod)
	}
	if isHeld(pod) {
		// Its sandbox was lost with the host: it waits for the controller
		// to start it again in its turn (reboot.go).
		return nil
	}
	if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		return nil // the controller deletes and recreates it
	}
	return k.ensureRunning(ctx, pod)
}

// attachment is pod's CNI attachment: its UID identifies the incarnation.
func attachment(pod *corev1.Pod) network.Attachment {
	a := network.Attachment{ID: string(pod.UID), Pod: pod.Name, Namespace: pod.Namespace}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			a.Ports = append(a.Ports, network.PortMapping{
				HostPort: p.HostPort, ContainerPort: p.ContainerPort,
				Protocol: lowerProtocol(p.Protocol), HostIP: p.HostIP,
			})
		}
	}
	return a
}

func lowerProtocol(p corev1.Protocol) string {
	switch p {
	case corev1.ProtocolUDP:
		return "udp"
	case corev1.ProtocolSCTP:
		return "sctp"
	}
	return "tcp"
}

// Where a pod's files live.
func (k *kubelet) podRunDir(pod *corev1.Pod) string {
	return filepath.Join(k.cfg.RunDir, "pods", string(pod.UID))
}

func (k *kubelet) podDataDir(pod *corev1.Pod) string {
	return filepath.Join(k.cfg.DataDir, "pods", string(pod.UID))
}

func (k *kubelet) netnsPath(pod *corev1.Pod) string {
	return filepath.Join(k.cfg.RunDir, "netns", pod.Name)
}

// logPath returns the CRI log file of one attempt of a container:
// <data-dir>/logs/<pod>/<container>/<attempt>.log.
func (k *kubelet) logPath(pod *corev1.Pod, container string, attempt int32) string {
	return filepath.Join(k.cfg.DataDir, "logs", pod.Name, container, fmt.Sprintf("%d.log", attempt))
}

// writeStatus stores status as pod's status, if the record is still the
// same incarnation, leaving its metadata and spec as they now are (the
// controller may have marked it for deletion meanwhile). It records a
// Ready or NotReady event when readiness changed and tells the set.
func (k *kubelet) writeStatus(pod *corev1.Pod, status corev1.PodStatus) error {
	var before corev1.PodStatus
	changed := false
	err := k.store.Update(func(tx *storage.Tx) error {
		cur, err := tx.Pod(pod.Namespace, pod.Name)
		if err != nil {
			return err
		}
		if cur.UID != pod.UID || apiequality.Semantic.DeepEqual(cur.Status, status) {
			return nil
		}
		before = cur.Status
		cur.Status = status
		changed = true
		return tx.PutPod(cur)
	})
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil || !changed {
		return err
	}
	pod.Status = status
	k.hub.publish(change{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name})
	wasReady, isReady := podReady(before), podReady(status)
	if wasReady != isReady {
		if isReady {
			k.events.event("Pod", pod.Namespace, pod.Name, eventTypeNormal, reasonReady, "Pod %s is Ready", pod.Name)
		} else {
			k.events.event("Pod", pod.Namespace, pod.Name, eventTypeWarning, reasonNotReady, "Pod %s is not Ready: %s", pod.Name, readyMessage(status))
		}
	}
	if set := controllerOf(pod); set != "" && (wasReady != isReady || before.Phase != status.Phase || before.PodIP != status.PodIP) {
		k.sets.enqueue(pod.Namespace, set)
	}
	return nil
}

// errWait says a sync stopped on purpose (waiting for a back-off or an
// exit); it is not a failure.
var errWait = errors.New("waiting")
