package storage

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"
)

// Manifest is the record of one file of the daemon's manifest directory:
// what its last version was, and which objects its last good version
// applied. The daemon owns those objects on the file's behalf.
type Manifest struct {
	Path    string      `json:"path"`            // the file, absolute; the key
	Hash    string      `json:"hash"`            // of the last version read, good or not
	Objects []ObjectKey `json:"objects"`         // applied by the last good version
	Applied time.Time   `json:"applied"`         // when the last good version was applied; zero if none was
	Error   string      `json:"error,omitempty"` // why the last version read was refused; "" when it applied
}

// Manifests returns every manifest record, sorted by path.
func (tx *Tx) Manifests() ([]Manifest, error) {
	b, err := tx.bucket(bucketManifests)
	if err != nil || b == nil {
		return nil, err
	}
	var out []Manifest
	err = b.ForEach(func(k, raw []byte) error {
		var m Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("reading manifest record %s: %w", k, err)
		}
		out = append(out, m)
		return nil
	})
	return out, err
}

// Manifest returns the record of path, or an empty one (zero Path) when
// there is none.
func (tx *Tx) Manifest(path string) (Manifest, error) {
	b, err := tx.bucket(bucketManifests)
	if err != nil {
		return Manifest{}, err
	}
	var m Manifest
	_, err = getJSON(b, path, &m)
	return m, err
}

// PutManifest writes the record of m.Path, an absolute path.
func (tx *Tx) PutManifest(m Manifest) error {
	if !filepath.IsAbs(m.Path) {
		return invalid("manifest record: path %q is not absolute", m.Path)
	}
	b, err := tx.writeBucket(bucketManifests)
	if err != nil {
		return err
	}
	return tx.putJSON(b, m.Path, m)
}

// DeleteManifest removes the record of path; a missing one is no error.
func (tx *Tx) DeleteManifest(path string) error {
	b, err := tx.writeBucket(bucketManifests)
	if err != nil {
		return err
	}
	return tx.delete(b, []byte(path))
}

// ManifestOwner returns the path of the manifest file whose last good
// version applied the object at key, or "" when none did.
func (tx *Tx) ManifestOwner(key ObjectKey) (string, error) {
	ms, err := tx.Manifests()
	if err != nil {
		return "", err
	}
	for _, m := range ms {
		for _, k := range m.Objects {
			if k == key {
				return m.Path, nil
			}
		}
	}
	return "", nil
}

// Manifests is Tx.Manifests in its own View.
func (s *Store) Manifests() (ms []Manifest, err error) {
	err = s.View(func(tx *Tx) error { ms, err = tx.Manifests(); return err })
	return ms, err
}
