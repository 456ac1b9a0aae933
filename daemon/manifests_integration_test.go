package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/daemon/api"
)

// TestManifestDirectory: a file dropped into the manifest directory is
// applied; changing it rolls the change out and deletes what it no longer
// has; a broken version is reported and leaves the last good one running;
// removing the file deletes its objects (the volumes stay). The CLI cannot
// change what a file owns without --force.
func TestManifestDirectory(t *testing.T) {
	t.Parallel()
	h := startDaemon(t)
	ctx := context.Background()
	file := filepath.Join(h.cfg.ManifestDir, "web.yaml")
	write := func(content string) {
		t.Helper()
		// As editors save: a new file renamed over the old one.
		tmp := filepath.Join(h.cfg.ManifestDir, ".web.yaml.swp")
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}

	write(webSet("web", 2, ""))
	h.waitPods(timeout(t, 60*time.Second), "default", allReady(names("web", 2)...))
	ms, err := h.client.Manifests(ctx)
	if err != nil || len(ms) != 1 || ms[0].Path != file || ms[0].Error != "" || len(ms[0].Objects) != 2 {
		t.Fatalf("manifests after the first version: %+v, %v", ms, err)
	}

	// The CLI cannot change the file's objects, unless forced.
	_, err = h.client.Apply(ctx, api.ApplyRequest{Sources: []api.Source{{Name: "cli.yaml", Data: []byte(webSet("web", 2, ""))}}})
	var aerr *api.ApplyError
	if !errors.As(err, &aerr) || len(aerr.Problems) != 2 ||
		aerr.Problems[1].String() != "cli.yaml doc 2 (StatefulSet web): is managed by manifest file "+file+": change that file, or use --force" {
		t.Errorf("CLI apply of the file's objects: %v", err)
	}
	if err := h.client.Scale(ctx, "default", "web", 5, false); !errdefs.IsConflict(err) {
		t.Errorf("scale of the file's set: %v, want a conflict", err)
	}
	if err := h.client.DeleteStatefulSet(ctx, "default", "web", false); !errdefs.IsConflict(err) {
		t.Errorf("delete of the file's set: %v, want a conflict", err)
	}
	if _, err := h.client.Apply(ctx, api.ApplyRequest{Sources: []api.Source{{Name: "cli.yaml", Data: []byte(webSet("web", 1, ""))}}, Force: true}); err != nil {
		t.Errorf("forced CLI apply: %v", err)
	}
	h.waitPods(timeout(t, 60*time.Second), "default", func(pods map[string]*corev1.Pod) bool {
		return len(pods) == 1 && pods["web-0"] != nil
	})

	// A new version, which wins over the forced change: 3 replicas, and
	// no Service any more, which goes.
	set := webSet("web", 3, "")
	set = set[strings.Index(set, "---\n")+4:]
	write(set)
	h.waitPods(timeout(t, 60*time.Second), "default", allReady(names("web", 3)...))
	if svcs, err := h.client.Services(ctx, "default"); err != nil || len(svcs) != 0 {
		t.Errorf("services after the file dropped its Service: %d, %v", len(svcs), err)
	}
	before := h.podUIDs()

	// A broken version is reported; the set keeps running as it was.
	write(strings.Replace(set, "replicas: 3", "replicas: -1", 1))
	h.waitEvent(t, "InvalidManifest")
	ms, err = h.client.Manifests(ctx)
	if err != nil || len(ms) != 1 || !strings.Contains(ms[0].Error, "spec.replicas: Invalid value: -1") || len(ms[0].Objects) != 1 {
		t.Fatalf("manifests after a broken version: %+v, %v", ms, err)
	}
	if now := h.podUIDs(); !sameUIDs(before, now, names("web", 3)...) {
		t.Errorf("the pods changed after a broken version: %v, then %v", before, now)
	}

	// Fixed: 1 replica.
	write(strings.Replace(set, "replicas: 3", "replicas: 1", 1))
	h.waitPods(timeout(t, 60*time.Second), "default", allReady("web-0"))
	if ms, err = h.client.Manifests(ctx); err != nil || len(ms) != 1 || ms[0].Error != "" {
		t.Errorf("manifests after the fix: %+v, %v", ms, err)
	}

	// Removed: the set goes, its volumes stay (whenDeleted: Retain).
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	h.waitPods(timeout(t, 60*time.Second), "default", func(pods map[string]*corev1.Pod) bool { return len(pods) == 0 })
	if sets, err := h.client.StatefulSets(ctx, "default"); err != nil || len(sets) != 0 {
		t.Errorf("sets after the file was removed: %d, %v", len(sets), err)
	}
	if ms, err = h.client.Manifests(ctx); err != nil || len(ms) != 0 {
		t.Errorf("manifests after the file was removed: %+v, %v", ms, err)
	}
	if vols, err := h.client.Volumes(ctx, "default"); err != nil || len(vols) != 3 {
		t.Errorf("volumes after the file was removed: %d, %v; want the 3 retained", len(vols), err)
	}
}

// TestManifestTakesOverFreedObjects: a file refused because another file
// owns its objects is tried again once that file is removed, without
// being changed itself, and takes them over.
func TestManifestTakesOverFreedObjects(t *testing.T) {
	t.Parallel()
	h := startDaemon(t)
	ctx := context.Background()
	a, b := filepath.Join(h.cfg.ManifestDir, "a.yaml"), filepath.Join(h.cfg.ManifestDir, "b.yaml")
	if err := os.WriteFile(a, []byte(webSet("web", 1, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	h.waitPods(timeout(t, 60*time.Second), "default", allReady("web-0"))
	if err := os.WriteFile(b, []byte(webSet("web", 2, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	h.waitEvent(t, "InvalidManifest")
	ms, err := h.client.Manifests(ctx)
	if err != nil || len(ms) != 2 || ms[1].Path != b || !strings.Contains(ms[1].Error, "is already defined by manifest file "+a) {
		t.Fatalf("manifests with two files for one set: %+v, %v", ms, err)
	}

	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	h.waitPods(timeout(t, 60*time.Second), "default", allReady(names("web", 2)...))
	if ms, err = h.client.Manifests(ctx); err != nil || len(ms) != 1 || ms[0].Path != b || ms[0].Error != "" || len(ms[0].Objects) != 2 {
		t.Errorf("manifests once b took over: %+v, %v", ms, err)
	}
}

// waitEvent watches the events until one with reason arrives.
func (h *harness) waitEvent(t *testing.T, reason string) {
	t.Helper()
	errDone := errors.New("done")
	err := h.client.Watch(timeout(t, 60*time.Second), "events", "", func(ev api.RawWatchEvent) error {
		var e corev1.Event
		if err := json.Unmarshal(ev.Object, &e); err != nil {
			return err
		}
		if e.Reason == reason {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("waiting for a %s event: %v", reason, err)
	}
}
