package sqlite

import (
	"errors"
	"sync/atomic"

	"github.com/vigilsec/vigil/internal/store"
)

// budget bounds one search: the groups of its aggregate and the memory it
// holds (group keys, aggregate state, candidate rows, decoded events).
// Sizes are estimates of live heap, counted as the search allocates and
// given back when it lets go (trimmed candidates); workers of a search
// share one budget.
type budget struct {
	maxBytes  int64 // < 0: no bound
	maxGroups int   // < 0: no bound
	used      atomic.Int64
}

func newBudget(req store.SearchRequest) *budget {
	b := &budget{maxBytes: req.MaxBytes, maxGroups: req.MaxGroups}
	if b.maxBytes == 0 {
		b.maxBytes = store.DefaultMaxBytes
	}
	if b.maxGroups == 0 {
		b.maxGroups = store.DefaultMaxGroups
	}
	return b
}

// charge counts n more bytes and fails once the budget is exceeded.
func (b *budget) charge(n int64) error {
	if u := b.used.Add(n); b.maxBytes >= 0 && u > b.maxBytes {
		return &store.LimitError{Err: store.ErrMemoryBudget, Limit: b.maxBytes}
	}
	return nil
}

// release gives back n bytes charged earlier.
func (b *budget) release(n int64) { b.used.Add(-n) }

// checkGroups fails when n groups are more than allowed.
func (b *budget) checkGroups(n int) error {
	if b.maxGroups >= 0 && n > b.maxGroups {
		return &store.LimitError{Err: store.ErrTooManyGroups, Limit: int64(b.maxGroups)}
	}
	return nil
}

// Estimated sizes, from the structures they stand for on 64-bit
// platforms, rounded up to the allocator's size classes.
const (
	// groupBytes: a map entry, its key's header, groupState, the key
	// slice's header and the final row's header.
	groupBytes = 160
	// keyCellBytes: one interface cell of a key or row, and the boxed
	// string header behind it.
	keyCellBytes = 32
	// aggBytes: one aggState and the row cell of its value.
	aggBytes = 64
	// setBytes: an empty distinct set (map header and first bucket).
	setBytes = 208
	// setValueBytes: one value of a distinct set besides its text (string
	// header and map slot overhead).
	setValueBytes = 40
	// candBytes: one candidate row of an event search (hit) before its
	// document is read.
	candBytes = 72
	// eventBytes: a decoded event besides its text and fields.
	eventBytes = 256
)

// groupCost estimates the bytes of a new group with key key (encoded as
// ks) and naggs aggregates, nsets of them distinct sets.
func groupCost(ks string, key []any, naggs, nsets int) int64 {
	n := int64(groupBytes + len(ks) + naggs*aggBytes + nsets*setBytes)
	for _, k := range key {
		n += keyCellBytes
		if s, ok := k.(string); ok {
			n += int64(len(s))
		}
	}
	return n
}

// limitErr returns the *store.LimitError in err, if any, rather than err:
// the segment that hit the bound (and its path) is no business of the
// caller's.
func limitErr(err error) error {
	if le, ok := errors.AsType[*store.LimitError](err); ok {
		return le
	}
	return err
}
