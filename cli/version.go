package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/setlet/setlet/daemon/api"
)

// versionOptions are the inputs of `setlet version`.
type versionOptions struct {
	ClientOnly bool
	Output     string // "", json or yaml
}

// versionOutput is `version -o json|yaml`; the field names are a stable
// contract. Daemon is absent with --client.
type versionOutput struct {
	ClientVersion string           `json:"clientVersion"`
	Daemon        *api.VersionInfo `json:"daemonVersion,omitempty"`
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the versions of setlet, of the daemon and of its containerd",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "client", Usage: "print the client's version only"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output `FORMAT`: json or yaml"},
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c, ""); err != nil {
				return err
			}
			opts := versionOptions{ClientOnly: c.Bool("client"), Output: c.String("output")}
			if opts.Output != "" && opts.Output != outputJSON && opts.Output != outputYAML {
				return fmt.Errorf("unsupported output format %q: use json or yaml", opts.Output)
			}
			return runVersion(c.Context, clientOf(c), opts, c.App.Writer)
		},
	}
}

// runVersion prints the client's version and, unless ClientOnly, the
// daemon's. When the daemon does not answer, the client's version is
// still printed and the daemon's error returned.
func runVersion(ctx context.Context, client *api.Client, opts versionOptions, stdout io.Writer) error {
	out := versionOutput{ClientVersion: Version}
	var daemonErr error
	if !opts.ClientOnly {
		info, err := client.Version(ctx)
		if err != nil {
			daemonErr = err
		} else {
			out.Daemon = &info
		}
	}
	if done, err := writeEncoded(stdout, opts.Output, out); err != nil {
		return err
	} else if !done {
		printVersion(stdout, out)
	}
	return daemonErr
}

// printVersion prints versions one per line, as kubectl version does.
func printVersion(w io.Writer, v versionOutput) {
	fmt.Fprintf(w, "Client Version: %s\n", v.ClientVersion)
	if v.Daemon == nil {
		return
	}
	fmt.Fprintf(w, "Daemon Version: %s\n", v.Daemon.Version)
	fmt.Fprintf(w, "containerd Version: %s\n", orNone(v.Daemon.Containerd))
	fmt.Fprintf(w, "containerd Namespace: %s\n", orNone(v.Daemon.Namespace))
	fmt.Fprintf(w, "Network: %s\n", orNone(v.Daemon.Network))
	fmt.Fprintf(w, "DNS: %s\n", orNone(strings.Join(v.Daemon.DNS, ", ")))
}
