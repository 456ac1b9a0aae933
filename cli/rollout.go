package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/setlet/setlet/daemon/api"
)

// rolloutClient is the part of the API client `rollout status` uses.
type rolloutClient interface {
	StatefulSet(ctx context.Context, ns, name string) (*appsv1.StatefulSet, error)
	Watch(ctx context.Context, resource, ns string, fn func(ev api.RawWatchEvent) error) error
}

var _ rolloutClient = (*api.Client)(nil)

func rolloutCommand() *cli.Command {
	return &cli.Command{
		Name:      "rollout",
		Usage:     "follow the rollout of a set, as kubectl rollout does",
		ArgsUsage: "status set NAME",
		Subcommands: []*cli.Command{{
			Name:      "status",
			Usage:     "print a set's rollout as it progresses; exit 0 once it is complete",
			ArgsUsage: "set NAME",
			Description: "Prints kubectl's lines (waiting for pods to be ready, for the rolling update, for a\n" +
				"partitioned roll out) each time the state changes, until the rollout is complete. With\n" +
				"--timeout it exits 1 when the rollout is not complete by then; --watch=false prints the\n" +
				"state once.",
			Flags: []cli.Flag{
				&cli.DurationFlag{Name: "timeout", Usage: "give up after `DURATION` (0: wait forever)"},
				&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Value: true, Usage: "watch until the rollout is complete"},
			},
			Action: func(c *cli.Context) error {
				res, names, err := resourceArgs("rollout status", c.Args().Slice())
				if err != nil {
					return err
				}
				if res.Name != "sets" || len(names) != 1 {
					return errors.New("rollout status needs one set: rollout status set NAME")
				}
				ctx := c.Context
				if d := c.Duration("timeout"); d > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, d)
					defer cancel()
				}
				return runRolloutStatus(ctx, clientOf(c), c.String("namespace"), names[0], c.Bool("watch"), c.App.Writer)
			},
		}},
	}
}

// runRolloutStatus prints the rollout state of set ns/name, then every
// change of it, until it is complete (nil) or ctx ends (an error saying
// the rollout did not finish).
func runRolloutStatus(ctx context.Context, client rolloutClient, ns, name string, watch bool, stdout io.Writer) error {
	set, err := client.StatefulSet(ctx, ns, name)
	if err != nil {
		return err
	}
	last := ""
	report := func(set *appsv1.StatefulSet) (bool, error) {
		msg, done, err := rolloutStatus(set)
		if err != nil {
			return false, err
		}
		if msg != last {
			if _, err := io.WriteString(stdout, msg); err != nil {
				return false, err
			}
			last = msg
		}
		return done, nil
	}
	done, err := report(set)
	if err != nil || done {
		return err
	}
	if !watch {
		return nil
	}
	errDone := errors.New("done")
	err = client.Watch(ctx, "statefulsets", ns, func(ev api.RawWatchEvent) error {
		var s appsv1.StatefulSet
		if err := json.Unmarshal(ev.Object, &s); err != nil {
			return fmt.Errorf("decoding the set: %w", err)
		}
		if s.Name != name {
			return nil
		}
		if ev.Type == "DELETED" {
			return fmt.Errorf("statefulset %q was deleted", name)
		}
		done, err := report(&s)
		if err == nil && done {
			return errDone
		}
		return err
	})
	switch {
	case errors.Is(err, errDone):
		return nil
	case err != nil:
		return err
	case ctx.Err() != nil:
		return fmt.Errorf("timed out waiting for the rollout of statefulset %q", name)
	}
	return fmt.Errorf("watching statefulset %q: the stream ended", name)
}

// rolloutStatus is kubectl's StatefulSetStatusViewer: the line to print
// for set and whether its rollout is complete. As in kubectl, a set whose
// RollingUpdate is given (the default fills it in, partition 0) is judged
// by the partition rule, so a finished rollout says "partitioned roll out
// complete" even without a partition.
func rolloutStatus(set *appsv1.StatefulSet) (string, bool, error) {
	if set.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		return "", true, fmt.Errorf("rollout status is only available for %s strategy type", appsv1.RollingUpdateStatefulSetStrategyType)
	}
	st := set.Status
	if st.ObservedGeneration == 0 || set.Generation > st.ObservedGeneration {
		return "Waiting for statefulset spec update to be observed...\n", false, nil
	}
	replicas := set.Spec.Replicas
	if replicas != nil && st.ReadyReplicas < *replicas {
		return fmt.Sprintf("Waiting for %d pods to be ready...\n", *replicas-st.ReadyReplicas), false, nil
	}
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if replicas != nil && ru.Partition != nil && st.UpdatedReplicas < *replicas-*ru.Partition {
			return fmt.Sprintf("Waiting for partitioned roll out to finish: %d out of %d new pods have been updated...\n",
				st.UpdatedReplicas, *replicas-*ru.Partition), false, nil
		}
		return fmt.Sprintf("partitioned roll out complete: %d new pods have been updated...\n", st.UpdatedReplicas), true, nil
	}
	if st.UpdateRevision != st.CurrentRevision {
		return fmt.Sprintf("waiting for statefulset rolling update to complete %d pods at revision %s...\n",
			st.UpdatedReplicas, st.UpdateRevision), false, nil
	}
	return fmt.Sprintf("statefulset rolling update complete %d pods at revision %s...\n", st.CurrentReplicas, st.CurrentRevision), true, nil
}
