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

// serveUDP reads datagrams until shutdown, then drains the socket buffer.
// Each datagram is one message; a trailing newline is stripped.
func (s *Server) serveUDP(pc *net.UDPConn) {
	// One byte beyond the limit tells a datagram that was cut from one that
	// fits exactly.
	buf := make([]byte, min(s.cfg.MaxMessageSize+1, maxDatagram))
	b := s.newBatcher(InputUDP, "")
	var lastAddr netip.AddrPort
	var first time.Time
	for {
		// A partial batch waits up to BatchWait for more datagrams. Once
		// shutdown began, the reads drain what the socket buffer holds:
		// until a read finds nothing for udpDrainQuiet, or the drain ends.
		draining := s.closing.Load()
		var deadline time.Time
		if draining {
			deadline = s.drainDeadline(time.Now(), udpDrainQuiet)
		} else if len(b.msgs) > 0 {
			deadline = first.Add(s.cfg.BatchWait)
		}
		pc.SetReadDeadline(deadline)
		if !draining && s.closing.Load() {
			// Shutdown's wake-up may have come before our deadline.
			pc.SetReadDeadline(longAgo)
		}
		n, addr, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				if errors.Is(err, net.ErrClosed) {
					break
				}
				// ICMP-triggered errors and the like: keep serving.
				continue
			}
			if s.udpWake.Swap(false) || (!draining && s.closing.Load()) {
				continue // woken by the shutdown: drain
			}
			if draining {
				break // the buffer is empty, or the drain ended
			}
			b.flush(s.drainCtx) // the batch's wait ended
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
