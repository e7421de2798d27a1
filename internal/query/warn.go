package query

import (
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/vigilsec/vigil/internal/ascii"
	"github.com/vigilsec/vigil/internal/event"
)

// Warnings: a query that runs but likely does not say what was meant (a
// lowercase "and", a misspelled field name) must not quietly find nothing.
// Parse-time warnings come from ParseWarn; Advise adds those that need to
// know the data.

// MaxWarnings bounds the warnings ParseWarn or Advise returns; past it,
// one more warning counts the rest.
const MaxWarnings = 10

// MaxSuggestNames bounds the known field names Advise compares an unknown
// name with, so that a process that has seen very many names (they come
// from logs) answers in bounded time. Names past it are not suggested.
const MaxSuggestNames = 100_000

// MaxSuggestFor bounds the unknown names of one query Advise looks for
// suggestions for; the others are reported without.
const MaxSuggestFor = 3

// maxSuggestLen is the longest known name that is suggested.
const maxSuggestLen = 256

// Warning is a note about a query that runs but likely does not do what
// was meant.
type Warning struct {
	// Offset is the byte offset of the text the warning is about; Line and
	// Col are 1-based (Col in characters). Line is 0 when the warning is
	// about the query as a whole (a field name may occur several times).
	Offset, Line, Col int
	// Msg says what is wrong and how to write it.
	Msg string
}

// String formats the warning as query:LINE:COL: message, or the bare
// message when it has no position.
func (w Warning) String() string {
	if w.Line == 0 {
		return w.Msg
	}
	return fmt.Sprintf("query:%d:%d: %s", w.Line, w.Col, w.Msg)
}

// capWarnings returns ws with, when dropped > 0, a last warning that counts
// the dropped ones.
func capWarnings(ws []Warning, dropped int) []Warning {
	if dropped > 0 {
		ws = append(ws, Warning{Msg: fmt.Sprintf("%d more warnings not shown", dropped)})
	}
	return ws
}

// FieldSet tells which field names events are known to have.
type FieldSet interface {
	// Has reports whether some event is known to have the field.
	Has(name string) bool
	// Names yields the known names, for suggestions.
	Names() iter.Seq[string]
}

// SeenFields is the FieldSet of this process: the names served from the
// event's own members (@timestamp, event.ingested, tags, log.original,
// vigil.input, logsource.*) and every field name interned since the
// process started (see event.Intern): the fields of every event received
// or read from a store, the names the store keeps in its columns and
// documents, and the names loaded rules refer to. A store's events that
// no search has read since a restart may hold names it does not know yet.
var SeenFields FieldSet = seenFields{}

type seenFields struct{}

func (seenFields) Has(name string) bool {
	if virtualOf(name) != notVirtual {
		return true
	}
	_, ok := event.Lookup(name)
	return ok
}

func (seenFields) Names() iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, n := range virtualNames {
			if !yield(n) {
				return
			}
		}
		n := event.NumKeys()
		for k := 1; k <= n; k++ {
			if !yield(event.Key(k).Name()) {
				return
			}
		}
	}
}

// virtualNames are the reserved names FieldValues serves.
var virtualNames = []string{event.FieldTimestamp, fieldIngested, fieldInput, fieldProduct, fieldCategory, fieldService, event.FieldTags, event.FieldOriginal}

// Advise returns warnings about q that need to know the data:
//
//   - every field name q refers to (in the filter, in stats and timechart,
//     and in the sort and fields pipes of an event query) that fields does
//     not have: `no event has field "soruce.ip"; did you mean "source.ip"?`
//     (the closest known names by edit distance, ASCII case ignored, or
//     the known names under it: "source" suggests "source.ip");
//   - when empty is true (the search found nothing), every bare word that
//     reads like a comparison in another language, such as
//     user.name=root, which is searched as text.
//
// Checking a name is a lookup; suggestions are looked for only for the
// first MaxSuggestFor unknown names, among the first MaxSuggestNames known
// names. At most MaxWarnings are returned, then one that counts the rest.
func Advise(q *Query, fields FieldSet, empty bool) []Warning {
	var ws []Warning
	dropped := 0
	add := func(msg string) {
		if len(ws) >= MaxWarnings {
			dropped++
			return
		}
		ws = append(ws, Warning{Msg: msg})
	}
	var unknown []string
	for _, name := range referencedFields(q) {
		if !fields.Has(name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > MaxWarnings {
		dropped += len(unknown) - MaxWarnings
		unknown = unknown[:MaxWarnings]
	}
	if len(unknown) > 0 {
		sugg := suggest(unknown[:min(len(unknown), MaxSuggestFor)], fields.Names())
		sugg = append(sugg, make([]suggestion, len(unknown)-len(sugg))...)
		for i, name := range unknown {
			msg := fmt.Sprintf("no event has field %q", name)
			switch {
			case len(sugg[i].close) > 0:
				msg += "; did you mean " + orList(sugg[i].close) + "?"
			case len(sugg[i].under) > 0:
				msg += "; fields under it: " + quoteList(sugg[i].under)
			}
			add(msg)
		}
	}
	if empty && q.Filter != nil {
		walkTerms(q.Filter, func(t *Term) {
			if t.Op != OpWord {
				return
			}
			name, value, ok := strings.Cut(t.Value, "=")
			if !ok || value == "" || strings.HasPrefix(value, "=") {
				return
			}
			neg := ""
			if n, ok := strings.CutSuffix(name, "!"); ok {
				name, neg = n, "NOT "
			}
			if !validField(name) {
				return
			}
			add(fmt.Sprintf("%q is searched as text; write %s%s to match the field", t.Value, neg, (&Term{Field: name, Op: OpEq, Value: value}).String()))
		})
	}
	return capWarnings(ws, dropped)
}

// referencedFields returns the field names q refers to, each once, in
// order of appearance.
func referencedFields(q *Query) []string {
	var names []string
	add := func(n string) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if q.Filter != nil {
		walkTerms(q.Filter, func(t *Term) { add(t.Field) })
	}
	agg := q.IsAggregate()
	for _, p := range q.Pipes {
		switch p := p.(type) {
		case *Stats:
			for _, a := range p.Aggs {
				add(a.Field)
			}
			for _, b := range p.By {
				add(b)
			}
		case *Timechart:
			for _, a := range p.Aggs {
				add(a.Field)
			}
			add(p.By)
		case *Sort:
			// After an aggregate, sort and fields name its output columns,
			// which the parser checks.
			if !agg {
				for _, k := range p.Keys {
					add(k.Field)
				}
			}
		case *Fields:
			if !agg {
				for _, n := range p.Names {
					add(n)
				}
			}
		}
	}
	return names
}

// walkTerms calls fn with every term of e.
func walkTerms(e Expr, fn func(*Term)) {
	switch e := e.(type) {
	case *Term:
		fn(e)
	case *And:
		for _, t := range e.Terms {
			walkTerms(t, fn)
		}
	case *Or:
		for _, t := range e.Terms {
			walkTerms(t, fn)
		}
	case *Not:
		walkTerms(e.X, fn)
	}
}

// suggestion holds the known names proposed for one unknown name.
type suggestion struct {
	best  int      // edit distance of close
	close []string // the closest names (at most 3)
	under []string // names that begin with the unknown name and a dot (at most 3)
}

// suggest finds, for each unknown name, the closest known names (edit
// distance within maxDistance, ASCII case ignored) and the known names
// under it, looking at the first MaxSuggestNames names.
func suggest(unknown []string, known iter.Seq[string]) []suggestion {
	out := make([]suggestion, len(unknown))
	lower := make([]string, len(unknown))
	for i, u := range unknown {
		lower[i] = ascii.Lower(u)
		out[i].best = maxDistance(u) + 1
	}
	var row0, row1, row2 []int
	n := 0
	for name := range known {
		if n++; n > MaxSuggestNames {
			break
		}
		if len(name) > maxSuggestLen || !validField(name) {
			continue
		}
		ln := ascii.Lower(name)
		for i, u := range unknown {
			s := &out[i]
			if name == u {
				continue
			}
			if len(s.under) < 3 && strings.HasPrefix(name, u) && name[len(u)] == '.' && !slices.Contains(s.under, name) {
				s.under = append(s.under, name)
			}
			// Distances at or past limit are of no use: above the best so
			// far (a tie still counts) or above maxDistance.
			limit := min(s.best+1, maxDistance(u)+1)
			if abs(len(ln)-len(lower[i])) >= limit {
				continue
			}
			var d int
			d, row0, row1, row2 = osaDistance(lower[i], ln, limit, row0, row1, row2)
			switch {
			case d >= limit:
			case d < s.best:
				s.best, s.close = d, append(s.close[:0], name)
			case len(s.close) < 3 && !slices.Contains(s.close, name):
				s.close = append(s.close, name)
			}
		}
	}
	for i := range out {
		slices.Sort(out[i].close)
		slices.Sort(out[i].under)
	}
	return out
}

// maxDistance is the largest edit distance at which a known name is
// suggested for name: short names allow fewer edits, so that "ip" does not
// suggest every two-letter name.
func maxDistance(name string) int {
	switch {
	case len(name) <= 4:
		return 1
	case len(name) <= 12:
		return 2
	}
	return 3
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// osaDistance returns the optimal string alignment distance of a and b
// (insertions, deletions, substitutions and swaps of adjacent bytes), or
// limit when it is at least limit. Only cells within limit of the diagonal
// are computed (a cell farther off is at least limit), so a comparison
// costs O(len(a)·limit). The rows are scratch space, returned for reuse.
func osaDistance(a, b string, limit int, prev2, prev, cur []int) (int, []int, []int, []int) {
	if abs(len(a)-len(b)) >= limit {
		return limit, prev2, prev, cur
	}
	m := len(b) + 1
	prev2, prev, cur = grow(prev2, m), grow(prev, m), grow(cur, m)
	for j := range m {
		prev[j] = min(j, limit)
	}
	for i := 1; i <= len(a); i++ {
		lo, hi := max(1, i-limit+1), min(m-1, i+limit-1)
		// The cells just outside the band, which the next cells and the
		// next row read, are at least limit.
		cur[0] = min(i, limit)
		if lo-1 >= 1 {
			cur[lo-1] = limit
		}
		if hi+1 < m {
			cur[hi+1] = limit
		}
		rowMin := cur[0]
		for j := lo; j <= hi; j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			v = min(v, limit)
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin >= limit {
			return limit, prev2, prev, cur
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[m-1], limit), prev2, prev, cur
}

func grow(s []int, n int) []int {
	if cap(s) < n {
		return make([]int, n)
	}
	return s[:n]
}

// orList formats names as "a", "a" or "b", "a", "b" or "c".
func orList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
