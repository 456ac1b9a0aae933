// Package daemon owns the reconcile loop: a pure planner that decides what
// a StatefulSet needs next, and (in later work) the executor, probes,
// restart back-off, the HTTP API on a unix socket, events and start-up
// recovery.
//
// The planner (Plan) and the other deciding functions are pure: no context,
// no I/O, no clock reads; time is an argument and inputs are never mutated.
//
// daemon may import every other setlet package except cli.
//
// # Basics
//
// One reconcile pass of a set is, in order:
//
//  1. PlanRevisions(set, history, pods): which stored ControllerRevision is
//     current and which is the update revision, and what to store or prune
//     (a new revision, a renumbered one on rollback, old ones beyond
//     revisionHistoryLimit).
//  2. Plan(PlanInput{...}): from the set, the two revision names, the
//     observed pods and the time, the actions of this pass (CreatePod,
//     DeletePod, UpdatePodIdentity), why it waits if it is blocked, when a
//     minReadySeconds timer should fire, and the status to store.
//  3. The executor performs the actions in order and stores the status.
//     A CreatePod is built with storage.ApplyRevision and NewPod.
//
// Each rule follows Kubernetes' StatefulSet controller
// (pkg/controller/statefulset, with MaxUnavailableStatefulSet on and the
// GA StatefulSetAutoDeletePVC code paths): OrderedReady and Parallel,
// spec.ordinals.start, condemned pods highest first, Failed and Succeeded
// pods replaced, minReadySeconds, RollingUpdate with partition and
// maxUnavailable, OnDelete, and the status fields including
// completeRollingUpdate.
//
// # Caveats
//
// The planner is level-triggered: it decides from what it observes, never
// from what it did before, so an action that failed is decided again by the
// next pass, and an action the executor has already done (a create that
// already exists, a delete of a terminating pod) must be treated as done.
//
// A deleted Failed pod is recreated by a later pass, once it is gone, as in
// current Kubernetes; a pass never deletes and recreates one name.
//
// A rolling update stops at a pod that never becomes Ready, and stays
// stopped even when the template is reverted (kubernetes/kubernetes#67250),
// until someone deletes that pod.
package daemon
