package dns

import (
	"fmt"

	mdns "github.com/miekg/dns"
)

// Values of the SOA of both zones; the negative TTL is the record TTL.
const (
	soaRefresh = 7200
	soaRetry   = 1800
	soaExpire  = 86400
)

// ednsSize is the UDP payload size setlet advertises (the 2020 DNS flag day
// value, safe from fragmentation).
const ednsSize = 1232

// packNode packs the answers of e.
func packNode(e *entry, ttl uint32) (*node, error) {
	n := &node{kind: e.kind, zone: e.zone, e: e}
	if e.kind != kindRecords {
		return n, nil
	}
	name := wireToText(e.name)
	hdr := func(t uint16) mdns.RR_Header {
		return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: ttl}
	}
	switch e.typ {
	case mdns.TypeA:
		var a, aaaa []mdns.RR
		for _, rd := range e.rd {
			if rd.addr.Is4() {
				a = append(a, &mdns.A{Hdr: hdr(mdns.TypeA), A: rd.addr.AsSlice()})
			} else {
				aaaa = append(aaaa, &mdns.AAAA{Hdr: hdr(mdns.TypeAAAA), AAAA: rd.addr.AsSlice()})
			}
		}
		for _, set := range []struct {
			t   uint16
			rrs []mdns.RR
		}{{mdns.TypeA, a}, {mdns.TypeAAAA, aaaa}} {
			if len(set.rrs) == 0 {
				continue
			}
			p, err := packSet(name, len(e.name), set.t, set.rrs, nil)
			if err != nil {
				return nil, err
			}
			n.sets = append(n.sets, p)
		}
	case mdns.TypeSRV:
		w := srvWeight(len(e.rd))
		var srv, extra []mdns.RR
		for _, rd := range e.rd {
			target := wireToText(rd.target)
			srv = append(srv, &mdns.SRV{Hdr: hdr(mdns.TypeSRV), Priority: 0, Weight: w, Port: rd.port, Target: target})
			th := mdns.RR_Header{Name: target, Class: mdns.ClassINET, Ttl: ttl}
			if rd.addr.Is4() {
				th.Rrtype = mdns.TypeA
				extra = append(extra, &mdns.A{Hdr: th, A: rd.addr.AsSlice()})
			} else {
				th.Rrtype = mdns.TypeAAAA
				extra = append(extra, &mdns.AAAA{Hdr: th, AAAA: rd.addr.AsSlice()})
			}
		}
		p, err := packSet(name, len(e.name), mdns.TypeSRV, srv, extra)
		if err != nil {
			return nil, err
		}
		n.sets = append(n.sets, p)
	case mdns.TypePTR:
		var ptr []mdns.RR
		for _, rd := range e.rd {
			ptr = append(ptr, &mdns.PTR{Hdr: hdr(mdns.TypePTR), Ptr: wireToText(rd.target)})
		}
		p, err := packSet(name, len(e.name), mdns.TypePTR, ptr, nil)
		if err != nil {
			return nil, err
		}
		n.sets = append(n.sets, p)
	default:
		return nil, fmt.Errorf("unknown record type %d", e.typ)
	}
	return n, nil
}

// srvWeight is the weight of each of n SRV records of one name, as CoreDNS
// gives it: 100/n.
func srvWeight(n int) uint16 {
	if n == 0 {
		return 0
	}
	return uint16(100 / n)
}

// packSet packs a response to the question (qname, qtype) with the given
// answer and additional records, compressed, and keeps what follows the
// question. wireLen is the wire length of qname.
func packSet(qname string, wireLen int, qtype uint16, answer, extra []mdns.RR) (packed, error) {
	m := &mdns.Msg{Compress: true, Question: []mdns.Question{{Name: qname, Qtype: qtype, Qclass: mdns.ClassINET}}}
	m.Answer = answer
	buf, err := m.Pack()
	if err != nil {
		return packed{}, err
	}
	qEnd := headerLen + wireLen + 4
	p := packed{qtype: qtype, an: uint16(len(answer)), ar: uint16(len(extra)), arOff: -1}
	if len(extra) > 0 {
		p.arOff = len(buf) - qEnd
		m.Extra = extra
		if buf, err = m.Pack(); err != nil {
			return packed{}, err
		}
	}
	if len(buf) < qEnd {
		return packed{}, fmt.Errorf("packed message shorter than its question")
	}
	p.body = append([]byte(nil), buf[qEnd:]...)
	return p, nil
}

// packApex returns the apex node of zone (wire form), answering SOA and NS,
// and the uncompressed SOA record that negative answers carry.
func packApex(zone string, ttl, serial uint32) (*node, []byte, error) {
	name := wireToText(zone)
	soa := &mdns.SOA{
		Hdr:     mdns.RR_Header{Name: name, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: ttl},
		Ns:      "ns.dns." + name,
		Mbox:    "hostmaster." + name,
		Serial:  serial,
		Refresh: soaRefresh,
		Retry:   soaRetry,
		Expire:  soaExpire,
		Minttl:  ttl,
	}
	ns := &mdns.NS{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeNS, Class: mdns.ClassINET, Ttl: ttl}, Ns: "ns.dns." + name}
	n := &node{kind: kindApex}
	for _, rr := range []mdns.RR{soa, ns} {
		p, err := packSet(name, len(zone), rr.Header().Rrtype, []mdns.RR{rr}, nil)
		if err != nil {
			return nil, nil, err
		}
		n.sets = append(n.sets, p)
	}
	neg := make([]byte, mdns.Len(soa))
	off, err := mdns.PackRR(soa, neg, 0, nil, false)
	if err != nil {
		return nil, nil, err
	}
	return n, neg[:off], nil
}

// optRecord returns the packed OPT record of our responses: UDP size 1232,
// version 0, no flags, and the given extended RCODE (0, or RcodeBadVers).
func optRecord(rcode int) []byte {
	opt := &mdns.OPT{Hdr: mdns.RR_Header{Name: ".", Rrtype: mdns.TypeOPT}}
	opt.SetUDPSize(ednsSize)
	opt.SetExtendedRcode(uint16(rcode))
	buf := make([]byte, mdns.Len(opt))
	off, err := mdns.PackRR(opt, buf, 0, nil, false)
	if err != nil {
		panic("dns: packing the OPT record: " + err.Error()) // constant input: cannot happen
	}
	return buf[:off]
}
