package daemon

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// probeDefaultWorkers is the size of the attempt pool when newProbeManager
// is given none.
const probeDefaultWorkers = 4

// probeUpdate tells the daemon that a thresholded probe result of a
// container changed.
type probeUpdate struct {
	// Pod and Container name the container; ContainerID is the container
	// instance the result belongs to (ignore an update for an ID that is no
	// longer current).
	Pod, Container, ContainerID string
	// Kind is the probe whose result changed:
	//   - probeReadiness: the container's readiness changed; Result is the
	//     new readiness, as state reports it (it also turns true when a
	//     container without a readiness probe passes its startup probe).
	//   - probeLiveness: the liveness probe failed failureThreshold times in
	//     a row; Result is false and the container must be restarted. It is
	//     sent once per container instance.
	//   - probeStartup: the startup probe succeeded (Result true: the
	//     container has started and its other probes begin) or failed
	//     failureThreshold times (Result false: restart the container).
	Kind probeKind
	// Result is the new result.
	Result bool
	// Outcome is the attempt that decided it; its Message is the reason to
	// show in an event, e.g. "Liveness probe failed: " + Message.
	Outcome probeOutcome
	// At is when that attempt ended.
	At time.Time
}

// probeManager runs the probes of every container of every pod.
//
// It holds no goroutine per pod, container or probe: each probe has at most
// one clock timer (clock.AfterFunc) for its next attempt, and a due timer
// only queues the attempt for a small pool of workers (at most the number
// given to newProbeManager). Workers are started when attempts are queued
// and exit as soon as the queue is empty, so an idle manager holds timers
// and no goroutine at all; 100 pods with a 10 s period cost some 10 short
// attempts a second. One probe never has two attempts at once: its next
// timer is set when its attempt ends.
//
// Timing and counting follow probe_state.go: first attempt at container
// start + initialDelaySeconds, then every periodSeconds, with the fast path
// (100 ms after the previous attempt ended) until a readiness or startup
// probe first succeeds; successThreshold and failureThreshold as in
// Kubernetes; readiness and liveness do not run before the startup probe
// succeeded.
//
// Readiness, as state reports it, is false until the container has started
// (no startup probe, or the startup probe succeeded) and then the readiness
// probe's result (false until it succeeds), or true when the container has
// no readiness probe: a container without any probe is Ready as soon as it
// is added, with no update sent, as the kubelet marks it Ready once it
// runs. The manager knows nothing of exits: the daemon calls remove when a
// container stops.
//
// notify is called with every probeUpdate, one at a time, in the order the
// results changed, from a worker and never with the manager's lock held. It
// must not block: the daemon's callback only records the update and
// enqueues the pod for the reconcile loop. It may call the manager's
// methods, except close (which waits for it). While it runs, the other
// workers go on probing.
//
// All methods are safe for concurrent use.
type probeManager struct {
	clock      clock
	prober     *prober
	notify     func(probeUpdate)
	maxWorkers int
	ctx        context.Context // canceled by close, ends in-flight attempts
	cancel     context.CancelFunc
	wg         sync.WaitGroup // the workers

	mu          sync.Mutex
	containers  map[probeKey]*probedContainer
	queue       []*probeTask // due attempts, oldest first
	workers     int          // workers alive
	running     int          // attempts in progress
	delivering  bool         // a worker is calling notify
	outbox      []probeUpdate
	closed      bool
	idle        chan struct{} // closed when workers drops to 0
	peakWorkers int           // the most workers alive at once, for tests

	// observe, when set (before the first add; nil: not measured), is
	// told of every attempt that was not canceled, from the worker that
	// ran it, without the lock. It must be quick.
	observe func(kind probeKind, p *corev1.Probe, out probeOutcome, took time.Duration)
}

// probeKey names a container of a pod.
type probeKey struct{ pod, container string }

// probedContainer is one container instance and its probes.
type probedContainer struct {
	key       probeKey
	id        string
	target    probeTarget // never changed after add
	startedAt time.Time
	readiness *probeTask // nil when the container has no such probe
	liveness  *probeTask
	startup   *probeTask
}

// probeTask is one probe of one container instance.
type probeTask struct {
	c       *probedContainer
	spec    *corev1.Probe // a copy, never changed
	state   probeState
	timer   timer              // the pending next attempt, if any
	gen     uint64             // bumped on every timer, so a stale one does nothing
	cancel  context.CancelFunc // of the attempt in flight, if any
	stopped bool               // removed: no more attempts, results dropped
}

// newProbeManager returns a manager that reads time from c, runs exec probes
// through ex, reports changes to notify and runs at most workers attempts at
// once (probeDefaultWorkers when workers <= 0). It starts no goroutine.
// Call close to stop it.
func newProbeManager(c clock, ex probeExecer, notify func(probeUpdate), workers int) *probeManager {
	if workers <= 0 {
		workers = probeDefaultWorkers
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &probeManager{
		clock:      c,
		prober:     newProber(ex),
		notify:     notify,
		maxWorkers: workers,
		ctx:        ctx,
		cancel:     cancel,
		containers: make(map[probeKey]*probedContainer),
	}
}

// add starts probing container of pod, the running instance containerID
// built from spec (which must not be nil; its probes are copied). target
// gives the pod IP; its ContainerID is set to containerID, and its Ports and
// Env default to spec's. startedAt is when the instance started: an adopted
// container keeps its original start, so initialDelaySeconds are not
// waited again. ready is the readiness to resume with after a daemon
// restart: true means the container was Ready, so its readiness starts as
// success (and its startup probe as passed) until a probe actually fails;
// a new container passes false.
//
// add is idempotent per containerID: adding the same instance again changes
// nothing. A new containerID for the same pod and container replaces the
// old instance's probes, whose results are dropped. After add, state gives
// the initial readiness; notify only reports changes. add after close does
// nothing.
func (m *probeManager) add(pod, container, containerID string, spec *corev1.Container, target probeTarget, startedAt time.Time, ready bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	key := probeKey{pod: pod, container: container}
	if old := m.containers[key]; old != nil {
		if old.id == containerID {
			return
		}
		m.stopContainer(old)
	}
	target.ContainerID = containerID
	if target.Ports == nil {
		target.Ports = spec.Ports
	}
	if target.Env == nil {
		target.Env = spec.Env
	}
	c := &probedContainer{key: key, id: containerID, target: target, startedAt: startedAt}
	c.startup = newProbeTask(c, probeStartup, spec.StartupProbe, ready)
	c.readiness = newProbeTask(c, probeReadiness, spec.ReadinessProbe, ready)
	c.liveness = newProbeTask(c, probeLiveness, spec.LivenessProbe, ready)
	m.containers[key] = c

	now := m.clock.Now()
	for _, t := range c.tasks() {
		if t.state.OnHold || (t.state.Kind != probeStartup && !c.started()) {
			continue // done, or waiting for the startup probe
		}
		m.arm(t, probeFirstRun(t.state, startedAt, now, t.key()))
	}
}

// newProbeTask returns the task of probe p of kind for c, or nil when p is
// nil.
func newProbeTask(c *probedContainer, kind probeKind, p *corev1.Probe, ready bool) *probeTask {
	if p == nil {
		return nil
	}
	spec := p.DeepCopy()
	return &probeTask{c: c, spec: spec, state: newProbeState(kind, probeTimingOf(spec), ready)}
}

// remove stops probing container of pod: its timers are stopped, an attempt
// in flight is canceled and its result dropped. It is idempotent.
func (m *probeManager) remove(pod, container string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := probeKey{pod: pod, container: container}
	if c := m.containers[key]; c != nil {
		m.stopContainer(c)
		delete(m.containers, key)
	}
}

// removePod stops probing every container of pod, as remove does. It is
// idempotent.
func (m *probeManager) removePod(pod string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, c := range m.containers {
		if key.pod == pod {
			m.stopContainer(c)
			delete(m.containers, key)
		}
	}
}

// terminating stops the liveness and startup probes of every container of
// pod, which is shutting down, so that a container being stopped is not
// also restarted (the kubelet stops them too once a pod's deletion is
// requested). Readiness probes go on until remove; results already known
// stay as they are. It is idempotent.
func (m *probeManager) terminating(pod string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, c := range m.containers {
		if key.pod != pod {
			continue
		}
		for _, t := range []*probeTask{c.liveness, c.startup} {
			if t != nil {
				t.stop()
			}
		}
	}
}

// state returns what the probes of container of pod say now: whether it is
// ready and started (see probeManager), and lastFailure, the last failed
// attempt of the probe that holds the container back: its startup probe
// while it has not started, else its readiness probe while it is not ready,
// else its liveness probe; lastFailure is zero when that probe's latest
// attempt succeeded. So "startup" when !started, else "readiness" when
// !ready, names the probe, for describe: "Readiness probe failed: " +
// lastFailure.Message. A container that is not being probed is neither
// ready nor started.
func (m *probeManager) state(pod, container string) (ready, started bool, lastFailure probeOutcome) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.containers[probeKey{pod: pod, container: container}]
	if c == nil {
		return false, false, probeOutcome{}
	}
	ready, started = c.ready(), c.started()
	t := c.liveness
	switch {
	case !started:
		t = c.startup
	case !ready:
		t = c.readiness
	}
	if t != nil && t.state.Failing {
		lastFailure = t.state.LastFailure
	}
	return ready, started, lastFailure
}

// close stops every probe, cancels the attempts in flight, drops their
// results and the notifications not yet delivered, and waits for the
// workers to exit (so it waits for a notify call in progress). The manager
// does nothing after it. It is idempotent.
func (m *probeManager) close() {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		for key, c := range m.containers {
			m.stopContainer(c)
			delete(m.containers, key)
		}
		m.queue, m.outbox = nil, nil
		m.cancel()
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// quiesce returns a channel that is closed once no worker is alive: every
// queued attempt has run and every update it caused has been delivered. With
// a fake clock, tests wait on it after Advance instead of sleeping.
func (m *probeManager) quiesce() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.workers == 0 {
		done := make(chan struct{})
		close(done)
		return done
	}
	if m.idle == nil {
		m.idle = make(chan struct{})
	}
	return m.idle
}

// stopContainer stops every probe of c. m.mu must be held.
func (m *probeManager) stopContainer(c *probedContainer) {
	for _, t := range c.tasks() {
		t.stop()
	}
}

// arm sets t's timer for an attempt at at (at once when at has passed).
// m.mu must be held.
func (m *probeManager) arm(t *probeTask, at time.Time) {
	if t.timer != nil {
		t.timer.Stop()
	}
	t.gen++
	gen := t.gen
	d := at.Sub(m.clock.Now())
	if d < 0 {
		d = 0
	}
	t.timer = m.clock.AfterFunc(d, func() { m.fire(t, gen) })
}

// fire queues the attempt of t that timer generation gen was set for, and
// starts a worker if every worker is busy and the pool is not full.
func (m *probeManager) fire(t *probeTask, gen uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || t.stopped || t.gen != gen {
		return
	}
	t.timer = nil
	m.queue = append(m.queue, t)
	free := m.workers - m.running
	if m.delivering {
		free--
	}
	if free < len(m.queue) && m.workers < m.maxWorkers {
		m.workers++
		m.peakWorkers = max(m.peakWorkers, m.workers)
		m.wg.Add(1)
		go m.work()
	}
}

// work is a worker: it delivers pending updates (one worker at a time, so
// they keep their order) and runs queued attempts until there is nothing
// left, then exits.
func (m *probeManager) work() {
	defer m.wg.Done()
	m.mu.Lock()
	for !m.closed {
		if len(m.outbox) > 0 && !m.delivering {
			m.deliver()
			continue
		}
		t := m.pop()
		if t == nil {
			break
		}
		m.attempt(t)
	}
	m.workers--
	if m.workers == 0 && m.idle != nil {
		close(m.idle)
		m.idle = nil
	}
	m.mu.Unlock()
}

// pop returns the oldest queued attempt of a probe still running, or nil.
// m.mu must be held.
func (m *probeManager) pop() *probeTask {
	for len(m.queue) > 0 {
		t := m.queue[0]
		m.queue[0] = nil
		m.queue = m.queue[1:]
		if !t.stopped {
			return t
		}
	}
	m.queue = nil // drop the backing array of a drained queue
	return nil
}

// deliver calls notify with the pending updates, without the lock. m.mu
// must be held; it is held again on return.
func (m *probeManager) deliver() {
	m.delivering = true
	batch := m.outbox
	m.outbox = nil
	m.mu.Unlock()
	for _, u := range batch {
		m.notify(u)
	}
	m.mu.Lock()
	m.delivering = false
}

// attempt runs one attempt of t without the lock and records it. m.mu must
// be held; it is held again on return.
func (m *probeManager) attempt(t *probeTask) {
	ctx, cancel := context.WithCancel(m.ctx)
	t.cancel = cancel
	m.running++
	spec, target, kind := t.spec, t.c.target, t.state.Kind
	start := m.clock.Now()
	m.mu.Unlock()

	out := m.prober.runProbe(ctx, spec, target)
	if m.observe != nil && ctx.Err() == nil {
		m.observe(kind, spec, out, m.clock.Now().Sub(start))
	}
	cancel()

	m.mu.Lock()
	m.running--
	t.cancel = nil
	if !t.stopped && !m.closed {
		m.record(t, out, start, m.clock.Now())
	}
}

// record applies the outcome of an attempt of t that ran from start to end:
// the new state, the updates it causes, the probes a startup success
// releases, and t's next attempt. m.mu must be held.
func (m *probeManager) record(t *probeTask, out probeOutcome, start, end time.Time) {
	c := t.c
	wasReady := c.ready()
	s, changed := t.state.observe(out, start)
	t.state = s
	if changed {
		switch {
		case s.Kind == probeStartup:
			m.outbox = append(m.outbox, c.update(probeStartup, s.Result == probeResultSuccess, out, end))
			if s.Result == probeResultSuccess {
				for _, gated := range []*probeTask{c.readiness, c.liveness} {
					if gated != nil && !gated.stopped {
						m.arm(gated, probeFirstRun(gated.state, c.startedAt, end, gated.key()))
					}
				}
			}
		case s.Kind == probeLiveness && s.Result == probeResultFailure:
			m.outbox = append(m.outbox, c.update(probeLiveness, false, out, end))
		}
	}
	if ready := c.ready(); ready != wasReady {
		m.outbox = append(m.outbox, c.update(probeReadiness, ready, out, end))
	}
	if at, ok := s.next(c.startedAt, start, end); ok {
		m.arm(t, at)
	}
}

// stop ends t: no more attempts, the one in flight is canceled and its
// result will be dropped. The lock of t's manager must be held.
func (t *probeTask) stop() {
	t.stopped = true
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	if t.cancel != nil {
		t.cancel()
	}
}

// key identifies t among all probes, for probeFirstRun's spread.
func (t *probeTask) key() string {
	return t.c.id + "/" + string(t.state.Kind)
}

// tasks returns c's probes, startup first.
func (c *probedContainer) tasks() []*probeTask {
	tasks := make([]*probeTask, 0, 3)
	for _, t := range []*probeTask{c.startup, c.readiness, c.liveness} {
		if t != nil {
			tasks = append(tasks, t)
		}
	}
	return tasks
}

// started reports whether c has started: it has no startup probe, or that
// probe succeeded.
func (c *probedContainer) started() bool {
	return c.startup == nil || c.startup.state.Result == probeResultSuccess
}

// ready reports whether c is ready: started, and its readiness probe, if it
// has one, succeeds.
func (c *probedContainer) ready() bool {
	return c.started() && (c.readiness == nil || c.readiness.state.Result == probeResultSuccess)
}

// update returns an update of c.
func (c *probedContainer) update(kind probeKind, result bool, out probeOutcome, at time.Time) probeUpdate {
	return probeUpdate{
		Pod:         c.key.pod,
		Container:   c.key.container,
		ContainerID: c.id,
		Kind:        kind,
		Result:      result,
		Outcome:     out,
		At:          at,
	}
}
