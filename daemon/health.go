package daemon

import (
	"sync"
	"time"
)

// daemonHealth is what the daemon knows of its dependencies' state, for
// `setlet status` and the metrics. containerd is marked down when its
// event stream breaks and up again once it serves (kubelet.watchEvents):
// no polling. Each change is logged and recorded as an event.
type daemonHealth struct {
	clock clock
	log   interface {
		Info(string, ...any)
		Warn(string, ...any)
	}
	events *recorder

	mu          sync.Mutex
	containerd  bool      // serving
	since       time.Time // of the last change
	containerdE string    // why it went down
}

// reasons of the daemon's own events about containerd.
const (
	reasonContainerdDown = "ContainerdUnavailable"
	reasonContainerdUp   = "ContainerdAvailable"
)

func newHealth(c clock, log interface {
	Info(string, ...any)
	Warn(string, ...any)
}, events *recorder) *daemonHealth {
	return &daemonHealth{clock: c, log: log, events: events, containerd: true, since: c.Now()}
}

// setContainerd records containerd as serving or not (err says why not).
// A nil h (tests of the kubelet alone) records nothing.
func (h *daemonHealth) setContainerd(up bool, err error) {
	if h == nil {
		return
	}
	h.mu.Lock()
	changed := h.containerd != up
	if changed {
		h.containerd, h.since = up, h.clock.Now()
		h.containerdE = ""
		if err != nil {
			h.containerdE = err.Error()
		}
	}
	h.mu.Unlock()
	if !changed {
		return
	}
	if up {
		h.log.Info("containerd is serving again; resyncing every pod")
		h.events.event("Node", "", "containerd", eventTypeNormal, reasonContainerdUp, "containerd is serving again")
		return
	}
	h.log.Warn("containerd is unavailable; the API and DNS keep serving, pods are left as they are", "err", err)
	h.events.event("Node", "", "containerd", eventTypeWarning, reasonContainerdDown, "containerd is unavailable: %v", err)
}

// containerdUp reports whether containerd serves, since when, and why not.
func (h *daemonHealth) containerdUp() (up bool, since time.Time, why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.containerd, h.since, h.containerdE
}
