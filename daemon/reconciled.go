package daemon

import (
	"sync"
	"time"
)

// firstPass tracks the pods the kubelet side has not synced since the
// daemon started: once every pod that recovery found has been synced once
// (adopted as it runs, or started), the daemon is reconciled. `setlet
// status` shows it, and the restart benchmark measures it.
type firstPass struct {
	log interface{ Info(string, ...any) }

	mu      sync.Mutex
	left    map[string]bool
	started time.Time
	done    time.Time // zero until reconciled
}

// expect starts the pass at now with the pods of keys left to sync.
func (f *firstPass) expect(keys []string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started, f.left = now, make(map[string]bool, len(keys))
	for _, k := range keys {
		f.left[k] = true
	}
	f.finishLocked(now)
}

// synced records that pod key was synced at now.
func (f *firstPass) synced(key string, now time.Time) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.left[key] {
		delete(f.left, key)
		f.finishLocked(now)
	}
}

func (f *firstPass) finishLocked(now time.Time) {
	if len(f.left) == 0 && f.done.IsZero() && !f.started.IsZero() {
		f.done = now
		f.log.Info("reconciled: every pod synced since the start", "after", now.Sub(f.started))
	}
}

// state returns when the daemon was reconciled (zero while it is not) and
// how many pods are left.
func (f *firstPass) state() (time.Time, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.done, len(f.left)
}
