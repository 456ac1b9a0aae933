package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/setlet/setlet/daemon/api"
)

// doctorClient is the part of the API client `doctor` uses.
type doctorClient interface {
	Doctor(ctx context.Context) (api.DoctorReport, error)
}

var _ doctorClient = (*api.Client)(nil)

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check the daemon's invariants (no leaked containers, IPs, namespaces or snapshots, no lost volumes) and whether each set has converged",
		Description: "Exits 0 when every invariant holds, 1 when one does not or the daemon cannot be asked. " +
			"A set that has not converged yet is printed but does not fail: the daemon is still working on it.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output `FORMAT`: json"},
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c, ""); err != nil {
				return err
			}
			return runDoctor(c.Context, clientOf(c), c.String("output"), c.App.Writer)
		},
	}
}

// runDoctor asks the daemon for its report and prints it: as JSON (the
// api.DoctorReport, a stable contract) or as one line per check, "ok" or
// one line per problem and warning, then one line per set. It returns an
// error naming the failed checks when an invariant does not hold.
func runDoctor(ctx context.Context, client doctorClient, output string, stdout io.Writer) error {
	if output != "" && output != outputJSON {
		return fmt.Errorf("unsupported output format %q: use json", output)
	}
	report, err := client.Doctor(ctx)
	if err != nil {
		return err
	}
	if output == outputJSON {
		err = writeJSON(stdout, report)
	} else {
		err = printDoctor(stdout, report)
	}
	if err != nil {
		return err
	}
	if failed := report.Failed(); len(failed) > 0 {
		return fmt.Errorf("%d of %d checks failed: %s", len(failed), len(report.Checks), strings.Join(failed, ", "))
	}
	return nil
}

// printDoctor prints report as aligned lines: the check (or set), then
// its outcome.
func printDoctor(w io.Writer, report api.DoctorReport) error {
	t := newTableWriter(w)
	for _, c := range report.Checks {
		if c.OK {
			writeRow(t, []string{c.Name, "ok"})
		}
		for _, p := range c.Problems {
			writeRow(t, []string{c.Name, p})
		}
		for _, warning := range c.Warnings {
			writeRow(t, []string{c.Name, "warning: " + warning})
		}
	}
	for _, s := range report.Sets {
		writeRow(t, []string{"set " + s.Namespace + "/" + s.Name, convergenceLine(s)})
	}
	return t.flush()
}

// convergenceLine says how far a set is from its spec, e.g. "converged:
// 3/3 Ready, 3/3 at revision web-5d8f9c" or "not yet: ...: web-2 is not
// Running and Ready".
func convergenceLine(s api.SetConvergence) string {
	if s.Deleted {
		return "not yet: " + s.Waiting
	}
	line := fmt.Sprintf("%d/%d Ready, %d/%d at revision %s", s.Ready, s.Replicas, s.Updated, s.Replicas, orNone(s.UpdateRevision))
	if s.Converged {
		return "converged: " + line
	}
	return "not yet: " + line + ": " + s.Waiting
}
