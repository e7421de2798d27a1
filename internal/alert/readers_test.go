package alert

import (
	"context"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/meta/metatest"
)

// TestReadersDoNotWaitForTheWriter: a write transaction holds the
// database's writer lock for as long as it runs (the alert writer folding
// a batch, the response runner recording blocks); the API's reads run on
// their own connections and neither wait for it nor see its uncommitted
// changes.
func TestReadersDoNotWaitForTheWriter(t *testing.T) {
	db := metatest.Open(t)
	r, s := newRecorder(t, db, Options{Now: func() time.Time { return t0 }})
	r.Record(from(testRule("r"), "192.0.2.10", t0))
	r.Flush()
	list, err := s.List(context.Background(), Filter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("setup: %d alerts, %v", len(list), err)
	}
	id := list[0].ID

	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`UPDATE alerts SET count = 99 WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}

	// Far below the busy timeout (10 s): a read that waited for the
	// writer would fail here instead of answering.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	got, err := s.List(ctx, Filter{})
	if err != nil {
		t.Fatalf("listing during a write transaction: %v", err)
	}
	a, err := s.Get(ctx, id)
	if err != nil {
		t.Fatalf("getting during a write transaction: %v", err)
	}
	n, err := s.Total(ctx, Filter{})
	if err != nil {
		t.Fatalf("counting during a write transaction: %v", err)
	}
	if len(got) != 1 || got[0].Count != 1 || a.Count != 1 || n != 1 {
		t.Fatalf("reads during a write transaction saw %d alerts, count %d/%d, total %d; want the committed state (1 alert, count 1)", len(got), got[0].Count, a.Count, n)
	}
	t.Logf("three reads answered in %v while the writer held its lock", time.Since(start))
}
