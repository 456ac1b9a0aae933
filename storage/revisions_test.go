package storage_test

import (
	"testing"
	"time"

	"github.com/containerd/errdefs"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/storage"
)

// newRev returns revision number n of set ns/set with a given image.
func newRev(t *testing.T, ns, set, image string, n int64) *appsv1.ControllerRevision {
	t.Helper()
	s := newSet(ns, set)
	s.Spec.Template.Spec.Containers[0].Image = image
	rev, err := storage.NewRevision(s, n, 0)
	noErr(t, err)
	return rev
}

func revNames(revs []*appsv1.ControllerRevision) []string {
	out := make([]string, len(revs))
	for i, r := range revs {
		out[i] = r.Name
	}
	return out
}

func TestCreateRevision(t *testing.T) {
	st, clock := openStore(t)
	rev := newRev(t, "ns", "web", "nginx:1", 1)
	before := rev.DeepCopy()
	noErr(t, st.CreateRevision(rev))
	equal(t, before, rev) // the input is not modified

	got, err := st.Revision("ns", rev.Name)
	noErr(t, err)
	equal(t, clock.Now().Unix(), got.CreationTimestamp.Unix())
	isTrue(t, got.UID != "", "uid set")
	equal(t, "ControllerRevision", got.Kind)
	equal(t, rev.Data.Raw, got.Data.Raw)
	equal(t, int64(1), got.Revision)

	err = st.CreateRevision(rev)
	errIs(t, err, errdefs.ErrAlreadyExists)
	contains(t, err.Error(), rev.Name)

	// Names are unique in a namespace, whichever set owns them.
	other := newRev(t, "ns", "db", "nginx:1", 1)
	other.Name = rev.Name
	errIs(t, st.CreateRevision(other), errdefs.ErrAlreadyExists)
	// ... but not across namespaces.
	noErr(t, st.CreateRevision(newRev(t, "prod", "web", "nginx:1", 1)))

	// A given creationTimestamp is kept.
	stamped := newRev(t, "ns", "web", "nginx:2", 2)
	stamped.CreationTimestamp = metav1.NewTime(time.Unix(1000, 0))
	noErr(t, st.CreateRevision(stamped))
	got, err = st.Revision("ns", stamped.Name)
	noErr(t, err)
	equal(t, int64(1000), got.CreationTimestamp.Unix())
}

func TestCreateRevisionInvalid(t *testing.T) {
	st, _ := openStore(t)
	noOwner := newRev(t, "ns", "web", "x", 1)
	noOwner.OwnerReferences = nil
	notController := newRev(t, "ns", "web", "x", 1)
	notController.OwnerReferences[0].Controller = nil
	wrongKind := newRev(t, "ns", "web", "x", 1)
	wrongKind.OwnerReferences[0].Kind = "DaemonSet"
	noName := newRev(t, "ns", "web", "x", 1)
	noName.Name = ""
	tests := []struct {
		name string
		rev  *appsv1.ControllerRevision
	}{
		{"nil", nil},
		{"no owner", noOwner},
		{"owner not controller", notController},
		{"owner not a statefulset", wrongKind},
		{"no name", noName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errIs(t, st.CreateRevision(tt.rev), errdefs.ErrInvalidArgument)
		})
	}
}

func TestRevisionsPerSet(t *testing.T) {
	st, _ := openStore(t)
	for _, rev := range []*appsv1.ControllerRevision{
		newRev(t, "ns", "web", "nginx:1", 1),
		newRev(t, "ns", "web-x", "nginx:1", 1),
		newRev(t, "ns", "web-x", "nginx:2", 2),
		newRev(t, "ns", "we", "nginx:1", 1),
		newRev(t, "other", "web", "nginx:3", 1),
		newRev(t, "ns", "web", "nginx:2", 2),
	} {
		noErr(t, st.CreateRevision(rev))
	}
	tests := []struct {
		ns, set string
		want    []string
	}{
		{"ns", "web", []string{newRev(t, "ns", "web", "nginx:1", 1).Name, newRev(t, "ns", "web", "nginx:2", 2).Name}},
		{"ns", "web-x", []string{newRev(t, "ns", "web-x", "nginx:1", 1).Name, newRev(t, "ns", "web-x", "nginx:2", 2).Name}},
		{"ns", "we", []string{newRev(t, "ns", "we", "nginx:1", 1).Name}},
		{"other", "web", []string{newRev(t, "other", "web", "nginx:3", 1).Name}},
		{"ns", "w", []string{}},
		{"nope", "web", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.ns+"/"+tt.set, func(t *testing.T) {
			revs, err := st.Revisions(tt.ns, tt.set)
			noErr(t, err)
			equal(t, tt.want, revNames(revs))
		})
	}
	_, err := st.Revisions("ns", "")
	errIs(t, err, errdefs.ErrInvalidArgument)
}

func TestRevisionsSortOrder(t *testing.T) {
	st, clock := openStore(t)
	mk := func(name string, n int64) *appsv1.ControllerRevision {
		rev := newRev(t, "ns", "web", name, n)
		rev.Name = "web-" + name
		return rev
	}
	// Created in this order; sorted by number, then time, then name.
	noErr(t, st.CreateRevision(mk("c", 3)))
	noErr(t, st.CreateRevision(mk("b", 2)))
	clock.Advance(time.Minute)
	noErr(t, st.CreateRevision(mk("a", 2)))
	noErr(t, st.CreateRevision(mk("z", 1)))
	noErr(t, st.CreateRevision(mk("y", 1)))
	revs, err := st.Revisions("ns", "web")
	noErr(t, err)
	equal(t, []string{"web-y", "web-z", "web-b", "web-a", "web-c"}, revNames(revs))
}

func TestSetRevisionNumber(t *testing.T) {
	st, _ := openStore(t)
	old := newRev(t, "ns", "web", "nginx:1", 1)
	cur := newRev(t, "ns", "web", "nginx:2", 2)
	noErr(t, st.CreateRevision(old))
	noErr(t, st.CreateRevision(cur))

	// Rolling back re-uses the old template as revision 3.
	noErr(t, st.SetRevisionNumber("ns", old.Name, 3))
	noErr(t, st.SetRevisionNumber("ns", old.Name, 3))
	revs, err := st.Revisions("ns", "web")
	noErr(t, err)
	equal(t, []string{cur.Name, old.Name}, revNames(revs))
	equal(t, int64(3), revs[1].Revision)

	errIs(t, st.SetRevisionNumber("ns", "web-nope", 4), errdefs.ErrNotFound)
	errIs(t, st.SetRevisionNumber("ns", "", 4), errdefs.ErrInvalidArgument)
}

func TestDeleteRevision(t *testing.T) {
	st, _ := openStore(t)
	a := newRev(t, "ns", "web", "nginx:1", 1)
	b := newRev(t, "ns", "web", "nginx:2", 2)
	noErr(t, st.CreateRevision(a))
	noErr(t, st.CreateRevision(b))

	noErr(t, st.DeleteRevision("ns", a.Name))
	errIs(t, st.DeleteRevision("ns", a.Name), errdefs.ErrNotFound)
	_, err := st.Revision("ns", a.Name)
	errIs(t, err, errdefs.ErrNotFound)
	revs, err := st.Revisions("ns", "web")
	noErr(t, err)
	equal(t, []string{b.Name}, revNames(revs))

	noErr(t, st.DeleteRevision("ns", b.Name))
	revs, err = st.Revisions("ns", "web")
	noErr(t, err)
	hasLen(t, revs, 0)
	errIs(t, st.DeleteRevision("nope", b.Name), errdefs.ErrNotFound)
	errIs(t, st.DeleteRevision("ns", ""), errdefs.ErrInvalidArgument)
	_, err = st.Revision("", "x")
	errIs(t, err, errdefs.ErrInvalidArgument)

	// A set can start again after its last revision went.
	noErr(t, st.CreateRevision(a))
}

// TestDeleteSetInOneUpdate shows the daemon's delete: the set, its
// revisions and its pods go together or not at all.
func TestDeleteSetInOneUpdate(t *testing.T) {
	st, _ := openStore(t)
	_, err := st.Apply(newSet("ns", "web"), newSet("ns", "web-x"))
	noErr(t, err)
	noErr(t, st.CreateRevision(newRev(t, "ns", "web", "nginx:1", 1)))
	noErr(t, st.CreateRevision(newRev(t, "ns", "web-x", "nginx:1", 1)))
	for i := range 3 {
		noErr(t, st.PutPod(newPod("ns", "web", i)))
	}
	noErr(t, st.PutPod(newPod("ns", "web-x", 0)))

	deleteSet := func(tx *storage.Tx) error {
		revs, err := tx.Revisions("ns", "web")
		if err != nil {
			return err
		}
		for _, rev := range revs {
			if err := tx.DeleteRevision("ns", rev.Name); err != nil {
				return err
			}
		}
		pods, err := tx.Pods("ns", "web")
		if err != nil {
			return err
		}
		for _, pod := range pods {
			if err := tx.DeletePod("ns", pod.Name); err != nil {
				return err
			}
		}
		return tx.DeleteObject(storage.ObjectKey{Kind: configs.KindStatefulSet, Namespace: "ns", Name: "web"})
	}
	noErr(t, st.Update(deleteSet))

	_, err = st.StatefulSet("ns", "web")
	errIs(t, err, errdefs.ErrNotFound)
	revs, err := st.Revisions("ns", "web")
	noErr(t, err)
	hasLen(t, revs, 0)
	pods, err := st.AllPods()
	noErr(t, err)
	equal(t, []string{"ns/web-x-0"}, names(pods))
	revs, err = st.Revisions("ns", "web-x")
	noErr(t, err)
	hasLen(t, revs, 1)

	// Running it again fails on the missing set and changes nothing.
	errIs(t, st.Update(deleteSet), errdefs.ErrNotFound)
}
