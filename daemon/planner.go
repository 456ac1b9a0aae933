package daemon

import (
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// ActionType says what an Action does.
type ActionType string

const (
	// ActionCreatePod creates the pod of Action.Ordinal, built by NewPod from
	// the set with revision Action.Revision applied, together with its
	// volumes. The executor treats "already exists" as success.
	ActionCreatePod ActionType = "CreatePod"
	// ActionDeletePod starts the graceful deletion of pod Action.Pod: it is
	// marked terminating and removed once its containers have stopped. The
	// executor treats "not found" and "already terminating" as success.
	ActionDeletePod ActionType = "DeletePod"
	// ActionUpdatePodIdentity repairs an existing pod whose identity does not
	// match its set (Kubernetes updates such a pod in place): the executor
	// sets its statefulset.kubernetes.io/pod-name and
	// apps.kubernetes.io/pod-index labels and makes sure the volumes of its
	// ordinal exist. It is idempotent.
	ActionUpdatePodIdentity ActionType = "UpdatePodIdentity"
)

// Action is one step the executor performs for a set.
type Action struct {
	// Type says what to do.
	Type ActionType
	// Ordinal is the ordinal of the pod acted on.
	Ordinal int
	// Pod is the name of the pod acted on.
	Pod string
	// Revision is, for ActionCreatePod, the name of the revision the new pod
	// is built from: the current revision below the partition, the update
	// revision otherwise. It is "" for other types.
	Revision string
	// Cause says, for ActionDeletePod, what the deletion is for; it is ""
	// for other types. The executor records events and applies the volume
	// retention policy from it.
	Cause DeleteCause
	// Reason says why, for humans (events, describe). Code must not parse it.
	Reason string
}

// DeleteCause says why Plan deletes a pod.
type DeleteCause string

const (
	// DeleteRecreate deletes a Failed or Succeeded pod so that it is
	// created again.
	DeleteRecreate DeleteCause = "Recreate"
	// DeleteScaleDown deletes a condemned pod: its ordinal is no longer in
	// the set's range. whenScaled applies to its volumes.
	DeleteScaleDown DeleteCause = "ScaleDown"
	// DeleteUpdate deletes a pod of another revision during a rolling
	// update, to create it again at the update revision.
	DeleteUpdate DeleteCause = "Update"
	// DeleteStuck deletes a pod that is not Ready at a revision a new pod
	// of its ordinal would not get, when that revision is known to work
	// (see Plan): the recovery of kubernetes/kubernetes#67250.
	DeleteStuck DeleteCause = "Stuck"
)

// PlanInput is everything Plan looks at.
type PlanInput struct {
	// Set is the StatefulSet, defaulted as the API server does, with
	// Generation set and Status holding the last stored status. It must not
	// be nil.
	Set *appsv1.StatefulSet
	// CurrentRevision is the name of the current revision
	// (RevisionPlan.Current); "" means the update revision.
	CurrentRevision string
	// UpdateRevision is the name of the update revision (RevisionPlan.Update).
	UpdateRevision string
	// CollisionCount is the revision name collision count
	// (RevisionPlan.CollisionCount); it is copied into the status.
	CollisionCount int32
	// Pods are the observed pods of the set, in any order, terminating ones
	// included. Pods whose names do not name an ordinal of the set are
	// ignored, as Kubernetes ignores them.
	Pods []*corev1.Pod
	// Now is the time the plan is made at; it decides minReadySeconds.
	Now time.Time
}

// PlanResult is what one pass of the StatefulSet controller decides.
type PlanResult struct {
	// Actions are the steps to perform, in order. The order is deterministic.
	Actions []Action
	// Wait says why the pass stopped short when it is blocked, e.g.
	// "waiting for web-1 to be Running and Ready"; "" otherwise.
	Wait string
	// RequeueAt is when a pod that is Ready but not yet available (because of
	// minReadySeconds) becomes available, which may change the plan and the
	// status; zero when there is no such pod.
	RequeueAt time.Time
	// Status is the status Kubernetes would write after this pass.
	Status appsv1.StatefulSetStatus
}

// Plan decides the next steps for a StatefulSet the way one sync of
// Kubernetes' StatefulSet controller does (with MaxUnavailableStatefulSet
// on), from the observed state alone:
//
//   - Missing ordinals in [start, start+replicas) are created; a Failed or
//     Succeeded pod is deleted, and recreated by a later pass once it is
//     gone. With OrderedReady one pass takes at most one such step, and no
//     step is taken past an ordinal that is terminating or not Running,
//     Ready and available (Ready for more than minReadySeconds). Parallel
//     creates and deletes everything at once.
//   - Ordinals outside the range are condemned and deleted, highest first.
//     With OrderedReady only once every replica is healthy, one at a time,
//     each after the previous one is gone, and not while another pod is
//     unhealthy (the first unhealthy pod itself may go, and so may a pod
//     that is not created: it runs nothing, and no pass would ever start
//     it. The daemon holds a pod so after a host restart, see reboot.go).
//   - Scaling takes precedence over updates. OnDelete stops there.
//     RollingUpdate then deletes pods that are not at the update revision,
//     highest ordinal first, never below start+partition, so that at most
//     maxUnavailable replicas are unavailable; their replacements are
//     created at the update revision by later passes.
//
// One rule departs from Kubernetes, which freezes a rollout on a pod that
// never becomes Ready until a human deletes that pod, even after the
// template has been set back (kubernetes/kubernetes#67250, and "Forced
// rollback" in the StatefulSet docs). With RollingUpdate, a replica that is
// not terminating and not Running and Ready is deleted, so that it is
// created again, when all of these hold:
//
//   - its revision is not the one a new pod of its ordinal gets (the update
//     revision at or above the partition, the current one below it);
//   - that revision is known to work: it is the current revision (whose
//     rollout completed with every replica Ready), or another replica runs
//     it Running and Ready.
//
// So re-applying or undoing to a template that is live on the other pods
// replaces the broken pod instead of waiting for it forever, while a new,
// untried template still waits, as in Kubernetes. The replaced pod is
// already unavailable, so the rule never takes down a working pod, and it
// cannot loop: the new pod is at the revision the rule wants.
//
// Every decision is level-triggered: a failed action is simply decided
// again by the next pass. Plan is pure: no I/O, no clock, deterministic, and
// it never modifies its input.
func Plan(in PlanInput) PlanResult {
	p := newPass(in)
	p.run(in.Pods)
	return p.result
}

// pass holds what one Plan call decides as it goes.
type pass struct {
	set       *appsv1.StatefulSet
	current   string
	update    string
	now       time.Time
	minReady  int32
	start     int
	replicas  int
	monotonic bool
	result    PlanResult
	// deleted holds the pods this pass deletes, so no later step counts
	// them again.
	deleted map[string]bool
}

func newPass(in PlanInput) *pass {
	current := in.CurrentRevision
	if current == "" {
		current = in.UpdateRevision
	}
	return &pass{
		set:       in.Set,
		current:   current,
		update:    in.UpdateRevision,
		now:       in.Now,
		minReady:  in.Set.Spec.MinReadySeconds,
		start:     startOrdinal(in.Set),
		replicas:  replicaCount(in.Set),
		monotonic: !allowsBurst(in.Set),
		result: PlanResult{
			Status: newStatus(in.Set, current, in.UpdateRevision, in.CollisionCount),
		},
	}
}

// run performs the pass over observed.
func (p *pass) run(observed []*corev1.Pod) {
	members := p.members(observed)
	status := &p.result.Status

	// A set being deleted only gets its status refreshed.
	if p.set.DeletionTimestamp != nil {
		countPods(status, p.minReady, p.now, members)
		p.result.RequeueAt = nextAvailable(p.minReady, p.now, members)
		p.result.Wait = "set is being deleted"
		return
	}

	replicas, condemned := p.split(members)
	countPods(status, p.minReady, p.now, replicas, condemned)
	p.result.RequeueAt = nextAvailable(p.minReady, p.now, replicas, condemned)

	if !p.processReplicas(replicas) &&
		!p.processCondemned(replicas, condemned) &&
		p.set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
		p.rollingUpdate(replicas)
	}
	completeRollingUpdate(p.set, status)
}

// members returns the pods of observed that belong to the set, sorted by
// name so that everything after is independent of the input order.
func (p *pass) members(observed []*corev1.Pod) []*corev1.Pod {
	members := make([]*corev1.Pod, 0, len(observed))
	for _, pod := range observed {
		if pod != nil && isMemberOf(p.set, pod) {
			members = append(members, pod)
		}
	}
	sort.SliceStable(members, func(i, j int) bool { return members[i].Name < members[j].Name })
	return members
}

// split sorts members into replicas, indexed by ordinal-start with nil for
// a missing ordinal, and condemned pods (valid ordinals outside the range),
// highest ordinal first. Pods without a valid ordinal are dropped. When two
// pods claim one ordinal the later one in name order wins, as the later one
// in list order does in Kubernetes.
func (p *pass) split(members []*corev1.Pod) ([]*corev1.Pod, []*corev1.Pod) {
	replicas := make([]*corev1.Pod, p.replicas)
	var condemned []*corev1.Pod
	for _, pod := range members {
		ordinal := getOrdinal(pod)
		switch {
		case ordinal >= p.start && ordinal < p.start+p.replicas:
			replicas[ordinal-p.start] = pod
		case ordinal >= 0:
			condemned = append(condemned, pod)
		}
	}
	sort.SliceStable(condemned, func(i, j int) bool { return getOrdinal(condemned[i]) > getOrdinal(condemned[j]) })
	return replicas, condemned
}

// emit appends an action to the plan.
func (p *pass) emit(t ActionType, ordinal int, pod, revision, reason string) {
	p.result.Actions = append(p.result.Actions, Action{Type: t, Ordinal: ordinal, Pod: pod, Revision: revision, Reason: reason})
}

// emitDelete appends a deletion of pod to the plan.
func (p *pass) emitDelete(pod *corev1.Pod, cause DeleteCause, reason string) {
	p.result.Actions = append(p.result.Actions, Action{Type: ActionDeletePod, Ordinal: getOrdinal(pod), Pod: pod.Name, Cause: cause, Reason: reason})
	if p.deleted == nil {
		p.deleted = map[string]bool{}
	}
	p.deleted[pod.Name] = true
}

// wait records why the pass stops and reports true, so callers can
// "return p.wait(...)".
func (p *pass) wait(format string, args ...any) bool {
	p.result.Wait = fmt.Sprintf(format, args...)
	return true
}

// revisionFor mirrors newVersionedStatefulSetPod: which revision a new pod
// of ordinal gets. Below start+partition it is the current revision, else
// the update revision. (A RollingUpdate set without rollingUpdate
// parameters, which defaulting never leaves, uses status.currentReplicas as
// the partition, as Kubernetes does.)
func (p *pass) revisionFor(ordinal int) string {
	strategy := p.set.Spec.UpdateStrategy
	if strategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && strategy.RollingUpdate == nil &&
		ordinal < p.start+int(p.set.Status.CurrentReplicas) ||
		strategy.RollingUpdate != nil && ordinal < p.start+partition(p.set) {
		return p.current
	}
	return p.update
}

// processReplicas mirrors processReplica over every ordinal in range, in
// ascending order. It reports whether the pass must stop (OrderedReady only).
func (p *pass) processReplicas(replicas []*corev1.Pod) bool {
	for i, pod := range replicas {
		ordinal := p.start + i
		name := podName(p.set, ordinal)

		if pod != nil && (isFailed(pod) || isSucceeded(pod)) {
			if isTerminating(pod) {
				if p.monotonic {
					return p.wait("waiting for %s to terminate", pod.Name)
				}
				continue
			}
			reason := "recreate failed pod"
			if isSucceeded(pod) {
				reason = "recreate succeeded pod"
			}
			p.emitDelete(pod, DeleteRecreate, reason)
			if p.monotonic {
				return true
			}
			continue
		}

		if pod == nil || !isCreated(pod) {
			p.emit(ActionCreatePod, ordinal, name, p.revisionFor(ordinal), "create missing pod")
			if p.monotonic {
				return true
			}
			continue
		}

		if !isTerminating(pod) && !isRunningAndReady(pod) && p.replaceStuck(replicas, i) {
			if p.monotonic {
				return true
			}
			continue
		}

		if p.monotonic {
			switch {
			case isTerminating(pod):
				return p.wait("waiting for %s to terminate", pod.Name)
			case !isRunningAndReady(pod):
				return p.wait("waiting for %s to be Running and Ready", pod.Name)
			case !isRunningAndAvailable(pod, p.minReady, p.now):
				return p.wait("waiting for %s to be available (Ready for %ds)", pod.Name, p.minReady)
			}
		}

		switch {
		case !identityMatches(p.set, pod):
			p.emit(ActionUpdatePodIdentity, ordinal, pod.Name, "", "identity labels do not match the set")
		case !storageMatches(p.set, pod):
			p.emit(ActionUpdatePodIdentity, ordinal, pod.Name, "", "volumes do not match the volume claim templates")
		}
	}
	return false
}

// firstUnavailable mirrors Kubernetes' firstUnavailablePod: the
// lowest-ordinal unavailable replica, else the lowest-ordinal unavailable
// condemned pod, else nil. A missing replica counts as unavailable and is
// returned as nil, which, like Kubernetes' placeholder pod, is no
// condemned pod.
func (p *pass) firstUnavailable(replicas, condemned []*corev1.Pod) *corev1.Pod {
	for _, pod := range replicas {
		if isUnavailable(pod, p.minReady, p.now) {
			return pod
		}
	}
	for i := len(condemned) - 1; i >= 0; i-- {
		if isUnavailable(condemned[i], p.minReady, p.now) {
			return condemned[i]
		}
	}
	return nil
}

// processCondemned mirrors processCondemned over the condemned pods,
// highest ordinal first. It reports whether the pass must stop. With
// OrderedReady it only runs once every replica is available, so the first
// unavailable pod, if any, is a condemned one: that one may be deleted
// while it is unhealthy, any other unhealthy condemned pod blocks.
func (p *pass) processCondemned(replicas, condemned []*corev1.Pod) bool {
	first := p.firstUnavailable(replicas, condemned)
	for _, pod := range condemned {
		if isTerminating(pod) {
			if p.monotonic {
				return p.wait("waiting for %s to terminate before scaling down", pod.Name)
			}
			continue
		}
		if p.monotonic && pod != first && isCreated(pod) {
			blocker := pod.Name
			if first != nil {
				blocker = first.Name
			}
			switch {
			case !isRunningAndReady(pod):
				return p.wait("waiting for %s to be Running and Ready before scaling down", blocker)
			case !isRunningAndAvailable(pod, p.minReady, p.now):
				return p.wait("waiting for %s to be available before scaling down", blocker)
			}
		}
		p.emitDelete(pod, DeleteScaleDown, "scale down")
		if p.monotonic {
			return true
		}
	}
	return false
}

// rollingUpdate mirrors updateStatefulSetAfterInvariantEstablished: it
// deletes up to maxUnavailable minus the unavailable replicas, highest
// ordinal first, among the pods at or above start+partition that are not at
// the update revision and not already terminating.
func (p *pass) rollingUpdate(replicas []*corev1.Pod) {
	limit, err := maxUnavailable(p.set, p.replicas)
	if err != nil {
		p.wait("rolling update blocked: invalid maxUnavailable: %v", err)
		return
	}
	unavailable := 0
	for _, pod := range replicas {
		if isUnavailable(pod, p.minReady, p.now) {
			unavailable++
		}
	}
	budget := limit - unavailable
	deleted, outdated := 0, 0
	for target := len(replicas) - 1; target >= partition(p.set); target-- {
		pod := replicas[target]
		if pod == nil || getPodRevision(pod) == p.update || isTerminating(pod) || p.deleted[pod.Name] {
			continue
		}
		outdated++
		if deleted >= budget {
			continue
		}
		p.emitDelete(pod, DeleteUpdate, "update to revision "+p.update)
		p.result.Status.CurrentReplicas--
		deleted++
	}
	if deleted == 0 && outdated > 0 {
		p.wait("rolling update waiting: %d of %d replicas unavailable (maxUnavailable %d), %d pods left to update",
			unavailable, p.replicas, limit, outdated)
	}
}

// replaceStuck applies the stuck-rollout rule (see Plan) to replicas[i],
// which exists and is neither terminating nor Running and Ready: when the
// rule holds it deletes the pod and reports true.
func (p *pass) replaceStuck(replicas []*corev1.Pod, i int) bool {
	if p.set.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		return false
	}
	pod := replicas[i]
	want := p.revisionFor(p.start + i)
	if getPodRevision(pod) == want {
		return false
	}
	proof := ""
	if want == p.current {
		proof = "the current revision"
	} else {
		for j, other := range replicas {
			if j != i && other != nil && !isTerminating(other) && getPodRevision(other) == want && isRunningAndReady(other) {
				proof = "Ready on " + other.Name
				break
			}
		}
	}
	if proof == "" {
		return false
	}
	if getPodRevision(pod) == p.current {
		p.result.Status.CurrentReplicas--
	}
	p.emitDelete(pod, DeleteStuck, fmt.Sprintf("not Ready at revision %s while revision %s is %s", getPodRevision(pod), want, proof))
	return true
}
