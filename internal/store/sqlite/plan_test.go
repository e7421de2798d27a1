package sqlite

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestQueryPlans pins the plans the design relies on: a time or Bloom
// restricted search walks blocks and seeks event rows by id range, and a
// group-by on an indexed promoted column scans its covering index.
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	if err := db.Append(ctx, newGen(1, t0, time.Second).batch(2000)); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	db.mu.RLock()
	s := db.days["2026-11-20"].segs[0]
	db.mu.RUnlock()
	r, err := db.readers.get(s.path)
	if err != nil {
		t.Fatal(err)
	}
	plan := func(q string, args ...any) string {
		rows, err := r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			out = append(out, detail)
		}
		return strings.Join(out, "; ")
	}
	tests := []struct {
		q, want string
		args    []any
	}{
		{"SELECT count(*) FROM blocks b CROSS JOIN events e ON e.id BETWEEN b.min_id AND b.max_id WHERE b.max_ts >= ? AND b.min_ts <= ? AND e.usr = ? COLLATE NOCASE",
			"SEARCH e USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)", []any{0, 1, "x"}},
		{"SELECT e.sip, count(*) FROM events e GROUP BY 1", "SCAN e USING COVERING INDEX ix_sip_ts", nil},
		{"SELECT e.id, e.ts, e.ds FROM events e", "SCAN e USING COVERING INDEX ix_ds_ts", nil},
	}
	for _, tc := range tests {
		if got := plan(tc.q, tc.args...); !strings.Contains(got, tc.want) {
			t.Errorf("plan of %q: got %q, want it to contain %q", tc.q, got, tc.want)
		}
	}
}
