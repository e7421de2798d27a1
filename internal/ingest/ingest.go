// Package ingest defines what every input hands to the pipeline: raw
// messages with their format and provenance, and the Sink that accepts them
// with backpressure. The inputs themselves live in the sub-packages
// (syslog, httpin, file).
package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Format says how the bytes of a Raw message are to be decoded.
type Format uint8

// Formats.
// FieldTime is the field of Raw.Fields that carries a time the transport
// was given for the event (HEC's envelope "time"), in RFC 3339: it is the
// event's time, before any time in the message.
const FieldTime = "@timestamp"

const (
	// FormatAuto detects: a JSON object, CEF, LEEF, syslog (RFC 5424 or
	// 3164), else plain text; app parsers (sshd, sudo, nginx, ...) apply to
	// the message text in every case.
	FormatAuto Format = iota
	// FormatSyslog is one syslog message without transport framing.
	FormatSyslog
	// FormatJSON is one JSON object.
	FormatJSON
	// FormatText is one plain line (for example from a tailed file); no
	// syslog header is expected, but app parsers still apply.
	FormatText
)

func (f Format) String() string {
	switch f {
	case FormatAuto:
		return "auto"
	case FormatSyslog:
		return "syslog"
	case FormatJSON:
		return "json"
	case FormatText:
		return "text"
	}
	return "unknown"
}

// Raw is one message as an input received it.
type Raw struct {
	// Data is the message. The Sink owns it once submitted: inputs must not
	// reuse the buffer.
	Data []byte
	// Format says how to decode Data.
	Format Format
	// Input names the input (syslog-udp, syslog-tcp, syslog-tls, http,
	// hec, bulk, otlp, file).
	Input string
	// Received is when the input read the message.
	Received time.Time
	// Peer is the remote address, when there is one.
	Peer string
	// Tags are source tags from the input's configuration or the ingest
	// token; they are copied onto the event.
	Tags []string
	// Fields are extra fields that the transport carried beside the
	// message (HEC host/source/sourcetype, the bulk index, the file path as
	// log.file.path), set on the event before parsing so that the message's
	// own fields win. The one exception is FieldTime.
	Fields map[string]string
	// Truncated is set when the input cut Data at its size limit.
	Truncated bool
}

// ErrFull is returned by Sink.Offer when the pipeline has no room now.
// HTTP inputs answer it with 429 and Retry-After.
var ErrFull = errors.New("pipeline full")

// ErrUnavailable is returned by Sink.Offer while the store is failing: the
// pipeline keeps what it holds and retries it, and takes nothing new from
// callers that can send again later. It wraps ErrFull, so a caller that
// retries a full pipeline retries this too. HTTP inputs answer it with 503
// and Retry-After.
var ErrUnavailable = fmt.Errorf("store unavailable: %w", ErrFull)

// ErrClosed is returned once the pipeline is shutting down and accepts no
// more messages. HTTP inputs answer it with 503.
var ErrClosed = errors.New("pipeline closed")

// RefusedError is the verdict on a batch whose events are stored except
// Refused of them, which the store refuses for good (their time is
// outside the range it accepts, store.ErrOutOfRange): sending them again
// fails again. HTTP inputs answer it with 422.
type RefusedError struct {
	// Refused of the batch's Total messages are not stored.
	Refused, Total int
	// Err is why (it wraps store.ErrOutOfRange).
	Err error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%d of %d events refused, the others stored: %v", e.Refused, e.Total, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Sink accepts raw messages. Implementations are safe for concurrent use.
type Sink interface {
	// Enqueue queues msgs, blocking while the pipeline is full until ctx is
	// done (stream inputs use it, so a full pipeline stops their reads).
	Enqueue(ctx context.Context, msgs []Raw) error
	// Offer queues msgs only if there is room now, else returns ErrFull.
	// When it returns nil, done (if not nil) is called exactly once, with
	// nil after every message of the batch is durably stored, or with the
	// error that prevented it.
	Offer(msgs []Raw, done func(error)) error
}

// Stats counts what an input did. Inputs keep one per input name and the
// server exports them as metrics.
type Stats interface {
	// Received counts messages read.
	Received(input string, n int)
	// Rejected counts messages refused, with a short reason such as
	// "too_large", "bad_frame", "unauthorized", "full".
	Rejected(input, reason string, n int)
}
