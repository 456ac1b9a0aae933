package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/daemon/api"
)

// partitionedWeb is webSet with a RollingUpdate partition and an env value
// that makes the template (and so the revision) differ.
func partitionedWeb(partition, value string) string {
	m := webSet("web", 3, "        env:\n        - {name: VERSION, value: '"+value+"'}\n")
	return strings.Replace(m, "  replicas: 3\n", "  replicas: 3\n  updateStrategy:\n    rollingUpdate:\n      partition: "+partition+"\n", 1)
}

// TestPartitionedRollingUpdate: with partition 3 of 3 replicas a new
// template updates nothing; partition 2 updates only web-2; partition 0
// the rest, web-1 before web-0; the pods below the partition keep running
// untouched meanwhile.
func TestPartitionedRollingUpdate(t *testing.T) {
	t.Parallel()
	h := startDaemon(t)
	h.apply(partitionedWeb("3", "1"))
	h.waitPods(timeout(t, 60*time.Second), "default", allReady(names("web", 3)...))
	uids := h.podUIDs()

	// A new template with partition 3: the controller records the new
	// revision and replaces nothing.
	h.apply(partitionedWeb("3", "2"))
	h.waitSet(t, func(gen int64, st statusView) bool {
		return st.ObservedGeneration == gen && st.UpdateRevision != st.CurrentRevision
	})
	if got := h.podUIDs(); !sameUIDs(got, uids, "web-0", "web-1", "web-2") {
		t.Fatalf("pods replaced with partition 3: %v, before %v", got, uids)
	}

	h.apply(partitionedWeb("2", "2"))
	h.waitSet(t, func(gen int64, st statusView) bool {
		return st.ObservedGeneration == gen && st.UpdatedReplicas == 1 && st.ReadyReplicas == 3
	})
	got := h.podUIDs()
	if got["web-2"] == uids["web-2"] || !sameUIDs(got, uids, "web-0", "web-1") {
		t.Fatalf("partition 2 should replace only web-2: %v, before %v", got, uids)
	}
	if out, _ := h.exec("web-2", "sh", "-c", "echo $VERSION"); strings.TrimSpace(out) != "2" {
		t.Errorf("web-2 runs VERSION=%q, want 2", out)
	}

	h.apply(partitionedWeb("0", "2"))
	events := h.waitPods(timeout(t, 120*time.Second), "default", func(pods map[string]*corev1.Pod) bool {
		if !allReady(names("web", 3)...)(pods) {
			return false
		}
		return string(pods["web-0"].UID) != uids["web-0"] && string(pods["web-1"].UID) != uids["web-1"]
	})
	created := map[string]int{} // pod -> 1 + index of the first event of its replacement
	for i, ev := range events {
		if _, ok := created[ev.Pod.Name]; !ok && string(ev.Pod.UID) != uids[ev.Pod.Name] {
			created[ev.Pod.Name] = i + 1
		}
	}
	if created["web-1"] == 0 || created["web-0"] == 0 || created["web-1"] > created["web-0"] {
		t.Errorf("partition 0 should replace web-1 before web-0: %v", created)
	}
}

// statusView is the part of a set's status the partition test reads.
type statusView struct {
	ObservedGeneration              int64
	ReadyReplicas, UpdatedReplicas  int32
	CurrentRevision, UpdateRevision string
}

// waitSet watches set web until cond holds for its generation and status.
func (h *harness) waitSet(t *testing.T, cond func(gen int64, st statusView) bool) {
	t.Helper()
	ctx := timeout(t, 60*time.Second)
	errDone := errors.New("done")
	var last statusView
	err := h.client.Watch(ctx, "statefulsets", "default", func(ev api.RawWatchEvent) error {
		var set appsv1.StatefulSet
		if err := json.Unmarshal(ev.Object, &set); err != nil {
			return err
		}
		if set.Name != "web" {
			return nil
		}
		last = statusView{set.Status.ObservedGeneration, set.Status.ReadyReplicas, set.Status.UpdatedReplicas, set.Status.CurrentRevision, set.Status.UpdateRevision}
		if cond(set.Generation, last) {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("waiting for set web: %v; status now %+v", err, last)
	}
}

// podUIDs returns the UID of every pod by name, marked when the pod is
// being deleted (so a pod on its way out never counts as untouched).
func (h *harness) podUIDs() map[string]string {
	h.t.Helper()
	pods, err := h.client.Pods(context.Background(), "default")
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pods {
		out[p.Name] = string(p.UID)
		if p.DeletionTimestamp != nil {
			out[p.Name] += " (terminating)"
		}
	}
	return out
}

func sameUIDs(a, b map[string]string, names ...string) bool {
	for _, n := range names {
		if a[n] != b[n] {
			return false
		}
	}
	return true
}

// onDeleteWeb is webSet with the OnDelete strategy and an env value that
// makes the template differ.
func onDeleteWeb(value string) string {
	m := webSet("web", 3, "        env:\n        - {name: VERSION, value: '"+value+"'}\n")
	return strings.Replace(m, "  replicas: 3\n", "  replicas: 3\n  updateStrategy:\n    type: OnDelete\n", 1)
}

// TestOnDeleteUpdate: with OnDelete a new template replaces nothing until
// the user deletes a pod, which comes back at the new revision; the
// others keep running at the old one.
func TestOnDeleteUpdate(t *testing.T) {
	t.Parallel()
	h := startDaemon(t)
	h.apply(onDeleteWeb("1"))
	h.waitPods(timeout(t, 60*time.Second), "default", allReady(names("web", 3)...))
	uids := h.podUIDs()

	h.apply(onDeleteWeb("2"))
	h.waitSet(t, func(gen int64, st statusView) bool {
		return st.ObservedGeneration == gen && st.UpdateRevision != st.CurrentRevision
	})
	if got := h.podUIDs(); !sameUIDs(got, uids, "web-0", "web-1", "web-2") {
		t.Fatalf("OnDelete replaced pods by itself: %v, before %v", got, uids)
	}

	if err := h.client.DeletePod(context.Background(), "default", "web-1"); err != nil {
		t.Fatal(err)
	}
	h.waitPods(timeout(t, 60*time.Second), "default", func(pods map[string]*corev1.Pod) bool {
		return allReady(names("web", 3)...)(pods) && string(pods["web-1"].UID) != uids["web-1"]
	})
	if got := h.podUIDs(); !sameUIDs(got, uids, "web-0", "web-2") {
		t.Errorf("deleting web-1 touched the others: %v, before %v", got, uids)
	}
	for pod, want := range map[string]string{"web-0": "1", "web-1": "2", "web-2": "1"} {
		if out, _ := h.exec(pod, "sh", "-c", "echo $VERSION"); strings.TrimSpace(out) != want {
			t.Errorf("%s runs VERSION=%q, want %s", pod, strings.TrimSpace(out), want)
		}
	}
}
