package daemon_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/daemon"
)

// richSet has template annotations, finalizers, a template volume that a
// claim template replaces and one that it does not.
func richSet() *appsv1.StatefulSet {
	return newSet(3, func(s *appsv1.StatefulSet) {
		s.Spec.Template.Annotations = map[string]string{"note": "x"}
		s.Spec.Template.Finalizers = []string{"example.com/keep"}
		s.Spec.Template.Spec.Volumes = []corev1.Volume{
			{Name: "www", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"},
			}}},
		}
		s.Spec.VolumeClaimTemplates = append(s.Spec.VolumeClaimTemplates, corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data"},
		})
	})
}

func claimVolume(name, claim string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim},
	}}
}

func TestNewPod(t *testing.T) {
	set := richSet()
	pod := daemon.NewPod(set, "web-abc", 3)

	tests := []struct {
		name      string
		want, got any
	}{
		{"NewPod/names the pod <set>-<ordinal>", "web-3", pod.Name},
		{"NewPod/puts the pod in the set's namespace", "default", pod.Namespace},
		{"NewPod/labels are the template's plus revision, pod-name and pod-index", map[string]string{
			"app":                           "web",
			appsv1.StatefulSetRevisionLabel: "web-abc",
			appsv1.StatefulSetPodNameLabel:  "web-3",
			appsv1.PodIndexLabel:            "3",
		}, pod.Labels},
		{"NewPod/annotations are the template's", map[string]string{"note": "x"}, pod.Annotations},
		{"NewPod/finalizers are the template's", []string{"example.com/keep"}, pod.Finalizers},
		{"NewPod/the set is the controller owner", []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: set.UID,
			Controller: ptr(true), BlockOwnerDeletion: ptr(true),
		}}, pod.OwnerReferences},
		{"NewPod/hostname is the pod name", "web-3", pod.Spec.Hostname},
		{"NewPod/subdomain is the service name", "nginx", pod.Spec.Subdomain},
		{"NewPod/one volume per claim template replaces the template volume of that name; other volumes follow", []corev1.Volume{
			claimVolume("www", "www-web-3"),
			claimVolume("data", "data-web-3"),
			set.Spec.Template.Spec.Volumes[1],
		}, pod.Spec.Volumes},
		{"NewPod/containers are the template's", set.Spec.Template.Spec.Containers, pod.Spec.Containers},
		{"NewPod/has no status", corev1.PodStatus{}, pod.Status},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !apiequality.Semantic.DeepEqual(tt.want, tt.got) {
				t.Fatalf("want %#v\ngot  %#v", tt.want, tt.got)
			}
		})
	}

	t.Run("NewPod/without claim templates keeps the template volumes", func(t *testing.T) {
		s := richSet()
		s.Spec.VolumeClaimTemplates = nil
		mustEqual(t, s.Spec.Template.Spec.Volumes, daemon.NewPod(s, "web-abc", 0).Spec.Volumes)
	})

	t.Run("NewPod/shares no memory with the set", func(t *testing.T) {
		s := richSet()
		before := s.DeepCopy()
		pod := daemon.NewPod(s, "web-abc", 1)
		pod.Labels["app"] = "changed"
		pod.Annotations["note"] = "changed"
		pod.Finalizers[0] = "changed"
		pod.Spec.Containers[0].Image = "changed"
		pod.Spec.Containers[0].VolumeMounts[0].Name = "changed"
		pod.Spec.Volumes[2].ConfigMap.Name = "changed"
		mustTrue(t, apiequality.Semantic.DeepEqual(before, s), "NewPod's result aliases the set")
	})

	t.Run("NewPod/a new pod matches its set's identity, so Plan leaves it alone", func(t *testing.T) {
		s := richSet()
		var observed []*corev1.Pod
		for i := range 3 {
			observed = append(observed, newPod(s, i, revOld))
		}
		res := daemon.Plan(daemon.PlanInput{Set: s, CurrentRevision: revOld, UpdateRevision: revOld, Pods: observed, Now: t0})
		requireActions(t, res)
	})
}

func ptr[T any](v T) *T { return &v }
