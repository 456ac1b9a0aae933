package daemon

import (
	"context"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// probeTCP runs one tcpSocket attempt: it opens a TCP connection to
// host:port (host is s.Host or the pod IP, a named port is resolved from
// the container's ports) within timeout and closes it at once. The attempt
// succeeds when the connection opens; otherwise the message is the dial
// error, e.g. `dial tcp 10.88.0.5:80: connect: connection refused`.
func probeTCP(ctx context.Context, s *corev1.TCPSocketAction, t probeTarget, timeout time.Duration) probeOutcome {
	port, err := resolveProbePort(s.Port, t.Ports)
	if err != nil {
		return probeOutcome{Unknown: true, Message: err.Error()}
	}
	addr := net.JoinHostPort(probeHost(s.Host, t), strconv.Itoa(port))
	conn, err := probeDialer(timeout)(ctx, "tcp", addr)
	if err != nil {
		return probeOutcome{Message: err.Error()}
	}
	_ = conn.Close() // the connection opened: that is the whole check
	return probeOutcome{OK: true}
}
