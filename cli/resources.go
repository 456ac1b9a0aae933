package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// object is what get prints: a Kubernetes object with metadata.
type object interface {
	runtime.Object
	metav1.Object
}

// resourceKind describes one resource type of `get`, `delete` and
// `describe`: how users name it, how kubectl names it in messages, and how
// its table looks.
type resourceKind struct {
	Name       string // the name setlet's help uses: "pods"
	Kind       string // "Pod"
	APIVersion string // "v1", "apps/v1"
	Resource   string // kubectl's plural with group, for errors: "statefulsets.apps"
	Singular   string // kubectl's type in "TYPE/NAME" lines: "statefulset.apps"
	WatchPath  string // the resource Client.Watch streams; "" when it cannot be watched
	columns    func(wide bool) []string
	row        func(obj object, now time.Time, opts printOptions) []string
	decode     func(raw json.RawMessage) (object, error)
}

// resourceNames lists the names `get` accepts, for messages.
const resourceNames = "sets, pods, volumes, services, events or revisions"

// lookupResource resolves a user's resource name, accepting kubectl's
// names, short names and singular forms (sts, po, pvc, svc, ev).
func lookupResource(name string) (resourceKind, bool) {
	switch strings.ToLower(name) {
	case "sets", "set", "statefulsets", "statefulset", "sts", "statefulsets.apps", "statefulset.apps":
		return resourceKind{
			Name: "sets", Kind: "StatefulSet", APIVersion: "apps/v1",
			Resource: "statefulsets.apps", Singular: "statefulset.apps", WatchPath: "statefulsets",
			columns: setColumns, row: setRow, decode: decodeAs[appsv1.StatefulSet],
		}, true
	case "pods", "pod", "po":
		return resourceKind{
			Name: "pods", Kind: "Pod", APIVersion: "v1",
			Resource: "pods", Singular: "pod", WatchPath: "pods",
			columns: podColumns, row: podRow, decode: decodeAs[corev1.Pod],
		}, true
	case "volumes", "volume", "pvc", "pvcs", "persistentvolumeclaims", "persistentvolumeclaim":
		return resourceKind{
			Name: "volumes", Kind: "PersistentVolumeClaim", APIVersion: "v1",
			Resource: "persistentvolumeclaims", Singular: "persistentvolumeclaim", WatchPath: "volumes",
			columns: volumeColumns, row: volumeRow, decode: decodeAs[corev1.PersistentVolumeClaim],
		}, true
	case "services", "service", "svc":
		return resourceKind{
			Name: "services", Kind: "Service", APIVersion: "v1",
			Resource: "services", Singular: "service",
			columns: serviceColumns, row: serviceRow, decode: decodeAs[corev1.Service],
		}, true
	case "revisions", "revision", "controllerrevisions", "controllerrevision", "controllerrevisions.apps", "controllerrevision.apps":
		return resourceKind{
			Name: "revisions", Kind: "ControllerRevision", APIVersion: "apps/v1",
			Resource: "controllerrevisions.apps", Singular: "controllerrevision.apps",
			columns: revisionColumns, row: revisionRow, decode: decodeAs[appsv1.ControllerRevision],
		}, true
	case "events", "event", "ev":
		return resourceKind{
			Name: "events", Kind: "Event", APIVersion: "v1",
			Resource: "events", Singular: "event", WatchPath: "events",
			columns: eventColumns, row: eventRow, decode: decodeAs[corev1.Event],
		}, true
	}
	return resourceKind{}, false
}

// decodeAs decodes raw JSON into a new T.
func decodeAs[T any, PT interface {
	*T
	object
}](raw json.RawMessage) (object, error) {
	obj := PT(new(T))
	if err := json.Unmarshal(raw, obj); err != nil {
		return nil, fmt.Errorf("decoding %T: %w", obj, err)
	}
	return obj, nil
}

// splitTypeName splits kubectl's "TYPE/NAME" form ("sts/web") of an
// argument; ok is false when arg has no slash.
func splitTypeName(arg string) (typ, name string, ok bool) {
	typ, name, ok = strings.Cut(arg, "/")
	return typ, name, ok
}

// notFoundLine is kubectl's line for an object that does not exist:
// Error from server (NotFound): pods "web-0" not found.
func notFoundLine(res resourceKind, name string) string {
	return fmt.Sprintf("Error from server (NotFound): %s %q not found", res.Resource, name)
}

// kindNames maps a manifest kind to kubectl's singular and plural resource
// names, as apply and delete print them.
func kindNames(kind string) (singular, plural string) {
	switch kind {
	case "StatefulSet":
		return "statefulset.apps", "statefulsets.apps"
	case "Service":
		return "service", "services"
	case "ConfigMap":
		return "configmap", "configmaps"
	case "Secret":
		return "secret", "secrets"
	case "Pod":
		return "pod", "pods"
	}
	lower := strings.ToLower(kind)
	return lower, lower + "s"
}

// withTypeMeta returns obj with apiVersion and kind filled in, as a
// Kubernetes API server returns them; obj itself is not changed.
func withTypeMeta(res resourceKind, obj object) object {
	out := obj.DeepCopyObject().(object)
	out.GetObjectKind().SetGroupVersionKind(schema.FromAPIVersionAndKind(res.APIVersion, res.Kind))
	return out
}

// forceFlag is --force of the commands that change objects: it lets them
// change an object a file of the daemon's manifest directory owns.
func forceFlag() cli.Flag {
	return &cli.BoolFlag{Name: "force", Usage: "change an object a file of the daemon's manifest directory owns (the file wins again when it next changes)"}
}
