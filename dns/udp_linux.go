package dns

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	mdns "github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// udpReader is one reader of a UDP socket on Linux. It receives and sends
// with raw recvfrom and sendto through the socket's RawConn: the socket is
// non-blocking, so each call is short, and skipping the runtime's syscall
// bookkeeping keeps the scheduler's monitor thread asleep between queries,
// which cuts the CPU a query costs at low rates by a third (one context
// switch a query instead of three, measured at 5000 qps). Waiting for a
// packet is still the netpoller's job (RawConn.Read), and nothing allocates.
type udpReader struct {
	buf, resp []byte
	n         int
	errno     syscall.Errno
	sa        unix.RawSockaddrAny
	salen     uint32
	recv      func(fd uintptr) bool
	send      func(fd uintptr) bool
}

func newUDPReader() *udpReader {
	r := &udpReader{buf: make([]byte, mdns.MaxMsgSize)}
	r.recv = func(fd uintptr) bool {
		r.salen = unix.SizeofSockaddrAny
		n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, fd,
			uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)), unix.MSG_DONTWAIT,
			uintptr(unsafe.Pointer(&r.sa)), uintptr(unsafe.Pointer(&r.salen)))
		if e == unix.EAGAIN {
			return false // wait in the netpoller
		}
		r.n, r.errno = int(n), e
		return true
	}
	r.send = func(fd uintptr) bool {
		// A full send buffer drops the answer, as a lost packet would.
		_, _, r.errno = unix.RawSyscall6(unix.SYS_SENDTO, fd,
			uintptr(unsafe.Pointer(&r.resp[0])), uintptr(len(r.resp)), unix.MSG_DONTWAIT,
			uintptr(unsafe.Pointer(&r.sa)), uintptr(r.salen))
		return true
	}
	return r
}

// from returns the sender of the packet last received.
func (r *udpReader) from() (netip.AddrPort, bool) {
	switch r.sa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port), true
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&r.sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port), true
	}
	return netip.AddrPort{}, false
}

// serveUDP is one reader of a UDP socket. It answers from the snapshot in
// place, with buffers of its own, counts its answers in st, and hands
// forwarding to a goroutine.
func (s *Server) serveUDP(conn *net.UDPConn, st *queryStats) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return
	}
	r := newUDPReader()
	out := make([]byte, 0, mdns.MaxMsgSize)
	for {
		if err := rc.Read(r.recv); err != nil {
			return // closed
		}
		if r.errno != 0 {
			continue // EINTR, or an ICMP error queued on the socket: next packet
		}
		addr, ok := r.from()
		if !ok {
			continue
		}
		query := r.buf[:r.n]
		resp, v, rcode := s.handle(query, addr.Addr(), false, out[:0])
		switch v {
		case verdictReply:
			st.add(rcode)
			r.resp = resp
			if err := rc.Write(r.send); err != nil {
				return
			}
		case verdictForward:
			s.forwardUDP(conn, append([]byte(nil), query...), addr)
		}
	}
}
