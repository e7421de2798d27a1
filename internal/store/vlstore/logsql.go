package vlstore

import (
	"encoding/hex"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
)

// Column names of the row besides the event's fields. They start with an
// underscore, which user fields are moved away from (see column).
const (
	colDoc = "_vigil.doc"
	colID  = "_vigil.id"
	// colEmpty lists, one per line, the columns of the row that hold an
	// empty value; absent when none does (the engine stores an empty
	// value as no value).
	colEmpty = "_vigil.empty"
)

// column returns the engine column that holds the named event field. The
// message field is the row's _msg (the full text). Other names pass
// through when they hold only letters, digits and . _ - @ and do not start
// with an underscore; any other name is hex-encoded behind "_h", and one
// starting with an underscore gets "_u" in front. So no event field can be
// mistaken for one of the engine's columns (_time, _msg, _stream) or
// Vigil's own, and no name can carry LogsQL syntax (a quoted field name
// ending in * is a prefix of names to LogsQL).
func column(name string) string {
	if name == event.FieldMessage {
		return "_msg"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '@') {
			return "_h" + hex.EncodeToString([]byte(name))
		}
	}
	if name == "" || strings.HasPrefix(name, "_") {
		return "_u" + name
	}
	return name
}

// quote returns s as a LogsQL quoted string. It is the only way a value or
// a field name enters a LogsQL query: LogsQL reads a double-quoted string
// with Go's escapes, so whatever s holds (quotes, pipes, backslashes,
// newlines, wildcards, invalid UTF-8) it stays one string token.
func quote(s string) string {
	return strconv.Quote(s)
}

// substring returns a filter that matches when the column's text holds lit,
// folding case: a case-insensitive regular expression of the literal.
func substring(col, lit string) string {
	if !utf8.ValidString(lit) {
		// A regular expression must be valid UTF-8; read every row.
		return ""
	}
	return quote(col) + ":~" + quote("(?i)"+regexp.QuoteMeta(lit))
}

// anyCase returns a filter that matches when the column's text holds v as
// a phrase (at word boundaries, or the text's ends), folding case: LogsQL's
// i("..."). A value equal to v is such a phrase, and so is an element of a
// repeated field (one per line). It returns "" for invalid UTF-8.
func anyCase(col, v string) string {
	if !utf8.ValidString(v) {
		// The engine folds case by decoding UTF-8, which maps invalid
		// bytes; read every row.
		return ""
	}
	return quote(col) + ":i(" + quote(v) + ")"
}

// prefilter compiles e into a LogsQL filter that matches every row whose
// event e matches, and possibly more (the caller applies e exactly). It
// returns "" when no useful filter exists (every row must be read).
func prefilter(e query.Expr) string {
	switch e := e.(type) {
	case nil:
		return ""
	case *query.And:
		var parts []string
		for _, t := range e.Terms {
			if f := prefilter(t); f != "" {
				parts = append(parts, f)
			}
		}
		return join(parts, " AND ")
	case *query.Or:
		parts := make([]string, 0, len(e.Terms))
		for _, t := range e.Terms {
			f := prefilter(t)
			if f == "" {
				// One branch may match anything, so the union may too.
				return ""
			}
			parts = append(parts, f)
		}
		return join(parts, " OR ")
	case *query.Not:
		// The complement of a superset is not a superset.
		return ""
	case *query.Term:
		return termFilter(e)
	}
	return ""
}

func join(parts []string, sep string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return "(" + strings.Join(parts, sep) + ")"
}

// termFilter compiles one term. Every filter it returns is a necessary
// condition of the term under the language's semantics (docs/query.md):
//   - a field equal to v (ASCII case folded) holds v as a phrase, in any case;
//   - a phrase is a substring of a full text, and full texts are in _msg;
//   - a word's tokens each occur in a full text;
//   - a wildcard's literal runs occur in the value (or token) it matches.
//
// Regular-expression case folding folds more than ASCII, which only widens
// the filter. Comparisons, CIDR and exists read every row in the time
// range: a value's text may be a number, a time or an address in forms the
// engine's typed filters do not share with the language.
func termFilter(t *query.Term) string {
	col := "_msg"
	if t.Field != "" {
		col = column(t.Field)
	}
	if t.Field == event.FieldTimestamp {
		// Served by the request's time range and the exact matcher.
		return ""
	}
	switch t.Op {
	case query.OpEq:
		if t.Value == "" {
			return ""
		}
		return anyCase(col, t.Value)
	case query.OpPhrase:
		return substring(col, t.Value)
	case query.OpWord:
		var parts []string
		query.Tokens(t.Value, func(tok string) {
			if f := substring(col, tok); f != "" && !slices.Contains(parts, f) {
				parts = append(parts, f)
			}
		})
		return join(parts, " AND ")
	case query.OpWildcard:
		var parts []string
		for _, lit := range literals(t.Value) {
			if f := substring(col, lit); f != "" {
				parts = append(parts, f)
			}
		}
		return join(parts, " AND ")
	}
	return ""
}

// literals returns the runs of literal text of a wildcard pattern (see
// query.OpWildcard: * and ? are wildcards, a backslash makes the next
// character literal).
func literals(pattern string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*', '?':
			flush()
		case '\\':
			if i+1 < len(pattern) {
				i++
				cur.WriteByte(pattern[i])
			}
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return out
}
