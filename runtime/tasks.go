package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// drainTimeout is how long log copying may go on after a task exited before
// it is cut: a process that left the task's cgroup could hold its output
// open for ever.
const drainTimeout = 5 * time.Second

// StartContainer creates the task of container id, with its stdout and
// stderr copied into the container's LogPath in CRI format, starts it and
// returns its pid. It is idempotent: a task that already runs is left
// alone (its log copying attached if this Client has not yet) and its pid
// returned; a task that was created but not started is started. A task
// that has exited is an errdefs.ErrFailedPrecondition-wrapped error: the
// caller removes the container first. A missing container, or one of
// another instance, is an errdefs.ErrNotFound-wrapped error.
func (c *Client) StartContainer(ctx context.Context, id string) (uint32, error) {
	ctx = c.nsCtx(ctx)
	unlock := c.locks.lock(id)
	defer unlock()
	info, err := c.ownContainer(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("starting: %w", err)
	}
	ctr, err := c.cd.LoadContainer(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("starting container %q: %w", id, err)
	}
	task, err := ctr.Task(ctx, nil)
	if err == nil {
		st, err := task.Status(ctx)
		if err != nil {
			return 0, fmt.Errorf("starting container %q: task status: %w", id, err)
		}
		switch st.Status {
		case containerd.Running, containerd.Paused, containerd.Pausing:
			if err := c.attach(ctx, ctr, info); err != nil {
				return 0, fmt.Errorf("starting container %q: %w", id, err)
			}
			return task.Pid(), nil
		case containerd.Created:
			if err := c.attach(ctx, ctr, info); err != nil {
				return 0, fmt.Errorf("starting container %q: %w", id, err)
			}
			return c.start(ctx, ctr, task)
		case containerd.Stopped:
			return 0, fmt.Errorf("starting container %q: its task exited with status %d and must be removed first: %w", id, st.ExitStatus, errdefs.ErrFailedPrecondition)
		default:
			return 0, fmt.Errorf("starting container %q: its task is in state %q: %w", id, st.Status, errdefs.ErrFailedPrecondition)
		}
	}
	if !errdefs.IsNotFound(err) {
		return 0, fmt.Errorf("starting container %q: loading its task: %w", id, err)
	}
	if err := c.checkOpen(); err != nil {
		return 0, err
	}
	var att *attachment
	task, err = ctr.NewTask(ctx, func(string) (cio.IO, error) {
		var err error
		att, err = c.newTaskIO(info)
		if err != nil {
			return nil, err
		}
		return att.io, nil
	})
	if err != nil {
		if att != nil { // the task was not created: end the copying
			att.io.Close()
			att.io.Wait()
			if att.log != nil {
				att.log.Close()
			}
		}
		return 0, fmt.Errorf("starting container %q: creating its task: %w", id, err)
	}
	c.watch(id, att)
	return c.start(ctx, ctr, task)
}

// start records the start time and starts task; a task that fails to start
// is deleted.
func (c *Client) start(ctx context.Context, ctr containerd.Container, task containerd.Task) (uint32, error) {
	id := ctr.ID()
	if _, err := ctr.SetLabels(ctx, map[string]string{labelStartedAt: time.Now().UTC().Format(time.RFC3339Nano)}); err != nil {
		return 0, fmt.Errorf("starting container %q: recording the start time: %w", id, err)
	}
	if err := task.Start(ctx); err != nil {
		if _, derr := task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill); derr != nil && !errdefs.IsNotFound(derr) {
			c.log.Warn("deleting a task that failed to start", "id", id, "err", derr)
		}
		c.detach(id, 0)
		return 0, fmt.Errorf("starting container %q: %w", id, err)
	}
	return task.Pid(), nil
}

// newTaskIO creates the FIFOs of a new task of container info, in a
// directory of their own under the container's FIFO directory, and starts
// copying its output into the container's log. Whatever an earlier task
// of the container left there goes first (releaseFIFOs).
func (c *Client) newTaskIO(info containers.Container) (*attachment, error) {
	dir := c.containerFIFODir(info.ID)
	if err := releaseFIFOs(dir); err != nil {
		return nil, err
	}
	dir = filepath.Join(dir, "task-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the FIFO directory: %w", err)
	}
	tty := info.Labels[labelTTY] == "true"
	cfg := cio.Config{Terminal: tty}
	var stdin io.Reader
	if info.Labels[labelStdin] == "true" {
		// The shim holds the FIFO open for writing, so the process's stdin
		// stays open once this empty reader has been copied.
		cfg.Stdin, stdin = filepath.Join(dir, "stdin"), strings.NewReader("")
	}
	// containerd 1.6's shim cannot have stdin without stdout and stderr,
	// nor one of these without the other: output without a log is drained.
	if info.Labels[labelLogPath] != "" || stdin != nil {
		cfg.Stdout = filepath.Join(dir, "stdout")
		if !tty {
			cfg.Stderr = filepath.Join(dir, "stderr")
		}
	}
	return c.openIO(info, cio.NewFIFOSet(cfg, nil), stdin)
}

// releaseFIFOs removes dir, the FIFOs of the earlier tasks of a container
// that has no task now (its caller checked, under the container's lock).
// A create cut short (the daemon stopped or killed while containerd
// created the task) leaves its FIFOs, and its shim may still be waiting
// to open one for writing. A reader of the new task that met that shim
// instead of its own would see EOF when containerd stops it, and leave
// the new shim waiting 30 s for a reader: hence a directory per task. And
// each old FIFO is opened for reading and closed first, which lets a
// waiting shim go on: containerd then rolls the old create back in about
// 2 s instead of 5, and the container's next create can start.
func releaseFIFOs(dir string) error {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeNamedPipe != 0 {
			if fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
				unix.Close(fd)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("releasing the FIFOs of earlier tasks: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing the FIFOs of earlier tasks: %w", err)
	}
	return nil
}

// openIO opens the container's log and copies the FIFOs of fifos into it.
func (c *Client) openIO(info containers.Container, fifos *cio.FIFOSet, stdin io.Reader) (*attachment, error) {
	logPath := info.Labels[labelLogPath]
	if logPath == "" {
		iop, err := newFIFOIO(fifos.Config, stdin, io.Discard, io.Discard)
		if err != nil {
			return nil, fmt.Errorf("opening the FIFOs of container %q: %w", info.ID, err)
		}
		return &attachment{io: iop, done: make(chan struct{})}, nil
	}
	log, err := openCRILog(logPath, logMaxSize, logMaxFiles, c.log)
	if err != nil {
		return nil, fmt.Errorf("log of container %q: %w", info.ID, err)
	}
	iop, err := newFIFOIO(fifos.Config, stdin, log.stream(streamStdout), log.stream(streamStderr))
	if err != nil {
		log.Close()
		return nil, fmt.Errorf("opening the FIFOs of container %q: %w", info.ID, err)
	}
	return &attachment{io: iop, log: log, done: make(chan struct{})}, nil
}

// Attach resumes copying the output of container id's running task into
// its log, after a daemon restart: the task keeps running and its pid does
// not change. It is idempotent (a task this Client already copies is left
// alone); a task that was created but not started gets its copying too. A
// task that has exited is a no-op; a missing container or task is an
// errdefs.ErrNotFound-wrapped error.
func (c *Client) Attach(ctx context.Context, id string) error {
	ctx = c.nsCtx(ctx)
	unlock := c.locks.lock(id)
	defer unlock()
	info, err := c.ownContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("attaching: %w", err)
	}
	ctr, err := c.cd.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("attaching to container %q: %w", id, err)
	}
	if err := c.attach(ctx, ctr, info); err != nil {
		return fmt.Errorf("attaching to container %q: %w", id, err)
	}
	return nil
}

// attach attaches log copying to ctr's task unless it is attached already
// or the task has exited. Called with the container's lock held.
func (c *Client) attach(ctx context.Context, ctr containerd.Container, info containers.Container) error {
	c.mu.Lock()
	_, ok := c.attached[ctr.ID()]
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return errClosed
	}
	if ok {
		return nil
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return fmt.Errorf("loading its task: %w", err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return fmt.Errorf("task status: %w", err)
	}
	if st.Status == containerd.Stopped || st.Status == containerd.Unknown {
		return nil
	}
	var att *attachment
	_, err = ctr.Task(ctx, func(fifos *cio.FIFOSet) (cio.IO, error) {
		// containerd's FIFO set removes the FIFOs when closed; they must
		// stay for the next Attach, so copy only its paths.
		var err error
		att, err = c.openIO(info, cio.NewFIFOSet(fifos.Config, nil), nil)
		if err != nil {
			return nil, err
		}
		return att.io, nil
	})
	if err != nil {
		return fmt.Errorf("opening its FIFOs: %w", err)
	}
	if att == nil { // the task's state turned unknown meanwhile
		return nil
	}
	c.watch(ctr.ID(), att)
	return nil
}

// attachment is the log copying of one task.
type attachment struct {
	io   *fifoIO
	log  *criLog       // nil when the container has no log
	done chan struct{} // closed once copying ended and the log is closed
}

// stop ends the copying within drain: the copies are left to reach the end
// of what the task wrote (its side of the FIFOs closes when the task is
// deleted) for up to drain, then this side is closed. The task itself is
// not touched. It returns once copying has ended.
func (a *attachment) stop(drain time.Duration) {
	if drain > 0 {
		t := time.NewTimer(drain)
		defer t.Stop()
		select {
		case <-a.done:
			return
		case <-t.C:
		}
	}
	a.io.Close()
	<-a.done
}

// watch registers att as the log copying of task id and, when the copying
// ends, closes the log and forgets it. One goroutine per task, blocked
// until the task's output ends: no per-task stream to containerd.
func (c *Client) watch(id string, att *attachment) {
	c.mu.Lock()
	closed := c.closed
	if !closed {
		c.attached[id] = att
	}
	c.mu.Unlock()
	go func() {
		att.io.Wait()
		att.io.Close()
		if att.log != nil {
			if err := att.log.Close(); err != nil {
				c.log.Warn("closing a container log", "id", id, "err", err)
			}
		}
		c.mu.Lock()
		if c.attached[id] == att {
			delete(c.attached, id)
		}
		c.mu.Unlock()
		close(att.done)
	}()
	if closed { // Close ran meanwhile and did not see att
		att.stop(0)
	}
}

// detach ends the log copying of container id, if any, after letting it
// drain for up to drain (see attachment.stop).
func (c *Client) detach(id string, drain time.Duration) {
	c.mu.Lock()
	att := c.attached[id]
	c.mu.Unlock()
	if att != nil {
		att.stop(drain)
	}
}

func (c *Client) checkOpen() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errClosed
	}
	return nil
}

// StopContainer stops container id's task: it sends the image's stop
// signal (SIGTERM when the image names none), waits up to grace for the
// task to exit, then sends SIGKILL and waits for the exit. A container
// without a task, with an exited task, missing or of another instance is
// success. ctx bounds the whole wait.
func (c *Client) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	ctx = c.nsCtx(ctx)
	if _, err := c.ownContainer(ctx, id); err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("stopping: %w", err)
	}
	ctr, err := c.cd.LoadContainer(ctx, id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("stopping container %q: %w", id, err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("stopping container %q: loading its task: %w", id, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited, err := task.Wait(wctx)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("stopping container %q: %w", id, err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return fmt.Errorf("stopping container %q: task status: %w", id, err)
	}
	if st.Status == containerd.Stopped {
		return nil
	}
	if grace > 0 && st.Status != containerd.Created {
		sig, err := containerd.GetStopSignal(ctx, ctr, syscall.SIGTERM)
		if err != nil {
			return fmt.Errorf("stopping container %q: %w", id, err)
		}
		if err := task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("stopping container %q: sending %v: %w", id, sig, err)
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case s := <-exited:
			return exitErr(id, s)
		case <-ctx.Done():
			return fmt.Errorf("stopping container %q: %w", id, ctx.Err())
		case <-t.C:
		}
	}
	if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("stopping container %q: sending SIGKILL: %w", id, err)
	}
	select {
	case s := <-exited:
		return exitErr(id, s)
	case <-ctx.Done():
		return fmt.Errorf("stopping container %q: %w", id, ctx.Err())
	}
}

func exitErr(id string, s containerd.ExitStatus) error {
	if err := s.Error(); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("stopping container %q: waiting for the exit: %w", id, err)
	}
	return nil
}
