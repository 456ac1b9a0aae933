package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
)

// probeGRPC runs one grpc attempt: it calls the standard health service
// (grpc.health.v1.Health/Check) at podIP:port, without TLS, for the service
// g.Service ("" when unset, the server as a whole), and succeeds when the
// answer is SERVING. Connecting and the call together are bounded by
// timeout. The failure messages are the kubelet's (pkg/probe/grpc).
//
// Unlike the kubelet, a refused connection fails the attempt at once
// instead of retrying until the timeout (FailOnNonTempDialError), so that a
// server that is not listening yet costs one quick attempt, not a whole
// timeout per attempt; the message is then the kubelet's "failed to
// connect" one.
func probeGRPC(ctx context.Context, g *corev1.GRPCAction, t probeTarget, timeout time.Duration) probeOutcome {
	service := ""
	if g.Service != nil {
		service = *g.Service
	}
	addr := net.JoinHostPort(t.PodIP, strconv.Itoa(int(g.Port)))

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := grpc.DialContext(ctx, addr,
		grpc.WithUserAgent(probeUserAgent),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return probeDialer(0)(ctx, "tcp", addr)
		}),
		grpc.WithBlock(),
		grpc.FailOnNonTempDialError(true),
		grpc.WithReturnConnectionError(),
	)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return probeOutcome{Message: fmt.Sprintf("timeout: failed to connect service %q within %v: %+v", addr, timeout, err)}
		}
		return probeOutcome{Message: fmt.Sprintf("error: failed to connect service at %q: %+v", addr, err)}
	}
	defer func() { _ = conn.Close() }()

	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		if st, ok := status.FromError(err); ok {
			switch st.Code() {
			case codes.Unimplemented:
				return probeOutcome{Message: fmt.Sprintf("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): %s", st.Message())}
			case codes.DeadlineExceeded:
				return probeOutcome{Message: fmt.Sprintf("timeout: health rpc did not complete within %v", timeout)}
			}
		}
		return probeOutcome{Message: fmt.Sprintf("error: health rpc probe failed: %+v", err)}
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return probeOutcome{Message: fmt.Sprintf("service unhealthy (responded with %q)", resp.GetStatus().String())}
	}
	return probeOutcome{OK: true}
}
