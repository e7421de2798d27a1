// Package searchcli is the search of the command line (vigil search): it
// runs a query on a server's /api/v1/search or directly on a data
// directory, which both answer with the API's JSON (api.AppendResult),
// and prints that answer as a table, CSV, JSON or NDJSON, with the
// search's warnings on standard error.
package searchcli

import (
	"context"
	"fmt"
	"iter"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/apiclient"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
	"github.com/vigilsec/vigil/internal/store/vlstore"
)

// Request is one search.
type Request struct {
	// Query is the query (docs/query.md).
	Query string
	// From and To bound the time range (zero: unbounded).
	From, To time.Time
	// Limit is the most events to return.
	Limit int
}

// DefaultMaxAnswer bounds the size of a server's answer when
// Client.MaxAnswer is 0: 1 GiB, far above what a search returns within
// the server's own limits, so that only a broken or hostile server hits
// it.
const DefaultMaxAnswer = 1 << 30

// Client searches on a server.
type Client struct {
	// Base is the server's URL (http://127.0.0.1:8080).
	Base string
	// Token is the API token (see apiclient.Token).
	Token string
	// MaxAnswer bounds the answer's size in bytes (0: DefaultMaxAnswer);
	// a larger answer is an error, not cut short.
	MaxAnswer int64
}

// Search runs r on the server and returns its answer, the API's JSON.
func (c *Client) Search(ctx context.Context, r Request) ([]byte, error) {
	v := url.Values{"q": {r.Query}, "limit": {strconv.Itoa(r.Limit)}}
	if !r.From.IsZero() {
		v.Set("from", r.From.Format(time.RFC3339Nano))
	}
	if !r.To.IsZero() {
		v.Set("to", r.To.Format(time.RFC3339Nano))
	}
	limit := c.MaxAnswer
	if limit <= 0 {
		limit = DefaultMaxAnswer
	}
	return apiclient.Call(ctx, "searching", c.Base, c.Token, "GET", "/api/v1/search", v, nil, limit)
}

// Dir runs r directly on the data directory dir (no server) and returns
// what the server would answer, with the same warnings.
func Dir(ctx context.Context, dir string, r Request) ([]byte, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	parsed, warns, err := query.ParseWarn(r.Query, query.Options{})
	if err != nil {
		return nil, err
	}
	st, err := openDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	res, err := st.Search(ctx, store.SearchRequest{Query: parsed, From: r.From, To: r.To, Limit: r.Limit})
	if err != nil {
		return nil, err
	}
	fields := dirFields{ctx: ctx, st: st, from: r.From, to: r.To}
	return api.AppendResult(nil, res, api.Warnings(parsed, warns, res, fields)...), nil
}

// openDir opens the event store that dir holds: the victorialogs engine's
// when it has one (store.engine: victorialogs), else the SQLite store.
func openDir(ctx context.Context, dir string) (store.Store, error) {
	if vlstore.Holds(dir) {
		// A retention longer than any server's, so that opening the
		// store to search it never drops a day.
		return vlstore.Open(ctx, dir, vlstore.Options{Retention: 100 * 365 * 24 * time.Hour})
	}
	return sqlite.Open(ctx, dir, sqlite.Options{})
}

// dirFields is the FieldSet of a data directory searched directly. A fresh
// process has read few events, so a name it has not seen is looked for in
// the searched range (a search for name:*, which reads the events and so
// learns their field names for suggestions) before a warning says that no
// event has it.
type dirFields struct {
	ctx      context.Context
	st       store.Store
	from, to time.Time
}

func (d dirFields) Has(name string) bool {
	if query.SeenFields.Has(name) {
		return true
	}
	q := &query.Query{Filter: &query.Term{Field: name, Op: query.OpExists}}
	res, err := d.st.Search(d.ctx, store.SearchRequest{Query: q, From: d.from, To: d.to, Limit: 1})
	// On an error, say nothing rather than something untrue.
	return err != nil || res.Total > 0
}

func (d dirFields) Names() iter.Seq[string] { return query.SeenFields.Names() }
