package query

import (
	"strings"
)

// Stats groups the filtered events by the By fields (none: one group of all
// events) and computes Aggs per group. Its output columns are the By
// fields, then the aggregate names.
//
// A group-by value is the text of the field's first non-null value; events
// without one form a group whose value is null. Aggregates over a field
// take every non-null value (every element of an array). Run documents the
// full semantics and is the reference implementation.
type Stats struct {
	Aggs []Agg
	By   []string
}

func init() {
	registerPipe("stats", 10, func(p *parser, start int) (Pipe, error) {
		aggs, by, err := p.parseAggs(start, true)
		if err != nil {
			return nil, err
		}
		return &Stats{Aggs: aggs, By: by}, nil
	})
}

func (s *Stats) check(c pipeCheck) (string, []string, error) {
	cols, err := c.first(s)
	return "stats", cols, err
}

func (s *Stats) plan(pl *runPlan) error {
	pl.res.Columns, pl.res.Rows = runStats(pl.evs, s.By, s.Aggs, 0)
	return nil
}

func (s *Stats) columns([]string) []string {
	cols := append([]string(nil), s.By...)
	for _, a := range s.Aggs {
		cols = append(cols, a.Name())
	}
	return cols
}

func (*Stats) aggregate() bool { return true }

// String returns the pipe in canonical syntax.
func (p *Stats) String() string {
	var b strings.Builder
	b.WriteString("stats ")
	writeAggs(&b, p.Aggs)
	if len(p.By) > 0 {
		b.WriteString(" by ")
		b.WriteString(strings.Join(p.By, ", "))
	}
	return b.String()
}

// parseAggs parses "agg(...) [as name] [, ...] [by f1, f2]". multiBy
// allows more than one by field (stats; timechart takes one).
func (p *parser) parseAggs(start int, multiBy bool) ([]Agg, []string, error) {
	var aggs []Agg
	var by []string
	for {
		p.skipSpace()
		fstart := p.pos
		fn := strings.ToLower(p.readName())
		if fn == "" {
			return nil, nil, p.errAt(p.pos, "expected an aggregate such as count() or dc(field), found %s", p.describe(p.pos))
		}
		switch fn {
		case AggCount, AggDC, AggMin, AggMax, AggAvg, AggSum:
		default:
			return nil, nil, p.errAt(fstart, "unknown function %q: want count, dc, min, max, avg or sum", fn)
		}
		if p.peek() != '(' {
			return nil, nil, p.errAt(p.pos, "expected \"(\" after %q", fn)
		}
		p.pos++
		p.skipSpace()
		a := Agg{Func: fn, Field: p.readName()}
		p.skipSpace()
		if p.peek() != ')' {
			return nil, nil, p.errAt(p.pos, "expected \")\" after %q, found %s", strings.TrimSpace(p.src[fstart:p.pos]), p.describe(p.pos))
		}
		p.pos++
		if a.Field == "" && fn != AggCount {
			return nil, nil, p.errAt(fstart, "%s() needs a field, as in %s(source.port)", fn, fn)
		}
		p.skipSpace()
		if p.word("as") {
			p.pos += 2
			p.skipSpace()
			a.As = p.readName()
			if a.As == "" {
				return nil, nil, p.errAt(p.pos, "expected a column name after \"as\", found %s", p.describe(p.pos))
			}
			p.skipSpace()
		}
		aggs = append(aggs, a)
		if p.peek() == ',' {
			p.pos++
			continue
		}
		break
	}
	if p.word("by") {
		p.pos += 2
		for {
			p.skipSpace()
			f := p.readName()
			if f == "" {
				return nil, nil, p.errAt(p.pos, "expected a field after \"by\", found %s", p.describe(p.pos))
			}
			by = append(by, f)
			p.skipSpace()
			if p.peek() != ',' {
				break
			}
			if !multiBy {
				return nil, nil, p.errAt(p.pos, "timechart splits by one field only")
			}
			p.pos++
		}
	}
	cmd := "stats"
	if !multiBy {
		cmd = "timechart"
	}
	if err := p.expectPipeEnd(cmd); err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	for _, c := range by {
		if seen[c] {
			return nil, nil, p.errAt(start, "column %q appears twice in %s", c, cmd)
		}
		seen[c] = true
	}
	for _, a := range aggs {
		if seen[a.Name()] {
			return nil, nil, p.errAt(start, "column %q appears twice in %s: name one with \"as\"", a.Name(), cmd)
		}
		seen[a.Name()] = true
	}
	if !multiBy && seen[TimeColumn] {
		return nil, nil, p.errAt(start, "column %q is the time bucket in timechart", TimeColumn)
	}
	return aggs, by, nil
}

func writeAggs(b *strings.Builder, aggs []Agg) {
	for i, a := range aggs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.Func)
		b.WriteByte('(')
		b.WriteString(a.Field)
		b.WriteByte(')')
		if a.As != "" {
			b.WriteString(" as ")
			b.WriteString(a.As)
		}
	}
}
