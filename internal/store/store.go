// Package store defines how Vigil keeps events: the Store interface that the
// pipeline appends to and the search API reads from, and the request and
// result types shared by every engine. The embedded engine is in
// store/sqlite; a PostgreSQL engine can follow behind the same interface.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
)

// Store keeps events and answers queries over them. Implementations are safe
// for concurrent use.
type Store interface {
	// Append stores evs durably: when it returns nil they are committed
	// (they survive a process kill) and searchable. The events of one UTC
	// day are committed together or not at all: an error stores none of
	// them, except a *PartialError, which lists the events (of the days)
	// not stored. An error wraps ErrDiskFull when the disk is full.
	Append(ctx context.Context, evs []*event.Event) error
	// Search runs a query over the stored events.
	Search(ctx context.Context, req SearchRequest) (*Result, error)
	// Stats reports the size of the store. It is cheap.
	Stats(ctx context.Context) (Stats, error)
	// Close flushes and releases the store.
	Close() error
}

// SearchRequest is one query over a time range.
type SearchRequest struct {
	// Query is the parsed query; nil matches every event.
	Query *query.Query
	// From and To bound the event time (@timestamp), inclusive. A zero
	// time leaves that side open.
	From, To time.Time
	// Limit is the number of events (or rows) to return; 0 means
	// DefaultLimit. A limit pipe in the query wins when smaller.
	Limit int
	// Offset skips that many events (or rows) first.
	Offset int
	// MaxGroups bounds the groups (rows before sort and limit) an
	// aggregate query may form: 0 means DefaultMaxGroups, a negative value
	// no bound. Past it the search stops with a *LimitError wrapping
	// ErrTooManyGroups.
	MaxGroups int
	// MaxBytes is the search's memory budget: the approximate bytes of its
	// group keys, aggregate state (distinct sets included) and buffered
	// events. 0 means DefaultMaxBytes, a negative value no bound. Past it
	// the search stops with a *LimitError wrapping ErrMemoryBudget.
	MaxBytes int64
}

// DefaultMaxGroups is the bound on an aggregate's groups when a request
// names none.
const DefaultMaxGroups = 1_000_000

// DefaultMaxBytes is the memory budget of a search when a request names
// none.
const DefaultMaxBytes = 256 << 20

// DefaultLimit is the number of events a search returns when the request
// and the query name no limit.
const DefaultLimit = 100

// MaxLimit bounds Limit+Offset of a request.
const MaxLimit = 10000

// Hit is one event of a search result.
type Hit struct {
	// ID identifies the stored event within its store.
	ID string
	// Event is the stored event.
	Event *event.Event
}

// Result is the answer to a search: events for a filter query (Total,
// Events), or a table for an aggregate query (Columns, Rows).
type Result struct {
	// Total is the exact number of events that match the filter.
	Total int64
	// Events are the matching events, newest first unless the query
	// sorts, after Offset and up to Limit.
	Events []Hit
	// Columns names the columns of Rows (aggregate queries, or an event
	// query with a fields pipe, whose Events then carry only those fields).
	Columns []string
	// Rows are the aggregate rows. Cells are nil, int64, float64, string or
	// time.Time (the time bucket of a timechart).
	Rows [][]any
}

// Stats describes the size of a store.
type Stats struct {
	// Bytes is the size of the store's files on disk.
	Bytes int64
	// Partitions is the number of time partitions (days).
	Partitions int
	// Events is the number of stored events.
	Events int64
	// Oldest and Newest bound the partitions' days; zero when empty.
	Oldest, Newest time.Time
}

// ErrClosed is returned by a Store after Close.
var ErrClosed = errors.New("store closed")

// ErrBadRequest is wrapped by errors about a request the store cannot run,
// such as a limit out of range or an unsupported query shape.
var ErrBadRequest = errors.New("bad search request")

// Errors a *LimitError wraps.
var (
	// ErrTooManyGroups means an aggregate formed more groups than
	// SearchRequest.MaxGroups.
	ErrTooManyGroups = errors.New("too many groups")
	// ErrMemoryBudget means a search needed more memory than
	// SearchRequest.MaxBytes.
	ErrMemoryBudget = errors.New("query memory budget exceeded")
)

// LimitError is the error of a search stopped by one of its bounds. Its
// text names the bound and never a path or a value of the data.
type LimitError struct {
	// Err is ErrTooManyGroups or ErrMemoryBudget.
	Err error
	// Limit is the bound that was exceeded: groups or bytes.
	Limit int64
}

func (e *LimitError) Error() string {
	if errors.Is(e.Err, ErrMemoryBudget) {
		if e.Limit >= 1<<20 && e.Limit%(1<<20) == 0 {
			return fmt.Sprintf("%v (limit %d MiB)", e.Err, e.Limit>>20)
		}
		return fmt.Sprintf("%v (limit %d bytes)", e.Err, e.Limit)
	}
	return fmt.Sprintf("%v (limit %d)", e.Err, e.Limit)
}

func (e *LimitError) Unwrap() error { return e.Err }
