package daemon

import (
	"context"
	"net"
	"time"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/daemon/api"
)

// status answers GET /v1/status from the daemon's own state: it asks
// containerd for its version only while containerd is known to serve, and
// then with a short deadline, so that status answers at once while
// containerd is away.
func (d *Daemon) status(ctx context.Context) (api.Status, error) {
	up, since, why := d.health.containerdUp()
	st := api.Status{
		Version: Version, Started: d.started,
		Containerd: api.ContainerdStatus{Address: d.cfg.Containerd, Up: up, Since: since, Error: why},
		Network:    d.net.NetworkName(), Subnet: d.cfg.Subnet, Zone: d.cfg.ClusterDomain,
		Pods: map[string]int{},
	}
	if at, left := d.kubelet.first.state(); !at.IsZero() {
		st.Reconciled = &at
	} else {
		st.Unreconciled = left
	}
	if gw := d.net.Gateway(); gw != nil {
		st.Gateway = net.IP(gw).String()
	}
	for _, a := range d.dns.Addrs() {
		st.DNS = append(st.DNS, a.String())
	}
	if up {
		vctx, cancel := context.WithTimeout(ctx, time.Second)
		if v, err := d.rt.Version(vctx); err == nil {
			st.Containerd.Version = v
		}
		cancel()
	}
	if dir := d.cfg.ManifestDir; configs.DirOn(dir) {
		st.ManifestDir = dir
		ms, err := d.store.Manifests()
		if err != nil {
			return st, err
		}
		for _, m := range ms {
			if m.Error != "" {
				st.ManifestErrors++
			}
		}
	}
	if dir := d.cfg.ImageDir; configs.DirOn(dir) {
		st.ImageDir = dir
	}
	sets, err := d.store.StatefulSets()
	if err != nil {
		return st, err
	}
	st.Sets = len(sets)
	pods, err := d.store.AllPods()
	if err != nil {
		return st, err
	}
	for _, p := range pods {
		phase := string(p.Status.Phase)
		if p.DeletionTimestamp != nil {
			phase = "Terminating"
		}
		st.Pods[phase]++
		if podReady(p.Status) {
			st.ReadyPods++
		}
	}
	vols, err := d.store.Volumes()
	if err != nil {
		return st, err
	}
	st.Volumes = len(vols)
	return st, nil
}
