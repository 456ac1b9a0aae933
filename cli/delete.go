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

// deleteOptions are the inputs of `setlet delete`: either Files, or a
// resource and names.
type deleteOptions struct {
	Files     []string
	Resource  resourceKind
	Names     []string
	Namespace string
	Force     bool // delete objects a manifest file of the daemon owns
}

func deleteCommand() *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Usage:     "delete sets, pods or the objects of manifests, as kubectl delete does",
		ArgsUsage: "-f FILE | set NAME... | pod NAME... | volume NAME...",
		Description: "delete -f deletes the objects the manifests name. delete set NAME deletes a set and\n" +
			"its pods; its volumes stay unless its persistentVolumeClaimRetentionPolicy.whenDeleted\n" +
			"is Delete. delete pod NAME deletes a pod, which its set creates again with the same name\n" +
			"and volumes, as in Kubernetes. delete volume NAME deletes a volume and its data at once;\n" +
			"it refuses while a pod uses the volume.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "filename", Aliases: []string{"f"}, Usage: "manifest `FILE`, directory or - (repeatable)"},
			forceFlag(),
		},
		Action: func(c *cli.Context) error {
			opts := deleteOptions{Files: c.StringSlice("filename"), Namespace: c.String("namespace"), Force: c.Bool("force")}
			if len(opts.Files) > 0 {
				if c.NArg() > 0 {
					return fmt.Errorf("delete -f takes no arguments, got %q: give either -f FILE or TYPE NAME", c.Args().First())
				}
				if err := manifestNamespace(c); err != nil {
					return err
				}
				return runDeleteFiles(c.Context, clientOf(c), opts, c.App.Reader, c.App.Writer, c.App.ErrWriter)
			}
			if c.NArg() == 0 {
				return errors.New("delete needs -f FILE, set NAME, pod NAME or volume NAME")
			}
			res, names, err := resourceArgs("delete", c.Args().Slice())
			if err != nil {
				return err
			}
			if res.Name != "sets" && res.Name != "pods" && res.Name != "volumes" {
				return fmt.Errorf("delete %s: only sets, pods and volumes can be deleted by name (services, ConfigMaps and Secrets with delete -f)", res.Name)
			}
			if len(names) == 0 {
				return fmt.Errorf("delete %s needs a NAME", res.Name)
			}
			opts.Resource, opts.Names = res, names
			return runDeleteNames(c.Context, clientOf(c), opts, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// runDeleteFiles deletes the objects the manifests name, printing one
// kubectl line per object; objects that do not exist are reported on
// stderr and make it return errSilent, after the others are deleted.
func runDeleteFiles(ctx context.Context, client *api.Client, opts deleteOptions, stdin io.Reader, stdout, stderr io.Writer) error {
	sources, err := readSources(opts.Files, stdin, stderr)
	if err != nil {
		return err
	}
	resp, err := client.Delete(ctx, api.ApplyRequest{Sources: sources, Force: opts.Force})
	if err != nil {
		return reportApplyError(err, stderr)
	}
	if printDeleteResults(stdout, stderr, resp.Results) {
		return errSilent
	}
	return nil
}

// printDeleteResults prints kubectl's lines for a delete:
// `statefulset.apps "web" deleted` on stdout, and
// `Error from server (NotFound): statefulsets.apps "web" not found` on
// stderr. It reports whether any object was missing.
func printDeleteResults(stdout, stderr io.Writer, results []api.ObjectResult) (missing bool) {
	for _, r := range results {
		singular, plural := kindNames(r.Kind)
		if r.Action == "not found" {
			fmt.Fprintf(stderr, "Error from server (NotFound): %s %q not found\n", plural, r.Name)
			missing = true
			continue
		}
		fmt.Fprintf(stdout, "%s %q %s\n", singular, r.Name, r.Action)
	}
	return missing
}

// runDeleteNames deletes sets, pods or volumes by name, going on past the ones that
// do not exist, as kubectl does.
func runDeleteNames(ctx context.Context, client *api.Client, opts deleteOptions, stdout, stderr io.Writer) error {
	missing := false
	for _, name := range opts.Names {
		var err error
		switch opts.Resource.Name {
		case "sets":
			err = client.DeleteStatefulSet(ctx, opts.Namespace, name, opts.Force)
		case "volumes":
			err = client.DeleteVolume(ctx, opts.Namespace, name)
		default:
			err = client.DeletePod(ctx, opts.Namespace, name)
		}
		switch {
		case errdefs.IsNotFound(err):
			fmt.Fprintln(stderr, notFoundLine(opts.Resource, name))
			missing = true
		case err != nil:
			return err
		default:
			fmt.Fprintf(stdout, "%s %q deleted\n", opts.Resource.Singular, name)
		}
	}
	if missing {
		return errSilent
	}
	return nil
}
