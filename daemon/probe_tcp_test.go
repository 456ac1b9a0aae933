package daemon

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// tcpProbe returns a tcpSocket probe of port with a 1 s timeout.
func tcpProbe(port intstr.IntOrString) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: port}}, TimeoutSeconds: 1}
}

func TestProbeTCP(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	port := int32(l.Addr().(*net.TCPAddr).Port)
	closed := int32(closedPort(t))
	target := probeTarget{PodIP: "127.0.0.1", Ports: []corev1.ContainerPort{{Name: "db", ContainerPort: port}}}
	pr := newProber(nil)

	for _, tc := range []struct {
		name    string
		probe   *corev1.Probe
		target  probeTarget
		ok      bool
		unknown bool
		message string
	}{
		{"TCP/a listening port succeeds", tcpProbe(intstr.FromInt32(port)), target, true, false, ""},
		{"TCP/a named port is resolved from the container's ports", tcpProbe(intstr.FromString("db")), target, true, false, ""},
		{"TCP/the Host field replaces the pod IP", func() *corev1.Probe {
			p := tcpProbe(intstr.FromInt32(port))
			p.TCPSocket.Host = "127.0.0.1"
			return p
		}(), probeTarget{PodIP: "192.0.2.1"}, true, false, ""},
		{"TCP/a closed port fails with the dial error", tcpProbe(intstr.FromInt32(closed)), target, false, false, "dial tcp 127.0.0.1:" + itoa(closed) + ": connect: connection refused"},
		{"TCP/port 0 is Unknown", tcpProbe(intstr.FromInt32(0)), target, false, true, "invalid port number: 0"},
		{"TCP/an unknown named port is Unknown", tcpProbe(intstr.FromString("web")), target, false, true, "port web not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := pr.runProbe(context.Background(), tc.probe, tc.target)
			if got.OK != tc.ok || got.Unknown != tc.unknown || !strings.Contains(got.Message, tc.message) || (tc.message == "" && got.Message != "") {
				t.Fatalf("got %+v, want ok %v unknown %v message %q", got, tc.ok, tc.unknown, tc.message)
			}
		})
	}
}

// itoa formats a port.
func itoa(n int32) string { return strconv.Itoa(int(n)) }
