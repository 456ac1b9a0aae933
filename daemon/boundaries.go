package daemon

import (
	"context"
	"io"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/network"
	"github.com/setlet/setlet/runtime"
)

// The boundaries the daemon uses, each a small interface declared here,
// where it is used. runtime.Client and network.Manager implement them (the
// wiring in daemon.go checks that at compile time); tests can fake them.

// runtimeImage is an image as the runtime reports it.
type runtimeImage = runtime.Image

// imageService is containerd's image store.
type imageService interface {
	EnsureImage(ctx context.Context, ref string, policy corev1.PullPolicy) (runtime.Image, bool, error)
	Images(ctx context.Context) ([]runtime.Image, error)
	ImportImages(ctx context.Context, r io.Reader) ([]runtime.Image, error)
	PullImage(ctx context.Context, ref string) (runtime.Image, error)
}

// containerService creates, starts, stops and removes containers.
type containerService interface {
	CreateContainer(ctx context.Context, cfg runtime.ContainerConfig) error
	StartContainer(ctx context.Context, id string) (uint32, error)
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	RemoveContainer(ctx context.Context, id string) error
	ContainerStatus(ctx context.Context, id string) (runtime.ContainerStatus, error)
	Containers(ctx context.Context) ([]runtime.ContainerStatus, error)
	Attach(ctx context.Context, id string) error
}

// execService runs commands in running containers (exec probes, preStop
// hooks, `setlet exec`).
type execService interface {
	Exec(ctx context.Context, id string, cfg runtime.ExecConfig) (int, error)
}

// eventSource delivers containerd's task events (exits, OOM kills).
type eventSource interface {
	Subscribe(ctx context.Context) (<-chan runtime.Event, <-chan error)
	// WaitServing blocks until containerd serves or ctx ends.
	WaitServing(ctx context.Context) error
}

// podNetwork gives pods their network namespace and IP.
type podNetwork interface {
	Setup(ctx context.Context, a network.Attachment) (network.Result, error)
	Teardown(ctx context.Context, a network.Attachment) error
	Namespaces() ([]string, error)
	Attachments() ([]string, error)
	Gateway() net.IP
}
