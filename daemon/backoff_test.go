package daemon

import (
	"testing"
	"time"
)

func TestBackoffRestartDelay(t *testing.T) {
	s, m := time.Second, time.Minute
	for _, tc := range []struct {
		name      string
		loopStart int32
		restarts  int32         // with this restart counted
		ran       time.Duration // how long the container ran before it exited
		wantDelay time.Duration
		wantLoop  int32
	}{
		{"Backoff/the first exit restarts at once", 0, 1, 3 * s, 0, 0},
		{"Backoff/the second exit waits 10 s", 0, 2, 3 * s, 10 * s, 0},
		{"Backoff/each later exit doubles the wait", 0, 3, 3 * s, 20 * s, 0},
		{"Backoff/the sixth exit waits 160 s", 0, 6, 3 * s, 160 * s, 0},
		{"Backoff/the seventh exit is capped at 5 min, not 320 s", 0, 7, 3 * s, 5 * m, 0},
		{"Backoff/the wait stays at 5 min", 0, 100, 3 * s, 5 * m, 0},
		{"Backoff/a huge restart count does not overflow", 0, 1 << 30, 3 * s, 5 * m, 0},
		{"Backoff/a run of exactly 10 min does not reset", 0, 12, 10 * m, 5 * m, 0},
		{"Backoff/a run of more than 10 min starts a new loop: restart at once", 0, 12, 10*m + s, 0, 11},
		{"Backoff/the exit after the reset waits 10 s again", 11, 13, 3 * s, 10 * s, 11},
		{"Backoff/asking again after a reset gives the same answer", 11, 12, 10*m + s, 0, 11},
		{"Backoff/an inconsistent state restarts at once", 20, 12, 3 * s, 0, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started := probeEpoch
			delay, b := restartDelay(restartBackoff{LoopStart: tc.loopStart}, tc.restarts, started, started.Add(tc.ran))
			if delay != tc.wantDelay || b.LoopStart != tc.wantLoop {
				t.Fatalf("got delay %v loop start %d, want %v %d", delay, b.LoopStart, tc.wantDelay, tc.wantLoop)
			}
		})
	}
}

func TestBackoffCrashLoopSequence(t *testing.T) {
	// A container that exits 2 s after every start, runs an hour once, then
	// crash-loops again: at once, 10, 20, 40, 80, 160, 300, 300 s; at once
	// after the long run, then 10 s.
	runs := []struct {
		ran  time.Duration
		want time.Duration
	}{
		{2, 0}, {2, 10}, {2, 20}, {2, 40}, {2, 80}, {2, 160}, {2, 300}, {2, 300},
		{3600, 0}, {2, 10}, {2, 20},
	}
	var b restartBackoff
	now := probeEpoch
	for i, r := range runs {
		started := now
		finished := started.Add(r.ran * time.Second)
		restarts := int32(i + 1)
		var delay time.Duration
		delay, b = restartDelay(b, restarts, started, finished)
		if again, b2 := restartDelay(b, restarts, started, finished); again != delay || b2 != b {
			t.Fatalf("exit %d: asking again gave %v %+v, first %v %+v", i+1, again, b2, delay, b)
		}
		if delay != r.want*time.Second {
			t.Fatalf("exit %d: delay %v, want %v", i+1, delay, r.want*time.Second)
		}
		now = finished.Add(delay)
	}
}

func TestBackoffMessage(t *testing.T) {
	got := backoffMessage(20*time.Second, "web-0", "nginx")
	if want := "back-off 20s restarting failed container=nginx pod=web-0"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if backoffReason != "CrashLoopBackOff" {
		t.Fatalf("reason %q", backoffReason)
	}
}
