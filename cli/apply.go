package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/daemon/api"
)

// applyOptions are the inputs of `setlet apply`.
type applyOptions struct {
	Files  []string // files, directories or "-" for stdin
	DryRun bool
	Force  bool // change objects a manifest file of the daemon owns
}

func applyCommand() *cli.Command {
	return &cli.Command{
		Name:      "apply",
		Usage:     "create or update the objects of manifests, as kubectl apply does",
		ArgsUsage: " ",
		Description: "Sends every document of every file (or directory, or - for stdin) to the daemon,\n" +
			"which validates all of them before it changes anything: one bad document changes\n" +
			"nothing. Prints one line per object (created, configured, unchanged); every problem\n" +
			"goes to stderr with its file, document and field path.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "filename", Aliases: []string{"f"}, Usage: "manifest `FILE`, directory or - (repeatable)"},
			&cli.GenericFlag{Name: "dry-run", Value: &dryRunFlag{}, Usage: "validate on the daemon and report what would change, changing nothing (=server, =client and =none accepted)"},
			forceFlag(),
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c, ": use -f FILE"); err != nil {
				return err
			}
			if err := manifestNamespace(c); err != nil {
				return err
			}
			opts := applyOptions{Files: c.StringSlice("filename"), DryRun: c.Generic("dry-run").(*dryRunFlag).on, Force: c.Bool("force")}
			if len(opts.Files) == 0 {
				return errors.New("apply needs -f FILE, -f DIR or -f - (stdin)")
			}
			return runApply(c.Context, clientOf(c), opts, c.App.Reader, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// runApply reads the manifests and sends them to the daemon, printing what
// it did to each object, or every problem and errSilent.
func runApply(ctx context.Context, client *api.Client, opts applyOptions, stdin io.Reader, stdout, stderr io.Writer) error {
	sources, err := readSources(opts.Files, stdin, stderr)
	if err != nil {
		return err
	}
	resp, err := client.Apply(ctx, api.ApplyRequest{Sources: sources, DryRun: opts.DryRun, Force: opts.Force})
	if err != nil {
		return reportApplyError(err, stderr)
	}
	suffix := ""
	if opts.DryRun {
		suffix = " (server dry run)"
	}
	printApplyResults(stdout, resp.Results, suffix)
	return nil
}

// printApplyResults prints kubectl's apply lines:
// statefulset.apps/web created, service/nginx unchanged.
func printApplyResults(w io.Writer, results []api.ObjectResult, suffix string) {
	for _, r := range results {
		singular, _ := kindNames(r.Kind)
		fmt.Fprintf(w, "%s/%s %s%s\n", singular, r.Name, r.Action, suffix)
	}
}

// reportApplyError prints every problem of a refused apply or delete on
// stderr and returns errSilent; other errors are returned as they are.
func reportApplyError(err error, stderr io.Writer) error {
	var aerr *api.ApplyError
	if !errors.As(err, &aerr) {
		return err
	}
	for _, p := range aerr.Problems {
		fmt.Fprintln(stderr, p.String())
	}
	return errSilent
}

// readSources reads the manifests of paths with configs.ReadSources (so
// that the daemon's messages name the same files). A source that cannot be
// read is reported on stderr, in configs' words, and the result is
// errSilent.
func readSources(paths []string, stdin io.Reader, stderr io.Writer) ([]api.Source, error) {
	read, problems := configs.ReadSources(paths, stdin)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, p.String())
		}
		return nil, errSilent
	}
	sources := make([]api.Source, len(read))
	for i, src := range read {
		sources[i] = api.Source{Name: src.Name, Data: src.Data}
	}
	return sources, nil
}

// manifestNamespace refuses -n for commands that take namespaces from the
// manifests: the daemon's API has no namespace override, and silently
// applying to another namespace than the user asked would be worse.
func manifestNamespace(c *cli.Context) error {
	if c.IsSet("namespace") && c.String("namespace") != configs.DefaultNamespace {
		return fmt.Errorf("%s -f takes each object's namespace from its manifest (metadata.namespace); -n %s cannot override it", c.Command.Name, c.String("namespace"))
	}
	return nil
}

// dryRunFlag is --dry-run: alone it means true, and it accepts kubectl's
// values (none, client, server) and booleans. Any dry run is done by the
// daemon, which validates exactly as for a real apply.
type dryRunFlag struct{ on bool }

// String returns the flag's value as kubectl spells it.
func (f *dryRunFlag) String() string {
	if f != nil && f.on {
		return "server"
	}
	return "none"
}

// Set parses a value of --dry-run.
func (f *dryRunFlag) Set(v string) error {
	switch v {
	case "", "true", "server", "client":
		f.on = true
	case "false", "none":
		f.on = false
	default:
		return errors.New("use server, client or none")
	}
	return nil
}

// IsBoolFlag lets --dry-run stand alone, like a boolean flag.
func (f *dryRunFlag) IsBoolFlag() bool { return true }
