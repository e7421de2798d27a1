package intel

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// CSVColumns names the columns of a CSV feed by their header names (matched
// case-insensitively) or by 1-based position ("3"). Only Value is required.
type CSVColumns struct {
	// Value is the column holding the indicator.
	Value string `koanf:"value"`
	// Kind is a column holding the kind of each row (ip, domain, url, md5,
	// sha256, ...); without it the feed's kind applies, else it is guessed.
	Kind string `koanf:"kind"`
	// Description is a column with a description.
	Description string `koanf:"description"`
	// Tags is a column of tags separated by commas, semicolons or bars.
	Tags string `koanf:"tags"`
	// Confidence is a column with a confidence of 0-100 (or low, medium,
	// high).
	Confidence string `koanf:"confidence"`
	// FirstSeen and LastSeen are columns with times (RFC 3339,
	// "2006-01-02 15:04:05" in UTC, a date, or Unix seconds).
	FirstSeen string `koanf:"first_seen"`
	LastSeen  string `koanf:"last_seen"`
	// Delimiter separates fields: "," (default), ";", "|" or "\t" (also
	// written "tab").
	Delimiter string `koanf:"delimiter"`
}

// Validate checks the column configuration.
func (c CSVColumns) Validate() error {
	if strings.TrimSpace(c.Value) == "" {
		return errors.New("csv: value column not set")
	}
	if _, err := c.delimiter(); err != nil {
		return err
	}
	return nil
}

func (c CSVColumns) delimiter() (byte, error) {
	switch c.Delimiter {
	case "", ",":
		return ',', nil
	case ";", "|":
		return c.Delimiter[0], nil
	case "\t", "tab", `\t`:
		return '\t', nil
	}
	return 0, fmt.Errorf("csv: unsupported delimiter %q (want , ; | or tab)", c.Delimiter)
}

// csvLayout is the position of each configured column, -1 when absent.
type csvLayout struct {
	value, kind, desc, tags, conf, first, last int
}

func (c CSVColumns) layout(header []string) (csvLayout, error) {
	find := func(name string) (int, error) {
		name = strings.TrimSpace(name)
		if name == "" {
			return -1, nil
		}
		for i, h := range header {
			if strings.EqualFold(strings.TrimSpace(h), name) {
				return i, nil
			}
		}
		if n, err := strconv.Atoi(name); err == nil && n >= 1 && n <= 4096 {
			return n - 1, nil
		}
		return -1, fmt.Errorf("csv: column %q not in header %q", name, strings.Join(header, ","))
	}
	var l csvLayout
	var errs []error
	for _, f := range []struct {
		dst  *int
		name string
	}{
		{&l.value, c.Value}, {&l.kind, c.Kind}, {&l.desc, c.Description},
		{&l.tags, c.Tags}, {&l.conf, c.Confidence},
		{&l.first, c.FirstSeen}, {&l.last, c.LastSeen},
	} {
		i, err := find(f.name)
		if err != nil {
			errs = append(errs, err)
		}
		*f.dst = i
	}
	if l.value < 0 && len(errs) == 0 {
		errs = append(errs, errors.New("csv: value column not set"))
	}
	return l, errors.Join(errs...)
}

// ParseCSV reads a CSV feed with a header row. opts.CSV names the columns;
// fields may be quoted ("a ""b""", with embedded delimiters and line
// breaks). Lines starting with # before the data are comments; a commented
// line that names the value column (as in abuse.ch exports, "# id,url,...")
// is taken as the header when no plain header line follows. Bad rows are
// reported with their line numbers and skipped.
func ParseCSV(r io.Reader, opts ParseOptions) ([]Indicator, []error) {
	c := newCollector(opts)
	cols := c.opts.CSV
	delim, err := cols.delimiter()
	if err != nil {
		c.fail(0, err)
		return c.result()
	}
	if strings.TrimSpace(cols.Value) == "" {
		c.fail(0, errors.New("csv: value column not set"))
		return c.result()
	}
	lr := newLineReader(r, c.opts)
	var (
		header    []string // nil until found
		candidate []string // commented header
		layout    csvLayout
		rec       strings.Builder
		recLine   int
		quotes    int // in the record so far
		fields    []string
	)
	conf := uint8(c.opts.Confidence)
	for {
		b, tooLong, ok := lr.next()
		if !ok {
			break
		}
		if tooLong {
			c.fail(lr.line, fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, c.opts.MaxLineLen))
			rec.Reset()
			continue
		}
		if rec.Len() == 0 {
			quotes = 0
			t := strings.TrimSpace(string(b))
			if t == "" {
				continue
			}
			if t[0] == '#' {
				if header == nil {
					if f, err := splitCSV(strings.TrimSpace(strings.TrimLeft(t, "#")), delim, nil); err == nil && hasColumn(f, cols.Value) {
						candidate = f
					}
				}
				continue
			}
			recLine = lr.line
		} else {
			rec.WriteByte('\n')
		}
		rec.Write(b)
		if rec.Len() > c.opts.MaxLineLen {
			c.fail(recLine, fmt.Errorf("%w: record of more than %d bytes", ErrLineTooLong, c.opts.MaxLineLen))
			rec.Reset()
			continue
		}
		quotes += bytes.Count(b, []byte{'"'})
		if quotes%2 != 0 {
			continue // a quoted field goes on on the next line
		}
		line := rec.String()
		rec.Reset()
		fields, err = splitCSV(line, delim, fields[:0])
		if err != nil {
			c.fail(recLine, err)
			continue
		}
		if header == nil {
			if candidate != nil && !hasColumn(fields, cols.Value) {
				header = candidate
			} else {
				header = append([]string(nil), fields...)
				if layout, err = cols.layout(header); err != nil {
					c.fail(recLine, err)
					return c.result()
				}
				continue
			}
			if layout, err = cols.layout(header); err != nil {
				c.fail(recLine, err)
				return c.result()
			}
		}
		if !c.csvRow(recLine, fields, layout, conf) {
			break
		}
	}
	if rec.Len() > 0 {
		c.fail(recLine, errors.New("csv: unterminated quoted field at end of input"))
	}
	if err := lr.failure(); err != nil {
		c.fatal(lr.line, err)
	}
	if header == nil && len(c.errs) == 0 {
		c.fail(0, errors.New("csv: no header row"))
	}
	return c.result()
}

func hasColumn(fields []string, name string) bool {
	name = strings.TrimSpace(name)
	for _, f := range fields {
		if strings.EqualFold(strings.TrimSpace(f), name) {
			return true
		}
	}
	return false
}

// csvRow adds the indicator of one row; false stops the parser.
func (c *collector) csvRow(line int, f []string, l csvLayout, conf uint8) bool {
	col := func(i int) string {
		if i < 0 || i >= len(f) {
			return ""
		}
		return strings.TrimSpace(f[i])
	}
	if l.value >= len(f) {
		c.fail(line, fmt.Errorf("csv: %d fields, value column is %d", len(f), l.value+1))
		return true
	}
	value := col(l.value)
	if value == "" {
		c.fail(line, errEmpty)
		return true
	}
	kind := c.opts.Kind
	if ks := col(l.kind); ks != "" {
		k, err := ParseKind(ks)
		if err != nil {
			c.fail(line, err)
			return true
		}
		kind = k
	}
	if s := col(l.conf); s != "" {
		n, err := parseConfidence(s)
		if err != nil {
			c.fail(line, err)
			return true
		}
		conf = n
	}
	var first, last time.Time
	for _, t := range []struct {
		dst *time.Time
		s   string
	}{{&first, col(l.first)}, {&last, col(l.last)}} {
		if t.s == "" {
			continue
		}
		v, err := parseTimeLoose(t.s)
		if err != nil {
			c.fail(line, err)
			return true
		}
		*t.dst = v
	}
	ctx := c.context(col(l.desc), splitTags(col(l.tags)), "", first, last, zeroTime)
	return c.add(line, kind, value, conf, ctx)
}

// splitCSV splits one CSV record into fields appended to dst. Quoted fields
// may hold the delimiter, line breaks and doubled quotes. A stray quote in
// an unquoted field is kept as text.
func splitCSV(rec string, delim byte, dst []string) ([]string, error) {
	i := 0
	for i < len(rec) && rec[i] == ' ' {
		i++
	}
	if i == len(rec) || rec[i] != '"' {
		i = 0
	}
	for {
		if i < len(rec) && rec[i] == '"' {
			var sb strings.Builder
			j := i + 1
			for {
				k := strings.IndexByte(rec[j:], '"')
				if k < 0 {
					return dst, errors.New("csv: unterminated quoted field")
				}
				sb.WriteString(rec[j : j+k])
				j += k + 1
				if j < len(rec) && rec[j] == '"' {
					sb.WriteByte('"')
					j++
					continue
				}
				break
			}
			// Text after the closing quote up to the delimiter is kept.
			k := strings.IndexByte(rec[j:], delim)
			if k < 0 {
				sb.WriteString(rec[j:])
				return append(dst, sb.String()), nil
			}
			sb.WriteString(rec[j : j+k])
			dst = append(dst, sb.String())
			i = j + k + 1
			continue
		}
		k := strings.IndexByte(rec[i:], delim)
		if k < 0 {
			return append(dst, strings.TrimSpace(rec[i:])), nil
		}
		dst = append(dst, strings.TrimSpace(rec[i:i+k]))
		i += k + 1
		// A quoted field may follow blanks after the delimiter.
		j := i
		for j < len(rec) && rec[j] == ' ' {
			j++
		}
		if j < len(rec) && rec[j] == '"' {
			i = j
		}
	}
}

func splitTags(s string) []string {
	if s == "" {
		return nil
	}
	var tags []string
	for _, t := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == '|' }) {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	return tags
}

func parseConfidence(s string) (uint8, error) {
	switch strings.ToLower(s) {
	case "low":
		return 25, nil
	case "medium", "med":
		return 50, nil
	case "high":
		return 85, nil
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n != n {
		return 0, fmt.Errorf("bad confidence %q", clip(s))
	}
	return clampConfidence(int(n)), nil
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05 MST",
	"2006-01-02",
}

// parseTimeLoose reads the time formats feeds use; times without a zone are
// UTC.
func parseTimeLoose(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 && n < 1<<36 {
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("bad time %q", clip(s))
}
