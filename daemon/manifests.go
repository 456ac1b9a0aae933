package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/setlet/setlet/daemon/api"
	"github.com/setlet/setlet/storage"
)

// The manifest directory (configs.DaemonConfig.ManifestDir): every
// *.yaml, *.yml and *.json file in it is applied at start and whenever a
// file is added, changed or removed, as `kubectl apply --prune` would
// apply the directory, file by file:
//
//   - A file is applied as one apply: all its objects or none. Its record
//     (storage.Manifest) then owns them, in the same transaction, and the
//     objects its previous good version had and this one has not are
//     deleted in that transaction too (a StatefulSet's volumes follow its
//     retention policy, so by default they stay).
//   - A file that does not decode or validate is recorded with its error,
//     logged and reported as a Warning event; the objects of its last good
//     version keep running untouched.
//   - A removed file's objects are deleted with its record.
//   - The CLI refuses to change an object a file owns unless --force
//     (checkOwner, checkOwnerOf).
//
// A pass reads every file and skips those whose hash its record already
// has, so passes are cheap, idempotent and safe to repeat after a crash:
// a pass only ever commits whole files. fsnotify events are debounced and
// only trigger a pass; a reload (SIGHUP) triggers one too.

// manifestDebounce is how long the directory must be quiet before a pass:
// an editor's save is several events.
const manifestDebounce = 100 * time.Millisecond

// reasonManifestInvalid is the reason of the Warning event for a refused
// manifest file.
const reasonManifestInvalid = "InvalidManifest"

// manifestExt reports whether name is a manifest file name.
func manifestExt(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	switch filepath.Ext(name) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// syncManifests makes one pass over the manifest directory. It returns
// the first error that kept it from looking at every file (a refused file
// is not such an error: it is recorded).
func (d *Daemon) syncManifests() error {
	dir := d.cfg.ManifestDir
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading the manifest directory: %w", err)
	}
	records, err := d.store.Manifests()
	if err != nil {
		return err
	}
	known := map[string]storage.Manifest{}
	for _, m := range records {
		known[m.Path] = m
	}
	// Gone files first: a file that takes over the objects of one removed
	// in the same pass (a rename) is then not refused as their owner's.
	var errs []error
	present := map[string]bool{}
	for _, e := range entries {
		if !e.IsDir() && manifestExt(e.Name()) {
			present[filepath.Join(dir, e.Name())] = true
		}
	}
	for _, m := range records {
		if !present[m.Path] && filepath.Dir(m.Path) == filepath.Clean(dir) {
			errs = append(errs, d.removeManifest(m))
		}
	}
	for _, e := range entries {
		if e.IsDir() || !manifestExt(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // gone since the listing: the next pass removes it
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sum := sha256.Sum256(data)
		hash := hex.EncodeToString(sum[:])
		if m, ok := known[path]; ok && m.Hash == hash && m.Error == "" {
			continue // applied as it is; a refused version is tried again, as what refused it may have changed
		}
		_, err = d.applyFrom(api.ApplyRequest{Sources: []api.Source{{Name: path, Data: data}}}, &manifestFile{path: path, hash: hash})
		var perr *problemsError
		switch {
		case errors.As(err, &perr):
			errs = append(errs, d.refuseManifest(path, hash, perr))
		case err != nil:
			errs = append(errs, fmt.Errorf("applying %s: %w", path, err))
		default:
			d.log.Info("manifest applied", "file", path)
		}
	}
	return errors.Join(errs...)
}

// recordManifest, within the apply transaction of file m, deletes the
// objects m's previous good version applied that results no longer has,
// and records m as the owner of results.
func (d *Daemon) recordManifest(tx *storage.Tx, m manifestFile, results []storage.ApplyResult) ([]deleted, error) {
	keys := make([]storage.ObjectKey, len(results))
	for i, r := range results {
		keys[i] = r.Key
	}
	old, err := tx.Manifest(m.path)
	if err != nil {
		return nil, err
	}
	var pruned []deleted
	for _, k := range old.Objects {
		if slices.Contains(keys, k) {
			continue
		}
		del, err := deleteObjectTx(tx, k, d.clock)
		if errdefs.IsNotFound(err) {
			continue // deleted by other means meanwhile
		}
		if err != nil {
			return nil, err
		}
		pruned = append(pruned, del)
	}
	return pruned, tx.PutManifest(storage.Manifest{Path: m.path, Hash: m.hash, Objects: keys, Applied: d.clock.Now().Round(0)})
}

// refuseManifest records that the version hash of file path was refused,
// keeping the objects of its last good version, and reports it.
func (d *Daemon) refuseManifest(path, hash string, perr *problemsError) error {
	msgs := make([]string, len(perr.problems))
	for i, p := range perr.problems {
		msgs[i] = p.String()
	}
	msg := strings.Join(msgs, "; ")
	again := false
	err := d.store.Update(func(tx *storage.Tx) error {
		m, err := tx.Manifest(path)
		if err != nil {
			return err
		}
		if again = m.Hash == hash && m.Error == msg; again {
			return nil
		}
		m.Path, m.Hash, m.Error = path, hash, msg
		return tx.PutManifest(m)
	})
	if err != nil || again {
		return err // refused again for the same reason: reported already
	}
	d.log.Warn("manifest refused; the objects of its last good version keep running", "file", path, "err", msg)
	d.events.event("Manifest", "", filepath.Base(path), eventTypeWarning, reasonManifestInvalid,
		"%s was not applied, the objects of its last good version keep running: %s", path, msg)
	return nil
}

// removeManifest deletes the objects of a file that is gone, and its
// record, in one transaction.
func (d *Daemon) removeManifest(m storage.Manifest) error {
	var dels []deleted
	err := d.store.Update(func(tx *storage.Tx) error {
		dels = nil
		for _, k := range m.Objects {
			del, err := deleteObjectTx(tx, k, d.clock)
			if errdefs.IsNotFound(err) {
				continue // deleted by other means meanwhile
			}
			if err != nil {
				return err
			}
			dels = append(dels, del)
		}
		return tx.DeleteManifest(m.Path)
	})
	if err != nil {
		return fmt.Errorf("removing the objects of %s: %w", m.Path, err)
	}
	d.announceDeleted(dels)
	d.log.Info("manifest removed; its objects are deleted", "file", m.Path, "objects", len(m.Objects))
	return nil
}

// watchManifests creates the manifest directory if needed, makes the first
// pass (before the daemon is ready, so a start applies the directory) and
// then passes again whenever it changes, until ctx ends. The returned
// function asks for a pass (a reload).
func (d *Daemon) watchManifests(ctx context.Context) (func(), error) {
	return d.watchDir(ctx, "manifest directory", d.cfg.ManifestDir, manifestExt, manifestDebounce, d.syncManifests)
}

// listManifests answers GET /v1/manifests.
func (d *Daemon) listManifests() ([]api.Manifest, error) {
	ms, err := d.store.Manifests()
	if err != nil {
		return nil, err
	}
	out := make([]api.Manifest, 0, len(ms))
	for _, m := range ms {
		am := api.Manifest{Path: m.Path, Error: m.Error}
		if !m.Applied.IsZero() {
			t := m.Applied
			am.Applied = &t
		}
		for _, k := range m.Objects {
			am.Objects = append(am.Objects, api.ObjectResult{Kind: k.Kind, Namespace: k.Namespace, Name: k.Name})
		}
		out = append(out, am)
	}
	return out, nil
}
