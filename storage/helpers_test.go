package storage_test

import (
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/setlet/setlet/storage"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// openStore opens a new state file in t.TempDir with a fake clock and
// closes it at the end of the test.
func openStore(t testing.TB, opts ...storage.Opt) (*storage.Store, *fakeClock) {
	t.Helper()
	clock := newClock()
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := storage.Open(path, append([]storage.Opt{storage.WithClock(clock.Now)}, opts...)...)
	noErr(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st, clock
}

// reopen closes st and opens its file again with the same clock.
func reopen(t testing.TB, st *storage.Store, clock *fakeClock, opts ...storage.Opt) *storage.Store {
	t.Helper()
	noErr(t, st.Close())
	st2, err := storage.Open(st.Path(), append([]storage.Opt{storage.WithClock(clock.Now), storage.WithVolumeDir(st.VolumeDir())}, opts...)...)
	noErr(t, err)
	t.Cleanup(func() { _ = st2.Close() })
	return st2
}

func newSet(ns, name string) *appsv1.StatefulSet {
	labels := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"tier": "web"}},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptrTo[int32](3),
			ServiceName:         "nginx",
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptrTo[int64](30),
					Containers: []corev1.Container{{
						Name:  "nginx",
						Image: "nginx:1.27",
						Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 80}},
						Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
							corev1.ResourceMemory: resource.MustParse("1.5Gi"),
							corev1.ResourceCPU:    resource.MustParse("500m"),
						}},
					}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "www"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceStorage: resource.MustParse("1Gi"),
					}},
				},
			}},
		},
	}
}

func newService(ns, name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  map[string]string{"app": "web"},
			Ports:     []corev1.ServicePort{{Name: "web", Port: 80, TargetPort: intstr.FromString("web")}},
		},
	}
}

func newConfigMap(ns, name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Data:       map[string]string{"nginx.conf": "events {}"},
	}
}

func newSecret(ns, name string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"password": []byte("hunter2")},
	}
}

// newPod returns the pod record of ordinal of set ns/set.
func newPod(ns, set string, ordinal int) *corev1.Pod {
	owner := newSet(ns, set)
	owner.UID = "set-uid"
	name := set + "-" + itoa(ordinal)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns,
			Name:      name,
			Labels: map[string]string{
				"app":                                 set,
				appsv1.StatefulSetPodNameLabel:        name,
				appsv1.PodIndexLabel:                  itoa(ordinal),
				appsv1.ControllerRevisionHashLabelKey: set + "-abc",
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, appsv1.SchemeGroupVersion.WithKind("StatefulSet"))},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func ptrTo[T any](v T) *T { return &v }
