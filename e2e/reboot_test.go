package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// reboot simulates a power cut and a reboot of the host, as far as this
// env's daemon can tell. What lives in memory or on tmpfs goes: the daemon
// is killed with SIGKILL, every task of the env's containerd namespace is
// killed and deleted (containerd's state, tasks and shims, lives under
// /run), the daemon's run directory goes with every mount under it (the
// pods' network namespaces, their memory volumes), and so do the bridge
// and the iptables rules of the env's network. What is on disk stays: the
// state file, the volumes, the logs, host-local's IP allocations and
// libcni's cache under the data directory, and containerd's containers,
// snapshots and images. The daemon is not started again.
func (e *env) reboot() {
	e.t.Helper()
	e.kill()
	c, ctx := e.containerdClient()
	defer c.Close()
	ctrs, err := c.Containers(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, ctr := range ctrs {
		task, err := ctr.Task(ctx, nil)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil {
			e.t.Fatalf("killing the task of %s: %v", ctr.ID(), err)
		}
	}
	run := filepath.Join(e.dir, "run")
	mounts := netnsMounts(e.t, run)
	sort.Sort(sort.Reverse(sort.StringSlice(mounts))) // deepest first
	for _, m := range mounts {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
			e.t.Fatalf("unmounting %s: %v", m, err)
		}
	}
	if err := os.RemoveAll(run); err != nil {
		e.t.Fatal(err)
	}
	if link, err := netlink.LinkByName(e.bridge); err == nil {
		if err := netlink.LinkDel(link); err != nil {
			e.t.Fatalf("deleting bridge %s: %v", e.bridge, err)
		}
	}
	e.flushRules()
}

// flushRules deletes the bridge plugin's masquerade rules of the env's
// network and their chains, as a reboot empties the iptables tables.
func (e *env) flushRules() {
	e.t.Helper()
	iptables := func(args ...string) string {
		e.t.Helper()
		out, err := exec.Command("iptables", append([]string{"-w", "-t", "nat"}, args...)...).CombinedOutput()
		if err != nil {
			e.t.Fatalf("iptables %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	for _, r := range e.masqRules() {
		iptables("-D", "POSTROUTING", "-s", r.source, "-m", "comment", "--comment", fmt.Sprintf("name: %q id: %q", r.network, r.id), "-j", r.chain)
		iptables("-F", r.chain)
		iptables("-X", r.chain)
	}
}

// waitHoldingsOf waits until what the env's pods hold outside the state
// file (containers, IP allocations, cached attachments, iptables rules,
// namespaces) is pod's alone. The daemon releases what the previous boot
// left in the background and announces nothing: the test looks every
// 20 ms, for at most 10 s.
func (e *env) waitHoldingsOf(pod corev1.Pod) {
	e.t.Helper()
	var others []holding
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		others = others[:0]
		for _, h := range e.holdings() {
			if h.uid != string(pod.UID) {
				others = append(others, h)
			}
		}
		if len(others) == 0 {
			return
		}
	}
	e.t.Fatalf("left from the previous boot while only %s runs: %v", pod.Name, others)
}

// bootStage is where a pod is after a reboot; stages only go forward.
type bootStage int

const (
	bootDown    bootStage = iota // no IP, no container running on this boot
	bootStarted                  // an IP or a running container on this boot, not Ready
	bootReady                    // Running and Ready with a container of this boot
	bootStale                    // Ready with a container of the previous boot: never right
)

func (s bootStage) String() string { return [...]string{"down", "started", "ready", "stale"}[s] }

// thisBoot reports whether p's container runs on the boot-th boot after
// the first: a container restarted fewer than boot times ran before it.
func thisBoot(p corev1.Pod, boot int32) bool {
	cs := p.Status.ContainerStatuses
	return len(cs) == 1 && cs[0].RestartCount >= boot && cs[0].State.Running != nil
}

// bootStageOf says where pod name is after the boot-th reboot.
func bootStageOf(pods map[string]corev1.Pod, name string, boot int32) bootStage {
	p := pods[name]
	switch {
	case isReady(p) && thisBoot(p, boot) && p.Status.Phase == corev1.PodRunning:
		return bootReady
	case isReady(p):
		return bootStale
	case p.Status.PodIP != "" || thisBoot(p, boot):
		return bootStarted
	}
	return bootDown
}

// checkBootOrder fails the test when pods shows a pod started on this boot
// (an IP, a running container) while a pod of a lower ordinal is not yet
// Ready on it, or a pod Ready on the strength of the previous boot.
func (e *env) checkBootOrder(pods map[string]corev1.Pod, boot int32) {
	e.t.Helper()
	for i, name := range webPods {
		s := bootStageOf(pods, name, boot)
		if s == bootStale {
			p := pods[name]
			e.t.Errorf("%s is Ready after the reboot with its container of before (restart count %d, IP %s)",
				name, p.Status.ContainerStatuses[0].RestartCount, p.Status.PodIP)
			continue
		}
		for _, lower := range webPods[:i] {
			if l := bootStageOf(pods, lower, boot); s > bootDown && l != bootReady {
				e.t.Errorf("after the reboot %s is %s while %s is %s: started out of order", name, s, lower, l)
			}
		}
	}
}

// TestReboot: after a simulated host reboot (see reboot) the daemon brings
// the set back as an OrderedReady set starts: web-1 only once web-0 is
// Ready, web-2 only once web-1 is, even when the daemon is killed on the
// way (once web-0 runs again). The pods are the same pods (names and
// UIDs) on their own volumes, each container restarted once (restart count
// 1, last state terminated with reason Unknown and exit code 255, as the
// kubelet reports a container the host's restart ended); DNS answers with
// their new addresses; `logs` shows the run after the reboot and `logs
// --previous` the run before it; and nothing of the previous boot is left:
// one container and one snapshot per pod, and the IP allocations, cached
// attachments, network namespaces and iptables rules of the live pods only.
func TestReboot(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	before := byName(e.applyHeldSet())
	for _, name := range webPods {
		// Each pod starts held after the reboot: the test releases it.
		e.mustRun("exec", name, "--", "sh", "-c", "echo marker of "+name+" > /www/marker && touch /www/hold")
		if got := e.mustRun("logs", name); got != name+" run 1\n" {
			t.Fatalf("logs %s before the reboot printed %q", name, got)
		}
	}

	e.reboot()
	e.start()
	// Each pod, held, stays not Ready until released: the next one must
	// not start meanwhile, whatever the machine's speed.
	for _, name := range webPods {
		for _, want := range []bootStage{bootStarted, bootReady} {
			e.waitPods(deadline(t, 30*time.Second), func(p []corev1.Pod) bool {
				pods := byName(p)
				e.checkBootOrder(pods, 1)
				return t.Failed() || bootStageOf(pods, name, 1) >= want && thisBoot(pods[name], 1)
			})
			if t.Failed() {
				t.FailNow()
			}
			if want == bootStarted && name == "web-0" {
				// The pods after web-0 wait, and say why.
				table := e.mustRun("get", "pods")
				if !regexp.MustCompile(`(?m)^web-2\s+0/1\s+HostRestarted\s+1 \(\S+ ago\)\s`).MatchString(table) {
					t.Errorf("get pods while web-2 waits printed:\n%s", table)
				}
				if desc := e.mustRun("describe", "pod", "web-2"); !strings.Contains(desc, "HostRestarted") ||
					!strings.Contains(desc, "SandboxChanged") {
					t.Errorf("describe pod web-2 while it waits printed:\n%s", desc)
				}
				// A crash while the set comes back: web-0 is adopted,
				// the others stay held and count no second restart.
				e.kill()
				e.start()
				// Meanwhile what the waiting pods held is released.
				pods, err := e.client.Pods(context.Background(), "default")
				if err != nil {
					t.Fatal(err)
				}
				e.waitHoldingsOf(byName(pods)["web-0"])
			}
			if want == bootStarted {
				e.release(name)
			}
		}
	}

	e.waitPods(deadline(t, 30*time.Second), readyPods(3))
	list, err := e.client.Pods(context.Background(), "default")
	if err != nil {
		t.Fatal(err)
	}
	pods := byName(list)
	for _, name := range webPods {
		p := pods[name]
		if p.UID != before[name].UID {
			t.Errorf("%s is a new pod after the reboot: UID %s, was %s", name, p.UID, before[name].UID)
		}
		cs := p.Status.ContainerStatuses
		if len(cs) != 1 || cs[0].RestartCount != 1 || cs[0].LastTerminationState.Terminated == nil ||
			cs[0].LastTerminationState.Terminated.Reason != "Unknown" || cs[0].LastTerminationState.Terminated.ExitCode != 255 {
			t.Errorf("%s after the reboot: container statuses %+v, want one restarted once, last terminated Unknown 255", name, cs)
		}
		if got := e.mustRun("exec", name, "--", "cat", "/www/marker"); got != "marker of "+name+"\n" {
			t.Errorf("the volume of %s holds %q after the reboot", name, got)
		}
		if got := e.mustRun("logs", name); got != name+" run 2\n" {
			t.Errorf("logs %s after the reboot printed %q, want the second run", name, got)
		}
		if got := e.mustRun("logs", name, "--previous"); got != name+" run 1\n" {
			t.Errorf("logs %s --previous after the reboot printed %q, want the run before it", name, got)
		}
		if got := e.mustRun("exec", "web-0", "--", "nslookup", name+".held.set.local"); !strings.Contains(got, "Address: "+p.Status.PodIP) {
			t.Errorf("after the reboot nslookup %s.held.set.local printed:\n%s\nwant %s", name, got, p.Status.PodIP)
		}
	}
	e.checkNothingLeft(pods, map[string]uint32{})
}
