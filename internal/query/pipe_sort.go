package query

import "strings"

// SortKey is one sort column.
type SortKey struct {
	Field string
	Desc  bool
}

// Sort orders the rows (events, or the aggregate's output rows) by Keys.
type Sort struct {
	Keys []SortKey
}

func init() {
	registerPipe("sort", 30, func(p *parser, _ int) (Pipe, error) {
		var keys []SortKey
		err := p.parseList("sort", func() error {
			k := SortKey{}
			switch p.peek() {
			case '-':
				k.Desc = true
				p.pos++
			case '+':
				p.pos++
			}
			col, err := p.expectColumn("sort")
			if err != nil {
				return err
			}
			k.Field = col
			keys = append(keys, k)
			return nil
		})
		if err != nil {
			return nil, err
		}
		return &Sort{Keys: keys}, nil
	})
}

func (s *Sort) check(c pipeCheck) (string, []string, error) {
	if c.saw("limit") {
		return "", nil, c.errorf("sort after limit is not supported: put sort before limit")
	}
	for _, k := range s.Keys {
		if err := c.column("sort", k.Field); err != nil {
			return "", nil, err
		}
	}
	return "sort", c.cols, nil
}

func (s *Sort) plan(pl *runPlan) error {
	pl.sorter = s
	return nil
}

func (*Sort) columns(before []string) []string { return before }
func (*Sort) aggregate() bool                  { return false }

// String returns the pipe in canonical syntax.
func (p *Sort) String() string {
	var b strings.Builder
	b.WriteString("sort ")
	for i, k := range p.Keys {
		if i > 0 {
			b.WriteString(", ")
		}
		if k.Desc {
			b.WriteByte('-')
		}
		b.WriteString(k.Field)
	}
	return b.String()
}
