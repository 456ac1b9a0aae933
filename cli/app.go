package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
)

// Version is the setlet version printed by `setlet --version`. Release
// builds set it with -ldflags "-X github.com/setlet/setlet/cli.Version=...".
var Version = "dev"

// errSilent is returned by an action that has already printed its own
// diagnostics; Main then exits 1 without printing anything more.
var errSilent = errors.New("already reported")

// NewApp returns the setlet command-line application. Results go to stdout,
// diagnostics to stderr; stdin is what `-f -` reads.
func NewApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:                 "setlet",
		Usage:                "run Kubernetes StatefulSets on one host, without a cluster",
		Version:              Version,
		Reader:               stdin,
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		Commands: []*cli.Command{
			validateCommand(),
		},
		ExitErrHandler: func(*cli.Context, error) {}, // Main reports errors itself.
	}
}

// Main runs the application with args (args[0] is the program name) and
// returns the process exit code: 0 on success, 1 on any error, which is
// printed to stderr as one line unless the command already reported it.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if err := NewApp(stdin, stdout, stderr).Run(args); err != nil {
		if !errors.Is(err, errSilent) {
			fmt.Fprintf(stderr, "setlet: %v\n", err)
		}
		return 1
	}
	return 0
}
