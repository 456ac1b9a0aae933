package runtime

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
)

// WaitServing blocks until containerd answers its health check as
// serving, or ctx ends. While containerd is away the gRPC connection
// reconnects with its own back-off, so waiting costs nothing.
func (c *Client) WaitServing(ctx context.Context) error {
	ok, err := c.cd.IsServing(ctx)
	if err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	if !ok {
		return fmt.Errorf("containerd is not serving: %w", errdefs.ErrUnavailable)
	}
	return nil
}
