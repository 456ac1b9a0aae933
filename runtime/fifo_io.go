package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"

	"github.com/containerd/containerd/cio"
	"github.com/containerd/fifo"
)

// copyBufferSize is the buffer of one stream's copy. containerd's cio uses
// 32 KiB per stream; the CRI log writer buffers lines itself, so a small
// buffer costs nothing in throughput and saves 56 KiB a container.
const copyBufferSize = 4 << 10

// fifoIO is the cio.IO of one task's stdio: it copies the task's stdout and
// stderr FIFOs into writers, and stdin (when given) into the stdin FIFO,
// with one small buffer and one goroutine per stream. It replaces cio's
// copier, which gives every stream 32 KiB. The FIFOs are opened at the
// paths of the FIFO set (fixed per container) and never removed here.
type fifoIO struct {
	config  cio.Config
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	closers []io.Closer
}

var _ cio.IO = (*fifoIO)(nil)

// newFIFOIO opens the FIFOs of cfg and starts copying: stdin to the
// task, the task's stdout and stderr to stdout and stderr (which may be
// io.Discard, never nil when the FIFO exists).
func newFIFOIO(cfg cio.Config, stdin io.Reader, stdout, stderr io.Writer) (*fifoIO, error) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fifoIO{config: cfg, cancel: cancel}
	if cfg.Stdin != "" {
		w, err := fifo.OpenFifo(ctx, cfg.Stdin, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o700)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("opening %s: %w", cfg.Stdin, err)
		}
		f.closers = append(f.closers, w)
		go func() {
			buf := make([]byte, copyBufferSize)
			_, _ = io.CopyBuffer(w, stdin, buf)
			w.Close()
		}()
	}
	streams := []struct {
		path string
		w    io.Writer
	}{{cfg.Stdout, stdout}}
	if !cfg.Terminal {
		streams = append(streams, struct {
			path string
			w    io.Writer
		}{cfg.Stderr, stderr})
	}
	for _, s := range streams {
		if s.path == "" {
			continue
		}
		r, err := fifo.OpenFifo(ctx, s.path, syscall.O_RDONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o700)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("opening %s: %w", s.path, err)
		}
		f.closers = append(f.closers, r)
		f.wg.Add(1)
		go func(r io.ReadCloser, w io.Writer) {
			defer f.wg.Done()
			buf := make([]byte, copyBufferSize)
			// The copy ends at EOF (the task's side closed) or with an
			// error once Close closed this side: either way the stream is
			// over.
			_, _ = io.CopyBuffer(w, r, buf)
			r.Close()
		}(r, s.w)
	}
	return f, nil
}

// Config returns the FIFO paths the task is created with.
func (f *fifoIO) Config() cio.Config { return f.config }

// Cancel stops a FIFO open that is still waiting for its peer.
func (f *fifoIO) Cancel() { f.cancel() }

// Wait returns once the output streams have ended: the task's side of the
// FIFOs was closed (the task and every process holding its output are
// gone) or Close cut them.
func (f *fifoIO) Wait() { f.wg.Wait() }

// Close closes this side of every FIFO, which ends the copies; the FIFOs
// themselves stay for a later attach.
func (f *fifoIO) Close() error {
	f.cancel()
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for _, c := range f.closers {
		if err := c.Close(); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			errs = append(errs, err)
		}
	}
	f.closers = nil
	return errors.Join(errs...)
}
