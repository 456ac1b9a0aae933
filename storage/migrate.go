package storage

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Top-level bucket names and the schema key; doc.go draws the tree.
const (
	bucketMeta      = "meta"
	bucketObjects   = "objects"
	bucketRevisions = "revisions"
	bucketPods      = "pods"
	bucketVolumes   = "volumes"
	bucketEvents    = "events"
	bucketManifests = "manifests"
	keySchema       = "schema"
)

// migration is one step of the schema: migrations()[i] takes a file from
// version i to version i+1. Steps are never edited or removed once
// released; a change of layout is a new step at the end, with a test
// against an old file in testdata/.
type migration struct {
	name string
	fn   func(*bolt.Tx) error
}

// migrations returns the ordered schema steps. It is a function, not a
// package variable, so that nothing can change the list at run time.
func migrations() []migration {
	return []migration{
		{name: "create buckets", fn: migrateCreateBuckets},
	}
}

// SchemaVersion returns the schema version this binary writes: the number
// of migrations it knows. Open refuses files with a higher version.
func SchemaVersion() uint64 { return uint64(len(migrations())) }

// migrateCreateBuckets (version 1) creates the top-level buckets and one
// bucket per object kind under objects.
func migrateCreateBuckets(tx *bolt.Tx) error {
	for _, name := range []string{bucketMeta, bucketObjects, bucketRevisions, bucketPods, bucketVolumes, bucketEvents} {
		if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return fmt.Errorf("creating bucket %s: %w", name, err)
		}
	}
	objects := tx.Bucket([]byte(bucketObjects))
	// The list is spelled out: a released migration must not change when
	// the supported kinds do.
	for _, kind := range []string{"StatefulSet", "Service", "ConfigMap", "Secret"} {
		if _, err := objects.CreateBucketIfNotExists([]byte(kind)); err != nil {
			return fmt.Errorf("creating bucket %s/%s: %w", bucketObjects, kind, err)
		}
	}
	return nil
}

// schemaVersion reads the file's schema version; a file without a meta
// bucket (a new file) is at version 0.
func schemaVersion(tx *bolt.Tx) (uint64, error) {
	meta := tx.Bucket([]byte(bucketMeta))
	if meta == nil {
		return 0, nil
	}
	raw := meta.Get([]byte(keySchema))
	if raw == nil {
		return 0, nil
	}
	if len(raw) != 8 {
		return 0, fmt.Errorf("reading schema version: %d bytes, want 8", len(raw))
	}
	return binary.BigEndian.Uint64(raw), nil
}

// setSchemaVersion records version v in the meta bucket.
func setSchemaVersion(tx *bolt.Tx, v uint64) error {
	meta, err := tx.CreateBucketIfNotExists([]byte(bucketMeta))
	if err != nil {
		return fmt.Errorf("writing schema version: %w", err)
	}
	return meta.Put([]byte(keySchema), binary.BigEndian.AppendUint64(nil, v))
}

// migrate brings the file up to SchemaVersion in one transaction: either
// every missing step is applied and the new version recorded, or nothing
// changes.
func (s *Store) migrate() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return runMigrations(tx, migrations())
	})
}

// runMigrations applies the steps of steps the file has not seen yet.
func runMigrations(tx *bolt.Tx, steps []migration) error {
	v, err := schemaVersion(tx)
	if err != nil {
		return err
	}
	if v > uint64(len(steps)) {
		return fmt.Errorf("schema version %d, this setlet understands up to %d: %w", v, len(steps), ErrNewerSchema)
	}
	for i := v; i < uint64(len(steps)); i++ {
		if err := steps[i].fn(tx); err != nil {
			return fmt.Errorf("migrating schema to version %d (%s): %w", i+1, steps[i].name, err)
		}
	}
	if v == uint64(len(steps)) {
		return nil
	}
	return setSchemaVersion(tx, uint64(len(steps)))
}
