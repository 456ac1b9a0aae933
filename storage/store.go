package storage

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/errdefs"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"k8s.io/apimachinery/pkg/types"
)

// Store is an open state file. It is safe for concurrent use: any number of
// View transactions run in parallel with at most one Update, as in bbolt.
type Store struct {
	db        *bolt.DB
	path      string
	volumeDir string
	now       func() time.Time
	events    int // event limit
}

// Open opens the state file at path, creating it (mode 0600, parent
// directories 0700) when it does not exist, and brings its schema up to date
// by running the missing migrations in one transaction. It waits up to the
// lock timeout for another process to release the file and then returns
// ErrLocked; a file written by a newer setlet gives ErrNewerSchema. The
// caller must Close the store.
func Open(path string, opts ...Opt) (*Store, error) {
	if path == "" {
		return nil, invalid("opening state file: path is required")
	}
	o := defaultOptions(path)
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.now == nil:
		return nil, invalid("opening %s: clock is nil", path)
	case o.lockTimeout < 0:
		return nil, invalid("opening %s: negative lock timeout %s", path, o.lockTimeout)
	case o.eventLimit < 1:
		return nil, invalid("opening %s: event limit %d is below 1", path, o.eventLimit)
	case o.volumeDir == "":
		return nil, invalid("opening %s: volume directory is empty", path)
	}
	volumeDir, err := filepath.Abs(o.volumeDir)
	if err != nil {
		return nil, fmt.Errorf("opening %s: volume directory: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	timeout := o.lockTimeout
	if timeout == 0 {
		// bbolt waits forever on a zero timeout; one nanosecond means one try.
		timeout = time.Nanosecond
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("opening %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	s := &Store{db: db, path: path, volumeDir: volumeDir, now: o.now, events: o.eventLimit}
	if err := s.migrate(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return s, nil
}

// Close waits for running transactions, then releases the file. It is
// idempotent; a closed store's View and Update return an
// errdefs.ErrUnavailable error.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", s.path, err)
	}
	return nil
}

// Path returns the state file's path as given to Open.
func (s *Store) Path() string { return s.path }

// VolumeDir returns the absolute directory under which EnsureVolume creates
// volume directories.
func (s *Store) VolumeDir() string { return s.volumeDir }

// View runs fn in a read-only transaction. Write accessors called in it
// return an errdefs.ErrFailedPrecondition error. fn must not keep the Tx or
// use it after returning; the error fn returns is returned unchanged.
func (s *Store) View(fn func(*Tx) error) error {
	return s.run(false, fn)
}

// Update runs fn in a read-write transaction: when fn returns nil the changes
// are committed (and synced to disk) together, otherwise none of them is
// kept and fn's error is returned unchanged. An Update that changed nothing
// (say, an unchanged re-apply) is not committed and costs no fsync. Updates
// are serialised. fn must not keep the Tx or use it after returning.
func (s *Store) Update(fn func(*Tx) error) error {
	return s.run(true, fn)
}

func (s *Store) run(writable bool, fn func(*Tx) error) error {
	btx, err := s.db.Begin(writable)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("state file %s: store is closed: %w", s.path, errdefs.ErrUnavailable)
	}
	if err != nil {
		return fmt.Errorf("state file %s: beginning transaction: %w", s.path, err)
	}
	tx := &Tx{tx: btx, s: s}
	defer func() {
		tx.done = true
		if btx.DB() != nil { // not committed: read-only, unchanged, failed or panicked
			_ = btx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if !tx.dirty {
		return nil
	}
	if err := btx.Commit(); err != nil {
		return fmt.Errorf("state file %s: committing: %w", s.path, err)
	}
	return nil
}

// Tx is a transaction on the state file, handed to the closures of
// Store.View and Store.Update. Its accessors see the transaction's own
// writes. A Tx is not safe for concurrent use and is invalid once its
// closure returns.
type Tx struct {
	tx    *bolt.Tx
	s     *Store
	done  bool // the closure returned
	dirty bool // something was written
}

// bucket returns the bucket at path, or nil when a part of it is missing.
func (tx *Tx) bucket(path ...string) (*bolt.Bucket, error) {
	if tx.done {
		return nil, errTxClosed
	}
	b := tx.tx.Bucket([]byte(path[0]))
	for _, name := range path[1:] {
		if b == nil {
			return nil, nil
		}
		b = b.Bucket([]byte(name))
	}
	return b, nil
}

// checkWritable fails when tx is closed or read-only.
func (tx *Tx) checkWritable() error {
	if tx.done {
		return errTxClosed
	}
	if !tx.tx.Writable() {
		return errReadOnly
	}
	return nil
}

// Every change goes through the methods below, which set tx.dirty: an
// Update whose closure changed nothing is rolled back instead of committed,
// which spares an fsync (an unchanged re-apply, an unchanged status).

// writeBucket returns the bucket at path, creating the missing parts. It
// fails when the transaction is read-only.
func (tx *Tx) writeBucket(path ...string) (*bolt.Bucket, error) {
	if err := tx.checkWritable(); err != nil {
		return nil, err
	}
	var b *bolt.Bucket
	for _, name := range path {
		var next *bolt.Bucket
		if b == nil {
			next = tx.tx.Bucket([]byte(name))
		} else {
			next = b.Bucket([]byte(name))
		}
		if next == nil {
			var err error
			tx.dirty = true
			if b == nil {
				next, err = tx.tx.CreateBucket([]byte(name))
			} else {
				next, err = b.CreateBucket([]byte(name))
			}
			if err != nil {
				return nil, fmt.Errorf("creating bucket %v: %w", path, err)
			}
		}
		b = next
	}
	return b, nil
}

// put stores value at key in b unless it is already there.
func (tx *Tx) put(b *bolt.Bucket, key, value []byte) error {
	if old := b.Get(key); old != nil && bytes.Equal(old, value) {
		return nil
	}
	tx.dirty = true
	return b.Put(key, value)
}

// putJSON encodes v and stores it at key in b unless it is already there.
func (tx *Tx) putJSON(b *bolt.Bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %q: %w", key, err)
	}
	return tx.put(b, []byte(key), raw)
}

// delete removes key from b.
func (tx *Tx) delete(b *bolt.Bucket, key []byte) error {
	tx.dirty = true
	return b.Delete(key)
}

// nextSequence returns b's next sequence number.
func (tx *Tx) nextSequence(b *bolt.Bucket) (uint64, error) {
	tx.dirty = true
	return b.NextSequence()
}

// deleteIfEmpty removes the child bucket name of parent when it holds no
// keys, so that deleted sets and namespaces leave no trace.
func (tx *Tx) deleteIfEmpty(parent *bolt.Bucket, name string) error {
	b := parent.Bucket([]byte(name))
	if b == nil {
		return nil
	}
	if k, _ := b.Cursor().First(); k != nil {
		return nil
	}
	tx.dirty = true
	return parent.DeleteBucket([]byte(name))
}

// getJSON decodes the value at key in b (which may be nil) into v and
// reports whether it existed.
func getJSON(b *bolt.Bucket, key string, v any) (bool, error) {
	if b == nil {
		return false, nil
	}
	raw := b.Get([]byte(key))
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("decoding %q: %w", key, err)
	}
	return true, nil
}

// newUID returns a random (version 4) UUID.
func newUID() types.UID {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return types.UID(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]))
}
