package daemon

import (
	"sync"
	"time"
)

// queue is a work queue of keys in the manner of client-go's workqueue: a
// key added many times before a worker takes it is processed once, a key is
// never processed by two workers at once, and a key added while it is
// being processed is processed again afterwards. It is what makes the
// reconcile loops level-triggered: an event only says "look again".
//
// queue is safe for concurrent use. Delayed adds use the clock's timers, so
// no goroutine waits for them.
type queue struct {
	clock clock

	mu         sync.Mutex
	cond       *sync.Cond
	order      []string         // keys waiting, oldest first
	waiting    map[string]bool  // keys in order
	processing map[string]bool  // keys a worker holds
	redo       map[string]bool  // keys added while being processed
	timers     map[string]timer // pending delayed adds, the earliest per key
	due        map[string]time.Time
	pings      []func() // called when a worker next takes pingKey
	closed     bool
}

// pingKey stands in the queue for the pings; it is no "namespace/name".
const pingKey = "\x00ping"

func newQueue(c clock) *queue {
	q := &queue{
		clock:      c,
		waiting:    map[string]bool{},
		processing: map[string]bool{},
		redo:       map[string]bool{},
		timers:     map[string]timer{},
		due:        map[string]time.Time{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add makes key due now.
func (q *queue) add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(key)
}

func (q *queue) addLocked(key string) {
	if q.closed {
		return
	}
	if q.processing[key] {
		q.redo[key] = true
		return
	}
	if q.waiting[key] {
		return
	}
	q.waiting[key] = true
	q.order = append(q.order, key)
	q.cond.Signal()
}

// addAt makes key due at t (now if t is not in the future). Of several
// pending delayed adds of one key only the earliest is kept.
func (q *queue) addAt(key string, t time.Time) {
	d := t.Sub(q.clock.Now())
	if d <= 0 {
		q.add(key)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if prev, ok := q.due[key]; ok && !t.Before(prev) {
		return
	}
	if old, ok := q.timers[key]; ok {
		old.Stop()
	}
	q.due[key] = t
	q.timers[key] = q.clock.AfterFunc(d, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.due[key].Equal(t) {
			delete(q.due, key)
			delete(q.timers, key)
		}
		q.addLocked(key)
	})
}

// ping has fn called by the next worker that takes a key after the keys
// queued now: a worker calling get proves the loop is not wedged (the
// systemd watchdog). fn must not block.
func (q *queue) ping(fn func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.pings = append(q.pings, fn)
	q.addLocked(pingKey)
}

// get blocks until a key is due and hands it to the caller, who must call
// done with it. It returns false once the queue is closed.
func (q *queue) get() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		for len(q.order) == 0 && !q.closed {
			q.cond.Wait()
		}
		if q.closed {
			return "", false
		}
		key := q.order[0]
		q.order = q.order[1:]
		delete(q.waiting, key)
		if key == pingKey {
			for _, fn := range q.pings {
				fn()
			}
			q.pings = nil
			continue
		}
		q.processing[key] = true
		return key, true
	}
}

// done releases key; if it was added while being processed it is queued
// again.
func (q *queue) done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, key)
	if q.redo[key] {
		delete(q.redo, key)
		q.addLocked(key)
	}
}

// close wakes every waiting get, which then returns false, and stops the
// delayed adds.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	for k, t := range q.timers {
		t.Stop()
		delete(q.timers, k)
	}
	q.cond.Broadcast()
}
