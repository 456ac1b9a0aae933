package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeTestServer is an HTTP server with one handler per probe behaviour.
func probeTestServer(t *testing.T, tls bool) (*httptest.Server, int) {
	t.Helper()
	mux := http.NewServeMux()
	var port int
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/unavailable", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("secret body"))
	})
	mux.HandleFunc("/redirect-same", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/redirect-same-unavailable", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/unavailable", http.StatusFound)
	})
	mux.HandleFunc("/redirect-loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/redirect-loop", http.StatusFound)
	})
	mux.HandleFunc("/redirect-elsewhere", func(w http.ResponseWriter, r *http.Request) {
		// Same server, other host name: the probe must not follow it.
		http.Redirect(w, r, "http://localhost:"+strconv.Itoa(port)+"/unavailable", http.StatusFound)
	})
	mux.HandleFunc("/redirect-elsewhere-big", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Location", "http://localhost:"+strconv.Itoa(port)+"/ok")
		w.WriteHeader(http.StatusFound)
		_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		var bad []string
		check := func(what, got, want string) {
			if got != want {
				bad = append(bad, fmt.Sprintf("%s %q, want %q", what, got, want))
			}
		}
		check("host", r.Host, "web-0.nginx.set.local")
		check("X-Custom", strings.Join(r.Header.Values("X-Custom"), ","), "a,b")
		check("User-Agent", r.UserAgent(), probeUserAgent)
		check("Accept", r.Header.Get("Accept"), "*/*")
		check("close", strconv.FormatBool(r.Close), "true") // keep-alives off
		if len(bad) > 0 {
			http.Error(w, strings.Join(bad, "; "), http.StatusBadRequest)
		}
	})
	mux.HandleFunc("/overrides", func(w http.ResponseWriter, r *http.Request) {
		_, accept := r.Header["Accept"]
		if r.UserAgent() != "mine/1" || accept {
			http.Error(w, "overrides ignored", http.StatusBadRequest)
		}
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(mux)
	} else {
		srv = httptest.NewServer(mux)
	}
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ = strconv.Atoi(u.Port())
	return srv, port
}

// httpProbe returns an httpGet probe of path on port with a 1 s timeout.
func httpProbe(path string, port intstr.IntOrString, opts ...func(*corev1.HTTPGetAction)) *corev1.Probe {
	g := &corev1.HTTPGetAction{Path: path, Port: port}
	for _, o := range opts {
		o(g)
	}
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: g}, TimeoutSeconds: 1}
}

func TestProbeHTTP(t *testing.T) {
	t.Parallel()
	_, port := probeTestServer(t, false)
	_, tlsPort := probeTestServer(t, true)
	p := intstr.FromInt32(int32(port))
	target := probeTarget{PodIP: "127.0.0.1", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: int32(port)}}}
	pr := newProber(nil)

	for _, tc := range []struct {
		name    string
		probe   *corev1.Probe
		target  probeTarget
		ok      bool
		unknown bool
		message string // a substring of the message; "" means empty
	}{
		{"HTTP/status 200 is a success", httpProbe("/ok", p), target, true, false, ""},
		{"HTTP/status 503 is a failure without the body", httpProbe("/unavailable", p), target, false, false, "HTTP probe failed with statuscode: 503"},
		{"HTTP/a redirect to the same host is followed", httpProbe("/redirect-same", p), target, true, false, ""},
		{"HTTP/a followed redirect to a failing page fails", httpProbe("/redirect-same-unavailable", p), target, false, false, "HTTP probe failed with statuscode: 503"},
		{"HTTP/same-host redirects stop after 10", httpProbe("/redirect-loop", p), target, false, false, "stopped after 10 redirects"},
		{"HTTP/a redirect to another host is not followed and succeeds with a warning", httpProbe("/redirect-elsewhere", p), target, true, false, "Probe terminated redirects, Response body: "},
		{"HTTP/a large body is read only up to 10 KiB", httpProbe("/big", p), target, true, false, ""},
		{"HTTP/a request past timeoutSeconds fails", httpProbe("/slow", p), target, false, false, "Client.Timeout exceeded"},
		{"HTTP/headers, Host header, User-Agent and Accept are the kubelet's", httpProbe("/headers", p, func(g *corev1.HTTPGetAction) {
			g.HTTPHeaders = []corev1.HTTPHeader{{Name: "x-custom", Value: "a"}, {Name: "X-Custom", Value: "b"}, {Name: "Host", Value: "web-0.nginx.set.local"}}
		}), target, true, false, ""},
		{"HTTP/a User-Agent header replaces kube-probe and an empty Accept removes it", httpProbe("/overrides", p, func(g *corev1.HTTPGetAction) {
			g.HTTPHeaders = []corev1.HTTPHeader{{Name: "User-Agent", Value: "mine/1"}, {Name: "Accept", Value: ""}}
		}), target, true, false, ""},
		{"HTTP/a named port is resolved from the container's ports", httpProbe("/ok", intstr.FromString("web")), target, true, false, ""},
		{"HTTP/a number written as a string is a port", httpProbe("/ok", intstr.FromString(strconv.Itoa(port))), target, true, false, ""},
		{"HTTP/an unknown named port is Unknown", httpProbe("/ok", intstr.FromString("nope")), target, false, true, "port nope not found"},
		{"HTTP/the Host field replaces the pod IP", httpProbe("/ok", p, func(g *corev1.HTTPGetAction) { g.Host = "127.0.0.1" }), probeTarget{PodIP: "192.0.2.1"}, true, false, ""},
		{"HTTP/HTTPS does not verify the certificate", httpProbe("/ok", intstr.FromInt32(int32(tlsPort)), func(g *corev1.HTTPGetAction) { g.Scheme = corev1.URISchemeHTTPS }), target, true, false, ""},
		{"HTTP/a closed port fails with the dial error", httpProbe("/ok", intstr.FromInt32(int32(closedPort(t)))), target, false, false, "connect: connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := pr.runProbe(context.Background(), tc.probe, tc.target)
			if got.OK != tc.ok || got.Unknown != tc.unknown {
				t.Fatalf("got %+v, want ok %v unknown %v", got, tc.ok, tc.unknown)
			}
			if tc.message == "" && got.Message != "" || !strings.Contains(got.Message, tc.message) {
				t.Fatalf("message %q, want %q", got.Message, tc.message)
			}
		})
	}

	t.Run("HTTP/the warning of a redirect elsewhere carries at most 10 KiB of body", func(t *testing.T) {
		t.Parallel()
		got := pr.runProbe(context.Background(), httpProbe("/redirect-elsewhere-big", p), target)
		body := strings.TrimPrefix(got.Message, "Probe terminated redirects, Response body: ")
		if !got.OK || len(body) != probeMaxOutput {
			t.Fatalf("got ok %v with %d bytes of body", got.OK, len(body))
		}
	})
	t.Run("HTTP/the timeout bounds the attempt", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		pr.runProbe(context.Background(), httpProbe("/slow", p), target)
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("a 1 s probe took %v", d)
		}
	})
}

// closedPort returns a local TCP port that nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

// TestProbeErrorMessage: however the timeout of an attempt is noticed (the
// client's timer, the request's deadline, the connection's deadline), the
// message is the kubelet's.
func TestProbeErrorMessage(t *testing.T) {
	const u = "http://10.88.0.5:80/healthz"
	want := `Get "` + u + `": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"the request's deadline", &url.Error{Op: "Get", URL: u, Err: context.DeadlineExceeded}, want},
		{"the connection's deadline", &url.Error{Op: "Get", URL: u, Err: &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}}, want},
		{"anything else is kept", &url.Error{Op: "Get", URL: u, Err: errors.New("connection reset")}, `Get "` + u + `": connection reset`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := probeErrorMessage(tc.err); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
