package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/dns"
	"github.com/setlet/setlet/storage"
)

// The daemon's Prometheus metrics, served on GET /metrics at
// --metrics-listen and nowhere without it (then nothing is measured
// either: d.metrics is nil, and every hook below does nothing on a nil
// *metrics).
//
// What the state says (pods by phase and readiness, restart counts, DNS
// answers by code, containerd) is read when Prometheus scrapes, by
// stateCollector: never kept up to date in between, so it cannot drift and
// costs nothing while nobody looks. What happens (probe attempts,
// controller passes, applies becoming ready) is counted where it happens,
// by hooks that are nil when metrics are off: the probe manager's and the
// controller's observe funcs, and metrics.applied/deleted from apply.go
// and rollout.go.
// No goroutine runs for the metrics besides the HTTP server's.

// metricsShutdownTimeout bounds how long stopping the daemon waits for a
// scrape in progress.
const metricsShutdownTimeout = 5 * time.Second

// metrics is the daemon's instrumentation: a private registry with the
// event metrics, the state collector, and the Go and process collectors.
// Its methods are safe for concurrent use; applied and deleted, which
// apply.go and rollout.go call whether metrics are on or not, do nothing
// on a nil *metrics.
type metrics struct {
	reg   *prometheus.Registry
	store *storage.Store
	clock clock
	addr  string // where startMetrics serves it

	probeResults  *prometheus.CounterVec
	probeDuration *prometheus.HistogramVec
	passOK        prometheus.Observer
	passFailed    prometheus.Observer
	applyToReady  *prometheus.HistogramVec

	mu       sync.Mutex
	rollouts map[string]rollout // set key -> the change being timed
}

// rollout is a change of a set's spec that has not yet rolled out.
type rollout struct {
	generation int64     // the set's generation after the change
	start      time.Time // when it was stored
}

// metricsSources are what stateCollector reads at scrape time; a nil func
// leaves its metric out.
type metricsSources struct {
	store *storage.Store
	// dns returns the DNS server's answers by response code.
	dns func() []dns.ResponseCount
	// containerd reports whether containerd serves.
	containerd func() bool
}

// newMetrics returns the daemon's metrics, reading time from c and the
// state from src. It starts nothing.
func newMetrics(c clock, src metricsSources) *metrics {
	// Histogram buckets, in seconds: probes from an httpGet or tcpSocket
	// attempt (a millisecond) to an exec one near a generous
	// timeoutSeconds; passes from one that finds nothing to do (well under
	// a millisecond) to one that writes volumes and pods; applies from a
	// set whose pods start at once to a slow rolling update.
	probeBuckets := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	reconcileBuckets := []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
	applyBuckets := []float64{.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600}
	m := &metrics{
		reg:   prometheus.NewRegistry(),
		store: src.store,
		clock: c,
		probeResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "setlet_probe_results_total",
			Help: "Probe attempts by handler type (exec, httpGet, tcpSocket, grpc), probe kind (readiness, liveness, startup) and result (success, failure, unknown: the attempt could not be made).",
		}, []string{"type", "kind", "result"}),
		probeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "setlet_probe_duration_seconds",
			Help:    "How long probe attempts took, by handler type, probe kind and result.",
			Buckets: probeBuckets,
		}, []string{"type", "kind", "result"}),
		applyToReady: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "setlet_apply_to_ready_seconds",
			Help:    "Time from an apply (or scale, rollout) that changes a StatefulSet's spec to the set having every replica Ready at the update revision.",
			Buckets: applyBuckets,
		}, []string{"namespace", "set"}),
		rollouts: map[string]rollout{},
	}
	passes := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "setlet_reconcile_duration_seconds",
		Help:    "How long the controller's passes over a StatefulSet took, by result (success, error: retried).",
		Buckets: reconcileBuckets,
	}, []string{"result"})
	m.passOK, m.passFailed = passes.WithLabelValues("success"), passes.WithLabelValues("error")
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.probeResults, m.probeDuration, passes, m.applyToReady,
		newStateCollector(src),
	)
	return m
}

// handler serves the registry in Prometheus' formats (text, or protobuf
// and OpenMetrics when the scraper asks), gzipped when accepted, at most
// two scrapes at once. A state it cannot read leaves those metrics out and
// is logged; the others are served.
func (m *metrics) handler(log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            promLogger{log},
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.reg,
		MaxRequestsInFlight: 2,
		Timeout:             30 * time.Second,
	})))
	return mux
}

// promLogger passes promhttp's errors to the daemon's log.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) { l.log.Warn("serving metrics", "err", fmt.Sprint(v...)) }

// startMetrics serves the daemon's metrics on addr (host:port) until stop
// is called, and hooks them into the probe manager, the controller and
// apply, which must not have started yet. With addr "" it does nothing:
// nothing listens and nothing is measured. containerdUp reports
// containerd's availability at scrape time.
func (d *Daemon) startMetrics(addr string, containerdUp func() bool) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	m := newMetrics(d.clock, metricsSources{store: d.store, dns: d.dns.ResponseCounts, containerd: containerdUp})
	m.addr = l.Addr().String()
	d.metrics = m
	d.probes.observe = m.probeDone
	d.controller.observe = m.passDone
	log := d.log.With("component", "metrics")
	srv := &http.Server{Handler: m.handler(log), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	log.Info("serving metrics", "url", "http://"+m.addr+"/metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), metricsShutdownTimeout)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close() // a scrape still running: cut its connection
		}
		<-served
	}, nil
}

// probeDone counts one probe attempt (the probe manager's observe).
func (m *metrics) probeDone(kind probeKind, p *corev1.Probe, out probeOutcome, took time.Duration) {
	result := "failure"
	switch {
	case out.OK:
		result = "success"
	case out.Unknown:
		result = "unknown"
	}
	labels := []string{probeType(p), string(kind), result}
	m.probeResults.WithLabelValues(labels...).Inc()
	m.probeDuration.WithLabelValues(labels...).Observe(took.Seconds())
}

// probeType names p's handler as the probe's field does.
func probeType(p *corev1.Probe) string {
	switch {
	case p == nil:
		return "none"
	case p.Exec != nil:
		return "exec"
	case p.HTTPGet != nil:
		return "httpGet"
	case p.TCPSocket != nil:
		return "tcpSocket"
	case p.GRPC != nil:
		return "grpc"
	}
	return "none"
}

// passDone records one controller pass over set k (the controller's
// observe), and the end of the set's rollout if this pass finished it.
func (m *metrics) passDone(k string, took time.Duration, err error) {
	if err != nil {
		m.passFailed.Observe(took.Seconds())
	} else {
		m.passOK.Observe(took.Seconds())
	}
	m.mu.Lock()
	r, timing := m.rollouts[k]
	m.mu.Unlock()
	if !timing {
		return // the common case: no store read
	}
	ns, name := splitKey(k)
	set, err := m.store.StatefulSet(ns, name)
	switch {
	case errdefs.IsNotFound(err):
		m.drop(k, r)
		return
	case err != nil || !rolledOut(set):
		return
	}
	if m.drop(k, r) {
		m.applyToReady.WithLabelValues(ns, name).Observe(m.clock.Now().Sub(r.start).Seconds())
	}
}

// drop stops timing r, unless a newer change replaced it; it reports
// whether it did.
func (m *metrics) drop(k string, r rollout) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rollouts[k] != r {
		return false
	}
	delete(m.rollouts, k)
	return true
}

// applied starts timing set ns/name until it has rolled out, when a
// change of its spec was just stored (apply, scale, rollout): one the
// controller has not yet seen. A change that left the spec alone (labels,
// annotations) is not timed; a newer change replaces the one being timed,
// which is then not observed. Timing is lost when the daemon stops.
func (m *metrics) applied(ns, name string) {
	if m == nil {
		return
	}
	set, err := m.store.StatefulSet(ns, name)
	if err != nil || set.Status.ObservedGeneration >= set.Generation {
		return
	}
	k := key(ns, name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rollouts[k].generation != set.Generation {
		m.rollouts[k] = rollout{generation: set.Generation, start: m.clock.Now()}
	}
}

// deleted forgets set ns/name, which was deleted: its timing and its
// apply-to-ready series.
func (m *metrics) deleted(ns, name string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	delete(m.rollouts, key(ns, name))
	m.mu.Unlock()
	m.applyToReady.DeleteLabelValues(ns, name)
}

// rolledOut reports whether set, as stored, has rolled out its spec: the
// controller has seen its generation, every replica exists and is Ready
// (no condemned pod is left), and every pod a RollingUpdate is to update
// (those at or above the partition) is at the update revision, as
// `kubectl rollout status` waits for. An OnDelete set only needs its
// replicas Ready: its pods change when the user deletes them. It is pure.
func rolledOut(set *appsv1.StatefulSet) bool {
	st := set.Status
	replicas := int32(replicaCount(set))
	if st.ObservedGeneration < set.Generation || st.Replicas != replicas || st.ReadyReplicas != replicas {
		return false
	}
	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return true
	}
	return st.UpdatedReplicas >= replicas-int32(partition(set))
}

// stateCollector is the metrics read from the state at scrape time.
type stateCollector struct {
	src                           metricsSources
	pods, restarts, queries, cdUp *prometheus.Desc
}

func newStateCollector(src metricsSources) *stateCollector {
	return &stateCollector{
		src: src,
		pods: prometheus.NewDesc("setlet_pods",
			"Pods of each StatefulSet by phase (Pending, Running, Succeeded, Failed; Unknown: a record not created yet, e.g. held after a host restart) and readiness (the Ready condition).",
			[]string{"namespace", "set", "phase", "ready"}, nil),
		restarts: prometheus.NewDesc("setlet_container_restarts_total",
			"Restarts of each container of each pod, as its status counts them (they start from 0 in a replaced pod).",
			[]string{"namespace", "set", "pod", "container"}, nil),
		queries: prometheus.NewDesc("setlet_dns_queries_total",
			"DNS queries answered, by response code (NOERROR, NXDOMAIN, SERVFAIL, REFUSED, FORMERR, NOTIMP, BADVERS, or an upstream's).",
			[]string{"rcode"}, nil),
		cdUp: prometheus.NewDesc("setlet_containerd_up",
			"1 when containerd serves, 0 when the daemon has lost it.",
			nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pods
	ch <- c.restarts
	ch <- c.queries
	ch <- c.cdUp
}

// podCount is one setlet_pods series.
type podCount struct{ ns, set, phase, ready string }

// Collect implements prometheus.Collector: one read transaction of the
// state file, and the DNS counters and containerd's availability as they
// are now.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if c.src.store != nil {
		c.collectPods(ch)
	}
	if c.src.dns != nil {
		for _, rc := range c.src.dns() {
			ch <- prometheus.MustNewConstMetric(c.queries, prometheus.CounterValue, float64(rc.Count), rc.Name)
		}
	}
	if c.src.containerd != nil {
		up := 0.0
		if c.src.containerd() {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.cdUp, prometheus.GaugeValue, up)
	}
}

// collectPods sends setlet_pods, with a zero for each phase of each stored
// set so that a series does not vanish when its last pod leaves it, and
// setlet_container_restarts_total.
func (c *stateCollector) collectPods(ch chan<- prometheus.Metric) {
	var sets []*appsv1.StatefulSet
	var pods []*corev1.Pod
	err := c.src.store.View(func(tx *storage.Tx) error {
		var err error
		if sets, err = tx.StatefulSets(); err != nil {
			return err
		}
		pods, err = tx.AllPods()
		return err
	})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.pods, fmt.Errorf("reading the state: %w", err))
		return
	}
	counts := map[podCount]int{}
	for _, s := range sets {
		for _, phase := range []corev1.PodPhase{corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed} {
			counts[podCount{s.Namespace, s.Name, string(phase), "false"}] += 0
		}
		counts[podCount{s.Namespace, s.Name, string(corev1.PodRunning), "true"}] += 0
	}
	for _, pod := range pods {
		set := controllerOf(pod)
		if set == "" {
			continue // not a set's: setlet makes none
		}
		phase := string(pod.Status.Phase)
		if phase == "" {
			phase = string(corev1.PodUnknown)
		}
		ready := strconv.FormatBool(podReady(pod.Status))
		counts[podCount{pod.Namespace, set, phase, ready}]++
		for _, cs := range pod.Status.ContainerStatuses {
			ch <- prometheus.MustNewConstMetric(c.restarts, prometheus.CounterValue, float64(cs.RestartCount),
				pod.Namespace, set, pod.Name, cs.Name)
		}
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.pods, prometheus.GaugeValue, float64(n), k.ns, k.set, k.phase, k.ready)
	}
}
