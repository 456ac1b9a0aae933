package configs

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// headlessOnly explains why setlet refuses Services with a virtual IP.
const headlessOnly = "setlet serves headless Services only (clusterIP: None): each replica is reached by its own DNS name"

// validateService checks a Service. setlet serves headless Services: their
// names and ports become DNS records; there is no virtual IP and no proxy.
func validateService(s *corev1.Service) field.ErrorList {
	errs := validateMeta(&s.ObjectMeta, apivalidation.NameIsDNS1035Label)
	sp := field.NewPath("spec")
	spec := &s.Spec

	if spec.Type != corev1.ServiceTypeClusterIP {
		errs = append(errs, field.NotSupported(sp.Child("type"), spec.Type, []corev1.ServiceType{corev1.ServiceTypeClusterIP}))
	}
	switch spec.ClusterIP {
	case corev1.ClusterIPNone:
	case "":
		errs = append(errs, field.Required(sp.Child("clusterIP"), headlessOnly))
	default:
		errs = append(errs, field.Invalid(sp.Child("clusterIP"), spec.ClusterIP, headlessOnly))
	}
	for i, ip := range spec.ClusterIPs {
		if ip != corev1.ClusterIPNone {
			errs = append(errs, field.Invalid(sp.Child("clusterIPs").Index(i), ip, headlessOnly))
		}
	}
	errs = append(errs, metavalidation.ValidateLabels(spec.Selector, sp.Child("selector"))...)

	names := sets.New[string]()
	protocols := []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}
	for i, p := range spec.Ports {
		pp := sp.Child("ports").Index(i)
		switch {
		case p.Name == "" && len(spec.Ports) > 1:
			errs = append(errs, field.Required(pp.Child("name"), "must be specified when there is more than one port"))
		case p.Name == "":
		case names.Has(p.Name):
			errs = append(errs, field.Duplicate(pp.Child("name"), p.Name))
		default:
			for _, msg := range validation.IsDNS1123Label(p.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), p.Name, msg))
			}
			names.Insert(p.Name)
		}
		for _, msg := range validation.IsValidPortNum(int(p.Port)) {
			errs = append(errs, field.Invalid(pp.Child("port"), p.Port, msg))
		}
		if !containsValue(protocols, p.Protocol) {
			errs = append(errs, field.NotSupported(pp.Child("protocol"), p.Protocol, protocols))
		}
		if p.TargetPort.Type == intstr.Int {
			for _, msg := range validation.IsValidPortNum(p.TargetPort.IntValue()) {
				errs = append(errs, field.Invalid(pp.Child("targetPort"), p.TargetPort.IntVal, msg))
			}
		} else {
			for _, msg := range validation.IsValidPortName(p.TargetPort.StrVal) {
				errs = append(errs, field.Invalid(pp.Child("targetPort"), p.TargetPort.StrVal, msg))
			}
		}
		if p.NodePort != 0 {
			errs = append(errs, field.Forbidden(pp.Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
		}
	}
	affinities := []corev1.ServiceAffinity{corev1.ServiceAffinityNone, corev1.ServiceAffinityClientIP}
	if !containsValue(affinities, spec.SessionAffinity) {
		errs = append(errs, field.NotSupported(sp.Child("sessionAffinity"), spec.SessionAffinity, affinities))
	}
	return errs
}

func validateConfigMap(c *corev1.ConfigMap) field.ErrorList {
	errs := validateMeta(&c.ObjectMeta, apivalidation.NameIsDNSSubdomain)
	size := 0
	for _, key := range sets.List(sets.KeySet(c.Data)) {
		errs = append(errs, validateDataKey(key, field.NewPath("data").Key(key))...)
		size += len(key) + len(c.Data[key])
	}
	for _, key := range sets.List(sets.KeySet(c.BinaryData)) {
		kp := field.NewPath("binaryData").Key(key)
		errs = append(errs, validateDataKey(key, kp)...)
		if _, dup := c.Data[key]; dup {
			errs = append(errs, field.Invalid(kp, key, "duplicate of key present in data"))
		}
		size += len(key) + len(c.BinaryData[key])
	}
	if size > corev1.MaxSecretSize {
		errs = append(errs, field.TooLong(field.NewPath("data"), "", corev1.MaxSecretSize))
	}
	return errs
}

func validateSecret(s *corev1.Secret) field.ErrorList {
	errs := validateMeta(&s.ObjectMeta, apivalidation.NameIsDNSSubdomain)
	dp := field.NewPath("data")
	size := 0
	for _, key := range sets.List(sets.KeySet(s.Data)) {
		errs = append(errs, validateDataKey(key, dp.Key(key))...)
		size += len(s.Data[key])
	}
	if size > corev1.MaxSecretSize {
		errs = append(errs, field.TooLong(dp, "", corev1.MaxSecretSize))
	}
	require := func(keys ...string) {
		for _, k := range keys {
			if _, ok := s.Data[k]; !ok {
				errs = append(errs, field.Required(dp.Key(k), ""))
			}
		}
	}
	requireJSON := func(key string) {
		require(key)
		if v, ok := s.Data[key]; ok && !json.Valid(v) {
			errs = append(errs, field.Invalid(dp.Key(key), "<secret contents redacted>", "must be valid JSON"))
		}
	}
	switch s.Type {
	case corev1.SecretTypeDockercfg:
		requireJSON(corev1.DockerConfigKey)
	case corev1.SecretTypeDockerConfigJson:
		requireJSON(corev1.DockerConfigJsonKey)
	case corev1.SecretTypeBasicAuth:
		_, user := s.Data[corev1.BasicAuthUsernameKey]
		_, pass := s.Data[corev1.BasicAuthPasswordKey]
		if !user && !pass {
			require(corev1.BasicAuthUsernameKey, corev1.BasicAuthPasswordKey)
		}
	case corev1.SecretTypeSSHAuth:
		require(corev1.SSHAuthPrivateKey)
	case corev1.SecretTypeTLS:
		require(corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	case corev1.SecretTypeServiceAccountToken:
		errs = append(errs, field.NotSupported(field.NewPath("type"), s.Type, []corev1.SecretType{corev1.SecretTypeOpaque, corev1.SecretTypeTLS, corev1.SecretTypeBasicAuth}))
	default:
		for _, msg := range nonEmpty(string(s.Type), validation.IsQualifiedName) {
			errs = append(errs, field.Invalid(field.NewPath("type"), s.Type, msg))
		}
	}
	return errs
}

// validateDataKey checks a ConfigMap or Secret key, which becomes a file
// name when the object is mounted.
func validateDataKey(key string, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsConfigMapKey(key) {
		errs = append(errs, field.Invalid(fp, key, msg))
	}
	return errs
}
