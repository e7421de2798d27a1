package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/clientip"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/connlimit"
	"github.com/vigilsec/vigil/internal/ingest/syslog"
	"github.com/vigilsec/vigil/internal/store"
)

// httpListener is the HTTP server and its limited listener.
type httpListener struct {
	srv *http.Server
	ln  *connlimit.Listener
	lim *connlimit.Limiter
	tls bool
}

// newHTTPListener wraps ln (a bound TCP listener) for the HTTP server: a
// connection cap in total and per source (trusted proxies, which carry
// many clients, only count towards the total), a per-write timeout, and
// the server's read, header and idle timeouts. With a certificate
// configured it serves HTTPS only. The certificate is loaded here, so that
// a bad one stops the start rather than the first handshake.
func newHTTPListener(ln net.Listener, all config.Config, h http.Handler, m prometheus.Registerer, log *slog.Logger) (*httpListener, error) {
	cfg := all.HTTPServer
	var proxies []netip.Prefix
	for _, s := range all.TrustProxy {
		p, err := clientip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trust_proxy: %w", err)
		}
		proxies = append(proxies, p)
	}
	lim := connlimit.New(connlimit.Limits{Max: cfg.MaxConnections, PerSource: cfg.MaxConnectionsPerSource, Shared: proxies})
	cl := connlimit.NewListener(ln, lim)
	// Not http.Server.WriteTimeout: that bounds a whole response, and a
	// large search export may rightly take longer; what must not happen
	// is a client that stops reading holding its connection for ever.
	cl.WriteTimeout = cfg.WriteTimeout
	cl.OnRefuse = func(addr net.Addr, reason error) {
		log.Debug("http: connection refused", "peer", addr.String(), "reason", reason)
	}
	hl := &httpListener{ln: cl, lim: lim, srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		// Every request is read within ReadTimeout, body included; the
		// ingest handlers, whose bodies are large, set their own body
		// deadline (ingest.read_timeout) with http.ResponseController.
		ReadTimeout:    cfg.ReadTimeout,
		IdleTimeout:    cfg.IdleTimeout,
		MaxHeaderBytes: int(cfg.MaxHeaderBytes),
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("https: loading certificate %q and key %q: %w", cfg.TLSCert, cfg.TLSKey, err)
		}
		hl.srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		hl.tls = true
	}
	if m != nil {
		registerConnMetrics(m, "http", lim.Open, lim.Refused)
	}
	return hl, nil
}

// serve serves until the server is shut down (http.ErrServerClosed) or
// fails.
func (hl *httpListener) serve() error {
	if hl.tls {
		// ServeTLS sets up HTTP/2 beside HTTP/1.1; the certificate is
		// already in TLSConfig.
		return hl.srv.ServeTLS(hl.ln, "", "")
	}
	return hl.srv.Serve(hl.ln)
}

// connHelp is the help of vigil_connections_refused_total.
const connHelp = "Connections closed at once because a connection cap was reached (total, or per source address), by listener."

// registerConnMetrics exports a listener's connection counters: open is
// the connections held now, refused the connections refused with
// connlimit.ErrTotal or connlimit.ErrPerSource.
func registerConnMetrics(m prometheus.Registerer, listener string, open func() int, refused func(error) uint64) {
	m.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vigil_connections_open", Help: "Connections held now, by listener.", ConstLabels: prometheus.Labels{"listener": listener},
	}, func() float64 { return float64(open()) }))
	for reason, err := range map[string]error{"total": connlimit.ErrTotal, "per_source": connlimit.ErrPerSource} {
		m.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "vigil_connections_refused_total", Help: connHelp,
			ConstLabels: prometheus.Labels{"listener": listener, "reason": reason},
		}, func() float64 { return float64(refused(err)) }))
	}
}

// registerSyslogConnMetrics exports the syslog stream listeners'
// connection counters.
func registerSyslogConnMetrics(m prometheus.Registerer, sl *syslog.Server) {
	const listener = "syslog"
	registerConnMetrics(m, listener, sl.Connections, func(err error) uint64 {
		if errors.Is(err, connlimit.ErrPerSource) {
			return sl.ConnStats().RefusedPerSource
		}
		return sl.ConnStats().RefusedTotal
	})
	m.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "vigil_connections_idle_closed_total", Help: "Stream connections closed after the idle timeout without data, by listener.",
		ConstLabels: prometheus.Labels{"listener": listener},
	}, func() float64 { return float64(sl.ConnStats().IdleClosed) }))
}

// storeHealth is readiness's view of the event store: degraded while its
// appends fail (a full disk), with a reason fit for any client. Search
// keeps working meanwhile; /healthz (liveness) is not affected.
func (s *Server) storeHealth() error {
	err := s.Pipeline.StoreError()
	if err == nil {
		return nil
	}
	reason := store.Public(err)
	if !errors.Is(err, store.ErrDiskFull) {
		reason = "event store cannot write: " + reason
	}
	return &api.DegradedError{Reason: reason}
}
