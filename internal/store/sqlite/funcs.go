package sqlite

import (
	"database/sql/driver"
	"sync"
	"sync/atomic"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
	sqlite "modernc.org/sqlite"
)

// SQL functions. A search registers the compiled parts of its query in
// progs under fresh ids and passes the ids as bound parameters, so that no
// value of the query ever becomes SQL text:
//
//	vigil_match(doc, id)  the compiled filter id on the decoded document
//	vigil_val(text, id)   the compiled term (or CIDR set) id on one promoted value
//	vigil_bloom(bloom, id) the block condition id on a block's filter
//	vigil_sortkey(doc, name) the first value of a field, as it sorts
var (
	progs  sync.Map // int64 -> *query.Matcher | *query.TermMatcher | *bloomExpr
	progID atomic.Int64
)

func register(p any) int64 {
	id := progID.Add(1)
	progs.Store(id, p)
	return id
}

func unregister(ids []int64) {
	for _, id := range ids {
		progs.Delete(id)
	}
}

func prog[T any](v driver.Value) (T, bool) {
	var zero T
	id, ok := v.(int64)
	if !ok {
		return zero, false
	}
	p, ok := progs.Load(id)
	if !ok {
		return zero, false
	}
	t, ok := p.(T)
	return t, ok
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func docArg(v driver.Value) []byte {
	b, _ := v.([]byte)
	return b
}

func init() {
	sqlite.MustRegisterFunction("vigil_match", &sqlite.FunctionImpl{
		NArgs: 2, Deterministic: true, VolatileArgs: true,
		Scalar: func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			m, ok := prog[*query.Matcher](args[1])
			if !ok {
				return nil, errUnknownProgram
			}
			ev, err := decodeDoc(docArg(args[0]))
			if err != nil {
				return nil, err
			}
			return boolInt(m.Match(ev)), nil
		},
	})
	sqlite.MustRegisterFunction("vigil_val", &sqlite.FunctionImpl{
		NArgs: 2, Deterministic: true, VolatileArgs: true,
		Scalar: func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			m, ok := prog[valueMatcher](args[1])
			if !ok {
				return nil, errUnknownProgram
			}
			s, ok := args[0].(string)
			if !ok {
				return int64(0), nil
			}
			return boolInt(m.MatchValue(event.String(s))), nil
		},
	})
	sqlite.MustRegisterFunction("vigil_bloom", &sqlite.FunctionImpl{
		NArgs: 2, Deterministic: true, VolatileArgs: true,
		Scalar: func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			x, ok := prog[*bloomExpr](args[1])
			if !ok {
				return nil, errUnknownProgram
			}
			return boolInt(x.eval(docArg(args[0]))), nil
		},
	})
	sqlite.MustRegisterFunction("vigil_sortkey", &sqlite.FunctionImpl{
		NArgs: 2, Deterministic: true, VolatileArgs: true,
		Scalar: func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			name, _ := args[1].(string)
			ev, err := decodeDoc(docArg(args[0]))
			if err != nil {
				return nil, err
			}
			return sortKey(ev, name), nil
		},
	})
}

// valueMatcher tests one value of a field: a *query.TermMatcher or a
// *query.CIDRSet.
type valueMatcher interface {
	MatchValue(v event.Value) bool
}

// sortKey is the value an event sorts by for a field: the first non-null
// value, as a number when it compares as one, else its text; nil when
// absent. SQLite orders NULL < numbers < text, as compareKeys does.
func sortKey(ev *event.Event, name string) driver.Value {
	var out driver.Value
	query.FieldValues(ev, name, func(v event.Value) bool {
		if v.Kind == event.KindNull {
			return true
		}
		if n, ok := query.NumericValue(v); ok {
			out = n
		} else {
			out = string([]byte(v.Str))
		}
		return false
	})
	return out
}

type constError string

func (e constError) Error() string { return string(e) }

// errUnknownProgram means an SQL function was called with an id that no
// running search registered.
const errUnknownProgram = constError("vigil: unknown query program")
