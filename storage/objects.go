package storage

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	bolt "go.etcd.io/bbolt"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/setlet/setlet/configs"
)

// kinds lists the object kinds the store keeps, one bucket each.
func kinds() []string {
	return []string{configs.KindStatefulSet, configs.KindService, configs.KindConfigMap, configs.KindSecret}
}

// Object is an applied object: one of *appsv1.StatefulSet, *corev1.Service,
// *corev1.ConfigMap or *corev1.Secret, as configs decodes them.
type Object = configs.Object

// ObjectKey names an applied object. Kind is one of the configs.Kind
// constants.
type ObjectKey struct {
	Kind, Namespace, Name string
}

// String returns "Kind namespace/name".
func (k ObjectKey) String() string {
	return k.Kind + " " + k.Namespace + "/" + k.Name
}

// KeyOf returns obj's key. Kind comes from obj's Go type, not from its
// TypeMeta, which may be empty; for a type the store does not keep, or a nil
// obj, Kind is "" (and Namespace and Name are empty for nil).
func KeyOf(obj Object) ObjectKey {
	kind, isNil := kindOf(obj)
	if isNil {
		return ObjectKey{Kind: kind}
	}
	return ObjectKey{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
}

// kindOf returns obj's kind ("" when unsupported) and whether obj is nil.
func kindOf(obj Object) (kind string, isNil bool) {
	if obj == nil {
		return "", true
	}
	v := reflect.ValueOf(obj)
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return configs.KindOf(obj), true
	}
	return configs.KindOf(obj), false
}

// newObject returns an empty object of kind with its apiVersion and kind
// set, or nil for a kind the store does not keep.
func newObject(kind string) Object { return configs.NewObject(kind) }

// gvkOf returns the apiVersion and kind stored objects of kind carry.
func gvkOf(kind string) schema.GroupVersionKind {
	if obj := newObject(kind); obj != nil {
		return obj.GetObjectKind().GroupVersionKind()
	}
	return schema.GroupVersionKind{}
}

// noun returns kind as error messages spell it: "statefulset".
func noun(kind string) string { return strings.ToLower(kind) }

// checkKey rejects a key the store cannot hold.
func checkKey(key ObjectKey) error {
	if newObject(key.Kind) == nil {
		return invalid("object %s/%s: unsupported kind %q", key.Namespace, key.Name, key.Kind)
	}
	return requireName(noun(key.Kind), key.Namespace, key.Name)
}

// object decodes the stored object at key.
func (tx *Tx) object(key ObjectKey) (Object, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	b, err := tx.bucket(bucketObjects, key.Kind, key.Namespace)
	if err != nil {
		return nil, err
	}
	obj := newObject(key.Kind)
	ok, err := getJSON(b, key.Name, obj)
	if err != nil {
		return nil, fmt.Errorf("reading %s %s/%s: %w", noun(key.Kind), key.Namespace, key.Name, err)
	}
	if !ok {
		return nil, notFound(noun(key.Kind), key.Namespace, key.Name)
	}
	return obj, nil
}

// listObjects decodes every stored object of kind, sorted by namespace and
// name (bbolt's key order).
func listObjects[T Object](tx *Tx, kind string) ([]T, error) {
	kb, err := tx.bucket(bucketObjects, kind)
	if err != nil || kb == nil {
		return nil, err
	}
	var out []T
	err = kb.ForEachBucket(func(ns []byte) error {
		return kb.Bucket(ns).ForEach(func(name, raw []byte) error {
			obj := newObject(kind)
			if err := json.Unmarshal(raw, obj); err != nil {
				return fmt.Errorf("reading %s %s/%s: %w", noun(kind), ns, name, err)
			}
			out = append(out, obj.(T))
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// StatefulSet returns a fresh copy of the stored StatefulSet ns/name, or an
// errdefs.ErrNotFound error.
func (tx *Tx) StatefulSet(ns, name string) (*appsv1.StatefulSet, error) {
	obj, err := tx.object(ObjectKey{Kind: configs.KindStatefulSet, Namespace: ns, Name: name})
	if err != nil {
		return nil, err
	}
	return obj.(*appsv1.StatefulSet), nil
}

// StatefulSets returns fresh copies of every stored StatefulSet of every
// namespace, sorted by namespace and name.
func (tx *Tx) StatefulSets() ([]*appsv1.StatefulSet, error) {
	return listObjects[*appsv1.StatefulSet](tx, configs.KindStatefulSet)
}

// Service returns a fresh copy of the stored Service ns/name, or an
// errdefs.ErrNotFound error.
func (tx *Tx) Service(ns, name string) (*corev1.Service, error) {
	obj, err := tx.object(ObjectKey{Kind: configs.KindService, Namespace: ns, Name: name})
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Service), nil
}

// Services returns fresh copies of every stored Service, sorted by
// namespace and name.
func (tx *Tx) Services() ([]*corev1.Service, error) {
	return listObjects[*corev1.Service](tx, configs.KindService)
}

// ConfigMap returns a fresh copy of the stored ConfigMap ns/name, or an
// errdefs.ErrNotFound error.
func (tx *Tx) ConfigMap(ns, name string) (*corev1.ConfigMap, error) {
	obj, err := tx.object(ObjectKey{Kind: configs.KindConfigMap, Namespace: ns, Name: name})
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.ConfigMap), nil
}

// ConfigMaps returns fresh copies of every stored ConfigMap, sorted by
// namespace and name.
func (tx *Tx) ConfigMaps() ([]*corev1.ConfigMap, error) {
	return listObjects[*corev1.ConfigMap](tx, configs.KindConfigMap)
}

// Secret returns a fresh copy of the stored Secret ns/name, or an
// errdefs.ErrNotFound error.
func (tx *Tx) Secret(ns, name string) (*corev1.Secret, error) {
	obj, err := tx.object(ObjectKey{Kind: configs.KindSecret, Namespace: ns, Name: name})
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Secret), nil
}

// Secrets returns fresh copies of every stored Secret, sorted by namespace
// and name.
func (tx *Tx) Secrets() ([]*corev1.Secret, error) {
	return listObjects[*corev1.Secret](tx, configs.KindSecret)
}

// DeleteObject removes the applied object at key, or returns an
// errdefs.ErrNotFound error when there is none. It removes nothing else: a
// StatefulSet's revisions and pod records are deleted by their own
// accessors, in the same Update when the change must be atomic.
func (tx *Tx) DeleteObject(key ObjectKey) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := tx.checkWritable(); err != nil {
		return err
	}
	kb, err := tx.bucket(bucketObjects, key.Kind)
	if err != nil {
		return err
	}
	var nb *bolt.Bucket
	if kb != nil {
		nb = kb.Bucket([]byte(key.Namespace))
	}
	if nb == nil || nb.Get([]byte(key.Name)) == nil {
		return notFound(noun(key.Kind), key.Namespace, key.Name)
	}
	if err := tx.delete(nb, []byte(key.Name)); err != nil {
		return fmt.Errorf("deleting %s %s/%s: %w", noun(key.Kind), key.Namespace, key.Name, err)
	}
	return tx.deleteIfEmpty(kb, key.Namespace)
}

// UpdateStatefulSetStatus replaces the status of the stored StatefulSet
// ns/name with a copy of status. Generation and everything else are kept;
// an absent set gives an errdefs.ErrNotFound error. It is idempotent.
func (tx *Tx) UpdateStatefulSetStatus(ns, name string, status appsv1.StatefulSetStatus) error {
	if err := checkKey(ObjectKey{Kind: configs.KindStatefulSet, Namespace: ns, Name: name}); err != nil {
		return err
	}
	if err := tx.checkWritable(); err != nil {
		return err
	}
	b, err := tx.bucket(bucketObjects, configs.KindStatefulSet, ns)
	if err != nil {
		return err
	}
	set := &appsv1.StatefulSet{}
	ok, err := getJSON(b, name, set)
	if err != nil {
		return fmt.Errorf("updating status of statefulset %s/%s: %w", ns, name, err)
	}
	if !ok {
		return notFound("statefulset", ns, name)
	}
	set.Status = *status.DeepCopy()
	if err := tx.putJSON(b, name, set); err != nil {
		return fmt.Errorf("updating status of statefulset %s/%s: %w", ns, name, err)
	}
	return nil
}

// StatefulSet is Tx.StatefulSet in its own View.
func (s *Store) StatefulSet(ns, name string) (set *appsv1.StatefulSet, err error) {
	err = s.View(func(tx *Tx) error { set, err = tx.StatefulSet(ns, name); return err })
	return set, err
}

// StatefulSets is Tx.StatefulSets in its own View.
func (s *Store) StatefulSets() (sets []*appsv1.StatefulSet, err error) {
	err = s.View(func(tx *Tx) error { sets, err = tx.StatefulSets(); return err })
	return sets, err
}

// Service is Tx.Service in its own View.
func (s *Store) Service(ns, name string) (svc *corev1.Service, err error) {
	err = s.View(func(tx *Tx) error { svc, err = tx.Service(ns, name); return err })
	return svc, err
}

// Services is Tx.Services in its own View.
func (s *Store) Services() (svcs []*corev1.Service, err error) {
	err = s.View(func(tx *Tx) error { svcs, err = tx.Services(); return err })
	return svcs, err
}

// ConfigMap is Tx.ConfigMap in its own View.
func (s *Store) ConfigMap(ns, name string) (cm *corev1.ConfigMap, err error) {
	err = s.View(func(tx *Tx) error { cm, err = tx.ConfigMap(ns, name); return err })
	return cm, err
}

// ConfigMaps is Tx.ConfigMaps in its own View.
func (s *Store) ConfigMaps() (cms []*corev1.ConfigMap, err error) {
	err = s.View(func(tx *Tx) error { cms, err = tx.ConfigMaps(); return err })
	return cms, err
}

// Secret is Tx.Secret in its own View.
func (s *Store) Secret(ns, name string) (sec *corev1.Secret, err error) {
	err = s.View(func(tx *Tx) error { sec, err = tx.Secret(ns, name); return err })
	return sec, err
}

// Secrets is Tx.Secrets in its own View.
func (s *Store) Secrets() (secs []*corev1.Secret, err error) {
	err = s.View(func(tx *Tx) error { secs, err = tx.Secrets(); return err })
	return secs, err
}

// DeleteObject is Tx.DeleteObject in its own Update.
func (s *Store) DeleteObject(key ObjectKey) error {
	return s.Update(func(tx *Tx) error { return tx.DeleteObject(key) })
}

// UpdateStatefulSetStatus is Tx.UpdateStatefulSetStatus in its own Update.
func (s *Store) UpdateStatefulSetStatus(ns, name string, status appsv1.StatefulSetStatus) error {
	return s.Update(func(tx *Tx) error { return tx.UpdateStatefulSetStatus(ns, name, status) })
}
