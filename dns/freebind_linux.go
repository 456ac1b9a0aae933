package dns

import (
	"fmt"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// freebind is a net.ListenConfig Control that sets IP_FREEBIND (or
// IPV6_FREEBIND), so that an address not configured yet, such as the
// gateway of a bridge about to be created, can be bound.
func freebind(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if strings.HasSuffix(network, "6") {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("setting IP_FREEBIND on %s %s: %w", network, address, serr)
	}
	return nil
}
