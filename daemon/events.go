package daemon

import (
	"fmt"
	"log/slog"

	"github.com/setlet/setlet/storage"
)

// Event reasons, as Kubernetes spells them, plus Ready and NotReady for a
// pod's readiness changes.
const (
	reasonSuccessfulCreate = "SuccessfulCreate"
	reasonSuccessfulDelete = "SuccessfulDelete"
	reasonPulling          = "Pulling"
	reasonPulled           = "Pulled"
	reasonFailed           = "Failed"
	reasonCreated          = "Created"
	reasonStarted          = "Started"
	reasonKilling          = "Killing"
	reasonUnhealthy        = "Unhealthy"
	reasonBackOff          = "BackOff"
	reasonReady            = "Ready"
	reasonNotReady         = "NotReady"
	reasonFailedCreate     = "FailedCreate"
	reasonNetworkFailed    = "FailedCreatePodSandBox"
	reasonRecreating       = "RecreatingFailedPod"
	reasonReplacingStuck   = "ReplacingStuckPod" // setlet's own: see Plan
	reasonAdopted          = "Adopted"
)

// eventTypeNormal and eventTypeWarning are Kubernetes' event types.
const (
	eventTypeNormal  = "Normal"
	eventTypeWarning = "Warning"
)

// recorder writes events to the state file (bounded there) and tells
// watchers. A failed write is logged, not returned: events must never stop
// the work they describe. It is safe for concurrent use.
type recorder struct {
	store *storage.Store
	clock clock
	hub   *hub
	log   *slog.Logger
}

// event records one event about kind ns/name.
func (r *recorder) event(kind, ns, name, typ, reason, format string, args ...any) {
	ev := storage.Event{
		Time: r.clock.Now(), Type: typ, Reason: reason,
		Kind: kind, Namespace: ns, Name: name,
		Message: fmt.Sprintf(format, args...),
	}
	if err := r.store.AddEvents(ev); err != nil {
		r.log.Warn("recording event", "reason", reason, "object", ns+"/"+name, "err", err)
		return
	}
	r.hub.publish(change{Kind: "Event", Namespace: ns, Name: name})
}
