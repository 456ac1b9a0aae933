package storage_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/storage"
)

func www(ordinal int) storage.Volume {
	return storage.Volume{
		Name:      storage.VolumeName("www", "web", ordinal),
		Namespace: "default",
		Claim:     "www",
		Set:       "web",
		Ordinal:   ordinal,
		Capacity:  "1Gi",
	}
}

func TestVolumeName(t *testing.T) {
	equal(t, "www-web-0", storage.VolumeName("www", "web", 0))
	equal(t, "data-db-x-12", storage.VolumeName("data", "db-x", 12))
}

func TestEnsureVolumeCreates(t *testing.T) {
	st, clock := openStore(t)
	in := www(0)
	in.Path = "/ignored"
	in.Created = time.Unix(1, 0)
	v, created, err := st.EnsureVolume(in)
	noErr(t, err)
	isTrue(t, created, "created")
	want := www(0)
	want.Path = filepath.Join(st.VolumeDir(), "www-web-0")
	want.Created = clock.Now()
	equal(t, want, v)

	fi, err := os.Stat(v.Path)
	noErr(t, err)
	isTrue(t, fi.IsDir(), "directory")
	equal(t, os.FileMode(0o755), fi.Mode().Perm())
	ri, err := os.Stat(st.VolumeDir())
	noErr(t, err)
	equal(t, os.FileMode(0o700), ri.Mode().Perm())

	got, err := st.Volume("www-web-0")
	noErr(t, err)
	isTrue(t, got.Created.Equal(want.Created), "created time kept to the nanosecond")
	got.Created = want.Created
	equal(t, want, got)
}

func TestEnsureVolumeIsIdempotent(t *testing.T) {
	st, clock := openStore(t)
	first, _, err := st.EnsureVolume(www(0))
	noErr(t, err)
	noErr(t, os.WriteFile(filepath.Join(first.Path, "data"), []byte("keep"), 0o600))

	clock.Advance(time.Hour)
	again := www(0)
	again.Capacity = "5Gi" // a later capacity does not change the record
	v, created, err := st.EnsureVolume(again)
	noErr(t, err)
	isTrue(t, !created, "not created again")
	isTrue(t, v.Created.Equal(first.Created), "same record")
	equal(t, "1Gi", v.Capacity)
	data, err := os.ReadFile(filepath.Join(v.Path, "data"))
	noErr(t, err)
	equal(t, "keep", string(data))
}

func TestEnsureVolumeConcurrent(t *testing.T) {
	st, _ := openStore(t)
	var wg sync.WaitGroup
	created := make(chan bool, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, c, err := st.EnsureVolume(www(1))
			if err != nil {
				t.Error(err)
			}
			created <- c
		}()
	}
	wg.Wait()
	close(created)
	n := 0
	for c := range created {
		if c {
			n++
		}
	}
	equal(t, 1, n)
}

func TestEnsureVolumeConflict(t *testing.T) {
	st, _ := openStore(t)
	_, _, err := st.EnsureVolume(www(0))
	noErr(t, err)
	tests := []struct {
		name   string
		change func(*storage.Volume)
	}{
		{"namespace", func(v *storage.Volume) { v.Namespace = "prod" }},
		{"set", func(v *storage.Volume) { v.Set = "web2" }},
		{"claim", func(v *storage.Volume) { v.Claim = "data" }},
		{"ordinal", func(v *storage.Volume) { v.Ordinal = 3 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := www(0)
			tt.change(&v)
			_, _, err := st.EnsureVolume(v)
			errIs(t, err, errdefs.ErrConflict)
			contains(t, err.Error(), "www-web-0")
		})
	}
}

func TestEnsureVolumeVanishedDirectory(t *testing.T) {
	st, _ := openStore(t)
	v, _, err := st.EnsureVolume(www(0))
	noErr(t, err)
	noErr(t, os.RemoveAll(v.Path))

	_, created, err := st.EnsureVolume(www(0))
	errIs(t, err, errdefs.ErrFailedPrecondition)
	contains(t, err.Error(), v.Path)
	contains(t, err.Error(), "lost")
	isTrue(t, !created, "not created")
	_, err = os.Stat(v.Path)
	isTrue(t, os.IsNotExist(err), "no fresh empty directory")

	// A file in its place is no volume either.
	noErr(t, os.WriteFile(v.Path, nil, 0o600))
	_, _, err = st.EnsureVolume(www(0))
	errIs(t, err, errdefs.ErrFailedPrecondition)

	// Deleting the volume clears the state; the next ensure starts empty.
	noErr(t, os.Remove(v.Path))
	noErr(t, st.DeleteVolume("www-web-0"))
	_, created, err = st.EnsureVolume(www(0))
	noErr(t, err)
	isTrue(t, created, "created anew")
}

func TestEnsureVolumeAdoptsOrphanDirectory(t *testing.T) {
	st, _ := openStore(t)
	// A crash between mkdir and commit leaves a directory without a record.
	dir := filepath.Join(st.VolumeDir(), "www-web-2")
	noErr(t, os.MkdirAll(dir, 0o700))
	noErr(t, os.WriteFile(filepath.Join(dir, "data"), []byte("old"), 0o600))

	v, created, err := st.EnsureVolume(www(2))
	noErr(t, err)
	isTrue(t, created, "the record is new")
	equal(t, dir, v.Path)
	data, err := os.ReadFile(filepath.Join(dir, "data"))
	noErr(t, err)
	equal(t, "old", string(data))
}

func TestEnsureVolumeNotADirectory(t *testing.T) {
	st, _ := openStore(t)
	noErr(t, os.MkdirAll(st.VolumeDir(), 0o700))
	noErr(t, os.WriteFile(filepath.Join(st.VolumeDir(), "www-web-0"), nil, 0o600))
	_, _, err := st.EnsureVolume(www(0))
	errIs(t, err, errdefs.ErrFailedPrecondition)
	vols, err := st.Volumes()
	noErr(t, err)
	hasLen(t, vols, 0)

	target := t.TempDir()
	noErr(t, os.Symlink(target, filepath.Join(st.VolumeDir(), "www-web-1")))
	_, _, err = st.EnsureVolume(www(1))
	errIs(t, err, errdefs.ErrFailedPrecondition) // a symlink could lead anywhere
}

func TestEnsureVolumeInvalid(t *testing.T) {
	st, _ := openStore(t)
	tests := []struct {
		name string
		v    storage.Volume
	}{
		{"empty name", storage.Volume{Namespace: "ns", Claim: "c", Set: "s"}},
		{"dot dot", storage.Volume{Name: "../x", Namespace: "ns", Claim: "c", Set: "s"}},
		{"dot dot alone", storage.Volume{Name: "..", Namespace: "ns", Claim: "c", Set: "s"}},
		{"slash", storage.Volume{Name: "a/b", Namespace: "ns", Claim: "c", Set: "s"}},
		{"absolute", storage.Volume{Name: "/etc", Namespace: "ns", Claim: "c", Set: "s"}},
		{"upper case", storage.Volume{Name: "WWW-web-0", Namespace: "ns", Claim: "c", Set: "s"}},
		{"trash", storage.Volume{Name: ".trash", Namespace: "ns", Claim: "c", Set: "s"}},
		{"too long", storage.Volume{Name: strings.Repeat("a", 254), Namespace: "ns", Claim: "c", Set: "s"}},
		{"no namespace", storage.Volume{Name: "www-web-0", Claim: "c", Set: "s"}},
		{"no claim", storage.Volume{Name: "www-web-0", Namespace: "ns", Set: "s"}},
		{"no set", storage.Volume{Name: "www-web-0", Namespace: "ns", Claim: "c"}},
		{"negative ordinal", storage.Volume{Name: "www-web-0", Namespace: "ns", Claim: "c", Set: "s", Ordinal: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := st.EnsureVolume(tt.v)
			errIs(t, err, errdefs.ErrInvalidArgument)
			if tt.v.Name != "www-web-0" {
				errIs(t, st.DeleteVolume(tt.v.Name), errdefs.ErrInvalidArgument)
			}
		})
	}
	// Nothing was created anywhere.
	_, err := os.Stat(st.VolumeDir())
	isTrue(t, os.IsNotExist(err), "no volume dir")
	_, err = st.Volume("")
	errIs(t, err, errdefs.ErrInvalidArgument)
}

func TestVolumes(t *testing.T) {
	st, _ := openStore(t)
	for _, i := range []int{2, 0, 10} {
		_, _, err := st.EnsureVolume(www(i))
		noErr(t, err)
	}
	vols, err := st.Volumes()
	noErr(t, err)
	var got []string
	for _, v := range vols {
		got = append(got, v.Name)
	}
	equal(t, []string{"www-web-0", "www-web-10", "www-web-2"}, got)
	_, err = st.Volume("www-web-1")
	errIs(t, err, errdefs.ErrNotFound)
}

func TestDeleteVolume(t *testing.T) {
	st, _ := openStore(t)
	v, _, err := st.EnsureVolume(www(0))
	noErr(t, err)
	noErr(t, os.MkdirAll(filepath.Join(v.Path, "sub"), 0o700))
	noErr(t, os.WriteFile(filepath.Join(v.Path, "sub", "f"), []byte("x"), 0o600))
	other, _, err := st.EnsureVolume(www(1))
	noErr(t, err)

	noErr(t, st.DeleteVolume("www-web-0"))
	_, err = os.Stat(v.Path)
	isTrue(t, os.IsNotExist(err), "directory removed")
	_, err = st.Volume("www-web-0")
	errIs(t, err, errdefs.ErrNotFound)
	err = st.DeleteVolume("www-web-0")
	errIs(t, err, errdefs.ErrNotFound)
	_, err = os.Stat(other.Path)
	noErr(t, err) // the other volume is untouched
	entries, err := os.ReadDir(filepath.Join(st.VolumeDir(), ".trash"))
	noErr(t, err)
	hasLen(t, entries, 0)
}

func TestDeleteVolumeFinishesInterruptedDelete(t *testing.T) {
	trash := func(st *storage.Store, name string) string {
		return filepath.Join(st.VolumeDir(), ".trash", name)
	}
	tests := []struct {
		name  string
		crash func(t *testing.T, st *storage.Store, v storage.Volume)
	}{
		{"after rename", func(t *testing.T, st *storage.Store, v storage.Volume) {
			noErr(t, os.MkdirAll(filepath.Dir(trash(st, v.Name)), 0o700))
			noErr(t, os.Rename(v.Path, trash(st, v.Name)))
		}},
		{"after removal", func(t *testing.T, st *storage.Store, v storage.Volume) {
			noErr(t, os.RemoveAll(v.Path))
		}},
		{"leftover trash with a new directory", func(t *testing.T, st *storage.Store, v storage.Volume) {
			noErr(t, os.MkdirAll(trash(st, v.Name), 0o700))
			noErr(t, os.WriteFile(filepath.Join(trash(st, v.Name), "f"), nil, 0o600))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := openStore(t)
			v, _, err := st.EnsureVolume(www(0))
			noErr(t, err)
			noErr(t, os.WriteFile(filepath.Join(v.Path, "f"), []byte("x"), 0o600))
			tt.crash(t, st, v)

			noErr(t, st.DeleteVolume(v.Name))
			_, err = st.Volume(v.Name)
			errIs(t, err, errdefs.ErrNotFound)
			for _, p := range []string{v.Path, trash(st, v.Name)} {
				_, err = os.Stat(p)
				isTrue(t, os.IsNotExist(err), p+" removed")
			}
		})
	}

	t.Run("after record deleted", func(t *testing.T) {
		st, _ := openStore(t)
		noErr(t, os.MkdirAll(trash(st, "www-web-0"), 0o700))
		errIs(t, st.DeleteVolume("www-web-0"), errdefs.ErrNotFound)
		_, err := os.Stat(trash(st, "www-web-0"))
		isTrue(t, os.IsNotExist(err), "trash removed")
	})

	t.Run("orphan directory is left alone", func(t *testing.T) {
		st, _ := openStore(t)
		dir := filepath.Join(st.VolumeDir(), "www-web-0")
		noErr(t, os.MkdirAll(dir, 0o700))
		errIs(t, st.DeleteVolume("www-web-0"), errdefs.ErrNotFound)
		_, err := os.Stat(dir)
		noErr(t, err)
	})
}

func TestMarkVolumeDeleting(t *testing.T) {
	st, clock := openStore(t)
	v, _, err := st.EnsureVolume(www(0))
	noErr(t, err)
	noErr(t, os.WriteFile(filepath.Join(v.Path, "f"), []byte("old data"), 0o600))

	marked := clock.Now()
	noErr(t, st.Update(func(tx *storage.Tx) error {
		changed, err := tx.MarkVolumeDeleting(v.Name, marked)
		isTrue(t, changed, "first mark changes the record")
		return err
	}))
	clock.Advance(time.Minute)
	noErr(t, st.Update(func(tx *storage.Tx) error {
		changed, err := tx.MarkVolumeDeleting(v.Name, clock.Now())
		isTrue(t, !changed, "a second mark changes nothing")
		return err
	}))
	got, err := st.Volume(v.Name)
	noErr(t, err)
	isTrue(t, got.Deleting != nil && got.Deleting.Equal(marked), "the first mark's time is kept: %v", got.Deleting)

	// A marked volume is given to no pod: EnsureVolume and CheckVolumeFree
	// refuse it, and its data is still there until it is deleted.
	_, _, err = st.EnsureVolume(www(0))
	errIs(t, err, errdefs.ErrUnavailable)
	contains(t, err.Error(), "www-web-0: it is being deleted")
	err = st.View(func(tx *storage.Tx) error { return tx.CheckVolumeFree(v.Name) })
	errIs(t, err, errdefs.ErrUnavailable)
	_, err = os.Stat(filepath.Join(v.Path, "f"))
	noErr(t, err)

	noErr(t, st.DeleteVolume(v.Name))
	nv, created, err := st.EnsureVolume(www(0))
	noErr(t, err)
	isTrue(t, created && nv.Deleting == nil, "a new volume once the marked one is gone")
	_, err = os.Stat(filepath.Join(nv.Path, "f"))
	isTrue(t, os.IsNotExist(err), "the new volume is empty")
	noErr(t, st.View(func(tx *storage.Tx) error { return tx.CheckVolumeFree(v.Name) }))

	noErr(t, st.Update(func(tx *storage.Tx) error {
		_, err := tx.MarkVolumeDeleting("www-web-9", clock.Now())
		errIs(t, err, errdefs.ErrNotFound)
		return nil
	}))
}

func TestVolumeUsers(t *testing.T) {
	st, _ := openStore(t)
	v, _, err := st.EnsureVolume(www(0))
	noErr(t, err)
	claim := func(pod *corev1.Pod, name string) *corev1.Pod {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "www", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name},
		}})
		return pod
	}
	noErr(t, st.Update(func(tx *storage.Tx) error {
		users, err := tx.VolumeUsers(v)
		hasLen(t, users, 0)
		return err
	}))
	terminating := claim(newPod("default", "web", 0), v.Name)
	terminating.DeletionTimestamp = &metav1.Time{Time: time.Unix(5, 0)}
	noErr(t, st.PutPod(terminating))
	noErr(t, st.PutPod(claim(newPod("default", "web", 1), "www-web-1")))
	noErr(t, st.PutPod(claim(newPod("other", "web", 0), v.Name))) // same claim name, another namespace
	noErr(t, st.View(func(tx *storage.Tx) error {
		users, err := tx.VolumeUsers(v)
		equal(t, []string{"web-0"}, users, "terminating pods use their volumes until they are gone")
		return err
	}))
}
