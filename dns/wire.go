package dns

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"
)

// Header flag bits and codes used on the fast path.
const (
	flagQR     = 1 << 15
	flagAA     = 1 << 10
	flagTC     = 1 << 9
	flagRD     = 1 << 8
	flagRA     = 1 << 7
	flagCD     = 1 << 4
	maskOpcode = 0xF << 11

	headerLen = 12
	maxName   = 255 // longest wire name, root label included
	typeOPT   = 41
	classIN   = 1
)

// parseResult says what to do with a packet after parse.
type parseResult uint8

const (
	parseOK      parseResult = iota // header, question and EDNS known
	parseUnpack                     // question known; other sections need a full unpack
	parseDrop                       // not a query we can answer: send nothing
	parseFormErr                    // header readable, question not: FORMERR
	parseNotImp                     // opcode other than QUERY: NOTIMP
)

// question is a query's header fields and question, parsed in place. It
// lives on the stack of the goroutine answering.
type question struct {
	id, flags     uint16
	qlen          int // wire length of the name, root label included
	qtype, qclass uint16
	name          [maxName]byte // lower-case wire name; name[:qlen]
	labels        [maxName / 2]uint8
	nlabels       int
	edns          bool
	udpSize       uint16
	ednsVersion   uint8
}

// section returns the question section of msg as the client wrote it.
func (q *question) section(msg []byte) []byte {
	return msg[headerLen : headerLen+q.qlen+4]
}

// maxSize is the largest response the client takes.
func (q *question) maxSize(tcp bool) int {
	if tcp {
		return mdns.MaxMsgSize
	}
	if q.edns && q.udpSize > mdns.MinMsgSize {
		return int(q.udpSize)
	}
	return mdns.MinMsgSize
}

// parse reads the header, the question and a lone OPT record of msg without
// allocating.
func (q *question) parse(msg []byte) parseResult {
	if len(msg) < headerLen {
		return parseDrop
	}
	q.id = binary.BigEndian.Uint16(msg)
	q.flags = binary.BigEndian.Uint16(msg[2:])
	if q.flags&flagQR != 0 {
		return parseDrop
	}
	if q.flags&maskOpcode != 0 {
		return parseNotImp
	}
	qd := binary.BigEndian.Uint16(msg[4:])
	an := binary.BigEndian.Uint16(msg[6:])
	ns := binary.BigEndian.Uint16(msg[8:])
	ar := binary.BigEndian.Uint16(msg[10:])
	if qd != 1 {
		return parseFormErr
	}
	off, n := headerLen, 0
	for {
		if off >= len(msg) {
			return parseFormErr
		}
		l := int(msg[off])
		if l == 0 {
			q.name[n] = 0
			n++
			off++
			break
		}
		// l > 63 is a compression pointer or a reserved label type: a
		// question name has nothing before it to point at.
		if l > 63 || n+1+l+1 > maxName || off+1+l > len(msg) {
			return parseFormErr
		}
		q.labels[q.nlabels] = uint8(n)
		q.nlabels++
		q.name[n] = byte(l)
		for i, c := range msg[off+1 : off+1+l] {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			q.name[n+1+i] = c
		}
		n += 1 + l
		off += 1 + l
	}
	q.qlen = n
	if off+4 > len(msg) {
		return parseFormErr
	}
	q.qtype = binary.BigEndian.Uint16(msg[off:])
	q.qclass = binary.BigEndian.Uint16(msg[off+2:])
	off += 4
	if an != 0 || ns != 0 || ar > 1 {
		return parseUnpack
	}
	if ar == 0 {
		return parseOK
	}
	// The one additional record must be an OPT with a root owner.
	rr := msg[off:]
	if len(rr) < 11 || rr[0] != 0 || binary.BigEndian.Uint16(rr[1:]) != typeOPT {
		return parseUnpack
	}
	if 11+int(binary.BigEndian.Uint16(rr[9:])) > len(rr) {
		return parseUnpack
	}
	q.edns = true
	q.udpSize = binary.BigEndian.Uint16(rr[3:])
	q.ednsVersion = rr[6]
	return parseOK
}

// zoneOf returns the index of the zone (in zones) the question's name lies
// in, or -1.
func (q *question) zoneOf(zones *[2]string) int {
	for zi, z := range zones {
		start := q.qlen - len(z)
		if start < 0 || string(q.name[start:q.qlen]) != z {
			continue
		}
		if start == 0 {
			return zi
		}
		for _, l := range q.labels[:q.nlabels] {
			if int(l) == start {
				return zi
			}
		}
	}
	return -1
}

// appendHeader appends a DNS header.
func appendHeader(out []byte, id, flags, qd, an, ns, ar uint16) []byte {
	return append(out,
		byte(id>>8), byte(id), byte(flags>>8), byte(flags),
		byte(qd>>8), byte(qd), byte(an>>8), byte(an),
		byte(ns>>8), byte(ns), byte(ar>>8), byte(ar))
}

// validLabel reports whether s is a DNS label setlet serves: 1-63 bytes of
// lower-case letters, digits and '-' (and '_', for SRV labels).
func validLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// wireName returns the wire form of the name made of labels (root added),
// and false if a label is invalid or the name too long.
func wireName(labels ...string) (string, bool) {
	n := 1
	for _, l := range labels {
		if !validLabel(l) {
			return "", false
		}
		n += 1 + len(l)
	}
	if n > maxName {
		return "", false
	}
	var b strings.Builder
	b.Grow(n)
	for _, l := range labels {
		b.WriteByte(byte(len(l)))
		b.WriteString(l)
	}
	b.WriteByte(0)
	return b.String(), true
}

// label returns the wire form of one valid label (no root).
func label(l string) string {
	return string([]byte{byte(len(l))}) + l
}

// wireToText returns the presentation form of a wire name, with the
// trailing dot ("web-0.nginx.set.local."). Labels hold no bytes that need
// escaping (validLabel, or decimal and hex digits in reverse names).
func wireToText(w string) string {
	var b strings.Builder
	b.Grow(len(w))
	for i := 0; i < len(w) && w[i] != 0; {
		l := int(w[i])
		b.WriteString(w[i+1 : i+1+l])
		b.WriteByte('.')
		i += 1 + l
	}
	if b.Len() == 0 {
		return "."
	}
	return b.String()
}

// reverseName returns the wire form of the in-addr.arpa or ip6.arpa name
// of a.
func reverseName(a netip.Addr) string {
	ip := a.AsSlice()
	var b []byte
	if a.Is4() {
		b = make([]byte, 0, 4*4+14)
		for i := 3; i >= 0; i-- {
			s := strconv.Itoa(int(ip[i]))
			b = append(b, byte(len(s)))
			b = append(b, s...)
		}
		b = append(b, "\x07in-addr\x04arpa\x00"...)
		return string(b)
	}
	const hex = "0123456789abcdef"
	b = make([]byte, 0, 64+10)
	for i := len(ip) - 1; i >= 0; i-- {
		b = append(b, 1, hex[ip[i]&0xF], 1, hex[ip[i]>>4])
	}
	b = append(b, "\x03ip6\x04arpa\x00"...)
	return string(b)
}
