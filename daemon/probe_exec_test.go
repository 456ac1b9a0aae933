package daemon

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// execFunc is a probeExecer made of a function: the runtime is the boundary
// the daemon fakes.
type execFunc func(ctx context.Context, containerID string, cmd []string) ([]byte, int, error)

func (f execFunc) ExecProbe(ctx context.Context, containerID string, cmd []string) ([]byte, int, error) {
	return f(ctx, containerID, cmd)
}

// execProbeOf returns an exec probe of cmd with a 1 s timeout.
func execProbeOf(cmd ...string) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}}, TimeoutSeconds: 1}
}

func TestProbeExec(t *testing.T) {
	t.Parallel()
	env := []corev1.EnvVar{{Name: "FILE", Value: "/tmp/ready"}}
	for _, tc := range []struct {
		name    string
		cmd     []string
		exec    execFunc
		ok      bool
		unknown bool
		message string
	}{
		{"Exec/exit code 0 succeeds", []string{"true"}, func(context.Context, string, []string) ([]byte, int, error) {
			return []byte("fine"), 0, nil
		}, true, false, ""},
		{"Exec/a non-zero exit fails with the output", []string{"check"}, func(context.Context, string, []string) ([]byte, int, error) {
			return []byte("db not ready\n"), 1, nil
		}, false, false, "db not ready\n"},
		{"Exec/a silent non-zero exit fails with the exit code", []string{"cat", "/tmp/x"}, func(context.Context, string, []string) ([]byte, int, error) {
			return nil, 2, nil
		}, false, false, `command "cat /tmp/x" exited with code 2`},
		{"Exec/a command past timeoutSeconds fails as timed out", []string{"sleep", "10"}, func(ctx context.Context, _ string, _ []string) ([]byte, int, error) {
			<-ctx.Done()
			return nil, -1, ctx.Err()
		}, false, false, `command "sleep 10" timed out`},
		{"Exec/a runtime error is Unknown", []string{"true"}, func(context.Context, string, []string) ([]byte, int, error) {
			return nil, -1, errors.New("container not found")
		}, false, true, "exec probe: container not found"},
		{"Exec/the output is capped at 10 KiB", []string{"check"}, func(context.Context, string, []string) ([]byte, int, error) {
			return []byte(strings.Repeat("x", 1<<20)), 1, nil
		}, false, false, strings.Repeat("x", probeMaxOutput)},
		{"Exec/the command runs in the target container with $(VAR) expanded", []string{"test", "-f", "$(FILE)"}, func(_ context.Context, id string, cmd []string) ([]byte, int, error) {
			if id != "c1" || !reflect.DeepEqual(cmd, []string{"test", "-f", "/tmp/ready"}) {
				return []byte(id + " " + strings.Join(cmd, " ")), 1, nil
			}
			return nil, 0, nil
		}, true, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pr := newProber(tc.exec)
			got := pr.runProbe(context.Background(), execProbeOf(tc.cmd...), probeTarget{ContainerID: "c1", Env: env})
			if got.OK != tc.ok || got.Unknown != tc.unknown || !strings.HasPrefix(got.Message, tc.message) || len(got.Message) > probeMaxOutput {
				t.Fatalf("got %+v, want ok %v unknown %v message %q", got, tc.ok, tc.unknown, tc.message)
			}
		})
	}
	t.Run("Exec/without an execer an exec probe is Unknown", func(t *testing.T) {
		t.Parallel()
		if got := newProber(nil).runProbe(context.Background(), execProbeOf("true"), probeTarget{}); !got.Unknown {
			t.Fatalf("got %+v", got)
		}
	})
}

func TestProbeExpandCommand(t *testing.T) {
	env := []corev1.EnvVar{
		{Name: "A", Value: "1"},
		{Name: "B", Value: "two words"},
		{Name: "FROM", ValueFrom: &corev1.EnvVarSource{}},
	}
	for _, tc := range []struct {
		name string
		arg  string
		want string
	}{
		{"Expand/$(VAR) takes the variable's value", "x=$(A)", "x=1"},
		{"Expand/a value with spaces stays one argument", "$(B)", "two words"},
		{"Expand/an unknown variable stays as written", "$(NOPE)", "$(NOPE)"},
		{"Expand/a variable set from a source expands to empty", "[$(FROM)]", "[]"},
		{"Expand/$$ escapes a dollar", "$$(A)", "$(A)"},
		{"Expand/a lone dollar stays", "cost $5 $", "cost $5 $"},
		{"Expand/an unclosed reference stays", "$(A", "$(A"},
		{"Expand/several references", "$(A)$(A)-$(B)", "11-two words"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := expandProbeCommand([]string{"sh", tc.arg}, env)
			if got[1] != tc.want || got[0] != "sh" {
				t.Fatalf("got %q, want %q", got[1], tc.want)
			}
		})
	}
	t.Run("Expand/the command is not modified", func(t *testing.T) {
		cmd := []string{"$(A)"}
		expandProbeCommand(cmd, env)
		if cmd[0] != "$(A)" {
			t.Fatalf("modified: %q", cmd)
		}
	})
}
