package daemon

import (
	"net"
	"reflect"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/setlet/setlet/daemon/api"
	"github.com/setlet/setlet/network"
	"github.com/setlet/setlet/runtime"
	"github.com/setlet/setlet/storage"
)

// doctorSet is set web of replicas at revision web-b (web-a also stored),
// fully observed.
func doctorSet(replicas int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "set-uid", Generation: 2},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "busybox"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "www"}}},
			UpdateStrategy:       appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
		},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 2, CurrentRevision: "web-b", UpdateRevision: "web-b"},
	}
}

// doctorPod is ordinal i of set at rev, Running and Ready with one running
// container and IP 10.0.0.(10+i).
func doctorPod(set *appsv1.StatefulSet, i int, rev string) *corev1.Pod {
	pod := NewPod(set, rev, i)
	pod.UID = types.UID("uid-" + pod.Name)
	pod.Status = corev1.PodStatus{
		Phase:      corev1.PodRunning,
		PodIP:      net.IPv4(10, 0, 0, byte(10+i)).String(),
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "web", ContainerID: "containerd://" + containerID(pod, "web", 0),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		}},
	}
	return pod
}

// podContainer is the running container of attempt of pod's container web.
func podContainer(pod *corev1.Pod, attempt int32) runtime.ContainerStatus {
	return runtime.ContainerStatus{ID: containerID(pod, "web", attempt), Labels: containerLabels(pod, "web", attempt, false), State: runtime.StateRunning}
}

const doctorVolumes = "/var/lib/setlet/volumes"

// healthyDoctorInput is a set of two Ready pods with everything they
// should have, and nothing else.
func healthyDoctorInput() doctorInput {
	set := doctorSet(2)
	var host hostView
	state := stateView{
		sets:       []*appsv1.StatefulSet{set},
		revisions:  map[string][]string{"default/web": {"web-a", "web-b"}},
		volumeDirs: map[string]bool{},
	}
	for i := range 2 {
		pod := doctorPod(set, i, "web-b")
		state.pods = append(state.pods, pod)
		host.containers = append(host.containers, podContainer(pod, 0))
		host.netns = append(host.netns, network.Netns{Pod: pod.Name, ID: string(pod.UID), Mounted: true})
		host.mounts = append(host.mounts, pod.Name)
		host.allocs = append(host.allocs, network.Allocation{IP: net.ParseIP(pod.Status.PodIP), ID: string(pod.UID)})
		host.attachments = append(host.attachments, string(pod.UID))
		vol := storage.Volume{Name: storage.VolumeName("www", "web", i), Namespace: "default", Claim: "www", Set: "web", Ordinal: i}
		vol.Path = doctorVolumes + "/" + vol.Name
		state.volumes = append(state.volumes, vol)
		state.volumeDirs[vol.Path] = true
		state.rootEntries = append(state.rootEntries, vol.Path)
	}
	host.hostLocal = true
	in := doctorInput{before: host, state: state, after: cloneHost(host), netnsDir: "/run/setlet/netns", network: "setlet-test"}
	for _, p := range state.pods {
		in.recheck = append(in.recheck, p.DeepCopy())
	}
	return in
}

func cloneHost(h hostView) hostView {
	h.containers = slices.Clone(h.containers)
	h.netns = slices.Clone(h.netns)
	h.mounts = slices.Clone(h.mounts)
	h.allocs = slices.Clone(h.allocs)
	h.attachments = slices.Clone(h.attachments)
	return h
}

// onBothLooks applies change to both looks at the host.
func onBothLooks(change func(*hostView)) func(*doctorInput) {
	return func(in *doctorInput) {
		change(&in.before)
		change(&in.after)
	}
}

// strayPod is a pod of set web that the state file does not hold.
func strayPod() *corev1.Pod { return doctorPod(doctorSet(5), 4, "web-b") }

// withRecheck changes pod name as read again after the second look.
func withRecheck(name string, change func(*corev1.Pod)) func(*doctorInput) {
	return func(in *doctorInput) {
		for _, p := range in.recheck {
			if p.Name == name {
				change(p)
			}
		}
	}
}

func both(changes ...func(*doctorInput)) func(*doctorInput) {
	return func(in *doctorInput) {
		for _, c := range changes {
			c(in)
		}
	}
}

func statePod(in *doctorInput, name string) *corev1.Pod {
	for _, p := range in.state.pods {
		if p.Name == name {
			return p
		}
	}
	panic("no pod " + name)
}

func TestDoctorChecks(t *testing.T) {
	web1 := func(in *doctorInput) *corev1.Pod { return statePod(in, "web-1") }
	dropContainer := func(h *hostView) { h.containers = h.containers[:1] }
	terminatingAgain := withRecheck("web-1", func(p *corev1.Pod) { now := metav1.NewTime(time.Unix(0, 0)); p.DeletionTimestamp = &now })
	for _, tc := range []struct {
		name     string
		change   func(*doctorInput)
		check    string   // the only check that fails or warns ("" = none)
		problems []string // its problems
		warnings []string // its warnings
	}{
		{"Doctor/a healthy set passes every check", func(*doctorInput) {}, "", nil, nil},

		// ordinals
		{"Doctor/two incarnations of one pod running at once are a duplicate ordinal",
			func(in *doctorInput) {
				old := web1(in).DeepCopy()
				old.UID = "uid-old"
				in.after.containers = append(in.after.containers, podContainer(old, 0))
			}, api.CheckOrdinals,
			[]string{"pod default/web-1 runs as 2 incarnations at once: uid uid-web-1 (web-1_uidweb1_web_0); uid uid-old (web-1_uidold_web_0)"}, nil},
		{"Doctor/a pod labelled with another ordinal",
			func(in *doctorInput) { web1(in).Labels[appsv1.PodIndexLabel] = "0" }, api.CheckOrdinals,
			[]string{"pod default/web-1 is labelled apps.kubernetes.io/pod-index=0"}, nil},
		{"Doctor/two records of one ordinal",
			func(in *doctorInput) {
				dup := web1(in).DeepCopy()
				dup.Name, dup.UID = "web-01", "uid-web-01"
				dup.Status = corev1.PodStatus{}
				in.state.pods = append(in.state.pods, dup)
			}, api.CheckOrdinals,
			[]string{"ordinal default/web-1 has 2 pods in the state file: web-01, web-1"}, nil},

		// containers
		{"Doctor/a container of no pod, seen twice, is a leak",
			onBothLooks(func(h *hostView) { h.containers = append(h.containers, podContainer(strayPod(), 0)) }), api.CheckContainers,
			[]string{"container web-4_uidweb4_web_0 (pod default/web-4, uid uid-web-4) is not in the state file"}, nil},
		{"Doctor/a container of no pod seen only after the state read may be a new pod's",
			func(in *doctorInput) { in.after.containers = append(in.after.containers, podContainer(strayPod(), 0)) }, "", nil, nil},
		{"Doctor/a container of no pod gone by the second look was being removed",
			func(in *doctorInput) {
				in.before.containers = append(in.before.containers, podContainer(strayPod(), 0))
			}, "", nil, nil},
		{"Doctor/an earlier attempt that still runs",
			func(in *doctorInput) {
				pod := web1(in)
				pod.Status.ContainerStatuses[0].RestartCount = 1
				pod.Status.ContainerStatuses[0].ContainerID = "containerd://" + containerID(pod, "web", 1)
				in.recheck[1] = pod.DeepCopy()
				in.before.containers = append(in.before.containers, podContainer(pod, 1))
				in.after.containers = append(in.after.containers, podContainer(pod, 1))
			}, api.CheckContainers,
			[]string{"container web-1_uidweb1_web_0, attempt 0 of pod default/web-1 container web, still runs, but the state file is at attempt 1"}, nil},
		{"Doctor/a Running container that containerd lacks",
			func(in *doctorInput) { dropContainer(&in.after) }, api.CheckContainers,
			[]string{"pod default/web-1: container web is Running in the state file, but containerd has no container web-1_uidweb1_web_0"}, nil},
		{"Doctor/a Running container whose exit the record shows by the recheck",
			both(func(in *doctorInput) { dropContainer(&in.after) }, withRecheck("web-1", func(p *corev1.Pod) {
				p.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "Error"}}
			})), "", nil, nil},
		{"Doctor/a Running container of a pod marked for deletion by the recheck",
			both(func(in *doctorInput) { dropContainer(&in.after) }, terminatingAgain), "", nil, nil},
		{"Doctor/a Running container with no task",
			func(in *doctorInput) { in.after.containers[1].State = runtime.StateCreated }, api.CheckContainers,
			[]string{"pod default/web-1: container web is Running in the state file, but containerd's web-1_uidweb1_web_0 has no task"}, nil},
		{"Doctor/an exit the kubelet has not recorded yet is no problem",
			func(in *doctorInput) { in.after.containers[1].State = runtime.StateExited }, "", nil, nil},
		{"Doctor/a container no setlet made is a warning",
			func(in *doctorInput) { in.strays.Unowned = []string{"by-hand"} }, api.CheckContainers,
			nil, []string{"container by-hand carries no setlet instance label: no setlet daemon made it or will remove it"}},
		{"Doctor/a leaked shim is a warning",
			func(in *doctorInput) {
				in.strays.LeakedShims = []runtime.Shim{{PID: 4242, Container: "web-1_uidweb1_web_0"}}
			}, api.CheckContainers,
			nil, []string{"containerd shim pid 4242 (container web-1_uidweb1_web_0) serves no task: containerd leaked it " +
				"(containerd/containerd#11392, after a daemon killed while it removed a container); `kill 4242` frees it"}},

		// network namespaces
		{"Doctor/a namespace of no pod, seen twice, is a leak",
			onBothLooks(func(h *hostView) {
				h.netns = append(h.netns, network.Netns{Pod: "web-4", ID: "uid-web-4", Mounted: true})
			}), api.CheckNetworkNamespaces,
			[]string{"network namespace /run/setlet/netns/web-4 (attachment uid-web-4) belongs to no pod in the state file"}, nil},
		{"Doctor/a namespace seen only after the state read may be a new pod's",
			func(in *doctorInput) {
				in.after.netns = append(in.after.netns, network.Netns{Pod: "web-4", ID: "uid-web-4", Mounted: true})
			}, "", nil, nil},
		{"Doctor/a namespace of an earlier incarnation",
			onBothLooks(func(h *hostView) { h.netns[1].ID = "uid-old" }), api.CheckNetworkNamespaces,
			[]string{"network namespace /run/setlet/netns/web-1 belongs to attachment uid-old, an earlier incarnation of pod default/web-1 (now uid uid-web-1)",
				"pod default/web-1 has running containers but no network namespace at /run/setlet/netns/web-1"}, nil},
		{"Doctor/a namespace without an owner record",
			onBothLooks(func(h *hostView) { h.netns = append(h.netns, network.Netns{Pod: "web-4"}) }), api.CheckNetworkNamespaces,
			[]string{"network namespace /run/setlet/netns/web-4 has no owner record"}, nil},
		{"Doctor/namespaces mounted on top of each other",
			onBothLooks(func(h *hostView) { h.mounts = append(h.mounts, "web-1") }), api.CheckNetworkNamespaces,
			[]string{"2 network namespaces are mounted on top of each other at /run/setlet/netns/web-1: the ones below the top leaked"}, nil},
		{"Doctor/a mount where no pod's namespace can be",
			onBothLooks(func(h *hostView) { h.mounts = append(h.mounts, ".owners/web-0") }), api.CheckNetworkNamespaces,
			[]string{"mount at /run/setlet/netns/.owners/web-0 is not a pod's network namespace file"}, nil},
		{"Doctor/a running pod without its namespace",
			func(in *doctorInput) { in.after.netns = in.after.netns[:1] }, api.CheckNetworkNamespaces,
			[]string{"pod default/web-1 has running containers but no network namespace at /run/setlet/netns/web-1"}, nil},
		{"Doctor/a pod without its namespace being deleted by the recheck",
			both(func(in *doctorInput) { in.after.netns = in.after.netns[:1] }, terminatingAgain), "", nil, nil},

		// IP allocations
		{"Doctor/an IP of no pod, seen twice, is a leak",
			onBothLooks(func(h *hostView) {
				h.allocs = append(h.allocs, network.Allocation{IP: net.ParseIP("10.0.0.99"), ID: "uid-web-4"})
			}), api.CheckIPAllocations,
			[]string{`IP 10.0.0.99 is allocated to "uid-web-4", which is no pod in the state file`}, nil},
		{"Doctor/an IP allocated after the state read may be a new pod's",
			func(in *doctorInput) {
				in.after.allocs = append(in.after.allocs, network.Allocation{IP: net.ParseIP("10.0.0.99"), ID: "uid-web-4"})
			}, "", nil, nil},
		{"Doctor/a pod holding two IPs",
			onBothLooks(func(h *hostView) {
				h.allocs = append(h.allocs, network.Allocation{IP: net.ParseIP("10.0.0.99"), ID: "uid-web-1"})
			}), api.CheckIPAllocations,
			[]string{"pod default/web-1 holds 2 IPs: 10.0.0.11, 10.0.0.99"}, nil},
		{"Doctor/a cached attachment of no pod",
			onBothLooks(func(h *hostView) { h.attachments = append(h.attachments, "uid-web-4") }), api.CheckIPAllocations,
			[]string{`CNI attachment "uid-web-4" is cached but belongs to no pod in the state file`}, nil},
		{"Doctor/a running pod whose IP is not allocated",
			func(in *doctorInput) { in.after.allocs = in.after.allocs[:1] }, api.CheckIPAllocations,
			[]string{"pod default/web-1 has IP 10.0.0.11, which host-local has not allocated"}, nil},
		{"Doctor/a running pod whose IP is another's",
			func(in *doctorInput) { web1(in).Status.PodIP = "10.0.0.10"; in.recheck[1].Status.PodIP = "10.0.0.10" }, api.CheckIPAllocations,
			[]string{`pod default/web-1 has IP 10.0.0.10, which host-local has allocated to "uid-web-0"`, "pods web-0, web-1 all have IP 10.0.0.10"}, nil},
		{"Doctor/another IPAM than host-local is not checked",
			func(in *doctorInput) { in.after.hostLocal = false; in.after.allocs = nil }, api.CheckIPAllocations,
			nil, []string{"network setlet-test does not use host-local IPAM: IP allocations not checked"}},

		// snapshots
		{"Doctor/a snapshot without its container",
			func(in *doctorInput) { in.strays.Snapshots = []string{"web-4_uidweb4_web_0"} }, api.CheckSnapshots,
			[]string{"active snapshot web-4_uidweb4_web_0 has no container (left by an interrupted create or removal)"}, nil},
		{"Doctor/a snapshot no setlet made is a warning",
			func(in *doctorInput) { in.strays.UnownedSnapshots = []string{"by-hand"} }, api.CheckSnapshots,
			nil, []string{"active snapshot by-hand carries no setlet instance label and no container uses it"}},

		// volumes
		{"Doctor/a volume whose directory is gone",
			func(in *doctorInput) { delete(in.state.volumeDirs, in.state.volumes[1].Path) }, api.CheckVolumes,
			[]string{"volume www-web-1: directory /var/lib/setlet/volumes/www-web-1 is missing: its data is lost"}, nil},
		{"Doctor/a volume being deleted may have lost its directory",
			func(in *doctorInput) {
				now := time.Unix(0, 0)
				in.state.volumes[1].Deleting = &now
				delete(in.state.volumeDirs, in.state.volumes[1].Path)
			}, "", nil, nil},
		{"Doctor/a volume that is a file",
			func(in *doctorInput) { in.state.volumeDirs[in.state.volumes[1].Path] = false }, api.CheckVolumes,
			[]string{"volume www-web-1: /var/lib/setlet/volumes/www-web-1 is not a directory"}, nil},
		{"Doctor/a pod whose volume has no record",
			func(in *doctorInput) { in.state.volumes = in.state.volumes[:1] }, api.CheckVolumes,
			[]string{"pod default/web-1 uses volume www-web-1, which has no record"},
			[]string{"directory /var/lib/setlet/volumes/www-web-1 has no volume record: setlet adopts it, with its data, when a set needs a volume of that name"}},
		{"Doctor/a directory without a record is a warning",
			func(in *doctorInput) {
				in.state.rootEntries = append(in.state.rootEntries, doctorVolumes+"/www-web-9")
				in.state.volumeDirs[doctorVolumes+"/www-web-9"] = true
			}, api.CheckVolumes,
			nil, []string{"directory /var/lib/setlet/volumes/www-web-9 has no volume record: setlet adopts it, with its data, when a set needs a volume of that name"}},

		// revisions
		{"Doctor/a pod at a revision the state file lacks",
			func(in *doctorInput) { in.state.revisions["default/web"] = []string{"web-a"} }, api.CheckRevisions,
			[]string{"pod default/web-0 is at revision web-b, which the state file does not hold for set default/web",
				"pod default/web-1 is at revision web-b, which the state file does not hold for set default/web"}, nil},
		{"Doctor/a pod without a revision label",
			func(in *doctorInput) { delete(web1(in).Labels, appsv1.StatefulSetRevisionLabel) }, api.CheckRevisions,
			[]string{"pod default/web-1 has no controller-revision-hash label"}, nil},
		{"Doctor/the pods of a deleted set are not checked against its revisions",
			func(in *doctorInput) { in.state.sets, in.state.revisions = nil, nil }, "", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := healthyDoctorInput()
			tc.change(&in)
			report := diagnose(in)
			if len(report.Checks) != 7 {
				t.Fatalf("%d checks, want 7", len(report.Checks))
			}
			for _, c := range report.Checks {
				wantProblems, wantWarnings := []string(nil), []string(nil)
				if c.Name == tc.check {
					wantProblems, wantWarnings = tc.problems, tc.warnings
				}
				if c.OK != (len(wantProblems) == 0) || !reflect.DeepEqual(c.Problems, wantProblems) || !reflect.DeepEqual(c.Warnings, wantWarnings) {
					t.Errorf("check %s: ok %v, problems %q, warnings %q\nwant problems %q, warnings %q", c.Name, c.OK, c.Problems, c.Warnings, wantProblems, wantWarnings)
				}
			}
		})
	}
}

func TestDoctorConvergence(t *testing.T) {
	partition := func(p int32) func(*appsv1.StatefulSet) {
		return func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: &p}
		}
	}
	for _, tc := range []struct {
		name    string
		set     func(*appsv1.StatefulSet)
		pods    func(set *appsv1.StatefulSet) []*corev1.Pod
		want    api.SetConvergence
		deleted *api.SetConvergence // a second entry, for a deleted set
	}{
		{"Doctor/every replica Ready at the update revision has converged", nil,
			func(set *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{doctorPod(set, 0, "web-b"), doctorPod(set, 1, "web-b"), doctorPod(set, 2, "web-b")}
			},
			api.SetConvergence{Converged: true, Replicas: 3, Ready: 3, Updated: 3}, nil},
		{"Doctor/a missing and an unready replica", nil,
			func(set *appsv1.StatefulSet) []*corev1.Pod {
				p := doctorPod(set, 1, "web-b")
				p.Status.Phase = corev1.PodPending
				return []*corev1.Pod{doctorPod(set, 0, "web-b"), p}
			},
			api.SetConvergence{Replicas: 3, Ready: 1, Updated: 1, Waiting: "web-1 is not Running and Ready; web-2 does not exist"}, nil},
		{"Doctor/a replica at the old revision", nil,
			func(set *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{doctorPod(set, 0, "web-a"), doctorPod(set, 1, "web-b"), doctorPod(set, 2, "web-b")}
			},
			api.SetConvergence{Replicas: 3, Ready: 3, Updated: 2, Waiting: "web-0 is at revision web-a, not web-b"}, nil},
		{"Doctor/below the partition any revision will do", partition(1),
			func(set *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{doctorPod(set, 0, "web-a"), doctorPod(set, 1, "web-b"), doctorPod(set, 2, "web-b")}
			},
			api.SetConvergence{Converged: true, Replicas: 3, Ready: 3, Updated: 2}, nil},
		{"Doctor/with OnDelete any revision will do",
			func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType },
			func(set *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{doctorPod(set, 0, "web-a"), doctorPod(set, 1, "web-a"), doctorPod(set, 2, "web-b")}
			},
			api.SetConvergence{Converged: true, Replicas: 3, Ready: 3, Updated: 1}, nil},
		{"Doctor/a generation not observed yet, a condemned pod and a terminating one",
			func(s *appsv1.StatefulSet) { s.Generation = 3 },
			func(set *appsv1.StatefulSet) []*corev1.Pod {
				p := doctorPod(set, 2, "web-b")
				now := metav1.NewTime(time.Unix(0, 0))
				p.DeletionTimestamp = &now
				return []*corev1.Pod{doctorPod(set, 0, "web-b"), doctorPod(set, 1, "web-b"), p, doctorPod(set, 3, "web-b"), doctorPod(set, 4, "web-b")}
			},
			api.SetConvergence{Replicas: 3, Ready: 2, Updated: 2,
				Waiting: "generation 3 is not observed yet; web-2 is being deleted; web-3 is still to remove; and 1 more"}, nil},
		{"Doctor/ordinals start where spec.ordinals says",
			func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5} },
			func(set *appsv1.StatefulSet) []*corev1.Pod {
				return []*corev1.Pod{doctorPod(set, 5, "web-b"), doctorPod(set, 6, "web-b"), doctorPod(set, 7, "web-b")}
			},
			api.SetConvergence{Converged: true, Replicas: 3, Ready: 3, Updated: 3}, nil},
		{"Doctor/a deleted set's pods are still to remove", nil,
			func(set *appsv1.StatefulSet) []*corev1.Pod {
				gone := doctorSet(1)
				gone.Name = "old"
				return []*corev1.Pod{doctorPod(set, 0, "web-b"), doctorPod(set, 1, "web-b"), doctorPod(set, 2, "web-b"), doctorPod(gone, 0, "old-a")}
			},
			api.SetConvergence{Converged: true, Replicas: 3, Ready: 3, Updated: 3},
			&api.SetConvergence{Namespace: "default", Name: "old", Deleted: true, Waiting: "the set is deleted; 1 pods still to remove"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := doctorSet(3)
			if tc.set != nil {
				tc.set(set)
			}
			got := convergence([]*appsv1.StatefulSet{set}, tc.pods(set))
			want := tc.want
			want.Namespace, want.Name, want.UpdateRevision = "default", "web", "web-b"
			wantAll := []api.SetConvergence{want}
			if tc.deleted != nil {
				wantAll = []api.SetConvergence{*tc.deleted, want} // "default/old" sorts first
			}
			if !reflect.DeepEqual(got, wantAll) {
				t.Errorf("got  %+v\nwant %+v", got, wantAll)
			}
		})
	}
}
