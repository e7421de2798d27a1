package query

import "strconv"

// Limit keeps the first N rows; 1 <= N <= the parser's MaxLimit.
type Limit struct {
	N int
}

func init() {
	registerPipe("limit", 40, func(p *parser, _ int) (Pipe, error) {
		nstart := p.pos
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		if nstart == p.pos {
			return nil, p.errAt(nstart, "expected a number after \"limit\", found %s", p.describe(nstart))
		}
		n, err := strconv.Atoi(p.src[nstart:p.pos])
		if err != nil || n < 1 || n > p.opts.MaxLimit {
			return nil, p.errAt(nstart, "limit %s out of range 1..%d", p.src[nstart:p.pos], p.opts.MaxLimit)
		}
		if err := p.expectPipeEnd("limit"); err != nil {
			return nil, err
		}
		return &Limit{N: n}, nil
	})
}

func (*Limit) check(c pipeCheck) (string, []string, error) { return "limit", c.cols, nil }

func (l *Limit) plan(pl *runPlan) error {
	pl.limit = l.N
	return nil
}

func (*Limit) columns(before []string) []string { return before }
func (*Limit) aggregate() bool                  { return false }

// String returns the pipe in canonical syntax.
func (p *Limit) String() string { return "limit " + strconv.Itoa(p.N) }
