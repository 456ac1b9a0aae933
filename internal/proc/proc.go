// Package proc reads the process table under /proc and waits for processes
// to exit, for what the daemon must find of processes it did not start or
// no longer owns: a containerd shim containerd leaked, a CNI plugin a
// killed daemon left running. It imports only the standard library and
// golang.org/x/sys.
package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Scan calls fn with the PID and the contents of <procDir>/<pid>/<file>
// of every process whose file it can read (a process that is gone
// meanwhile, or a kernel thread without one, is skipped), in no order.
func Scan(procDir, file string, fn func(pid int, data []byte)) error {
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return fmt.Errorf("listing processes: %w", err)
	}
	for _, en := range entries {
		pid, err := strconv.Atoi(en.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(procDir, en.Name(), file))
		if err != nil || len(data) == 0 {
			continue
		}
		fn(pid, data)
	}
	return nil
}

// WaitExit waits until process pid has exited (or is gone already), or
// ctx ends, and then returns ctx's error: it polls the process's pidfd,
// which becomes readable when the process exits, beside a pipe that
// ctx's end writes to.
func WaitExit(ctx context.Context, pid int) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil // gone already
	}
	if err != nil {
		return fmt.Errorf("pidfd of %d: %w", pid, err)
	}
	defer unix.Close(fd)
	r, w, err := os.Pipe() // os.File: a Write racing the Close below is safe
	if err != nil {
		return err
	}
	defer r.Close()
	defer w.Close()
	stop := context.AfterFunc(ctx, func() { w.Write([]byte{0}) })
	defer stop()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(r.Fd()), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if fds[0].Revents != 0 {
			return nil
		}
		return ctx.Err()
	}
}
