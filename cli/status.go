package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/setlet/setlet/daemon/api"
)

// statusClient is the part of the API client `setlet status` uses.
type statusClient interface {
	Status(ctx context.Context) (api.Status, error)
}

var _ statusClient = (*api.Client)(nil)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "print the daemon's health at a glance: containerd, network, DNS, directories, counts",
		Description: "Exits 1 when containerd is unavailable or a manifest file was refused, so that\n" +
			"scripts and monitors can use it; the API and DNS keep serving either way.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output `FORMAT`: json or yaml"},
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c, ""); err != nil {
				return err
			}
			return runStatus(c.Context, clientOf(c), c.String("output"), time.Now(), c.App.Writer)
		},
	}
}

// runStatus prints the daemon's status and returns errSilent when
// something needs an operator (containerd down, a refused manifest).
func runStatus(ctx context.Context, client statusClient, output string, now time.Time, stdout io.Writer) error {
	if output != "" && output != outputJSON && output != outputYAML {
		return fmt.Errorf("unsupported output format %q: use json or yaml", output)
	}
	st, err := client.Status(ctx)
	if err != nil {
		return err
	}
	if done, werr := writeEncoded(stdout, output, st); done {
		err = werr
	} else {
		err = printStatus(stdout, st, now)
	}
	if err != nil {
		return err
	}
	if !st.Containerd.Up || st.ManifestErrors > 0 {
		return &exitError{code: 1}
	}
	return nil
}

// printStatus prints one line per part, each "ok" or what is wrong first.
func printStatus(w io.Writer, st api.Status, now time.Time) error {
	ago := func(t time.Time) string { return duration.HumanDuration(now.Sub(t)) }
	t := newTableWriter(w)
	daemon := fmt.Sprintf("setlet %s, up %s", st.Version, ago(st.Started))
	if st.Reconciled == nil {
		daemon += fmt.Sprintf(", still adopting or starting %d pod(s) found at the start", st.Unreconciled)
	}
	writeRow(t, []string{"daemon", daemon})
	cd := st.Containerd
	if cd.Up {
		writeRow(t, []string{"containerd", fmt.Sprintf("up %s, %s at %s", ago(cd.Since), orNone(cd.Version), cd.Address)})
	} else {
		writeRow(t, []string{"containerd", fmt.Sprintf("DOWN for %s at %s: %s (pods are left as they are; setlet reconnects)", ago(cd.Since), cd.Address, cd.Error)})
	}
	network := fmt.Sprintf("%s, pods in %s", st.Network, st.Subnet)
	if st.Gateway != "" {
		network += ", gateway " + st.Gateway
	}
	writeRow(t, []string{"network", network})
	writeRow(t, []string{"dns", fmt.Sprintf("%s on %s", st.Zone, orNone(strings.Join(st.DNS, ", ")))})
	if st.ManifestDir != "" {
		line := st.ManifestDir
		if st.ManifestErrors > 0 {
			line = fmt.Sprintf("%s: %d file(s) REFUSED (setlet get manifests -o wide says why)", line, st.ManifestErrors)
		}
		writeRow(t, []string{"manifests", line})
	}
	if st.ImageDir != "" {
		writeRow(t, []string{"images", st.ImageDir})
	}
	phases := make([]string, 0, len(st.Pods))
	total := 0
	for phase, n := range st.Pods {
		phases = append(phases, fmt.Sprintf("%s %d", phase, n))
		total += n
	}
	sort.Strings(phases)
	pods := fmt.Sprintf("%d, %d Ready", total, st.ReadyPods)
	if len(phases) > 0 {
		pods = fmt.Sprintf("%d (%s), %d Ready", total, strings.Join(phases, ", "), st.ReadyPods)
	}
	writeRow(t, []string{"sets", fmt.Sprint(st.Sets)})
	writeRow(t, []string{"pods", pods})
	writeRow(t, []string{"volumes", fmt.Sprint(st.Volumes)})
	return t.flush()
}
