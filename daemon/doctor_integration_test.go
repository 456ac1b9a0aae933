package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/snapshots"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/daemon/api"
	"github.com/setlet/setlet/runtime"
)

// TestDoctor: on a healthy set every invariant holds and the set has
// converged; each kind of damage, made for real next to the running
// daemon, is reported by its check alone, naming the object, and once it
// is undone every check passes again.
func TestDoctor(t *testing.T) {
	t.Parallel()
	h := startDaemon(t)
	h.apply(webSet("web", 2, ""))
	h.waitPods(timeout(t, 60*time.Second), "default", allReady(names("web", 2)...))
	h.waitSet(t, func(gen int64, st statusView) bool { return st.ObservedGeneration == gen && st.ReadyReplicas == 2 })

	h.writeMarkers(names("web", 2)...)
	report := h.doctor()
	h.wantChecks(report, "a healthy set", nil, nil)
	if report.Pods != 2 || len(report.Sets) != 1 || !report.Sets[0].Converged || report.Sets[0].Ready != 2 {
		t.Fatalf("a healthy set: %d pods, sets %+v; want 2 pods and web converged", report.Pods, report.Sets)
	}

	ctx := timeout(t, 2*time.Minute)
	cd, err := containerd.New(h.cfg.Containerd)
	if err != nil {
		t.Fatal(err)
	}
	defer cd.Close()
	nsCtx := namespaces.WithNamespace(ctx, h.cfg.ContainerdNamespace)
	instance := h.instance(nsCtx, cd)
	rt, err := runtime.New(ctx, h.cfg.Containerd, runtime.WithNamespace(h.cfg.ContainerdNamespace),
		runtime.WithInstance(instance), runtime.WithFIFODir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	web1, err := h.client.Pod(ctx, "default", "web-1")
	if err != nil {
		t.Fatal(err)
	}
	web1Container := strings.TrimPrefix(web1.Status.ContainerStatuses[0].ContainerID, "containerd://")
	strayLabels := func(pod, uid string) map[string]string {
		return map[string]string{"setlet.io/namespace": "default", "setlet.io/pod": pod, "setlet.io/pod-uid": uid,
			"setlet.io/set": "web", "setlet.io/container": "web", "setlet.io/attempt": "0"}
	}
	netnsDir := filepath.Join(h.cfg.RunDir, "netns")
	version, err := h.client.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	subnet := netip.MustParsePrefix(h.cfg.Subnet)
	strayIP := netip.AddrFrom4([4]byte{subnet.Addr().As4()[0], subnet.Addr().As4()[1], subnet.Addr().As4()[2], 200})
	ipFile := filepath.Join(h.cfg.DataDir, "cni", "ipam", version.Network, strayIP.String())
	volume := h.volumePaths()["www-web-1"]
	unrecorded := filepath.Join(filepath.Dir(volume), "www-web-9")

	for _, tc := range []struct {
		name     string
		inject   func() (undo func() error, err error)
		problems map[string][]string // by check
		warnings map[string][]string
	}{
		{"a container of no pod",
			func() (func() error, error) {
				err := rt.CreateContainer(ctx, runtime.ContainerConfig{ID: "doctor-stray", Image: "setlet.local/busybox:1",
					Labels: strayLabels("web-7", "stray-uid"), Command: []string{"sleep", "3600"}})
				return func() error { return rt.RemoveContainer(ctx, "doctor-stray") }, err
			},
			map[string][]string{api.CheckContainers: {"container doctor-stray (pod default/web-7, uid stray-uid) is not in the state file"}}, nil},
		{"a second incarnation of web-1 running",
			func() (func() error, error) {
				undo := func() error { return rt.RemoveContainer(ctx, "doctor-twin") }
				err := rt.CreateContainer(ctx, runtime.ContainerConfig{ID: "doctor-twin", Image: "setlet.local/busybox:1",
					Labels: strayLabels("web-1", "twin-uid"), Command: []string{"sleep", "3600"}})
				if err == nil {
					_, err = rt.StartContainer(ctx, "doctor-twin")
				}
				return undo, err
			},
			map[string][]string{
				api.CheckOrdinals:   {fmt.Sprintf("pod default/web-1 runs as 2 incarnations at once: uid twin-uid (doctor-twin); uid %s (%s)", web1.UID, web1Container)},
				api.CheckContainers: {"container doctor-twin (pod default/web-1, uid twin-uid) is not in the state file"},
			}, nil},
		{"a network namespace of no pod",
			func() (func() error, error) {
				path, owner := filepath.Join(netnsDir, "ghost-0"), filepath.Join(netnsDir, ".owners", "ghost-0")
				undo := func() error {
					_ = unix.Unmount(path, unix.MNT_DETACH)
					return errors.Join(os.Remove(path), os.Remove(owner))
				}
				if err := os.WriteFile(owner, []byte("ghost-uid\n"), 0o600); err != nil {
					return undo, err
				}
				if err := os.WriteFile(path, nil, 0o444); err != nil {
					return undo, err
				}
				return undo, unix.Mount("/proc/self/ns/net", path, "none", unix.MS_BIND, "")
			},
			map[string][]string{api.CheckNetworkNamespaces: {"network namespace " + filepath.Join(netnsDir, "ghost-0") + " (attachment ghost-uid) belongs to no pod in the state file"}}, nil},
		{"a namespace mounted over web-1's",
			func() (func() error, error) {
				path := filepath.Join(netnsDir, "web-1")
				return func() error { return unix.Unmount(path, unix.MNT_DETACH) }, unix.Mount("/proc/self/ns/net", path, "none", unix.MS_BIND, "")
			},
			map[string][]string{api.CheckNetworkNamespaces: {"2 network namespaces are mounted on top of each other at " + filepath.Join(netnsDir, "web-1") + ": the ones below the top leaked"}}, nil},
		{"an IP allocation of no pod",
			func() (func() error, error) {
				return func() error { return os.Remove(ipFile) }, os.WriteFile(ipFile, []byte("ghost-uid\neth0"), 0o600)
			},
			map[string][]string{api.CheckIPAllocations: {fmt.Sprintf("IP %s is allocated to \"ghost-uid\", which is no pod in the state file", strayIP)}}, nil},
		{"a snapshot without its container",
			func() (func() error, error) {
				sn := cd.SnapshotService(containerd.DefaultSnapshotter)
				_, err := sn.Prepare(nsCtx, "doctor-snap", "", snapshots.WithLabels(map[string]string{
					runtime.LabelInstance: instance, "containerd.io/gc.root": "doctor"}))
				return func() error { return sn.Remove(nsCtx, "doctor-snap") }, err
			},
			map[string][]string{api.CheckSnapshots: {"active snapshot doctor-snap has no container (left by an interrupted create or removal)"}}, nil},
		{"a volume whose directory is gone",
			func() (func() error, error) {
				moved := filepath.Join(filepath.Dir(volume), ".doctor-moved")
				return func() error { return os.Rename(moved, volume) }, os.Rename(volume, moved)
			},
			map[string][]string{api.CheckVolumes: {"volume www-web-1: directory " + volume + " is missing: its data is lost"}}, nil},
		{"a volume directory without a record",
			func() (func() error, error) {
				return func() error { return os.Remove(unrecorded) }, os.Mkdir(unrecorded, 0o755)
			},
			nil, map[string][]string{api.CheckVolumes: {"directory " + unrecorded + " has no volume record: setlet adopts it, with its data, when a set needs a volume of that name"}}},
	} {
		undo, err := tc.inject()
		if err != nil {
			_ = undo()
			t.Fatalf("%s: injecting: %v", tc.name, err)
		}
		h.wantChecks(h.doctor(), tc.name, tc.problems, tc.warnings)
		if err := undo(); err != nil {
			t.Fatalf("%s: undoing: %v", tc.name, err)
		}
		h.wantChecks(h.doctor(), tc.name+", undone", nil, nil)
	}
	for _, name := range names("web", 2) {
		h.wantMarker(name, true)
	}
}

// TestDoctorWhileBusy: the doctor, asked again and again while pods are
// created, replaced and deleted, never takes a step in progress for a
// broken invariant.
func TestDoctorWhileBusy(t *testing.T) {
	t.Parallel()
	h := startDaemon(t)
	h.apply(strings.Replace(webSet("web", 2, ""), "  serviceName: web\n", "  serviceName: web\n  podManagementPolicy: Parallel\n", 1))
	h.waitPods(timeout(t, 60*time.Second), "default", allReady(names("web", 2)...))

	done := make(chan struct{})
	checked := make(chan int)
	go func() {
		n := 0
		defer func() { checked <- n }()
		for {
			select {
			case <-done:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			report, err := h.client.Doctor(ctx)
			cancel()
			if err != nil {
				t.Errorf("doctor: %v", err)
				return
			}
			n++
			for _, c := range report.Checks {
				for _, p := range c.Problems {
					t.Errorf("doctor while busy: %s: %s", c.Name, p)
				}
			}
		}
	}()

	ctx := timeout(t, 2*time.Minute)
	if err := h.client.Scale(ctx, "default", "web", 5, false); err != nil {
		t.Fatal(err)
	}
	h.waitPods(ctx, "default", allReady(names("web", 5)...))
	before := h.podUIDs()
	for _, name := range []string{"web-1", "web-3"} {
		if err := h.client.DeletePod(ctx, "default", name); err != nil {
			t.Fatal(err)
		}
	}
	h.waitPods(ctx, "default", func(pods map[string]*corev1.Pod) bool {
		return allReady(names("web", 5)...)(pods) && string(pods["web-1"].UID) != before["web-1"] && string(pods["web-3"].UID) != before["web-3"]
	})
	if err := h.client.Scale(ctx, "default", "web", 1, false); err != nil {
		t.Fatal(err)
	}
	h.waitPods(ctx, "default", allReady("web-0"))
	h.waitSet(t, func(gen int64, st statusView) bool { return st.ObservedGeneration == gen && st.ReadyReplicas == 1 })
	close(done)
	if n := <-checked; n < 2 {
		t.Errorf("the doctor ran %d times while the pods changed", n)
	} else {
		t.Logf("the doctor ran %d times while the pods changed", n)
	}
	report := h.doctor()
	h.wantChecks(report, "after the changes", nil, nil)
	if !report.Converged() {
		t.Errorf("web has not converged after the changes: %+v", report.Sets)
	}
}

// doctor asks the daemon for its report.
func (h *harness) doctor() api.DoctorReport {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	report, err := h.client.Doctor(ctx)
	if err != nil {
		h.t.Fatalf("doctor: %v", err)
	}
	return report
}

// wantChecks fails the test unless report's checks have exactly the
// problems and warnings given by check name.
func (h *harness) wantChecks(report api.DoctorReport, what string, problems, warnings map[string][]string) {
	h.t.Helper()
	if len(report.Checks) != 7 {
		h.t.Errorf("%s: %d checks, want 7", what, len(report.Checks))
	}
	for _, c := range report.Checks {
		if c.OK != (len(problems[c.Name]) == 0) || !reflect.DeepEqual(c.Problems, problems[c.Name]) || !reflect.DeepEqual(c.Warnings, warnings[c.Name]) {
			h.t.Errorf("%s: check %s: ok %v, problems %q, warnings %q; want problems %q, warnings %q",
				what, c.Name, c.OK, c.Problems, c.Warnings, problems[c.Name], warnings[c.Name])
		}
	}
}

// instance returns the setlet instance label of the daemon's containers.
func (h *harness) instance(ctx context.Context, cd *containerd.Client) string {
	h.t.Helper()
	ctrs, err := cd.Containers(ctx)
	if err != nil || len(ctrs) == 0 {
		h.t.Fatalf("listing the daemon's containers: %d, %v", len(ctrs), err)
	}
	labels, err := ctrs[0].Labels(ctx)
	if err != nil || labels[runtime.LabelInstance] == "" {
		h.t.Fatalf("the instance of container %s: %q, %v", ctrs[0].ID(), labels[runtime.LabelInstance], err)
	}
	return labels[runtime.LabelInstance]
}
