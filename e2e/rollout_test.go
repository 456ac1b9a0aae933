package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/storage"
)

// heldSet is a 3-replica OrderedReady RollingUpdate set whose pods keep a
// volume at /www and are Ready when busybox httpd answers on /. A pod that
// starts with /www/hold in its volume serves nothing, so it stays not
// Ready until the test releases it (release): the rollout then waits at a
// known point whatever the machine's speed. Each run counts itself in
// /www/runs and logs "<pod> run <n>". On SIGTERM a pod notes its
// graceful stop in its volume, as a server flushes what it holds, and
// takes one more second to exit, so that it stays Terminating long enough
// for the pod watch to see it and for a kill to land while it stops.
const heldSet = `apiVersion: v1
kind: Service
metadata:
  name: held
spec:
  clusterIP: None
  selector:
    app: held
  ports:
  - port: 80
    name: web
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: held
  replicas: 3
  podManagementPolicy: OrderedReady
  updateStrategy:
    type: RollingUpdate
  selector:
    matchLabels:
      app: held
  template:
    metadata:
      labels:
        app: held
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: setlet.local/busybox:1
        command:
        - sh
        - -c
        - |
          trap 'echo "$(hostname) stopped on SIGTERM" >> /www/stops; sleep 1; exit 0' TERM
          n=$(( $(cat /www/runs 2>/dev/null || echo 0) + 1 )); echo $n > /www/runs
          echo "$(hostname) run $n"
          mkdir -p /tmp/www
          [ -e /www/hold ] || echo ok > /tmp/www/index.html
          httpd -f -p 80 -h /tmp/www &
          wait
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

// stage is where a pod of the set is in its replacement by the rolling
// update; stages only go forward.
type stage int

const (
	stageOld         stage = iota // the old revision's pod
	stageTerminating              // the old pod, marked for deletion
	stageGone                     // no pod of that name
	stageCreated                  // the update revision's pod, not Ready
	stageRunning                  // the update revision's pod, its container running, not Ready
	stageReady                    // the update revision's pod, Running and Ready
)

func (s stage) String() string {
	return [...]string{"old", "terminating", "gone", "created", "running", "ready"}[s]
}

// stageOf says where pod name is, old being the revision the rollout
// leaves.
func stageOf(pods map[string]corev1.Pod, name, old string) stage {
	p, ok := pods[name]
	switch {
	case !ok:
		return stageGone
	case p.Labels[appsv1.StatefulSetRevisionLabel] == old && p.DeletionTimestamp != nil:
		return stageTerminating
	case p.Labels[appsv1.StatefulSetRevisionLabel] == old:
		return stageOld
	case isReady(p):
		return stageReady
	case p.Status.Phase == corev1.PodRunning:
		return stageRunning
	}
	return stageCreated
}

func isReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func byName(pods []corev1.Pod) map[string]corev1.Pod {
	m := make(map[string]corev1.Pod, len(pods))
	for _, p := range pods {
		m[p.Name] = p
	}
	return m
}

var webPods = []string{"web-0", "web-1", "web-2"}

// applyHeldSet applies heldSet, waits for its three pods to be Ready and
// returns them.
func (e *env) applyHeldSet() []corev1.Pod {
	e.t.Helper()
	manifest := filepath.Join(e.dir, "held.yaml")
	if err := os.WriteFile(manifest, []byte(heldSet), 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.mustRun("apply", "-f", manifest)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e.waitPods(ctx, readyPods(3))
	pods, err := e.client.Pods(context.Background(), "default")
	if err != nil {
		e.t.Fatal(err)
	}
	return pods
}

// release lets pod name of heldSet, started held, serve and so become
// Ready. Its command may not have made /tmp/www yet.
func (e *env) release(name string) {
	e.t.Helper()
	e.mustRun("exec", name, "--", "sh", "-c", "rm /www/hold && mkdir -p /tmp/www && echo ok > /tmp/www/index.html")
}

// TestKillDaemonMidRollout: a `rollout restart` of an OrderedReady set
// with a volume per pod survives the daemon being killed with SIGKILL six
// times in its middle: while web-2 stops, just after its replacement was
// created, while the replacement runs and is not yet Ready, while web-1
// stops, just after its replacement was created, and while web-0 stops.
// At each kill the state file shows the rollout unfinished and in order,
// containerd holds at most one incarnation of each pod, and every
// container, IP and network namespace belongs to a pod of the state file.
// After the last restart the rollout completes: one pod per ordinal at
// the new revision, each replaced exactly once, none restarted, one
// container each, the volumes' data kept (what the test wrote, and what
// each old pod wrote when SIGTERM stopped it), two revisions, and no
// container, snapshot, network namespace, IP or iptables rule of the old
// pods left.
func TestKillDaemonMidRollout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	before := e.applyHeldSet()
	old := before[0].Labels[appsv1.StatefulSetRevisionLabel]
	for _, p := range before {
		if p.Labels[appsv1.StatefulSetRevisionLabel] != old {
			t.Fatalf("pods at revisions %s and %s before the rollout", old, p.Labels[appsv1.StatefulSetRevisionLabel])
		}
	}
	uids := map[string]map[string]bool{} // pod name -> every UID seen
	seen := func(pods map[string]corev1.Pod) {
		for name, p := range pods {
			if uids[name] == nil {
				uids[name] = map[string]bool{}
			}
			uids[name][string(p.UID)] = true
		}
	}
	first := byName(before)
	seen(first)
	for _, name := range webPods {
		e.mustRun("exec", name, "--", "sh", "-c", "echo marker of "+name+" > /www/marker")
	}
	// The replacements of web-2 and web-1 start held.
	for _, name := range []string{"web-2", "web-1"} {
		e.mustRun("exec", name, "--", "touch", "/www/hold")
	}

	if out := e.mustRun("rollout", "restart", "set", "web"); out != "statefulset.apps/web restarted\n" {
		t.Fatalf("rollout restart printed %q", out)
	}
	// running records the task of every running replacement at each kill:
	// none may be restarted later.
	running := map[string]uint32{}
	points := []struct {
		pod   string
		stage stage
		then  func()
	}{
		{pod: "web-2", stage: stageTerminating},
		{pod: "web-2", stage: stageCreated},
		{pod: "web-2", stage: stageRunning, then: func() {
			// Restarted while web-2 is not Ready, the daemon has not
			// gone on to web-1.
			pods, err := e.client.Pods(context.Background(), "default")
			if err != nil {
				t.Fatal(err)
			}
			if s := stageOf(byName(pods), "web-1", old); s != stageOld {
				t.Errorf("web-1 is %s while web-2 is not Ready", s)
			}
			e.release("web-2")
		}},
		{pod: "web-1", stage: stageTerminating},
		{pod: "web-1", stage: stageCreated, then: func() {
			e.waitPods(deadline(t, 30*time.Second), func(p []corev1.Pod) bool {
				seen(byName(p))
				return stageOf(byName(p), "web-1", old) >= stageRunning
			})
			e.release("web-1")
		}},
		{pod: "web-0", stage: stageTerminating},
	}
	for i, pt := range points {
		what := fmt.Sprintf("kill %d (%s %s)", i+1, pt.pod, pt.stage)
		var watched stage
		e.waitPods(deadline(t, 30*time.Second), func(p []corev1.Pod) bool {
			pods := byName(p)
			seen(pods)
			watched = stageOf(pods, pt.pod, old)
			return watched >= pt.stage
		})
		e.kill()
		e.checkCrashState(what, old, watched, seen, running)
		e.start()
		if pt.then != nil {
			pt.then()
		}
	}

	out, errOut, code := e.run("rollout", "status", "set", "web", "--timeout", "60s")
	if code != 0 || !regexp.MustCompile(`\nstatefulset rolling update complete 3 pods at revision web-\w+\.\.\.\n$`).MatchString("\n"+out) {
		t.Fatalf("rollout status after the last restart: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	pods := e.checkRolledOut(old)
	seen(pods)
	for _, name := range webPods {
		was, is := first[name].UID, pods[name].UID
		if u := uids[name]; len(u) != 2 || was == is {
			t.Errorf("%s was %s, is %s, and the test saw %v: want it replaced exactly once", name, was, is, u)
		}
	}
	e.checkNothingLeft(pods, running)
}

// checkCrashState checks, with the daemon dead, what the kill left: the
// state file as of the kill and the containers in containerd. The rollout
// must be unfinished and in order (a pod is replaced only once every
// higher ordinal is at the update revision and Ready, and no pod of the
// update revision is deleted), no pod may have two incarnations in
// containerd, and nothing in containerd or the network may belong to a
// pod the state file does not have. It adds the pods' UIDs to seen and
// the running tasks of the update revision's pods to running.
func (e *env) checkCrashState(what, old string, watched stage, seen func(map[string]corev1.Pod), running map[string]uint32) {
	e.t.Helper()
	store, err := storage.Open(filepath.Join(e.dir, "data", "state.db"))
	if err != nil {
		e.t.Fatalf("%s: opening the state file: %v", what, err)
	}
	list, err := store.AllPods()
	store.Close()
	if err != nil {
		e.t.Fatalf("%s: reading the pods: %v", what, err)
	}
	pods := map[string]corev1.Pod{}
	for _, p := range list {
		pods[p.Name] = *p
	}
	seen(pods)
	stages := make([]stage, len(webPods))
	var desc []string
	for i, name := range webPods {
		stages[i] = stageOf(pods, name, old)
		d := fmt.Sprintf("%s %s", name, stages[i])
		if stages[i] == stageCreated && pods[name].Status.PodIP == "" {
			d += " (no IP yet)"
		}
		desc = append(desc, d)
	}
	ctrs := e.containers()
	var tasks []string
	for _, c := range ctrs {
		tasks = append(tasks, fmt.Sprintf("%s %s", c.id, c.status))
	}
	sort.Strings(tasks)
	e.t.Logf("%s: the watch showed %s; at the kill the state file says %s; containerd holds %s",
		what, watched, strings.Join(desc, ", "), strings.Join(tasks, ", "))

	if stages[0] == stageReady && stages[1] == stageReady && stages[2] == stageReady {
		e.t.Errorf("%s: the rollout was already complete at the kill", what)
	}
	for i := range webPods {
		for j := i + 1; j < len(webPods); j++ {
			if stages[i] > stageOld && stages[j] != stageReady {
				e.t.Errorf("%s: %s is %s while %s is %s: replaced out of order", what, webPods[i], stages[i], webPods[j], stages[j])
			}
		}
		if p, ok := pods[webPods[i]]; ok && stages[i] > stageGone && p.DeletionTimestamp != nil {
			e.t.Errorf("%s: %s of the update revision is being deleted", what, webPods[i])
		}
	}
	incarnations := map[string]map[string]bool{}
	for _, c := range ctrs {
		pod := c.labels["setlet.io/pod"]
		if incarnations[pod] == nil {
			incarnations[pod] = map[string]bool{}
		}
		incarnations[pod][c.labels["setlet.io/pod-uid"]] = true
		if p, ok := pods[pod]; ok && string(p.UID) == c.labels["setlet.io/pod-uid"] && stageOf(pods, pod, old) >= stageCreated && c.status == containerd.Running {
			running[c.id] = c.pid
		}
	}
	for pod, u := range incarnations {
		if len(u) > 1 {
			e.t.Errorf("%s: containerd holds %d incarnations of %s: %v", what, len(u), pod, u)
		}
	}
	// A pod's record goes last, after its containers and network, so that
	// a crash never leaves anything without a pod to finish it.
	uids := map[string]bool{}
	for _, p := range pods {
		uids[string(p.UID)] = true
	}
	for _, h := range e.holdings() {
		if !uids[h.uid] {
			e.t.Errorf("%s: %s %s belongs to pod UID %s, which the state file does not have", what, h.kind, h.name, h.uid)
		}
	}
}

// checkRolledOut checks the end of the rollout and returns the pods:
// the set and its pods at the update revision and Ready, none restarted,
// each volume's data kept, two revisions, three volumes.
func (e *env) checkRolledOut(old string) map[string]corev1.Pod {
	t := e.t
	t.Helper()
	ctx := context.Background()
	set, err := e.client.StatefulSet(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	updated := set.Status.UpdateRevision
	if updated == old || set.Status.CurrentRevision != updated || set.Status.UpdatedReplicas != 3 || set.Status.ReadyReplicas != 3 {
		t.Errorf("set status after the rollout: %+v (old revision %s)", set.Status, old)
	}
	list, err := e.client.Pods(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	pods := byName(list)
	if len(list) != 3 || len(pods) != 3 {
		t.Errorf("%d pods after the rollout, %d names", len(list), len(pods))
	}
	for _, name := range webPods {
		p, ok := pods[name]
		if !ok {
			t.Fatalf("no %s after the rollout", name)
		}
		if rev := p.Labels[appsv1.StatefulSetRevisionLabel]; rev != updated || !isReady(p) || p.DeletionTimestamp != nil {
			t.Errorf("%s after the rollout: revision %s (want %s), ready %v, deleting %v", name, rev, updated, isReady(p), p.DeletionTimestamp != nil)
		}
		if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].RestartCount != 0 {
			t.Errorf("%s after the rollout: container statuses %+v, want one never restarted", name, p.Status.ContainerStatuses)
		}
		if got := e.mustRun("exec", name, "--", "cat", "/www/marker"); got != "marker of "+name+"\n" {
			t.Errorf("the volume of %s holds %q after the rollout", name, got)
		}
		// The old pod was stopped with SIGTERM, within its grace period,
		// not killed: what it wrote on the way out is there. (Once or
		// twice: a daemon killed after sending SIGTERM sends it again.)
		stops, _, _ := e.run("exec", name, "--", "cat", "/www/stops")
		if !regexp.MustCompile(`^(` + name + ` stopped on SIGTERM\n){1,2}$`).MatchString(stops) {
			t.Errorf("the old %s was not stopped gracefully: its volume's stops file holds %q, want %q", name, stops, name+" stopped on SIGTERM\n")
		}
	}
	revs := e.mustRun("get", "revisions")
	rows := regexp.MustCompile(`(?m)^(web-\w+)\s+statefulset\.apps/web\s+(\d+)\s`).FindAllStringSubmatch(revs, -1)
	if len(rows) != 2 || strings.Count(revs, "\n") != 3 || rows[0][1] != old || rows[0][2] != "1" || rows[1][1] != updated || rows[1][2] != "2" {
		t.Errorf("get revisions after the rollout printed:\n%swant %s (1) and %s (2)", revs, old, updated)
	}
	vols := e.mustRun("get", "volumes", "-o", "name")
	if want := "persistentvolumeclaim/www-web-0\npersistentvolumeclaim/www-web-1\npersistentvolumeclaim/www-web-2\n"; vols != want {
		t.Errorf("get volumes -o name after the rollout printed %q, want %q", vols, want)
	}
	return pods
}

// checkNothingLeft checks that containerd, the network and the run
// directory hold the current incarnations of pods and nothing else, one
// container each, and that the tasks in running, recorded at the kills,
// were not restarted.
func (e *env) checkNothingLeft(pods map[string]corev1.Pod, running map[string]uint32) {
	t := e.t
	t.Helper()
	var uids, ips []string
	for _, name := range webPods {
		uids = append(uids, string(pods[name].UID))
		ips = append(ips, pods[name].Status.PodIP)
	}
	sort.Strings(uids)
	sort.Strings(ips)
	want := func(what string, got, want []string) {
		t.Helper()
		got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
		if !slices.Equal(got, want) {
			t.Errorf("%s at the end: %v, want %v", what, got, want)
		}
	}

	var ctrIDs []string
	for _, c := range e.containers() {
		ctrIDs = append(ctrIDs, c.id)
		if c.status != containerd.Running {
			t.Errorf("container %s: task %q, want running", c.id, c.status)
		}
		if pid, ok := running[c.id]; ok && pid != c.pid {
			t.Errorf("container %s: pid %d at a kill, %d now: it was restarted", c.id, pid, c.pid)
		}
		delete(running, c.id)
	}
	for id := range running {
		t.Errorf("container %s, running at a kill, is gone", id)
	}
	if snaps := e.activeSnapshots(); len(snaps) != 3 {
		t.Errorf("active snapshots at the end: %v, want 3", snaps)
	}
	want("the FIFO directories", e.names(filepath.Join("run", "fifo", e.namespace)), ctrIDs)
	want("the pod run directories", e.names(filepath.Join("run", "pods")), uids)

	netnsDir := filepath.Join(e.dir, "run", "netns")
	want("the network namespaces", e.names(filepath.Join("run", "netns")), webPods)
	want("the network namespace mounts", netnsMounts(t, netnsDir), []string{netnsDir + "/web-0", netnsDir + "/web-1", netnsDir + "/web-2"})
	byKind := map[string][]string{}
	var alloc []string
	for _, h := range e.holdings() {
		byKind[h.kind] = append(byKind[h.kind], h.uid)
		if h.kind == kindIP {
			alloc = append(alloc, h.name)
		}
	}
	for _, kind := range []string{kindContainer, kindNetnsOwner, kindIP, kindCNIResult, kindRule} {
		want("the pod UIDs of every "+kind, byKind[kind], uids)
	}
	want("the IPs host-local allocated", alloc, ips)
}
