package configs

import (
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxSetNameLength is the longest StatefulSet name setlet accepts. A pod is
// named <set>-<ordinal> and that name is its hostname (a DNS label of at
// most 63 characters), and its controller-revision-hash label value is
// <set>-<hash> with a hash of up to 10 characters, which must also fit in
// 63. Kubernetes accepts longer names and then fails to create the pods
// (kubernetes/kubernetes#64023); setlet refuses them up front.
const MaxSetNameLength = 63 - 1 - 10

// Validate checks a defaulted object the way the Kubernetes API server
// validates it, and reports what setlet cannot run (for example a Service
// that is not headless, or a volume type that needs a cluster). It returns
// every problem found, each with its field path; none means obj is valid.
// Validate does not change obj.
func Validate(obj Object) field.ErrorList {
	switch o := obj.(type) {
	case *appsv1.StatefulSet:
		return validateStatefulSet(o)
	case *corev1.Service:
		return validateService(o)
	case *corev1.ConfigMap:
		return validateConfigMap(o)
	case *corev1.Secret:
		return validateSecret(o)
	}
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unsupported object type %T", obj))}
}

// validateMeta checks the metadata every object has. setlet applies objects
// by name, so generateName cannot be used.
func validateMeta(meta *metav1.ObjectMeta, nameFn apivalidation.ValidateNameFunc) field.ErrorList {
	path := field.NewPath("metadata")
	errs := apivalidation.ValidateObjectMeta(meta, true, nameFn, path)
	if meta.GenerateName != "" {
		errs = append(errs, field.Forbidden(path.Child("generateName"), "not supported: objects are applied by name; set metadata.name"))
	}
	return errs
}

// setName validates a StatefulSet name: a DNS-1123 label short enough for
// every pod name and revision label (see MaxSetNameLength).
func setName(name string, prefix bool) []string {
	msgs := apivalidation.NameIsDNSLabel(name, prefix)
	if len(name) > MaxSetNameLength {
		msgs = append(msgs, fmt.Sprintf("must be no more than %d characters, so that pod names (<name>-<ordinal>) stay valid hostnames and revision names (<name>-<hash>) valid label values", MaxSetNameLength))
	}
	return msgs
}

func validateStatefulSet(s *appsv1.StatefulSet) field.ErrorList {
	errs := validateMeta(&s.ObjectMeta, setName)
	spec := &s.Spec
	path := field.NewPath("spec")

	switch spec.PodManagementPolicy {
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		errs = append(errs, field.NotSupported(path.Child("podManagementPolicy"), spec.PodManagementPolicy,
			[]appsv1.PodManagementPolicyType{appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement}))
	}
	errs = append(errs, validateUpdateStrategy(&spec.UpdateStrategy, path.Child("updateStrategy"))...)
	if spec.Replicas != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*spec.Replicas), path.Child("replicas"))...)
	}
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*spec.RevisionHistoryLimit), path.Child("revisionHistoryLimit"))...)
	}
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), path.Child("minReadySeconds"))...)
	if spec.Ordinals != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.Ordinals.Start), path.Child("ordinals", "start"))...)
	}
	if spec.ServiceName != "" {
		for _, msg := range validation.IsDNS1035Label(spec.ServiceName) {
			errs = append(errs, field.Invalid(path.Child("serviceName"), spec.ServiceName, msg))
		}
	}
	if p := spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		policies := []appsv1.PersistentVolumeClaimRetentionPolicyType{appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
		pp := path.Child("persistentVolumeClaimRetentionPolicy")
		if !containsValue(policies, p.WhenDeleted) {
			errs = append(errs, field.NotSupported(pp.Child("whenDeleted"), p.WhenDeleted, policies))
		}
		if !containsValue(policies, p.WhenScaled) {
			errs = append(errs, field.NotSupported(pp.Child("whenScaled"), p.WhenScaled, policies))
		}
	}
	errs = append(errs, validateSelector(spec.Selector, spec.Template.Labels, path)...)

	claims, claimErrs := validateClaimTemplates(spec.VolumeClaimTemplates, path.Child("volumeClaimTemplates"))
	errs = append(errs, claimErrs...)

	tp := path.Child("template")
	errs = append(errs, metavalidation.ValidateLabels(spec.Template.Labels, tp.Child("metadata", "labels"))...)
	errs = append(errs, apivalidation.ValidateAnnotations(spec.Template.Annotations, tp.Child("metadata", "annotations"))...)
	if spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(tp.Child("spec", "restartPolicy"), spec.Template.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if spec.Template.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Invalid(tp.Child("spec", "activeDeadlineSeconds"), *spec.Template.Spec.ActiveDeadlineSeconds, "must not be specified"))
	}
	errs = append(errs, validatePodSpec(&spec.Template.Spec, claims, tp.Child("spec"))...)
	return errs
}

func validateUpdateStrategy(u *appsv1.StatefulSetUpdateStrategy, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch u.Type {
	case appsv1.OnDeleteStatefulSetStrategyType:
		if u.RollingUpdate != nil {
			errs = append(errs, field.Invalid(path.Child("rollingUpdate"), field.OmitValueType{}, "only allowed for updateStrategy 'RollingUpdate'"))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		ru := u.RollingUpdate
		if ru == nil {
			break
		}
		rp := path.Child("rollingUpdate")
		if ru.Partition != nil {
			errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*ru.Partition), rp.Child("partition"))...)
		}
		if ru.MaxUnavailable != nil {
			errs = append(errs, validateMaxUnavailable(*ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
		}
	default:
		errs = append(errs, field.NotSupported(path.Child("type"), u.Type,
			[]appsv1.StatefulSetUpdateStrategyType{appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType}))
	}
	return errs
}

// validateMaxUnavailable accepts a positive integer or a percentage from 1%
// to 100%, as Kubernetes does.
func validateMaxUnavailable(v intstr.IntOrString, path *field.Path) field.ErrorList {
	if v.Type == intstr.Int {
		if v.IntVal < 1 {
			return field.ErrorList{field.Invalid(path, v.IntVal, "must be greater than 0")}
		}
		return nil
	}
	pct, ok := strings.CutSuffix(v.StrVal, "%")
	n, err := strconv.Atoi(pct)
	if !ok || err != nil || len(validation.IsValidPercent(v.StrVal)) > 0 {
		return field.ErrorList{field.Invalid(path, v.StrVal, "must be an integer or percentage (e.g '5%')")}
	}
	switch {
	case n < 1:
		return field.ErrorList{field.Invalid(path, v.StrVal, "must be greater than 0")}
	case n > 100:
		return field.ErrorList{field.Invalid(path, v.StrVal, "must not be greater than 100%")}
	}
	return nil
}

// validateSelector checks spec.selector: present, not empty, well formed,
// and matching the template's labels.
func validateSelector(sel *metav1.LabelSelector, templateLabels map[string]string, path *field.Path) field.ErrorList {
	sp := path.Child("selector")
	if sel == nil {
		return field.ErrorList{field.Required(sp, "")}
	}
	errs := metavalidation.ValidateLabelSelector(sel, metavalidation.LabelSelectorValidationOptions{}, sp)
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(sp, field.OmitValueType{}, "empty selector is not valid for statefulset."))
		return errs
	}
	if len(errs) > 0 {
		return errs
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return append(errs, field.Invalid(sp, field.OmitValueType{}, err.Error()))
	}
	if !selector.Matches(labels.Set(templateLabels)) {
		errs = append(errs, field.Invalid(path.Child("template", "metadata", "labels"), templateLabels, "`selector` does not match template `labels`"))
	}
	return errs
}

// validateClaimTemplates checks volumeClaimTemplates and returns their names,
// which the containers mount like pod volumes.
func validateClaimTemplates(claims []corev1.PersistentVolumeClaim, path *field.Path) (sets.Set[string], field.ErrorList) {
	var errs field.ErrorList
	names := sets.New[string]()
	modes := []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod}
	for i := range claims {
		c := &claims[i]
		cp := path.Index(i)
		np := cp.Child("metadata", "name")
		switch {
		case c.Name == "":
			errs = append(errs, field.Required(np, ""))
		case names.Has(c.Name):
			errs = append(errs, field.Duplicate(np, c.Name))
		default:
			for _, msg := range validation.IsDNS1123Label(c.Name) {
				errs = append(errs, field.Invalid(np, c.Name, msg))
			}
			names.Insert(c.Name)
		}
		errs = append(errs, metavalidation.ValidateLabels(c.Labels, cp.Child("metadata", "labels"))...)
		errs = append(errs, apivalidation.ValidateAnnotations(c.Annotations, cp.Child("metadata", "annotations"))...)

		sp := cp.Child("spec")
		if len(c.Spec.AccessModes) == 0 {
			errs = append(errs, field.Required(sp.Child("accessModes"), "at least 1 access mode is required"))
		}
		for j, m := range c.Spec.AccessModes {
			if !containsValue(modes, m) {
				errs = append(errs, field.NotSupported(sp.Child("accessModes").Index(j), m, modes))
			}
		}
		storage, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]
		rp := sp.Child("resources", "requests").Key(string(corev1.ResourceStorage))
		switch {
		case !ok:
			errs = append(errs, field.Required(rp, ""))
		case storage.Sign() <= 0:
			errs = append(errs, field.Invalid(rp, storage.String(), "must be greater than zero"))
		}
		if m := c.Spec.VolumeMode; m != nil && *m != corev1.PersistentVolumeFilesystem {
			errs = append(errs, field.NotSupported(sp.Child("volumeMode"), *m, []corev1.PersistentVolumeMode{corev1.PersistentVolumeFilesystem}))
		}
		local := "not supported: setlet volumes are local directories created for each ordinal"
		if c.Spec.Selector != nil {
			errs = append(errs, field.Forbidden(sp.Child("selector"), local))
		}
		if c.Spec.VolumeName != "" {
			errs = append(errs, field.Forbidden(sp.Child("volumeName"), local))
		}
		if c.Spec.DataSource != nil {
			errs = append(errs, field.Forbidden(sp.Child("dataSource"), local))
		}
		if c.Spec.DataSourceRef != nil {
			errs = append(errs, field.Forbidden(sp.Child("dataSourceRef"), local))
		}
	}
	return names, errs
}

// containsValue reports whether list holds v.
func containsValue[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// ValidateUpdate checks that obj may replace old, an object of the same
// kind and name already applied: as the Kubernetes API server, it refuses
// changes to a StatefulSet's spec other than replicas, ordinals, template,
// updateStrategy, revisionHistoryLimit, persistentVolumeClaimRetentionPolicy
// and minReadySeconds. Both objects must be defaulted. ConfigMaps and
// Secrets marked immutable are checked by storage, which holds the old data.
func ValidateUpdate(old, obj Object) field.ErrorList {
	oldSet, ok1 := old.(*appsv1.StatefulSet)
	newSet, ok2 := obj.(*appsv1.StatefulSet)
	if !ok1 || !ok2 {
		return nil
	}
	a, b := oldSet.Spec.DeepCopy(), newSet.Spec.DeepCopy()
	for _, s := range []*appsv1.StatefulSetSpec{a, b} {
		s.Replicas, s.Ordinals, s.Template, s.UpdateStrategy = nil, nil, corev1.PodTemplateSpec{}, appsv1.StatefulSetUpdateStrategy{}
		s.RevisionHistoryLimit, s.PersistentVolumeClaimRetentionPolicy, s.MinReadySeconds = nil, nil, 0
	}
	if apiequality.Semantic.DeepEqual(a, b) {
		return nil
	}
	return field.ErrorList{field.Forbidden(field.NewPath("spec"),
		"updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")}
}
