package storage

import (
	"encoding/json"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/configs"
)

// revisionSet returns the name of the StatefulSet that controls rev, from
// its controller owner reference.
func revisionSet(rev *appsv1.ControllerRevision) (string, error) {
	ref := metav1.GetControllerOf(rev)
	if ref == nil || ref.Kind != configs.KindStatefulSet || ref.Name == "" {
		return "", invalid("controllerrevision %s/%s: no controller owner reference to a StatefulSet", rev.Namespace, rev.Name)
	}
	return ref.Name, nil
}

// findRevision returns the bucket of the set that holds revision name in
// namespace ns (revisions/<ns>/<set>), its set name and its encoded value,
// or a nil bucket when there is none. Revision names are unique in a
// namespace, so the first match is the only one.
func (tx *Tx) findRevision(ns, name string) (*bolt.Bucket, string, []byte, error) {
	nb, err := tx.bucket(bucketRevisions, ns)
	if err != nil || nb == nil {
		return nil, "", nil, err
	}
	c := nb.Cursor()
	for set, v := c.First(); set != nil; set, v = c.Next() {
		if v != nil { // not a bucket
			continue
		}
		sb := nb.Bucket(set)
		if raw := sb.Get([]byte(name)); raw != nil {
			return sb, string(set), raw, nil
		}
	}
	return nil, "", nil, nil
}

// CreateRevision stores a copy of rev under the StatefulSet named by its
// controller owner reference; rev is not modified. The stored copy gets a
// creationTimestamp (the clock) and a uid when they are unset. A revision
// of the same name in the namespace gives an errdefs.ErrAlreadyExists
// error, a revision without a name, namespace or StatefulSet owner an
// errdefs.ErrInvalidArgument error.
func (tx *Tx) CreateRevision(rev *appsv1.ControllerRevision) error {
	if rev == nil {
		return invalid("creating controllerrevision: revision is nil")
	}
	if err := requireName("controllerrevision", rev.Namespace, rev.Name); err != nil {
		return fmt.Errorf("creating %w", err)
	}
	set, err := revisionSet(rev)
	if err != nil {
		return fmt.Errorf("creating %w", err)
	}
	if err := tx.checkWritable(); err != nil {
		return err
	}
	_, _, raw, err := tx.findRevision(rev.Namespace, rev.Name)
	if err != nil {
		return err
	}
	if raw != nil {
		return alreadyExists("controllerrevision", rev.Namespace, rev.Name)
	}
	b, err := tx.writeBucket(bucketRevisions, rev.Namespace, set)
	if err != nil {
		return err
	}
	c := rev.DeepCopy()
	c.APIVersion, c.Kind = appsv1.SchemeGroupVersion.String(), "ControllerRevision"
	if c.CreationTimestamp.IsZero() {
		c.CreationTimestamp = metav1.NewTime(tx.s.now())
	}
	if c.UID == "" {
		c.UID = newUID()
	}
	if err := tx.putJSON(b, c.Name, c); err != nil {
		return fmt.Errorf("creating controllerrevision %s/%s: %w", c.Namespace, c.Name, err)
	}
	return nil
}

// Revision returns a fresh copy of the ControllerRevision ns/name, or an
// errdefs.ErrNotFound error.
func (tx *Tx) Revision(ns, name string) (*appsv1.ControllerRevision, error) {
	if err := requireName("controllerrevision", ns, name); err != nil {
		return nil, err
	}
	_, _, raw, err := tx.findRevision(ns, name)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, notFound("controllerrevision", ns, name)
	}
	rev := &appsv1.ControllerRevision{}
	if err := json.Unmarshal(raw, rev); err != nil {
		return nil, fmt.Errorf("reading controllerrevision %s/%s: %w", ns, name, err)
	}
	return rev, nil
}

// Revisions returns fresh copies of the revisions of StatefulSet ns/set,
// and of no other set, sorted as Kubernetes' SortControllerRevisions does:
// by revision number, then creationTimestamp, then name. A set without
// revisions gives an empty list, not an error.
func (tx *Tx) Revisions(ns, set string) ([]*appsv1.ControllerRevision, error) {
	if err := requireName("statefulset", ns, set); err != nil {
		return nil, err
	}
	b, err := tx.bucket(bucketRevisions, ns, set)
	if err != nil || b == nil {
		return nil, err
	}
	var revs []*appsv1.ControllerRevision
	err = b.ForEach(func(name, raw []byte) error {
		rev := &appsv1.ControllerRevision{}
		if err := json.Unmarshal(raw, rev); err != nil {
			return fmt.Errorf("reading controllerrevision %s/%s: %w", ns, name, err)
		}
		revs = append(revs, rev)
		return nil
	})
	if err != nil {
		return nil, err
	}
	SortRevisions(revs)
	return revs, nil
}

// RevisionSets returns the keys ("namespace/name") of the StatefulSets
// that have stored revisions, whether the sets still exist or not, sorted.
func (tx *Tx) RevisionSets() ([]string, error) {
	root, err := tx.bucket(bucketRevisions)
	if err != nil || root == nil {
		return nil, err
	}
	var keys []string
	err = root.ForEachBucket(func(ns []byte) error {
		return root.Bucket(ns).ForEachBucket(func(set []byte) error {
			keys = append(keys, string(ns)+"/"+string(set))
			return nil
		})
	})
	sort.Strings(keys)
	return keys, err
}

// SortRevisions sorts revs in place by revision number, then
// creationTimestamp, then name, as Kubernetes' SortControllerRevisions.
func SortRevisions(revs []*appsv1.ControllerRevision) {
	sort.SliceStable(revs, func(i, j int) bool {
		a, b := revs[i], revs[j]
		if a.Revision != b.Revision {
			return a.Revision < b.Revision
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}

// SetRevisionNumber sets the revision number of ControllerRevision ns/name
// to n (the controller's way to re-use an old template), or returns an
// errdefs.ErrNotFound error. It is idempotent.
func (tx *Tx) SetRevisionNumber(ns, name string, n int64) error {
	if err := requireName("controllerrevision", ns, name); err != nil {
		return err
	}
	if err := tx.checkWritable(); err != nil {
		return err
	}
	b, _, raw, err := tx.findRevision(ns, name)
	if err != nil {
		return err
	}
	if raw == nil {
		return notFound("controllerrevision", ns, name)
	}
	rev := &appsv1.ControllerRevision{}
	if err := json.Unmarshal(raw, rev); err != nil {
		return fmt.Errorf("reading controllerrevision %s/%s: %w", ns, name, err)
	}
	rev.Revision = n
	if err := tx.putJSON(b, name, rev); err != nil {
		return fmt.Errorf("updating controllerrevision %s/%s: %w", ns, name, err)
	}
	return nil
}

// DeleteRevision removes ControllerRevision ns/name, or returns an
// errdefs.ErrNotFound error.
func (tx *Tx) DeleteRevision(ns, name string) error {
	if err := requireName("controllerrevision", ns, name); err != nil {
		return err
	}
	if err := tx.checkWritable(); err != nil {
		return err
	}
	b, set, raw, err := tx.findRevision(ns, name)
	if err != nil {
		return err
	}
	if raw == nil {
		return notFound("controllerrevision", ns, name)
	}
	if err := tx.delete(b, []byte(name)); err != nil {
		return fmt.Errorf("deleting controllerrevision %s/%s: %w", ns, name, err)
	}
	nb, err := tx.bucket(bucketRevisions, ns)
	if err != nil {
		return err
	}
	if err := tx.deleteIfEmpty(nb, set); err != nil {
		return err
	}
	return tx.deleteIfEmpty(tx.tx.Bucket([]byte(bucketRevisions)), ns)
}

// CreateRevision is Tx.CreateRevision in its own Update.
func (s *Store) CreateRevision(rev *appsv1.ControllerRevision) error {
	return s.Update(func(tx *Tx) error { return tx.CreateRevision(rev) })
}

// Revision is Tx.Revision in its own View.
func (s *Store) Revision(ns, name string) (rev *appsv1.ControllerRevision, err error) {
	err = s.View(func(tx *Tx) error { rev, err = tx.Revision(ns, name); return err })
	return rev, err
}

// Revisions is Tx.Revisions in its own View.
func (s *Store) Revisions(ns, set string) (revs []*appsv1.ControllerRevision, err error) {
	err = s.View(func(tx *Tx) error { revs, err = tx.Revisions(ns, set); return err })
	return revs, err
}

// RevisionSets is Tx.RevisionSets in its own View.
func (s *Store) RevisionSets() (keys []string, err error) {
	err = s.View(func(tx *Tx) error { keys, err = tx.RevisionSets(); return err })
	return keys, err
}

// SetRevisionNumber is Tx.SetRevisionNumber in its own Update.
func (s *Store) SetRevisionNumber(ns, name string, n int64) error {
	return s.Update(func(tx *Tx) error { return tx.SetRevisionNumber(ns, name, n) })
}

// DeleteRevision is Tx.DeleteRevision in its own Update.
func (s *Store) DeleteRevision(ns, name string) error {
	return s.Update(func(tx *Tx) error { return tx.DeleteRevision(ns, name) })
}
