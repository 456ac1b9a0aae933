package daemon

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sort"
	"sync"

	"github.com/containerd/errdefs"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/setlet/setlet/configs"
	"github.com/setlet/setlet/dns"
	"github.com/setlet/setlet/storage"
)

// dnsRecords is the boundary to the DNS server's record table.
type dnsRecords interface {
	SetPod(dns.Pod)
	DeletePod(namespace, name string)
	SetService(dns.Service)
	DeleteService(namespace, name string)
	Replace([]dns.Service, []dns.Pod)
}

var _ dnsRecords = (*dns.Server)(nil)

// reasonImplicitService is the event reason when a StatefulSet's
// serviceName names a Service that was never applied.
const reasonImplicitService = "ServiceNotFound"

// dnsSync keeps the DNS records in step with the state. It hooks into the
// hub: each change (a pod's IP or readiness written, a pod deleted, a
// Service or StatefulSet applied or deleted) updates the record table
// synchronously, before any watcher or client hears of it, so a name
// changes on the event that causes it, never on a timer, and a client that
// saw a pod become Ready finds it in DNS.
type dnsSync struct {
	store   *storage.Store
	records dnsRecords
	events  *recorder
	log     *slog.Logger

	mu       sync.Mutex             // one change at a time: read and set in order
	services map[string]dns.Service // key(ns, name) -> what the table holds
	said     map[string]bool        // implicit services already reported
}

func newDNSSync(store *storage.Store, records dnsRecords, events *recorder, log *slog.Logger) *dnsSync {
	return &dnsSync{store: store, records: records, events: events, log: log, services: map[string]dns.Service{}, said: map[string]bool{}}
}

// onChange is the hub hook.
func (s *dnsSync) onChange(c change) {
	if err := s.apply(c); err != nil {
		s.log.Warn("updating DNS records", "change", c.Kind+" "+key(c.Namespace, c.Name), "err", err)
	}
}

// apply updates the records one change affects. Reading the state and
// setting the records happen under one lock, so that of two changes of a
// pod the later one's read wins.
func (s *dnsSync) apply(c change) error {
	switch c.Kind {
	case "Pod", configs.KindService, configs.KindStatefulSet:
	default:
		// Events, volumes: nothing DNS serves. (Recording the implicit
		// Service event below publishes one, under s.mu.)
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch c.Kind {
	case "Pod":
		pod, err := s.store.Pod(c.Namespace, c.Name)
		if errdefs.IsNotFound(err) {
			s.records.DeletePod(c.Namespace, c.Name)
			return nil
		}
		if err != nil {
			return err
		}
		s.records.SetPod(dnsPod(pod))
	case configs.KindService, configs.KindStatefulSet:
		return s.syncServices()
	}
	return nil
}

// resync replaces every record with what the state holds.
func (s *dnsSync) resync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pods, err := s.store.AllPods()
	if err != nil {
		return err
	}
	svcs, err := s.wantServices()
	if err != nil {
		return err
	}
	dpods := make([]dns.Pod, 0, len(pods))
	for _, p := range pods {
		dpods = append(dpods, dnsPod(p))
	}
	s.records.Replace(sortedServices(svcs), dpods)
	s.services = svcs
	return nil
}

// syncServices brings the table's services in line with the applied
// Services and the serviceNames of the StatefulSets.
func (s *dnsSync) syncServices() error {
	want, err := s.wantServices()
	if err != nil {
		return err
	}
	for _, svc := range want {
		s.records.SetService(svc) // a no-op for a service that did not change
	}
	for k, old := range s.services {
		if _, ok := want[k]; !ok {
			s.records.DeleteService(old.Namespace, old.Name)
		}
	}
	s.services = want
	return nil
}

// wantServices returns the services DNS serves: every applied Service,
// plus, for a StatefulSet whose serviceName names no applied Service, an
// implicit headless one (reported once by an event on the set).
func (s *dnsSync) wantServices() (map[string]dns.Service, error) {
	var svcs []*corev1.Service
	var sets []*appsv1.StatefulSet
	err := s.store.View(func(tx *storage.Tx) error {
		var err error
		if svcs, err = tx.Services(); err != nil {
			return err
		}
		sets, err = tx.StatefulSets()
		return err
	})
	if err != nil {
		return nil, err
	}
	want := map[string]dns.Service{}
	for _, svc := range svcs {
		want[key(svc.Namespace, svc.Name)] = dnsService(svc, sets)
	}
	for _, set := range sets {
		name := set.Spec.ServiceName
		if name == "" {
			continue
		}
		k := key(set.Namespace, name)
		if _, ok := want[k]; ok {
			continue
		}
		want[k] = dns.Service{Namespace: set.Namespace, Name: name}
		if said := key(set.Namespace, set.Name) + "->" + name; !s.said[said] {
			s.said[said] = true
			s.reportImplicit(set)
		}
	}
	return want, nil
}

// reportImplicit records, once per set and service name (also across
// daemon restarts), that set's serviceName is served as a headless
// Service although no such Service was applied.
func (s *dnsSync) reportImplicit(set *appsv1.StatefulSet) {
	msg := fmt.Sprintf("Service %q was not applied: serving it as a headless Service for DNS", set.Spec.ServiceName)
	evs, err := s.store.Events(storage.EventFilter{Kind: configs.KindStatefulSet, Namespace: set.Namespace, Name: set.Name})
	if err == nil {
		for _, ev := range evs {
			if ev.Reason == reasonImplicitService && ev.Message == msg {
				return
			}
		}
	}
	s.events.event(configs.KindStatefulSet, set.Namespace, set.Name, eventTypeNormal, reasonImplicitService, "%s", msg)
}

// dnsPod is the DNS identity of pod: its names while it has an IP, in the
// service's records while it is Ready and not terminating (Kubernetes
// takes a terminating pod out of the endpoints).
func dnsPod(pod *corev1.Pod) dns.Pod {
	p := dns.Pod{
		Namespace: pod.Namespace, Name: pod.Name, Hostname: pod.Spec.Hostname, Subdomain: pod.Spec.Subdomain,
		Ready: podReady(pod.Status) && pod.DeletionTimestamp == nil,
	}
	if ip, err := netip.ParseAddr(pod.Status.PodIP); err == nil {
		p.IP = ip
	}
	return p
}

// dnsService is the DNS view of a headless Service: its named ports (SRV
// records) with the port the pods serve: the targetPort, a named one
// looked up in the containers of the sets that use the Service.
func dnsService(svc *corev1.Service, sets []*appsv1.StatefulSet) dns.Service {
	out := dns.Service{Namespace: svc.Namespace, Name: svc.Name, PublishNotReady: svc.Spec.PublishNotReadyAddresses}
	for _, p := range svc.Spec.Ports {
		if p.Name == "" {
			continue
		}
		port := p.Port
		switch {
		case p.TargetPort.StrVal != "":
			if n := namedContainerPort(svc, sets, p.TargetPort.StrVal); n > 0 {
				port = n
			}
		case p.TargetPort.IntVal > 0:
			port = p.TargetPort.IntVal
		}
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		out.Ports = append(out.Ports, dns.Port{Name: p.Name, Protocol: string(proto), Port: uint16(port)})
	}
	return out
}

// namedContainerPort finds the container port called name in the pod
// template of a set whose serviceName is svc; 0 when there is none.
func namedContainerPort(svc *corev1.Service, sets []*appsv1.StatefulSet, name string) int32 {
	for _, set := range sets {
		if set.Namespace != svc.Namespace || set.Spec.ServiceName != svc.Name {
			continue
		}
		for _, c := range set.Spec.Template.Spec.Containers {
			for _, p := range c.Ports {
				if p.Name == name {
					return p.ContainerPort
				}
			}
		}
	}
	return 0
}

// dnsUpstreams returns the resolvers the DNS server forwards to: the
// configured ones, none when forwarding is off, else the host's
// resolv.conf nameservers other than the server's own addresses.
func dnsUpstreams(cfg configs.DaemonConfig, hostResolvConf string, own []netip.Addr) []string {
	if len(cfg.DNSUpstreams) == 1 && cfg.DNSUpstreams[0] == "none" {
		return nil
	}
	if len(cfg.DNSUpstreams) > 0 {
		return cfg.DNSUpstreams
	}
	data, _ := os.ReadFile(hostResolvConf)
	return dns.HostUpstreams(data, own)
}

// mayForward says which clients may use the DNS server as a resolver for
// names outside setlet's zones: loopback, the pod subnet and the host's own
// addresses. Anyone else reaching a --dns-listen address gets setlet's
// names only, so the daemon is never an open resolver.
func mayForward(subnet netip.Prefix) func(netip.Addr) bool {
	own := map[netip.Addr]bool{}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					own[ip.Unmap()] = true
				}
			}
		}
	}
	return func(a netip.Addr) bool {
		a = a.Unmap()
		return a.IsLoopback() || subnet.Contains(a) || own[a]
	}
}

// sortedServices lists services by namespace and name (for tests and
// stable output).
func sortedServices(m map[string]dns.Service) []dns.Service {
	out := make([]dns.Service, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return key(out[i].Namespace, out[i].Name) < key(out[j].Namespace, out[j].Name) })
	return out
}
