package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/setlet/setlet/daemon/api"
)

// execOptions are the inputs of `setlet exec`.
type execOptions struct {
	Namespace string
	Pod       string
	Exec      api.ExecOptions
}

func execCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a command in a container of a pod, as kubectl exec does",
		ArgsUsage: "POD -- COMMAND [ARG...]",
		Description: "Runs COMMAND in the pod's container (-c, default the first) and exits with its exit\n" +
			"code. -i sends standard input to it; -it gives it a terminal (the local terminal is put\n" +
			"in raw mode and its size follows the window's).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "container", Aliases: []string{"c"}, Usage: "the `CONTAINER` (default: the pod's first)"},
			&cli.BoolFlag{Name: "stdin", Aliases: []string{"i"}, Usage: "pass standard input to the command"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the command a terminal (with -i)"},
		},
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) == 0 {
				return errors.New("exec needs a POD and a COMMAND: exec POD -- COMMAND [ARG...]")
			}
			if len(args) == 1 {
				return fmt.Errorf("exec %s needs a COMMAND: exec %s -- COMMAND [ARG...]", args[0], args[0])
			}
			pod := args[0]
			if typ, name, ok := splitTypeName(pod); ok {
				if res, known := lookupResource(typ); !known || res.Name != "pods" {
					return fmt.Errorf("exec %s: commands run in pods", pod)
				}
				pod = name
			}
			opts := execOptions{Namespace: c.String("namespace"), Pod: pod, Exec: api.ExecOptions{
				Container: c.String("container"), Command: args[1:], Stdin: c.Bool("stdin"), TTY: c.Bool("tty"),
			}}
			return runExec(c.Context, clientOf(c), opts, c.App.Reader, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// runExec runs the command and returns nil when it exits 0, or an
// *exitError with its exit code. With a terminal (-it, and stdin a
// terminal) the local terminal is in raw mode while the command runs.
func runExec(ctx context.Context, client *api.Client, opts execOptions, stdin io.Reader, stdout, stderr io.Writer) error {
	if !opts.Exec.Stdin {
		stdin, opts.Exec.TTY = nil, false
	}
	var resize chan api.TermSize
	if opts.Exec.TTY {
		in, ok := stdin.(*os.File)
		if !ok || !term.IsTerminal(int(in.Fd())) {
			fmt.Fprintln(stderr, "Unable to use a TTY - input is not a terminal or the right kind of file")
			opts.Exec.TTY = false
		} else {
			state, err := term.MakeRaw(int(in.Fd()))
			if err != nil {
				return fmt.Errorf("putting the terminal in raw mode: %w", err)
			}
			defer term.Restore(int(in.Fd()), state)
			var stop func()
			resize, stop = followSize(sizeFD(in, stdout))
			defer stop()
		}
	}
	code, err := client.Exec(ctx, opts.Namespace, opts.Pod, opts.Exec, stdin, stdout, stderr, resize)
	switch {
	case ctx.Err() != nil:
		return &exitError{code: 130} // interrupted, as a shell reports SIGINT
	case err != nil && code != 0:
		return &exitError{code: code, msg: "setlet: " + err.Error()}
	case err != nil:
		return podError(ctx, client, opts.Namespace, opts.Pod, err)
	case code != 0:
		return &exitError{code: code, msg: fmt.Sprintf("command terminated with exit code %d", code)}
	}
	return nil
}

// sizeFD is the terminal whose size the remote terminal takes: stdout's
// when it is a terminal, else stdin's.
func sizeFD(in *os.File, stdout io.Writer) int {
	if out, ok := stdout.(*os.File); ok && term.IsTerminal(int(out.Fd())) {
		return int(out.Fd())
	}
	return int(in.Fd())
}

// followSize returns a channel that delivers the terminal's size now and
// on every SIGWINCH, and a stop function that ends it (and closes the
// channel) once the exec is over.
func followSize(fd int) (chan api.TermSize, func()) {
	resize := make(chan api.TermSize, 1)
	if w, h, err := term.GetSize(fd); err == nil {
		resize <- api.TermSize{Width: uint16(w), Height: uint16(h)}
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-winch:
				w, h, err := term.GetSize(fd)
				if err != nil {
					continue
				}
				select {
				case resize <- api.TermSize{Width: uint16(w), Height: uint16(h)}:
				case <-done:
					return
				}
			}
		}
	}()
	return resize, func() {
		signal.Stop(winch)
		close(done)
		wg.Wait()
		close(resize)
	}
}
