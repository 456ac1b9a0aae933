package runtime

import (
	"context"
	"fmt"
	"strconv"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
)

// EventType is the kind of a task event.
type EventType string

// The task events Subscribe delivers.
const (
	// EventStart: the task's process started.
	EventStart EventType = "start"
	// EventExit: the task's process exited; ExitCode is set.
	EventExit EventType = "exit"
	// EventOOM: the kernel's OOM killer acted in the task's cgroup.
	EventOOM EventType = "oom"
)

// Event is a task event of one container.
type Event struct {
	Type        EventType
	ContainerID string
	// ExitCode is the exit status of an EventExit.
	ExitCode int
	// At is when it happened: the exit time of an EventExit, else when
	// containerd published it.
	At time.Time
}

// Subscribe delivers the start, exit and OOM events of the tasks of this
// instance's containers (not of exec processes) until ctx ends, then closes
// both channels. The error channel receives at most one error, when the
// subscription ends for another reason than ctx (containerd restarted,
// say); the caller then subscribes again and, since events may have been
// missed meanwhile, re-reads the state with Containers. Events sent while
// nobody reads block the subscription. Safe for concurrent use; each call
// is its own subscription.
func (c *Client) Subscribe(ctx context.Context) (<-chan Event, <-chan error) {
	ctx = c.nsCtx(ctx)
	out := make(chan Event)
	errc := make(chan error, 1)
	ns := strconv.Quote(c.ns)
	filters := []string{
		`namespace==` + ns + `,topic=="/tasks/start"`,
		`namespace==` + ns + `,topic=="/tasks/exit"`,
		`namespace==` + ns + `,topic=="/tasks/oom"`,
		`namespace==` + ns + `,topic=="/containers/delete"`,
	}
	envs, errs := c.cd.Subscribe(ctx, filters...)
	go func() {
		defer close(out)
		defer close(errc)
		owned := make(map[string]bool) // container ID -> of this instance
		for {
			select {
			case <-ctx.Done():
				return
			case err, ok := <-errs:
				if ok && err != nil && ctx.Err() == nil {
					errc <- fmt.Errorf("task events: %w", err)
				} else if !ok && ctx.Err() == nil {
					errc <- fmt.Errorf("task events: subscription ended: %w", errdefs.ErrUnavailable)
				}
				return
			case env, ok := <-envs:
				if !ok {
					continue // errs tells why
				}
				v, err := typeurl.UnmarshalAny(env.Event)
				if err != nil {
					c.log.Debug("decoding a containerd event", "topic", env.Topic, "err", err)
					continue
				}
				var ev Event
				switch e := v.(type) {
				case *apievents.TaskStart:
					ev = Event{Type: EventStart, ContainerID: e.ContainerID, At: env.Timestamp}
				case *apievents.TaskExit:
					if e.ID != e.ContainerID {
						continue // an exec process
					}
					ev = Event{Type: EventExit, ContainerID: e.ContainerID, ExitCode: int(e.ExitStatus), At: env.Timestamp}
					if e.ExitedAt != nil && e.ExitedAt.IsValid() {
						ev.At = e.ExitedAt.AsTime()
					}
				case *apievents.TaskOOM:
					ev = Event{Type: EventOOM, ContainerID: e.ContainerID, At: env.Timestamp}
				case *apievents.ContainerDelete:
					delete(owned, e.ID) // the ID may be reused
					continue
				default:
					continue
				}
				mine, ok := owned[ev.ContainerID]
				if !ok {
					info, err := c.cd.ContainerService().Get(ctx, ev.ContainerID)
					if err != nil {
						continue // gone already: nobody to tell
					}
					mine = info.Labels[LabelInstance] == c.instance
					owned[ev.ContainerID] = mine
				}
				if !mine {
					continue
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, errc
}
