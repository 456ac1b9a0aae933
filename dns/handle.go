package dns

import (
	"encoding/binary"
	"net/netip"

	mdns "github.com/miekg/dns"
)

// verdict says what a listener does with a query after handle.
type verdict uint8

const (
	verdictReply   verdict = iota // send the response
	verdictDrop                   // send nothing
	verdictForward                // out of zone and allowed: forward
)

// Handle answers one raw query from a client at from, appending the
// response to out and returning it. The response fits the client's limit,
// taken from the query: 512 bytes, or its EDNS0 size if larger, or 65535
// when tcp. ok=false means send nothing: the packet is no query (too short
// for a header, or a response), or the name is out of zone and the client
// may have it forwarded: forwarding is done by the listeners of
// ListenAndServe and Serve, asynchronously, never by Handle. Handle answers
// from the current snapshot without locking, and without allocating when
// out has room for the response. It is safe for concurrent use and never
// panics, whatever the input.
func (s *Server) Handle(query []byte, from netip.Addr, tcp bool, out []byte) (resp []byte, ok bool) {
	resp, v, _ := s.handle(query, from, tcp, out)
	return resp, v == verdictReply
}

// handle is Handle with the reason for not replying and, for a reply, the
// response code to count it under (ResponseCounts): the header's, or
// rcodeBadVers, an extended code the header shows as 0. Counting is the
// caller's: the listeners count what they send.
func (s *Server) handle(msg []byte, from netip.Addr, tcp bool, out []byte) ([]byte, verdict, uint8) {
	var q question
	switch q.parse(msg) {
	case parseDrop:
		return out, verdictDrop, 0
	case parseFormErr:
		return appendHeader(out, q.id, s.flags(q.flags, mdns.RcodeFormatError), 0, 0, 0, 0), verdictReply, mdns.RcodeFormatError
	case parseNotImp:
		return appendHeader(out, q.id, s.flags(q.flags, mdns.RcodeNotImplemented), 0, 0, 0, 0), verdictReply, mdns.RcodeNotImplemented
	case parseUnpack:
		if !s.unpackEDNS(msg, &q) {
			return appendHeader(out, q.id, s.flags(q.flags, mdns.RcodeFormatError), 0, 0, 0, 0), verdictReply, mdns.RcodeFormatError
		}
	}
	if q.edns && q.ednsVersion > 0 {
		return s.write(out, msg, &q, tcp, 0, 0, 0, 0, nil, -1, s.badvers), verdictReply, rcodeBadVers
	}
	if q.qclass != classIN || q.qtype == mdns.TypeAXFR || q.qtype == mdns.TypeIXFR {
		return s.write(out, msg, &q, tcp, mdns.RcodeRefused, 0, 0, 0, nil, -1, s.opt), verdictReply, mdns.RcodeRefused
	}
	n := len(out)
	resp, v := s.answer(s.snap.Load(), msg, &q, from, tcp, out)
	if v != verdictReply {
		return resp, v, 0
	}
	return resp, v, resp[n+3] & 0x0F // NOERROR or NXDOMAIN, as answer wrote it
}

// unpackEDNS reads the EDNS0 OPT record of a query with more sections than
// the fast path takes, through a full unpack. It returns false when the
// message is malformed (FORMERR).
func (s *Server) unpackEDNS(msg []byte, q *question) bool {
	var m mdns.Msg
	if err := m.Unpack(msg); err != nil || len(m.Question) != 1 {
		return false
	}
	// miekg takes a message cut short as one that was truncated: a query
	// must hold every record its header counts.
	if len(m.Answer) != int(binary.BigEndian.Uint16(msg[6:])) ||
		len(m.Ns) != int(binary.BigEndian.Uint16(msg[8:])) ||
		len(m.Extra) != int(binary.BigEndian.Uint16(msg[10:])) {
		return false
	}
	var opt *mdns.OPT
	for _, rr := range m.Extra {
		if o, ok := rr.(*mdns.OPT); ok {
			if opt != nil || o.Hdr.Name != "." {
				return false // RFC 6891 6.1.1: more than one OPT is FORMERR
			}
			opt = o
		}
	}
	if opt != nil {
		q.edns = true
		q.udpSize = opt.UDPSize()
		q.ednsVersion = opt.Version()
	}
	return true
}

// answer answers q from snap.
func (s *Server) answer(snap *snapshot, msg []byte, q *question, from netip.Addr, tcp bool, out []byte) ([]byte, verdict) {
	n := snap.names[string(q.name[:q.qlen])]
	if n == nil {
		zi := q.zoneOf(&snap.zones)
		if zi < 0 {
			return s.outOfZone(msg, q, from, tcp, out)
		}
		return s.write(out, msg, q, tcp, flagAA|mdns.RcodeNameError, 0, 1, 0, snap.negSOA[zi], -1, s.opt), verdictReply
	}
	if n.kind == kindNX {
		return s.write(out, msg, q, tcp, flagAA|mdns.RcodeNameError, 0, 1, 0, snap.negSOA[n.zone], -1, s.opt), verdictReply
	}
	if p := n.find(q.qtype); p != nil {
		return s.write(out, msg, q, tcp, flagAA, p.an, p.ns, p.ar, p.body, p.arOff, s.opt), verdictReply
	}
	if n.zone == zoneReverse {
		return s.outOfZone(msg, q, from, tcp, out) // the reverse zones are not ours
	}
	return s.write(out, msg, q, tcp, flagAA, 0, 1, 0, snap.negSOA[n.zone], -1, s.opt), verdictReply
}

// outOfZone refuses q or says to forward it.
func (s *Server) outOfZone(msg []byte, q *question, from netip.Addr, tcp bool, out []byte) ([]byte, verdict) {
	if len(s.st.upstreams) == 0 || s.st.mayForward != nil && !s.st.mayForward(from) {
		return s.write(out, msg, q, tcp, mdns.RcodeRefused, 0, 0, 0, nil, -1, s.opt), verdictReply
	}
	return out, verdictForward
}

// flags returns the header flags of a response to a query with qflags:
// opcode, RD and CD copied, RA when forwarding is configured, plus extra
// (AA, TC, RCODE).
func (s *Server) flags(qflags, extra uint16) uint16 {
	f := flagQR | qflags&(maskOpcode|flagRD|flagCD) | extra
	if len(s.st.upstreams) > 0 {
		f |= flagRA
	}
	return f
}

// write appends a response to q: the header, the client's question, and
// body (the sections after the question with an, ns and ar records; the
// additional section starts at arOff), then opt if the query had EDNS0.
// When the response is larger than the client takes, the additional section
// is left out, or, if that is not enough, everything but the question and
// TC is set.
func (s *Server) write(out, msg []byte, q *question, tcp bool, extra, an, ns, ar uint16, body []byte, arOff int, opt []byte) []byte {
	if !q.edns {
		opt = nil
	}
	qsec := q.section(msg)
	limit := q.maxSize(tcp)
	base := headerLen + len(qsec) + len(opt)
	if base+len(body) > limit {
		if arOff >= 0 && base+arOff <= limit {
			body, ar = body[:arOff], 0
		} else {
			body, an, ns, ar = nil, 0, 0, 0
			extra |= flagTC
		}
	}
	if opt != nil {
		ar++
	}
	out = appendHeader(out, q.id, s.flags(q.flags, extra), 1, an, ns, ar)
	out = append(out, qsec...)
	out = append(out, body...)
	return append(out, opt...)
}
