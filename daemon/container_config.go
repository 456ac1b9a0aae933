package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/setlet/setlet/runtime"
)

// Container labels: every container setlet creates says whose it is, so
// that the daemon can rebuild its view from containerd after a crash.
const (
	labelNamespace = "setlet.io/namespace"
	labelPod       = "setlet.io/pod"
	labelPodUID    = "setlet.io/pod-uid"
	labelSet       = "setlet.io/set"
	labelOrdinal   = "setlet.io/ordinal"
	labelRevision  = "setlet.io/revision"
	labelContainer = "setlet.io/container"
	labelAttempt   = "setlet.io/attempt"
	labelInit      = "setlet.io/init"
)

// validContainerID is containerd's identifier rule.
var validContainerID = regexp.MustCompile(`^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$`)

// containerID returns the containerd ID of one attempt (restart) of a
// container of pod: "<pod>_<uid8>_<container>_<attempt>", readable in ctr,
// unique per pod incarnation; a hash replaces the names when they would
// pass containerd's 76 characters.
func containerID(pod *corev1.Pod, container string, attempt int32) string {
	uid := strings.ReplaceAll(string(pod.UID), "-", "")
	if len(uid) > 8 {
		uid = uid[:8]
	}
	id := fmt.Sprintf("%s_%s_%s_%d", pod.Name, uid, container, attempt)
	if len(id) <= 76 && validContainerID.MatchString(id) {
		return id
	}
	sum := sha256.Sum256([]byte(pod.Namespace + "/" + pod.Name + "/" + container))
	return fmt.Sprintf("%s_%s_%d", uid, hex.EncodeToString(sum[:8]), attempt)
}

// containerLabels returns the labels of a container of pod.
func containerLabels(pod *corev1.Pod, container string, attempt int32, init bool) map[string]string {
	l := map[string]string{
		labelNamespace: pod.Namespace,
		labelPod:       pod.Name,
		labelPodUID:    string(pod.UID),
		labelContainer: container,
		labelAttempt:   strconv.Itoa(int(attempt)),
		labelRevision:  pod.Labels[appsv1.StatefulSetRevisionLabel],
		labelOrdinal:   pod.Labels[appsv1.PodIndexLabel],
	}
	if ref := controllerOf(pod); ref != "" {
		l[labelSet] = ref
	}
	if init {
		l[labelInit] = "true"
	}
	return l
}

// controllerOf returns the name of the set that controls pod, or "".
func controllerOf(pod *corev1.Pod) string {
	for _, ref := range pod.OwnerReferences {
		if ref.Controller != nil && *ref.Controller && ref.Kind == "StatefulSet" {
			return ref.Name
		}
	}
	return ""
}

// objectSource reads the ConfigMaps and Secrets pods refer to.
type objectSource interface {
	ConfigMap(ns, name string) (*corev1.ConfigMap, error)
	Secret(ns, name string) (*corev1.Secret, error)
}

// resolveEnv returns container c's environment as plain name/value pairs:
// envFrom first, then env, with $(VAR) references expanded as Kubernetes
// does, and valueFrom resolved from the pod, its resources and the
// ConfigMaps and Secrets of its namespace. A missing non-optional
// reference is an error (the container cannot start yet).
func resolveEnv(pod *corev1.Pod, c *corev1.Container, objs objectSource, nodeName string) ([]corev1.EnvVar, error) {
	var out []corev1.EnvVar
	index := map[string]int{}
	set := func(name, value string) {
		if i, ok := index[name]; ok {
			out[i].Value = value
			return
		}
		index[name] = len(out)
		out = append(out, corev1.EnvVar{Name: name, Value: value})
	}
	for _, from := range c.EnvFrom {
		data, optional, err := envFromData(pod.Namespace, from, objs)
		if err != nil {
			if optional && errdefs.IsNotFound(err) {
				continue
			}
			return nil, err
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			set(from.Prefix+k, data[k])
		}
	}
	lookup := func(name string) (string, bool) {
		if i, ok := index[name]; ok {
			return out[i].Value, true
		}
		return "", false
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expandVars(e.Value, lookup))
			continue
		}
		v, skip, err := envValueFrom(pod, c, e.ValueFrom, objs, nodeName)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if !skip {
			set(e.Name, v)
		}
	}
	return out, nil
}

func envFromData(ns string, from corev1.EnvFromSource, objs objectSource) (map[string]string, bool, error) {
	switch {
	case from.ConfigMapRef != nil:
		cm, err := objs.ConfigMap(ns, from.ConfigMapRef.Name)
		if err != nil {
			return nil, isTrue(from.ConfigMapRef.Optional), fmt.Errorf("configmap %q: %w", from.ConfigMapRef.Name, err)
		}
		data := map[string]string{}
		for k, v := range cm.Data {
			data[k] = v
		}
		return data, false, nil
	case from.SecretRef != nil:
		s, err := objs.Secret(ns, from.SecretRef.Name)
		if err != nil {
			return nil, isTrue(from.SecretRef.Optional), fmt.Errorf("secret %q: %w", from.SecretRef.Name, err)
		}
		data := map[string]string{}
		for k, v := range s.Data {
			data[k] = string(v)
		}
		return data, false, nil
	}
	return nil, false, nil
}

// envValueFrom resolves one valueFrom; skip is true for a missing optional
// key.
func envValueFrom(pod *corev1.Pod, c *corev1.Container, vf *corev1.EnvVarSource, objs objectSource, nodeName string) (value string, skip bool, err error) {
	switch {
	case vf.FieldRef != nil:
		v, err := podField(pod, vf.FieldRef.FieldPath, nodeName)
		return v, false, err
	case vf.ResourceFieldRef != nil:
		v, err := resourceField(c, vf.ResourceFieldRef)
		return v, false, err
	case vf.ConfigMapKeyRef != nil:
		r := vf.ConfigMapKeyRef
		cm, err := objs.ConfigMap(pod.Namespace, r.Name)
		if err != nil {
			if isTrue(r.Optional) && errdefs.IsNotFound(err) {
				return "", true, nil
			}
			return "", false, fmt.Errorf("configmap %q: %w", r.Name, err)
		}
		if v, ok := cm.Data[r.Key]; ok {
			return v, false, nil
		}
		if v, ok := cm.BinaryData[r.Key]; ok {
			return string(v), false, nil
		}
		if isTrue(r.Optional) {
			return "", true, nil
		}
		return "", false, fmt.Errorf("configmap %q has no key %q: %w", r.Name, r.Key, errdefs.ErrNotFound)
	case vf.SecretKeyRef != nil:
		r := vf.SecretKeyRef
		s, err := objs.Secret(pod.Namespace, r.Name)
		if err != nil {
			if isTrue(r.Optional) && errdefs.IsNotFound(err) {
				return "", true, nil
			}
			return "", false, fmt.Errorf("secret %q: %w", r.Name, err)
		}
		if v, ok := s.Data[r.Key]; ok {
			return string(v), false, nil
		}
		if isTrue(r.Optional) {
			return "", true, nil
		}
		return "", false, fmt.Errorf("secret %q has no key %q: %w", r.Name, r.Key, errdefs.ErrNotFound)
	}
	return "", true, nil
}

// podField returns a downward API field of pod.
func podField(pod *corev1.Pod, path, nodeName string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return nodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return pod.Status.HostIP, nil
	case "status.podIP", "status.podIPs":
		return pod.Status.PodIP, nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	}
	for _, m := range []struct {
		prefix string
		values map[string]string
	}{{"metadata.labels", pod.Labels}, {"metadata.annotations", pod.Annotations}} {
		if rest, ok := strings.CutPrefix(path, m.prefix+"['"); ok && strings.HasSuffix(rest, "']") {
			return m.values[strings.TrimSuffix(rest, "']")], nil
		}
	}
	return "", fmt.Errorf("unsupported field path %q: %w", path, errdefs.ErrInvalidArgument)
}

// formatMap renders labels or annotations as the downward API does:
// key="value" lines in key order.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = fmt.Sprintf("%s=%q", k, m[k])
	}
	return strings.Join(lines, "\n")
}

// resourceField returns a container's resource limit or request in units
// of the divisor, rounded up, as the downward API does.
func resourceField(c *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	kind, name, _ := strings.Cut(ref.Resource, ".")
	list := c.Resources.Limits
	if kind == "requests" {
		list = c.Resources.Requests
	}
	q, ok := list[corev1.ResourceName(name)]
	if !ok && kind == "requests" {
		q, ok = c.Resources.Limits[corev1.ResourceName(name)]
	}
	if !ok {
		// Kubernetes falls back to the node's allocatable; a zero says
		// "no limit" here.
		return "0", nil
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if name == string(corev1.ResourceCPU) {
		v := (q.MilliValue() + divisor.MilliValue() - 1) / divisor.MilliValue()
		return strconv.FormatInt(v, 10), nil
	}
	v := (q.Value() + divisor.Value() - 1) / divisor.Value()
	return strconv.FormatInt(v, 10), nil
}

// expandVars expands $(VAR) references in s as Kubernetes does: a defined
// variable is replaced, an undefined one is left as written, and $$
// escapes a dollar sign.
func expandVars(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// volumeSource returns the host directory that backs volume name of pod:
// the per-ordinal volume of a claim, the pod's emptyDir directory, a
// hostPath, or the directory the kubelet projected a ConfigMap, Secret or
// downward API volume into.
func (k *kubelet) volumeSource(pod *corev1.Pod, name string) (string, error) {
	for _, v := range pod.Spec.Volumes {
		if v.Name != name {
			continue
		}
		switch {
		case v.PersistentVolumeClaim != nil:
			vol, err := k.store.Volume(v.PersistentVolumeClaim.ClaimName)
			if err != nil {
				return "", fmt.Errorf("volume %s: %w", v.PersistentVolumeClaim.ClaimName, err)
			}
			return vol.Path, nil
		case v.HostPath != nil:
			return v.HostPath.Path, nil
		case v.EmptyDir != nil:
			if v.EmptyDir.Medium == corev1.StorageMediumMemory {
				return filepath.Join(k.podRunDir(pod), "volumes", name), nil
			}
			return filepath.Join(k.podDataDir(pod), "volumes", name), nil
		default:
			return filepath.Join(k.podRunDir(pod), "volumes", name), nil
		}
	}
	return "", fmt.Errorf("pod %s/%s has no volume %q: %w", pod.Namespace, pod.Name, name, errdefs.ErrNotFound)
}

// containerConfig builds what runtime needs to create attempt `attempt`
// of container c of pod.
func (k *kubelet) containerConfig(pod *corev1.Pod, c *corev1.Container, attempt int32, init bool) (runtime.ContainerConfig, error) {
	env, err := resolveEnv(pod, c, k.store, k.nodeName)
	if err != nil {
		return runtime.ContainerConfig{}, err
	}
	lookup := func(name string) (string, bool) {
		for _, e := range env {
			if e.Name == name {
				return e.Value, true
			}
		}
		return "", false
	}
	expandAll := func(in []string) []string {
		if in == nil {
			return nil
		}
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = expandVars(s, lookup)
		}
		return out
	}
	id := containerID(pod, c.Name, attempt)
	cfg := runtime.ContainerConfig{
		ID:          id,
		Image:       c.Image,
		Labels:      containerLabels(pod, c.Name, attempt, init),
		Hostname:    pod.Spec.Hostname,
		NetNS:       k.netnsPath(pod),
		Command:     expandAll(c.Command),
		Args:        expandAll(c.Args),
		Env:         env,
		WorkingDir:  c.WorkingDir,
		Resources:   c.Resources,
		Security:    c.SecurityContext,
		PodSecurity: pod.Spec.SecurityContext,
		TTY:         c.TTY,
		Stdin:       c.Stdin,
		LogPath:     k.logPath(pod, c.Name, attempt),
	}
	if cfg.Hostname == "" {
		cfg.Hostname = pod.Name
	}
	mounted := map[string]bool{}
	for _, m := range c.VolumeMounts {
		src, err := k.volumeSource(pod, m.Name)
		if err != nil {
			return runtime.ContainerConfig{}, err
		}
		if m.SubPath != "" || m.SubPathExpr != "" {
			sub := m.SubPath
			if m.SubPathExpr != "" {
				sub = expandVars(m.SubPathExpr, lookup)
			}
			if src, err = subPathSource(src, sub); err != nil {
				return runtime.ContainerConfig{}, err
			}
		}
		prop := corev1.MountPropagationNone
		if m.MountPropagation != nil {
			prop = *m.MountPropagation
		}
		cfg.Mounts = append(cfg.Mounts, runtime.Mount{Source: src, Destination: m.MountPath, ReadOnly: m.ReadOnly, Propagation: prop})
		mounted[filepath.Clean(m.MountPath)] = true
	}
	for _, f := range []struct{ dest, file string }{
		{"/etc/hosts", "hosts"},
		{"/etc/resolv.conf", "resolv.conf"},
		{"/etc/hostname", "hostname"},
	} {
		if !mounted[f.dest] {
			cfg.Mounts = append(cfg.Mounts, runtime.Mount{Source: filepath.Join(k.podRunDir(pod), f.file), Destination: f.dest, ReadOnly: false})
		}
	}
	return cfg, nil
}

func isTrue(b *bool) bool { return b != nil && *b }

// subPathSource returns the directory of subPath sub inside volume
// directory base, creating it when missing. Symbolic links are resolved
// first and the result must stay inside base: a container must not be able
// to plant a link in its volume that makes a later mount reach the host.
func subPathSource(base, sub string) (string, error) {
	p := filepath.Join(base, filepath.FromSlash(sub))
	if _, err := os.Lstat(p); os.IsNotExist(err) {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return "", fmt.Errorf("creating subPath %s: %w", sub, err)
		}
	}
	realBase, err := filepath.EvalSymlinks(base)
	if err != nil {
		return "", fmt.Errorf("resolving volume %s: %w", base, err)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("resolving subPath %s: %w", sub, err)
	}
	if rel, err := filepath.Rel(realBase, real); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("subPath %q leads out of its volume: %w", sub, errdefs.ErrInvalidArgument)
	}
	return real, nil
}
