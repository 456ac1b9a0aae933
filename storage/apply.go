package storage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"

	"github.com/containerd/errdefs"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ApplyAction says what Apply did to one object, in kubectl's words.
type ApplyAction string

// The actions of Apply.
const (
	// ApplyCreated: the object did not exist and was stored with generation 1.
	ApplyCreated ApplyAction = "created"
	// ApplyConfigured: the stored object changed; its generation went up
	// by one if its content changed (see Tx.Apply).
	ApplyConfigured ApplyAction = "configured"
	// ApplyUnchanged: the object was already stored as given; nothing was
	// written.
	ApplyUnchanged ApplyAction = "unchanged"
)

// ApplyResult is Apply's outcome for one object.
type ApplyResult struct {
	Key        ObjectKey
	Action     ApplyAction
	Generation int64 // the stored generation after the apply
}

// Apply stores objs, which the caller has decoded, defaulted and validated,
// and returns one result per object in order. It does not modify objs.
//
// On create the store sets metadata.uid (a random UUID),
// metadata.creationTimestamp (the clock) and metadata.generation 1. On
// update it keeps uid and creationTimestamp and raises generation by one
// only when the object's content changes: spec for a StatefulSet or a
// Service; data, binaryData and immutable for a ConfigMap; data, type and
// immutable for a Secret. (Kubernetes leaves generation unset for
// ConfigMaps and Secrets; setlet tracks it for all four kinds so that the
// daemon can tell content changes apart the same way.) A change of metadata
// only (labels, annotations) is ApplyConfigured at the same generation; an
// object that is already stored exactly so is ApplyUnchanged and nothing is
// written.
//
// Server-set fields of the input (uid, resourceVersion, generation,
// creationTimestamp, deletionTimestamp, managedFields, status) are ignored;
// the stored status of a StatefulSet or Service is kept. A Secret's
// stringData is merged into data, as the API server does. Stored objects
// carry apiVersion and kind.
//
// Changing data, binaryData or immutable of a ConfigMap or Secret stored
// with immutable: true, or the type of a Secret, gives an
// errdefs.ErrFailedPrecondition error naming the field as Kubernetes does;
// an unsupported type or a missing name gives errdefs.ErrInvalidArgument.
// When Apply returns an error, objects before the failing one may already
// be written in tx: return the error from the Update closure so that none
// of them is kept (Store.Apply does).
func (tx *Tx) Apply(objs ...Object) ([]ApplyResult, error) {
	if err := tx.checkWritable(); err != nil {
		return nil, err
	}
	results := make([]ApplyResult, 0, len(objs))
	for _, obj := range objs {
		r, err := tx.apply(obj)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	return results, nil
}

// Apply is Tx.Apply in its own Update: all of objs are stored, or none.
func (s *Store) Apply(objs ...Object) (results []ApplyResult, err error) {
	err = s.Update(func(tx *Tx) error { results, err = tx.Apply(objs...); return err })
	if err != nil {
		return nil, err
	}
	return results, nil
}

func (tx *Tx) apply(obj Object) (ApplyResult, error) {
	kind, isNil := kindOf(obj)
	switch {
	case isNil:
		return ApplyResult{}, invalid("applying %T: object is nil", obj)
	case kind == "":
		return ApplyResult{}, invalid("applying %T %s/%s: unsupported type", obj, obj.GetNamespace(), obj.GetName())
	}
	key := KeyOf(obj)
	if err := requireName(noun(kind), key.Namespace, key.Name); err != nil {
		return ApplyResult{}, fmt.Errorf("applying %w", err)
	}
	what := fmt.Sprintf("%s %s/%s", noun(kind), key.Namespace, key.Name)
	in := prepare(obj, kind)
	b, err := tx.bucket(bucketObjects, kind, key.Namespace)
	if err != nil {
		return ApplyResult{}, err
	}
	var oldRaw []byte
	if b != nil {
		oldRaw = b.Get([]byte(key.Name))
	}
	result := ApplyResult{Key: key, Action: ApplyCreated, Generation: 1}
	if oldRaw == nil {
		in.SetUID(newUID())
		in.SetCreationTimestamp(metav1.NewTime(tx.s.now()))
		in.SetGeneration(1)
	} else {
		old := newObject(kind)
		if err := json.Unmarshal(oldRaw, old); err != nil {
			return ApplyResult{}, fmt.Errorf("applying %s: reading stored object: %w", what, err)
		}
		if errs := immutableErrors(old, in); len(errs) > 0 {
			return ApplyResult{}, fmt.Errorf("applying %s: %s: %w", what, errs.ToAggregate(), errdefs.ErrFailedPrecondition)
		}
		in.SetUID(old.GetUID())
		in.SetCreationTimestamp(old.GetCreationTimestamp())
		result.Action, result.Generation = ApplyConfigured, old.GetGeneration()
		changed, err := contentChanged(old, in)
		if err != nil {
			return ApplyResult{}, fmt.Errorf("applying %s: %w", what, err)
		}
		if changed {
			result.Generation++
		}
		in.SetGeneration(result.Generation)
		keepStatus(old, in)
	}
	raw, err := json.Marshal(in)
	if err != nil {
		return ApplyResult{}, fmt.Errorf("applying %s: encoding: %w", what, err)
	}
	if oldRaw != nil && bytes.Equal(raw, oldRaw) {
		result.Action = ApplyUnchanged
		return result, nil
	}
	if b == nil {
		if b, err = tx.writeBucket(bucketObjects, kind, key.Namespace); err != nil {
			return ApplyResult{}, err
		}
	}
	if err := tx.put(b, []byte(key.Name), raw); err != nil {
		return ApplyResult{}, fmt.Errorf("applying %s: %w", what, err)
	}
	return result, nil
}

// prepare returns a copy of obj without the fields the server sets, with
// TypeMeta filled in and a Secret's stringData merged into data.
func prepare(obj Object, kind string) Object {
	in := obj.DeepCopyObject().(Object)
	in.GetObjectKind().SetGroupVersionKind(gvkOf(kind))
	in.SetUID("")
	in.SetResourceVersion("")
	in.SetGeneration(0)
	in.SetCreationTimestamp(metav1.Time{})
	in.SetDeletionTimestamp(nil)
	in.SetDeletionGracePeriodSeconds(nil)
	in.SetManagedFields(nil)
	in.SetSelfLink("")
	switch o := in.(type) {
	case *appsv1.StatefulSet:
		o.Status = appsv1.StatefulSetStatus{}
	case *corev1.Service:
		o.Status = corev1.ServiceStatus{}
	case *corev1.Secret:
		if len(o.StringData) > 0 && o.Data == nil {
			o.Data = make(map[string][]byte, len(o.StringData))
		}
		for k, v := range o.StringData {
			o.Data[k] = []byte(v)
		}
		o.StringData = nil
	}
	return in
}

// keepStatus copies the stored status into the object being applied.
func keepStatus(old, in Object) {
	switch o := in.(type) {
	case *appsv1.StatefulSet:
		o.Status = old.(*appsv1.StatefulSet).Status
	case *corev1.Service:
		o.Status = old.(*corev1.Service).Status
	}
}

// content returns the part of obj whose change raises its generation.
func content(obj Object) any {
	switch o := obj.(type) {
	case *appsv1.StatefulSet:
		return o.Spec
	case *corev1.Service:
		return o.Spec
	case *corev1.ConfigMap:
		return struct {
			Data       map[string]string `json:"data,omitempty"`
			BinaryData map[string][]byte `json:"binaryData,omitempty"`
			Immutable  *bool             `json:"immutable,omitempty"`
		}{o.Data, o.BinaryData, o.Immutable}
	case *corev1.Secret:
		return struct {
			Data      map[string][]byte `json:"data,omitempty"`
			Type      corev1.SecretType `json:"type,omitempty"`
			Immutable *bool             `json:"immutable,omitempty"`
		}{o.Data, o.Type, o.Immutable}
	}
	return nil
}

// contentChanged compares the encoded content of old and in, so that nil
// and empty collections, which encode alike, are equal.
func contentChanged(old, in Object) (bool, error) {
	a, err := json.Marshal(content(old))
	if err != nil {
		return false, fmt.Errorf("encoding stored content: %w", err)
	}
	b, err := json.Marshal(content(in))
	if err != nil {
		return false, fmt.Errorf("encoding new content: %w", err)
	}
	return !bytes.Equal(a, b), nil
}

// immutableFieldMsg is Kubernetes' message for a change to an immutable
// ConfigMap or Secret.
const immutableFieldMsg = "field is immutable when `immutable` is set"

// immutableErrors returns Kubernetes' validation errors for an update of
// old to in that changes an immutable field.
func immutableErrors(old, in Object) field.ErrorList {
	var errs field.ErrorList
	switch o := old.(type) {
	case *corev1.ConfigMap:
		n := in.(*corev1.ConfigMap)
		if isTrue(o.Immutable) {
			if !isTrue(n.Immutable) {
				errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableFieldMsg))
			}
			if !maps.Equal(o.Data, n.Data) {
				errs = append(errs, field.Forbidden(field.NewPath("data"), immutableFieldMsg))
			}
			if !maps.EqualFunc(o.BinaryData, n.BinaryData, bytes.Equal) {
				errs = append(errs, field.Forbidden(field.NewPath("binaryData"), immutableFieldMsg))
			}
		}
	case *corev1.Secret:
		n := in.(*corev1.Secret)
		if o.Type != n.Type {
			errs = append(errs, field.Invalid(field.NewPath("type"), string(n.Type), "field is immutable"))
		}
		if isTrue(o.Immutable) {
			if !isTrue(n.Immutable) {
				errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableFieldMsg))
			}
			if !maps.EqualFunc(o.Data, n.Data, bytes.Equal) {
				errs = append(errs, field.Forbidden(field.NewPath("data"), immutableFieldMsg))
			}
		}
	}
	return errs
}

func isTrue(b *bool) bool { return b != nil && *b }
