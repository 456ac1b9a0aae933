package storage_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/setlet/setlet/storage"
)

// copyFile copies src into dir and returns the copy's path, so that tests
// never write to testdata.
func copyFile(t *testing.T, src, dir string) string {
	t.Helper()
	in, err := os.Open(src)
	noErr(t, err)
	defer in.Close()
	dst := filepath.Join(dir, "state.db")
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	noErr(t, err)
	_, err = io.Copy(out, in)
	noErr(t, err)
	noErr(t, out.Close())
	return dst
}

// TestOpenOldFiles opens every state file kept in testdata (one per
// released schema version), migrates it and reads its records.
func TestOpenOldFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "schema-v*.db"))
	noErr(t, err)
	isTrue(t, len(files) > 0, "no old state files in testdata")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			path := copyFile(t, file, t.TempDir())
			st, err := storage.Open(path, storage.WithVolumeDir(t.TempDir()))
			noErr(t, err)
			defer st.Close()
			checkSchemaV1Records(t, st)

			// The migrated file still takes writes and reopens.
			_, err = st.Apply(newSet("default", "db"))
			noErr(t, err)
			noErr(t, st.Close())
			noErr(t, st.Close())
			equal(t, storage.SchemaVersion(), readSchema(t, path))
		})
	}
}

// checkSchemaV1Records checks the records TestSchemaTestdata wrote at
// schema version 1; every later version must still read them so.
func checkSchemaV1Records(t *testing.T, st *storage.Store) {
	t.Helper()
	set, err := st.StatefulSet("default", "web")
	noErr(t, err)
	equal(t, int64(1), set.Generation)
	equal(t, "nginx:1.27", set.Spec.Template.Spec.Containers[0].Image)
	equal(t, int32(1), set.Status.ReadyReplicas)
	equal(t, "apps/v1", set.APIVersion)
	isTrue(t, set.UID != "", "uid")
	isTrue(t, set.CreationTimestamp.Time.Equal(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)), "creationTimestamp")

	svc, err := st.Service("default", "nginx")
	noErr(t, err)
	equal(t, "None", svc.Spec.ClusterIP)
	cm, err := st.ConfigMap("default", "conf")
	noErr(t, err)
	equal(t, map[string]string{"k": "v"}, cm.Data)
	sec, err := st.Secret("default", "pw")
	noErr(t, err)
	equal(t, []byte("s"), sec.Data["p"])

	revs, err := st.Revisions("default", "web")
	noErr(t, err)
	hasLen(t, revs, 1)
	equal(t, set.Status.CurrentRevision, revs[0].Name)
	restored, err := storage.ApplyRevision(set, revs[0])
	noErr(t, err)
	equal(t, "nginx:1.27", restored.Spec.Template.Spec.Containers[0].Image)

	pods, err := st.Pods("default", "web")
	noErr(t, err)
	equal(t, []string{"default/web-0"}, names(pods))
	equal(t, "10.88.0.2", pods[0].Status.PodIP)
	equal(t, revs[0].Name, pods[0].Labels[appsv1.ControllerRevisionHashLabelKey])

	vol, err := st.Volume("www-web-0")
	noErr(t, err)
	equal(t, "/var/lib/setlet/volumes/www-web-0", vol.Path)
	equal(t, "1Gi", vol.Capacity)
	equal(t, 0, vol.Ordinal)

	evs, err := st.Events(storage.EventFilter{})
	noErr(t, err)
	equal(t, []string{"SuccessfulCreate", "Unhealthy"}, reasons(evs))
	equal(t, uint64(2), evs[1].Seq)
	equal(t, "Warning", evs[1].Type)
}
