package cli

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/daemon/api"
)

func volumeColumns(wide bool) []string {
	cols := []string{"NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"}
	if wide {
		cols = append(cols, "VOLUMEMODE", "PATH")
	}
	return cols
}

// volumeRow is kubectl's PersistentVolumeClaim row; -o wide adds the host
// directory (setlet's api.VolumePathAnnotation) after VOLUMEMODE.
func volumeRow(obj object, now time.Time, opts printOptions) []string {
	pvc := obj.(*corev1.PersistentVolumeClaim)
	phase := string(pvc.Status.Phase)
	if pvc.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	attributesClass := "<unset>"
	if pvc.Spec.VolumeAttributesClassName != nil {
		attributesClass = *pvc.Spec.VolumeAttributesClassName
	}
	capacity, modes := "", ""
	if pvc.Spec.VolumeName != "" {
		modes = accessModes(pvc.Status.AccessModes)
		q := pvc.Status.Capacity[corev1.ResourceStorage]
		capacity = q.String()
	}
	row := []string{pvc.Name, phase, pvc.Spec.VolumeName, capacity, modes, claimClass(pvc), attributesClass, age(pvc.CreationTimestamp, now)}
	if opts.Wide {
		mode := "<unset>"
		if pvc.Spec.VolumeMode != nil {
			mode = string(*pvc.Spec.VolumeMode)
		}
		row = append(row, mode, orNone(pvc.Annotations[api.VolumePathAnnotation]))
	}
	return row
}

// accessModes abbreviates access modes as kubectl does: RWO,ROX,RWX,RWOP.
func accessModes(modes []corev1.PersistentVolumeAccessMode) string {
	has := func(m corev1.PersistentVolumeAccessMode) bool {
		for _, x := range modes {
			if x == m {
				return true
			}
		}
		return false
	}
	var out []string
	for _, m := range []struct {
		mode  corev1.PersistentVolumeAccessMode
		short string
	}{
		{corev1.ReadWriteOnce, "RWO"}, {corev1.ReadOnlyMany, "ROX"},
		{corev1.ReadWriteMany, "RWX"}, {corev1.ReadWriteOncePod, "RWOP"},
	} {
		if has(m.mode) {
			out = append(out, m.short)
		}
	}
	return strings.Join(out, ",")
}

// claimClass is a claim's storage class: the beta annotation if present,
// else spec.storageClassName.
func claimClass(pvc *corev1.PersistentVolumeClaim) string {
	if class, ok := pvc.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		return class
	}
	if pvc.Spec.StorageClassName != nil {
		return *pvc.Spec.StorageClassName
	}
	return ""
}
