package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Directory modes. The volume root is 0700 so that no other user of the
// host can reach pod data; a volume directory itself is 0755 because it is
// the mount point a container sees, and processes of the container that do
// not run as root must at least be able to read it.
const (
	volumeRootMode = 0o700
	volumeDirMode  = 0o755
)

// trashDir is the directory, next to the volume directories, into which
// DeleteVolume moves a volume before removing it. Its name is not a
// DNS-1123 subdomain, so no volume can be called so.
const trashDir = ".trash"

// Volume is the record of a per-ordinal volume directory.
type Volume struct {
	Name      string    `json:"name"`               // "<claim>-<set>-<ordinal>", unique on the host; also the directory name
	Namespace string    `json:"namespace"`          // of the set
	Claim     string    `json:"claim"`              // volumeClaimTemplate name
	Set       string    `json:"set"`                // StatefulSet name
	Ordinal   int       `json:"ordinal"`            // pod ordinal
	Path      string    `json:"path"`               // absolute directory, set by EnsureVolume
	Capacity  string    `json:"capacity,omitempty"` // requested storage quantity as written, informational
	Created   time.Time `json:"created"`            // set by EnsureVolume from the clock
	// Deleting is when the volume was marked for deletion (MarkVolumeDeleting),
	// nil when it is not. A marked volume is deleted once no pod uses it,
	// and is never given to a new pod.
	Deleting *time.Time `json:"deleting,omitempty"`
}

// VolumeName returns the name of the volume of claim template claim for
// ordinal ordinal of set: "<claim>-<set>-<ordinal>", as Kubernetes names
// the PersistentVolumeClaim. It is pure.
func VolumeName(claim, set string, ordinal int) string {
	return claim + "-" + set + "-" + strconv.Itoa(ordinal)
}

// checkVolumeName rejects names that are not DNS-1123 subdomains: such a
// name is a single path element that cannot escape the volume directory.
func checkVolumeName(name string) error {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return invalid("volume name %q: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

// sameOwner reports whether a and b are the volume of the same namespace,
// set, claim and ordinal.
func sameOwner(a, b Volume) bool {
	return a.Namespace == b.Namespace && a.Set == b.Set && a.Claim == b.Claim && a.Ordinal == b.Ordinal
}

// Volume returns the record of volume name, or an errdefs.ErrNotFound
// error.
func (tx *Tx) Volume(name string) (Volume, error) {
	if name == "" {
		return Volume{}, invalid("volume: name is required")
	}
	b, err := tx.bucket(bucketVolumes)
	if err != nil {
		return Volume{}, err
	}
	var v Volume
	ok, err := getJSON(b, name, &v)
	if err != nil {
		return Volume{}, fmt.Errorf("reading volume %s: %w", name, err)
	}
	if !ok {
		return Volume{}, fmt.Errorf("volume %s: %w", name, errdefs.ErrNotFound)
	}
	return v, nil
}

// Volumes returns every volume record, sorted by name.
func (tx *Tx) Volumes() ([]Volume, error) {
	b, err := tx.bucket(bucketVolumes)
	if err != nil || b == nil {
		return nil, err
	}
	var out []Volume
	err = b.ForEach(func(name, raw []byte) error {
		var v Volume
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("reading volume %s: %w", name, err)
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Volume is Tx.Volume in its own View.
func (s *Store) Volume(name string) (v Volume, err error) {
	err = s.View(func(tx *Tx) error { v, err = tx.Volume(name); return err })
	return v, err
}

// Volumes is Tx.Volumes in its own View.
func (s *Store) Volumes() (vs []Volume, err error) {
	err = s.View(func(tx *Tx) error { vs, err = tx.Volumes(); return err })
	return vs, err
}

// EnsureVolume makes sure volume v.Name exists, as a directory under
// VolumeDir and as a record, and returns the record and whether this call
// created it. Only Name, Namespace, Claim, Set, Ordinal and Capacity of v
// are read; Path and Created are set by the store. It is idempotent, safe
// for concurrent use, and safe against a crash at any point:
//
//   - A record for the same namespace, set, claim and ordinal is returned
//     as it is (a later Capacity does not change it); a record marked for
//     deletion gives an errdefs.ErrUnavailable error until it is gone, after
//     which a new, empty volume is made. If its directory has
//     vanished, the data it held is lost: EnsureVolume returns an
//     errdefs.ErrFailedPrecondition error instead of silently making a new,
//     empty volume. DeleteVolume clears that state.
//   - A record for another owner gives an errdefs.ErrConflict error.
//   - Without a record the directory is created first (0755, under a 0700
//     volume root) and synced, then the record is committed; a directory
//     that exists without a record, left by a crash between the two steps
//     or kept from an earlier state file, is adopted with its contents.
//
// A name that is not a DNS-1123 subdomain (so could escape VolumeDir), or a
// missing namespace, claim or set, or a negative ordinal, gives an
// errdefs.ErrInvalidArgument error. EnsureVolume is a Store method, not a
// Tx one, because a directory cannot be rolled back with a transaction.
func (s *Store) EnsureVolume(v Volume) (Volume, bool, error) {
	if err := checkVolumeName(v.Name); err != nil {
		return Volume{}, false, fmt.Errorf("ensuring %w", err)
	}
	if v.Namespace == "" || v.Set == "" || v.Claim == "" || v.Ordinal < 0 {
		return Volume{}, false, invalid("ensuring volume %s: namespace, set and claim are required and ordinal must not be negative", v.Name)
	}
	var out Volume
	var created bool
	err := s.Update(func(tx *Tx) error {
		old, err := tx.Volume(v.Name)
		switch {
		case err == nil:
			if !sameOwner(old, v) {
				return fmt.Errorf("ensuring volume %s: it belongs to claim %s of %s/%s ordinal %d: %w",
					v.Name, old.Claim, old.Namespace, old.Set, old.Ordinal, errdefs.ErrConflict)
			}
			if err := old.checkNotDeleting(); err != nil {
				return fmt.Errorf("ensuring %w", err)
			}
			if err := checkVolumeDir(old); err != nil {
				return err
			}
			out = old
			return nil
		case !errors.Is(err, errdefs.ErrNotFound):
			return err
		}
		rec := Volume{
			Name: v.Name, Namespace: v.Namespace, Claim: v.Claim, Set: v.Set, Ordinal: v.Ordinal,
			Capacity: v.Capacity,
			Path:     filepath.Join(s.volumeDir, v.Name),
			Created:  s.now().Round(0),
		}
		if err := makeVolumeDir(rec.Path); err != nil {
			return fmt.Errorf("ensuring volume %s: %w", v.Name, err)
		}
		b, err := tx.writeBucket(bucketVolumes)
		if err != nil {
			return err
		}
		if err := tx.putJSON(b, rec.Name, rec); err != nil {
			return fmt.Errorf("ensuring volume %s: %w", v.Name, err)
		}
		out, created = rec, true
		return nil
	})
	if err != nil {
		return Volume{}, false, err
	}
	return out, created, nil
}

// checkVolumeDir fails when the directory of a recorded volume is gone or
// is not a directory.
func checkVolumeDir(v Volume) error {
	fi, err := os.Lstat(v.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("volume %s: directory %s is missing, its data is lost (delete the volume to start with an empty one): %w",
			v.Name, v.Path, errdefs.ErrFailedPrecondition)
	case err != nil:
		return fmt.Errorf("volume %s: %w", v.Name, err)
	case !fi.IsDir():
		return fmt.Errorf("volume %s: %s is not a directory: %w", v.Name, v.Path, errdefs.ErrFailedPrecondition)
	}
	return nil
}

// makeVolumeDir creates the directory path (and the volume root above it),
// or adopts it when it already exists, and makes the new entry durable.
func makeVolumeDir(path string) error {
	root := filepath.Dir(path)
	if err := os.MkdirAll(root, volumeRootMode); err != nil {
		return err
	}
	err := os.Mkdir(path, volumeDirMode)
	if errors.Is(err, fs.ErrExist) {
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s exists and is not a directory: %w", path, errdefs.ErrFailedPrecondition)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.Chmod(path, volumeDirMode); err != nil { // whatever the umask
		return err
	}
	return syncDir(root)
}

// syncDir flushes the entries of directory dir to disk.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// MarkVolumeDeleting marks volume name for deletion at now, unless it is
// already marked, and reports whether it changed the record. From then on
// EnsureVolume refuses it and CheckVolumeFree fails, so that no new pod
// can take it; the daemon deletes it (DeleteVolume) once no pod uses it.
// The mark is never taken back.
func (tx *Tx) MarkVolumeDeleting(name string, now time.Time) (bool, error) {
	b, err := tx.writeBucket(bucketVolumes)
	if err != nil {
		return false, err
	}
	v, err := tx.Volume(name)
	if err != nil || v.Deleting != nil {
		return false, err
	}
	now = now.Round(0)
	v.Deleting = &now
	if err := tx.putJSON(b, name, v); err != nil {
		return false, fmt.Errorf("marking volume %s for deletion: %w", name, err)
	}
	return true, nil
}

// CheckVolumeFree fails when volume name is marked for deletion, with an
// errdefs.ErrUnavailable error. A pod record that names the volume must be
// written in the same transaction as this check: that is what keeps a new
// pod off a volume that is about to be deleted.
func (tx *Tx) CheckVolumeFree(name string) error {
	v, err := tx.Volume(name)
	if err != nil {
		return err
	}
	return v.checkNotDeleting()
}

// checkNotDeleting fails when v is marked for deletion.
func (v Volume) checkNotDeleting() error {
	if v.Deleting == nil {
		return nil
	}
	return fmt.Errorf("volume %s: it is being deleted (since %s): %w", v.Name, v.Deleting.Format(time.RFC3339), errdefs.ErrUnavailable)
}

// VolumeUsers returns the names of the pods of v's namespace whose spec
// names volume v as a PersistentVolumeClaim, terminating pods included,
// sorted.
func (tx *Tx) VolumeUsers(v Volume) ([]string, error) {
	pods, err := tx.pods(v.Namespace)
	if err != nil {
		return nil, err
	}
	var users []string
	for _, pod := range pods {
		for _, pv := range pod.Spec.Volumes {
			if pv.PersistentVolumeClaim != nil && pv.PersistentVolumeClaim.ClaimName == v.Name {
				users = append(users, pod.Name)
				break
			}
		}
	}
	return users, nil
}

// DeleteVolume removes volume name: its directory with all its data, then
// its record. It is the only way storage deletes volume data.
//
// The steps are ordered so that calling DeleteVolume again after a crash
// finishes the job, and so that no half-deleted directory is ever found
// under the volume's name: the directory is first renamed into
// VolumeDir/.trash (atomic), then removed there, and only then is the
// record deleted. Until that last step, the record shows that the volume
// exists and EnsureVolume reports its data as lost instead of reusing it.
// A volume without a record gives an errdefs.ErrNotFound error (after
// removing any leftover in the trash); a directory without a record is not
// touched, since EnsureVolume would adopt it.
func (s *Store) DeleteVolume(name string) error {
	if err := checkVolumeName(name); err != nil {
		return fmt.Errorf("deleting %w", err)
	}
	v, err := s.Volume(name)
	if errors.Is(err, errdefs.ErrNotFound) {
		if rmErr := os.RemoveAll(filepath.Join(s.volumeDir, trashDir, name)); rmErr != nil {
			return fmt.Errorf("deleting volume %s: %w", name, rmErr)
		}
		return err
	}
	if err != nil {
		return err
	}
	if err := removeVolumeDir(v); err != nil {
		return fmt.Errorf("deleting volume %s: %w", name, err)
	}
	return s.Update(func(tx *Tx) error {
		b, err := tx.writeBucket(bucketVolumes)
		if err != nil {
			return err
		}
		return tx.delete(b, []byte(name))
	})
}

// removeVolumeDir moves v's directory into the trash and removes it there.
func removeVolumeDir(v Volume) error {
	root := filepath.Dir(v.Path)
	trash := filepath.Join(root, trashDir, v.Name)
	if err := os.RemoveAll(trash); err != nil { // left by an interrupted delete
		return err
	}
	if err := os.MkdirAll(filepath.Dir(trash), volumeRootMode); err != nil {
		return err
	}
	err := os.Rename(v.Path, trash)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err == nil {
		if err := syncDir(root); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(trash); err != nil {
		return err
	}
	return syncDir(filepath.Dir(trash))
}
