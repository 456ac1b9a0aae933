package dns

import (
	"strconv"
	"sync/atomic"

	mdns "github.com/miekg/dns"
)

// rcodeBadVers is the counter index of BADVERS (extended RCODE 16), the
// one response code above the header's four bits the server sends itself.
const rcodeBadVers = mdns.RcodeBadVers

// cacheLine pads the counters away from the fields every query reads.
const cacheLine = 128 // two lines: adjacent-line prefetch pairs them

// queryStats counts the responses sent by RCODE: header codes 0-15, then
// BADVERS. Each UDP reader has one of its own, and it sits between padding,
// so that an add (one uncontended atomic instruction) never moves a cache
// line another CPU uses: not another reader's counters, not the fields of
// Server every query reads (the snapshot pointer, the settings).
type queryStats struct {
	_      [cacheLine]byte
	counts [rcodeBadVers + 1]atomic.Uint64
	_      [cacheLine]byte
}

// add counts one response with code rcode (at most rcodeBadVers).
func (st *queryStats) add(rcode uint8) { st.counts[rcode].Add(1) }

// addResponse counts a response by the RCODE in its header; a packet too
// short for one is not counted.
func (st *queryStats) addResponse(resp []byte) {
	if len(resp) >= headerLen {
		st.add(resp[3] & 0x0F)
	}
}

// ownRcodes are the response codes the server answers with itself: they
// are always reported, zeros included, so that a rate over them starts
// with the server.
var ownRcodes = [...]int{
	mdns.RcodeSuccess, mdns.RcodeFormatError, mdns.RcodeServerFailure, mdns.RcodeNameError,
	mdns.RcodeNotImplemented, mdns.RcodeRefused, mdns.RcodeBadVers,
}

// ResponseCount is how many responses carried one response code.
type ResponseCount struct {
	// Rcode is the response code; 16 is BADVERS, which EDNS0 extends
	// the header's four bits with.
	Rcode int
	// Name is its mnemonic: NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP,
	// REFUSED, BADVERS, ... or the number for a code without one.
	Name  string
	Count uint64
}

// ResponseCounts returns how many responses the listeners of
// ListenAndServe and Serve have sent since NewServer, by response code,
// lowest code first: answers from the records, forwarded answers (by the
// code in the upstream's header) and the SERVFAIL of a forward no upstream
// answered. A response is counted before it is sent. Queries dropped
// without a response are not counted, and neither are Handle's responses,
// which the caller sends. The codes the server uses itself are always
// listed, the others once counted.
//
// Counting costs an answer one atomic add on counters of its UDP reader's
// own (or, over TCP and for forwarded answers, the server's). ResponseCounts
// reads them without stopping the listeners, so the counts of different
// codes may be a few queries apart. It is safe for concurrent use.
func (s *Server) ResponseCounts() []ResponseCount {
	s.lmu.Lock()
	all := append([]*queryStats{&s.queries}, s.readerStats...)
	s.lmu.Unlock()
	out := make([]ResponseCount, 0, len(ownRcodes))
	own := 0
	for rcode := range s.queries.counts {
		var n uint64
		for _, st := range all {
			n += st.counts[rcode].Load()
		}
		isOwn := own < len(ownRcodes) && ownRcodes[own] == rcode
		if isOwn {
			own++
		}
		if n == 0 && !isOwn {
			continue
		}
		name, ok := mdns.RcodeToString[rcode]
		switch {
		case rcode == rcodeBadVers:
			name = "BADVERS" // miekg names 16 after TSIG's BADSIG
		case !ok:
			name = strconv.Itoa(rcode)
		}
		out = append(out, ResponseCount{Rcode: rcode, Name: name, Count: n})
	}
	return out
}
