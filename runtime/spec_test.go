package runtime

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// generate applies specOpts to containerd's default spec, as NewContainer
// does, with a root file system holding /etc/passwd and /etc/group.
func generate(t *testing.T, cfg ContainerConfig, img ocispec.ImageConfig, host hostInfo) (*oci.Spec, error) {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"group":  "root:x:0:\nstaff:x:50:app\napp:x:1000:\nnogroup:x:65534:\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(root, "etc", name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.ID == "" {
		cfg.ID = "c1"
	}
	opts, err := specOpts(cfg, img, host)
	if err != nil {
		return nil, err
	}
	ctx := namespaces.WithNamespace(context.Background(), "test")
	return oci.GenerateSpec(ctx, nil, &containers.Container{ID: cfg.ID}, append([]oci.SpecOpts{oci.WithRootFSPath(root)}, opts...)...)
}

func mustGenerate(t *testing.T, cfg ContainerConfig, img ocispec.ImageConfig, host hostInfo) *oci.Spec {
	t.Helper()
	s, err := generate(t, cfg, img, host)
	if err != nil {
		t.Fatalf("generating the spec: %v", err)
	}
	return s
}

func ptr[T any](v T) *T { return &v }

func TestSpecArgs(t *testing.T) {
	img := ocispec.ImageConfig{Entrypoint: []string{"/entry", "-e"}, Cmd: []string{"cmd", "-c"}}
	tests := []struct {
		name          string
		command, args []string
		img           ocispec.ImageConfig
		want          []string
	}{
		{name: "image entrypoint and cmd", img: img, want: []string{"/entry", "-e", "cmd", "-c"}},
		{name: "args replace cmd", args: []string{"a1"}, img: img, want: []string{"/entry", "-e", "a1"}},
		{name: "command replaces entrypoint and drops cmd", command: []string{"/bin/x"}, img: img, want: []string{"/bin/x"}},
		{name: "command and args", command: []string{"/bin/x"}, args: []string{"y", "$(HOME)"}, img: img, want: []string{"/bin/x", "y", "$(HOME)"}},
		{name: "cmd only image", img: ocispec.ImageConfig{Cmd: []string{"sh"}}, want: []string{"sh"}},
		{name: "empty entrypoint is none", img: ocispec.ImageConfig{Entrypoint: []string{""}, Cmd: []string{"sh"}}, want: []string{"sh"}},
		{name: "args without entrypoint", args: []string{"echo", "hi"}, img: ocispec.ImageConfig{Cmd: []string{"sh"}}, want: []string{"echo", "hi"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustGenerate(t, ContainerConfig{Command: tt.command, Args: tt.args}, tt.img, hostInfo{})
			if !slices.Equal(s.Process.Args, tt.want) {
				t.Errorf("args = %q, want %q", s.Process.Args, tt.want)
			}
		})
	}
	t.Run("no command at all", func(t *testing.T) {
		_, err := generate(t, ContainerConfig{}, ocispec.ImageConfig{}, hostInfo{})
		if !errdefs.IsInvalidArgument(err) {
			t.Fatalf("err = %v, want invalid argument", err)
		}
	})
}

func TestSpecProcess(t *testing.T) {
	img := ocispec.ImageConfig{
		Cmd:        []string{"sh"},
		Env:        []string{"PATH=/opt/bin:/bin", "A=image", "B=image"},
		WorkingDir: "/srv",
	}
	t.Run("env, cwd, hostname, netns", func(t *testing.T) {
		s := mustGenerate(t, ContainerConfig{
			Hostname: "web-0",
			NetNS:    "/run/setlet/netns/web-0",
			Env:      []corev1.EnvVar{{Name: "B", Value: "container"}, {Name: "C", Value: "c=d"}},
		}, img, hostInfo{})
		want := []string{"PATH=/opt/bin:/bin", "HOSTNAME=web-0", "A=image", "B=container", "C=c=d"}
		if !slices.Equal(s.Process.Env, want) {
			t.Errorf("env = %q, want %q", s.Process.Env, want)
		}
		if s.Process.Cwd != "/srv" {
			t.Errorf("cwd = %q, want the image's /srv", s.Process.Cwd)
		}
		if s.Hostname != "web-0" {
			t.Errorf("hostname = %q", s.Hostname)
		}
		var netns *specs.LinuxNamespace
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				netns = &s.Linux.Namespaces[i]
			}
		}
		if netns == nil || netns.Path != "/run/setlet/netns/web-0" {
			t.Errorf("network namespace = %+v", netns)
		}
		if s.Process.Terminal {
			t.Error("terminal set without TTY")
		}
		if s.Process.NoNewPrivileges {
			t.Error("noNewPrivileges set without allowPrivilegeEscalation=false")
		}
		if len(s.Process.Rlimits) != 0 {
			t.Errorf("rlimits = %v, want none (inherited, as in Kubernetes)", s.Process.Rlimits)
		}
		if s.Linux.CgroupsPath != "/test/c1" {
			t.Errorf("cgroups path = %q, want /test/c1", s.Linux.CgroupsPath)
		}
	})
	t.Run("default path and working dir", func(t *testing.T) {
		s := mustGenerate(t, ContainerConfig{WorkingDir: ""}, ocispec.ImageConfig{Cmd: []string{"sh"}}, hostInfo{})
		if s.Process.Env[0] != defaultPath {
			t.Errorf("env = %q, want the default PATH first", s.Process.Env)
		}
		if s.Process.Cwd != "/" {
			t.Errorf("cwd = %q, want /", s.Process.Cwd)
		}
		s = mustGenerate(t, ContainerConfig{WorkingDir: "/work"}, img, hostInfo{})
		if s.Process.Cwd != "/work" {
			t.Errorf("cwd = %q, want /work", s.Process.Cwd)
		}
	})
	t.Run("tty", func(t *testing.T) {
		s := mustGenerate(t, ContainerConfig{TTY: true}, img, hostInfo{})
		if !s.Process.Terminal || !slices.Contains(s.Process.Env, "TERM=xterm") {
			t.Errorf("terminal = %v, env = %q", s.Process.Terminal, s.Process.Env)
		}
		s = mustGenerate(t, ContainerConfig{TTY: true, Env: []corev1.EnvVar{{Name: "TERM", Value: "vt100"}}}, img, hostInfo{})
		if !slices.Contains(s.Process.Env, "TERM=vt100") || slices.Contains(s.Process.Env, "TERM=xterm") {
			t.Errorf("env = %q, want the container's TERM only", s.Process.Env)
		}
	})
}

func TestSpecMounts(t *testing.T) {
	s := mustGenerate(t, ContainerConfig{Mounts: []Mount{
		{Source: "/data/www/sub", Destination: "/usr/share/nginx/html/sub", ReadOnly: true},
		{Source: "/data/www", Destination: "/usr/share/nginx/html", Propagation: corev1.MountPropagationHostToContainer},
		{Source: "/run/pod/shm", Destination: "/dev/shm", Propagation: corev1.MountPropagationNone},
		{Source: "/run/pod/hosts", Destination: "/etc/hosts"},
	}}, ocispec.ImageConfig{Cmd: []string{"sh"}}, hostInfo{})
	byDest := map[string]specs.Mount{}
	var order []string
	for _, m := range s.Mounts {
		if _, dup := byDest[m.Destination]; dup {
			t.Errorf("two mounts on %s", m.Destination)
		}
		byDest[m.Destination] = m
		order = append(order, m.Destination)
	}
	want := map[string][]string{
		"/usr/share/nginx/html/sub": {"rbind", "rprivate", "ro"},
		"/usr/share/nginx/html":     {"rbind", "rslave", "rw"},
		"/dev/shm":                  {"rbind", "rprivate", "rw"},
		"/etc/hosts":                {"rbind", "rprivate", "rw"},
	}
	for dest, opts := range want {
		m, ok := byDest[dest]
		if !ok || m.Type != "bind" || !slices.Equal(m.Options, opts) {
			t.Errorf("mount %s = %+v, want a bind mount with %q", dest, m, opts)
		}
	}
	if byDest["/dev/shm"].Source != "/run/pod/shm" {
		t.Errorf("/dev/shm = %+v, want the container's mount to replace the default", byDest["/dev/shm"])
	}
	if slices.Index(order, "/usr/share/nginx/html") > slices.Index(order, "/usr/share/nginx/html/sub") {
		t.Errorf("mount order %q: a mount hides a deeper one", order)
	}
	if m := byDest["/sys/fs/cgroup"]; m.Type != "cgroup" || !slices.Contains(m.Options, "ro") {
		t.Errorf("cgroup mount = %+v, want read-only cgroup", m)
	}
	if _, ok := byDest["/run"]; ok {
		t.Error("/run tmpfs present; Kubernetes containers have none")
	}
	if s.Linux.RootfsPropagation != "rslave" {
		t.Errorf("rootfs propagation = %q, want rslave", s.Linux.RootfsPropagation)
	}
	s = mustGenerate(t, ContainerConfig{Mounts: []Mount{{Source: "/mnt", Destination: "/mnt", Propagation: corev1.MountPropagationBidirectional}}}, ocispec.ImageConfig{Cmd: []string{"sh"}}, hostInfo{})
	if s.Linux.RootfsPropagation != "rshared" || !slices.Contains(s.Mounts[len(s.Mounts)-1].Options, "rshared") {
		t.Errorf("bidirectional: rootfs propagation %q, mount %+v", s.Linux.RootfsPropagation, s.Mounts[len(s.Mounts)-1])
	}
	for _, bad := range []Mount{{Source: "rel", Destination: "/x"}, {Source: "/x", Destination: "/y", Propagation: "Sideways"}} {
		if _, err := generate(t, ContainerConfig{Mounts: []Mount{bad}}, ocispec.ImageConfig{Cmd: []string{"sh"}}, hostInfo{}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("mount %+v: err = %v, want invalid argument", bad, err)
		}
	}
}

func TestSpecUser(t *testing.T) {
	img := ocispec.ImageConfig{Cmd: []string{"sh"}}
	tests := []struct {
		name      string
		sc        *corev1.SecurityContext
		psc       *corev1.PodSecurityContext
		imageUser string
		uid, gid  uint32
		groups    []uint32
	}{
		{name: "root by default", uid: 0, gid: 0, groups: []uint32{0}},
		{name: "runAsUser gets its passwd group", sc: &corev1.SecurityContext{RunAsUser: ptr[int64](65534)}, uid: 65534, gid: 65534, groups: []uint32{65534}},
		{name: "runAsUser unknown to passwd", sc: &corev1.SecurityContext{RunAsUser: ptr[int64](4242)}, uid: 4242, gid: 0, groups: []uint32{0}},
		{name: "runAsUser and runAsGroup", sc: &corev1.SecurityContext{RunAsUser: ptr[int64](1000), RunAsGroup: ptr[int64](3000)}, uid: 1000, gid: 3000, groups: []uint32{3000, 50}},
		{name: "pod level fallback", psc: &corev1.PodSecurityContext{RunAsUser: ptr[int64](1000), RunAsGroup: ptr[int64](2000)}, uid: 1000, gid: 2000, groups: []uint32{2000, 50}},
		{name: "container wins over pod", sc: &corev1.SecurityContext{RunAsUser: ptr[int64](65534)}, psc: &corev1.PodSecurityContext{RunAsUser: ptr[int64](1000)}, uid: 65534, gid: 65534, groups: []uint32{65534}},
		{name: "image user name", imageUser: "app", uid: 1000, gid: 1000, groups: []uint32{1000, 50}},
		{name: "image uid:gid", imageUser: "1000:77", uid: 1000, gid: 77, groups: []uint32{77, 50}},
		{name: "runAsUser beats image user", sc: &corev1.SecurityContext{RunAsUser: ptr[int64](65534)}, imageUser: "app", uid: 65534, gid: 65534, groups: []uint32{65534}},
		{name: "runAsGroup with image user", sc: &corev1.SecurityContext{RunAsGroup: ptr[int64](5)}, imageUser: "app", uid: 1000, gid: 5, groups: []uint32{5, 50}},
		{name: "fsGroup and supplementalGroups", sc: &corev1.SecurityContext{RunAsUser: ptr[int64](65534)}, psc: &corev1.PodSecurityContext{FSGroup: ptr[int64](2000), SupplementalGroups: []int64{3000, 2000}}, uid: 65534, gid: 65534, groups: []uint32{65534, 2000, 3000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ContainerConfig{Security: tt.sc, PodSecurity: tt.psc}
			im := img
			im.User = tt.imageUser
			s := mustGenerate(t, cfg, im, hostInfo{})
			u := s.Process.User
			if u.UID != tt.uid || u.GID != tt.gid || !slices.Equal(u.AdditionalGids, tt.groups) {
				t.Errorf("user = %d:%d groups %v, want %d:%d groups %v", u.UID, u.GID, u.AdditionalGids, tt.uid, tt.gid, tt.groups)
			}
		})
	}
	nonRoot := []struct {
		name      string
		sc        *corev1.SecurityContext
		imageUser string
		ok        bool
	}{
		{name: "root image", sc: &corev1.SecurityContext{RunAsNonRoot: ptr(true)}},
		{name: "uid 0", sc: &corev1.SecurityContext{RunAsNonRoot: ptr(true), RunAsUser: ptr[int64](0)}},
		{name: "image user name", sc: &corev1.SecurityContext{RunAsNonRoot: ptr(true)}, imageUser: "app"},
		{name: "numeric image user", sc: &corev1.SecurityContext{RunAsNonRoot: ptr(true)}, imageUser: "1000", ok: true},
		{name: "runAsUser", sc: &corev1.SecurityContext{RunAsNonRoot: ptr(true), RunAsUser: ptr[int64](1)}, imageUser: "0", ok: true},
	}
	for _, tt := range nonRoot {
		t.Run("runAsNonRoot "+tt.name, func(t *testing.T) {
			im := img
			im.User = tt.imageUser
			_, err := generate(t, ContainerConfig{Security: tt.sc}, im, hostInfo{})
			if tt.ok != (err == nil) || (err != nil && !errdefs.IsInvalidArgument(err)) {
				t.Errorf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestSpecSecurity(t *testing.T) {
	img := ocispec.ImageConfig{Cmd: []string{"sh"}}
	defaults := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}
	caps := func(add []corev1.Capability, drop ...corev1.Capability) *corev1.SecurityContext {
		return &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: add, Drop: drop}}
	}
	tests := []struct {
		name       string
		sc         *corev1.SecurityContext
		has, lacks []string
		exactly    []string
	}{
		{name: "containerd's default set", exactly: defaults},
		{name: "add with and without prefix", sc: caps([]corev1.Capability{"NET_ADMIN", "cap_sys_time"}), has: append([]string{"CAP_NET_ADMIN", "CAP_SYS_TIME"}, defaults...)},
		{name: "drop", sc: caps(nil, "CHOWN", "CAP_KILL"), has: []string{"CAP_SETUID"}, lacks: []string{"CAP_CHOWN", "CAP_KILL"}},
		{name: "drop ALL then add", sc: caps([]corev1.Capability{"NET_BIND_SERVICE"}, "ALL"), exactly: []string{"CAP_NET_BIND_SERVICE"}},
		{name: "add ALL then drop", sc: caps([]corev1.Capability{"ALL"}, "CHOWN"), has: []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN"}, lacks: []string{"CAP_CHOWN"}},
		{name: "drop wins over add", sc: caps([]corev1.Capability{"NET_ADMIN"}, "NET_ADMIN"), lacks: []string{"CAP_NET_ADMIN"}},
		{name: "privileged", sc: &corev1.SecurityContext{Privileged: ptr(true)}, has: []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_CHOWN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustGenerate(t, ContainerConfig{Security: tt.sc}, img, hostInfo{})
			c := s.Process.Capabilities
			for _, set := range [][]string{c.Bounding, c.Effective, c.Permitted} {
				if tt.exactly != nil {
					got, want := slices.Sorted(slices.Values(set)), slices.Sorted(slices.Values(tt.exactly))
					if !slices.Equal(got, want) {
						t.Errorf("capabilities = %q, want %q", got, want)
					}
				}
				for _, h := range tt.has {
					if !slices.Contains(set, h) {
						t.Errorf("capabilities %q lack %s", set, h)
					}
				}
				for _, l := range tt.lacks {
					if slices.Contains(set, l) {
						t.Errorf("capabilities %q have %s", set, l)
					}
				}
			}
			if len(c.Ambient) != 0 {
				t.Errorf("ambient capabilities = %q", c.Ambient)
			}
		})
	}
	t.Run("privileged spec", func(t *testing.T) {
		s := mustGenerate(t, ContainerConfig{Security: &corev1.SecurityContext{Privileged: ptr(true)}}, img, hostInfo{cgroup2: true})
		if len(s.Linux.MaskedPaths) != 0 || len(s.Linux.ReadonlyPaths) != 0 {
			t.Errorf("masked %q, read-only %q, want none", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
		}
		for _, m := range s.Mounts {
			if (m.Type == "sysfs" || m.Type == "cgroup") && slices.Contains(m.Options, "ro") {
				t.Errorf("%s mount is read-only in a privileged container", m.Destination)
			}
		}
		if d := s.Linux.Resources.Devices; len(d) == 0 || !d[len(d)-1].Allow || d[len(d)-1].Access != "rwm" {
			t.Errorf("device cgroup rules %+v, want all devices allowed", d)
		}
		for _, ns := range s.Linux.Namespaces {
			if ns.Type == specs.CgroupNamespace {
				t.Error("privileged container has a cgroup namespace")
			}
		}
	})
	t.Run("no new privileges, read-only rootfs", func(t *testing.T) {
		s := mustGenerate(t, ContainerConfig{Security: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(false), ReadOnlyRootFilesystem: ptr(true)}}, img, hostInfo{})
		if !s.Process.NoNewPrivileges || !s.Root.Readonly {
			t.Errorf("noNewPrivileges = %v, readonly root = %v, want both", s.Process.NoNewPrivileges, s.Root.Readonly)
		}
		s = mustGenerate(t, ContainerConfig{Security: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(true), ReadOnlyRootFilesystem: ptr(false)}}, img, hostInfo{})
		if s.Process.NoNewPrivileges || s.Root.Readonly {
			t.Errorf("noNewPrivileges = %v, readonly root = %v, want neither", s.Process.NoNewPrivileges, s.Root.Readonly)
		}
	})
	t.Run("cgroup namespace on cgroup v2", func(t *testing.T) {
		s := mustGenerate(t, ContainerConfig{}, img, hostInfo{cgroup2: true})
		if !slices.ContainsFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == specs.CgroupNamespace }) {
			t.Error("no cgroup namespace on cgroup v2")
		}
	})
}

func TestSpecResources(t *testing.T) {
	q := resource.MustParse
	tests := []struct {
		name         string
		res          corev1.ResourceRequirements
		host         hostInfo
		shares       uint64
		quota        int64 // 0: none
		memory, swap int64 // 0: none
	}{
		{name: "best effort", shares: 2},
		{name: "cpu request", res: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: q("250m")}}, shares: 256},
		{name: "tiny request", res: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: q("1m")}}, shares: 2},
		{name: "cpu limit alone sets shares too", res: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: q("500m")}}, shares: 512, quota: 50000},
		{name: "request and limit", res: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m")}, Limits: corev1.ResourceList{corev1.ResourceCPU: q("2")}}, shares: 102, quota: 200000},
		{name: "tiny limit", res: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: q("5m")}}, shares: 5, quota: 1000},
		{name: "memory limit", res: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: q("64Mi")}}, shares: 2, memory: 64 << 20},
		{name: "memory limit with swap accounting", host: hostInfo{swap: true}, res: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: q("64Mi")}}, shares: 2, memory: 64 << 20, swap: 64 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustGenerate(t, ContainerConfig{Resources: tt.res}, ocispec.ImageConfig{Cmd: []string{"sh"}}, tt.host)
			r := s.Linux.Resources
			if r.CPU == nil || r.CPU.Shares == nil || *r.CPU.Shares != tt.shares {
				t.Errorf("cpu = %+v, want shares %d", r.CPU, tt.shares)
			}
			switch {
			case tt.quota == 0 && r.CPU != nil && r.CPU.Quota != nil:
				t.Errorf("quota = %d, want none", *r.CPU.Quota)
			case tt.quota != 0 && (r.CPU.Quota == nil || *r.CPU.Quota != tt.quota || r.CPU.Period == nil || *r.CPU.Period != 100000):
				t.Errorf("cpu = %+v, want quota %d over 100000", r.CPU, tt.quota)
			}
			var limit, swap int64
			if r.Memory != nil && r.Memory.Limit != nil {
				limit = *r.Memory.Limit
			}
			if r.Memory != nil && r.Memory.Swap != nil {
				swap = *r.Memory.Swap
			}
			if limit != tt.memory || swap != tt.swap {
				t.Errorf("memory limit %d swap %d, want %d and %d", limit, swap, tt.memory, tt.swap)
			}
		})
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"A=1", "B=2", "A=3", "EMPTY=", "C", "B=4=5"})
	want := []string{"A=3", "B=4=5", "EMPTY=", "C"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("mergeEnv = %q, want %q", got, want)
	}
}
