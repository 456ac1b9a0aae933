package storage

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"

	"github.com/containerd/errdefs"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
)

// RevisionHashLabel is the label a ControllerRevision carries with the hash
// part of its name, as Kubernetes' controller history sets it.
const RevisionHashLabel = "controller.kubernetes.io/hash"

// statefulSetKind is the owner kind written into revisions' owner references.
var statefulSetKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// RevisionName returns the name of a set's ControllerRevision with the given
// hash, "<set>-<hash>". The same string is the value of the pods'
// controller-revision-hash label. As in Kubernetes, a set name longer than
// 223 bytes is cut so that the result stays within 253 bytes.
func RevisionName(set, hash string) string {
	if len(set) > 223 {
		set = set[:223]
	}
	return set + "-" + hash
}

// HashRevision hashes revision data the way Kubernetes' controller history
// does: FNV-32 over the data followed by the decimal collision count, printed
// in decimal and re-encoded with the alphabet of rand.SafeEncodeString (no
// vowels, so no accidental words). It is pure and deterministic.
func HashRevision(data []byte, collisionCount int32) string {
	h := fnv.New32()
	h.Write(data)
	h.Write([]byte(strconv.FormatInt(int64(collisionCount), 10)))
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// TemplatePatch returns the data Kubernetes records in a StatefulSet's
// ControllerRevision: a strategic merge patch that replaces spec.template,
// {"spec":{"template":{"$patch":"replace",...}}}, with the keys in sorted
// order. Identical templates give identical bytes.
func TemplatePatch(set *appsv1.StatefulSet) ([]byte, error) {
	if set == nil {
		return nil, invalid("encoding pod template: statefulset is nil")
	}
	raw, err := json.Marshal(set.Spec.Template)
	if err != nil {
		return nil, fmt.Errorf("encoding pod template of %s/%s: %w", set.Namespace, set.Name, err)
	}
	var template map[string]any
	if err := json.Unmarshal(raw, &template); err != nil {
		return nil, fmt.Errorf("re-reading pod template of %s/%s: %w", set.Namespace, set.Name, err)
	}
	template["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": template}})
}

// NewRevision returns the ControllerRevision for set's current pod template
// with revision number number. Its name is RevisionName(set, hash) where the
// hash covers the template patch and collisionCount; it is owned by set,
// carries the template's labels plus RevisionHashLabel and the set's
// annotations. It does not store anything.
func NewRevision(set *appsv1.StatefulSet, number int64, collisionCount int32) (*appsv1.ControllerRevision, error) {
	patch, err := TemplatePatch(set)
	if err != nil {
		return nil, err
	}
	hash := HashRevision(patch, collisionCount)
	labels := make(map[string]string, len(set.Spec.Template.Labels)+1)
	for k, v := range set.Spec.Template.Labels {
		labels[k] = v
	}
	labels[RevisionHashLabel] = hash
	var annotations map[string]string
	if len(set.Annotations) > 0 {
		annotations = make(map[string]string, len(set.Annotations))
		for k, v := range set.Annotations {
			annotations[k] = v
		}
	}
	return &appsv1.ControllerRevision{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ControllerRevision"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            RevisionName(set.Name, hash),
			Namespace:       set.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, statefulSetKind)},
		},
		Data:     runtime.RawExtension{Raw: patch},
		Revision: number,
	}, nil
}

// ApplyRevision returns a copy of set whose pod template is the one recorded
// in rev. set and rev are not changed. Data that is not a template patch
// gives an errdefs.ErrInvalidArgument error.
func ApplyRevision(set *appsv1.StatefulSet, rev *appsv1.ControllerRevision) (*appsv1.StatefulSet, error) {
	if set == nil || rev == nil {
		return nil, invalid("applying revision: statefulset and revision are required")
	}
	var patch struct {
		Spec struct {
			Template json.RawMessage `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(rev.Data.Raw, &patch); err != nil {
		return nil, fmt.Errorf("reading revision %s: %w: %w", rev.Name, err, errdefs.ErrInvalidArgument)
	}
	if len(patch.Spec.Template) == 0 || string(patch.Spec.Template) == "null" {
		return nil, invalid("reading revision %s: no spec.template in its data", rev.Name)
	}
	out := set.DeepCopy()
	out.Spec.Template = corev1.PodTemplateSpec{}
	if err := json.Unmarshal(patch.Spec.Template, &out.Spec.Template); err != nil {
		return nil, fmt.Errorf("reading pod template of revision %s: %w: %w", rev.Name, err, errdefs.ErrInvalidArgument)
	}
	return out, nil
}
