package runtime

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
)

// Resource conversions, as the kubelet does them (pkg/kubelet/cm).
const (
	minShares      = 2
	maxShares      = 262144
	sharesPerCPU   = 1024
	quotaPeriod    = 100000 // µs: 100 ms
	minQuotaPeriod = 1000
)

// defaultPath is the PATH of a container whose image sets none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// specOpts returns the options that turn containerd's default OCI spec into
// the spec of cfg, started from an image whose configuration is img. It is
// a pure function of its arguments: what needs the host (the process's
// capabilities for privileged containers and capability "ALL", the image's
// /etc/passwd and /etc/group for user names and groups) is read when
// containerd applies the options.
//
// It follows what the kubelet and containerd's CRI plugin do for a
// Kubernetes container; errors are errdefs.ErrInvalidArgument-wrapped.
func specOpts(cfg ContainerConfig, img ocispec.ImageConfig, host hostInfo) ([]oci.SpecOpts, error) {
	args, err := processArgs(cfg, img)
	if err != nil {
		return nil, err
	}
	sc := cfg.Security
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	privileged := sc.Privileged != nil && *sc.Privileged

	opts := []oci.SpecOpts{
		oci.WithoutRunMount,
		withoutDefaultSecurity,
		oci.WithProcessArgs(args...),
		oci.WithNewPrivileges,
	}
	cwd := cfg.WorkingDir
	if cwd == "" {
		cwd = img.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	opts = append(opts, oci.WithProcessCwd(cwd))
	if cfg.TTY {
		opts = append(opts, oci.WithTTY)
	}
	opts = append(opts, oci.WithEnv(containerEnv(cfg, img)))
	if cfg.Hostname != "" {
		opts = append(opts, oci.WithHostname(cfg.Hostname))
	}
	if cfg.NetNS != "" {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: cfg.NetNS}))
	}
	mounts, err := bindMounts(cfg.Mounts)
	if err != nil {
		return nil, err
	}
	opts = append(opts, withMounts(mounts))
	if caps := sc.Capabilities; caps != nil {
		opts = append(opts, capabilityOpts(caps)...)
	}
	if privileged {
		opts = append(opts, oci.WithPrivileged, oci.WithHostDevices, oci.WithAllDevicesAllowed)
	}
	opts = append(opts, withoutAmbientCaps)
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		opts = append(opts, oci.WithNoNewPrivileges)
	}
	if sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	res, err := resourceOpts(cfg.Resources, host)
	if err != nil {
		return nil, err
	}
	opts = append(opts, res...)
	users, err := userOpts(sc, cfg.PodSecurity, img.User)
	if err != nil {
		return nil, err
	}
	opts = append(opts, users...)
	if host.cgroup2 && !privileged {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.CgroupNamespace}))
	}
	return opts, nil
}

// processArgs resolves the argv of a container as Kubernetes does: Command
// replaces the image's ENTRYPOINT (and drops its CMD), Args replaces CMD.
// $(VAR) references were expanded by the daemon already.
func processArgs(cfg ContainerConfig, img ocispec.ImageConfig) ([]string, error) {
	command, args := cfg.Command, cfg.Args
	var argv []string
	if len(command) > 0 {
		argv = append(argv, command...)
		argv = append(argv, args...)
	} else {
		if !(len(img.Entrypoint) == 1 && img.Entrypoint[0] == "") {
			argv = append(argv, img.Entrypoint...)
		}
		if len(args) > 0 {
			argv = append(argv, args...)
		} else {
			argv = append(argv, img.Cmd...)
		}
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("container %q: no command: neither the container nor its image sets one: %w", cfg.ID, errdefs.ErrInvalidArgument)
	}
	return argv, nil
}

// containerEnv returns the environment of a container: PATH (unless the
// image sets it), HOSTNAME, the image's variables, then the container's,
// later ones replacing earlier ones of the same name.
func containerEnv(cfg ContainerConfig, img ocispec.ImageConfig) []string {
	env := []string{defaultPath}
	if cfg.Hostname != "" {
		env = append(env, "HOSTNAME="+cfg.Hostname)
	}
	env = append(env, img.Env...)
	for _, e := range cfg.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	return mergeEnv(env)
}

// mergeEnv keeps the last value of each variable, at the position of its
// first occurrence.
func mergeEnv(env []string) []string {
	index := make(map[string]int, len(env))
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if i, ok := index[name]; ok {
			out[i] = kv
			continue
		}
		index[name] = len(out)
		out = append(out, kv)
	}
	return out
}

// withoutDefaultSecurity removes what containerd's default spec adds and a
// Kubernetes container does not get: rlimits, AppArmor and seccomp
// profiles (Kubernetes' default seccomp profile is Unconfined).
func withoutDefaultSecurity(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	if s.Process != nil {
		s.Process.Rlimits = nil
		s.Process.ApparmorProfile = ""
	}
	if s.Linux != nil {
		s.Linux.Seccomp = nil
	}
	return nil
}

// withoutAmbientCaps clears ambient capabilities, as containerd's CRI
// plugin does.
func withoutAmbientCaps(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	if s.Process != nil && s.Process.Capabilities != nil {
		s.Process.Capabilities.Ambient = nil
	}
	return nil
}

// bindMounts converts cfg's mounts into OCI bind mounts, sorted so that a
// mount never hides a deeper one.
func bindMounts(in []Mount) ([]specs.Mount, error) {
	sorted := append([]Mount(nil), in...)
	sort.SliceStable(sorted, func(i, j int) bool {
		return pathDepth(sorted[i].Destination) < pathDepth(sorted[j].Destination)
	})
	out := make([]specs.Mount, 0, len(sorted))
	for _, m := range sorted {
		if !filepath.IsAbs(m.Source) || !filepath.IsAbs(m.Destination) {
			return nil, fmt.Errorf("mount %q -> %q: source and destination must be absolute paths: %w", m.Source, m.Destination, errdefs.ErrInvalidArgument)
		}
		options := []string{"rbind"}
		switch m.Propagation {
		case "", corev1.MountPropagationNone:
			options = append(options, "rprivate")
		case corev1.MountPropagationHostToContainer:
			options = append(options, "rslave")
		case corev1.MountPropagationBidirectional:
			options = append(options, "rshared")
		default:
			return nil, fmt.Errorf("mount %q: unknown propagation %q: %w", m.Destination, m.Propagation, errdefs.ErrInvalidArgument)
		}
		if m.ReadOnly {
			options = append(options, "ro")
		} else {
			options = append(options, "rw")
		}
		out = append(out, specs.Mount{
			Source:      filepath.Clean(m.Source),
			Destination: filepath.Clean(m.Destination),
			Type:        "bind",
			Options:     options,
		})
	}
	return out, nil
}

func pathDepth(p string) int {
	return len(strings.Split(strings.Trim(filepath.Clean(p), "/"), "/"))
}

// withMounts adds the read-only cgroup file system and the bind mounts,
// dropping the default mounts they replace (every default mount under /dev
// when /dev itself is mounted), and sets the rootfs propagation that
// shared or slave mounts need.
func withMounts(mounts []specs.Mount) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		defaults := append(s.Mounts, specs.Mount{
			Source:      "cgroup",
			Destination: "/sys/fs/cgroup",
			Type:        "cgroup",
			Options:     []string{"nosuid", "noexec", "nodev", "relatime", "ro"},
		})
		dests := make(map[string]bool, len(mounts))
		for _, m := range mounts {
			dests[m.Destination] = true
		}
		s.Mounts = nil
		for _, m := range defaults {
			dst := filepath.Clean(m.Destination)
			if dests[dst] || (dests["/dev"] && strings.HasPrefix(dst, "/dev/")) {
				continue
			}
			s.Mounts = append(s.Mounts, m)
		}
		for _, m := range mounts {
			s.Mounts = append(s.Mounts, specs.Mount{Source: m.Source, Destination: m.Destination, Type: m.Type, Options: append([]string(nil), m.Options...)})
			if s.Linux == nil {
				s.Linux = &specs.Linux{}
			}
			for _, o := range m.Options {
				switch {
				case o == "rshared":
					s.Linux.RootfsPropagation = "rshared"
				case o == "rslave" && s.Linux.RootfsPropagation != "rshared":
					s.Linux.RootfsPropagation = "rslave"
				}
			}
		}
		return nil
	}
}

// capabilityOpts applies Kubernetes' capability add and drop lists: "ALL"
// first (add, then drop), then single capabilities (add, then drop). Names
// may carry the CAP_ prefix or not, in any case.
func capabilityOpts(caps *corev1.Capabilities) []oci.SpecOpts {
	var opts []oci.SpecOpts
	var add, drop []string
	for _, c := range caps.Add {
		if strings.EqualFold(string(c), "ALL") {
			opts = append(opts, oci.WithAllCurrentCapabilities)
			continue
		}
		add = append(add, capName(string(c)))
	}
	for _, c := range caps.Drop {
		if strings.EqualFold(string(c), "ALL") {
			opts = append(opts, oci.WithCapabilities(nil))
			continue
		}
		drop = append(drop, capName(string(c)))
	}
	return append(opts, oci.WithAddedCapabilities(add), oci.WithDroppedCapabilities(drop))
}

func capName(c string) string {
	c = strings.ToUpper(c)
	if !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	return c
}

// resourceOpts converts resource requests and limits as the kubelet does:
// CPU limit to a CFS quota over a 100 ms period, CPU request (or the limit
// when no request is set) to shares, at least 2, and the memory limit to a
// memory limit, with memory+swap set to the same value where cgroup v1
// accounts swap so that the container does not swap.
func resourceOpts(r corev1.ResourceRequirements, host hostInfo) ([]oci.SpecOpts, error) {
	cpuRequest, hasRequest := r.Requests[corev1.ResourceCPU]
	cpuLimit, hasLimit := r.Limits[corev1.ResourceCPU]
	var shares uint64
	if !hasRequest && hasLimit {
		shares = milliCPUToShares(cpuLimit.MilliValue())
	} else {
		shares = milliCPUToShares(cpuRequest.MilliValue())
	}
	opts := []oci.SpecOpts{oci.WithCPUShares(shares)}
	if quota := milliCPUToQuota(cpuLimit.MilliValue()); quota > 0 {
		opts = append(opts, oci.WithCPUCFS(quota, quotaPeriod))
	}
	if mem, ok := r.Limits[corev1.ResourceMemory]; ok && !mem.IsZero() {
		limit := mem.Value()
		if limit < 0 {
			return nil, fmt.Errorf("memory limit %s: %w", mem.String(), errdefs.ErrInvalidArgument)
		}
		opts = append(opts, oci.WithMemoryLimit(uint64(limit)))
		if host.swap {
			opts = append(opts, oci.WithMemorySwap(limit))
		}
	}
	return opts, nil
}

func milliCPUToShares(milliCPU int64) uint64 {
	if milliCPU <= 0 {
		return minShares
	}
	shares := milliCPU * sharesPerCPU / 1000
	switch {
	case shares < minShares:
		return minShares
	case shares > maxShares:
		return maxShares
	}
	return uint64(shares)
}

func milliCPUToQuota(milliCPU int64) int64 {
	if milliCPU <= 0 {
		return 0
	}
	quota := milliCPU * quotaPeriod / 1000
	if quota < minQuotaPeriod {
		quota = minQuotaPeriod
	}
	return quota
}

// userOpts sets the process's user and groups. runAsUser and runAsGroup
// come from the container's security context, else the pod's; without
// runAsUser the image's USER is used (a name is looked up in the image's
// /etc/passwd when containerd applies the option), and without any user
// the process runs as root. Like the CRI plugin, the user's groups from
// the image's /etc/group are added, then the pod's fsGroup and
// supplementalGroups. runAsNonRoot is checked where the user is known
// here, as the kubelet does.
func userOpts(sc *corev1.SecurityContext, psc *corev1.PodSecurityContext, imageUser string) ([]oci.SpecOpts, error) {
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	uid, gid, nonRoot := sc.RunAsUser, sc.RunAsGroup, sc.RunAsNonRoot
	if uid == nil {
		uid = psc.RunAsUser
	}
	if gid == nil {
		gid = psc.RunAsGroup
	}
	if nonRoot == nil {
		nonRoot = psc.RunAsNonRoot
	}
	for _, id := range []*int64{uid, gid} {
		if id != nil && (*id < 0 || *id > 1<<31-1) {
			return nil, fmt.Errorf("user or group ID %d out of range: %w", *id, errdefs.ErrInvalidArgument)
		}
	}
	imageUID, _, _ := strings.Cut(imageUser, ":")
	var user, groupsOf string
	switch {
	case uid != nil:
		user = strconv.FormatInt(*uid, 10)
		groupsOf = user
	case imageUser != "":
		user = imageUser
		groupsOf = imageUID
	default:
		groupsOf = "0"
	}
	if gid != nil {
		u := user
		if uid == nil {
			u = imageUID
		}
		if u == "" {
			u = "0"
		}
		user = u + ":" + strconv.FormatInt(*gid, 10)
	}
	if nonRoot != nil && *nonRoot {
		switch {
		case uid != nil && *uid == 0:
			return nil, fmt.Errorf("runAsNonRoot is set but runAsUser is 0: %w", errdefs.ErrInvalidArgument)
		case uid == nil && imageUID == "":
			return nil, fmt.Errorf("runAsNonRoot is set but the image runs as root: %w", errdefs.ErrInvalidArgument)
		case uid == nil:
			n, err := strconv.ParseInt(imageUID, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("runAsNonRoot is set but the image's user %q is not numeric: %w", imageUser, errdefs.ErrInvalidArgument)
			}
			if n == 0 {
				return nil, fmt.Errorf("runAsNonRoot is set but the image runs as root: %w", errdefs.ErrInvalidArgument)
			}
		}
	}
	var opts []oci.SpecOpts
	if user != "" {
		opts = append(opts, oci.WithUser(user))
	}
	opts = append(opts, oci.WithAdditionalGIDs(groupsOf))
	var extra []uint32
	if psc.FSGroup != nil {
		extra = append(extra, uint32(*psc.FSGroup))
	}
	for _, g := range psc.SupplementalGroups {
		extra = append(extra, uint32(g))
	}
	if len(extra) > 0 {
		opts = append(opts, withGroups(extra))
	}
	return opts, nil
}

// withGroups appends numeric supplementary groups the process does not
// have yet.
func withGroups(gids []uint32) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		have := make(map[uint32]bool)
		for _, g := range s.Process.User.AdditionalGids {
			have[g] = true
		}
		for _, g := range gids {
			if !have[g] {
				have[g] = true
				s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, g)
			}
		}
		return nil
	}
}
