package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/errdefs"
)

// execDrainTimeout is how long Exec waits, after the process exited, for
// its output to end: a background child can hold it open for ever.
const execDrainTimeout = 2 * time.Second

// execCleanupTimeout bounds killing and deleting an exec process once the
// caller's context has ended.
const execCleanupTimeout = 10 * time.Second

// ExecConfig describes a process to run in a running container.
type ExecConfig struct {
	// Cmd is the argv; it is not run through a shell.
	Cmd []string
	// Env ("NAME=value") is added to the container's environment,
	// replacing variables of the same name.
	Env []string
	// TTY gives the process a terminal: Stdout receives it, Stderr is
	// unused, TERM defaults to xterm.
	TTY bool
	// Stdin, when not nil, is copied to the process's standard input,
	// which is closed when Stdin returns io.EOF. Exec may return while a
	// Read on Stdin is still pending; that Read's data is dropped.
	Stdin io.Reader
	// Stdout and Stderr receive the output (nil discards it).
	Stdout, Stderr io.Writer
	// Resize, when not nil, delivers terminal size changes (with TTY).
	Resize <-chan TermSize
}

// TermSize is the size of a terminal in characters.
type TermSize struct{ Width, Height uint16 }

// Exec runs cfg.Cmd in the running container id, with the container's
// user, working directory and environment, and returns its exit code once
// it exited and its output was copied. Ending ctx kills the process and
// returns ctx's error (exit code -1): exec probes pass a timeout context.
// A container that does not run is an errdefs.ErrFailedPrecondition-wrapped
// error, a missing one errdefs.ErrNotFound. Exec is safe for concurrent
// use, also on one container.
func (c *Client) Exec(ctx context.Context, id string, cfg ExecConfig) (int, error) {
	if len(cfg.Cmd) == 0 {
		return -1, fmt.Errorf("exec in container %q: empty command: %w", id, errdefs.ErrInvalidArgument)
	}
	ctx = c.nsCtx(ctx)
	if _, err := c.ownContainer(ctx, id); err != nil {
		return -1, fmt.Errorf("exec: %w", err)
	}
	ctr, err := c.cd.LoadContainer(ctx, id)
	if err != nil {
		return -1, fmt.Errorf("exec in container %q: %w", id, err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return -1, fmt.Errorf("exec in container %q: it has no task: %w", id, errdefs.ErrFailedPrecondition)
		}
		return -1, fmt.Errorf("exec in container %q: %w", id, err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return -1, fmt.Errorf("exec in container %q: %w", id, err)
	}
	if st.Status != containerd.Running {
		return -1, fmt.Errorf("exec in container %q: its task is %s: %w", id, st.Status, errdefs.ErrFailedPrecondition)
	}
	spec, err := ctr.Spec(ctx)
	if err != nil {
		return -1, fmt.Errorf("exec in container %q: reading its spec: %w", id, err)
	}
	pspec := *spec.Process
	pspec.Args = append([]string(nil), cfg.Cmd...)
	pspec.CommandLine = ""
	pspec.Terminal = cfg.TTY
	pspec.ConsoleSize = nil
	env := append([]string(nil), pspec.Env...)
	if cfg.TTY {
		env = append(env, "TERM=xterm")
	}
	pspec.Env = mergeEnv(append(env, cfg.Env...))

	execID, err := newExecID()
	if err != nil {
		return -1, fmt.Errorf("exec in container %q: %w", id, err)
	}
	dir := filepath.Join(c.containerFIFODir(id), execID)
	var stdin *eofReader
	if cfg.Stdin != nil {
		stdin = &eofReader{r: cfg.Stdin, eof: make(chan struct{})}
	}
	creator := func(string) (cio.IO, error) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		fc := cio.Config{Terminal: cfg.TTY}
		var in io.Reader
		if stdin != nil {
			fc.Stdin, in = filepath.Join(dir, "stdin"), stdin
		}
		// containerd 1.6's shim needs stdout and stderr both or neither
		// (and both when there is stdin): what nobody reads is drained.
		out, errw := cfg.Stdout, cfg.Stderr
		if out != nil || errw != nil || stdin != nil {
			if out == nil {
				out = io.Discard
			}
			if errw == nil {
				errw = io.Discard
			}
			fc.Stdout = filepath.Join(dir, "stdout")
			if !cfg.TTY {
				fc.Stderr = filepath.Join(dir, "stderr")
			}
		}
		return cio.NewAttach(cio.WithStreams(in, out, errw))(
			cio.NewFIFOSet(fc, func() error { return os.RemoveAll(dir) }))
	}
	// Creating and starting the process is not cut short by ctx: an RPC
	// cancelled midway could leave a process behind that nothing deletes.
	// ctx is looked at in between, and while the process runs.
	bg := context.WithoutCancel(ctx)
	opCtx, cancelOp := context.WithTimeout(bg, execCleanupTimeout)
	defer cancelOp()
	proc, err := task.Exec(opCtx, execID, &pspec, creator)
	if err != nil {
		os.RemoveAll(dir)
		return -1, fmt.Errorf("exec in container %q: %w", id, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(bg, execCleanupTimeout)
		defer cancel()
		if _, err := proc.Delete(dctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			c.log.Warn("deleting an exec process", "id", id, "exec", execID, "err", err)
		}
	}()
	wctx, cancelWait := context.WithCancel(bg)
	var wg sync.WaitGroup
	defer func() {
		cancelWait()
		wg.Wait()
	}()
	exited, err := proc.Wait(wctx)
	if err != nil {
		return -1, fmt.Errorf("exec in container %q: %w", id, err)
	}
	if err := ctx.Err(); err != nil {
		return -1, fmt.Errorf("exec in container %q: %q: %w", id, cfg.Cmd[0], err)
	}
	if err := proc.Start(opCtx); err != nil {
		return -1, fmt.Errorf("exec in container %q: starting %q: %w", id, cfg.Cmd[0], err)
	}
	if cfg.Resize != nil && cfg.TTY {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-wctx.Done():
					return
				case size, ok := <-cfg.Resize:
					if !ok {
						return
					}
					if err := proc.Resize(wctx, uint32(size.Width), uint32(size.Height)); err != nil && !errdefs.IsNotFound(err) {
						c.log.Debug("resizing an exec terminal", "id", id, "err", err)
					}
				}
			}
		}()
	}
	if stdin != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-wctx.Done():
			case <-stdin.eof:
				if err := proc.CloseIO(wctx, containerd.WithStdinCloser); err != nil && !errdefs.IsNotFound(err) {
					c.log.Debug("closing an exec's stdin", "id", id, "err", err)
				}
			}
		}()
	}
	select {
	case s := <-exited:
		code, _, err := s.Result()
		c.drain(proc)
		if err != nil {
			return -1, fmt.Errorf("exec in container %q: waiting for %q: %w", id, cfg.Cmd[0], err)
		}
		return int(code), nil
	case <-ctx.Done():
		kctx, cancel := context.WithTimeout(bg, execCleanupTimeout)
		defer cancel()
		if err := proc.Kill(kctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
			return -1, fmt.Errorf("exec in container %q: killing %q: %w", id, cfg.Cmd[0], err)
		}
		select {
		case <-exited:
		case <-kctx.Done():
		}
		c.drain(proc)
		return -1, fmt.Errorf("exec in container %q: %q: %w", id, cfg.Cmd[0], ctx.Err())
	}
}

// drain waits a little for the output of an exited exec process to end.
func (c *Client) drain(proc containerd.Process) {
	iop := proc.IO()
	if iop == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		iop.Wait()
		close(done)
	}()
	t := time.NewTimer(execDrainTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		// Deleting the process cancels the copying.
	}
}

// eofReader reports through eof when its reader has ended.
type eofReader struct {
	r    io.Reader
	once sync.Once
	eof  chan struct{}
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(func() { close(e.eof) })
	}
	return n, err
}

func newExecID() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("making an exec ID: %w", err)
	}
	return "exec-" + hex.EncodeToString(b[:]), nil
}
