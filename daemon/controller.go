package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/storage"
)

// retryDelay is how long a failed pass waits before the set is looked at
// again (an event may bring it back sooner).
const retryDelay = 2 * time.Second

// podNotifier is told that the controller created a pod record or marked
// one for deletion; the kubelet side reconciles it.
type podNotifier interface {
	podChanged(key string)
}

// controller is the StatefulSet controller: for each set it asks the
// planner what to do next and does it, writing pod records (the kubelet
// side makes them real) and the set's status. It is level-triggered: any
// event only enqueues the set, and a pass looks at the whole state, so a
// lost event or a failed step is made good by the next pass.
type controller struct {
	store  *storage.Store
	clock  clock
	log    *slog.Logger
	events *recorder
	hub    *hub
	pods   podNotifier
	queue  *queue

	mu      sync.Mutex
	waiting map[string]string // set key -> why its last pass stopped

	// observe, when set (before run; nil: not measured), is told of every
	// pass: the set's key, how long it took and its error.
	observe func(k string, took time.Duration, err error)
}

func newController(store *storage.Store, c clock, log *slog.Logger, events *recorder, h *hub, pods podNotifier) *controller {
	return &controller{
		store: store, clock: c, log: log, events: events, hub: h, pods: pods,
		queue:   newQueue(c),
		waiting: map[string]string{},
	}
}

// key returns the queue key of object ns/name.
func key(ns, name string) string { return ns + "/" + name }

// splitKey splits a queue key.
func splitKey(k string) (ns, name string) {
	ns, name, _ = strings.Cut(k, "/")
	return ns, name
}

// enqueue asks for a pass over set ns/name.
func (c *controller) enqueue(ns, name string) { c.queue.add(key(ns, name)) }

// enqueueAll asks for a pass over every stored set, and over every deleted
// set that pods (the stored ones, which the caller has read), revisions or
// volumes marked for deletion still belong to: the deletion of a set
// commits before the pass that removes them, which a crash in between
// leaves to the next start.
func (c *controller) enqueueAll(pods []*corev1.Pod) error {
	sets, err := c.store.StatefulSets()
	if err != nil {
		return err
	}
	for _, s := range sets {
		c.enqueue(s.Namespace, s.Name)
	}
	for _, p := range pods {
		if set := controllerOf(p); set != "" {
			c.enqueue(p.Namespace, set)
		}
	}
	withRevisions, err := c.store.RevisionSets()
	if err != nil {
		return err
	}
	for _, k := range withRevisions {
		c.queue.add(k)
	}
	vols, err := c.store.Volumes()
	if err != nil {
		return err
	}
	for _, v := range vols {
		if v.Deleting != nil {
			c.enqueue(v.Namespace, v.Set)
		}
	}
	return nil
}

// run works the queue until ctx ends. One worker: passes over different
// sets are cheap (the slow work, images and containers, happens on the
// kubelet side), and one worker keeps the order of a set's steps obvious.
func (c *controller) run(ctx context.Context) {
	go func() {
		<-ctx.Done()
		c.queue.close()
	}()
	for {
		k, ok := c.queue.get()
		if !ok {
			return
		}
		start := c.clock.Now()
		err := c.sync(ctx, k)
		if c.observe != nil {
			c.observe(k, c.clock.Now().Sub(start), err)
		}
		if err != nil && ctx.Err() == nil {
			c.log.Warn("statefulset pass failed; retrying", "set", k, "err", err)
			c.queue.addAt(k, c.clock.Now().Add(retryDelay))
		}
		c.queue.done(k)
	}
}

// waitReason returns why the last pass over set ns/name stopped short, or
// "" when it did not.
func (c *controller) waitReason(ns, name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waiting[key(ns, name)]
}

func (c *controller) setWaitReason(k, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if reason == "" {
		delete(c.waiting, k)
	} else {
		c.waiting[k] = reason
	}
}

// sync makes one pass over set k.
func (c *controller) sync(ctx context.Context, k string) error {
	ns, name := splitKey(k)
	set, err := c.store.StatefulSet(ns, name)
	if errdefs.IsNotFound(err) {
		c.setWaitReason(k, "")
		return c.releaseOrphans(ns, name)
	}
	if err != nil {
		return err
	}

	var history []*appsv1.ControllerRevision
	var pods []*corev1.Pod
	err = c.store.View(func(tx *storage.Tx) error {
		var err error
		if history, err = tx.Revisions(ns, name); err != nil {
			return err
		}
		pods, err = tx.Pods(ns, name)
		return err
	})
	if err != nil {
		return err
	}
	if err := c.markCondemnedClaims(set, pods); err != nil {
		return err
	}
	if err := c.reapVolumes(ns, name); err != nil {
		return err
	}
	revs, err := PlanRevisions(set, history, pods)
	if err != nil {
		return err
	}
	if err := c.storeRevisions(revs); err != nil {
		return err
	}

	plan := Plan(PlanInput{
		Set:             set,
		CurrentRevision: revs.Current.Name,
		UpdateRevision:  revs.Update.Name,
		CollisionCount:  revs.CollisionCount,
		Pods:            pods,
		Now:             c.clock.Now(),
	})
	var failed error
	for _, a := range plan.Actions {
		if err := c.execute(ctx, set, revs, a); err != nil {
			failed = fmt.Errorf("%s %s: %w", a.Type, a.Pod, err)
			break // the next pass decides again from what is now true
		}
	}
	if err := c.store.UpdateStatefulSetStatus(ns, name, plan.Status); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	c.hub.publish(change{Kind: configs.KindStatefulSet, Namespace: ns, Name: name})
	c.setWaitReason(k, c.describeWait(ns, plan.Wait))
	if !plan.RequeueAt.IsZero() {
		c.queue.addAt(k, plan.RequeueAt)
	}
	return failed
}

// storeRevisions applies a revision plan in one transaction.
func (c *controller) storeRevisions(revs RevisionPlan) error {
	if revs.Create == nil && revs.Renumber == nil && len(revs.Prune) == 0 {
		return nil
	}
	return c.store.Update(func(tx *storage.Tx) error {
		if revs.Create != nil {
			if err := tx.CreateRevision(revs.Create); err != nil && !errdefs.IsAlreadyExists(err) {
				return err
			}
		}
		if r := revs.Renumber; r != nil {
			if err := tx.SetRevisionNumber(r.Namespace, r.Name, r.Revision); err != nil {
				return err
			}
		}
		for _, name := range revs.Prune {
			if err := tx.DeleteRevision(revs.Update.Namespace, name); err != nil && !errdefs.IsNotFound(err) {
				return err
			}
		}
		return nil
	})
}

// execute performs one planner action. Each is idempotent: repeating it
// after a crash or a failed pass finishes it.
func (c *controller) execute(ctx context.Context, set *appsv1.StatefulSet, revs RevisionPlan, a Action) error {
	switch a.Type {
	case ActionCreatePod:
		return c.createPod(set, revs, a)
	case ActionDeletePod:
		return c.deletePod(set, a)
	case ActionUpdatePodIdentity:
		return c.fixIdentity(set, a)
	}
	return fmt.Errorf("unknown action %q", a.Type)
}

// createPod creates the volumes of the new pod's ordinal, then its record
// (phase Pending): a pod never exists without its volumes. The kubelet side
// then gives it a network and containers. A record that exists but is not
// created (held since a host restart, see reboot.go) is released instead:
// it becomes Pending, keeping its UID and statuses.
func (c *controller) createPod(set *appsv1.StatefulSet, revs RevisionPlan, a Action) error {
	rev := revs.Update
	if revs.Current != nil && revs.Current.Name == a.Revision {
		rev = revs.Current
	}
	versioned, err := storage.ApplyRevision(set, rev)
	if err != nil {
		return err
	}
	pod := NewPod(versioned, rev.Name, a.Ordinal)
	for _, claim := range set.Spec.VolumeClaimTemplates {
		capacity := claim.Spec.Resources.Requests[corev1.ResourceStorage]
		v, created, err := c.store.EnsureVolume(storage.Volume{
			Name:      storage.VolumeName(claim.Name, set.Name, a.Ordinal),
			Namespace: set.Namespace, Claim: claim.Name, Set: set.Name, Ordinal: a.Ordinal,
			Capacity: capacity.String(),
		})
		if err != nil {
			c.events.event(configs.KindStatefulSet, set.Namespace, set.Name, eventTypeWarning, reasonFailedCreate,
				"create Claim %s for Pod %s in StatefulSet %s failed error: %v", storage.VolumeName(claim.Name, set.Name, a.Ordinal), pod.Name, set.Name, err)
			return err
		}
		if created {
			c.events.event(configs.KindStatefulSet, set.Namespace, set.Name, eventTypeNormal, reasonSuccessfulCreate,
				"create Claim %s Pod %s in StatefulSet %s success", v.Name, pod.Name, set.Name)
			c.hub.publish(change{Kind: "Volume", Namespace: set.Namespace, Name: v.Name})
		}
	}
	pod.Status = corev1.PodStatus{
		Phase: corev1.PodPending,
		Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(c.clock.Now()),
		}},
	}
	created, released := false, false
	err = c.store.Update(func(tx *storage.Tx) error {
		if cur, err := tx.Pod(pod.Namespace, pod.Name); err == nil {
			if !isHeld(cur) {
				return nil // made by an earlier pass: nothing to do
			}
			// Put back to not created after a host restart: this is
			// its turn to start again (reboot.go).
			released = true
			return tx.PutPod(releasePod(cur))
		} else if !errdefs.IsNotFound(err) {
			return err
		}
		for _, claim := range set.Spec.VolumeClaimTemplates {
			// In this transaction, so that no volume marked for deletion
			// since EnsureVolume above is given to the pod.
			if err := tx.CheckVolumeFree(storage.VolumeName(claim.Name, set.Name, a.Ordinal)); err != nil {
				return err
			}
		}
		created = true
		return tx.PutPod(pod)
	})
	if err != nil {
		return err
	}
	if created {
		c.events.event(configs.KindStatefulSet, set.Namespace, set.Name, eventTypeNormal, reasonSuccessfulCreate,
			"create Pod %s in StatefulSet %s successful", pod.Name, set.Name)
	}
	if created || released {
		c.hub.publish(change{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name})
	}
	c.pods.podChanged(key(pod.Namespace, pod.Name))
	return nil
}

// deletePod marks the pod for graceful deletion; the kubelet side stops
// its containers and removes the record once they are gone.
//
// A scale-down with whenScaled: Delete marks the pod's volumes for
// deletion in the same transaction (see retention.go).
func (c *controller) deletePod(set *appsv1.StatefulSet, a Action) error {
	var marked bool
	var claims []string
	err := c.store.Update(func(tx *storage.Tx) error {
		var err error
		if marked, err = markPodTerminating(tx, set.Namespace, a.Pod, c.clock); err != nil {
			return err
		}
		if a.Cause == DeleteScaleDown && whenScaledDelete(set) {
			claims, err = markClaimsDeleting(tx, set, a.Ordinal, c.clock)
		}
		return err
	})
	if err != nil {
		return err
	}
	c.publishVolumes(set.Namespace, claims)
	if marked {
		switch a.Cause {
		case DeleteRecreate:
			c.events.event(configs.KindStatefulSet, set.Namespace, set.Name, eventTypeWarning, reasonRecreating,
				"StatefulSet %s/%s is recreating failed Pod %s", set.Namespace, set.Name, a.Pod)
		case DeleteStuck:
			c.events.event(configs.KindStatefulSet, set.Namespace, set.Name, eventTypeWarning, reasonReplacingStuck,
				"StatefulSet %s/%s is replacing Pod %s, %s", set.Namespace, set.Name, a.Pod, a.Reason)
		}
		c.events.event(configs.KindStatefulSet, set.Namespace, set.Name, eventTypeNormal, reasonSuccessfulDelete,
			"delete Pod %s in StatefulSet %s successful", a.Pod, set.Name)
		c.hub.publish(change{Kind: "Pod", Namespace: set.Namespace, Name: a.Pod})
	}
	c.pods.podChanged(key(set.Namespace, a.Pod))
	return nil
}

// markTerminating sets the deletion timestamp of pod ns/name, with the
// pod's grace period, unless it is already set. It reports whether it
// changed the record; a missing pod is not an error.
func markTerminating(store *storage.Store, ns, name string, c clock) (marked bool, err error) {
	err = store.Update(func(tx *storage.Tx) error {
		marked, err = markPodTerminating(tx, ns, name, c)
		return err
	})
	return marked, err
}

// markPodTerminating is markTerminating within transaction tx.
func markPodTerminating(tx *storage.Tx, ns, name string, c clock) (bool, error) {
	pod, err := tx.Pod(ns, name)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil || pod.DeletionTimestamp != nil {
		return false, err
	}
	now := metav1.NewTime(c.Now())
	pod.DeletionTimestamp = &now
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	pod.DeletionGracePeriodSeconds = &grace
	return true, tx.PutPod(pod)
}

// fixIdentity repairs the identity labels of an existing pod.
func (c *controller) fixIdentity(set *appsv1.StatefulSet, a Action) error {
	return c.store.Update(func(tx *storage.Tx) error {
		pod, err := tx.Pod(set.Namespace, a.Pod)
		if errdefs.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if pod.Labels == nil {
			pod.Labels = map[string]string{}
		}
		pod.Labels[appsv1.StatefulSetPodNameLabel] = pod.Name
		pod.Labels[appsv1.PodIndexLabel] = fmt.Sprint(a.Ordinal)
		return tx.PutPod(pod)
	})
}

// releaseOrphans marks for deletion the pods of a set that no longer
// exists, as Kubernetes' garbage collector deletes the pods a deleted set
// owned, and deletes its revisions. Its volumes stay, unless deleteSet
// marked them (whenDeleted: Delete): those go once their pods are gone.
func (c *controller) releaseOrphans(ns, name string) error {
	var pods []*corev1.Pod
	var history []*appsv1.ControllerRevision
	err := c.store.View(func(tx *storage.Tx) error {
		var err error
		if pods, err = tx.Pods(ns, name); err != nil {
			return err
		}
		history, err = tx.Revisions(ns, name)
		return err
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, pod := range pods {
		marked, err := markTerminating(c.store, pod.Namespace, pod.Name, c.clock)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if marked {
			c.hub.publish(change{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name})
		}
		c.pods.podChanged(key(pod.Namespace, pod.Name))
	}
	if len(history) > 0 {
		err := c.store.Update(func(tx *storage.Tx) error {
			for _, r := range history {
				if err := tx.DeleteRevision(r.Namespace, r.Name); err != nil && !errdefs.IsNotFound(err) {
					return err
				}
			}
			return nil
		})
		errs = append(errs, err)
	}
	errs = append(errs, c.reapVolumes(ns, name))
	return errors.Join(errs...)
}

// describeWait completes the planner's wait reason with why the pod it
// waits for is not ready, from the pod's Ready condition: e.g. "waiting for
// web-1 to be Running and Ready: readiness probe failed: HTTP probe failed
// with statuscode: 503".
func (c *controller) describeWait(ns, wait string) string {
	const prefix = "waiting for "
	if !strings.HasPrefix(wait, prefix) {
		return wait
	}
	podName, _, _ := strings.Cut(strings.TrimPrefix(wait, prefix), " ")
	pod, err := c.store.Pod(ns, podName)
	if err != nil {
		return wait
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady && cond.Status != corev1.ConditionTrue && cond.Message != "" {
			return wait + ": " + cond.Message
		}
	}
	if pod.Status.Phase == corev1.PodPending && pod.Status.Reason != "" {
		return wait + ": " + pod.Status.Reason
	}
	return wait
}
