// Package query implements Vigil's query language: a filter over events
// followed by optional pipes (stats, sort, limit, fields, timechart).
//
//	user.name:root AND source.ip:10.0.0.0/8 AND NOT event.outcome:success
//	event.dataset:sshd "Failed password" | stats count() by source.ip | sort -count | limit 10
//
// Parse turns text into a Query (the AST). The AST is the contract between
// the language and its evaluators: the in-memory matcher in this package
// (Compile, Matches), used for live tail and as the reference, and the
// storage engines, which compile the AST to SQL and must give the same
// answers. The semantics every evaluator must follow are written on the Op
// constants and in docs/query.md.
package query

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Query is a parsed query: a filter and the pipes applied to the events
// that pass it, in order.
type Query struct {
	// Filter selects events. nil matches every event (the empty query).
	Filter Expr
	// Pipes are applied in order after the filter. Parse guarantees the
	// shape: at most one Stats or Timechart and, if present, it is first;
	// at most one Sort, one Limit and one Fields; Sort comes before Limit.
	// So the evaluation order is always: filter, aggregate, sort, limit,
	// project.
	Pipes []Pipe
}

// Expr is a filter expression: *And, *Or, *Not or *Term.
type Expr interface {
	isExpr()
	// String returns the expression in canonical query syntax.
	String() string
}

// And matches when every term matches. Parse produces at least two terms
// and never nests an And directly inside an And.
type And struct {
	Terms []Expr
}

// Or matches when any term matches. Parse produces at least two terms and
// never nests an Or directly inside an Or.
type Or struct {
	Terms []Expr
}

// Not matches when X does not match.
type Not struct {
	X Expr
}

// Op is the comparison a Term makes.
type Op uint8

// Term operators. "Values of the field" below means: every value of the
// named field (a repeated key is an array; a term on an array matches when
// any element matches), looked up with FieldValues, which also serves the
// event's own members (@timestamp, log.original, tags, logsource.*, ...).
// A null value matches only OpExists. String comparisons fold ASCII case
// only (A-Z = a-z); other letters compare exactly.
const (
	// OpEq: field:value or field:"quoted value". Some value's text (Str)
	// equals Value, ASCII case-insensitively. Value is the literal text,
	// escapes removed.
	OpEq Op = iota + 1
	// OpWildcard: field:ssh* or, with Field "", a bare word with wildcards.
	// Value is a pattern in which * matches any run of characters
	// (including none), ? matches exactly one UTF-8 character, and a
	// backslash makes the next character literal (only \*, \? and \\
	// occur: Parse normalizes escapes). With a Field, the whole text of
	// some value must match, ASCII case-insensitively. With Field "", some
	// token of the full text (see Tokens, FullText) must match; such a
	// pattern holds only token characters and wildcards.
	OpWildcard
	// OpPhrase: a quoted string without a field: "Failed password". Some
	// full text (see FullText) contains Value as a substring, ASCII
	// case-insensitively. Value is never empty.
	OpPhrase
	// OpWord: a bare word without a field: root, 10.0.0.1. Field is "".
	// The tokens of Value (see Tokens) occur as consecutive tokens of some
	// full text. Value has at least one token.
	OpWord
	// OpCIDR: field:10.0.0.0/8 or field:fe80::/10. Some value's text parses
	// as an IP address (netip.ParseAddr; a zone is ignored; an IPv4-mapped
	// IPv6 address counts as IPv4 for an IPv4 prefix) inside Prefix.
	// Prefix is masked (10.1.2.3/8 becomes 10.0.0.0/8); Value is the text
	// as written.
	OpCIDR
	// OpGt: field>x. See OpLte.
	OpGt
	// OpGte: field>=x. See OpLte.
	OpGte
	// OpLt: field<x. See OpLte.
	OpLt
	// OpLte: field<=x. Comparisons are numeric or temporal. When Time is
	// zero, Num holds the number and a value compares when it is a number
	// (KindInt or KindFloat) or a string whose text parses as a finite
	// number (strconv.ParseFloat); booleans never compare. When Time is not
	// zero, the value compares as a time: for @timestamp the event's
	// Timestamp(), for event.ingested its Received, for other fields a
	// string value parsing as RFC 3339 (time.RFC3339Nano). Value is the
	// text as written.
	OpLte
	// OpExists: field:*. The field has at least one value (null included).
	OpExists
)

var opNames = [...]string{
	OpEq: "eq", OpWildcard: "wildcard", OpPhrase: "phrase", OpWord: "word",
	OpCIDR: "cidr", OpGt: ">", OpGte: ">=", OpLt: "<", OpLte: "<=", OpExists: "exists",
}

// String returns the operator's name: eq, wildcard, phrase, word, cidr,
// exists, or the comparison's symbol.
func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// IsComparison reports whether o is one of OpGt, OpGte, OpLt, OpLte.
func (o Op) IsComparison() bool { return o >= OpGt && o <= OpLte }

// Term is one condition on a field, or on the full text when Field is "".
type Term struct {
	// Field is the field name; "" means the full text (OpPhrase, OpWord,
	// OpWildcard only).
	Field string
	// Op is the comparison.
	Op Op
	// Value is the operand as described on the Op constant.
	Value string
	// Prefix is the network for OpCIDR.
	Prefix netip.Prefix
	// Num is the number for a numeric comparison (Time zero).
	Num float64
	// Time is the instant for a temporal comparison; zero for numeric ones.
	Time time.Time
}

func (*And) isExpr()  {}
func (*Or) isExpr()   {}
func (*Not) isExpr()  {}
func (*Term) isExpr() {}

// Aggregate function names.
const (
	AggCount = "count" // count() counts rows; count(f) counts rows where f has a non-null value
	AggDC    = "dc"    // distinct count of the non-null values of f (texts compared exactly)
	AggMin   = "min"   // smallest numeric value of f (values as for comparisons)
	AggMax   = "max"   // largest numeric value of f
	AggAvg   = "avg"   // mean of the numeric values of f
	AggSum   = "sum"   // sum of the numeric values of f
)

// Agg is one aggregate of a Stats or Timechart pipe.
type Agg struct {
	// Func is one of the Agg* constants (always lower case).
	Func string
	// Field is the aggregated field; "" only for count().
	Field string
	// As is the output column name given with "as"; "" for the default
	// (see Name).
	As string
}

// Name returns the aggregate's output column name: As when set, else
// "count" for count() and "func(field)" otherwise, e.g. "dc(user.name)".
func (a Agg) Name() string {
	if a.As != "" {
		return a.As
	}
	if a.Field == "" {
		return a.Func
	}
	return a.Func + "(" + a.Field + ")"
}

// IsAggregate reports whether the query ends in rows of a Stats or
// Timechart rather than in events.
func (q *Query) IsAggregate() bool {
	for _, p := range q.Pipes {
		if p != nil && p.aggregate() {
			return true
		}
	}
	return false
}

// OutputColumns returns the column names of an aggregate query's result, in
// order, after any Fields pipe. It returns nil for an event query without a
// Fields pipe (the result is whole events), and the Fields names for an
// event query with one.
func (q *Query) OutputColumns() []string {
	var cols []string
	for _, p := range q.Pipes {
		if p != nil {
			cols = p.columns(cols)
		}
	}
	return cols
}

// Stats returns the query's Stats pipe, or nil.
func (q *Query) Stats() *Stats {
	for _, p := range q.Pipes {
		if s, ok := p.(*Stats); ok {
			return s
		}
	}
	return nil
}

// Timechart returns the query's Timechart pipe, or nil.
func (q *Query) Timechart() *Timechart {
	for _, p := range q.Pipes {
		if t, ok := p.(*Timechart); ok {
			return t
		}
	}
	return nil
}

// Sort returns the query's Sort pipe, or nil.
func (q *Query) Sort() *Sort {
	for _, p := range q.Pipes {
		if s, ok := p.(*Sort); ok {
			return s
		}
	}
	return nil
}

// Limit returns the query's Limit pipe, or nil.
func (q *Query) Limit() *Limit {
	for _, p := range q.Pipes {
		if l, ok := p.(*Limit); ok {
			return l
		}
	}
	return nil
}

// Fields returns the query's Fields pipe, or nil.
func (q *Query) Fields() *Fields {
	for _, p := range q.Pipes {
		if f, ok := p.(*Fields); ok {
			return f
		}
	}
	return nil
}

// String returns q in canonical syntax: parsing it gives the same Query.
func (q *Query) String() string {
	var b strings.Builder
	if q.Filter != nil {
		b.WriteString(q.Filter.String())
	}
	for _, p := range q.Pipes {
		if b.Len() > 0 {
			b.WriteString(" | ")
		} else {
			b.WriteString("| ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}
