package daemon

import (
	"bytes"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/storage"
)

// maxCollisionRetries bounds the search for a free revision name. Each
// retry needs a stored revision of the same name with different data, so a
// real history never comes close.
const maxCollisionRetries = 1000

// defaultRevisionHistoryLimit is the API server's default for
// spec.revisionHistoryLimit.
const defaultRevisionHistoryLimit = 10

// RevisionPlan says which revisions a set uses and what to change in its
// stored history. Applying it is idempotent: store Create, store Renumber
// (replacing the stored revision of that name), delete Prune, and record
// CollisionCount in the set's status (Plan's status carries it).
type RevisionPlan struct {
	// Current is the revision that produced the set's current pods: the one
	// named by set.Status.CurrentRevision, else Update.
	Current *appsv1.ControllerRevision
	// Update is the revision of the set's present pod template.
	Update *appsv1.ControllerRevision
	// Create is a new revision to store, or nil. When set, Update is Create.
	Create *appsv1.ControllerRevision
	// Renumber is a stored revision to store again with a new Revision
	// number (a rollback to an older template), or nil. When set, Update is
	// Renumber.
	Renumber *appsv1.ControllerRevision
	// CollisionCount is the set's revision name collision count after this
	// plan; it only grows.
	CollisionCount int32
	// Prune names the revisions to delete so that at most
	// revisionHistoryLimit revisions are kept besides the live ones (current,
	// update, and any a pod is labelled with), oldest first.
	Prune []string
}

// PlanRevisions decides the revisions of set the way Kubernetes'
// getStatefulSetRevisions and truncateHistory do, without storing anything.
// history is the set's stored revisions in any order, pods its observed
// pods (terminating ones included).
//
// The update revision is built by storage.NewRevision from the set's pod
// template with number max+1. If the newest stored revision has the same
// data it is reused as is; else if an older one has, that one is renumbered
// to max+1 (a rollback); else the new one is created, and if a stored
// revision already has its name but other data the collision count is
// incremented and the name recomputed until it is free.
//
// PlanRevisions is pure and never modifies its arguments; the returned
// revisions are copies. An error means the set's template could not be
// encoded, or no free name was found.
func PlanRevisions(set *appsv1.StatefulSet, history []*appsv1.ControllerRevision, pods []*corev1.Pod) (RevisionPlan, error) {
	if set == nil {
		return RevisionPlan{}, errors.New("planning revisions: no set")
	}
	revisions := sortedRevisions(history)

	var plan RevisionPlan
	if set.Status.CollisionCount != nil {
		plan.CollisionCount = *set.Status.CollisionCount
	}
	next := int64(1)
	if n := len(revisions); n > 0 {
		next = revisions[n-1].Revision + 1
	}

	candidate, err := storage.NewRevision(set, next, plan.CollisionCount)
	if err != nil {
		return RevisionPlan{}, fmt.Errorf("planning revisions of %s/%s: %w", set.Namespace, set.Name, err)
	}
	var equal *appsv1.ControllerRevision // the newest stored revision with the candidate's data
	for _, r := range revisions {
		if bytes.Equal(r.Data.Raw, candidate.Data.Raw) {
			equal = r
		}
	}

	switch {
	case equal != nil && equal == revisions[len(revisions)-1]:
		plan.Update = equal.DeepCopy()
	case equal != nil:
		plan.Renumber = equal.DeepCopy()
		plan.Renumber.Revision = next
		plan.Update = plan.Renumber
	default:
		created, count, err := freeName(set, revisions, next, plan.CollisionCount, candidate)
		if err != nil {
			return RevisionPlan{}, err
		}
		plan.CollisionCount = count
		plan.Create, plan.Update = created, created
	}

	plan.Current = plan.Update
	if name := set.Status.CurrentRevision; name != "" && name != plan.Update.Name {
		for _, r := range revisions {
			if r.Name == name {
				plan.Current = r.DeepCopy()
				break
			}
		}
	}
	plan.Prune = prune(set, revisions, pods, plan.Current.Name, plan.Update.Name)
	return plan, nil
}

// sortedRevisions returns a copy of history without nil entries, sorted as
// Kubernetes' SortControllerRevisions does.
func sortedRevisions(history []*appsv1.ControllerRevision) []*appsv1.ControllerRevision {
	revisions := make([]*appsv1.ControllerRevision, 0, len(history))
	for _, r := range history {
		if r != nil {
			revisions = append(revisions, r)
		}
	}
	storage.SortRevisions(revisions)
	return revisions
}

// freeName mirrors CreateControllerRevision's retry loop: while a stored
// revision has the candidate's name, a different collision count is tried.
// It returns the revision to create and the collision count it used.
func freeName(set *appsv1.StatefulSet, revisions []*appsv1.ControllerRevision, number int64, count int32, candidate *appsv1.ControllerRevision) (*appsv1.ControllerRevision, int32, error) {
	taken := make(map[string]bool, len(revisions))
	for _, r := range revisions {
		taken[r.Name] = true
	}
	for range maxCollisionRetries {
		if !taken[candidate.Name] {
			return candidate, count, nil
		}
		count++
		var err error
		candidate, err = storage.NewRevision(set, number, count)
		if err != nil {
			return nil, 0, fmt.Errorf("planning revisions of %s/%s: %w", set.Namespace, set.Name, err)
		}
	}
	return nil, 0, fmt.Errorf("planning revisions of %s/%s: no free revision name after %d collisions", set.Namespace, set.Name, maxCollisionRetries)
}

// prune mirrors truncateHistory: the non-live revisions beyond
// revisionHistoryLimit, oldest first. revisions must be sorted.
func prune(set *appsv1.StatefulSet, revisions []*appsv1.ControllerRevision, pods []*corev1.Pod, current, update string) []string {
	live := map[string]bool{current: true, update: true}
	for _, pod := range pods {
		if pod != nil {
			live[getPodRevision(pod)] = true
		}
	}
	var old []string
	for _, r := range revisions {
		if !live[r.Name] {
			old = append(old, r.Name)
		}
	}
	limit := defaultRevisionHistoryLimit
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	if limit < 0 || len(old) <= limit {
		return nil
	}
	return old[:len(old)-limit]
}
