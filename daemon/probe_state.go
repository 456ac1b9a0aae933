package daemon

import (
	"hash/fnv"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The rules of this file are pure: time is an argument, nothing is read
// from a clock and no state is changed in place. probeManager applies them.
//
// They are the kubelet's (pkg/kubelet/prober/worker.go) with one addition,
// the fast path:
//
//   - A probe's first attempt is at container start + initialDelaySeconds;
//     then one attempt starts periodSeconds after the previous one started
//     (the kubelet's worker ticks at periodSeconds), or as soon as it ended
//     when it took longer than that. Never two attempts of one probe at once.
//   - Readiness and liveness do not run before the startup probe, if any,
//     has succeeded; their first attempt is then at container start +
//     initialDelaySeconds, or at once if that has passed.
//   - Fast path: until a readiness or startup probe has had one successful
//     attempt for this container, its next attempt starts 100 ms after the
//     previous one ended, so a pod is seen Ready (and the next ordinal of an
//     OrderedReady set is created) within about 100 ms of the moment it
//     can serve, not up to periodSeconds later. Since the pause starts when
//     the previous attempt ended, attempts never overlap however long
//     timeoutSeconds is. The startup probe is on the fast path too because
//     it gates readiness: on its period it would pace an ordered start just
//     as much. The 100 ms stretch to 1% of the container's age (600 ms for
//     a container up for a minute), never beyond periodSeconds, so a
//     container that never becomes Ready is not probed ten times a second
//     forever.
//   - On the fast path a failed attempt counts towards failureThreshold only
//     if periodSeconds have passed since the last failure that counted: a
//     startup probe still gives a slow container failureThreshold ×
//     periodSeconds to start, as in Kubernetes, and is not killed by a burst
//     of quick failures. Successes always count, so successThreshold keeps
//     its meaning too: after the first success the probe is on its normal
//     period, and with successThreshold N it takes N-1 more periods.
//   - Liveness is never on the fast path: it only ever confirms what is
//     already assumed.
//   - An attempt that could not be made (probeOutcome.Unknown) counts for
//     nothing, as in the kubelet, and is followed by periodSeconds, not by
//     the fast path.
//   - Off the fast path, attempts start on whole seconds of the clock
//     (probeTick): the kubelet's workers tick at arbitrary phases, setlet's
//     share one-second ticks, so that a hundred probes every 10 s wake the
//     daemon ten times a second at most, and usually once, instead of a
//     hundred times. Waking an idle process costs more than the probe
//     itself (measured: about 800 µs of CPU for one HTTP probe after a
//     sleep, 240 µs each for ten together). Periods are whole seconds, so
//     an aligned probe stays aligned and keeps its exact period; the first
//     aligned attempt is less than a second later than it would be.

// probeKind names one of the three probes of a container.
type probeKind string

const (
	// probeReadiness is the readinessProbe: the container is Ready while it
	// succeeds.
	probeReadiness probeKind = "readiness"
	// probeLiveness is the livenessProbe: the container is restarted when
	// it fails.
	probeLiveness probeKind = "liveness"
	// probeStartup is the startupProbe: readiness and liveness wait until
	// it succeeds, and the container is restarted when it fails.
	probeStartup probeKind = "startup"
)

// The Kubernetes defaults of the probe timing fields, and the fast path.
const (
	probeDefaultPeriod           = 10 * time.Second
	probeDefaultTimeout          = 1 * time.Second
	probeDefaultSuccessThreshold = 1
	probeDefaultFailureThreshold = 3
	// probeFastInterval is the pause between the end of an attempt and the
	// start of the next one on the fast path, for a young container.
	probeFastInterval = 100 * time.Millisecond
	// probeFastFirst is the pause right after a container starts: most
	// servers listen within milliseconds of their start, so the fast path
	// begins at 10 ms and the pause then equals the container's age, which
	// doubles it (10, 20, 40, 80 ms) up to probeFastInterval. An ordered
	// start of many replicas then waits milliseconds, not a tenth of a
	// second, per replica.
	probeFastFirst = 10 * time.Millisecond
	// probeFastAgeDivisor stretches the fast path's pause to the container's
	// age divided by it (1%), once that is more than probeFastInterval.
	probeFastAgeDivisor = 100
)

// probeTiming is a probe's timing fields, with the Kubernetes defaults in
// place of unset (zero or negative) values.
type probeTiming struct {
	InitialDelay     time.Duration
	Period           time.Duration
	Timeout          time.Duration
	SuccessThreshold int
	FailureThreshold int
}

// probeTimingOf returns the timing of p with defaults applied:
// initialDelaySeconds 0, periodSeconds 10, timeoutSeconds 1,
// successThreshold 1, failureThreshold 3.
func probeTimingOf(p *corev1.Probe) probeTiming {
	t := probeTiming{
		Period:           probeDefaultPeriod,
		Timeout:          probeDefaultTimeout,
		SuccessThreshold: probeDefaultSuccessThreshold,
		FailureThreshold: probeDefaultFailureThreshold,
	}
	if p.InitialDelaySeconds > 0 {
		t.InitialDelay = time.Duration(p.InitialDelaySeconds) * time.Second
	}
	if p.PeriodSeconds > 0 {
		t.Period = time.Duration(p.PeriodSeconds) * time.Second
	}
	if p.TimeoutSeconds > 0 {
		t.Timeout = time.Duration(p.TimeoutSeconds) * time.Second
	}
	if p.SuccessThreshold > 0 {
		t.SuccessThreshold = int(p.SuccessThreshold)
	}
	if p.FailureThreshold > 0 {
		t.FailureThreshold = int(p.FailureThreshold)
	}
	return t
}

// probeResult is a thresholded result, as the kubelet's results manager
// holds it.
type probeResult int8

const (
	// probeResultUnknown is the startup probe's result until it succeeds or
	// fails for good.
	probeResultUnknown probeResult = iota
	// probeResultSuccess means the probe passes.
	probeResultSuccess
	// probeResultFailure means the probe fails.
	probeResultFailure
)

// probeState is what one probe of one container has seen so far. Build it
// with newProbeState; observe returns the next one.
type probeState struct {
	// Kind is which probe this is.
	Kind probeKind
	// Timing is the probe's timing, defaults applied.
	Timing probeTiming
	// Result is the thresholded result. It starts as the kubelet's initial
	// value: readiness Failure, liveness Success, startup Unknown.
	Result probeResult
	// Succeeded reports that an attempt has succeeded for this container,
	// which ends the fast path.
	Succeeded bool
	// OnHold reports that the probe makes no more attempts for this
	// container: a liveness probe that failed, a startup probe that reached
	// its result (the container will be restarted, or it has started).
	OnHold bool
	// Failing reports that the last attempt did not succeed.
	Failing bool
	// LastFailure is the outcome of the last attempt that did not succeed,
	// and LastFailureAt when it started.
	LastFailure   probeOutcome
	LastFailureAt time.Time
	// LastErrored reports that the last attempt was Unknown.
	LastErrored bool

	// lastOK and run are the kubelet's lastResult and resultRun: the last
	// counted raw result and how many times in a row it came.
	lastOK bool
	run    int
	// counted is when the last counted failure started (fast path).
	counted time.Time
}

// newProbeState returns the state of a probe of kind and timing t for a
// container that has just been handed to the prober. resumeReady is the
// readiness the daemon knew before it restarted: when it is true the
// container had passed its probes, so a readiness probe starts as Success
// off the fast path and a startup probe as succeeded, instead of at the
// kubelet's initial values.
func newProbeState(kind probeKind, t probeTiming, resumeReady bool) probeState {
	s := probeState{Kind: kind, Timing: t}
	switch kind {
	case probeReadiness:
		s.Result = probeResultFailure
		if resumeReady {
			s.Result, s.Succeeded, s.lastOK, s.run = probeResultSuccess, true, true, t.SuccessThreshold
		}
	case probeLiveness:
		s.Result = probeResultSuccess
	case probeStartup:
		s.Result = probeResultUnknown
		if resumeReady {
			s.Result, s.Succeeded, s.OnHold = probeResultSuccess, true, true
		}
	}
	return s
}

// fastPath reports whether the probe's next attempt follows the fast path.
func (s probeState) fastPath() bool {
	return (s.Kind == probeReadiness || s.Kind == probeStartup) && !s.Succeeded
}

// observe returns the state after an attempt that started at start with
// outcome o, and whether the thresholded Result changed. It counts as
// the kubelet's worker does: consecutive equal results, and the Result
// changes once a run reaches successThreshold or failureThreshold; a
// liveness probe that turns Failure and a startup probe that reaches either
// result go on hold, and their run restarts. On the fast path a failure
// counts only when a period has passed since the last one that counted. An
// Unknown outcome counts for nothing.
func (s probeState) observe(o probeOutcome, start time.Time) (probeState, bool) {
	s.LastErrored = o.Unknown
	if !o.OK {
		s.Failing = true
		s.LastFailure, s.LastFailureAt = o, start
	} else {
		s.Failing = false
	}
	if o.Unknown {
		return s, false
	}
	if !o.OK && s.fastPath() {
		if !s.counted.IsZero() && start.Sub(s.counted) < s.Timing.Period {
			return s, false
		}
		s.counted = start
	}
	if o.OK {
		s.Succeeded = true
	}
	if s.run > 0 && s.lastOK == o.OK {
		s.run++
	} else {
		s.lastOK, s.run = o.OK, 1
	}
	threshold, result := s.Timing.FailureThreshold, probeResultFailure
	if o.OK {
		threshold, result = s.Timing.SuccessThreshold, probeResultSuccess
	}
	if s.run < threshold {
		return s, false
	}
	changed := s.Result != result
	s.Result = result
	if (s.Kind == probeLiveness && !o.OK) || s.Kind == probeStartup {
		s.OnHold, s.run = true, 0
	}
	return s, changed
}

// next returns when the attempt after one that ran from start to end should
// start, for a container started at startedAt; ok is false when the probe is
// on hold and makes no more attempts. See the rules at the top of this file.
func (s probeState) next(startedAt, start, end time.Time) (at time.Time, ok bool) {
	if s.OnHold {
		return time.Time{}, false
	}
	if s.fastPath() && !s.LastErrored {
		return end.Add(probeFastPause(s.Timing.Period, startedAt, end)), true
	}
	at = start.Add(s.Timing.Period)
	if at.Before(end) {
		at = end
	}
	return probeAlign(at), true
}

// probeTick is the grid probes off the fast path start on.
const probeTick = time.Second

// probeAlignSlack is how late an attempt may start, after the tick it was
// due on, and still count as on that tick: the next one is then a period
// after the tick, not a tick later.
const probeAlignSlack = 50 * time.Millisecond

// probeAlign returns the first whole second (probeTick) at or after t, t
// counted probeAlignSlack early.
func probeAlign(t time.Time) time.Time {
	return t.Add(-probeAlignSlack).Truncate(probeTick).Add(probeTick)
}

// probeFastPause is the pause after an attempt that ended at end on the fast
// path of a container started at startedAt: the container's age, between
// probeFastFirst and probeFastInterval, or 1% of its age when that is
// longer; never more than period.
func probeFastPause(period time.Duration, startedAt, end time.Time) time.Duration {
	age := end.Sub(startedAt)
	pause := min(max(age, probeFastFirst), probeFastInterval)
	if slow := age / probeFastAgeDivisor; slow > pause {
		pause = slow
	}
	if pause > period {
		pause = period
	}
	return pause
}

// probeFirstRun returns when the first attempt of a probe of timing t and
// state s should start, for a container started at startedAt, when the
// probe becomes runnable at now: when it is added, or, for a readiness or
// liveness probe behind a startup probe, when the startup probe succeeds.
//
// A readiness or startup probe runs at startedAt + initialDelay, or now
// when that has passed. A liveness probe also waits a period from now, as
// the kubelet's liveness worker first finds the container running on its
// first tick: a liveness probe that ran the instant its server starts
// would kill containers that are merely slow to listen.
//
// key identifies the probe (container ID and kind): a probe off the fast
// path that becomes runnable more than one period after its initial delay
// ended (typically a container the daemon adopted after a restart) starts
// at now plus a spread in [0, period) derived from key, so that the probes
// of adopted containers do not all fire at once and stay apart afterwards,
// as the kubelet spreads its workers after a restart.
func probeFirstRun(s probeState, startedAt, now time.Time, key string) time.Time {
	at := startedAt.Add(s.Timing.InitialDelay)
	if !s.fastPath() && at.Add(s.Timing.Period).Before(now) {
		return probeAlign(now.Add(probeSpread(key, s.Timing.Period)))
	}
	if s.Kind == probeLiveness {
		if first := now.Add(s.Timing.Period); at.Before(first) {
			at = first
		}
	}
	if at.Before(now) {
		at = now
	}
	if !s.fastPath() {
		return probeAlign(at)
	}
	return at
}

// probeSpread returns a duration in [0, period) derived from key alone.
func probeSpread(key string, period time.Duration) time.Duration {
	if period <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return time.Duration(h.Sum64() % uint64(period))
}
