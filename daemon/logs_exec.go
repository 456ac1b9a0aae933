package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/daemon/api"
	"github.com/setlet/setlet/runtime"
)

// probeExec runs exec probes through the runtime, keeping at most 10 KiB
// of their output, as kubelet does.
type probeExec struct{ ex execService }

func (p probeExec) ExecProbe(ctx context.Context, id string, cmd []string) ([]byte, int, error) {
	out := &limitedBuffer{max: 10 << 10}
	code, err := p.ex.Exec(ctx, id, runtime.ExecConfig{Cmd: cmd, Stdout: out, Stderr: out})
	return out.Bytes(), code, err
}

// limitedBuffer keeps the first max bytes written to it and drops the rest.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}

// pickContainer returns the status of the container a logs or exec
// request means: the named one, or the only one; kubectl's errors
// otherwise.
func pickContainer(pod *corev1.Pod, name string) (*corev1.Container, error) {
	if name == "" {
		if len(pod.Spec.Containers) == 1 {
			return &pod.Spec.Containers[0], nil
		}
		names := make([]string, len(pod.Spec.Containers))
		for i, c := range pod.Spec.Containers {
			names[i] = c.Name
		}
		return nil, fmt.Errorf("a container name must be specified for pod %s, choose one of: [%s]: %w", pod.Name, strings.Join(names, " "), errdefs.ErrInvalidArgument)
	}
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i], nil
			}
		}
	}
	return nil, fmt.Errorf("container %s is not valid for pod %s: %w", name, pod.Name, errdefs.ErrNotFound)
}

// statusOf returns the recorded status of container name of pod.
func statusOf(pod *corev1.Pod, name string) (corev1.ContainerStatus, bool) {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for _, cs := range list {
			if cs.Name == name {
				return cs, true
			}
		}
	}
	return corev1.ContainerStatus{}, false
}

// requestContainer returns the pod a logs or exec request names, the
// container its "container" parameter picks (the only one by default) and
// that container's status.
func (d *Daemon) requestContainer(r *http.Request) (*corev1.Pod, *corev1.Container, corev1.ContainerStatus, error) {
	pod, err := d.store.Pod(r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		return nil, nil, corev1.ContainerStatus{}, err
	}
	c, err := pickContainer(pod, r.URL.Query().Get("container"))
	if err != nil {
		return nil, nil, corev1.ContainerStatus{}, err
	}
	cs, _ := statusOf(pod, c.Name)
	return pod, c, cs, nil
}

// handleLogs streams a container's CRI log as kubectl logs shows it. With
// follow it keeps streaming until the client leaves, the container is
// restarted or the pod is deleted.
func (d *Daemon) handleLogs(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	q := r.URL.Query()
	pod, c, cs, err := d.requestContainer(r)
	if err != nil {
		writeError(w, err)
		return
	}
	// The newest attempt with a log: while a container waits to restart
	// (CrashLoopBackOff) that is the run that just ended, as in kubelet.
	attempt := cs.RestartCount
	if _, err := os.Stat(d.kubelet.logPath(pod, c.Name, attempt)); err != nil && attempt > 0 {
		attempt--
	}
	previous, _ := strconv.ParseBool(q.Get("previous"))
	if previous {
		if attempt == 0 {
			writeError(w, fmt.Errorf("previous terminated container %q in pod %q not found: %w", c.Name, name, errdefs.ErrNotFound))
			return
		}
		attempt--
	}
	opts := runtime.LogOptions{Tail: -1}
	if n, err := strconv.Atoi(q.Get("tailLines")); err == nil {
		opts.Tail = n
	}
	opts.Follow, _ = strconv.ParseBool(q.Get("follow"))
	opts.Follow = opts.Follow && !previous
	opts.Timestamps, _ = strconv.ParseBool(q.Get("timestamps"))

	path := d.kubelet.logPath(pod, c.Name, attempt)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	out := flushWriter{w: w}
	var done chan struct{}
	if opts.Follow {
		done = make(chan struct{})
		sub, cancel := d.hub.subscribe()
		defer cancel()
		go func() {
			defer close(done)
			for {
				select {
				case <-r.Context().Done():
					return
				case <-d.done:
					return
				case ch := <-sub.ch:
					if ch.Kind != "Pod" || ch.Namespace != ns || ch.Name != name {
						continue
					}
					cur, err := d.store.Pod(ns, name)
					if err != nil || cur.UID != pod.UID {
						return
					}
					if now, _ := statusOf(cur, c.Name); now.RestartCount != cs.RestartCount {
						return
					}
				}
			}
		}()
	}
	if err := runtime.ReadLogs(r.Context(), path, opts, out, done); err != nil && r.Context().Err() == nil {
		fmt.Fprintf(out, "\nsetlet: reading log %s: %v\n", path, err)
	}
}

// flushWriter flushes after every write, so that followed logs arrive as
// they are written.
type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

// handleExec upgrades the connection and runs a command in a container,
// carrying stdin, stdout, stderr, terminal resizes and the exit status in
// the frames api describes.
func (d *Daemon) handleExec(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	q := r.URL.Query()
	_, c, cs, err := d.requestContainer(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if cs.State.Running == nil || cs.ContainerID == "" {
		writeError(w, fmt.Errorf("container %s of pod %s is not running: %w", c.Name, name, errdefs.ErrFailedPrecondition))
		return
	}
	id := strings.TrimPrefix(cs.ContainerID, "containerd://")
	cmd := q["command"]
	if len(cmd) == 0 {
		writeError(w, fmt.Errorf("exec needs a command: %w", errdefs.ErrInvalidArgument))
		return
	}
	withStdin, _ := strconv.ParseBool(q.Get("stdin"))
	tty, _ := strconv.ParseBool(q.Get("tty"))

	hj, ok := w.(http.Hijacker)
	if !ok {
		writeError(w, fmt.Errorf("connection cannot be upgraded: %w", errdefs.ErrUnavailable))
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: setlet-exec\r\n\r\n")
	if err := buf.Flush(); err != nil {
		return
	}

	var wmu sync.Mutex
	send := func(ch byte, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return api.WriteFrame(conn, ch, p)
	}
	ctx, cancel := context.WithCancel(d.ctx)
	defer cancel()
	stdinR, stdinW := io.Pipe()
	resize := make(chan runtime.TermSize, 4)
	go readExecFrames(bufio.NewReader(buf), stdinW, resize, cancel)

	cfg := runtime.ExecConfig{
		Cmd: cmd, TTY: tty, Resize: resize,
		Stdout: frameWriter{ch: api.ExecStdout, send: send},
		Stderr: frameWriter{ch: api.ExecStderr, send: send},
	}
	if withStdin {
		cfg.Stdin = stdinR
	}
	code, err := d.rt.Exec(ctx, id, cfg)
	st := api.ExecExitStatus{Code: code}
	if err != nil {
		st.Error = err.Error()
	}
	b, _ := json.Marshal(st)
	_ = send(api.ExecExit, b)
	stdinR.Close()
}

// readExecFrames copies the client's frames: stdin into stdin (an empty
// frame closes it) and resizes into resize; a lost connection cancels the
// exec.
func readExecFrames(r io.Reader, stdin *io.PipeWriter, resize chan<- runtime.TermSize, cancel context.CancelFunc) {
	defer close(resize)
	for {
		ch, payload, err := api.ReadFrame(r)
		if err != nil {
			stdin.Close()
			cancel()
			return
		}
		switch ch {
		case api.ExecStdin:
			if len(payload) == 0 {
				stdin.Close()
				continue
			}
			if _, err := stdin.Write(payload); err != nil {
				continue
			}
		case api.ExecResize:
			var size api.TermSize
			if json.Unmarshal(payload, &size) == nil {
				select {
				case resize <- runtime.TermSize{Width: size.Width, Height: size.Height}:
				default:
				}
			}
		}
	}
}

// frameWriter sends what is written to it as frames on one channel.
type frameWriter struct {
	ch   byte
	send func(byte, []byte) error
}

func (f frameWriter) Write(p []byte) (int, error) {
	if err := f.send(f.ch, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
