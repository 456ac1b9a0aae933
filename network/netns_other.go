//go:build !linux

package network

import (
	"fmt"
	"net"
	"os"
	"runtime"

	"github.com/containerd/errdefs"
)

// Network namespaces exist on Linux only; elsewhere the package builds (so
// that the daemon's other parts can be compiled and unit-tested) and every
// namespace operation fails with NotImplemented.

func errNoNetns() error {
	return fmt.Errorf("network namespaces on %s: %w", runtime.GOOS, errdefs.ErrNotImplemented)
}

func isNetns(string) (bool, error)                       { return false, nil }
func ensureNetnsDir(string) error                        { return errNoNetns() }
func createNetns(string) error                           { return errNoNetns() }
func removeNetns(string) error                           { return errNoNetns() }
func interfaceAddrs(string, string) ([]net.IPNet, error) { return nil, errNoNetns() }
func newStandIn(string, []net.IPNet) (*os.File, error)   { return nil, errNoNetns() }
func procPath(f *os.File) string                         { return f.Name() }
