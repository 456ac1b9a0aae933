package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/containerd/errdefs"
	"github.com/urfave/cli/v2"

	"github.com/setlet/setlet/daemon/api"
)

// logsOptions are the inputs of `setlet logs`.
type logsOptions struct {
	Namespace string
	Pod       string
	Log       api.LogOptions
}

func logsCommand() *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "print the logs of a container of a pod, as kubectl logs does",
		ArgsUsage: "POD [CONTAINER]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "container", Aliases: []string{"c"}, Usage: "the `CONTAINER` (default: the pod's only or first container)"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "go on printing new lines until interrupted"},
			&cli.IntFlag{Name: "tail", Value: -1, Usage: "print only the last `N` lines (-1: all)"},
			&cli.BoolFlag{Name: "previous", Aliases: []string{"p"}, Usage: "print the log of the container's previous run"},
			&cli.BoolFlag{Name: "timestamps", Usage: "start every line with its RFC 3339 time"},
		},
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) == 0 {
				return errors.New("logs needs a POD")
			}
			if len(args) > 2 {
				return fmt.Errorf("logs takes POD [CONTAINER], got %d arguments", len(args))
			}
			pod := args[0]
			if typ, name, ok := splitTypeName(pod); ok {
				if res, known := lookupResource(typ); !known || res.Name != "pods" {
					return fmt.Errorf("logs %s: only pods have logs", pod)
				}
				pod = name
			}
			opts := logsOptions{Namespace: c.String("namespace"), Pod: pod, Log: api.LogOptions{
				Container: c.String("container"), Follow: c.Bool("follow"), Tail: c.Int("tail"),
				Previous: c.Bool("previous"), Timestamps: c.Bool("timestamps"),
			}}
			if len(args) == 2 {
				if opts.Log.Container != "" && opts.Log.Container != args[1] {
					return fmt.Errorf("logs: container %q given twice, as -c %s and as an argument", args[1], opts.Log.Container)
				}
				opts.Log.Container = args[1]
			}
			if opts.Log.Tail < -1 {
				return fmt.Errorf("--tail %d: must be -1 (all) or more", opts.Log.Tail)
			}
			return runLogs(c.Context, clientOf(c), opts, c.App.Writer)
		},
	}
}

// runLogs copies the log to stdout; with Follow, until ctx ends, which is
// not an error.
func runLogs(ctx context.Context, client *api.Client, opts logsOptions, stdout io.Writer) error {
	err := client.Logs(ctx, opts.Namespace, opts.Pod, opts.Log, stdout)
	if ctx.Err() != nil {
		return nil
	}
	return podError(ctx, client, opts.Namespace, opts.Pod, err)
}

// podError turns a NotFound from a call about a pod into kubectl's line
// when it is the pod that does not exist (and not, say, its container).
func podError(ctx context.Context, client *api.Client, ns, pod string, err error) error {
	if !errdefs.IsNotFound(err) {
		return err
	}
	if _, perr := client.Pod(ctx, ns, pod); errdefs.IsNotFound(perr) {
		res, _ := lookupResource("pods")
		return &exitError{code: 1, msg: notFoundLine(res, pod)}
	}
	return err
}
