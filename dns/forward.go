package dns

import (
	"context"
	"encoding/binary"
	"errors"

	mdns "github.com/miekg/dns"
)

// fwdClient holds the miekg clients forwarding uses, one per transport.
type fwdClient struct {
	udp, tcp *mdns.Client
}

func newFwdClient(st *settings) *fwdClient {
	return &fwdClient{
		udp: &mdns.Client{Net: "udp", Timeout: st.fwdTimeout},
		tcp: &mdns.Client{Net: "tcp", Timeout: st.fwdTimeout},
	}
}

// errMismatch is returned by exchange for a TCP answer to another query.
var errMismatch = errors.New("answer id does not match the query")

// forward sends query to the upstreams in order, each for ForwardTimeout,
// over TCP when tcp, and returns the first answer, relayed as the upstream
// wrote it with the client's ID (and truncated to the client's size over
// UDP if the upstream sent more). When every upstream fails it returns
// SERVFAIL; nil means ctx ended (the server is closing).
func (s *Server) forward(ctx context.Context, query []byte, tcp bool) []byte {
	var m mdns.Msg
	if err := m.Unpack(query); err != nil || len(m.Question) != 1 {
		return formatError(query)
	}
	id := m.Id
	maxSize := mdns.MaxMsgSize
	if !tcp {
		maxSize = mdns.MinMsgSize
		if opt := m.IsEdns0(); opt != nil && opt.UDPSize() > mdns.MinMsgSize {
			maxSize = int(opt.UDPSize())
		}
	}
	for _, up := range s.st.upstreams {
		m.Id = mdns.Id()
		resp, err := s.exchange(ctx, &m, up, tcp)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			s.st.logf("dns: forwarding %s %s to %s: %v", m.Question[0].Name, mdns.TypeToString[m.Question[0].Qtype], up, err)
			continue
		}
		binary.BigEndian.PutUint16(resp, id)
		if len(resp) > maxSize {
			resp = shrink(resp, maxSize)
		}
		return resp
	}
	m.Id = id
	return serverFailureMsg(&m)
}

// exchange sends m to the upstream up and returns its answer's bytes.
func (s *Server) exchange(ctx context.Context, m *mdns.Msg, up string, tcp bool) ([]byte, error) {
	c := s.client.udp
	if tcp {
		c = s.client.tcp
	}
	ctx, cancel := context.WithTimeout(ctx, s.st.fwdTimeout)
	defer cancel()
	co, err := c.DialContext(ctx, up)
	if err != nil {
		return nil, err
	}
	defer co.Close()
	// Close the connection when ctx ends, so that Close need not wait.
	stop := context.AfterFunc(ctx, func() { co.Close() })
	defer stop()
	deadline, _ := ctx.Deadline()
	co.SetDeadline(deadline)
	// Read whatever the upstream sends, even beyond what the query allows:
	// forward shrinks it to the client's size.
	co.UDPSize = mdns.MaxMsgSize
	if err := co.WriteMsg(m); err != nil {
		return nil, err
	}
	for {
		var h mdns.Header
		p, err := co.ReadMsgHeader(&h)
		if err != nil {
			return nil, err
		}
		switch {
		case h.Id == m.Id && len(p) >= headerLen:
			return p, nil
		case tcp:
			return nil, errMismatch
		}
		// Over UDP, a late answer to an earlier query: keep reading.
	}
}

// shrink truncates an answer to maxSize through miekg's Truncate; an
// answer it cannot parse becomes SERVFAIL.
func shrink(resp []byte, maxSize int) []byte {
	var r mdns.Msg
	if err := r.Unpack(resp); err != nil {
		return serverFailure(resp)
	}
	r.Truncate(maxSize)
	out, err := r.Pack()
	if err != nil {
		return serverFailure(resp)
	}
	return out
}

// serverFailure returns a SERVFAIL response to query.
func serverFailure(query []byte) []byte {
	var m mdns.Msg
	if err := m.Unpack(query); err != nil || len(m.Question) != 1 {
		return headerOnly(query, mdns.RcodeServerFailure)
	}
	return serverFailureMsg(&m)
}

// serverFailureMsg returns a SERVFAIL response to m, with an OPT if m has one.
func serverFailureMsg(m *mdns.Msg) []byte {
	r := new(mdns.Msg)
	r.SetRcode(m, mdns.RcodeServerFailure)
	r.RecursionAvailable = true
	if m.IsEdns0() != nil {
		r.SetEdns0(ednsSize, false)
	}
	out, err := r.Pack()
	if err != nil {
		return appendHeader(nil, m.Id, flagQR|flagRA|uint16(mdns.RcodeServerFailure), 0, 0, 0, 0)
	}
	return out
}

// formatError returns a header-only FORMERR response to query.
func formatError(query []byte) []byte {
	return headerOnly(query, mdns.RcodeFormatError)
}

// headerOnly returns a response made of a header only, answering the query
// whose first bytes are query, with rcode.
func headerOnly(query []byte, rcode int) []byte {
	var id, flags uint16
	if len(query) >= 4 {
		id = uint16(query[0])<<8 | uint16(query[1])
		flags = uint16(query[2])<<8 | uint16(query[3])
	}
	f := flagQR | flags&(maskOpcode|flagRD|flagCD) | flagRA | uint16(rcode)
	return appendHeader(nil, id, f, 0, 0, 0, 0)
}
