package storage

import (
	"fmt"

	"github.com/containerd/errdefs"
)

// ErrLocked is returned by Open when another process holds the state file
// (most likely another setlet daemon) and does not release it within the
// lock timeout. It wraps errdefs.ErrUnavailable; the returned error names
// the file.
var ErrLocked = fmt.Errorf("state file is locked by another process (is another setlet daemon running?): %w", errdefs.ErrUnavailable)

// ErrNewerSchema is returned by Open when the state file was written by a
// newer setlet whose schema this binary does not understand. It wraps
// errdefs.ErrFailedPrecondition; the returned error names the file, its
// schema version and the highest version this binary understands. The file
// is left untouched.
var ErrNewerSchema = fmt.Errorf("state file written by a newer setlet: %w", errdefs.ErrFailedPrecondition)

// errTxClosed is returned when a Tx is used after its closure returned.
var errTxClosed = fmt.Errorf("transaction is closed: %w", errdefs.ErrFailedPrecondition)

// errReadOnly is returned when a write accessor is called inside View.
var errReadOnly = fmt.Errorf("transaction is read-only: %w", errdefs.ErrFailedPrecondition)

// notFound returns "<what> <ns>/<name>: not found".
func notFound(what, ns, name string) error {
	return fmt.Errorf("%s %s/%s: %w", what, ns, name, errdefs.ErrNotFound)
}

// alreadyExists returns "<what> <ns>/<name>: already exists".
func alreadyExists(what, ns, name string) error {
	return fmt.Errorf("%s %s/%s: %w", what, ns, name, errdefs.ErrAlreadyExists)
}

// invalid returns "<msg>: invalid argument".
func invalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), errdefs.ErrInvalidArgument)
}

// requireName checks the parts of a key that bbolt cannot store empty.
func requireName(what, ns, name string) error {
	switch {
	case ns == "" && name == "":
		return invalid("%s: namespace and name are required", what)
	case ns == "":
		return invalid("%s %q: namespace is required", what, name)
	case name == "":
		return invalid("%s in %s: name is required", what, ns)
	}
	return nil
}
