package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/daemon/api"
	"github.com/setlet/setlet/runtime"
)

// The fault-injection harness's checks (see faults_test.go): what must
// hold once the daemon has recovered from a kill.

// converge waits until doctor finds every invariant holding and the set
// converged to f.want, and nothing held outside the state file belongs to
// a pod that is gone. Right after a restart the state file can still say
// Running for a container that is gone, until the kubelet's first sync,
// and the daemon releases what a killed one left in the background: only
// what still holds at the deadline is a violation. The failure lists the
// last violations seen on the way, with when.
func (f *faults) converge() {
	f.t.Helper()
	began := time.Now()
	deadline := began.Add(faultConvergeTimeout)
	var seen []string // the last violations seen, oldest first
	for {
		check, problem := f.violation()
		if check == "" {
			return
		}
		line := fmt.Sprintf("%s: %s", check, problem)
		if n := len(seen); n == 0 || !strings.HasSuffix(seen[n-1], "] "+line) {
			seen = append(seen, fmt.Sprintf("[after %v] %s", time.Since(began).Round(time.Millisecond), line))
			seen = seen[max(0, len(seen)-faultHistory):]
		}
		if time.Now().After(deadline) {
			f.fail(check, fmt.Sprintf("%s\nstill after %v; the last violations seen:\n  %s",
				problem, faultConvergeTimeout, strings.Join(seen, "\n  ")))
		}
		time.Sleep(100 * time.Millisecond) // doctor has no watch: poll
	}
}

// violation returns the first invariant that does not hold now (its name
// and what is wrong), or "".
func (f *faults) violation() (check, problem string) {
	e := f.e
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	report, err := e.client.Doctor(ctx)
	if err != nil {
		return "doctor", err.Error()
	}
	for _, c := range report.Checks {
		if !c.OK {
			return c.Name, strings.Join(c.Problems, "; ")
		}
	}
	if is := specOf(f.set()); !is.matches(f.want) {
		return "spec", fmt.Sprintf("the set is %s, want %s", is, f.want)
	}
	var waiting []string
	for _, s := range report.Sets {
		if !s.Converged {
			waiting = append(waiting, fmt.Sprintf("set %s/%s: %s", s.Namespace, s.Name, s.Waiting))
		}
	}
	if len(waiting) > 0 {
		return "convergence", strings.Join(waiting, "; ")
	}
	pods, err := e.client.Pods(ctx, "default")
	if err != nil {
		return "api", err.Error()
	}
	if !f.want.exists && (len(report.Sets) > 0 || len(pods) > 0) {
		return "convergence", fmt.Sprintf("the set is deleted, but %d pods are left", len(pods))
	}
	if f.want.exists && len(pods) != f.want.replicas {
		return "convergence", fmt.Sprintf("%d pods, want %d", len(pods), f.want.replicas)
	}
	return f.leftovers(pods)
}

// leftovers checks, beyond doctor, that what the pods hold outside the
// state file belongs to the live pods: containers, IP allocations, cached
// attachments, network namespace owner records and iptables rules by pod
// UID, network namespace mounts by name, one running container per pod
// and one active snapshot per container.
func (f *faults) leftovers(pods []corev1.Pod) (check, problem string) {
	e := f.e
	uids := map[string]bool{}
	var mounts []string
	for _, p := range pods {
		uids[string(p.UID)] = true
		mounts = append(mounts, filepath.Join(e.dir, "run", "netns", p.Name))
	}
	var left []string
	for _, h := range e.holdings() {
		if !uids[h.uid] {
			left = append(left, fmt.Sprintf("%s %s of pod uid %s", h.kind, h.name, h.uid))
		}
	}
	if len(left) > 0 {
		return "leftovers", "the live pods do not own " + strings.Join(left, ", ")
	}
	got := netnsMounts(f.t, filepath.Join(e.dir, "run", "netns"))
	slices.Sort(got)
	slices.Sort(mounts)
	if !slices.Equal(got, mounts) {
		return "leftovers", fmt.Sprintf("network namespace mounts %v, want %v", got, mounts)
	}
	ctrs := e.containers()
	perPod := map[string][]container{}
	for _, c := range ctrs {
		perPod[c.labels["setlet.io/pod-uid"]] = append(perPod[c.labels["setlet.io/pod-uid"]], c)
	}
	for _, p := range pods {
		if cs := perPod[string(p.UID)]; len(cs) != 1 || cs[0].status != containerd.Running {
			return "leftovers", fmt.Sprintf("pod %s (uid %s) has containers %+v, want one running", p.Name, p.UID, cs)
		}
	}
	if snaps := e.activeSnapshots(); len(snaps) != len(ctrs) {
		return "leftovers", fmt.Sprintf("%d active snapshots %v for %d containers", len(snaps), snaps, len(ctrs))
	}
	return "", ""
}

// shims lists the containerd shims of the env's containerd and namespace.
func (e *env) shims() []runtime.Shim {
	e.t.Helper()
	shims, err := runtime.ListShims(e.containerd, e.namespace)
	if err != nil {
		e.t.Fatal(err)
	}
	return shims
}

// orphans returns the env's shims whose container has no task.
func (f *faults) orphans() []runtime.Shim {
	tasks := f.e.tasks()
	var out []runtime.Shim
	for _, s := range f.e.shims() {
		if _, ok := tasks[s.Container]; !ok {
			out = append(out, s)
		}
	}
	return out
}

// noteShims notes the shims that serve no task after a step. A shim
// exits on its own schedule after its task is deleted: only one still
// there at the end of the run has leaked (see reportShims).
func (f *faults) noteShims() {
	for _, s := range f.orphans() {
		if _, ok := f.orphanShims[s]; !ok {
			f.orphanShims[s] = fmt.Sprintf("container %s, first seen without its task after injection %d/%d: %s",
				s.Container, f.injection, f.total, f.what)
		}
	}
}

// reportShims logs, and kills, the shims that serve no task at the end
// of the run. containerd leaks the shim of a task whose Delete request is
// cancelled between the shim's Delete and its Shutdown, as a daemon
// killed while it removes a container cancels it: containerd forgets the
// task and deletes its bundle, but never stops the shim, which no client
// can reach through containerd any more (containerd/containerd#11392;
// seen here with containerd 1.6.20, after kills that found a pod being
// deleted). The daemon's invariants are kept (no container or task is
// left that the state file does not know), so the run does not fail; it
// says what was left, checks that `setlet doctor` warns of it, and cleans
// up after containerd.
func (f *faults) reportShims() {
	var warnings string
	for _, s := range f.orphans() {
		when, ok := f.orphanShims[s]
		if !ok {
			continue // not yet orphaned at the end of a step: on its way out
		}
		if warnings == "" {
			warnings = f.doctorWarnings()
		}
		if !strings.Contains(warnings, fmt.Sprintf("containerd shim pid %d (container %s) serves no task", s.PID, s.Container)) {
			f.t.Errorf("setlet doctor does not warn of the leaked shim pid %d; its warnings:\n%s", s.PID, warnings)
		}
		f.t.Logf("containerd leaked shim pid %d of %s (containerd/containerd#11392); killing it", s.PID, when)
		if err := syscall.Kill(s.PID, syscall.SIGKILL); err != nil {
			f.t.Logf("killing shim pid %d: %v", s.PID, err)
		}
	}
}

// doctorWarnings returns the warnings of `setlet doctor`, one a line.
func (f *faults) doctorWarnings() string {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	report, err := f.e.client.Doctor(ctx)
	if err != nil {
		f.t.Errorf("setlet doctor: %v", err)
		return "-"
	}
	var out []string
	for _, c := range report.Checks {
		out = append(out, c.Warnings...)
	}
	return strings.Join(out, "\n") + "\n"
}

// checkNotRestarted checks that every container running before the
// operation that still exists runs the same task, and that no pod's
// container was restarted.
func (f *faults) checkNotRestarted(before map[string]uint32) {
	f.t.Helper()
	for id, pid := range f.e.tasks() {
		if was, ok := before[id]; ok && was != pid {
			f.fail("no-restart", fmt.Sprintf("container %s ran as pid %d before, as pid %d now: it was restarted", id, was, pid))
		}
	}
	pods, err := f.e.client.Pods(context.Background(), "default")
	if err != nil {
		f.fail("api", err.Error())
	}
	for _, p := range pods {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.RestartCount != 0 {
				f.fail("no-restart", fmt.Sprintf("pod %s (uid %s): container %s restarted %d times", p.Name, p.UID, cs.Name, cs.RestartCount))
			}
		}
	}
}

// checkVolumes checks that every volume the harness wrote a marker into
// is still there with it, reading the host path the daemon reports, then
// writes a marker into the volume of each pod that has none yet, through
// the pod, and checks it lands in that volume's host directory.
func (f *faults) checkVolumes() {
	f.t.Helper()
	paths := f.volumePaths()
	for name, want := range f.markers {
		path, ok := paths[name]
		if !ok {
			f.fail("volumes", fmt.Sprintf("volume %s is gone", name))
		}
		got, err := os.ReadFile(filepath.Join(path, "marker"))
		if err != nil {
			f.fail("volumes", fmt.Sprintf("volume %s lost its data: %v", name, err))
		}
		if string(got) != want {
			f.fail("volumes", fmt.Sprintf("volume %s holds %q in %s, want %q", name, got, filepath.Join(path, "marker"), want))
		}
	}
	if !f.want.exists {
		return
	}
	for ordinal := range f.want.replicas {
		name := fmt.Sprintf("www-web-%d", ordinal)
		if _, ok := f.markers[name]; ok {
			continue
		}
		path, ok := paths[name]
		if !ok {
			f.fail("volumes", fmt.Sprintf("web-%d is Ready, but its volume %s is not listed", ordinal, name))
		}
		marker := fmt.Sprintf("%s, written after injection %d of seed %d\n", name, f.injection, f.seed)
		if f.injection == 0 {
			marker = fmt.Sprintf("%s, written after the first apply of seed %d\n", name, f.seed)
		}
		f.e.mustRun("exec", fmt.Sprintf("web-%d", ordinal), "--", "sh", "-c", "echo '"+strings.TrimSuffix(marker, "\n")+"' > /www/marker")
		got, err := os.ReadFile(filepath.Join(path, "marker"))
		if err != nil || string(got) != marker {
			f.fail("volumes", fmt.Sprintf("wrote %q into /www/marker of web-%d, and %s holds %q (%v)", marker, ordinal, path, got, err))
		}
		f.markers[name] = marker
	}
	if len(paths) != len(f.markers) {
		f.fail("volumes", fmt.Sprintf("%d volumes, %d made by the set's pods: %v", len(paths), len(f.markers), paths))
	}
}

// volumePaths returns the host path of each volume by name.
func (f *faults) volumePaths() map[string]string {
	f.t.Helper()
	vols, err := f.e.client.Volumes(context.Background(), "default")
	if err != nil {
		f.fail("api", fmt.Sprintf("listing volumes: %v", err))
	}
	paths := map[string]string{}
	for _, v := range vols {
		paths[v.Name] = v.Annotations[api.VolumePathAnnotation]
	}
	return paths
}
