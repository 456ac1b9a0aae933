package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// probeExec runs one exec attempt: the command, with $(VAR) references
// expanded from the container's environment, runs in the container through
// the runtime, bounded by timeout. Exit code 0 is a success; another exit
// code is a failure whose message is the command's output (at most 10 KiB),
// or `command "..." exited with code N` when it printed nothing. Running
// past the timeout is a failure, `command "..." timed out`, as in the
// kubelet with ExecProbeTimeout on (the default). Any other runtime error
// (the container is gone, the exec could not start) is Unknown.
func (pr *prober) probeExec(ctx context.Context, e *corev1.ExecAction, t probeTarget, timeout time.Duration) probeOutcome {
	if pr.exec == nil {
		return probeOutcome{Unknown: true, Message: "exec probes are not available"}
	}
	cmd := expandProbeCommand(e.Command, t.Env)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, code, err := pr.exec.ExecProbe(ctx, t.ContainerID, cmd)
	if len(out) > probeMaxOutput {
		out = out[:probeMaxOutput]
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return probeOutcome{Message: fmt.Sprintf("command %q timed out", strings.Join(cmd, " "))}
		}
		return probeOutcome{Unknown: true, Message: fmt.Sprintf("exec probe: %v", err)}
	}
	if code == 0 {
		return probeOutcome{OK: true}
	}
	if len(out) == 0 {
		return probeOutcome{Message: fmt.Sprintf("command %q exited with code %d", strings.Join(cmd, " "), code)}
	}
	return probeOutcome{Message: string(out)}
}

// expandProbeCommand expands $(VAR) in each argument of cmd from the literal
// values of env, as the kubelet does for exec probes
// (ExpandContainerCommandOnlyStatic): $(VAR) becomes the value of VAR (""
// for a variable set from a source), an unknown $(VAR) stays as it is, $$
// becomes $, and any other $ is kept. cmd is not modified.
func expandProbeCommand(cmd []string, env []corev1.EnvVar) []string {
	if len(env) == 0 || !containsDollar(cmd) {
		return cmd
	}
	vars := make(map[string]string, len(env))
	for _, v := range env {
		vars[v.Name] = v.Value
	}
	out := make([]string, len(cmd))
	for i, arg := range cmd {
		out[i] = expandProbeArg(arg, vars)
	}
	return out
}

// containsDollar reports whether any argument holds a $.
func containsDollar(cmd []string) bool {
	for _, arg := range cmd {
		if strings.Contains(arg, "$") {
			return true
		}
	}
	return false
}

// expandProbeArg expands one argument; see expandProbeCommand.
func expandProbeArg(arg string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(arg); i++ {
		if arg[i] != '$' || i+1 == len(arg) {
			b.WriteByte(arg[i])
			continue
		}
		switch next := arg[i+1]; next {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(arg[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			name := arg[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
			b.WriteByte(next)
			i++
		}
	}
	return b.String()
}
