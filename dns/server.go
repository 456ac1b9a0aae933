package dns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
)

// Limits of the listeners.
const (
	maxForwards    = 100              // concurrent forwarded queries; SERVFAIL beyond
	maxTCPConns    = 256              // concurrent TCP connections; more are closed at once
	tcpIdleTimeout = 10 * time.Second // a TCP connection may wait this long for its next query
	tcpReadTimeout = 2 * time.Second  // and this long for the rest of a query it started
	writeTimeout   = 2 * time.Second
)

// Server is setlet's DNS server: a record table and the listeners serving
// it. Its methods are safe for concurrent use.
type Server struct {
	st      settings
	opt     []byte // OPT record of responses to EDNS0 queries
	badvers []byte // OPT record of a BADVERS response

	snap atomic.Pointer[snapshot]

	mu    sync.Mutex // serializes writers
	table *table     // guarded by mu

	forwards chan struct{} // one token per forward in flight
	client   *fwdClient
	tcpBufs  sync.Pool // of *tcpBuffers

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	lmu       sync.Mutex // guards the fields below
	closed    bool
	listeners []io.Closer
	conns     map[net.Conn]net.Listener // open TCP connections, with the listener that accepted them
	addrs     []netip.AddrPort
	// readerStats count the answers of each UDP reader, queries the other
	// responses sent (TCP, forwarded), by RCODE, for ResponseCounts.
	readerStats []*queryStats
	queries     queryStats
}

// NewServer returns a Server serving no records yet; it listens nowhere
// until ListenAndServe or Serve.
func NewServer(cfg Config) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		st:       newSettings(cfg),
		opt:      optRecord(mdns.RcodeSuccess),
		badvers:  optRecord(mdns.RcodeBadVers),
		forwards: make(chan struct{}, maxForwards),
		ctx:      ctx,
		cancel:   cancel,
		conns:    make(map[net.Conn]net.Listener),
		tcpBufs:  sync.Pool{New: newTCPBuffers},
	}
	s.client = newFwdClient(&s.st)
	s.table = newTable(&s.st)
	s.snap.Store(s.table.publish())
	return s
}

// errClosed is returned by ListenAndServe and Serve after Close.
var errClosed = fmt.Errorf("dns server: %w", net.ErrClosed)

// ListenAndServe listens on addr ("ip:port") over UDP and TCP, with
// IP_FREEBIND so that an address not yet configured (the bridge gateway)
// can be bound, and serves until ctx ends or Close. It returns once both
// listeners are bound; serving goes on in goroutines. With port 0, TCP
// gets the port UDP got; Addrs tells which.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	lc := net.ListenConfig{Control: freebind}
	var err error
	// With port 0, the port UDP got may be taken for TCP: try a few.
	for range 5 {
		var pc net.PacketConn
		pc, err = lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return fmt.Errorf("listening on udp %s: %w", addr, err)
		}
		udp := pc.(*net.UDPConn)
		bound := udp.LocalAddr().(*net.UDPAddr).AddrPort().String()
		var l net.Listener
		l, err = lc.Listen(ctx, "tcp", bound)
		if err == nil {
			return s.Serve(ctx, udp, l)
		}
		udp.Close()
		err = fmt.Errorf("listening on tcp %s: %w", bound, err)
		if _, port, _ := net.SplitHostPort(addr); port != "0" || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return err
}

// Serve serves on listeners the caller opened (either may be nil) until ctx
// ends or Close, which close them and the connections they accepted. It
// returns at once; serving goes on in goroutines.
func (s *Server) Serve(ctx context.Context, udp *net.UDPConn, tcp net.Listener) error {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if s.closed {
		if udp != nil {
			udp.Close()
		}
		if tcp != nil {
			tcp.Close()
		}
		return errClosed
	}
	var mine []io.Closer
	switch {
	case udp != nil:
		s.addrs = append(s.addrs, udp.LocalAddr().(*net.UDPAddr).AddrPort())
	case tcp != nil:
		if ta, ok := tcp.Addr().(*net.TCPAddr); ok {
			s.addrs = append(s.addrs, ta.AddrPort())
		}
	}
	if udp != nil {
		mine = append(mine, udp)
		for range min(runtime.GOMAXPROCS(0), 4) {
			st := new(queryStats) // the reader's own: no cache line shared
			s.readerStats = append(s.readerStats, st)
			s.wg.Go(func() { s.serveUDP(udp, st) })
		}
	}
	if tcp != nil {
		mine = append(mine, tcp)
		s.wg.Go(func() { s.serveTCP(tcp) })
	}
	s.listeners = append(s.listeners, mine...)
	s.wg.Go(func() {
		select {
		case <-ctx.Done():
		case <-s.ctx.Done():
		}
		s.lmu.Lock()
		defer s.lmu.Unlock()
		for _, c := range mine {
			c.Close()
		}
		for c, l := range s.conns {
			if l == tcp {
				c.Close()
			}
		}
	})
	return nil
}

// Addrs returns the address of each listener pair served, in the order
// ListenAndServe or Serve was called (for tests that listen on port 0).
func (s *Server) Addrs() []netip.AddrPort {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	return append([]netip.AddrPort(nil), s.addrs...)
}

// Close stops every listener, ends TCP connections and forwards in flight,
// and waits for all goroutines. It is idempotent.
func (s *Server) Close() error {
	s.lmu.Lock()
	s.closed = true
	s.cancel()
	for _, l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.lmu.Unlock()
	s.wg.Wait()
	return nil
}

// forwardUDP forwards query in a goroutine and sends the answer to addr;
// beyond maxForwards in flight it answers SERVFAIL at once.
func (s *Server) forwardUDP(conn *net.UDPConn, query []byte, addr netip.AddrPort) {
	select {
	case s.forwards <- struct{}{}:
	default:
		s.queries.add(mdns.RcodeServerFailure)
		conn.WriteToUDPAddrPort(serverFailure(query), addr)
		return
	}
	s.wg.Go(func() {
		defer func() { <-s.forwards }()
		if resp := s.forward(s.ctx, query, false); resp != nil {
			s.queries.addResponse(resp)
			conn.WriteToUDPAddrPort(resp, addr)
		}
	})
}

// serveTCP accepts connections until l is closed.
func (s *Server) serveTCP(l net.Listener) {
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off a little.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(delay):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		s.lmu.Lock()
		if s.closed || len(s.conns) >= maxTCPConns {
			s.lmu.Unlock()
			c.Close()
			continue
		}
		s.conns[c] = l
		s.lmu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.lmu.Lock()
				delete(s.conns, c)
				s.lmu.Unlock()
				c.Close()
			}()
			s.serveConn(c)
		})
	}
}

// tcpBuffers are the buffers of one TCP connection, pooled in Server.tcpBufs.
type tcpBuffers struct{ in, out []byte }

func newTCPBuffers() any {
	return &tcpBuffers{in: make([]byte, mdns.MaxMsgSize), out: make([]byte, 0, 2+mdns.MaxMsgSize)}
}

// serveConn answers the queries of one TCP connection, in order, until the
// client closes it, stays idle for tcpIdleTimeout, or sends garbage.
func (s *Server) serveConn(c net.Conn) {
	var from netip.Addr
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		from = ta.AddrPort().Addr().Unmap()
	}
	bufs := s.tcpBufs.Get().(*tcpBuffers)
	defer s.tcpBufs.Put(bufs)
	var lenBuf [2]byte
	for {
		c.SetReadDeadline(time.Now().Add(tcpIdleTimeout))
		if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
			return
		}
		n := int(lenBuf[0])<<8 | int(lenBuf[1])
		c.SetReadDeadline(time.Now().Add(tcpReadTimeout))
		if _, err := io.ReadFull(c, bufs.in[:n]); err != nil {
			return
		}
		query := bufs.in[:n]
		resp, v, rcode := s.handle(query, from, true, bufs.out[:2])
		switch v {
		case verdictReply:
			s.queries.add(rcode)
		case verdictDrop:
			return
		case verdictForward:
			resp = s.forwardTCP(query, bufs.out[:2])
			if resp == nil {
				return
			}
		}
		l := len(resp) - 2
		resp[0], resp[1] = byte(l>>8), byte(l)
		c.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// forwardTCP forwards query over TCP in the connection's goroutine and
// appends the answer to out; nil means the server is closing.
func (s *Server) forwardTCP(query, out []byte) []byte {
	select {
	case s.forwards <- struct{}{}:
	default:
		s.queries.add(mdns.RcodeServerFailure)
		return append(out, serverFailure(query)...)
	}
	defer func() { <-s.forwards }()
	resp := s.forward(s.ctx, query, true)
	if resp == nil {
		return nil
	}
	s.queries.addResponse(resp)
	return append(out, resp...)
}
