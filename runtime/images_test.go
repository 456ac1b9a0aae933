package runtime_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/containerd/containerd/images"
	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/internal/busybox"
	"github.com/setlet/setlet/internal/testenv"
	"github.com/setlet/setlet/runtime"
)

func TestNormalizeImage(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nginx", "docker.io/library/nginx:latest"},
		{"nginx:1.22", "docker.io/library/nginx:1.22"},
		{"library/nginx:1.22", "docker.io/library/nginx:1.22"},
		{"bitnami/redis:7", "docker.io/bitnami/redis:7"},
		{"docker.io/library/nginx:1.22", "docker.io/library/nginx:1.22"},
		{"setlet.local/busybox:1", "setlet.local/busybox:1"},
		{"localhost:5000/app", "localhost:5000/app:latest"},
		{"ghcr.io/org/app@sha256:" + strings.Repeat("a", 64), "ghcr.io/org/app@sha256:" + strings.Repeat("a", 64)},
	}
	for _, tt := range tests {
		got, err := runtime.NormalizeImage(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("NormalizeImage(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "Nginx", "a b", "nginx:"} {
		if _, err := runtime.NormalizeImage(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("NormalizeImage(%q) error = %v, want invalid argument", bad, err)
		}
	}
}

// TestImages imports the busybox OCI archive and a `docker save` archive
// and applies each pull policy without reaching any registry.
func TestImages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("images")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	imgs := e.importBusybox(c)
	if len(imgs) != 1 || imgs[0].Name != busybox.DefaultName || !strings.HasPrefix(imgs[0].Digest, "sha256:") || imgs[0].Size < 100_000 {
		t.Fatalf("ImportImages = %+v, want %s with a digest and its size", imgs, busybox.DefaultName)
	}
	again := e.importBusybox(c)
	if len(again) != 1 || again[0] != imgs[0] {
		t.Errorf("second import = %+v, want the same %+v", again, imgs)
	}
	// Unpacked for the default snapshotter: containers start without work.
	img, err := e.cd.GetImage(e.ctx(), busybox.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := img.IsUnpacked(e.ctx(), "overlayfs"); err != nil || !ok {
		t.Errorf("IsUnpacked = %v, %v", ok, err)
	}

	f, err := os.Open(testenv.BusyboxImage(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	docker, err := c.ImportImages(ctx, bytes.NewReader(dockerSave(t, f, "dsave:2")))
	if err != nil {
		t.Fatalf("importing a docker save archive: %v", err)
	}
	if len(docker) != 1 || docker[0].Name != "docker.io/library/dsave:2" {
		t.Fatalf("docker import = %+v, want docker.io/library/dsave:2", docker)
	}

	list, err := c.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "docker.io/library/dsave:2" || list[1] != imgs[0] {
		t.Errorf("Images = %+v, want dsave then busybox", list)
	}
	if got, err := c.Image(ctx, "dsave:2"); err != nil || got != docker[0] {
		t.Errorf("Image(dsave:2) = %+v, %v; want %+v", got, err, docker[0])
	}
	if _, err := c.Image(ctx, "setlet.local/missing:1"); !errdefs.IsNotFound(err) {
		t.Errorf("Image(missing) error = %v, want not found", err)
	}

	got, pulled, err := c.EnsureImage(ctx, busybox.DefaultName, corev1.PullIfNotPresent)
	if err != nil || pulled || got != imgs[0] {
		t.Errorf("EnsureImage(IfNotPresent, local) = %+v, %v, %v; want the local image, no pull", got, pulled, err)
	}
	if _, pulled, err := c.EnsureImage(ctx, busybox.DefaultName, corev1.PullNever); err != nil || pulled {
		t.Errorf("EnsureImage(Never, local) = %v, %v", pulled, err)
	}
	_, pulled, err = c.EnsureImage(ctx, "setlet.local/missing:1", corev1.PullNever)
	if !errdefs.IsNotFound(err) || pulled || !strings.Contains(err.Error(), "Never") {
		t.Errorf("EnsureImage(Never, missing) = %v, %v; want a not-found error naming the policy", pulled, err)
	}
	if _, _, err := c.EnsureImage(ctx, busybox.DefaultName, "Sometimes"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("EnsureImage(Sometimes) error = %v, want invalid argument", err)
	}

	// An image whose registry refuses connections: IfNotPresent uses the
	// local copy, Always must pull and fails, and a missing image is pulled.
	unreachable := "127.0.0.1:1/busybox:1"
	if _, err := e.cd.ImageService().Create(e.ctx(), images.Image{Name: unreachable, Target: img.Target()}); err != nil {
		t.Fatal(err)
	}
	if _, pulled, err := c.EnsureImage(ctx, unreachable, corev1.PullIfNotPresent); err != nil || pulled {
		t.Errorf("EnsureImage(IfNotPresent, local) = %v, %v", pulled, err)
	}
	if _, pulled, err := c.EnsureImage(ctx, unreachable, corev1.PullAlways); err == nil || pulled {
		t.Errorf("EnsureImage(Always) with an unreachable registry = %v, %v; want an error", pulled, err)
	}
	if _, pulled, err := c.EnsureImage(ctx, "127.0.0.1:1/other:1", corev1.PullIfNotPresent); err == nil || pulled {
		t.Errorf("EnsureImage(IfNotPresent, missing) = %v, %v; want a failed pull", pulled, err)
	}

	if _, err := c.ImportImages(ctx, strings.NewReader("not a tar")); err == nil {
		t.Error("importing garbage succeeded")
	}
}

// dockerSave converts the single-image OCI archive r into the format of
// `docker save`, tagged tag.
func dockerSave(t *testing.T, r io.Reader, tag string) []byte {
	t.Helper()
	blobs := map[string][]byte{}
	var index ocispec.Index
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case h.Name == "index.json":
			if err := json.Unmarshal(data, &index); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(h.Name, "blobs/sha256/"):
			blobs[strings.TrimPrefix(h.Name, "blobs/sha256/")] = data
		}
	}
	var manifest ocispec.Manifest
	if err := json.Unmarshal(blobs[index.Manifests[0].Digest.Encoded()], &manifest); err != nil {
		t.Fatal(err)
	}
	config := manifest.Config.Digest.Encoded()
	layer := manifest.Layers[0].Digest.Encoded()
	mfst, _ := json.Marshal([]map[string]any{{
		"Config":   config + ".json",
		"RepoTags": []string{tag},
		"Layers":   []string{layer + "/layer.tar"},
	}})
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for _, f := range []struct {
		name string
		data []byte
	}{
		{config + ".json", blobs[config]},
		{layer + "/layer.tar", blobs[layer]},
		{"manifest.json", mfst},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(f.data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
