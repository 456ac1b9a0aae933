package daemon_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/setlet/setlet/daemon"
)

// Revision names used by the unit tables; Plan only compares names.
const (
	revOld = "web-old"
	revNew = "web-new"
)

// t0 is the fake clock's epoch.
var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// setOpt changes a test set.
type setOpt func(*appsv1.StatefulSet)

// newSet returns a set named web defaulted the way the API server does.
func newSet(replicas int32, opts ...setOpt) *appsv1.StatefulSet {
	partition := int32(0)
	maxUnavailable := intstr.FromInt32(1)
	history := int32(10)
	labels := map[string]string{"app": "web"}
	set := &appsv1.StatefulSet{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: metav1.ObjectMeta{
			Name:       "web",
			Namespace:  "default",
			UID:        types.UID("0b1c2d3e-web"),
			Generation: 1,
		},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			ServiceName: "nginx",
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name:         "nginx",
						Image:        "nginx:1.27",
						VolumeMounts: []corev1.VolumeMount{{Name: "www", MountPath: "/usr/share/nginx/html"}},
					}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "www"},
			}},
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
				Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{
					Partition:      &partition,
					MaxUnavailable: &maxUnavailable,
				},
			},
			RevisionHistoryLimit: &history,
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
		},
	}
	for _, opt := range opts {
		opt(set)
	}
	return set
}

func parallel(set *appsv1.StatefulSet) { set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }

func onDelete(set *appsv1.StatefulSet) {
	set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
}

func withPartition(p int32) setOpt {
	return func(set *appsv1.StatefulSet) { *set.Spec.UpdateStrategy.RollingUpdate.Partition = p }
}

func withMaxUnavailable(v intstr.IntOrString) setOpt {
	return func(set *appsv1.StatefulSet) { set.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = &v }
}

func withStart(start int32) setOpt {
	return func(set *appsv1.StatefulSet) { set.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: start} }
}

func withMinReady(seconds int32) setOpt {
	return func(set *appsv1.StatefulSet) { set.Spec.MinReadySeconds = seconds }
}

// podOpt changes a test pod.
type podOpt func(*corev1.Pod)

// newPod returns pod ordinal of set at revision rev, Running and Ready since
// t0 unless opts say otherwise.
func newPod(set *appsv1.StatefulSet, ordinal int, rev string, opts ...podOpt) *corev1.Pod {
	pod := daemon.NewPod(set, rev, ordinal)
	pod.CreationTimestamp = metav1.NewTime(t0)
	readySince(t0)(pod)
	for _, opt := range opts {
		opt(pod)
	}
	return pod
}

// readySince makes pod Running with a true Ready condition since since.
func readySince(since time.Time) podOpt {
	return func(pod *corev1.Pod) {
		pod.Status.Phase = corev1.PodRunning
		pod.Status.Conditions = []corev1.PodCondition{{
			Type:               corev1.PodReady,
			Status:             corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(since),
		}}
	}
}

func pending(pod *corev1.Pod) {
	pod.Status.Phase = corev1.PodPending
	pod.Status.Conditions = nil
}

// held is a pod the daemon put back to not created after a host restart:
// no phase, its containers' statuses kept.
func held(pod *corev1.Pod) {
	pod.Status.Phase = ""
	pod.Status.Reason = "HostRestarted"
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web", RestartCount: 1}}
}

func notReady(pod *corev1.Pod) {
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
}

func failed(pod *corev1.Pod) {
	pod.Status.Phase = corev1.PodFailed
	pod.Status.Conditions = nil
}

func succeeded(pod *corev1.Pod) {
	pod.Status.Phase = corev1.PodSucceeded
	pod.Status.Conditions = nil
}

func terminating(pod *corev1.Pod) {
	ts := metav1.NewTime(t0)
	pod.DeletionTimestamp = &ts
}

// pods returns pods 0..n-1 of set at rev, all Running and Ready.
func pods(set *appsv1.StatefulSet, n int, rev string) []*corev1.Pod {
	out := make([]*corev1.Pod, 0, n)
	for i := range n {
		out = append(out, newPod(set, i, rev))
	}
	return out
}

// actionStrings renders actions compactly: "CreatePod web-1@rev",
// "DeletePod web-2", "UpdatePodIdentity web-0".
func actionStrings(actions []daemon.Action) []string {
	out := make([]string, 0, len(actions))
	for _, a := range actions {
		s := fmt.Sprintf("%s %s", a.Type, a.Pod)
		if a.Type == daemon.ActionCreatePod {
			s += "@" + a.Revision
		}
		out = append(out, s)
	}
	return out
}

// requireActions checks the rendered actions of res.
func requireActions(t *testing.T, res daemon.PlanResult, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	mustEqual(t, want, actionStrings(res.Actions), "wait: %q", res.Wait)
}

// mustEqual fails t unless want and got are deeply equal.
func mustEqual(t *testing.T, want, got any, msg ...any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%s\nwant: %#v\ngot:  %#v", describe(msg), want, got)
	}
}

// mustContain fails t unless s contains substr.
func mustContain(t *testing.T, s, substr string, msg ...any) {
	t.Helper()
	if !strings.Contains(s, substr) {
		t.Fatalf("%s\n%q does not contain %q", describe(msg), s, substr)
	}
}

// mustTrue fails t unless cond holds.
func mustTrue(t *testing.T, cond bool, msg ...any) {
	t.Helper()
	if !cond {
		t.Fatalf("%s: condition is false", describe(msg))
	}
}

// mustNoErr fails t when err is not nil.
func mustNoErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// describe formats an optional message given as format and arguments.
func describe(msg []any) string {
	if len(msg) == 0 {
		return "mismatch"
	}
	if format, ok := msg[0].(string); ok {
		return fmt.Sprintf(format, msg[1:]...)
	}
	return fmt.Sprint(msg...)
}
