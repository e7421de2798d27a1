// Package httpin receives events over HTTP: Vigil's native JSON ingest API,
// the Splunk HTTP Event Collector, the Elasticsearch bulk API (as used by
// Filebeat, Fluent Bit, Vector and Logstash) and OpenTelemetry OTLP/HTTP
// logs.
//
// Every handler authenticates the request, reads a bounded body (gzip
// accepted, with the decompressed size bounded too), validates all of it
// before queueing anything, offers the messages to the sink without
// blocking, and answers success only once the sink reports them durably
// stored. A full pipeline is answered with 429 and Retry-After; a closed
// one, or one whose store is failing (ingest.ErrUnavailable: the pipeline
// holds what it has and takes nothing new), with 503 and Retry-After.
package httpin

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/bytesize"
	"github.com/vigilsec/vigil/internal/ingest"
	"github.com/vigilsec/vigil/internal/store"
)

// Input names, as set on Raw.Input and used with ingest.Stats.
const (
	InputNative = "http"
	InputHEC    = "hec"
	InputBulk   = "bulk"
	InputOTLP   = "otlp"
)

// Defaults for Config's zero values.
const (
	DefaultMaxBodySize   = 16 << 20
	DefaultMaxConcurrent = 64
	DefaultWaitTimeout   = 30 * time.Second
	DefaultReadTimeout   = time.Minute
)

// Config configures the HTTP ingest handlers.
type Config struct {
	// MaxBodySize bounds a request body in bytes, both as sent and after
	// gzip decompression. Larger bodies are answered with 413. Default 16 MiB.
	MaxBodySize bytesize.Size `koanf:"max_body_size"`
	// MaxConcurrent bounds the requests being read or awaiting durability at
	// once, which bounds the memory held by bodies to about
	// MaxConcurrent × MaxBodySize. Requests beyond it get 429. Default 64.
	MaxConcurrent int `koanf:"max_concurrent"`
	// WaitTimeout bounds how long a request waits for its messages to be
	// durably stored before it is answered with 503. Default 30 s.
	WaitTimeout time.Duration `koanf:"wait_timeout"`
	// ReadTimeout bounds how long reading one request body may take, so a
	// client trickling its body cannot hold a concurrency slot for long.
	// It is set per request, on top of the http.Server's own timeouts.
	// Default 1 minute.
	ReadTimeout time.Duration `koanf:"read_timeout"`
	// ESVersion is the version number GET / reports to Elasticsearch
	// shippers, "8.x.y". Default DefaultESVersion.
	ESVersion string `koanf:"es_version"`
	// Tags are copied onto every message, before the principal's tags.
	Tags []string `koanf:"tags"`
	// NoRoot leaves GET / (and HEAD /) unregistered, for a server that
	// serves another page there; it then routes shippers to Root itself.
	NoRoot bool `koanf:"-"`
}

func (c *Config) setDefaults() {
	if c.MaxBodySize == 0 {
		c.MaxBodySize = DefaultMaxBodySize
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.WaitTimeout == 0 {
		c.WaitTimeout = DefaultWaitTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.ESVersion == "" {
		c.ESVersion = DefaultESVersion
	}
}

// DefaultConfig returns the defaults: the ingest section of the server's
// configuration (ingest: in YAML, VIGIL_INGEST_* in the environment).
func DefaultConfig() Config {
	return Config{MaxBodySize: DefaultMaxBodySize, MaxConcurrent: DefaultMaxConcurrent, WaitTimeout: DefaultWaitTimeout,
		ReadTimeout: DefaultReadTimeout, ESVersion: DefaultESVersion}
}

// Validate checks c, one error per field named by its key; zero values
// mean the defaults.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBodySize < 0 || c.MaxBodySize > 0 && c.MaxBodySize < 1024 {
		errs = append(errs, fmt.Errorf("max_body_size: %d is below 1KiB", c.MaxBodySize))
	}
	if c.MaxConcurrent < 0 {
		errs = append(errs, fmt.Errorf("max_concurrent: %d must not be negative", c.MaxConcurrent))
	}
	if c.WaitTimeout < 0 {
		errs = append(errs, fmt.Errorf("wait_timeout: %v must not be negative", c.WaitTimeout))
	}
	if c.ReadTimeout < 0 || c.ReadTimeout > 0 && c.ReadTimeout < time.Second {
		errs = append(errs, fmt.Errorf("read_timeout: %v is under 1s", c.ReadTimeout))
	}
	if v := c.ESVersion; v != "" && !validESVersion(v) {
		errs = append(errs, fmt.Errorf("es_version: %q is not MAJOR.MINOR.PATCH with major 7 to 9", v))
	}
	return errors.Join(errs...)
}

// validESVersion checks v is MAJOR.MINOR.PATCH with a major version the
// shippers' 7.x to 9.x code paths understand.
func validESVersion(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 4 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return parts[0] == "7" || parts[0] == "8" || parts[0] == "9"
}

// Principal is who a request authenticated as.
type Principal struct {
	// Name identifies the principal (a user or token name) in logs.
	Name string
	// Tags are copied onto every message the principal sends.
	Tags []string
	// CanIngest allows the principal to send events; without it ingest
	// requests are answered with 403.
	CanIngest bool
}

// Authenticator checks the token a request carries. It returns an error for
// an unknown, expired or revoked token.
type Authenticator interface {
	Authenticate(r *http.Request, token string) (Principal, error)
}

// Handlers serves the ingest endpoints. Create it with New and mount it
// with Register.
type Handlers struct {
	cfg   Config
	sink  ingest.Sink
	auth  Authenticator
	stats ingest.Stats
	log   *slog.Logger
	sem   chan struct{}
}

// New returns the ingest handlers. cfg's zero values are the defaults; an
// invalid cfg is replaced field by field by the defaults (call
// cfg.Validate first to report it).
func New(cfg Config, sink ingest.Sink, auth Authenticator, stats ingest.Stats, log *slog.Logger) *Handlers {
	if cfg.MaxBodySize < 0 {
		cfg.MaxBodySize = 0
	}
	if cfg.MaxConcurrent < 0 {
		cfg.MaxConcurrent = 0
	}
	if cfg.WaitTimeout < 0 {
		cfg.WaitTimeout = 0
	}
	if cfg.ReadTimeout < 0 {
		cfg.ReadTimeout = 0
	}
	if !validESVersion(cfg.ESVersion) {
		cfg.ESVersion = ""
	}
	cfg.setDefaults()
	cfg.Tags = slices.Clip(slices.Clone(cfg.Tags))
	if stats == nil {
		stats = nopStats{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handlers{cfg: cfg, sink: sink, auth: auth, stats: stats, log: log, sem: make(chan struct{}, cfg.MaxConcurrent)}
}

// Register mounts the endpoints on mux:
//
//	POST /api/v1/ingest                       native JSON, array or NDJSON
//	POST /services/collector[/event][/1.0]    Splunk HEC events
//	POST /services/collector/raw[/1.0]        Splunk HEC raw lines
//	GET  /services/collector/health[/1.0]     Splunk HEC health (no auth)
//	POST|PUT /_bulk, /{index}/_bulk           Elasticsearch bulk
//	GET|HEAD /                                Elasticsearch version document
//	...                                       Elasticsearch setup calls (see esSetupRoutes)
//	POST /v1/logs                             OTLP/HTTP logs
func (h *Handlers) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/ingest", h.native)
	h.registerHEC(mux)
	h.registerES(mux)
	mux.HandleFunc("POST /v1/logs", h.otlp)
}

// Token schemes accepted in the Authorization header.
//
//	Bearer T                    native API, OTLP exporters
//	Splunk T                    HEC clients
//	Basic base64(user:T)        Elasticsearch shippers with a username and
//	                            password: the password is the token (the user
//	                            name is ignored; if the password is empty the
//	                            user name is taken as the token)
//	ApiKey base64(id:T) or T    Elasticsearch API keys: the part after the
//	                            colon is the token
func tokenFrom(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(scheme) {
	case "bearer", "splunk":
		return rest, rest != ""
	case "basic":
		dec, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", false
		}
		user, pass, ok := strings.Cut(string(dec), ":")
		if !ok {
			return "", false
		}
		if pass == "" {
			pass = user
		}
		return pass, pass != ""
	case "apikey":
		if dec, err := base64.StdEncoding.DecodeString(rest); err == nil {
			if _, key, ok := strings.Cut(string(dec), ":"); ok {
				return key, key != ""
			}
		}
		return rest, rest != ""
	}
	return "", false
}

// authStatus is the outcome of authenticating a request.
type authStatus int

const (
	authOK        authStatus = iota
	authMissing              // no usable token: 401
	authInvalid              // token refused: 401
	authForbidden            // principal may not ingest: 403
)

func (h *Handlers) authenticate(r *http.Request, input string) (Principal, authStatus) {
	tok, ok := tokenFrom(r)
	if !ok {
		h.stats.Rejected(input, "unauthorized", 1)
		return Principal{}, authMissing
	}
	if h.auth == nil {
		h.stats.Rejected(input, "unauthorized", 1)
		return Principal{}, authInvalid
	}
	p, err := h.auth.Authenticate(r, tok)
	if err != nil {
		h.stats.Rejected(input, "unauthorized", 1)
		return Principal{}, authInvalid
	}
	if !p.CanIngest {
		h.stats.Rejected(input, "forbidden", 1)
		return p, authForbidden
	}
	return p, authOK
}

// tags returns the tags for messages from p.
func (h *Handlers) tags(p Principal) []string {
	if len(p.Tags) == 0 {
		return h.cfg.Tags
	}
	return slices.Clip(slices.Concat(h.cfg.Tags, p.Tags))
}

// Body errors.
var (
	errTooLarge    = errors.New("request body too large")
	errEncoding    = errors.New("unsupported content encoding")
	errBadGzip     = errors.New("invalid gzip body")
	errNoData      = errors.New("no events in request body")
	errBusy        = errors.New("too many concurrent requests")
	errWaitTimeout = errors.New("timed out waiting for durable storage")
	errClientGone  = errors.New("client went away")
	errReadTimeout = errors.New("timed out reading the request body")
	errBodyRead    = errors.New("reading the request body")
)

// acquire takes a concurrency slot, or reports that none is free.
func (h *Handlers) acquire() bool {
	select {
	case h.sem <- struct{}{}:
		return true
	default:
		return false
	}
}

func (h *Handlers) release() { <-h.sem }

// readBody reads the whole body, decompressing gzip, bounded by
// MaxBodySize before and after decompression.
func (h *Handlers) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := int64(h.cfg.MaxBodySize)
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	// Not every ResponseWriter supports deadlines (test recorders do not);
	// the server's own timeouts still apply then.
	// After a failed read the deadline stays: the server then gives up
	// on the unread rest of the body instead of waiting for it.
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(h.cfg.ReadTimeout)) == nil
	body := http.MaxBytesReader(w, r.Body, limit)
	var rd io.Reader = body
	gzipped := false
	switch ce := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); ce {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, bodyError(err, true)
		}
		defer zr.Close()
		rd, gzipped = zr, true
	default:
		return nil, fmt.Errorf("%w %q: only gzip is accepted", errEncoding, ce)
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 && !gzipped {
		buf.Grow(int(r.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(rd, limit+1))
	if err == nil && n <= limit && deadline {
		rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		return nil, bodyError(err, gzipped)
	}
	if n > limit {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}

// bodyError classifies an error met while reading a request body.
func bodyError(err error, gzipped bool) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return errTooLarge
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errReadTimeout
	case gzipped:
		return fmt.Errorf("%w: %w", errBadGzip, err)
	}
	return fmt.Errorf("%w: %w", errBodyRead, err)
}

// contextOfferer is a sink whose offered batches can be withdrawn: when
// ctx ends before a batch reaches the store, done gets ctx's cause and
// nothing of the batch is stored (the pipeline implements it).
type contextOfferer interface {
	OfferContext(ctx context.Context, msgs []ingest.Raw, done func(error)) error
}

// submit offers msgs to the sink and waits until they are durably stored,
// the client goes away, or WaitTimeout passes. With a sink that can
// withdraw a batch, a request answered with an error leaves nothing of its
// batch stored: the batch is withdrawn when the client goes away or the
// wait ends, unless the store already has it, in which case its verdict
// is awaited (at most another WaitTimeout). The error returned is fit for
// the client: the store's own error, with its file paths, is logged.
func (h *Handlers) submit(r *http.Request, input string, msgs []ingest.Raw) error {
	if len(msgs) == 0 {
		return nil
	}
	h.stats.Received(input, len(msgs))
	ctx, cancel := context.WithTimeoutCause(r.Context(), h.cfg.WaitTimeout, errWaitTimeout)
	defer cancel()
	done := make(chan error, 1)
	report := func(err error) { done <- err }
	var err error
	oc, withdrawable := h.sink.(contextOfferer)
	if withdrawable {
		err = oc.OfferContext(ctx, msgs, report)
	} else {
		err = h.sink.Offer(msgs, report)
	}
	if err != nil {
		reason := "closed"
		switch {
		case errors.Is(err, ingest.ErrUnavailable):
			reason = "unavailable"
		case errors.Is(err, ingest.ErrFull):
			reason = "full"
		}
		h.stats.Rejected(input, reason, len(msgs))
		return h.publicError(input, len(msgs), err)
	}
	var verdict error
	select {
	case verdict = <-done:
	case <-ctx.Done():
		if !withdrawable {
			if r.Context().Err() != nil {
				return errClientGone
			}
			return errWaitTimeout
		}
		t := time.NewTimer(h.cfg.WaitTimeout)
		defer t.Stop()
		select {
		case verdict = <-done:
		case <-t.C:
			// The store has the batch and is still at it: the client may
			// send it again, and find part of it twice if a batch of
			// several days was half stored.
			h.log.Warn("http ingest: no verdict from the store in time", "input", input, "messages", len(msgs))
			return errWaitTimeout
		}
	}
	switch {
	case verdict == nil:
		return nil
	case r.Context().Err() != nil:
		return errClientGone
	case errors.Is(verdict, errWaitTimeout):
		return errWaitTimeout
	}
	if re := (*ingest.RefusedError)(nil); errors.As(verdict, &re) {
		h.stats.Rejected(input, "time_range", re.Refused)
	} else {
		h.stats.Rejected(input, "failed", len(msgs))
	}
	return h.publicError(input, len(msgs), verdict)
}

// clientError is an error whose text is fit for a client; it still wraps
// the error it stands for, so that statusOf classifies it.
type clientError struct {
	msg string
	err error
}

func (e *clientError) Error() string { return e.msg }
func (e *clientError) Unwrap() error { return e.err }

// publicError logs a store or pipeline error in full and returns what the
// client may see of it: no file paths, no internal detail.
func (h *Handlers) publicError(input string, n int, err error) error {
	var msg string
	switch {
	case errors.Is(err, ingest.ErrUnavailable):
		msg = "store unavailable"
		if err != ingest.ErrUnavailable {
			msg += ": " + store.Public(err)
		}
	case errors.Is(err, ingest.ErrClosed):
		return ingest.ErrClosed
	case errors.Is(err, ingest.ErrFull):
		return ingest.ErrFull
	case errors.As(err, new(*ingest.RefusedError)):
		// About the events themselves (their times), with no internal
		// detail: the client is told which range the store accepts.
		msg = err.Error()
	default:
		msg = fmt.Sprintf("storing %d messages: %s", n, store.Public(err))
	}
	// The pipeline logs the store's failures; this is per request.
	h.log.Debug("http ingest: batch not stored", "input", input, "messages", n, "err", err)
	return &clientError{msg: msg, err: err}
}

// statusOf maps an error from readBody or submit to an HTTP status.
func statusOf(err error) int {
	var se *syntaxError
	switch {
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errReadTimeout):
		return http.StatusRequestTimeout
	case errors.Is(err, errEncoding):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, errBadGzip), errors.Is(err, errNoData), errors.Is(err, errBodyRead), errors.As(err, &se):
		return http.StatusBadRequest
	case errors.As(err, new(*ingest.RefusedError)):
		// Stored but for events the store refuses for good: sending
		// them again would not help.
		return http.StatusUnprocessableEntity
	case errors.Is(err, ingest.ErrUnavailable):
		// Checked before ErrFull, which it wraps: the store is failing,
		// not merely busy.
		return http.StatusServiceUnavailable
	case errors.Is(err, ingest.ErrFull), errors.Is(err, errBusy):
		return http.StatusTooManyRequests
	}
	return http.StatusServiceUnavailable
}

// setRetry sets Retry-After for the statuses a client should retry.
func setRetry(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
	}
}

// rejectReason names err for Stats.Rejected.
func rejectReason(status int) string {
	switch status {
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusTooManyRequests:
		return "busy"
	case http.StatusUnsupportedMediaType, http.StatusBadRequest:
		return "bad_request"
	case http.StatusRequestTimeout:
		return "timeout"
	}
	return "unavailable"
}

type nopStats struct{}

func (nopStats) Received(string, int)         {}
func (nopStats) Rejected(string, string, int) {}
