package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

const benchReplicas = 10

// benchSet is a set of n busybox httpd replicas, Ready when httpd answers.
func benchSet(name string, n int, policy string) string {
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
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: setlet.local/busybox:1
        command: [sh, -c, 'echo ok > /tmp/index.html; exec httpd -f -p 80 -h /tmp']
        ports:
        - {name: web, containerPort: 80}
        readinessProbe:
          httpGet: {path: /, port: web}
`, name, n, policy)
}

func BenchmarkOrderedStart10(b *testing.B) {
	e := newEnv(b)
	manifest := benchSet("bench", benchReplicas, "OrderedReady")
	for b.Loop() {
		if _, err := e.client.Apply(context.Background(), api.ApplyRequest{Sources: []api.Source{{Name: "bench.yaml", Data: []byte(manifest)}}}); err != nil {
			b.Fatal(err)
		}
		e.waitPods(benchDeadline(b), readyPods(benchReplicas))
		b.StopTimer()
		if err := e.client.DeleteStatefulSet(context.Background(), "default", "bench"); err != nil {
			b.Fatal(err)
		}
		e.waitPods(benchDeadline(b), func(p []corev1.Pod) bool { return len(p) == 0 })
		b.StartTimer()
	}
}

func benchDeadline(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	b.Cleanup(cancel)
	return ctx
}

func BenchmarkRawOrderedStart10(b *testing.B) {
	address := testenv.Containerd(b)
	ctx := namespaces.WithNamespace(context.Background(), "rawbench")
	client, err := containerd.New(address)
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	f, err := os.Open(testenv.BusyboxImage(b))
	if err != nil {
		b.Fatal(err)
	}
	imgs, err := client.Import(ctx, f)
	f.Close()
	if err != nil || len(imgs) == 0 {
		b.Fatalf("import: %v", err)
	}
	img := containerd.NewImage(client, imgs[0])
	if err := img.Unpack(ctx, containerd.DefaultSnapshotter); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	bridge := fmt.Sprintf("slraw%d", os.Getpid()%1000)
	conf, err := libcni.ConfListFromBytes([]byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":"rawbench","plugins":[
		{"type":"bridge","bridge":%q,"isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.235.0.0/24"}]],"dataDir":%q}}]}`,
		bridge, filepath.Join(dir, "ipam"))))
	if err != nil {
		b.Fatal(err)
	}
	cni := libcni.NewCNIConfigWithCacheDir([]string{"/usr/lib/cni", "/opt/cni/bin"}, filepath.Join(dir, "cache"), nil)
	b.Cleanup(func() {
		if link, err := netlink.LinkByName(bridge); err == nil {
			_ = netlink.LinkDel(link)
		}
	})
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	type pod struct {
		id, netns string
		rt        *libcni.RuntimeConf
		task      containerd.Task
		ctr       containerd.Container
	}
	for b.Loop() {
		var pods []pod
		for i := range benchReplicas {
			p := pod{id: fmt.Sprintf("raw-%d", i), netns: fmt.Sprintf("rawbench-%d", i)}
			if out, err := exec.Command("ip", "netns", "add", p.netns).CombinedOutput(); err != nil {
				b.Fatalf("ip netns add: %v: %s", err, out)
			}
			p.rt = &libcni.RuntimeConf{ContainerID: p.id, NetNS: "/run/netns/" + p.netns, IfName: "eth0"}
			res, err := cni.AddNetworkList(ctx, conf, p.rt)
			if err != nil {
				b.Fatalf("CNI ADD: %v", err)
			}
			r, err := types100.NewResultFromResult(res)
			if err != nil || len(r.IPs) == 0 {
				b.Fatalf("CNI result: %v", err)
			}
			ip := r.IPs[0].Address.IP
			p.ctr, err = client.NewContainer(ctx, p.id,
				containerd.WithNewSnapshot(p.id, img),
				containerd.WithNewSpec(oci.WithImageConfig(img),
					oci.WithProcessArgs("sh", "-c", "echo ok > /tmp/index.html; exec httpd -f -p 80 -h /tmp"),
					oci.WithHostname(p.id),
					oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: p.rt.NetNS})))
			if err != nil {
				b.Fatal(err)
			}
			if p.task, err = p.ctr.NewTask(ctx, cio.NullIO); err != nil {
				b.Fatal(err)
			}
			if err := p.task.Start(ctx); err != nil {
				b.Fatal(err)
			}
			pods = append(pods, p)
			url := "http://" + net.JoinHostPort(ip.String(), "80") + "/"
			for {
				if resp, err := hc.Get(url); err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
				}
				time.Sleep(10 * time.Millisecond) // the baseline polls, as the issue says
			}
		}
		b.StopTimer()
		for _, p := range pods {
			if st, err := p.task.Wait(ctx); err == nil {
				_ = p.task.Kill(ctx, 9)
				<-st
			}
			_, _ = p.task.Delete(ctx)
			_ = p.ctr.Delete(ctx, containerd.WithSnapshotCleanup)
			_ = cni.DelNetworkList(ctx, conf, p.rt)
			_ = exec.Command("ip", "netns", "del", p.netns).Run()
		}
		b.StartTimer()
	}
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
					if _, err := e.client.Apply(context.Background(), api.ApplyRequest{Sources: []api.Source{{Name: "f.yaml", Data: []byte(benchSet("idle", n, "Parallel"))}}}); err != nil {
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
					_ = e.client.DeleteStatefulSet(context.Background(), "default", "idle")
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
