package query

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TimeColumn is the name of the time-bucket column of a Timechart's output.
const TimeColumn = "@timestamp"

// Timechart counts or aggregates events per time bucket of width Span
// (buckets start at multiples of Span since the Unix epoch, UTC), optionally
// split by one field. Its output columns are TimeColumn (bucket start), the
// By field when set, then the aggregate names.
type Timechart struct {
	Span time.Duration
	Aggs []Agg
	By   string
}

func init() {
	registerPipe("timechart", 20, (*parser).parseTimechart)
}

func (t *Timechart) check(c pipeCheck) (string, []string, error) {
	cols, err := c.first(t)
	return "stats", cols, err
}

func (t *Timechart) plan(pl *runPlan) error {
	var by []string
	if t.By != "" {
		by = []string{t.By}
	}
	if t.Span < time.Second || t.Span%time.Second != 0 {
		return fmt.Errorf("running timechart: span %v is not a positive whole number of seconds", t.Span)
	}
	pl.res.Columns, pl.res.Rows = runStats(pl.evs, by, t.Aggs, t.Span)
	return nil
}

func (t *Timechart) columns([]string) []string {
	cols := []string{TimeColumn}
	if t.By != "" {
		cols = append(cols, t.By)
	}
	for _, a := range t.Aggs {
		cols = append(cols, a.Name())
	}
	return cols
}

func (*Timechart) aggregate() bool { return true }

// String returns the pipe in canonical syntax.
func (p *Timechart) String() string {
	var b strings.Builder
	b.WriteString("timechart span=")
	b.WriteString(FormatSpan(p.Span))
	b.WriteByte(' ')
	writeAggs(&b, p.Aggs)
	if p.By != "" {
		b.WriteString(" by ")
		b.WriteString(p.By)
	}
	return b.String()
}

func (p *parser) parseTimechart(start int) (Pipe, error) {
	if !p.word("span") {
		return nil, p.errAt(p.pos, "expected span=<n><s|m|h|d> after \"timechart\", found %s", p.describe(p.pos))
	}
	p.pos += len("span")
	if p.peek() != '=' {
		return nil, p.errAt(p.pos, "expected \"=\" after \"span\"")
	}
	p.pos++
	sstart := p.pos
	for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
		p.pos++
	}
	digits := p.src[sstart:p.pos]
	var unit time.Duration
	switch p.peek() {
	case 's':
		unit = time.Second
	case 'm':
		unit = time.Minute
	case 'h':
		unit = time.Hour
	case 'd':
		unit = 24 * time.Hour
	}
	if digits == "" || unit == 0 {
		return nil, p.errAt(sstart, "bad span %s: want a count and a unit s, m, h or d, as in span=5m", p.describe(sstart))
	}
	p.pos++
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 1 || n > int64(MaxSpan/unit) {
		return nil, p.errAt(sstart, "span %s out of range 1s..%dd", p.src[sstart:p.pos], MaxSpan/(24*time.Hour))
	}
	if p.pos < len(p.src) && !isSpace(p.src[p.pos]) {
		return nil, p.errAt(p.pos, "unexpected %s after span", p.describe(p.pos))
	}
	aggs, by, err := p.parseAggs(start, false)
	if err != nil {
		return nil, err
	}
	tc := &Timechart{Span: time.Duration(n) * unit, Aggs: aggs}
	if len(by) > 0 {
		tc.By = by[0]
	}
	return tc, nil
}
