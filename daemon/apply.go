package daemon

import (
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/daemon/api"
	"github.com/setlet/setlet/storage"
)

// problemsError is a refused apply: every problem, with file, document,
// object and field path. It wraps errdefs.ErrInvalidArgument, which the
// API answers with 400 and the problems.
type problemsError struct {
	problems []configs.Problem
}

func (e *problemsError) Error() string {
	if len(e.problems) == 1 {
		return e.problems[0].String()
	}
	return fmt.Sprintf("%d problems in the manifests; nothing was changed", len(e.problems))
}

func (e *problemsError) Unwrap() error { return errdefs.ErrInvalidArgument }

// errDryRun rolls a dry-run apply back after everything was checked.
var errDryRun = errors.New("dry run")

// apply validates every document of req, then stores all of them in one
// transaction, or nothing: a problem anywhere changes nothing. Besides what
// configs checks offline it refuses changes Kubernetes forbids (immutable
// StatefulSet fields, immutable ConfigMaps and Secrets) and a StatefulSet
// whose name another namespace already uses. The sets it changes are
// enqueued.
func (d *Daemon) apply(req api.ApplyRequest) (api.ApplyResponse, error) {
	return d.applyFrom(req, nil)
}

// manifestFile is a version of a file of the manifest directory being
// applied.
type manifestFile struct {
	path, hash string
}

// applyFrom is apply, for the objects of manifest file m when m is not nil:
// then the objects its last good version applied and this one no longer
// has are deleted, and its record says it owns the new ones, all in the
// same transaction. Without m (the CLI) objects a manifest file owns are
// refused unless req.Force.
func (d *Daemon) applyFrom(req api.ApplyRequest, m *manifestFile) (api.ApplyResponse, error) {
	docs, err := configs.DecodeSources(toSources(req.Sources))
	var cerr *configs.Error
	if errors.As(err, &cerr) {
		return api.ApplyResponse{}, &problemsError{problems: cerr.Problems}
	}
	if err != nil {
		return api.ApplyResponse{}, err
	}
	objs := make([]storage.Object, len(docs))
	for i := range docs {
		objs[i] = docs[i].Object
	}

	var results []storage.ApplyResult
	var pruned []deleted
	err = d.store.Update(func(tx *storage.Tx) error {
		results, pruned = nil, nil
		var problems []configs.Problem
		for i := range docs {
			problems = append(problems, checkAgainstState(tx, &docs[i])...)
			problems = append(problems, checkOwner(tx, &docs[i], m, req.Force)...)
		}
		if len(problems) > 0 {
			return &problemsError{problems: problems}
		}
		var err error
		if results, err = tx.Apply(objs...); err != nil {
			return err
		}
		if req.DryRun {
			return errDryRun
		}
		if m != nil {
			pruned, err = d.recordManifest(tx, *m, results)
		}
		return err
	})
	if err != nil && !errors.Is(err, errDryRun) {
		return api.ApplyResponse{}, err
	}
	d.announceDeleted(pruned)

	resp := api.ApplyResponse{}
	for _, r := range results {
		resp.Results = append(resp.Results, api.ObjectResult{Kind: r.Key.Kind, Namespace: r.Key.Namespace, Name: r.Key.Name, Action: string(r.Action)})
		if req.DryRun || r.Action == storage.ApplyUnchanged {
			continue
		}
		d.hub.publish(change{Kind: r.Key.Kind, Namespace: r.Key.Namespace, Name: r.Key.Name})
		if r.Key.Kind == configs.KindStatefulSet {
			d.metrics.applied(r.Key.Namespace, r.Key.Name)
			d.controller.enqueue(r.Key.Namespace, r.Key.Name)
		}
	}
	return resp, nil
}

// checkAgainstState reports what makes doc impossible to apply given what
// is stored: a forbidden StatefulSet update, or a set name in use in
// another namespace (pod names are host names).
func checkAgainstState(tx *storage.Tx, doc *configs.Document) []configs.Problem {
	set, ok := doc.Object.(*appsv1.StatefulSet)
	if !ok {
		return nil
	}
	var problems []configs.Problem
	report := func(e *field.Error) {
		problems = append(problems, configs.Problem{
			Source: doc.Source, Index: doc.Index, Item: doc.Item, Kind: doc.Kind, Name: doc.Name,
			Field: e.Field, Message: e.ErrorBody(),
		})
	}
	old, err := tx.StatefulSet(set.Namespace, set.Name)
	switch {
	case err == nil:
		for _, e := range configs.ValidateUpdate(old, set) {
			report(e)
		}
	case !errdefs.IsNotFound(err):
		report(field.InternalError(nil, err))
	}
	sets, err := tx.StatefulSets()
	if err != nil {
		report(field.InternalError(nil, err))
	}
	for _, other := range sets {
		if other.Name == set.Name && other.Namespace != set.Namespace {
			report(field.Duplicate(field.NewPath("metadata", "name"), set.Name))
			problems[len(problems)-1].Message += fmt.Sprintf(": a StatefulSet of this name runs in namespace %q; set names must be unique on a host, because pod names are host names", other.Namespace)
		}
	}
	return problems
}

// checkOwner reports doc's object when a manifest file other than m owns
// it: from the CLI (m nil) unless force, and always from another manifest
// file (two files cannot define one object).
func checkOwner(tx *storage.Tx, doc *configs.Document, m *manifestFile, force bool) []configs.Problem {
	owner, err := tx.ManifestOwner(storage.KeyOf(doc.Object))
	problem := func(msg string) []configs.Problem {
		return []configs.Problem{{Source: doc.Source, Index: doc.Index, Item: doc.Item, Kind: doc.Kind, Name: doc.Name, Message: msg}}
	}
	switch {
	case err != nil:
		return problem(err.Error())
	case owner == "" || m != nil && owner == m.path:
		return nil
	case m != nil:
		return problem("is already defined by manifest file " + owner + "; an object can come from one file only")
	case !force:
		return problem("is managed by manifest file " + owner + ": change that file, or use --force")
	}
	return nil
}

// deleteObjects deletes the objects req's manifests name. Documents only
// need a kind and a name; objects that do not exist are reported as
// "not found" and the others are still deleted, as kubectl does.
func (d *Daemon) deleteObjects(req api.ApplyRequest) (api.ApplyResponse, error) {
	docs, err := configs.DecodeSources(toSources(req.Sources))
	var cerr *configs.Error
	if err != nil && !errors.As(err, &cerr) {
		return api.ApplyResponse{}, err
	}
	var resp api.ApplyResponse
	var problems []configs.Problem
	for _, doc := range docs {
		if doc.Kind == "" || doc.Name == "" || configs.NewObject(doc.Kind) == nil {
			problems = append(problems, doc.Problems...)
			continue
		}
		ns := doc.Namespace
		if ns == "" {
			ns = configs.DefaultNamespace
		}
		k := storage.ObjectKey{Kind: doc.Kind, Namespace: ns, Name: doc.Name}
		action := "deleted"
		if err := d.deleteObject(k, req.Force); errdefs.IsNotFound(err) {
			action = "not found"
		} else if err != nil {
			return resp, err
		}
		resp.Results = append(resp.Results, api.ObjectResult{Kind: k.Kind, Namespace: k.Namespace, Name: k.Name, Action: action})
	}
	if len(problems) > 0 && len(resp.Results) == 0 {
		return resp, &problemsError{problems: problems}
	}
	return resp, nil
}

// deleteObject deletes one applied object, refusing one a manifest file
// owns unless force. A StatefulSet's pods are then deleted by its
// controller; its volumes stay unless its whenDeleted policy is Delete.
func (d *Daemon) deleteObject(k storage.ObjectKey, force bool) error {
	var del deleted
	err := d.store.Update(func(tx *storage.Tx) error {
		if err := checkOwnerOf(tx, k, force); err != nil {
			return err
		}
		var err error
		del, err = deleteObjectTx(tx, k, d.clock)
		return err
	})
	if err != nil {
		return err
	}
	d.announceDeleted([]deleted{del})
	return nil
}

// checkOwnerOf refuses, with an errdefs.ErrConflict error, a change of the
// object at k by the CLI when a manifest file owns it, unless force.
func checkOwnerOf(tx *storage.Tx, k storage.ObjectKey, force bool) error {
	owner, err := tx.ManifestOwner(k)
	if err != nil || owner == "" || force {
		return err
	}
	return fmt.Errorf("%s %s is managed by manifest file %s: change that file, or use --force: %w",
		strings.ToLower(k.Kind), k.Name, owner, errdefs.ErrConflict)
}

// deleted is an object a transaction deleted, with the volumes it marked
// for deletion, to announce once the transaction committed.
type deleted struct {
	key     storage.ObjectKey
	volumes []string
}

// deleteObjectTx deletes the object at k within tx and, for a StatefulSet
// whose whenDeleted policy is Delete, marks all its volumes for deletion.
func deleteObjectTx(tx *storage.Tx, k storage.ObjectKey, c clock) (deleted, error) {
	del := deleted{key: k}
	var set *appsv1.StatefulSet
	if k.Kind == configs.KindStatefulSet {
		var err error
		if set, err = tx.StatefulSet(k.Namespace, k.Name); err != nil {
			return del, err
		}
	}
	if err := tx.DeleteObject(k); err != nil {
		return del, err
	}
	if set != nil && whenDeletedDelete(set) {
		var err error
		del.volumes, err = markSetVolumesDeleting(tx, k.Namespace, k.Name, c)
		return del, err
	}
	return del, nil
}

// announceDeleted tells watchers and the controller about objects deleted
// by a committed transaction.
func (d *Daemon) announceDeleted(dels []deleted) {
	for _, del := range dels {
		k := del.key
		d.hub.publish(change{Kind: k.Kind, Namespace: k.Namespace, Name: k.Name})
		d.controller.publishVolumes(k.Namespace, del.volumes)
		if k.Kind == configs.KindStatefulSet {
			d.metrics.deleted(k.Namespace, k.Name)
			d.controller.enqueue(k.Namespace, k.Name)
		}
	}
}

// scale sets the replicas of set ns/name, as `kubectl scale` does.
func (d *Daemon) scale(ns, name string, replicas int32, force bool) error {
	if replicas < 0 {
		return fmt.Errorf("replicas %d: must be greater than or equal to 0: %w", replicas, errdefs.ErrInvalidArgument)
	}
	err := d.store.Update(func(tx *storage.Tx) error {
		if err := checkOwnerOf(tx, storage.ObjectKey{Kind: configs.KindStatefulSet, Namespace: ns, Name: name}, force); err != nil {
			return err
		}
		set, err := tx.StatefulSet(ns, name)
		if err != nil {
			return err
		}
		set.Spec.Replicas = &replicas
		_, err = tx.Apply(set)
		return err
	})
	if err != nil {
		return err
	}
	d.hub.publish(change{Kind: configs.KindStatefulSet, Namespace: ns, Name: name})
	d.metrics.applied(ns, name)
	d.controller.enqueue(ns, name)
	return nil
}

func toSources(in []api.Source) []configs.Source {
	out := make([]configs.Source, len(in))
	for i, s := range in {
		out[i] = configs.Source{Name: s.Name, Data: s.Data}
	}
	return out
}
