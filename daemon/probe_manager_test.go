package daemon

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestProbeManagerTiming(t *testing.T) {
	t.Run("Manager/the first attempt waits initialDelaySeconds from the container's start", func(t *testing.T) {
		h := newProbeHarness(t, 4)
		spec := &corev1.Container{LivenessProbe: wordProbe("live", initialDelay(15))}
		h.m.add("web-0", "app", "c1", spec, probeTarget{}, probeEpoch, false)
		h.runFor(35 * time.Second)
		h.wantTimes("c1", "live", durations(15000, 25000, 35000))
	})

	t.Run("Manager/a liveness probe first runs a period after the start, as the kubelet's first tick", func(t *testing.T) {
		h := newProbeHarness(t, 4)
		spec := &corev1.Container{LivenessProbe: wordProbe("live", initialDelay(5))}
		h.m.add("web-0", "app", "c1", spec, probeTarget{}, probeEpoch, false)
		h.runFor(25 * time.Second)
		h.wantTimes("c1", "live", durations(10000, 20000))
	})

	t.Run("Manager/an adopted container does not wait its initial delay again", func(t *testing.T) {
		h := newProbeHarness(t, 4)
		h.clock.Advance(8 * time.Second)
		spec := &corev1.Container{ReadinessProbe: wordProbe("ready", initialDelay(5))}
		h.m.add("web-0", "app", "c1", spec, probeTarget{}, probeEpoch, false)
		h.runFor(0)
		h.wantTimes("c1", "ready", durations(8000))
	})

	t.Run("Manager/readiness re-probes after each failure, 10 ms doubling to 100 ms, until it first succeeds, then every periodSeconds", func(t *testing.T) {
		h := newProbeHarness(t, 4)
		h.exec.set("c1", "ready", 1)
		spec := &corev1.Container{ReadinessProbe: wordProbe("ready")}
		h.m.add("web-0", "app", "c1", spec, probeTarget{}, probeEpoch, false)
		h.wantState(false, true)
		h.runFor(350 * time.Millisecond)
		h.wantTimes("c1", "ready", durations(0, 10, 20, 40, 80, 160, 260))
		h.noUpdate()

		h.exec.set("c1", "ready", 0)
		h.runFor(100 * time.Millisecond)
		h.wantUpdate(probeReadiness, true, 360*time.Millisecond)
		h.wantState(true, true)

		h.runFor(25 * time.Second)
		h.wantTimes("c1", "ready", durations(0, 10, 20, 40, 80, 160, 260, 360, 11000, 21000)) // then on whole seconds
		h.noUpdate()
	})

	t.Run("Manager/after the first success a failing readiness probe stays on its period", func(t *testing.T) {
		h := newProbeHarness(t, 4)
		spec := &corev1.Container{ReadinessProbe: wordProbe("ready", thresholds(1, 2))}
		h.m.add("web-0", "app", "c1", spec, probeTarget{}, probeEpoch, false)
		h.runFor(0)
		h.wantUpdate(probeReadiness, true, 0)
		h.exec.set("c1", "ready", 1)
		h.runFor(25 * time.Second)
		h.wantUpdate(probeReadiness, false, 20*time.Second)
		h.wantTimes("c1", "ready", durations(0, 10000, 20000))
		h.wantState(false, true)
	})

	t.Run("Manager/successThreshold needs consecutive successes, the rest at the period", func(t *testing.T) {
		h := newProbeHarness(t, 4)
		spec := &corev1.Container{ReadinessProbe: wordProbe("ready", thresholds(3, 3))}
		h.m.add("web-0", "app", "c1", spec, probeTarget{}, probeEpoch, false)
		h.runFor(15 * time.Second)
		h.noUpdate()
		h.runFor(10 * time.Second)
		h.wantUpdate(probeReadiness, true, 20*time.Second)
		h.wantTimes("c1", "ready", durations(0, 10000, 20000))
	})

	t.Run("Manager/a daemon restart resumes Ready without the fast path until failureThreshold failures", func(t *testing.T) {
		h := newProbeHarness(t, 4)
		h.clock.Advance(time.Hour)
		h.exec.set("c1", "ready", 1)
		spec := &corev1.Container{ReadinessProbe: wordProbe("ready", thresholds(1, 3))}
		h.m.add("web-0", "app", "c1", spec, probeTarget{}, probeEpoch, true)
		h.wantState(true, true)
		first := probeAlign(probeEpoch.Add(time.Hour + probeSpread("c1/readiness", 10*time.Second))).Sub(probeEpoch)
		h.runFor(first - time.Hour + 20*time.Second)
		h.wantUpdate(probeReadiness, false, first+20*time.Second)
		h.wantTimes("c1", "ready", []time.Duration{first, first + 10*time.Second, first + 20*time.Second})
	})
}

func TestProbeManagerStartup(t *testing.T) {
	t.Run("Manager/startup gates readiness and liveness until it succeeds", func(t *testing.T) {
		h := newProbeHarness(t, 4)
		h.exec.set("c1", "start", 1)
		spec := &corev1.Container{
			StartupProbe:   wordProbe("start", period(1), thresholds(1, 30)),
			ReadinessProbe: wordProbe("ready"),
			LivenessProbe:  wordProbe("live"),
		}
		h.m.add("web-0", "app", "c1", spec, probeTarget{}, probeEpoch, false)
		h.wantState(false, false)
		h.runFor(350 * time.Millisecond)
		h.wantTimes("c1", "start", durations(0, 10, 20, 40, 80, 160, 260))
		h.wantTimes("c1", "ready", nil)
		h.wantTimes("c1", "live", nil)

		h.exec.set("c1", "start", 0)
		h.runFor(100 * time.Millisecond)
		h.wantUpdate(probeStartup, true, 360*time.Millisecond)
		h.wantUpdate(probeReadiness, true, 360*time.Millisecond)
		h.wantState(true, true)
		h.runFor(15 * time.Second)
		h.wantTimes("c1", "start", durations(0, 10, 20, 40, 80, 160, 260, 360)) // on hold once passed
		h.wantTimes("c1", "ready", durations(360, 11000))
		h.wantTimes("c1", "live", durations(11000))
	})

	t.Run("Manager/without a readiness probe a container is Ready once its startup probe passes", func(t *testing.T) {
		h := newProbeHarness(t, 4)
		spec := &corev1.Container{StartupProbe: wordProbe("start")}
		h.m.add("web-0", "app", "c1", spec, probeTarget{}, probeEpoch, false)
		h.wantState(false, false)
		h.runFor(0)
		h.wantUpdate(probeStartup, true, 0)
		h.wantUpdate(probeReadiness, true, 0)
	})

	t.Run("Manager/a startup probe keeps failureThreshold x periodSeconds before it fails", func(t *testing.T) {
		h := newProbeHarness(t, 4)
		h.exec.set("c1", "start", 1)
		spec := &corev1.Container{StartupProbe: wordProbe("start", period(1), thresholds(1, 3)), LivenessProbe: wordProbe("live")}
		h.m.add("web-0", "app", "c1", spec, probeTarget{}, probeEpoch, false)
		h.runFor(5 * time.Second)
		// Failures count once per period: at 0, at 1.06 s and at 2.06 s (the
		// first fast-path attempts past each period).
		u := h.wantUpdate(probeStartup, false, 2060*time.Millisecond)
		if u.Outcome.Message != "start failed" || u.ContainerID != "c1" || u.Pod != "web-0" || u.Container != "app" {
			t.Fatalf("update %+v", u)
		}
		h.noUpdate()
		// 0, 10, 20, 40, 80, 160 ms, then every 100 ms to 2.06 s.
		if n := len(h.exec.times("c1", "start")); n != 25 {
			t.Fatalf("startup ran %d times in 2.06 s, want 25", n)
		}
		h.wantTimes("c1", "live", nil)
		if n := h.clock.Pending(); n != 0 {
			t.Fatalf("%d timers left for a failed container", n)
		}
	})
}

func TestProbeManagerLiveness(t *testing.T) {
	t.Run("Manager/liveness failure notifies once per container and stops its probe", func(t *testing.T) {
		h := newProbeHarness(t, 4)
		h.exec.set("c1", "live", 1)
		spec := &corev1.Container{LivenessProbe: wordProbe("live"), ReadinessProbe: wordProbe("ready")}
		h.m.add("web-0", "app", "c1", spec, probeTarget{}, probeEpoch, false)
		h.runFor(0)
		h.wantUpdate(probeReadiness, true, 0)
		h.runFor(60 * time.Second)
		u := h.wantUpdate(probeLiveness, false, 30*time.Second)
		if u.Outcome.Message != "live failed" {
			t.Fatalf("outcome %+v", u.Outcome)
		}
		h.noUpdate()
		h.wantTimes("c1", "live", durations(10000, 20000, 30000))
		if ready, _, last := h.m.state("web-0", "app"); !ready || last.Message != "live failed" {
			t.Fatalf("ready %v, last failure %+v", ready, last)
		}

		// The restarted container is a new instance: probed afresh.
		h.exec.set("c2", "live", 1)
		h.m.add("web-0", "app", "c2", spec, probeTarget{}, probeEpoch.Add(time.Minute), false)
		h.wantState(false, true)
		h.runFor(40 * time.Second)
		h.wantUpdate(probeReadiness, true, time.Minute)
		h.wantUpdate(probeLiveness, false, time.Minute+30*time.Second)
		h.wantTimes("c1", "live", durations(10000, 20000, 30000))
	})

	t.Run("Manager/terminating stops liveness and startup, not readiness", func(t *testing.T) {
		h := newProbeHarness(t, 4)
		h.exec.set("c1", "live", 1)
		spec := &corev1.Container{LivenessProbe: wordProbe("live", thresholds(1, 1)), ReadinessProbe: wordProbe("ready")}
		h.m.add("web-0", "app", "c1", spec, probeTarget{}, probeEpoch, true)
		h.m.terminating("web-0")
		h.runFor(30 * time.Second)
		h.noUpdate()
		h.wantTimes("c1", "live", nil)
		if n := len(h.exec.times("c1", "ready")); n != 4 {
			t.Fatalf("readiness ran %d times in 30 s, want 4", n)
		}
	})
}

func TestProbeManagerLifecycle(t *testing.T) {
	t.Run("Manager/a container without probes is Ready and started at once, without an update", func(t *testing.T) {
		h := newProbeHarness(t, 4)
		h.m.add("web-0", "app", "c1", &corev1.Container{}, probeTarget{}, probeEpoch, false)
		h.wantState(true, true)
		if n := h.clock.Pending(); n != 0 {
			t.Fatalf("%d timers for no probe", n)
		}
		h.runFor(time.Minute)
		h.noUpdate()
	})

	t.Run("Manager/an unknown container is neither Ready nor started", func(t *testing.T) {
		h := newProbeHarness(t, 4)
		h.wantState(false, false)
	})

	t.Run("Manager/add is idempotent per container ID", func(t *testing.T) {
		h := newProbeHarness(t, 4)
		spec := &corev1.Container{LivenessProbe: wordProbe("live")}
		h.m.add("web-0", "app", "c1", spec, probeTarget{}, probeEpoch, false)
		h.m.add("web-0", "app", "c1", spec, probeTarget{}, probeEpoch, false)
		if n := h.clock.Pending(); n != 1 {
			t.Fatalf("%d timers, want 1", n)
		}
		h.runFor(25 * time.Second)
		h.wantTimes("c1", "live", durations(10000, 20000))
	})

	t.Run("Manager/a new container ID replaces the old probes", func(t *testing.T) {
		h := newProbeHarness(t, 4)
		spec := &corev1.Container{LivenessProbe: wordProbe("live")}
		h.m.add("web-0", "app", "c1", spec, probeTarget{}, probeEpoch, false)
		h.runFor(12 * time.Second)
		h.m.add("web-0", "app", "c2", spec, probeTarget{}, probeEpoch.Add(12*time.Second), false)
		h.runFor(20 * time.Second)
		h.wantTimes("c1", "live", durations(10000))
		h.wantTimes("c2", "live", durations(22000, 32000))
	})

	t.Run("Manager/remove stops probing and drops the result in flight", func(t *testing.T) {
		h := newProbeHarness(t, 4)
		spec := &corev1.Container{ReadinessProbe: wordProbe("ready"), StartupProbe: wordProbe("live")}
		h.m.add("web-0", "app", "c1", spec, probeTarget{}, probeEpoch, false)
		h.m.add("web-1", "app", "c2", spec, probeTarget{}, probeEpoch, false)
		gate, entered := make(chan struct{}), make(chan string, 4)
		h.exec.mu.Lock()
		h.exec.gate, h.exec.entered = gate, entered
		h.exec.mu.Unlock()
		h.clock.Advance(0) // the first (startup) attempts start and wait at the gate
		for range 2 {
			select {
			case <-entered:
			case <-time.After(probeWait):
				t.Fatal("attempts did not start")
			}
		}
		h.m.remove("web-0", "app")
		h.m.removePod("web-1")
		h.m.remove("web-0", "app") // idempotent
		close(gate)
		h.settle()
		h.noUpdate()
		if n := h.clock.Pending(); n != 0 {
			t.Fatalf("%d timers after remove", n)
		}
		h.runFor(time.Minute)
		if n := len(h.exec.times("c1", "ready")) + len(h.exec.times("c1", "live")) +
			len(h.exec.times("c2", "ready")) + len(h.exec.times("c2", "live")); n != 2 {
			t.Fatalf("%d attempts, want only the 2 first ones", n)
		}
	})

	t.Run("Manager/state reports the failure of the probe that holds the container back", func(t *testing.T) {
		h := newProbeHarness(t, 4)
		h.exec.set("c1", "start", 1)
		h.exec.set("c1", "ready", 1)
		h.exec.set("c1", "live", 1)
		spec := &corev1.Container{StartupProbe: wordProbe("start"), ReadinessProbe: wordProbe("ready"), LivenessProbe: wordProbe("live", thresholds(1, 10))}
		h.m.add("web-0", "app", "c1", spec, probeTarget{}, probeEpoch, false)
		h.runFor(100 * time.Millisecond)
		if ready, started, last := h.m.state("web-0", "app"); ready || started || last.Message != "start failed" {
			t.Fatalf("before start: ready %v started %v last %+v", ready, started, last)
		}
		h.exec.set("c1", "start", 0)
		h.runFor(100 * time.Millisecond) // started; readiness and liveness fail
		if ready, started, last := h.m.state("web-0", "app"); ready || !started || last.Message != "ready failed" {
			t.Fatalf("started: ready %v started %v last %+v", ready, started, last)
		}
		h.exec.set("c1", "ready", 0)
		h.runFor(11 * time.Second) // ready; liveness runs a period after the start, on the next whole second, and fails
		if ready, _, last := h.m.state("web-0", "app"); !ready || last.Message != "live failed" {
			t.Fatalf("ready: ready %v last %+v", ready, last)
		}
		h.exec.set("c1", "live", 0)
		h.runFor(10 * time.Second)
		if _, _, last := h.m.state("web-0", "app"); last != (probeOutcome{}) {
			t.Fatalf("all passing: last %+v", last)
		}
	})

	t.Run("Manager/notify runs without the manager's lock", func(t *testing.T) {
		clk := newFakeClock(probeEpoch)
		var m *probeManager
		got := make(chan bool, 1)
		m = newProbeManager(clk, newFakeProbeExec(clk), func(probeUpdate) {
			ready, _, _ := m.state("web-0", "app") // deadlocks if the lock is held
			got <- ready
		}, 2)
		defer m.close()
		m.add("web-0", "app", "c1", &corev1.Container{ReadinessProbe: wordProbe("ready")}, probeTarget{}, probeEpoch, false)
		clk.Advance(0)
		select {
		case ready := <-got:
			if !ready {
				t.Fatal("state inside notify is not Ready")
			}
		case <-time.After(probeWait):
			t.Fatal("notify did not run")
		}
	})
}

func TestProbeManagerResources(t *testing.T) {
	t.Run("Manager/100 containers with a 10 s period: bounded workers, one timer per probe, no goroutine when idle", func(t *testing.T) {
		base := runtime.NumGoroutine()
		const workers = 4
		h := newProbeHarness(t, workers)
		spec := &corev1.Container{ReadinessProbe: wordProbe("ready"), LivenessProbe: wordProbe("live")}
		for i := range 100 {
			h.m.add("web-"+strconv.Itoa(i), "app", "c"+strconv.Itoa(i), spec, probeTarget{}, probeEpoch, false)
		}
		if n := h.clock.Pending(); n != 200 {
			t.Fatalf("%d timers, want 200", n)
		}
		waitGoroutines(t, base) // add starts no goroutine

		h.exec.mu.Lock()
		h.exec.gate = make(chan struct{})
		h.exec.mu.Unlock()
		h.clock.Advance(0) // the readiness attempts fall due at once
		if n := runtime.NumGoroutine(); n > base+workers {
			t.Fatalf("%d goroutines for 200 due attempts, want at most %d", n, base+workers)
		}
		h.exec.mu.Lock()
		close(h.exec.gate)
		h.exec.gate = nil
		h.exec.mu.Unlock()
		h.settle()
		for range 100 {
			h.update() // every container turned Ready
		}
		for range 6 { // a minute of probing
			h.runFor(10 * time.Second)
			if n := h.clock.Pending(); n != 200 {
				t.Fatalf("%d timers, want 200", n)
			}
		}
		h.m.mu.Lock()
		peak := h.m.peakWorkers
		h.m.mu.Unlock()
		if peak > workers || h.exec.peak > workers {
			t.Fatalf("%d workers and %d attempts at once, want at most %d", peak, h.exec.peak, workers)
		}
		if n := len(h.exec.times("c42", "live")); n != 6 { // at 10, 20, ... 60 s
			t.Fatalf("c42 liveness ran %d times in a minute, want 6", n)
		}
		waitGoroutines(t, base) // idle: workers have exited
	})

	t.Run("Manager/close cancels attempts in flight and leaves no goroutine", func(t *testing.T) {
		base := runtime.NumGoroutine()
		clk := newFakeClock(probeEpoch)
		ex := newFakeProbeExec(clk)
		ex.gate = make(chan struct{}) // never opened: attempts end by cancellation
		var notified atomic.Int32
		m := newProbeManager(clk, ex, func(probeUpdate) { notified.Add(1) }, 3)
		spec := &corev1.Container{ReadinessProbe: wordProbe("ready"), LivenessProbe: wordProbe("live")}
		for i := range 10 {
			m.add("web-"+strconv.Itoa(i), "app", "c"+strconv.Itoa(i), spec, probeTarget{}, probeEpoch, false)
		}
		clk.Advance(0)
		done := make(chan struct{})
		go func() { m.close(); close(done) }()
		select {
		case <-done:
		case <-time.After(probeWait):
			t.Fatal("close did not return")
		}
		if clk.Pending() != 0 || notified.Load() != 0 {
			t.Fatalf("%d timers and %d updates after close", clk.Pending(), notified.Load())
		}
		m.close() // idempotent
		m.add("web-0", "app", "c99", spec, probeTarget{}, probeEpoch, false)
		if clk.Pending() != 0 {
			t.Fatal("add after close set a timer")
		}
		waitGoroutines(t, base)
	})
}

func TestProbeManagerRealClock(t *testing.T) {
	// With real time and a real server: a pod that becomes able to serve
	// is seen Ready within a few fast-path intervals, not periodSeconds.
	var serving atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !serving.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	updates := make(chan probeUpdate, 10)
	m := newProbeManager(realClock{}, nil, func(u probeUpdate) { updates <- u }, 2)
	defer m.close()
	probe := &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}},
		PeriodSeconds: 10,
	}
	spec := &corev1.Container{ReadinessProbe: probe, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	m.add("web-0", "app", "c1", spec, probeTarget{PodIP: "127.0.0.1"}, time.Now(), false)

	// Let a few attempts fail, then start serving.
	deadline := time.After(probeWait)
	for {
		if _, _, last := m.state("web-0", "app"); last.Message != "" {
			break
		}
		select {
		case <-deadline:
			t.Fatal("no failed attempt")
		case <-time.After(10 * time.Millisecond):
		}
	}
	serving.Store(true)
	start := time.Now()
	select {
	case u := <-updates:
		if u.Kind != probeReadiness || !u.Result {
			t.Fatalf("update %+v", u)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Ready %v after the server could serve", d)
		}
	case <-time.After(probeWait):
		t.Fatal("never Ready")
	}
}
