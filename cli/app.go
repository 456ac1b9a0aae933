package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/daemon/api"
)

// Version is the setlet version printed by `setlet --version`. Release
// builds set it with -ldflags "-X github.com/setlet/setlet/cli.Version=...".
var Version = "dev"

// errSilent is returned by an action that has already printed its own
// diagnostics; Main then exits 1 without printing anything more.
var errSilent = errors.New("already reported")

// exitError ends the process with code after Main prints msg (if any) to
// stderr as it is, without the "setlet: " prefix: kubectl's own lines
// ("Error from server (NotFound): ...") and the exit code of a command run
// by exec.
type exitError struct {
	code int
	msg  string
}

// Error returns the message, or the exit status when there is none.
func (e *exitError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return fmt.Sprintf("exit status %d", e.code)
}

// EnvSocket names the environment variable that sets --socket.
const EnvSocket = "SETLET_SOCKET"

// NewApp returns the setlet command-line application. Results go to stdout,
// diagnostics to stderr; stdin is what `-f -`, `image import -` and
// `exec -i` read.
func NewApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:                 "setlet",
		Usage:                "run Kubernetes StatefulSets on one host, without a cluster",
		Version:              Version,
		Reader:               stdin,
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "socket", EnvVars: []string{EnvSocket}, Value: defaultSocket(), Usage: "the daemon's API socket `PATH`"},
			&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, Value: configs.DefaultNamespace, Usage: "the `NAMESPACE` to work in"},
		},
		Commands: []*cli.Command{
			// The daemon itself.
			daemonCommand(),

			// Manifests.
			applyCommand(),
			deleteCommand(),
			validateCommand(),
			// Looking at what runs.
			getCommand(),
			describeCommand(),
			logsCommand(),
			execCommand(),
			// Changing it.
			scaleCommand(),
			rolloutCommand(),
			setCommand(),
			imageCommand(),
			doctorCommand(),
			statusCommand(),
			versionCommand(),
		},
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return fmt.Errorf("unknown command %q for \"setlet\": see setlet --help", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		ExitErrHandler: func(*cli.Context, error) {}, // Main reports errors itself.
	}
	oneLineUsageErrors(app.Commands)
	return app
}

// oneLineUsageErrors makes every command report a flag error as one line,
// without the help text urfave/cli prints by default.
func oneLineUsageErrors(cmds []*cli.Command) {
	for _, c := range cmds {
		if c.OnUsageError == nil {
			c.OnUsageError = usageError
		}
		oneLineUsageErrors(c.Subcommands)
	}
}

// Main runs the application with args (args[0] is the program name) and
// returns the process exit code: 0 on success, the remote command's code
// for exec, 1 on any other error, which is printed to stderr as one line
// unless the command already reported it. An interrupt (SIGINT, SIGTERM)
// cancels the command's context, which ends `get -w` and `logs -f`
// cleanly; a second interrupt kills the process.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)

	app := NewApp(stdin, stdout, stderr)
	args, err := reorderArgs(app, args)
	if err == nil {
		err = app.RunContext(ctx, args)
	}
	return exitCode(err, stderr)
}

// exitCode reports err on stderr, if it was not reported already, and
// returns the process exit code it stands for.
func exitCode(err error, stderr io.Writer) int {
	var exit *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		if exit.msg != "" {
			fmt.Fprintln(stderr, exit.msg)
		}
		return exit.code
	case errors.Is(err, errSilent):
		return 1
	}
	fmt.Fprintf(stderr, "setlet: %v\n", err)
	return 1
}

// defaultSocket is the daemon's default API socket.
func defaultSocket() string {
	cfg := configs.DefaultDaemonConfig()
	cfg.Complete()
	return cfg.Socket
}

// clientOf returns a client for the daemon at --socket.
func clientOf(c *cli.Context) *api.Client {
	return api.NewClient(c.String("socket"))
}

// usageError returns a flag error as it is, to be reported as one line.
func usageError(_ *cli.Context, err error, _ bool) error {
	return err
}

// hostName is the host's name, or "" when it cannot be read.
func hostName() string {
	name, err := os.Hostname()
	if err != nil {
		return ""
	}
	return name
}

// noArgs refuses arguments for a command that takes none.
func noArgs(c *cli.Context, hint string) error {
	if c.NArg() > 0 {
		return fmt.Errorf("%s takes no arguments, got %q%s", c.Command.Name, c.Args().First(), hint)
	}
	return nil
}
