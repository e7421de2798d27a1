// Package storetest holds tests that every store.Store engine runs: the
// query language's conformance suite (package querytest) over a store.
package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/query/querytest"
	"github.com/vigilsec/vigil/internal/store"
)

// Conformance appends the suite's events to st (which must be empty) and
// runs every case as a subtest: the events each filter matches, the exact
// total, and the rows of aggregate queries.
func Conformance(t *testing.T, st store.Store) {
	t.Helper()
	s, err := querytest.Load()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	evs := make([]*event.Event, 0, len(s.Events))
	byTime := map[int64]string{}
	for _, e := range s.Events {
		evs = append(evs, e.Event)
		byTime[e.Event.Timestamp().UnixNano()] = e.Name
	}
	if len(byTime) != len(evs) {
		t.Fatalf("suite events need distinct times to be told apart")
	}
	if err := st.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	for _, c := range s.Cases {
		t.Run(c.Query, func(t *testing.T) {
			q, err := query.Parse(c.Query)
			if err != nil {
				t.Fatalf("conformance:%d: Parse(%q): %v", c.Line, c.Query, err)
			}
			// The events the filter matches.
			fq := &query.Query{Filter: q.Filter}
			res, err := st.Search(ctx, store.SearchRequest{Query: fq, Limit: store.MaxLimit})
			if err != nil {
				t.Fatalf("conformance:%d: %v", c.Line, err)
			}
			var got []string
			for _, h := range res.Events {
				got = append(got, byTime[h.Event.Timestamp().UnixNano()])
			}
			want := slices.Clone(c.Match)
			slices.Sort(got)
			slices.Sort(want)
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("conformance:%d: %q matches (-want +got):\n%s", c.Line, c.Query, diff)
			}
			if res.Total != int64(len(want)) {
				t.Errorf("conformance:%d: %q total: got %d, want %d", c.Line, c.Query, res.Total, len(want))
			}
			if c.Rows == "" {
				return
			}
			res, err = st.Search(ctx, store.SearchRequest{Query: q})
			if err != nil {
				t.Fatalf("conformance:%d: %v", c.Line, err)
			}
			ok, gotRows, wantRows, err := c.EqualRows(res.Rows)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				t.Errorf("conformance:%d: %q rows\n got %s\nwant %s", c.Line, c.Query, gotRows, wantRows)
			}
		})
	}
}
