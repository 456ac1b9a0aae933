// Package dns owns setlet's embedded DNS server and its record table, which
// give every replica of a StatefulSet a stable name such as
// web-0.nginx.set.local that always resolves to the pod's current IP.
//
// # Basics
//
// The daemon creates one Server with NewServer, feeds it pods and headless
// Services (SetPod, SetService, DeletePod, DeleteService, or Replace at
// start-up) and serves it with ListenAndServe, or with Serve on listeners it
// opened itself. Every record change publishes a new immutable snapshot of
// the answers, with one atomic pointer store, before the call returns;
// queries never wait for a writer. Records and PodNames tell what is served,
// ResponseCounts how many answers of each response code went out.
//
// Names served, for zone Z (Config.Zone, "set.local") and cluster domain C
// (Config.ClusterDomain, "cluster.local"):
//
//	<hostname>.<subdomain>.Z              A/AAAA  the pod's IP, as soon as it has one (Ready or not)
//	<hostname>.<subdomain>.<ns>.svc.C     A/AAAA  same
//	<service>.Z, <service>.<ns>.svc.C     A/AAAA  published pods: Ready ones, or all with publishNotReadyAddresses
//	_<port>._<proto>.<service>.Z (and C)  SRV     one per published pod (0 100/n port target), targets in additional
//	<reversed IP>.in-addr.arpa (ip6.arpa) PTR     the pod's Z name, then its C name
//
// A service name with no published pod is NXDOMAIN, even with pod names
// below it, and so is a subdomain no Service was set for. Z names carry no
// namespace: when two namespaces hold the same subdomain (a Service or pods),
// the Z names come from "default" if it is one of them, otherwise from the
// first namespace by name; the C names of every namespace are served. A pod
// whose hostname is already used in its subdomain and namespace gets no
// names (the first by pod name keeps them). Other names inside Z or C answer
// NXDOMAIN, empty non-terminals (Z, C, svc.C, <ns>.svc.C, _<proto>.…) and
// other types NODATA, both with the zone's SOA in the authority section; the
// apexes answer SOA and NS (ns.dns.Z). Every TTL and the negative TTL are
// Config.TTL. Out-of-zone names, PTR names of IPs that are no pod's and
// other types of reverse names go to Config.Upstreams, for the clients
// Config.MayForward allows; the others get REFUSED.
//
// # How a query is answered
//
// For every lower-case name and type the snapshot holds the answer,
// authority and additional sections already packed, compressed, by
// miekg/dns, as they follow the lower-case question. Handle parses header
// and question straight from the packet, lower-cases the name into a stack
// buffer, does one map lookup and writes the header, the client's own
// question bytes and the packed sections, then an OPT record if the query
// had one. A question differing only in case has the same length, so the
// compression pointers stay valid, and answers owned by the question name
// (pointer 0xC00C) echo it exactly as asked. That path allocates nothing;
// a UDP reader counts the answer by RCODE with one atomic add on counters
// of its own, which no other CPU writes.
// Malformed packets and forwarding take a slower path that may.
//
//	snapshot (atomic.Pointer, immutable)
//	└── names: map[lower-case wire name]*node
//	    └── node: kind (records, ENT, NXDOMAIN, apex), zone,
//	        sets: one packed answer per type, the first for ANY
//
// Writers work on a table grouped by (namespace, subdomain); an update
// rebuilds only the groups it touches, reusing every node whose content did
// not change, and publishes a copy of the name map (about 1 ms with 1000
// pods).
//
// The UDP readers, min(GOMAXPROCS, 4) per socket, answer in place with
// buffers of their own; on Linux they call recvfrom and sendto directly on
// the non-blocking socket (waiting in the netpoller as usual), which keeps
// the runtime's monitor thread asleep and cuts the CPU a query costs at
// low rates by a third (ReadFromUDPAddrPort and WriteToUDPAddrPort
// elsewhere). Forwarding runs in goroutines (at most 100 at once, SERVFAIL
// beyond). TCP connections (at most 256) carry any number of queries, each
// answered in turn, and close after 10 s idle.
//
// # Caveats
//
//   - Only class IN is served; AXFR and IXFR are refused.
//   - A UDP answer larger than the client's limit loses its additional
//     section first; if it still does not fit it is sent with TC and no
//     records, and the client retries over TCP.
//   - Zone and ClusterDomain must not contain one another.
//
// dns imports miekg/dns, x/sys/unix and the standard library only; it must
// not import runtime, network, storage, daemon or cli.
package dns
