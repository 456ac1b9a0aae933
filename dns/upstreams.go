package dns

import (
	"bufio"
	"bytes"
	"net/netip"
	"slices"
	"strings"
)

// HostUpstreams returns the upstreams for Config.Upstreams from the host's
// resolv.conf: its nameservers, in order, as "ip:53", without duplicates,
// without the addresses in own (setlet's own listen addresses), and without
// loopback stubs (127.0.0.0/8, ::1, e.g. systemd-resolved) unless nothing
// else is left. It never fails: unparsable lines are skipped.
func HostUpstreams(resolvConf []byte, own []netip.Addr) []string {
	var remote, loopback []netip.Addr
	sc := bufio.NewScanner(bytes.NewReader(resolvConf))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil {
			continue
		}
		a = a.Unmap()
		if slices.ContainsFunc(own, func(o netip.Addr) bool { return o.Unmap() == a }) {
			continue
		}
		if a.IsLoopback() {
			if !slices.Contains(loopback, a) {
				loopback = append(loopback, a)
			}
		} else if !slices.Contains(remote, a) {
			remote = append(remote, a)
		}
	}
	if len(remote) == 0 {
		remote = loopback
	}
	var ups []string
	for _, a := range remote {
		ups = append(ups, netip.AddrPortFrom(a, 53).String())
	}
	return ups
}
