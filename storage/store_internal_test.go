package storage

import (
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/configs"
)

// txID returns the id of the last committed transaction.
func txID(t *testing.T, s *Store) int {
	t.Helper()
	var id int
	if err := s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestUnchangedUpdateDoesNotCommit checks that an Update that writes
// nothing is not committed (no fsync), and that one that writes is.
func TestUnchangedUpdateDoesNotCommit(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	set := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0"}}
	status := appsv1.StatefulSetStatus{Replicas: 1}
	steps := []struct {
		name    string
		do      func() error
		changes bool
	}{
		{"create", func() error { _, err := s.Apply(set); return err }, true},
		{"apply unchanged", func() error { _, err := s.Apply(set); return err }, false},
		{"status", func() error { return s.UpdateStatefulSetStatus("ns", "web", status) }, true},
		{"same status", func() error { return s.UpdateStatefulSetStatus("ns", "web", status) }, false},
		{"put pod", func() error { return s.PutPod(pod) }, true},
		{"same pod again", func() error {
			stored, err := s.Pod("ns", "web-0")
			if err != nil {
				return err
			}
			return s.PutPod(stored)
		}, false},
		{"empty update", func() error { return s.Update(func(*Tx) error { return nil }) }, false},
		{"no events", func() error { return s.AddEvents() }, false},
		{"events", func() error { return s.AddEvents(Event{Type: "Normal", Reason: "X"}) }, true},
		{"delete pod", func() error { return s.DeletePod("ns", "web-0") }, true},
	}
	for _, step := range steps {
		before := txID(t, s)
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := txID(t, s) != before; got != step.changes {
			t.Errorf("%s: committed = %v, want %v", step.name, got, step.changes)
		}
	}
}

// TestCorruptRecords checks that undecodable records give errors, not
// panics or silent zero values.
func TestCorruptRecords(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	garbage := []byte("{not json")
	err = s.Update(func(tx *Tx) error {
		for _, path := range [][]string{
			{bucketObjects, configs.KindStatefulSet, "ns"},
			{bucketObjects, configs.KindSecret, "ns"},
			{bucketRevisions, "ns", "web"},
			{bucketPods, "ns"},
			{bucketVolumes},
		} {
			b, err := tx.writeBucket(path...)
			if err != nil {
				return err
			}
			for _, key := range []string{"web", "web-1", "web-0", "v"} {
				if err := tx.put(b, []byte(key), garbage); err != nil {
					return err
				}
			}
		}
		b, err := tx.writeBucket(bucketEvents)
		if err != nil {
			return err
		}
		return tx.put(b, eventKey(1), garbage)
	})
	if err != nil {
		t.Fatal(err)
	}
	set := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0"}}
	rev := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-1",
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, appsv1.SchemeGroupVersion.WithKind("StatefulSet"))}}}
	calls := map[string]func() error{
		"StatefulSet":             func() error { _, err := s.StatefulSet("ns", "web"); return err },
		"StatefulSets":            func() error { _, err := s.StatefulSets(); return err },
		"Secrets":                 func() error { _, err := s.Secrets(); return err },
		"Apply":                   func() error { _, err := s.Apply(set); return err },
		"UpdateStatefulSetStatus": func() error { return s.UpdateStatefulSetStatus("ns", "web", appsv1.StatefulSetStatus{}) },
		"Revision":                func() error { _, err := s.Revision("ns", "web-1"); return err },
		"Revisions":               func() error { _, err := s.Revisions("ns", "web"); return err },
		"SetRevisionNumber":       func() error { return s.SetRevisionNumber("ns", "web-1", 2) },
		"CreateRevision":          func() error { return s.CreateRevision(rev) }, // already exists
		"Pod":                     func() error { _, err := s.Pod("ns", "web-0"); return err },
		"Pods":                    func() error { _, err := s.Pods("ns", "web"); return err },
		"AllPods":                 func() error { _, err := s.AllPods(); return err },
		"PutPod":                  func() error { return s.PutPod(pod) },
		"Volume":                  func() error { _, err := s.Volume("v"); return err },
		"Volumes":                 func() error { _, err := s.Volumes(); return err },
		"EnsureVolume": func() error {
			_, _, err := s.EnsureVolume(Volume{Name: "v", Namespace: "ns", Claim: "c", Set: "web"})
			return err
		},
		"DeleteVolume": func() error { return s.DeleteVolume("v") },
		"Events":       func() error { _, err := s.Events(EventFilter{}); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); err == nil {
				t.Fatal("no error for a corrupt record")
			}
		})
	}
}
