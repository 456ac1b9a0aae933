package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestProbeUserAgentMatchesTheAPIVersion(t *testing.T) {
	// k8s.io/api v0.M.p is Kubernetes 1.M; the kubelet sends kube-probe/1.M.
	mod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mod), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "k8s.io/api" {
			minor := strings.SplitN(strings.TrimPrefix(fields[1], "v0."), ".", 2)[0]
			if want := "kube-probe/1." + minor; probeUserAgent != want {
				t.Fatalf("probeUserAgent is %q, k8s.io/api %s wants %q", probeUserAgent, fields[1], want)
			}
			return
		}
	}
	t.Fatal("k8s.io/api not required in go.mod")
}

func TestProbeResolvePort(t *testing.T) {
	ports := []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "grpc", ContainerPort: 9090}}
	for _, tc := range []struct {
		name string
		port intstr.IntOrString
		want int
		err  string
	}{
		{"Port/a number is the port", intstr.FromInt32(80), 80, ""},
		{"Port/a name is the container port of that name", intstr.FromString("grpc"), 9090, ""},
		{"Port/a number in a string is the port", intstr.FromString("81"), 81, ""},
		{"Port/an unknown name is an error", intstr.FromString("web"), 0, "port web not found"},
		{"Port/0 is invalid", intstr.FromInt32(0), 0, "invalid port number: 0"},
		{"Port/65536 is invalid", intstr.FromInt32(65536), 0, "invalid port number: 65536"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveProbePort(tc.port, ports)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d %v, want %d", got, err, tc.want)
			}
		})
	}
}

func TestProbeWithoutHandlerIsUnknown(t *testing.T) {
	pr := newProber(nil)
	for _, p := range []*corev1.Probe{nil, {}} {
		if got := pr.runProbe(context.Background(), p, probeTarget{}); !got.Unknown || got.OK {
			t.Fatalf("probe %+v: got %+v", p, got)
		}
	}
}
