package query

import (
	"slices"
	"strings"
)

// Fields keeps only the named columns (for events: the named fields).
type Fields struct {
	Names []string
}

func init() {
	registerPipe("fields", 50, func(p *parser, _ int) (Pipe, error) {
		var names []string
		err := p.parseList("fields", func() error {
			off := p.pos
			col, err := p.expectColumn("fields")
			if err != nil {
				return err
			}
			if slices.Contains(names, col) {
				return p.errAt(off, "column %q listed twice", col)
			}
			names = append(names, col)
			return nil
		})
		if err != nil {
			return nil, err
		}
		return &Fields{Names: names}, nil
	})
}

func (f *Fields) check(c pipeCheck) (string, []string, error) {
	for _, n := range f.Names {
		if err := c.column("fields", n); err != nil {
			return "", nil, err
		}
	}
	return "fields", c.cols, nil
}

func (f *Fields) plan(pl *runPlan) error {
	pl.fields = f
	return nil
}

func (f *Fields) columns([]string) []string { return append([]string(nil), f.Names...) }
func (*Fields) aggregate() bool             { return false }

// String returns the pipe in canonical syntax.
func (p *Fields) String() string { return "fields " + strings.Join(p.Names, ", ") }
