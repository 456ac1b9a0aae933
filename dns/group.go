package dns

import (
	"cmp"
	"slices"

	mdns "github.com/miekg/dns"
)

type groupKey struct{ ns, sub string }

func compareGroupKeys(a, b groupKey) int {
	return cmp.Or(cmp.Compare(a.ns, b.ns), cmp.Compare(a.sub, b.sub))
}

// group is one namespace's pods of one subdomain and the Service of that
// name, and the names built from them. A group is the unit an update
// rebuilds: its names depend on nothing else but whether it owns the
// subdomain in Z.
type group struct {
	key   groupKey
	svc   *Service
	pods  map[string]*Pod // by "ns/name"
	ownsZ bool

	names map[string]*node   // the names served, inside Z and C
	ptrs  map[string][]rdata // PTR records it adds, by reverse name
}

// empty reports whether nothing is left in the group.
func (g *group) empty() bool { return g.svc == nil && len(g.pods) == 0 }

// build returns the group's names and its PTR records, reusing the nodes of
// g.names whose content did not change.
func (g *group) build(st *settings) (map[string]*node, map[string][]rdata) {
	pods := make([]*Pod, 0, len(g.pods))
	for _, p := range g.pods {
		pods = append(pods, p)
	}
	slices.SortFunc(pods, func(a, b *Pod) int {
		return cmp.Or(cmp.Compare(a.Hostname, b.Hostname), cmp.Compare(a.Name, b.Name))
	})
	kept := pods[:0]
	for i, p := range pods {
		if i > 0 && p.Hostname == pods[i-1].Hostname {
			st.logf("dns: pod %s/%s: hostname %q already used by pod %s, no records", p.Namespace, p.Name, p.Hostname, pods[i-1].Name)
			continue
		}
		kept = append(kept, p)
	}
	pods = kept
	var published []int
	if g.svc != nil {
		for i, p := range pods {
			if p.Ready || g.svc.PublishNotReady {
				published = append(published, i)
			}
		}
	}
	podKeys := make([]string, len(pods))
	for i, p := range pods {
		podKeys[i] = p.Namespace + "/" + p.Name
	}
	svcKey := g.key.ns + "/" + g.key.sub

	names := make(map[string]*node, len(g.names))
	ptrs := make(map[string][]rdata, len(pods))
	add := func(e *entry) {
		n, err := reuse(g.names[e.name], e, st.ttl)
		if err != nil {
			st.logf("dns: packing %s: %v", wireToText(e.name), err)
			return
		}
		names[e.name] = n
	}

	type base struct {
		zone int8
		wire string
	}
	bases := make([]base, 0, 2)
	if g.ownsZ {
		bases = append(bases, base{zoneSet, label(g.key.sub) + st.zoneWire})
	}
	bases = append(bases, base{zoneCluster, label(g.key.sub) + label(g.key.ns) + "\x03svc" + st.clusterW})

	targets := make([]string, len(pods))
	revs := make([]string, len(pods))
	for i, p := range pods {
		revs[i] = reverseName(p.IP)
	}
	for _, bs := range bases {
		for i, p := range pods {
			targets[i] = label(p.Hostname) + bs.wire
			add(&entry{name: targets[i], zone: bs.zone, typ: mdns.TypeA, rd: []rdata{{addr: p.IP, pod: podKeys[i]}}})
			ptrs[revs[i]] = append(ptrs[revs[i]], rdata{target: targets[i], pod: podKeys[i]})
		}
		if len(published) == 0 {
			// No service record, even with pod names below it.
			add(&entry{name: bs.wire, zone: bs.zone, kind: kindNX})
			continue
		}
		rd := make([]rdata, len(published))
		for j, i := range published {
			rd[j] = rdata{addr: pods[i].IP, pod: podKeys[i]}
		}
		add(&entry{name: bs.wire, zone: bs.zone, typ: mdns.TypeA, service: svcKey, rd: rd})
		for pi, port := range g.svc.Ports {
			if !srvPort(port) || slices.ContainsFunc(g.svc.Ports[:pi], func(o Port) bool {
				return o.Name == port.Name && o.Protocol == port.Protocol
			}) {
				continue
			}
			rd := make([]rdata, len(published))
			for j, i := range published {
				rd[j] = rdata{addr: pods[i].IP, target: targets[i], port: port.Port, pod: podKeys[i]}
			}
			proto := label("_"+port.Protocol) + bs.wire
			add(&entry{name: label("_"+port.Name) + proto, zone: bs.zone, typ: mdns.TypeSRV, service: svcKey, rd: rd})
			if names[proto] == nil {
				add(&entry{name: proto, zone: bs.zone, kind: kindENT})
			}
		}
	}
	return names, ptrs
}

// srvPort reports whether port gets SRV records: named, with a port
// number and a known protocol (normService lower-cases them).
func srvPort(p Port) bool {
	return p.Name != "" && len(p.Name) <= 62 && validLabel(p.Name) && p.Port != 0 &&
		(p.Protocol == "tcp" || p.Protocol == "udp" || p.Protocol == "sctp")
}
