package daemon

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// probeMaxRedirects is how many same-host redirects an httpGet probe
// follows, as Go's and the kubelet's default.
const probeMaxRedirects = 10

// newProbeTransport returns the transport every httpGet probe shares. It
// behaves as the kubelet's does (its http.Transport has no keep-alives, no
// proxy, no compression, and TLS without certificate verification: a
// pod's certificate rarely names its IP): one fresh connection per
// request, closed with the response body. It is not an http.Transport
// because that starts two goroutines for every connection, which for a
// host probing a hundred pods is most of the daemon's idle CPU; requests
// are written and responses read by net/http itself.
func newProbeTransport() http.RoundTripper {
	return probeTransport{dial: probeDialer(0)} // the client's timeout bounds the attempt
}

// probeTransport is a RoundTripper that uses each connection for one
// request only.
type probeTransport struct {
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// RoundTrip dials req's host, writes req with "Connection: close" and reads
// the response; closing the response body closes the connection. A request
// whose context ends meanwhile fails.
func (t probeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	addr := req.URL.Host
	if req.URL.Port() == "" {
		port := "80"
		if req.URL.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(req.URL.Hostname(), port)
	}
	conn, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	switch req.URL.Scheme {
	case "https":
		tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ServerName: req.URL.Hostname()}) // as the kubelet's
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(err)
		}
		conn = tc
	case "http":
	default:
		return fail(fmt.Errorf("unsupported protocol scheme %q", req.URL.Scheme))
	}
	out := req.Clone(ctx)
	out.Close = true
	if err := out.Write(conn); err != nil {
		return fail(err)
	}
	res, err := http.ReadResponse(bufio.NewReaderSize(conn, 4<<10), out)
	if err != nil {
		return fail(err)
	}
	res.Body = &connBody{ReadCloser: res.Body, conn: conn, stop: stop}
	return res, nil
}

// connBody is a response body that closes its connection.
type connBody struct {
	io.ReadCloser
	conn net.Conn
	stop func() bool
}

func (b *connBody) Close() error {
	b.stop()
	err := b.ReadCloser.Close()
	if cerr := b.conn.Close(); err == nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	return err
}

// probeHTTP runs one httpGet attempt. It GETs scheme://host:port/path, where
// host is g.Host or the pod IP and a named port is resolved from the
// container's ports, with g's headers, a Host header from them, and the
// kubelet's User-Agent and Accept unless g sets them (an empty Accept
// removes it). A status from 200 to 399 is a success. Redirects to the same
// host name are followed (at most 10); a redirect to another host is not
// followed and the 3xx counts as a success with a warning, as in the
// kubelet. At most 10 KiB of the body is read. The whole exchange is
// bounded by timeout.
func (pr *prober) probeHTTP(ctx context.Context, g *corev1.HTTPGetAction, t probeTarget, timeout time.Duration) probeOutcome {
	port, err := resolveProbePort(g.Port, t.Ports)
	if err != nil {
		return probeOutcome{Unknown: true, Message: err.Error()}
	}
	req, err := newProbeRequest(ctx, g, probeHost(g.Host, t), port)
	if err != nil {
		return probeOutcome{Message: err.Error()}
	}
	client := &http.Client{
		Transport:     pr.transport,
		Timeout:       timeout,
		CheckRedirect: probeRedirects,
	}
	res, err := client.Do(req)
	if err != nil {
		// Every transport error is a failure, timeouts included. Which of
		// the client's timer, the request's deadline and the connection's
		// deadline notices a timeout first is a race, and each words it
		// differently: say it the kubelet's way every time.
		return probeOutcome{Message: probeErrorMessage(err)}
	}
	defer func() { _ = res.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(res.Body, probeMaxOutput))
	if err != nil {
		// The kubelet reports a failed body read as a probe error.
		return probeOutcome{Unknown: true, Message: fmt.Sprintf("reading response body: %v", err)}
	}
	switch {
	case res.StatusCode >= http.StatusOK && res.StatusCode < http.StatusMultipleChoices:
		return probeOutcome{OK: true}
	case res.StatusCode >= http.StatusMultipleChoices && res.StatusCode < http.StatusBadRequest:
		return probeOutcome{OK: true, Message: fmt.Sprintf("Probe terminated redirects, Response body: %s", body)}
	}
	// As in the kubelet, the message never carries the body.
	return probeOutcome{Message: fmt.Sprintf("HTTP probe failed with statuscode: %d", res.StatusCode)}
}

// probeErrorMessage is the message of a failed httpGet attempt: the
// error, or for any timeout the kubelet's `Get "URL": context deadline
// exceeded (Client.Timeout exceeded while awaiting headers)`.
func probeErrorMessage(err error) string {
	var ne net.Error
	timeout := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
	var ue *url.Error
	if !timeout || !errors.As(err, &ue) {
		return err.Error()
	}
	return fmt.Sprintf("%s %q: context deadline exceeded (Client.Timeout exceeded while awaiting headers)", ue.Op, ue.URL)
}

// newProbeRequest builds the GET request of an httpGet probe to host:port,
// as the kubelet's NewRequestForHTTPGetAction does.
func newProbeRequest(ctx context.Context, g *corev1.HTTPGetAction, host string, port int) (*http.Request, error) {
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	u, err := url.Parse(g.Path)
	if err != nil {
		// A broken path is passed along as it is, as the kubelet does.
		u = &url.URL{Path: g.Path}
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))

	headers := make(http.Header, len(g.HTTPHeaders)+2)
	for _, h := range g.HTTPHeaders {
		headers.Add(h.Name, h.Value)
	}
	if _, ok := headers["User-Agent"]; !ok {
		headers.Set("User-Agent", probeUserAgent)
	}
	if _, ok := headers["Accept"]; !ok {
		headers.Set("Accept", "*/*")
	} else if headers.Get("Accept") == "" {
		headers.Del("Accept")
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header = headers
	req.Host = headers.Get("Host")
	return req, nil
}

// probeRedirects is the redirect policy of httpGet probes: follow redirects
// to the same host name (any port or scheme), at most probeMaxRedirects of
// them, and stop at a redirect to another host, returning that 3xx response.
func probeRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= probeMaxRedirects {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}
