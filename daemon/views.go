package daemon

import (
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/daemon/api"
	"github.com/setlet/setlet/dns"
	"github.com/setlet/setlet/runtime"
	"github.com/setlet/setlet/storage"
)

// What the API shows, in Kubernetes shapes: sets and pods as stored,
// volumes as PersistentVolumeClaims, events as v1 Events.

// EventTimeAnnotation carries an event's time with nanoseconds (v1 Event
// times stop at microseconds).
const EventTimeAnnotation = "setlet.io/time"

func (d *Daemon) listSets(ns string) ([]*appsv1.StatefulSet, error) {
	sets, err := d.store.StatefulSets()
	if err != nil {
		return nil, err
	}
	out := []*appsv1.StatefulSet{}
	for _, s := range sets {
		if ns == "" || s.Namespace == ns {
			out = append(out, s)
		}
	}
	return out, nil
}

func (d *Daemon) listPods(ns string) ([]*corev1.Pod, error) {
	pods, err := d.store.AllPods()
	if err != nil {
		return nil, err
	}
	out := []*corev1.Pod{}
	for _, p := range pods {
		if ns == "" || p.Namespace == ns {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return podOrder(out[i]) < podOrder(out[j])
	})
	return out, nil
}

// podOrder sorts pods by set and then by ordinal (web-2 before web-10).
func podOrder(p *corev1.Pod) string {
	set, ord := parentAndOrdinal(p.Name)
	if ord < 0 {
		return p.Name
	}
	return fmt.Sprintf("%s\x00%010d", set, ord)
}

func (d *Daemon) listServices(ns string) ([]*corev1.Service, error) {
	svcs, err := d.store.Services()
	if err != nil {
		return nil, err
	}
	out := []*corev1.Service{}
	for _, s := range svcs {
		if ns == "" || s.Namespace == ns {
			out = append(out, s)
		}
	}
	return out, nil
}

func (d *Daemon) listVolumes(ns string) ([]corev1.PersistentVolumeClaim, error) {
	vols, err := d.store.Volumes()
	if err != nil {
		return nil, err
	}
	out := []corev1.PersistentVolumeClaim{}
	for _, v := range vols {
		if ns == "" || v.Namespace == ns {
			out = append(out, d.volumeClaim(v))
		}
	}
	return out, nil
}

// volumeClaim shows a per-ordinal volume as the PersistentVolumeClaim
// Kubernetes would have made for it, bound, with its host directory in an
// annotation and the labels of its claim template and set selector.
func (d *Daemon) volumeClaim(v storage.Volume) corev1.PersistentVolumeClaim {
	pvc := corev1.PersistentVolumeClaim{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{
			Name: v.Name, Namespace: v.Namespace, CreationTimestamp: metav1.NewTime(v.Created),
			Annotations: map[string]string{api.VolumePathAnnotation: v.Path},
			Labels:      map[string]string{},
		},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			VolumeName:  v.Name,
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}},
	}
	if v.Deleting != nil {
		t := metav1.NewTime(*v.Deleting)
		pvc.DeletionTimestamp = &t // kubectl shows it as Terminating
	}
	if q, err := resource.ParseQuantity(v.Capacity); err == nil {
		pvc.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: q}
		pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: q}
	}
	if set, err := d.store.StatefulSet(v.Namespace, v.Set); err == nil {
		if set.Spec.Selector != nil {
			for k, val := range set.Spec.Selector.MatchLabels {
				pvc.Labels[k] = val
			}
		}
		for _, c := range set.Spec.VolumeClaimTemplates {
			if c.Name == v.Claim {
				for k, val := range c.Labels {
					pvc.Labels[k] = val
				}
				pvc.Spec.AccessModes = c.Spec.AccessModes
				pvc.Status.AccessModes = c.Spec.AccessModes
				pvc.Spec.StorageClassName = c.Spec.StorageClassName
			}
		}
	}
	return pvc
}

// listEvents returns the events of namespace ns (all for ""), of kind/name
// when given, oldest first, after sequence number after.
func (d *Daemon) listEvents(ns, kind, name string, after uint64) ([]corev1.Event, error) {
	evs, err := d.store.Events(storage.EventFilter{Kind: kind, Namespace: ns, Name: name, AfterSeq: after})
	if err != nil {
		return nil, err
	}
	out := make([]corev1.Event, 0, len(evs))
	for _, e := range evs {
		out = append(out, toEvent(e))
	}
	return out, nil
}

// toEvent shows a stored event as a v1 Event.
func toEvent(e storage.Event) corev1.Event {
	t := metav1.NewTime(e.Time)
	apiVersion := "v1"
	if e.Kind == configs.KindStatefulSet {
		apiVersion = "apps/v1"
	}
	return corev1.Event{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
		ObjectMeta: metav1.ObjectMeta{
			Name:              fmt.Sprintf("%s.%x", e.Name, e.Seq),
			Namespace:         e.Namespace,
			CreationTimestamp: t,
			Annotations:       map[string]string{EventTimeAnnotation: e.Time.UTC().Format(time.RFC3339Nano)},
		},
		InvolvedObject:      corev1.ObjectReference{APIVersion: apiVersion, Kind: e.Kind, Namespace: e.Namespace, Name: e.Name},
		Reason:              e.Reason,
		Message:             e.Message,
		Type:                e.Type,
		Count:               1,
		FirstTimestamp:      t,
		LastTimestamp:       t,
		EventTime:           metav1.NewMicroTime(e.Time),
		Source:              corev1.EventSource{Component: "setlet"},
		ReportingController: "setlet",
		ReportingInstance:   "setlet",
	}
}

// describeSet answers describe set: the set, its pods and volumes, the
// events of the set and its pods, and why it waits.
func (d *Daemon) describeSet(ns, name string) (api.Describe, error) {
	set, err := d.store.StatefulSet(ns, name)
	if err != nil {
		return api.Describe{}, err
	}
	pods, err := d.store.Pods(ns, name)
	if err != nil {
		return api.Describe{}, err
	}
	vols, err := d.listVolumes(ns)
	if err != nil {
		return api.Describe{}, err
	}
	var mine []corev1.PersistentVolumeClaim
	for _, v := range vols {
		for _, c := range set.Spec.VolumeClaimTemplates {
			if parent, ord := parentAndOrdinal(v.Name); ord >= 0 && parent == c.Name+"-"+set.Name {
				mine = append(mine, v)
			}
		}
	}
	evs, err := d.listEvents(ns, configs.KindStatefulSet, name, 0)
	if err != nil {
		return api.Describe{}, err
	}
	return api.Describe{Object: set, Pods: pods, Volumes: mine, Events: evs, Waiting: d.controller.waitReason(ns, name)}, nil
}

// describePod answers describe pod: the pod, its events, and, when it is
// not Ready, why.
func (d *Daemon) describePod(ns, name string) (api.Describe, error) {
	pod, err := d.store.Pod(ns, name)
	if err != nil {
		return api.Describe{}, err
	}
	evs, err := d.listEvents(ns, "Pod", name, 0)
	if err != nil {
		return api.Describe{}, err
	}
	waiting := ""
	if !podReady(pod.Status) {
		waiting = "not Ready: " + readyMessage(pod.Status)
		if pod.Status.Message != "" {
			waiting = "not Ready: " + pod.Status.Message
		}
	}
	return api.Describe{Object: pod, Events: evs, Waiting: waiting, DNSNames: d.dns.PodNames(ns, name)}, nil
}

// dnsRecords lists the DNS server's records: all, or those of the pod or
// service called name, or whose owner name is name.
func (d *Daemon) dnsRecords(name string) []api.DNSRecord {
	ttl := int(d.cfg.DNSTTL.Seconds())
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	out := []api.DNSRecord{}
	for _, r := range d.dns.Records() {
		if name != "" && !recordMatches(r, name) {
			continue
		}
		out = append(out, api.DNSRecord{Name: r.Name, Type: r.Type, TTL: ttl, Data: r.Data, Pod: r.Pod, Service: r.Service})
	}
	return out
}

// recordMatches says whether r belongs to the pod or service called name
// (with or without its namespace) or is the record of the owner name name.
func recordMatches(r dns.Record, name string) bool {
	if strings.ToLower(strings.TrimSuffix(r.Name, ".")) == name {
		return true
	}
	for _, ref := range []string{r.Pod, r.Service} {
		if ref == "" {
			continue
		}
		_, short, _ := strings.Cut(ref, "/")
		if ref == name || short == name {
			return true
		}
	}
	return false
}

// toAPIImages converts runtime images for the API.
func toAPIImages(imgs []runtime.Image) []api.Image {
	out := make([]api.Image, 0, len(imgs))
	for _, i := range imgs {
		img := api.Image{Name: i.Name, Digest: i.Digest, Size: i.Size}
		if !i.Created.IsZero() {
			img.Created = i.Created.UTC().Format(time.RFC3339)
		}
		out = append(out, img)
	}
	return out
}

// watchList sends every object of kind in ns (ADDED for new ones,
// MODIFIED for ones seen before, DELETED for seen ones that are gone) and
// returns the objects now seen.
func (d *Daemon) watchList(kind, ns string, seen map[string]any, send func(string, any) bool) (map[string]any, bool) {
	now := map[string]any{}
	switch kind {
	case configs.KindStatefulSet:
		sets, err := d.listSets(ns)
		if err != nil {
			return seen, true
		}
		for _, s := range sets {
			now[key(s.Namespace, s.Name)] = s
		}
	case "Pod":
		pods, err := d.listPods(ns)
		if err != nil {
			return seen, true
		}
		for _, p := range pods {
			now[key(p.Namespace, p.Name)] = p
		}
	case "Volume":
		vols, err := d.listVolumes(ns)
		if err != nil {
			return seen, true
		}
		for i := range vols {
			now[key(vols[i].Namespace, vols[i].Name)] = &vols[i]
		}
	case "Event":
		var last uint64
		if v, ok := seen["\x00seq"]; ok {
			last = v.(uint64)
		}
		evs, err := d.store.Events(storage.EventFilter{Namespace: ns, AfterSeq: last})
		if err != nil {
			return seen, true
		}
		for _, e := range evs {
			if !send("ADDED", toEvent(e)) {
				return seen, false
			}
			last = e.Seq
		}
		return map[string]any{"\x00seq": last}, true
	}
	keys := make([]string, 0, len(now))
	for k := range now {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		typ := "ADDED"
		if _, ok := seen[k]; ok {
			typ = "MODIFIED"
		}
		if !send(typ, now[k]) {
			return now, false
		}
	}
	for k, old := range seen {
		if _, ok := now[k]; !ok {
			if !send("DELETED", old) {
				return now, false
			}
		}
	}
	return now, true
}

// watchOne sends the change of one set, pod or volume.
func (d *Daemon) watchOne(kind string, c change, seen map[string]any, send func(string, any) bool) (map[string]any, bool) {
	k := key(c.Namespace, c.Name)
	var obj any
	var err error
	switch kind {
	case configs.KindStatefulSet:
		obj, err = d.store.StatefulSet(c.Namespace, c.Name)
	case "Pod":
		obj, err = d.store.Pod(c.Namespace, c.Name)
	case "Volume":
		var v storage.Volume
		if v, err = d.store.Volume(c.Name); err == nil {
			pvc := d.volumeClaim(v)
			obj = &pvc
		}
	}
	if err != nil {
		if old, ok := seen[k]; ok {
			delete(seen, k)
			return seen, send("DELETED", old)
		}
		return seen, true
	}
	typ := "ADDED"
	if _, ok := seen[k]; ok {
		typ = "MODIFIED"
	}
	seen[k] = obj
	return seen, send(typ, obj)
}
