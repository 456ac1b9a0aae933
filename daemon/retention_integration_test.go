package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/daemon/api"
)

// retainedWeb is webSet with a persistentVolumeClaimRetentionPolicy.
func retainedWeb(replicas int, whenDeleted, whenScaled string) string {
	return strings.Replace(webSet("web", replicas, ""), "  serviceName: web\n",
		fmt.Sprintf("  serviceName: web\n  persistentVolumeClaimRetentionPolicy:\n    whenDeleted: %s\n    whenScaled: %s\n", whenDeleted, whenScaled), 1)
}

// TestRetentionWhenScaled: with whenScaled: Delete a scale-down deletes the
// volumes of the removed ordinals once their pods are gone, and a later
// scale-up starts them empty; the remaining volume keeps its data.
// `delete volume` refuses while a pod uses the volume, and with whenDeleted:
// Retain deleting the set keeps every volume.
func TestRetentionWhenScaled(t *testing.T) {
	t.Parallel()
	h := startDaemon(t)
	ctx := context.Background()
	h.apply(retainedWeb(3, "Retain", "Delete"))
	h.waitPods(timeout(t, 60*time.Second), "default", allReady(names("web", 3)...))
	h.writeMarkers(names("web", 3)...)
	paths := h.volumePaths()

	err := h.client.DeleteVolume(ctx, "default", "www-web-1")
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "volume www-web-1 is used by pod web-1") {
		t.Fatalf("delete volume of a running pod: %v, want a conflict naming web-1", err)
	}

	if err := h.client.Scale(ctx, "default", "web", 1, false); err != nil {
		t.Fatal(err)
	}
	h.waitVolumes(t, func(vols map[string]*corev1.PersistentVolumeClaim) bool {
		return len(vols) == 1 && vols["www-web-0"] != nil
	})
	for _, name := range []string{"www-web-1", "www-web-2"} {
		if _, err := os.Stat(paths[name]); !os.IsNotExist(err) {
			t.Errorf("directory of %s after scale-down: %v, want it gone", name, err)
		}
	}
	if i := eventIndex(h.events(), "delete Claim www-web-2 in StatefulSet web success"); i < 0 {
		t.Error("no event for the deletion of www-web-2")
	}

	if err := h.client.Scale(ctx, "default", "web", 3, false); err != nil {
		t.Fatal(err)
	}
	h.waitPods(timeout(t, 60*time.Second), "default", allReady(names("web", 3)...))
	h.wantMarker("web-0", true)
	h.wantMarker("web-1", false)
	h.wantMarker("web-2", false)

	if err := h.client.DeleteStatefulSet(ctx, "default", "web", false); err != nil {
		t.Fatal(err)
	}
	h.waitPods(timeout(t, 60*time.Second), "default", func(pods map[string]*corev1.Pod) bool { return len(pods) == 0 })
	// Marks are written with the set's deletion, before its pods go, so
	// none now means none ever (whenDeleted: Retain).
	vols, err := h.client.Volumes(ctx, "default")
	if err != nil || len(vols) != 3 {
		t.Fatalf("volumes after deleting the set: %d, %v; want all 3 retained", len(vols), err)
	}
	for _, v := range vols {
		if v.DeletionTimestamp != nil {
			t.Errorf("%s is marked for deletion under whenDeleted: Retain", v.Name)
		}
	}

	// Without pods, delete volume deletes at once.
	if err := h.client.DeleteVolume(ctx, "default", "www-web-0"); err != nil {
		t.Fatalf("delete volume without a pod: %v", err)
	}
	if _, err := os.Stat(paths["www-web-0"]); !os.IsNotExist(err) {
		t.Errorf("directory of www-web-0 after delete volume: %v", err)
	}
	if err := h.client.DeleteVolume(ctx, "default", "www-web-0"); !errdefs.IsNotFound(err) {
		t.Errorf("second delete volume: %v, want not found", err)
	}
	if err := h.client.DeleteVolume(ctx, "other", "www-web-1"); !errdefs.IsNotFound(err) {
		t.Errorf("delete volume in the wrong namespace: %v, want not found", err)
	}
}

// TestRetentionWhenDeleted: with whenDeleted: Delete and whenScaled:
// Retain, a scale-down keeps the volume, and deleting the set deletes all
// its volumes, the retained one included, once its pods are gone.
func TestRetentionWhenDeleted(t *testing.T) {
	t.Parallel()
	h := startDaemon(t)
	ctx := context.Background()
	h.apply(retainedWeb(2, "Delete", "Retain"))
	h.waitPods(timeout(t, 60*time.Second), "default", allReady(names("web", 2)...))
	paths := h.volumePaths()

	if err := h.client.Scale(ctx, "default", "web", 1, false); err != nil {
		t.Fatal(err)
	}
	h.waitPods(timeout(t, 60*time.Second), "default", allReady("web-0"))
	vols, err := h.client.Volumes(ctx, "default")
	if err != nil || len(vols) != 2 || vols[1].Name != "www-web-1" || vols[1].DeletionTimestamp != nil {
		t.Fatalf("volumes after the scale-down: %v, %v; want www-web-1 kept", vols, err)
	}

	if err := h.client.DeleteStatefulSet(ctx, "default", "web", false); err != nil {
		t.Fatal(err)
	}
	h.waitVolumes(t, func(vols map[string]*corev1.PersistentVolumeClaim) bool { return len(vols) == 0 })
	for name, p := range paths {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("directory of %s after deleting the set: %v, want it gone", name, err)
		}
	}
	if pods, err := h.client.Pods(ctx, "default"); err != nil || len(pods) != 0 {
		t.Errorf("pods when the last volume went: %d, %v", len(pods), err)
	}
}

// writeMarkers writes "data of POD" into /www/marker of each pod.
func (h *harness) writeMarkers(pods ...string) {
	h.t.Helper()
	for _, name := range pods {
		if out, code := h.exec(name, "sh", "-c", "echo data of "+name+" > /www/marker"); code != 0 {
			h.t.Fatalf("writing to the volume of %s: %d %s", name, code, out)
		}
	}
}

// wantMarker checks whether pod finds its marker in its volume.
func (h *harness) wantMarker(pod string, present bool) {
	h.t.Helper()
	out, code := h.exec(pod, "cat", "/www/marker")
	if got := code == 0 && out == "data of "+pod+"\n"; got != present {
		h.t.Errorf("marker of %s: %q (exit %d), want present=%v", pod, out, code, present)
	}
}

// volumePaths returns the host directory of every volume by name.
func (h *harness) volumePaths() map[string]string {
	h.t.Helper()
	vols, err := h.client.Volumes(context.Background(), "")
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]string{}
	for _, v := range vols {
		out[v.Name] = v.Annotations[api.VolumePathAnnotation]
	}
	return out
}

// waitVolumes watches the volumes of namespace default until cond holds.
func (h *harness) waitVolumes(t *testing.T, cond func(map[string]*corev1.PersistentVolumeClaim) bool) {
	t.Helper()
	ctx := timeout(t, 60*time.Second)
	errDone := errors.New("done")
	vols := map[string]*corev1.PersistentVolumeClaim{}
	listed := false
	err := h.client.WatchBookmarked(ctx, "volumes", "default", func(ev api.RawWatchEvent) error {
		if ev.Type == api.Bookmark {
			listed = true
			if cond(vols) {
				return errDone
			}
			return nil
		}
		var v corev1.PersistentVolumeClaim
		if err := json.Unmarshal(ev.Object, &v); err != nil {
			return err
		}
		if ev.Type == "DELETED" {
			delete(vols, v.Name)
		} else {
			vols[v.Name] = &v
		}
		if listed && cond(vols) {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		names := make([]string, 0, len(vols))
		for n := range vols {
			names = append(names, n)
		}
		t.Fatalf("waiting for volumes: %v; volumes now: %v", err, names)
	}
}
