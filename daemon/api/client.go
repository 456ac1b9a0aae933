package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/errdefs"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/configs"
)

// Client talks to the daemon over its unix socket. It is safe for
// concurrent use.
type Client struct {
	socket string
	hc     *http.Client
}

// NewClient returns a client for the daemon listening on socket. It does
// not connect until a call is made.
func NewClient(socket string) *Client {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}
	return &Client{
		socket: socket,
		hc:     &http.Client{Transport: &http.Transport{DialContext: dial, DisableCompression: true}},
	}
}

// Socket returns the socket path the client talks to.
func (c *Client) Socket() string { return c.socket }

// ApplyError is returned by Apply and Delete when the daemon refuses the
// manifests; Problems lists every problem, each with its file, document,
// object and field path. It wraps errdefs.ErrInvalidArgument.
type ApplyError struct {
	Message  string
	Problems []configs.Problem
}

func (e *ApplyError) Error() string { return e.Message }

// Unwrap makes errors.Is(err, errdefs.ErrInvalidArgument) hold.
func (e *ApplyError) Unwrap() error { return errdefs.ErrInvalidArgument }

// Apply sends manifests to the daemon, which validates all of them before it
// stores any: one bad document changes nothing.
func (c *Client) Apply(ctx context.Context, req ApplyRequest) (ApplyResponse, error) {
	var resp ApplyResponse
	err := c.do(ctx, http.MethodPost, "/v1/apply", nil, req, &resp)
	return resp, err
}

// Delete deletes the objects the manifests name.
func (c *Client) Delete(ctx context.Context, req ApplyRequest) (ApplyResponse, error) {
	var resp ApplyResponse
	err := c.do(ctx, http.MethodPost, "/v1/delete", nil, req, &resp)
	return resp, err
}

// DeleteStatefulSet deletes set ns/name; its pods go, its volumes stay
// unless its persistentVolumeClaimRetentionPolicy.whenDeleted is Delete.
// A set a manifest file owns is refused (errdefs.ErrConflict) unless force.
func (c *Client) DeleteStatefulSet(ctx context.Context, ns, name string, force bool) error {
	var q url.Values
	if force {
		q = url.Values{"force": {"true"}}
	}
	return c.do(ctx, http.MethodDelete, objectPath(ns, "statefulsets", name), q, nil, nil)
}

// Status returns the daemon's health at a glance.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var out Status
	return out, c.do(ctx, http.MethodGet, "/v1/status", nil, nil, &out)
}

// Manifests lists the files of the daemon's manifest directory.
func (c *Client) Manifests(ctx context.Context) ([]Manifest, error) {
	var out []Manifest
	return out, c.do(ctx, http.MethodGet, "/v1/manifests", nil, nil, &out)
}

// DeletePod deletes pod ns/name; its set creates it again, as in Kubernetes.
func (c *Client) DeletePod(ctx context.Context, ns, name string) error {
	return c.do(ctx, http.MethodDelete, objectPath(ns, "pods", name), nil, nil, nil)
}

// DeleteVolume deletes volume ns/name and its data; it fails with an
// errdefs.ErrConflict error while a pod uses the volume.
func (c *Client) DeleteVolume(ctx context.Context, ns, name string) error {
	return c.do(ctx, http.MethodDelete, objectPath(ns, "volumes", name), nil, nil, nil)
}

// Scale sets the replicas of set ns/name (force: even if a manifest file
// owns it).
func (c *Client) Scale(ctx context.Context, ns, name string, replicas int32, force bool) error {
	return c.do(ctx, http.MethodPost, objectPath(ns, "statefulsets", name)+"/scale", nil, ScaleRequest{Replicas: replicas, Force: force}, nil)
}

// StatefulSets lists the sets of namespace ns ("" for all).
func (c *Client) StatefulSets(ctx context.Context, ns string) ([]appsv1.StatefulSet, error) {
	var out []appsv1.StatefulSet
	return out, c.do(ctx, http.MethodGet, "/v1/statefulsets", nsQuery(ns), nil, &out)
}

// StatefulSet returns set ns/name.
func (c *Client) StatefulSet(ctx context.Context, ns, name string) (*appsv1.StatefulSet, error) {
	var out appsv1.StatefulSet
	if err := c.do(ctx, http.MethodGet, objectPath(ns, "statefulsets", name), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Pods lists the pods of namespace ns ("" for all).
func (c *Client) Pods(ctx context.Context, ns string) ([]corev1.Pod, error) {
	var out []corev1.Pod
	return out, c.do(ctx, http.MethodGet, "/v1/pods", nsQuery(ns), nil, &out)
}

// Pod returns pod ns/name.
func (c *Client) Pod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	var out corev1.Pod
	if err := c.do(ctx, http.MethodGet, objectPath(ns, "pods", name), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Volumes lists the per-ordinal volumes of namespace ns ("" for all) as
// PersistentVolumeClaims; the host directory is in VolumePathAnnotation.
func (c *Client) Volumes(ctx context.Context, ns string) ([]corev1.PersistentVolumeClaim, error) {
	var out []corev1.PersistentVolumeClaim
	return out, c.do(ctx, http.MethodGet, "/v1/volumes", nsQuery(ns), nil, &out)
}

// Services lists the Services of namespace ns ("" for all).
func (c *Client) Services(ctx context.Context, ns string) ([]corev1.Service, error) {
	var out []corev1.Service
	return out, c.do(ctx, http.MethodGet, "/v1/services", nsQuery(ns), nil, &out)
}

// AllRevisions lists the ControllerRevisions of every set of namespace ns
// ("" for all), by set, oldest first.
func (c *Client) AllRevisions(ctx context.Context, ns string) ([]appsv1.ControllerRevision, error) {
	var out []appsv1.ControllerRevision
	return out, c.do(ctx, http.MethodGet, "/v1/revisions", nsQuery(ns), nil, &out)
}

// Revisions lists the ControllerRevisions of set ns/name, oldest first.
func (c *Client) Revisions(ctx context.Context, ns, name string) ([]appsv1.ControllerRevision, error) {
	var out []appsv1.ControllerRevision
	return out, c.do(ctx, http.MethodGet, objectPath(ns, "statefulsets", name)+"/revisions", nil, nil, &out)
}

// Rollout changes the pod template of set ns/name as req says and returns
// what happened, in kubectl's words.
func (c *Client) Rollout(ctx context.Context, ns, name string, req RolloutRequest) (string, error) {
	var out RolloutResponse
	err := c.do(ctx, http.MethodPost, objectPath(ns, "statefulsets", name)+"/rollout", nil, req, &out)
	return out.Result, err
}

// DNSRecords lists the records the DNS server answers with: all of them,
// or, with name, those of the pod or service of that name or whose owner
// name is name.
func (c *Client) DNSRecords(ctx context.Context, name string) ([]DNSRecord, error) {
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	var out []DNSRecord
	return out, c.do(ctx, http.MethodGet, "/v1/dns", q, nil, &out)
}

// Events lists events, oldest first, of namespace ns ("" for all), and
// only those about the named object when kind and name are given.
func (c *Client) Events(ctx context.Context, ns, kind, name string) ([]corev1.Event, error) {
	q := nsQuery(ns)
	if kind != "" {
		q.Set("kind", kind)
	}
	if name != "" {
		q.Set("name", name)
	}
	var out []corev1.Event
	return out, c.do(ctx, http.MethodGet, "/v1/events", q, nil, &out)
}

// Describe returns what `describe` shows for resource ("statefulsets" or
// "pods") ns/name. Its Object, Pods, Volumes and Events are raw JSON of
// the Kubernetes shapes; decode them with DecodeDescribe.
func (c *Client) Describe(ctx context.Context, resource, ns, name string) (RawDescribe, error) {
	var out RawDescribe
	return out, c.do(ctx, http.MethodGet, objectPath(ns, resource, name)+"/describe", nil, nil, &out)
}

// RawDescribe is Describe as received: JSON to decode into the shapes the
// resource uses.
type RawDescribe struct {
	Object  json.RawMessage `json:"object"`
	Pods    json.RawMessage `json:"pods,omitempty"`
	Volumes json.RawMessage `json:"volumes,omitempty"`
	Events  json.RawMessage `json:"events,omitempty"`
	Waiting string          `json:"waiting,omitempty"`
	// DNSNames are the names the DNS server answers with the pod's IP.
	DNSNames []string `json:"dnsNames,omitempty"`
}

// Watch streams changes of resource ("statefulsets", "pods", "volumes" or
// "events") in namespace ns ("" for all), starting with the present
// objects as ADDED, and calls fn for each until ctx ends, fn returns an
// error, or the daemon goes away. The event's Object is raw JSON.
func (c *Client) Watch(ctx context.Context, resource, ns string, fn func(ev RawWatchEvent) error) error {
	return c.watch(ctx, resource, ns, false, fn)
}

// WatchBookmarked is Watch with one more event, of type Bookmark, right
// after the objects present when the watch started (as Kubernetes marks
// the end of a watch's initial events): from then on fn has seen the whole
// list. The bookmark's Object carries no object.
func (c *Client) WatchBookmarked(ctx context.Context, resource, ns string, fn func(ev RawWatchEvent) error) error {
	return c.watch(ctx, resource, ns, true, fn)
}

// Bookmark is the type of the watch event that ends the initial events.
const Bookmark = "BOOKMARK"

func (c *Client) watch(ctx context.Context, resource, ns string, bookmark bool, fn func(ev RawWatchEvent) error) error {
	q := nsQuery(ns)
	q.Set("watch", "true")
	if bookmark {
		q.Set("allowWatchBookmarks", "true")
	}
	resp, err := c.send(ctx, http.MethodGet, "/v1/"+resource, q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var ev RawWatchEvent
		if err := dec.Decode(&ev); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("watching %s: the daemon closed the stream: %w", resource, errdefs.ErrUnavailable)
			}
			return fmt.Errorf("watching %s: %w", resource, err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}

// RawWatchEvent is a WatchEvent as received.
type RawWatchEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// LogOptions select what Logs returns, as kubectl logs' flags do.
type LogOptions struct {
	Container  string
	Follow     bool
	Tail       int // -1: everything
	Previous   bool
	Timestamps bool
}

// Logs copies the log of a container of pod ns/name to w, following it
// until ctx ends when opts.Follow is set.
func (c *Client) Logs(ctx context.Context, ns, name string, opts LogOptions, w io.Writer) error {
	q := url.Values{}
	if opts.Container != "" {
		q.Set("container", opts.Container)
	}
	q.Set("follow", strconv.FormatBool(opts.Follow))
	q.Set("tailLines", strconv.Itoa(opts.Tail))
	q.Set("previous", strconv.FormatBool(opts.Previous))
	q.Set("timestamps", strconv.FormatBool(opts.Timestamps))
	resp, err := c.send(ctx, http.MethodGet, objectPath(ns, "pods", name)+"/log", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil && ctx.Err() == nil {
		return fmt.Errorf("reading logs of %s/%s: %w", ns, name, err)
	}
	return nil
}

// ExecOptions say what to run in a container and how.
type ExecOptions struct {
	Container string
	Command   []string
	Stdin     bool
	TTY       bool
}

// Exec runs a command in a container of pod ns/name, copying stdin (when
// opts.Stdin) to it and its output to stdout and stderr, and returns its
// exit code. resize (may be nil) delivers terminal size changes.
func (c *Client) Exec(ctx context.Context, ns, name string, opts ExecOptions, stdin io.Reader, stdout, stderr io.Writer, resize <-chan TermSize) (int, error) {
	q := url.Values{}
	if opts.Container != "" {
		q.Set("container", opts.Container)
	}
	for _, arg := range opts.Command {
		q.Add("command", arg)
	}
	q.Set("stdin", strconv.FormatBool(opts.Stdin))
	q.Set("tty", strconv.FormatBool(opts.TTY))

	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return 0, c.unreachable(err)
	}
	defer conn.Close()
	path := objectPath(ns, "pods", name) + "/exec?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://setlet"+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "setlet-exec")
	if err := req.Write(conn); err != nil {
		return 0, c.unreachable(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return 0, fmt.Errorf("exec in %s/%s: %w", ns, name, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		return 0, decodeError(resp)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var wmu sync.Mutex
	send := func(ch byte, payload []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return WriteFrame(conn, ch, payload)
	}
	if opts.Stdin && stdin != nil {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := stdin.Read(buf)
				if n > 0 && send(ExecStdin, buf[:n]) != nil {
					return
				}
				if err != nil {
					_ = send(ExecStdin, nil)
					return
				}
			}
		}()
	}
	if resize != nil {
		go func() {
			for size := range resize {
				b, _ := json.Marshal(size)
				if send(ExecResize, b) != nil {
					return
				}
			}
		}()
	}
	for {
		ch, payload, err := ReadFrame(br)
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, fmt.Errorf("exec in %s/%s: connection lost: %w", ns, name, err)
		}
		switch ch {
		case ExecStdout:
			if _, err := stdout.Write(payload); err != nil {
				return 0, err
			}
		case ExecStderr:
			if _, err := stderr.Write(payload); err != nil {
				return 0, err
			}
		case ExecExit:
			var st ExecExitStatus
			if err := json.Unmarshal(payload, &st); err != nil {
				return 0, fmt.Errorf("exec in %s/%s: bad exit frame: %w", ns, name, err)
			}
			if st.Error != "" {
				return st.Code, fmt.Errorf("exec in %s/%s: %s", ns, name, st.Error)
			}
			return st.Code, nil
		}
	}
}

// WriteFrame writes one exec frame: channel, length, payload.
func WriteFrame(w io.Writer, ch byte, payload []byte) error {
	var hdr [5]byte
	hdr[0] = ch
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// maxFrame bounds an exec frame so a broken peer cannot make the reader
// allocate without limit.
const maxFrame = 1 << 20

// ReadFrame reads one exec frame.
func ReadFrame(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("exec frame of %d bytes is larger than %d", n, maxFrame)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return hdr[0], payload, nil
}

// Images lists containerd's images in setlet's namespace.
func (c *Client) Images(ctx context.Context) ([]Image, error) {
	var out []Image
	return out, c.do(ctx, http.MethodGet, "/v1/images", nil, nil, &out)
}

// ImportImages sends an OCI or docker-save archive to the daemon, which
// imports it into containerd.
func (c *Client) ImportImages(ctx context.Context, archive io.Reader) ([]Image, error) {
	resp, err := c.send(ctx, http.MethodPost, "/v1/images/import", nil, archive)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []Image
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("reading import result: %w", err)
	}
	return out, nil
}

// PullImage pulls ref from its registry.
func (c *Client) PullImage(ctx context.Context, ref string) (Image, error) {
	var out Image
	return out, c.do(ctx, http.MethodPost, "/v1/images/pull", nil, PullRequest{Ref: ref}, &out)
}

// Version returns the daemon's version information.
func (c *Client) Version(ctx context.Context) (VersionInfo, error) {
	var out VersionInfo
	return out, c.do(ctx, http.MethodGet, "/v1/version", nil, nil, &out)
}

// do sends a JSON request and decodes a JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.send(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("reading answer to %s %s: %w", method, path, err)
	}
	return nil
}

// send sends a request and returns a successful response, or the error the
// daemon answered with.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, body io.Reader) (*http.Response, error) {
	u := "http://setlet" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, c.unreachable(err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

// unreachable explains a failed connection: usually no daemon is running.
func (c *Client) unreachable(err error) error {
	reason := err.Error()
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
		reason = "is it running? (start it with `sudo setlet daemon`)"
	case errors.Is(err, syscall.EACCES):
		reason = "permission denied: the API socket is root-only"
	}
	return &classError{msg: fmt.Sprintf("cannot reach the setlet daemon at %s: %s", c.socket, reason), class: errdefs.ErrUnavailable}
}

// classError is an error of an errdefs class whose message already says
// everything: errors.Is sees the class, the message does not repeat it.
type classError struct {
	msg   string
	class error
}

func (e *classError) Error() string { return e.msg }
func (e *classError) Unwrap() error { return e.class }

// decodeError turns an error response into an error of the class its
// status says.
func decodeError(resp *http.Response) error {
	var body ErrorBody
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err := json.Unmarshal(raw, &body); err != nil || body.Error.Message == "" {
		body.Error.Message = strings.TrimSpace(string(raw))
		if body.Error.Message == "" {
			body.Error.Message = resp.Status
		}
	}
	if len(body.Error.Problems) > 0 {
		return &ApplyError{Message: body.Error.Message, Problems: body.Error.Problems}
	}
	return &classError{msg: body.Error.Message, class: ClassOf(resp.StatusCode)}
}

// ClassOf maps an HTTP status to the errdefs class it stands for.
func ClassOf(status int) error {
	switch status {
	case http.StatusBadRequest:
		return errdefs.ErrInvalidArgument
	case http.StatusNotFound:
		return errdefs.ErrNotFound
	case http.StatusConflict:
		return errdefs.ErrConflict
	case http.StatusPreconditionFailed:
		return errdefs.ErrFailedPrecondition
	case http.StatusServiceUnavailable:
		return errdefs.ErrUnavailable
	}
	return errdefs.ErrUnknown
}

// StatusOf maps an error to the HTTP status of its class, and names it.
func StatusOf(err error) (int, string) {
	switch {
	case errdefs.IsInvalidArgument(err):
		return http.StatusBadRequest, "InvalidArgument"
	case errdefs.IsNotFound(err):
		return http.StatusNotFound, "NotFound"
	case errdefs.IsAlreadyExists(err):
		return http.StatusConflict, "AlreadyExists"
	case errdefs.IsConflict(err):
		return http.StatusConflict, "Conflict"
	case errdefs.IsFailedPrecondition(err):
		return http.StatusPreconditionFailed, "FailedPrecondition"
	case errdefs.IsUnavailable(err):
		return http.StatusServiceUnavailable, "Unavailable"
	}
	return http.StatusInternalServerError, "Internal"
}

func objectPath(ns, resource, name string) string {
	return "/v1/namespaces/" + url.PathEscape(ns) + "/" + resource + "/" + url.PathEscape(name)
}

func nsQuery(ns string) url.Values {
	q := url.Values{}
	if ns != "" {
		q.Set("namespace", ns)
	}
	return q
}
