package cli

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

func setColumns(wide bool) []string {
	cols := []string{"NAME", "READY", "AGE"}
	if wide {
		cols = append(cols, "CONTAINERS", "IMAGES")
	}
	return cols
}

// setRow is kubectl's StatefulSet row: READY is readyReplicas/replicas.
func setRow(obj object, now time.Time, opts printOptions) []string {
	set := obj.(*appsv1.StatefulSet)
	row := []string{set.Name, fmt.Sprintf("%d/%d", set.Status.ReadyReplicas, desiredReplicas(set)), age(set.CreationTimestamp, now)}
	if opts.Wide {
		names, images := containerCells(set.Spec.Template.Spec.Containers)
		row = append(row, names, images)
	}
	return row
}

// desiredReplicas is spec.replicas, 1 when unset (the API default).
func desiredReplicas(set *appsv1.StatefulSet) int32 {
	if set.Spec.Replicas == nil {
		return 1
	}
	return *set.Spec.Replicas
}

// containerCells lists the names and the images of containers, comma
// separated, as kubectl's CONTAINERS and IMAGES columns do.
func containerCells(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	i := make([]string, len(containers))
	for k, c := range containers {
		n[k], i[k] = c.Name, c.Image
	}
	return strings.Join(n, ","), strings.Join(i, ",")
}

// age is kubectl's AGE: the time since t, approximately ("5m", "3d4h"), or
// <unknown> for a zero time.
func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// orNone is s, or <none> when s is empty.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
