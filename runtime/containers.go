package runtime

import (
	"context"
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	containerd "github.com/containerd/containerd"
	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/containers"
	cerrdefs "github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/identifiers"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"
)

// ContainerConfig describes a container to create: one container of a
// Kubernetes pod, with everything the daemon already resolved.
type ContainerConfig struct {
	// ID is the containerd container ID (letters, digits, '.', '_', '-',
	// at most 76 characters), unique in the namespace.
	ID string
	// Image is the image reference; it is normalized like Image does, and
	// the image must be present (EnsureImage).
	Image string
	// Labels are the daemon's labels. Keys starting with
	// "runtime.setlet.io/" and LabelInstance are reserved to runtime.
	Labels map[string]string
	// Hostname is the container's host name (and HOSTNAME variable).
	Hostname string
	// NetNS is the path of the network namespace to join; "" gives the
	// container a new, empty one.
	NetNS string
	// Command replaces the image's ENTRYPOINT and Args its CMD, as in
	// Kubernetes; they are used as given ($(VAR) references are the
	// daemon's to expand).
	Command []string
	Args    []string
	// Env is set after the image's environment, replacing variables of the
	// same name.
	Env []corev1.EnvVar
	// WorkingDir is the process's working directory ("" = the image's).
	WorkingDir string
	// Mounts are bind mounts of host paths, which must exist.
	Mounts []Mount
	// Resources: the CPU limit becomes a CFS quota (period 100 ms), the CPU
	// request CPU shares (the kubelet's formula, at least 2), the memory
	// limit a memory limit.
	Resources corev1.ResourceRequirements
	// Security is the container's security context: runAsUser,
	// runAsGroup, runAsNonRoot, readOnlyRootFilesystem, capabilities,
	// privileged and allowPrivilegeEscalation are honoured.
	Security *corev1.SecurityContext
	// PodSecurity provides runAsUser, runAsGroup and runAsNonRoot when the
	// container does not set them, and fsGroup and supplementalGroups.
	PodSecurity *corev1.PodSecurityContext
	// TTY gives the process a terminal (its output is logged as stdout);
	// Stdin keeps its standard input open, with nothing written to it.
	TTY, Stdin bool
	// LogPath is the CRI log file of this container; "" discards output.
	LogPath string
}

// Mount is a bind mount (rbind) of a host path into a container.
type Mount struct {
	Source, Destination string
	ReadOnly            bool
	// Propagation None (or "") gives rprivate, HostToContainer rslave
	// and Bidirectional rshared.
	Propagation corev1.MountPropagationMode
}

// ContainerState is the state of a container's task.
type ContainerState string

// The states a container can be in.
const (
	// StateCreated: the container has no task yet, or a task that was
	// created but not started.
	StateCreated ContainerState = "created"
	// StateRunning: the task runs (or is paused).
	StateRunning ContainerState = "running"
	// StateExited: the task has exited and was not removed.
	StateExited ContainerState = "exited"
	// StateUnknown: containerd cannot tell (its shim is gone).
	StateUnknown ContainerState = "unknown"
)

// Reasons of an exited container, as Kubernetes names them.
const (
	// ReasonCompleted: the task exited with status 0.
	ReasonCompleted = "Completed"
	// ReasonError: the task exited with another status.
	ReasonError = "Error"
	// ReasonOOMKilled: the kernel's OOM killer killed a process of the
	// task (seen in its memory cgroup).
	ReasonOOMKilled = "OOMKilled"
)

// ContainerStatus is what containerd knows about a container.
type ContainerStatus struct {
	ID    string
	Image string
	// Labels are the labels the daemon gave (without runtime's own).
	Labels map[string]string
	State  ContainerState
	// Pid is the task's process ID on the host (0 without a task).
	Pid uint32
	// ExitCode is the task's exit status, when State is StateExited.
	ExitCode   int
	CreatedAt  time.Time
	StartedAt  time.Time // when StartContainer last started the task
	FinishedAt time.Time
	// Reason is ReasonCompleted, ReasonError or ReasonOOMKilled for an
	// exited container, "" otherwise.
	Reason  string
	LogPath string
}

// CreateContainer creates container cfg.ID with a new read-write snapshot
// of its image and the OCI spec built from cfg; it does not start it. The
// image must be present (errdefs.ErrNotFound otherwise). A container with
// the same ID is an errdefs.ErrAlreadyExists-wrapped error when it belongs
// to this instance (the daemon treats it as done) and an
// errdefs.ErrConflict-wrapped one when it belongs to another. A snapshot
// left behind by a create that was interrupted is replaced, so retrying
// after a crash succeeds.
func (c *Client) CreateContainer(ctx context.Context, cfg ContainerConfig) error {
	if err := identifiers.Validate(cfg.ID); err != nil {
		return fmt.Errorf("creating container: %w", err)
	}
	for k := range cfg.Labels {
		if k == LabelInstance || strings.HasPrefix(k, labelPrefix) {
			return fmt.Errorf("creating container %q: label %q is reserved: %w", cfg.ID, k, errdefs.ErrInvalidArgument)
		}
	}
	ctx = c.nsCtx(ctx)
	unlock := c.locks.lock(cfg.ID)
	defer unlock()
	if existing, err := c.cd.ContainerService().Get(ctx, cfg.ID); err == nil {
		if existing.Labels[LabelInstance] != c.instance {
			return fmt.Errorf("creating container %q: it belongs to setlet instance %q: %w", cfg.ID, existing.Labels[LabelInstance], errdefs.ErrConflict)
		}
		return fmt.Errorf("creating container %q: %w", cfg.ID, errdefs.ErrAlreadyExists)
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("creating container %q: %w", cfg.ID, err)
	}
	name, err := NormalizeImage(cfg.Image)
	if err != nil {
		return fmt.Errorf("creating container %q: %w", cfg.ID, err)
	}
	img, err := c.cd.GetImage(ctx, name)
	if err != nil {
		return fmt.Errorf("creating container %q: image %s: %w", cfg.ID, name, err)
	}
	if unpacked, err := img.IsUnpacked(ctx, containerd.DefaultSnapshotter); err != nil || !unpacked {
		if err := img.Unpack(ctx, containerd.DefaultSnapshotter); err != nil {
			return fmt.Errorf("creating container %q: unpacking image %s: %w", cfg.ID, name, err)
		}
	}
	imgSpec, err := img.Spec(ctx)
	if err != nil {
		return fmt.Errorf("creating container %q: reading the config of image %s: %w", cfg.ID, name, err)
	}
	opts, err := specOpts(cfg, imgSpec.Config, c.host)
	if err != nil {
		return fmt.Errorf("creating container %q: %w", cfg.ID, err)
	}
	if err := c.removeOrphanSnapshot(ctx, cfg.ID); err != nil {
		return fmt.Errorf("creating container %q: %w", cfg.ID, err)
	}

	labels := make(map[string]string, len(cfg.Labels)+4)
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	labels[LabelInstance] = c.instance
	if cfg.LogPath != "" {
		labels[labelLogPath] = cfg.LogPath
	}
	if cfg.TTY {
		labels[labelTTY] = "true"
	}
	if cfg.Stdin {
		labels[labelStdin] = "true"
	}
	// The lease keeps the new snapshot from the garbage collector until the
	// container record refers to it.
	lctx, done, err := c.cd.WithLease(ctx)
	if err != nil {
		return fmt.Errorf("creating container %q: %w", cfg.ID, err)
	}
	defer done(context.WithoutCancel(ctx))
	_, err = c.cd.NewContainer(lctx, cfg.ID,
		containerd.WithContainerLabels(labels),
		containerd.WithImageStopSignal(img, "SIGTERM"),
		containerd.WithImage(img),
		containerd.WithSnapshotter(containerd.DefaultSnapshotter),
		containerd.WithNewSnapshot(cfg.ID, img, snapshots.WithLabels(map[string]string{LabelInstance: c.instance})),
		containerd.WithNewSpec(opts...),
	)
	if err != nil {
		// The snapshot may exist without a container: remove it.
		if rerr := c.removeOrphanSnapshot(context.WithoutCancel(ctx), cfg.ID); rerr != nil {
			c.log.Warn("removing the snapshot of a container that was not created", "id", cfg.ID, "err", rerr)
		}
		if errdefs.IsAlreadyExists(err) {
			return fmt.Errorf("creating container %q: %w", cfg.ID, errdefs.ErrConflict)
		}
		return fmt.Errorf("creating container %q: %w", cfg.ID, err)
	}
	return nil
}

// removeOrphanSnapshot removes the snapshot with key id when no container
// exists and the snapshot was made by this instance.
func (c *Client) removeOrphanSnapshot(ctx context.Context, id string) error {
	if _, err := c.cd.ContainerService().Get(ctx, id); err == nil {
		return nil
	}
	sn := c.cd.SnapshotService(containerd.DefaultSnapshotter)
	info, err := sn.Stat(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("looking for a leftover snapshot: %w", err)
	}
	if owner := info.Labels[LabelInstance]; owner != c.instance {
		return fmt.Errorf("snapshot %q belongs to setlet instance %q: %w", id, owner, errdefs.ErrConflict)
	}
	if err := sn.Remove(ctx, id); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("removing a leftover snapshot: %w", err)
	}
	return nil
}

// RemoveContainer removes container id: its task (killed first if it
// runs, and its log copying stopped once the task's output ends), the
// container, its snapshot and its FIFOs. A container that does not exist,
// or belongs to another instance, is success: RemoveContainer is
// idempotent and finishes a removal that was interrupted.
func (c *Client) RemoveContainer(ctx context.Context, id string) error {
	ctx = c.nsCtx(ctx)
	unlock := c.locks.lock(id)
	defer unlock()
	info, err := c.cd.ContainerService().Get(ctx, id)
	if errdefs.IsNotFound(err) {
		if err := c.removeOrphanSnapshot(ctx, id); err != nil && !errdefs.IsConflict(err) {
			return fmt.Errorf("removing container %q: %w", id, err)
		}
		return c.removeFIFOs(id)
	}
	if err != nil {
		return fmt.Errorf("removing container %q: %w", id, err)
	}
	if info.Labels[LabelInstance] != c.instance {
		return nil
	}
	ctr, err := c.cd.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("removing container %q: %w", id, err)
	}
	task, err := ctr.Task(ctx, nil)
	switch {
	case err == nil:
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("removing container %q: deleting its task: %w", id, err)
		}
	case !errdefs.IsNotFound(err):
		return fmt.Errorf("removing container %q: loading its task: %w", id, err)
	}
	// The task is gone, so its side of the FIFOs is closed: the copying
	// reaches the end of what it wrote, unless a process that escaped the
	// task still holds its output (cut after drainTimeout).
	c.detach(id, drainTimeout)
	if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("removing container %q: %w", id, err)
	}
	return c.removeFIFOs(id)
}

func (c *Client) removeFIFOs(id string) error {
	if err := os.RemoveAll(c.containerFIFODir(id)); err != nil {
		return fmt.Errorf("removing the FIFOs of container %q: %w", id, err)
	}
	return nil
}

// ContainerStatus returns the status of container id; a container that
// does not exist or belongs to another instance is an
// errdefs.ErrNotFound-wrapped error.
func (c *Client) ContainerStatus(ctx context.Context, id string) (ContainerStatus, error) {
	ctx = c.nsCtx(ctx)
	info, err := c.ownContainer(ctx, id)
	if err != nil {
		return ContainerStatus{}, err
	}
	resp, err := c.cd.TaskService().Get(ctx, &tasks.GetRequest{ContainerID: id})
	if err != nil {
		if err := cerrdefs.FromGRPC(err); !errdefs.IsNotFound(err) {
			return ContainerStatus{}, fmt.Errorf("status of container %q: %w", id, err)
		}
		return c.status(info, nil), nil
	}
	return c.status(info, resp.Process), nil
}

// Containers returns the status of every container of this instance,
// sorted by ID.
func (c *Client) Containers(ctx context.Context) ([]ContainerStatus, error) {
	ctx = c.nsCtx(ctx)
	list, err := c.cd.ContainerService().List(ctx, fmt.Sprintf("labels.%q==%q", LabelInstance, c.instance))
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	resp, err := c.cd.TaskService().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		return nil, fmt.Errorf("listing tasks: %w", cerrdefs.FromGRPC(err))
	}
	procs := make(map[string]*tasktypes.Process, len(resp.Tasks))
	for _, p := range resp.Tasks {
		// A task's ID is its container's; containerd 1.7 leaves
		// ContainerID empty here, and lists no exec processes.
		procs[p.ID] = p
	}
	out := make([]ContainerStatus, 0, len(list))
	for _, info := range list {
		out = append(out, c.status(info, procs[info.ID]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// ownContainer returns the record of container id if it belongs to this
// instance, and an errdefs.ErrNotFound-wrapped error otherwise.
func (c *Client) ownContainer(ctx context.Context, id string) (containers.Container, error) {
	info, err := c.cd.ContainerService().Get(ctx, id)
	if err != nil {
		return containers.Container{}, fmt.Errorf("container %q: %w", id, err)
	}
	if info.Labels[LabelInstance] != c.instance {
		return containers.Container{}, fmt.Errorf("container %q (of another setlet instance): %w", id, errdefs.ErrNotFound)
	}
	return info, nil
}

// status combines a container record and its task (nil: none).
func (c *Client) status(info containers.Container, p *tasktypes.Process) ContainerStatus {
	s := ContainerStatus{
		ID:        info.ID,
		Image:     info.Image,
		Labels:    make(map[string]string, len(info.Labels)),
		State:     StateCreated,
		CreatedAt: info.CreatedAt,
		LogPath:   info.Labels[labelLogPath],
	}
	for k, v := range info.Labels {
		if k != LabelInstance && !strings.HasPrefix(k, labelPrefix) && k != containerd.StopSignalLabel {
			s.Labels[k] = v
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, info.Labels[labelStartedAt]); err == nil {
		s.StartedAt = t
	}
	if p == nil {
		return s
	}
	s.Pid = p.Pid
	switch p.Status {
	case tasktypes.Status_CREATED:
		s.State = StateCreated
	case tasktypes.Status_RUNNING, tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
		s.State = StateRunning
	case tasktypes.Status_STOPPED:
		s.State = StateExited
		s.ExitCode = int(p.ExitStatus)
		if p.ExitedAt != nil && p.ExitedAt.IsValid() {
			s.FinishedAt = p.ExitedAt.AsTime()
		}
		switch {
		case s.ExitCode == 0:
			s.Reason = ReasonCompleted
		case c.oomKilled(info.ID):
			s.Reason = ReasonOOMKilled
		default:
			s.Reason = ReasonError
		}
	default:
		s.State = StateUnknown
	}
	return s
}

// oomKilled reports whether the kernel's OOM killer killed a process in the
// cgroup of container id, which exists until its task is deleted. The
// cgroup path is containerd's default, /<namespace>/<id>.
func (c *Client) oomKilled(id string) bool {
	cg := path.Join("/", c.ns, id)
	file, key := path.Join("/sys/fs/cgroup/memory", cg, "memory.oom_control"), "oom_kill"
	if c.host.cgroup2 {
		file = path.Join("/sys/fs/cgroup", cg, "memory.events")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, " "); ok && k == key {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return err == nil && n > 0
		}
	}
	return false
}
