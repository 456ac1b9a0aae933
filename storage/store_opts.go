package storage

import (
	"path/filepath"
	"time"
)

// Default option values.
const (
	// DefaultLockTimeout is how long Open waits for the file lock unless
	// WithLockTimeout says otherwise.
	DefaultLockTimeout = 500 * time.Millisecond
	// DefaultEventLimit is how many events the store keeps unless
	// WithEventLimit says otherwise.
	DefaultEventLimit = 1000
)

// Opt configures a Store in Open.
type Opt func(*options)

type options struct {
	now         func() time.Time
	lockTimeout time.Duration
	eventLimit  int
	volumeDir   string
}

func defaultOptions(path string) options {
	return options{
		now:         time.Now,
		lockTimeout: DefaultLockTimeout,
		eventLimit:  DefaultEventLimit,
		volumeDir:   filepath.Join(filepath.Dir(path), "volumes"),
	}
}

// WithClock sets the clock the store reads for creation timestamps and event
// times; the default is time.Now. now must be safe for concurrent use.
func WithClock(now func() time.Time) Opt {
	return func(o *options) { o.now = now }
}

// WithLockTimeout sets how long Open waits for another process to release
// the state file before it returns ErrLocked; the default is
// DefaultLockTimeout. Zero means one attempt without waiting; Open never
// waits forever.
func WithLockTimeout(d time.Duration) Opt {
	return func(o *options) { o.lockTimeout = d }
}

// WithEventLimit sets how many events the store keeps (at least 1); the
// default is DefaultEventLimit. AddEvents trims the oldest events beyond the
// limit in the transaction that adds.
func WithEventLimit(n int) Opt {
	return func(o *options) { o.eventLimit = n }
}

// WithVolumeDir sets the directory under which EnsureVolume creates volume
// directories; the default is the "volumes" directory next to the state
// file. A relative dir is made absolute when the store opens.
func WithVolumeDir(dir string) Opt {
	return func(o *options) { o.volumeDir = dir }
}
