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

// Config configures the syslog listeners. An empty address disables that
// listener.
type Config struct {
	// UDPAddr, TCPAddr and TLSAddr are listen addresses ("host:port").
	UDPAddr string
	TCPAddr string
	TLSAddr string
	// TLSCertFile and TLSKeyFile are the PEM server certificate (chain) and
	// key; required when TLSAddr is set.
	TLSCertFile string
	TLSKeyFile  string
	// TLSClientCAFile, when set, requires clients to present a certificate
	// signed by one of the PEM CAs in the file (mutual TLS).
	TLSClientCAFile string
	// MaxMessageSize is the largest message kept whole, in bytes; longer
	// ones are cut and marked Truncated. Default 64 KiB.
	MaxMessageSize int
	// IdleTimeout closes a stream connection that sent nothing for this
	// long. Default 5 minutes.
	IdleTimeout time.Duration
	// MaxConnections bounds concurrent stream connections (TCP and TLS
	// together). Connections beyond it are accepted and closed at once.
	// Default 1024.
	MaxConnections int
	// MaxConnectionsPerSource bounds the concurrent stream connections
	// from one source (an IPv4 address or an IPv6 /64), so that one peer
	// cannot hold every slot of MaxConnections: its connections beyond it
	// are accepted and closed at once, and other sources are not affected.
	// Default 64.
	MaxConnectionsPerSource int
	// BatchSize is the most messages handed to the sink at once. Default 512.
	BatchSize int
	// BatchWait is how long a partial batch waits for more messages before
	// it is handed to the sink. Default 5 ms.
	BatchWait time.Duration
	// UDPReadBuffer is the SO_RCVBUF requested for the UDP socket (the
	// kernel may cap it at net.core.rmem_max). Default 8 MiB.
	UDPReadBuffer int
	// ShutdownTimeout bounds the drain when the context passed to Start
	// is cancelled, or Shutdown is called with a context without deadline:
	// how long connections are still read and their messages handed to
	// the sink. Default 5 s.
	ShutdownTimeout time.Duration
	// Tags are copied onto every message.
	Tags []string
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

// Validate checks c after defaults are applied (zero values mean default).
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if c.UDPAddr == "" && c.TCPAddr == "" && c.TLSAddr == "" {
		errs = append(errs, errors.New("no listen address: set at least one of udp, tcp or tls"))
	}
	if c.TLSAddr != "" && (c.TLSCertFile == "" || c.TLSKeyFile == "") {
		errs = append(errs, fmt.Errorf("tls listener %q: certificate and key files are required", c.TLSAddr))
	}
	if c.MaxMessageSize < 0 || c.MaxMessageSize > maxMessageLimit {
		errs = append(errs, fmt.Errorf("max message size %d: must be between 1 and %d", c.MaxMessageSize, maxMessageLimit))
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("idle timeout %v: must not be negative", c.IdleTimeout))
	}
	if c.MaxConnections < 0 {
		errs = append(errs, fmt.Errorf("max connections %d: must not be negative", c.MaxConnections))
	}
	if c.MaxConnectionsPerSource < 0 {
		errs = append(errs, fmt.Errorf("max connections per source %d: must not be negative", c.MaxConnectionsPerSource))
	}
	if c.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("batch size %d: must not be negative", c.BatchSize))
	}
	if c.BatchWait < 0 {
		errs = append(errs, fmt.Errorf("batch wait %v: must not be negative", c.BatchWait))
	}
	if c.UDPReadBuffer < 0 {
		errs = append(errs, fmt.Errorf("udp read buffer %d: must not be negative", c.UDPReadBuffer))
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("shutdown timeout %v: must not be negative", c.ShutdownTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("syslog config: %w", err)
	}
	return nil
}
