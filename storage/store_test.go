package storage_test

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	bolt "go.etcd.io/bbolt"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/storage"
)

func TestOpenCreatesFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "lib", "setlet")
	path := filepath.Join(dir, "state.db")
	st, err := storage.Open(path)
	noErr(t, err)
	defer st.Close()

	equal(t, path, st.Path())
	equal(t, filepath.Join(dir, "volumes"), st.VolumeDir())
	fi, err := os.Stat(path)
	noErr(t, err)
	equal(t, os.FileMode(0o600), fi.Mode().Perm())
	di, err := os.Stat(dir)
	noErr(t, err)
	equal(t, os.FileMode(0o700), di.Mode().Perm())
}

func TestOpenVolumeDirOption(t *testing.T) {
	vol := filepath.Join(t.TempDir(), "data")
	st, _ := openStore(t, storage.WithVolumeDir(vol))
	equal(t, vol, st.VolumeDir())

	wd, err := os.Getwd()
	noErr(t, err)
	st2, _ := openStore(t, storage.WithVolumeDir("rel"))
	equal(t, filepath.Join(wd, "rel"), st2.VolumeDir(), "a relative volume dir is made absolute")
}

func TestOpenInvalidOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	tests := []struct {
		name string
		path string
		opts []storage.Opt
	}{
		{"empty path", "", nil},
		{"nil clock", path, []storage.Opt{storage.WithClock(nil)}},
		{"negative lock timeout", path, []storage.Opt{storage.WithLockTimeout(-time.Second)}},
		{"zero event limit", path, []storage.Opt{storage.WithEventLimit(0)}},
		{"empty volume dir", path, []storage.Opt{storage.WithVolumeDir("")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := storage.Open(tt.path, tt.opts...)
			errIs(t, err, errdefs.ErrInvalidArgument)
			isNil(t, st)
		})
	}
}

func TestOpenLocked(t *testing.T) {
	st, _ := openStore(t)
	tests := []struct {
		name    string
		timeout time.Duration
	}{
		{"short wait", 60 * time.Millisecond},
		{"no wait", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// flock is per open file description, so a second Open in the
			// same process conflicts with the first.
			st2, err := storage.Open(st.Path(), storage.WithLockTimeout(tt.timeout))
			errIs(t, err, storage.ErrLocked)
			errIs(t, err, errdefs.ErrUnavailable)
			contains(t, err.Error(), st.Path())
			contains(t, err.Error(), "another setlet daemon")
			isNil(t, st2)
		})
	}
	// Once the first store is closed the file opens again.
	noErr(t, st.Close())
	st3, err := storage.Open(st.Path())
	noErr(t, err)
	noErr(t, st3.Close())
}

// writeSchema creates a bbolt file at path whose schema key says version.
func writeSchema(t *testing.T, path string, version uint64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	noErr(t, err)
	noErr(t, db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("meta"))
		if err != nil {
			return err
		}
		return b.Put([]byte("schema"), binary.BigEndian.AppendUint64(nil, version))
	}))
	noErr(t, db.Close())
}

func readSchema(t *testing.T, path string) uint64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	noErr(t, err)
	defer db.Close()
	var v uint64
	noErr(t, db.View(func(tx *bolt.Tx) error {
		v = binary.BigEndian.Uint64(tx.Bucket([]byte("meta")).Get([]byte("schema")))
		return nil
	}))
	return v
}

func TestOpenNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	writeSchema(t, path, 99)

	st, err := storage.Open(path)
	errIs(t, err, storage.ErrNewerSchema)
	errIs(t, err, errdefs.ErrFailedPrecondition)
	isNil(t, st)
	msg := err.Error()
	contains(t, msg, path)
	contains(t, msg, "99")
	contains(t, msg, strconv.FormatUint(storage.SchemaVersion(), 10))
	equal(t, uint64(99), readSchema(t, path), "the file is left alone")

	// The failed Open released the lock.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	noErr(t, err)
	noErr(t, db.Close())
}

func TestOpenSetsSchemaVersion(t *testing.T) {
	st, _ := openStore(t)
	noErr(t, st.Close())
	equal(t, storage.SchemaVersion(), readSchema(t, st.Path()))
	equal(t, uint64(1), storage.SchemaVersion())
}

func TestOpenNotAStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	noErr(t, os.WriteFile(path, make([]byte, 8192), 0o600))
	st, err := storage.Open(path)
	hasErr(t, err)
	isNil(t, st)
	contains(t, err.Error(), path)
}

func TestOpenParentIsAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	noErr(t, os.WriteFile(file, nil, 0o600))
	_, err := storage.Open(filepath.Join(file, "state.db"))
	hasErr(t, err)
}

func TestReopenPersists(t *testing.T) {
	st, clock := openStore(t)
	_, err := st.Apply(newService("default", "nginx"), newSet("default", "web"), newConfigMap("default", "conf"), newSecret("default", "pw"))
	noErr(t, err)
	rev, err := storage.NewRevision(newSet("default", "web"), 1, 0)
	noErr(t, err)
	noErr(t, st.CreateRevision(rev))
	noErr(t, st.PutPod(newPod("default", "web", 0)))
	vol, _, err := st.EnsureVolume(storage.Volume{Name: "www-web-0", Namespace: "default", Claim: "www", Set: "web", Ordinal: 0, Capacity: "1Gi"})
	noErr(t, err)
	noErr(t, st.AddEvents(storage.Event{Type: "Normal", Reason: "SuccessfulCreate", Kind: "StatefulSet", Namespace: "default", Name: "web", Message: "create Pod web-0"}))

	st = reopen(t, st, clock)
	set, err := st.StatefulSet("default", "web")
	noErr(t, err)
	equal(t, int64(1), set.Generation)
	_, err = st.Service("default", "nginx")
	noErr(t, err)
	_, err = st.ConfigMap("default", "conf")
	noErr(t, err)
	_, err = st.Secret("default", "pw")
	noErr(t, err)
	_, err = st.Revision("default", rev.Name)
	noErr(t, err)
	_, err = st.Pod("default", "web-0")
	noErr(t, err)
	got, err := st.Volume("www-web-0")
	noErr(t, err)
	equal(t, vol.Path, got.Path)
	isTrue(t, vol.Created.Equal(got.Created))
	evs, err := st.Events(storage.EventFilter{})
	noErr(t, err)
	hasLen(t, evs, 1)
	equal(t, "SuccessfulCreate", evs[0].Reason)
}

func TestUpdateIsAtomic(t *testing.T) {
	st, _ := openStore(t)
	boom := errors.New("boom")
	err := st.Update(func(tx *storage.Tx) error {
		if _, err := tx.Apply(newSet("default", "web")); err != nil {
			return err
		}
		if err := tx.PutPod(newPod("default", "web", 0)); err != nil {
			return err
		}
		rev, err := storage.NewRevision(newSet("default", "web"), 1, 0)
		if err != nil {
			return err
		}
		if err := tx.CreateRevision(rev); err != nil {
			return err
		}
		if err := tx.AddEvents(storage.Event{Type: "Normal", Reason: "SuccessfulCreate"}); err != nil {
			return err
		}
		// The transaction sees its own writes.
		if _, err := tx.StatefulSet("default", "web"); err != nil {
			return err
		}
		return boom
	})
	equal(t, boom, err) // fn's error comes back unchanged
	requireEmpty(t, st)
}

func TestUpdatePanicRollsBack(t *testing.T) {
	st, _ := openStore(t)
	panics(t, func() {
		_ = st.Update(func(tx *storage.Tx) error {
			if _, err := tx.Apply(newSet("default", "web")); err != nil {
				return err
			}
			panic("boom")
		})
	})
	requireEmpty(t, st)
	// The write lock was released.
	_, err := st.Apply(newSet("default", "web"))
	noErr(t, err)
}

// requireEmpty fails unless st holds no record at all.
func requireEmpty(t *testing.T, st *storage.Store) {
	t.Helper()
	noErr(t, st.View(func(tx *storage.Tx) error {
		sets, err := tx.StatefulSets()
		noErr(t, err)
		hasLen(t, sets, 0)
		pods, err := tx.AllPods()
		noErr(t, err)
		hasLen(t, pods, 0)
		revs, err := tx.Revisions("default", "web")
		noErr(t, err)
		hasLen(t, revs, 0)
		evs, err := tx.Events(storage.EventFilter{})
		noErr(t, err)
		hasLen(t, evs, 0)
		vols, err := tx.Volumes()
		noErr(t, err)
		hasLen(t, vols, 0)
		return nil
	}))
}

func TestViewRejectsWrites(t *testing.T) {
	st, _ := openStore(t)
	rev, err := storage.NewRevision(newSet("default", "web"), 1, 0)
	noErr(t, err)
	writes := map[string]func(tx *storage.Tx) error{
		"Apply": func(tx *storage.Tx) error { _, err := tx.Apply(newSet("default", "web")); return err },
		"DeleteObject": func(tx *storage.Tx) error {
			return tx.DeleteObject(storage.ObjectKey{Kind: configs.KindSecret, Namespace: "a", Name: "b"})
		},
		"UpdateStatefulSetStatus": func(tx *storage.Tx) error { return tx.UpdateStatefulSetStatus("a", "b", appsv1.StatefulSetStatus{}) },
		"CreateRevision":          func(tx *storage.Tx) error { return tx.CreateRevision(rev) },
		"SetRevisionNumber":       func(tx *storage.Tx) error { return tx.SetRevisionNumber("a", "b", 2) },
		"DeleteRevision":          func(tx *storage.Tx) error { return tx.DeleteRevision("a", "b") },
		"PutPod":                  func(tx *storage.Tx) error { return tx.PutPod(newPod("default", "web", 0)) },
		"DeletePod":               func(tx *storage.Tx) error { return tx.DeletePod("a", "b") },
		"MarkVolumeDeleting":      func(tx *storage.Tx) error { _, err := tx.MarkVolumeDeleting("www-web-0", time.Unix(1, 0)); return err },
		"AddEvents":               func(tx *storage.Tx) error { return tx.AddEvents(storage.Event{Type: "Normal", Reason: "X"}) },
	}
	for name, write := range writes {
		t.Run(name, func(t *testing.T) {
			err := st.View(write)
			errIs(t, err, errdefs.ErrFailedPrecondition)
			contains(t, err.Error(), "read-only")
		})
	}
}

func TestTxUnusableAfterClosure(t *testing.T) {
	st, _ := openStore(t)
	var kept *storage.Tx
	noErr(t, st.Update(func(tx *storage.Tx) error { kept = tx; return nil }))
	_, err := kept.StatefulSets()
	errIs(t, err, errdefs.ErrFailedPrecondition)
	_, err = kept.Apply(newSet("default", "web"))
	errIs(t, err, errdefs.ErrFailedPrecondition)
	_, err = kept.Events(storage.EventFilter{})
	errIs(t, err, errdefs.ErrFailedPrecondition)
}

func TestClose(t *testing.T) {
	st, _ := openStore(t)
	noErr(t, st.Close())
	noErr(t, st.Close()) // Close is idempotent
	err := st.View(func(*storage.Tx) error { return nil })
	errIs(t, err, errdefs.ErrUnavailable)
	_, err = st.Apply(newSet("default", "web"))
	errIs(t, err, errdefs.ErrUnavailable)
}

func TestConcurrentUse(t *testing.T) {
	st, _ := openStore(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := "web" + strconv.Itoa(i)
			for j := range 5 {
				set := newSet("default", name)
				set.Spec.Replicas = ptrTo(int32(j))
				if _, err := st.Apply(set); err != nil {
					t.Error(err)
					return
				}
				if _, err := st.StatefulSets(); err != nil {
					t.Error(err)
					return
				}
				if err := st.AddEvents(storage.Event{Type: "Normal", Reason: "Applied", Name: name}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	sets, err := st.StatefulSets()
	noErr(t, err)
	hasLen(t, sets, 8)
	for _, set := range sets {
		equal(t, int64(5), set.Generation)
	}
	evs, err := st.Events(storage.EventFilter{})
	noErr(t, err)
	hasLen(t, evs, 40)
}
