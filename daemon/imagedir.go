package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/containerd/archive/compression"
)

// The image directory (configs.DaemonConfig.ImageDir), as k3s' agent
// images directory: every archive in it (an OCI layout or `docker save`
// tarball, *.tar, optionally compressed: *.tar.gz, *.tgz, *.tar.zst) is
// imported into containerd when the daemon starts, before it is ready,
// and again when the archive is added or changed. An archive still being
// copied fails to import; the copy's next write, or its end, passes again.
// After an import the kubelet side syncs every pod, so pods waiting for
// the image start without waiting out their back-off.

// imageDebounce is how long an archive must be left alone before it is
// imported: copies of large archives write for a while.
const imageDebounce = 500 * time.Millisecond

// reasonImageImported and reasonImageImportFailed are the reasons of the
// image directory's events.
const (
	reasonImageImported     = "ImageImported"
	reasonImageImportFailed = "FailedImageImport"
)

// imageArchive reports whether name is an image archive's name.
func imageArchive(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	for _, ext := range []string{".tar", ".tar.gz", ".tgz", ".tar.zst"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// imageDir remembers which archives were imported, by size and
// modification time, so that a pass imports only what is new or changed.
// A start imports everything again, as k3s does: containerd keeps the
// content, so that costs one read of each archive. Only the directory's
// passes use it, and they never overlap (watchDir).
type imageDir struct {
	seen map[string]fileStamp
}

type fileStamp struct {
	size int64
	mod  time.Time
}

// syncImages makes one pass over the image directory.
func (d *Daemon) syncImages(dir *imageDir) error {
	entries, err := os.ReadDir(d.cfg.ImageDir)
	if err != nil {
		return fmt.Errorf("reading the image directory: %w", err)
	}
	imported := 0
	var errs []error
	for _, e := range entries {
		if e.IsDir() || !imageArchive(e.Name()) {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		stamp := fileStamp{size: info.Size(), mod: info.ModTime()}
		path := filepath.Join(d.cfg.ImageDir, e.Name())
		if dir.seen[path] == stamp {
			continue
		}
		names, err := d.importArchive(path)
		if err != nil {
			d.log.Warn("image archive not imported; retried when it changes", "file", path, "err", err)
			d.events.event("Image", "", e.Name(), eventTypeWarning, reasonImageImportFailed, "importing %s failed: %v", path, err)
			continue
		}
		dir.seen[path] = stamp
		imported++
		d.log.Info("image archive imported", "file", path, "images", names)
		d.events.event("Image", "", e.Name(), eventTypeNormal, reasonImageImported, "imported %s from %s", strings.Join(names, ", "), path)
	}
	if imported > 0 {
		d.kubelet.resyncAll()
	}
	return errors.Join(errs...)
}

// importArchive imports one archive and returns the names of its images.
func (d *Daemon) importArchive(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// gzip and zstd are recognised by their magic numbers; a plain tar
	// passes through.
	r, err := compression.DecompressStream(f)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	imgs, err := d.images.ImportImages(d.ctx, r)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(imgs))
	for i, img := range imgs {
		names[i] = img.Name
	}
	return names, nil
}
