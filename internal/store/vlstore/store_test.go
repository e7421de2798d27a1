package vlstore

import (
	"context"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/query"
	"github.com/vigilsec/vigil/internal/store/storetest"
)

func openTest(t testing.TB, dir string, opts Options) *DB {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	db, err := Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

// TestConformance runs the query language's conformance suite against the
// store: the events each query matches, the exact total and the rows of
// aggregate queries.
func TestConformance(t *testing.T) {
	storetest.Conformance(t, openTest(t, "", Options{Retention: 100 * 365 * 24 * time.Hour}))
}

func mustParse(t testing.TB, s string) *query.Query {
	t.Helper()
	q, err := query.Parse(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return q
}
