package syslog

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"time"
)

// maxDatagram is the largest UDP payload over IPv4 or IPv6 without jumbograms.
const maxDatagram = 65535

// serveUDP reads datagrams until shutdown. Each datagram is one message; a
// trailing newline is stripped.
func (s *Server) serveUDP(pc *net.UDPConn) {
	// One byte beyond the limit tells a datagram that was cut from one that
	// fits exactly.
	buf := make([]byte, min(s.cfg.MaxMessageSize+1, maxDatagram))
	b := s.newBatcher(InputUDP, "")
	var lastAddr netip.AddrPort
	var first time.Time
	for {
		if s.closing.Load() {
			break
		}
		if len(b.msgs) > 0 {
			pc.SetReadDeadline(first.Add(s.cfg.BatchWait))
		} else {
			pc.SetReadDeadline(time.Time{})
		}
		if s.closing.Load() {
			break
		}
		n, addr, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && !s.closing.Load() {
				if b.flush(s.drainCtx) != nil && s.drainCtx.Err() != nil {
					return
				}
				continue
			}
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				break
			}
			// ICMP-triggered errors and the like: keep serving.
			continue
		}
		data := buf[:n]
		truncated := n > s.cfg.MaxMessageSize
		if truncated {
			data = data[:s.cfg.MaxMessageSize]
			s.stats.Rejected(InputUDP, "truncated", 1)
		} else {
			data = trimEOL(data)
		}
		if len(data) == 0 {
			continue
		}
		if addr != lastAddr || b.peer == "" {
			lastAddr = addr
			b.peer = addr.String()
		}
		if len(b.msgs) == 0 {
			first = time.Now()
		}
		// Peer is per message for UDP: set it on the Raw just added.
		b.add(data, truncated)
		b.msgs[len(b.msgs)-1].Peer = b.peer
		if len(b.msgs) >= s.cfg.BatchSize {
			b.flush(s.drainCtx)
		}
	}
	b.flush(s.drainCtx)
}
