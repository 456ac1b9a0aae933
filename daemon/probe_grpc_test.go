package daemon

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	corev1 "k8s.io/api/core/v1"
)

// grpcTestServer serves srv on a local port and returns the port.
func grpcTestServer(t *testing.T, srv *grpc.Server) int32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return int32(l.Addr().(*net.TCPAddr).Port)
}

// grpcProbe returns a grpc probe of port and service with a 1 s timeout.
func grpcProbe(port int32, service *string) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: port, Service: service}}, TimeoutSeconds: 1}
}

func TestProbeGRPC(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var userAgents []string
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		mu.Lock()
		userAgents = append(userAgents, md.Get("user-agent")...)
		mu.Unlock()
		return h(ctx, req)
	}))
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	port := grpcTestServer(t, srv)
	bare := grpcTestServer(t, grpc.NewServer()) // no health service
	closed := int32(closedPort(t))
	target := probeTarget{PodIP: "127.0.0.1"}
	pr := newProber(nil)
	str := func(s string) *string { return &s }

	for _, tc := range []struct {
		name    string
		probe   *corev1.Probe
		ok      bool
		message string
	}{
		{"GRPC/a SERVING server succeeds", grpcProbe(port, nil), true, ""},
		{"GRPC/the empty service name asks for the server", grpcProbe(port, str("")), true, ""},
		{"GRPC/a NOT_SERVING service fails", grpcProbe(port, str("db")), false, `service unhealthy (responded with "NOT_SERVING")`},
		{"GRPC/an unknown service fails with NotFound", grpcProbe(port, str("nope")), false, "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service"},
		{"GRPC/a server without the health service fails", grpcProbe(bare, nil), false, "error: this server does not implement the grpc health protocol (grpc.health.v1.Health)"},
		{"GRPC/a closed port fails", grpcProbe(closed, nil), false, `error: failed to connect service at "127.0.0.1:` + itoa(closed) + `"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := pr.runProbe(context.Background(), tc.probe, target)
			if got.OK != tc.ok || got.Unknown || !strings.Contains(got.Message, tc.message) || (tc.message == "" && got.Message != "") {
				t.Fatalf("got %+v, want ok %v message %q", got, tc.ok, tc.message)
			}
		})
	}

	t.Run("GRPC/a refused connection fails at once, not after the timeout", func(t *testing.T) {
		start := time.Now()
		pr.runProbe(context.Background(), grpcProbe(closed, nil), target)
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("took %v", d)
		}
	})
	t.Run("GRPC/the user agent is kube-probe's", func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		if len(userAgents) == 0 || !strings.HasPrefix(userAgents[0], probeUserAgent+" ") {
			t.Fatalf("user agents %q", userAgents)
		}
	})
}
