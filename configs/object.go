package configs

import (
	"reflect"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Object is a decoded manifest object: one of *appsv1.StatefulSet,
// *corev1.Service, *corev1.ConfigMap or *corev1.Secret.
type Object interface {
	metav1.Object
	runtime.Object
}

// The kinds setlet accepts, as manifests and error messages spell them.
const (
	KindStatefulSet = "StatefulSet"
	KindService     = "Service"
	KindConfigMap   = "ConfigMap"
	KindSecret      = "Secret"
)

// DefaultNamespace is the namespace of an object whose manifest names none,
// as with kubectl's default context.
const DefaultNamespace = "default"

// kind describes one supported apiVersion/kind pair.
type kind struct {
	apiVersion string
	name       string
	goType     reflect.Type
	newObject  func() Object
}

// kinds are the objects setlet accepts, in the order their names are listed
// in error messages.
var kinds = []kind{
	{"v1", KindConfigMap, reflect.TypeFor[corev1.ConfigMap](), func() Object { return &corev1.ConfigMap{} }},
	{"v1", KindSecret, reflect.TypeFor[corev1.Secret](), func() Object { return &corev1.Secret{} }},
	{"v1", KindService, reflect.TypeFor[corev1.Service](), func() Object { return &corev1.Service{} }},
	{"apps/v1", KindStatefulSet, reflect.TypeFor[appsv1.StatefulSet](), func() Object { return &appsv1.StatefulSet{} }},
}

// listKind is the v1 List that kubectl prints for `get -o yaml`; its items
// are decoded as documents of their own.
const listKind = "List"

// lookupKind returns the supported kind with the given name, if any.
func lookupKind(name string) (kind, bool) {
	for _, k := range kinds {
		if k.name == name {
			return k, true
		}
	}
	return kind{}, false
}

// kindNames lists the supported kinds for error messages.
func kindNames() []string {
	names := make([]string, 0, len(kinds)+1)
	for _, k := range kinds {
		names = append(names, k.name)
	}
	return append(names, listKind)
}

// KindOf returns the kind of a supported object ("StatefulSet", "Service",
// "ConfigMap", "Secret"), taken from its Go type so that it does not depend
// on TypeMeta being filled in; "" for anything else.
func KindOf(obj Object) string {
	switch obj.(type) {
	case *appsv1.StatefulSet:
		return KindStatefulSet
	case *corev1.Service:
		return KindService
	case *corev1.ConfigMap:
		return KindConfigMap
	case *corev1.Secret:
		return KindSecret
	}
	return ""
}

// NewObject returns an empty object of the given kind with its apiVersion
// and kind set, or nil when setlet does not support the kind.
func NewObject(kindName string) Object {
	k, ok := lookupKind(kindName)
	if !ok {
		return nil
	}
	obj := k.newObject()
	obj.GetObjectKind().SetGroupVersionKind(schema.FromAPIVersionAndKind(k.apiVersion, k.name))
	return obj
}

// Document is one object decoded from a manifest source, with every problem
// found in it. Object is nil when the document could not be decoded at all.
type Document struct {
	Source    string
	Index     int // 1-based among the non-empty documents of Source
	Item      int // 1-based inside a v1 List; 0 otherwise
	Kind      string
	Name      string
	Namespace string
	Object    Object
	Problems  []Problem
}

// String names the document: `web.yaml doc 2 (StatefulSet web)`.
func (d *Document) String() string {
	return location(d.Source, d.Index, d.Item, d.Kind, d.Name)
}

// problem returns a Problem located at this document.
func (d *Document) problem(field, message string) Problem {
	return Problem{
		Source: d.Source, Index: d.Index, Item: d.Item,
		Kind: d.Kind, Name: d.Name, Field: field, Message: message,
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
