package daemon

import (
	"fmt"
	"time"
)

// The restart back-off of restartPolicy Always, as the kubelet applies it
// (pkg/kubelet/kuberuntime doBackOff with a flowcontrol.Backoff of 10 s
// initial and 300 s maximum per container):
//
//   - The first time a container exits it is restarted at once.
//   - Each later exit waits a back-off before the restart: 10 s after the
//     second exit, then twice the previous back-off each time, at most
//     5 minutes (10 s, 20 s, 40 s, 80 s, 160 s, 300 s, 300 s, ...).
//   - The back-off starts over (the next restart is immediate again, then
//     10 s) when the container that exited had run for more than 10 minutes
//     (twice the maximum back-off).
//
// Kubernetes documents it as "After containers in a Pod exit, the kubelet
// restarts them with an exponential back-off delay (10s, 20s, 40s, …), that
// is capped at 300 seconds (5 minutes). Once a container has executed for 10
// minutes without any problems, the kubelet resets the restart backoff timer
// for that container.", and "Initial crash: Kubernetes attempts an
// immediate restart" (Container restarts). The kubelet measures "ran" from
// the moment it decided the last restart to the exit; setlet measures it
// from the container's start, a few milliseconds later. The kubelet adds no
// jitter to container back-off, and neither does setlet. A liveness or
// startup probe failure is an exit like any other.
//
// setlet decides it from what it observes, so that the level-triggered
// executor can ask again on every pass: the container's restart count and
// its last run, plus one number to keep per container, the restart count at
// which its current crash loop began (restartBackoff). The restart count
// alone cannot tell: it only ever grows, while the back-off starts over
// after a long run.

// Restart back-off constants of restartPolicy Always, the kubelet's.
const (
	// backoffInitial is the back-off after the second exit in a row.
	backoffInitial = 10 * time.Second
	// backoffMax caps the back-off.
	backoffMax = 5 * time.Minute
	// backoffReset is how long a container must have run for its exit to
	// start the back-off over: twice backoffMax.
	backoffReset = 2 * backoffMax
	// backoffReason is the waiting reason of a container in back-off, as
	// kubectl shows it.
	backoffReason = "CrashLoopBackOff"
)

// restartBackoff is what the daemon keeps per container of a pod for the
// back-off. The zero value is right for a container that has never run for
// more than 10 minutes; a daemon that loses it (say, in a restart) only
// waits longer than the kubelet would for a container that crash-looped,
// ran long, and crashes again.
type restartBackoff struct {
	// LoopStart is the restart count when the current crash loop began:
	// the count before the restart that followed the last run longer than
	// 10 minutes, 0 if none did.
	LoopStart int32
}

// restartDelay decides the restart of a container that has exited: how long
// after lastFinished to start it again, and the back-off state to keep.
// restarts is the container's restart count with this restart counted (1
// for the first exit), lastStarted and lastFinished bound the run that
// ended. It is pure and idempotent: asked again with the same observation
// and the state it returned, it answers the same, so the executor may call
// it on every pass and store what it returns.
func restartDelay(b restartBackoff, restarts int32, lastStarted, lastFinished time.Time) (time.Duration, restartBackoff) {
	if lastFinished.Sub(lastStarted) > backoffReset {
		b.LoopStart = restarts - 1
	}
	n := restarts - b.LoopStart // exits in this loop, this one included
	if n <= 1 {
		return 0, b
	}
	delay := backoffInitial
	for i := int32(2); i < n && delay < backoffMax; i++ {
		delay *= 2
	}
	return min(delay, backoffMax), b
}

// backoffMessage is the kubelet's message for a container waiting in
// back-off, e.g. "back-off 20s restarting failed container=nginx
// pod=web-0", for describe and events.
func backoffMessage(delay time.Duration, pod, container string) string {
	return fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", delay, container, pod)
}
