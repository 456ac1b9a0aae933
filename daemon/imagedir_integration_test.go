package daemon_test

import (
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/internal/testenv"
)

// TestImageDirectory: an archive in the image directory at start is
// imported before the daemon is ready (gzip-compressed here); one copied
// in later is imported, and a pod that waited for its image starts.
func TestImageDirectory(t *testing.T) {
	t.Parallel()
	t.Run("at start", func(t *testing.T) {
		t.Parallel()
		h := startBareDaemon(t, func(cfg *configs.DaemonConfig) {
			cfg.ImageDir = filepath.Join(t.TempDir(), "images")
			copyArchive(t, filepath.Join(cfg.ImageDir, "busybox.tar.gz"), true)
		})
		imgs, err := h.client.Images(context.Background())
		if err != nil || len(imgs) != 1 || imgs[0].Name != "setlet.local/busybox:1" {
			t.Fatalf("images once the daemon is ready: %+v, %v", imgs, err)
		}
	})
	t.Run("added", func(t *testing.T) {
		t.Parallel()
		h := startBareDaemon(t, nil)
		h.apply(webSet("web", 1, "        imagePullPolicy: Never\n"))
		h.waitPods(timeout(t, 60*time.Second), "default", func(pods map[string]*corev1.Pod) bool {
			p := pods["web-0"]
			if p == nil || len(p.Status.ContainerStatuses) == 0 {
				return false
			}
			w := p.Status.ContainerStatuses[0].State.Waiting
			return w != nil && w.Reason == "ErrImageNeverPull"
		})
		copyArchive(t, filepath.Join(h.cfg.ImageDir, "busybox.tar"), false)
		h.waitPods(timeout(t, 60*time.Second), "default", allReady("web-0"))
		evs, err := h.client.Events(context.Background(), "", "Image", "busybox.tar")
		if err != nil || eventIndex(evs, "imported setlet.local/busybox:1 from "+filepath.Join(h.cfg.ImageDir, "busybox.tar")) < 0 {
			t.Errorf("no ImageImported event: %v %v", evs, err)
		}
	})
}

// copyArchive copies the busybox image archive to dst, gzipped when gz,
// as a user would: the file appears under its name while it is written.
func copyArchive(t *testing.T, dst string, gz bool) {
	t.Helper()
	src, err := os.Open(testenv.BusyboxImage(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	var w io.WriteCloser = f
	if gz {
		w = gzip.NewWriter(f)
	}
	if _, err := io.Copy(w, src); err != nil {
		t.Fatal(err)
	}
	if gz {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
