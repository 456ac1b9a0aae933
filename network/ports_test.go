package network_test

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/setlet/setlet/network"
)

// TestHostPort proves that a hostPort mapping reaches the pod from the
// host itself (portmap's DNAT in OUTPUT, for traffic to a local address:
// here the gateway), and that Teardown removes its rules.
func TestHostPort(t *testing.T) {
	e := newEnv(t)
	hostPort := freePort(t)
	a := e.attachment("web-0", network.PortMapping{HostPort: hostPort, ContainerPort: 8080, Protocol: "TCP"})
	r := e.setup(a)
	listenIn(t, r.NetNS, ":8080", "hello through the host port")

	published := net.JoinHostPort(r.Gateway.String(), strconv.Itoa(int(hostPort)))
	if got, err := fetch(published); err != nil || got != "hello through the host port" {
		t.Fatalf("host to %s: got %q, %v", published, got, err)
	}
	if !hasRule(t, "--dports "+strconv.Itoa(int(hostPort))) {
		t.Fatalf("no DNAT rule for host port %d", hostPort)
	}

	e.teardown(a)
	if hasRule(t, "--dports "+strconv.Itoa(int(hostPort))) {
		t.Fatalf("DNAT rule for host port %d left after Teardown", hostPort)
	}
	if _, err := fetch(published); err == nil {
		t.Fatalf("%s still answers after Teardown", published)
	}
	e.requireEmpty()
}

// hasRule reports whether an iptables rule contains s.
func hasRule(t *testing.T, s string) bool {
	t.Helper()
	rules, err := iptablesRules()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if strings.Contains(r, s) {
			return true
		}
	}
	return false
}

// freePort returns a TCP port nothing on the host listens on now.
func freePort(t *testing.T) int32 {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return int32(ln.Addr().(*net.TCPAddr).Port)
}
