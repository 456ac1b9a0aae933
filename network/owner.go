package network

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// A pod's namespace file is named after the pod, not after the
// incarnation, so the Manager records which attachment each one belongs
// to: <NetnsDir>/.owners/<pod> holds the attachment ID. The record is
// written before the namespace is created and removed after it is gone,
// so a namespace file always has one; it lives on the same file system as
// the namespaces (tmpfs under /run), and goes away with them on reboot.
// Pods cannot change it, as they could change anything kept inside their
// namespace.

// ownersDir is the directory of owner records below NetnsDir.
const ownersDir = ".owners"

// podNetns is what is on the host for one pod's namespace.
type podNetns struct {
	path    string // <NetnsDir>/<pod>
	mounted bool   // a network namespace is mounted at path
	owner   string // the attachment ID recorded for it, or ""
}

func (m *Manager) netnsPath(pod string) string { return filepath.Join(m.cfg.NetnsDir, pod) }

func (m *Manager) ownerPath(pod string) string {
	return filepath.Join(m.cfg.NetnsDir, ownersDir, pod)
}

// inspect looks at pod's namespace file and owner record.
func (m *Manager) inspect(pod string) (podNetns, error) {
	st := podNetns{path: m.netnsPath(pod)}
	mounted, err := isNetns(st.path)
	if err != nil {
		return st, err
	}
	st.mounted = mounted
	data, err := os.ReadFile(m.ownerPath(pod))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return st, fmt.Errorf("reading the owner of %s: %w", st.path, err)
	default:
		st.owner = strings.TrimSpace(string(data))
	}
	return st, nil
}

// writeOwner records id as the owner of pod's namespace, atomically.
func (m *Manager) writeOwner(pod, id string) error {
	path := m.ownerPath(pod)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	// A temporary name of its own: "<pod>.tmp" could pass NAME_MAX.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".owner-*")
	if err != nil {
		return fmt.Errorf("recording the owner of pod %q's network namespace: %w", pod, err)
	}
	_, werr := tmp.WriteString(id + "\n")
	if err := errors.Join(werr, tmp.Close()); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("recording the owner of pod %q's network namespace: %w", pod, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("recording the owner of pod %q's network namespace: %w", pod, err)
	}
	return nil
}

// removeOwner deletes pod's owner record. Idempotent.
func (m *Manager) removeOwner(pod string) error {
	if err := os.Remove(m.ownerPath(pod)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the owner record of pod %q: %w", pod, err)
	}
	return nil
}

// IsNetns reports whether path is a live network namespace file: a bind
// mount of an nsfs inode. A missing file is not, and neither is a file
// left on a disk that survived a reboot while the mount did not.
func IsNetns(path string) (bool, error) { return isNetns(path) }
