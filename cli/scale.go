package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/containerd/errdefs"
	"github.com/urfave/cli/v2"

	"github.com/setlet/setlet/daemon/api"
)

// scaleOptions are the inputs of `setlet scale`.
type scaleOptions struct {
	Namespace string
	Name      string
	Replicas  int32
	Force     bool // scale a set a manifest file of the daemon owns
}

func scaleCommand() *cli.Command {
	return &cli.Command{
		Name:      "scale",
		Usage:     "set the number of replicas of a set, as kubectl scale does",
		ArgsUsage: "set NAME --replicas N",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "replicas", Usage: "the new number of replicas, `N` >= 0"},
			forceFlag(),
		},
		Action: func(c *cli.Context) error {
			res, names, err := resourceArgs("scale", c.Args().Slice())
			if err != nil {
				return err
			}
			if res.Name != "sets" {
				return fmt.Errorf("scale %s: only sets can be scaled", res.Name)
			}
			if len(names) != 1 {
				return errors.New("scale needs one set NAME: scale set NAME --replicas N")
			}
			if !c.IsSet("replicas") {
				return errors.New("scale needs --replicas N")
			}
			n := c.Int("replicas")
			if n < 0 || n > math.MaxInt32 {
				return fmt.Errorf("--replicas %d: must be between 0 and %d", n, math.MaxInt32)
			}
			opts := scaleOptions{Namespace: c.String("namespace"), Name: names[0], Replicas: int32(n), Force: c.Bool("force")}
			return runScale(c.Context, clientOf(c), opts, c.App.Writer)
		},
	}
}

// runScale sets the replicas and prints kubectl's line.
func runScale(ctx context.Context, client *api.Client, opts scaleOptions, stdout io.Writer) error {
	err := client.Scale(ctx, opts.Namespace, opts.Name, opts.Replicas, opts.Force)
	if errdefs.IsNotFound(err) {
		res, _ := lookupResource("sets")
		return &exitError{code: 1, msg: notFoundLine(res, opts.Name)}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "statefulset.apps/%s scaled\n", opts.Name)
	return nil
}
