package storage

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	bolt "go.etcd.io/bbolt"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// update rewrites the testdata file of the current schema version:
//
//	go test ./storage -run TestSchemaTestdata -update
var update = flag.Bool("update", false, "rewrite testdata/schema-v<N>.db for the current schema version")

func openBolt(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "bolt.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func version(t *testing.T, db *bolt.DB) uint64 {
	t.Helper()
	var v uint64
	if err := db.View(func(tx *bolt.Tx) error {
		var err error
		v, err = schemaVersion(tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrationsAreNamed(t *testing.T) {
	for i, m := range migrations() {
		if m.name == "" || m.fn == nil {
			t.Errorf("migration %d has no name or function", i+1)
		}
	}
	if got := SchemaVersion(); got != uint64(len(migrations())) {
		t.Errorf("SchemaVersion() = %d, want %d", got, len(migrations()))
	}
}

// TestMigration1CreateBuckets checks version 1 on an empty file.
func TestMigration1CreateBuckets(t *testing.T) {
	db := openBolt(t)
	for range 2 { // idempotent
		if err := db.Update(migrateCreateBuckets); err != nil {
			t.Fatal(err)
		}
	}
	err := db.View(func(tx *bolt.Tx) error {
		for _, name := range []string{bucketMeta, bucketObjects, bucketRevisions, bucketPods, bucketVolumes, bucketEvents} {
			if tx.Bucket([]byte(name)) == nil {
				t.Errorf("bucket %s missing", name)
			}
		}
		for _, kind := range kinds() {
			if tx.Bucket([]byte(bucketObjects)).Bucket([]byte(kind)) == nil {
				t.Errorf("bucket objects/%s missing", kind)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRunMigrations(t *testing.T) {
	var ran []int
	step := func(n int) migration {
		return migration{name: "step", fn: func(tx *bolt.Tx) error {
			ran = append(ran, n)
			_, err := tx.CreateBucketIfNotExists([]byte{byte('0' + n)})
			return err
		}}
	}
	steps := []migration{step(1), step(2), step(3)}
	run := func(db *bolt.DB, steps []migration) error {
		return db.Update(func(tx *bolt.Tx) error { return runMigrations(tx, steps) })
	}

	t.Run("from empty", func(t *testing.T) {
		db := openBolt(t)
		ran = nil
		if err := run(db, steps); err != nil {
			t.Fatal(err)
		}
		if len(ran) != 3 || version(t, db) != 3 {
			t.Fatalf("ran %v, version %d", ran, version(t, db))
		}
		ran = nil
		if err := run(db, steps); err != nil || len(ran) != 0 {
			t.Fatalf("second run: %v, ran %v", err, ran)
		}
	})

	t.Run("from version 1", func(t *testing.T) {
		db := openBolt(t)
		if err := run(db, steps[:1]); err != nil {
			t.Fatal(err)
		}
		ran = nil
		if err := run(db, steps); err != nil {
			t.Fatal(err)
		}
		if len(ran) != 2 || ran[0] != 2 || ran[1] != 3 || version(t, db) != 3 {
			t.Fatalf("ran %v, version %d", ran, version(t, db))
		}
	})

	t.Run("failing step keeps nothing", func(t *testing.T) {
		db := openBolt(t)
		boom := errors.New("boom")
		failing := []migration{step(1), step(2), {name: "fails", fn: func(*bolt.Tx) error { return boom }}}
		err := run(db, failing)
		if !errors.Is(err, boom) {
			t.Fatalf("got %v", err)
		}
		if version(t, db) != 0 {
			t.Fatalf("version %d after a failed migration", version(t, db))
		}
		_ = db.View(func(tx *bolt.Tx) error {
			if tx.Bucket([]byte("1")) != nil {
				t.Error("step 1 was kept")
			}
			return nil
		})
	})

	t.Run("newer file", func(t *testing.T) {
		db := openBolt(t)
		if err := db.Update(func(tx *bolt.Tx) error { return setSchemaVersion(tx, 4) }); err != nil {
			t.Fatal(err)
		}
		ran = nil
		err := run(db, steps)
		if !errors.Is(err, ErrNewerSchema) || !errors.Is(err, errdefs.ErrFailedPrecondition) || len(ran) != 0 {
			t.Fatalf("got %v, ran %v", err, ran)
		}
	})

	t.Run("corrupt version", func(t *testing.T) {
		db := openBolt(t)
		if err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte(bucketMeta))
			if err != nil {
				return err
			}
			return b.Put([]byte(keySchema), []byte{1, 2, 3})
		}); err != nil {
			t.Fatal(err)
		}
		if err := run(db, steps); err == nil {
			t.Fatal("corrupt version accepted")
		}
	})
}

// TestSchemaTestdata checks that testdata/schema-v<N>.db, the state file
// at the current schema version that upgrade_test.go opens, is in the
// repository, so that a new schema version cannot land without one; and
// that the state file writeTestdata builds opens again. With -update (run
// it only when a new schema version is added, keeping the files of older
// versions) it rewrites the file.
func TestSchemaTestdata(t *testing.T) {
	path := filepath.Join("testdata", "schema-v"+strconv.FormatUint(SchemaVersion(), 10)+".db")
	if *update {
		writeTestdata(t, path)
		return
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no state file for schema version %d: %v (run go test ./storage -run TestSchemaTestdata -update)", SchemaVersion(), err)
	}
	tmp := filepath.Join(t.TempDir(), "state.db")
	writeTestdata(t, tmp)
	st, err := Open(tmp, WithVolumeDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if pods, err := st.AllPods(); err != nil || len(pods) != 1 {
		t.Fatalf("pods in the written state file: %v, %v", pods, err)
	}
}

// writeTestdata writes a state file at the current schema version with a
// few records of every kind to path.
func writeTestdata(t *testing.T, path string) {
	t.Helper()
	_ = os.Remove(path)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	st, err := Open(path, WithClock(func() time.Time { return now }), WithVolumeDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	labels := map[string]string{"app": "nginx"}
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "nginx",
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1.27"}}},
			},
		},
	}
	err = st.Update(func(tx *Tx) error {
		if _, err := tx.Apply(
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "nginx"}, Spec: corev1.ServiceSpec{ClusterIP: "None", Selector: labels}},
			set,
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "conf"}, Data: map[string]string{"k": "v"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "pw"}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"p": []byte("s")}},
		); err != nil {
			return err
		}
		stored, err := tx.StatefulSet("default", "web")
		if err != nil {
			return err
		}
		rev, err := NewRevision(stored, 1, 0)
		if err != nil {
			return err
		}
		if err := tx.CreateRevision(rev); err != nil {
			return err
		}
		if err := tx.UpdateStatefulSetStatus("default", "web", appsv1.StatefulSetStatus{
			ObservedGeneration: 1, Replicas: 1, ReadyReplicas: 1, CurrentRevision: rev.Name, UpdateRevision: rev.Name,
		}); err != nil {
			return err
		}
		if err := tx.PutPod(&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: "default", Name: "web-0",
				Labels: map[string]string{
					"app": "nginx", appsv1.StatefulSetPodNameLabel: "web-0", appsv1.PodIndexLabel: "0",
					appsv1.ControllerRevisionHashLabelKey: rev.Name,
				},
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(stored, appsv1.SchemeGroupVersion.WithKind("StatefulSet"))},
			},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.88.0.2"},
		}); err != nil {
			return err
		}
		b, err := tx.writeBucket(bucketVolumes)
		if err != nil {
			return err
		}
		if err := tx.putJSON(b, "www-web-0", Volume{
			Name: "www-web-0", Namespace: "default", Claim: "www", Set: "web", Ordinal: 0,
			Path: "/var/lib/setlet/volumes/www-web-0", Capacity: "1Gi", Created: now,
		}); err != nil {
			return err
		}
		return tx.AddEvents(
			Event{Type: "Normal", Reason: "SuccessfulCreate", Kind: "StatefulSet", Namespace: "default", Name: "web", Message: "create Pod web-0 in StatefulSet web successful"},
			Event{Type: "Warning", Reason: "Unhealthy", Kind: "Pod", Namespace: "default", Name: "web-0", Message: "Readiness probe failed"},
		)
	})
	if err != nil {
		t.Fatal(err)
	}
}
