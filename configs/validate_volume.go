package configs

import (
	"path"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// volumeSources are the pod volume types setlet can provide on one host;
// persistent storage comes from volumeClaimTemplates.
var volumeSources = []string{"configMap", "downwardAPI", "emptyDir", "hostPath", "projected", "secret"}

// validateVolumes checks the pod template's volumes and returns their names.
func validateVolumes(volumes []corev1.Volume, fp *field.Path) (sets.Set[string], field.ErrorList) {
	var errs field.ErrorList
	names := sets.New[string]()
	for i := range volumes {
		v := &volumes[i]
		vp := fp.Index(i)
		np := vp.Child("name")
		switch {
		case v.Name == "":
			errs = append(errs, field.Required(np, ""))
		case names.Has(v.Name):
			errs = append(errs, field.Duplicate(np, v.Name))
		default:
			for _, msg := range validation.IsDNS1123Label(v.Name) {
				errs = append(errs, field.Invalid(np, v.Name, msg))
			}
			names.Insert(v.Name)
		}
		set := setSources(&v.VolumeSource)
		if len(set) > 1 {
			errs = append(errs, field.Forbidden(vp.Child(set[1]), "may not specify more than 1 volume type"))
			continue
		}
		if len(set) == 1 && !containsValue(volumeSources, set[0]) {
			errs = append(errs, field.NotSupported(vp.Child(set[0]), set[0], volumeSources))
			continue
		}
		errs = append(errs, validateVolumeSource(&v.VolumeSource, vp)...)
	}
	return names, errs
}

// setSources returns the JSON names of the volume types set in vs.
func setSources(vs *corev1.VolumeSource) []string {
	var set []string
	rv := reflect.ValueOf(vs).Elem()
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		if f := rv.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			set = append(set, jsonName(rt.Field(i)))
		}
	}
	return set
}

func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	for i := 0; i < len(tag); i++ {
		if tag[i] == ',' {
			return tag[:i]
		}
	}
	if tag == "" {
		return f.Name
	}
	return tag
}

func validateVolumeSource(vs *corev1.VolumeSource, vp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if h := vs.HostPath; h != nil {
		hp := vp.Child("hostPath")
		switch {
		case h.Path == "":
			errs = append(errs, field.Required(hp.Child("path"), ""))
		case !path.IsAbs(h.Path):
			errs = append(errs, field.Invalid(hp.Child("path"), h.Path, "must be an absolute path"))
		case hasDotDot(h.Path):
			errs = append(errs, field.Invalid(hp.Child("path"), h.Path, "must not contain '..'"))
		}
		types := []corev1.HostPathType{corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory,
			corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev}
		if h.Type != nil && !containsValue(types, *h.Type) {
			errs = append(errs, field.NotSupported(hp.Child("type"), *h.Type, types))
		}
	}
	if e := vs.EmptyDir; e != nil {
		ep := vp.Child("emptyDir")
		media := []corev1.StorageMedium{corev1.StorageMediumDefault, corev1.StorageMediumMemory}
		if !containsValue(media, e.Medium) {
			errs = append(errs, field.NotSupported(ep.Child("medium"), e.Medium, media))
		}
		if e.SizeLimit != nil && e.SizeLimit.Sign() < 0 {
			errs = append(errs, field.Invalid(ep.Child("sizeLimit"), e.SizeLimit.String(), "must be greater than or equal to 0"))
		}
	}
	if c := vs.ConfigMap; c != nil {
		cp := vp.Child("configMap")
		errs = append(errs, validateRefName(c.Name, cp.Child("name"))...)
		errs = append(errs, validateKeyToPaths(c.Items, c.DefaultMode, cp)...)
	}
	if s := vs.Secret; s != nil {
		sp := vp.Child("secret")
		errs = append(errs, validateRefName(s.SecretName, sp.Child("secretName"))...)
		errs = append(errs, validateKeyToPaths(s.Items, s.DefaultMode, sp)...)
	}
	if d := vs.DownwardAPI; d != nil {
		dp := vp.Child("downwardAPI")
		errs = append(errs, validateMode(d.DefaultMode, dp.Child("defaultMode"))...)
		errs = append(errs, validateDownwardFiles(d.Items, dp.Child("items"))...)
	}
	if p := vs.Projected; p != nil {
		errs = append(errs, validateProjected(p, vp.Child("projected"))...)
	}
	return errs
}

// validateKeyToPaths checks the items of a configMap or secret volume.
func validateKeyToPaths(items []corev1.KeyToPath, defaultMode *int32, fp *field.Path) field.ErrorList {
	errs := validateMode(defaultMode, fp.Child("defaultMode"))
	for i, it := range items {
		ip := fp.Child("items").Index(i)
		if it.Key == "" {
			errs = append(errs, field.Required(ip.Child("key"), ""))
		}
		for _, msg := range nonEmpty(it.Key, validation.IsConfigMapKey) {
			errs = append(errs, field.Invalid(ip.Child("key"), it.Key, msg))
		}
		errs = append(errs, validateItemPath(it.Path, ip.Child("path"))...)
		errs = append(errs, validateMode(it.Mode, ip.Child("mode"))...)
	}
	return errs
}

// validateItemPath checks the file name an item is written to inside the
// volume directory.
func validateItemPath(p string, fp *field.Path) field.ErrorList {
	if p == "" {
		return field.ErrorList{field.Required(fp, "")}
	}
	return validateRelativePath(p, fp)
}

// validateMode accepts file modes from 0 to 0777, as Kubernetes does.
func validateMode(mode *int32, fp *field.Path) field.ErrorList {
	if mode != nil && (*mode < 0 || *mode > 0777) {
		return field.ErrorList{field.Invalid(fp, *mode, "must be a number between 0 and 0777 (octal), both inclusive")}
	}
	return nil
}

func validateDownwardFiles(items []corev1.DownwardAPIVolumeFile, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		ip := fp.Index(i)
		errs = append(errs, validateItemPath(it.Path, ip.Child("path"))...)
		errs = append(errs, validateMode(it.Mode, ip.Child("mode"))...)
		switch {
		case it.FieldRef != nil && it.ResourceFieldRef != nil:
			errs = append(errs, field.Invalid(ip, field.OmitValueType{}, "fieldRef and resourceFieldRef can not be specified simultaneously"))
		case it.FieldRef != nil:
			errs = append(errs, validateFieldRef(it.FieldRef, ip.Child("fieldRef"))...)
		case it.ResourceFieldRef != nil:
			errs = append(errs, validateResourceFieldRef(it.ResourceFieldRef, ip.Child("resourceFieldRef"))...)
		default:
			errs = append(errs, field.Required(ip, "one of fieldRef and resourceFieldRef is required"))
		}
	}
	return errs
}

func validateProjected(p *corev1.ProjectedVolumeSource, fp *field.Path) field.ErrorList {
	errs := validateMode(p.DefaultMode, fp.Child("defaultMode"))
	for i, src := range p.Sources {
		sp := fp.Child("sources").Index(i)
		n := 0
		if c := src.ConfigMap; c != nil {
			n++
			errs = append(errs, validateRefName(c.Name, sp.Child("configMap", "name"))...)
			errs = append(errs, validateKeyToPaths(c.Items, nil, sp.Child("configMap"))...)
		}
		if s := src.Secret; s != nil {
			n++
			errs = append(errs, validateRefName(s.Name, sp.Child("secret", "name"))...)
			errs = append(errs, validateKeyToPaths(s.Items, nil, sp.Child("secret"))...)
		}
		if d := src.DownwardAPI; d != nil {
			n++
			errs = append(errs, validateDownwardFiles(d.Items, sp.Child("downwardAPI", "items"))...)
		}
		for _, other := range []struct {
			name string
			set  bool
		}{
			{"serviceAccountToken", src.ServiceAccountToken != nil},
			{"clusterTrustBundle", src.ClusterTrustBundle != nil},
			{"podCertificate", src.PodCertificate != nil},
		} {
			if other.set {
				n++
				errs = append(errs, field.NotSupported(sp.Child(other.name), other.name, []string{"configMap", "downwardAPI", "secret"}))
			}
		}
		if n > 1 {
			errs = append(errs, field.Forbidden(sp, "may not specify more than 1 volume type per source"))
		}
	}
	return errs
}
