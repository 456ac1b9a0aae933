package network

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// What the Manager has on the host, for an operator's check (setlet
// doctor) to compare with the pods the daemon knows. Every call here only
// reads.

// Netns is one pod's namespace file in NetnsDir, as Setup and Teardown
// leave it between two of their steps: never half-way through one.
type Netns struct {
	// Pod is the file's name: the pod name.
	Pod string
	// ID is the attachment ID its owner record names (the pod UID), or ""
	// when it has none, which Setup never leaves.
	ID string
	// Mounted says a network namespace is mounted on the file; false is the
	// empty placeholder of a Setup that was cut short.
	Mounted bool
}

// NetnsFiles lists, in name order, the pod namespace files in NetnsDir with
// their owner records. Each file is read while holding its pod's lock, the
// one Setup and Teardown hold, so a Setup or Teardown running meanwhile is
// seen either before or after it ran, never half-way (a file it removed is
// left out). It waits for those calls, or until ctx ends. Safe for
// concurrent use.
func (m *Manager) NetnsFiles(ctx context.Context) ([]Netns, error) {
	pods, err := m.Namespaces()
	if err != nil {
		return nil, err
	}
	var out []Netns
	for _, pod := range pods {
		n, ok, err := m.netnsFile(ctx, pod)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, n)
		}
	}
	return out, nil
}

// netnsFile inspects pod's namespace file under the pod's lock; ok is
// false when the file is gone.
func (m *Manager) netnsFile(ctx context.Context, pod string) (Netns, bool, error) {
	unlock, err := m.pods.lock(ctx, pod)
	if err != nil {
		return Netns{}, false, fmt.Errorf("pod %q: waiting for its network changes: %w", pod, err)
	}
	defer unlock()
	if _, err := os.Lstat(m.netnsPath(pod)); errors.Is(err, fs.ErrNotExist) {
		return Netns{}, false, nil
	}
	st, err := m.inspect(pod)
	if err != nil {
		return Netns{}, false, fmt.Errorf("pod %q: %w", pod, err)
	}
	return Netns{Pod: pod, ID: st.owner, Mounted: st.mounted}, true, nil
}

// NetnsMounts lists, sorted, the mount points below NetnsDir in the calling
// process's mount table, relative to NetnsDir, once per mount: a name twice
// means a namespace mounted over another one, which is then unreachable.
// NetnsDir itself (a mount point of its own) is not listed. Safe for
// concurrent use.
func (m *Manager) NetnsMounts() ([]string, error) {
	dir, err := filepath.Abs(m.cfg.NetnsDir)
	if err != nil {
		return nil, fmt.Errorf("network namespace directory %s: %w", m.cfg.NetnsDir, err)
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real // the mount table names resolved paths
	}
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return nil, fmt.Errorf("reading the mount table: %w", err)
	}
	var out []string
	for _, mnt := range mounts {
		if rel, err := filepath.Rel(dir, mnt.Mountpoint); err == nil && rel != "." {
			out = append(out, rel)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Allocation is one IP that host-local has allocated in the network.
type Allocation struct {
	IP net.IP
	// ID is the attachment ID (the CNI container ID) it is allocated to.
	ID string
}

// Allocations lists host-local's allocations in this network, sorted by
// IP, each with the attachment it is allocated to, read from host-local's
// allocation files. It is an error of class NotImplemented when the
// network's IPAM is not host-local. Safe for concurrent use; it reads the
// directory only, and leaves out a file removed while it reads.
func (m *Manager) Allocations() ([]Allocation, error) {
	ips, err := m.Allocated()
	if err != nil {
		return nil, err
	}
	out := make([]Allocation, 0, len(ips))
	for _, ip := range ips {
		data, err := os.ReadFile(filepath.Join(m.net.ipamDir, ip.String()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("reading host-local's allocation of %s: %w", ip, err)
		}
		// host-local writes "<container ID>\n<interface>", older versions the ID alone.
		id, _, _ := strings.Cut(string(data), "\n")
		out = append(out, Allocation{IP: ip, ID: strings.TrimSpace(id)})
	}
	return out, nil
}
