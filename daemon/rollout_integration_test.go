package daemon_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/daemon/api"
)

// TestRolloutRestartAndUndo: rollout restart replaces web-2, web-1, web-0
// in that order, each once the one before it is Ready again, all on the
// new revision and with their volumes; undo goes back to the first
// template the same way, by renumbering its revision, as Kubernetes does.
func TestRolloutRestartAndUndo(t *testing.T) {
	t.Parallel()
	h := startDaemon(t)
	h.apply(webSet("web", 3, ""))
	h.waitPods(timeout(t, 60*time.Second), "default", allReady(names("web", 3)...))
	first := h.podRevisions()
	h.writeMarkers(names("web", 3)...)

	ctx := context.Background()
	if got, err := h.client.Rollout(ctx, "default", "web", api.RolloutRequest{Action: api.RolloutRestart}); err != nil || got != "restarted" {
		t.Fatalf("rollout restart: %q, %v", got, err)
	}
	events := h.waitRolledTo(t, first["web-0"], true)
	wantReplaceOrder(t, events, first)
	h.wantVolumeData()
	second := h.podRevisions()

	revs, err := h.client.Revisions(ctx, "default", "web")
	if err != nil || len(revs) != 2 || revs[0].Revision != 1 || revs[1].Revision != 2 || revs[1].Name != "web-"+second["web-0"] {
		t.Fatalf("revisions after restart: %v %v", revs, err)
	}

	if got, err := h.client.Rollout(ctx, "default", "web", api.RolloutRequest{Action: api.RolloutUndo}); err != nil || got != "rolled back" {
		t.Fatalf("rollout undo: %q, %v", got, err)
	}
	events = h.waitRolledTo(t, first["web-0"], false)
	wantReplaceOrder(t, events, second)
	h.wantVolumeData()
	revs, err = h.client.Revisions(ctx, "default", "web")
	if err != nil || len(revs) != 2 || revs[1].Revision != 3 || revs[1].Name != "web-"+first["web-0"] {
		t.Fatalf("revisions after undo: %v %v (want the first renumbered to 3)", revs, err)
	}
	if all, err := h.client.AllRevisions(ctx, ""); err != nil || len(all) != 2 || all[1].Revision != 3 {
		t.Errorf("get revisions: %v %v", all, err)
	}
	if got, err := h.client.Rollout(ctx, "default", "web", api.RolloutRequest{Action: api.RolloutUndo, ToRevision: 3}); err != nil || got != "skipped rollback (current template already matches revision 3)" {
		t.Errorf("undo to the current revision: %q, %v", got, err)
	}
	if _, err := h.client.Rollout(ctx, "default", "web", api.RolloutRequest{Action: api.RolloutImage, Images: map[string]string{"nope": "x"}}); err == nil {
		t.Error("set image of a container that does not exist succeeded")
	}
}

// wantVolumeData checks that each pod of web finds in its volume what the
// pod of its ordinal wrote there before it was replaced.
func (h *harness) wantVolumeData() {
	h.t.Helper()
	for _, name := range names("web", 3) {
		h.wantMarker(name, true)
	}
}

// podRevisions returns each pod's controller-revision-hash label's hash
// part (after "web-").
func (h *harness) podRevisions() map[string]string {
	h.t.Helper()
	pods, err := h.client.Pods(context.Background(), "default")
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pods {
		out[p.Name] = p.Labels["controller-revision-hash"][len("web-"):]
	}
	return out
}

// waitRolledTo waits until every pod of web is Ready on a revision other
// than from (other) or equal to it (!other), and returns the watch events.
func (h *harness) waitRolledTo(t *testing.T, from string, other bool) []podEvent {
	return h.waitPods(timeout(t, 120*time.Second), "default", func(pods map[string]*corev1.Pod) bool {
		if !allReady(names("web", 3)...)(pods) {
			return false
		}
		for _, p := range pods {
			if (p.Labels["controller-revision-hash"] == "web-"+from) == other {
				return false
			}
		}
		return true
	})
}

// wantReplaceOrder checks that the pods were replaced highest ordinal
// first, each replacement created only after the previous replacement
// was Ready.
func wantReplaceOrder(t *testing.T, events []podEvent, before map[string]string) {
	t.Helper()
	created := map[string]int{} // pod -> index of the ADDED event of its replacement
	readyAt := map[string]int{} // pod -> index of the first event showing the replacement Ready
	for i, ev := range events {
		name := ev.Pod.Name
		rev := ev.Pod.Labels["controller-revision-hash"]
		if rev == "web-"+before[name] {
			continue
		}
		if _, ok := created[name]; !ok {
			created[name] = i
		}
		if _, ok := readyAt[name]; !ok && isReady(&ev.Pod) {
			readyAt[name] = i
		}
	}
	order := []string{"web-2", "web-1", "web-0"}
	for i, name := range order {
		if _, ok := created[name]; !ok {
			t.Fatalf("no replacement of %s seen", name)
		}
		if i > 0 && created[name] < readyAt[order[i-1]] {
			t.Errorf("%s was replaced before %s was Ready again", name, order[i-1])
		}
	}
}

// neverStarts is the extra container YAML of a template whose pods run but
// never become Ready: a startup probe that always fails, often enough not
// to restart the container during the test.
const neverStarts = `        startupProbe:
          exec:
            command: ["false"]
          periodSeconds: 1
          failureThreshold: 1000
`

// TestStuckRolloutRecovery: a rollout to a template whose pod never
// becomes Ready stops at web-2, as in Kubernetes. Re-applying the old
// template, and later undoing to it, replaces the broken pod instead of
// waiting for it forever (kubernetes/kubernetes#67250), without touching
// the pods that were never updated.
func TestStuckRolloutRecovery(t *testing.T) {
	t.Parallel()
	h := startDaemon(t)
	h.apply(webSet("web", 3, ""))
	h.waitPods(timeout(t, 60*time.Second), "default", allReady(names("web", 3)...))
	good := h.podRevisions()["web-0"]
	untouched := h.podUIDs()

	for _, back := range []string{"re-apply", "undo"} {
		h.apply(webSet("web", 3, neverStarts))
		h.waitPods(timeout(t, 60*time.Second), "default", func(pods map[string]*corev1.Pod) bool {
			p := pods["web-2"]
			return p != nil && p.DeletionTimestamp == nil && p.Labels["controller-revision-hash"] != "web-"+good &&
				p.Status.Phase == corev1.PodRunning && !isReady(p)
		})
		if back == "re-apply" {
			h.apply(webSet("web", 3, ""))
		} else if got, err := h.client.Rollout(context.Background(), "default", "web", api.RolloutRequest{Action: api.RolloutUndo}); err != nil || got != "rolled back" {
			t.Fatalf("rollout undo: %q, %v", got, err)
		}
		h.waitRolledTo(t, good, false)
		if now := h.podUIDs(); !sameUIDs(untouched, now, "web-0", "web-1") {
			t.Fatalf("after %s: web-0 and web-1 were replaced: %v, then %v", back, untouched, now)
		}
	}
	evs := h.events()
	i := eventIndex(evs, "is replacing Pod web-2, not Ready at revision")
	if i < 0 || evs[i].Reason != "ReplacingStuckPod" || evs[i].Type != corev1.EventTypeWarning {
		t.Errorf("no ReplacingStuckPod warning for web-2 among the events")
	}
}
