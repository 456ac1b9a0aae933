package daemon

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/setlet/setlet/storage"
)

// NewPod returns the pod Kubernetes' newStatefulSetPod builds for ordinal of
// set, labelled with revision. set's pod template must already be the one
// recorded in revision (the caller applies the revision with
// storage.ApplyRevision first).
//
// The pod is named "<set>-<ordinal>" in set's namespace and controlled by
// set. Its labels are the template's plus controller-revision-hash=revision,
// statefulset.kubernetes.io/pod-name and apps.kubernetes.io/pod-index; its
// annotations and finalizers are the template's. Its spec is the template's
// with Hostname set to the pod name and Subdomain to set's serviceName, and
// one volume per volume claim template, named after the claim, whose
// PersistentVolumeClaim source is storage.VolumeName(claim, set, ordinal); such a
// volume replaces a template volume of the same name. Claim volumes come
// first, in template order, then the other template volumes in order.
//
// NewPod is pure and deterministic, and the result shares no memory with
// set. It has no status: the caller records the phase it starts with.
func NewPod(set *appsv1.StatefulSet, revision string, ordinal int) *corev1.Pod {
	template := set.Spec.Template.DeepCopy()
	name := podName(set, ordinal)

	labels := make(map[string]string, len(template.Labels)+3)
	for k, v := range template.Labels {
		labels[k] = v
	}
	labels[appsv1.StatefulSetPodNameLabel] = name
	labels[appsv1.PodIndexLabel] = strconv.Itoa(ordinal)
	labels[appsv1.StatefulSetRevisionLabel] = revision

	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			GenerateName:    set.Name + "-",
			Namespace:       set.Namespace,
			Labels:          labels,
			Annotations:     template.Annotations,
			Finalizers:      template.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, appsv1.SchemeGroupVersion.WithKind("StatefulSet"))},
		},
		Spec: template.Spec,
	}
	pod.Spec.Hostname = name
	pod.Spec.Subdomain = set.Spec.ServiceName
	pod.Spec.Volumes = claimVolumes(set, ordinal, pod.Spec.Volumes)
	return pod
}

// claimVolumes mirrors Kubernetes' updateStorage: one volume per claim
// template, then the volumes of current whose names are not claim names.
// It returns nil when there is nothing to return, like an empty template.
func claimVolumes(set *appsv1.StatefulSet, ordinal int, current []corev1.Volume) []corev1.Volume {
	claims := set.Spec.VolumeClaimTemplates
	if len(claims) == 0 {
		return current
	}
	isClaim := make(map[string]bool, len(claims))
	volumes := make([]corev1.Volume, 0, len(claims)+len(current))
	for i := range claims {
		name := claims[i].Name
		isClaim[name] = true
		volumes = append(volumes, corev1.Volume{
			Name: name,
			VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
					ClaimName: storage.VolumeName(name, set.Name, ordinal),
				},
			},
		})
	}
	for i := range current {
		if !isClaim[current[i].Name] {
			volumes = append(volumes, current[i])
		}
	}
	return volumes
}
