package e2e

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"
)

// What a daemon leaves in containerd, the network and its directories, as
// the tests that kill it look at it.

// containerdClient connects to the env's containerd and returns the client
// (to be closed) and a context in the env's containerd namespace.
func (e *env) containerdClient() (*containerd.Client, context.Context) {
	e.t.Helper()
	c, err := containerd.New(e.containerd)
	if err != nil {
		e.t.Fatal(err)
	}
	return c, namespaces.WithNamespace(context.Background(), e.namespace)
}

// tasks returns the pid of every container with a task in the env's
// containerd namespace, by container ID.
func (e *env) tasks() map[string]uint32 {
	e.t.Helper()
	out := map[string]uint32{}
	for _, c := range e.containers() {
		if c.pid != 0 {
			out[c.id] = c.pid
		}
	}
	return out
}

// container is one container in the env's containerd namespace.
type container struct {
	id     string
	labels map[string]string
	pid    uint32                   // 0 without a task
	status containerd.ProcessStatus // "" without a task
}

// containers lists every container in the env's containerd namespace,
// with its task.
func (e *env) containers() []container {
	e.t.Helper()
	c, ctx := e.containerdClient()
	defer c.Close()
	ctrs, err := c.Containers(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []container
	for _, ctr := range ctrs {
		labels, err := ctr.Labels(ctx)
		if errdefs.IsNotFound(err) {
			continue // removed by a request the killed daemon sent
		}
		if err != nil {
			e.t.Fatal(err)
		}
		info := container{id: ctr.ID(), labels: labels}
		if task, err := ctr.Task(ctx, nil); err == nil {
			info.pid = task.Pid()
			if st, err := task.Status(ctx); err == nil {
				info.status = st.Status
			}
		}
		out = append(out, info)
	}
	return out
}

// activeSnapshots lists the active snapshots (containers' root file
// systems) in the env's containerd namespace.
func (e *env) activeSnapshots() []string {
	e.t.Helper()
	c, ctx := e.containerdClient()
	defer c.Close()
	var snaps []string
	err := c.SnapshotService(containerd.DefaultSnapshotter).Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if info.Kind == snapshots.KindActive {
			snaps = append(snaps, info.Name)
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return snaps
}

// names lists the names in directory dir of the env (none when it does
// not exist), leaving out dot files.
func (e *env) names(dir string) []string {
	e.t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.dir, dir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		if !strings.HasPrefix(en.Name(), ".") {
			names = append(names, en.Name())
		}
	}
	return names
}

// Kinds of holding.
const (
	kindContainer  = "container"
	kindNetnsOwner = "network namespace owner record"
	kindIP         = "IP allocation"
	kindCNIResult  = "cached CNI result"
	kindRule       = "iptables masquerade rule"
)

// holding is something of a pod outside the state file: its kind, its
// name, and the UID of the pod it belongs to (which is also the pod's CNI
// attachment ID).
type holding struct{ kind, name, uid string }

// holdings lists what the env's pods hold in containerd, the network
// namespace directory, host-local's and libcni's directories and
// iptables.
func (e *env) holdings() []holding {
	e.t.Helper()
	var out []holding
	for _, c := range e.containers() {
		out = append(out, holding{kindContainer, c.id, c.labels["setlet.io/pod-uid"]})
	}
	// add adds the holding of kind named by file dir/name, whose first line
	// is the owner's UID. The file may go meanwhile: a CNI plugin the
	// killed daemon ran may still be at work.
	add := func(kind, dir, name string) {
		b, err := os.ReadFile(filepath.Join(e.dir, dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err != nil {
			e.t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(b), "\n")
		out = append(out, holding{kind, name, strings.TrimSpace(first)})
	}
	owners := filepath.Join("run", "netns", ".owners")
	for _, pod := range e.names(owners) {
		add(kindNetnsOwner, owners, pod)
	}
	ipam := filepath.Join("data", "cni", "ipam", "setlet-"+e.bridge)
	for _, name := range e.names(ipam) {
		if net.ParseIP(name) != nil {
			add(kindIP, ipam, name)
		}
	}
	for _, name := range e.names(filepath.Join("data", "cni", "cache", "results")) {
		out = append(out, holding{kindCNIResult, name, strings.TrimSuffix(strings.TrimPrefix(name, "setlet-"+e.bridge+"-"), "-eth0")})
	}
	for _, r := range e.masqRules() {
		out = append(out, holding{kindRule, r.source, r.id})
	}
	return out
}

// masqRule is the bridge plugin's masquerade rule for one attachment of
// the env's network: `-A POSTROUTING -s IP/32 -m comment --comment
// "name: \"NETWORK\" id: \"ID\"" -j CNI-...`.
type masqRule struct{ source, network, id, chain string }

// masqRules lists the masquerade rules of the env's network.
func (e *env) masqRules() []masqRule {
	e.t.Helper()
	rules, err := exec.Command("iptables", "-w", "-t", "nat", "-S", "POSTROUTING").Output()
	if err != nil {
		e.t.Fatalf("iptables -t nat -S POSTROUTING: %v", err)
	}
	re := regexp.MustCompile(`(?m)^-A POSTROUTING -s (\S+) -m comment --comment "name: \\"(setlet-` +
		regexp.QuoteMeta(e.bridge) + `)\\" id: \\"([^\\"]+)\\"" -j (CNI-\S+)$`)
	var out []masqRule
	for _, m := range re.FindAllStringSubmatch(string(rules), -1) {
		out = append(out, masqRule{source: m[1], network: m[2], id: m[3], chain: m[4]})
	}
	return out
}

// netnsMounts lists the mount points under dir.
func netnsMounts(t testing.TB, dir string) []string {
	t.Helper()
	infos, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		t.Fatal(err)
	}
	var mounts []string
	for _, m := range infos {
		if m.Mountpoint != dir {
			mounts = append(mounts, m.Mountpoint)
		}
	}
	return mounts
}
