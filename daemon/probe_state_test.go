package daemon

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// probeEpoch is the start of the fake time of the probe and back-off tests.
var probeEpoch = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// at returns probeEpoch + d.
func at(d time.Duration) time.Time { return probeEpoch.Add(d) }

var (
	okOutcome      = probeOutcome{OK: true}
	failOutcome    = probeOutcome{Message: "HTTP probe failed with statuscode: 503"}
	unknownOutcome = probeOutcome{Unknown: true, Message: "port web not found"}
)

func TestProbeTimingDefaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		probe corev1.Probe
		want  probeTiming
	}{
		{"Timing/unset fields take the Kubernetes defaults (0, 10 s, 1 s, 1, 3)", corev1.Probe{},
			probeTiming{0, 10 * time.Second, time.Second, 1, 3}},
		{"Timing/set fields are taken as seconds and counts", corev1.Probe{InitialDelaySeconds: 5, PeriodSeconds: 2, TimeoutSeconds: 3, SuccessThreshold: 2, FailureThreshold: 7},
			probeTiming{5 * time.Second, 2 * time.Second, 3 * time.Second, 2, 7}},
		{"Timing/negative fields fall back to the defaults", corev1.Probe{InitialDelaySeconds: -1, PeriodSeconds: -1, TimeoutSeconds: -1},
			probeTiming{0, 10 * time.Second, time.Second, 1, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := probeTimingOf(&tc.probe); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestProbeInitialState(t *testing.T) {
	timing := probeTimingOf(&corev1.Probe{SuccessThreshold: 2})
	for _, tc := range []struct {
		name      string
		kind      probeKind
		resume    bool
		result    probeResult
		fast      bool
		onHold    bool
		succeeded bool
	}{
		{"Initial/readiness starts failing, on the fast path", probeReadiness, false, probeResultFailure, true, false, false},
		{"Initial/liveness starts succeeding, never on the fast path", probeLiveness, false, probeResultSuccess, false, false, false},
		{"Initial/startup starts unknown, on the fast path", probeStartup, false, probeResultUnknown, true, false, false},
		{"Initial/resumed Ready readiness starts succeeding, off the fast path", probeReadiness, true, probeResultSuccess, false, false, true},
		{"Initial/resumed Ready startup counts as passed and is on hold", probeStartup, true, probeResultSuccess, false, true, true},
		{"Initial/resumed Ready liveness starts succeeding as usual", probeLiveness, true, probeResultSuccess, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newProbeState(tc.kind, timing, tc.resume)
			if s.Result != tc.result || s.fastPath() != tc.fast || s.OnHold != tc.onHold || s.Succeeded != tc.succeeded {
				t.Fatalf("got result %v fast %v onHold %v succeeded %v", s.Result, s.fastPath(), s.OnHold, s.Succeeded)
			}
		})
	}
	t.Run("Initial/a resumed Ready readiness probe needs failureThreshold failures to turn", func(t *testing.T) {
		s := newProbeState(probeReadiness, timing, true)
		for i := range 2 {
			var changed bool
			if s, changed = s.observe(failOutcome, at(time.Duration(i)*10*time.Second)); changed {
				t.Fatalf("changed after %d failures", i+1)
			}
		}
		if s, changed := s.observe(failOutcome, at(20*time.Second)); !changed || s.Result != probeResultFailure {
			t.Fatalf("third failure: changed %v result %v", changed, s.Result)
		}
	})
}

// attempt is one attempt fed to observe in a table.
type attempt struct {
	at      time.Duration
	outcome probeOutcome
	changed bool
	result  probeResult
}

func TestProbeThresholds(t *testing.T) {
	ok, fail, unknown := okOutcome, failOutcome, unknownOutcome
	S, F, U := probeResultSuccess, probeResultFailure, probeResultUnknown
	sec := time.Second
	for _, tc := range []struct {
		name     string
		kind     probeKind
		probe    corev1.Probe
		resume   bool
		attempts []attempt
		onHold   bool
	}{
		{"Thresholds/readiness turns Ready on the first success with successThreshold 1", probeReadiness, corev1.Probe{}, false, []attempt{
			{0, fail, false, F}, {100 * time.Millisecond, ok, true, S},
		}, false},
		{"Thresholds/readiness needs successThreshold successes in a row", probeReadiness, corev1.Probe{SuccessThreshold: 3}, false, []attempt{
			{0, ok, false, F}, {10 * sec, ok, false, F}, {20 * sec, fail, false, F}, {30 * sec, ok, false, F},
			{40 * sec, ok, false, F}, {50 * sec, ok, true, S},
		}, false},
		{"Thresholds/readiness turns NotReady after failureThreshold failures in a row and back", probeReadiness, corev1.Probe{FailureThreshold: 2}, true, []attempt{
			{0, fail, false, S}, {10 * sec, ok, false, S}, {20 * sec, fail, false, S}, {30 * sec, fail, true, F},
			{40 * sec, fail, false, F}, {50 * sec, ok, true, S},
		}, false},
		{"Thresholds/an Unknown attempt counts for nothing and does not break a run", probeReadiness, corev1.Probe{FailureThreshold: 2}, true, []attempt{
			{0, fail, false, S}, {10 * sec, unknown, false, S}, {20 * sec, fail, true, F},
		}, false},
		{"Thresholds/liveness fails after failureThreshold failures in a row and goes on hold", probeLiveness, corev1.Probe{}, false, []attempt{
			{0, fail, false, S}, {10 * sec, fail, false, S}, {20 * sec, ok, false, S},
			{30 * sec, fail, false, S}, {40 * sec, fail, false, S}, {50 * sec, fail, true, F},
		}, true},
		{"Thresholds/liveness success changes nothing", probeLiveness, corev1.Probe{}, false, []attempt{
			{0, ok, false, S}, {10 * sec, ok, false, S},
		}, false},
		{"Thresholds/startup succeeds on the first success and goes on hold", probeStartup, corev1.Probe{}, false, []attempt{
			{0, fail, false, U}, {100 * time.Millisecond, ok, true, S},
		}, true},
		{"Thresholds/startup fast-path failures count once per period", probeStartup, corev1.Probe{PeriodSeconds: 1, FailureThreshold: 3}, false, []attempt{
			{0, fail, false, U}, {100 * time.Millisecond, fail, false, U}, {900 * time.Millisecond, fail, false, U},
			{sec, fail, false, U}, {1500 * time.Millisecond, fail, false, U}, {2 * sec, fail, true, F},
		}, true},
		{"Thresholds/readiness fast-path failures count once per period too", probeReadiness, corev1.Probe{PeriodSeconds: 1, FailureThreshold: 1}, false, []attempt{
			{0, fail, false, F}, {100 * time.Millisecond, fail, false, F}, {sec, fail, false, F}, {1100 * time.Millisecond, ok, true, S},
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newProbeState(tc.kind, probeTimingOf(&tc.probe), tc.resume)
			for i, a := range tc.attempts {
				var changed bool
				s, changed = s.observe(a.outcome, at(a.at))
				if changed != a.changed || s.Result != a.result {
					t.Fatalf("attempt %d at %v: changed %v result %v, want %v %v", i, a.at, changed, s.Result, a.changed, a.result)
				}
			}
			if s.OnHold != tc.onHold {
				t.Fatalf("onHold %v, want %v", s.OnHold, tc.onHold)
			}
		})
	}
}

func TestProbeStateRecordsFailures(t *testing.T) {
	s := newProbeState(probeReadiness, probeTimingOf(&corev1.Probe{}), false)
	s, _ = s.observe(failOutcome, at(0))
	if !s.Failing || s.LastFailure != failOutcome || !s.LastFailureAt.Equal(at(0)) {
		t.Fatalf("failure not recorded: %+v", s)
	}
	s, _ = s.observe(okOutcome, at(time.Second))
	if s.Failing || s.LastFailure != failOutcome {
		t.Fatalf("a success must clear Failing and keep the last failure: %+v", s)
	}
}

func TestProbeNextRun(t *testing.T) {
	period := probeTimingOf(&corev1.Probe{PeriodSeconds: 10})
	ms := time.Millisecond
	fresh := func(kind probeKind) probeState { return newProbeState(kind, period, false) }
	with := func(s probeState, f func(*probeState)) probeState { f(&s); return s }
	for _, tc := range []struct {
		name       string
		state      probeState
		started    time.Duration
		start, end time.Duration
		want       time.Duration
		ok         bool
	}{
		{"Next/readiness that never succeeded runs 100 ms after the attempt ended", fresh(probeReadiness), 0, time.Second, time.Second + 700*ms, time.Second + 800*ms, true},
		{"Next/startup that never succeeded runs 100 ms after the attempt ended", fresh(probeStartup), 0, time.Second, time.Second + 50*ms, time.Second + 150*ms, true},
		{"Next/right after the start the fast path waits 10 ms", fresh(probeReadiness), 0, 0, 3 * ms, 13 * ms, true},
		{"Next/then it waits the container's age, doubling", fresh(probeReadiness), 0, 30 * ms, 40 * ms, 80 * ms, true},
		{"Next/the fast path stretches to 1% of the container's age", fresh(probeReadiness), 0, time.Minute, time.Minute, time.Minute + 600*ms, true},
		{"Next/the fast path never waits more than the period", fresh(probeReadiness), 0, time.Hour, time.Hour, time.Hour + 10*time.Second, true},
		{"Next/readiness that succeeded once runs a period after the attempt started", with(fresh(probeReadiness), func(s *probeState) { s.Succeeded = true }), 0, time.Second, time.Second + 700*ms, 11 * time.Second, true},
		{"Next/liveness runs a period after the attempt started", fresh(probeLiveness), 0, time.Second, time.Second + 700*ms, 11 * time.Second, true},
		{"Next/an attempt longer than the period is followed at once", fresh(probeLiveness), 0, time.Second, 12 * time.Second, 12 * time.Second, true},
		{"Next/an attempt that started a little late keeps its tick", fresh(probeLiveness), 0, time.Second + 20*ms, time.Second + 700*ms, 11 * time.Second, true},
		{"Next/an attempt longer than the period off the grid is followed on the next whole second", fresh(probeLiveness), 0, time.Second, 12*time.Second + 300*ms, 13 * time.Second, true},
		{"Next/an Unknown attempt on the fast path is followed a period later", with(fresh(probeReadiness), func(s *probeState) { s.LastErrored = true }), 0, time.Second, time.Second, 11 * time.Second, true},
		{"Next/a probe on hold makes no more attempts", with(fresh(probeLiveness), func(s *probeState) { s.OnHold = true }), 0, time.Second, time.Second, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.state.next(at(tc.started), at(tc.start), at(tc.end))
			if ok != tc.ok || (ok && !got.Equal(at(tc.want))) {
				t.Fatalf("got %v %v, want %v %v", got.Sub(probeEpoch), ok, tc.want, tc.ok)
			}
		})
	}
}

func TestProbeAlign(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{0, 0}, {time.Second, time.Second}, {time.Second + 49*time.Millisecond, time.Second},
		{time.Second + 51*time.Millisecond, 2 * time.Second}, {1500 * time.Millisecond, 2 * time.Second},
		{999 * time.Millisecond, time.Second},
	} {
		if got := probeAlign(at(tc.in)); !got.Equal(at(tc.want)) {
			t.Errorf("probeAlign(%v) = %v, want %v", tc.in, got.Sub(probeEpoch), tc.want)
		}
	}
}

func TestProbeFirstRun(t *testing.T) {
	timing := probeTimingOf(&corev1.Probe{InitialDelaySeconds: 5, PeriodSeconds: 10})
	readiness := newProbeState(probeReadiness, timing, false)
	liveness := newProbeState(probeLiveness, timing, false)
	spread := probeSpread("c1/liveness", 10*time.Second)
	for _, tc := range []struct {
		name    string
		state   probeState
		started time.Duration
		now     time.Duration
		want    time.Duration
	}{
		{"FirstRun/a new container's readiness probe waits initialDelaySeconds from its start", readiness, 0, 0, 5 * time.Second},
		{"FirstRun/a new container's liveness probe waits a period, as the kubelet's first tick", liveness, 0, 0, 10 * time.Second},
		{"FirstRun/a liveness probe waits initialDelaySeconds when that is longer", newProbeState(probeLiveness, probeTimingOf(&corev1.Probe{InitialDelaySeconds: 30, PeriodSeconds: 10}), false), 0, 0, 30 * time.Second},
		{"FirstRun/a liveness probe released by its startup probe waits a period", liveness, 0, 8 * time.Second, 18 * time.Second},
		{"FirstRun/a probe released after its initial delay runs at once", readiness, 0, 8 * time.Second, 8 * time.Second},
		{"FirstRun/a fast-path probe of an adopted container runs at once", readiness, 0, time.Hour, time.Hour},
		{"FirstRun/a periodic probe of an adopted container is spread within a period, on a whole second", liveness, 0, time.Hour, (time.Hour + spread - probeAlignSlack).Truncate(time.Second) + time.Second},
		{"FirstRun/a liveness probe released off the grid starts on the next whole second", liveness, 0, 8*time.Second + 300*time.Millisecond, 19 * time.Second},
		{"FirstRun/within one period after the initial delay there is no spread", readiness, 0, 14 * time.Second, 14 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := probeFirstRun(tc.state, at(tc.started), at(tc.now), "c1/liveness"); !got.Equal(at(tc.want)) {
				t.Fatalf("got %v, want %v", got.Sub(probeEpoch), tc.want)
			}
		})
	}
	t.Run("FirstRun/the spread is deterministic and within the period", func(t *testing.T) {
		seen := map[time.Duration]bool{}
		for _, key := range []string{"a/liveness", "b/liveness", "c/liveness", "d/readiness"} {
			d := probeSpread(key, 10*time.Second)
			if d < 0 || d >= 10*time.Second || d != probeSpread(key, 10*time.Second) {
				t.Fatalf("spread of %q: %v", key, d)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Fatalf("spreads do not differ: %v", seen)
		}
	})
}
