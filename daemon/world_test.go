package daemon_test

import (
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/setlet/setlet/daemon"
	"github.com/setlet/setlet/storage"
)

// world is a fake host for scenario tests: a set, its stored revisions, a
// map of pods and a fake clock. sync runs one planner pass the way the
// daemon will (PlanRevisions, then Plan), checks the invariants, and
// applies the actions: a created pod starts Pending, a deleted pod is
// marked terminating. react then plays the host: terminating pods vanish,
// pending pods become Running and Ready (unless stuck says otherwise).
type world struct {
	t       *testing.T
	set     *appsv1.StatefulSet
	history []*appsv1.ControllerRevision
	pods    map[string]*corev1.Pod
	now     time.Time
	// stuck reports pods that never become Ready.
	stuck func(*corev1.Pod) bool
	// passes holds the rendered actions of every pass, in order.
	passes [][]string
	// last is the last pass's plan and revisions.
	last    daemon.PlanResult
	lastRev daemon.RevisionPlan
}

func newWorld(t *testing.T, set *appsv1.StatefulSet) *world {
	return &world{
		t:     t,
		set:   set,
		pods:  map[string]*corev1.Pod{},
		now:   t0,
		stuck: func(*corev1.Pod) bool { return false },
	}
}

// podList returns the observed pods, sorted by name.
func (w *world) podList() []*corev1.Pod {
	out := make([]*corev1.Pod, 0, len(w.pods))
	for _, pod := range w.pods {
		out = append(out, pod)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// sync runs one pass and applies it.
func (w *world) sync() daemon.PlanResult {
	w.t.Helper()
	observed := w.podList()
	rp, err := daemon.PlanRevisions(w.set, w.history, observed)
	mustNoErr(w.t, err)
	w.storeRevisions(rp)
	res := daemon.Plan(daemon.PlanInput{
		Set:             w.set,
		CurrentRevision: rp.Current.Name,
		UpdateRevision:  rp.Update.Name,
		CollisionCount:  rp.CollisionCount,
		Pods:            observed,
		Now:             w.now,
	})
	w.checkPass(observed, rp, res)
	for _, a := range res.Actions {
		w.apply(a)
	}
	w.checkWorld()
	w.set.Status = res.Status
	w.passes = append(w.passes, actionStrings(res.Actions))
	w.last, w.lastRev = res, rp
	return res
}

// storeRevisions applies a RevisionPlan to the fake history.
func (w *world) storeRevisions(rp daemon.RevisionPlan) {
	pruned := map[string]bool{}
	for _, name := range rp.Prune {
		pruned[name] = true
	}
	kept := w.history[:0:0]
	for _, r := range w.history {
		switch {
		case pruned[r.Name]:
		case rp.Renumber != nil && r.Name == rp.Renumber.Name:
			kept = append(kept, rp.Renumber.DeepCopy())
		default:
			kept = append(kept, r)
		}
	}
	if rp.Create != nil {
		kept = append(kept, rp.Create.DeepCopy())
	}
	w.history = kept
}

func (w *world) revision(name string) *appsv1.ControllerRevision {
	for _, r := range w.history {
		if r.Name == name {
			return r
		}
	}
	w.t.Fatalf("revision %s is not stored", name)
	return nil
}

// apply performs one action idempotently, as the executor will.
func (w *world) apply(a daemon.Action) {
	w.t.Helper()
	switch a.Type {
	case daemon.ActionCreatePod:
		if _, ok := w.pods[a.Pod]; ok {
			return // already exists
		}
		set, err := storage.ApplyRevision(w.set, w.revision(a.Revision))
		mustNoErr(w.t, err)
		pod := daemon.NewPod(set, a.Revision, a.Ordinal)
		mustEqual(w.t, a.Pod, pod.Name)
		pod.CreationTimestamp = metav1.NewTime(w.now)
		pod.Status.Phase = corev1.PodPending
		w.pods[pod.Name] = pod
	case daemon.ActionDeletePod:
		w.terminate(a.Pod)
	case daemon.ActionUpdatePodIdentity:
		pod := w.pods[a.Pod]
		pod.Labels[appsv1.StatefulSetPodNameLabel] = pod.Name
		pod.Labels[appsv1.PodIndexLabel] = strconv.Itoa(a.Ordinal)
	}
}

// terminate starts the graceful deletion of a pod, as a user or the
// executor does.
func (w *world) terminate(name string) {
	if pod, ok := w.pods[name]; ok && pod.DeletionTimestamp == nil {
		ts := metav1.NewTime(w.now)
		pod.DeletionTimestamp = &ts
	}
}

// react plays the host for one step and reports whether anything changed:
// terminating pods vanish; if none did, every pod that is neither Ready,
// terminating, finished nor stuck becomes Running and Ready.
func (w *world) react() bool {
	w.now = w.now.Add(time.Second)
	changed := false
	for name, pod := range w.pods {
		if pod.DeletionTimestamp != nil {
			delete(w.pods, name)
			changed = true
		}
	}
	if changed {
		return true
	}
	for _, pod := range w.podList() {
		if podReady(pod) || pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded || w.stuck(pod) {
			continue
		}
		readySince(w.now)(pod)
		changed = true
	}
	return changed
}

// settle alternates passes and reactions until a pass has nothing to do and
// the host has nothing to change. When the plan waits on minReadySeconds
// the clock jumps to RequeueAt, as the daemon's timer would.
func (w *world) settle() {
	w.t.Helper()
	for range 500 {
		res := w.sync()
		if w.react() || len(res.Actions) > 0 {
			continue
		}
		if !res.RequeueAt.IsZero() {
			w.now = res.RequeueAt
			continue
		}
		return
	}
	w.t.Fatalf("set did not settle; last wait %q", w.last.Wait)
}

// since returns the actions of the passes from index from on, flattened.
func (w *world) since(from int) []string {
	var out []string
	for _, pass := range w.passes[from:] {
		out = append(out, pass...)
	}
	return out
}

// revisions maps each pod's name to its revision label.
func (w *world) revisions() map[string]string {
	out := map[string]string{}
	for name, pod := range w.pods {
		out[name] = pod.Labels[appsv1.StatefulSetRevisionLabel]
	}
	return out
}

func (w *world) setReplicas(n int32) { w.set.Spec.Replicas = &n }

func (w *world) setImage(image string) {
	w.set.Spec.Template.Spec.Containers[0].Image = image
	w.set.Generation++
}

func (w *world) setPartition(p int32) {
	*w.set.Spec.UpdateStrategy.RollingUpdate.Partition = p
	w.set.Generation++
}

// podReady reports whether pod is Running with a true Ready condition.
func podReady(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podAvailable reports whether pod has been Ready for more than
// minReadySeconds at now.
func podAvailable(pod *corev1.Pod, minReady int32, now time.Time) bool {
	if !podReady(pod) {
		return false
	}
	if minReady == 0 {
		return true
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return !c.LastTransitionTime.IsZero() && c.LastTransitionTime.Add(time.Duration(minReady)*time.Second).Before(now)
		}
	}
	return false
}

func ordinalOf(name string) int {
	n, err := strconv.Atoi(name[strings.LastIndexByte(name, '-')+1:])
	if err != nil {
		return -1
	}
	return n
}

// checkPass checks the invariants of one pass against what it observed.
func (w *world) checkPass(observed []*corev1.Pod, rp daemon.RevisionPlan, res daemon.PlanResult) {
	t := w.t
	t.Helper()
	set := w.set
	start, replicas := 0, int(*set.Spec.Replicas)
	if set.Spec.Ordinals != nil {
		start = int(set.Spec.Ordinals.Start)
	}
	inRange := func(ord int) bool { return ord >= start && ord < start+replicas }
	ordered := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	rolling := set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType
	partition := 0
	if rolling {
		partition = int(*set.Spec.UpdateStrategy.RollingUpdate.Partition)
	}
	minReady := set.Spec.MinReadySeconds

	byOrdinal := map[int]*corev1.Pod{}
	for _, pod := range observed {
		ord := ordinalOf(pod.Name)
		if _, dup := byOrdinal[ord]; dup {
			t.Fatalf("invariant: two pods with ordinal %d", ord)
		}
		byOrdinal[ord] = pod
	}
	healthyBelow := func(ord int) bool {
		for j := start; j < ord; j++ {
			pod := byOrdinal[j]
			if pod == nil || pod.DeletionTimestamp != nil || !podAvailable(pod, minReady, w.now) {
				return false
			}
		}
		return true
	}

	var creates, scaleDowns, updates []int
	for _, a := range res.Actions {
		pod := byOrdinal[a.Ordinal]
		switch {
		case a.Type == daemon.ActionCreatePod:
			if pod != nil {
				t.Fatalf("invariant: create of %s while a pod with that ordinal exists", a.Pod)
			}
			if ordered && !healthyBelow(a.Ordinal) {
				t.Fatalf("invariant: OrderedReady created %s while a lower ordinal is not Running, Ready and available", a.Pod)
			}
			if rolling && a.Ordinal < start+partition && a.Revision != rp.Current.Name {
				t.Fatalf("invariant: %s below the partition created at %s, not the current revision %s", a.Pod, a.Revision, rp.Current.Name)
			}
			creates = append(creates, a.Ordinal)
		case a.Type != daemon.ActionDeletePod:
		case pod == nil:
			t.Fatalf("invariant: delete of %s, which does not exist", a.Pod)
		case pod.DeletionTimestamp != nil:
			t.Fatalf("invariant: delete of %s, which is already terminating", a.Pod)
		case !inRange(a.Ordinal):
			for _, other := range observed {
				if ordered && !inRange(ordinalOf(other.Name)) && ordinalOf(other.Name) > a.Ordinal {
					t.Fatalf("invariant: OrderedReady scaled down %s while higher %s exists", a.Pod, other.Name)
				}
				if ordered && other.DeletionTimestamp != nil {
					t.Fatalf("invariant: OrderedReady scaled down %s while %s terminates", a.Pod, other.Name)
				}
			}
			scaleDowns = append(scaleDowns, a.Ordinal)
		case pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded:
		case a.Cause == daemon.DeleteStuck:
			w.checkStuck(pod, observed, rp, a)
		default:
			if !rolling {
				t.Fatalf("invariant: OnDelete deleted %s for an update", a.Pod)
			}
			if a.Ordinal < start+partition {
				t.Fatalf("invariant: %s below the partition %d was replaced by the update", a.Pod, partition)
			}
			if pod.Labels[appsv1.StatefulSetRevisionLabel] == rp.Update.Name {
				t.Fatalf("invariant: %s is already at the update revision but was deleted", a.Pod)
			}
			if ordered && !healthyBelow(start+replicas) {
				t.Fatalf("invariant: OrderedReady updated %s while a replica is unhealthy", a.Pod)
			}
			updates = append(updates, a.Ordinal)
		}
	}
	if ordered && len(creates)+len(scaleDowns) > 1 {
		t.Fatalf("invariant: OrderedReady took %d create/scale-down steps in one pass", len(creates)+len(scaleDowns))
	}
	if !sort.SliceIsSorted(scaleDowns, func(i, j int) bool { return scaleDowns[i] > scaleDowns[j] }) {
		t.Fatalf("invariant: scale down not highest first: %v", scaleDowns)
	}
	if !sort.SliceIsSorted(updates, func(i, j int) bool { return updates[i] > updates[j] }) {
		t.Fatalf("invariant: update not highest first: %v", updates)
	}
	if rolling && len(updates) > 0 {
		limit, err := intstr.GetScaledValueFromIntOrPercent(set.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable, replicas, false)
		mustNoErr(t, err)
		unavailable := 0
		for ord := start; ord < start+replicas; ord++ {
			if pod := byOrdinal[ord]; pod == nil || pod.DeletionTimestamp != nil || !podAvailable(pod, minReady, w.now) {
				unavailable++
			}
		}
		if unavailable+len(updates) > max(limit, 1) {
			t.Fatalf("invariant: %d unavailable + %d update deletions exceed maxUnavailable %d", unavailable, len(updates), limit)
		}
	}
}

// checkWorld checks the invariants of the world after a pass is applied.
func (w *world) checkWorld() {
	w.t.Helper()
	if w.set.Spec.PodManagementPolicy == appsv1.ParallelPodManagement {
		return
	}
	start, replicas := 0, int(*w.set.Spec.Replicas)
	if w.set.Spec.Ordinals != nil {
		start = int(w.set.Spec.Ordinals.Start)
	}
	var condemned []string
	for name, pod := range w.pods {
		if ord := ordinalOf(name); (ord < start || ord >= start+replicas) && pod.DeletionTimestamp != nil {
			condemned = append(condemned, name)
		}
	}
	if len(condemned) > 1 {
		w.t.Fatalf("invariant: OrderedReady has %d condemned pods terminating at once: %v", len(condemned), condemned)
	}
}

// checkStuck checks a deletion by the stuck-rollout rule against the rule
// as Plan's documentation states it.
func (w *world) checkStuck(pod *corev1.Pod, observed []*corev1.Pod, rp daemon.RevisionPlan, a daemon.Action) {
	t := w.t
	t.Helper()
	set := w.set
	if set.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		t.Fatalf("invariant: %s replaced as stuck under %s", a.Pod, set.Spec.UpdateStrategy.Type)
	}
	if podReady(pod) {
		t.Fatalf("invariant: %s replaced as stuck while Ready", a.Pod)
	}
	start := 0
	if set.Spec.Ordinals != nil {
		start = int(set.Spec.Ordinals.Start)
	}
	want := rp.Update.Name
	if set.Spec.UpdateStrategy.RollingUpdate != nil && a.Ordinal < start+int(*set.Spec.UpdateStrategy.RollingUpdate.Partition) {
		want = rp.Current.Name
	}
	if pod.Labels[appsv1.StatefulSetRevisionLabel] == want {
		t.Fatalf("invariant: %s replaced as stuck while at revision %s, the one it would be created at", a.Pod, want)
	}
	if want == rp.Current.Name {
		return
	}
	for _, other := range observed {
		if other.Name != pod.Name && other.DeletionTimestamp == nil && podReady(other) && other.Labels[appsv1.StatefulSetRevisionLabel] == want {
			return
		}
	}
	t.Fatalf("invariant: %s replaced as stuck but revision %s is neither current nor Ready on another pod", a.Pod, want)
}
