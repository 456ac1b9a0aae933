package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/dns"
	"github.com/setlet/setlet/storage"
)

// metricsSet is a set for the metrics tests: %s is its name, %d its
// replicas; namespace default.
const metricsSet = `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: %[1]s}
spec:
  serviceName: %[1]s
  replicas: %[2]d
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      containers:
      - {name: app, image: busybox}
`

// metricsStore returns a state file in t's temporary directory.
func metricsStore(t *testing.T) *storage.Store {
	t.Helper()
	store, err := storage.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// applySet stores set name of metricsSet with replicas and returns it as
// stored.
func applySet(t *testing.T, store *storage.Store, name string, replicas int) *appsv1.StatefulSet {
	t.Helper()
	docs, err := configs.DecodeSources([]configs.Source{{Name: "test.yaml", Data: []byte(fmt.Sprintf(metricsSet, name, replicas))}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Apply(docs[0].Object); err != nil {
		t.Fatal(err)
	}
	set, err := store.StatefulSet(configs.DefaultNamespace, name)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// setStatus stores status for set.
func setStatus(t *testing.T, store *storage.Store, set *appsv1.StatefulSet, status appsv1.StatefulSetStatus) {
	t.Helper()
	if err := store.UpdateStatefulSetStatus(set.Namespace, set.Name, status); err != nil {
		t.Fatal(err)
	}
}

// putPod stores pod ordinal of set with phase, readiness and restarts of
// its container app.
func putPod(t *testing.T, store *storage.Store, set *appsv1.StatefulSet, ordinal int, phase corev1.PodPhase, ready bool, restarts int32) {
	t.Helper()
	pod := NewPod(set, set.Name+"-rev", ordinal)
	pod.Status.Phase = phase
	if ready {
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	if phase != "" {
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", RestartCount: restarts}}
	}
	if err := store.PutPod(pod); err != nil {
		t.Fatal(err)
	}
}

// TestStateCollector: the state metrics come from the state file, DNS
// counters and containerd as they are at the scrape: pods by set, phase
// and readiness (zeros for every phase of a stored set, a held pod as
// Unknown, a deleted set's pods still counted), restarts per container.
func TestStateCollector(t *testing.T) {
	store := metricsStore(t)
	web := applySet(t, store, "web", 3)
	db := applySet(t, store, "db", 1)
	putPod(t, store, web, 0, corev1.PodRunning, true, 3)
	putPod(t, store, web, 1, corev1.PodRunning, false, 0)
	putPod(t, store, web, 2, corev1.PodPending, false, 0)
	putPod(t, store, db, 0, "", false, 0) // held since a host restart
	if err := store.DeleteObject(storage.ObjectKey{Kind: configs.KindStatefulSet, Namespace: "default", Name: "db"}); err != nil {
		t.Fatal(err)
	}

	up := true
	c := newStateCollector(metricsSources{
		store: store,
		dns: func() []dns.ResponseCount {
			return []dns.ResponseCount{{Rcode: 0, Name: "NOERROR", Count: 7}, {Rcode: 3, Name: "NXDOMAIN", Count: 2}}
		},
		containerd: func() bool { return up },
	})
	const help = `# HELP setlet_pods Pods of each StatefulSet by phase (Pending, Running, Succeeded, Failed; Unknown: a record not created yet, e.g. held after a host restart) and readiness (the Ready condition).
# TYPE setlet_pods gauge
setlet_pods{namespace="default",phase="Failed",ready="false",set="web"} 0
setlet_pods{namespace="default",phase="Pending",ready="false",set="web"} 1
setlet_pods{namespace="default",phase="Running",ready="false",set="web"} 1
setlet_pods{namespace="default",phase="Running",ready="true",set="web"} 1
setlet_pods{namespace="default",phase="Succeeded",ready="false",set="web"} 0
setlet_pods{namespace="default",phase="Unknown",ready="false",set="db"} 1
# HELP setlet_container_restarts_total Restarts of each container of each pod, as its status counts them (they start from 0 in a replaced pod).
# TYPE setlet_container_restarts_total counter
setlet_container_restarts_total{container="app",namespace="default",pod="web-0",set="web"} 3
setlet_container_restarts_total{container="app",namespace="default",pod="web-1",set="web"} 0
setlet_container_restarts_total{container="app",namespace="default",pod="web-2",set="web"} 0
# HELP setlet_dns_queries_total DNS queries answered, by response code (NOERROR, NXDOMAIN, SERVFAIL, REFUSED, FORMERR, NOTIMP, BADVERS, or an upstream's).
# TYPE setlet_dns_queries_total counter
setlet_dns_queries_total{rcode="NOERROR"} 7
setlet_dns_queries_total{rcode="NXDOMAIN"} 2
# HELP setlet_containerd_up 1 when containerd serves, 0 when the daemon has lost it.
# TYPE setlet_containerd_up gauge
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(help+"setlet_containerd_up 1\n")); err != nil {
		t.Error(err)
	}

	// A scrape reads the state anew: nothing was cached.
	up = false
	putPod(t, store, web, 2, corev1.PodRunning, true, 1)
	if err := testutil.CollectAndCompare(c, strings.NewReader(`# HELP setlet_containerd_up 1 when containerd serves, 0 when the daemon has lost it.
# TYPE setlet_containerd_up gauge
setlet_containerd_up 0
`), "setlet_containerd_up"); err != nil {
		t.Error(err)
	}
	// web-2 went from Pending to Running and Ready, with one restart.
	if err := testutil.CollectAndCompare(c, strings.NewReader(help[:strings.Index(help, "# TYPE setlet_pods")]+`# TYPE setlet_pods gauge
setlet_pods{namespace="default",phase="Failed",ready="false",set="web"} 0
setlet_pods{namespace="default",phase="Pending",ready="false",set="web"} 0
setlet_pods{namespace="default",phase="Running",ready="false",set="web"} 1
setlet_pods{namespace="default",phase="Running",ready="true",set="web"} 2
setlet_pods{namespace="default",phase="Succeeded",ready="false",set="web"} 0
setlet_pods{namespace="default",phase="Unknown",ready="false",set="db"} 1
# HELP setlet_container_restarts_total Restarts of each container of each pod, as its status counts them (they start from 0 in a replaced pod).
# TYPE setlet_container_restarts_total counter
setlet_container_restarts_total{container="app",namespace="default",pod="web-0",set="web"} 3
setlet_container_restarts_total{container="app",namespace="default",pod="web-1",set="web"} 0
setlet_container_restarts_total{container="app",namespace="default",pod="web-2",set="web"} 1
`), "setlet_pods", "setlet_container_restarts_total"); err != nil {
		t.Error(err)
	}

	// A state that cannot be read fails its metrics, not the others.
	store.Close()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "reading the state") {
		t.Errorf("gathering from a closed state: %v", err)
	}
}

// TestRolledOut: a set has rolled out when the controller has seen its
// spec and every replica is Ready at the update revision, except those a
// partition keeps (RollingUpdate) or the user has not deleted (OnDelete).
func TestRolledOut(t *testing.T) {
	three, two := int32(3), int32(2)
	set := func(strategy appsv1.StatefulSetUpdateStrategy, st appsv1.StatefulSetStatus) *appsv1.StatefulSet {
		return &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Generation: 2},
			Spec:       appsv1.StatefulSetSpec{Replicas: &three, UpdateStrategy: strategy},
			Status:     st,
		}
	}
	rolling := appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}
	partitioned := appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &two}}
	onDelete := appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	done := appsv1.StatefulSetStatus{ObservedGeneration: 2, Replicas: 3, ReadyReplicas: 3, UpdatedReplicas: 3}
	with := func(f func(*appsv1.StatefulSetStatus)) appsv1.StatefulSetStatus { st := done; f(&st); return st }
	for _, tt := range []struct {
		name string
		set  *appsv1.StatefulSet
		want bool
	}{
		{"every replica Ready at the update revision", set(rolling, done), true},
		{"the spec not yet seen", set(rolling, with(func(st *appsv1.StatefulSetStatus) { st.ObservedGeneration = 1 })), false},
		{"a replica not Ready", set(rolling, with(func(st *appsv1.StatefulSetStatus) { st.ReadyReplicas = 2 })), false},
		{"a replica missing", set(rolling, with(func(st *appsv1.StatefulSetStatus) { st.Replicas, st.ReadyReplicas = 2, 2 })), false},
		{"a condemned pod left", set(rolling, with(func(st *appsv1.StatefulSetStatus) { st.Replicas, st.ReadyReplicas = 4, 4 })), false},
		{"a pod at the old revision", set(rolling, with(func(st *appsv1.StatefulSetStatus) { st.UpdatedReplicas = 2 })), false},
		{"a partition keeps two at the old revision", set(partitioned, with(func(st *appsv1.StatefulSetStatus) { st.UpdatedReplicas = 1 })), true},
		{"a partition does not excuse the others", set(partitioned, with(func(st *appsv1.StatefulSetStatus) { st.UpdatedReplicas = 0 })), false},
		{"OnDelete only needs Ready replicas", set(onDelete, with(func(st *appsv1.StatefulSetStatus) { st.UpdatedReplicas = 0 })), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := rolledOut(tt.set); got != tt.want {
				t.Fatalf("rolledOut = %v, want %v", got, tt.want)
			}
		})
	}
}

// histogram returns the sample count and sum of histogram name with the
// label values labels (in the order of its label names), from m's registry.
func histogram(t *testing.T, m *metrics, name string, labels ...string) (uint64, float64) {
	t.Helper()
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, s := range f.GetMetric() {
			if len(s.GetLabel()) != len(labels) {
				continue
			}
			for i, l := range s.GetLabel() {
				if l.GetValue() != labels[i] {
					continue series
				}
			}
			return s.GetHistogram().GetSampleCount(), s.GetHistogram().GetSampleSum()
		}
	}
	return 0, 0
}

// TestApplyToReady: a change of a set's spec is timed from when it is
// stored to the first pass that finds the set rolled out, once; a change
// that leaves the spec alone is not timed, a newer change replaces the
// one being timed, and a deleted set is forgotten.
func TestApplyToReady(t *testing.T) {
	store := metricsStore(t)
	clk := newFakeClock(probeEpoch)
	m := newMetrics(clk, metricsSources{store: store})
	observed := func() (uint64, float64) { return histogram(t, m, "setlet_apply_to_ready_seconds", "default", "web") }

	web := applySet(t, store, "web", 2)
	m.applied("default", "web")
	clk.Advance(3 * time.Second)
	setStatus(t, store, web, appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 1, ReadyReplicas: 0})
	m.passDone("default/web", time.Millisecond, nil)
	clk.Advance(4 * time.Second)
	setStatus(t, store, web, appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 2, ReadyReplicas: 1, UpdatedReplicas: 2})
	m.passDone("default/web", time.Millisecond, nil)
	if n, _ := observed(); n != 0 {
		t.Fatalf("observed %d before the set was ready", n)
	}
	clk.Advance(time.Second)
	setStatus(t, store, web, appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 2, ReadyReplicas: 2, UpdatedReplicas: 2})
	m.passDone("default/web", time.Millisecond, nil)
	m.passDone("default/web", time.Millisecond, nil)
	if n, sum := observed(); n != 1 || sum != 8 {
		t.Fatalf("observed %d, sum %vs; want once, 8s", n, sum)
	}

	// Labels only: the same generation, seen already.
	docs, _ := configs.DecodeSources([]configs.Source{{Name: "t.yaml", Data: []byte(strings.Replace(fmt.Sprintf(metricsSet, "web", 2), "metadata: {name: web}", "metadata: {name: web, labels: {tier: front}}", 1))}})
	if _, err := store.Apply(docs[0].Object); err != nil {
		t.Fatal(err)
	}
	m.applied("default", "web")
	if len(m.rollouts) != 0 {
		t.Fatalf("a change of labels is timed: %v", m.rollouts)
	}

	// Scaled to 3, then to 4 before it was done: only the second counts,
	// from when it was made.
	applySet(t, store, "web", 3)
	m.applied("default", "web")
	clk.Advance(10 * time.Second)
	web = applySet(t, store, "web", 4)
	m.applied("default", "web")
	clk.Advance(2 * time.Second)
	m.applied("default", "web") // the same change again: the clock runs on
	clk.Advance(3 * time.Second)
	setStatus(t, store, web, appsv1.StatefulSetStatus{ObservedGeneration: web.Generation, Replicas: 4, ReadyReplicas: 4, UpdatedReplicas: 4})
	m.passDone("default/web", time.Millisecond, nil)
	if n, sum := observed(); n != 2 || sum != 8+5 {
		t.Fatalf("observed %d, sum %vs; want twice, 13s", n, sum)
	}

	// Deleted while being timed: forgotten, series and all.
	applySet(t, store, "web", 5)
	m.applied("default", "web")
	if err := store.DeleteObject(storage.ObjectKey{Kind: configs.KindStatefulSet, Namespace: "default", Name: "web"}); err != nil {
		t.Fatal(err)
	}
	m.deleted("default", "web")
	m.passDone("default/web", time.Millisecond, nil)
	if len(m.rollouts) != 0 || testutil.CollectAndCount(m.applyToReady) != 0 {
		t.Fatalf("a deleted set is remembered: %v, %d series", m.rollouts, testutil.CollectAndCount(m.applyToReady))
	}
	if n, _ := histogram(t, m, "setlet_reconcile_duration_seconds", "success"); n != 6 {
		t.Errorf("%d passes counted, want 6", n)
	}

	// Without metrics the hooks do nothing.
	var off *metrics
	off.applied("default", "web")
	off.deleted("default", "web")
}

// TestProbeMetrics: every attempt that ran is counted by handler type,
// kind and result, with its duration; an attempt canceled by remove is
// not.
func TestProbeMetrics(t *testing.T) {
	h := newProbeHarness(t, 4)
	m := newMetrics(h.clock, metricsSources{})
	h.m.observe = m.probeDone
	h.exec.set("c1", "live", 1)
	spec := &corev1.Container{ReadinessProbe: wordProbe("ready"), LivenessProbe: wordProbe("live")}
	h.m.add("web-0", "app", "c1", spec, probeTarget{}, probeEpoch, false)
	h.runFor(25 * time.Second)

	want := `# HELP setlet_probe_results_total Probe attempts by handler type (exec, httpGet, tcpSocket, grpc), probe kind (readiness, liveness, startup) and result (success, failure, unknown: the attempt could not be made).
# TYPE setlet_probe_results_total counter
setlet_probe_results_total{kind="liveness",result="failure",type="exec"} 2
setlet_probe_results_total{kind="readiness",result="success",type="exec"} 3
`
	if err := testutil.CollectAndCompare(m.probeResults, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if n, _ := histogram(t, m, "setlet_probe_duration_seconds", "readiness", "success", "exec"); n != 3 {
		t.Errorf("%d readiness durations, want 3", n)
	}

	// An attempt in flight when its container goes is dropped.
	gate := make(chan struct{})
	h.exec.mu.Lock()
	h.exec.gate, h.exec.entered = gate, make(chan string, 10)
	h.exec.mu.Unlock()
	h.clock.Advance(10 * time.Second)
	<-h.exec.entered
	h.m.remove("web-0", "app")
	h.settle()
	close(gate)
	if err := testutil.CollectAndCompare(m.probeResults, strings.NewReader(want)); err != nil {
		t.Errorf("a canceled attempt was counted: %v", err)
	}

	for p, want := range map[*corev1.Probe]string{
		nil: "none", {}: "none",
		{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{}}}:     "httpGet",
		{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{}}}: "tcpSocket",
		{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{}}}:           "grpc",
	} {
		if got := probeType(p); got != want {
			t.Errorf("probeType = %q, want %q", got, want)
		}
	}
}

// TestStartMetrics: without an address nothing listens and nothing is
// hooked; with one, GET /metrics serves the registry there, other paths
// and methods are refused, and stop closes the port.
func TestStartMetrics(t *testing.T) {
	d := &Daemon{
		log: slog.New(slog.DiscardHandler), clock: realClock{}, store: metricsStore(t), dns: dns.NewServer(dns.Config{}),
		probes: newProbeManager(realClock{}, nil, func(probeUpdate) {}, 1),
	}
	d.controller = newController(d.store, d.clock, d.log, nil, newHub(), nil)
	t.Cleanup(d.probes.close)

	stop, err := d.startMetrics("", nil)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if d.metrics != nil || d.probes.observe != nil || d.controller.observe != nil {
		t.Fatal("metrics set up without an address")
	}

	stop, err = d.startMetrics("127.0.0.1:0", func() bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if d.metrics == nil || d.probes.observe == nil || d.controller.observe == nil {
		t.Fatal("metrics not hooked in")
	}
	addr := d.metrics.addr
	get := func(method, path string) int {
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/metrics", 200}, {"HEAD", "/metrics", 200}, {"POST", "/metrics", 405}, {"GET", "/", 404}, {"GET", "/debug/pprof/", 404},
	} {
		if got := get(c.method, c.path); got != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, got, c.want)
		}
	}
	body := scrapeText(t, addr)
	for _, want := range []string{"setlet_containerd_up 1", `setlet_dns_queries_total{rcode="NOERROR"} 0`, "go_goroutines ", "process_cpu_seconds_total ", "promhttp_metric_handler_requests_total"} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in the scrape:\n%s", want, body)
		}
	}
	if _, err := (&Daemon{}).startMetrics(addr, nil); err == nil {
		t.Error("a port in use did not fail")
	}
	stop()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("the metrics port is still open after stop")
	}
}

// scrapeText returns what GET /metrics at addr answers, in the text format.
func scrapeText(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v\n%s", resp.StatusCode, err, body)
	}
	return string(body)
}
