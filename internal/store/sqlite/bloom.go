package sqlite

import (
	"sync/atomic"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
)

// Each block of up to Options.BlockRows events has a Bloom filter of the
// text tokens of its events (message and log.original) and of every
// field=value pair, so that a search skips blocks that cannot hold a match
// before SQLite reads a single row. Building it costs a few hundred
// nanoseconds per event in Go, far less than a full-text index (FTS5 caps
// one SQLite connection at about a third of the plain insert rate).
//
// The text is the event's full text as the query language defines it
// (query.FullText: the message, else log.original). Text tokens for the
// filter are maximal runs of ASCII letters and digits,
// lower-cased. Whatever query.Tokens decides about '.', '-' or '_', a token
// it produces is delimited by non-alphanumerics, so its alphanumeric runs
// are runs of the text too: checking those runs never rejects a block that
// holds a match.
const (
	bloomBytes = 16 << 10
	bloomBits  = bloomBytes * 8
	bloomK     = 4
)

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// alnumLower maps ASCII letters and digits to themselves lower-cased, and
// every other byte to 0.
var alnumLower = func() (t [256]byte) {
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c)
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = byte(c), byte(c)
	}
	return t
}()

// textRuns calls fn with the hash of every maximal alphanumeric run of s.
func textRuns(s string, fn func(h uint64)) {
	for i := 0; i < len(s); {
		if alnumLower[s[i]] == 0 {
			i++
			continue
		}
		h := uint64(fnvOffset)
		h = (h ^ 't') * fnvPrime
		for ; i < len(s); i++ {
			c := alnumLower[s[i]]
			if c == 0 {
				break
			}
			h = (h ^ uint64(c)) * fnvPrime
		}
		fn(h)
	}
}

// runHash hashes one token the way textRuns does.
func runHash(tok string) uint64 {
	h := uint64(fnvOffset)
	h = (h ^ 't') * fnvPrime
	for i := 0; i < len(tok); i++ {
		h = (h ^ uint64(lowerASCII(tok[i]))) * fnvPrime
	}
	return h
}

// fieldHash hashes a field name and a value's text, the text case-folded
// (ASCII) as field equality is.
func fieldHash(name, value string) uint64 {
	return valueHash(nameState(name), value)
}

// nameState is the hash state after the field name: it depends on the
// name only, so bloomEvent keeps it per key.
func nameState(name string) uint64 {
	h := uint64(fnvOffset)
	h = (h ^ 'f') * fnvPrime
	for i := 0; i < len(name); i++ {
		h = (h ^ uint64(name[i])) * fnvPrime
	}
	return h * fnvPrime // a zero byte (h ^ 0 is h) ends the name
}

func valueHash(h uint64, value string) uint64 {
	for i := 0; i < len(value); i++ {
		h = (h ^ uint64(lowerASCII(value[i]))) * fnvPrime
	}
	return h
}

// keyStates caches nameState by interned key (0: not yet computed; a
// state that happens to be 0 is just recomputed each time).
var keyStates [4096]atomic.Uint64

func keyHash(k event.Key, value string) uint64 {
	if int(k) >= len(keyStates) {
		return fieldHash(k.Name(), value)
	}
	h := keyStates[k].Load()
	if h == 0 {
		h = nameState(k.Name())
		keyStates[k].Store(h)
	}
	return valueHash(h, value)
}

var (
	tagsState     = nameState(event.FieldTags)
	inputState    = nameState("vigil.input")
	productState  = nameState("logsource.product")
	categoryState = nameState("logsource.category")
	serviceState  = nameState("logsource.service")
)

// bloomAdd sets the bits of h.
func bloomAdd(b []byte, h uint64) {
	h1, h2 := uint32(h), uint32(h>>32)|1
	for i := uint32(0); i < bloomK; i++ {
		bit := (h1 + i*h2) % bloomBits
		b[bit>>3] |= 1 << (bit & 7)
	}
}

// bloomHas reports whether h may be in b. A filter of the wrong size (a
// corrupt or foreign row) says yes, so that nothing is skipped wrongly.
func bloomHas(b []byte, h uint64) bool {
	if len(b) != bloomBytes {
		return true
	}
	h1, h2 := uint32(h), uint32(h>>32)|1
	for i := uint32(0); i < bloomK; i++ {
		bit := (h1 + i*h2) % bloomBits
		if b[bit>>3]&(1<<(bit&7)) == 0 {
			return false
		}
	}
	return true
}

// Names whose values are served by the event's own members rather than
// its Fields (see query.FieldValues); equality on them is not prefiltered,
// except for those added by bloomEvent.
var notBloomed = map[string]bool{
	event.FieldTimestamp: true,
	"event.ingested":     true,
	event.FieldOriginal:  true,
}

// bloomEvent adds the tokens and field values of ev to b.
func bloomEvent(b []byte, ev *event.Event) {
	query.FullText(ev, func(text string) bool {
		textRuns(text, func(h uint64) { bloomAdd(b, h) })
		return true
	})
	for i := range ev.Fields {
		f := &ev.Fields[i]
		if f.Value.Kind != event.KindNull {
			bloomAdd(b, keyHash(f.Key, f.Value.Str))
		}
	}
	for _, t := range ev.Tags {
		bloomAdd(b, valueHash(tagsState, t))
	}
	if ev.Input != "" {
		bloomAdd(b, valueHash(inputState, ev.Input))
	}
	if ev.Logsource.Product != "" {
		bloomAdd(b, valueHash(productState, ev.Logsource.Product))
	}
	if ev.Logsource.Category != "" {
		bloomAdd(b, valueHash(categoryState, ev.Logsource.Category))
	}
	if ev.Logsource.Service != "" {
		bloomAdd(b, valueHash(serviceState, ev.Logsource.Service))
	}
}

// bloomExpr is a necessary condition on a block's filter derived from a
// query filter: a block whose filter fails it holds no match.
type bloomExpr struct {
	op     byte // 'a' all of kids and hashes, 'o' any of kids, 't' true
	hashes []uint64
	kids   []*bloomExpr
}

var bloomTrue = &bloomExpr{op: 't'}

func (x *bloomExpr) eval(b []byte) bool {
	switch x.op {
	case 'a':
		for _, h := range x.hashes {
			if !bloomHas(b, h) {
				return false
			}
		}
		for _, k := range x.kids {
			if !k.eval(b) {
				return false
			}
		}
		return true
	case 'o':
		for _, k := range x.kids {
			if k.eval(b) {
				return true
			}
		}
		return false
	}
	return true
}

// trivial reports whether x accepts every block.
func (x *bloomExpr) trivial() bool { return x.op == 't' }

// bloomOf derives the block condition of a filter expression.
func bloomOf(e query.Expr) *bloomExpr {
	switch e := e.(type) {
	case *query.Term:
		var hs []uint64
		switch {
		case e.Op == query.OpEq && e.Field != "" && !notBloomed[e.Field]:
			hs = append(hs, fieldHash(e.Field, e.Value))
		case e.Op == query.OpWord && e.Field == "":
			textRuns(e.Value, func(h uint64) { hs = append(hs, h) })
		case e.Op == query.OpPhrase && e.Field == "":
			hs = phraseRuns(e.Value)
		}
		if len(hs) == 0 {
			return bloomTrue
		}
		return &bloomExpr{op: 'a', hashes: hs}
	case *query.And:
		x := &bloomExpr{op: 'a'}
		for _, t := range e.Terms {
			k := bloomOf(t)
			switch k.op {
			case 't':
			case 'a':
				x.hashes = append(x.hashes, k.hashes...)
				x.kids = append(x.kids, k.kids...)
			default:
				x.kids = append(x.kids, k)
			}
		}
		if len(x.hashes) == 0 && len(x.kids) == 0 {
			return bloomTrue
		}
		return x
	case *query.Or:
		x := &bloomExpr{op: 'o'}
		for _, t := range e.Terms {
			k := bloomOf(t)
			if k.trivial() {
				return bloomTrue
			}
			x.kids = append(x.kids, k)
		}
		return x
	}
	return bloomTrue
}

// phraseRuns returns the hashes of the runs of a phrase that are whole
// runs of any text containing it: those with a non-alphanumeric byte of the
// phrase on both sides.
func phraseRuns(p string) []uint64 {
	var hs []uint64
	for i := 0; i < len(p); {
		if alnumLower[p[i]] == 0 {
			i++
			continue
		}
		start := i
		for i < len(p) && alnumLower[p[i]] != 0 {
			i++
		}
		if start > 0 && i < len(p) {
			hs = append(hs, runHash(p[start:i]))
		}
	}
	return hs
}
