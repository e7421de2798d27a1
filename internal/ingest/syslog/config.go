// Package syslog receives syslog messages over UDP, TCP and TLS (RFC 5426,
// RFC 6587, RFC 5425) and hands them to the pipeline in batches.
//
// Stream connections auto-detect octet counting ("LEN SP MSG") versus LF or
// NUL delimited framing, per frame. Messages longer than the maximum size
// are cut and marked Truncated. A full pipeline blocks Enqueue, which stops
// the connection's reads, so backpressure reaches the sender through TCP.
// Each message is FormatSyslog without its transport framing; decoding the
// syslog header is the pipeline's job.
//
// Shutdown drains: the listeners stop accepting, then every open
// connection is read until its peer closes it, it goes quiet, or the drain
// deadline passes, and UDP reads what its socket buffer holds, so that
// what senders already wrote is handed to the pipeline rather than lost in
// the socket buffers.
package syslog

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// Input names, as set on Raw.Input and used with ingest.Stats.
const (
	InputUDP = "syslog-udp"
	InputTCP = "syslog-tcp"
	InputTLS = "syslog-tls"
)

// Defaults for Config's zero values.
const (
	DefaultMaxMessageSize  = 64 << 10
	DefaultIdleTimeout     = 5 * time.Minute
	DefaultMaxConnections  = 1024
	DefaultMaxPerSource    = 64
	DefaultBatchSize       = 512
	DefaultBatchWait       = 5 * time.Millisecond
	DefaultUDPReadBuffer   = 8 << 20
	DefaultShutdownTimeout = 5 * time.Second
)

// Config configures the syslog listeners: the syslog section of the
// server's configuration (syslog: in YAML, VIGIL_SYSLOG_* in the
// environment, --syslog-udp and the other flags). An empty address
// disables that listener.
type Config struct {
	// UDP, TCP and TLS are listen addresses ("host:port").
	UDP string `koanf:"udp"`
	TCP string `koanf:"tcp"`
	TLS string `koanf:"tls"`
	// TLSCert and TLSKey are the PEM server certificate (chain) and key
	// (RFC 5425); required when TLS is set.
	TLSCert string `koanf:"tls_cert"`
	TLSKey  string `koanf:"tls_key"`
	// TLSClientCA, when set, requires clients to present a certificate
	// signed by one of the PEM CAs in the file (mutual TLS).
	TLSClientCA string `koanf:"tls_client_ca"`
	// MaxMessageSize is the largest message kept whole, in bytes; longer
	// ones are cut and marked Truncated. Default 64 KiB.
	MaxMessageSize int `koanf:"max_message_size"`
	// IdleTimeout closes a stream connection that sent nothing for this
	// long. Default 5 minutes.
	IdleTimeout time.Duration `koanf:"idle_timeout"`
	// MaxConnections bounds concurrent stream connections (TCP and TLS
	// together). Connections beyond it are accepted and closed at once.
	// Default 1024.
	MaxConnections int `koanf:"max_connections"`
	// MaxConnectionsPerSource bounds the concurrent stream connections
	// from one source (an IPv4 address or an IPv6 /64), so that one peer
	// cannot hold every slot of MaxConnections: its connections beyond it
	// are accepted and closed at once, and other sources are not affected.
	// Default 64.
	MaxConnectionsPerSource int `koanf:"max_connections_per_source"`
	// BatchSize is the most messages handed to the sink at once. Default 512.
	BatchSize int `koanf:"-"`
	// BatchWait is how long a partial batch waits for more messages before
	// it is handed to the sink. Default 5 ms.
	BatchWait time.Duration `koanf:"-"`
	// UDPReadBuffer is the SO_RCVBUF requested for the UDP socket (the
	// kernel may cap it at net.core.rmem_max). Default 8 MiB.
	UDPReadBuffer int `koanf:"-"`
	// ShutdownTimeout bounds the drain when the context passed to Start
	// is cancelled, or Shutdown is called with a context without deadline:
	// how long connections are still read and their messages handed to
	// the sink. Default 5 s.
	ShutdownTimeout time.Duration `koanf:"-"`
	// Tags are copied onto every message.
	Tags []string `koanf:"tags"`
}

// DefaultConfig returns the syslog section's defaults: UDP and TCP on
// 127.0.0.1:5514, no TLS.
func DefaultConfig() Config {
	c := Config{UDP: "127.0.0.1:5514", TCP: "127.0.0.1:5514"}
	c.setDefaults()
	c.BatchSize, c.BatchWait, c.UDPReadBuffer, c.ShutdownTimeout = 0, 0, 0, 0
	return c
}

func (c *Config) setDefaults() {
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.MaxConnectionsPerSource == 0 {
		c.MaxConnectionsPerSource = DefaultMaxPerSource
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BatchWait == 0 {
		c.BatchWait = DefaultBatchWait
	}
	if c.UDPReadBuffer == 0 {
		c.UDPReadBuffer = DefaultUDPReadBuffer
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
}

// maxMessageLimit bounds MaxMessageSize: a UDP datagram cannot be larger,
// and a stream buffer per connection of this size times MaxConnections must
// still fit in memory.
const maxMessageLimit = 16 << 20

// The least message size and idle timeout: below them a syslog header
// alone is cut, or a connection is closed between two packets of one
// message.
const (
	minMessageSize = 64
	minIdleTimeout = 100 * time.Millisecond
)

// Validate reports every problem of c, one error per key (zero values
// mean the defaults; no address at all is valid here: no listener).
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for _, l := range []struct{ key, addr string }{{"udp", c.UDP}, {"tcp", c.TCP}, {"tls", c.TLS}} {
		if l.addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(l.addr); err != nil {
			add("%s: %q is not host:port: %w", l.key, l.addr, err)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			add("%s: %q has an invalid port", l.key, l.addr)
		}
	}
	if c.TLS != "" {
		if c.TLSCert == "" || c.TLSKey == "" {
			add("tls: needs tls_cert and tls_key (--tls-cert, --tls-key)")
		}
		for _, f := range []struct{ key, path string }{{"tls_cert", c.TLSCert}, {"tls_key", c.TLSKey}, {"tls_client_ca", c.TLSClientCA}} {
			if f.path == "" {
				continue
			}
			if _, err := os.Stat(f.path); err != nil {
				add("%s: %w", f.key, err)
			}
		}
	}
	if c.MaxMessageSize < minMessageSize || c.MaxMessageSize > maxMessageLimit {
		add("max_message_size: %d is outside %d..%d", c.MaxMessageSize, minMessageSize, maxMessageLimit)
	}
	if c.IdleTimeout < minIdleTimeout {
		add("idle_timeout: %v is under %v", c.IdleTimeout, minIdleTimeout)
	}
	if c.MaxConnections < 1 {
		add("max_connections: %d must be at least 1", c.MaxConnections)
	}
	if c.MaxConnectionsPerSource < 1 {
		add("max_connections_per_source: %d must be at least 1", c.MaxConnectionsPerSource)
	}
	if c.BatchSize < 0 || c.BatchWait < 0 || c.UDPReadBuffer < 0 || c.ShutdownTimeout < 0 {
		add("batch size, batch wait, UDP read buffer and shutdown timeout must not be negative")
	}
	return errors.Join(errs...)
}
