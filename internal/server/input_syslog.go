package server

import (
	"context"

	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/ingest/syslog"
)

// The syslog input: UDP, TCP and TLS listeners (RFC 3164, 5424, 6587,
// 5425).
func init() {
	registerInput(streamInput{Name: "syslog", Open: func(ctx context.Context, s *Server, sink ingest.Sink) (inputHandle, error) {
		c := s.cfg.Syslog
		if c.UDP == "" && c.TCP == "" && c.TLS == "" {
			return nil, nil
		}
		sl, err := syslog.New(c, sink, s.Metrics, s.log)
		if err != nil {
			return nil, err
		}
		if err := sl.Start(ctx); err != nil {
			return nil, err
		}
		s.SyslogAddr.UDP, s.SyslogAddr.TCP, s.SyslogAddr.TLS = sl.UDPAddr(), sl.TCPAddr(), sl.TLSAddr()
		registerSyslogConnMetrics(s.Metrics.Registry, sl)
		return syslogHandle{sl}, nil
	}})
}

type syslogHandle struct{ sl *syslog.Server }

func (h syslogHandle) Shutdown(ctx context.Context) error {
	err := h.sl.Shutdown(ctx)
	h.sl.Wait() // the readers stop by the deadline either way
	return err
}
