package daemon

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/daemon/api"
	"github.com/setlet/setlet/network"
	"github.com/setlet/setlet/runtime"
)

// This file holds the doctor's comparisons: pure functions of the readings
// doctor.go takes (see there for why each is sound while the daemon
// works). They never read the clock or the disk, and list what they find
// in a deterministic order.

// doctorInput is what diagnose compares.
type doctorInput struct {
	before  hostView       // the host, before the state file was read
	state   stateView      // the state file
	after   hostView       // the host, after the state file was read
	recheck []*corev1.Pod  // the pod records, read after `after`
	strays  runtime.Strays // snapshots and containers no container of ours accounts for
	// netnsDir and network name the network namespace directory and the
	// CNI network in messages.
	netnsDir string
	network  string
}

// doctorIndex is doctorInput looked up by the keys the checks need.
type doctorIndex struct {
	doctorInput
	pods       []*corev1.Pod                      // state pods, sorted by namespace and name
	byUID      map[string]*corev1.Pod             // state pods by UID
	byName     map[string]*corev1.Pod             // state pods by name: pod names are unique on a host
	again      map[string]*corev1.Pod             // recheck pods by UID
	running    map[string]bool                    // pod UIDs with a running container in `after`
	containers map[string]runtime.ContainerStatus // `after` containers by ID
}

func newDoctorIndex(in doctorInput) *doctorIndex {
	ix := &doctorIndex{
		doctorInput: in,
		pods:        slices.Clone(in.state.pods),
		byUID:       map[string]*corev1.Pod{},
		byName:      map[string]*corev1.Pod{},
		again:       map[string]*corev1.Pod{},
		running:     map[string]bool{},
		containers:  map[string]runtime.ContainerStatus{},
	}
	slices.SortFunc(ix.pods, func(a, b *corev1.Pod) int {
		return strings.Compare(key(a.Namespace, a.Name), key(b.Namespace, b.Name))
	})
	for _, p := range ix.pods {
		ix.byUID[string(p.UID)] = p
		ix.byName[p.Name] = p
	}
	for _, p := range in.recheck {
		ix.again[string(p.UID)] = p
	}
	for _, st := range in.after.containers {
		ix.containers[st.ID] = st
		if st.State == runtime.StateRunning {
			ix.running[st.Labels[labelPodUID]] = true
		}
	}
	return ix
}

// stillClaims reports whether pod's record, read again after the second
// look at the host, is the same incarnation, not being deleted, and still
// makes the claim that holds checks.
func (ix *doctorIndex) stillClaims(pod *corev1.Pod, holds func(*corev1.Pod) bool) bool {
	again := ix.again[string(pod.UID)]
	return again != nil && again.Name == pod.Name && !isTerminating(again) && holds(again)
}

// findings collects the problems and warnings of one check.
type findings struct {
	problems, warnings []string
}

func (f *findings) problem(format string, args ...any) {
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

func (f *findings) warn(format string, args ...any) {
	f.warnings = append(f.warnings, fmt.Sprintf(format, args...))
}

// diagnose runs every check on in and says how far each set is from its
// spec. It is pure and deterministic.
func diagnose(in doctorInput) api.DoctorReport {
	ix := newDoctorIndex(in)
	checks := []struct {
		name string
		run  func(*doctorIndex, *findings)
	}{
		{api.CheckOrdinals, checkOrdinals},
		{api.CheckContainers, checkContainers},
		{api.CheckNetworkNamespaces, checkNetns},
		{api.CheckIPAllocations, checkIPs},
		{api.CheckSnapshots, checkSnapshots},
		{api.CheckVolumes, checkVolumes},
		{api.CheckRevisions, checkRevisions},
	}
	report := api.DoctorReport{Pods: len(in.state.pods), Sets: convergence(in.state.sets, ix.pods)}
	for _, c := range checks {
		var f findings
		c.run(ix, &f)
		report.Checks = append(report.Checks, api.DoctorCheck{Name: c.name, OK: len(f.problems) == 0, Problems: f.problems, Warnings: f.warnings})
	}
	return report
}

// podRef names a pod in messages.
func podRef(pod *corev1.Pod) string { return "pod " + key(pod.Namespace, pod.Name) }

// checkOrdinals: one record per set and ordinal, named after it, and one
// incarnation per pod name running in containerd.
func checkOrdinals(ix *doctorIndex, f *findings) {
	holders := map[string][]string{}
	var order []string
	for _, pod := range ix.pods {
		set := controllerOf(pod)
		if set == "" {
			continue
		}
		parent, ordinal := parentAndOrdinal(pod.Name)
		if parent != set || ordinal < 0 {
			f.problem("%s of set %s is not named %s-<ordinal>", podRef(pod), set, set)
			continue
		}
		if label, ok := pod.Labels[appsv1.PodIndexLabel]; ok && label != strconv.Itoa(ordinal) {
			f.problem("%s is labelled %s=%s", podRef(pod), appsv1.PodIndexLabel, label)
		}
		k := key(pod.Namespace, set) + "-" + strconv.Itoa(ordinal)
		if holders[k] == nil {
			order = append(order, k)
		}
		holders[k] = append(holders[k], pod.Name)
	}
	for _, k := range order {
		if len(holders[k]) > 1 {
			f.problem("ordinal %s has %d pods in the state file: %s", k, len(holders[k]), strings.Join(holders[k], ", "))
		}
	}

	// Running containers, from one listing: an earlier incarnation's are
	// all gone before a later one's record is written.
	incarnations := map[string][]string{} // ns/pod -> UIDs, in container order
	ids := map[string][]string{}          // ns/pod/uid -> container IDs
	var pods []string
	for _, st := range ix.after.containers {
		if st.State != runtime.StateRunning {
			continue
		}
		pk, uid := key(st.Labels[labelNamespace], st.Labels[labelPod]), st.Labels[labelPodUID]
		if incarnations[pk] == nil {
			pods = append(pods, pk)
		}
		if !slices.Contains(incarnations[pk], uid) {
			incarnations[pk] = append(incarnations[pk], uid)
		}
		ids[pk+"/"+uid] = append(ids[pk+"/"+uid], st.ID)
	}
	for _, pk := range pods {
		if uids := incarnations[pk]; len(uids) > 1 {
			var parts []string
			for _, uid := range uids {
				parts = append(parts, fmt.Sprintf("uid %s (%s)", uid, strings.Join(ids[pk+"/"+uid], ", ")))
			}
			f.problem("pod %s runs as %d incarnations at once: %s", pk, len(uids), strings.Join(parts, "; "))
		}
	}
}

// checkContainers: containerd and the state file agree on the containers.
func checkContainers(ix *doctorIndex, f *findings) {
	before := map[string]string{} // container ID -> pod UID
	for _, st := range ix.before.containers {
		before[st.ID] = st.Labels[labelPodUID]
	}
	for _, st := range ix.after.containers {
		uid := st.Labels[labelPodUID]
		if seen, ok := before[st.ID]; !ok || seen != uid {
			continue // new since the first look: its record may be newer than the state read
		}
		pod := ix.byUID[uid]
		switch {
		case uid == "":
			f.problem("container %s has no %s label", st.ID, labelPodUID)
			continue
		case pod == nil:
			f.problem("container %s (pod %s, uid %s) is not in the state file", st.ID, key(st.Labels[labelNamespace], st.Labels[labelPod]), uid)
			continue
		case pod.Namespace != st.Labels[labelNamespace] || pod.Name != st.Labels[labelPod]:
			f.problem("container %s is labelled pod %s, but uid %s is %s", st.ID, key(st.Labels[labelNamespace], st.Labels[labelPod]), uid, podRef(pod))
			continue
		}
		if st.State != runtime.StateRunning {
			continue
		}
		// The record counts a restart only once the attempt has exited.
		if cs, ok := statusOf(pod, st.Labels[labelContainer]); ok {
			if attempt, err := strconv.Atoi(st.Labels[labelAttempt]); err == nil && int32(attempt) < cs.RestartCount {
				f.problem("container %s, attempt %d of %s container %s, still runs, but the state file is at attempt %d",
					st.ID, attempt, podRef(pod), cs.Name, cs.RestartCount)
			}
		}
	}

	for _, pod := range ix.pods {
		if isTerminating(pod) {
			continue // its containers go before its record
		}
		for _, cs := range allStatuses(pod) {
			if cs.State.Running == nil {
				continue
			}
			id := strings.TrimPrefix(cs.ContainerID, "containerd://")
			st, ok := ix.containers[id]
			if ok && (st.State == runtime.StateRunning || st.State == runtime.StateExited || st.State == runtime.StateUnknown) {
				continue // an exit is recorded by the next sync
			}
			claims := func(p *corev1.Pod) bool {
				again, ok := statusOf(p, cs.Name)
				return ok && again.State.Running != nil && again.ContainerID == cs.ContainerID
			}
			if !ix.stillClaims(pod, claims) {
				continue
			}
			if !ok {
				f.problem("%s: container %s is Running in the state file, but containerd has no container %s", podRef(pod), cs.Name, id)
			} else {
				f.problem("%s: container %s is Running in the state file, but containerd's %s has no task", podRef(pod), cs.Name, id)
			}
		}
	}
	for _, id := range ix.strays.Unowned {
		f.warn("container %s carries no setlet instance label: no setlet daemon made it or will remove it", id)
	}
	for _, s := range ix.strays.LeakedShims {
		f.warn("containerd shim pid %d (container %s) serves no task: containerd leaked it "+
			"(containerd/containerd#11392, after a daemon killed while it removed a container); `kill %d` frees it",
			s.PID, s.Container, s.PID)
	}
}

// allStatuses returns pod's init container and container statuses.
func allStatuses(pod *corev1.Pod) []corev1.ContainerStatus {
	return append(slices.Clone(pod.Status.InitContainerStatuses), pod.Status.ContainerStatuses...)
}

// checkNetns: namespace files and mounts belong to pods, and a pod whose
// containers run has its namespace.
func checkNetns(ix *doctorIndex, f *findings) {
	before := map[network.Netns]bool{}
	for _, n := range ix.before.netns {
		before[n] = true
	}
	for _, n := range ix.after.netns {
		if !before[n] {
			continue
		}
		path := filepath.Join(ix.netnsDir, n.Pod)
		pod := ix.byName[n.Pod]
		switch {
		case n.ID == "":
			f.problem("network namespace %s has no owner record", path)
		case pod == nil:
			f.problem("network namespace %s (attachment %s) belongs to no pod in the state file", path, n.ID)
		case string(pod.UID) != n.ID:
			f.problem("network namespace %s belongs to attachment %s, an earlier incarnation of %s (now uid %s)", path, n.ID, podRef(pod), pod.UID)
		}
	}

	// A mount on a pod's file is judged with the file above; what is left
	// is a namespace mounted over another one, which Setup never does, and
	// a mount where no pod's file can be.
	count := func(mounts []string) map[string]int {
		m := map[string]int{}
		for _, name := range mounts {
			m[name]++
		}
		return m
	}
	was, now := count(ix.before.mounts), count(ix.after.mounts)
	for _, name := range slices.Compact(slices.Clone(ix.after.mounts)) {
		path := filepath.Join(ix.netnsDir, name)
		switch {
		case was[name] == 0:
		case now[name] > 1 && was[name] > 1:
			f.problem("%d network namespaces are mounted on top of each other at %s: the ones below the top leaked", min(now[name], was[name]), path)
		case strings.Contains(name, "/") || strings.HasPrefix(name, "."):
			f.problem("mount at %s is not a pod's network namespace file", path)
		}
	}

	has := map[network.Netns]bool{}
	for _, n := range ix.after.netns {
		has[n] = true
	}
	for _, pod := range ix.pods {
		if isTerminating(pod) || !ix.running[string(pod.UID)] {
			continue
		}
		if has[network.Netns{Pod: pod.Name, ID: string(pod.UID), Mounted: true}] {
			continue
		}
		if ix.stillClaims(pod, func(*corev1.Pod) bool { return true }) {
			f.problem("%s has running containers but no network namespace at %s", podRef(pod), filepath.Join(ix.netnsDir, pod.Name))
		}
	}
}

// checkIPs: host-local's allocations and libcni's cached attachments
// belong to pods, one IP each, and a pod whose containers run holds the IP
// its record shows.
func checkIPs(ix *doctorIndex, f *findings) {
	if !ix.after.hostLocal {
		f.warn("network %s does not use host-local IPAM: IP allocations not checked", ix.network)
	} else {
		before := map[string]bool{}
		for _, a := range ix.before.allocs {
			before[a.IP.String()+"/"+a.ID] = true
		}
		held := map[string][]string{} // pod UID -> IPs
		var holders []string
		for _, a := range ix.after.allocs {
			if !before[a.IP.String()+"/"+a.ID] {
				continue
			}
			if ix.byUID[a.ID] == nil {
				f.problem("IP %s is allocated to %q, which is no pod in the state file", a.IP, a.ID)
				continue
			}
			if held[a.ID] == nil {
				holders = append(holders, a.ID)
			}
			held[a.ID] = append(held[a.ID], a.IP.String())
		}
		for _, uid := range holders {
			if ips := held[uid]; len(ips) > 1 {
				f.problem("%s holds %d IPs: %s", podRef(ix.byUID[uid]), len(ips), strings.Join(ips, ", "))
			}
		}
		checkPodIPs(ix, f)
	}
	before := map[string]bool{}
	for _, id := range ix.before.attachments {
		before[id] = true
	}
	for _, id := range ix.after.attachments {
		if before[id] && ix.byUID[id] == nil {
			f.problem("CNI attachment %q is cached but belongs to no pod in the state file", id)
		}
	}
}

// checkPodIPs: each pod whose containers run holds its recorded IP, and no
// two such pods have the same one.
func checkPodIPs(ix *doctorIndex, f *findings) {
	owner := map[string]string{} // IP -> attachment ID, in `after`
	for _, a := range ix.after.allocs {
		owner[a.IP.String()] = a.ID
	}
	users := map[string][]string{} // IP -> pods
	var ips []string
	for _, pod := range ix.pods {
		ip := net.ParseIP(pod.Status.PodIP)
		if isTerminating(pod) || !ix.running[string(pod.UID)] || ip == nil {
			continue
		}
		if users[ip.String()] == nil {
			ips = append(ips, ip.String())
		}
		users[ip.String()] = append(users[ip.String()], pod.Name)
		if owner[ip.String()] == string(pod.UID) {
			continue
		}
		same := func(p *corev1.Pod) bool { return p.Status.PodIP == pod.Status.PodIP }
		if !ix.stillClaims(pod, same) {
			continue
		}
		if id, ok := owner[ip.String()]; ok {
			f.problem("%s has IP %s, which host-local has allocated to %q", podRef(pod), ip, id)
		} else {
			f.problem("%s has IP %s, which host-local has not allocated", podRef(pod), ip)
		}
	}
	for _, ip := range ips {
		if len(users[ip]) > 1 {
			f.problem("pods %s all have IP %s", strings.Join(users[ip], ", "), ip)
		}
	}
}

// checkSnapshots reports the snapshots no container uses.
func checkSnapshots(ix *doctorIndex, f *findings) {
	for _, key := range ix.strays.Snapshots {
		f.problem("active snapshot %s has no container (left by an interrupted create or removal)", key)
	}
	for _, key := range ix.strays.UnownedSnapshots {
		f.warn("active snapshot %s carries no setlet instance label and no container uses it", key)
	}
}

// checkVolumes: every volume has its directory, every claim a pod names
// has a volume, and every directory a record.
func checkVolumes(ix *doctorIndex, f *findings) {
	recorded := map[string]bool{}
	names := map[string]bool{}
	for _, v := range ix.state.volumes {
		recorded[v.Path] = true
		names[v.Name] = true
		if v.Deleting != nil {
			continue // its directory goes before its record
		}
		isDir, exists := ix.state.volumeDirs[v.Path]
		switch {
		case !exists:
			f.problem("volume %s: directory %s is missing: its data is lost", v.Name, v.Path)
		case !isDir:
			f.problem("volume %s: %s is not a directory", v.Name, v.Path)
		}
	}
	for _, pod := range ix.pods {
		if isTerminating(pod) {
			continue
		}
		for _, vol := range pod.Spec.Volumes {
			if c := vol.PersistentVolumeClaim; c != nil && !names[c.ClaimName] {
				f.problem("%s uses volume %s, which has no record", podRef(pod), c.ClaimName)
			}
		}
	}
	for _, path := range ix.state.rootEntries {
		switch {
		case recorded[path]:
		case ix.state.volumeDirs[path]:
			f.warn("directory %s has no volume record: setlet adopts it, with its data, when a set needs a volume of that name", path)
		default:
			f.warn("%s in the volume directory is not a directory", path)
		}
	}
}

// checkRevisions: every pod of a set is at a revision the state file holds.
func checkRevisions(ix *doctorIndex, f *findings) {
	sets := map[string]bool{}
	for _, s := range ix.state.sets {
		sets[key(s.Namespace, s.Name)] = true
	}
	for _, pod := range ix.pods {
		set := key(pod.Namespace, controllerOf(pod))
		if isTerminating(pod) || !sets[set] {
			continue // a deleted set's pods are on their way out
		}
		switch rev := getPodRevision(pod); {
		case rev == "":
			f.problem("%s has no %s label", podRef(pod), appsv1.StatefulSetRevisionLabel)
		case !slices.Contains(ix.state.revisions[set], rev):
			f.problem("%s is at revision %s, which the state file does not hold for set %s", podRef(pod), rev, set)
		}
	}
}

// maxWaiting bounds how many reasons a SetConvergence lists.
const maxWaiting = 3

// convergence says, for each set and each deleted set with pods left,
// whether it has converged. pods must be sorted by namespace and name.
func convergence(sets []*appsv1.StatefulSet, pods []*corev1.Pod) []api.SetConvergence {
	bySet := map[string][]*corev1.Pod{}
	for _, pod := range pods {
		if set := controllerOf(pod); set != "" {
			bySet[key(pod.Namespace, set)] = append(bySet[key(pod.Namespace, set)], pod)
		}
	}
	var out []api.SetConvergence
	for _, set := range sets {
		k := key(set.Namespace, set.Name)
		out = append(out, setConvergence(set, bySet[k]))
		delete(bySet, k)
	}
	for k, left := range bySet {
		ns, name := splitKey(k)
		out = append(out, api.SetConvergence{Namespace: ns, Name: name, Deleted: true,
			Waiting: fmt.Sprintf("the set is deleted; %d pods still to remove", len(left))})
	}
	slices.SortFunc(out, func(a, b api.SetConvergence) int {
		return strings.Compare(key(a.Namespace, a.Name), key(b.Namespace, b.Name))
	})
	return out
}

// setConvergence compares set's pods with its spec.
func setConvergence(set *appsv1.StatefulSet, pods []*corev1.Pod) api.SetConvergence {
	start, n := startOrdinal(set), replicaCount(set)
	c := api.SetConvergence{Namespace: set.Namespace, Name: set.Name, Replicas: int32(n), UpdateRevision: set.Status.UpdateRevision}
	var waiting []string
	if set.Status.ObservedGeneration < set.Generation {
		waiting = append(waiting, fmt.Sprintf("generation %d is not observed yet", set.Generation))
	}
	rolling := set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType
	byOrdinal := map[int]*corev1.Pod{}
	for _, pod := range pods {
		ordinal := getOrdinal(pod)
		if !isMemberOf(set, pod) || ordinal < start || ordinal >= start+n {
			waiting = append(waiting, pod.Name+" is still to remove")
			continue
		}
		byOrdinal[ordinal] = pod
	}
	for ordinal := start; ordinal < start+n; ordinal++ {
		pod := byOrdinal[ordinal]
		switch {
		case pod == nil:
			waiting = append(waiting, podName(set, ordinal)+" does not exist")
			continue
		case isTerminating(pod):
			waiting = append(waiting, pod.Name+" is being deleted")
			continue
		case !isRunningAndReady(pod):
			waiting = append(waiting, pod.Name+" is not Running and Ready")
			continue
		}
		c.Ready++
		rev := getPodRevision(pod)
		if rev == set.Status.UpdateRevision {
			c.Updated++
		} else if rolling && ordinal >= start+partition(set) {
			waiting = append(waiting, fmt.Sprintf("%s is at revision %s, not %s", pod.Name, rev, set.Status.UpdateRevision))
		}
	}
	slices.Sort(waiting)
	c.Converged = len(waiting) == 0
	if len(waiting) > maxWaiting {
		waiting = append(waiting[:maxWaiting], fmt.Sprintf("and %d more", len(waiting)-maxWaiting))
	}
	c.Waiting = strings.Join(waiting, "; ")
	return c
}
