package daemon

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// probeWait bounds every wait of the manager tests.
const probeWait = 5 * time.Second

// fakeProbeExec is the runtime's exec for manager tests. A probe's command
// is one word naming it ("ready", "live", "start"); each container ID and
// word exits with the code set for it (0 unless set), and the fake time of
// every call is recorded. Calls wait while the gate is closed.
type fakeProbeExec struct {
	clock *fakeClock

	mu      sync.Mutex
	codes   map[string]int
	calls   map[string][]time.Duration // since probeEpoch
	gate    chan struct{}              // nil: open
	entered chan string                // if set, gets each call as it starts
	now     int                        // calls in progress
	peak    int                        // the most calls at once
}

func newFakeProbeExec(c *fakeClock) *fakeProbeExec {
	return &fakeProbeExec{clock: c, codes: map[string]int{}, calls: map[string][]time.Duration{}}
}

// ExecProbe implements probeExecer.
func (f *fakeProbeExec) ExecProbe(ctx context.Context, containerID string, cmd []string) ([]byte, int, error) {
	key := containerID + " " + cmd[0]
	f.mu.Lock()
	f.calls[key] = append(f.calls[key], f.clock.Now().Sub(probeEpoch))
	code, gate, entered := f.codes[key], f.gate, f.entered
	f.now++
	f.peak = max(f.peak, f.now)
	f.mu.Unlock()
	if entered != nil {
		entered <- key
	}
	defer func() {
		f.mu.Lock()
		f.now--
		f.mu.Unlock()
	}()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, -1, ctx.Err()
		}
	}
	if code != 0 {
		return []byte(cmd[0] + " failed"), code, nil
	}
	return nil, 0, nil
}

// set makes the probe word of container id exit with code.
func (f *fakeProbeExec) set(id, word string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.codes[id+" "+word] = code
}

// times returns when the probe word of container id ran.
func (f *fakeProbeExec) times(id, word string) []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.calls[id+" "+word]...)
}

// probeHarness drives a probeManager with a fake clock and a fake exec.
type probeHarness struct {
	t       *testing.T
	clock   *fakeClock
	exec    *fakeProbeExec
	m       *probeManager
	updates chan probeUpdate
}

func newProbeHarness(t *testing.T, workers int) *probeHarness {
	t.Helper()
	h := &probeHarness{t: t, clock: newFakeClock(probeEpoch), updates: make(chan probeUpdate, 1000)}
	h.exec = newFakeProbeExec(h.clock)
	h.m = newProbeManager(h.clock, h.exec, func(u probeUpdate) { h.updates <- u }, workers)
	t.Cleanup(h.m.close)
	return h
}

// settle waits until every queued attempt has run and its updates are
// delivered.
func (h *probeHarness) settle() {
	h.t.Helper()
	select {
	case <-h.m.quiesce():
	case <-time.After(probeWait):
		h.t.Fatal("probes did not settle")
	}
}

// runFor moves the fake clock d forward one timer at a time, letting the
// attempts of each timer finish before the next.
func (h *probeHarness) runFor(d time.Duration) {
	h.t.Helper()
	end := h.clock.Now().Add(d)
	h.settle()
	for {
		next, ok := h.clock.NextAt()
		if !ok || next.After(end) {
			break
		}
		h.clock.AdvanceTo(next)
		h.settle()
	}
	h.clock.AdvanceTo(end)
	h.settle()
}

// update returns the next update.
func (h *probeHarness) update() probeUpdate {
	h.t.Helper()
	select {
	case u := <-h.updates:
		return u
	case <-time.After(probeWait):
		h.t.Fatal("no update")
	}
	return probeUpdate{}
}

// noUpdate fails if an update is pending (call it after settle).
func (h *probeHarness) noUpdate() {
	h.t.Helper()
	select {
	case u := <-h.updates:
		h.t.Fatalf("unexpected update %+v", u)
	default:
	}
}

// wantUpdate checks the next update.
func (h *probeHarness) wantUpdate(kind probeKind, result bool, at time.Duration) probeUpdate {
	h.t.Helper()
	u := h.update()
	if u.Kind != kind || u.Result != result || !u.At.Equal(probeEpoch.Add(at)) {
		h.t.Fatalf("got update %s=%v at %v, want %s=%v at %v", u.Kind, u.Result, u.At.Sub(probeEpoch), kind, result, at)
	}
	return u
}

// wantState checks what state says of web-0/app.
func (h *probeHarness) wantState(ready, started bool) {
	h.t.Helper()
	if r, s, _ := h.m.state("web-0", "app"); r != ready || s != started {
		h.t.Fatalf("state ready %v started %v, want %v %v", r, s, ready, started)
	}
}

// probeOpt changes a test probe.
type probeOpt func(*corev1.Probe)

func period(s int32) probeOpt       { return func(p *corev1.Probe) { p.PeriodSeconds = s } }
func initialDelay(s int32) probeOpt { return func(p *corev1.Probe) { p.InitialDelaySeconds = s } }
func thresholds(success, failure int32) probeOpt {
	return func(p *corev1.Probe) { p.SuccessThreshold, p.FailureThreshold = success, failure }
}

// wordProbe returns an exec probe running word, period 10 s.
func wordProbe(word string, opts ...probeOpt) *corev1.Probe {
	p := &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{word}}},
		PeriodSeconds:    10,
		TimeoutSeconds:   1,
		SuccessThreshold: 1,
		FailureThreshold: 3,
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// durations builds a []time.Duration from milliseconds.
func durations(ms ...int) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, v := range ms {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

// wantTimes checks when the probe word of container id ran.
func (h *probeHarness) wantTimes(id, word string, want []time.Duration) {
	h.t.Helper()
	got := h.exec.times(id, word)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		h.t.Fatalf("%s %s ran at %v, want %v", id, word, got, want)
	}
}

// waitGoroutines waits until at most n goroutines run.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(probeWait)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, want at most %d", runtime.NumGoroutine(), n)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}
