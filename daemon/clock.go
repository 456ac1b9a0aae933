package daemon

import "time"

// clock is the daemon's source of time. Everything that waits or stamps
// time takes one, so that tests drive time with a fake instead of sleeping.
type clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has elapsed, unless the
	// returned timer is stopped first.
	AfterFunc(d time.Duration, f func()) timer
}

// timer is a pending AfterFunc call.
type timer interface {
	// Stop prevents the call; it reports whether it did (false when the
	// call already ran or was stopped).
	Stop() bool
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) timer { return time.AfterFunc(d, f) }
