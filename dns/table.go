package dns

import (
	"maps"
	"slices"

	mdns "github.com/miekg/dns"
)

// table is the writer side of the records: the pods and Services as set,
// grouped by (namespace, subdomain), with each group's names. Only writers
// use it, under Server.mu; publish turns it into a snapshot, rebuilding only
// the groups changed since the last one.
type table struct {
	st       *settings
	pods     map[string]Pod     // by "ns/name"
	services map[string]Service // by "ns/name"
	groups   map[groupKey]*group
	nsGroups map[string]int                  // groups per namespace, for the <ns>.svc.C names
	ptrs     map[string]map[groupKey][]rdata // PTR records by reverse name, by the group adding them
	dirty    map[groupKey]bool
	serial   uint32
	prev     *snapshot
}

func newTable(st *settings) *table {
	return &table{
		st:       st,
		pods:     make(map[string]Pod),
		services: make(map[string]Service),
		groups:   make(map[groupKey]*group),
		nsGroups: make(map[string]int),
		ptrs:     make(map[string]map[groupKey][]rdata),
		dirty:    make(map[groupKey]bool),
	}
}

// group returns the group k, creating it.
func (t *table) group(k groupKey) *group {
	g := t.groups[k]
	if g == nil {
		g = &group{key: k, pods: make(map[string]*Pod)}
		t.groups[k] = g
		t.nsGroups[k.ns]++
	}
	t.dirty[k] = true
	return g
}

// podGroup returns the group a pod's names belong to; false if it has none.
func (t *table) podGroup(p *Pod) (groupKey, bool) {
	if p.Subdomain == "" || !p.IP.IsValid() {
		return groupKey{}, false
	}
	if !validLabel(p.Namespace) || !validLabel(p.Subdomain) || !validLabel(p.Hostname) {
		return groupKey{}, false
	}
	return groupKey{p.Namespace, p.Subdomain}, true
}

// setPod stores p (normalized) and reports whether anything changed.
func (t *table) setPod(key string, p Pod) bool {
	old, ok := t.pods[key]
	if ok && old == p {
		return false
	}
	if ok {
		t.unlinkPod(key, &old)
	}
	t.pods[key] = p
	if k, ok := t.podGroup(&p); ok {
		t.group(k).pods[key] = &p
	} else if p.Subdomain != "" && p.IP.IsValid() {
		t.st.logf("dns: pod %s: hostname, subdomain or namespace is not a DNS label, no records", key)
	}
	return true
}

// deletePod removes the pod key and reports whether it was there.
func (t *table) deletePod(key string) bool {
	old, ok := t.pods[key]
	if !ok {
		return false
	}
	t.unlinkPod(key, &old)
	delete(t.pods, key)
	return true
}

// unlinkPod takes the pod out of its group.
func (t *table) unlinkPod(key string, p *Pod) {
	if k, ok := t.podGroup(p); ok {
		delete(t.group(k).pods, key)
	}
}

// setService stores svc (normalized) and reports whether anything changed.
func (t *table) setService(key string, svc Service) bool {
	if old, ok := t.services[key]; ok && sameService(old, svc) {
		return false
	}
	t.services[key] = svc
	if !validLabel(svc.Namespace) || !validLabel(svc.Name) {
		t.st.logf("dns: service %s: name is not a DNS label, no records", key)
		return true
	}
	t.group(groupKey{svc.Namespace, svc.Name}).svc = &svc
	return true
}

// deleteService removes the Service key and reports whether it was there.
func (t *table) deleteService(key string) bool {
	old, ok := t.services[key]
	if !ok {
		return false
	}
	delete(t.services, key)
	if g := t.groups[groupKey{old.Namespace, old.Name}]; g != nil {
		g.svc = nil
		t.dirty[g.key] = true
	}
	return true
}

// replace makes the table hold exactly the given services and pods.
func (t *table) replace(services map[string]Service, pods map[string]Pod) {
	for key := range t.pods {
		if _, ok := pods[key]; !ok {
			t.deletePod(key)
		}
	}
	for key := range t.services {
		if _, ok := services[key]; !ok {
			t.deleteService(key)
		}
	}
	for key, svc := range services {
		t.setService(key, svc)
	}
	for key, p := range pods {
		t.setPod(key, p)
	}
}

// publish returns a snapshot of the table. Groups not changed since the
// last call keep their nodes; the others are rebuilt, reusing the nodes
// whose content is unchanged.
func (t *table) publish() *snapshot {
	t.serial++
	st := t.st

	// The Z names of a subdomain come from one namespace: "default", else
	// the first by name. An owner change rebuilds both groups.
	owner := make(map[string]string)
	for k := range t.groups {
		if w, ok := owner[k.sub]; !ok || w != "default" && (k.ns == "default" || k.ns < w) {
			owner[k.sub] = k.ns
		}
	}
	for k, g := range t.groups {
		if owns := owner[k.sub] == k.ns; owns != g.ownsZ {
			g.ownsZ = owns
			t.dirty[k] = true
		}
	}

	var names map[string]*node
	if t.prev != nil {
		names = maps.Clone(t.prev.names)
	} else {
		names = make(map[string]*node)
	}
	touchedRevs := make(map[string]bool)
	touchedNS := make(map[string]bool)
	for _, k := range slices.SortedFunc(maps.Keys(t.dirty), compareGroupKeys) {
		g := t.groups[k]
		if g == nil {
			continue
		}
		touchedNS[k.ns] = true
		for name, n := range g.names {
			if names[name] == n {
				delete(names, name)
			}
		}
		for rev := range g.ptrs {
			delete(t.ptrs[rev], k)
			touchedRevs[rev] = true
		}
		if g.empty() {
			delete(t.groups, k)
			t.nsGroups[k.ns]--
			continue
		}
		g.names, g.ptrs = g.build(st)
		for name, n := range g.names {
			names[name] = n
		}
		for rev, rd := range g.ptrs {
			if t.ptrs[rev] == nil {
				t.ptrs[rev] = make(map[groupKey][]rdata, 1)
			}
			t.ptrs[rev][k] = rd
			touchedRevs[rev] = true
		}
	}
	clear(t.dirty)

	for rev := range touchedRevs {
		byGroup := t.ptrs[rev]
		if len(byGroup) == 0 {
			delete(t.ptrs, rev)
			delete(names, rev)
			continue
		}
		e := &entry{name: rev, zone: zoneReverse, typ: mdns.TypePTR}
		for _, k := range slices.SortedFunc(maps.Keys(byGroup), compareGroupKeys) {
			e.rd = append(e.rd, byGroup[k]...)
		}
		n, err := reuse(names[rev], e, st.ttl)
		if err != nil {
			st.logf("dns: packing %s: %v", wireToText(rev), err)
			delete(names, rev)
			continue
		}
		names[rev] = n
	}

	// Empty non-terminals above the groups: svc.C and <ns>.svc.C.
	svc := "\x03svc" + st.clusterW
	if names[svc] == nil {
		names[svc] = &node{kind: kindENT, zone: zoneCluster, e: &entry{name: svc, zone: zoneCluster, kind: kindENT}}
	}
	for ns := range touchedNS {
		name := label(ns) + svc
		switch {
		case t.nsGroups[ns] <= 0:
			delete(t.nsGroups, ns)
			delete(names, name)
		case names[name] == nil:
			names[name] = &node{kind: kindENT, zone: zoneCluster, e: &entry{name: name, zone: zoneCluster, kind: kindENT}}
		}
	}

	snap := &snapshot{names: names, zones: [2]string{st.zoneWire, st.clusterW}}
	for zi, z := range snap.zones {
		apex, neg, err := packApex(z, st.ttl, t.serial)
		if err != nil {
			// Constant input: cannot happen, but keep the zone answering.
			st.logf("dns: packing zone %s: %v", wireToText(z), err)
			if t.prev != nil {
				snap.negSOA[zi] = t.prev.negSOA[zi]
			}
			continue
		}
		apex.zone = int8(zi)
		names[z] = apex
		snap.negSOA[zi] = neg
	}
	t.prev = snap
	return snap
}
