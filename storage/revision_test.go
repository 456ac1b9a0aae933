package storage_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/setlet/setlet/storage"
)

// safeAlphabet is the alphabet of rand.SafeEncodeString.
const safeAlphabet = "bcdfghjklmnpqrstvwxz2456789"

func TestHashRevision(t *testing.T) {
	data := []byte(`{"spec":{"template":{"$patch":"replace"}}}`)
	h := storage.HashRevision(data, 0)
	equal(t, h, storage.HashRevision(bytes.Clone(data), 0), "deterministic")
	// Pinned so that a change of algorithm, which would roll every pod of
	// every set on upgrade, cannot go unnoticed.
	equal(t, "589f85db5b", h) // FNV-32 of data+"0", computed independently
	isTrue(t, h != storage.HashRevision(data, 1), "collision count changes the hash")
	isTrue(t, h != storage.HashRevision([]byte(`{}`), 0), "data changes the hash")
	for _, c := range h {
		isTrue(t, strings.ContainsRune(safeAlphabet, c), "alphabet: ", h)
	}
}

func TestRevisionName(t *testing.T) {
	equal(t, "web-abc", storage.RevisionName("web", "abc"))
	long := strings.Repeat("a", 300)
	name := storage.RevisionName(long, "5f8c98f4c7")
	equal(t, strings.Repeat("a", 223)+"-5f8c98f4c7", name)
	isTrue(t, len(name) <= 253, "within 253 bytes")
	equal(t, strings.Repeat("b", 223)+"-h", storage.RevisionName(strings.Repeat("b", 223), "h"))
}

func TestNewRevision(t *testing.T) {
	set := newSet("ns", "web")
	set.UID = "set-uid"
	set.Annotations = map[string]string{"note": "x"}
	before := set.DeepCopy()
	rev, err := storage.NewRevision(set, 4, 0)
	noErr(t, err)
	equal(t, before, set) // not modified

	hash := rev.Labels[storage.RevisionHashLabel]
	equal(t, "web-"+hash, rev.Name)
	for _, c := range hash {
		isTrue(t, strings.ContainsRune(safeAlphabet, c), "alphabet: ", hash)
	}
	equal(t, "ns", rev.Namespace)
	equal(t, int64(4), rev.Revision)
	equal(t, "web", rev.Labels["app"])
	equal(t, map[string]string{"note": "x"}, rev.Annotations)
	ref := metav1.GetControllerOf(rev)
	equal(t, "StatefulSet", ref.Kind)
	equal(t, "web", ref.Name)
	equal(t, set.UID, ref.UID)
	isTrue(t, bytes.HasPrefix(rev.Data.Raw, []byte(`{"spec":{"template":{"$patch":"replace","metadata":`)), string(rev.Data.Raw))
	patch, err := storage.TemplatePatch(set)
	noErr(t, err)
	equal(t, patch, rev.Data.Raw)
	equal(t, storage.HashRevision(patch, 0), hash)

	// Changing the set's metadata writes the changes into the revision but
	// keeps its name; a nil annotations map stays nil.
	set.Annotations = nil
	rev2, err := storage.NewRevision(set, 4, 0)
	noErr(t, err)
	isNil(t, rev2.Annotations)
	equal(t, rev.Name, rev2.Name)
}

func TestRevisionHashStability(t *testing.T) {
	base := func() *appsv1.StatefulSet { return newSet("ns", "web") }
	name := func(set *appsv1.StatefulSet, collisions int32) string {
		rev, err := storage.NewRevision(set, 1, collisions)
		noErr(t, err)
		return rev.Name
	}
	want := name(base(), 0)
	tests := []struct {
		name   string
		change func(*appsv1.StatefulSet)
		same   bool
	}{
		{"labels", func(s *appsv1.StatefulSet) { s.Labels = map[string]string{"other": "x"} }, true},
		{"annotations", func(s *appsv1.StatefulSet) { s.Annotations = map[string]string{"a": "b"} }, true},
		{"replicas", func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptrTo[int32](9) }, true},
		{"update strategy", func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType }, true},
		{"status", func(s *appsv1.StatefulSet) { s.Status.Replicas = 3 }, true},
		{"image", func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "nginx:2" }, false},
		{"template labels", func(s *appsv1.StatefulSet) { s.Spec.Template.Labels["v"] = "2" }, false},
		{"template annotations", func(s *appsv1.StatefulSet) {
			s.Spec.Template.Annotations = map[string]string{"restartedAt": "now"}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := base()
			tt.change(set)
			equal(t, tt.same, name(set, 0) == want)
		})
	}
	isTrue(t, name(base(), 1) != want, "collision count changes the name")
	equal(t, want, name(base(), 0))
}

func TestApplyRevision(t *testing.T) {
	old := newSet("ns", "web")
	old.Spec.Template.Spec.Containers[0].Image = "nginx:old"
	rev, err := storage.NewRevision(old, 1, 0)
	noErr(t, err)
	revBefore := rev.DeepCopy()

	cur := newSet("ns", "web")
	cur.Spec.Replicas = ptrTo[int32](7)
	cur.Status.Replicas = 7
	curBefore := cur.DeepCopy()

	got, err := storage.ApplyRevision(cur, rev)
	noErr(t, err)
	equal(t, curBefore, cur) // inputs not modified
	equal(t, revBefore, rev)
	isTrue(t, equality.Semantic.DeepEqual(old.Spec.Template, got.Spec.Template), "template restored: ", got.Spec.Template)
	equal(t, "nginx:old", got.Spec.Template.Spec.Containers[0].Image)
	equal(t, int32(7), *got.Spec.Replicas)
	equal(t, int32(7), got.Status.Replicas)

	// Round trip: the restored set hashes to the same revision.
	again, err := storage.NewRevision(got, 1, 0)
	noErr(t, err)
	equal(t, rev.Name, again.Name)
}

func TestApplyRevisionBadData(t *testing.T) {
	set := newSet("ns", "web")
	tests := []struct {
		name string
		raw  string
	}{
		{"empty", ""},
		{"not json", "{"},
		{"no template", `{"spec":{}}`},
		{"null template", `{"spec":{"template":null}}`},
		{"template not an object", `{"spec":{"template":"x"}}`},
		{"spec not an object", `{"spec":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rev := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "web-x"}, Data: runtime.RawExtension{Raw: []byte(tt.raw)}}
			got, err := storage.ApplyRevision(set, rev)
			errIs(t, err, errdefs.ErrInvalidArgument)
			contains(t, err.Error(), "web-x")
			isNil(t, got)
		})
	}
	_, err := storage.ApplyRevision(nil, &appsv1.ControllerRevision{})
	errIs(t, err, errdefs.ErrInvalidArgument)
	_, err = storage.ApplyRevision(set, nil)
	errIs(t, err, errdefs.ErrInvalidArgument)
	_, err = storage.NewRevision(nil, 1, 0)
	errIs(t, err, errdefs.ErrInvalidArgument)
	_, err = storage.TemplatePatch(nil)
	errIs(t, err, errdefs.ErrInvalidArgument)
}
