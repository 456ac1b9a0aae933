package daemon

import (
	"errors"
	"fmt"

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
	err = d.store.Update(func(tx *storage.Tx) error {
		var problems []configs.Problem
		for i := range docs {
			problems = append(problems, checkAgainstState(tx, &docs[i])...)
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
		return nil
	})
	if err != nil && !errors.Is(err, errDryRun) {
		return api.ApplyResponse{}, err
	}

	resp := api.ApplyResponse{}
	for _, r := range results {
		resp.Results = append(resp.Results, api.ObjectResult{Kind: r.Key.Kind, Namespace: r.Key.Namespace, Name: r.Key.Name, Action: string(r.Action)})
		if req.DryRun || r.Action == storage.ApplyUnchanged {
			continue
		}
		d.hub.publish(change{Kind: r.Key.Kind, Namespace: r.Key.Namespace, Name: r.Key.Name})
		if r.Key.Kind == configs.KindStatefulSet {
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
		if err := d.deleteObject(k); errdefs.IsNotFound(err) {
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

// deleteObject deletes one applied object. A StatefulSet's pods are then
// deleted by its controller; its volumes stay unless its whenDeleted
// policy is Delete (deleteSet).
func (d *Daemon) deleteObject(k storage.ObjectKey) error {
	if k.Kind == configs.KindStatefulSet {
		return d.deleteSet(k.Namespace, k.Name)
	}
	if err := d.store.DeleteObject(k); err != nil {
		return err
	}
	d.hub.publish(change{Kind: k.Kind, Namespace: k.Namespace, Name: k.Name})
	return nil
}

// scale sets the replicas of set ns/name, as `kubectl scale` does.
func (d *Daemon) scale(ns, name string, replicas int32) error {
	if replicas < 0 {
		return fmt.Errorf("replicas %d: must be greater than or equal to 0: %w", replicas, errdefs.ErrInvalidArgument)
	}
	err := d.store.Update(func(tx *storage.Tx) error {
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
