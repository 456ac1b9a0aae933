package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/daemon"
	"github.com/setlet/setlet/daemon/api"
)

// These tests run the real daemon in-process against containerd, runc and
// the CNI plugins, drive it through the API client, and check what a user
// sees: pods, events, files in volumes. Each has its own daemon, bridge
// and subnet and runs in parallel with the others.

// webSet is a StatefulSet of busybox httpd replicas, Ready when they serve
// HTTP, each with its own volume at /www (written once, on first start).
func webSet(name string, replicas int, extra string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  clusterIP: None
  selector:
    app: %[1]s
  ports:
  - name: web
    port: 80
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: %[1]s
spec:
  serviceName: %[1]s
  replicas: %[2]d
  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: setlet.local/busybox:1
        command: [sh, -c, '[ -f /www/index.html ] || echo "hello from $(hostname)" > /www/index.html; touch /www/healthz; trap "echo TERM >> /www/stops; exit 0" TERM; httpd -f -p 80 -h /www & wait']
        ports:
        - name: web
          containerPort: 80
        readinessProbe:
          httpGet:
            path: /
            port: web
%[3]s        volumeMounts:
        - name: www
          mountPath: /www
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 1Gi
`, name, replicas, extra)
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestOrderedStart: with OrderedReady, web-1 is created only after web-0
// is Running and Ready, web-2 only after web-1; each replica's hostname is
// its pod name, it has its own IP in the subnet and its own volume.
func TestOrderedStart(t *testing.T) {
	t.Parallel()
	h := startDaemon(t)
	h.apply(webSet("web", 3, ""))
	h.waitPods(timeout(t, 60*time.Second), "default", allReady(names("web", 3)...))

	evs := h.events()
	for i := 1; i < 3; i++ {
		ready := eventIndex(evs, fmt.Sprintf("Pod web-%d is Ready", i-1))
		created := eventIndex(evs, fmt.Sprintf("create Pod web-%d in StatefulSet web", i))
		if ready < 0 || created < 0 || created < ready {
			t.Errorf("web-%d created (event %d) before web-%d was Ready (event %d)", i, created, i-1, ready)
		}
	}
	_, subnet, _ := net.ParseCIDR(h.cfg.Subnet)
	ips := map[string]bool{}
	pods, err := h.client.Pods(context.Background(), "default")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if out, _ := h.exec(p.Name, "hostname"); strings.TrimSpace(out) != p.Name {
			t.Errorf("hostname of %s is %q", p.Name, out)
		}
		if ip := net.ParseIP(p.Status.PodIP); ip == nil || !subnet.Contains(ip) || ips[p.Status.PodIP] {
			t.Errorf("pod %s has IP %q: want a distinct IP in %s", p.Name, p.Status.PodIP, subnet)
		}
		ips[p.Status.PodIP] = true
		if out, _ := h.exec(p.Name, "cat", "/www/index.html"); strings.TrimSpace(out) != "hello from "+p.Name {
			t.Errorf("volume of %s holds %q", p.Name, out)
		}
	}
	vols, err := h.client.Volumes(context.Background(), "default")
	if err != nil || len(vols) != 3 {
		t.Errorf("volumes = %d (%v), want 3", len(vols), err)
	}
}

// TestScale: scaling 3 -> 5 creates web-3 then web-4; scaling 5 -> 2
// removes web-4, then web-3, then web-2, each only after the one above is
// gone; every volume stays.
func TestScale(t *testing.T) {
	t.Parallel()
	h := startDaemon(t)
	h.apply(webSet("web", 3, ""))
	h.waitPods(timeout(t, 60*time.Second), "default", allReady(names("web", 3)...))
	if err := h.client.Scale(context.Background(), "default", "web", 5, false); err != nil {
		t.Fatal(err)
	}
	h.waitPods(timeout(t, 60*time.Second), "default", allReady(names("web", 5)...))
	if err := h.client.Scale(context.Background(), "default", "web", 2, false); err != nil {
		t.Fatal(err)
	}
	seen := h.waitPods(timeout(t, 90*time.Second), "default", allReady(names("web", 2)...))

	// Order of what the watch saw: terminating(web-4) < deleted(web-4) <
	// terminating(web-3) < deleted(web-3) < terminating(web-2) < deleted(web-2).
	first := func(name string, terminating bool) int {
		for i, ev := range seen {
			if ev.Pod.Name != name {
				continue
			}
			if terminating && ev.Type != "DELETED" && ev.Pod.DeletionTimestamp != nil {
				return i
			}
			if !terminating && ev.Type == "DELETED" {
				return i
			}
		}
		return -1
	}
	var order []int
	for _, n := range []string{"web-4", "web-3", "web-2"} {
		order = append(order, first(n, true), first(n, false))
	}
	for i := range order {
		if order[i] < 0 || (i > 0 && order[i] <= order[i-1]) {
			t.Fatalf("scale down out of order: positions (terminating, deleted) of web-4, web-3, web-2 = %v", order)
		}
	}
	vols, err := h.client.Volumes(context.Background(), "default")
	if err != nil || len(vols) != 5 {
		t.Errorf("volumes = %d (%v), want all 5 kept", len(vols), err)
	}
}

// TestPodDelete: a deleted pod is stopped gracefully (its preStop hook,
// then SIGTERM) and comes back under the same name and hostname, as a new
// pod, on the same volume with its data.
func TestPodDelete(t *testing.T) {
	t.Parallel()
	h := startDaemon(t)
	h.apply(webSet("web", 2, `        lifecycle:
          preStop:
            exec:
              command: [sh, -c, "echo preStop >> /www/stops"]
`))
	h.waitPods(timeout(t, 60*time.Second), "default", allReady(names("web", 2)...))
	if _, code := h.exec("web-1", "sh", "-c", "echo kept > /www/data"); code != 0 {
		t.Fatalf("writing into the volume: exit %d", code)
	}
	old, err := h.client.Pod(context.Background(), "default", "web-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.client.DeletePod(context.Background(), "default", "web-1"); err != nil {
		t.Fatal(err)
	}
	h.waitPods(timeout(t, 60*time.Second), "default", func(pods map[string]*corev1.Pod) bool {
		p, ok := pods["web-1"]
		return ok && p.UID != old.UID && allReady("web-0", "web-1")(pods)
	})
	if out, _ := h.exec("web-1", "cat", "/www/data"); strings.TrimSpace(out) != "kept" {
		t.Errorf("data after the pod was recreated: %q", out)
	}
	if out, _ := h.exec("web-1", "cat", "/www/stops"); out != "preStop\nTERM\n" {
		t.Errorf("the old pod's way out, as its volume shows it: %q, want its preStop hook and then SIGTERM", out)
	}
	if out, _ := h.exec("web-1", "hostname"); strings.TrimSpace(out) != "web-1" {
		t.Errorf("hostname after the pod was recreated: %q", out)
	}
}

// TestRestartInPlace: a container that exits is restarted in the same pod,
// on the same IP, with its restart count up, the first time at once and
// then after kubelet's back-off (10 s).
func TestRestartInPlace(t *testing.T) {
	t.Parallel()
	h := startDaemon(t)
	h.apply(`apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: crash
spec:
  serviceName: crash
  replicas: 1
  selector:
    matchLabels: {app: crash}
  template:
    metadata:
      labels: {app: crash}
    spec:
      containers:
      - name: c
        image: setlet.local/busybox:1
        command: [sh, -c, 'echo run; sleep 1; exit 3']
`)
	var ip string
	seen := h.waitPods(timeout(t, 60*time.Second), "default", func(pods map[string]*corev1.Pod) bool {
		p, ok := pods["crash-0"]
		if ok && ip == "" {
			ip = p.Status.PodIP
		}
		return ok && restarts(p) >= 2 && p.Status.ContainerStatuses[0].State.Running != nil
	})
	pod, err := h.client.Pod(context.Background(), "default", "crash-0")
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range seen {
		if ev.Pod.Status.PodIP != "" && ev.Pod.UID == pod.UID && ev.Pod.Status.PodIP != pod.Status.PodIP {
			t.Errorf("the pod's IP changed from %s to %s on a restart", ev.Pod.Status.PodIP, pod.Status.PodIP)
		}
	}
	last := pod.Status.ContainerStatuses[0].LastTerminationState.Terminated
	if last == nil || last.ExitCode != 3 {
		t.Errorf("last termination = %+v, want exit code 3", last)
	}
	evs := h.events()
	var started []time.Time
	for _, e := range evs {
		if e.Reason == "Started" && e.InvolvedObject.Name == "crash-0" {
			at, _ := time.Parse(time.RFC3339Nano, e.Annotations[daemon.EventTimeAnnotation])
			started = append(started, at)
		}
	}
	if len(started) < 3 {
		t.Fatalf("started %d times, want 3", len(started))
	}
	if gap := started[2].Sub(started[1]); gap < 10*time.Second {
		t.Errorf("second restart after %s: want the 10s back-off", gap)
	}
	if eventIndex(evs, "Back-off restarting failed container c") < 0 {
		t.Errorf("no BackOff event")
	}
	if out, code := h.exec("crash-0", "sh", "-c", "echo $HOSTNAME"); code != 0 || strings.TrimSpace(out) != "crash-0" {
		t.Errorf("exec in the restarted container: %q, %d", out, code)
	}
}

// TestLivenessRestart: a failing liveness probe restarts the container in
// place.
func TestLivenessRestart(t *testing.T) {
	t.Parallel()
	h := startDaemon(t)
	h.apply(webSet("live", 1, `        livenessProbe:
          httpGet:
            path: /healthz
            port: web
          periodSeconds: 1
          failureThreshold: 1
`))
	h.waitPods(timeout(t, 60*time.Second), "default", allReady("live-0"))
	before, err := h.client.Pod(context.Background(), "default", "live-0")
	if err != nil {
		t.Fatal(err)
	}
	h.exec("live-0", "rm", "/www/healthz")
	h.waitPods(timeout(t, 60*time.Second), "default", func(pods map[string]*corev1.Pod) bool {
		p, ok := pods["live-0"]
		return ok && restarts(p) == 1 && isReady(p)
	})
	after, err := h.client.Pod(context.Background(), "default", "live-0")
	if err != nil {
		t.Fatal(err)
	}
	if after.UID != before.UID || after.Status.PodIP != before.Status.PodIP {
		t.Errorf("the pod was replaced (uid %s -> %s, ip %s -> %s); want a restart in place", before.UID, after.UID, before.Status.PodIP, after.Status.PodIP)
	}
	if eventIndex(h.events(), "Container web failed liveness probe, will be restarted") < 0 {
		t.Errorf("no Killing event for the liveness failure")
	}
}

// TestBrokenManifestChangesNothing: an apply with one bad document is
// refused whole, with the file, document, object and field of the problem,
// and nothing it held is stored.
func TestBrokenManifestChangesNothing(t *testing.T) {
	t.Parallel()
	h := startDaemon(t)
	h.apply(webSet("web", 1, ""))
	h.waitPods(timeout(t, 60*time.Second), "default", allReady("web-0"))
	before, err := h.client.StatefulSet(context.Background(), "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(webSet("web", 3, ""), "setlet.local/busybox:1", "setlet.local/busybox:2", 1)
	broken := "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n"
	_, err = h.client.Apply(context.Background(), api.ApplyRequest{Sources: []api.Source{{Name: "web.yaml", Data: []byte(changed + broken)}}})
	var aerr *api.ApplyError
	if !errors.As(err, &aerr) || len(aerr.Problems) != 1 {
		t.Fatalf("apply = %v, want one problem", err)
	}
	if got := aerr.Problems[0].String(); !strings.HasPrefix(got, `web.yaml doc 3 (ConfigMap Bad_Name): metadata.name: Invalid value: "Bad_Name"`) {
		t.Errorf("problem = %s", got)
	}
	after, err := h.client.StatefulSet(context.Background(), "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if after.Generation != before.Generation || *after.Spec.Replicas != 1 || after.Spec.Template.Spec.Containers[0].Image != "setlet.local/busybox:1" {
		t.Errorf("the set changed: generation %d -> %d, replicas %d", before.Generation, after.Generation, *after.Spec.Replicas)
	}
}

// TestCreateDeleteCycles: 50 sets created and deleted leave nothing behind
// (the harness's cleanup checks containers, snapshots, namespaces, mounts
// and IPs).
func TestCreateDeleteCycles(t *testing.T) {
	t.Parallel()
	h := startDaemon(t)
	ctx := timeout(t, 5*time.Minute)
	for i := range 50 {
		h.apply(webSet("cycle", 1, ""))
		h.waitPods(ctx, "default", allReady("cycle-0"))
		if err := h.client.DeleteStatefulSet(ctx, "default", "cycle", false); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		h.waitPods(ctx, "default", func(pods map[string]*corev1.Pod) bool { return len(pods) == 0 })
	}
	h.checkNoLeaks()
}
