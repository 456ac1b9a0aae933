package daemon

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The daemon runs the Kubernetes probes of every container itself, the way
// the kubelet's prober does (pkg/kubelet/prober and pkg/probe): nothing is
// added to the image, and an httpGet, tcpSocket or grpc probe connects from
// the host to the pod IP. Only exec probes enter the container, through the
// runtime (probeExecer).
//
// This file holds one attempt of one probe (prober.runProbe); the other
// probe_*.go files hold one handler each, the pure counting and timing rules
// (probe_state.go) and the scheduler (probe_manager.go).

// probeUserAgent is the User-Agent of httpGet probes and of the grpc health
// check, "kube-probe/<major>.<minor>" as the kubelet sends it. The version is
// the Kubernetes release of the k8s.io/api module setlet builds with
// (v0.37 is Kubernetes 1.37); a test keeps the two in step.
const probeUserAgent = "kube-probe/1.37"

// probeMaxOutput caps what an attempt reads of an HTTP response body or of
// an exec probe's output, as the kubelet caps both at 10 KiB.
const probeMaxOutput = 10 << 10

// probeExecer runs a command in a container for exec probes (the runtime
// package's Client implements it in the daemon wiring).
type probeExecer interface {
	// ExecProbe runs cmd in the running container containerID and returns
	// its combined stdout and stderr and its exit code. A command that ran
	// and exited non-zero is not an error. ExecProbe must give up and return
	// promptly once ctx is done, with an error that wraps ctx.Err() when it
	// gave up because of ctx, killing the command if it can. It must be
	// safe for concurrent use.
	ExecProbe(ctx context.Context, containerID string, cmd []string) (output []byte, exitCode int, err error)
}

// probeTarget is what an attempt needs to know about the container it
// probes.
type probeTarget struct {
	// PodIP is the pod's IP: the host of grpc probes, and of httpGet and
	// tcpSocket probes that set no Host.
	PodIP string
	// ContainerID is the runtime's ID of the container, for exec probes.
	ContainerID string
	// Ports are the container's ports, for probes that name a port.
	Ports []corev1.ContainerPort
	// Env is the container's environment; $(VAR) references in an exec
	// probe's command are expanded from the literal values in it, as the
	// kubelet does.
	Env []corev1.EnvVar
}

// probeOutcome is the result of one attempt.
type probeOutcome struct {
	// OK reports that the attempt succeeded.
	OK bool
	// Unknown reports that the attempt could not be made at all, e.g. a
	// named port that the container does not declare, or a runtime error
	// when starting an exec probe. The kubelet calls this a probe error and
	// throws the result away: it counts neither as a success nor as a
	// failure. OK is false.
	Unknown bool
	// Message says why the attempt failed, in the kubelet's words, e.g.
	// `HTTP probe failed with statuscode: 503` or
	// `dial tcp 10.88.0.5:80: connect: connection refused`. On a success it
	// is empty, except for an httpGet probe that was redirected to another
	// host, a success with the kubelet's warning
	// `Probe terminated redirects, Response body: ...`.
	Message string
}

// prober runs single probe attempts. It holds the one HTTP transport that
// every httpGet probe shares (one connection per attempt, so it keeps no
// idle connections). It is safe for concurrent use.
type prober struct {
	transport http.RoundTripper
	exec      probeExecer
}

// newProber returns a prober whose exec probes run through ex; ex may be
// nil when no container has an exec probe (such a probe is then Unknown).
func newProber(ex probeExecer) *prober {
	return &prober{transport: newProbeTransport(), exec: ex}
}

// runProbe runs one attempt of p against t, bounded by p.TimeoutSeconds
// (1 s when unset) and by ctx. It never panics on a probe without a handler:
// that attempt is Unknown.
func (pr *prober) runProbe(ctx context.Context, p *corev1.Probe, t probeTarget) probeOutcome {
	if p == nil {
		return probeOutcome{Unknown: true, Message: "missing probe"}
	}
	timeout := probeTimingOf(p).Timeout
	switch {
	case p.Exec != nil:
		return pr.probeExec(ctx, p.Exec, t, timeout)
	case p.HTTPGet != nil:
		return pr.probeHTTP(ctx, p.HTTPGet, t, timeout)
	case p.TCPSocket != nil:
		return probeTCP(ctx, p.TCPSocket, t, timeout)
	case p.GRPC != nil:
		return probeGRPC(ctx, p.GRPC, t, timeout)
	}
	return probeOutcome{Unknown: true, Message: "missing probe handler"}
}

// resolveProbePort returns the port number that port names: a number, the
// containerPort of the container port of that name, or a number written as
// a string, as the kubelet resolves it (probe.ResolveContainerPort).
func resolveProbePort(port intstr.IntOrString, ports []corev1.ContainerPort) (int, error) {
	n := -1
	switch port.Type {
	case intstr.Int:
		n = port.IntValue()
	case intstr.String:
		found := false
		for _, p := range ports {
			if p.Name == port.StrVal {
				n, found = int(p.ContainerPort), true
				break
			}
		}
		if !found {
			var err error
			if n, err = strconv.Atoi(port.StrVal); err != nil {
				return 0, fmt.Errorf("port %s not found", port.StrVal)
			}
		}
	default:
		return 0, fmt.Errorf("intOrString had no kind: %+v", port)
	}
	if n <= 0 || n >= 65536 {
		return 0, fmt.Errorf("invalid port number: %d", n)
	}
	return n, nil
}

// probeDialer returns the dialer of every connecting probe: timeout bounds
// the connect, and each TCP connection lingers at most 1 s on close, as
// the kubelet's probe dialer sets SO_LINGER so that probes do not pile up
// sockets.
func probeDialer(timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(1) // best effort, as the kubelet's
		}
		return conn, nil
	}
}

// probeHost returns host, or the pod IP when host is empty.
func probeHost(host string, t probeTarget) string {
	if host != "" {
		return host
	}
	return t.PodIP
}
