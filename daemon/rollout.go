package daemon

import (
	"fmt"
	"sort"
	"time"

	"github.com/containerd/errdefs"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/daemon/api"
	"github.com/setlet/setlet/storage"
)

// restartedAtAnnotation is the pod template annotation `kubectl rollout
// restart` sets; a new value makes a new revision, which rolls every pod.
const restartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// revisions returns the stored ControllerRevisions of set ns/name, oldest
// revision number first.
func (d *Daemon) revisions(ns, name string) ([]appsv1.ControllerRevision, error) {
	if _, err := d.store.StatefulSet(ns, name); err != nil {
		return nil, err
	}
	revs, err := d.store.Revisions(ns, name)
	if err != nil {
		return nil, err
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i].Revision < revs[j].Revision })
	out := make([]appsv1.ControllerRevision, 0, len(revs))
	for _, r := range revs {
		out = append(out, *r)
	}
	return out, nil
}

// allRevisions returns the ControllerRevisions of every set of namespace
// ns ("" for all), by set, oldest revision number first: those of a
// deleted set too, until its pass removes them.
func (d *Daemon) allRevisions(ns string) ([]appsv1.ControllerRevision, error) {
	out := []appsv1.ControllerRevision{}
	err := d.store.View(func(tx *storage.Tx) error {
		sets, err := tx.RevisionSets()
		if err != nil {
			return err
		}
		for _, k := range sets {
			setNS, name := splitKey(k)
			if ns != "" && setNS != ns {
				continue
			}
			revs, err := tx.Revisions(setNS, name)
			if err != nil {
				return err
			}
			sort.Slice(revs, func(i, j int) bool { return revs[i].Revision < revs[j].Revision })
			for _, r := range revs {
				out = append(out, *r)
			}
		}
		return nil
	})
	return out, err
}

// rollout changes the pod template of set ns/name as `kubectl rollout
// undo`, `rollout restart` and `set image` do, and returns kubectl's verb
// for what happened ("rolled back", "restarted", "image updated", or a
// "skipped ..." message when nothing changes). The changed set is
// validated as an apply would be; the controller then rolls it out.
func (d *Daemon) rollout(ns, name string, req api.RolloutRequest) (string, error) {
	var verb string
	changed := false
	err := d.store.Update(func(tx *storage.Tx) error {
		if err := checkOwnerOf(tx, storage.ObjectKey{Kind: configs.KindStatefulSet, Namespace: ns, Name: name}, req.Force); err != nil {
			return err
		}
		old, err := tx.StatefulSet(ns, name)
		if err != nil {
			return err
		}
		set := old.DeepCopy()
		switch req.Action {
		case api.RolloutUndo:
			revs, err := tx.Revisions(ns, name)
			if err != nil {
				return err
			}
			rev, err := undoTarget(revs, req.ToRevision)
			if err != nil {
				return err
			}
			if set, err = storage.ApplyRevision(old, rev); err != nil {
				return err
			}
			if apiequality.Semantic.DeepEqual(set.Spec.Template, old.Spec.Template) {
				verb = fmt.Sprintf("skipped rollback (current template already matches revision %d)", rev.Revision)
				return nil
			}
			verb = "rolled back"
		case api.RolloutRestart:
			if set.Spec.Template.Annotations == nil {
				set.Spec.Template.Annotations = map[string]string{}
			}
			set.Spec.Template.Annotations[restartedAtAnnotation] = d.clock.Now().UTC().Format(time.RFC3339)
			verb = "restarted"
		case api.RolloutImage:
			if len(req.Images) == 0 {
				return fmt.Errorf("set image: at least one CONTAINER=IMAGE is required: %w", errdefs.ErrInvalidArgument)
			}
			for container, image := range req.Images {
				found := false
				for _, c := range containerImages(&set.Spec.Template.Spec) {
					if container == "*" || c.name == container {
						*c.image, found = image, true
					}
				}
				if !found {
					return fmt.Errorf("set image: unable to find container named %q in statefulset %q: %w", container, name, errdefs.ErrNotFound)
				}
			}
			if apiequality.Semantic.DeepEqual(set.Spec.Template, old.Spec.Template) {
				verb = "image unchanged"
				return nil
			}
			verb = "image updated"
		default:
			return fmt.Errorf("rollout action %q: use undo, restart or image: %w", req.Action, errdefs.ErrInvalidArgument)
		}
		if errs := append(configs.Validate(set), configs.ValidateUpdate(old, set)...); len(errs) > 0 {
			return fmt.Errorf("statefulset %q: %s: %w", name, errs.ToAggregate().Error(), errdefs.ErrInvalidArgument)
		}
		changed = true
		_, err = tx.Apply(set)
		return err
	})
	if err != nil {
		return "", err
	}
	if changed {
		d.hub.publish(change{Kind: configs.KindStatefulSet, Namespace: ns, Name: name})
		d.metrics.applied(ns, name)
		d.controller.enqueue(ns, name)
	}
	return verb, nil
}

// undoTarget is the revision `rollout undo` goes back to: toRevision, or,
// when it is 0, the one before the newest, as kubectl finds it.
func undoTarget(revs []*appsv1.ControllerRevision, toRevision int64) (*appsv1.ControllerRevision, error) {
	sorted := make([]*appsv1.ControllerRevision, 0, len(revs))
	for _, r := range revs {
		if r != nil {
			sorted = append(sorted, r)
		}
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Revision < sorted[j].Revision })
	if toRevision == 0 {
		if len(sorted) < 2 {
			return nil, fmt.Errorf("no rollout history found: %w", errdefs.ErrNotFound)
		}
		return sorted[len(sorted)-2], nil
	}
	for _, r := range sorted {
		if r.Revision == toRevision {
			return r, nil
		}
	}
	return nil, fmt.Errorf("unable to find specified revision %d in history: %w", toRevision, errdefs.ErrNotFound)
}

// containerImage points at the name and image of one container of a pod
// spec, for set image.
type containerImage struct {
	name  string
	image *string
}

// containerImages lists the init containers and containers of spec.
func containerImages(spec *corev1.PodSpec) []containerImage {
	var out []containerImage
	for i := range spec.InitContainers {
		out = append(out, containerImage{spec.InitContainers[i].Name, &spec.InitContainers[i].Image})
	}
	for i := range spec.Containers {
		out = append(out, containerImage{spec.Containers[i].Name, &spec.Containers[i].Image})
	}
	return out
}
