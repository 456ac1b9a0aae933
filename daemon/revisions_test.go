package daemon_test

import (
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/daemon"
	"github.com/setlet/setlet/storage"
)

// withImage sets the image of the set's container.
func withImage(image string) setOpt {
	return func(set *appsv1.StatefulSet) { set.Spec.Template.Spec.Containers[0].Image = image }
}

// stored returns the revision number n of set with image image, as
// PlanRevisions would have created it.
func stored(t testing.TB, image string, n int64) *appsv1.ControllerRevision {
	t.Helper()
	rev, err := storage.NewRevision(newSet(1, withImage(image)), n, 0)
	mustNoErr(t, err)
	return rev
}

func TestPlanRevisions(t *testing.T) {
	v1, v2, v3 := stored(t, "nginx:1", 1), stored(t, "nginx:2", 2), stored(t, "nginx:3", 3)

	tests := []struct {
		name    string
		set     *appsv1.StatefulSet
		history []*appsv1.ControllerRevision
		pods    []*corev1.Pod
		check   func(t *testing.T, rp daemon.RevisionPlan)
	}{
		{
			name: "PlanRevisions/the first revision is created with number 1 and is both current and update",
			set:  newSet(1, withImage("nginx:1")),
			check: func(t *testing.T, rp daemon.RevisionPlan) {
				mustTrue(t, rp.Create != nil, "a revision is created")
				mustEqual(t, v1.Name, rp.Create.Name)
				mustEqual(t, int64(1), rp.Create.Revision)
				mustEqual(t, v1.Data.Raw, rp.Create.Data.Raw)
				mustEqual(t, rp.Create, rp.Update)
				mustEqual(t, rp.Create, rp.Current)
				mustTrue(t, rp.Renumber == nil, "nothing renumbered")
				mustEqual(t, []string(nil), rp.Prune)
				mustEqual(t, int32(0), rp.CollisionCount)
			},
		},
		{
			name:    "PlanRevisions/an unchanged template reuses the newest revision",
			set:     newSet(1, withImage("nginx:2"), withCurrent(v2.Name)),
			history: []*appsv1.ControllerRevision{v1, v2},
			check: func(t *testing.T, rp daemon.RevisionPlan) {
				mustTrue(t, rp.Create == nil && rp.Renumber == nil, "nothing to store")
				mustEqual(t, v2.Name, rp.Update.Name)
				mustEqual(t, v2.Name, rp.Current.Name)
			},
		},
		{
			name:    "PlanRevisions/a new template creates a revision numbered max+1; current stays as the status says",
			set:     newSet(1, withImage("nginx:3"), withCurrent(v2.Name)),
			history: []*appsv1.ControllerRevision{v2, v1},
			check: func(t *testing.T, rp daemon.RevisionPlan) {
				mustEqual(t, v3.Name, rp.Create.Name)
				mustEqual(t, int64(3), rp.Create.Revision)
				mustEqual(t, v3.Name, rp.Update.Name)
				mustEqual(t, v2.Name, rp.Current.Name)
			},
		},
		{
			name:    "PlanRevisions/current falls back to the update revision when the status names no stored revision",
			set:     newSet(1, withImage("nginx:2"), withCurrent("web-gone")),
			history: []*appsv1.ControllerRevision{v1, v2},
			check: func(t *testing.T, rp daemon.RevisionPlan) {
				mustEqual(t, v2.Name, rp.Current.Name)
			},
		},
		{
			name:    "PlanRevisions/re-applying an older template renumbers that revision (rollback) instead of creating one",
			set:     newSet(1, withImage("nginx:1"), withCurrent(v2.Name)),
			history: []*appsv1.ControllerRevision{v1, v2},
			check: func(t *testing.T, rp daemon.RevisionPlan) {
				mustTrue(t, rp.Create == nil, "nothing created")
				mustTrue(t, rp.Renumber != nil, "a revision is renumbered")
				mustEqual(t, v1.Name, rp.Renumber.Name)
				mustEqual(t, int64(3), rp.Renumber.Revision)
				mustEqual(t, rp.Renumber, rp.Update)
				mustEqual(t, v2.Name, rp.Current.Name)
				mustEqual(t, int64(1), v1.Revision, "the stored revision is not modified")
			},
		},
		{
			name:    "PlanRevisions/a rollback to the current revision makes it current and update",
			set:     newSet(1, withImage("nginx:1"), withCurrent(v1.Name)),
			history: []*appsv1.ControllerRevision{v1, v2},
			check: func(t *testing.T, rp daemon.RevisionPlan) {
				mustEqual(t, v1.Name, rp.Update.Name)
				mustEqual(t, rp.Update, rp.Current)
				mustEqual(t, int64(3), rp.Current.Revision)
			},
		},
		{
			name:    "PlanRevisions/a name collision with other data increments the collision count",
			set:     newSet(1, withImage("nginx:2")),
			history: []*appsv1.ControllerRevision{impostor(t, newSet(1, withImage("nginx:2")), 0)},
			check: func(t *testing.T, rp daemon.RevisionPlan) {
				mustEqual(t, int32(1), rp.CollisionCount)
				want, err := storage.NewRevision(newSet(1, withImage("nginx:2")), 2, 1)
				mustNoErr(t, err)
				mustEqual(t, want.Name, rp.Create.Name)
				mustEqual(t, int64(2), rp.Create.Revision)
			},
		},
		{
			name: "PlanRevisions/the collision count starts from the status and is kept",
			set: newSet(1, withImage("nginx:2"), func(s *appsv1.StatefulSet) {
				c := int32(4)
				s.Status.CollisionCount = &c
			}),
			check: func(t *testing.T, rp daemon.RevisionPlan) {
				want, err := storage.NewRevision(newSet(1, withImage("nginx:2")), 1, 4)
				mustNoErr(t, err)
				mustEqual(t, want.Name, rp.Create.Name)
				mustEqual(t, int32(4), rp.CollisionCount)
			},
		},
		{
			name:    "PlanRevisions/pruning deletes the oldest revisions beyond revisionHistoryLimit, never a live one",
			set:     newSet(1, withImage("nginx:6"), withCurrent("web-r5"), withHistoryLimit(2)),
			history: chain(t, 6), // web-r1..web-r5 plus the revision of nginx:6
			pods:    []*corev1.Pod{p(0, "web-r1"), p(1, "web-r2", terminating)},
			check: func(t *testing.T, rp daemon.RevisionPlan) {
				// live: r1 and r2 (pods), r5 (current), nginx:6 (update);
				// history: r3, r4 fit the limit of 2.
				mustEqual(t, []string(nil), rp.Prune)
			},
		},
		{
			name:    "PlanRevisions/pruning keeps revisionHistoryLimit non-live revisions, oldest deleted first",
			set:     newSet(1, withImage("nginx:6"), withCurrent("web-r5"), withHistoryLimit(1)),
			history: chain(t, 6),
			pods:    []*corev1.Pod{p(0, "web-r2")},
			check: func(t *testing.T, rp daemon.RevisionPlan) {
				mustEqual(t, []string{"web-r1", "web-r3"}, rp.Prune)
			},
		},
		{
			name:    "PlanRevisions/a limit of 0 prunes every non-live revision",
			set:     newSet(1, withImage("nginx:6"), withCurrent("web-r5"), withHistoryLimit(0)),
			history: chain(t, 6),
			check: func(t *testing.T, rp daemon.RevisionPlan) {
				mustEqual(t, []string{"web-r1", "web-r2", "web-r3", "web-r4"}, rp.Prune)
			},
		},
		{
			name:    "PlanRevisions/a negative limit prunes nothing, as in Kubernetes",
			set:     newSet(1, withImage("nginx:6"), withHistoryLimit(-1)),
			history: chain(t, 6),
			check: func(t *testing.T, rp daemon.RevisionPlan) {
				mustEqual(t, []string(nil), rp.Prune)
			},
		},
		{
			name:    "PlanRevisions/without revisionHistoryLimit ten revisions are kept",
			set:     newSet(1, withImage("nginx:13"), func(s *appsv1.StatefulSet) { s.Spec.RevisionHistoryLimit = nil }),
			history: chain(t, 13),
			check: func(t *testing.T, rp daemon.RevisionPlan) {
				mustEqual(t, []string{"web-r1", "web-r2"}, rp.Prune)
			},
		},
		{
			name: "PlanRevisions/revisions with one number are ordered by creation time, then name",
			set:  newSet(1, withImage("nginx:1")),
			history: []*appsv1.ControllerRevision{
				withCreated(stored(t, "nginx:1", 1), 2), withCreated(renamed(stored(t, "nginx:9", 1), "web-b"), 1),
				withCreated(renamed(stored(t, "nginx:8", 1), "web-a"), 1),
			},
			check: func(t *testing.T, rp daemon.RevisionPlan) {
				mustTrue(t, rp.Create == nil && rp.Renumber == nil, "the newest of the tied revisions has the template")
				mustEqual(t, v1.Name, rp.Update.Name)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := tt.set.DeepCopy()
			history := make([]*appsv1.ControllerRevision, len(tt.history))
			for i, r := range tt.history {
				history[i] = r.DeepCopy()
			}
			rp, err := daemon.PlanRevisions(tt.set, tt.history, tt.pods)
			mustNoErr(t, err)
			mustTrue(t, apiequality.Semantic.DeepEqual(set, tt.set), "PlanRevisions modified the set")
			mustTrue(t, apiequality.Semantic.DeepEqual(history, tt.history), "PlanRevisions modified the history")
			tt.check(t, rp)
		})
	}
}

func TestPlanRevisionsErrors(t *testing.T) {
	t.Run("PlanRevisions/a nil set is an error", func(t *testing.T) {
		_, err := daemon.PlanRevisions(nil, nil, nil)
		mustTrue(t, err != nil, "error expected")
	})
	t.Run("PlanRevisions/gives up when every candidate name is taken", func(t *testing.T) {
		set := newSet(1)
		patch, err := storage.TemplatePatch(set)
		mustNoErr(t, err)
		var history []*appsv1.ControllerRevision
		for c := int32(0); c <= 1000; c++ {
			history = append(history, &appsv1.ControllerRevision{
				ObjectMeta: metav1.ObjectMeta{Name: storage.RevisionName("web", storage.HashRevision(patch, c))},
				Revision:   int64(c) + 1,
			})
		}
		_, err = daemon.PlanRevisions(set, history, nil)
		mustTrue(t, err != nil, "error expected")
		mustContain(t, err.Error(), "no free revision name")
	})
}

func withCurrent(name string) setOpt {
	return func(s *appsv1.StatefulSet) { s.Status.CurrentRevision = name }
}

func withHistoryLimit(n int32) setOpt {
	return func(s *appsv1.StatefulSet) { s.Spec.RevisionHistoryLimit = &n }
}

// impostor returns a revision with the name set's template would get with
// collision count c, but other data.
func impostor(t *testing.T, set *appsv1.StatefulSet, c int32) *appsv1.ControllerRevision {
	t.Helper()
	rev, err := storage.NewRevision(set, 1, c)
	mustNoErr(t, err)
	rev.Data.Raw = []byte(`{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"other":"data"}}}}}`)
	return rev
}

// chain returns n revisions: web-r1..web-r<n-1> with images nginx:1..,
// renamed for readability, then the real revision of nginx:<n>.
func chain(t testing.TB, n int) []*appsv1.ControllerRevision {
	t.Helper()
	var out []*appsv1.ControllerRevision
	for i := 1; i < n; i++ {
		out = append(out, renamed(stored(t, "nginx:"+strconv.Itoa(i), int64(i)), "web-r"+strconv.Itoa(i)))
	}
	return append(out, stored(t, "nginx:"+strconv.Itoa(n), int64(n)))
}

func renamed(r *appsv1.ControllerRevision, name string) *appsv1.ControllerRevision {
	r.Name = name
	return r
}

func withCreated(r *appsv1.ControllerRevision, minute int) *appsv1.ControllerRevision {
	r.CreationTimestamp = metav1.NewTime(t0.Add(time.Duration(minute) * time.Minute))
	return r
}
