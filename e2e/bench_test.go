package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/daemon/api"
	"github.com/setlet/setlet/internal/testenv"
)

// The end-to-end benchmarks of the pods issue (`make bench`, as root):
//
//   - BenchmarkOrderedStart10: `setlet apply` of a 10-replica set whose pods
//     are Ready when busybox httpd answers, until 10/10 are Ready.
//   - BenchmarkRawOrderedStart10: the raw baseline, the same ten pods started
//     one after the other without setlet: containerd client create+start,
//     CNI ADD through libcni, HTTP polled every 10 ms until it answers.
//   - BenchmarkDaemonFootprint/{0,10,100}: the daemon's RSS with that many
//     pods Running, and its CPU use over 20 s with nothing to do, measured
//     once the daemon has been up for more than 40 s.
//
// And of the updates issue:
//
//   - BenchmarkRollingUpdate10: `setlet rollout restart` of a 10-replica
//     OrderedReady set Running and Ready, until `setlet rollout status`
//     says the rollout is complete.
//   - BenchmarkRawRollingUpdate10: the raw baseline, ten raw pods replaced
//     highest ordinal first, each stopped (SIGTERM, task, container,
//     snapshot, CNI DEL, netns) and started again as the raw start does.
//
// And of the edge-host issue:
//
//   - BenchmarkRebootRecovery10: a simulated host reboot (env.reboot) of a
//     10-replica OrderedReady set, timed from the start of `setlet daemon`
//     until 10/10 are Ready again; its target is set against
//     BenchmarkOrderedStart10.

const benchReplicas = 10

// benchGrace is the pods' terminationGracePeriodSeconds, which the raw
// baseline gives its containers too.
const benchGrace = 2 * time.Second

// The benchmark pods' command (under sh -c). httpdCommand makes busybox
// httpd the container's process 1, which ignores SIGTERM (process 1 of a
// PID namespace gets only the signals it handles, and httpd handles none
// but SIGHUP): a graceful stop of it lasts the whole grace period.
// httpdTermCommand runs httpd under a shell that exits on SIGTERM, as a
// server that handles it does, so that a stop costs what stopping costs,
// not the grace period.
const (
	httpdCommand     = `echo ok > /tmp/index.html; exec httpd -f -p 80 -h /tmp`
	httpdTermCommand = `echo ok > /tmp/index.html; httpd -f -p 80 -h /tmp & trap "exit 0" TERM; wait`
)

// benchSet is a set of n busybox httpd replicas running command, Ready
// when httpd answers.
func benchSet(name string, n int, policy, command string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: %[1]s
spec:
  serviceName: %[1]s
  replicas: %[2]d
  podManagementPolicy: %[3]s
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      terminationGracePeriodSeconds: %[5]d
      containers:
      - name: web
        image: setlet.local/busybox:1
        command: [sh, -c, '%[4]s']
        ports:
        - {name: web, containerPort: 80}
        readinessProbe:
          httpGet: {path: /, port: web}
`, name, n, policy, command, int(benchGrace.Seconds()))
}

func BenchmarkOrderedStart10(b *testing.B) {
	e := newEnv(b)
	manifest := benchSet("bench", benchReplicas, "OrderedReady", httpdCommand)
	for b.Loop() {
		if _, err := e.client.Apply(context.Background(), api.ApplyRequest{Sources: []api.Source{{Name: "bench.yaml", Data: []byte(manifest)}}}); err != nil {
			b.Fatal(err)
		}
		e.waitPods(benchDeadline(b), readyPods(benchReplicas))
		b.StopTimer()
		if err := e.client.DeleteStatefulSet(context.Background(), "default", "bench", false); err != nil {
			b.Fatal(err)
		}
		e.waitPods(benchDeadline(b), func(p []corev1.Pod) bool { return len(p) == 0 })
		b.StartTimer()
	}
}

// BenchmarkRebootRecovery10 times, for a 10-replica OrderedReady set whose
// pods are Ready when busybox httpd answers, the recovery from a simulated
// host reboot (env.reboot, not timed): from the start of `setlet daemon`
// until the 10 pods are Ready again, each with a container of this boot.
// The daemon starts them in ordinal order, each once the one before is
// Ready, as it starts a new set.
func BenchmarkRebootRecovery10(b *testing.B) {
	e := newEnv(b)
	manifest := benchSet("boot", benchReplicas, "OrderedReady", httpdCommand)
	if _, err := e.client.Apply(context.Background(), api.ApplyRequest{Sources: []api.Source{{Name: "boot.yaml", Data: []byte(manifest)}}}); err != nil {
		b.Fatal(err)
	}
	e.waitPods(benchDeadline(b), readyPods(benchReplicas))
	var boots int32
	for b.Loop() {
		b.StopTimer()
		e.reboot()
		boots++
		b.StartTimer()
		e.start()
		e.waitPods(benchDeadline(b), func(pods []corev1.Pod) bool {
			for _, p := range pods {
				if !thisBoot(p, boots) {
					return false
				}
			}
			return readyPods(benchReplicas)(pods)
		})
	}
}

func benchDeadline(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	b.Cleanup(cancel)
	return ctx
}

func BenchmarkRawOrderedStart10(b *testing.B) {
	r := newRawEnv(b)
	for b.Loop() {
		pods := make([]*rawPod, 0, benchReplicas)
		for i := range benchReplicas {
			pods = append(pods, r.start(b, i, httpdCommand))
		}
		b.StopTimer()
		for _, p := range pods {
			if err := r.stop(p, 0); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
}

// BenchmarkRollingUpdate10 times, with a 10-replica OrderedReady
// RollingUpdate set Running and Ready, `setlet rollout restart set roll`
// followed by `setlet rollout status set roll` (which follows the set's
// watch): a new revision replaces every pod, highest ordinal first, each
// Ready before the next goes. s/rollout is the time of one such rollout.
func BenchmarkRollingUpdate10(b *testing.B) {
	e := newEnv(b)
	manifest := benchSet("roll", benchReplicas, "OrderedReady", httpdTermCommand)
	if _, err := e.client.Apply(context.Background(), api.ApplyRequest{Sources: []api.Source{{Name: "roll.yaml", Data: []byte(manifest)}}}); err != nil {
		b.Fatal(err)
	}
	e.mustRun("rollout", "status", "set", "roll", "--timeout", "5m")
	revision := e.rolledOut("roll", "")
	rollouts := 0
	for b.Loop() {
		e.mustRun("rollout", "restart", "set", "roll")
		e.mustRun("rollout", "status", "set", "roll", "--timeout", "5m")
		b.StopTimer()
		revision = e.rolledOut("roll", revision)
		rollouts++
		b.StartTimer()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(rollouts), "s/rollout")
}

// rolledOut checks that the rollout of set default/name is complete at a
// revision other than from: benchReplicas replicas, all Ready and at the
// update revision, which is the current one. It returns that revision.
func (e *env) rolledOut(name, from string) string {
	e.t.Helper()
	set, err := e.client.StatefulSet(context.Background(), "default", name)
	if err != nil {
		e.t.Fatal(err)
	}
	st := set.Status
	if st.UpdateRevision == from || st.CurrentRevision != st.UpdateRevision ||
		st.UpdatedReplicas != benchReplicas || st.ReadyReplicas != benchReplicas || st.Replicas != benchReplicas {
		e.t.Fatalf("rollout status returned with status %+v (the revision before: %q)", st, from)
	}
	return st.UpdateRevision
}

// BenchmarkRawRollingUpdate10 is the baseline of BenchmarkRollingUpdate10:
// ten raw pods started as BenchmarkRawOrderedStart10 starts them, then per
// rollout, from ordinal 9 down to 0, each stopped (SIGTERM, SIGKILL after
// the pods' grace period, then everything its start made is removed) and
// started again, answering HTTP before the next one goes.
func BenchmarkRawRollingUpdate10(b *testing.B) {
	r := newRawEnv(b)
	pods := make([]*rawPod, benchReplicas)
	for i := range pods {
		pods[i] = r.start(b, i, httpdTermCommand)
	}
	rollouts := 0
	for b.Loop() {
		for i := benchReplicas - 1; i >= 0; i-- {
			if err := r.stop(pods[i], benchGrace); err != nil {
				b.Fatal(err)
			}
			pods[i] = r.start(b, i, httpdTermCommand)
		}
		rollouts++
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(rollouts), "s/rollout")
}

// rawEnv runs pods without setlet, for the raw baselines: a containerd
// client in namespace rawbench, the busybox image unpacked, and a CNI
// bridge network of its own. The pods it has started and not stopped (or
// not stopped completely), and the bridge, are removed when the benchmark
// ends.
type rawEnv struct {
	ctx    context.Context
	client *containerd.Client
	img    containerd.Image
	cni    *libcni.CNIConfig
	conf   *libcni.NetworkConfigList
	hc     *http.Client
	live   map[string]*rawPod // by ID
}

// rawPod is a pod started raw: a netns with a CNI attachment and one
// container. Fields are nil until the step that makes them has begun.
type rawPod struct {
	id, netns string
	rt        *libcni.RuntimeConf
	ctr       containerd.Container
	task      containerd.Task
}

func newRawEnv(b *testing.B) *rawEnv {
	address := testenv.Containerd(b)
	r := &rawEnv{
		ctx:  namespaces.WithNamespace(context.Background(), "rawbench"),
		hc:   &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
		live: map[string]*rawPod{},
	}
	var err error
	if r.client, err = containerd.New(address); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.client.Close() })
	f, err := os.Open(testenv.BusyboxImage(b))
	if err != nil {
		b.Fatal(err)
	}
	imgs, err := r.client.Import(r.ctx, f)
	f.Close()
	if err != nil || len(imgs) == 0 {
		b.Fatalf("import: %v", err)
	}
	r.img = containerd.NewImage(r.client, imgs[0])
	if err := r.img.Unpack(r.ctx, containerd.DefaultSnapshotter); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	bridge := fmt.Sprintf("slraw%d", os.Getpid()%1000)
	r.conf, err = libcni.ConfListFromBytes([]byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":"rawbench","plugins":[
		{"type":"bridge","bridge":%q,"isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.235.0.0/24"}]],"dataDir":%q}}]}`,
		bridge, filepath.Join(dir, "ipam"))))
	if err != nil {
		b.Fatal(err)
	}
	r.cni = libcni.NewCNIConfigWithCacheDir([]string{"/usr/lib/cni", "/opt/cni/bin"}, filepath.Join(dir, "cache"), nil)
	b.Cleanup(func() {
		for _, p := range r.live {
			_ = r.stop(p, 0)
		}
		if link, err := netlink.LinkByName(bridge); err == nil {
			_ = netlink.LinkDel(link)
		}
	})
	return r
}

// start starts raw pod i running command under sh -c: a netns, CNI ADD,
// containerd create and start; then it gets the pod's HTTP root every 10
// ms until it answers.
func (r *rawEnv) start(b *testing.B, i int, command string) *rawPod {
	p := &rawPod{id: fmt.Sprintf("raw-%d", i), netns: fmt.Sprintf("rawbench-%d", i)}
	if out, err := exec.Command("ip", "netns", "add", p.netns).CombinedOutput(); err != nil {
		b.Fatalf("ip netns add: %v: %s", err, out)
	}
	r.live[p.id] = p
	p.rt = &libcni.RuntimeConf{ContainerID: p.id, NetNS: "/run/netns/" + p.netns, IfName: "eth0"}
	res, err := r.cni.AddNetworkList(r.ctx, r.conf, p.rt)
	if err != nil {
		b.Fatalf("CNI ADD: %v", err)
	}
	result, err := types100.NewResultFromResult(res)
	if err != nil || len(result.IPs) == 0 {
		b.Fatalf("CNI result: %v", err)
	}
	p.ctr, err = r.client.NewContainer(r.ctx, p.id,
		containerd.WithNewSnapshot(p.id, r.img),
		containerd.WithNewSpec(oci.WithImageConfig(r.img),
			oci.WithProcessArgs("sh", "-c", command),
			oci.WithHostname(p.id),
			oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: p.rt.NetNS})))
	if err != nil {
		b.Fatal(err)
	}
	if p.task, err = p.ctr.NewTask(r.ctx, cio.NullIO); err != nil {
		b.Fatal(err)
	}
	if err := p.task.Start(r.ctx); err != nil {
		b.Fatal(err)
	}
	url := "http://" + net.JoinHostPort(result.IPs[0].Address.IP.String(), "80") + "/"
	for {
		if resp, err := r.hc.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(10 * time.Millisecond) // the baseline polls, as the issue says
	}
}

// stop stops p as setlet stops a pod: SIGTERM and up to grace for the
// container to exit, then SIGKILL (at once when grace is 0); then it
// deletes the task, the container with its snapshot, the CNI attachment
// and the netns.
func (r *rawEnv) stop(p *rawPod, grace time.Duration) error {
	var errs []error
	if p.task != nil {
		errs = append(errs, r.kill(p.task, grace))
		_, err := p.task.Delete(r.ctx)
		errs = append(errs, err)
	}
	if p.ctr != nil {
		errs = append(errs, p.ctr.Delete(r.ctx, containerd.WithSnapshotCleanup))
	}
	if p.rt != nil {
		errs = append(errs, r.cni.DelNetworkList(r.ctx, r.conf, p.rt))
	}
	if out, err := exec.Command("ip", "netns", "del", p.netns).CombinedOutput(); err != nil {
		errs = append(errs, fmt.Errorf("ip netns del: %w: %s", err, out))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stopping raw pod %s: %w", p.id, err)
	}
	delete(r.live, p.id)
	return nil
}

// kill sends task SIGTERM and waits up to grace for it to exit, then
// sends SIGKILL (at once when grace is 0) and waits for the exit.
func (r *rawEnv) kill(task containerd.Task, grace time.Duration) error {
	exited, err := task.Wait(r.ctx)
	if err != nil {
		return err
	}
	if grace > 0 {
		if err := task.Kill(r.ctx, syscall.SIGTERM); err != nil {
			return err
		}
		select {
		case <-exited:
			return nil
		case <-time.After(grace):
		}
	}
	if err := task.Kill(r.ctx, syscall.SIGKILL); err != nil {
		return err
	}
	<-exited
	return nil
}

// BenchmarkDaemonFootprint reports the daemon's resident memory with 0, 10
// and 100 pods Running and Ready (a Parallel set of busybox httpd with a
// readiness probe every 10 s), and its CPU use over 20 s at rest, beside
// the CPU a bare net/http loop spends on the same GETs (%cpu-rawprobes).
func BenchmarkDaemonFootprint(b *testing.B) {
	for _, n := range []int{0, 10, 100} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			e := newEnv(b)
			for b.Loop() {
				if n > 0 {
					if _, err := e.client.Apply(context.Background(), api.ApplyRequest{Sources: []api.Source{{Name: "f.yaml", Data: []byte(benchSet("idle", n, "Parallel", httpdCommand))}}}); err != nil {
						b.Fatal(err)
					}
					e.waitPods(benchDeadline(b), readyPods(n))
				}
				pid := e.daemon.Process.Pid
				// Let the start-up settle: probes back on their period and
				// the daemon's release of start-up code pages (30 s after
				// its start) done.
				time.Sleep(40 * time.Second)
				cpu0 := cpuTicks(b, pid)
				t0 := time.Now()
				time.Sleep(20 * time.Second)
				cpu := float64(cpuTicks(b, pid)-cpu0) / 100 / time.Since(t0).Seconds() * 100 // USER_HZ is 100
				b.ReportMetric(float64(rssKiB(b, pid, "VmRSS:"))/1024, "MiB-rss")
				b.ReportMetric(float64(rssKiB(b, pid, "RssAnon:"))/1024, "MiB-anon")
				b.ReportMetric(cpu, "%cpu-idle")
				if n > 0 {
					list, err := e.client.Pods(context.Background(), "default")
					if err != nil {
						b.Fatal(err)
					}
					var ips []string
					for _, p := range list {
						ips = append(ips, p.Status.PodIP)
					}
					b.ReportMetric(rawProbeCPU(b, ips, 20*time.Second), "%cpu-rawprobes")
				}
				b.StopTimer()
				if n > 0 {
					_ = e.client.DeleteStatefulSet(context.Background(), "default", "idle", false)
					e.waitPods(benchDeadline(b), func(p []corev1.Pod) bool { return len(p) == 0 })
				}
				b.StartTimer()
			}
		})
	}
}

// rawProbeCPU is the baseline of the idle CPU figure: the CPU this test
// process uses over d to do what the daemon's readiness probes do at rest,
// one plain net/http GET (no keep-alive) of each IP every 10 s, spread
// evenly, and nothing else.
func rawProbeCPU(b *testing.B, ips []string, d time.Duration) float64 {
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	gap := 10 * time.Second / time.Duration(len(ips))
	self := os.Getpid()
	cpu0, t0 := cpuTicks(b, self), time.Now()
	for i := 0; time.Since(t0) < d; i = (i + 1) % len(ips) {
		// A probe that fails (a timeout on a loaded machine) costs the
		// same and counts as the daemon's failed probes do: not at all.
		if resp, err := hc.Get("http://" + net.JoinHostPort(ips[i], "80") + "/"); err == nil {
			resp.Body.Close()
		}
		time.Sleep(gap)
	}
	return float64(cpuTicks(b, self)-cpu0) / 100 / time.Since(t0).Seconds() * 100
}

// rssKiB returns a memory figure of process pid from /proc/pid/status
// (VmRSS: resident set size; RssAnon: its anonymous part, the heap and
// stacks, as opposed to the binary's pages).
func rssKiB(b *testing.B, pid int, field string) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.Atoi(f[1])
			return kb
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// cpuTicks returns the user plus system clock ticks process pid used.
func cpuTicks(b *testing.B, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which is in parentheses).
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return utime + stime
}
