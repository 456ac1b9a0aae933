package daemon

import (
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/storage"
)

// Volume deletion. setlet deletes a volume in two steps, as Kubernetes
// deletes a PersistentVolumeClaim that a pod may still use:
//
//  1. The volume is marked for deletion (storage.Tx.MarkVolumeDeleting), in
//     the same transaction as the decision: the pod marked terminating on a
//     scale-down with whenScaled: Delete, the set deleted with whenDeleted:
//     Delete, or `delete volume` after checking that no pod uses it. From
//     then on no new pod can take the volume: createPod checks the mark in
//     the transaction that writes the pod (storage.Tx.CheckVolumeFree).
//  2. reapVolumes deletes each marked volume once no pod record names it.
//     It runs at the start of every pass over the volume's set, and a pod
//     record's removal enqueues its set, so it runs again after a crash.
//
// Nothing else deletes volume data: with the default policy
// (Retain/Retain) no volume is ever deleted but by `delete volume`.

// whenScaledDelete reports whether set's volumes of condemned ordinals are
// deleted (persistentVolumeClaimRetentionPolicy.whenScaled: Delete).
func whenScaledDelete(set *appsv1.StatefulSet) bool {
	p := set.Spec.PersistentVolumeClaimRetentionPolicy
	return p != nil && p.WhenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType
}

// whenDeletedDelete reports whether set's volumes are deleted with it
// (persistentVolumeClaimRetentionPolicy.whenDeleted: Delete).
func whenDeletedDelete(set *appsv1.StatefulSet) bool {
	p := set.Spec.PersistentVolumeClaimRetentionPolicy
	return p != nil && p.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType
}

// markClaimsDeleting marks for deletion the volumes of ordinal of set, one
// per volume claim template, and returns the names it marked. A volume
// that does not exist is skipped.
func markClaimsDeleting(tx *storage.Tx, set *appsv1.StatefulSet, ordinal int, c clock) ([]string, error) {
	var marked []string
	for _, claim := range set.Spec.VolumeClaimTemplates {
		name := storage.VolumeName(claim.Name, set.Name, ordinal)
		changed, err := tx.MarkVolumeDeleting(name, c.Now())
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if changed {
			marked = append(marked, name)
		}
	}
	return marked, nil
}

// markSetVolumesDeleting marks for deletion every volume recorded for set
// ns/name, whatever its claim or ordinal, and returns the names it marked.
func markSetVolumesDeleting(tx *storage.Tx, ns, name string, c clock) ([]string, error) {
	vols, err := tx.Volumes()
	if err != nil {
		return nil, err
	}
	var marked []string
	for _, v := range vols {
		if v.Namespace != ns || v.Set != name {
			continue
		}
		changed, err := tx.MarkVolumeDeleting(v.Name, c.Now())
		if err != nil {
			return nil, err
		}
		if changed {
			marked = append(marked, v.Name)
		}
	}
	return marked, nil
}

// markCondemnedClaims applies whenScaled: Delete to the condemned pods
// (ordinals outside the set's range) that are already terminating, such as
// a pod the user deleted before scaling down: deletePod marks the volumes
// of the pods the planner condemns itself.
func (c *controller) markCondemnedClaims(set *appsv1.StatefulSet, pods []*corev1.Pod) error {
	if !whenScaledDelete(set) {
		return nil
	}
	start, replicas := startOrdinal(set), replicaCount(set)
	var ordinals []int
	for _, pod := range pods {
		if ord := getOrdinal(pod); ord >= 0 && isMemberOf(set, pod) && isTerminating(pod) && (ord < start || ord >= start+replicas) {
			ordinals = append(ordinals, ord)
		}
	}
	if len(ordinals) == 0 {
		return nil
	}
	var marked []string
	err := c.store.Update(func(tx *storage.Tx) error {
		marked = nil
		for _, ord := range ordinals {
			names, err := markClaimsDeleting(tx, set, ord, c.clock)
			if err != nil {
				return err
			}
			marked = append(marked, names...)
		}
		return nil
	})
	c.publishVolumes(set.Namespace, marked)
	return err
}

// publishVolumes tells watchers that volumes ns/names changed.
func (c *controller) publishVolumes(ns string, names []string) {
	for _, name := range names {
		c.hub.publish(change{Kind: "Volume", Namespace: ns, Name: name})
	}
}

// reapVolumes deletes the volumes of set ns/name that are marked for
// deletion and that no pod uses any more. Running it again after a crash
// finishes an interrupted deletion (storage.Store.DeleteVolume).
func (c *controller) reapVolumes(ns, name string) error {
	var doomed []storage.Volume
	err := c.store.View(func(tx *storage.Tx) error {
		vols, err := tx.Volumes()
		if err != nil {
			return err
		}
		for _, v := range vols {
			if v.Deleting == nil || v.Namespace != ns || v.Set != name {
				continue
			}
			users, err := tx.VolumeUsers(v)
			if err != nil {
				return err
			}
			if len(users) == 0 {
				doomed = append(doomed, v)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, v := range doomed {
		// No pod can take v between the check above and its deletion:
		// it is marked, and a pod naming it is only written after
		// CheckVolumeFree in the same transaction.
		if err := c.store.DeleteVolume(v.Name); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		c.events.event(configs.KindStatefulSet, ns, name, eventTypeNormal, reasonSuccessfulDelete,
			"delete Claim %s in StatefulSet %s success", v.Name, name)
		c.hub.publish(change{Kind: "Volume", Namespace: ns, Name: v.Name})
	}
	return errors.Join(errs...)
}

// deleteVolume deletes volume ns/name and its data at once, as `delete
// volume` asks. It refuses, with an errdefs.ErrConflict error, while a pod
// record names the volume: the pod must be deleted (or its set scaled
// down) first. A set that still wants the volume's ordinal creates a new,
// empty volume for it.
func (d *Daemon) deleteVolume(ns, name string) error {
	var vol storage.Volume
	err := d.store.Update(func(tx *storage.Tx) error {
		v, err := tx.Volume(name)
		if err != nil {
			return err
		}
		if v.Namespace != ns {
			return fmt.Errorf("volume %s in namespace %s: %w", name, ns, errdefs.ErrNotFound)
		}
		users, err := tx.VolumeUsers(v)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return fmt.Errorf("volume %s is used by pod %s: delete the pod or scale its set down first: %w",
				name, strings.Join(users, ", "), errdefs.ErrConflict)
		}
		vol = v
		_, err = tx.MarkVolumeDeleting(name, d.clock.Now())
		return err
	})
	if err != nil {
		return err
	}
	// Once marked, the set's controller finishes the deletion if this one
	// fails or the daemon dies here.
	defer d.controller.enqueue(vol.Namespace, vol.Set)
	if err := d.store.DeleteVolume(name); err != nil {
		return err
	}
	d.hub.publish(change{Kind: "Volume", Namespace: ns, Name: name})
	return nil
}
