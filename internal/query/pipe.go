package query

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

// Pipe is one stage after the filter: *Stats, *Sort, *Limit, *Fields or
// *Timechart. Each lives in its own file (pipe_stats.go, ...), which
// registers its command with registerPipe and implements what Parse and
// Run ask of it.
type Pipe interface {
	// String returns the pipe in canonical query syntax (without the
	// leading "|").
	String() string
	// check checks the pipe's place among the query's pipes and the
	// columns it names; it returns the pipe's kind, of which a query has
	// one at most (stats and timechart share "stats"), and the columns
	// the pipes after it may name (c.cols when it does not change them).
	check(c pipeCheck) (kind string, cols []string, err error)
	// plan records what Run does for the pipe.
	plan(pl *runPlan) error
	// columns returns the output columns after the pipe, given those
	// before it (nil: whole events).
	columns(before []string) []string
	// aggregate reports whether the pipe turns events into rows.
	aggregate() bool
}

// A pipeParser parses a pipe's arguments: the parser stands after the
// command name and the spaces after it; start is the offset of the name,
// for messages.
type pipeParser func(p *parser, start int) (Pipe, error)

// pipeSpec is a registered pipe command.
type pipeSpec struct {
	name string
	// order places the command in listings ("want stats, timechart,
	// ..."): the order a query writes its pipes in.
	order int
	parse pipeParser
}

// pipes maps a command name (lower case) to its spec; it is written by the
// init functions only and read without a lock.
var pipes = map[string]*pipeSpec{}

// registerPipe registers the pipe command name. A name registered twice,
// or one that is not a lower-case word, is a programming error.
func registerPipe(name string, order int, parse pipeParser) {
	if name == "" || name != strings.ToLower(name) || strings.IndexFunc(name, func(r rune) bool { return r > 0x7f || !fieldByte(byte(r)) }) >= 0 {
		panic(fmt.Sprintf("query: pipe command %q is not a lower-case name", name))
	}
	if _, dup := pipes[name]; dup {
		panic(fmt.Sprintf("query: pipe command %q registered twice", name))
	}
	if _, clash := pipeAdvice[name]; clash {
		panic(fmt.Sprintf("query: pipe command %q has advice for another language's command", name))
	}
	if len(pipes) == maxPipeKinds {
		panic(fmt.Sprintf("query: pipe command %q is one more than the %d pipeCheck has room for", name, maxPipeKinds))
	}
	pipes[name] = &pipeSpec{name: name, order: order, parse: parse}
}

// pipeList names the pipe commands in order, for messages: "a, b or c".
func pipeList() string {
	specs := slices.SortedFunc(maps.Values(pipes), func(a, b *pipeSpec) int {
		return cmp.Or(cmp.Compare(a.order, b.order), strings.Compare(a.name, b.name))
	})
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.name
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func (p *parser) parsePipe() (Pipe, error) {
	p.skipSpace()
	start := p.pos
	name := strings.ToLower(p.readName())
	if name == "" {
		if p.peek() == '|' && p.pos > 0 && p.src[p.pos-1] == '|' {
			return nil, p.errAt(p.pos-1, `"||" is not an operator: write OR`)
		}
		return nil, p.errAt(p.pos, "expected a command after \"|\", found %s", p.describe(p.pos))
	}
	p.skipSpace()
	if spec := pipes[name]; spec != nil {
		return spec.parse(p, start)
	}
	if advice, ok := pipeAdvice[name]; ok {
		return nil, p.errAt(start, "unknown command %q: %s", name, advice)
	}
	return nil, p.errAt(start, "unknown command %q: want %s", name, pipeList())
}

// pipeAdvice says how to write what commands of other query languages
// (SPL, ES|QL, KQL, SQL) do.
var pipeAdvice = map[string]string{
	"head":    `write "limit N" (as in | limit 10)`,
	"take":    `write "limit N" (as in | limit 10)`,
	"tail":    `write "sort @timestamp | limit N" for the oldest events (results come newest first)`,
	"where":   `put conditions in the filter before the first "|" (as in status>=500 | stats count())`,
	"search":  `put conditions in the filter before the first "|" (as in status>=500 | stats count())`,
	"filter":  `put conditions in the filter before the first "|" (as in status>=500 | stats count())`,
	"top":     `write "stats count() by FIELD | sort -count | limit 10"`,
	"rare":    `write "stats count() by FIELD | sort count | limit 10"`,
	"table":   `write "fields a, b"`,
	"select":  `write "fields a, b"`,
	"keep":    `write "fields a, b"`,
	"project": `write "fields a, b"`,
	"count":   `write "stats count()"`,
	"dedup":   `write "stats count() by FIELD" for the distinct values`,
	"uniq":    `write "stats count() by FIELD" for the distinct values`,
	"chart":   `write "stats AGG(...) by FIELD" or "timechart span=5m AGG(...)"`,
	"order":   `write "sort FIELD" (or "sort -FIELD" for descending)`,
	"sort_by": `write "sort FIELD" (or "sort -FIELD" for descending)`,
}

// maxPipeKinds bounds the pipe commands, and so the kinds a query's pipes
// may have (one pipe of each at most).
const maxPipeKinds = 16

// pipeCheck is what a pipe's check sees: its place in the query and the
// pipes before it. It is passed by value, so checking allocates nothing.
type pipeCheck struct {
	p *parser
	// i is the pipe's index in the query's pipes and pos the offset of
	// its command.
	i, pos int
	// cols are the output columns of the aggregate before the pipe (nil:
	// events, whose fields are not known).
	cols []string
	// seen holds the kinds of the pipes before it.
	seen  [maxPipeKinds]string
	nseen int
}

// saw reports whether a pipe of kind came before.
func (c pipeCheck) saw(kind string) bool {
	for _, k := range c.seen[:c.nseen] {
		if k == kind {
			return true
		}
	}
	return false
}

// errorf returns a parse error at the pipe's command.
func (c pipeCheck) errorf(format string, args ...any) error {
	return c.p.errAt(c.pos, format, args...)
}

// first checks that an aggregate pipe comes first and returns the columns
// the pipes after it may name.
func (c pipeCheck) first(pp Pipe) ([]string, error) {
	if c.i > 0 {
		return nil, c.errorf("%s must be the first pipe", strings.Fields(pp.String())[0])
	}
	return pp.columns(nil), nil
}

// column checks that a column the pipe names is an output column of the
// aggregate before it, if any.
func (c pipeCheck) column(cmd, col string) error {
	if c.cols != nil && !slices.Contains(c.cols, col) {
		return c.errorf("%s column %q is not an output column (columns: %s)", cmd, col, strings.Join(c.cols, ", "))
	}
	return nil
}

// validatePipes checks the order of pipes and that pipes after an aggregate
// refer to its output columns.
func (p *parser) validatePipes(q *Query) error {
	c := pipeCheck{p: p}
	for i, pp := range q.Pipes {
		c.i, c.pos = i, p.pipePos[i]
		kind, cols, err := pp.check(c)
		if err != nil {
			return err
		}
		if c.saw(kind) {
			return c.errorf("only one %s pipe is allowed", kind)
		}
		c.seen[c.nseen] = kind
		c.nseen++
		c.cols = cols
	}
	return nil
}

// runPlan is what Run does after the filter, as the pipes set it: the
// aggregate first, then sort, limit and projection, whatever order the
// pipes came in (Parse allows only orders where that is the same).
type runPlan struct {
	// evs are the events that passed the filter; res is the result the
	// aggregate fills.
	evs []*event.Event
	res *Result
	// sorter, limit (-1 for none) and fields are applied after the
	// aggregate.
	sorter *Sort
	limit  int
	fields *Fields
}

// errNilPipe is Run's answer to a query built by hand with a nil pipe.
var errNilPipe = errors.New("running query: nil pipe")
