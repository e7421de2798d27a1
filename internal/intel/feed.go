package intel

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/egress"
)

// Format is the format of a feed.
type Format string

// Feed formats.
const (
	// FormatList is one indicator per line (see ParseList).
	FormatList Format = "list"
	// FormatCSV is CSV with a header row (see ParseCSV).
	FormatCSV Format = "csv"
	// FormatSTIX is a STIX 2.1 bundle (see ParseSTIX).
	FormatSTIX Format = "stix"
	// FormatMISP is MISP event JSON (see ParseMISP).
	FormatMISP Format = "misp"
)

// UnmarshalText implements encoding.TextUnmarshaler and checks the name.
func (f *Format) UnmarshalText(b []byte) error {
	switch v := Format(strings.ToLower(strings.TrimSpace(string(b)))); v {
	case FormatList, FormatCSV, FormatSTIX, FormatMISP:
		*f = v
	case "txt", "text", "plain":
		*f = FormatList
	case "stix2", "stix2.1", "stix-2.1":
		*f = FormatSTIX
	default:
		return fmt.Errorf("unknown feed format %q (want list, csv, stix or misp)", string(b))
	}
	return nil
}

// Parse reads a feed of format f; see ParseList, ParseCSV, ParseSTIX and
// ParseMISP.
func (f Format) Parse(r io.Reader, opts ParseOptions) ([]Indicator, []error) {
	switch f {
	case FormatList, "":
		return ParseList(r, opts)
	case FormatCSV:
		return ParseCSV(r, opts)
	case FormatSTIX:
		return ParseSTIX(r, opts)
	case FormatMISP:
		return ParseMISP(r, opts)
	}
	return nil, []error{fmt.Errorf("unknown feed format %q", string(f))}
}

// Feed defaults.
const (
	DefaultRefresh = time.Hour
	DefaultTimeout = 60 * time.Second
)

// FeedConfig configures one feed.
type FeedConfig struct {
	// Name identifies the feed in hits and status; it must be unique.
	Name string `koanf:"name"`
	// Path is a local file; exactly one of Path and URL is set.
	Path string `koanf:"path"`
	// URL is an http or https URL fetched with GET.
	URL string `koanf:"url"`
	// Headers are sent with the request (for example an API key). Their
	// values are never logged or reported.
	Headers map[string]string `koanf:"headers"`
	// Format is list (default), csv, stix or misp.
	Format Format `koanf:"format"`
	// Kind forces the kind of a list feed's lines and of CSV rows without
	// a kind column (default: guessed per entry).
	Kind Kind `koanf:"kind"`
	// CSV names the columns of a CSV feed.
	CSV CSVColumns `koanf:"csv"`
	// Confidence is given to indicators for which the feed states none
	// (default 50).
	Confidence int `koanf:"confidence"`
	// MISPAllAttributes takes MISP attributes not flagged to_ids too.
	MISPAllAttributes bool `koanf:"misp_all_attributes"`
	// Refresh is how often the feed is reloaded (default 1h).
	Refresh time.Duration `koanf:"refresh"`
	// Timeout bounds one fetch and parse (default 60s).
	Timeout time.Duration `koanf:"timeout"`
	// MaxSize bounds the feed's size in bytes, after decompression
	// (default 512 MiB).
	MaxSize int64 `koanf:"max_size"`
	// MaxIndicators bounds the feed's indicators (default 10 million).
	MaxIndicators int `koanf:"max_indicators"`
	// Enabled turns the feed off when set to false (default true).
	Enabled *bool `koanf:"enabled"`
}

// IsEnabled reports whether the feed is to be loaded.
func (c FeedConfig) IsEnabled() bool { return c.Enabled == nil || *c.Enabled }

// Validate checks the configuration.
func (c FeedConfig) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Name) == "" {
		errs = append(errs, errors.New("name not set"))
	}
	switch {
	case c.Path == "" && c.URL == "":
		errs = append(errs, errors.New("neither path nor url set"))
	case c.Path != "" && c.URL != "":
		errs = append(errs, errors.New("both path and url set"))
	case c.URL != "":
		u, err := url.Parse(c.URL)
		if err != nil {
			errs = append(errs, fmt.Errorf("url: %w", err))
		} else if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("url %q: want an http or https URL", redactURL(c.URL)))
		}
	}
	switch c.Format {
	case "", FormatList, FormatSTIX, FormatMISP:
	case FormatCSV:
		if err := c.CSV.Validate(); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("unknown format %q", string(c.Format)))
	}
	if c.Kind > KindEmail {
		errs = append(errs, fmt.Errorf("invalid kind %d", uint8(c.Kind)))
	}
	if c.Confidence < 0 || c.Confidence > 100 {
		errs = append(errs, fmt.Errorf("confidence %d not in 0-100", c.Confidence))
	}
	if c.Refresh < 0 || c.Refresh > 0 && c.Refresh < time.Second {
		errs = append(errs, fmt.Errorf("refresh %v: want at least 1s", c.Refresh))
	}
	if c.Timeout < 0 || c.MaxSize < 0 || c.MaxIndicators < 0 {
		errs = append(errs, errors.New("timeout, max_size and max_indicators must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("intel feed %q: %w", c.Name, err)
	}
	return nil
}

func (c FeedConfig) refresh() time.Duration {
	if c.Refresh <= 0 {
		return DefaultRefresh
	}
	return c.Refresh
}

func (c FeedConfig) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

func (c FeedConfig) maxSize() int64 {
	if c.MaxSize <= 0 {
		return DefaultMaxBytes
	}
	return c.MaxSize
}

func (c FeedConfig) parseOptions() ParseOptions {
	return ParseOptions{
		Feed:              c.Name,
		Kind:              c.Kind,
		CSV:               c.CSV,
		Confidence:        c.Confidence,
		MISPAllAttributes: c.MISPAllAttributes,
		MaxBytes:          c.maxSize(),
		MaxIndicators:     c.MaxIndicators,
	}
}

// source describes where the feed comes from without secrets.
func (c FeedConfig) source() string {
	if c.URL != "" {
		return redactURL(c.URL)
	}
	return c.Path
}

// redactURL drops user information and the query, which may carry keys.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid url)"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

// validator records what fetching saw, so that a feed cut short is told
// from one that had bad lines.
type validator struct {
	etag, lastModified string
	modTime            time.Time
	size               int64
}

// fetchResult is the outcome of loading a feed once.
type fetchResult struct {
	inds        []Indicator
	errs        []error
	notModified bool
	val         validator
}

// ctxReader fails reads once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// recordingReader remembers the first read error other than EOF.
type recordingReader struct {
	r   io.Reader
	err error
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// maxFeedRedirects is how many redirects a feed download follows; each
// hop dials through the egress policy.
const maxFeedRedirects = 10

// feedClient is the client of feed downloads: through the egress policy,
// without a global timeout (each fetch has its feed's).
func feedClient(p *egress.Policy) *http.Client {
	return p.Client(egress.ClientOptions{MaxRedirects: maxFeedRedirects})
}

// fetch loads a feed. It returns an error when the feed could not be read
// whole, in which case the previous indicators are to be kept.
func fetch(ctx context.Context, client *http.Client, cfg FeedConfig, prev validator) (fetchResult, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout())
	defer cancel()
	var (
		body io.Reader
		res  fetchResult
	)
	if cfg.Path != "" {
		f, err := os.Open(cfg.Path)
		if err != nil {
			return res, fmt.Errorf("opening feed file: %w", err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return res, fmt.Errorf("reading feed file: %w", err)
		}
		res.val = validator{modTime: st.ModTime(), size: st.Size()}
		if !prev.modTime.IsZero() && prev.modTime.Equal(st.ModTime()) && prev.size == st.Size() {
			res.notModified = true
			return res, nil
		}
		body = f
	} else {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.URL, nil)
		if err != nil {
			return res, fmt.Errorf("feed request: %w", err)
		}
		for k, v := range cfg.Headers {
			req.Header.Set(k, v)
		}
		if prev.etag != "" {
			req.Header.Set("If-None-Match", prev.etag)
		}
		if prev.lastModified != "" {
			req.Header.Set("If-Modified-Since", prev.lastModified)
		}
		resp, err := client.Do(req)
		if err != nil {
			if re := (*egress.RefusedError)(nil); errors.As(err, &re) {
				// Viewers read the status: the refused address stays
				// out of its message (egress.Detail has it, for the log).
				return res, fmt.Errorf("fetching %s: %w", cfg.source(), re)
			}
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // the URL may carry a key
			}
			return res, fmt.Errorf("fetching %s: %w", cfg.source(), err)
		}
		defer resp.Body.Close()
		res.val = validator{etag: resp.Header.Get("ETag"), lastModified: resp.Header.Get("Last-Modified")}
		switch {
		case resp.StatusCode == http.StatusNotModified:
			res.notModified = true
			if res.val.etag == "" {
				res.val.etag = prev.etag
			}
			if res.val.lastModified == "" {
				res.val.lastModified = prev.lastModified
			}
			return res, nil
		case resp.StatusCode != http.StatusOK:
			return res, fmt.Errorf("fetching %s: status %s", cfg.source(), resp.Status)
		case resp.ContentLength > cfg.maxSize():
			return res, fmt.Errorf("fetching %s: %w: %d bytes", cfg.source(), ErrTooLarge, resp.ContentLength)
		}
		body = resp.Body
	}
	// Compressed size is bounded as well as the size after decompression,
	// and reading stops at the timeout for files as for URLs.
	rec := &recordingReader{r: &boundedReader{r: ctxReader{ctx, body}, left: cfg.maxSize()}}
	br := bufio.NewReader(rec)
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return res, fmt.Errorf("feed %s: %w", cfg.source(), err)
		}
		defer zr.Close()
		in = &recordingReader{r: zr}
	}
	res.inds, res.errs = cfg.Format.Parse(in, cfg.parseOptions())
	if rec.err != nil {
		return res, fmt.Errorf("reading feed %s: %w", cfg.source(), rec.err)
	}
	if zr, ok := in.(*recordingReader); ok && zr.err != nil {
		return res, fmt.Errorf("reading feed %s: %w", cfg.source(), zr.err)
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("reading feed %s: %w", cfg.source(), err)
	}
	for _, e := range res.errs {
		var se *json.SyntaxError
		if errors.Is(e, ErrTooLarge) || errors.Is(e, io.ErrUnexpectedEOF) || errors.As(e, &se) {
			return res, fmt.Errorf("feed %s: %w", cfg.source(), e)
		}
	}
	if len(res.inds) == 0 {
		if _, failed := CountErrors(res.errs); failed > 0 {
			return res, fmt.Errorf("feed %s: no indicators, %d errors, first: %w", cfg.source(), failed, firstFailure(res.errs))
		}
	}
	return res, nil
}

func firstFailure(errs []error) error {
	for _, e := range errs {
		if !errors.Is(e, ErrUnsupported) {
			return e
		}
	}
	return nil
}
