package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/runtime"
	"github.com/setlet/setlet/storage"
)

// The fault-injection harness (DESIGN.md, "Failure model"): one daemon,
// one set, and a series of operations, each started through the CLI and
// cut short by killing the daemon with SIGKILL after a random delay. After
// each restart the harness waits until `setlet doctor` finds every
// invariant holding and the set converged to the spec last asked for, and
// nothing the pods hold outside the state file is left of a pod that is
// gone; then it checks what doctor cannot: a change the CLI saw
// acknowledged survived the kill, no container that was running was
// restarted, and every volume ever made is still there with its data.

// faultCycles is how many times the harness runs through the operations:
// each cycle injects one fault into each of them.
const faultCycles = 10

// faultConvergeTimeout bounds the wait for doctor to find the daemon
// healthy and the set converged after a restart.
const faultConvergeTimeout = 90 * time.Second

// faultHistory is how many of the violations seen while waiting a failure
// lists.
const faultHistory = 6

// faultSetTemplate is a RollingUpdate OrderedReady set whose pods serve
// their volume with busybox httpd and are Ready when it answers; a pod
// exits at once on SIGTERM. The placeholders are the replicas and the
// template's version, which a rolling update changes. Both retention
// policies are Retain (the default): every volume ever made must stay.
const faultSetTemplate = `apiVersion: v1
kind: Service
metadata:
  name: faults
spec:
  clusterIP: None
  selector:
    app: faults
  ports:
  - port: 80
    name: web
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: faults
  replicas: %d
  podManagementPolicy: OrderedReady
  updateStrategy:
    type: RollingUpdate
  selector:
    matchLabels:
      app: faults
  template:
    metadata:
      labels:
        app: faults
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: setlet.local/busybox:1
        env:
        - name: VERSION
          value: "%d"
        command:
        - sh
        - -c
        - 'echo "$(hostname) version $VERSION" > /www/index.html; trap "exit 0" TERM; httpd -f -p 80 -h /www & wait'
        readinessProbe:
          httpGet:
            path: /
            port: 80
          periodSeconds: 1
        volumeMounts:
        - name: www
          mountPath: /www
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes:
      - ReadWriteOnce
      resources:
        requests:
          storage: 1Gi
`

// faultOp is an operation the harness interrupts.
type faultOp string

const (
	opUpdate    faultOp = "rolling-update"  // apply a changed template
	opScaleUp   faultOp = "scale-up"        // one more replica
	opScaleDown faultOp = "scale-down"      // one replica less
	opDeletePod faultOp = "delete-pod"      // a random ordinal's pod
	opRestart   faultOp = "rollout-restart" // a new restartedAt annotation
	opDeleteSet faultOp = "delete-set"      // the set, its volumes retained
	opReapply   faultOp = "re-apply"        // the deleted set again
)

// killWindow is the range of the delay between starting an operation's
// command and the SIGKILL, about as long as the operation's work takes
// on this kind of machine without a kill (starting the CLI takes tens of
// milliseconds, a pod about 300 ms to be Ready, a rolling update of three
// pods about a second): the kills land before, during and just after the
// request, and anywhere in the work it starts.
var killWindow = map[faultOp]time.Duration{
	opUpdate:    1200 * time.Millisecond,
	opScaleUp:   500 * time.Millisecond,
	opScaleDown: 400 * time.Millisecond,
	opDeletePod: 700 * time.Millisecond,
	opRestart:   1200 * time.Millisecond,
	opDeleteSet: 400 * time.Millisecond,
	opReapply:   800 * time.Millisecond,
}

// One injection in requestKills kills the daemon within
// requestKillWindow of starting the command: while the command starts
// (tens of milliseconds) and the daemon handles its request, between the
// commit of a change and what the daemon does right after it.
const (
	requestKills      = 4
	requestKillWindow = 60 * time.Millisecond
)

// One injection in recoveryKills kills the restarted daemon once more,
// within recoveryKillWindow of its start: while it recovers (a restart
// takes about 100 ms to answer, and its first pod syncs follow).
const (
	recoveryKills      = 3
	recoveryKillWindow = 400 * time.Millisecond
)

// faultSchedule returns the operations of the run: per cycle each
// operation once, in a random order, a re-apply right after the set's
// deletion. Each cycle scales up once and down once, so the set keeps
// between one and three replicas, starting from two.
func faultSchedule(rng *rand.Rand) []faultOp {
	var ops []faultOp
	for range faultCycles {
		cycle := []faultOp{opUpdate, opScaleUp, opScaleDown, opDeletePod, opRestart, opDeleteSet}
		rng.Shuffle(len(cycle), func(i, j int) { cycle[i], cycle[j] = cycle[j], cycle[i] })
		for _, op := range cycle {
			ops = append(ops, op)
			if op == opDeleteSet {
				ops = append(ops, opReapply)
			}
		}
	}
	return ops
}

// faultSpec is what the harness last asked of the set.
type faultSpec struct {
	exists   bool
	replicas int
	version  int
}

// matches reports whether s and o are the same spec: any two deleted
// sets are.
func (s faultSpec) matches(o faultSpec) bool {
	return s == o || !s.exists && !o.exists
}

func (s faultSpec) String() string {
	if !s.exists {
		return "no set"
	}
	return fmt.Sprintf("%d replicas at version %d", s.replicas, s.version)
}

// faults is the state of one fault-injection run.
type faults struct {
	e        *env
	t        *testing.T
	seed     int64
	rng      *rand.Rand
	manifest string    // the manifest file apply reads
	want     faultSpec // the spec last asked for
	// markers maps every volume ever made to the content of the marker
	// file the harness wrote into it.
	markers map[string]string
	// injection is the current injection (1-based), of total; what
	// describes it for failure messages.
	injection, total int
	what             string
	// busy counts the injections whose kill found the set short of its
	// spec in the state file: work in progress.
	busy int
	// recoveries counts the second kills, during a recovery.
	recoveries int
	// orphanShims maps each containerd shim seen without its task after
	// a step to the injection it was first seen after.
	orphanShims map[runtime.Shim]string
}

// faultSeed returns the seed of the run: SETLET_FAULT_SEED, or the time.
func faultSeed(t *testing.T) int64 {
	s := os.Getenv("SETLET_FAULT_SEED")
	if s == "" {
		return time.Now().UnixNano()
	}
	seed, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("SETLET_FAULT_SEED=%q: %v", s, err)
	}
	return seed
}

// TestFaultInjection kills the daemon with SIGKILL at random points of
// rolling updates, scaling up and down, pod deletions, rollout restarts,
// set deletions and re-applies (faultCycles times each; some kills land
// while the command's request is handled, and some restarts are killed
// again while they recover), and checks after each restart that the
// daemon's invariants hold and the set converges to its spec (setlet
// doctor; see api.DoctorReport), that nothing the pods hold outside the
// state file (containers, snapshots, network namespaces and their mounts,
// IPs, cached attachments, iptables rules) belongs to a pod that is gone,
// that a change the CLI saw acknowledged survived the kill and one it did
// not is all there or not at all, that no running container was
// restarted, and that every volume ever made still holds what the harness
// wrote into it. It logs each injection (operation, delay, what the state
// file held at the kill, how long the recovery took) and the shims
// containerd leaked (see reportShims). Run with SETLET_FAULT_SEED=<seed>
// to repeat a run.
func TestFaultInjection(t *testing.T) {
	t.Parallel()
	seed := faultSeed(t)
	t.Logf("seed %d (repeat with SETLET_FAULT_SEED=%d)", seed, seed)
	e := newEnv(t)
	f := &faults{
		e: e, t: t, seed: seed, rng: rand.New(rand.NewSource(seed)),
		manifest: filepath.Join(e.dir, "faults.yaml"),
		want:     faultSpec{exists: true, replicas: 2, version: 1},
		markers:  map[string]string{},
		what:     "the first apply",

		orphanShims: map[runtime.Shim]string{},
	}
	t.Cleanup(f.reportShims)
	f.writeManifest(f.want)
	e.mustRun("apply", "-f", f.manifest)
	f.converge()
	f.checkVolumes()

	ops := faultSchedule(f.rng)
	f.total = len(ops)
	count := map[faultOp]int{}
	began := time.Now()
	for i, op := range ops {
		f.injection = i + 1
		f.inject(op)
		count[op]++
	}
	var per []string
	for _, op := range []faultOp{opUpdate, opScaleUp, opScaleDown, opDeletePod, opRestart, opDeleteSet, opReapply} {
		per = append(per, fmt.Sprintf("%s %d", op, count[op]))
	}
	t.Logf("%d injections in %v (seed %d), %d of them with work in progress, %d killed again while recovering: %s; %d volumes kept",
		len(ops), time.Since(began).Round(time.Millisecond), seed, f.busy, f.recoveries, strings.Join(per, ", "), len(f.markers))
}

// writeManifest writes the manifest of spec to the file apply reads.
func (f *faults) writeManifest(spec faultSpec) {
	f.t.Helper()
	if err := os.WriteFile(f.manifest, []byte(fmt.Sprintf(faultSetTemplate, spec.replicas, spec.version)), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// plan returns the spec op asks for, the command that asks for it, and
// the pod a deletion deletes.
func (f *faults) plan(op faultOp) (next faultSpec, args []string, pod string) {
	next = f.want
	switch op {
	case opUpdate:
		next.version++
		f.writeManifest(next)
		args = []string{"apply", "-f", f.manifest}
	case opScaleUp, opScaleDown:
		next.replicas++
		if op == opScaleDown {
			next.replicas -= 2
		}
		args = []string{"scale", "set", "web", "--replicas", strconv.Itoa(next.replicas)}
	case opDeletePod:
		pod = fmt.Sprintf("web-%d", f.rng.Intn(next.replicas))
		args = []string{"delete", "pod", pod}
	case opRestart:
		args = []string{"rollout", "restart", "set", "web"}
	case opDeleteSet:
		next.exists = false
		args = []string{"delete", "set", "web"}
	case opReapply:
		next.exists = true
		f.writeManifest(next)
		args = []string{"apply", "-f", f.manifest}
	}
	return next, args, pod
}

// inject runs op, kills the daemon in its middle, starts it again and
// checks what the kill left once the set has converged.
func (f *faults) inject(op faultOp) {
	e, t := f.e, f.t
	t.Helper()
	start := time.Now()
	before := f.want
	next, args, pod := f.plan(op)
	window := killWindow[op]
	if f.rng.Intn(requestKills) == 0 {
		window = requestKillWindow
	}
	delay := time.Duration(f.rng.Int63n(int64(window)))
	f.what = fmt.Sprintf("%s (%s -> %s, setlet %s), SIGKILL %v after the command started",
		op, before, next, strings.ReplaceAll(strings.Join(args, " "), f.manifest, filepath.Base(f.manifest)), delay.Round(time.Millisecond))

	ctx := context.Background()
	tasks := e.tasks()
	oldSet := f.set()
	var oldUID string
	if pod != "" {
		p, err := e.client.Pod(ctx, "default", pod)
		if err != nil {
			f.fail("setup", fmt.Sprintf("reading pod %s: %v", pod, err))
		}
		oldUID = string(p.UID)
	}

	// restartedAt has a resolution of a second: a restart in the second of
	// the one before changes nothing. (One started later is stamped later.)
	sameSecond := restartedAt(oldSet) == time.Now().UTC().Format(time.RFC3339)
	cmd := exec.Command(binary, append([]string{"--socket", e.socket}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The delay is the injection point, not a wait for something.
	time.Sleep(delay)
	f.kill()
	err := cmd.Wait()
	acked := err == nil
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running setlet %v: %v", args, err)
	}
	if acked {
		f.what += " (the command had succeeded)"
	} else {
		f.what += fmt.Sprintf(" (the command failed: %s)", strings.TrimSpace(out.String()))
	}
	killed := time.Now()
	atKill, busy := f.stateAtKill(next)
	f.what += "; at the kill the state file held " + atKill
	if busy {
		f.busy++
	}
	if f.rng.Intn(recoveryKills) == 0 {
		// A second kill, in the middle of the recovery from the first.
		again := time.Duration(f.rng.Int63n(int64(recoveryKillWindow)))
		f.what += fmt.Sprintf("; SIGKILL again %v after the restart", again.Round(time.Millisecond))
		f.recoveries++
		e.launch()
		time.Sleep(again)
		f.kill()
	}
	e.start()
	restarted := time.Now()

	// A change the CLI saw acknowledged survives the kill; one it did not
	// is there entirely or not at all, and is asked for again if not.
	got := f.set()
	switch op {
	case opDeletePod:
	case opRestart:
		if acked && !sameSecond && restartedAt(got) == restartedAt(oldSet) {
			f.fail("durability", fmt.Sprintf("rollout restart succeeded, but the template's restartedAt is still %q", restartedAt(got)))
		}
	default:
		switch is := specOf(got); {
		case is.matches(next):
		case acked:
			f.fail("durability", fmt.Sprintf("the command succeeded, but after the restart the set is %s, want %s", is, next))
		case is.matches(before):
			e.mustRun(args...)
			f.what += "; asked again after the restart"
		default:
			f.fail("atomicity", fmt.Sprintf("the command was cut short, and after the restart the set is %s, neither %s nor %s", is, before, next))
		}
	}
	f.want = next

	f.converge()
	converged := time.Now()
	f.checkNotRestarted(tasks)
	if pod != "" && acked {
		p, err := e.client.Pod(ctx, "default", pod)
		if err != nil {
			f.fail("durability", fmt.Sprintf("reading pod %s: %v", pod, err))
		}
		if string(p.UID) == oldUID {
			f.fail("durability", fmt.Sprintf("delete pod %s succeeded, but the pod is still uid %s", pod, oldUID))
		}
	}
	f.checkVolumes()
	f.noteShims()
	t.Logf("injection %d/%d: %s; restarted in %v, converged in %v, step %v",
		f.injection, f.total, f.what, restarted.Sub(killed).Round(time.Millisecond),
		converged.Sub(restarted).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// stateAtKill describes what the state file of the killed daemon holds:
// the set (generation, observed generation, replicas, update revision)
// and each pod (revision, Ready, or being deleted), and says whether the
// set was short of want there: whether the kill interrupted work.
func (f *faults) stateAtKill(want faultSpec) (string, bool) {
	f.t.Helper()
	store, err := storage.Open(filepath.Join(f.e.dir, "data", "state.db"))
	if err != nil {
		f.fail("state file", fmt.Sprintf("opening the state file after the kill: %v", err))
	}
	defer store.Close()
	set, err := store.StatefulSet("default", "web")
	if err != nil && !errdefs.IsNotFound(err) {
		f.fail("state file", fmt.Sprintf("reading the set after the kill: %v", err))
	}
	pods, err := store.AllPods()
	if err != nil {
		f.fail("state file", fmt.Sprintf("reading the pods after the kill: %v", err))
	}
	var desc []string
	busy := false
	if set == nil {
		desc = append(desc, "no set")
		busy = want.exists
	} else {
		desc = append(desc, fmt.Sprintf("set generation %d (observed %d), %s, update revision %s",
			set.Generation, set.Status.ObservedGeneration, specOf(set), set.Status.UpdateRevision))
		busy = !want.exists || set.Status.ObservedGeneration < set.Generation || len(pods) != want.replicas
	}
	slices.SortFunc(pods, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	for _, p := range pods {
		state := "not Ready"
		switch {
		case p.DeletionTimestamp != nil:
			state = "being deleted"
		case isReady(*p):
			state = "Ready"
		}
		rev := p.Labels[appsv1.StatefulSetRevisionLabel]
		desc = append(desc, fmt.Sprintf("%s %s at %s", p.Name, state, rev))
		busy = busy || state != "Ready" || set == nil || rev != set.Status.UpdateRevision
	}
	return strings.Join(desc, ", "), busy
}

// kill kills the daemon with SIGKILL, failing the test if it had
// already exited by itself.
func (f *faults) kill() {
	f.t.Helper()
	if err := f.e.killDaemon(); err != nil {
		f.fail("daemon", err.Error())
	}
}

// set returns the set, or nil once it is deleted.
func (f *faults) set() *appsv1.StatefulSet {
	f.t.Helper()
	set, err := f.e.client.StatefulSet(context.Background(), "default", "web")
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		f.fail("api", fmt.Sprintf("reading set web: %v", err))
	}
	return set
}

// specOf says what set is, in the harness's terms.
func specOf(set *appsv1.StatefulSet) faultSpec {
	if set == nil {
		return faultSpec{}
	}
	s := faultSpec{exists: true, replicas: 1, version: -1}
	if set.Spec.Replicas != nil {
		s.replicas = int(*set.Spec.Replicas)
	}
	for _, c := range set.Spec.Template.Spec.Containers {
		for _, env := range c.Env {
			if env.Name == "VERSION" {
				if v, err := strconv.Atoi(env.Value); err == nil {
					s.version = v
				}
			}
		}
	}
	return s
}

// restartedAt returns the template's restartedAt annotation.
func restartedAt(set *appsv1.StatefulSet) string {
	if set == nil {
		return ""
	}
	return set.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]
}

// fail stops the test with the injection point, the violated invariant
// and the end of the daemon's log.
func (f *faults) fail(check, problem string) {
	f.t.Helper()
	f.t.Fatalf("injection %d/%d of seed %d (repeat with SETLET_FAULT_SEED=%d): %s\ninvariant %q violated: %s\nthe daemon log ends:\n%s",
		f.injection, f.total, f.seed, f.seed, f.what, check, problem, tail(f.e.log(), 40))
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
