package daemon_test

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/setlet/setlet/daemon"
)

// The scenarios drive the planner through a fake world (world_test.go);
// every pass is checked against the invariants in checkPass and
// checkWorld, in the style of Kubernetes' stateful_set_control_test.go.

func TestScenarioScale0to3to5to2(t *testing.T) {
	tests := []struct {
		name   string
		policy setOpt
		// wantScaleUp is the first pass after scaling 0 to 3.
		wantScaleUp []string
		// wantScaleDown is the first pass after scaling 5 to 2.
		wantScaleDown []string
	}{
		{
			name:          "OrderedReady/scales up one ordinal at a time and down highest first, one at a time",
			policy:        func(*appsv1.StatefulSet) {},
			wantScaleUp:   []string{"CreatePod web-0@" + "REV"},
			wantScaleDown: []string{"DeletePod web-4"},
		},
		{
			name:          "Parallel/scales up and down all at once",
			policy:        parallel,
			wantScaleUp:   []string{"CreatePod web-0@REV", "CreatePod web-1@REV", "CreatePod web-2@REV"},
			wantScaleDown: []string{"DeletePod web-4", "DeletePod web-3", "DeletePod web-2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, newSet(0, tt.policy))
			w.settle()
			mustEqual(t, 0, len(w.pods))
			mustEqual(t, int32(0), w.set.Status.Replicas)
			rev := w.set.Status.UpdateRevision
			mustTrue(t, rev != "", "an empty set still has an update revision")

			w.setReplicas(3)
			mark := len(w.passes)
			w.settle()
			mustEqual(t, withRev(tt.wantScaleUp, rev), w.passes[mark])
			mustEqual(t, withRev([]string{"CreatePod web-0@REV", "CreatePod web-1@REV", "CreatePod web-2@REV"}, rev), w.since(mark))

			w.setReplicas(5)
			mark = len(w.passes)
			w.settle()
			mustEqual(t, withRev([]string{"CreatePod web-3@REV", "CreatePod web-4@REV"}, rev), w.since(mark))

			w.setReplicas(2)
			mark = len(w.passes)
			w.settle()
			mustEqual(t, tt.wantScaleDown, w.passes[mark])
			mustEqual(t, []string{"DeletePod web-4", "DeletePod web-3", "DeletePod web-2"}, w.since(mark))

			mustEqual(t, map[string]string{"web-0": rev, "web-1": rev}, w.revisions())
			st := w.set.Status
			mustEqual(t, [5]int32{2, 2, 2, 2, 2}, [5]int32{st.Replicas, st.ReadyReplicas, st.AvailableReplicas, st.CurrentReplicas, st.UpdatedReplicas})
			mustEqual(t, rev, st.CurrentRevision)
			mustEqual(t, "", w.last.Wait)
		})
	}
}

func TestScenarioRollingUpdateWithPartition(t *testing.T) {
	w := newWorld(t, newSet(3))
	w.settle()
	oldRev := w.set.Status.CurrentRevision

	t.Run("Partition/3 of 3 replicas: a template change updates nothing", func(t *testing.T) {
		w.setPartition(3)
		w.setImage("nginx:1.28")
		mark := len(w.passes)
		w.settle()
		newRev := w.set.Status.UpdateRevision
		mustTrue(t, newRev != oldRev, "the template change makes a new update revision")
		mustEqual(t, []string(nil), w.since(mark))
		mustEqual(t, map[string]string{"web-0": oldRev, "web-1": oldRev, "web-2": oldRev}, w.revisions())
		st := w.set.Status
		mustEqual(t, oldRev, st.CurrentRevision)
		mustEqual(t, int32(3), st.CurrentReplicas)
		mustEqual(t, int32(0), st.UpdatedReplicas)
		mustEqual(t, w.set.Generation, st.ObservedGeneration)
	})

	t.Run("Partition/2: only ordinal 2 is replaced", func(t *testing.T) {
		w.setPartition(2)
		mark := len(w.passes)
		w.settle()
		newRev := w.set.Status.UpdateRevision
		mustEqual(t, []string{"DeletePod web-2", "CreatePod web-2@" + newRev}, w.since(mark))
		mustEqual(t, map[string]string{"web-0": oldRev, "web-1": oldRev, "web-2": newRev}, w.revisions())
		st := w.set.Status
		mustEqual(t, oldRev, st.CurrentRevision)
		mustEqual(t, [2]int32{2, 1}, [2]int32{st.CurrentReplicas, st.UpdatedReplicas})
	})

	t.Run("Partition/0: ordinal 1 then 0, each after the previous one is Ready", func(t *testing.T) {
		w.setPartition(0)
		mark := len(w.passes)
		w.settle()
		newRev := w.set.Status.UpdateRevision
		mustEqual(t, []string{
			"DeletePod web-1", "CreatePod web-1@" + newRev,
			"DeletePod web-0", "CreatePod web-0@" + newRev,
		}, w.since(mark))
		// checkPass already failed the test if web-0 had been deleted
		// before web-1 was Ready again; say so explicitly too.
		deleted0 := -1
		for i := mark; i < len(w.passes); i++ {
			if len(w.passes[i]) > 0 && w.passes[i][0] == "DeletePod web-0" {
				deleted0 = i
			}
		}
		mustTrue(t, deleted0 > 0, "web-0 was deleted")
		mustEqual(t, map[string]string{"web-0": newRev, "web-1": newRev, "web-2": newRev}, w.revisions())
		st := w.set.Status
		mustEqual(t, newRev, st.CurrentRevision, "completeRollingUpdate promoted the update revision")
		mustEqual(t, [3]int32{3, 3, 3}, [3]int32{st.CurrentReplicas, st.UpdatedReplicas, st.ReadyReplicas})
	})
}

func TestScenarioPodNeverReadyDuringRollout(t *testing.T) {
	w := newWorld(t, newSet(3))
	w.settle()
	oldRev := w.set.Status.CurrentRevision

	w.setImage("nginx:broken")
	w.stuck = func(pod *corev1.Pod) bool { return pod.Spec.Containers[0].Image == "nginx:broken" }
	w.settle()
	newRev := w.set.Status.UpdateRevision

	t.Run("RollingUpdate/the rollout stops at the pod that never becomes Ready", func(t *testing.T) {
		mustEqual(t, map[string]string{"web-0": oldRev, "web-1": oldRev, "web-2": newRev}, w.revisions())
		for range 5 {
			w.now = w.now.Add(time.Minute)
			res := w.sync()
			mustEqual(t, 0, len(res.Actions))
			mustEqual(t, "waiting for web-2 to be Running and Ready", res.Wait)
		}
	})

	t.Run("Status/reflects the stalled rollout", func(t *testing.T) {
		st := w.set.Status
		mustEqual(t, oldRev, st.CurrentRevision)
		mustEqual(t, newRev, st.UpdateRevision)
		mustEqual(t, [4]int32{3, 2, 2, 1}, [4]int32{st.Replicas, st.ReadyReplicas, st.CurrentReplicas, st.UpdatedReplicas})
	})

	// Kubernetes waits for web-2 forever here, even after the template is
	// set back, until a human deletes web-2 (kubernetes/kubernetes#67250).
	// A new, untried template waits too, in setlet as in Kubernetes.
	t.Run("RollingUpdate/a new untried template still waits for the broken pod", func(t *testing.T) {
		w.setImage("nginx:fix")
		res := w.sync()
		mustEqual(t, 0, len(res.Actions))
		mustEqual(t, "waiting for web-2 to be Running and Ready", res.Wait)
	})

	// Re-applying the old template makes the old revision the update
	// revision again (PlanRevisions renumbers it). It is the current
	// revision, known to work, so setlet replaces the broken pod at once.
	t.Run("RollingUpdate/re-applying the old template replaces the broken pod", func(t *testing.T) {
		w.setImage("nginx:1.27")
		res := w.sync()
		mustTrue(t, w.lastRev.Renumber != nil, "the old revision is renumbered, not recreated")
		mustEqual(t, oldRev, w.lastRev.Update.Name)
		requireActions(t, res, "DeletePod web-2")
		mustEqual(t, daemon.DeleteStuck, res.Actions[0].Cause)
		st := res.Status
		mustEqual(t, oldRev, st.UpdateRevision)
		mustEqual(t, oldRev, st.CurrentRevision)
		mustEqual(t, [2]int32{2, 2}, [2]int32{st.CurrentReplicas, st.UpdatedReplicas})
	})

	t.Run("RollingUpdate/the replacement comes back at the old revision and the set is whole", func(t *testing.T) {
		w.settle()
		mustEqual(t, map[string]string{"web-0": oldRev, "web-1": oldRev, "web-2": oldRev}, w.revisions())
		mustEqual(t, int32(3), w.set.Status.ReadyReplicas)
		mustEqual(t, "", w.last.Wait)
	})
}

// A rollout to a revision that works on some pods, then to a broken one,
// then back: the revision Ready on other pods is known to work even though
// it never became the current revision.
func TestScenarioStuckRolloutBackToPartialRevision(t *testing.T) {
	w := newWorld(t, newSet(3, withPartition(1)))
	w.settle()
	w.setImage("nginx:good")
	w.settle()
	good := w.set.Status.UpdateRevision
	mustEqual(t, good, w.revisions()["web-2"])
	mustEqual(t, good, w.revisions()["web-1"])

	w.setImage("nginx:broken")
	w.stuck = func(pod *corev1.Pod) bool { return pod.Spec.Containers[0].Image == "nginx:broken" }
	w.settle()
	mustEqual(t, "waiting for web-2 to be Running and Ready", w.last.Wait)

	w.setImage("nginx:good")
	res := w.sync()
	requireActions(t, res, "DeletePod web-2")
	mustContain(t, res.Actions[0].Reason, "is Ready on web-1")
	w.settle()
	old := w.revisions()["web-0"]
	mustEqual(t, map[string]string{"web-0": old, "web-1": good, "web-2": good}, w.revisions())
	mustTrue(t, old != good, "web-0 stays below the partition")
}

func TestScenarioOnDelete(t *testing.T) {
	w := newWorld(t, newSet(3, onDelete))
	w.settle()
	oldRev := w.set.Status.CurrentRevision

	t.Run("OnDelete/a template change replaces nothing", func(t *testing.T) {
		w.setImage("nginx:1.28")
		mark := len(w.passes)
		w.settle()
		mustEqual(t, []string(nil), w.since(mark))
		mustEqual(t, map[string]string{"web-0": oldRev, "web-1": oldRev, "web-2": oldRev}, w.revisions())
		mustEqual(t, int32(0), w.set.Status.UpdatedReplicas)
	})

	t.Run("OnDelete/a pod deleted by the user comes back at the update revision", func(t *testing.T) {
		newRev := w.set.Status.UpdateRevision
		w.terminate("web-1")
		mark := len(w.passes)
		w.settle()
		mustEqual(t, []string{"CreatePod web-1@" + newRev}, w.since(mark))
		mustEqual(t, map[string]string{"web-0": oldRev, "web-1": newRev, "web-2": oldRev}, w.revisions())
		st := w.set.Status
		mustEqual(t, oldRev, st.CurrentRevision)
		mustEqual(t, [2]int32{2, 1}, [2]int32{st.CurrentReplicas, st.UpdatedReplicas})
	})
}

func TestScenarioParallelBurstWithUnhealthyPod(t *testing.T) {
	w := newWorld(t, newSet(0, parallel))
	w.stuck = func(pod *corev1.Pod) bool { return pod.Name == "web-1" }
	w.settle()
	rev := w.set.Status.UpdateRevision

	t.Run("Parallel/creates every pod at once", func(t *testing.T) {
		w.setReplicas(5)
		mark := len(w.passes)
		w.settle()
		mustEqual(t, withRev([]string{
			"CreatePod web-0@REV", "CreatePod web-1@REV", "CreatePod web-2@REV", "CreatePod web-3@REV", "CreatePod web-4@REV",
		}, rev), w.passes[mark])
		mustEqual(t, int32(4), w.set.Status.ReadyReplicas)
	})

	t.Run("Parallel/scales up while a lower ordinal is not Ready", func(t *testing.T) {
		w.setReplicas(7)
		mark := len(w.passes)
		w.settle()
		mustEqual(t, withRev([]string{"CreatePod web-5@REV", "CreatePod web-6@REV"}, rev), w.passes[mark])
		mustEqual(t, [2]int32{7, 6}, [2]int32{w.set.Status.Replicas, w.set.Status.ReadyReplicas})
	})

	t.Run("Parallel/scale down deletes every condemned pod at once while a pod is not Ready", func(t *testing.T) {
		w.setReplicas(2)
		mark := len(w.passes)
		w.settle()
		mustEqual(t, []string{"DeletePod web-6", "DeletePod web-5", "DeletePod web-4", "DeletePod web-3", "DeletePod web-2"}, w.passes[mark])
		mustEqual(t, map[string]string{"web-0": rev, "web-1": rev}, w.revisions())
		mustEqual(t, [2]int32{2, 1}, [2]int32{w.set.Status.Replicas, w.set.Status.ReadyReplicas})
	})
}

func TestScenarioFailedPodIsRecreated(t *testing.T) {
	for _, policy := range []struct {
		name string
		opt  setOpt
	}{{"OrderedReady", func(*appsv1.StatefulSet) {}}, {"Parallel", parallel}} {
		t.Run(policy.name+"/a failed pod is deleted, and recreated once it is gone", func(t *testing.T) {
			w := newWorld(t, newSet(3, policy.opt))
			w.settle()
			rev := w.set.Status.UpdateRevision
			w.pods["web-1"].Status.Phase = corev1.PodFailed

			res := w.sync()
			mustEqual(t, []string{"DeletePod web-1"}, actionStrings(res.Actions))
			res = w.sync()
			mustEqual(t, 0, len(res.Actions), "nothing is created while the failed pod terminates")
			w.react() // the failed pod is gone
			res = w.sync()
			mustEqual(t, withRev([]string{"CreatePod web-1@REV"}, rev), actionStrings(res.Actions))
			w.settle()
			mustEqual(t, int32(3), w.set.Status.ReadyReplicas)
		})
	}
}

func TestScenarioMinReadySeconds(t *testing.T) {
	t.Run("minReadySeconds/OrderedReady creates each ordinal after the previous one has been Ready for minReadySeconds", func(t *testing.T) {
		w := newWorld(t, newSet(3, withMinReady(30)))
		w.settle()
		mustEqual(t, int32(3), w.set.Status.AvailableReplicas)
		// Creation times are spaced by at least minReadySeconds.
		created := []time.Time{}
		for _, name := range []string{"web-0", "web-1", "web-2"} {
			created = append(created, w.pods[name].CreationTimestamp.Time)
		}
		for i := 1; i < len(created); i++ {
			mustTrue(t, created[i].Sub(created[i-1]) > 30*time.Second, "web-%d created %s after web-%d", i, created[i].Sub(created[i-1]), i-1)
		}
	})

	t.Run("minReadySeconds/the rolling update waits for each updated pod to be available", func(t *testing.T) {
		w := newWorld(t, newSet(2, withMinReady(30), withMaxUnavailable(intstr.FromInt32(1))))
		w.settle()
		w.setImage("nginx:1.28")
		w.settle()
		newRev := w.set.Status.UpdateRevision
		mustEqual(t, map[string]string{"web-0": newRev, "web-1": newRev}, w.revisions())
		mustEqual(t, newRev, w.set.Status.CurrentRevision)
	})
}

func TestScenarioOrdinalsStart(t *testing.T) {
	w := newWorld(t, newSet(2, withStart(3)))
	w.settle()
	rev := w.set.Status.UpdateRevision
	mustEqual(t, map[string]string{"web-3": rev, "web-4": rev}, w.revisions())

	t.Run("ordinals.start/moving start condemns the ordinals below it, highest first", func(t *testing.T) {
		w.set.Spec.Ordinals.Start = 5
		mark := len(w.passes)
		w.settle()
		mustEqual(t, withRev([]string{"CreatePod web-5@REV", "CreatePod web-6@REV", "DeletePod web-4", "DeletePod web-3"}, rev), w.since(mark))
	})
}

// withRev replaces the placeholder REV in rendered actions.
func withRev(actions []string, rev string) []string {
	out := make([]string, len(actions))
	for i, a := range actions {
		if n := len(a); n > 3 && a[n-3:] == "REV" {
			a = a[:n-3] + rev
		}
		out[i] = a
	}
	return out
}
