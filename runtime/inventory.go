package runtime

import (
	"context"
	"fmt"
	"sort"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/errdefs"
)

// Strays is what a Client finds in its containerd namespace that none of
// its containers accounts for, for an operator's check (setlet doctor).
type Strays struct {
	// Snapshots are the keys of active snapshots of this instance that no
	// container uses: left by a CreateContainer or RemoveContainer that was
	// cut short (a crash), which nothing removes unless a container of the
	// same ID is created again.
	Snapshots []string
	// Unowned are the IDs of containers in the namespace that carry no
	// LabelInstance: setlet never made them (someone ran ctr in its
	// namespace), so no setlet daemon will ever remove them.
	Unowned []string
	// UnownedSnapshots are the keys of active snapshots without
	// LabelInstance that no container uses.
	UnownedSnapshots []string
	// LeakedShims are the shim processes of the namespace that serve no
	// task (see leakedShims): containerd leaked them, and only killing
	// them frees what they hold.
	LeakedShims []Shim
}

// Strays lists the strays of the Client's namespace, each list sorted. A
// snapshot of this instance is reported only after it has been checked
// again while holding the lock that CreateContainer and RemoveContainer
// hold for its container ID (the snapshot key), so one being created or
// removed by this Client meanwhile is never reported. Containers and
// snapshots of other instances are not looked at; a leaked shim may serve
// a container of any instance. It only reads (a shim that serves no task
// is given a second to exit first); safe for concurrent use.
func (c *Client) Strays(ctx context.Context) (Strays, error) {
	ctx = c.nsCtx(ctx)
	list, err := c.cd.ContainerService().List(ctx)
	if err != nil {
		return Strays{}, fmt.Errorf("listing containers: %w", err)
	}
	var s Strays
	used := make(map[string]bool, len(list))
	for _, info := range list {
		if info.Snapshotter == containerd.DefaultSnapshotter || info.Snapshotter == "" {
			used[info.SnapshotKey] = true
		}
		if _, ok := info.Labels[LabelInstance]; !ok {
			s.Unowned = append(s.Unowned, info.ID)
		}
	}
	sn := c.cd.SnapshotService(containerd.DefaultSnapshotter)
	var own []string
	err = sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if info.Kind != snapshots.KindActive || used[info.Name] {
			return nil
		}
		switch info.Labels[LabelInstance] {
		case c.instance:
			own = append(own, info.Name)
		case "":
			s.UnownedSnapshots = append(s.UnownedSnapshots, info.Name)
		}
		return nil
	})
	if err != nil {
		return Strays{}, fmt.Errorf("listing snapshots: %w", err)
	}
	for _, key := range own {
		stray, err := c.straySnapshot(ctx, sn, key)
		if err != nil {
			return Strays{}, err
		}
		if stray {
			s.Snapshots = append(s.Snapshots, key)
		}
	}
	if s.LeakedShims, err = c.leakedShims(ctx); err != nil {
		return Strays{}, err
	}
	sort.Strings(s.Snapshots)
	sort.Strings(s.Unowned)
	sort.Strings(s.UnownedSnapshots)
	return s, nil
}

// straySnapshot reports whether snapshot key still exists without a
// container, under the lock of the container ID key.
func (c *Client) straySnapshot(ctx context.Context, sn snapshots.Snapshotter, key string) (bool, error) {
	unlock := c.locks.lock(key)
	defer unlock()
	if _, err := c.cd.ContainerService().Get(ctx, key); err == nil {
		return false, nil
	} else if !errdefs.IsNotFound(err) {
		return false, fmt.Errorf("looking for the container of snapshot %q: %w", key, err)
	}
	if _, err := sn.Stat(ctx, key); errdefs.IsNotFound(err) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("snapshot %q: %w", key, err)
	}
	return true, nil
}
