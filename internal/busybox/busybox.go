// Package busybox builds setlet's test and demo image from the host's
// busybox-static binary (Debian package busybox-static), with no download:
// an OCI image archive that `setlet image import` and containerd's import
// read. tools/mkimage is its command; the tests call Build directly.
//
// The image holds /bin/busybox with a link for every applet it lists (sh,
// httpd, nc, nslookup, sleep, ...), /etc/passwd and /etc/group with root and
// nobody, /www/index.html, and an empty /tmp. Its default command is sh.
// The archive is reproducible: the same busybox binary gives the same bytes
// and digest.
package busybox

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// epoch is the modification time of every file in the image, so that builds
// are reproducible.
var epoch = time.Unix(0, 0).UTC()

// DefaultName is the name the demo and the tests give the image.
const DefaultName = "setlet.local/busybox:1"

// DefaultBinary is where Debian's busybox-static installs busybox.
const DefaultBinary = "/bin/busybox"

// Build writes the image archive to out (atomically: a temporary file is
// renamed) with name as its image name, from the busybox binary at
// busybox, and returns the manifest digest.
func Build(out, name, busybox string) (string, error) {
	d, err := build(out, name, busybox)
	if err != nil {
		return "", fmt.Errorf("building image %s: %w", name, err)
	}
	return d, nil
}

func build(out, name, busybox string) (string, error) {
	bin, err := os.ReadFile(busybox)
	if err != nil {
		return "", fmt.Errorf("reading busybox (install Debian's busybox-static): %w", err)
	}
	applets, err := listApplets(busybox)
	if err != nil {
		return "", err
	}
	layer, err := rootfs(bin, applets)
	if err != nil {
		return "", err
	}
	layerDigest := digest.FromBytes(layer)

	config := ocispec.Image{
		Created:  &epoch,
		Platform: ocispec.Platform{Architecture: goarch(), OS: "linux"},
		Config: ocispec.ImageConfig{
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cmd:        []string{"sh"},
			WorkingDir: "/",
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layerDigest}},
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return "", err
	}
	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    descriptor(ocispec.MediaTypeImageConfig, configJSON),
		Layers:    []ocispec.Descriptor{descriptor(ocispec.MediaTypeImageLayer, layer)},
	}
	manifestJSON, err := json.Marshal(manifest)
	if err != nil {
		return "", err
	}
	manifestDesc := descriptor(ocispec.MediaTypeImageManifest, manifestJSON)
	manifestDesc.Platform = &config.Platform
	manifestDesc.Annotations = map[string]string{
		"io.containerd.image.name": name,
		ocispec.AnnotationRefName:  refName(name),
	}
	index := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{manifestDesc},
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return "", err
	}
	layout, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		data []byte
	}{
		{ocispec.ImageLayoutFile, layout},
		{"index.json", indexJSON},
		{blobPath(layer), layer},
		{blobPath(configJSON), configJSON},
		{blobPath(manifestJSON), manifestJSON},
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch}); err != nil {
			return "", err
		}
	}
	for _, f := range files {
		if err := writeFile(tw, f.name, 0o644, f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if dir := path.Dir(out); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	return manifestDesc.Digest.String(), nil
}

// listApplets asks busybox for the applets it was built with.
func listApplets(busybox string) ([]string, error) {
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("listing busybox applets: %w", err)
	}
	var applets []string
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" && !strings.ContainsAny(a, "/.") {
			applets = append(applets, a)
		}
	}
	if len(applets) == 0 {
		return nil, errors.New("busybox lists no applets")
	}
	sort.Strings(applets)
	return applets, nil
}

// rootfs returns the image's single layer, an uncompressed tar.
func rootfs(bin []byte, applets []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, dir := range []string{"bin/", "etc/", "root/", "tmp/", "www/", "var/", "var/run/"} {
		mode := int64(0o755)
		if dir == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: mode, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	if err := writeFile(tw, "bin/busybox", 0o755, bin); err != nil {
		return nil, err
	}
	for _, a := range applets {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	etc := map[string]string{
		"etc/passwd":     "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":      "root:x:0:\nnogroup:x:65534:\n",
		"www/index.html": "setlet busybox image\n",
	}
	for _, name := range []string{"etc/group", "etc/passwd", "www/index.html"} {
		if err := writeFile(tw, name, 0o644, []byte(etc[name])); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeFile(tw *tar.Writer, name string, mode int64, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch}); err != nil {
		return err
	}
	_, err := io.Copy(tw, bytes.NewReader(data))
	return err
}

func descriptor(mediaType string, data []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
}

func blobPath(data []byte) string {
	return fmt.Sprintf("blobs/sha256/%x", sha256.Sum256(data))
}

// refName returns the tag of an image name, which OCI layouts record as
// org.opencontainers.image.ref.name.
func refName(name string) string {
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		return name[i+1:]
	}
	return "latest"
}
