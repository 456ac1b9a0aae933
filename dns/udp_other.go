//go:build !linux

package dns

import (
	"errors"
	"net"

	mdns "github.com/miekg/dns"
)

// serveUDP is one reader of a UDP socket. It answers from the snapshot in
// place, with buffers of its own, counts its answers in st, and hands
// forwarding to a goroutine.
func (s *Server) serveUDP(conn *net.UDPConn, st *queryStats) {
	buf := make([]byte, mdns.MaxMsgSize)
	out := make([]byte, 0, mdns.MaxMsgSize)
	for {
		n, addr, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. an ICMP error: next packet
		}
		resp, v, rcode := s.handle(buf[:n], addr.Addr().Unmap(), false, out[:0])
		switch v {
		case verdictReply:
			st.add(rcode)
			conn.WriteToUDPAddrPort(resp, addr)
		case verdictForward:
			s.forwardUDP(conn, append([]byte(nil), buf[:n]...), addr)
		}
	}
}
