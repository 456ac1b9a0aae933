package runtime

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	cerrdefs "github.com/containerd/containerd/errdefs"
	"github.com/containerd/errdefs"
	"github.com/setlet/setlet/internal/proc"
)

// Shim is a containerd shim process of the Client's containerd and
// namespace.
type Shim struct {
	PID       int    `json:"pid"`
	Container string `json:"container"` // the -id it was started with
}

// DefaultShimExitGrace is how long a shim that serves no task may take to
// exit before it counts as leaked (WithShimExitGrace): containerd stops a
// task's shim right after it deletes the task, and the process is gone a
// moment later.
const DefaultShimExitGrace = time.Second

// leakedShims returns the shims of the Client's containerd and namespace
// that serve no task and do not exit within the Client's shim exit grace,
// sorted by PID.
// containerd leaks the shim of a task whose Delete request is cancelled
// between the shim's Delete and its Shutdown, as a daemon killed while it
// removes a container cancels it: containerd forgets the task and deletes
// its bundle, but never stops the shim, which nothing can reach through
// containerd any more (containerd/containerd#11392). The task is looked
// up under the lock the Client's own task changes hold, so a shim this
// Client is starting is never reported.
func (c *Client) leakedShims(ctx context.Context) ([]Shim, error) {
	shims, err := ListShims(c.address, c.ns)
	if err != nil {
		return nil, err
	}
	var candidates []Shim
	for _, s := range shims {
		served, err := c.servesTask(ctx, s.Container)
		if err != nil {
			return nil, err
		}
		if !served {
			candidates = append(candidates, s)
		}
	}
	// One grace for all of them, waited out side by side: a doctor run
	// waits one grace at most, and each candidate gets all of it.
	grace, cancel := context.WithTimeout(ctx, c.shimGrace)
	defer cancel()
	leaked := make([]bool, len(candidates))
	var wg sync.WaitGroup
	for i, s := range candidates {
		wg.Go(func() { leaked[i] = proc.WaitExit(grace, s.PID) != nil })
	}
	wg.Wait()
	var out []Shim
	for i, s := range candidates {
		if leaked[i] {
			out = append(out, s)
		}
	}
	return out, ctx.Err()
}

// servesTask reports whether container id has a task, under the lock of
// id.
func (c *Client) servesTask(ctx context.Context, id string) (bool, error) {
	unlock := c.locks.lock(id)
	defer unlock()
	_, err := c.cd.TaskService().Get(ctx, &tasks.GetRequest{ContainerID: id})
	if err == nil {
		return true, nil
	}
	if err := cerrdefs.FromGRPC(err); !errdefs.IsNotFound(err) {
		return false, fmt.Errorf("looking for the task of container %q: %w", id, err)
	}
	return false, nil
}

// ListShims lists the containerd shims started for containerd at address
// (its socket, with or without unix://) and namespace ns, sorted by PID,
// whether they serve a task or not.
func ListShims(address, ns string) ([]Shim, error) {
	return listShims("/proc", strings.TrimPrefix(address, "unix://"), ns)
}

// listShims lists, from the process table under procDir, the containerd
// shims started for containerd at address (its socket path) and
// namespace ns, sorted by PID. A shim's command line is
// `containerd-shim-runc-v2 -namespace NS -id ID -address ADDRESS ...`.
func listShims(procDir, address, ns string) ([]Shim, error) {
	var out []Shim
	err := proc.Scan(procDir, "cmdline", func(pid int, cmdline []byte) {
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
			return
		}
		flags := shimFlags(args[1:])
		if flags["namespace"] == ns && flags["address"] == address && flags["id"] != "" {
			out = append(out, Shim{PID: pid, Container: flags["id"]})
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, err
}

// shimFlags returns the values of the flags in args, as Go's flag package
// reads them (-name value, -name=value, with one dash or two).
func shimFlags(args []string) map[string]string {
	flags := map[string]string{}
	for i := 0; i < len(args); i++ {
		name, ok := strings.CutPrefix(args[i], "-")
		if !ok {
			continue
		}
		name = strings.TrimPrefix(name, "-")
		if n, v, ok := strings.Cut(name, "="); ok {
			flags[n] = v
			continue
		}
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			flags[name] = args[i+1]
			i++
			continue
		}
		flags[name] = ""
	}
	return flags
}
