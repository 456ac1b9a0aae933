package dns

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"
)

// Pod is one pod's DNS identity.
type Pod struct {
	Namespace string     // "default" when empty
	Name      string     // "web-0"
	Hostname  string     // pod.spec.hostname, usually == Name; empty means Name
	Subdomain string     // the set's serviceName, e.g. "nginx"; empty = no DNS names
	IP        netip.Addr // invalid (zero) when the pod has no IP yet
	Ready     bool
}

// Service is a headless Service (or an implicit one for a set whose
// serviceName was never applied).
type Service struct {
	Namespace       string // "default" when empty
	Name            string
	PublishNotReady bool   // spec.publishNotReadyAddresses
	Ports           []Port // only named ports produce SRV
}

// Port is one port of a Service.
type Port struct {
	Name     string
	Protocol string // "TCP" (when empty), "UDP" or "SCTP"
	Port     uint16
}

// Record is one served record, as listed by Records.
type Record struct {
	Name    string // owner, fully qualified as in a zone file: "web-0.nginx.set.local."
	Type    string // "A", "AAAA", "SRV" or "PTR"
	Data    string // presentation form: "10.88.0.5", "0 50 80 web-0.nginx.set.local.", "web-0.nginx.set.local."
	Pod     string // "default/web-0", the pod the record points at, or ""
	Service string // "default/nginx" for a service's A and SRV records, or ""
}

// normPod returns p with defaults applied and names lower-cased, and its key.
func normPod(p Pod) (Pod, string) {
	p.Namespace = strings.ToLower(cmp.Or(p.Namespace, "default"))
	p.Name = strings.ToLower(p.Name)
	p.Hostname = strings.ToLower(cmp.Or(p.Hostname, p.Name))
	p.Subdomain = strings.ToLower(p.Subdomain)
	p.IP = p.IP.Unmap()
	return p, p.Namespace + "/" + p.Name
}

// normService returns svc with defaults applied and names lower-cased, and
// its key. Ports are copied: the caller may reuse its slice.
func normService(svc Service) (Service, string) {
	svc.Namespace = strings.ToLower(cmp.Or(svc.Namespace, "default"))
	svc.Name = strings.ToLower(svc.Name)
	svc.Ports = slices.Clone(svc.Ports)
	for i := range svc.Ports {
		svc.Ports[i].Name = strings.ToLower(svc.Ports[i].Name)
		svc.Ports[i].Protocol = strings.ToLower(cmp.Or(svc.Ports[i].Protocol, "TCP"))
	}
	return svc, svc.Namespace + "/" + svc.Name
}

// SetPod adds or replaces the pod namespace/name. Its new records are
// served when it returns. Safe for concurrent use; idempotent.
func (s *Server) SetPod(p Pod) {
	p, key := normPod(p)
	s.update(func(t *table) bool { return t.setPod(key, p) })
}

// DeletePod removes the pod's records. Deleting an unknown pod does
// nothing. Safe for concurrent use.
func (s *Server) DeletePod(namespace, name string) {
	_, key := normPod(Pod{Namespace: namespace, Name: name})
	s.update(func(t *table) bool { return t.deletePod(key) })
}

// SetService adds or replaces the Service namespace/name. Its new records
// are served when it returns. Safe for concurrent use; idempotent.
func (s *Server) SetService(svc Service) {
	svc, key := normService(svc)
	s.update(func(t *table) bool { return t.setService(key, svc) })
}

// DeleteService removes the Service; its pods keep their own names.
// Deleting an unknown Service does nothing. Safe for concurrent use.
func (s *Server) DeleteService(namespace, name string) {
	_, key := normService(Service{Namespace: namespace, Name: name})
	s.update(func(t *table) bool { return t.deleteService(key) })
}

// Replace sets all records at once (daemon start-up) and publishes them as
// one snapshot. Safe for concurrent use.
func (s *Server) Replace(services []Service, pods []Pod) {
	sm := make(map[string]Service, len(services))
	for _, svc := range services {
		svc, key := normService(svc)
		sm[key] = svc
	}
	pm := make(map[string]Pod, len(pods))
	for _, p := range pods {
		p, key := normPod(p)
		pm[key] = p
	}
	s.update(func(t *table) bool {
		t.replace(sm, pm)
		return true
	})
}

// update applies change to the table under the writers' lock and, if it
// changed anything, publishes a new snapshot before returning. Queries in
// flight keep the snapshot they loaded.
func (s *Server) update(change func(*table) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if change(s.table) {
		s.snap.Store(s.table.publish())
	}
}

func sameService(a, b Service) bool {
	return a.Namespace == b.Namespace && a.Name == b.Name &&
		a.PublishNotReady == b.PublishNotReady && slices.Equal(a.Ports, b.Ports)
}

// Records lists the A, AAAA, SRV and PTR records served, sorted by name,
// then type; the records of one name and type are in the order they are
// served. Safe for concurrent use.
func (s *Server) Records() []Record {
	snap := s.snap.Load()
	var out []Record
	for _, n := range snap.names {
		e := n.e
		if e == nil || e.kind != kindRecords {
			continue
		}
		name := wireToText(e.name)
		w := srvWeight(len(e.rd))
		for _, rd := range e.rd {
			r := Record{Name: name, Pod: rd.pod, Service: e.service}
			switch e.typ {
			case mdns.TypeA:
				r.Type, r.Data = "A", rd.addr.String()
				if rd.addr.Is6() {
					r.Type = "AAAA"
				}
			case mdns.TypeSRV:
				r.Type = "SRV"
				r.Data = "0 " + strconv.Itoa(int(w)) + " " + strconv.Itoa(int(rd.port)) + " " + wireToText(rd.target)
			case mdns.TypePTR:
				r.Type, r.Data = "PTR", wireToText(rd.target)
			}
			out = append(out, r)
		}
	}
	// Stable: the records of one name and type keep the order they are served in.
	slices.SortStableFunc(out, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Type, b.Type))
	})
	return out
}

// PodNames returns the names (without trailing dot) served for the pod, its
// Z name first, or nothing when it has none. Safe for concurrent use.
func (s *Server) PodNames(namespace, name string) []string {
	_, key := normPod(Pod{Namespace: namespace, Name: name})
	snap := s.snap.Load()
	var found []*entry
	for _, n := range snap.names {
		e := n.e
		if e != nil && e.kind == kindRecords && e.typ == mdns.TypeA && e.service == "" &&
			len(e.rd) == 1 && e.rd[0].pod == key {
			found = append(found, e)
		}
	}
	slices.SortFunc(found, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(a.zone, b.zone), cmp.Compare(a.name, b.name))
	})
	var names []string
	for _, e := range found {
		names = append(names, strings.TrimSuffix(wireToText(e.name), "."))
	}
	return names
}
