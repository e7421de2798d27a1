package intel

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Default bounds of a feed.
const (
	// DefaultMaxBytes bounds the size of one feed (after decompression).
	DefaultMaxBytes = 512 << 20
	// DefaultMaxLineLen bounds one line of a list or CSV feed.
	DefaultMaxLineLen = 64 << 10
	// DefaultMaxIndicators bounds the indicators of one feed.
	DefaultMaxIndicators = 10_000_000
	// DefaultMaxErrors bounds the errors a parser keeps.
	DefaultMaxErrors = 1000
	// DefaultConfidence is the confidence of indicators whose feed gives
	// none.
	DefaultConfidence = 50
)

// ParseOptions configures a feed parser. The zero value is usable: every
// bound then takes its default.
type ParseOptions struct {
	// Feed names the feed; it is set as Context.Feed of every indicator.
	Feed string
	// Kind forces the kind of every line of a list feed, and of CSV rows
	// without a kind column. KindUnknown guesses per line.
	Kind Kind
	// CSV names the columns of a CSV feed.
	CSV CSVColumns
	// Confidence is given to indicators for which the feed states none
	// (0: DefaultConfidence). Values above 100 are taken as 100.
	Confidence int
	// MISPAllAttributes takes MISP attributes whose to_ids flag is false as
	// well; by default only attributes flagged for detection are taken.
	MISPAllAttributes bool
	// MaxBytes bounds the input (0: DefaultMaxBytes). Past it the parser
	// stops with ErrTooLarge and returns what it has.
	MaxBytes int64
	// MaxLineLen bounds a line of a list or CSV feed (0: DefaultMaxLineLen).
	// Longer lines are skipped and reported.
	MaxLineLen int
	// MaxIndicators bounds the indicators returned (0:
	// DefaultMaxIndicators). Past it the parser stops with ErrTooMany.
	MaxIndicators int
	// MaxErrors bounds the errors kept (0: DefaultMaxErrors); further
	// errors are counted in a final *OmittedErrors.
	MaxErrors int
}

func (o ParseOptions) withDefaults() ParseOptions {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxLineLen <= 0 {
		o.MaxLineLen = DefaultMaxLineLen
	}
	if o.MaxLineLen < 64 {
		o.MaxLineLen = 64
	}
	if o.MaxIndicators <= 0 {
		o.MaxIndicators = DefaultMaxIndicators
	}
	if o.MaxErrors <= 0 {
		o.MaxErrors = DefaultMaxErrors
	}
	switch {
	case o.Confidence <= 0:
		o.Confidence = DefaultConfidence
	case o.Confidence > 100:
		o.Confidence = 100
	}
	return o
}

// clampConfidence turns a feed's confidence value into 0-100.
func clampConfidence(n int) uint8 {
	switch {
	case n < 0:
		return 0
	case n > 100:
		return 100
	}
	return uint8(n)
}

// collector gathers a parser's indicators and errors within the bounds.
type collector struct {
	opts    ParseOptions
	inds    []Indicator
	errs    []error
	omitted OmittedErrors
	ctxs    map[ctxKey]*Context
	full    bool // MaxIndicators reached
}

type ctxKey struct {
	desc, tags, source string
	times              [3]int64
}

func newCollector(opts ParseOptions) *collector {
	return &collector{opts: opts.withDefaults(), ctxs: map[ctxKey]*Context{}}
}

// fail records an error at line (0: unknown).
func (c *collector) fail(line int, err error) {
	if len(c.errs) >= c.opts.MaxErrors {
		c.omitted.Count++
		if errors.Is(err, ErrUnsupported) {
			c.omitted.Unsupported++
		}
		return
	}
	c.errs = append(c.errs, &ParseError{Line: line, Err: err})
}

// fatal records the error that ended the parse; it is kept beyond
// MaxErrors.
func (c *collector) fatal(line int, err error) {
	c.errs = append(c.errs, &ParseError{Line: line, Err: err})
}

// add appends an indicator, normalizing value as kind k. It reports false
// once the indicator bound is reached, and the parser should stop.
func (c *collector) add(line int, k Kind, value string, conf uint8, ctx *Context) bool {
	if c.full {
		return false
	}
	k, v, err := normalize(k, value)
	if err != nil {
		if err != errEmpty && len(c.errs) < c.opts.MaxErrors {
			err = fmt.Errorf("%w: %q", err, clip(strings.TrimSpace(value)))
		}
		c.fail(line, err)
		return true
	}
	if len(c.inds) >= c.opts.MaxIndicators {
		c.full = true
		c.fatal(line, fmt.Errorf("%w: more than %d", ErrTooMany, c.opts.MaxIndicators))
		return false
	}
	c.inds = append(c.inds, Indicator{Value: v, Kind: k, Confidence: conf, Context: ctx})
	return true
}

func unixKey(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// context returns the interned context with these members.
func (c *collector) context(desc string, tags []string, source string, first, last, until time.Time) *Context {
	key := ctxKey{desc: desc, tags: strings.Join(tags, "\x00"), source: source,
		times: [3]int64{unixKey(first), unixKey(last), unixKey(until)}}
	if ctx, ok := c.ctxs[key]; ok {
		return ctx
	}
	ctx := c.newContext(desc, tags, source, first, last, until)
	c.ctxs[key] = ctx
	return ctx
}

// newContext returns a context that is not interned, for sources whose
// every entry has its own (a STIX indicator id).
func (c *collector) newContext(desc string, tags []string, source string, first, last, until time.Time) *Context {
	ctx := &Context{Feed: c.opts.Feed, Description: desc, Source: source,
		FirstSeen: first, LastSeen: last, ValidUntil: until}
	if len(tags) > 0 {
		ctx.Tags = append([]string(nil), tags...)
	}
	return ctx
}

func (c *collector) result() ([]Indicator, []error) {
	errs := c.errs
	if c.omitted.Count > 0 {
		om := c.omitted
		errs = append(errs, &om)
	}
	return c.inds, errs
}

// boundedReader fails with ErrTooLarge once more than n bytes are read.
type boundedReader struct {
	r    io.Reader
	left int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		n, err := b.r.Read(one[:])
		if n > 0 {
			return 0, ErrTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// readAll reads r whole within max bytes.
func readAll(r io.Reader, max int64) ([]byte, error) {
	data, err := io.ReadAll(&boundedReader{r: r, left: max})
	if errors.Is(err, ErrTooLarge) {
		return data, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
	}
	return data, err
}

// lineReader reads lines within a length bound, skipping the rest of an
// over-long line.
type lineReader struct {
	br   *bufio.Reader
	line int
	err  error
	max  int64
}

func newLineReader(r io.Reader, opts ParseOptions) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(&boundedReader{r: r, left: opts.MaxBytes}, opts.MaxLineLen), max: opts.MaxBytes}
}

// next returns the next line without its line ending. tooLong reports a
// line that exceeded the bound; its text is dropped. ok is false at the end
// of input or on a read error (see err).
func (l *lineReader) next() (line []byte, tooLong, ok bool) {
	if l.err != nil {
		return nil, false, false
	}
	b, err := l.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = l.br.ReadSlice('\n')
		}
		l.line++
		if err != nil && err != io.EOF {
			l.setErr(err)
			return nil, true, true
		}
		if err == io.EOF {
			l.err = io.EOF
		}
		return nil, true, true
	}
	if err != nil {
		if err != io.EOF {
			l.setErr(err)
			return nil, false, false
		}
		l.err = io.EOF
		if len(b) == 0 {
			return nil, false, false
		}
	}
	l.line++
	b = bytes.TrimSuffix(b, []byte{'\n'})
	b = bytes.TrimSuffix(b, []byte{'\r'})
	if l.line == 1 {
		b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	}
	return b, false, true
}

func (l *lineReader) setErr(err error) {
	if errors.Is(err, ErrTooLarge) {
		err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, l.max)
	}
	l.err = err
}

// failure returns the read error that ended the input, or nil at EOF.
func (l *lineReader) failure() error {
	if l.err == io.EOF {
		return nil
	}
	return l.err
}

var zeroTime time.Time

// errStop ends a walk once the indicator bound is reached; the bound's own
// error is already recorded.
var errStop = errors.New("stop")
