package sqlite

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
)

// compiled is a filter compiled to an SQL condition on the events table
// (alias e) with its bound arguments, plus the block condition.
type compiled struct {
	where string // "" = all rows
	args  []any
	bloom *bloomExpr
	ids   []int64 // registered programs, unregistered by release

	mu      sync.Mutex
	bloomID int64
}

func (c *compiled) release() { unregister(c.ids) }

// bloomProgram registers the block condition once per search.
func (c *compiled) bloomProgram() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bloomID == 0 {
		c.bloomID = register(c.bloom)
		c.ids = append(c.ids, c.bloomID)
	}
	return c.bloomID
}

// fragment is a compiled sub-expression. doc is set when evaluating it
// decodes every row's document (as opposed to only rows whose promoted
// field is an array).
type fragment struct {
	sql  string
	args []any
	doc  bool
}

type compiler struct {
	ids []int64
}

func (c *compiler) reg(p any) int64 {
	id := register(p)
	c.ids = append(c.ids, id)
	return id
}

// compileFilter compiles e (nil = all events). The SQL it produces holds
// no value of the query: values travel as bound parameters, field names map
// to fixed columns or to registered programs.
func compileFilter(e query.Expr) *compiled {
	out := &compiled{bloom: bloomTrue}
	if e == nil {
		return out
	}
	var c compiler
	f := c.expr(e)
	out.where, out.args, out.ids = f.sql, f.args, c.ids
	out.bloom = bloomOf(e)
	return out
}

// docFragment evaluates e with the reference matcher on the document.
func (c *compiler) docFragment(e query.Expr) fragment {
	id := c.reg(query.CompileExpr(e))
	return fragment{sql: "vigil_match(e.doc, ?)", args: []any{id}, doc: true}
}

func (c *compiler) expr(e query.Expr) fragment {
	switch e := e.(type) {
	case *query.Term:
		if f, ok := c.term(e); ok {
			return f
		}
		return c.docFragment(e)
	case *query.And:
		var parts []fragment
		var docTerms []query.Expr
		for _, t := range e.Terms {
			f := c.expr(t)
			if f.doc {
				docTerms = append(docTerms, t)
				continue
			}
			parts = append(parts, f)
		}
		// One decode per row for all terms that need the document, after
		// the cheap column conditions.
		switch len(docTerms) {
		case 0:
		case 1:
			parts = append(parts, c.docFragment(docTerms[0]))
		default:
			parts = append(parts, c.docFragment(&query.And{Terms: docTerms}))
		}
		return join(parts, " AND ")
	case *query.Or:
		// CIDR terms on one field are tested as one set (one call per
		// row, not one per term).
		groups, rest := query.GroupCIDR(e.Terms)
		var parts []fragment
		for _, g := range groups {
			f, ok := c.cidrSet(g)
			if !ok {
				return c.docFragment(e)
			}
			parts = append(parts, f)
		}
		for _, t := range rest {
			f := c.expr(t)
			if f.doc {
				return c.docFragment(e)
			}
			parts = append(parts, f)
		}
		return join(parts, " OR ")
	case *query.Not:
		f := c.expr(e.X)
		if f.doc {
			return c.docFragment(e)
		}
		return fragment{sql: "NOT (" + f.sql + ")", args: f.args}
	}
	return c.docFragment(e)
}

func join(parts []fragment, sep string) fragment {
	if len(parts) == 1 {
		return parts[0]
	}
	var out fragment
	var b strings.Builder
	b.WriteByte('(')
	for i, p := range parts {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteByte('(')
		b.WriteString(p.sql)
		b.WriteByte(')')
		out.args = append(out.args, p.args...)
		out.doc = out.doc || p.doc
	}
	b.WriteByte(')')
	out.sql = b.String()
	return out
}

// Time bounds within which a nanosecond timestamp is exact.
var (
	minExactTime = time.Unix(0, math.MinInt64)
	maxExactTime = time.Unix(0, math.MaxInt64)
)

// term compiles a term to column conditions when that is exact. Every
// fragment is two-valued (never NULL), so that NOT works.
func (c *compiler) term(t *query.Term) (fragment, bool) {
	if t.Field == event.FieldTimestamp && t.Op.IsComparison() && !t.Time.IsZero() &&
		t.Time.After(minExactTime) && t.Time.Before(maxExactTime) {
		ns := t.Time.UnixNano()
		op := map[query.Op]string{query.OpGt: ">", query.OpGte: ">=", query.OpLt: "<", query.OpLte: "<="}[t.Op]
		return fragment{sql: "e.ts " + op + " ?", args: []any{ns}}, true
	}
	i := promotedIndex(t.Field)
	if i < 0 {
		return fragment{}, false
	}
	col := "e." + promoted[i].col
	bit := int64(1) << i
	switch t.Op {
	case query.OpExists:
		return fragment{sql: "(" + col + " IS NOT NULL OR e.cx & ?)", args: []any{bit}}, true
	case query.OpEq:
		// Rows whose field has several values (cx bit) need the document.
		id := c.reg(query.CompileExpr(t))
		eq := col + " = ? COLLATE NOCASE"
		if !hasASCIILetter(t.Value) {
			// Case folding cannot change the value (an address, a
			// number): a binary comparison is the same and cheaper.
			eq = col + " = ?"
		}
		return fragment{
			sql:  "((" + col + " IS NOT NULL AND " + eq + ") OR (e.cx & ? AND vigil_match(e.doc, ?)))",
			args: []any{t.Value, bit, id},
		}, true
	case query.OpWildcard, query.OpCIDR, query.OpGt, query.OpGte, query.OpLt, query.OpLte:
		tid := c.reg(query.CompileTerm(t))
		id := c.reg(query.CompileExpr(t))
		return fragment{
			sql:  "(CASE WHEN e.cx & ? THEN vigil_match(e.doc, ?) ELSE vigil_val(" + col + ", ?) END)",
			args: []any{bit, id, tid},
		}, true
	}
	return fragment{}, false
}

// cidrSet compiles the OR of CIDR terms on one field (see
// query.GroupCIDR) to a column condition when the field is promoted.
func (c *compiler) cidrSet(terms []*query.Term) (fragment, bool) {
	i := promotedIndex(terms[0].Field)
	if i < 0 {
		return fragment{}, false
	}
	col := "e." + promoted[i].col
	bit := int64(1) << i
	or := make([]query.Expr, len(terms))
	for j, t := range terms {
		or[j] = t
	}
	sid := c.reg(query.NewCIDRSet(terms))
	id := c.reg(query.CompileExpr(&query.Or{Terms: or}))
	return fragment{
		sql:  "(CASE WHEN e.cx & ? THEN vigil_match(e.doc, ?) ELSE vigil_val(" + col + ", ?) END)",
		args: []any{bit, id, sid},
	}, true
}

func hasASCIILetter(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c >= 'a' && c <= 'z' {
			return true
		}
	}
	return false
}

// clampNanos converts t to Unix nanoseconds, clamped to the int64 range.
func clampNanos(t time.Time) int64 {
	switch {
	case !t.After(minExactTime):
		return -1 << 63
	case !t.Before(maxExactTime):
		return 1<<63 - 1
	}
	return t.UnixNano()
}

func itoa(n int) string { return strconv.Itoa(n) }
