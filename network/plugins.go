package network

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/setlet/setlet/internal/proc"
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
		if err := proc.WaitExit(ctx, pid); err != nil {
			return 0, fmt.Errorf("waiting for CNI plugin pid %d: %w", pid, err)
		}
	}
	return len(pids), nil
}

// runningPlugins returns the PIDs, from the process table under procDir,
// of the CNI plugins running for a namespace under netnsDir.
func runningPlugins(procDir, netnsDir string) ([]int, error) {
	prefix := []byte("CNI_NETNS=" + filepath.Clean(netnsDir) + "/")
	var pids []int
	err := proc.Scan(procDir, "environ", func(pid int, env []byte) {
		if pid == os.Getpid() {
			return
		}
		command, netns := false, false
		for _, kv := range bytes.Split(env, []byte{0}) {
			command = command || bytes.HasPrefix(kv, []byte("CNI_COMMAND="))
			netns = netns || bytes.HasPrefix(kv, prefix)
		}
		if command && netns {
			pids = append(pids, pid)
		}
	})
	return pids, err
}
