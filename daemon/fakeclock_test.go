package daemon

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that only moves when a test moves it. Timers fire in
// Advance, in the order of their due times (then of their creation), each
// with Now set to its due time, one after another on the goroutine that
// calls Advance and without the fake's lock held, so a callback may use the
// clock (set timers, read Now). A callback that blocks blocks Advance.
// AfterFunc never calls f itself, even for d <= 0: such a timer fires on the
// next Advance (Advance(0) will do). It is safe for concurrent use.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers []*fakeTimer // pending, in no order
}

// fakeTimer is a pending AfterFunc call of a fakeClock.
type fakeTimer struct {
	clock *fakeClock
	when  time.Time
	seq   uint64
	f     func()
}

var _ clock = (*fakeClock)(nil)

// newFakeClock returns a fake clock reading now.
func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now}
}

// Now returns the fake time.
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f for Now()+d; see fakeClock.
func (c *fakeClock) AfterFunc(d time.Duration, f func()) timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{clock: c, when: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Stop removes the timer; it reports whether it was still pending.
func (t *fakeTimer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.timers {
		if p == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			return true
		}
	}
	return false
}

// Advance moves the clock d forward, firing every timer that falls due on
// the way, timers set by those callbacks included, in time order.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	c.AdvanceTo(target)
}

// AdvanceTo moves the clock to target (never backwards), firing timers as
// Advance does.
func (c *fakeClock) AdvanceTo(target time.Time) {
	for {
		c.mu.Lock()
		i := c.earliest()
		if i < 0 || c.timers[i].when.After(target) {
			if target.After(c.now) {
				c.now = target
			}
			c.mu.Unlock()
			return
		}
		t := c.timers[i]
		c.timers = append(c.timers[:i], c.timers[i+1:]...)
		if t.when.After(c.now) {
			c.now = t.when
		}
		c.mu.Unlock()
		t.f()
	}
}

// Pending returns how many timers are waiting to fire.
func (c *fakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// NextAt returns when the earliest pending timer falls due; ok is false
// when none is pending.
func (c *fakeClock) NextAt() (at time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := c.earliest()
	if i < 0 {
		return time.Time{}, false
	}
	return c.timers[i].when, true
}

// earliest returns the index of the timer to fire first, or -1. c.mu must
// be held.
func (c *fakeClock) earliest() int {
	best := -1
	for i, t := range c.timers {
		if best < 0 || t.when.Before(c.timers[best].when) ||
			(t.when.Equal(c.timers[best].when) && t.seq < c.timers[best].seq) {
			best = i
		}
	}
	return best
}

func TestFakeClock(t *testing.T) {
	t.Run("FakeClock/Advance fires due timers in time order, then creation order, with Now at each due time", func(t *testing.T) {
		c := newFakeClock(probeEpoch)
		var got []string
		record := func(name string) func() {
			return func() { got = append(got, name+"@"+c.Now().Sub(probeEpoch).String()) }
		}
		c.AfterFunc(3*time.Second, record("c"))
		c.AfterFunc(time.Second, record("a"))
		c.AfterFunc(time.Second, record("b"))
		c.AfterFunc(5*time.Second, record("late"))
		c.Advance(4 * time.Second)
		if want := "[a@1s b@1s c@3s]"; fmt.Sprint(got) != want {
			t.Fatalf("fired %v, want %s", got, want)
		}
		if !c.Now().Equal(probeEpoch.Add(4*time.Second)) || c.Pending() != 1 {
			t.Fatalf("now %v pending %d", c.Now(), c.Pending())
		}
		if at, ok := c.NextAt(); !ok || !at.Equal(probeEpoch.Add(5*time.Second)) {
			t.Fatalf("next %v %v", at, ok)
		}
	})
	t.Run("FakeClock/a timer set by a callback fires in the same Advance when due", func(t *testing.T) {
		c := newFakeClock(probeEpoch)
		n := 0
		var tick func()
		tick = func() { n++; c.AfterFunc(time.Second, tick) }
		c.AfterFunc(time.Second, tick)
		c.Advance(10 * time.Second)
		if n != 10 || c.Pending() != 1 {
			t.Fatalf("ticked %d times, %d pending", n, c.Pending())
		}
	})
	t.Run("FakeClock/Stop prevents the call once", func(t *testing.T) {
		c := newFakeClock(probeEpoch)
		fired := false
		tm := c.AfterFunc(0, func() { fired = true })
		if !tm.Stop() || tm.Stop() {
			t.Fatal("Stop must report true once")
		}
		c.Advance(time.Hour)
		if fired || c.Pending() != 0 {
			t.Fatal("a stopped timer fired")
		}
	})
	t.Run("FakeClock/AfterFunc never calls f itself; Advance(0) fires a zero timer", func(t *testing.T) {
		c := newFakeClock(probeEpoch)
		fired := false
		c.AfterFunc(0, func() { fired = true })
		if fired {
			t.Fatal("fired in AfterFunc")
		}
		c.Advance(0)
		if !fired {
			t.Fatal("Advance(0) did not fire it")
		}
	})
}
