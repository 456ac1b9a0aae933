package dns

import (
	"net/netip"
	"slices"

	mdns "github.com/miekg/dns"
)

// Zone indexes of snapshot.zones; reverse names have zone -1.
const (
	zoneSet     = 0 // Config.Zone
	zoneCluster = 1 // Config.ClusterDomain
	zoneReverse = -1
)

// nodeKind says how a name answers.
type nodeKind uint8

const (
	kindRecords nodeKind = iota // holds records: answer the matching type, NODATA otherwise
	kindENT                     // empty non-terminal: NODATA
	kindNX                      // a service name with nothing published: NXDOMAIN
	kindApex                    // a zone apex: SOA and NS
)

// rdata is one record's data.
type rdata struct {
	addr   netip.Addr // A or AAAA; an SRV target's address
	target string     // SRV or PTR target, wire form
	port   uint16     // SRV
	pod    string     // "ns/name" of the pod the record points at
}

// entry is the logical content of one name; a node packs it.
type entry struct {
	name    string // lower-case wire form
	zone    int8
	kind    nodeKind
	typ     uint16 // mdns.TypeA (A and AAAA), TypeSRV or TypePTR
	service string // "ns/name" for a service's names
	rd      []rdata
}

func (e *entry) equal(o *entry) bool {
	return e.name == o.name && e.zone == o.zone && e.kind == o.kind && e.typ == o.typ &&
		e.service == o.service && slices.Equal(e.rd, o.rd)
}

// packed is one precomputed answer: the sections after the question of a
// response to the lower-case question.
type packed struct {
	qtype      uint16
	an, ns, ar uint16
	arOff      int // offset of the additional section in body, -1 if ar == 0
	body       []byte
}

// node is what a name answers. Nodes are immutable once published.
type node struct {
	kind nodeKind
	zone int8
	sets []packed // one per type (A, AAAA, ...); sets[0] answers ANY
	e    *entry   // nil for apexes
}

// find returns the precomputed answer for qtype, or nil.
func (n *node) find(qtype uint16) *packed {
	for i := range n.sets {
		if n.sets[i].qtype == qtype {
			return &n.sets[i]
		}
	}
	if qtype == mdns.TypeANY && len(n.sets) > 0 {
		return &n.sets[0]
	}
	return nil
}

// reuse returns old if it packs the same entry as e, else e packed.
func reuse(old *node, e *entry, ttl uint32) (*node, error) {
	if old != nil && old.e != nil && old.e.equal(e) {
		return old, nil
	}
	return packNode(e, ttl)
}

// snapshot is an immutable view of every answer; queries read it through
// an atomic pointer and never lock.
type snapshot struct {
	names  map[string]*node // by lower-case wire name
	zones  [2]string        // wire names of Z and C
	negSOA [2][]byte        // uncompressed SOA record of each zone, for negative answers
}
