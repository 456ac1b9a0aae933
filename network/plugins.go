package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// WaitPlugins waits until no CNI plugin runs for a pod namespace of this
// Manager: one that a daemon killed while it attached or detached a pod
// left running. The kernel does not stop a killed process's children, so
// such a plugin goes on with its ADD or DEL; run beside the next daemon's
// own DEL or ADD for the same pod, the two interleave their iptables
// commands (a DEL can flush the chain the ADD has just filled, and leave
// the rule that jumps to it). Call it once at start, before any Setup or
// Teardown. A plugin is known by its environment (CNI_COMMAND, and
// CNI_NETNS under NetnsDir); each is waited for on a pidfd, so the wait
// ends as it exits. It returns the number of plugins waited for, or ctx's
// error.
func (m *Manager) WaitPlugins(ctx context.Context) (int, error) {
	pids, err := runningPlugins("/proc", m.cfg.NetnsDir)
	if err != nil {
		return 0, err
	}
	for _, pid := range pids {
		m.log.Info("waiting for a CNI plugin a previous daemon left running", "pid", pid)
		if err := waitExit(ctx, pid); err != nil {
			return 0, fmt.Errorf("waiting for CNI plugin pid %d: %w", pid, err)
		}
	}
	return len(pids), nil
}

// runningPlugins returns the PIDs, from the process table under procDir,
// of the CNI plugins running for a namespace under netnsDir.
func runningPlugins(procDir, netnsDir string) ([]int, error) {
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	prefix := []byte("CNI_NETNS=" + filepath.Clean(netnsDir) + "/")
	var pids []int
	for _, en := range entries {
		pid, err := strconv.Atoi(en.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join(procDir, en.Name(), "environ"))
		if err != nil {
			continue // gone meanwhile, or a kernel thread
		}
		command, netns := false, false
		for _, kv := range bytes.Split(env, []byte{0}) {
			command = command || bytes.HasPrefix(kv, []byte("CNI_COMMAND="))
			netns = netns || bytes.HasPrefix(kv, prefix)
		}
		if command && netns {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// waitExit waits until process pid has exited, or ctx ends: it polls the
// process's pidfd, which becomes readable when the process exits, beside
// a pipe that ctx's end writes to.
func waitExit(ctx context.Context, pid int) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil // gone already
	}
	if err != nil {
		return err
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
