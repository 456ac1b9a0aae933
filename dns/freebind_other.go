//go:build !linux

package dns

import "syscall"

// freebind does nothing where IP_FREEBIND does not exist.
func freebind(network, address string, c syscall.RawConn) error { return nil }
