package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

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
		ArgsUsage: "status|history|undo|restart set NAME",
		Subcommands: []*cli.Command{rolloutHistoryCommand(), rolloutUndoCommand(), rolloutRestartCommand(), {
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
				name, err := oneSet("rollout status", c.Args().Slice())
				if err != nil {
					return err
				}
				ctx := c.Context
				if d := c.Duration("timeout"); d > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, d)
					defer cancel()
				}
				return runRolloutStatus(ctx, clientOf(c), c.String("namespace"), name, c.Bool("watch"), c.App.Writer)
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

// rolloutChanger is the part of the API client the template-changing
// commands use.
type rolloutChanger interface {
	Rollout(ctx context.Context, ns, name string, req api.RolloutRequest) (string, error)
}

var _ rolloutChanger = (*api.Client)(nil)

// oneSet reads the "set NAME" arguments of command.
func oneSet(command string, args []string) (string, error) {
	res, names, err := resourceArgs(command, args)
	if err != nil {
		return "", err
	}
	if res.Name != "sets" || len(names) != 1 {
		return "", fmt.Errorf("%s needs one set: %s set NAME", command, command)
	}
	return names[0], nil
}

// runRollout sends req for set name and prints kubectl's line for it.
func runRollout(ctx context.Context, client rolloutChanger, ns, name string, req api.RolloutRequest, stdout io.Writer) error {
	result, err := client.Rollout(ctx, ns, name, req)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "statefulset.apps/%s %s\n", name, result)
	return err
}

func rolloutUndoCommand() *cli.Command {
	return &cli.Command{
		Name:      "undo",
		Usage:     "go back to an earlier pod template (the previous one, or --to-revision N)",
		ArgsUsage: "set NAME",
		Flags:     []cli.Flag{&cli.Int64Flag{Name: "to-revision", Usage: "the revision `N` to go back to (0: the previous one)"}, forceFlag()},
		Action: func(c *cli.Context) error {
			name, err := oneSet("rollout undo", c.Args().Slice())
			if err != nil {
				return err
			}
			return runRollout(c.Context, clientOf(c), c.String("namespace"), name,
				api.RolloutRequest{Action: api.RolloutUndo, ToRevision: c.Int64("to-revision"), Force: c.Bool("force")}, c.App.Writer)
		},
	}
}

func rolloutRestartCommand() *cli.Command {
	return &cli.Command{
		Name:      "restart",
		Usage:     "replace every pod, highest ordinal first, by a new revision (an annotation on the template, as kubectl)",
		ArgsUsage: "set NAME",
		Flags:     []cli.Flag{forceFlag()},
		Action: func(c *cli.Context) error {
			name, err := oneSet("rollout restart", c.Args().Slice())
			if err != nil {
				return err
			}
			return runRollout(c.Context, clientOf(c), c.String("namespace"), name, api.RolloutRequest{Action: api.RolloutRestart, Force: c.Bool("force")}, c.App.Writer)
		},
	}
}

// historyClient is the part of the API client `rollout history` uses.
type historyClient interface {
	Revisions(ctx context.Context, ns, name string) ([]appsv1.ControllerRevision, error)
}

var _ historyClient = (*api.Client)(nil)

func rolloutHistoryCommand() *cli.Command {
	return &cli.Command{
		Name:      "history",
		Usage:     "list a set's revisions, or show one pod template with --revision N",
		ArgsUsage: "set NAME",
		Flags:     []cli.Flag{&cli.Int64Flag{Name: "revision", Usage: "show the pod template of revision `N`"}},
		Action: func(c *cli.Context) error {
			name, err := oneSet("rollout history", c.Args().Slice())
			if err != nil {
				return err
			}
			return runRolloutHistory(c.Context, clientOf(c), c.String("namespace"), name, c.Int64("revision"), c.App.Writer)
		},
	}
}

// changeCauseAnnotation is the annotation kubectl shows as CHANGE-CAUSE.
const changeCauseAnnotation = "kubernetes.io/change-cause"

// runRolloutHistory prints kubectl's history table of set name or, with
// revision, that revision's pod template.
func runRolloutHistory(ctx context.Context, client historyClient, ns, name string, revision int64, stdout io.Writer) error {
	revs, err := client.Revisions(ctx, ns, name)
	if err != nil {
		return err
	}
	if revision > 0 {
		for i := range revs {
			if revs[i].Revision != revision {
				continue
			}
			tmpl, err := revisionTemplate(&revs[i])
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "statefulset.apps/%s with revision #%d\n", name, revision)
			tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
			describePodTemplate(&prefixWriter{tw}, tmpl)
			return tw.Flush()
		}
		return fmt.Errorf("unable to find the specified revision %d", revision)
	}
	fmt.Fprintf(stdout, "statefulset.apps/%s \n", name)
	t := newTableWriter(stdout)
	writeRow(t, []string{"REVISION", "CHANGE-CAUSE"})
	for _, r := range revs {
		cause := r.Annotations[changeCauseAnnotation]
		if cause == "" {
			cause = "<none>"
		}
		writeRow(t, []string{strconv.FormatInt(r.Revision, 10), cause})
	}
	if err := t.flush(); err != nil {
		return err
	}
	_, err = io.WriteString(stdout, "\n")
	return err
}

// revisionTemplate reads the pod template a revision records: its data is
// the patch {"spec":{"template":{...}}} Kubernetes writes.
func revisionTemplate(rev *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	var patch struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(rev.Data.Raw, &patch); err != nil {
		return nil, fmt.Errorf("reading revision %s: %w", rev.Name, err)
	}
	return &patch.Spec.Template, nil
}

func setCommand() *cli.Command {
	return &cli.Command{
		Name:      "set",
		Usage:     "change a set's pod template, as kubectl set does",
		ArgsUsage: "image set NAME CONTAINER=IMAGE...",
		Subcommands: []*cli.Command{{
			Name:      "image",
			Usage:     "set container images (CONTAINER=IMAGE; * for every container); the set rolls out",
			ArgsUsage: "set NAME CONTAINER=IMAGE...",
			Flags:     []cli.Flag{forceFlag()},
			Action: func(c *cli.Context) error {
				args := c.Args().Slice()
				var target, pairs []string
				for _, a := range args {
					if strings.Contains(a, "=") {
						pairs = append(pairs, a)
					} else {
						target = append(target, a)
					}
				}
				name, err := oneSet("set image", target)
				if err != nil {
					return err
				}
				if len(pairs) == 0 {
					return errors.New("set image needs at least one CONTAINER=IMAGE")
				}
				images := map[string]string{}
				for _, p := range pairs {
					k, v, _ := strings.Cut(p, "=")
					if k == "" || v == "" {
						return fmt.Errorf("set image: %q: want CONTAINER=IMAGE", p)
					}
					images[k] = v
				}
				return runRollout(c.Context, clientOf(c), c.String("namespace"), name,
					api.RolloutRequest{Action: api.RolloutImage, Images: images, Force: c.Bool("force")}, c.App.Writer)
			},
		}},
	}
}
