package runtime_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/setlet/setlet/runtime"
)

// TestExec runs processes in a running container: output, exit codes,
// stdin, environment, a terminal, and a timeout that kills the process.
func TestExec(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("exec")
	e.importBusybox(c)
	cfg := e.config("target", "sleep", "3600")
	e.run(c, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	exec := func(t *testing.T, ec runtime.ExecConfig) (int, string, string) {
		t.Helper()
		var out, errb strings.Builder
		ec.Stdout, ec.Stderr = &out, &errb
		code, err := c.Exec(ctx, "target", ec)
		if err != nil {
			t.Fatalf("Exec %q: %v", ec.Cmd, err)
		}
		return code, out.String(), errb.String()
	}
	t.Run("output and exit code", func(t *testing.T) {
		code, out, errs := exec(t, runtime.ExecConfig{Cmd: []string{"sh", "-c", "echo hi; echo oops >&2; exit 7"}})
		if code != 7 || out != "hi\n" || errs != "oops\n" {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
		}
	})
	t.Run("stdin", func(t *testing.T) {
		code, out, _ := exec(t, runtime.ExecConfig{Cmd: []string{"sh", "-c", "tr a-z A-Z; echo done"}, Stdin: strings.NewReader("abc\n")})
		if code != 0 || out != "ABC\ndone\n" {
			t.Errorf("exit %d, stdout %q", code, out)
		}
	})
	t.Run("environment", func(t *testing.T) {
		code, out, _ := exec(t, runtime.ExecConfig{Cmd: []string{"sh", "-c", `echo "$FOO $PATH"`}, Env: []string{"FOO=bar"}})
		if code != 0 || !strings.HasPrefix(out, "bar /usr/local/sbin:") {
			t.Errorf("exit %d, stdout %q", code, out)
		}
	})
	t.Run("no output wanted", func(t *testing.T) {
		code, err := c.Exec(ctx, "target", runtime.ExecConfig{Cmd: []string{"sh", "-c", "echo ignored; exit 2"}})
		if err != nil || code != 2 {
			t.Errorf("Exec = %d, %v", code, err)
		}
	})
	t.Run("tty", func(t *testing.T) {
		resize := make(chan runtime.TermSize, 1)
		resize <- runtime.TermSize{Width: 100, Height: 40}
		code, out, errs := exec(t, runtime.ExecConfig{Cmd: []string{"sh", "-c", "tty; echo $TERM; echo to-stderr >&2"}, TTY: true, Resize: resize})
		if code != 0 || !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "xterm\r\n") || !strings.Contains(out, "to-stderr") || errs != "" {
			t.Errorf("exit %d, terminal %q, stderr %q", code, out, errs)
		}
	})
	t.Run("timeout kills the process", func(t *testing.T) {
		tctx, tcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer tcancel()
		began := time.Now()
		code, err := c.Exec(tctx, "target", runtime.ExecConfig{Cmd: []string{"sleep", "60"}})
		if !errors.Is(err, context.DeadlineExceeded) || code != -1 {
			t.Fatalf("Exec = %d, %v; want -1 and the deadline", code, err)
		}
		if took := time.Since(began); took > 20*time.Second {
			t.Errorf("Exec returned after %v", took)
		}
		ctr, err := e.cd.LoadContainer(e.ctx(), "target")
		if err != nil {
			t.Fatal(err)
		}
		task, err := ctr.Task(e.ctx(), nil)
		if err != nil {
			t.Fatal(err)
		}
		pids, err := task.Pids(e.ctx())
		if err != nil || len(pids) != 1 || pids[0].Pid != task.Pid() {
			t.Errorf("processes in the container %+v, %v; want only the task's", pids, err)
		}
		left, _ := filepath.Glob(filepath.Join(e.fifo, e.ns, "target", "exec-*"))
		if len(left) != 0 {
			t.Errorf("exec FIFO directories left: %q", left)
		}
	})
	t.Run("errors", func(t *testing.T) {
		if _, err := c.Exec(ctx, "target", runtime.ExecConfig{}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("empty command: %v", err)
		}
		if _, err := c.Exec(ctx, "missing", runtime.ExecConfig{Cmd: []string{"true"}}); !errdefs.IsNotFound(err) {
			t.Errorf("missing container: %v", err)
		}
		if err := c.CreateContainer(ctx, e.config("stopped", "true")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(ctx, "stopped", runtime.ExecConfig{Cmd: []string{"true"}}); !errdefs.IsFailedPrecondition(err) {
			t.Errorf("container without a task: %v", err)
		}
		code, err := c.Exec(ctx, "target", runtime.ExecConfig{Cmd: []string{"/no/such/binary"}})
		if err == nil && code == 0 {
			t.Errorf("a missing binary ran: %d", code)
		}
	})
	if fifos, err := filepath.Glob(filepath.Join(e.fifo, e.ns, "target", "task-*", "stdout")); err != nil || len(fifos) != 1 {
		t.Errorf("the task's FIFOs: %v, %v; want its one stdout", fifos, err)
	}
}

// TestTerminalAndStdin checks a container with a terminal (its output is
// logged as stdout) and one whose stdin stays open without a log.
func TestTerminalAndStdin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client("stdio")
	e.importBusybox(c)
	ev := subscribe(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	tty := e.config("tty", "sh", "-c", "tty; echo to-stderr >&2")
	tty.TTY = true
	e.run(c, tty)
	ev.waitFor("tty", runtime.EventExit)
	waitLog(t, tty.LogPath, regexp.MustCompile(`to-stderr\n`))
	data, err := os.ReadFile(tty.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), " stdout F /dev/pts/") || !strings.Contains(string(data), " stdout F to-stderr\n") {
		t.Errorf("terminal log %q, want the terminal's lines as stdout", data)
	}

	stdin := e.config("stdin", "sleep", "3600")
	stdin.Stdin, stdin.LogPath = true, ""
	e.run(c, stdin)
	none := e.config("nostdin", "sleep", "3600")
	none.LogPath = ""
	e.run(c, none)
	for id, want := range map[string]string{"stdin": "pipe:", "nostdin": "/dev/null"} {
		var out strings.Builder
		code, err := c.Exec(ctx, id, runtime.ExecConfig{Cmd: []string{"readlink", "/proc/1/fd/0"}, Stdout: &out})
		if err != nil || code != 0 || !strings.HasPrefix(out.String(), want) {
			t.Errorf("%s: stdin of the task is %q (exit %d, %v), want %s...", id, out.String(), code, err, want)
		}
	}
}
