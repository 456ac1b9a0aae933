package configs

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// notOnOneHost is the detail of fields that only make sense on a cluster
// or that setlet does not implement.
const notOnOneHost = "not supported by setlet"

// validatePodSpec checks a pod template's spec. claims are the names of the
// set's volumeClaimTemplates, which containers mount like volumes.
func validatePodSpec(spec *corev1.PodSpec, claims sets.Set[string], fp *field.Path) field.ErrorList {
	volumes, errs := validateVolumes(spec.Volumes, fp.Child("volumes"))
	mountable := volumes.Union(claims)

	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(fp.Child("containers"), "at least one container is required"))
	}
	names := sets.New[string]()
	hostPorts := map[string]bool{}
	for i := range spec.InitContainers {
		cp := fp.Child("initContainers").Index(i)
		errs = append(errs, validateContainer(&spec.InitContainers[i], true, mountable, names, cp)...)
		errs = append(errs, checkHostPorts(spec.InitContainers[i].Ports, hostPorts, cp.Child("ports"))...)
	}
	for i := range spec.Containers {
		cp := fp.Child("containers").Index(i)
		errs = append(errs, validateContainer(&spec.Containers[i], false, mountable, names, cp)...)
		errs = append(errs, checkHostPorts(spec.Containers[i].Ports, hostPorts, cp.Child("ports"))...)
	}
	if len(spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(fp.Child("ephemeralContainers"), "cannot be set in a pod template"))
	}

	dnsPolicies := []corev1.DNSPolicy{corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone}
	if !containsValue(dnsPolicies, spec.DNSPolicy) {
		errs = append(errs, field.NotSupported(fp.Child("dnsPolicy"), spec.DNSPolicy, dnsPolicies))
	}
	if spec.DNSPolicy == corev1.DNSNone && (spec.DNSConfig == nil || len(spec.DNSConfig.Nameservers) == 0) {
		errs = append(errs, field.Required(fp.Child("dnsConfig", "nameservers"), "must provide at least one DNS nameserver when dnsPolicy is None"))
	}
	if c := spec.DNSConfig; c != nil {
		for i, ns := range c.Nameservers {
			errs = append(errs, validation.IsValidIP(fp.Child("dnsConfig", "nameservers").Index(i), ns)...)
		}
		for i, s := range c.Searches {
			for _, msg := range validation.IsDNS1123Subdomain(strings.TrimSuffix(s, ".")) {
				errs = append(errs, field.Invalid(fp.Child("dnsConfig", "searches").Index(i), s, msg))
			}
		}
	}
	for i, a := range spec.HostAliases {
		ap := fp.Child("hostAliases").Index(i)
		errs = append(errs, validation.IsValidIP(ap.Child("ip"), a.IP)...)
		for j, h := range a.Hostnames {
			for _, msg := range validation.IsDNS1123Subdomain(h) {
				errs = append(errs, field.Invalid(ap.Child("hostnames").Index(j), h, msg))
			}
		}
	}
	if spec.TerminationGracePeriodSeconds != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(*spec.TerminationGracePeriodSeconds, fp.Child("terminationGracePeriodSeconds"))...)
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"hostNetwork", spec.HostNetwork},
		{"hostPID", spec.HostPID},
		{"hostIPC", spec.HostIPC},
	} {
		if f.set {
			errs = append(errs, field.Forbidden(fp.Child(f.name), notOnOneHost+": every pod gets its own namespaces"))
		}
	}
	if len(spec.ResourceClaims) > 0 {
		errs = append(errs, field.Forbidden(fp.Child("resourceClaims"), notOnOneHost))
	}
	if spec.OS != nil && spec.OS.Name != corev1.Linux {
		errs = append(errs, field.NotSupported(fp.Child("os", "name"), spec.OS.Name, []corev1.OSName{corev1.Linux}))
	}
	for _, f := range []struct {
		name, value string
	}{
		{"hostname", spec.Hostname},
		{"subdomain", spec.Subdomain},
	} {
		for _, msg := range nonEmpty(f.value, validation.IsDNS1123Label) {
			errs = append(errs, field.Invalid(fp.Child(f.name), f.value, msg))
		}
	}
	if sc := spec.SecurityContext; sc != nil {
		sp := fp.Child("securityContext")
		errs = append(errs, validateIDs(sc.RunAsUser, sc.RunAsGroup, sp)...)
		if sc.FSGroup != nil {
			for _, msg := range validation.IsValidGroupID(*sc.FSGroup) {
				errs = append(errs, field.Invalid(sp.Child("fsGroup"), *sc.FSGroup, msg))
			}
		}
		for i, g := range sc.SupplementalGroups {
			for _, msg := range validation.IsValidGroupID(g) {
				errs = append(errs, field.Invalid(sp.Child("supplementalGroups").Index(i), g, msg))
			}
		}
	}
	return errs
}

// validateContainer checks one container or init container. names collects
// the container names of the pod, which must be unique across both lists.
func validateContainer(c *corev1.Container, init bool, volumes, names sets.Set[string], fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	np := fp.Child("name")
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
	switch {
	case c.Image == "":
		errs = append(errs, field.Required(fp.Child("image"), ""))
	case strings.TrimSpace(c.Image) != c.Image:
		errs = append(errs, field.Invalid(fp.Child("image"), c.Image, "must not have leading or trailing whitespace"))
	}
	policies := []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}
	if !containsValue(policies, c.ImagePullPolicy) {
		errs = append(errs, field.NotSupported(fp.Child("imagePullPolicy"), c.ImagePullPolicy, policies))
	}
	msgPolicies := []corev1.TerminationMessagePolicy{corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError}
	if !containsValue(msgPolicies, c.TerminationMessagePolicy) {
		errs = append(errs, field.NotSupported(fp.Child("terminationMessagePolicy"), c.TerminationMessagePolicy, msgPolicies))
	}
	if c.WorkingDir != "" && !path.IsAbs(c.WorkingDir) {
		errs = append(errs, field.Invalid(fp.Child("workingDir"), c.WorkingDir, "must be an absolute path"))
	}
	errs = append(errs, validatePorts(c.Ports, fp.Child("ports"))...)
	errs = append(errs, validateEnv(c.Env, fp.Child("env"))...)
	errs = append(errs, validateEnvFrom(c.EnvFrom, fp.Child("envFrom"))...)
	errs = append(errs, validateResources(&c.Resources, fp.Child("resources"))...)
	errs = append(errs, validateMounts(c.VolumeMounts, volumes, fp.Child("volumeMounts"))...)
	if len(c.VolumeDevices) > 0 {
		errs = append(errs, field.Forbidden(fp.Child("volumeDevices"), notOnOneHost+": volumes are directories, not block devices"))
	}
	if c.RestartPolicy != nil {
		if init {
			errs = append(errs, field.Forbidden(fp.Child("restartPolicy"), notOnOneHost+" yet: sidecar containers (an init container with restartPolicy Always)"))
		} else {
			errs = append(errs, field.Forbidden(fp.Child("restartPolicy"), "may not be set for non-init containers"))
		}
	}
	probes := []struct {
		name  string
		probe *corev1.Probe
	}{
		{"livenessProbe", c.LivenessProbe},
		{"readinessProbe", c.ReadinessProbe},
		{"startupProbe", c.StartupProbe},
	}
	for _, p := range probes {
		if p.probe == nil {
			continue
		}
		pp := fp.Child(p.name)
		if init {
			errs = append(errs, field.Forbidden(pp, "may not be set for init containers"))
			continue
		}
		errs = append(errs, validateProbe(p.probe, p.name != "readinessProbe", c, pp)...)
	}
	if l := c.Lifecycle; l != nil {
		lp := fp.Child("lifecycle")
		if init {
			errs = append(errs, field.Forbidden(lp, "may not be set for init containers"))
		} else {
			if l.PostStart != nil {
				errs = append(errs, validateLifecycleHandler(l.PostStart, c, lp.Child("postStart"))...)
			}
			if l.PreStop != nil {
				errs = append(errs, validateLifecycleHandler(l.PreStop, c, lp.Child("preStop"))...)
			}
		}
	}
	errs = append(errs, validateSecurityContext(c.SecurityContext, fp.Child("securityContext"))...)
	return errs
}

func validatePorts(ports []corev1.ContainerPort, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	protocols := []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}
	for i, p := range ports {
		pp := fp.Index(i)
		if p.Name != "" {
			for _, msg := range validation.IsValidPortName(p.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), p.Name, msg))
			}
			if names.Has(p.Name) {
				errs = append(errs, field.Duplicate(pp.Child("name"), p.Name))
			}
			names.Insert(p.Name)
		}
		if p.ContainerPort == 0 {
			errs = append(errs, field.Required(pp.Child("containerPort"), ""))
		} else {
			for _, msg := range validation.IsValidPortNum(int(p.ContainerPort)) {
				errs = append(errs, field.Invalid(pp.Child("containerPort"), p.ContainerPort, msg))
			}
		}
		if p.HostPort != 0 {
			for _, msg := range validation.IsValidPortNum(int(p.HostPort)) {
				errs = append(errs, field.Invalid(pp.Child("hostPort"), p.HostPort, msg))
			}
		}
		if !containsValue(protocols, p.Protocol) {
			errs = append(errs, field.NotSupported(pp.Child("protocol"), p.Protocol, protocols))
		}
		if p.HostIP != "" {
			errs = append(errs, validation.IsValidIP(pp.Child("hostIP"), p.HostIP)...)
		}
	}
	return errs
}

// checkHostPorts reports a host port that another container of the pod
// already publishes with the same protocol and host IP.
func checkHostPorts(ports []corev1.ContainerPort, seen map[string]bool, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, p := range ports {
		if p.HostPort == 0 {
			continue
		}
		key := fmt.Sprintf("%s/%d/%s", p.HostIP, p.HostPort, p.Protocol)
		if seen[key] {
			errs = append(errs, field.Duplicate(fp.Index(i).Child("hostPort"), fmt.Sprintf("%d/%s", p.HostPort, p.Protocol)))
		}
		seen[key] = true
	}
	return errs
}

// downwardFields are the pod fields an env var or downwardAPI file may
// refer to, besides metadata.labels['k'] and metadata.annotations['k'].
var downwardFields = []string{
	"metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels", "metadata.annotations",
	"spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
}

func validateFieldRef(ref *corev1.ObjectFieldSelector, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ref.APIVersion != "v1" {
		errs = append(errs, field.NotSupported(fp.Child("apiVersion"), ref.APIVersion, []string{"v1"}))
	}
	p := ref.FieldPath
	switch {
	case p == "":
		errs = append(errs, field.Required(fp.Child("fieldPath"), ""))
	case containsValue(downwardFields, p):
	case isSubscript(p, "metadata.labels"), isSubscript(p, "metadata.annotations"):
	default:
		errs = append(errs, field.NotSupported(fp.Child("fieldPath"), p, downwardFields))
	}
	return errs
}

// isSubscript reports whether p is prefix['key'] with a non-empty key.
func isSubscript(p, prefix string) bool {
	rest, ok := strings.CutPrefix(p, prefix+"['")
	return ok && strings.HasSuffix(rest, "']") && len(rest) > 2
}

var resourceFields = []string{
	"limits.cpu", "limits.memory", "limits.ephemeral-storage",
	"requests.cpu", "requests.memory", "requests.ephemeral-storage",
}

func validateResourceFieldRef(ref *corev1.ResourceFieldSelector, fp *field.Path) field.ErrorList {
	if ref.Resource == "" {
		return field.ErrorList{field.Required(fp.Child("resource"), "")}
	}
	if !containsValue(resourceFields, ref.Resource) {
		return field.ErrorList{field.NotSupported(fp.Child("resource"), ref.Resource, resourceFields)}
	}
	return nil
}

func validateEnv(env []corev1.EnvVar, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, e := range env {
		ep := fp.Index(i)
		if e.Name == "" {
			errs = append(errs, field.Required(ep.Child("name"), ""))
		}
		for _, msg := range nonEmpty(e.Name, validation.IsRelaxedEnvVarName) {
			errs = append(errs, field.Invalid(ep.Child("name"), e.Name, msg))
		}
		vf := e.ValueFrom
		if vf == nil {
			continue
		}
		vp := ep.Child("valueFrom")
		if e.Value != "" {
			errs = append(errs, field.Invalid(vp, "", "may not be specified when `value` is not empty"))
		}
		n := 0
		if vf.FieldRef != nil {
			n++
			errs = append(errs, validateFieldRef(vf.FieldRef, vp.Child("fieldRef"))...)
		}
		if vf.ResourceFieldRef != nil {
			n++
			errs = append(errs, validateResourceFieldRef(vf.ResourceFieldRef, vp.Child("resourceFieldRef"))...)
		}
		if r := vf.ConfigMapKeyRef; r != nil {
			n++
			errs = append(errs, validateKeyRef(r.Name, r.Key, vp.Child("configMapKeyRef"))...)
		}
		if r := vf.SecretKeyRef; r != nil {
			n++
			errs = append(errs, validateKeyRef(r.Name, r.Key, vp.Child("secretKeyRef"))...)
		}
		if vf.FileKeyRef != nil {
			n++
			errs = append(errs, field.Forbidden(vp.Child("fileKeyRef"), notOnOneHost))
		}
		switch {
		case n == 0:
			errs = append(errs, field.Invalid(vp, field.OmitValueType{}, "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
		case n > 1:
			errs = append(errs, field.Invalid(vp, field.OmitValueType{}, "may not have more than one field specified at a time"))
		}
	}
	return errs
}

// validateKeyRef checks a reference to a key of a ConfigMap or Secret.
func validateKeyRef(name, key string, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(fp.Child("name"), ""))
	}
	for _, msg := range nonEmpty(name, validation.IsDNS1123Subdomain) {
		errs = append(errs, field.Invalid(fp.Child("name"), name, msg))
	}
	if key == "" {
		errs = append(errs, field.Required(fp.Child("key"), ""))
	}
	for _, msg := range nonEmpty(key, validation.IsConfigMapKey) {
		errs = append(errs, field.Invalid(fp.Child("key"), key, msg))
	}
	return errs
}

func validateEnvFrom(from []corev1.EnvFromSource, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, f := range from {
		p := fp.Index(i)
		for _, msg := range nonEmpty(f.Prefix, validation.IsRelaxedEnvVarName) {
			errs = append(errs, field.Invalid(p.Child("prefix"), f.Prefix, msg))
		}
		n := 0
		if f.ConfigMapRef != nil {
			n++
			errs = append(errs, validateRefName(f.ConfigMapRef.Name, p.Child("configMapRef", "name"))...)
		}
		if f.SecretRef != nil {
			n++
			errs = append(errs, validateRefName(f.SecretRef.Name, p.Child("secretRef", "name"))...)
		}
		switch {
		case n == 0:
			errs = append(errs, field.Invalid(p, field.OmitValueType{}, "must specify one of: `configMapRef` or `secretRef`"))
		case n > 1:
			errs = append(errs, field.Invalid(p, field.OmitValueType{}, "may not have more than one field specified at a time"))
		}
	}
	return errs
}

// validateRefName checks the name of a referenced ConfigMap or Secret.
func validateRefName(name string, fp *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fp, "")}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(name) {
		errs = append(errs, field.Invalid(fp, name, msg))
	}
	return errs
}

// supportedResources are the compute resources setlet enforces.
var supportedResources = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage}

func validateResources(r *corev1.ResourceRequirements, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, list := range []struct {
		name string
		rl   corev1.ResourceList
	}{{"limits", r.Limits}, {"requests", r.Requests}} {
		for _, name := range sets.List(sets.KeySet(list.rl)) {
			q := list.rl[name]
			p := fp.Child(list.name).Key(string(name))
			if !containsValue(supportedResources, name) {
				errs = append(errs, field.NotSupported(p, name, supportedResources))
				continue
			}
			if q.Sign() < 0 {
				errs = append(errs, field.Invalid(p, q.String(), "must be greater than or equal to 0"))
			}
		}
	}
	for _, name := range sets.List(sets.KeySet(r.Requests)) {
		req := r.Requests[name]
		limit, ok := r.Limits[name]
		if ok && req.Cmp(limit) > 0 {
			errs = append(errs, field.Invalid(fp.Child("requests").Key(string(name)), req.String(),
				fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
		}
	}
	if len(r.Claims) > 0 {
		errs = append(errs, field.Forbidden(fp.Child("claims"), notOnOneHost))
	}
	return errs
}

func validateMounts(mounts []corev1.VolumeMount, volumes sets.Set[string], fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	paths := sets.New[string]()
	propagations := []corev1.MountPropagationMode{corev1.MountPropagationNone, corev1.MountPropagationHostToContainer, corev1.MountPropagationBidirectional}
	for i, m := range mounts {
		mp := fp.Index(i)
		switch {
		case m.Name == "":
			errs = append(errs, field.Required(mp.Child("name"), ""))
		case !volumes.Has(m.Name):
			errs = append(errs, field.NotFound(mp.Child("name"), m.Name))
		}
		switch {
		case m.MountPath == "":
			errs = append(errs, field.Required(mp.Child("mountPath"), ""))
		case !path.IsAbs(m.MountPath):
			errs = append(errs, field.Invalid(mp.Child("mountPath"), m.MountPath, "must be an absolute path"))
		case hasDotDot(m.MountPath):
			errs = append(errs, field.Invalid(mp.Child("mountPath"), m.MountPath, "must not contain '..'"))
		case paths.Has(path.Clean(m.MountPath)):
			errs = append(errs, field.Invalid(mp.Child("mountPath"), m.MountPath, "must be unique"))
		default:
			paths.Insert(path.Clean(m.MountPath))
		}
		if m.SubPath != "" {
			errs = append(errs, validateRelativePath(m.SubPath, mp.Child("subPath"))...)
		}
		if m.SubPathExpr != "" {
			if m.SubPath != "" {
				errs = append(errs, field.Invalid(mp.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
			}
			errs = append(errs, validateRelativePath(m.SubPathExpr, mp.Child("subPathExpr"))...)
		}
		if m.MountPropagation != nil && !containsValue(propagations, *m.MountPropagation) {
			errs = append(errs, field.NotSupported(mp.Child("mountPropagation"), *m.MountPropagation, propagations))
		}
	}
	return errs
}

// validateRelativePath checks a path that is joined below a directory: it
// must be relative and must not climb out with "..".
func validateRelativePath(p string, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(p) {
		errs = append(errs, field.Invalid(fp, p, "must be a relative path"))
	}
	if hasDotDot(p) {
		errs = append(errs, field.Invalid(fp, p, "must not contain '..'"))
	}
	return errs
}

// hasDotDot reports whether any element of a slash-separated path is "..".
func hasDotDot(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

func validateProbe(p *corev1.Probe, livenessOrStartup bool, c *corev1.Container, fp *field.Path) field.ErrorList {
	errs := validateHandlers(p.Exec, p.HTTPGet, p.TCPSocket, p.GRPC != nil, c, fp)
	if g := p.GRPC; g != nil {
		for _, msg := range validation.IsValidPortNum(int(g.Port)) {
			errs = append(errs, field.Invalid(fp.Child("grpc", "port"), g.Port, msg))
		}
	}
	for _, f := range []struct {
		name  string
		value int32
	}{
		{"initialDelaySeconds", p.InitialDelaySeconds},
		{"timeoutSeconds", p.TimeoutSeconds},
		{"periodSeconds", p.PeriodSeconds},
		{"successThreshold", p.SuccessThreshold},
		{"failureThreshold", p.FailureThreshold},
	} {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(f.value), fp.Child(f.name))...)
	}
	if livenessOrStartup && p.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(fp.Child("successThreshold"), p.SuccessThreshold, "must be 1"))
	}
	if t := p.TerminationGracePeriodSeconds; t != nil && *t <= 0 {
		errs = append(errs, field.Invalid(fp.Child("terminationGracePeriodSeconds"), *t, "must be greater than 0"))
	}
	return errs
}

func validateLifecycleHandler(h *corev1.LifecycleHandler, c *corev1.Container, fp *field.Path) field.ErrorList {
	errs := validateHandlers(h.Exec, h.HTTPGet, h.TCPSocket, h.Sleep != nil, c, fp)
	if h.Sleep != nil && h.Sleep.Seconds < 0 {
		errs = append(errs, field.Invalid(fp.Child("sleep", "seconds"), h.Sleep.Seconds, "must be greater than or equal to 0"))
	}
	return errs
}

// validateHandlers checks the handlers of a probe or lifecycle hook:
// exactly one set (other says whether the kind's own one, grpc or sleep,
// is), and the exec, httpGet and tcpSocket handlers both kinds share.
func validateHandlers(exec *corev1.ExecAction, http *corev1.HTTPGetAction, tcp *corev1.TCPSocketAction, other bool, c *corev1.Container, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	for _, set := range []bool{exec != nil, http != nil, tcp != nil, other} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		errs = append(errs, field.Required(fp, "must specify a handler type"))
	case n > 1:
		errs = append(errs, field.Forbidden(fp, "may not specify more than 1 handler type"))
	}
	if exec != nil && len(exec.Command) == 0 {
		errs = append(errs, field.Required(fp.Child("exec", "command"), ""))
	}
	if http != nil {
		hp := fp.Child("httpGet")
		errs = append(errs, validateTargetPort(http.Port, c, hp.Child("port"))...)
		schemes := []corev1.URIScheme{corev1.URISchemeHTTP, corev1.URISchemeHTTPS}
		if !containsValue(schemes, http.Scheme) {
			errs = append(errs, field.NotSupported(hp.Child("scheme"), http.Scheme, schemes))
		}
		for i, h := range http.HTTPHeaders {
			for _, msg := range validation.IsHTTPHeaderName(h.Name) {
				errs = append(errs, field.Invalid(hp.Child("httpHeaders").Index(i).Child("name"), h.Name, msg))
			}
		}
	}
	if tcp != nil {
		errs = append(errs, validateTargetPort(tcp.Port, c, fp.Child("tcpSocket", "port"))...)
	}
	return errs
}

// validateTargetPort checks a handler port: a port number, or the name of
// one of the container's ports (which must exist, or the handler could
// never connect).
func validateTargetPort(port intstr.IntOrString, c *corev1.Container, fp *field.Path) field.ErrorList {
	if port.Type == intstr.Int {
		var errs field.ErrorList
		for _, msg := range validation.IsValidPortNum(port.IntValue()) {
			errs = append(errs, field.Invalid(fp, port.IntVal, msg))
		}
		return errs
	}
	if msgs := validation.IsValidPortName(port.StrVal); len(msgs) > 0 {
		var errs field.ErrorList
		for _, msg := range msgs {
			errs = append(errs, field.Invalid(fp, port.StrVal, msg))
		}
		return errs
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return nil
		}
	}
	return field.ErrorList{field.NotFound(fp, port.StrVal)}
}

func validateSecurityContext(sc *corev1.SecurityContext, fp *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	errs := validateIDs(sc.RunAsUser, sc.RunAsGroup, fp)
	if sc.Privileged != nil && *sc.Privileged && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		errs = append(errs, field.Invalid(fp, field.OmitValueType{}, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
	}
	if c := sc.Capabilities; c != nil {
		for _, list := range []struct {
			name string
			caps []corev1.Capability
		}{{"add", c.Add}, {"drop", c.Drop}} {
			for i, capName := range list.caps {
				if !isCapability(string(capName)) {
					errs = append(errs, field.Invalid(fp.Child("capabilities", list.name).Index(i), capName, "must be a Linux capability such as NET_ADMIN or CAP_NET_ADMIN, or ALL"))
				}
			}
		}
	}
	if pm := sc.ProcMount; pm != nil {
		modes := []corev1.ProcMountType{corev1.DefaultProcMount, corev1.UnmaskedProcMount}
		if !containsValue(modes, *pm) {
			errs = append(errs, field.NotSupported(fp.Child("procMount"), *pm, modes))
		}
	}
	return errs
}

// isCapability accepts capability names as Kubernetes users write them:
// upper case letters, digits and underscores, with or without "CAP_".
func isCapability(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

func validateIDs(user, group *int64, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if user != nil {
		for _, msg := range validation.IsValidUserID(*user) {
			errs = append(errs, field.Invalid(fp.Child("runAsUser"), *user, msg))
		}
	}
	if group != nil {
		for _, msg := range validation.IsValidGroupID(*group) {
			errs = append(errs, field.Invalid(fp.Child("runAsGroup"), *group, msg))
		}
	}
	return errs
}

// nonEmpty runs check on s unless s is empty (an absent optional field).
func nonEmpty(s string, check func(string) []string) []string {
	if s == "" {
		return nil
	}
	return check(s)
}
